/** Chooses a console's host backend from the --console (UART) or --virtio-console flag. */
import { createWriteStream } from 'node:fs';
import type { CharBackend } from '../backends/char-backend.js';
import { TerminalBackend, type TerminalOptions } from '../backends/terminal.js';
import { StreamCharBackend } from '../backends/stream-char.js';
import { UsageError } from './options.js';

/**
 * Opens `stdio`, `file:PATH` or `null`. `onQuit` runs on Ctrl-A x; `flag`
 * names the option in errors; `stats` is what Ctrl-A s prints, `keys` more
 * Ctrl-A actions (on a terminal).
 */
export function openConsole(spec: string, onQuit: () => void, flag = '--console', stats?: () => string,
  keys?: TerminalOptions['keys']): CharBackend {
  if (spec === 'stdio') {
    if (process.stdin.isTTY) return new TerminalBackend(onQuit, { stats, keys });
    return new StreamCharBackend(process.stdin, process.stdout);
  }
  if (spec === 'null') return new StreamCharBackend(null, null);
  if (spec.startsWith('file:') && spec.length > 5) {
    const out = createWriteStream(spec.slice(5));
    out.on('error', (e) => process.stderr.write(`tsvisor: console file: ${e.message}\n`));
    return new StreamCharBackend(null, out);
  }
  throw new UsageError(`invalid ${flag} value '${spec}': expected stdio, file:PATH or null`);
}

/** True when `spec` is the interactive terminal (a mux shows one VM at a time there, else prefixes lines). */
export function isTerminal(spec: string): boolean {
  return spec === 'stdio' && process.stdin.isTTY === true;
}
