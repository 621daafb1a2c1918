/**
 * The VMM with small guests: several VMs under different techniques in one
 * process, isolated from each other; a hostile guest gets architectural
 * answers (faults, SBI errors) and harms nobody; a fault inside tsvisor
 * stops only the VM it happened in; pinned vCPUs stay on their host hart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { BufferCharBackend } from '../backends/buffer-char.js';
import { buildGuestPrograms, haveCrossCompiler } from '../guests/guest-programs.js';
import { DEFAULT_BIOS, VirtMachine } from '../machine/virt.js';
import { Vmm } from './vmm.js';
import { TECHNIQUES, type TechniqueName } from './techniques/technique.js';

const skip = !haveCrossCompiler() ? 'riscv64-unknown-elf-gcc missing (apt-get install gcc-riscv64-unknown-elf)'
  : !existsSync(DEFAULT_BIOS) ? `missing ${DEFAULT_BIOS} (apt-get install opensbi)` : false;
const hostile = (): string => buildGuestPrograms().vmm.find((p) => p.name === 'hostile')!.elf;
const MiB = 1048576;

/** What hostile.S prints: every check answered as the architecture says. */
const EXPECTED = [
  'hostile: start', 'load past RAM: ok', 'store past RAM: ok', 'load far beyond RAM: ok', 'store far beyond RAM: ok',
  'unsupported satp mode ignored: ok', 'PTE with W but not R: ok', 'PTE leaf outside RAM: ok', 'page table outside RAM: ok',
  'PTE reserved bits: ok', 'SBI unknown extension: ok', 'SBI hart_start of a missing hart: ok', 'SBI IPI to a missing hart: ok',
  'SBI reset of a bad type: ok', 'hostile: done',
];
const lines = (out: string): string[] => out.replace(/\r/g, '').split('\n').filter((l) => l.startsWith('hostile') || l.includes(': ok') || l.includes(': FAIL'));

test('hostile guest on the bare machine under OpenSBI: every check gets the architectural answer', { skip, timeout: 60_000 }, async () => {
  const con = new BufferCharBackend();
  const m = new VirtMachine({ memory: 64 * MiB, harts: 1, bios: DEFAULT_BIOS, kernel: hostile(), console: con });
  assert.equal(await m.run(), 0);
  assert.deepEqual(lines(con.output), EXPECTED);
});

test('VMs under hw, trap and bt run at once in one process: same answers, and no guest store lands outside its own RAM', { skip, timeout: 60_000 }, async () => {
  const vmm = new Vmm({ memory: 256 * MiB, harts: 2 });
  const techniques: TechniqueName[] = ['hw', 'trap', 'bt'];
  const vms = techniques.map((t) => {
    const con = new BufferCharBackend();
    return { con, vm: vmm.createVm({ memory: 64 * MiB, vcpus: 1, kernel: hostile(), console: con }, t) };
  });
  await vmm.run();
  for (const { vm, con } of vms) {
    assert.equal(vm.exitCode, 0, `${vm.technique.name}: powered off cleanly`);
    assert.deepEqual(lines(con.output), EXPECTED, `${vm.technique.name}: same answers as the bare machine`);
  }
  // The guests stored 0x5a5a5a5a past their RAM; it must be nowhere in host memory.
  const words = new BigUint64Array(vmm.host.ram.buffer, 0, vmm.host.ram.size / 8);
  assert.equal(words.indexOf(0x5a5a5a5an), -1, 'no stray guest store reached host memory');
  const [a, b, c] = vms.map(({ vm }) => vm.memory);
  for (const [x, y] of [[a, b], [a, c], [b, c]]) {
    assert.ok(x.hostBase + x.size <= y.hostBase || y.hostBase + y.size <= x.hostBase, 'VM RAM ranges are disjoint');
  }
  // Each technique leaves its mark: hw exits on SBI calls and guest-page faults only; trap on privileged instructions; bt never.
  const [hw, trap, bt] = vms.map(({ vm }) => vm.exits().byCause);
  assert.equal(hw['illegal instruction'], undefined);
  assert.ok((hw['load guest-page fault'] ?? 0) + (hw['store guest-page fault'] ?? 0) >= 4, 'hw: accesses outside RAM are guest-page faults');
  assert.ok((trap['illegal instruction'] ?? 0) > 10, 'trap: privileged instructions trap');
  assert.equal(bt['illegal instruction'], undefined, 'bt: privileged instructions are emulated inline');
  vmm.close();
  assert.equal(vmm.host.freeBytes(), vmm.host.ram.size, 'closing the VMs returns all host memory');
});

