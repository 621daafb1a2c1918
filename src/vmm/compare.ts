/**
 * `tsvisor compare`: the same guest workload under every execution
 * technique tsvisor has, in one run, with the counters that explain the
 * differences (the comparison table of a virtualization reference guide,
 * measured rather than quoted).
 *
 * The workload boots the default Linux guest to its shell, runs a few
 * commands and powers off. Each configuration must print the same command
 * output (timing aside); the table says when one does not.
 *
 * Configurations: the guest on the bare machine (`none`, with OpenSBI)
 * under each execution engine — emulation by the interpreter, and binary
 * translation to JavaScript and to WebAssembly — and the same guest as a VM
 * of the VMM under hardware assistance (`hw`), trap-and-emulate (`trap`),
 * binary translation of its kernel (`bt`) and paravirtualization (`pv`, where
 * Linux, having no port to tsvisor's hypercalls, uses SBI and virtio only),
 * with the VMM in OpenSBI's place.
 */
import { performance } from 'node:perf_hooks';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { VirtMachine, DEFAULT_BIOS, INIT_MARKER, type CpuEngine, type MachineTotals } from '../machine/virt.js';
import type { Jit } from '../cpu/riscv/jit/jit.js';
import { Vmm } from './vmm.js';
import type { TechniqueName } from './techniques/technique.js';
import type { JitBackend } from '../cpu/riscv/jit/jit.js';
import { BufferCharBackend } from '../backends/buffer-char.js';
import { EXCEPTION_NAMES } from '../cpu/riscv/constants.js';
import { DEFAULT_APPEND } from '../guests/linux-guest.js';
import { pvKernelLines } from '../guests/pvkernel.js';

/** One way of running the guest. */
export interface Configuration {
  /** Which build of the pvkernel workload's guest this configuration boots (default: native). */
  variant?: 'native' | 'pv';
  /** Short name for the table. */
  name: string;
  /** `none`: the bare machine with firmware; otherwise a VM of the VMM under this technique. */
  technique: 'none' | TechniqueName;
  engine: CpuEngine;
  backend?: JitBackend;
  /** What the guest must change to run this way. */
  guestModifications: string;
}

export const CONFIGURATIONS: Configuration[] = [
  { name: 'emulation (interpreter)', technique: 'none', engine: 'interp', guestModifications: 'none' },
  { name: 'binary translation (JIT to JavaScript)', technique: 'none', engine: 'jit', backend: 'js', guestModifications: 'none' },
  { name: 'binary translation (JIT to WebAssembly)', technique: 'none', engine: 'jit', backend: 'wasm', guestModifications: 'none' },
  { name: 'hardware-assisted (H extension)', technique: 'hw', engine: 'jit', guestModifications: 'none' },
  { name: 'trap-and-emulate (shadow paging)', technique: 'trap', engine: 'jit', guestModifications: 'none' },
  { name: 'binary translation of the kernel', technique: 'bt', engine: 'jit', guestModifications: 'none' },
  { name: 'paravirtualization (SBI and virtio only)', technique: 'pv', engine: 'jit', guestModifications: 'none: no TSVI port, SBI and virtio are its paravirtual paths' },
];

/**
 * The pvkernel workload (guests/pvkernel): system calls, page-table churn,
 * interrupt masking, timer interrupts and demand paging in a small kernel
 * the project writes, built natively and paravirtualized. Its native build
 * runs on the bare machine and under hw, trap and bt; its pv build under pv
 * — the trap-versus-hypercall comparison on the same work.
 */
export const PVKERNEL_CONFIGURATIONS: Configuration[] = [
  { name: 'bare machine (native kernel)', technique: 'none', engine: 'jit', guestModifications: 'none' },
  { name: 'hardware-assisted (H extension)', technique: 'hw', engine: 'jit', guestModifications: 'none' },
  { name: 'trap-and-emulate (shadow paging)', technique: 'trap', engine: 'jit', guestModifications: 'none' },
  { name: 'binary translation of the kernel', technique: 'bt', engine: 'jit', guestModifications: 'none' },
  { name: 'paravirtualization (pv kernel)', technique: 'pv', engine: 'jit', variant: 'pv', guestModifications: 'kernel uses hypercalls' },
];

