// Tests for the F/D unit. Expected values follow the unprivileged spec's F and D
// chapters and IEEE 754-2008; the implementation was also cross-checked against
// QEMU 7.2 (softfloat) on a few million random and edge-case vectors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FpUnit, SoftFloat, FFlag, RoundingMode } from './fpu.js';

const { NX, UF, OF, DZ, NV } = FFlag;
const { RNE, RTZ, RDN, RUP, RMM, DYN } = RoundingMode;
const S: number = 0, D: number = 1;

// Register numbers used throughout: f1, f2, f4 sources, f3 destination; x5 source, x6 destination.
const F1 = 1, F2 = 2, F3 = 3, F4 = 4, X5 = 5, X6 = 6;

function opFp(funct7: number, rs2: number, rs1: number, funct3: number, rd: number): number {
  return ((funct7 << 25) | (rs2 << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | 0x53) >>> 0;
}
function r4(opcode: number, fmt: number, rm: number, rd = F3, rs1 = F1, rs2 = F2, rs3 = F4): number {
  return ((rs3 << 27) | (fmt << 25) | (rs2 << 20) | (rs1 << 15) | (rm << 12) | (rd << 7) | opcode) >>> 0;
}
const FMADD = 0x43, FMSUB = 0x47, FNMSUB = 0x4b, FNMADD = 0x4f;
// funct5 values of OP-FP
const ADD = 0x00, SUB = 0x01, MUL = 0x02, DIV = 0x03, SQRT = 0x0b, SGNJ = 0x04, MINMAX = 0x05;
const CVT_FF = 0x08, CMP = 0x14, CVT_IF = 0x18, CVT_FI = 0x1a, MV_X = 0x1c, MV_F = 0x1e;
/** Two-operand OP-FP instruction f3 = f1 op f2. */
const arith = (funct5: number, fmt: number, rm: number): number => opFp((funct5 << 2) | fmt, F2, F1, rm, F3);

interface Harness { fpu: FpUnit; xlo: Int32Array; xhi: Int32Array }
function make(): Harness {
  const xlo = new Int32Array(33), xhi = new Int32Array(33);
  return { fpu: new FpUnit(xlo, xhi), xlo, xhi };
}

function setD(h: Harness, r: number, bits: bigint): void {
  h.fpu.i32[2 * r] = Number(bits & 0xffffffffn) | 0;
  h.fpu.i32[2 * r + 1] = Number((bits >> 32n) & 0xffffffffn) | 0;
}
function getD(h: Harness, r: number): bigint {
  return (BigInt(h.fpu.i32[2 * r + 1] >>> 0) << 32n) | BigInt(h.fpu.i32[2 * r] >>> 0);
}
/** Writes a NaN-boxed single. */
function setS(h: Harness, r: number, bits: number): void {
  h.fpu.i32[2 * r] = bits | 0;
  h.fpu.i32[2 * r + 1] = -1;
}
/** A single result: its bits, after checking it is NaN-boxed. */
function getS(h: Harness, r: number): number {
  assert.equal(h.fpu.i32[2 * r + 1], -1, 'single result must be NaN-boxed');
  return h.fpu.i32[2 * r] >>> 0;
}
function setX(h: Harness, r: number, v: bigint): void {
  h.xlo[r] = Number(v & 0xffffffffn) | 0;
  h.xhi[r] = Number((v >> 32n) & 0xffffffffn) | 0;
}
function getX(h: Harness, r: number): bigint {
  return (BigInt(h.xhi[r] >>> 0) << 32n) | BigInt(h.xlo[r] >>> 0);
}
function dbits(x: number): bigint {
  return new BigUint64Array(new Float64Array([x]).buffer)[0];
}
function sbits(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0];
}
function exec(h: Harness, insn: number): void {
  h.fpu.fflags = 0;
  assert.equal(h.fpu.execute(insn), true, `0x${insn.toString(16)} should be legal`);
}

/** Runs a double binary op with operands given as bits; returns [result bits, flags]. */
function binD(funct5: number, a: bigint, b: bigint, rm: number): [bigint, number] {
  const h = make();
  setD(h, F1, a);
  setD(h, F2, b);
  exec(h, arith(funct5, D, rm));
  return [getD(h, F3), h.fpu.fflags];
}
function binS(funct5: number, a: number, b: number, rm: number): [number, number] {
  const h = make();
  setS(h, F1, a);
  setS(h, F2, b);
  exec(h, arith(funct5, S, rm));
  return [getS(h, F3), h.fpu.fflags];
}

const CANON_D = 0x7ff8000000000000n, CANON_S = 0x7fc00000;
const SNAN_D = 0x7ff0000000000001n, QNAN_D = 0x7ffc000000000123n;
const SNAN_S = 0x7f800001, QNAN_S = 0x7fc00123;
const MAX_D = 0x7fefffffffffffffn, INF_D = 0x7ff0000000000000n, NINF_D = 0xfff0000000000000n;

test('every rounding mode on inexact single and double results', () => {
  // 1 + 2^-24 is a tie in single precision.
  const tieS: Array<[number, number, number]> = [
    [RNE, 0x3f800000, 0xbf800000], [RTZ, 0x3f800000, 0xbf800000], [RDN, 0x3f800000, 0xbf800001],
    [RUP, 0x3f800001, 0xbf800000], [RMM, 0x3f800001, 0xbf800001],
  ];
  for (const [rm, pos, neg] of tieS) {
    assert.deepEqual(binS(ADD, 0x3f800000, 0x33800000, rm), [pos, NX], `1+2^-24 rm=${rm}`);
    assert.deepEqual(binS(ADD, 0xbf800000, 0xb3800000, rm), [neg, NX], `-1-2^-24 rm=${rm}`);
  }
  // 1/3 is not a tie: RMM agrees with RNE, RUP goes up.
  const third: Array<[number, bigint]> = [
    [RNE, 0x3fd5555555555555n], [RTZ, 0x3fd5555555555555n], [RDN, 0x3fd5555555555555n],
    [RUP, 0x3fd5555555555556n], [RMM, 0x3fd5555555555555n],
  ];
  for (const [rm, want] of third) assert.deepEqual(binD(DIV, dbits(1), dbits(3), rm), [want, NX], `1/3 rm=${rm}`);
  // -1/3: rounding down now moves away from zero.
  const mthird: Array<[number, bigint]> = [
    [RNE, 0xbfd5555555555555n], [RTZ, 0xbfd5555555555555n], [RDN, 0xbfd5555555555556n],
    [RUP, 0xbfd5555555555555n], [RMM, 0xbfd5555555555555n],
  ];
  for (const [rm, want] of mthird) assert.deepEqual(binD(DIV, dbits(-1), dbits(3), rm), [want, NX], `-1/3 rm=${rm}`);
  // Exact results raise nothing in any mode.
  for (const rm of [RNE, RTZ, RDN, RUP, RMM]) assert.deepEqual(binD(MUL, dbits(1.5), dbits(2), rm), [dbits(3), 0]);
  // x - x is +0, except -0 when rounding down.
  assert.deepEqual(binD(SUB, dbits(1.5), dbits(1.5), RNE), [0n, 0]);
  assert.deepEqual(binD(SUB, dbits(1.5), dbits(1.5), RDN), [1n << 63n, 0]);
  assert.deepEqual(binS(SUB, 0x3fc00000, 0x3fc00000, RDN), [0x80000000, 0]);
});

