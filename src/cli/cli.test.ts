/**
 * The command line on bad input: one line on stderr, a non-zero exit, never a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGuestPrograms, haveCrossCompiler, repoRoot } from '../guests/guest-programs.js';
import { parseMemorySize, UsageError } from './options.js';

const main = join(repoRoot(), 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'tsvisor-cli-'));

function run(args: string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 60_000, input: '' });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

function assertOneLineError(r: { status: number | null; stderr: string }, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, `exit status; stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `exactly one line of error, got:\n${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

test('a missing image is one line and exit 1', () => {
  assertOneLineError(run(['run', '--bios', 'none', '--kernel', join(dir, 'nope.elf')]), 1, /^tsvisor: kernel '.*nope\.elf' does not exist$/);
  assertOneLineError(run(['run', '--bios', join(dir, 'nofw.bin')]), 1, /^tsvisor: firmware '.*' does not exist$/);
});

test('an unreadable image is one line and exit 1', { skip: process.getuid?.() === 0 ? 'root can read any file' : false }, () => {
  const f = join(dir, 'secret.bin');
  writeFileSync(f, 'x');
  chmodSync(f, 0);
  assertOneLineError(run(['run', '--bios', 'none', '--kernel', f]), 1, /not readable/);
});

test('an ELF for another architecture is refused', () => {
  // The Node binary itself is an ELF for the host architecture.
  assertOneLineError(run(['run', '--bios', 'none', '--kernel', process.execPath]), 1, /is an ELF file for (x86-64|AArch64|.*), not RISC-V/);
});

test('an image that does not fit in RAM is refused', () => {
  const f = join(dir, 'big.bin');
  writeFileSync(f, new Uint8Array(40 * 1048576));
  assertOneLineError(run(['run', '--bios', f, '-m', '32M']), 1, /does not fit in RAM.*-m/);
});

test('invalid flag values are one line and exit 2', () => {
  assertOneLineError(run(['run', '-m', 'lots']), 2, /invalid memory size 'lots'/);
  assertOneLineError(run(['run', '--smp', '0']), 2, /invalid --smp value '0'/);
  assertOneLineError(run(['run', '--smp', 'two']), 2, /invalid --smp value 'two'/);
  assertOneLineError(run(['run', '--mmu', 'sv57']), 2, /invalid --mmu value 'sv57'/);
  assertOneLineError(run(['run', '--console', 'tcp:1']), 2, /invalid --console value/);
  assertOneLineError(run(['run', '--console', 'null', '--virtio-console', 'tcp:1']), 2, /invalid --virtio-console value/);
  assertOneLineError(run(['run', '--virtio-console', 'stdio']), 2, /cannot both be stdio/);
  assertOneLineError(run(['run', '--virt', 'kvm']), 2, /invalid --virt value 'kvm'/);
  assertOneLineError(run(['run', '--virt', 'hw']), 2, /needs a --kernel/);
  assertOneLineError(run(['run', '--virt', 'hw', '--bios', 'x.bin', '--kernel', 'k']), 2, /the VMM plays the firmware/);
  assertOneLineError(run(['run', '--virt', 'hw,none', '--kernel', 'k']), 2, /cannot be one of several VMs/);
  assertOneLineError(run(['run', '--pin', '0']), 2, /give --virt/);
  assertOneLineError(run(['run', '--virt', 'trap', '--kernel', 'k', '--pin', '0,5', '--smp', '2']), 2, /invalid --pin entry '5'/);
  const r = run(['run', '--no-such-flag']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option/);
});

test('several VMs with different techniques from one command: each console line carries its VM', { skip: haveCrossCompiler() ? false : 'no riscv64-unknown-elf-gcc' }, () => {
  const hostile = buildGuestPrograms().vmm.find((p) => p.name === 'hostile')!.elf;
  const r = run(['run', '--virt', 'hw,trap,bt', '-m', '32M', '--kernel', hostile]);
  assert.equal(r.status, 0, r.stderr);
  for (const vm of ['vm0 (hw)', 'vm1 (trap)', 'vm2 (bt)']) {
    assert.match(r.stdout, new RegExp(`^\\[${vm.replace(/[()]/g, '\\$&')}\\] hostile: done$`, 'm'));
    assert.doesNotMatch(r.stdout, new RegExp(`^\\[${vm.replace(/[()]/g, '\\$&')}\\] .*FAIL`, 'm'));
  }
  assert.equal((r.stderr.match(/^tsvisor: vm\d under /gm) ?? []).length, 3, 'a summary per VM');
});

test('memory sizes parse like QEMU -m', () => {
  assert.equal(parseMemorySize('256M'), 256 * 1048576);
  assert.equal(parseMemorySize('1G'), 1073741824);
  assert.equal(parseMemorySize('512'), 512 * 1048576);
  assert.throws(() => parseMemorySize('1K'), UsageError);
  assert.throws(() => parseMemorySize('-5M'), UsageError);
});
