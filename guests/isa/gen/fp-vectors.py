#!/usr/bin/env python3
"""Generate the F/D test vectors and dispatch code for rv64fd.c.

Expected results come from an exact reference model of IEEE 754 binary32 /
binary64 arithmetic as the RISC-V F and D extensions specify it (exact
rational arithmetic with Python's Fraction, then rounding in each of the five
rounding modes; tininess detected after rounding; canonical NaN results;
RISC-V's saturating float->integer conversions; fmin/fmax per 2.2 of the F
spec). Re-run after editing: python3 guests/isa/gen/fp-vectors.py
Output: rv64fd-vectors.h (committed; the build does not need Python).
"""
import math
import os
import random
from fractions import Fraction as Fr

RNE, RTZ, RDN, RUP, RMM = range(5)
RM_NAMES = ["rne", "rtz", "rdn", "rup", "rmm"]
NV, DZ, OF, UF, NX = 0x10, 0x08, 0x04, 0x02, 0x01


class Fmt:
    def __init__(self, name, p, ebits):
        self.name, self.p, self.ebits = name, p, ebits
        self.bits = 1 + ebits + p - 1
        self.bias = (1 << (ebits - 1)) - 1
        self.emin, self.emax = 1 - self.bias, self.bias
        self.fbits = p - 1
        self.qnan = ((1 << ebits) - 1) << self.fbits | (1 << (self.fbits - 1))
        self.mask = (1 << self.bits) - 1


F32 = Fmt("s", 24, 8)
F64 = Fmt("d", 53, 11)


def fields(x, f):
    return x >> (f.bits - 1), (x >> f.fbits) & ((1 << f.ebits) - 1), x & ((1 << f.fbits) - 1)


def is_nan(x, f):
    _, e, m = fields(x, f)
    return e == (1 << f.ebits) - 1 and m != 0


def is_snan(x, f):
    return is_nan(x, f) and not (x >> (f.fbits - 1)) & 1


def is_inf(x, f):
    _, e, m = fields(x, f)
    return e == (1 << f.ebits) - 1 and m == 0


def is_zero(x, f):
    return x & (f.mask >> 1) == 0


def sign(x, f):
    return x >> (f.bits - 1)


def value(x, f):
    """exact value of a finite number"""
    s, e, m = fields(x, f)
    if e == 0:
        v = Fr(m) * Fr(2) ** (f.emin - f.fbits)
    else:
        v = Fr((1 << f.fbits) | m) * Fr(2) ** (e - f.bias - f.fbits)
    return -v if s else v


def inf(s, f):
    return (s << (f.bits - 1)) | (((1 << f.ebits) - 1) << f.fbits)


def zero(s, f):
    return s << (f.bits - 1)


def maxfinite(s, f):
    return (s << (f.bits - 1)) | ((((1 << f.ebits) - 2) << f.fbits) | ((1 << f.fbits) - 1))


def ilog2(a):
    """floor(log2(a)) for a positive Fraction"""
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fr(2) ** e > a:
        e -= 1
    while Fr(2) ** (e + 1) <= a:
        e += 1
    return e


def round_int(a, neg, rm):
    """round a non-negative Fraction magnitude to an integer; returns (m, inexact)"""
    m = a.numerator // a.denominator
    rem = a - m
    if rem == 0:
        return m, False
    half = Fr(1, 2)
    if rm == RNE:
        up = rem > half or (rem == half and m & 1)
    elif rm == RTZ:
        up = False
    elif rm == RDN:
        up = neg
    elif rm == RUP:
        up = not neg
    else:
        up = rem >= half
    return m + (1 if up else 0), True


def encode_exact(neg, a, f):
    """encode a representable non-negative magnitude a"""
    if a == 0:
        return zero(neg, f)
    e = ilog2(a)
    if e < f.emin:
        m = a / Fr(2) ** (f.emin - f.fbits)
        assert m.denominator == 1
        return (neg << (f.bits - 1)) | int(m)
    m = a / Fr(2) ** (e - f.fbits)
    assert m.denominator == 1 and (1 << f.fbits) <= m < (2 << f.fbits)
    return (neg << (f.bits - 1)) | ((e + f.bias) << f.fbits) | (int(m) - (1 << f.fbits))


