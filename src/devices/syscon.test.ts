import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Syscon, TEST_FAIL, TEST_PASS, TEST_RESET, type PowerControl } from './syscon.js';

class Power implements PowerControl {
  readonly events: string[] = [];
  powerOff(exitCode: number): void {
    this.events.push(`off ${exitCode}`);
  }
  reset(): void {
    this.events.push('reset');
  }
}

test('pass, fail with a code, and reset', () => {
  const p = new Power();
  const s = new Syscon(p);
  s.write(0, 4, TEST_PASS);
  s.write(0, 4, TEST_FAIL | (42 << 16));
  s.write(0, 4, TEST_FAIL | (0xffff << 16));
  s.write(0, 4, TEST_RESET);
  assert.deepEqual(p.events, ['off 0', 'off 42', 'off 65535', 'reset']);
});

test('a failure without a code exits 1, never 0', () => {
  const p = new Power();
  const s = new Syscon(p);
  s.write(0, 2, TEST_FAIL); // OpenSBI's writew
  s.write(0, 4, TEST_FAIL);
  assert.deepEqual(p.events, ['off 1', 'off 1']);
});

test('a 16-bit pass works (OpenSBI uses writew); other values, offsets and sizes are ignored', () => {
  const p = new Power();
  const s = new Syscon(p);
  s.write(0, 2, TEST_PASS);
  s.write(0, 4, 0x1234);
  s.write(4, 4, TEST_PASS);
  s.write(0, 1, 0x55);
  assert.deepEqual(p.events, ['off 0']);
  assert.equal(s.read(0, 4), 0);
  assert.equal(s.read(0x800, 4), 0);
});

test('save/restore is versioned', () => {
  const s = new Syscon(new Power());
  assert.deepEqual(s.save(), { version: 1 });
  s.restore({ version: 1 });
  assert.throws(() => s.restore({ version: 9 as 1 }), /version/);
});
