import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emulateMmio, fromTransformed, type MmioAccessor, type VcpuRegisters } from './mmio-exit.js';

class Regs implements VcpuRegisters {
  x = new Array<bigint>(32).fill(0n);
  getX(i: number): bigint { return i === 0 ? 0n : this.x[i]; }
  setX(i: number, v: bigint): void { if (i !== 0) this.x[i] = v; }
}

/** One 8-byte device register at 0x10000000; everything else is unmapped. */
class Dev implements MmioAccessor {
  value = 0x8899aabbccddeeffn;
  writes: Array<[number, number, bigint]> = [];
  read(gpa: number, size: 1 | 2 | 4 | 8): bigint | undefined {
    if (gpa < 0x10000000 || gpa >= 0x10000008) return undefined;
    return (this.value >> BigInt((gpa - 0x10000000) * 8)) & ((1n << BigInt(size * 8)) - 1n);
  }
  write(gpa: number, size: 1 | 2 | 4 | 8, v: bigint): boolean {
    if (gpa < 0x10000000 || gpa >= 0x10000008) return false;
    this.writes.push([gpa, size, v]);
    return true;
  }
}

const M64 = (1n << 64n) - 1n;

test('loads sign- or zero-extend into rd; stores send the low bytes of rs2', () => {
  const r = new Regs(), dev = new Dev();
  assert.deepEqual(emulateMmio(0x0005a503, 0x10000000, r, dev), { ok: true, kind: 'load', size: 4, length: 4 }); // lw a0, 0(a1)
  assert.equal(r.x[10], 0xffffffffccddeeffn);
  emulateMmio(0x0005e503, 0x10000004, r, dev); // lwu a0, 0(a1)
  assert.equal(r.x[10], 0x8899aabbn);
  emulateMmio(0x00058503, 0x10000001, r, dev); // lb a0, 0(a1)
  assert.equal(r.x[10], M64 - 0x11n, '0xee sign-extended');
  emulateMmio(0x0005b503, 0x10000000, r, dev); // ld a0, 0(a1)
  assert.equal(r.x[10], 0x8899aabbccddeeffn);
  r.x[12] = 0x1122334455667788n;
  assert.deepEqual(emulateMmio(0x00c59023, 0x10000002, r, dev), { ok: true, kind: 'store', size: 2, length: 4 }); // sh a2, 0(a1)
  assert.deepEqual(dev.writes, [[0x10000002, 2, 0x7788n]]);
});

test('compressed accesses, and htinst transformed instructions', () => {
  const r = new Regs(), dev = new Dev();
  assert.deepEqual(emulateMmio(0x4188, 0x10000000, r, dev), { ok: true, kind: 'load', size: 4, length: 2 }); // c.lw a0, 0(a1)
  assert.equal(r.x[10], 0xffffffffccddeeffn);
  const t = fromTransformed(0x00002501); // lw a0 from a compressed original: bit 1 clear
  assert.deepEqual(t, { insn: 0x2503, length: 2 });
  assert.equal(fromTransformed(0), undefined, 'htinst 0: read the instruction from guest memory');
  assert.equal(fromTransformed(0x00003020), undefined, 'a pseudoinstruction (implicit access) is not a device access');
});

test('misaligned, unmapped and non-access instructions are refused, changing nothing', () => {
  const r = new Regs(), dev = new Dev();
  r.x[10] = 5n;
  for (const [insn, gpa] of [[0x0005a503, 0x10000002], [0x0005a503, 0x20000000], [0x00b50533, 0x10000000], [0x00b5a52f, 0x10000000]] as const) {
    const res = emulateMmio(insn, gpa, r, dev);
    assert.equal(res.ok, false);
    assert.ok(!res.ok && res.reason.length > 10);
  }
  assert.equal(r.x[10], 5n);
  assert.equal(dev.writes.length, 0);
});