def round_value(v, rm, f):
    """round an exact nonzero Fraction to format f -> (bits, flags)"""
    neg = v < 0
    a = -v if neg else v
    e = ilog2(a)
    # tininess after rounding: round with unbounded exponent range
    q = e - f.fbits
    mu, _ = round_int(a / Fr(2) ** q, neg, rm)
    tiny = mu * Fr(2) ** q < Fr(2) ** f.emin
    q = max(e, f.emin) - f.fbits
    m, inexact = round_int(a / Fr(2) ** q, neg, rm)
    r = m * Fr(2) ** q
    flags = NX if inexact else 0
    if r >= Fr(2) ** (f.emax + 1):
        to_inf = rm in (RNE, RMM) or (rm == RUP and not neg) or (rm == RDN and neg)
        return (inf(neg, f) if to_inf else maxfinite(neg, f)), OF | NX
    if tiny and inexact:
        flags |= UF
    return encode_exact(neg, r, f), flags


def from_exact(v, rm, f, zero_sign):
    """round v; an exact zero gets zero_sign"""
    if v == 0:
        return zero(zero_sign, f), 0
    return round_value(v, rm, f)


def nan_result(f, *ops):
    return f.qnan, (NV if any(is_snan(x, f) for x in ops) else 0)


def sum_zero_sign(sa, sb, rm):
    """sign of an exact zero sum of operands with signs sa, sb"""
    if sa == sb:
        return sa
    return 1 if rm == RDN else 0


def f_add(a, b, rm, f):
    if is_nan(a, f) or is_nan(b, f):
        return nan_result(f, a, b)
    if is_inf(a, f) and is_inf(b, f):
        return (a, 0) if sign(a, f) == sign(b, f) else (f.qnan, NV)
    if is_inf(a, f):
        return a, 0
    if is_inf(b, f):
        return b, 0
    v = value(a, f) + value(b, f)
    if v == 0 and is_zero(a, f) and is_zero(b, f):
        return zero(sum_zero_sign(sign(a, f), sign(b, f), rm), f), 0
    return from_exact(v, rm, f, 1 if rm == RDN else 0)


def neg(x, f):
    return x ^ (1 << (f.bits - 1))


def f_sub(a, b, rm, f):
    if is_nan(a, f) or is_nan(b, f):
        return nan_result(f, a, b)
    return f_add(a, neg(b, f), rm, f)


def f_mul(a, b, rm, f):
    if is_nan(a, f) or is_nan(b, f):
        return nan_result(f, a, b)
    s = sign(a, f) ^ sign(b, f)
    if is_inf(a, f) or is_inf(b, f):
        if is_zero(a, f) or is_zero(b, f):
            return f.qnan, NV
        return inf(s, f), 0
    return from_exact(value(a, f) * value(b, f), rm, f, s)


def f_div(a, b, rm, f):
    if is_nan(a, f) or is_nan(b, f):
        return nan_result(f, a, b)
    s = sign(a, f) ^ sign(b, f)
    if is_inf(a, f):
        return (f.qnan, NV) if is_inf(b, f) else (inf(s, f), 0)
    if is_inf(b, f):
        return zero(s, f), 0
    if is_zero(b, f):
        return (f.qnan, NV) if is_zero(a, f) else (inf(s, f), DZ)
    return from_exact(value(a, f) / value(b, f), rm, f, s)


def f_sqrt(a, rm, f):
    if is_nan(a, f):
        return nan_result(f, a)
    if is_zero(a, f):
        return a, 0
    if sign(a, f):
        return f.qnan, NV
    if is_inf(a, f):
        return a, 0
    v = value(a, f)
    k = 2 * f.p + 2 * 1100
    scaled = v * Fr(4) ** k
    n = scaled.numerator // scaled.denominator
    s = math.isqrt(n)
    exact = s * s == n and scaled.denominator == 1
    if exact:
        r = Fr(s, 2 ** k)
    else:
        r = Fr(2 * s + 1, 2 ** (k + 1))
    return round_value(r, rm, f)


