/**
 * The RISC-V F and D extensions (unprivileged spec, chapters "F" and "D"):
 * the 32 x 64-bit floating-point registers, fcsr, and every computational
 * instruction (major opcodes OP-FP, MADD, MSUB, NMSUB, NMADD). Loads and
 * stores live in the interpreter.
 *
 * Two implementations cooperate:
 * - a fast path on JS doubles, for the common cases: IEEE arithmetic on doubles
 *   is exact round-to-nearest-even, error-free transformations (TwoSum, Dekker's
 *   product) tell whether a result is inexact, and single-precision results are
 *   computed in double and rounded once more with `Math.fround` (correct for
 *   + - * / sqrt since 53 >= 2*24 + 2; for FMA via round-to-odd);
 * - {@link SoftFloat}, an exact BigInt implementation that handles everything
 *   else: directed rounding of inexact results, results near underflow or
 *   overflow, NaNs, and infinities.
 * The fast path only answers when it is sure; otherwise it falls through to
 * the exact path, which is the reference.
 */

/** fflags bits (unprivileged spec, "Accrued Exception Flags"). */
export const FFlag = { NX: 1, UF: 2, OF: 4, DZ: 8, NV: 16 } as const;

/** Rounding modes, as encoded in the rm field and frm. */
export const RoundingMode = { RNE: 0, RTZ: 1, RDN: 2, RUP: 3, RMM: 4, DYN: 7 } as const;

const NX = 1, UF = 2, OF = 4, DZ = 8, NV = 16;
// RTZ (1) is the default of every rounding switch.
const RNE = 0, RDN = 2, RUP = 3, RMM = 4;

const TWO32 = 4294967296;
const MIN_NORMAL_S = 2 ** -126;
/** Canonical single NaN bits. */
const CANON_S = 0x7fc00000;
/** High word of the canonical double NaN (low word 0). */
const CANON_D_HI = 0x7ff80000;

// Guards for the double fast paths: inside them no intermediate of the
// error-free transformations overflows or underflows.
const BIG_ADD = 2 ** 1022;
const BIG_SPLIT = 2 ** 995;
const BIG_SUM = 2 ** 1020;
const TINY_MUL = 2 ** -968;
const TINY_RES = 2 ** -960;
const BIG_DIV = 2 ** 960;

// Scratch views to look at a double's bits without allocating.
const scratch = new ArrayBuffer(8);
const scratchF64 = new Float64Array(scratch);
const scratchI32 = new Int32Array(scratch);

/** Rounding error of s = fl(a + b): a + b = s + err exactly (Knuth's TwoSum). */
function twoSumErr(a: number, b: number, s: number): number {
  const bb = s - a;
  return (a - (s - bb)) + (b - bb);
}

