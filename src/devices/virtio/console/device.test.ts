import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestRam } from '../../../memory/guest-memory.js';
import { BufferCharBackend } from '../../../backends/buffer-char.js';
import { VirtioMmioTransport } from '../mmio.js';
import { MockMmioDriver } from '../mock-driver.js';
import { VirtioConsole } from './device.js';

function setup(start = true) {
  const mem = new GuestRam(0x8000_0000, 1 << 20);
  const con = new BufferCharBackend();
  const vc = new VirtioConsole(con);
  const irq = { level: false, setLevel(h: boolean) { this.level = h; } };
  const dev = new VirtioMmioTransport('virtio-console', vc, mem, irq);
  const drv = new MockMmioDriver(dev, mem);
  if (start) drv.start();
  return { con, vc, dev, drv, irq };
}

const text = (s: string) => new TextEncoder().encode(s);

test('guest output on transmitq reaches the backend', () => {
  const { con, vc, drv, irq } = setup();
  assert.equal(drv.reg(8), 3);
  const tx = drv.queues[1];
  const c = tx.add([{ readable: text('hello, ') }, { readable: text('world\n') }]);
  drv.kick(1);
  assert.equal(con.output, 'hello, world\n');
  assert.deepEqual(tx.takeUsed(), [{ id: c.head, len: 0 }]);
  assert.equal(irq.level, true);
  assert.equal(vc.metrics.txBytes, 13);
});

test('host input fills receive buffers; input without buffers waits, nothing lost', () => {
  const { con, vc, drv } = setup(false);
  con.send('early'); // before the driver is even up
  drv.start();
  const rx = drv.queues[0];
  assert.equal(vc.pendingInput, 5);
  const a = rx.add([{ writable: 3 }]);
  drv.kick(0);
  const b = rx.add([{ writable: 16 }]);
  drv.kick(0);
  assert.deepEqual(rx.takeUsed(), [{ id: a.head, len: 3 }, { id: b.head, len: 2 }]);
  assert.equal(new TextDecoder().decode(rx.bytes(a.buffers[0].addr, 3)), 'ear');
  assert.equal(new TextDecoder().decode(rx.bytes(b.buffers[0].addr, 2)), 'ly');
  const c = rx.add([{ writable: 16 }]);
  drv.kick(0);
  assert.deepEqual(rx.takeUsed(), [], 'no input, buffer stays with the device');
  con.send('typed');
  assert.deepEqual(rx.takeUsed(), [{ id: c.head, len: 5 }]);
  assert.equal(vc.metrics.rxBytes, 10);
});

test('emergency write and config', () => {
  const { con, drv, dev } = setup();
  assert.equal(drv.config(0, 2), 80);
  assert.equal(drv.config(2, 2), 25);
  dev.write(0x100 + 8, 4, 'X'.charCodeAt(0));
  assert.equal(con.output, 'X');
});

test('a malformed receive chain during host input sets NEEDS_RESET, not an exception', () => {
  const { con, drv, dev, irq } = setup();
  const rx = drv.queues[0];
  rx.writeDesc(0, 0x10, 16, 2); // outside RAM
  rx.publish(0);
  assert.doesNotThrow(() => con.send('x'));
  assert.equal(dev.deviceStatus & 64, 64);
  assert.equal(irq.level, true);
  // Input typed now is still kept for after the reset.
  con.send('y');
  drv.start();
  assert.equal(dev.deviceStatus, 15);
  const b = drv.queues[0].add([{ writable: 8 }]);
  drv.kick(0);
  assert.deepEqual(drv.queues[0].takeUsed(), [{ id: b.head, len: 2 }]);
  assert.equal(new TextDecoder().decode(drv.queues[0].bytes(b.buffers[0].addr, 2)), 'xy');
});
