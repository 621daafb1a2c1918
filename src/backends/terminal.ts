/**
 * The terminal backend: stdin in raw mode (when it is a TTY) and stdout,
 * with QEMU's escape sequences: Ctrl-A x quits, Ctrl-A a sends Ctrl-A,
 * Ctrl-A h prints help. The terminal mode is restored on close and on exit.
 */
import type { CharBackend } from './char-backend.js';

const CTRL_A = 0x01;

export class TerminalBackend implements CharBackend {
  private escape = false;
  private listener: ((chunk: Buffer) => void) | undefined;
  private readonly wasRaw: boolean;
  private readonly restore = (): void => this.restoreMode();

  /** `onQuit` runs when the user types Ctrl-A x. */
  constructor(private readonly onQuit: () => void) {
    const stdin = process.stdin;
    this.wasRaw = stdin.isTTY ? stdin.isRaw : false;
    if (stdin.isTTY) stdin.setRawMode(true);
    process.on('exit', this.restore);
  }

  write(data: Uint8Array): void {
    process.stdout.write(data);
  }

  onInput(handler: (data: Uint8Array) => void): void {
    this.listener = (chunk: Buffer) => {
      const out: number[] = [];
      for (const b of chunk) {
        if (this.escape) {
          this.escape = false;
          if (b === 0x78 /* x */) { process.stderr.write('\r\ntsvisor: terminated\r\n'); this.onQuit(); return; }
          if (b === 0x68 /* h */) { process.stderr.write('\r\nC-a h    print this help\r\nC-a x    exit tsvisor\r\nC-a a    send C-a\r\n'); continue; }
          if (b === CTRL_A || b === 0x61 /* a */) { out.push(CTRL_A); continue; }
          continue;
        }
        if (b === CTRL_A) { this.escape = true; continue; }
        out.push(b);
      }
      if (out.length > 0) handler(new Uint8Array(out));
    };
    process.stdin.on('data', this.listener);
    process.stdin.resume();
  }

  private restoreMode(): void {
    if (process.stdin.isTTY) process.stdin.setRawMode(this.wasRaw);
  }

  close(): void {
    if (this.listener !== undefined) process.stdin.off('data', this.listener);
    process.stdin.pause();
    this.restoreMode();
    process.off('exit', this.restore);
  }
}