test('sqrt rounding and exactness', () => {
  const h = make();
  setD(h, F1, dbits(2));
  exec(h, opFp((SQRT << 2) | D, 0, F1, RNE, F3));
  assert.deepEqual([getD(h, F3), h.fpu.fflags], [0x3ff6a09e667f3bcdn, NX]);
  exec(h, opFp((SQRT << 2) | D, 0, F1, RUP, F3));
  assert.deepEqual([getD(h, F3), h.fpu.fflags], [0x3ff6a09e667f3bcdn, NX]);
  exec(h, opFp((SQRT << 2) | D, 0, F1, RDN, F3));
  assert.deepEqual([getD(h, F3), h.fpu.fflags], [0x3ff6a09e667f3bccn, NX]);
  setS(h, F1, sbits(2.25));
  exec(h, opFp((SQRT << 2) | S, 0, F1, RNE, F3));
  assert.deepEqual([getS(h, F3), h.fpu.fflags], [sbits(1.5), 0]);
  setD(h, F1, 1n << 63n); // sqrt(-0) = -0
  exec(h, opFp((SQRT << 2) | D, 0, F1, RNE, F3));
  assert.deepEqual([getD(h, F3), h.fpu.fflags], [1n << 63n, 0]);
  setD(h, F1, dbits(-1));
  exec(h, opFp((SQRT << 2) | D, 0, F1, RNE, F3));
  assert.deepEqual([getD(h, F3), h.fpu.fflags], [CANON_D, NV]);
});

test('dynamic rounding mode and reserved rm encodings', () => {
  const h = make();
  setS(h, F1, 0x3f800000);
  setS(h, F2, 0x33800000);
  h.fpu.frm = RUP;
  exec(h, arith(ADD, S, DYN));
  assert.equal(getS(h, F3), 0x3f800001);
  h.fpu.frm = RNE;
  exec(h, arith(ADD, S, DYN));
  assert.equal(getS(h, F3), 0x3f800000);
  // rm 5 and 6 are reserved; DYN with frm 5..7 is illegal. Nothing may change.
  setD(h, F3, 0x1234n);
  h.fpu.fflags = 0x1f;
  for (const [rm, frm] of [[5, 0], [6, 0], [7, 5], [7, 6], [7, 7]]) {
    h.fpu.frm = frm;
    assert.equal(h.fpu.execute(arith(ADD, S, rm)), false);
    assert.equal(h.fpu.execute(r4(FMADD, D, rm)), false);
    assert.equal(h.fpu.execute(opFp((CVT_IF << 2) | D, 0, F1, rm, X6)), false);
    // FCVT.D.S is exact but its rm field is still decoded.
    assert.equal(h.fpu.execute(opFp((CVT_FF << 2) | D, 0, F1, rm, F3)), false);
  }
  assert.equal(getD(h, F3), 0x1234n);
  assert.equal(h.fpu.fflags, 0x1f);
  assert.equal(getX(h, X6), 0n);
});

test('illegal encodings are rejected and change nothing', () => {
  const h = make();
  for (let r = 0; r < 32; r++) setD(h, r, BigInt(r) * 0x0101010101010101n);
  setX(h, X5, 0x123456789n);
  h.fpu.fflags = 3;
  h.fpu.frm = 1;
  const before = { f: Array.from(h.fpu.i32), xlo: Array.from(h.xlo), xhi: Array.from(h.xhi) };
  const bad = [
    arith(ADD, 2, RNE), arith(ADD, 3, RNE), // half and quad formats
    r4(FMADD, 2, RNE), r4(FNMADD, 3, RNE),
    opFp((SQRT << 2) | D, 1, F1, RNE, F3), // rs2 must be 0
    opFp((SGNJ << 2) | S, F2, F1, 3, F3), // funct3 3
    opFp((MINMAX << 2) | D, F2, F1, 2, F3),
    opFp((CMP << 2) | D, F2, F1, 3, X6),
    opFp((CVT_FF << 2) | S, 0, F1, RNE, F3), // FCVT.S.S
    opFp((CVT_FF << 2) | D, 1, F1, RNE, F3), // FCVT.D.D
    opFp((CVT_FF << 2) | S, 2, F1, RNE, F3), // FCVT.S.H
    opFp((CVT_IF << 2) | D, 4, F1, RNE, X6), // no such integer type
    opFp((CVT_FI << 2) | S, 5, X5, RNE, F3),
    opFp((MV_X << 2) | S, 0, F1, 2, X6),
    opFp((MV_X << 2) | D, 1, F1, 0, X6), // FMVH.X.D (Zfa)
    opFp((MV_F << 2) | D, 0, X5, 1, F3),
    opFp((MV_F << 2) | S, 1, 1, 0, F3), // FLI.S (Zfa)
    opFp(0x7f, 0, 0, 0, 0),
    0x00000013, // not an FP opcode
  ];
  for (const insn of bad) assert.equal(h.fpu.execute(insn), false, `0x${insn.toString(16)}`);
  assert.deepEqual({ f: Array.from(h.fpu.i32), xlo: Array.from(h.xlo), xhi: Array.from(h.xhi) }, before);
  assert.equal(h.fpu.fflags, 3);
});