test('a fault inside tsvisor stops only its own VM; the others run to the end', { skip, timeout: 60_000 }, async () => {
  const vmm = new Vmm({ memory: 256 * MiB, harts: 1 });
  const con = [new BufferCharBackend(), new BufferCharBackend()];
  const broken = vmm.createVm({ memory: 64 * MiB, vcpus: 1, kernel: hostile(), console: con[0] }, 'trap');
  const healthy = vmm.createVm({ memory: 64 * MiB, vcpus: 1, kernel: hostile(), console: con[1] }, 'hw');
  let exits = 0;
  const handle = broken.technique.handleExit.bind(broken.technique);
  broken.technique.handleExit = (v, e) => { if (++exits === 20) throw new Error('a bug in the VMM'); handle(v, e); };
  await vmm.run();
  assert.equal(broken.exitCode, 70);
  assert.match(broken.internalError ?? '', /a bug in the VMM/);
  assert.equal(healthy.exitCode, 0);
  assert.deepEqual(lines(con[1].output), EXPECTED);
  vmm.close();
});

test('pinned vCPUs run only on their host hart; unpinned ones share the rest', { skip, timeout: 60_000 }, async () => {
  const vmm = new Vmm({ memory: 256 * MiB, harts: 2, slice: 2000 });
  const pinned = vmm.createVm({ memory: 32 * MiB, vcpus: 1, kernel: hostile(), console: new BufferCharBackend(), pin: [1] }, 'hw');
  const free = [0, 1].map(() => vmm.createVm({ memory: 32 * MiB, vcpus: 1, kernel: hostile(), console: new BufferCharBackend() }, 'trap'));
  await vmm.run();
  assert.deepEqual(Object.keys(pinned.vcpus[0].stats.slicesOn), ['1']);
  for (const vm of [pinned, ...free]) assert.equal(vm.exitCode, 0);
  assert.ok(vmm.stats.hostHarts.every((h) => h.slices > 0), 'both host harts ran vCPUs');
  assert.throws(() => vmm.createVm({ memory: 32 * MiB, vcpus: 1, kernel: hostile(), console: new BufferCharBackend(), pin: [2] }, 'hw'), /host hart 2/);
  vmm.close();
});

test('every technique name is accepted', () => {
  assert.deepEqual([...TECHNIQUES].sort(), ['bt', 'hw', 'trap'].concat(TECHNIQUES.includes('pv' as TechniqueName) ? ['pv'] : []).sort());
});

test('closing VMs returns their memory and hart contexts: hundreds of VMs come and go on one host', { skip, timeout: 60_000 }, async () => {
  const vmm = new Vmm({ memory: 64 * MiB, harts: 1 });
  for (let i = 0; i < 300; i++) {
    const vm = vmm.createVm({ memory: 16 * MiB, vcpus: 1, kernel: hostile(), console: new BufferCharBackend() }, i % 2 === 0 ? 'hw' : 'trap');
    vm.vcpus[0].hart.fpu.i32[2] = 0x1234; // left behind in an FP register
    vm.vcpus[0].hart.stats.instret = 99;
    vm.close();
  }
  const con = new BufferCharBackend();
  const last = vmm.createVm({ memory: 16 * MiB, vcpus: 1, kernel: hostile(), console: con }, 'bt');
  assert.equal(last.vcpus[0].hart.fpu.i32[2], 0, 'no register of an earlier VM shows through');
  assert.equal(last.vcpus[0].hart.stats.instret, 0);
  await vmm.run();
  assert.equal(last.exitCode, 0);
  assert.deepEqual(lines(con.output), EXPECTED);
  vmm.close();
  assert.equal(vmm.host.freeBytes(), vmm.host.ram.size);
});
