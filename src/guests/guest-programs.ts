/**
 * Access to the project's bare-metal guest programs (ISA tests, benchmarks):
 * builds them with guests/build-tests.sh (cached outside the repository) and
 * reads the manifest.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One built program. */
export interface GuestProgram {
  name: string;
  elf: string;
}

/** The built programs. */
export interface GuestPrograms {
  dir: string;
  isa: GuestProgram[];
  bench: GuestProgram[];
  /** S-mode guests for the VMM's tests, entered at 0x80200000. */
  vmm: GuestProgram[];
}

/** The repository root (this file is dist/src/guests/*.js or src/guests/*.ts). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      readFileSync(join(dir, 'package.json'));
      return dir;
    } catch {
      dir = resolve(dir, '..');
    }
  }
  throw new Error('cannot find the repository root');
}

/** Builds (or finds cached) bare-metal programs; throws with the build log's tail on failure. */
export function buildGuestPrograms(): GuestPrograms {
  const root = repoRoot();
  let out: string;
  try {
    out = execFileSync('bash', [join(root, 'guests/build-tests.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`guests/build-tests.sh failed: ${(err.stderr ?? err.message).slice(-2000)}`);
  }
  const lines = out.trim().split('\n');
  const dir = lines[lines.length - 1].trim();
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { isa: GuestProgram[]; bench: GuestProgram[]; vmm: GuestProgram[] };
  const abs = (p: GuestProgram): GuestProgram => ({ name: p.name, elf: join(dir, p.elf) });
  return { dir, isa: manifest.isa.map(abs), bench: manifest.bench.map(abs), vmm: manifest.vmm.map(abs) };
}

/** True when the bare-metal cross compiler is installed. */
export function haveCrossCompiler(): boolean {
  try {
    execFileSync('riscv64-unknown-elf-gcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