test('exception flags: NV, DZ, OF, UF, NX', () => {
  assert.deepEqual(binD(DIV, dbits(1), 0n, RNE), [INF_D, DZ]);
  assert.deepEqual(binD(DIV, dbits(-1), 0n, RNE), [NINF_D, DZ]);
  assert.deepEqual(binD(DIV, 0n, 0n, RNE), [CANON_D, NV]);
  assert.deepEqual(binD(DIV, INF_D, INF_D, RNE), [CANON_D, NV]);
  assert.deepEqual(binD(MUL, INF_D, 0n, RNE), [CANON_D, NV]);
  assert.deepEqual(binD(ADD, INF_D, NINF_D, RNE), [CANON_D, NV]);
  assert.deepEqual(binS(DIV, 0x3f800000, 0x80000000, RNE), [0xff800000, DZ]);
  // Overflow: to infinity or to the largest finite value, by mode and sign.
  const two = dbits(2), mtwo = dbits(-2), NMAX_D = MAX_D | (1n << 63n);
  assert.deepEqual(binD(MUL, MAX_D, two, RNE), [INF_D, OF | NX]);
  assert.deepEqual(binD(MUL, MAX_D, two, RTZ), [MAX_D, OF | NX]);
  assert.deepEqual(binD(MUL, MAX_D, two, RDN), [MAX_D, OF | NX]);
  assert.deepEqual(binD(MUL, MAX_D, two, RUP), [INF_D, OF | NX]);
  assert.deepEqual(binD(MUL, MAX_D, two, RMM), [INF_D, OF | NX]);
  assert.deepEqual(binD(MUL, MAX_D, mtwo, RDN), [NINF_D, OF | NX]);
  assert.deepEqual(binD(MUL, MAX_D, mtwo, RUP), [NMAX_D, OF | NX]);
  assert.deepEqual(binS(ADD, 0x7f7fffff, 0x7f7fffff, RNE), [0x7f800000, OF | NX]);
  assert.deepEqual(binS(ADD, 0x7f7fffff, 0x7f7fffff, RTZ), [0x7f7fffff, OF | NX]);
  // Adding half an ulp to the largest value rounds to even = infinity: overflow.
  assert.deepEqual(binD(ADD, MAX_D, 0x7c90000000000000n, RNE), [INF_D, OF | NX]);
  // Just below half an ulp: no overflow, inexact only.
  assert.deepEqual(binD(ADD, MAX_D, 0x7c8fffffffffffffn, RNE), [MAX_D, NX]);
  // Infinity arithmetic is exact.
  assert.deepEqual(binD(ADD, INF_D, MAX_D, RNE), [INF_D, 0]);
  assert.deepEqual(binD(DIV, dbits(1), INF_D, RNE), [0n, 0]);
});

test('subnormal results and underflow (tininess detected after rounding)', () => {
  const MIN_NORMAL_D = 0x0010000000000000n;
  // Exact subnormal results raise nothing.
  assert.deepEqual(binD(MUL, MIN_NORMAL_D, dbits(2 ** -10), RNE), [0x0000040000000000n, 0]);
  assert.deepEqual(binS(MUL, 0x00800000, 0x3f000000, RNE), [0x00400000, 0]);
  // Inexact subnormal: UF and NX.
  assert.deepEqual(binD(MUL, 0x0010000000000001n, dbits(0.5), RNE), [0x0008000000000000n, UF | NX]);
  assert.deepEqual(binD(MUL, 0x0010000000000001n, dbits(0.5), RUP), [0x0008000000000001n, UF | NX]);
  // Half the smallest subnormal: tie to even gives 0; RUP and RMM give the smallest subnormal.
  assert.deepEqual(binS(DIV, 0x00000001, 0x40000000, RNE), [0, UF | NX]);
  assert.deepEqual(binS(DIV, 0x00000001, 0x40000000, RUP), [1, UF | NX]);
  assert.deepEqual(binS(DIV, 0x00000001, 0x40000000, RMM), [1, UF | NX]);
  assert.deepEqual(binS(DIV, 0x80000001, 0x40000000, RDN), [0x80000001, UF | NX]);
  // (1 - 2^-53) * 2^-1022: rounds to the smallest normal, but with an unbounded
  // exponent it stays below 2^-1022, so it is tiny: UF.
  assert.deepEqual(binD(MUL, 0x3fefffffffffffffn, MIN_NORMAL_D, RNE), [MIN_NORMAL_D, UF | NX]);

  // FCVT.S.D right at the single-precision boundary 2^-126.
  const cvt = (x: number, rm: number): [number, number] => {
    const h = make();
    setD(h, F1, dbits(x));
    exec(h, opFp((CVT_FF << 2) | S, 1, F1, rm, F3));
    return [getS(h, F3), h.fpu.fflags];
  };
  // 2^-126 - 2^-150 is exact with 24 bits and an unbounded exponent: tiny.
  assert.deepEqual(cvt(2 ** -126 - 2 ** -150, RNE), [0x00800000, UF | NX]);
  // 2^-126 - 2^-151 rounds to 2^-126 even with an unbounded exponent: not tiny.
  assert.deepEqual(cvt(2 ** -126 - 2 ** -151, RNE), [0x00800000, NX]);
  assert.deepEqual(cvt(2 ** -126 - 2 ** -152, RNE), [0x00800000, NX]);
  assert.deepEqual(cvt(2 ** -126 - 2 ** -152, RTZ), [0x007fffff, UF | NX]);
  assert.deepEqual(cvt(2 ** -160, RUP), [0x00000001, UF | NX]);
  assert.deepEqual(cvt(2 ** -160, RDN), [0, UF | NX]);
  assert.deepEqual(cvt(-(2 ** -160), RDN), [0x80000001, UF | NX]);
  assert.deepEqual(cvt(2 ** -149, RNE), [0x00000001, 0]);
  assert.deepEqual(cvt(1e39, RNE), [0x7f800000, OF | NX]);
  assert.deepEqual(cvt(1e39, RTZ), [0x7f7fffff, OF | NX]);
  assert.deepEqual(cvt(0.1, RNE), [0x3dcccccd, NX]);
  assert.deepEqual(cvt(0.1, RTZ), [0x3dcccccc, NX]);
});

