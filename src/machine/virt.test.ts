/**
 * The virt board without a real guest: a one-instruction program keeps the
 * hart busy while the test plays the driver through the MMIO bus.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtMachine, VirtMap } from './virt.js';
import { BufferCharBackend } from '../backends/buffer-char.js';
import { MemoryBlockBackend } from '../backends/block-memory.js';
import { MockMmioDriver, MmioReg } from '../devices/virtio/mock-driver.js';
import type { AccessSize, MmioDevice } from '../devices/device.js';

/** A raw M-mode image holding `j .` (jal x0, 0): the hart spins until the test stops it. */
function spinImage(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tsvisor-virt-')), 'spin.bin');
  writeFileSync(path, Uint8Array.of(0x6f, 0x00, 0x00, 0x00));
  return path;
}

/** The MMIO window at `base` as the harts see it, through the board's bus. */
function busWindow(m: VirtMachine, base: number): MmioDevice {
  return {
    name: `bus@0x${base.toString(16)}`,
    read: (offset: number, size: AccessSize) => m.bus.read(base + offset, size) ?? 0xffffffff,
    write: (offset: number, size: AccessSize, value: number) => { m.bus.write(base + offset, size, value); },
  };
}

const UART_IER = 1, UART_LCR = 3, UART_SCR = 7;
const PLIC_ENABLE_CTX1 = 0x2000 + 0x80;
const PLIC_THRESHOLD_CTX1 = 0x201000;
const RTC_IRQ_ENABLED = 0x10;

test('a guest reboot through sifive,test resets every device, flushes the disks and clears RAM', { timeout: 60_000 }, async () => {
  const disk = new MemoryBlockBackend(1 << 20);
  const m = new VirtMachine({
    memory: 32 * 1048576, harts: 1, bios: null, kernel: spinImage(), console: new BufferCharBackend(),
    drives: [{ backend: disk }], virtioConsole: new BufferCharBackend(), rng: true,
  });
  const ringBase = m.ram.base + 8 * 1048576;
  const drivers = m.virtio.map((v) => {
    const slot = VirtMap.virtio.base + v.slot * VirtMap.virtio.size;
    return new MockMmioDriver(busWindow(m, slot), m.ram, ringBase + v.slot * 0x10000, ringBase + 4 * 1048576);
  });
  assert.equal(drivers.length, 3, 'blk, console, rng');

  // Leave every device in a state a running guest would.
  for (const d of drivers) d.start();
  for (const d of drivers) assert.equal(d.status(), 15);
  const uart = VirtMap.uart0.base, plic = VirtMap.plic.base, clint = VirtMap.clint.base;
  m.bus.write(uart + UART_LCR, 1, 0x03);
  m.bus.write(uart + UART_IER, 1, 0x01);
  m.bus.write(uart + UART_SCR, 1, 0x5a);
  m.bus.write(plic + 4 * 1, 4, 5); // priority of virtio0's source
  m.bus.write(plic + PLIC_ENABLE_CTX1, 4, 0x2);
  m.bus.write(plic + PLIC_THRESHOLD_CTX1, 4, 3);
  m.bus.write(clint + 0x4000, 4, 0x1234); // mtimecmp[0], low half
  m.bus.write(clint + 0x4004, 4, 0x7);
  m.bus.write(clint, 4, 1); // msip[0]
  m.bus.write(VirtMap.rtc.base + RTC_IRQ_ENABLED, 4, 1);
  assert.equal(m.bus.read(uart + UART_SCR, 1), 0x5a);
  assert.equal(m.bus.read(plic + PLIC_THRESHOLD_CTX1, 4), 3);
  assert.equal(m.bus.read(clint, 4), 1);
  // Guest data the reboot must not leave behind, and a receive buffer on the console's queue.
  m.ram.writeU32(ringBase - 4096, 0xdeadbeef);
  drivers[1].queues[0].add([{ writable: 64 }]);
  drivers[1].kick(0);
  const flushesBefore = disk.calls.flush;

  // The guest's reboot request (what Linux's syscon-reboot writes), then let the board act on it.
  const done = m.run();
  try {
    m.bus.write(VirtMap.test.base, 4, 0x7777);
    for (let i = 0; i < 1000 && m.stats.resets === 0; i++) await new Promise<void>((r) => setImmediate(r));
    assert.equal(m.stats.resets, 1);

    for (const d of drivers) {
      assert.equal(d.status(), 0, 'virtio Status back to 0');
      d.setReg(MmioReg.QueueSel, 0);
      assert.equal(d.reg(MmioReg.QueueReady), 0);
      assert.equal(d.reg(MmioReg.QueueDescLow), 0);
    }
    assert.equal(m.bus.read(uart + UART_SCR, 1), 0);
    assert.equal(m.bus.read(uart + UART_LCR, 1), 0);
    assert.equal(m.bus.read(uart + UART_IER, 1), 0);
    assert.equal(m.bus.read(plic + 4 * 1, 4), 0);
    assert.equal(m.bus.read(plic + PLIC_ENABLE_CTX1, 4), 0);
    assert.equal(m.bus.read(plic + PLIC_THRESHOLD_CTX1, 4), 0);
    assert.equal(m.bus.read(clint, 4), 0, 'msip cleared');
    assert.equal(m.bus.read(clint + 0x4000, 4), 0, 'mtimecmp cleared');
    assert.equal(m.bus.read(clint + 0x4004, 4), 0);
    assert.equal(m.bus.read(VirtMap.rtc.base + RTC_IRQ_ENABLED, 4), 0);
    assert.equal(m.ram.readU32(ringBase - 4096), 0, 'RAM cleared');
    assert.equal(m.ram.readU32(m.ram.base), 0x6f, 'the image reloaded');
    assert.ok(disk.calls.flush > flushesBefore, 'the disk flushed on reboot');

    // The devices work again after the reboot: a fresh driver brings the console up.
    drivers[1].start();
    assert.equal(drivers[1].status(), 15);
  } finally {
    // A failed assertion must not leave the machine running the event loop.
    m.powerOff(0);
  }
  assert.equal(await done, 0);
  m.close();
});
