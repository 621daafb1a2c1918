/**
 * End-to-end: the pvkernel guest (guests/pvkernel, built by
 * guests/build-pvkernel.sh), the workload the virtualization techniques are
 * compared on. Its native build boots under OpenSBI on the bare board (and on
 * QEMU when installed); its pv build runs on pvmock, the machine-mode stand-in
 * for the VMM's pv side. Every run must print the same phase lines, which
 * this test also computes itself from guests/pvkernel/config.h.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_BIOS, VirtMachine } from './virt.js';
import { BufferCharBackend } from '../backends/buffer-char.js';
import { haveCrossCompiler, repoRoot } from '../guests/guest-programs.js';

/** The built images (see guests/build-pvkernel.sh). */
interface PvKernelBuild {
  native: string;
  pv: string;
  mock: string;
  pvDump: string;
}

function buildPvKernel(): PvKernelBuild {
  let out: string;
  try {
    out = execFileSync('bash', [join(repoRoot(), 'guests/build-pvkernel.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`guests/build-pvkernel.sh failed: ${(err.stderr ?? err.message).slice(-2000)}`);
  }
  const lines = out.trim().split('\n');
  const dir = lines[lines.length - 1].trim();
  return { native: join(dir, 'pvkernel-native.elf'), pv: join(dir, 'pvkernel-pv.elf'), mock: join(dir, 'pvmock.elf'), pvDump: join(dir, 'pvkernel-pv.dump') };
}

function haveQemu(): boolean {
  return spawnSync('qemu-system-riscv64', ['--version'], { stdio: 'ignore' }).status === 0;
}

const skip = haveCrossCompiler() ? false : 'riscv64-unknown-elf-gcc is missing (apt-get install gcc-riscv64-unknown-elf)';
const skipOpenSbi = skip || (existsSync(DEFAULT_BIOS) ? false : `missing ${DEFAULT_BIOS} (apt-get install opensbi)`);
const skipQemu = skip || (haveQemu() ? false : 'qemu-system-riscv64 is not installed (apt-get install qemu-system-misc)');
const build = skip ? undefined : buildPvKernel();

// ------------------------------------------------------------------ expected output
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

/** The lines between `pvkernel: <variant>` and `pvkernel: done`, for the sizes in config.h. */
function expectedPhaseLines(): string[] {
  const config = readFileSync(join(repoRoot(), 'guests/pvkernel/config.h'), 'utf8');
  const n = (name: string): bigint => {
    const m = new RegExp(`^#define ${name} (\\d+)`, 'm').exec(config);
    assert.ok(m, `config.h defines no ${name}`);
    return BigInt(m[1]);
  };
  const [calls, ptPages, ptRounds, pairs, ticks, faultPages] = ['SYSCALLS', 'PT_PAGES', 'PT_ROUNDS', 'IRQ_PAIRS', 'TIMER_TICKS', 'FAULT_PAGES'].map(n);

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
    `syscalls: calls=${calls} checksum=${hex(sys)}`,
    `pagetable: pages=${ptPages * ptRounds} checksum=${hex(pt)}`,
    `irqflag: pairs=${pairs} checksum=${hex(irq)}`,
    `timer: ticks=${ticks} checksum=${hex(timer)}`,
    `pagefault: faults=${faultPages} checksum=${hex(touchSum(SEED_PAGEFAULT, faultPages))}`,
  ];
}

/** The kernel's own lines from a console transcript (firmware banners dropped). */
function kernelLines(output: string): string[] {
  return output.split(/\r?\n/).filter((l) => /^(pvkernel|syscalls|pagetable|irqflag|timer|pagefault): /.test(l));
}

function assertRun(output: string, variant: 'native' | 'pv'): void {
  const lines = kernelLines(output);
  assert.ok(!lines.some((l) => l.includes('FAIL')), `the kernel failed:\n${output.slice(-3000)}`);
  assert.deepEqual(lines, [`pvkernel: ${variant}`, ...expectedPhaseLines(), 'pvkernel: done'], output.slice(-3000));
}

async function runOnBoard(bios: string, kernel: string): Promise<{ code: number; output: string }> {
  const con = new BufferCharBackend();
  if (process.env.TSVISOR_ECHO) con.echo = (s) => process.stderr.write(s);
  const m = new VirtMachine({ memory: 128 * 1048576, harts: 1, bios, kernel, console: con });
  const timer = setTimeout(() => m.powerOff(124), 90_000);
  const code = await m.run();
  clearTimeout(timer);
  m.close();
  return { code, output: con.output };
}

function runOnQemu(bios: string, kernel: string): { code: number | null; output: string } {
  const r = spawnSync('qemu-system-riscv64', ['-M', 'virt', '-m', '128M', '-nographic', '-no-reboot', '-bios', bios, '-kernel', kernel], {
    encoding: 'utf8',
    timeout: 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

// ------------------------------------------------------------------ tests
test('pvkernel: the pv build executes no privileged instruction (disassembly)', { skip }, () => {
  const dump = readFileSync((build as PvKernelBuild).pvDump, 'utf8');
  const privileged = /\s(csrr|csrw|csrs|csrc|csrrw|csrrs|csrrc|csrwi|csrsi|csrci|csrrwi|csrrsi|csrrci|sret|mret|wfi|sfence\.vma)\b.*/g;
  assert.deepEqual(dump.match(privileged) ?? [], []);
  assert.match(dump, /\secall\b/, 'the pv build makes hypercalls');
});

test('pvkernel (native) under OpenSBI on the bare board prints every phase and shuts down cleanly', { skip: skipOpenSbi, timeout: 120_000 }, async () => {
  const { code, output } = await runOnBoard(DEFAULT_BIOS, (build as PvKernelBuild).native);
  assertRun(output, 'native');
  assert.equal(code, 0, `exit code ${code}`);
});

test('pvkernel (native) prints the same lines on QEMU', { skip: skipQemu || skipOpenSbi, timeout: 120_000 }, () => {
  const { code, output } = runOnQemu(DEFAULT_BIOS, (build as PvKernelBuild).native);
  assertRun(output, 'native');
  assert.equal(code, 0, `QEMU exit status ${code}`);
});

test('pvkernel (pv) on the pvmock monitor prints the same lines as native', { skip, timeout: 120_000 }, async () => {
  const b = build as PvKernelBuild;
  const { code, output } = await runOnBoard(b.mock, b.pv);
  assertRun(output, 'pv');
  assert.match(output, /pvmock: shutdown after/);
  assert.equal(code, 0, `exit code ${code}`);
});

test('pvkernel (pv) on the pvmock monitor prints the same lines on QEMU', { skip: skipQemu, timeout: 120_000 }, () => {
  const b = build as PvKernelBuild;
  const { code, output } = runOnQemu(b.mock, b.pv);
  assertRun(output, 'pv');
  assert.equal(code, 0, `QEMU exit status ${code}`);
});