test('NaN boxing of single-precision operands and results', () => {
  const h = make();
  // f1 holds a single 1.0 whose upper half is not all ones: it reads as the canonical NaN.
  h.fpu.i32[2 * F1] = 0x3f800000;
  h.fpu.i32[2 * F1 + 1] = 0x12345678;
  setS(h, F2, 0x40000000);
  exec(h, arith(ADD, S, RNE));
  assert.deepEqual([getS(h, F3), h.fpu.fflags], [CANON_S, 0]); // a quiet NaN: no NV
  // FSGNJ.S injects the sign into the canonical NaN.
  exec(h, opFp((SGNJ << 2) | S, F2, F1, 1, F3)); // FSGNJN
  assert.equal(getS(h, F3), 0xffc00000);
  // FCLASS.S sees a quiet NaN.
  exec(h, opFp((MV_X << 2) | S, 0, F1, 1, X6));
  assert.equal(getX(h, X6), 1n << 9n);
  // FMIN.S ignores it.
  exec(h, opFp((MINMAX << 2) | S, F2, F1, 0, F3));
  assert.deepEqual([getS(h, F3), h.fpu.fflags], [0x40000000, 0]);
  // FCVT.D.S gives the canonical double NaN.
  exec(h, opFp((CVT_FF << 2) | D, 0, F1, RNE, F3));
  assert.equal(getD(h, F3), CANON_D);
  // FMV.X.W moves the raw low 32 bits, boxed or not, sign-extended.
  exec(h, opFp((MV_X << 2) | S, 0, F1, 0, X6));
  assert.equal(getX(h, X6), 0x3f800000n);
  h.fpu.i32[2 * F1] = 0xbf800000 | 0;
  exec(h, opFp((MV_X << 2) | S, 0, F1, 0, X6));
  assert.equal(getX(h, X6), 0xffffffffbf800000n);
  // FMV.W.X boxes, ignoring the integer's upper half.
  setX(h, X5, 0x123456783f800000n);
  exec(h, opFp((MV_F << 2) | S, 0, X5, 0, F3));
  assert.equal(getD(h, F3), 0xffffffff3f800000n);
  // A double viewed as a single is not boxed.
  setD(h, F1, dbits(1));
  exec(h, arith(MUL, S, RNE));
  assert.equal(getS(h, F3), CANON_S);
  // Every single result is boxed, including FCVT.S.D and FCVT.S.W.
  setD(h, F1, dbits(1.5));
  exec(h, opFp((CVT_FF << 2) | S, 1, F1, RNE, F3));
  assert.equal(getD(h, F3), 0xffffffff3fc00000n);
  setX(h, X5, 7n);
  exec(h, opFp((CVT_FI << 2) | S, 0, X5, RNE, F3));
  assert.equal(getD(h, F3), 0xffffffff40e00000n);
});

test('NaN results are canonical; payloads never propagate', () => {
  assert.deepEqual(binD(ADD, QNAN_D, dbits(1), RNE), [CANON_D, 0]);
  assert.deepEqual(binD(MUL, dbits(1), SNAN_D, RNE), [CANON_D, NV]);
  assert.deepEqual(binD(SUB, SNAN_D | (1n << 63n), QNAN_D, RTZ), [CANON_D, NV]);
  assert.deepEqual(binS(DIV, QNAN_S, 0x3f800000, RNE), [CANON_S, 0]);
  assert.deepEqual(binS(ADD, 0x3f800000, SNAN_S, RNE), [CANON_S, NV]);
  const h = make();
  setD(h, F1, QNAN_D | (1n << 63n));
  exec(h, opFp((CVT_FF << 2) | S, 1, F1, RNE, F3));
  assert.deepEqual([getS(h, F3), h.fpu.fflags], [CANON_S, 0]);
  setS(h, F1, SNAN_S);
  exec(h, opFp((CVT_FF << 2) | D, 0, F1, RNE, F3));
  assert.deepEqual([getD(h, F3), h.fpu.fflags], [CANON_D, NV]);
  setD(h, F1, SNAN_D);
  exec(h, opFp((SQRT << 2) | D, 0, F1, RNE, F3));
  assert.deepEqual([getD(h, F3), h.fpu.fflags], [CANON_D, NV]);
  // Moves and sign injection keep exact bits, signaling NaNs included, and raise nothing.
  exec(h, opFp((SGNJ << 2) | D, F1, F1, 1, F3)); // fneg.d
  assert.deepEqual([getD(h, F3), h.fpu.fflags], [SNAN_D | (1n << 63n), 0]);
  exec(h, opFp((SGNJ << 2) | D, F3, F3, 2, F4)); // fabs.d
  assert.equal(getD(h, F4), SNAN_D);
  exec(h, opFp((MV_X << 2) | D, 0, F1, 0, X6));
  assert.equal(getX(h, X6), SNAN_D);
  setX(h, X5, 0xfff0000000000abcn);
  exec(h, opFp((MV_F << 2) | D, 0, X5, 0, F3));
  assert.equal(getD(h, F3), 0xfff0000000000abcn);
  setS(h, F1, SNAN_S);
  exec(h, opFp((SGNJ << 2) | S, F1, F1, 2, F3)); // fabs.s of a positive sNaN
  assert.equal(getS(h, F3), SNAN_S);
});

test('comparisons: FEQ is quiet, FLT/FLE signal on any NaN', () => {
  const cmp = (funct3: number, fmt: number, a: bigint, b: bigint): [bigint, number] => {
    const h = make();
    setX(h, X6, 0x5a5a5a5a5a5a5a5an);
    if (fmt === D) { setD(h, F1, a); setD(h, F2, b); } else { setS(h, F1, Number(a)); setS(h, F2, Number(b)); }
    exec(h, opFp((CMP << 2) | fmt, F2, F1, funct3, X6));
    return [getX(h, X6), h.fpu.fflags];
  };
  const FEQ = 2, FLT = 1, FLE = 0;
  const one = dbits(1), two = dbits(2);
  assert.deepEqual(cmp(FEQ, D, one, one), [1n, 0]);
  assert.deepEqual(cmp(FEQ, D, 0n, 1n << 63n), [1n, 0]); // +0 == -0
  assert.deepEqual(cmp(FLT, D, 1n << 63n, 0n), [0n, 0]);
  assert.deepEqual(cmp(FLE, D, 1n << 63n, 0n), [1n, 0]);
  assert.deepEqual(cmp(FLT, D, one, two), [1n, 0]);
  assert.deepEqual(cmp(FLE, D, two, one), [0n, 0]);
  assert.deepEqual(cmp(FEQ, D, QNAN_D, QNAN_D), [0n, 0]);
  assert.deepEqual(cmp(FEQ, D, SNAN_D, one), [0n, NV]);
  assert.deepEqual(cmp(FLT, D, QNAN_D, one), [0n, NV]);
  assert.deepEqual(cmp(FLE, D, one, QNAN_D), [0n, NV]);
  assert.deepEqual(cmp(FEQ, S, BigInt(QNAN_S), 0x3f800000n), [0n, 0]);
  assert.deepEqual(cmp(FEQ, S, BigInt(SNAN_S), 0x3f800000n), [0n, NV]);
  assert.deepEqual(cmp(FLT, S, 0xbf800000n, 0x3f800000n), [1n, 0]);
  assert.deepEqual(cmp(FLE, S, BigInt(QNAN_S), BigInt(QNAN_S)), [0n, NV]);
  // A compare with rd = x0 is discarded (but still sets flags).
  const h = make();
  setD(h, F1, QNAN_D);
  exec(h, opFp((CMP << 2) | D, F1, F1, FLT, 0));
  assert.deepEqual([h.xlo[0], h.xhi[0], h.fpu.fflags], [0, 0, NV]);
});

