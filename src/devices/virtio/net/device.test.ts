import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestRam } from '../../../memory/guest-memory.js';
import { FrameHandlerList, type NetBackend } from '../../../backends/net-backend.js';
import { VirtioMmioTransport } from '../mmio.js';
import { DESC_F_NEXT, MockMmioDriver } from '../mock-driver.js';
import type { InterruptLine } from '../../device.js';
import {
  RECEIVEQ, TRANSMITQ, VIRTIO_NET_F_MAC, VIRTIO_NET_F_MTU, VIRTIO_NET_F_STATUS, VIRTIO_NET_HDR_LEN,
  VirtioNet, defaultMac,
} from './device.js';

class Line implements InterruptLine {
  level = false;
  raised = 0;
  setLevel(high: boolean): void {
    if (high && !this.level) this.raised++;
    this.level = high;
  }
}

/** A backend that records what the guest sent and lets the test inject frames. */
class RecordingBackend implements NetBackend {
  readonly sent: Uint8Array[] = [];
  private readonly handlers = new FrameHandlerList();
  send(frame: Uint8Array): void {
    this.sent.push(frame.slice());
  }
  onReceive(handler: (frame: Uint8Array) => void): void {
    this.handlers.add(handler);
  }
  inject(frame: Uint8Array): void {
    this.handlers.deliver(frame);
  }
  close(): void {}
}

const NEEDS_RESET = 64;
const MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);

function frame(len: number, seed = 1): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 31 + seed) & 0xff;
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0);
  f.set(MAC, 6);
  return f;
}

function setup(opts: { mtu?: number; rxQueueLimit?: number } = {}) {
  const mem = new GuestRam(0x8000_0000, 4 << 20);
  const backend = new RecordingBackend();
  const net = new VirtioNet(backend, { mac: MAC, ...opts });
  const irq = new Line();
  const dev = new VirtioMmioTransport('virtio-net', net, mem, irq);
  const drv = new MockMmioDriver(dev, mem);
  const features = drv.start();
  return { mem, backend, net, irq, dev, drv, rx: drv.queues[RECEIVEQ], tx: drv.queues[TRANSMITQ], features };
}

function txHeader(): Uint8Array {
  return new Uint8Array(VIRTIO_NET_HDR_LEN);
}

test('handshake: ID 1, two queues, MAC and STATUS offered, config has MAC and link up', () => {
  const { drv, dev, features } = setup();
  assert.equal(drv.reg(8), 1);
  assert.equal(drv.queues.length, 2);
  assert.ok(features & VIRTIO_NET_F_MAC);
  assert.ok(features & VIRTIO_NET_F_STATUS);
  assert.equal(features & VIRTIO_NET_F_MTU, 0n);
  assert.equal(dev.deviceStatus, 15);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => drv.config(i, 1)), Array.from(MAC));
  assert.equal(drv.config(6, 2), 1, 'VIRTIO_NET_S_LINK_UP');
  assert.equal(drv.config(64, 4), 0, 'beyond the config space reads 0');
});

test('MTU option offers VIRTIO_NET_F_MTU with the value in config', () => {
  const { drv, features } = setup({ mtu: 9000 });
  assert.ok(features & VIRTIO_NET_F_MTU);
  assert.equal(drv.config(10, 2), 9000);
  assert.throws(() => new VirtioNet(new RecordingBackend(), { mtu: 10 }), /MTU/);
});

test('default MAC is locally administered 52:54:00, unicast; seeded MACs are stable', () => {
  const m = defaultMac();
  assert.deepEqual(Array.from(m.subarray(0, 3)), [0x52, 0x54, 0x00]);
  assert.deepEqual(defaultMac('vm1/0'), defaultMac('vm1/0'));
  assert.notDeepEqual(defaultMac('vm1/0'), defaultMac('vm2/0'));
  assert.throws(() => new VirtioNet(new RecordingBackend(), { mac: Uint8Array.of(1, 0, 0, 0, 0, 0) }), /unicast/);
});