export const WORKLOADS = ['linux', 'pvkernel'] as const;
export type Workload = typeof WORKLOADS[number];

/** The commands the workload runs at the guest's shell. */
export const SMOKE_COMMANDS = ['uname -sr', 'grep -c ^processor /proc/cpuinfo', 'echo $((12345*6789))', 'ls /bin | wc -l'];

/** The measurements of one configuration. */
export interface ComparisonRow {
  configuration: string;
  technique: string;
  engine: string;
  /** Wall time to the guest's init, and for the whole workload. */
  bootSeconds: number | null;
  totalSeconds: number;
  /** Total time relative to the first configuration's. */
  relativeTime: number;
  instructions: number;
  exceptions: number;
  exceptionsByCause: Record<string, number>;
  interrupts: number;
  ecalls: number;
  mmioAccesses: number;
  tlbHits: number;
  tlbMisses: number;
  tlbHitRate: number;
  pageWalks: number;
  walkRefsPerMiss: number;
  translations: number;
  translateMs: number;
  /** Exits to the VMM (none on the bare machine), in all and by cause. */
  exits: number;
  exitsByCause: Record<string, number>;
  /** SBI calls: to the firmware on the bare machine, to the VMM (hypercalls) in a VM. */
  sbiCalls: number;
  /** Privileged instructions the VMM emulated (trap: after a trap; bt: by an inline call). */
  emulated: number;
  /** The technique's own counters (shadow fills, G-stage table pages, ...). */
  techniqueCounters: Record<string, number>;
  guestModifications: string;
  /** The smoke commands' output matched the first configuration's. */
  outputMatches: boolean;
  /** That output (carriage returns dropped). */
  commandOutput: string;
  exitCode: number | undefined;
}