test('FMIN/FMAX: -0 < +0, NaN operands ignored, sNaN raises NV', () => {
  const mm = (max: boolean, fmt: number, a: bigint, b: bigint): [bigint, number] => {
    const h = make();
    if (fmt === D) { setD(h, F1, a); setD(h, F2, b); } else { setS(h, F1, Number(a)); setS(h, F2, Number(b)); }
    exec(h, opFp((MINMAX << 2) | fmt, F2, F1, max ? 1 : 0, F3));
    return [fmt === D ? getD(h, F3) : BigInt(getS(h, F3)), h.fpu.fflags];
  };
  const NZ = 1n << 63n, one = dbits(1), two = dbits(2);
  assert.deepEqual(mm(false, D, 0n, NZ), [NZ, 0]);
  assert.deepEqual(mm(false, D, NZ, 0n), [NZ, 0]);
  assert.deepEqual(mm(true, D, NZ, 0n), [0n, 0]);
  assert.deepEqual(mm(true, D, 0n, NZ), [0n, 0]);
  assert.deepEqual(mm(false, D, two, one), [one, 0]);
  assert.deepEqual(mm(true, D, two, one), [two, 0]);
  assert.deepEqual(mm(false, D, QNAN_D, one), [one, 0]);
  assert.deepEqual(mm(true, D, one, QNAN_D), [one, 0]);
  assert.deepEqual(mm(false, D, SNAN_D, one), [one, NV]);
  assert.deepEqual(mm(true, D, one, SNAN_D), [one, NV]);
  assert.deepEqual(mm(false, D, QNAN_D, QNAN_D), [CANON_D, 0]);
  assert.deepEqual(mm(true, D, SNAN_D, QNAN_D), [CANON_D, NV]);
  assert.deepEqual(mm(false, S, 0n, 0x80000000n), [0x80000000n, 0]);
  assert.deepEqual(mm(true, S, 0x80000000n, 0n), [0n, 0]);
  assert.deepEqual(mm(true, S, BigInt(SNAN_S), 0xbf800000n), [0xbf800000n, NV]);
  assert.deepEqual(mm(false, S, BigInt(QNAN_S), BigInt(SNAN_S)), [BigInt(CANON_S), NV]);
  assert.deepEqual(mm(true, S, 0xff800000n, 0x7f7fffffn), [0x7f7fffffn, 0]);
});

test('FCLASS: all ten classes in both formats', () => {
  const cases: Array<[bigint, number, number]> = [
    // double bits, single bits, class bit
    [NINF_D, 0xff800000, 0],
    [dbits(-1.5), 0xbfc00000, 1],
    [0x800fffffffffffffn, 0x807fffff, 2],
    [1n << 63n, 0x80000000, 3],
    [0n, 0x00000000, 4],
    [0x0000000000000001n, 0x00000001, 5],
    [dbits(1.5), 0x3fc00000, 6],
    [INF_D, 0x7f800000, 7],
    [SNAN_D, SNAN_S, 8],
    [QNAN_D, QNAN_S, 9],
  ];
  const h = make();
  for (const [d, s, cls] of cases) {
    setD(h, F1, d);
    exec(h, opFp((MV_X << 2) | D, 0, F1, 1, X6));
    assert.equal(getX(h, X6), 1n << BigInt(cls), `fclass.d ${d.toString(16)}`);
    setS(h, F1, s);
    exec(h, opFp((MV_X << 2) | S, 0, F1, 1, X6));
    assert.equal(getX(h, X6), 1n << BigInt(cls), `fclass.s ${s.toString(16)}`);
    assert.equal(h.fpu.fflags, 0);
  }
  // Negative single sNaN is still class 8.
  setS(h, F1, 0xff800001 | 0);
  exec(h, opFp((MV_X << 2) | S, 0, F1, 1, X6));
  assert.equal(getX(h, X6), 1n << 8n);
});