def f_fma(a, b, c, rm, f, neg_prod=False, neg_add=False):
    if neg_prod:
        a = neg(a, f)
    if neg_add:
        c = neg(c, f)
    if (is_inf(a, f) and is_zero(b, f)) or (is_zero(a, f) and is_inf(b, f)):
        return f.qnan, NV  # even if c is a quiet NaN
    if is_nan(a, f) or is_nan(b, f) or is_nan(c, f):
        return nan_result(f, a, b, c)
    ps = sign(a, f) ^ sign(b, f)
    if is_inf(a, f) or is_inf(b, f):
        if is_inf(c, f) and sign(c, f) != ps:
            return f.qnan, NV
        return inf(ps, f), 0
    if is_inf(c, f):
        return c, 0
    p = value(a, f) * value(b, f)
    v = p + value(c, f)
    if v == 0:
        if p == 0 and is_zero(c, f):
            return zero(sum_zero_sign(ps, sign(c, f), rm), f), 0
        return zero(1 if rm == RDN else 0, f), 0
    return round_value(v, rm, f)


def f_cvt_ff(a, rm, fs, fd):
    if is_nan(a, fs):
        return fd.qnan, (NV if is_snan(a, fs) else 0)
    if is_inf(a, fs):
        return inf(sign(a, fs), fd), 0
    if is_zero(a, fs):
        return zero(sign(a, fs), fd), 0
    return round_value(value(a, fs), rm, fd)


def f_cvt_fi(a, rm, f, signed, nbits):
    """float -> integer, returns (integer register value as unsigned 64-bit, flags)"""
    lo = -(1 << (nbits - 1)) if signed else 0
    hi = (1 << (nbits - 1)) - 1 if signed else (1 << nbits) - 1
    if is_nan(a, f):
        r, fl = hi, NV
    elif is_inf(a, f):
        r, fl = (lo if sign(a, f) else hi), NV
    else:
        v = value(a, f)
        n = v < 0
        m, inexact = round_int(-v if n else v, n, rm)
        r = -m if n else m
        if r < lo or r > hi:
            r, fl = (lo if n else hi), NV
        else:
            fl = NX if inexact else 0
    if nbits == 32:
        r &= 0xFFFFFFFF
        if r >> 31:
            r |= 0xFFFFFFFF00000000
    return r & ((1 << 64) - 1), fl


def f_cvt_if(x, rm, f, signed, nbits):
    x &= (1 << nbits) - 1
    if signed and x >> (nbits - 1):
        x -= 1 << nbits
    if x == 0:
        return zero(0, f), 0
    return round_value(Fr(x), rm, f)


def f_cmp(a, b, f, kind):
    if is_nan(a, f) or is_nan(b, f):
        if kind == "eq":
            return 0, (NV if is_snan(a, f) or is_snan(b, f) else 0)
        return 0, NV
    va, vb = value(a, f) if not is_inf(a, f) else None, None
    def key(x):
        if is_inf(x, f):
            return Fr(10) ** 400 * (-1 if sign(x, f) else 1)
        return value(x, f)
    va, vb = key(a), key(b)
    r = {"eq": va == vb, "lt": va < vb, "le": va <= vb}[kind]
    return int(r), 0


def f_minmax(a, b, f, is_max):
    fl = NV if is_snan(a, f) or is_snan(b, f) else 0
    if is_nan(a, f) and is_nan(b, f):
        return f.qnan, fl
    if is_nan(a, f):
        return b, fl
    if is_nan(b, f):
        return a, fl
    def key(x):
        if is_inf(x, f):
            return (Fr(10) ** 400 * (-1 if sign(x, f) else 1), 0)
        return (value(x, f), 0 if sign(x, f) else 1)  # -0 < +0
    if is_max:
        return (a if key(a) >= key(b) else b), fl
    return (a if key(a) <= key(b) else b), fl


