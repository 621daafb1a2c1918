import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestRam } from '../../../memory/guest-memory.js';
import { MemoryBlockBackend } from '../../../backends/block-memory.js';
import { BlockBackendError } from '../../../backends/block-backend.js';
import { VirtioMmioTransport } from '../mmio.js';
import { DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE, MockMmioDriver, type MockVirtqueue } from '../mock-driver.js';
import {
  VirtioBlock, VIRTIO_BLK_F_RO, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_WRITE_ZEROES,
} from './device.js';
import type { InterruptLine } from '../../device.js';

class Line implements InterruptLine {
  level = false;
  raised = 0;
  setLevel(high: boolean): void {
    if (high && !this.level) this.raised++;
    this.level = high;
  }
}

const NEEDS_RESET = 64;

function setup(opts: { size?: number; readOnly?: boolean; id?: string; accept?: (f: bigint) => bigint } = {}) {
  const mem = new GuestRam(0x8000_0000, 4 << 20);
  const disk = new MemoryBlockBackend(opts.size ?? 64 * 1024, opts.readOnly ?? false);
  for (let i = 0; i < disk.size; i++) disk.data[i] = (i * 7 + (i >> 9)) & 0xff;
  const blk = new VirtioBlock(disk, { id: opts.id });
  const irq = new Line();
  const dev = new VirtioMmioTransport('virtio-blk', blk, mem, irq);
  const drv = new MockMmioDriver(dev, mem);
  const features = drv.start({ accept: opts.accept });
  return { mem, disk, blk, irq, dev, drv, q: drv.queues[0], features };
}

function header(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(8, sector % 2 ** 32, true);
  dv.setUint32(12, Math.floor(sector / 2 ** 32), true);
  return h;
}

/** Submits one request; returns the status byte, the used length and the data buffer. */
function request(drv: MockMmioDriver, q: MockVirtqueue, type: number, sector: number, opts: { out?: Uint8Array; inLen?: number; indirect?: boolean } = {}) {
  const bufs = [{ readable: header(type, sector) }];
  if (opts.out) bufs.push({ readable: opts.out });
  const chain = q.add([...bufs, ...(opts.inLen ? [{ writable: opts.inLen }] : []), { writable: 1 }], { indirect: opts.indirect });
  drv.kick(0);
  const used = q.takeUsed();
  assert.equal(used.length, 1);
  assert.equal(used[0].id, chain.head);
  const statusBuf = chain.buffers[chain.buffers.length - 1];
  const dataBuf = opts.inLen ? chain.buffers[chain.buffers.length - 2] : undefined;
  return {
    status: q.bytes(statusBuf.addr, 1)[0],
    len: used[0].len,
    data: dataBuf ? q.bytes(dataBuf.addr, dataBuf.len) : new Uint8Array(0),
  };
}

test('handshake: ID 2, capacity, seg_max, blk_size, features offered', () => {
  const { dev, drv, features } = setup({ size: 1 << 20 });
  assert.equal(drv.reg(0), 0x74726976);
  assert.equal(drv.reg(4), 2);
  assert.equal(drv.reg(8), 2);
  assert.equal(drv.config64(0), 2048);
  assert.equal(drv.config(12), 254);
  assert.equal(drv.config(20), 512);
  assert.ok(features & VIRTIO_BLK_F_FLUSH);
  assert.equal(features & VIRTIO_BLK_F_RO, 0n);
  assert.equal(dev.deviceStatus, 15);
});

