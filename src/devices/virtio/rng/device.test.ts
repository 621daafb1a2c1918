import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestRam } from '../../../memory/guest-memory.js';
import { VirtioMmioTransport } from '../mmio.js';
import { MockMmioDriver } from '../mock-driver.js';
import { VirtioRng } from './device.js';

function setup() {
  const mem = new GuestRam(0x8000_0000, 1 << 20);
  const rng = new VirtioRng();
  const irq = { level: false, setLevel(h: boolean) { this.level = h; } };
  const dev = new VirtioMmioTransport('virtio-rng', rng, mem, irq);
  const drv = new MockMmioDriver(dev, mem);
  drv.start();
  return { rng, dev, drv, irq, q: drv.queues[0] };
}

test('fills writable buffers (direct and indirect) with random bytes', () => {
  const { rng, drv, irq, q } = setup();
  assert.equal(drv.reg(8), 4);
  const a = q.add([{ writable: 64 }, { writable: 64 }]);
  const b = q.add([{ writable: 32 }], { indirect: true });
  drv.kick(0);
  assert.deepEqual(q.takeUsed(), [{ id: a.head, len: 128 }, { id: b.head, len: 32 }]);
  assert.ok(q.bytes(a.buffers[0].addr, 64).some((x) => x !== 0));
  assert.ok(q.bytes(b.buffers[0].addr, 32).some((x) => x !== 0));
  assert.equal(irq.level, true);
  assert.deepEqual(rng.metrics, { requests: 2, bytes: 160, errors: 0 });
});

test('a request with no writable buffer completes empty; a looping chain sets NEEDS_RESET', () => {
  const { rng, dev, drv, q } = setup();
  const a = q.add([{ readable: new Uint8Array(4) }]);
  drv.kick(0);
  assert.deepEqual(q.takeUsed(), [{ id: a.head, len: 0 }]);
  assert.equal(rng.metrics.errors, 1);
  const buf = q.alloc(16);
  q.writeDesc(5, buf, 16, 2 | 1, 5);
  q.publish(5);
  drv.kick(0);
  assert.equal(dev.deviceStatus & 64, 64);
});