test('float to integer conversions: rounding, saturation, NV and NX', () => {
  const W = 0, WU = 1, L = 2, LU = 3;
  const cvt = (kind: number, fmt: number, x: number, rm: number = RTZ): [bigint, number] => {
    const h = make();
    if (fmt === D) setD(h, F1, dbits(x)); else setS(h, F1, sbits(x));
    exec(h, opFp((CVT_IF << 2) | fmt, kind, F1, rm, X6));
    return [getX(h, X6), h.fpu.fflags];
  };
  const cvtBits = (kind: number, bits: bigint): [bigint, number] => {
    const h = make();
    setD(h, F1, bits);
    exec(h, opFp((CVT_IF << 2) | D, kind, F1, RTZ, X6));
    return [getX(h, X6), h.fpu.fflags];
  };
  const sext32 = (v: number): bigint => BigInt.asUintN(64, BigInt(v | 0));
  // FCVT.W.D
  assert.deepEqual(cvt(W, D, 2 ** 31), [0x7fffffffn, NV]);
  assert.deepEqual(cvt(W, D, 2 ** 31 - 1), [0x7fffffffn, 0]);
  assert.deepEqual(cvt(W, D, -(2 ** 31)), [sext32(-(2 ** 31)), 0]);
  assert.deepEqual(cvt(W, D, -(2 ** 31) - 1), [sext32(-(2 ** 31)), NV]);
  assert.deepEqual(cvt(W, D, -(2 ** 31) - 0.5), [sext32(-(2 ** 31)), NX]); // RTZ brings it in range
  assert.deepEqual(cvt(W, D, 2 ** 31 - 0.5, RNE), [0x7fffffffn, NV]); // ties to even: 2^31
  assert.deepEqual(cvt(W, D, 2 ** 31 - 0.5, RTZ), [0x7fffffffn, NX]);
  assert.deepEqual(cvtBits(W, CANON_D), [0x7fffffffn, NV]);
  assert.deepEqual(cvtBits(W, SNAN_D | (1n << 63n)), [0x7fffffffn, NV]); // NaN saturates high whatever its sign
  assert.deepEqual(cvtBits(W, INF_D), [0x7fffffffn, NV]);
  assert.deepEqual(cvtBits(W, NINF_D), [sext32(-(2 ** 31)), NV]);
  assert.deepEqual(cvt(W, D, -1.5, RTZ), [sext32(-1), NX]);
  // Each rounding mode on ties and non-ties.
  const modes: Array<[number, number, number, number, number]> = [
    // rm, 2.5, -2.5, 1.2, -1.7
    [RNE, 2, -2, 1, -2], [RTZ, 2, -2, 1, -1], [RDN, 2, -3, 1, -2], [RUP, 3, -2, 2, -1], [RMM, 3, -3, 1, -2],
  ];
  for (const [rm, a, b, c, d] of modes) {
    assert.deepEqual(cvt(W, S, 2.5, rm), [sext32(a), NX], `2.5 rm=${rm}`);
    assert.deepEqual(cvt(W, S, -2.5, rm), [sext32(b), NX], `-2.5 rm=${rm}`);
    assert.deepEqual(cvt(L, D, 1.2, rm), [sext32(c), NX], `1.2 rm=${rm}`);
    assert.deepEqual(cvt(L, D, -1.7, rm), [sext32(d), NX], `-1.7 rm=${rm}`);
  }
  assert.deepEqual(cvt(W, S, 3.5, RNE), [4n, NX]);
  // FCVT.WU: 32-bit results are sign-extended on RV64.
  assert.deepEqual(cvt(WU, D, 4294967295), [0xffffffffffffffffn, 0]);
  assert.deepEqual(cvt(WU, D, 4294967296), [0xffffffffffffffffn, NV]);
  assert.deepEqual(cvt(WU, D, 2 ** 31), [0xffffffff80000000n, 0]);
  assert.deepEqual(cvt(WU, D, -1), [0n, NV]);
  assert.deepEqual(cvt(WU, D, -0.5, RTZ), [0n, NX]); // rounds to 0: valid
  assert.deepEqual(cvt(WU, D, -0.5, RDN), [0n, NV]); // rounds to -1: invalid
  assert.deepEqual(cvtBits(WU, CANON_D), [0xffffffffffffffffn, NV]);
  assert.deepEqual(cvtBits(WU, NINF_D), [0n, NV]);
  assert.deepEqual(cvtBits(WU, 1n << 63n), [0n, 0]); // -0
  // FCVT.L / FCVT.LU
  assert.deepEqual(cvt(L, D, 2 ** 63), [0x7fffffffffffffffn, NV]);
  assert.deepEqual(cvt(L, D, -(2 ** 63)), [0x8000000000000000n, 0]);
  assert.deepEqual(cvtBits(L, 0xc3e0000000000001n), [0x8000000000000000n, NV]);
  assert.deepEqual(cvt(L, D, 2 ** 62 + 2 ** 10), [0x4000000000000400n, 0]);
  assert.deepEqual(cvt(L, D, -(2 ** 62) - 2 ** 10), [BigInt.asUintN(64, -(2n ** 62n) - 1024n), 0]);
  assert.deepEqual(cvt(L, S, -123456.75, RNE), [BigInt.asUintN(64, -123457n), NX]);
  assert.deepEqual(cvtBits(L, CANON_D), [0x7fffffffffffffffn, NV]);
  assert.deepEqual(cvtBits(L, NINF_D), [0x8000000000000000n, NV]);
  assert.deepEqual(cvt(LU, D, -1.0), [0n, NV]);
  assert.deepEqual(cvt(LU, D, -0.5, RTZ), [0n, NX]);
  assert.deepEqual(cvt(LU, D, -0.5, RUP), [0n, NX]);
  assert.deepEqual(cvt(LU, D, -0.5, RDN), [0n, NV]);
  assert.deepEqual(cvt(LU, D, -0.5, RNE), [0n, NX]); // ties to even: -0
  assert.deepEqual(cvt(LU, D, -0.5, RMM), [0n, NV]); // ties away: -1
  assert.deepEqual(cvt(LU, D, 2 ** 64), [0xffffffffffffffffn, NV]);
  assert.deepEqual(cvtBits(LU, 0x43efffffffffffffn), [0xfffffffffffff800n, 0]);
  assert.deepEqual(cvt(LU, S, 2 ** 63), [0x8000000000000000n, 0]);
  assert.deepEqual(cvtBits(LU, CANON_D), [0xffffffffffffffffn, NV]);
});

test('integer to float conversions with every rounding mode', () => {
  const W = 0, WU = 1, L = 2, LU = 3;
  const cvt = (kind: number, fmt: number, v: bigint, rm: number): [bigint, number] => {
    const h = make();
    setX(h, X5, BigInt.asUintN(64, v));
    exec(h, opFp((CVT_FI << 2) | fmt, kind, X5, rm, F3));
    return [fmt === D ? getD(h, F3) : BigInt(getS(h, F3)), h.fpu.fflags];
  };
  // 2^63 - 1 to single.
  const maxL: Array<[number, bigint]> = [[RNE, 0x5f000000n], [RTZ, 0x5effffffn], [RDN, 0x5effffffn], [RUP, 0x5f000000n], [RMM, 0x5f000000n]];
  for (const [rm, want] of maxL) assert.deepEqual(cvt(L, S, (1n << 63n) - 1n, rm), [want, NX], `rm=${rm}`);
  // -(2^63 - 1): mirror image.
  const minL: Array<[number, bigint]> = [[RNE, 0xdf000000n], [RTZ, 0xdeffffffn], [RDN, 0xdf000000n], [RUP, 0xdeffffffn], [RMM, 0xdf000000n]];
  for (const [rm, want] of minL) assert.deepEqual(cvt(L, S, -((1n << 63n) - 1n), rm), [want, NX], `rm=${rm}`);
  assert.deepEqual(cvt(L, S, -(1n << 63n), RNE), [0xdf000000n, 0]);
  // 2^60 + 2^36 + 1: rounding to double first (dropping the 1) would leave an exact
  // tie and round down; the correctly rounded single rounds up.
  assert.deepEqual(cvt(L, S, (1n << 60n) + (1n << 36n) + 1n, RNE), [0x5d800001n, NX]);
  assert.deepEqual(cvt(L, S, (1n << 60n) + (1n << 36n), RNE), [0x5d800000n, NX]); // the real tie
  assert.deepEqual(cvt(L, S, (1n << 60n) + (1n << 36n), RMM), [0x5d800001n, NX]);
  // 2^64 - 1 unsigned.
  assert.deepEqual(cvt(LU, S, -1n, RNE), [0x5f800000n, NX]);
  assert.deepEqual(cvt(LU, S, -1n, RTZ), [0x5f7fffffn, NX]);
  assert.deepEqual(cvt(LU, D, -1n, RNE), [0x43f0000000000000n, NX]);
  assert.deepEqual(cvt(LU, D, -1n, RDN), [0x43efffffffffffffn, NX]);
  assert.deepEqual(cvt(L, D, (1n << 63n) - 1n, RNE), [0x43e0000000000000n, NX]);
  assert.deepEqual(cvt(L, D, (1n << 63n) - 1n, RTZ), [0x43dfffffffffffffn, NX]);
  assert.deepEqual(cvt(L, D, -((1n << 53n) + 1n), RUP), [dbits(-(2 ** 53)), NX]);
  assert.deepEqual(cvt(L, D, -((1n << 53n) + 1n), RDN), [dbits(-(2 ** 53) - 2), NX]);
  assert.deepEqual(cvt(L, D, (1n << 53n) + 2n, RNE), [dbits(2 ** 53 + 2), 0]);
  // 32-bit sources ignore the upper half of the register.
  assert.deepEqual(cvt(W, D, 0x12345678ffffffffn, RNE), [dbits(-1), 0]);
  assert.deepEqual(cvt(WU, D, 0x12345678ffffffffn, RNE), [dbits(4294967295), 0]);
  assert.deepEqual(cvt(W, S, (1n << 24n) + 1n, RNE), [0x4b800000n, NX]);
  assert.deepEqual(cvt(W, S, (1n << 24n) + 1n, RUP), [0x4b800001n, NX]);
  assert.deepEqual(cvt(WU, S, 0xffffffffn, RTZ), [0x4f7fffffn, NX]);
  assert.deepEqual(cvt(L, S, 0n, RDN), [0n, 0]); // +0, even when rounding down
});