test('read, write, flush round-trip; used len counts data + status; interrupts', () => {
  const { drv, q, disk, blk, irq } = setup();
  const r = request(drv, q, VIRTIO_BLK_T_IN, 2, { inLen: 1024 });
  assert.equal(r.status, VIRTIO_BLK_S_OK);
  assert.equal(r.len, 1025);
  assert.deepEqual(r.data, disk.data.slice(1024, 2048));
  assert.equal(irq.level, true);
  assert.equal(drv.ackInterrupt(), 1);
  assert.equal(irq.level, false);

  const payload = new Uint8Array(512).fill(0xab);
  const w = request(drv, q, VIRTIO_BLK_T_OUT, 5, { out: payload });
  assert.equal(w.status, VIRTIO_BLK_S_OK);
  assert.equal(w.len, 1);
  assert.deepEqual(disk.data.slice(5 * 512, 6 * 512), payload);

  assert.equal(request(drv, q, VIRTIO_BLK_T_FLUSH, 0).status, VIRTIO_BLK_S_OK);
  assert.equal(disk.calls.flush, 1);
  assert.deepEqual(
    { requests: blk.metrics.requests, bytesRead: blk.metrics.bytesRead, bytesWritten: blk.metrics.bytesWritten, errors: blk.metrics.errors },
    { requests: 3, bytesRead: 1024, bytesWritten: 512, errors: 0 },
  );
});

test('indirect descriptors and a header split across descriptors', () => {
  const { drv, q, disk } = setup();
  const r = request(drv, q, VIRTIO_BLK_T_IN, 1, { inLen: 512, indirect: true });
  assert.equal(r.status, VIRTIO_BLK_S_OK);
  assert.deepEqual(r.data, disk.data.slice(512, 1024));
  const h = header(VIRTIO_BLK_T_IN, 3);
  const chain = q.add([{ readable: h.subarray(0, 5) }, { readable: h.subarray(5) }, { writable: 513 }]);
  drv.kick(0);
  assert.deepEqual(q.takeUsed(), [{ id: chain.head, len: 513 }]);
  const b = chain.buffers[2];
  assert.deepEqual(q.bytes(b.addr, 512), disk.data.slice(1536, 2048));
  assert.equal(q.bytes(b.addr + 512, 1)[0], VIRTIO_BLK_S_OK);
});

test('GET_ID returns the serial, NUL padded', () => {
  const { drv, q } = setup({ id: 'tsvisor-disk0' });
  const r = request(drv, q, VIRTIO_BLK_T_GET_ID, 0, { inLen: 20 });
  assert.equal(r.status, VIRTIO_BLK_S_OK);
  assert.equal(new TextDecoder().decode(r.data).replace(/\0+$/, ''), 'tsvisor-disk0');
});

test('discard and write-zeroes zero the ranges; bad flags are unsupported', () => {
  const { drv, q, disk } = setup();
  const seg = (sector: number, n: number, flags = 0) => {
    const s = new Uint8Array(16);
    const dv = new DataView(s.buffer);
    dv.setUint32(0, sector, true);
    dv.setUint32(8, n, true);
    dv.setUint32(12, flags, true);
    return s;
  };
  assert.equal(request(drv, q, VIRTIO_BLK_T_DISCARD, 0, { out: seg(4, 2) }).status, VIRTIO_BLK_S_OK);
  assert.ok(disk.data.slice(4 * 512, 6 * 512).every((b) => b === 0));
  assert.notEqual(disk.data[6 * 512 + 1], 0);
  assert.equal(request(drv, q, VIRTIO_BLK_T_WRITE_ZEROES, 0, { out: seg(8, 1, 1) }).status, VIRTIO_BLK_S_OK);
  assert.ok(disk.data.slice(8 * 512, 9 * 512).every((b) => b === 0));
  assert.equal(request(drv, q, VIRTIO_BLK_T_DISCARD, 0, { out: seg(8, 1, 1) }).status, VIRTIO_BLK_S_UNSUPP);
  assert.equal(request(drv, q, VIRTIO_BLK_T_DISCARD, 0, { out: seg(127, 2) }).status, VIRTIO_BLK_S_IOERR);
  assert.equal(request(drv, q, VIRTIO_BLK_T_DISCARD, 0, { out: new Uint8Array(10) }).status, VIRTIO_BLK_S_IOERR);
});