def f_class(a, f):
    s = sign(a, f)
    _, e, m = fields(a, f)
    if is_inf(a, f):
        return 1 << (0 if s else 7)
    if is_nan(a, f):
        return 1 << (8 if is_snan(a, f) else 9)
    if is_zero(a, f):
        return 1 << (3 if s else 4)
    if e == 0:
        return 1 << (2 if s else 5)
    return 1 << (1 if s else 6)


def sgnj(a, b, f, kind):
    sb = 1 << (f.bits - 1)
    if kind == "j":
        s = b & sb
    elif kind == "jn":
        s = (b & sb) ^ sb
    else:
        s = (a ^ b) & sb
    return (a & ~sb & f.mask) | s, 0


# --------------------------------------------------------------- operations
# name, fmt, in kinds ("f"/"x"), result kind, takes rm, model
OPS = []


def op(name, fmt, ins, res, rm, fn):
    OPS.append(dict(name=name, fmt=fmt, ins=ins, res=res, rm=rm, fn=fn))


for f in (F32, F64):
    s = f.name
    op(f"fadd.{s}", f, "ff", "f", True, lambda a, b, c, rm, f=f: f_add(a, b, rm, f))
    op(f"fsub.{s}", f, "ff", "f", True, lambda a, b, c, rm, f=f: f_sub(a, b, rm, f))
    op(f"fmul.{s}", f, "ff", "f", True, lambda a, b, c, rm, f=f: f_mul(a, b, rm, f))
    op(f"fdiv.{s}", f, "ff", "f", True, lambda a, b, c, rm, f=f: f_div(a, b, rm, f))
    op(f"fsqrt.{s}", f, "f", "f", True, lambda a, b, c, rm, f=f: f_sqrt(a, rm, f))
    op(f"fmadd.{s}", f, "fff", "f", True, lambda a, b, c, rm, f=f: f_fma(a, b, c, rm, f))
    op(f"fmsub.{s}", f, "fff", "f", True, lambda a, b, c, rm, f=f: f_fma(a, b, c, rm, f, False, True))
    op(f"fnmsub.{s}", f, "fff", "f", True, lambda a, b, c, rm, f=f: f_fma(a, b, c, rm, f, True, False))
    op(f"fnmadd.{s}", f, "fff", "f", True, lambda a, b, c, rm, f=f: f_fma(a, b, c, rm, f, True, True))
    for it, sg, nb in (("w", True, 32), ("wu", False, 32), ("l", True, 64), ("lu", False, 64)):
        op(f"fcvt.{it}.{s}", f, "f", "x", True,
           lambda a, b, c, rm, f=f, sg=sg, nb=nb: f_cvt_fi(a, rm, f, sg, nb))
        # fcvt.d.w/wu are exact: binutils takes no rounding-mode operand
        op(f"fcvt.{s}.{it}", f, "x", "f", not (s == "d" and it in ("w", "wu")),
           lambda a, b, c, rm, f=f, sg=sg, nb=nb: f_cvt_if(a, rm, f, sg, nb))
    for k in ("eq", "lt", "le"):
        op(f"f{k}.{s}", f, "ff", "x", False, lambda a, b, c, rm, f=f, k=k: f_cmp(a, b, f, k))
    op(f"fmin.{s}", f, "ff", "f", False, lambda a, b, c, rm, f=f: f_minmax(a, b, f, False))
    op(f"fmax.{s}", f, "ff", "f", False, lambda a, b, c, rm, f=f: f_minmax(a, b, f, True))
    op(f"fclass.{s}", f, "f", "x", False, lambda a, b, c, rm, f=f: (f_class(a, f), 0))
    for k in ("j", "jn", "jx"):
        op(f"fsgn{k}.{s}", f, "ff", "f", False, lambda a, b, c, rm, f=f, k=k: sgnj(a, b, f, k))