const PROMPT = /[#$] $/m;

/** The guest images the workload boots. */
export interface ComparisonGuest {
  workload?: Workload;
  kernel: string;
  initrd?: string;
  /** The pv build of the kernel (pvkernel workload). */
  pvKernel?: string;
  bios?: string;
}

/** Boots to the shell, runs the smoke commands and powers off; returns their output. */
async function driveShell(con: BufferCharBackend): Promise<string> {
  const timeout = 600_000;
  let at = await con.waitFor(INIT_MARKER, timeout);
  at = await con.waitFor(PROMPT, timeout, at);
  let output = '';
  for (const cmd of SMOKE_COMMANDS) {
    con.type(cmd + '\n');
    const end = await con.waitFor(PROMPT, timeout, at + 1);
    output += con.output.slice(at, end);
    at = end;
  }
  con.type('poweroff\n');
  return output;
}

/** What the workload needs of a machine or VM, whichever runs it. */
interface Subject {
  run(): Promise<number | undefined>;
  close(): void;
  totals(): MachineTotals;
  instructionsRetired(): number;
  readonly bootMarkerMs: number | undefined;
  readonly jit: Jit | undefined;
  exits(): { total: number; byCause: Record<string, number> };
  sbiCalls(): number;
  counters(): Record<string, number>;
}

const GUEST_MEMORY = 256 * 1048576;
/** Host memory for one VM: its RAM, plus room for shadow or G-stage tables. */
const HOST_MEMORY = GUEST_MEMORY + 64 * 1048576;

function bareMachine(c: Configuration, g: ComparisonGuest, harts: number, con: BufferCharBackend): Subject {
  const m = new VirtMachine({
    memory: GUEST_MEMORY, harts, bios: g.bios ?? DEFAULT_BIOS, kernel: g.kernel, initrd: g.initrd, append: g.initrd === undefined ? undefined : DEFAULT_APPEND,
    console: con, cpu: c.engine, jitBackend: c.backend,
  });
  return {
    run: () => m.run(), close: () => m.close(), totals: () => m.totals(), instructionsRetired: () => m.instructionsRetired(),
    get bootMarkerMs() { return m.bootMarkerMs; }, jit: m.jit,
    exits: () => ({ total: 0, byCause: {} }),
    sbiCalls: () => m.totals().exceptionsByCause[9] ?? 0, // ECALLs from S-mode reach OpenSBI
    counters: () => ({}),
  };
}

function virtualMachine(c: Configuration & { technique: TechniqueName }, g: ComparisonGuest, harts: number, con: BufferCharBackend): Subject {
  const vmm = new Vmm({ memory: HOST_MEMORY, harts, cpu: c.engine, jitBackend: c.backend });
  const vm = vmm.createVm({ memory: GUEST_MEMORY, vcpus: harts, kernel: g.kernel, initrd: g.initrd, append: g.initrd === undefined ? undefined : DEFAULT_APPEND, console: con }, c.technique);
  return {
    run: async () => { await vmm.run(); return vm.exitCode; },
    close: () => vmm.close(), instructionsRetired: () => vm.instructionsRetired(),
    // Device accesses are the VMM's emulations (the hart itself reaches no device).
    totals: () => ({ ...vm.totals(), mmioAccesses: vm.vcpus.reduce((n, v) => n + v.stats.mmio, 0) }),
    get bootMarkerMs() { return vm.bootMarkerMs; }, jit: vmm.host.jit,
    exits: () => vm.exits(), sbiCalls: () => vm.sbi.stats.calls,
    counters: () => ({ ...vm.technique.counters(), inlineVmmCalls: vm.vcpus.reduce((n, v) => n + v.hart.stats.inlineVmmCalls, 0) }),
  };
}

/** Runs the workload once under `c`; returns its row (relativeTime and outputMatches filled in by the caller) and the smoke output. */
export async function runOne(c: Configuration, g: ComparisonGuest, harts: number): Promise<{ row: ComparisonRow; output: string }> {
  const con = new BufferCharBackend();
  const guest = c.variant === 'pv' && g.pvKernel !== undefined ? { ...g, kernel: g.pvKernel } : g;
  const m = c.technique === 'none' ? bareMachine(c, guest, harts, con) : virtualMachine({ ...c, technique: c.technique }, guest, harts, con);
  const t0 = performance.now();
  const done = m.run();
  let output: string;
  let exitCode: number | undefined;
  if (g.workload === 'pvkernel') {
    exitCode = await done;
    // The kernel's lines but the first, which names the build.
    output = pvKernelLines(con.output).slice(1).join('\n') + '\n';
  } else {
    output = await driveShell(con);
    exitCode = await done;
  }
  const totalSeconds = (performance.now() - t0) / 1000;
  m.close();
  const t = m.totals();
  const byCause: Record<string, number> = {};
  t.exceptionsByCause.forEach((n, cause) => { if (n > 0) byCause[EXCEPTION_NAMES[cause] ?? `cause ${cause}`] = n; });
  const hits = t.tlbHits, misses = t.tlbMisses;
  const jit = m.jit?.snapshot();
  const exits = m.exits();
  const counters = m.counters();
  const emulated = Object.entries(counters).filter(([k]) => k.startsWith('emulated ')).reduce((n, [, v]) => n + v, 0);
  return {
    output,
    row: {
      configuration: c.name, technique: c.technique, engine: c.backend === undefined ? c.engine : `${c.engine}/${c.backend}`,
      bootSeconds: m.bootMarkerMs === undefined ? null : m.bootMarkerMs / 1000, totalSeconds, relativeTime: 1,
      instructions: m.instructionsRetired(), exceptions: t.exceptions, exceptionsByCause: byCause, interrupts: t.interrupts,
      ecalls: t.ecalls, mmioAccesses: t.mmioAccesses,
      tlbHits: hits, tlbMisses: misses, tlbHitRate: hits + misses === 0 ? 0 : hits / (hits + misses),
      pageWalks: t.pageWalks, walkRefsPerMiss: misses === 0 ? 0 : t.walkMemoryRefs / misses,
      translations: jit?.translations ?? 0, translateMs: jit?.translateMs ?? 0,
      exits: exits.total, exitsByCause: exits.byCause, sbiCalls: m.sbiCalls(), emulated, techniqueCounters: counters,
      guestModifications: c.guestModifications, outputMatches: true, commandOutput: '', exitCode,
    },
  };
}

/**
 * Runs the workload under `c` in a fresh Node.js process (compare-child.ts),
 * so no configuration profits from V8 having already optimized tsvisor's
 * own code for an earlier one.
 */
function runInChild(c: Configuration, g: ComparisonGuest, harts: number): Promise<{ row: ComparisonRow; output: string }> {
  const child = fileURLToPath(new URL('./compare-child.js', import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [child, JSON.stringify({ c, g, harts })], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err !== null) { reject(new Error(`compare: ${c.name} failed: ${stderr.trim().split('\n').slice(-5).join('\n') || err.message}`)); return; }
      resolve(JSON.parse(stdout) as { row: ComparisonRow; output: string });
    });
  });
}

