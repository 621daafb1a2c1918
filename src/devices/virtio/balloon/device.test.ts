import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestRam } from '../../../memory/guest-memory.js';
import { VirtioMmioTransport } from '../mmio.js';
import { MockMmioDriver } from '../mock-driver.js';
import { VirtioBalloon } from './device.js';

function setup() {
  const mem = new GuestRam(0x8000_0000, 1 << 20);
  const balloon = new VirtioBalloon();
  const irq = { level: false, setLevel(h: boolean) { this.level = h; } };
  const dev = new VirtioMmioTransport('virtio-balloon', balloon, mem, irq);
  const drv = new MockMmioDriver(dev, mem);
  drv.start();
  return { balloon, dev, drv, irq };
}

function pfns(...list: number[]): Uint8Array {
  const b = new Uint8Array(4 * list.length);
  list.forEach((p, i) => new DataView(b.buffer).setUint32(4 * i, p, true));
  return b;
}

test('setTarget raises a config interrupt and bumps ConfigGeneration', () => {
  const { balloon, drv, irq } = setup();
  assert.equal(drv.reg(8), 5);
  const gen = drv.reg(0xfc);
  balloon.setTarget(3);
  assert.equal(drv.config(0), 3);
  assert.equal(irq.level, true);
  assert.equal(drv.ackInterrupt(), 2);
  assert.notEqual(drv.reg(0xfc), gen);
  drv.dev.write(0x104, 4, 3); // driver reports actual
  assert.equal(balloon.actualPages, 3);
});

test('inflate and deflate track page frame numbers', () => {
  const { balloon, drv } = setup();
  const inf = drv.queues[0];
  const c = inf.add([{ readable: pfns(0x80010, 0x80011, 0x80012) }]);
  drv.kick(0);
  assert.deepEqual(inf.takeUsed(), [{ id: c.head, len: 0 }]);
  assert.deepEqual(balloon.inflatedFrames(), [0x80010, 0x80011, 0x80012]);
  drv.queues[1].add([{ readable: pfns(0x80011) }], { indirect: true });
  drv.kick(1);
  assert.deepEqual(balloon.inflatedFrames(), [0x80010, 0x80012]);
  assert.equal(balloon.metrics.pagesInflated, 3);
  assert.equal(balloon.metrics.pagesDeflated, 1);
  // A partial PFN is counted as an error, not thrown.
  drv.queues[0].add([{ readable: new Uint8Array(6) }]);
  drv.kick(0);
  assert.equal(balloon.metrics.errors, 1);
  const saved = JSON.parse(JSON.stringify(balloon.save()));
  const other = new VirtioBalloon();
  other.restore(saved);
  assert.equal(other.inflatedPages, 3);
});

test('statsq: the buffer is held until requestStats, statistics are parsed', () => {
  const { balloon, drv } = setup();
  const sq = drv.queues[2];
  const stat = new Uint8Array(20);
  const dv = new DataView(stat.buffer);
  dv.setUint16(0, 4, true); dv.setUint32(2, 1234, true); // free-memory
  dv.setUint16(10, 5, true); dv.setUint32(12, 0, true); dv.setUint32(16, 1, true); // total-memory = 2^32
  const c = sq.add([{ readable: stat }]);
  drv.kick(2);
  assert.deepEqual(sq.takeUsed(), []);
  assert.equal(balloon.stats['free-memory'], 1234);
  assert.equal(balloon.stats['total-memory'], 2 ** 32);
  assert.equal(balloon.requestStats(), true);
  assert.deepEqual(sq.takeUsed(), [{ id: c.head, len: 0 }]);
  assert.equal(balloon.requestStats(), false);
});

test('reset returns every page to the guest', () => {
  const { balloon, drv } = setup();
  drv.queues[0].add([{ readable: pfns(1, 2) }]);
  drv.kick(0);
  drv.setReg(0x70, 0);
  assert.equal(balloon.inflatedPages, 0);
});
