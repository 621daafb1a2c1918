import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Plic, PLIC_SOURCES } from './plic.js';
import { MipBit, type HartInterruptPins } from './device.js';

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

const priority = (src: number): number => 4 * src;
const enable = (ctx: number, word = 0): number => 0x2000 + 0x80 * ctx + 4 * word;
const threshold = (ctx: number): number => 0x200000 + 0x1000 * ctx;
const claim = (ctx: number): number => 0x200004 + 0x1000 * ctx;

function setup(harts = 2): { plic: Plic; pins: Pins } {
  const pins = new Pins();
  return { plic: new Plic(harts, pins), pins };
}

test('virt has sources 1..96', () => {
  const { plic } = setup();
  assert.equal(PLIC_SOURCES, 97);
  assert.doesNotThrow(() => plic.line(96));
  assert.throws(() => plic.line(0), RangeError);
  assert.throws(() => plic.line(97), RangeError);
});

test('a source interrupts a context only when enabled, with priority above the threshold', () => {
  const { plic, pins } = setup();
  const uart = plic.line(10);
  uart.setLevel(true);
  assert.equal(plic.read(0x1000, 4), 1 << 10, 'pending without being enabled');
  assert.equal(pins.get(0, MipBit.SEIP), false);
  plic.write(enable(1), 4, 1 << 10); // hart 0 S-mode
  assert.equal(pins.get(0, MipBit.SEIP), false, 'priority 0 never interrupts');
  plic.write(priority(10), 4, 1);
  assert.equal(pins.get(0, MipBit.SEIP), true);
  assert.equal(pins.get(0, MipBit.MEIP), false);
  plic.write(threshold(1), 4, 1);
  assert.equal(pins.get(0, MipBit.SEIP), false, 'priority must exceed the threshold');
  plic.write(threshold(1), 4, 0);
  assert.equal(pins.get(0, MipBit.SEIP), true);
  uart.setLevel(false);
  assert.equal(pins.get(0, MipBit.SEIP), false, 'a dropped line is no longer pending');
  assert.equal(plic.read(0x1000, 4), 0);
});

test('context 2h is M-mode (MEIP), 2h+1 is S-mode (SEIP) of hart h', () => {
  const { plic, pins } = setup(2);
  plic.write(priority(3), 4, 1);
  plic.write(enable(2), 4, 1 << 3); // hart 1 M-mode
  plic.line(3).setLevel(true);
  assert.equal(pins.get(1, MipBit.MEIP), true);
  assert.equal(pins.get(1, MipBit.SEIP), false);
  assert.equal(pins.get(0, MipBit.MEIP), false);
  plic.write(enable(3), 4, 1 << 3); // hart 1 S-mode
  assert.equal(pins.get(1, MipBit.SEIP), true);
});

test('claim returns the highest priority, the lowest id on ties, and clears pending', () => {
  const { plic, pins } = setup(1);
  for (const s of [1, 5, 7, 40]) {
    plic.write(priority(s), 4, s === 40 ? 6 : s === 1 ? 3 : 3);
    plic.line(s).setLevel(true);
  }
  plic.write(enable(1, 0), 4, (1 << 1) | (1 << 5) | (1 << 7));
  plic.write(enable(1, 1), 4, 1 << (40 - 32));
  assert.equal(plic.read(claim(1), 4), 40, 'highest priority first, across enable words');
  assert.equal(plic.read(claim(1), 4), 1, 'then the lowest id among equal priorities');
  assert.equal(plic.read(claim(1), 4), 5);
  assert.equal(plic.read(claim(1), 4), 7);
  assert.equal(pins.get(0, MipBit.SEIP), false, 'all in service: nothing left to present');
  assert.equal(plic.read(claim(1), 4), 0, 'nothing left: claim returns 0');
  assert.equal(plic.read(0x1000, 4), 0, 'claimed sources are not pending');
  assert.equal(plic.stats.spuriousClaims, 1);
});

