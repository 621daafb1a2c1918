/**
 * End-to-end: Debian's OpenSBI and U-Boot boot on the virt board and answer
 * on the serial console. Skipped with a message when the packages are missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { ISA_STRING, VirtMachine } from './virt.js';
import { BufferCharBackend } from '../backends/buffer-char.js';
import { OPENSBI_FW_JUMP, UBOOT_SMODE } from '../cli/default-guest.js';

const FW_DYNAMIC = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';
const missing = [OPENSBI_FW_JUMP, UBOOT_SMODE, FW_DYNAMIC].filter((p) => !existsSync(p));
const skip = missing.length > 0 ? `missing ${missing.join(', ')} (apt-get install opensbi u-boot-qemu)` : false;

function boot(harts: number, bios: string, kernel?: string): { m: VirtMachine; con: BufferCharBackend; done: Promise<number> } {
  const con = new BufferCharBackend();
  if (process.env.TSVISOR_ECHO) con.echo = (s) => process.stderr.write(s);
  const m = new VirtMachine({ memory: 256 * 1048576, harts, bios, kernel, console: con, mmu: 'sv48' });
  return { m, con, done: m.run() };
}

test('OpenSBI prints its banner with the platform, hart count and ISA', { skip, timeout: 120_000 }, async () => {
  const { m, con, done } = boot(1, FW_DYNAMIC);
  await con.waitFor('Boot HART MEDELEG', 60_000);
  m.powerOff(0);
  await done;
  const out = con.output;
  assert.match(out, /OpenSBI v1\.1/);
  assert.match(out, /Platform Name\s+: riscv-virtio,qemu/);
  assert.match(out, /Platform HART Count\s+: 1/);
  assert.match(out, /Boot HART Base ISA\s+: rv64imafdc/);
  assert.match(out, /Boot HART ISA Extensions\s+: time,sstc/);
  assert.match(out, /Boot HART PMP Count\s+: 16/);
});

test('OpenSBI reports every hart with --smp 4', { skip, timeout: 120_000 }, async () => {
  const { m, con, done } = boot(4, FW_DYNAMIC);
  await con.waitFor('Boot HART MEDELEG', 60_000);
  m.powerOff(0);
  await done;
  assert.match(con.output, /Platform HART Count\s+: 4/);
  assert.match(con.output, /Domain0 HARTs\s+: 0\*,1\*,2\*,3\*/);
});

test('U-Boot reaches its prompt and answers version, bdinfo and fdt print /cpus', { skip, timeout: 240_000 }, async () => {
  const { m, con, done } = boot(2, OPENSBI_FW_JUMP, UBOOT_SMODE);
  await con.waitFor('Hit any key to stop autoboot', 90_000);
  con.type(' ');
  let at = await con.waitFor('=> ', 30_000);
  con.type('version\r');
  at = await con.waitFor(/U-Boot 20\d\d[\s\S]*=> /, 30_000, at);
  con.type('bdinfo\r');
  at = await con.waitFor(/boot_params[\s\S]*=> /, 30_000, at);
  con.type('fdt addr $fdtcontroladdr; fdt print /cpus\r');
  await con.waitFor(new RegExp(`riscv,isa = "${ISA_STRING}"[\\s\\S]*cpu@1[\\s\\S]*=> `), 30_000, at);
  con.type('poweroff\r');
  const code = await done;
  assert.equal(code, 0, 'poweroff through the sifive,test device ends the run with status 0');
  assert.match(con.output, /DRAM:\s+256 MiB/);
  assert.ok(m.instructionsRetired() > 1_000_000);
});

test("U-Boot's virtio driver reads a virtio-blk disk", { skip, timeout: 240_000 }, async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const disk = join(mkdtempSync(join(tmpdir(), 'tsvisor-uboot-')), 'disk.img');
  const sector = new Uint8Array(1 << 20);
  sector.set(Buffer.from('TSVISOR-DISK-SECTOR0'));
  writeFileSync(disk, sector);
  const con = new BufferCharBackend();
  const m = new VirtMachine({ memory: 256 * 1048576, harts: 1, bios: OPENSBI_FW_JUMP, kernel: UBOOT_SMODE, console: con, drives: [{ path: disk }] });
  const done = m.run();
  await con.waitFor('Hit any key to stop autoboot', 90_000);
  con.type(' ');
  let at = await con.waitFor('=> ', 30_000);
  con.type('virtio scan; virtio info\r');
  at = await con.waitFor(/Capacity: 1\.0 MB[\s\S]*=> /, 30_000, at);
  con.type('virtio read 0x84000000 0 1; md.b 0x84000000 0x14\r');
  await con.waitFor(/1 blocks read: OK[\s\S]*TSVISOR-DISK-SEC[\s\S]*=> /, 30_000, at);
  m.powerOff(0);
  await done;
  m.close();
  const blk = m.virtio[0];
  assert.equal(blk.device.deviceId, 2);
  assert.ok(blk.transport.stats.notifications > 0);
});
