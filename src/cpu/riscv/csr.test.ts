import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestRam } from '../../memory/guest-memory.js';
import { MmioBus } from '../../devices/bus.js';
import { MipBit } from '../../devices/device.js';
import { Hart } from './hart.js';
import { DecodeCache } from './decode-cache.js';

function hartWith(program: number[]): Hart {
  const ram = new GuestRam(0x80000000, 1 << 20);
  program.forEach((w, i) => ram.writeU32(0x80000000 + 4 * i, w));
  const h = new Hart(0, { ram, bus: new MmioBus(), time: { frequency: 1e7, now: () => 0 }, decodeCache: new DecodeCache(ram) });
  h.reset(0x80000000);
  return h;
}

test('csrrs/csrrc on mip do not latch the external SEIP level into the software bit (priv §3.1.9)', () => {
  // csrrs t0, mip, x0 is a read; csrs mip, t1 (t1 = SSIP) and csrc mip, t1 are read-modify-writes.
  const h = hartWith([
    0x00200313, // li t1, 2 (SSIP)
    0x344322f3, // csrrs t0, mip, t1
    0x344332f3, // csrrc t0, mip, t1
    0x0000006f, // j .
  ]);
  h.csr.setPin(MipBit.SEIP, true);
  h.run(3);
  assert.equal(h.getX(5) & 0x202, 0x202, 'the read value includes the external SEIP level and SSIP');
  assert.equal(h.csr.mipSw & 0x200, 0, 'the software SEIP bit stays clear');
  h.csr.setPin(MipBit.SEIP, false);
  assert.equal(h.csr.mipValue() & 0x200, 0, 'SEIP drops when the PLIC lowers it');
});