/** Rounding error of p = fl(a * b): a * b = p + err exactly (Dekker/Veltkamp), within the guards. */
function mulErr(a: number, b: number, p: number): number {
  let t = 134217729 * a; // 2^27 + 1
  const ah = t - (t - a), al = a - ah;
  t = 134217729 * b;
  const bh = t - (t - b), bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

/**
 * Round-to-odd of the exact value s + err, where s = RN(s + err) and err != 0:
 * s itself if its last significand bit is odd, else its neighbour toward err.
 * Rounding a round-to-odd double again to single gives the correctly rounded
 * single (no double-rounding error, since 53 >= 24 + 2).
 */
function toOdd(s: number, err: number): number {
  scratchF64[0] = s;
  const lo = scratchI32[0];
  if ((lo & 1) !== 0) return s;
  if ((err > 0) === (s > 0)) {
    scratchI32[0] = lo + 1; // lo is even: no carry
  } else if (lo === 0) {
    scratchI32[0] = -1;
    scratchI32[1] = scratchI32[1] - 1;
  } else {
    scratchI32[0] = lo - 1;
  }
  return scratchF64[0];
}

// ---------------------------------------------------------------------------
// Exact reference arithmetic on bit patterns (BigInt).

/** Parameters of a binary interchange format. */
interface Format {
  /** Precision in bits, hidden bit included. */
  p: number;
  emin: number;
  bias: number;
  expAll: number;
  signBit: bigint;
  infBits: bigint;
  fracMask: bigint;
  quietBit: bigint;
  canon: bigint;
}

const FMT_S: Format = {
  p: 24, emin: -126, bias: 127, expAll: 0xff,
  signBit: 1n << 31n, infBits: 0x7f800000n, fracMask: 0x7fffffn, quietBit: 0x400000n, canon: 0x7fc00000n,
};
const FMT_D: Format = {
  p: 53, emin: -1022, bias: 1023, expAll: 0x7ff,
  signBit: 1n << 63n, infBits: 0x7ff0000000000000n, fracMask: (1n << 52n) - 1n,
  quietBit: 1n << 51n, canon: 0x7ff8000000000000n,
};

const ZERO = 0, FINITE = 1, INF = 2, QNAN = 3, SNAN = 4;

/** A decoded operand: value = (-1)^sign * sig * 2^exp when cls is FINITE (sig > 0). */
interface Unpacked {
  cls: number;
  sign: number;
  sig: bigint;
  exp: number;
}

function unpack(bits: bigint, f: Format): Unpacked {
  const fracBits = f.p - 1;
  const sign = (bits & f.signBit) !== 0n ? 1 : 0;
  const e = Number((bits >> BigInt(fracBits)) & BigInt(f.expAll));
  const frac = bits & f.fracMask;
  if (e === f.expAll) {
    const cls = frac === 0n ? INF : (frac & f.quietBit) !== 0n ? QNAN : SNAN;
    return { cls, sign, sig: 0n, exp: 0 };
  }
  if (e === 0) {
    if (frac === 0n) return { cls: ZERO, sign, sig: 0n, exp: 0 };
    return { cls: FINITE, sign, sig: frac, exp: f.emin - fracBits };
  }
  return { cls: FINITE, sign, sig: frac | (1n << BigInt(fracBits)), exp: e - f.bias - fracBits };
}

function bitLength(x: bigint): number {
  return x.toString(2).length;
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLength(n) + 1) >> 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

function roundsUp(rm: number, sign: number, odd: boolean, half: boolean, rest: boolean): boolean {
  switch (rm) {
    case RNE: return half && (rest || odd);
    case RDN: return sign !== 0 && (half || rest);
    case RUP: return sign === 0 && (half || rest);
    case RMM: return half;
    default: return false; // RTZ
  }
}

/**
 * The exact, BigInt implementation of every rounding operation, on raw bit
 * patterns (32-bit for single, 64-bit for double). It is the FPU's slow path
 * and the reference the fast path is tested against. Exceptions accumulate
 * in {@link SoftFloat.flags}.
 */
export class SoftFloat {
  /** Exception flags raised since last cleared (fflags encoding). */
  flags = 0;

  private static fmt(fmt: number): Format {
    return fmt === 0 ? FMT_S : FMT_D;
  }

  /**
   * Rounds (-1)^sign * (sig + sticky) * 2^exp to format f with rounding mode rm,
   * raising NX/UF/OF. sig > 0; when sticky is set sig must hold >= p + 2 bits.
   * Tininess is detected after rounding, as RISC-V specifies.
   */
  private roundPack(sign: number, sig: bigint, exp: number, sticky: boolean, f: Format, rm: number): bigint {
    const p = f.p;
    const n = bitLength(sig);
    const e = exp + n - 1; // value in [2^e, 2^(e+1))
    const q = (e >= f.emin ? e : f.emin) - (p - 1); // exponent of the result's last bit
    const shift = q - exp;
    let m: bigint;
    let half = false;
    let rest = sticky;
    if (shift > 0) {
      const sh = BigInt(shift);
      m = sig >> sh;
      const rem = sig & ((1n << sh) - 1n);
      const h = 1n << (sh - 1n);
      half = rem >= h;
      rest = rest || (rem & (h - 1n)) !== 0n;
    } else {
      m = sig << BigInt(-shift);
    }
    const inexact = half || rest;
    if (roundsUp(rm, sign, (m & 1n) !== 0n, half, rest)) m += 1n;
    // A carry out of the significand bumps the exponent field by itself.
    let bits = (BigInt(q + p - 2 + f.bias) << BigInt(p - 1)) + m;
    if (bits >= f.infBits) {
      this.flags |= OF | NX;
      const toInf = rm === RNE || rm === RMM || (rm === RDN && sign !== 0) || (rm === RUP && sign === 0);
      bits = toInf ? f.infBits : f.infBits - 1n;
    } else if (inexact) {
      this.flags |= NX;
      let tiny = e < f.emin - 1;
      if (e === f.emin - 1) {
        // Tiny unless rounding with an unbounded exponent reaches 2^emin.
        const su = n - p;
        tiny = true;
        if (su > 0) {
          const sh = BigInt(su);
          const mu = sig >> sh;
          const rem = sig & ((1n << sh) - 1n);
          const h = 1n << (sh - 1n);
          const up = roundsUp(rm, sign, (mu & 1n) !== 0n, rem >= h, sticky || (rem & (h - 1n)) !== 0n);
          if (up && mu + 1n === 1n << BigInt(p)) tiny = false;
        }
      }
      if (tiny) this.flags |= UF;
    }
    return sign !== 0 ? bits | f.signBit : bits;
  }

  private nan(a: Unpacked, b: Unpacked, c: Unpacked | null, f: Format): bigint {
    if (a.cls === SNAN || b.cls === SNAN || (c !== null && c.cls === SNAN)) this.flags |= NV;
    return f.canon;
  }

  private signed(bits: bigint, sign: number, f: Format): bigint {
    return sign !== 0 ? bits | f.signBit : bits;
  }

  /** Exact signed sum of two finite nonzero values, rounded. Zero result is +0 (-0 in RDN). */
  private sum(a: Unpacked, b: Unpacked, f: Format, rm: number): bigint {
    const e = Math.min(a.exp, b.exp);
    const va = (a.sign !== 0 ? -a.sig : a.sig) << BigInt(a.exp - e);
    const vb = (b.sign !== 0 ? -b.sig : b.sig) << BigInt(b.exp - e);
    const s = va + vb;
    if (s === 0n) return rm === RDN ? f.signBit : 0n;
    return s < 0n ? this.roundPack(1, -s, e, false, f, rm) : this.roundPack(0, s, e, false, f, rm);
  }

  /** a + b. */
  add(aBits: bigint, bBits: bigint, fmt: number, rm: number): bigint {
    const f = SoftFloat.fmt(fmt);
    const a = unpack(aBits, f), b = unpack(bBits, f);
    if (a.cls >= QNAN || b.cls >= QNAN) return this.nan(a, b, null, f);
    if (a.cls === INF) {
      if (b.cls === INF && a.sign !== b.sign) { this.flags |= NV; return f.canon; }
      return this.signed(f.infBits, a.sign, f);
    }
    if (b.cls === INF) return this.signed(f.infBits, b.sign, f);
    if (a.cls === ZERO && b.cls === ZERO) {
      return a.sign === b.sign ? this.signed(0n, a.sign, f) : rm === RDN ? f.signBit : 0n;
    }
    if (a.cls === ZERO) return bBits;
    if (b.cls === ZERO) return aBits;
    return this.sum(a, b, f, rm);
  }

  /** a - b. */
  sub(aBits: bigint, bBits: bigint, fmt: number, rm: number): bigint {
    return this.add(aBits, bBits ^ SoftFloat.fmt(fmt).signBit, fmt, rm);
  }

  /** a * b. */
  mul(aBits: bigint, bBits: bigint, fmt: number, rm: number): bigint {
    const f = SoftFloat.fmt(fmt);
    const a = unpack(aBits, f), b = unpack(bBits, f);
    if (a.cls >= QNAN || b.cls >= QNAN) return this.nan(a, b, null, f);
    const sign = a.sign ^ b.sign;
    if (a.cls === INF || b.cls === INF) {
      if (a.cls === ZERO || b.cls === ZERO) { this.flags |= NV; return f.canon; }
      return this.signed(f.infBits, sign, f);
    }
    if (a.cls === ZERO || b.cls === ZERO) return this.signed(0n, sign, f);
    return this.roundPack(sign, a.sig * b.sig, a.exp + b.exp, false, f, rm);
  }

  /** a / b. */
  div(aBits: bigint, bBits: bigint, fmt: number, rm: number): bigint {
    const f = SoftFloat.fmt(fmt);
    const a = unpack(aBits, f), b = unpack(bBits, f);
    if (a.cls >= QNAN || b.cls >= QNAN) return this.nan(a, b, null, f);
    const sign = a.sign ^ b.sign;
    if (a.cls === INF) {
      if (b.cls === INF) { this.flags |= NV; return f.canon; }
      return this.signed(f.infBits, sign, f);
    }
    if (b.cls === INF) return this.signed(0n, sign, f);
    if (b.cls === ZERO) {
      if (a.cls === ZERO) { this.flags |= NV; return f.canon; }
      this.flags |= DZ;
      return this.signed(f.infBits, sign, f);
    }
    if (a.cls === ZERO) return this.signed(0n, sign, f);
    // Enough quotient bits (>= p + 2) that the remainder only matters as a sticky bit.
    const k = f.p + 3 + bitLength(b.sig) - bitLength(a.sig);
    const num = a.sig << BigInt(k);
    const quo = num / b.sig;
    return this.roundPack(sign, quo, a.exp - b.exp - k, quo * b.sig !== num, f, rm);
  }

  /** sqrt(a). */
  sqrt(aBits: bigint, fmt: number, rm: number): bigint {
    const f = SoftFloat.fmt(fmt);
    const a = unpack(aBits, f);
    if (a.cls >= QNAN) return this.nan(a, a, null, f);
    if (a.cls === ZERO) return aBits;
    if (a.sign !== 0) { this.flags |= NV; return f.canon; }
    if (a.cls === INF) return aBits;
    let sig = a.sig, exp = a.exp;
    if ((exp & 1) !== 0) { sig <<= 1n; exp -= 1; }
    // Scale by an even power of two so the root has >= p + 2 bits.
    const k = Math.max(0, Math.ceil((2 * f.p + 6 - bitLength(sig)) / 2));
    sig <<= BigInt(2 * k);
    const root = isqrt(sig);
    return this.roundPack(0, root, exp / 2 - k, root * root !== sig, f, rm);
  }

  /**
   * Fused (-1)^negProd * a * b + (-1)^negAdd * c with one rounding
   * (FMADD: 0,0; FMSUB: 0,1; FNMSUB: 1,0; FNMADD: 1,1).
   */
  fma(aBits: bigint, bBits: bigint, cBits: bigint, negProd: boolean, negAdd: boolean, fmt: number, rm: number): bigint {
    const f = SoftFloat.fmt(fmt);
    const a = unpack(aBits, f), b = unpack(bBits, f), c = unpack(cBits, f);
    // RISC-V: inf * 0 raises NV even when the addend is a quiet NaN.
    if ((a.cls === INF && b.cls === ZERO) || (a.cls === ZERO && b.cls === INF)) {
      this.flags |= NV;
      return f.canon;
    }
    if (a.cls >= QNAN || b.cls >= QNAN || c.cls >= QNAN) return this.nan(a, b, c, f);
    const ps = a.sign ^ b.sign ^ (negProd ? 1 : 0);
    const cs = c.sign ^ (negAdd ? 1 : 0);
    if (a.cls === INF || b.cls === INF) {
      if (c.cls === INF && cs !== ps) { this.flags |= NV; return f.canon; }
      return this.signed(f.infBits, ps, f);
    }
    if (c.cls === INF) return this.signed(f.infBits, cs, f);
    if (a.cls === ZERO || b.cls === ZERO) {
      if (c.cls === ZERO) return ps === cs ? this.signed(0n, ps, f) : rm === RDN ? f.signBit : 0n;
      return this.signed(cBits & ~f.signBit, cs, f);
    }
    const prod: Unpacked = { cls: FINITE, sign: ps, sig: a.sig * b.sig, exp: a.exp + b.exp };
    if (c.cls === ZERO) return this.roundPack(ps, prod.sig, prod.exp, false, f, rm);
    c.sign = cs;
    return this.sum(prod, c, f, rm);
  }

  /** Converts between formats (fromFmt, toFmt: 0 = single, 1 = double). */
  convert(bits: bigint, fromFmt: number, toFmt: number, rm: number): bigint {
    const from = SoftFloat.fmt(fromFmt), to = SoftFloat.fmt(toFmt);
    const a = unpack(bits, from);
    if (a.cls >= QNAN) return this.nan(a, a, null, to);
    if (a.cls === INF) return this.signed(to.infBits, a.sign, to);
    if (a.cls === ZERO) return this.signed(0n, a.sign, to);
    return this.roundPack(a.sign, a.sig, a.exp, false, to, rm);
  }

  /** Converts an integer to a float. */
  fromInt(v: bigint, fmt: number, rm: number): bigint {
    const f = SoftFloat.fmt(fmt);
    if (v === 0n) return 0n;
    return v < 0n ? this.roundPack(1, -v, 0, false, f, rm) : this.roundPack(0, v, 0, false, f, rm);
  }
}

// ---------------------------------------------------------------------------

/** The saveable state of an {@link FpUnit}. */
export interface FpUnitState {
  version: 1;
  /** 64 int32 words: register i is words 2i (low) and 2i+1 (high). */
  regs: number[];
  fflags: number;
  frm: number;
}

/**
 * Int32 words of an {@link FpUnit}'s state: the 32 registers (64 words), then
 * fflags, frm and {@link FpUnit.jitFast} (at byte {@link FP_FAST}), and a word
 * of padding. A hart keeps them in RAM's host state area, where the JIT's
 * WebAssembly code reads and writes them.
 */
export const FP_STATE_WORDS = 68;
const FP_FFLAGS = 256;
export const FP_FAST = 264;
/** {@link FpUnit.jitFast} bits. */
export const FpFast = {
  /** FP instructions are enabled and the FP state is already Dirty (mstatus.FS, and vsstatus.FS when V=1). */
  READY: 1,
  /** frm is RNE and fflags.NX is already set: a correctly rounded result that raises at most NX can be written as is. */
  RNE_NX: 2,
  /** frm is RNE (fflags.NX may be clear: a rounded result is written as is only once shown exact). */
  RNE: 4,
} as const;

/** The F/D register file + fcsr, with the hart's integer registers for cross-file moves. */
export class FpUnit {
  /** f64[i] = register i as double. Views share the state's bytes (the host is little-endian). */
  readonly f64: Float64Array;
  /** f32[2*i] = low half of register i as single. */
  readonly f32: Float32Array;
  /** i32[2*i] = low 32 bits, i32[2*i+1] = high 32 bits of register i. */
  readonly i32: Int32Array;
  /** fflags, frm, jitFast (see {@link FP_STATE_WORDS}). */
  private readonly fcsr: Int32Array;

  private readonly xlo: Int32Array;
  private readonly xhi: Int32Array;
  private readonly soft = new SoftFloat();

  /**
   * xlo[i]/xhi[i] are the low/high 32 bits (as int32) of integer register x[i]. Index 0 is never written.
   * `state` ({@link FP_STATE_WORDS} words at an 8-byte aligned offset) holds the registers and fcsr.
   */
  constructor(xlo: Int32Array, xhi: Int32Array, state: Int32Array = new Int32Array(FP_STATE_WORDS)) {
    if (state.length !== FP_STATE_WORDS || state.byteOffset % 8 !== 0) throw new RangeError('FP state must be 68 words, 8-byte aligned');
    this.xlo = xlo;
    this.xhi = xhi;
    this.f64 = new Float64Array(state.buffer, state.byteOffset, 32);
    this.f32 = new Float32Array(state.buffer, state.byteOffset, 64);
    this.i32 = new Int32Array(state.buffer, state.byteOffset, 64);
    this.fcsr = new Int32Array(state.buffer, state.byteOffset + FP_FFLAGS, 3);
  }

  /** Accrued exception flags (fcsr bits 4:0). */
  get fflags(): number { return this.fcsr[0]; }
  set fflags(v: number) { this.fcsr[0] = v; }

  /** Dynamic rounding mode (fcsr bits 7:5). */
  get frm(): number { return this.fcsr[1]; }
  set frm(v: number) { this.fcsr[1] = v; }

  /**
   * What the JIT's translated code may assume about the FP state ({@link FpFast}
   * bits). The JIT clears it whenever it enters translated code and sets it
   * (with {@link noteJitReady}) after an FP instruction it ran in JavaScript,
   * so it only ever holds within one run of translated code, which changes
   * neither fcsr nor mstatus but through those JavaScript paths.
   */
  get jitFast(): number { return this.fcsr[2]; }
  set jitFast(v: number) { this.fcsr[2] = v; }

  /** After an FP instruction executed with FP enabled (the state is now Dirty): what translated code may assume. */
  noteJitReady(): void {
    const rne = this.fcsr[1] === RNE;
    this.fcsr[2] = FpFast.READY | (rne ? FpFast.RNE : 0) | (rne && (this.fcsr[0] & NX) !== 0 ? FpFast.RNE_NX : 0);
  }

  /**
   * Executes one instruction of opcode OP-FP/MADD/MSUB/NMSUB/NMADD given its raw 32-bit encoding.
   * Returns false (and changes nothing) when the encoding is illegal (unknown funct, bad fmt, reserved rm,
   * rs2 field wrong for unary ops, etc.); true otherwise.
   */
  execute(insn: number): boolean {
    const opcode = insn & 0x7f;
    if (opcode === 0x53) return this.opFp(insn);
    if (opcode === 0x43 || opcode === 0x47 || opcode === 0x4b || opcode === 0x4f) return this.opFma(insn, opcode);
    return false;
  }

  /** The registers and fcsr fields as a plain object. */
  save(): FpUnitState {
    return { version: 1, regs: Array.from(this.i32), fflags: this.fflags, frm: this.frm };
  }

  /** Loads a state made by {@link FpUnit.save}. */
  restore(s: FpUnitState): void {
    if (s.version !== 1) throw new Error(`FPU state version ${String(s.version)} is not supported (expected 1)`);
    if (!Array.isArray(s.regs) || s.regs.length !== 64) {
      throw new Error('FPU state must hold 64 register words; the snapshot is corrupt');
    }
    this.i32.set(s.regs);
    this.fflags = s.fflags & 31;
    this.frm = s.frm & 7;
  }

  // --- register access ------------------------------------------------------

  /** Rounding mode for an rm field, or -1 if reserved (rm 5/6, or DYN with frm > 4). */
  private rmOf(funct3: number): number {
    const rm = funct3 === 7 ? this.frm : funct3;
    return rm <= 4 ? rm : -1;
  }

  /** A single operand: NaN-boxed value, or NaN (the canonical NaN) if not boxed. */
  private readS(r: number): number {
    return this.i32[2 * r + 1] === -1 ? this.f32[2 * r] : NaN;
  }

  /** A single operand's bits after unboxing. */
  private bitsS(r: number): number {
    return this.i32[2 * r + 1] === -1 ? this.i32[2 * r] : CANON_S;
  }

  private bigS(r: number): bigint {
    return BigInt(this.bitsS(r) >>> 0);
  }

  private bigD(r: number): bigint {
    return (BigInt(this.i32[2 * r + 1] >>> 0) << 32n) | BigInt(this.i32[2 * r] >>> 0);
  }

  private isSNaNS(r: number): boolean {
    const b = this.bitsS(r);
    return (b & 0x7fc00000) === 0x7f800000 && (b & 0x3fffff) !== 0;
  }

  private isSNaND(r: number): boolean {
    const hi = this.i32[2 * r + 1];
    return (hi & 0x7ff80000) === 0x7ff00000 && ((hi & 0x7ffff) | this.i32[2 * r]) !== 0;
  }

  private writeS(rd: number, v: number): void {
    this.f32[2 * rd] = v;
    this.i32[2 * rd + 1] = -1;
  }

  private writeBitsS(rd: number, bits: number): void {
    this.i32[2 * rd] = bits;
    this.i32[2 * rd + 1] = -1;
  }

  private writeBigS(rd: number, bits: bigint): void {
    this.writeBitsS(rd, Number(bits) | 0);
  }

  private writeBigD(rd: number, bits: bigint): void {
    this.i32[2 * rd] = Number(bits & 0xffffffffn) | 0;
    this.i32[2 * rd + 1] = Number(bits >> 32n) | 0;
  }

  private writeCanonD(rd: number): void {
    this.i32[2 * rd] = 0;
    this.i32[2 * rd + 1] = CANON_D_HI;
  }

  private writeX(rd: number, lo: number, hi: number): void {
    if (rd !== 0) {
      this.xlo[rd] = lo;
      this.xhi[rd] = hi;
    }
  }

  /** Folds the slow path's flags into fflags. */
  private takeSoftFlags(): void {
    this.fflags |= this.soft.flags;
    this.soft.flags = 0;
  }

  // --- decode -----------------------------------------------------------------

  private opFp(insn: number): boolean {
    const rd = (insn >>> 7) & 31, funct3 = (insn >>> 12) & 7;
    const rs1 = (insn >>> 15) & 31, rs2 = (insn >>> 20) & 31;
    const funct7 = insn >>> 25;
    switch (funct7) {
      case 0x00: case 0x04: case 0x08: case 0x0c:
      case 0x01: case 0x05: case 0x09: case 0x0d: {
        const rm = this.rmOf(funct3);
        if (rm < 0) return false;
        const op = funct7 >>> 2;
        if ((funct7 & 1) === 0) {
          if (op <= 1) this.addS(rd, rs1, rs2, op === 1, rm);
          else if (op === 2) this.mulS(rd, rs1, rs2, rm);
          else this.divS(rd, rs1, rs2, rm);
        } else {
          if (op <= 1) this.addD(rd, rs1, rs2, op === 1, rm);
          else if (op === 2) this.mulD(rd, rs1, rs2, rm);
          else this.divD(rd, rs1, rs2, rm);
        }
        return true;
      }
      case 0x2c: case 0x2d: {
        const rm = this.rmOf(funct3);
        if (rm < 0 || rs2 !== 0) return false;
        if (funct7 === 0x2c) this.sqrtS(rd, rs1, rm);
        else this.sqrtD(rd, rs1, rm);
        return true;
      }
      case 0x10: case 0x11:
        if (funct3 > 2) return false;
        if (funct7 === 0x10) this.sgnjS(rd, rs1, rs2, funct3);
        else this.sgnjD(rd, rs1, rs2, funct3);
        return true;
      case 0x14: case 0x15:
        if (funct3 > 1) return false;
        if (funct7 === 0x14) this.minMaxS(rd, rs1, rs2, funct3 === 1);
        else this.minMaxD(rd, rs1, rs2, funct3 === 1);
        return true;
      case 0x20: { // FCVT.S.D
        const rm = this.rmOf(funct3);
        if (rm < 0 || rs2 !== 1) return false;
        this.cvtSD(rd, rs1, rm);
        return true;
      }
      case 0x21: { // FCVT.D.S: exact, but rm is still decoded as usual
        const rm = this.rmOf(funct3);
        if (rm < 0 || rs2 !== 0) return false;
        const a = this.readS(rs1);
        if (a === a) {
          this.f64[rd] = a;
        } else {
          if (this.isSNaNS(rs1)) this.fflags |= NV;
          this.writeCanonD(rd);
        }
        return true;
      }
      case 0x50: case 0x51:
        if (funct3 > 2) return false;
        this.compare(rd, rs1, rs2, funct3, funct7 & 1);
        return true;
      case 0x60: case 0x61: {
        const rm = this.rmOf(funct3);
        if (rm < 0 || rs2 > 3) return false;
        this.toInt(rd, funct7 === 0x60 ? this.readS(rs1) : this.f64[rs1], rs2, rm);
        return true;
      }
      case 0x68: case 0x69: {
        const rm = this.rmOf(funct3);
        if (rm < 0 || rs2 > 3) return false;
        this.fromInt(rd, rs1, rs2, funct7 & 1, rm);
        return true;
      }
      case 0x70: case 0x71:
        if (rs2 !== 0 || funct3 > 1) return false;
        if (funct3 === 1) {
          this.writeX(rd, funct7 === 0x70 ? this.classS(rs1) : this.classD(rs1), 0);
        } else if (funct7 === 0x70) { // FMV.X.W: raw low 32 bits, sign-extended
          const lo = this.i32[2 * rs1];
          this.writeX(rd, lo, lo >> 31);
        } else { // FMV.X.D
          this.writeX(rd, this.i32[2 * rs1], this.i32[2 * rs1 + 1]);
        }
        return true;
      case 0x78: case 0x79:
        if (rs2 !== 0 || funct3 !== 0) return false;
        if (funct7 === 0x78) {
          this.writeBitsS(rd, this.xlo[rs1]);
        } else {
          this.i32[2 * rd] = this.xlo[rs1];
          this.i32[2 * rd + 1] = this.xhi[rs1];
        }
        return true;
      default:
        return false;
    }
  }

  private opFma(insn: number, opcode: number): boolean {
    const fmt = (insn >>> 25) & 3;
    if (fmt > 1) return false;
    const rm = this.rmOf((insn >>> 12) & 7);
    if (rm < 0) return false;
    const rd = (insn >>> 7) & 31, rs1 = (insn >>> 15) & 31, rs2 = (insn >>> 20) & 31, rs3 = insn >>> 27;
    // MADD: a*b+c, MSUB: a*b-c, NMSUB: -a*b+c, NMADD: -a*b-c
    const negProd = opcode >= 0x4b;
    const negAdd = opcode === 0x47 || opcode === 0x4f;
    if (fmt === 0) this.fmaS(rd, rs1, rs2, rs3, negProd, negAdd, rm);
    else this.fmaD(rd, rs1, rs2, rs3, negProd, negAdd, rm);
    return true;
  }

  // --- arithmetic, double -------------------------------------------------------

  private addD(rd: number, rs1: number, rs2: number, neg: boolean, rm: number): void {
    const a = this.f64[rs1], b = neg ? -this.f64[rs2] : this.f64[rs2];
    if (Math.abs(a) < BIG_ADD && Math.abs(b) < BIG_ADD) {
      // Sums of doubles never underflow inexactly; the guard rules out overflow.
      const s = a + b;
      const err = twoSumErr(a, b, s);
      if (err === 0) {
        if (s !== 0 || rm !== RDN) { this.f64[rd] = s; return; }
      } else if (rm === RNE) {
        this.f64[rd] = s;
        this.fflags |= NX;
        return;
      }
    }
    const r = neg ? this.soft.sub(this.bigD(rs1), this.bigD(rs2), 1, rm) : this.soft.add(this.bigD(rs1), this.bigD(rs2), 1, rm);
    this.takeSoftFlags();
    this.writeBigD(rd, r);
  }

  private mulD(rd: number, rs1: number, rs2: number, rm: number): void {
    const a = this.f64[rs1], b = this.f64[rs2];
    const p = a * b, ap = Math.abs(p);
    if (ap >= TINY_MUL && ap < BIG_SUM && Math.abs(a) < BIG_SPLIT && Math.abs(b) < BIG_SPLIT) {
      if (mulErr(a, b, p) === 0) { this.f64[rd] = p; return; }
      if (rm === RNE) { this.f64[rd] = p; this.fflags |= NX; return; }
    } else if (p === 0 && (a === 0 || b === 0)) {
      this.f64[rd] = p;
      return;
    }
    const r = this.soft.mul(this.bigD(rs1), this.bigD(rs2), 1, rm);
    this.takeSoftFlags();
    this.writeBigD(rd, r);
  }

  private divD(rd: number, rs1: number, rs2: number, rm: number): void {
    const a = this.f64[rs1], b = this.f64[rs2];
    const q = a / b, aq = Math.abs(q), aa = Math.abs(a), ab = Math.abs(b);
    // q*b ~ a, so bounding a too keeps Dekker's product of q and b clear of overflow.
    if (aq >= TINY_RES && aq <= BIG_DIV && aa >= TINY_RES && aa <= BIG_SUM && ab >= TINY_RES && ab <= BIG_DIV) {
      // q is exact iff the remainder a - q*b is 0; a - fl(q*b) is exact (Sterbenz).
      const p = q * b;
      if (a - p === mulErr(q, b, p)) { this.f64[rd] = q; return; }
      if (rm === RNE) { this.f64[rd] = q; this.fflags |= NX; return; }
    } else if (a === 0 && b !== 0 && b === b) {
      this.f64[rd] = q;
      return;
    }
    const r = this.soft.div(this.bigD(rs1), this.bigD(rs2), 1, rm);
    this.takeSoftFlags();
    this.writeBigD(rd, r);
  }

  private sqrtD(rd: number, rs1: number, rm: number): void {
    const a = this.f64[rs1];
    if (a >= TINY_RES && a <= BIG_SUM) {
      const r = Math.sqrt(a), p = r * r;
      if (p === a && mulErr(r, r, p) === 0) { this.f64[rd] = r; return; }
      if (rm === RNE) { this.f64[rd] = r; this.fflags |= NX; return; }
    } else if (a === 0 || a === Infinity) {
      this.f64[rd] = a;
      return;
    }
    const r = this.soft.sqrt(this.bigD(rs1), 1, rm);
    this.takeSoftFlags();
    this.writeBigD(rd, r);
  }

  private fmaD(rd: number, rs1: number, rs2: number, rs3: number, negProd: boolean, negAdd: boolean, rm: number): void {
    const x = negProd ? -this.f64[rs1] : this.f64[rs1], y = this.f64[rs2];
    const z = negAdd ? -this.f64[rs3] : this.f64[rs3];
    const uh = x * y;
    const au = Math.abs(uh), az = Math.abs(z);
    if (au >= TINY_MUL && au < BIG_SUM && az < BIG_SUM && Math.abs(x) < BIG_SPLIT && Math.abs(y) < BIG_SPLIT) {
      // Boldo & Melquiond, "Emulation of FMA and correctly rounded sums: proved
      // algorithms using rounding to odd" (IEEE TC 2008): x*y = uh + ul,
      // z + uh = th + tl, result = RN(th + RO(tl + ul)).
      const ul = mulErr(x, y, uh);
      const th = z + uh, tl = twoSumErr(z, uh, th);
      const v0 = tl + ul, ve = twoSumErr(tl, ul, v0);
      const v = ve === 0 ? v0 : toOdd(v0, ve);
      const r = th + v, ar = Math.abs(r);
      if (ar >= TINY_RES && ar < BIG_SUM) {
        if (ve === 0 && twoSumErr(th, v, r) === 0) { this.f64[rd] = r; return; }
        if (rm === RNE) { this.f64[rd] = r; this.fflags |= NX; return; }
      }
    } else if (uh === 0 && (x === 0 || y === 0) && az < Infinity && (z !== 0 || rm !== RDN)) {
      this.f64[rd] = uh + z;
      return;
    }
    const r = this.soft.fma(this.bigD(rs1), this.bigD(rs2), this.bigD(rs3), negProd, negAdd, 1, rm);
    this.takeSoftFlags();
    this.writeBigD(rd, r);
  }

  // --- arithmetic, single --------------------------------------------------------
  // Operands are exact in double; the double operation followed by fround is the
  // correctly rounded RNE single result. Exact results are valid in every mode.

  private addS(rd: number, rs1: number, rs2: number, neg: boolean, rm: number): void {
    const a = this.readS(rs1), b = neg ? -this.readS(rs2) : this.readS(rs2);
    const s = a + b;
    if (Math.abs(s) < Infinity) {
      const err = twoSumErr(a, b, s), r = Math.fround(s);
      if (err === 0 && r === s) {
        if (r !== 0 || rm !== RDN) { this.writeS(rd, r); return; }
      } else if (rm === RNE && Math.abs(r) > MIN_NORMAL_S && Math.abs(r) < Infinity) {
        this.writeS(rd, r);
        this.fflags |= NX;
        return;
      }
    }
    const r = neg ? this.soft.sub(this.bigS(rs1), this.bigS(rs2), 0, rm) : this.soft.add(this.bigS(rs1), this.bigS(rs2), 0, rm);
    this.takeSoftFlags();
    this.writeBigS(rd, r);
  }

  private mulS(rd: number, rs1: number, rs2: number, rm: number): void {
    const a = this.readS(rs1), b = this.readS(rs2);
    const p = a * b, r = Math.fround(p); // p is exact
    if (r === p) { this.writeS(rd, r); return; }
    if (rm === RNE && Math.abs(r) > MIN_NORMAL_S && Math.abs(r) < Infinity) {
      this.writeS(rd, r);
      this.fflags |= NX;
      return;
    }
    const res = this.soft.mul(this.bigS(rs1), this.bigS(rs2), 0, rm);
    this.takeSoftFlags();
    this.writeBigS(rd, res);
  }

  private divS(rd: number, rs1: number, rs2: number, rm: number): void {
    const a = this.readS(rs1), b = this.readS(rs2);
    if (Math.abs(a) < Infinity && b !== 0 && Math.abs(b) < Infinity) {
      const r = Math.fround(a / b);
      // r * b is exact in double (48 significant bits): the quotient is exact iff it gives a back.
      if (r * b === a) { this.writeS(rd, r); return; }
      if (rm === RNE && Math.abs(r) > MIN_NORMAL_S && Math.abs(r) < Infinity) {
        this.writeS(rd, r);
        this.fflags |= NX;
        return;
      }
    }
    const res = this.soft.div(this.bigS(rs1), this.bigS(rs2), 0, rm);
    this.takeSoftFlags();
    this.writeBigS(rd, res);
  }

  private sqrtS(rd: number, rs1: number, rm: number): void {
    const a = this.readS(rs1);
    if (a > 0 && a < Infinity) {
      const r = Math.fround(Math.sqrt(a));
      if (r * r === a) { this.writeS(rd, r); return; }
      if (rm === RNE) { this.writeS(rd, r); this.fflags |= NX; return; }
    } else if (a === 0 || a === Infinity) {
      this.writeS(rd, a);
      return;
    }
    const res = this.soft.sqrt(this.bigS(rs1), 0, rm);
    this.takeSoftFlags();
    this.writeBigS(rd, res);
  }

  private fmaS(rd: number, rs1: number, rs2: number, rs3: number, negProd: boolean, negAdd: boolean, rm: number): void {
    const a = negProd ? -this.readS(rs1) : this.readS(rs1), b = this.readS(rs2);
    const c = negAdd ? -this.readS(rs3) : this.readS(rs3);
    const p = a * b; // exact
    const s = p + c;
    if (Math.abs(s) < Infinity) {
      const err = twoSumErr(p, c, s);
      if (err === 0) {
        const r = Math.fround(s);
        if (r === s) {
          if (r !== 0 || rm !== RDN) { this.writeS(rd, r); return; }
        } else if (rm === RNE && Math.abs(r) > MIN_NORMAL_S && Math.abs(r) < Infinity) {
          this.writeS(rd, r);
          this.fflags |= NX;
          return;
        }
      } else if (rm === RNE) {
        const r = Math.fround(toOdd(s, err));
        if (Math.abs(r) > MIN_NORMAL_S && Math.abs(r) < Infinity) {
          this.writeS(rd, r);
          this.fflags |= NX;
          return;
        }
      }
    }
    const res = this.soft.fma(this.bigS(rs1), this.bigS(rs2), this.bigS(rs3), negProd, negAdd, 0, rm);
    this.takeSoftFlags();
    this.writeBigS(rd, res);
  }

  private cvtSD(rd: number, rs1: number, rm: number): void {
    const d = this.f64[rs1], r = Math.fround(d);
    if (r === d) { this.writeS(rd, r); return; }
    if (rm === RNE && Math.abs(r) > MIN_NORMAL_S && Math.abs(r) < Infinity) {
      this.writeS(rd, r);
      this.fflags |= NX;
      return;
    }
    const res = this.soft.convert(this.bigD(rs1), 1, 0, rm);
    this.takeSoftFlags();
    this.writeBigS(rd, res);
  }

  // --- sign injection, min/max, compare, classify --------------------------------

  private sgnjS(rd: number, rs1: number, rs2: number, funct3: number): void {
    const a = this.bitsS(rs1), b = this.bitsS(rs2);
    const sign = funct3 === 0 ? b : funct3 === 1 ? ~b : a ^ b;
    this.writeBitsS(rd, (a & 0x7fffffff) | (sign & 0x80000000));
  }

  private sgnjD(rd: number, rs1: number, rs2: number, funct3: number): void {
    const lo = this.i32[2 * rs1], a = this.i32[2 * rs1 + 1], b = this.i32[2 * rs2 + 1];
    const sign = funct3 === 0 ? b : funct3 === 1 ? ~b : a ^ b;
    this.i32[2 * rd] = lo;
    this.i32[2 * rd + 1] = (a & 0x7fffffff) | (sign & 0x80000000);
  }

  /** Which operand FMIN/FMAX picks for two non-NaN values (-0 < +0): true = the first. */
  private static pickFirst(a: number, b: number, aNeg: boolean, max: boolean): boolean {
    if (a === b) return a !== 0 || (aNeg !== max);
    return (a < b) !== max;
  }

  // RISC-V 2.2 semantics (IEEE 754-2019 minimumNumber/maximumNumber): a NaN
  // operand is ignored, both NaN gives the canonical NaN; sNaN raises NV.
  private minMaxS(rd: number, rs1: number, rs2: number, max: boolean): void {
    const a = this.readS(rs1), b = this.readS(rs2);
    const ab = this.bitsS(rs1), bb = this.bitsS(rs2);
    if (a !== a || b !== b) {
      if (this.isSNaNS(rs1) || this.isSNaNS(rs2)) this.fflags |= NV;
      this.writeBitsS(rd, a === a ? ab : b === b ? bb : CANON_S);
      return;
    }
    this.writeBitsS(rd, FpUnit.pickFirst(a, b, ab < 0, max) ? ab : bb);
  }

  private minMaxD(rd: number, rs1: number, rs2: number, max: boolean): void {
    const a = this.f64[rs1], b = this.f64[rs2];
    let src: number;
    if (a !== a || b !== b) {
      if (this.isSNaND(rs1) || this.isSNaND(rs2)) this.fflags |= NV;
      if (a !== a && b !== b) { this.writeCanonD(rd); return; }
      src = a === a ? rs1 : rs2;
    } else {
      src = FpUnit.pickFirst(a, b, this.i32[2 * rs1 + 1] < 0, max) ? rs1 : rs2;
    }
    const lo = this.i32[2 * src], hi = this.i32[2 * src + 1];
    this.i32[2 * rd] = lo;
    this.i32[2 * rd + 1] = hi;
  }

  /** FLE (funct3 0), FLT (1), FEQ (2). FEQ is quiet (NV on sNaN only); FLT/FLE signal on any NaN. */
  private compare(rd: number, rs1: number, rs2: number, funct3: number, fmt: number): void {
    const a = fmt === 0 ? this.readS(rs1) : this.f64[rs1];
    const b = fmt === 0 ? this.readS(rs2) : this.f64[rs2];
    if (a !== a || b !== b) {
      if (funct3 !== 2) this.fflags |= NV;
      else if (fmt === 0 ? this.isSNaNS(rs1) || this.isSNaNS(rs2) : this.isSNaND(rs1) || this.isSNaND(rs2)) this.fflags |= NV;
      this.writeX(rd, 0, 0);
      return;
    }
    const res = funct3 === 2 ? a === b : funct3 === 1 ? a < b : a <= b;
    this.writeX(rd, res ? 1 : 0, 0);
  }

  private classS(rs1: number): number {
    const b = this.bitsS(rs1);
    const neg = b < 0, e = (b >>> 23) & 0xff, frac = b & 0x7fffff;
    if (e === 0xff) return frac === 0 ? (neg ? 1 : 1 << 7) : (frac & 0x400000) !== 0 ? 1 << 9 : 1 << 8;
    if (e === 0) return frac === 0 ? (neg ? 1 << 3 : 1 << 4) : neg ? 1 << 2 : 1 << 5;
    return neg ? 1 << 1 : 1 << 6;
  }

  private classD(rs1: number): number {
    const hi = this.i32[2 * rs1 + 1];
    const neg = hi < 0, e = (hi >>> 20) & 0x7ff, fracZero = ((hi & 0xfffff) | this.i32[2 * rs1]) === 0;
    if (e === 0x7ff) return fracZero ? (neg ? 1 : 1 << 7) : (hi & 0x80000) !== 0 ? 1 << 9 : 1 << 8;
    if (e === 0) return fracZero ? (neg ? 1 << 3 : 1 << 4) : neg ? 1 << 2 : 1 << 5;
    return neg ? 1 << 1 : 1 << 6;
  }

  // --- conversions with integers ------------------------------------------------

  /**
   * FCVT.{W,WU,L,LU}.{S,D} (kind = rs2 field 0..3) of the value x (NaN for any NaN).
   * Out-of-range inputs saturate and raise NV only (spec table "Domains of
   * float-to-integer conversions"); in-range inexact conversions raise NX.
   */
  private toInt(rd: number, x: number, kind: number, rm: number): void {
    let lo = 0, hi = 0, valid = false;
    const neg = x < 0;
    let a = neg ? -x : x;
    if (a < Infinity) {
      const f = Math.floor(a), d = a - f; // exact for a >= 0
      a = f;
      if (d !== 0) {
        switch (rm) {
          case RNE: if (d > 0.5 || (d === 0.5 && f % 2 === 1)) a = f + 1; break;
          case RDN: if (neg) a = f + 1; break;
          case RUP: if (!neg) a = f + 1; break;
          case RMM: if (d >= 0.5) a = f + 1; break;
        }
      }
      // a is now the rounded magnitude; range checks are on the rounded value.
      switch (kind) {
        case 0: // W
          if (neg ? a <= 2147483648 : a <= 2147483647) { valid = true; lo = (neg ? -a : a) | 0; hi = lo >> 31; }
          break;
        case 1: // WU: sign-extended 32-bit result
          if (neg ? a === 0 : a <= 4294967295) { valid = true; lo = a | 0; hi = lo >> 31; }
          break;
        case 2: // L
          if (neg ? a <= 9223372036854775808 : a < 9223372036854775808) {
            valid = true;
            const v = neg ? -a : a;
            const h = Math.floor(v / TWO32);
            hi = h | 0;
            lo = (v - h * TWO32) | 0;
          }
          break;
        default: // LU
          if (neg ? a === 0 : a < 18446744073709551616) {
            valid = true;
            const h = Math.floor(a / TWO32);
            hi = h | 0;
            lo = (a - h * TWO32) | 0;
          }
      }
      if (valid && d !== 0) this.fflags |= NX;
    }
    if (!valid) {
      this.fflags |= NV;
      const high = x !== x || !neg;
      switch (kind) {
        case 0: lo = high ? 0x7fffffff : -2147483648; hi = high ? 0 : -1; break;
        case 1: lo = hi = high ? -1 : 0; break;
        case 2: lo = high ? -1 : 0; hi = high ? 0x7fffffff : -2147483648; break;
        default: lo = hi = high ? -1 : 0;
      }
    }
    this.writeX(rd, lo, hi);
  }

  /** FCVT.{S,D}.{W,WU,L,LU} (kind = rs2 field 0..3). */
  private fromInt(rd: number, rs1: number, kind: number, fmt: number, rm: number): void {
    const xl = this.xlo[rs1], xh = this.xhi[rs1];
    let v: number, err = 0;
    if (kind === 0) v = xl;
    else if (kind === 1) v = xl >>> 0;
    else {
      // One rounding of the exact sum h + l: correctly rounded, and TwoSum gives the error.
      const h = (kind === 2 ? xh : xh >>> 0) * TWO32, l = xl >>> 0;
      v = h + l;
      err = twoSumErr(h, l, v);
    }
    if (fmt === 1) {
      if (err === 0) { this.f64[rd] = v; return; }
      if (rm === RNE) { this.f64[rd] = v; this.fflags |= NX; return; }
    } else if (err === 0) {
      const r = Math.fround(v);
      if (r === v) { this.writeS(rd, r); return; }
      if (rm === RNE) { this.writeS(rd, r); this.fflags |= NX; return; }
    } else if (rm === RNE) {
      this.writeS(rd, Math.fround(toOdd(v, err)));
      this.fflags |= NX;
      return;
    }
    let big = (BigInt(xh) << 32n) | BigInt(xl >>> 0);
    if (kind === 1) big = BigInt(xl >>> 0);
    else if (kind === 3) big = BigInt.asUintN(64, big);
    else if (kind === 0) big = BigInt(xl);
    const res = this.soft.fromInt(big, fmt, rm);
    this.takeSoftFlags();
    if (fmt === 1) this.writeBigD(rd, res);
    else this.writeBigS(rd, res);
  }
}