test('read-only disk: F_RO offered, writes and discards fail with IOERR, reads work', () => {
  const { drv, q, disk, features } = setup({ readOnly: true });
  assert.ok(features & VIRTIO_BLK_F_RO);
  const before = disk.data.slice();
  assert.equal(request(drv, q, VIRTIO_BLK_T_OUT, 0, { out: new Uint8Array(512) }).status, VIRTIO_BLK_S_IOERR);
  assert.deepEqual(disk.data, before);
  assert.equal(request(drv, q, VIRTIO_BLK_T_IN, 0, { inLen: 512 }).status, VIRTIO_BLK_S_OK);
});

test('out-of-range, zero-length, odd-length, oversized and unknown requests fail with a status', () => {
  const { drv, q, blk, dev } = setup({ size: 64 * 1024 }); // 128 sectors
  assert.equal(request(drv, q, VIRTIO_BLK_T_IN, 127, { inLen: 1024 }).status, VIRTIO_BLK_S_IOERR);
  assert.equal(request(drv, q, VIRTIO_BLK_T_IN, 2 ** 52, { inLen: 512 }).status, VIRTIO_BLK_S_IOERR);
  assert.equal(request(drv, q, VIRTIO_BLK_T_OUT, 128, { out: new Uint8Array(512) }).status, VIRTIO_BLK_S_IOERR);
  assert.equal(request(drv, q, VIRTIO_BLK_T_IN, 0).status, VIRTIO_BLK_S_IOERR);
  assert.equal(request(drv, q, VIRTIO_BLK_T_IN, 0, { inLen: 100 }).status, VIRTIO_BLK_S_IOERR);
  assert.equal(request(drv, q, VIRTIO_BLK_T_IN, 0, { inLen: 200 * 1024 }).status, VIRTIO_BLK_S_IOERR);
  assert.equal(request(drv, q, 99, 0).status, VIRTIO_BLK_S_UNSUPP);
  // A header too short to parse.
  const short = q.add([{ readable: new Uint8Array(8) }, { writable: 1 }]);
  drv.kick(0);
  assert.deepEqual(q.takeUsed(), [{ id: short.head, len: 1 }]);
  assert.equal(q.bytes(short.buffers[1].addr, 1)[0], VIRTIO_BLK_S_IOERR);
  // No writable byte for the status: completed with len 0, counted.
  const none = q.add([{ readable: header(VIRTIO_BLK_T_FLUSH, 0) }]);
  drv.kick(0);
  assert.deepEqual(q.takeUsed(), [{ id: none.head, len: 0 }]);
  assert.equal(blk.metrics.errors, 8);
  assert.equal(blk.metrics.unsupported, 1);
  assert.equal(dev.deviceStatus & NEEDS_RESET, 0);
});

test('host I/O failure becomes S_IOERR', () => {
  const { drv, q, disk } = setup();
  disk.failWith = new BlockBackendError('disk unplugged');
  assert.equal(request(drv, q, VIRTIO_BLK_T_IN, 0, { inLen: 512 }).status, VIRTIO_BLK_S_IOERR);
  assert.equal(request(drv, q, VIRTIO_BLK_T_FLUSH, 0).status, VIRTIO_BLK_S_IOERR);
});

function expectNeedsReset(setupResult: ReturnType<typeof setup>): void {
  const { drv, dev, irq } = setupResult;
  assert.doesNotThrow(() => drv.kick(0));
  assert.equal(dev.deviceStatus & NEEDS_RESET, NEEDS_RESET);
  assert.equal(irq.level, true);
  assert.equal(drv.ackInterrupt() & 2, 2, 'configuration-change interrupt');
  // The device stays quiet until reset, then works again.
  drv.kick(0);
  drv.start();
  const r = request(drv, drv.queues[0], VIRTIO_BLK_T_IN, 0, { inLen: 512 });
  assert.equal(r.status, VIRTIO_BLK_S_OK);
}

test('malformed: a descriptor chain that loops sets NEEDS_RESET', () => {
  const s = setup();
  const data = s.q.alloc(16);
  s.q.writeDesc(0, data, 16, DESC_F_NEXT, 1);
  s.q.writeDesc(1, data, 16, DESC_F_NEXT, 0);
  s.q.publish(0);
  expectNeedsReset(s);
});

