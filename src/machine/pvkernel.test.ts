/**
 * End-to-end: the pvkernel guest (guests/pvkernel, built by
 * guests/build-pvkernel.sh), the workload the virtualization techniques are
 * compared on. Its native build boots under OpenSBI on the bare board (and on
 * QEMU when installed); its pv build runs on pvmock, the machine-mode stand-in
 * for the VMM's pv side. Every run must print the same phase lines, which
 * src/guests/pvkernel.ts computes from guests/pvkernel/config.h. (The pv
 * build under the VMM's own pv technique is src/vmm/pv.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { DEFAULT_BIOS, VirtMachine } from './virt.js';
import { BufferCharBackend } from '../backends/buffer-char.js';
import { haveCrossCompiler } from '../guests/guest-programs.js';
import { buildPvKernel, pvKernelExpectedLines, pvKernelLines, type PvKernelBuild, type PvKernelVariant } from '../guests/pvkernel.js';

function haveQemu(): boolean {
  return spawnSync('qemu-system-riscv64', ['--version'], { stdio: 'ignore' }).status === 0;
}

const skip = haveCrossCompiler() ? false : 'riscv64-unknown-elf-gcc is missing (apt-get install gcc-riscv64-unknown-elf)';
const skipOpenSbi = skip || (existsSync(DEFAULT_BIOS) ? false : `missing ${DEFAULT_BIOS} (apt-get install opensbi)`);
const skipQemu = skip || (haveQemu() ? false : 'qemu-system-riscv64 is not installed (apt-get install qemu-system-misc)');
const build = skip ? undefined : buildPvKernel();

function assertRun(output: string, variant: PvKernelVariant): void {
  const lines = pvKernelLines(output);
  assert.ok(!lines.some((l) => l.includes('FAIL')), `the kernel failed:\n${output.slice(-3000)}`);
  assert.deepEqual(lines, pvKernelExpectedLines(variant), output.slice(-3000));
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