/** Runs every configuration in turn, each in its own process; the first is the baseline. */
export async function runComparison(g: ComparisonGuest, configurations = CONFIGURATIONS, harts = 1,
  progress: (msg: string) => void = () => {}): Promise<ComparisonRow[]> {
  const rows: ComparisonRow[] = [];
  let baseline: { seconds: number; output: string } | undefined;
  for (const c of configurations) {
    progress(`compare: ${c.name}…`);
    const { row, output } = await runInChild(c, g, harts);
    // Timing aside: drop the echo of carriage returns so only the text is compared.
    const text = output.replace(/\r/g, '');
    if (baseline === undefined) baseline = { seconds: row.totalSeconds, output: text };
    row.relativeTime = row.totalSeconds / baseline.seconds;
    row.outputMatches = text === baseline.output;
    row.commandOutput = text;
    rows.push(row);
  }
  return rows;
}

/** The comparison as a text table (one column per configuration). */
export function formatComparison(rows: ComparisonRow[]): string {
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  const fields: Array<[string, (r: ComparisonRow) => string]> = [
    ['technique', (r) => r.technique],
    ['engine', (r) => r.engine],
    ['guest modifications', (r) => r.guestModifications],
    ['boot to init, s', (r) => (r.bootSeconds === null ? 'n/a' : r.bootSeconds.toFixed(2))],
    ['whole workload, s', (r) => r.totalSeconds.toFixed(2)],
    ['time vs first column', (r) => `${r.relativeTime.toFixed(2)}x`],
    ['instructions', (r) => String(r.instructions)],
    ['exceptions', (r) => String(r.exceptions)],
    ['  ecalls', (r) => String(r.ecalls)],
    ['  page faults', (r) => String((r.exceptionsByCause['load page fault'] ?? 0) + (r.exceptionsByCause['store page fault'] ?? 0) + (r.exceptionsByCause['fetch page fault'] ?? 0))],
    ['  illegal instructions', (r) => String(r.exceptionsByCause['illegal instruction'] ?? 0)],
    ['interrupts', (r) => String(r.interrupts)],
    ['exits to the VMM', (r) => String(r.exits)],
    ['  ECALLs (SBI, system calls, hypercalls)', (r) => String(r.exitsByCause['ecall from VS'] ?? r.exitsByCause['ecall from U'] ?? 0)],
    ['  privileged instructions', (r) => String(r.exitsByCause['illegal instruction'] ?? 0)],
    ['  page faults (hidden + guest)', (r) => String((r.exitsByCause['load page fault'] ?? 0) + (r.exitsByCause['store page fault'] ?? 0) + (r.exitsByCause['fetch page fault'] ?? 0))],
    ['  guest-page faults (devices)', (r) => String((r.exitsByCause['load guest-page fault'] ?? 0) + (r.exitsByCause['store guest-page fault'] ?? 0))],
    ['SBI calls', (r) => String(r.sbiCalls)],
    ['tsvisor pv hypercalls', (r) => String(r.techniqueCounters.hypercalls ?? 0)],
    ['privileged instructions emulated', (r) => String(r.emulated)],
    ['  by inline calls from translated code', (r) => String(r.techniqueCounters.inlineVmmCalls ?? 0)],
    ['shadow page-table fills', (r) => String(r.techniqueCounters.fills ?? 0)],
    ['device (MMIO) accesses', (r) => String(r.mmioAccesses)],
    ['TLB hit rate', (r) => pct(r.tlbHitRate)],
    ['page walks', (r) => String(r.pageWalks)],
    ['walk memory refs per miss', (r) => r.walkRefsPerMiss.toFixed(2)],
    ['translations', (r) => String(r.translations)],
    ['time translating, ms', (r) => r.translateMs.toFixed(0)],
    ['same command output', (r) => (r.outputMatches ? 'yes' : 'NO')],
  ];
  const header = ['', ...rows.map((r) => r.configuration)];
  const lines = fields.map(([label, f]) => [label, ...rows.map(f)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)].join('\n') + '\n';
}
