import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Duplex } from 'node:stream';
import { StreamFrameDecoder, StreamNetBackend, encodeStreamFrame } from './net-stream.js';
import { MAX_FRAME_LEN, NetBackendError } from './net-backend.js';

function frame(len: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (i * 13 + seed) & 0xff);
}

test('decoder: frames split at every byte boundary and several per chunk', () => {
  const frames = [frame(14, 1), frame(60, 2), frame(1514, 3)];
  const wire = Buffer.concat(frames.map(encodeStreamFrame));
  const d = new StreamFrameDecoder();
  const out: Uint8Array[] = [];
  for (const b of wire) out.push(...d.push(Uint8Array.of(b)));
  assert.deepEqual(out, frames);
  assert.equal(d.bufferedBytes, 0);
  // Everything in one chunk, and chunks that cut the length prefix.
  assert.deepEqual(new StreamFrameDecoder().push(wire), frames);
  const d2 = new StreamFrameDecoder();
  assert.deepEqual(d2.push(wire.subarray(0, 2)), []);
  assert.deepEqual(d2.push(wire.subarray(2, 30)), [frames[0]]);
  assert.deepEqual(d2.push(wire.subarray(30)), frames.slice(1));
});

test('decoder: the largest frame passes, larger and runt lengths are rejected', () => {
  assert.equal(new StreamFrameDecoder().push(encodeStreamFrame(new Uint8Array(MAX_FRAME_LEN)))[0].length, MAX_FRAME_LEN);
  const big = Buffer.alloc(4);
  big.writeUInt32BE(MAX_FRAME_LEN + 1);
  assert.throws(() => new StreamFrameDecoder().push(big), NetBackendError);
  assert.throws(() => new StreamFrameDecoder().push(Buffer.from([0, 0, 0, 3])), /outside/);
});

/** Two PassThroughs crossed into a pair of duplexes. */
function pair(): [Duplex, Duplex] {
  const ab = new PassThrough();
  const ba = new PassThrough();
  return [Duplex.from({ readable: ba, writable: ab }), Duplex.from({ readable: ab, writable: ba })];
}

test('stream backend: frames cross, bad frames are not sent, close notifies once', async () => {
  const [x, y] = pair();
  let closed = 0;
  const bx = new StreamNetBackend(x, { onClose: () => closed++ });
  const by = new StreamNetBackend(y);
  const got: Uint8Array[] = [];
  by.onReceive((f) => got.push(f));
  const f = frame(64, 5);
  bx.send(f);
  bx.send(new Uint8Array(3));
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, [f]);
  assert.deepEqual(bx.stats, { txFrames: 1, rxFrames: 0, txDropped: 1, errors: 0 });
  bx.close();
  bx.close();
  bx.send(f);
  assert.equal(closed, 1);
  assert.equal(bx.stats.txDropped, 2);
  by.close();
});