test('FMA rounds once', () => {
  const fma = (op: number, fmt: number, a: number, b: number, c: number, rm: number = RNE): [number, number] => {
    const h = make();
    if (fmt === D) {
      h.fpu.f64[F1] = a; h.fpu.f64[F2] = b; h.fpu.f64[F4] = c;
      exec(h, r4(op, D, rm));
      return [h.fpu.f64[F3], h.fpu.fflags];
    }
    setS(h, F1, sbits(a)); setS(h, F2, sbits(b)); setS(h, F4, sbits(c));
    exec(h, r4(op, S, rm));
    return [h.fpu.f32[2 * F3], h.fpu.fflags];
  };
  // (1 + 2^-30)(1 - 2^-30) - 1 = -2^-60 exactly; a separate multiply would round the product to 1 and give 0.
  assert.deepEqual(fma(FMADD, D, 1 + 2 ** -30, 1 - 2 ** -30, -1), [-(2 ** -60), 0]);
  assert.deepEqual(fma(FMSUB, D, 1 + 2 ** -30, 1 - 2 ** -30, 1), [-(2 ** -60), 0]);
  assert.deepEqual(fma(FNMSUB, D, 1 + 2 ** -30, 1 - 2 ** -30, 1), [2 ** -60, 0]);
  assert.deepEqual(fma(FNMADD, D, 1 + 2 ** -30, 1 - 2 ** -30, -1), [2 ** -60, 0]);
  assert.deepEqual(fma(FMADD, S, 1 + 2 ** -12, 1 - 2 ** -12, -1), [-(2 ** -24), 0]);
  // 0.1 * 10 - 1: the exact residue of the rounded 0.1.
  assert.deepEqual(fma(FMADD, D, 0.1, 10, -1), [2 ** -54, 0]);
  // Inexact: (1 + 2^-52)^2 = 1 + 2^-51 + 2^-104; the 2^-104 decides directed modes.
  const e = 1 + 2 ** -52;
  assert.deepEqual(fma(FMADD, D, e, e, 0), [1 + 2 ** -51, NX]);
  assert.deepEqual(fma(FMADD, D, e, e, 0, RUP), [1 + 3 * 2 ** -52, NX]);
  assert.deepEqual(fma(FMADD, D, e, e, 0, RTZ), [1 + 2 ** -51, NX]);
  // 2^-51 + 2^-104 needs 54 bits: a tie, to even.
  assert.deepEqual(fma(FMADD, D, e, e, -1, RNE), [2 ** -51, NX]);
  assert.deepEqual(fma(FMADD, D, e, e, -1, RMM), [2 ** -51 + 2 ** -103, NX]);
  // Single: -2^-24(1 - 2^-36) + (1 + 2^-23) = 1 + 2^-24 + 2^-60, just above a tie.
  // Rounding the sum to double first would make it an exact tie and round to 1.
  const a = -(1 + 2 ** -18) * 2 ** -12, b = (1 - 2 ** -18) * 2 ** -12;
  assert.deepEqual(fma(FMADD, S, a, b, 1 + 2 ** -23), [1 + 2 ** -23, NX]);
  assert.deepEqual(fma(FMADD, S, a, b, 1 + 2 ** -23, RTZ), [1, NX]);
  // Signed zeros: the product sign and addend sign combine as in addition.
  const z = (op: number, rm: number): bigint => {
    const h = make();
    h.fpu.f64[F1] = 0; h.fpu.f64[F2] = 1; h.fpu.f64[F4] = 0;
    exec(h, r4(op, D, rm));
    return getD(h, F3);
  };
  assert.equal(z(FMADD, RNE), 0n); // +0 + +0
  assert.equal(z(FMSUB, RNE), 0n); // +0 - +0
  assert.equal(z(FMSUB, RDN), 1n << 63n);
  assert.equal(z(FNMADD, RNE), 1n << 63n); // -0 - +0
  assert.equal(z(FNMSUB, RNE), 0n); // -0 + +0
  // inf * 0 is invalid even with a quiet NaN addend.
  const h = make();
  setD(h, F1, INF_D); setD(h, F2, 0n); setD(h, F4, QNAN_D);
  exec(h, r4(FMADD, D, RNE));
  assert.deepEqual([getD(h, F3), h.fpu.fflags], [CANON_D, NV]);
  // inf - inf is invalid; inf + finite is exact.
  setD(h, F2, dbits(2)); setD(h, F4, INF_D);
  exec(h, r4(FMSUB, D, RNE));
  assert.deepEqual([getD(h, F3), h.fpu.fflags], [CANON_D, NV]);
  exec(h, r4(FMADD, D, RNE));
  assert.deepEqual([getD(h, F3), h.fpu.fflags], [INF_D, 0]);
  // Underflow through FMA: tiny product plus nothing.
  assert.deepEqual(fma(FMADD, D, 2 ** -600, 2 ** -600, 0), [0, UF | NX]);
  assert.deepEqual(fma(FMADD, D, 2 ** -600, 2 ** -600, 0, RUP), [2 ** -1074, UF | NX]);
  assert.deepEqual(fma(FMADD, D, 2 ** 600, 2 ** 600, -(2 ** 1000)), [Infinity, OF | NX]);
});

