import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GoldfishRtc, hostEpochNs } from './goldfish-rtc.js';
import type { InterruptLine } from './device.js';

const TIME_LOW = 0x00, TIME_HIGH = 0x04, ALARM_LOW = 0x08, ALARM_HIGH = 0x0c;
const IRQ_ENABLED = 0x10, CLEAR_ALARM = 0x14, ALARM_STATUS = 0x18, CLEAR_INTERRUPT = 0x1c;

class Line implements InterruptLine {
  level = false;
  setLevel(high: boolean): void {
    this.level = high;
  }
}

/** 2023-11-14T22:13:20Z in ns: well above 2^53. */
const T0 = 1_700_000_000_000_000_000n;

function setup(): { rtc: GoldfishRtc; irq: Line; clock: { ns: bigint } } {
  const clock = { ns: T0 };
  const irq = new Line();
  return { rtc: new GoldfishRtc(irq, { clock: () => clock.ns }), irq, clock };
}

/** Reads the time as rtc-goldfish does: TIME_LOW (latching), then TIME_HIGH. */
function readTime(rtc: GoldfishRtc): bigint {
  const lo = rtc.read(TIME_LOW, 4);
  const hi = rtc.read(TIME_HIGH, 4);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function write64(rtc: GoldfishRtc, lowOffset: number, highOffset: number, v: bigint): void {
  rtc.write(highOffset, 4, Number(v >> 32n));
  rtc.write(lowOffset, 4, Number(v & 0xffffffffn));
}

test('time reads are exact nanoseconds since the epoch; TIME_LOW latches TIME_HIGH', () => {
  const { rtc, clock } = setup();
  assert.equal(readTime(rtc), T0);
  clock.ns = T0 + 123n;
  assert.equal(readTime(rtc), T0 + 123n);
  // The clock carries into the high half between the two reads: the latch keeps them consistent.
  clock.ns = (T0 | 0xffffffffn) - 1n;
  const lo = rtc.read(TIME_LOW, 4);
  clock.ns += 10n;
  const hi = rtc.read(TIME_HIGH, 4);
  assert.equal((BigInt(hi) << 32n) | BigInt(lo), (T0 | 0xffffffffn) - 1n);
});

test('the guest sets the time (high then low, as rtc-goldfish); it keeps running from there', () => {
  const { rtc, clock } = setup();
  const want = 946_684_800_000_000_000n; // 2000-01-01
  write64(rtc, TIME_LOW, TIME_HIGH, want);
  assert.equal(readTime(rtc), want);
  clock.ns += 5_000n;
  assert.equal(readTime(rtc), want + 5_000n);
});

test('an alarm fires on poll when due, raising the line only while IRQ_ENABLED', () => {
  const { rtc, irq, clock } = setup();
  rtc.write(IRQ_ENABLED, 4, 1);
  assert.equal(rtc.read(IRQ_ENABLED, 4), 1);
  write64(rtc, ALARM_LOW, ALARM_HIGH, T0 + 1_000_000n);
  assert.equal(rtc.read(ALARM_STATUS, 4), 1, 'armed');
  assert.equal((BigInt(rtc.read(ALARM_HIGH, 4)) << 32n) | BigInt(rtc.read(ALARM_LOW, 4)), T0 + 1_000_000n);
  assert.equal(rtc.poll(), 10_000, '1 ms = 10 000 ticks at 10 MHz');
  assert.equal(irq.level, false);
  clock.ns = T0 + 1_000_000n;
  assert.equal(rtc.poll(), Infinity);
  assert.equal(irq.level, true);
  assert.equal(rtc.read(ALARM_STATUS, 4), 0, 'a fired alarm is no longer armed');
  rtc.write(IRQ_ENABLED, 4, 0);
  assert.equal(irq.level, false, 'masked');
  rtc.write(IRQ_ENABLED, 4, 1);
  assert.equal(irq.level, true, 'still pending');
  rtc.write(CLEAR_INTERRUPT, 4, 1);
  assert.equal(irq.level, false);
});

test('an alarm in the past fires at once; CLEAR_ALARM disarms', () => {
  const { rtc, irq, clock } = setup();
  rtc.write(IRQ_ENABLED, 4, 1);
  write64(rtc, ALARM_LOW, ALARM_HIGH, T0 - 1n);
  assert.equal(irq.level, true);
  assert.equal(rtc.read(ALARM_STATUS, 4), 0);
  rtc.write(CLEAR_INTERRUPT, 4, 1);
  write64(rtc, ALARM_LOW, ALARM_HIGH, T0 + 100n);
  rtc.write(CLEAR_ALARM, 4, 1);
  clock.ns = T0 + 200n;
  assert.equal(rtc.poll(), Infinity);
  assert.equal(irq.level, false);
});

test('the host timer delivers an alarm without polling', async () => {
  const irq = new Line();
  const rtc = new GoldfishRtc(irq);
  rtc.write(IRQ_ENABLED, 4, 1);
  const t = readTime(rtc);
  write64(rtc, ALARM_LOW, ALARM_HIGH, t + 20_000_000n); // 20 ms
  const deadline = Date.now() + 2000;
  while (!irq.level && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(irq.level, true);
  rtc.close();
});

test('the default clock is the host wall clock, advancing monotonically', () => {
  const clock = hostEpochNs();
  const a = clock();
  const b = clock();
  assert.ok(b >= a);
  const wall = BigInt(Date.now()) * 1_000_000n;
  assert.ok(a > wall - 1_000_000_000n && a < wall + 1_000_000_000n, 'within a second of Date.now()');
});

test('unknown offsets and narrow accesses read 0 and are ignored', () => {
  const { rtc, irq } = setup();
  assert.equal(rtc.read(0x20, 4), 0);
  assert.equal(rtc.read(CLEAR_ALARM, 4), 0);
  assert.equal(rtc.read(TIME_LOW, 1), 0);
  rtc.write(0x40, 4, 0xffffffff);
  rtc.write(IRQ_ENABLED, 2, 1);
  assert.equal(rtc.read(IRQ_ENABLED, 4), 0);
  assert.equal(irq.level, false);
});

test('save/restore round-trips the time offset, alarm and interrupt state', () => {
  const { rtc, clock } = setup();
  write64(rtc, TIME_LOW, TIME_HIGH, 1_000_000_000n);
  rtc.write(IRQ_ENABLED, 4, 1);
  write64(rtc, ALARM_LOW, ALARM_HIGH, 1_000_000_500n);
  const s = JSON.parse(JSON.stringify(rtc.save())) as ReturnType<GoldfishRtc['save']>;
  assert.equal(s.version, 1);

  const b = setup();
  b.clock.ns = clock.ns;
  b.rtc.restore(s);
  assert.equal(readTime(b.rtc), 1_000_000_000n, 'the guest-set time survives (negative offset)');
  assert.equal(b.rtc.read(ALARM_STATUS, 4), 1);
  b.clock.ns += 500n;
  b.rtc.poll();
  assert.equal(b.irq.level, true);
  assert.throws(() => b.rtc.restore({ ...s, version: 3 as 1 }), /version/);
});
