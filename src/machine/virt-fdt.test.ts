import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildVirtFdt, type VirtFdtConfig } from './virt-fdt.js';
import { type FdtNode, findNode, parseFdt, propCells, propString, propStrings, propU32, propU64s } from './fdt.js';

const haveDtc = spawnSync('dtc', ['--version']).status === 0;
const haveQemu = spawnSync('qemu-system-riscv64', ['--version']).status === 0;
const UBOOT = '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin';

const base: VirtFdtConfig = {
  harts: 2,
  ramBase: 0x8000_0000,
  ramSize: 256 * 1048576,
  isa: 'rv64imafdc_zicntr_zicsr_zifencei_sstc',
  mmuType: 'riscv,sv39',
  bootargs: 'console=ttyS0 earlycon',
  initrd: { start: 0x8800_0000, end: 0x8810_0000 },
  virtioSlots: 8,
  rngSeed: null,
};

function node(root: FdtNode, path: string): FdtNode {
  const n = findNode(root, path);
  assert.ok(n, `node ${path} exists`);
  return n;
}

test('the tree has the virt board nodes with QEMU 7.2 values', () => {
  const root = parseFdt(buildVirtFdt(base));
  assert.equal(propString(root, 'compatible'), 'riscv-virtio');
  assert.equal(propString(root, 'model'), 'riscv-virtio,qemu');
  assert.equal(propU32(root, '#address-cells'), 2);

  const chosen = node(root, '/chosen');
  assert.equal(propString(chosen, 'stdout-path'), '/soc/serial@10000000');
  assert.equal(propString(chosen, 'bootargs'), 'console=ttyS0 earlycon');
  assert.deepEqual(propCells(chosen, 'linux,initrd-start'), [0x8800_0000]);
  assert.deepEqual(propCells(chosen, 'linux,initrd-end'), [0x8810_0000]);
  assert.equal(chosen.props.has('rng-seed'), false, 'rngSeed: null leaves it out');

  assert.deepEqual(propU64s(node(root, '/memory@80000000'), 'reg'), [0x8000_0000n, 256n * 1048576n]);

  const cpus = node(root, '/cpus');
  assert.equal(propU32(cpus, 'timebase-frequency'), 10_000_000);
  assert.equal(propU32(cpus, '#address-cells'), 1);
  assert.equal(propU32(cpus, '#size-cells'), 0);
  const intcs: number[] = [];
  const cpuPhandles: number[] = [];
  for (const h of [0, 1]) {
    const cpu = node(root, `/cpus/cpu@${h}`);
    assert.equal(propString(cpu, 'device_type'), 'cpu');
    assert.equal(propU32(cpu, 'reg'), h);
    assert.equal(propString(cpu, 'status'), 'okay');
    assert.equal(propString(cpu, 'compatible'), 'riscv');
    assert.equal(propString(cpu, 'riscv,isa'), base.isa);
    assert.equal(propString(cpu, 'mmu-type'), 'riscv,sv39');
    const intc = node(cpu, 'interrupt-controller');
    assert.equal(propU32(intc, '#interrupt-cells'), 1);
    assert.equal(propString(intc, 'compatible'), 'riscv,cpu-intc');
    assert.ok(intc.props.has('interrupt-controller'));
    intcs.push(propU32(intc, 'phandle') ?? -1);
    cpuPhandles.push(propU32(cpu, 'phandle') ?? -1);
    assert.equal(propU32(node(root, `/cpus/cpu-map/cluster0/core${h}`), 'cpu'), cpuPhandles[h]);
  }
  assert.deepEqual(cpuPhandles, [3, 1], 'QEMU numbers phandles from the last hart down');
  assert.deepEqual(intcs, [4, 2]);

  const soc = node(root, '/soc');
  assert.equal(propString(soc, 'compatible'), 'simple-bus');
  assert.ok(soc.props.has('ranges'));

  const clint = node(root, '/soc/clint@2000000');
  assert.deepEqual(propStrings(clint, 'compatible'), ['sifive,clint0', 'riscv,clint0']);
  assert.deepEqual(propU64s(clint, 'reg'), [0x200_0000n, 0x1_0000n]);
  assert.deepEqual(propCells(clint, 'interrupts-extended'), [intcs[0], 3, intcs[0], 7, intcs[1], 3, intcs[1], 7]);

  const plic = node(root, '/soc/plic@c000000');
  const plicPh = propU32(plic, 'phandle');
  assert.equal(plicPh, 5);
  assert.deepEqual(propStrings(plic, 'compatible'), ['sifive,plic-1.0.0', 'riscv,plic0']);
  assert.equal(propU32(plic, 'riscv,ndev'), 96);
  assert.equal(propU32(plic, '#interrupt-cells'), 1);
  assert.equal(propU32(plic, '#address-cells'), 0);
  assert.ok(plic.props.has('interrupt-controller'));
  assert.deepEqual(propU64s(plic, 'reg'), [0xc00_0000n, 0x60_0000n]);
  assert.deepEqual(propCells(plic, 'interrupts-extended'), [intcs[0], 11, intcs[0], 9, intcs[1], 11, intcs[1], 9]);

  const uart = node(root, '/soc/serial@10000000');
  assert.equal(propString(uart, 'compatible'), 'ns16550a');
  assert.equal(propU32(uart, 'clock-frequency'), 0x384000);
  assert.equal(propU32(uart, 'interrupts'), 10);
  assert.equal(propU32(uart, 'interrupt-parent'), plicPh);
  assert.deepEqual(propU64s(uart, 'reg'), [0x1000_0000n, 0x100n]);

  for (let i = 0; i < 8; i++) {
    const v = node(root, `/soc/virtio_mmio@${(0x1000_1000 + i * 0x1000).toString(16)}`);
    assert.equal(propString(v, 'compatible'), 'virtio,mmio');
    assert.equal(propU32(v, 'interrupts'), 1 + i);
    assert.equal(propU32(v, 'interrupt-parent'), plicPh);
  }

  const testDev = node(root, '/soc/test@100000');
  assert.deepEqual(propStrings(testDev, 'compatible'), ['sifive,test1', 'sifive,test0', 'syscon']);
  const testPh = propU32(testDev, 'phandle');
  for (const [name, value, compat] of [['poweroff', 0x5555, 'syscon-poweroff'], ['reboot', 0x7777, 'syscon-reboot']] as const) {
    const n = node(root, `/${name}`);
    assert.equal(propString(n, 'compatible'), compat);
    assert.equal(propU32(n, 'value'), value);
    assert.equal(propU32(n, 'offset'), 0);
    assert.equal(propU32(n, 'regmap'), testPh);
  }

  const rtc = node(root, '/soc/rtc@101000');
  assert.equal(propString(rtc, 'compatible'), 'google,goldfish-rtc');
  assert.equal(propU32(rtc, 'interrupts'), 11);
  assert.equal(propU32(rtc, 'interrupt-parent'), plicPh);

  for (const absent of ['/soc/pci@30000000', '/flash@20000000', '/fw-cfg@10100000']) assert.equal(findNode(root, absent), undefined);
});

