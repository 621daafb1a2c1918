/**
 * The decode cache's bookkeeping: pages by RAM page index, dropped by a
 * write to their code, and all emptied once the cache holds its maximum.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestRam } from '../../memory/guest-memory.js';
import { DecodeCache } from './decode-cache.js';

const ADDI_X1 = 0x00100093; // addi x1, x0, 1

test('pages are found again by index, dropped by a code write, and all emptied when the cache is full', () => {
  const ram = new GuestRam(0x80000000, 1 << 20);
  for (let page = 0; page < 4; page++) ram.writeU32(0x80000000 + page * 4096, ADDI_X1);
  const cache = new DecodeCache(ram, 3);
  const dropped: number[] = [];
  cache.onInvalidate((page) => dropped.push(page));

  const p0 = cache.page(0), p1 = cache.page(4096), p2 = cache.page(2 * 4096);
  assert.equal(cache.page(4096), p1, 'the same page object for the same RAM page');
  assert.equal(cache.size, 3);
  assert.deepEqual([0, 1, 2].map((i) => ram.codePages[i]), [1, 1, 1]);
  cache.decodeSlot(p1, 0);

  // A write to page 1's decoded instruction drops it; the next lookup makes a new generation.
  const gen1 = p1.gen;
  ram.writeU32(0x80000000 + 4096, ADDI_X1);
  assert.deepEqual(dropped, [1]);
  assert.equal(cache.size, 2);
  assert.equal(ram.codePages[1], 0);
  assert.ok(p1.gen > gen1);
  const again = cache.page(4096);
  assert.equal(again.info[0], 0, 'nothing decoded in the page taken anew');
  assert.equal(cache.size, 3);

  // A fourth page past the maximum of 3 empties the cache first: every page is dropped and notified.
  dropped.length = 0;
  const gens = [p0.gen, again.gen, p2.gen];
  const p3 = cache.page(3 * 4096);
  assert.deepEqual([...dropped].sort(), [0, 1, 2]);
  assert.equal(cache.size, 1);
  assert.deepEqual([0, 1, 2, 3].map((i) => ram.codePages[i]), [0, 0, 0, 1]);
  assert.ok(p0.gen > gens[0] && again.gen > gens[1] && p2.gen > gens[2], 'code holding an old page sees a new generation');
  assert.equal(cache.page(3 * 4096), p3);
  assert.notEqual(cache.page(0), undefined);
  assert.equal(cache.size, 2);
});
