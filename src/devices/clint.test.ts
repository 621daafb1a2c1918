import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Clint } from './clint.js';
import { MipBit, type HartInterruptPins, type TimeSource } from './device.js';

class FakeTime implements TimeSource {
  readonly frequency = 10_000_000;
  t = 0;
  now(): number {
    return this.t;
  }
}

class Pins implements HartInterruptPins {
  readonly state = new Map<string, boolean>();
  calls = 0;
  set(hartId: number, bit: MipBit, level: boolean): void {
    this.calls++;
    this.state.set(`${hartId}:${bit}`, level);
  }
  get(hartId: number, bit: MipBit): boolean {
    return this.state.get(`${hartId}:${bit}`) ?? false;
  }
}

const MTIMECMP = 0x4000, MTIME = 0xbff8;

function setup(harts = 2): { clint: Clint; time: FakeTime; pins: Pins } {
  const time = new FakeTime();
  const pins = new Pins();
  return { clint: new Clint(harts, time, pins), time, pins };
}

/** Writes a 64-bit value as the bus delivers an sd: two 4-byte writes, low half first. */
function write64(c: Clint, offset: number, v: bigint): void {
  c.write(offset, 4, Number(v & 0xffffffffn));
  c.write(offset + 4, 4, Number(v >> 32n));
}

