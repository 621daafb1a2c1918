/**
 * `npm run bench`: the same bare-metal compute programs on tsvisor's
 * interpreter, on its JIT and on QEMU (qemu-system-riscv64, TCG) in one run,
 * then the Linux boot to init on all three. Prints tables with MIPS and the
 * ratios and writes bench/results/latest.json.
 *
 * Both run the identical ELF with no firmware. Instruction counts come from
 * tsvisor's retired-instruction counter (the programs are deterministic, so
 * QEMU executes the same count); QEMU's time is its wall time minus its
 * start-up time, measured on a trivial program in the same run.
 *
 * Each program also times its phases itself (guests/bench/bench.h: the CLINT
 * timer, which follows the host's clock on tsvisor and QEMU alike) and the
 * same source is built for the host (`cc -O2 -DHOST`) and run natively, so a
 * second table sets every phase side by side on every engine and on the
 * hardware itself.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtMachine } from '../src/machine/virt.js';
import { BufferCharBackend } from '../src/backends/buffer-char.js';
import { buildGuestPrograms, repoRoot, type GuestProgram } from '../src/guests/guest-programs.js';
import { formatPhases, phaseRows, runNative, type PhaseRow } from './phases.js';
import { formatTable, ratio } from './table.js';
import { buildLinuxGuest, DEFAULT_APPEND } from '../src/guests/linux-guest.js';
import { DEFAULT_BIOS, INIT_MARKER } from '../src/machine/virt.js';
import { spawn } from 'node:child_process';
import type { MemoryBreakdown } from './linux-boot-child.js';
import type { CpuEngine } from '../src/machine/virt.js';
import type { JitBackend, JitStats } from '../src/cpu/riscv/jit/jit.js';

interface Row {
  workload: string;
  instructions: number;
  interpSeconds: number;
  interpMips: number;
  jitSeconds: number;
  jitMips: number;
  /** The JIT with its JavaScript back end instead of WebAssembly. */
  jitJsMips: number;
  /** JIT speed over the interpreter's. */
  jitSpeedup: number;
  jit: JitStats | null;
  qemuSeconds: number | null;
  qemuMips: number | null;
  /** The JIT's speed as a fraction of QEMU's (1 = as fast). */
  ratio: number | null;
  /** The interpreter's speed as a fraction of QEMU's. */
  interpRatio: number | null;
  checksumOk: boolean;
  phases: PhaseRow[];
}

interface TsvisorRun { seconds: number; instructions: number; ok: boolean; output: string; jit: JitStats | null }

async function runTsvisor(p: GuestProgram, cpu: CpuEngine, jitBackend: JitBackend = 'wasm'): Promise<TsvisorRun> {
  const con = new BufferCharBackend();
  // From before the machine exists: its start-up (loading, the engine's warm-up) counts, as QEMU's does.
  const t0 = performance.now();
  const m = new VirtMachine({ memory: 256 * 1048576, harts: 1, bios: null, kernel: p.elf, console: con, cpu, jitBackend });
  const code = await m.run();
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, instructions: m.instructionsRetired(), ok: code === 0, output: con.output, jit: m.jit?.snapshot() ?? null };
}

function runQemu(elf: string): { seconds: number; ok: boolean; output: string } | null {
  const t0 = performance.now();
  const r = spawnSync('qemu-system-riscv64', ['-M', 'virt', '-m', '256M', '-bios', 'none', '-nographic', '-kernel', elf],
    { encoding: 'utf8', timeout: 300_000, input: '' });
  if (r.error !== undefined) return null;
  return { seconds: (performance.now() - t0) / 1000, ok: r.status === 0, output: r.stdout };
}

function fmt(n: number | null, digits = 1): string {
  return n === null ? 'n/a' : n.toFixed(digits);
}

/**
 * Node flags that shrink a VM's host memory, measured side by side with the
 * defaults: a 1 MiB semi-space caps V8's young generation (16 MiB semi-spaces
 * by default), and --single-threaded stops V8's background threads, whose
 * glibc malloc arenas keep tens of MiB of freed compiler memory resident.
 */