test('malformed: a buffer outside guest RAM sets NEEDS_RESET', () => {
  const s = setup();
  s.q.writeDesc(0, 0x1000, 16, 0);
  s.q.publish(0);
  expectNeedsReset(s);
});

test('malformed: an indirect table with a bad length sets NEEDS_RESET', () => {
  const s = setup();
  s.q.writeDesc(0, s.q.alloc(64), 20, DESC_F_INDIRECT);
  s.q.publish(0);
  expectNeedsReset(s);
});

test('malformed: nested indirect table, writable before readable, bogus avail idx', () => {
  let s = setup();
  const table = s.q.alloc(32);
  s.q.writeDesc(0, table, 16, DESC_F_INDIRECT, 0, table);
  s.q.writeDesc(0, table, 16, DESC_F_INDIRECT);
  s.q.publish(0);
  expectNeedsReset(s);

  s = setup();
  const b = s.q.alloc(32);
  s.q.writeDesc(0, b, 16, DESC_F_WRITE | DESC_F_NEXT, 1);
  s.q.writeDesc(1, b + 16, 16, 0);
  s.q.publish(0);
  expectNeedsReset(s);

  s = setup();
  s.q.setAvailIdx(1000);
  expectNeedsReset(s);
});

test('feature negotiation: FEATURES_OK refused without VERSION_1 or with unoffered bits', () => {
  assert.throws(() => setup({ accept: (f) => f & 0xffffffffn }), /refused/);
  assert.throws(() => setup({ accept: (f) => f | (1n << 40n) }), /refused/);
});

test('EVENT_IDX: used_event suppresses interrupts; avail_event is published', () => {
  const { drv, q, irq } = setup();
  q.setUsedEvent(1); // interrupt only once used idx passes 1
  request(drv, q, VIRTIO_BLK_T_FLUSH, 0);
  assert.equal(irq.raised, 1, 'first completion always notifies');
  drv.ackInterrupt();
  request(drv, q, VIRTIO_BLK_T_FLUSH, 0); // used idx 1 -> 2: crosses used_event 1
  assert.equal(irq.raised, 2);
  drv.ackInterrupt();
  request(drv, q, VIRTIO_BLK_T_FLUSH, 0); // 2 -> 3: used_event still 1, no interrupt
  assert.equal(irq.raised, 2);
  assert.equal(q.availEvent(), 3);
});

test('without EVENT_IDX, VIRTQ_AVAIL_F_NO_INTERRUPT suppresses interrupts', () => {
  const { drv, q, irq } = setup({ accept: (f) => f & ~(1n << 29n) });
  q.setNoInterrupt(true);
  request(drv, q, VIRTIO_BLK_T_FLUSH, 0);
  assert.equal(irq.raised, 0);
  q.setNoInterrupt(false);
  request(drv, q, VIRTIO_BLK_T_FLUSH, 0);
  assert.equal(irq.raised, 1);
});

test('save/restore carries the queue position and keeps serving', () => {
  const a = setup();
  request(a.drv, a.q, VIRTIO_BLK_T_FLUSH, 0);
  const state = JSON.parse(JSON.stringify(a.dev.save()));
  // A second transport over the same memory and disk picks up where the first stopped.
  const blk2 = new VirtioBlock(a.disk);
  const dev2 = new VirtioMmioTransport('virtio-blk', blk2, a.mem, new Line());
  dev2.restore(state);
  assert.equal(dev2.deviceStatus, 15);
  assert.equal(blk2.metrics.requests, 1);
  const drv2 = new MockMmioDriver(dev2, a.mem);
  const r = request(drv2, a.q, VIRTIO_BLK_T_IN, 0, { inLen: 512 });
  assert.equal(r.status, VIRTIO_BLK_S_OK);
  assert.deepEqual(r.data, a.disk.data.slice(0, 512));
});