test('TX: the frame reaches the backend with the header stripped; header split across descriptors', () => {
  const { drv, tx, backend, net, irq } = setup();
  const f = frame(60);
  const chain = tx.add([{ readable: txHeader() }, { readable: f }]);
  drv.kick(TRANSMITQ);
  assert.deepEqual(tx.takeUsed(), [{ id: chain.head, len: 0 }]);
  assert.deepEqual(backend.sent, [f]);
  assert.equal(irq.level, true);
  // Header and frame in one buffer, and a header split in two, both work (any layout, §2.7.4.4).
  const g = frame(1514, 7);
  const joined = new Uint8Array(VIRTIO_NET_HDR_LEN + g.length);
  joined.set(g, VIRTIO_NET_HDR_LEN);
  tx.add([{ readable: joined }]);
  tx.add([{ readable: txHeader().subarray(0, 5) }, { readable: txHeader().subarray(5) }, { readable: g }], { indirect: true });
  drv.kick(TRANSMITQ);
  assert.equal(tx.takeUsed().length, 2);
  assert.deepEqual(backend.sent.slice(1), [g, g]);
  assert.equal(net.metrics.txFrames, 3);
  assert.equal(net.metrics.txBytes, 60 + 2 * 1514);
});

test('TX: runt frames are dropped and counted, not sent, and the buffer returned', () => {
  const { drv, tx, backend, net, dev } = setup();
  const chain = tx.add([{ readable: txHeader() }, { readable: new Uint8Array(10) }]);
  drv.kick(TRANSMITQ);
  assert.deepEqual(tx.takeUsed(), [{ id: chain.head, len: 0 }]);
  assert.equal(backend.sent.length, 0);
  assert.equal(net.metrics.txDropped, 1);
  assert.equal(dev.deviceStatus & NEEDS_RESET, 0);
});