export const LEAN_NODE_FLAGS = ['--max-semi-space-size=1', '--single-threaded'];

/** One boot of the Linux guest in a child process. */
interface ChildBoot {
  bootMs: number; instructions: number; maxRssBytes: number; touchedGuestBytes: number; execArgv: string[]; memory: MemoryBreakdown;
  jit: JitStats | null;
}

interface LinuxBootResult {
  /** Boot to init on the JIT (the default engine) and on the interpreter. */
  tsvisorBootSeconds: number;
  interpBootSeconds: number;
  jit: JitStats | null;
  qemuBootSeconds: number | null;
  /** tsvisor speed relative to QEMU (QEMU time / tsvisor time). */
  ratio: number | null;
  instructions: number;
  maxRssMiB: number;
  touchedGuestMiB: number;
  /** Peak RSS minus the guest RAM actually touched: what tsvisor itself costs. */
  overheadMiB: number;
  /** Where the host memory is at the init marker (bytes), with Node's default flags. */
  memory: MemoryBreakdown;
  /** The same boot under {@link LEAN_NODE_FLAGS}. */
  lean: { nodeFlags: string[]; bootSeconds: number; maxRssMiB: number; overheadMiB: number; memory: MemoryBreakdown };
}

function bootChild(g: { kernel: string; initrd: string }, nodeFlags: string[], cpu: CpuEngine = 'jit'): ChildBoot {
  const child = spawnSync(process.execPath, [...nodeFlags, join(repoRoot(), 'dist/bench/linux-boot-child.js'), g.kernel, g.initrd],
    { encoding: 'utf8', timeout: 900_000, env: { ...process.env, TSVISOR_CPU: cpu } });
  if (child.status !== 0) throw new Error(`tsvisor Linux boot failed: ${child.stderr.slice(-2000)}`);
  return JSON.parse(child.stdout.trim().split('\n').pop() as string) as ChildBoot;
}

/** Boots the default Linux guest to its init marker on tsvisor (in a child) and on QEMU. */
async function linuxBoot(): Promise<LinuxBootResult> {
  const g = buildLinuxGuest(true);
  // With the flags this process runs under (package.json's bench script: tsvisor's own launch flags).
  const r = bootChild(g, process.execArgv);
  const interp = bootChild(g, process.execArgv, 'interp');
  const lean = bootChild(g, LEAN_NODE_FLAGS);
  const qemu = await new Promise<number | null>((resolve) => {
    const t0 = performance.now();
    const p = spawn('qemu-system-riscv64', ['-M', 'virt', '-m', '256M', '-nographic', '-bios', DEFAULT_BIOS, '-kernel', g.kernel,
      '-initrd', g.initrd, '-append', DEFAULT_APPEND], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    const timer = setTimeout(() => { p.kill('SIGKILL'); resolve(null); }, 120_000);
    p.on('error', () => { clearTimeout(timer); resolve(null); });
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (out.includes(INIT_MARKER)) {
        clearTimeout(timer);
        const t = (performance.now() - t0) / 1000;
        p.kill('SIGKILL');
        resolve(t);
      }
    });
  });
  const tsv = r.bootMs / 1000;
  const mib = (b: number): number => b / 1048576;
  return {
    tsvisorBootSeconds: tsv, interpBootSeconds: interp.bootMs / 1000, jit: r.jit, qemuBootSeconds: qemu, ratio: qemu === null ? null : qemu / tsv, instructions: r.instructions,
    maxRssMiB: mib(r.maxRssBytes), touchedGuestMiB: mib(r.touchedGuestBytes), overheadMiB: mib(r.maxRssBytes - r.touchedGuestBytes),
    memory: r.memory,
    lean: {
      nodeFlags: LEAN_NODE_FLAGS, bootSeconds: lean.bootMs / 1000, maxRssMiB: mib(lean.maxRssBytes),
      overheadMiB: mib(lean.maxRssBytes - lean.touchedGuestBytes), memory: lean.memory,
    },
  };
}