function read64(c: Clint, offset: number): bigint {
  const lo = c.read(offset, 4);
  const hi = c.read(offset + 4, 4);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

test('msip writes drive MSIP of the right hart; only bit 0 is kept', () => {
  const { clint, pins } = setup();
  clint.write(4, 4, 0xffffffff);
  assert.equal(pins.get(1, MipBit.MSIP), true);
  assert.equal(pins.get(0, MipBit.MSIP), false);
  assert.equal(clint.read(4, 4), 1);
  clint.write(4, 4, 2);
  assert.equal(pins.get(1, MipBit.MSIP), false);
  assert.equal(clint.read(4, 4), 0);
  // A byte write to the msip word works too.
  clint.write(0, 1, 1);
  assert.equal(pins.get(0, MipBit.MSIP), true);
});

test('mtimecmp resets to 0 as in QEMU, so MTIP is pending until firmware programs it', () => {
  const { clint, time, pins } = setup();
  assert.equal(read64(clint, MTIMECMP), 0n);
  time.t = 5;
  assert.equal(clint.poll(5), Infinity);
  assert.equal(pins.get(0, MipBit.MTIP), true);
  write64(clint, MTIMECMP, (1n << 64n) - 1n); // OpenSBI's "never"
  assert.equal(pins.get(0, MipBit.MTIP), false);
  assert.equal(read64(clint, MTIMECMP), (1n << 64n) - 1n, 'all ones is kept exactly');
  assert.equal(clint.mtimecmp(0), (1n << 64n) - 1n);
});

test('poll sets and clears MTIP and returns the ticks to the nearest future deadline', () => {
  const { clint, time, pins } = setup();
  time.t = 1000;
  write64(clint, MTIMECMP, 1500n);
  write64(clint, MTIMECMP + 8, 1200n);
  assert.equal(clint.poll(1000), 200);
  assert.equal(pins.get(0, MipBit.MTIP), false);
  assert.equal(clint.poll(1200), 300);
  assert.equal(pins.get(1, MipBit.MTIP), true);
  assert.equal(pins.get(0, MipBit.MTIP), false);
  assert.equal(clint.poll(1500), Infinity);
  assert.equal(pins.get(0, MipBit.MTIP), true);
  // Moving the compare into the future clears MTIP at once (on the write).
  time.t = 1600;
  write64(clint, MTIMECMP, 2000n);
  assert.equal(pins.get(0, MipBit.MTIP), false);
  // Pins are driven only on changes.
  const calls = pins.calls;
  clint.poll(1700);
  clint.poll(1800);
  assert.equal(pins.calls, calls);
});

test('64-bit values above 2^32 and 2^53 compare exactly', () => {
  const { clint, time, pins } = setup(1);
  const base = 0x1_0000_0000;
  time.t = base + 10; // mtime just past a 32-bit carry
  assert.equal(read64(clint, MTIME), BigInt(base + 10));
  write64(clint, MTIMECMP, BigInt(base + 20));
  assert.equal(pins.get(0, MipBit.MTIP), false);
  assert.equal(clint.poll(base + 19), 1);
  assert.equal(clint.poll(base + 20), Infinity);
  assert.equal(pins.get(0, MipBit.MTIP), true);
  // Low half smaller than mtime's low half but high half larger: in the future.
  write64(clint, MTIMECMP, (2n << 32n) | 5n);
  assert.equal(pins.get(0, MipBit.MTIP), false);
  assert.equal(clint.poll(base + 10), 2 * 0x1_0000_0000 + 5 - (base + 10));
  // Beyond 2^53: exact in the registers, "never" for scheduling.
  write64(clint, MTIMECMP, (1n << 60n) + 1n);
  assert.equal(read64(clint, MTIMECMP), (1n << 60n) + 1n);
  assert.equal(clint.poll(base), Infinity);
});

test('an mtime read latches the high half for the following high read', () => {
  const { clint, time } = setup(1);
  time.t = 0xffffffff; // about to carry
  const lo = clint.read(MTIME, 4);
  time.t = 0x1_0000_0001; // the clock moves between the two halves of one ld
  const hi = clint.read(MTIME + 4, 4);
  assert.equal(lo, 0xffffffff);
  assert.equal(hi, 0, 'the pair is the value at the low read, not a torn one');
  assert.equal(clint.read(MTIME + 4, 4), 1, 'an unpaired high read is live');
  // mtime writes are ignored: it is the board clock.
  write64(clint, MTIME, 5n);
  assert.equal(read64(clint, MTIME), 0x1_0000_0001n);
});

test('unknown offsets read 0 and ignore writes; out-of-range harts too', () => {
  const { clint, pins } = setup(2);
  assert.equal(clint.read(0x8, 4), 0); // msip of hart 2 does not exist
  clint.write(0x8, 4, 1);
  assert.equal(pins.calls, 0);
  assert.equal(clint.read(0x4010, 4), 0);
  assert.equal(clint.read(0x1234, 4), 0);
  clint.write(0x1234, 4, 0xffffffff);
  assert.equal(clint.read(0x4001, 1), 0);
});

test('save/restore round-trips msip and mtimecmp and re-drives the pins', () => {
  const { clint, time } = setup(2);
  time.t = 100;
  clint.write(4, 4, 1);
  write64(clint, MTIMECMP, (1n << 40n) + 7n);
  write64(clint, MTIMECMP + 8, 50n);
  const s = JSON.parse(JSON.stringify(clint.save())) as ReturnType<Clint['save']>;
  assert.equal(s.version, 1);

  const b = setup(2);
  b.time.t = 100;
  b.clint.restore(s);
  assert.equal(b.pins.get(1, MipBit.MSIP), true);
  assert.equal(b.pins.get(0, MipBit.MSIP), false);
  assert.equal(b.pins.get(1, MipBit.MTIP), true);
  assert.equal(b.pins.get(0, MipBit.MTIP), false);
  assert.equal(b.clint.mtimecmp(0), (1n << 40n) + 7n);
  assert.throws(() => setup(3).clint.restore(s), /harts/);
});

test('reset clears msip and mtimecmp', () => {
  const { clint, pins } = setup(1);
  clint.write(0, 4, 1);
  write64(clint, MTIMECMP, 99n);
  clint.reset();
  assert.equal(pins.get(0, MipBit.MSIP), false);
  assert.equal(clint.mtimecmp(0), 0n);
  assert.equal(pins.get(0, MipBit.MTIP), true);
});