test('RX: a frame lands in a receive buffer behind a header with num_buffers = 1', () => {
  const { drv, rx, backend, net, irq } = setup();
  const chain = rx.add([{ writable: 1526 }]);
  drv.kick(RECEIVEQ);
  assert.equal(irq.level, false, 'no frame, no interrupt');
  const f = frame(98, 3);
  backend.inject(f);
  assert.deepEqual(rx.takeUsed(), [{ id: chain.head, len: VIRTIO_NET_HDR_LEN + 98 }]);
  const got = rx.bytes(chain.buffers[0].addr, VIRTIO_NET_HDR_LEN + 98);
  assert.deepEqual(Array.from(got.subarray(0, VIRTIO_NET_HDR_LEN)), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual(got.subarray(VIRTIO_NET_HDR_LEN), f);
  assert.equal(irq.level, true);
  assert.equal(net.metrics.rxFrames, 1);
  assert.equal(net.metrics.rxBytes, 98);
});

test('RX: a chain of several writable descriptors holds header + frame', () => {
  const { rx, backend } = setup();
  const chain = rx.add([{ writable: 8 }, { writable: 50 }, { writable: 1500 }]);
  const f = frame(200, 9);
  backend.inject(f);
  assert.deepEqual(rx.takeUsed(), [{ id: chain.head, len: VIRTIO_NET_HDR_LEN + 200 }]);
  const [a, b, c] = chain.buffers;
  const all = new Uint8Array([...rx.bytes(a.addr, 8), ...rx.bytes(b.addr, 50), ...rx.bytes(c.addr, 1500)]);
  assert.equal(all[10], 1);
  assert.deepEqual(all.subarray(VIRTIO_NET_HDR_LEN, VIRTIO_NET_HDR_LEN + 200), f);
});

test('RX: frames queue while there is no buffer, are delivered on notify, drop beyond the limit', () => {
  const { drv, rx, backend, net, irq } = setup({ rxQueueLimit: 3 });
  const frames = [1, 2, 3, 4, 5].map((s) => frame(64 + s, s));
  for (const f of frames) backend.inject(f);
  assert.equal(net.pendingFrames, 3);
  assert.equal(net.metrics.rxDropped, 2);
  const c1 = rx.add([{ writable: 1526 }]);
  const c2 = rx.add([{ writable: 1526 }]);
  assert.equal(irq.level, false);
  drv.kick(RECEIVEQ);
  assert.deepEqual(rx.takeUsed(), [{ id: c1.head, len: 12 + 65 }, { id: c2.head, len: 12 + 66 }]);
  assert.equal(irq.level, true);
  assert.equal(net.pendingFrames, 1);
  const c3 = rx.add([{ writable: 1526 }]);
  drv.kick(RECEIVEQ);
  assert.deepEqual(rx.takeUsed(), [{ id: c3.head, len: 12 + 67 }]);
  assert.deepEqual(rx.bytes(c3.buffers[0].addr + 12, 67), frames[2]);
  assert.equal(net.metrics.rxFrames, 3);
});

test('RX: frames that arrive before DRIVER_OK wait for the driver', () => {
  const mem = new GuestRam(0x8000_0000, 4 << 20);
  const backend = new RecordingBackend();
  const net = new VirtioNet(backend, { mac: MAC });
  const dev = new VirtioMmioTransport('virtio-net', net, mem, new Line());
  const f = frame(60);
  backend.inject(f);
  const drv = new MockMmioDriver(dev, mem);
  drv.start();
  const chain = drv.queues[RECEIVEQ].add([{ writable: 1526 }]);
  drv.kick(RECEIVEQ);
  assert.deepEqual(drv.queues[RECEIVEQ].takeUsed(), [{ id: chain.head, len: 72 }]);
});

test('RX: a frame too big for the buffer is dropped and the buffer kept for the next frame', () => {
  const { rx, backend, net } = setup();
  const chain = rx.add([{ writable: 12 + 100 }]);
  backend.inject(frame(500));
  assert.deepEqual(rx.takeUsed(), []);
  assert.equal(net.metrics.rxDropped, 1);
  backend.inject(frame(90));
  assert.deepEqual(rx.takeUsed(), [{ id: chain.head, len: 102 }]);
  // A buffer too small for any frame is returned empty and counted.
  const tiny = rx.add([{ writable: 4 }]);
  const ok = rx.add([{ writable: 1526 }]);
  backend.inject(frame(60));
  assert.deepEqual(rx.takeUsed(), [{ id: tiny.head, len: 0 }, { id: ok.head, len: 72 }]);
  assert.equal(net.metrics.rxErrors, 1);
});

test('link down: status clears, config interrupt, frames dropped both ways', () => {
  const { drv, rx, tx, backend, net, irq } = setup();
  net.setLinkUp(false);
  assert.equal(drv.config(6, 2), 0);
  assert.equal(irq.level, true);
  assert.equal(drv.ackInterrupt() & 2, 2);
  rx.add([{ writable: 1526 }]);
  backend.inject(frame(60));
  assert.deepEqual(rx.takeUsed(), []);
  tx.add([{ readable: txHeader() }, { readable: frame(60) }]);
  drv.kick(TRANSMITQ);
  assert.equal(backend.sent.length, 0);
  assert.deepEqual({ rx: net.metrics.rxDropped, tx: net.metrics.txDropped }, { rx: 1, tx: 1 });
  net.setLinkUp(true);
  assert.equal(drv.config(6, 2), 1);
});

test('malformed: a transmit chain shorter than the header sets NEEDS_RESET', () => {
  const { drv, tx, dev, irq, net, backend } = setup();
  tx.add([{ readable: new Uint8Array(6) }]);
  assert.doesNotThrow(() => drv.kick(TRANSMITQ));
  assert.equal(dev.deviceStatus & NEEDS_RESET, NEEDS_RESET);
  assert.equal(irq.level, true);
  assert.equal(drv.ackInterrupt() & 2, 2, 'configuration-change interrupt');
  assert.match(String(dev.lastError), /virtio_net_hdr/);
  // After a reset the device works again.
  drv.start();
  drv.queues[TRANSMITQ].add([{ readable: txHeader() }, { readable: frame(60) }]);
  drv.kick(TRANSMITQ);
  assert.equal(backend.sent.length, 1);
  assert.equal(net.metrics.txFrames, 1);
});

test('malformed: a looping transmit chain sets NEEDS_RESET', () => {
  const { drv, tx, dev } = setup();
  const b = tx.alloc(64);
  tx.writeDesc(0, b, 32, DESC_F_NEXT, 1);
  tx.writeDesc(1, b + 32, 32, DESC_F_NEXT, 0);
  tx.publish(0);
  drv.kick(TRANSMITQ);
  assert.equal(dev.deviceStatus & NEEDS_RESET, NEEDS_RESET);
});

test('malformed: a bad receive ring found during host delivery sets NEEDS_RESET', () => {
  const { rx, dev, backend, net } = setup();
  rx.setAvailIdx(1000);
  assert.doesNotThrow(() => backend.inject(frame(60)));
  assert.equal(dev.deviceStatus & NEEDS_RESET, NEEDS_RESET);
  assert.equal(net.metrics.errors, 1);
});

test('save/restore carries MAC, link, counters, pending frames and a held buffer', () => {
  const a = setup();
  const big = a.rx.add([{ writable: 12 + 100 }]);
  a.backend.inject(frame(400)); // dropped, buffer held
  a.backend.inject(frame(80, 5)); // fits the held buffer
  assert.deepEqual(a.rx.takeUsed(), [{ id: big.head, len: 92 }]);
  const held = a.rx.add([{ writable: 12 + 100 }]);
  a.backend.inject(frame(300)); // dropped, buffer held
  a.backend.inject(frame(1000, 2)); // does not fit the held buffer either: dropped
  a.backend.inject(frame(70, 6));
  assert.deepEqual(a.rx.takeUsed(), [{ id: held.head, len: 82 }]);
  const kept = a.rx.add([{ writable: 12 + 100 }]);
  a.backend.inject(frame(200)); // dropped; `kept` is held over the snapshot
  const waiting = frame(66, 4);
  const state = JSON.parse(JSON.stringify(a.dev.save()));

  const backend2 = new RecordingBackend();
  const net2 = new VirtioNet(backend2); // a different default MAC: the snapshot's wins
  const dev2 = new VirtioMmioTransport('virtio-net', net2, a.mem, new Line());
  dev2.restore(state);
  assert.equal(dev2.deviceStatus, 15);
  assert.deepEqual(net2.macAddress, MAC);
  assert.deepEqual(net2.metrics, a.net.metrics);
  backend2.inject(waiting);
  assert.deepEqual(a.rx.takeUsed(), [{ id: kept.head, len: 12 + 66 }]);
  assert.deepEqual(a.rx.bytes(kept.buffers[0].addr + 12, 66), waiting);
  // The transmit side continues too.
  const drv2 = new MockMmioDriver(dev2, a.mem);
  a.tx.add([{ readable: txHeader() }, { readable: frame(60) }]);
  drv2.kick(TRANSMITQ);
  assert.equal(backend2.sent.length, 1);
});

test('save/restore carries frames waiting for receive buffers', () => {
  const a = setup();
  const f = frame(77, 8);
  a.backend.inject(f);
  const state = JSON.parse(JSON.stringify(a.dev.save()));
  const net2 = new VirtioNet(new RecordingBackend());
  const dev2 = new VirtioMmioTransport('virtio-net', net2, a.mem, new Line());
  dev2.restore(state);
  assert.equal(net2.pendingFrames, 1);
  const chain = a.rx.add([{ writable: 1526 }]);
  new MockMmioDriver(dev2, a.mem).kick(RECEIVEQ);
  assert.deepEqual(a.rx.takeUsed(), [{ id: chain.head, len: 12 + 77 }]);
  assert.deepEqual(a.rx.bytes(chain.buffers[0].addr + 12, 77), f);
});
