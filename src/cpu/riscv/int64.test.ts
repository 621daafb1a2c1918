import { test } from 'node:test';
import assert from 'node:assert/strict';
import { r64, mul64, mulh64, mulhu64, mulhsu64, div64, divu64, rem64, remu64, toNumberS, fromNumber } from './int64.js';

const M64 = (1n << 64n) - 1n;
const edge = [0n, 1n, 2n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, (1n << 63n) - 1n, 1n << 63n, M64, M64 - 1n, 12345678901234567n];

/** Deterministic pseudo-random 64-bit values (xorshift), mixed with edge cases. */
function* values(n: number): Generator<bigint> {
  yield* edge;
  let s = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < n; i++) {
    s ^= (s << 13n) & M64; s ^= s >> 7n; s ^= (s << 17n) & M64;
    const shift = BigInt(i % 64);
    yield i % 3 === 0 ? s >> shift : s;
  }
}
const lo = (v: bigint) => Number(BigInt.asIntN(32, v));
const hi = (v: bigint) => Number(BigInt.asIntN(32, v >> 32n));
const got = () => (BigInt(r64.hi >>> 0) << 32n) | BigInt(r64.lo >>> 0);
const s64 = (v: bigint) => BigInt.asIntN(64, v);

test('multiply and divide agree with BigInt on edge and random 64-bit values', () => {
  const vs = [...values(120)];
  for (const a of vs) {
    for (const b of vs) {
      const [al, ah, bl, bh] = [lo(a), hi(a), lo(b), hi(b)];
      mul64(al, ah, bl, bh); assert.equal(got(), (a * b) & M64, `mul ${a} ${b}`);
      mulhu64(al, ah, bl, bh); assert.equal(got(), (a * b) >> 64n, `mulhu ${a} ${b}`);
      mulh64(al, ah, bl, bh); assert.equal(got(), ((s64(a) * s64(b)) >> 64n) & M64, `mulh ${a} ${b}`);
      mulhsu64(al, ah, bl, bh); assert.equal(got(), ((s64(a) * b) >> 64n) & M64, `mulhsu ${a} ${b}`);
      const expDivu = b === 0n ? M64 : a / b;
      divu64(al, ah, bl, bh); assert.equal(got(), expDivu, `divu ${a} ${b}`);
      const expRemu = b === 0n ? a : a % b;
      remu64(al, ah, bl, bh); assert.equal(got(), expRemu, `remu ${a} ${b}`);
      const sa = s64(a), sb = s64(b);
      const overflow = sa === -(1n << 63n) && sb === -1n;
      const expDiv = sb === 0n ? M64 : overflow ? 1n << 63n : (sa / sb) & M64;
      div64(al, ah, bl, bh); assert.equal(got(), expDiv, `div ${sa} ${sb}`);
      const expRem = sb === 0n ? a : overflow ? 0n : (sa % sb) & M64;
      rem64(al, ah, bl, bh); assert.equal(got(), expRem, `rem ${sa} ${sb}`);
    }
  }
});

test('number conversions are exact for canonical addresses', () => {
  for (const v of [0, 1, -1, 0x80000000, -0x80000000, 2 ** 38 - 1, -(2 ** 38), 2 ** 47 - 4096, -(2 ** 47)]) {
    fromNumber(v);
    assert.equal(toNumberS(r64.lo, r64.hi), v);
  }
});
