/**
 * The pvkernel guest (guests/pvkernel/): the small S-mode kernel the
 * virtualization techniques are compared on, built twice from one source —
 * natively (privileged instructions) and paravirtualized (the hypercalls of
 * docs/pv-abi.md) — plus pvcheck, a pv guest that checks the `pv` technique
 * against the ABI, and pvmock, a machine-mode stand-in for the VMM's pv side.
 *
 * Builds them with guests/build-pvkernel.sh (cached outside the repository)
 * and knows what a correct run prints: the phase lines, computed here from
 * guests/pvkernel/config.h the way kernel.c and user.S compute them.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './guest-programs.js';

/** The built images (see guests/build-pvkernel.sh). */
export interface PvKernelBuild {
  /** The output directory. */
  dir: string;
  /** The kernel using privileged instructions, for OpenSBI or the hw/trap/bt techniques. */
  native: string;
  /** The same kernel using only hypercalls, for the pv technique (or pvmock). */
  pv: string;
  /** The pv guest that checks the pv technique against docs/pv-abi.md. */
  check: string;
  /** The machine-mode pv stand-in, as firmware for the pv kernel on a bare board. */
  mock: string;
  /** The pv kernel's disassembly (checked to hold no privileged instruction). */
  pvDump: string;
}

/** The two builds of the kernel, named as its first line prints them. */
export type PvKernelVariant = 'native' | 'pv';

/** Builds (or finds cached) the pvkernel images; throws with the build log's tail on failure. */
export function buildPvKernel(): PvKernelBuild {
  let out: string;
  try {
    out = execFileSync('bash', [join(repoRoot(), 'guests/build-pvkernel.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`guests/build-pvkernel.sh failed: ${(err.stderr ?? err.message).slice(-2000)}`);
  }
  const lines = out.trim().split('\n');
  const dir = lines[lines.length - 1].trim();
  return {
    dir, native: join(dir, 'pvkernel-native.elf'), pv: join(dir, 'pvkernel-pv.elf'), check: join(dir, 'pvcheck.elf'),
    mock: join(dir, 'pvmock.elf'), pvDump: join(dir, 'pvkernel-pv.dump'),
  };
}

/** The workload's sizes (guests/pvkernel/config.h). */
export interface PvKernelConfig {
  syscalls: number;
  ptPages: number;
  ptRounds: number;
  irqPairs: number;
  timerTicks: number;
  faultPages: number;
}

/** Reads the workload's sizes from guests/pvkernel/config.h. */
export function pvKernelConfig(): PvKernelConfig {
  const config = readFileSync(join(repoRoot(), 'guests/pvkernel/config.h'), 'utf8');
  const n = (name: string): number => {
    const m = new RegExp(`^#define ${name} (\\d+)`, 'm').exec(config);
    if (m === null) throw new Error(`guests/pvkernel/config.h defines no ${name}`);
    return Number(m[1]);
  };
  return {
    syscalls: n('SYSCALLS'), ptPages: n('PT_PAGES'), ptRounds: n('PT_ROUNDS'), irqPairs: n('IRQ_PAIRS'),
    timerTicks: n('TIMER_TICKS'), faultPages: n('FAULT_PAGES'),
  };
}

// The checksums as kernel.c and user.S compute them: acc = rotl(acc, 7) ^ value.
const M64 = (1n << 64n) - 1n;
const GOLDEN = 0x9e3779b97f4a7c15n; // kernel.c
const CANARY = 0x0123456789abcdefn; // user.S: 12 registers hold k * CANARY, k = 1..12
const TASK_PID = 7n; // kernel.h
const SEED_PAGETABLE = 0x5eed0000n; // kernel.c
const SEED_PAGEFAULT = 0xfa017000n;
const TIMER_CAUSE = (1n << 63n) | 5n;

const fold = (acc: bigint, v: bigint): bigint => (((acc << 7n) | (acc >> 57n)) & M64) ^ (v & M64);
const hex = (v: bigint): string => `0x${v.toString(16).padStart(16, '0')}`;

function foldCanaries(acc: bigint): bigint {
  for (let k = 1n; k <= 12n; k++) acc = fold(acc, k * CANARY);
  return acc;
}

function touchSum(seed: bigint, pages: bigint): bigint {
  let acc = 0n;
  for (let i = 0n; i < pages; i++) acc = fold(acc, seed + i * GOLDEN);
  return foldCanaries(acc);
}

/** What a correct run of `variant` prints, line by line, for the sizes in config.h. */
export function pvKernelExpectedLines(variant: PvKernelVariant, c: PvKernelConfig = pvKernelConfig()): string[] {
  const [calls, ptPages, ptRounds, pairs, ticks, faultPages] = [c.syscalls, c.ptPages, c.ptRounds, c.irqPairs, c.timerTicks, c.faultPages].map(BigInt);
  let sys = 0n;
  for (let i = 0n; i < calls; i++) sys = fold(sys, i & 1n ? i + sys : TASK_PID);
  sys = foldCanaries(sys);
  let pt = 0n;
  for (let r = 0n; r < ptRounds; r++) pt = fold(pt, touchSum(SEED_PAGETABLE + r, ptPages));
  let irq = 0n;
  for (let i = 0n; i < pairs; i++) irq = (irq * 6364136223846793005n + i) & M64;
  let timer = 0n;
  for (let t = 1n; t <= ticks; t++) timer = fold(timer, TIMER_CAUSE + t);
  return [
    `pvkernel: ${variant}`,
    `syscalls: calls=${calls} checksum=${hex(sys)}`,
    `pagetable: pages=${ptPages * ptRounds} checksum=${hex(pt)}`,
    `irqflag: pairs=${pairs} checksum=${hex(irq)}`,
    `timer: ticks=${ticks} checksum=${hex(timer)}`,
    `pagefault: faults=${faultPages} checksum=${hex(touchSum(SEED_PAGEFAULT, faultPages))}`,
    'pvkernel: done',
  ];
}

/** The kernel's own lines from a console transcript (firmware banners dropped), failures included. */
export function pvKernelLines(output: string): string[] {
  return output.split(/\r?\n/).filter((l) => /^(pvkernel|syscalls|pagetable|irqflag|timer|pagefault): /.test(l));
}
