/**
 * The bench programs' phases (guests/bench/bench.h): each program times its
 * own phases and prints one `phase NAME: T us, I instructions` line each,
 * on every engine and when built for the host, which `npm run bench` sets
 * side by side.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../src/guests/guest-programs.js';
import { formatTable, ratio } from './table.js';

/** One `phase NAME: T us, I instructions` line of a bench program's output (see guests/bench/bench.h). */
export interface Phase {
  name: string;
  us: number;
  instructions: number;
}

export function phasesOf(output: string): Phase[] {
  return [...output.matchAll(/^phase (\S+): (\d+) us, (\d+) instructions\r?$/gm)]
    .map((m) => ({ name: m[1], us: Number(m[2]), instructions: Number(m[3]) }));
}

/** A phase of a program, as each engine timed it (microseconds; null where that engine did not run or print it). */
export interface PhaseRow {
  workload: string;
  phase: string;
  /** Retired instructions, from tsvisor's counter (QEMU's minstret counts something else). */
  instructions: number;
  interpUs: number;
  jitUs: number | null;
  qemuUs: number | null;
  nativeUs: number | null;
}

/**
 * Builds bench program `name` for the host (bench.h's -DHOST: the same
 * source, timed with clock_gettime) with the host's C compiler at -O2, as
 * the guest build is, and runs it; null where there is no compiler (`$CC`,
 * else `cc`) or the build fails.
 */
export function runNative(name: string, dir: string): { ok: boolean; output: string } | null {
  const bin = join(dir, name);
  const src = join(repoRoot(), 'guests/bench', `${name}.c`);
  const cc = spawnSync(process.env.CC ?? 'cc', ['-O2', '-DHOST', '-ffp-contract=off', '-fno-math-errno',
    '-I', join(repoRoot(), 'guests/bench'), src, '-o', bin, '-lm'], { encoding: 'utf8' });
  if (cc.error !== undefined || cc.status !== 0) {
    process.stderr.write(`bench: no native build of ${name}: ${cc.error?.message ?? cc.stderr.trim()}\n`);
    return null;
  }
  const r = spawnSync(bin, [], { encoding: 'utf8', timeout: 300_000 });
  return { ok: r.status === 0, output: r.stdout };
}

/** The phases of one program, from the outputs of its runs (the interpreter's gives the phase list and the instructions). */
export function phaseRows(workload: string, interp: string, jit: string, qemu: string | undefined, native: string | undefined): PhaseRow[] {
  const byName = (out: string | undefined): Map<string, Phase> => new Map(phasesOf(out ?? '').map((ph) => [ph.name, ph]));
  const j = byName(jit), q = byName(qemu), n = byName(native);
  return phasesOf(interp).map((ph) => ({
    workload, phase: ph.name, instructions: ph.instructions, interpUs: ph.us,
    jitUs: j.get(ph.name)?.us ?? null, qemuUs: q.get(ph.name)?.us ?? null, nativeUs: n.get(ph.name)?.us ?? null,
  }));
}

export function formatPhases(phases: PhaseRow[]): string {
  const header = ['phase', 'instructions', 'interp ms', 'jit ms', 'qemu ms', 'native ms', 'jit/interp', 'jit/qemu', 'jit/native', 'qemu/native'];
  const ms = (us: number | null): string => (us === null ? 'n/a' : (us / 1000).toFixed(1));
  // Speed of the engine timed `b` relative to the one timed `a` (a / b).
  const x = (a: number | null, b: number | null): string => ratio(a === null || b === null || b === 0 ? null : a / b);
  const lines = phases.map((ph) => [`${ph.workload}/${ph.phase}`, String(ph.instructions), ms(ph.interpUs), ms(ph.jitUs), ms(ph.qemuUs),
    ms(ph.nativeUs), x(ph.interpUs, ph.jitUs), x(ph.qemuUs, ph.jitUs), x(ph.nativeUs, ph.jitUs), x(ph.nativeUs, ph.qemuUs)]);
  return formatTable(header, lines, 1);
}