test('level-triggered gateway: complete re-arms a source whose line is still high', () => {
  const { plic, pins } = setup(1);
  const line = plic.line(10);
  plic.write(priority(10), 4, 1);
  plic.write(enable(1), 4, 1 << 10);
  line.setLevel(true);
  assert.equal(plic.read(claim(1), 4), 10);
  assert.equal(pins.get(0, MipBit.SEIP), false);
  line.setLevel(false);
  line.setLevel(true); // the device asserts again while in service: held back
  assert.equal(pins.get(0, MipBit.SEIP), false);
  plic.write(claim(1), 4, 10); // complete
  assert.equal(pins.get(0, MipBit.SEIP), true, 'still high after completion: pending again');
  assert.equal(plic.read(claim(1), 4), 10);
  line.setLevel(false);
  plic.write(claim(1), 4, 10);
  assert.equal(pins.get(0, MipBit.SEIP), false, 'line low at completion: done');
  assert.equal(plic.read(claim(1), 4), 0);
});

test('completing a source not enabled for the context is ignored (spec §8)', () => {
  const { plic, pins } = setup(1);
  const line = plic.line(2);
  plic.write(priority(2), 4, 1);
  plic.write(enable(1), 4, 1 << 2);
  line.setLevel(true);
  assert.equal(plic.read(claim(1), 4), 2);
  plic.write(enable(1), 4, 0);
  plic.write(claim(1), 4, 2);
  plic.write(enable(1), 4, 1 << 2);
  assert.equal(pins.get(0, MipBit.SEIP), false, 'still in service');
  plic.write(claim(1), 4, 2);
  assert.equal(pins.get(0, MipBit.SEIP), true);
});

test('register widths: 3-bit priorities and thresholds, source 0 hardwired, read-only pending', () => {
  const { plic } = setup(1);
  plic.write(priority(1), 4, 0xff);
  assert.equal(plic.read(priority(1), 4), 7);
  plic.write(priority(0), 4, 5);
  assert.equal(plic.read(priority(0), 4), 0);
  plic.write(threshold(0), 4, 0x1f);
  assert.equal(plic.read(threshold(0), 4), 7);
  plic.write(enable(0), 4, 0xffffffff);
  assert.equal(plic.read(enable(0), 4), 0xfffffffe);
  plic.write(enable(0, 3), 4, 0xffffffff);
  assert.equal(plic.read(enable(0, 3), 4), 1, 'only source 96 exists in the last word');
  plic.write(0x1000, 4, 0xffffffff);
  assert.equal(plic.read(0x1000, 4), 0);
  // Unknown or out-of-range registers read 0, writes are ignored.
  assert.equal(plic.read(enable(5), 4), 0);
  assert.equal(plic.read(claim(7), 4), 0);
  plic.write(threshold(9), 4, 3);
  assert.equal(plic.read(0x200008, 4), 0);
  assert.equal(plic.read(priority(1), 2), 0, 'narrow accesses are not served');
  plic.write(priority(2), 1, 3);
  assert.equal(plic.read(priority(2), 4), 0);
});

test('save/restore round-trips, including an in-service source', () => {
  const { plic } = setup(2);
  const line = plic.line(8);
  plic.write(priority(8), 4, 4);
  plic.write(enable(3), 4, 1 << 8);
  plic.write(threshold(3), 4, 2);
  line.setLevel(true);
  assert.equal(plic.read(claim(3), 4), 8);
  const s = JSON.parse(JSON.stringify(plic.save())) as ReturnType<Plic['save']>;
  assert.equal(s.version, 1);

  const b = setup(2);
  b.plic.restore(s);
  assert.equal(b.plic.read(priority(8), 4), 4);
  assert.equal(b.plic.read(threshold(3), 4), 2);
  assert.equal(b.pins.get(1, MipBit.SEIP), false, 'in service');
  b.plic.write(claim(3), 4, 8);
  assert.equal(b.pins.get(1, MipBit.SEIP), true, 'the saved line level re-arms it on completion');
  assert.throws(() => setup(1).plic.restore(s), /identical machine/);
});