op("fcvt.s.d", F64, "f", "f", True, lambda a, b, c, rm: f_cvt_ff(a, rm, F64, F32))
op("fcvt.d.s", F32, "f", "f", False, lambda a, b, c, rm: f_cvt_ff(a, rm, F32, F64))
OPIDX = {o["name"]: i for i, o in enumerate(OPS)}


def result_fmt(o):
    if o["name"] == "fcvt.s.d":
        return F32
    if o["name"] == "fcvt.d.s":
        return F64
    return o["fmt"]


def in_fmt(o):
    return o["fmt"]


# --------------------------------------------------------------- operands
def specials(f):
    d = f is F64
    one = 0x3FF0000000000000 if d else 0x3F800000
    return [
        zero(0, f), zero(1, f), one, one | (1 << (f.bits - 1)), inf(0, f), inf(1, f),
        f.qnan, f.qnan | 0x123 | (1 << (f.bits - 1)),  # quiet NaNs
        (f.qnan & ~(1 << (f.fbits - 1))) | 1,  # signaling NaN
        1, (1 << f.fbits) - 1,  # min / max subnormal
        1 << f.fbits,  # min normal
        maxfinite(0, f), maxfinite(1, f),
        one + 1,  # 1 + ulp
        0x4009_21FB_5444_2D18 if d else 0x40490FDB,  # pi
        0xBFB9_9999_9999_999A if d else 0xBDCCCCCD,  # -0.1
    ]


def rand_float(rnd, f):
    kind = rnd.randrange(10)
    s = rnd.getrandbits(1)
    if kind == 0:  # subnormal
        return (s << (f.bits - 1)) | rnd.randrange(1, 1 << f.fbits)
    if kind == 1:  # near the top
        e = rnd.randrange((1 << f.ebits) - 8, (1 << f.ebits) - 1)
    elif kind == 2:  # near the bottom
        e = rnd.randrange(1, 8)
    else:
        e = f.bias + rnd.randrange(-40, 41)
    m = rnd.getrandbits(f.fbits)
    if rnd.randrange(3) == 0:  # few significant bits -> exact results / ties
        m &= ~((1 << rnd.randrange(f.fbits - 6, f.fbits)) - 1)
    return (s << (f.bits - 1)) | (e << f.fbits) | m


def near_pair(rnd, f):
    """b close to -a (cancellation) or to a tie"""
    a = rand_float(rnd, f)
    b = neg(a, f) ^ rnd.randrange(0, 4)
    return a, b


def float_of(x, f):
    return encode_exact(x < 0, abs(Fr(x)), f)


def conv_values(f):
    vals = [Fr(x) for x in (0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.25, -0.75, 3, -1, 7.5)]
    for n in (31, 32, 63, 64):
        for d in (-1, 0, 1):
            v = Fr(2) ** n + d * Fr(2) ** (n - (f.p - 1))
            vals += [v, -v]
    vals += [Fr(2) ** 31 - Fr(1, 2), -(Fr(2) ** 31) - Fr(1, 2), Fr(2) ** 32 - Fr(1, 2)]
    out = []
    for v in vals:
        try:
            b, fl = round_value(v, RNE, f)
        except Exception:
            continue
        if fl == 0:
            out.append(b)
    out += [zero(1, f), f.qnan, (f.qnan & ~(1 << (f.fbits - 1))) | 1, inf(0, f), inf(1, f), 1, maxfinite(0, f)]
    return out


INTS = [0, 1, 0xFFFFFFFFFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFF80000000,
        0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0x0000000001000001, 0x0000000001000003,
        0x20000000000001, 0x20000000000003, 0x123456789ABCDEF1, 0xFFFFFFFFFEFFFFFF,
        0x12345678_7FFFFFC1, 0xFFFFFFFFFFFFFF81, 0x00000000FFFFFF7F, 100]


