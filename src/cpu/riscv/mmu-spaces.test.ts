/**
 * Mmu.switchUserSpace: U-mode TLB entries kept per address space across
 * switches (as an ASID-tagged TLB keeps them), and reached by every flush.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestRam } from '../../memory/guest-memory.js';
import { MmioBus } from '../../devices/bus.js';
import { Hart } from './hart.js';
import { DecodeCache } from './decode-cache.js';
import { Access, Priv } from './constants.js';
import { TLB_SIZE } from './mmu.js';

const RAM = 0x80000000;
const VA = 0x40000000;

/** A hart in U-mode and two Sv39 address spaces mapping VA to different pages: satp values for each. */
function setup(): { h: Hart; satp: Array<{ lo: number; hi: number }>; page: number[] } {
  const ram = new GuestRam(RAM, 4 << 20);
  const h = new Hart(0, { ram, bus: new MmioBus(), time: { frequency: 1e7, now: () => 0 }, decodeCache: new DecodeCache(ram) });
  h.reset(RAM);
  const satp: Array<{ lo: number; hi: number }> = [];
  const page: number[] = [];
  for (let k = 0; k < 2; k++) {
    const root = RAM + 0x100000 + k * 0x10000, l1 = root + 0x1000, l0 = root + 0x2000;
    page.push(RAM + 0x200000 + k * 0x1000);
    ram.writeU64(root + 1 * 8, (l1 / 4096) * 1024 + 1);
    ram.writeU64(l1, (l0 / 4096) * 1024 + 1);
    ram.writeU64(l0, (page[k] / 4096) * 1024 + 0xdf); // V R W X U A D
    satp.push({ lo: root / 4096, hi: 8 << 28 });
  }
  h.setPriv(Priv.U);
  return { h, satp, page };
}

test('switching user address spaces keeps each one\'s TLB entries; flushes reach the saved ones', () => {
  const { h, satp, page } = setup();
  const m = h.mmu;
  assert.ok(m.switchUserSpace(satp[0].lo, satp[0].hi, '', 'a'));
  assert.equal(m.translate(VA, Access.Read, true), page[0]);
  const walks = m.stats().pageWalks;
  m.switchUserSpace(satp[1].lo, satp[1].hi, 'a', 'b');
  assert.equal(m.translate(VA, Access.Read, true), page[1], 'the other space\'s mapping, not a stale entry');
  m.switchUserSpace(satp[0].lo, satp[0].hi, 'b', 'a');
  assert.equal(m.translate(VA, Access.Read, true), page[0]);
  assert.equal(m.stats().pageWalks, walks + 1, 'space a came back from the saved entries without a walk');
  // SFENCE.VMA of the page while in a: space b's saved entry goes too.
  m.flushPage(VA);
  m.switchUserSpace(satp[1].lo, satp[1].hi, 'a', 'b');
  assert.equal(m.translate(VA, Access.Read, true), page[1]);
  assert.equal(m.stats().pageWalks, walks + 2, 'b walked again after the flush');
  m.flushAll();
  m.switchUserSpace(satp[0].lo, satp[0].hi, 'b', 'a');
  assert.equal(m.translate(VA, Access.Read, true), page[0]);
  assert.equal(m.stats().pageWalks, walks + 3, 'nothing survives flushAll');
  assert.equal(m.switchUserSpace(0, 5 << 28, 'a', 'c'), false, 'an unsupported mode is refused');
});

test('a switch saves and brings back every valid entry, also after more fills than it keeps a list of', () => {
  const { h, satp, page } = setup();
  const m = h.mmu;
  // Space a also maps a gigapage of RAM at 0x80000000 (root entry 2).
  h.env.ram.writeU64(RAM + 0x100000 + 2 * 8, (RAM / 4096) * 1024 + 0xdf);
  // What the interpreter's and translated code's inline check sees: the RAM offset, or -1.
  const seen = (va: number): number => m.ramHit(m.readBase, va | 0, Math.floor(va / 2 ** 32), 1);
  m.switchUserSpace(satp[0].lo, satp[0].hi, '', 'a');
  // Two pages sharing one entry, in turn: more fills than the list of filled entries holds, all in that entry.
  for (let k = 0; k <= 3 * TLB_SIZE; k++) m.translate(RAM + (k % 2) * TLB_SIZE * 4096, Access.Read, true);
  // Then entries none of those fills touched.
  const fresh = [RAM + 4096, RAM + 2 * 4096];
  for (const va of [...fresh, VA]) m.translate(va, Access.Read, true);
  const walks = m.stats().pageWalks;
  for (let round = 0; round < 2; round++) {
    m.switchUserSpace(satp[1].lo, satp[1].hi, 'a', 'b');
    for (const va of fresh) assert.equal(seen(va), -1, `space b does not see space a's entry for ${va.toString(16)}`);
    assert.equal(m.translate(VA, Access.Read, true), page[1], 'space b has its own mapping');
    assert.equal(seen(VA), page[1] - RAM);
    m.switchUserSpace(satp[0].lo, satp[0].hi, 'b', 'a');
    const before = m.stats().pageWalks;
    assert.equal(seen(VA), page[0] - RAM);
    assert.equal(m.translate(VA, Access.Read, true), page[0]);
    for (const va of fresh) assert.equal(seen(va), va - RAM, `space a's entry for ${va.toString(16)} came back`);
    assert.equal(m.stats().pageWalks, before, 'without a walk');
  }
  assert.equal(m.stats().pageWalks, walks + 1, 'only space b walked, once');
});