test('moves and sign injection never raise flags', () => {
  const h = make();
  setD(h, F1, dbits(-3.5));
  setD(h, F2, dbits(2));
  exec(h, opFp((SGNJ << 2) | D, F2, F1, 0, F3));
  assert.equal(h.fpu.f64[F3], 3.5);
  exec(h, opFp((SGNJ << 2) | D, F2, F1, 1, F3));
  assert.equal(h.fpu.f64[F3], -3.5);
  exec(h, opFp((SGNJ << 2) | D, F1, F1, 2, F3)); // fabs
  assert.equal(h.fpu.f64[F3], 3.5);
  // rd may equal a source.
  exec(h, opFp((SGNJ << 2) | D, F2, F1, 2, F1));
  assert.equal(h.fpu.f64[F1], -3.5);
  setX(h, X5, 0x400921fb54442d18n);
  exec(h, opFp((MV_F << 2) | D, 0, X5, 0, F3));
  assert.equal(h.fpu.f64[F3], Math.PI);
  exec(h, opFp((MV_X << 2) | D, 0, F3, 0, X6));
  assert.equal(getX(h, X6), 0x400921fb54442d18n);
  // Writes to x0 are discarded.
  exec(h, opFp((MV_X << 2) | D, 0, F3, 0, 0));
  assert.deepEqual([h.xlo[0], h.xhi[0]], [0, 0]);
  exec(h, opFp((CVT_IF << 2) | D, 2, F3, RTZ, 0));
  assert.deepEqual([h.xlo[0], h.xhi[0]], [0, 0]);
  assert.equal(h.fpu.fflags, NX);
});

test('fflags accumulate', () => {
  const h = make();
  h.fpu.fflags = 0;
  h.fpu.f64[F1] = 1; h.fpu.f64[F2] = 3;
  assert.equal(h.fpu.execute(arith(DIV, D, RNE)), true);
  h.fpu.f64[F2] = 0;
  assert.equal(h.fpu.execute(arith(DIV, D, RNE)), true);
  assert.equal(h.fpu.fflags, NX | DZ);
});

test('save and restore', () => {
  const h = make();
  for (let r = 0; r < 32; r++) h.fpu.f64[r] = r + 0.25;
  setD(h, 7, SNAN_D);
  h.fpu.fflags = NX | OF;
  h.fpu.frm = RUP;
  const s = h.fpu.save();
  assert.equal(s.version, 1);
  assert.equal(s.regs.length, 64);
  const copy = JSON.parse(JSON.stringify(s)) as typeof s;
  const g = make();
  g.fpu.restore(copy);
  assert.deepEqual(Array.from(g.fpu.i32), Array.from(h.fpu.i32));
  assert.equal(getD(g, 7), SNAN_D);
  assert.equal(g.fpu.fflags, NX | OF);
  assert.equal(g.fpu.frm, RUP);
  assert.throws(() => g.fpu.restore({ ...s, version: 2 as 1 }), /version/);
  assert.throws(() => g.fpu.restore({ ...s, regs: [1, 2] }), /64/);
});

// The fast paths (JS doubles + error-free transformations) must agree bit for bit,
// flags included, with the exact BigInt reference they fall back to.
test('fast paths agree with the exact reference on random operands', () => {
  let seed = 0x9e3779b9;
  const next = (): number => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    return seed >>> 0;
  };
  const randD = (): bigint => {
    const k = next() % 4;
    const sign = BigInt(next() & 1) << 63n;
    const exp = k === 0 ? BigInt(next() % 2047) : k === 1 ? BigInt(1023 - 40 + (next() % 80)) : k === 2 ? BigInt(next() % 64) : BigInt(1023 + (next() % 4));
    let frac = (BigInt(next() & 0xfffff) << 32n) | BigInt(next());
    if ((next() & 3) === 0) frac &= ~((1n << BigInt(next() % 52)) - 1n);
    return sign | (exp << 52n) | frac;
  };
  const randS = (): number => {
    const k = next() % 3;
    const exp = k === 0 ? next() % 255 : k === 1 ? 127 - 20 + (next() % 40) : 127 + (next() % 3);
    let frac = next() & 0x7fffff;
    if ((next() & 3) === 0) frac &= ~((1 << (next() % 23)) - 1);
    return ((next() & 1) << 31) | (exp << 23) | frac;
  };
  const soft = new SoftFloat();
  const h = make();
  for (let i = 0; i < 20000; i++) {
    const fmt = next() & 1;
    const rm = next() % 8 < 5 ? RNE : next() % 5;
    const k = next() % 6;
    const sub = (next() & 1) === 1;
    const ops = fmt === D ? [randD(), randD(), randD()] : [BigInt(randS() >>> 0), BigInt(randS() >>> 0), BigInt(randS() >>> 0)];
    if (k === 4 && (next() & 1) === 1) {
      // Addend close to minus the product, for cancellation.
      ops[2] = soft.mul(ops[0], ops[1], fmt, RNE) ^ (fmt === D ? 1n << 63n : 1n << 31n);
      ops[2] ^= BigInt(next() & 7);
      soft.flags = 0;
    }
    for (let r = 0; r < 3; r++) {
      if (fmt === D) setD(h, F1 + r, ops[r]); else setS(h, F1 + r, Number(ops[r]));
    }
    let want: bigint;
    let insn: number;
    switch (k) {
      case 0: insn = arith(sub ? SUB : ADD, fmt, rm); want = sub ? soft.sub(ops[0], ops[1], fmt, rm) : soft.add(ops[0], ops[1], fmt, rm); break;
      case 1: insn = arith(MUL, fmt, rm); want = soft.mul(ops[0], ops[1], fmt, rm); break;
      case 2: insn = arith(DIV, fmt, rm); want = soft.div(ops[0], ops[1], fmt, rm); break;
      case 3: insn = opFp((SQRT << 2) | fmt, 0, F1, rm, F4); want = soft.sqrt(ops[0] & (fmt === D ? ~(1n << 63n) : 0x7fffffffn), fmt, rm);
        if (fmt === D) setD(h, F1, ops[0] & ~(1n << 63n)); else setS(h, F1, Number(ops[0] & 0x7fffffffn));
        break;
      case 4: insn = r4(sub ? FNMSUB : FMADD, fmt, rm, F4, F1, F2, F3); want = soft.fma(ops[0], ops[1], ops[2], sub, false, fmt, rm); break;
      default:
        if (fmt === D) {
          insn = opFp((CVT_FF << 2) | S, 1, F1, rm, F4); want = soft.convert(ops[0], D, S, rm);
        } else {
          insn = opFp((CVT_FI << 2) | S, 2, X5, rm, F4);
          const v = BigInt.asIntN(64, (ops[0] << 32n) | ops[1]) >> BigInt(next() % 40);
          setX(h, X5, BigInt.asUintN(64, v));
          want = soft.fromInt(v, S, rm);
        }
    }
    const wantFlags = soft.flags;
    soft.flags = 0;
    const target = k <= 2 ? F3 : F4;
    exec(h, insn);
    const resultFmt = k === 5 ? S : fmt;
    const got = resultFmt === D ? getD(h, target) : BigInt(getS(h, target));
    assert.deepEqual([got.toString(16), h.fpu.fflags], [want.toString(16), wantFlags],
      `case ${i}: k=${k} fmt=${fmt} rm=${rm} ops=${ops.map((o) => o.toString(16)).join(',')}`);
  }
});