def gen_vectors():
    rnd = random.Random(7)
    vecs = []

    def add(opname, a, b=0, c=0, rm=RNE, static=None):
        o = OPS[OPIDX[opname]]
        if static is None:
            static = o["rm"] and rnd.randrange(2) == 0
        res, fl = o["fn"](a, b, c, rm)
        rf = result_fmt(o) if o["res"] == "f" else None
        if rf is F32:  # read back with fmv.x.w: sign-extended
            res &= 0xFFFFFFFF
            if res >> 31:
                res |= 0xFFFFFFFF00000000
        vecs.append((OPIDX[opname], rm | (8 if (static and o["rm"]) else 0), fl, a, b, c, res))

    for f in (F32, F64):
        s = f.name
        sp = specials(f)
        core = sp[:12]
        for name in ("fadd", "fsub", "fmul", "fdiv"):
            for a in core:
                for b in core:
                    add(f"{name}.{s}", a, b, rm=rnd.choice([RNE, RNE, RTZ, RDN, RUP, RMM]))
            for rm in range(5):
                for _ in range(14):
                    add(f"{name}.{s}", rand_float(rnd, f), rand_float(rnd, f), rm=rm)
                for _ in range(3):
                    a, b = near_pair(rnd, f)
                    if name in ("fadd",):
                        add(f"{name}.{s}", a, b, rm=rm)
                    elif name == "fsub":
                        add(f"{name}.{s}", a, neg(b, f), rm=rm)
                    else:
                        add(f"{name}.{s}", a, rand_float(rnd, f), rm=rm)
            # ties: 1 + 1.5ulp style sums and products
            one = sp[2]
            for rm in range(5):
                add(f"{name}.{s}", one + 3, one, rm=rm)
                add(f"{name}.{s}", neg(one + 1, f), sp[14], rm=rm)
        for a in sp:
            add(f"fsqrt.{s}", a, rm=rnd.choice(range(5)))
        for rm in range(5):
            for _ in range(12):
                x = rand_float(rnd, f) & (f.mask >> 1)
                add(f"fsqrt.{s}", x, rm=rm)
        for name in ("fmadd", "fmsub", "fnmsub", "fnmadd"):
            triples = [
                (sp[4], sp[0], sp[6]),  # inf*0 + qNaN -> NV
                (sp[0], sp[5], sp[2]),  # 0*-inf + 1 -> NV
                (sp[4], sp[2], sp[5]),  # inf*1 - inf -> NV (fmadd)
                (sp[0], sp[2], sp[1]),  # +0*1 + -0
                (sp[1], sp[2], sp[0]),  # -0*1 + +0
                (sp[1], sp[2], sp[1]),  # -0*1 + -0
                (sp[2], sp[2], sp[3]),  # 1*1 - 1 -> exact zero
                (sp[8], sp[2], sp[2]),  # sNaN
                (sp[2], sp[2], sp[8]),
                (sp[12], sp[12], sp[13]),  # max*max - max -> overflow
                (sp[9], sp[9], sp[0]),  # tiny*tiny -> underflow to zero
                (sp[14], sp[14], neg(sp[14], f)),  # (1+u)^2 - (1+u): single rounding
            ]
            for a, b, c in triples:
                for rm in (RNE, RDN):
                    add(f"{name}.{s}", a, b, c, rm=rm)
            for rm in range(5):
                for _ in range(6):
                    add(f"{name}.{s}", rand_float(rnd, f), rand_float(rnd, f), rand_float(rnd, f), rm=rm)
                for _ in range(3):  # product nearly cancels the addend
                    a, b = rand_float(rnd, f), rand_float(rnd, f)
                    p, _ = f_mul(a, b, RNE, f)
                    if is_nan(p, f) or is_inf(p, f):
                        continue
                    add(f"{name}.{s}", a, b, neg(p, f) if name in ("fmadd", "fnmadd") else p, rm=rm)
        cv = conv_values(f)
        for it in ("w", "wu", "l", "lu"):
            for a in cv:
                for rm in (RNE, RTZ, RDN, RUP, RMM) if a in cv[:11] else (rnd.randrange(5),):
                    add(f"fcvt.{it}.{s}", a, rm=rm)
            for x in INTS:
                for rm in (RNE, RTZ, RDN, RUP, RMM) if x in INTS[9:16] else (rnd.randrange(5),):
                    add(f"fcvt.{s}.{it}", x, rm=rm)
        cmpv = [sp[i] for i in (0, 1, 2, 3, 4, 5, 6, 8, 9, 14)]
        for k in ("feq", "flt", "fle", "fmin", "fmax"):
            for a in cmpv:
                for b in cmpv:
                    add(f"{k}.{s}", a, b)
        for a in sp + [1 << (f.bits - 1) | 5, inf(1, f) - 1]:
            add(f"fclass.{s}", a)
        for k in ("fsgnj", "fsgnjn", "fsgnjx"):
            for a, b in ((sp[2], sp[3]), (sp[3], sp[2]), (sp[3], sp[3]), (sp[6], sp[1]), (sp[8], sp[0]), (sp[15], sp[16])):
                add(f"{k}.{s}", a, b)
    # double <-> single
    for a in specials(F64) + [0x3FF0000010000000, 0x3FF0000030000000, 0x3FF0000010000001,
                              0x47EFFFFFF0000000, 0x47EFFFFFE0000000, 0x380FFFFFF0000000,
                              0x36A0000000000000, 0x3690000000000001, 0xC7F0000000000000]:
        for rm in range(5):
            add("fcvt.s.d", a, rm=rm)
    for a in specials(F32):
        add("fcvt.d.s", a)
    return vecs