/** The host-memory breakdown at the init marker, default Node flags beside {@link LEAN_NODE_FLAGS}. */
function formatMemory(linux: LinuxBootResult): string {
  const a = linux.memory, b = linux.lean.memory;
  const mib = (n: number | null | undefined): string => (n === null || n === undefined ? 'n/a' : (n / 1048576).toFixed(1));
  const heap = (m: MemoryBreakdown, space: string): number => m.heapSpacesResident[space] ?? 0;
  const heapAll = (m: MemoryBreakdown): number => Object.values(m.heapSpacesResident).reduce((x, y) => x + y, 0);
  const rows: Array<[string, (m: MemoryBreakdown) => number | null | undefined]> = [
    ['RSS at init', (m) => m.rss],
    ['  Node before the VM (binary, modules)', (m) => m.nodeBaselineRss],
    ['  guest RAM resident', (m) => m.guestRamResident],
    ['  by mapping: files (node binary, libs)', (m) => m.smaps?.files],
    ['  by mapping: malloc brk heap', (m) => m.smaps?.brkHeap],
    ['  by mapping: other anonymous', (m) => m.smaps?.anonymous],
    ['  V8 heap resident', heapAll],
    ['    new space (young generation)', (m) => heap(m, 'new_space')],
    ['    old space', (m) => heap(m, 'old_space')],
    ['    code (incl. large code objects)', (m) => heap(m, 'code_space') + heap(m, 'code_large_object_space')],
    ['  ArrayBuffers beside guest RAM', (m) => m.arrayBuffersBesideGuestRam],
    [`    decode cache (${a.decodedPages} pages)`, (m) => m.decodeCacheBytes],
    ['  rest (binary, malloc, stacks)', (m) => m.unaccounted],
  ];
  const w = Math.max(...rows.map(([l]) => l.length));
  const lines = [
    `  host memory at init, MiB       ${''.padEnd(w - 31)}  default   ${LEAN_NODE_FLAGS.join(' ')}`,
    `  peak RSS${''.padEnd(w - 8)}  ${linux.maxRssMiB.toFixed(1).padStart(7)}   ${linux.lean.maxRssMiB.toFixed(1)}`,
    `  peak RSS - guest RAM touched${''.padEnd(w - 28)}  ${linux.overheadMiB.toFixed(1).padStart(7)}   ${linux.lean.overheadMiB.toFixed(1)}` +
      ` (boot ${linux.tsvisorBootSeconds.toFixed(2)} s vs ${linux.lean.bootSeconds.toFixed(2)} s)`,
    ...rows.map(([label, f]) => `  ${label.padEnd(w)}  ${mib(f(a)).padStart(7)}   ${mib(f(b))}`),
  ];
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const programs = buildGuestPrograms();
  const tiny = programs.isa.find((p) => p.name === 'rvc');
  const qemuStartup = tiny !== undefined ? runQemu(tiny.elf)?.seconds ?? 0 : 0;
  const rows: Row[] = [];
  const nativeDir = mkdtempSync(join(tmpdir(), 'tsvisor-bench-native-'));
  for (const p of programs.bench) {
    // One warm-up run per engine lets V8 optimize tsvisor itself, as in a long-running VM.
    await runTsvisor(p, 'interp');
    const i = await runTsvisor(p, 'interp');
    await runTsvisor(p, 'jit');
    const t = await runTsvisor(p, 'jit');
    await runTsvisor(p, 'jit', 'js');
    const j = await runTsvisor(p, 'jit', 'js');
    const q = runQemu(p.elf);
    const native = runNative(p.name, nativeDir);
    const qSeconds = q === null ? null : Math.max(0.001, q.seconds - qemuStartup);
    const interpMips = i.instructions / i.seconds / 1e6;
    const jitMips = t.instructions / t.seconds / 1e6;
    const qemuMips = qSeconds === null ? null : t.instructions / qSeconds / 1e6;
    rows.push({
      workload: p.name, instructions: t.instructions, interpSeconds: i.seconds, interpMips, jitSeconds: t.seconds, jitMips,
      jitJsMips: j.instructions / j.seconds / 1e6,
      jitSpeedup: jitMips / interpMips, jit: t.jit,
      qemuSeconds: qSeconds, qemuMips, ratio: qemuMips === null ? null : jitMips / qemuMips,
      interpRatio: qemuMips === null ? null : interpMips / qemuMips,
      checksumOk: i.ok && t.ok && j.ok && (q === null || q.ok) && (native === null || native.ok),
      phases: phaseRows(p.name, i.output, t.output, q?.output, native?.output),
    });
    process.stderr.write(`bench: ${p.name} done\n`);
  }
  rmSync(nativeDir, { recursive: true, force: true });
  const header = ['workload', 'instructions', 'interp MIPS', 'jit-js MIPS', 'jit MIPS', 'jit/interp', 'qemu MIPS', 'jit/qemu', 'interp/qemu', 'translations', 'checksum'];
  const lines = rows.map((r) => [r.workload, String(r.instructions), fmt(r.interpMips), fmt(r.jitJsMips), fmt(r.jitMips), `${r.jitSpeedup.toFixed(2)}x`,
    fmt(r.qemuMips), ratio(r.ratio), ratio(r.interpRatio), String(r.jit?.translations ?? 0), r.checksumOk ? 'ok' : 'WRONG']);
  process.stdout.write(`tsvisor (interpreter; JIT to JavaScript; JIT to WebAssembly, the default) vs qemu-system-riscv64 (TCG), bare metal, 1 hart; qemu start-up ${qemuStartup.toFixed(2)} s subtracted\n`);
  process.stdout.write(formatTable(header, lines) + '\n');
  process.stdout.write(`\nphases, as each program timed them (ms; speed ratios: the other's time over the JIT's, so above 1x the JIT is faster); native: the same C built with cc -O2 for the host\n`);
  process.stdout.write(formatPhases(rows.flatMap((r) => r.phases)) + '\n');
  const linux = await linuxBoot();
  process.stdout.write(`\nLinux 6.1 boot to init (${DEFAULT_APPEND}; same kernel, initramfs and OpenSBI; 1 hart, 256 MiB):\n` +
    `  tsvisor jit ${linux.tsvisorBootSeconds.toFixed(2)} s (${(linux.instructions / 1e6).toFixed(0)} M instructions, ` +
    `${linux.jit?.translations ?? 0} translations, ${(linux.jit?.translateMs ?? 0).toFixed(0)} ms translating, ` +
    `${linux.jit === null ? 0 : (linux.jit.codeBytes / Math.max(1, linux.jit.instructionsTranslated)).toFixed(0)} B of WebAssembly per instruction, ` +
    `${linux.jit === null ? 0 : (100 * linux.jit.executedTranslated / linux.instructions).toFixed(0)}% of instructions run translated, ` +
    `${linux.jit?.tierUps ?? 0} pages tiered up), ` +
    `interpreter ${linux.interpBootSeconds.toFixed(2)} s, qemu ${fmt(linux.qemuBootSeconds, 2)} s; ` +
    `jit/qemu speed ${linux.ratio === null ? 'n/a' : linux.ratio.toFixed(3) + 'x'}\n` +
    `  tsvisor host memory: peak RSS ${linux.maxRssMiB.toFixed(0)} MiB, guest RAM touched ${linux.touchedGuestMiB.toFixed(0)} MiB, ` +
    `overhead beyond guest RAM ${linux.overheadMiB.toFixed(0)} MiB\n`);
  process.stdout.write(formatMemory(linux));
  const dir = join(repoRoot(), 'bench/results');
  mkdirSync(dir, { recursive: true });
  const result = { date: new Date().toISOString(), engines: ['interp', 'jit'], node: process.version, qemuStartupSeconds: qemuStartup, rows, linux };
  writeFileSync(join(dir, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`wrote ${join(dir, 'latest.json')}\n`);
  if (rows.some((r) => !r.checksumOk)) process.exitCode = 1;
}

await main();