test('options: one hart, no bootargs or initrd, high initrd, default rng-seed', () => {
  const root = parseFdt(buildVirtFdt({ ...base, harts: 1, bootargs: undefined, initrd: undefined, rngSeed: undefined, mmuType: 'riscv,sv48' }));
  const chosen = node(root, '/chosen');
  assert.equal(chosen.props.has('bootargs'), false);
  assert.equal(chosen.props.has('linux,initrd-start'), false);
  assert.equal(chosen.props.get('rng-seed')?.length, 32);
  assert.equal(findNode(root, '/cpus/cpu@1'), undefined);
  assert.equal(propString(node(root, '/cpus/cpu@0'), 'mmu-type'), 'riscv,sv48');
  const high = parseFdt(buildVirtFdt({ ...base, ramSize: 8 * 2 ** 30, initrd: { start: 0x1_2000_0000, end: 0x1_2100_0000 } }));
  assert.deepEqual(propU64s(node(high, '/chosen'), 'linux,initrd-start'), [0x1_2000_0000n]);
  assert.deepEqual(propU64s(node(high, '/memory@80000000'), 'reg'), [0x8000_0000n, 8n * 2n ** 30n]);
});

test('dtc accepts the blob', { skip: haveDtc ? false : 'dtc is not installed (apt-get install device-tree-compiler)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvisor-virt-fdt-'));
  try {
    const file = join(dir, 'virt.dtb');
    writeFileSync(file, buildVirtFdt(base));
    const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /ERROR/);
    const dts = r.stdout;
    assert.match(dts, /serial@10000000 \{[^}]*compatible = "ns16550a";/);
    assert.match(dts, /plic@c000000 \{[^}]*riscv,ndev = <0x60>;/);
    assert.match(dts, /bootargs = "console=ttyS0 earlycon";/);
    assert.match(dts, /stdout-path = "\/soc\/serial@10000000";/);
    assert.match(dts, /timebase-frequency = <0x989680>;/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Nodes and properties of QEMU's tree that tsvisor leaves out on purpose. */
const NOT_MODELLED = new Set(['/pmu', '/fw-cfg@10100000', '/flash@20000000', '/platform-bus@4000000', '/soc/pci@30000000']);

/** Asserts two trees are equal node for node and property for property, in order (rng-seed: length only). */
function assertSameTree(ours: FdtNode, qemu: FdtNode, path: string): void {
  const qemuProps = [...qemu.props.entries()];
  const ourProps = [...ours.props.entries()];
  assert.deepEqual(ourProps.map(([k]) => k), qemuProps.map(([k]) => k), `property names and order of ${path || '/'}`);
  for (const [k, v] of qemuProps) {
    const mine = ours.props.get(k) ?? new Uint8Array(0);
    if (k === 'rng-seed') assert.equal(mine.length, v.length, `${path}/rng-seed length`);
    else assert.deepEqual(Array.from(mine), Array.from(v), `${path}:${k}`);
  }
  const kept = qemu.children.filter((c) => !NOT_MODELLED.has(`${path}/${c.name}`));
  assert.deepEqual(ours.children.map((c) => c.name), kept.map((c) => c.name), `children of ${path || '/'}`);
  kept.forEach((c, i) => assertSameTree(ours.children[i], c, `${path}/${c.name}`));
}

function qemuDtb(args: string[]): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'tsvisor-qemu-dtb-'));
  try {
    const file = join(dir, 'virt.dtb');
    const r = spawnSync('qemu-system-riscv64', ['-M', `virt,dumpdtb=${file}`, '-nographic', '-nodefaults', ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.ok(existsSync(file), `qemu did not dump its dtb: ${r.stderr}`);
    return new Uint8Array(readFileSync(file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('identical to QEMU 7.2\'s own virt tree for the modelled devices', { skip: haveQemu ? false : 'qemu-system-riscv64 is not installed', timeout: 60_000 }, (t) => {
  for (const smp of [1, 2, 4]) {
    const qemu = parseFdt(qemuDtb(['-smp', String(smp), '-m', '256M']));
    const cpu0 = node(qemu, '/cpus/cpu@0');
    const ours = parseFdt(buildVirtFdt({
      harts: smp, ramBase: 0x8000_0000, ramSize: 256 * 1048576, virtioSlots: 8,
      isa: propString(cpu0, 'riscv,isa') ?? '', mmuType: propString(cpu0, 'mmu-type') === 'riscv,sv39' ? 'riscv,sv39' : 'riscv,sv48',
    }));
    assertSameTree(ours, qemu, '');
  }
  if (!existsSync(UBOOT)) {
    t.diagnostic(`${UBOOT} missing: bootargs/initrd comparison skipped`);
    return;
  }
  // With a kernel, an initrd and a command line.
  const dir = mkdtempSync(join(tmpdir(), 'tsvisor-qemu-initrd-'));
  try {
    const initrd = join(dir, 'initrd');
    writeFileSync(initrd, new Uint8Array(100_000));
    const qemu = parseFdt(qemuDtb(['-smp', '2', '-m', '512M', '-kernel', UBOOT, '-initrd', initrd, '-append', 'console=ttyS0 quiet']));
    const chosen = node(qemu, '/chosen');
    const cpu0 = node(qemu, '/cpus/cpu@0');
    const ours = parseFdt(buildVirtFdt({
      harts: 2, ramBase: 0x8000_0000, ramSize: 512 * 1048576, virtioSlots: 8,
      isa: propString(cpu0, 'riscv,isa') ?? '', mmuType: 'riscv,sv48',
      bootargs: 'console=ttyS0 quiet',
      initrd: { start: propU32(chosen, 'linux,initrd-start') ?? 0, end: propU32(chosen, 'linux,initrd-end') ?? 0 },
    }));
    assertSameTree(ours, qemu, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