# --------------------------------------------------------------- C output
def asm_for(o, rm_text):
    f = o["fmt"]
    mvin = "fmv.d.x" if f is F64 else "fmv.w.x"
    rf = result_fmt(o)
    mvout = "fmv.x.d" if rf is F64 else "fmv.x.w"
    lines = []
    regs = []
    for i, k in enumerate(o["ins"]):
        if k == "f":
            lines.append(f"{mvin} ft{i}, %{i + 1}")
            regs.append(f"ft{i}")
        else:
            regs.append(f"%{i + 1}")
    dst = "ft3" if o["res"] == "f" else "%0"
    ins = f"{o['name']} {dst}, {', '.join(regs)}"
    if rm_text:
        ins += f", {rm_text}"
    lines.append(ins)
    if o["res"] == "f":
        lines.append(f"{mvout} %0, ft3")
    return "\\n".join(lines)


def main():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    vecs = gen_vectors()
    out = ["/* generated by gen/fp-vectors.py -- do not edit */"]
    out.append("static const char *const fp_op_names[] = {" + ", ".join(f'"{o["name"]}"' for o in OPS) + "};")
    out.append("static const struct fpvec fp_vectors[] = {")
    for opi, rm, fl, a, b, c, res in vecs:
        out.append(f"{{{opi},{rm},0x{fl:x},0x{a:x},0x{b:x},0x{c:x},0x{res:x}}},")
    out.append("};")
    out.append("")
    out.append("/* execute op; rm: 0-4 = static rounding mode encoded in the instruction, 7 = dynamic */")
    out.append("static uint64_t fp_exec(unsigned op, unsigned rm, uint64_t a, uint64_t b, uint64_t c)")
    out.append("{")
    out.append("    uint64_t r = 0xdeadbeef;")
    out.append("    switch (op * 8 + rm) {")
    clob = '"ft0", "ft1", "ft2", "ft3"'
    for i, o in enumerate(OPS):
        variants = [(7, "dyn" if o["rm"] else "")]
        if o["rm"]:
            variants += [(k, RM_NAMES[k]) for k in range(5)]
        for k, txt in variants:
            out.append(f"    case {i * 8 + k}: asm volatile(\"{asm_for(o, txt)}\" : \"=r\"(r) : \"r\"(a), \"r\"(b), \"r\"(c) : {clob}); break;")
    out.append("    }")
    out.append("    return r;")
    out.append("}")
    path = os.path.join(here, "rv64fd-vectors.h")
    with open(path, "w") as fh:
        fh.write("\n".join(out) + "\n")
    print(f"{path}: {len(vecs)} vectors, {len(OPS)} ops")


if __name__ == "__main__":
    main()
