/**
 * 64-bit integer arithmetic on (lo, hi) int32 pairs, the representation of
 * RV64 integer registers. Results of the wide operations land in {@link r64}.
 *
 * BigInt is exact but allocates on every operation, so the common cases
 * (multiply, high multiply, division of values that fit in 32 bits) are done
 * on int32 pieces, and BigInt is kept for the rare 64-bit divisions.
 */

/** Result registers for operations with a 64-bit result. */
// Doubles to begin with, so the fields are not first tracked as small integers and changed (with every
// optimized function using them deoptimized) when a full 32-bit value arrives.
export const r64 = { lo: 0.5, hi: 0.5 };

const TWO32 = 4294967296;

/** High 32 bits of the unsigned 64-bit product of two unsigned 32-bit values. */
export function mulhu32(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) | 0;
}

/** Low 64 bits of a*b (signedness does not matter) → r64. */
export function mul64(al: number, ah: number, bl: number, bh: number): void {
  r64.lo = Math.imul(al, bl);
  r64.hi = (mulhu32(al, bl) + Math.imul(al, bh) + Math.imul(ah, bl)) | 0;
}

/** High 64 bits of the unsigned 128-bit product a*b → r64. */
export function mulhu64(al: number, ah: number, bl: number, bh: number): void {
  // a*b = ah*bh*2^64 + (ah*bl + al*bh)*2^32 + al*bl, each partial product 64 bits.
  const p0h = mulhu32(al, bl) >>> 0;
  const p1l = Math.imul(al, bh) >>> 0, p1h = mulhu32(al, bh) >>> 0;
  const p2l = Math.imul(ah, bl) >>> 0, p2h = mulhu32(ah, bl) >>> 0;
  const p3l = Math.imul(ah, bh) >>> 0, p3h = mulhu32(ah, bh) >>> 0;
  // Column at 2^32: p0h + p1l + p2l; its carry moves into the column at 2^64.
  const c1 = Math.floor((p0h + p1l + p2l) / TWO32);
  const col2 = p1h + p2h + p3l + c1;
  const c2 = Math.floor(col2 / TWO32);
  r64.lo = col2 | 0;
  r64.hi = (p3h + c2) | 0;
}

/** High 64 bits of the signed×signed product → r64. */
export function mulh64(al: number, ah: number, bl: number, bh: number): void {
  mulhu64(al, ah, bl, bh);
  // mulh(a,b) = mulhu(a,b) - (a<0 ? b : 0) - (b<0 ? a : 0)  (mod 2^64)
  if (ah < 0) sub64inPlace(bl, bh);
  if (bh < 0) sub64inPlace(al, ah);
}

/** High 64 bits of the signed×unsigned product → r64. */
export function mulhsu64(al: number, ah: number, bl: number, bh: number): void {
  mulhu64(al, ah, bl, bh);
  if (ah < 0) sub64inPlace(bl, bh);
}

function sub64inPlace(bl: number, bh: number): void {
  const lo = (r64.lo - bl) | 0;
  const borrow = (r64.lo >>> 0) < (bl >>> 0) ? 1 : 0;
  r64.hi = (r64.hi - bh - borrow) | 0;
  r64.lo = lo;
}

function toBigS(lo: number, hi: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo >>> 0);
}
function toBigU(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
function fromBig(v: bigint): void {
  r64.lo = Number(BigInt.asIntN(32, v));
  r64.hi = Number(BigInt.asIntN(32, v >> 32n));
}

/** True when the pair is the sign extension of its low word. */
function fits32(lo: number, hi: number): boolean {
  return hi === lo >> 31;
}

/** Signed division per the M extension: x/0 = -1, INT64_MIN/-1 = INT64_MIN → r64. */
export function div64(al: number, ah: number, bl: number, bh: number): void {
  if (bl === 0 && bh === 0) { r64.lo = -1; r64.hi = -1; return; }
  if (fits32(al, ah) && fits32(bl, bh)) {
    // |a| <= 2^31, so the double quotient truncates exactly.
    const q = Math.trunc(al / bl);
    r64.lo = q | 0;
    r64.hi = q < 0 ? -1 : 0;
    if (q === 2147483648) { r64.lo = -2147483648; r64.hi = 0; }
    return;
  }
  if (ah === -2147483648 && al === 0 && bl === -1 && bh === -1) { r64.lo = 0; r64.hi = -2147483648; return; }
  fromBig(toBigS(al, ah) / toBigS(bl, bh));
}

/** Unsigned division: x/0 = 2^64-1 → r64. */
export function divu64(al: number, ah: number, bl: number, bh: number): void {
  if (bl === 0 && bh === 0) { r64.lo = -1; r64.hi = -1; return; }
  if (ah === 0 && bh === 0) {
    const q = Math.floor((al >>> 0) / (bl >>> 0));
    r64.lo = q | 0; r64.hi = 0;
    return;
  }
  fromBig(toBigU(al, ah) / toBigU(bl, bh));
}

/** Signed remainder: x%0 = x, INT64_MIN%-1 = 0 → r64. */
export function rem64(al: number, ah: number, bl: number, bh: number): void {
  if (bl === 0 && bh === 0) { r64.lo = al; r64.hi = ah; return; }
  if (fits32(al, ah) && fits32(bl, bh)) {
    const r = al % bl;
    r64.lo = r | 0;
    r64.hi = r < 0 ? -1 : 0;
    return;
  }
  if (ah === -2147483648 && al === 0 && bl === -1 && bh === -1) { r64.lo = 0; r64.hi = 0; return; }
  fromBig(toBigS(al, ah) % toBigS(bl, bh));
}

/** Unsigned remainder: x%0 = x → r64. */
export function remu64(al: number, ah: number, bl: number, bh: number): void {
  if (bl === 0 && bh === 0) { r64.lo = al; r64.hi = ah; return; }
  if (ah === 0 && bh === 0) {
    r64.lo = ((al >>> 0) % (bl >>> 0)) | 0; r64.hi = 0;
    return;
  }
  fromBig(toBigU(al, ah) % toBigU(bl, bh));
}

/** (lo, hi) as a signed double; exact when |value| < 2^53 (all canonical virtual addresses). */
export function toNumberS(lo: number, hi: number): number {
  return hi * TWO32 + (lo >>> 0);
}

/** (lo, hi) as an unsigned double; exact below 2^53. */
export function toNumberU(lo: number, hi: number): number {
  return (hi >>> 0) * TWO32 + (lo >>> 0);
}

/** Splits a signed or unsigned integral double into r64 (lo, hi). */
export function fromNumber(v: number): void {
  const hi = Math.floor(v / TWO32);
  r64.lo = (v - hi * TWO32) | 0;
  r64.hi = hi | 0;
}

/** Formats a 64-bit pair as 0x-prefixed 16-digit hex. */
export function hex64(lo: number, hi: number): string {
  return '0x' + (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}
