/* rv64fd: F and D extensions.
 * - generated vectors (gen/fp-vectors.py): every arithmetic, FMA, sqrt,
 *   conversion, compare, min/max, classify and sign-injection instruction in
 *   both precisions, in all five rounding modes (static and dynamic), with the
 *   exact accrued flags; special values, subnormals, overflow/underflow, ties,
 *   canonical NaN results, saturating float->int conversions
 * - hand-written: fcsr/frm/fflags CSRs, invalid rounding modes, NaN boxing,
 *   fmv, loads/stores, the register file, mstatus.FS (Off -> illegal, Dirty
 *   tracking), fused multiply-add single rounding. */
#include "tsv.h"

const char *tsv_test_name = "rv64fd";

struct fpvec {
    uint8_t op, rm, flags;
    uint64_t a, b, c, res;
};
#include "rv64fd-vectors.h"

#define FFLAGS_NV 0x10
#define FFLAGS_DZ 0x08
#define FFLAGS_OF 0x04
#define FFLAGS_UF 0x02
#define FFLAGS_NX 0x01

static const char *const rm_names[] = {"rne", "rtz", "rdn", "rup", "rmm", "?", "?", "?"};

static void test_vectors(void)
{
    tsv_section("generated vectors");
    for (unsigned i = 0; i < ARRAY_SIZE(fp_vectors); i++) {
        const struct fpvec *v = &fp_vectors[i];
        unsigned rm = v->rm & 7, stat = v->rm & 8;
        /* for a static rounding mode, frm holds a different (valid) mode */
        csr_write(frm, stat ? (rm + 2) % 5 : rm);
        csr_write(fflags, 0);
        uint64_t r = fp_exec(v->op, stat ? rm : 7, v->a, v->b, v->c);
        uint64_t fl = csr_read(fflags);
        if (r != v->res || fl != v->flags)
            printf("  vector %u: %s %s(%s) a=0x%lx b=0x%lx c=0x%lx\n", i, fp_op_names[v->op],
                   rm_names[rm], stat ? "static" : "dynamic", v->a, v->b, v->c);
        CHECKID(20000 + i, "result", r, v->res);
        CHECKID(40000 + i, "fflags", fl, v->flags);
    }
    csr_write(frm, 0);
    csr_write(fflags, 0);
}

static void test_csrs(void)
{
    tsv_section("fcsr / frm / fflags");
    uint64_t r;
    csr_write(fcsr, 0xffffffffUL);
    CHECKN("fcsr reserved bits read as zero", csr_read(fcsr), 0xff);
    CHECKN("frm view", csr_read(frm), 7);
    CHECKN("fflags view", csr_read(fflags), 0x1f);
    csr_write(fflags, 0x0a);
    CHECKN("fflags write keeps frm", csr_read(fcsr), 0xea);
    csr_write(frm, 2);
    CHECKN("frm write keeps fflags", csr_read(fcsr), 0x4a);
    asm volatile("csrrwi %0, frm, 3" : "=r"(r));
    CHECKN("csrrwi frm returns old", r, 2);
    asm volatile("csrrsi %0, fflags, 0x11" : "=r"(r));
    CHECKN("csrrsi fflags returns old", r, 0x0a);
    CHECKN("csrrsi fflags set bits", csr_read(fflags), 0x1b);
    asm volatile("csrrci %0, fflags, 0x03" : "=r"(r));
    CHECKN("csrrci fflags cleared", csr_read(fflags), 0x18);
    CHECKN("fcsr", csr_read(fcsr), 0x78);
    csr_write(frm, 0xff);
    CHECKN("frm write masks to 3 bits", csr_read(frm), 7);
    csr_write(fcsr, 0);

    /* flags accumulate */
    asm volatile("fmv.d.x ft0, %0\n fmv.d.x ft1, x0\n fdiv.d ft2, ft0, ft1" : : "r"(0x3ff0000000000000UL) : "ft0", "ft1", "ft2");
    CHECKN("1/0 sets DZ", csr_read(fflags), FFLAGS_DZ);
    asm volatile("fmv.d.x ft0, %0\n fmv.d.x ft1, %1\n fdiv.d ft2, ft0, ft1" : : "r"(0x3ff0000000000000UL), "r"(0x4008000000000000UL) : "ft0", "ft1", "ft2");
    CHECKN("1/3 adds NX (flags are sticky)", csr_read(fflags), FFLAGS_DZ | FFLAGS_NX);
    asm volatile("fmv.d.x ft0, x0\n fdiv.d ft2, ft0, ft0" : : : "ft0", "ft2");
    CHECKN("0/0 adds NV", csr_read(fflags), FFLAGS_DZ | FFLAGS_NX | FFLAGS_NV);
    csr_write(fflags, 0);
    asm volatile("fmv.d.x ft0, %0\n fadd.d ft2, ft0, ft0" : : "r"(0x3ff0000000000000UL) : "ft0", "ft2");
    CHECKN("exact op raises no flag", csr_read(fflags), 0);
}

/* encodings with reserved rounding modes */
static void test_invalid_rm(void)
{
    tsv_section("invalid rounding modes");
    uint64_t r;
    /* frm = 5, 6, 7 with dynamic rounding: illegal instruction */
    for (int m = 5; m <= 7; m++) {
        csr_write(frm, m);
        trap_expect();
        asm volatile(TRAP_LANDING "fadd.d ft2, ft0, ft1, dyn" TRAP_END : : : "t6", "ft2");
        CHECKN("dynamic rm with frm=5/6/7 is illegal", g_mtrap.cause, CAUSE_ILLEGAL);
        CHECKN("one trap", g_mtrap.count, 1);
        /* a static rounding mode ignores frm */
        asm volatile("fmv.d.x ft0, %1\n fadd.d ft2, ft0, ft0, rtz\n fmv.x.d %0, ft2" : "=r"(r) : "r"(0x3ff0000000000000UL) : "ft0", "ft2");
        CHECKN("static rm works with invalid frm", r, 0x4000000000000000UL);
        /* instructions without rounding (fmin, fsgnj, fmv, compare) don't care */
        asm volatile("fmin.d ft2, ft0, ft0\n feq.d %0, ft0, ft2" : "=r"(r) : : "ft2");
        CHECKN("fmin/feq unaffected by invalid frm", r, 1);
    }
    csr_write(frm, 0);
    /* rm field 5 and 6 encoded in the instruction: illegal (fadd.d = funct7 0x01) */
    trap_expect();
    asm volatile(TRAP_LANDING ".insn r OP_FP, 5, 1, ft2, ft0, ft1" TRAP_END : : : "t6", "ft2");
    CHECKN("fadd.d with rm=5 is illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile(TRAP_LANDING ".insn r OP_FP, 6, 1, ft2, ft0, ft1" TRAP_END : : : "t6", "ft2");
    CHECKN("fadd.d with rm=6 is illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile(TRAP_LANDING ".insn r4 MADD, 5, 1, ft3, ft0, ft1, ft2" TRAP_END : : : "t6", "ft3");
    CHECKN("fmadd.d with rm=5 is illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    /* fcvt.s.d (funct7 0x20, rs2=1) with rm=6 */
    trap_expect();
    asm volatile(TRAP_LANDING ".insn r OP_FP, 6, 0x20, ft2, ft0, f1" TRAP_END : : : "t6", "ft2");
    CHECKN("fcvt.s.d with rm=6 is illegal", g_mtrap.cause, CAUSE_ILLEGAL);
}

static uint64_t fmem[4] ALIGNED(16);

static void test_boxing(void)
{
    tsv_section("NaN boxing");
    uint64_t r;
    /* flw boxes */
    fmem[0] = 0x123456783f800000UL;
    asm volatile("flw ft0, 0(%1)\n fmv.x.d %0, ft0" : "=r"(r) : "r"(fmem) : "ft0", "memory");
    CHECKN("flw NaN-boxes", r, 0xffffffff3f800000UL);
    asm volatile("fmv.w.x ft0, %1\n fmv.x.d %0, ft0" : "=r"(r) : "r"(0x12345678c0000000UL) : "ft0");
    CHECKN("fmv.w.x NaN-boxes (upper rs1 bits ignored)", r, 0xffffffffc0000000UL);
    asm volatile("fmv.w.x ft0, %1\n fadd.s ft1, ft0, ft0\n fmv.x.d %0, ft1" : "=r"(r) : "r"(0x3f800000UL) : "ft0", "ft1");
    CHECKN("fadd.s result NaN-boxed", r, 0xffffffff40000000UL);
    asm volatile("fmv.d.x ft0, %1\n fcvt.s.d ft1, ft0\n fmv.x.d %0, ft1" : "=r"(r) : "r"(0x4000000000000000UL) : "ft0", "ft1");
    CHECKN("fcvt.s.d result NaN-boxed", r, 0xffffffff40000000UL);
    asm volatile("li t0, 7\n fcvt.s.l ft1, t0\n fmv.x.d %0, ft1" : "=r"(r) : : "t0", "ft1");
    CHECKN("fcvt.s.l result NaN-boxed", r, 0xffffffff40e00000UL);
    asm volatile("fmv.w.x ft0, %1\n fsgnjn.s ft1, ft0, ft0\n fmv.x.d %0, ft1" : "=r"(r) : "r"(0x3f800000UL) : "ft0", "ft1");
    CHECKN("fsgnjn.s (fneg.s) result NaN-boxed", r, 0xffffffffbf800000UL);

    /* improperly boxed inputs are treated as the canonical NaN */
    csr_write(fflags, 0);
    asm volatile("fmv.d.x ft0, %1\n fadd.s ft1, ft0, ft0\n fmv.x.d %0, ft1" : "=r"(r) : "r"(0x000000003f800000UL) : "ft0", "ft1");
    CHECKN("fadd.s of unboxed value = canonical NaN", r, 0xffffffff7fc00000UL);
    CHECKN("...without NV", csr_read(fflags), 0);
    asm volatile("fmv.d.x ft0, %1\n fmv.w.x ft1, %2\n fsgnj.s ft2, ft0, ft1\n fmv.x.d %0, ft2" : "=r"(r) : "r"(0xfffffffe3f800000UL), "r"(0xbf800000UL) : "ft0", "ft1", "ft2");
    CHECKN("fsgnj.s with unboxed rs1 = canonical NaN with rs2's sign", r, 0xffffffffffc00000UL);
    asm volatile("fmv.w.x ft0, %1\n fmv.d.x ft1, %2\n fsgnj.s ft2, ft0, ft1\n fmv.x.d %0, ft2" : "=r"(r) : "r"(0x3f800000UL), "r"(0x00000000bf800000UL) : "ft0", "ft1", "ft2");
    CHECKN("fsgnj.s with unboxed rs2: sign of canonical NaN (0)", r, 0xffffffff3f800000UL);
    asm volatile("fmv.d.x ft0, %1\n fclass.s %0, ft0" : "=r"(r) : "r"(0x00000000ff800000UL) : "ft0");
    CHECKN("fclass.s of unboxed value = quiet NaN", r, 1 << 9);
    asm volatile("fmv.d.x ft0, %1\n fcvt.d.s ft1, ft0\n fmv.x.d %0, ft1" : "=r"(r) : "r"(0x7fffffff00000000UL) : "ft0", "ft1");
    CHECKN("fcvt.d.s of unboxed value = canonical NaN", r, 0x7ff8000000000000UL);
    csr_write(fflags, 0);
    asm volatile("fmv.d.x ft0, %1\n fmv.w.x ft1, %2\n feq.s %0, ft0, ft1" : "=r"(r) : "r"(0x3f800000UL), "r"(0x3f800000UL) : "ft0", "ft1");
    CHECKN("feq.s with unboxed operand = 0", r, 0);
    CHECKN("...without NV (canonical NaN is quiet)", csr_read(fflags), 0);
    /* fmv.x.w and fsw move the low 32 bits regardless of boxing */
    asm volatile("fmv.d.x ft0, %1\n fmv.x.w %0, ft0" : "=r"(r) : "r"(0x0000000180000000UL) : "ft0");
    CHECKN("fmv.x.w takes low bits, sign-extends", r, 0xffffffff80000000UL);
    fmem[1] = 0;
    asm volatile("fmv.d.x ft0, %1\n fsw ft0, 8(%0)" : : "r"(fmem), "r"(0x123456789abcdef0UL) : "ft0", "memory");
    CHECKN("fsw stores low 32 bits of an unboxed value", fmem[1], 0x9abcdef0UL);
    /* fsd of a single value stores the box */
    asm volatile("fmv.w.x ft0, %1\n fsd ft0, 16(%0)" : : "r"(fmem), "r"(0x40490fdbUL) : "ft0", "memory");
    CHECKN("fsd of boxed single", fmem[2], 0xffffffff40490fdbUL);
}

static void test_moves_loads(void)
{
    tsv_section("fmv / loads / stores");
    uint64_t r;
    asm volatile("fmv.d.x ft0, %1\n fmv.x.d %0, ft0" : "=r"(r) : "r"(0x7ff0000000000001UL) : "ft0");
    CHECKN("fmv.d.x/fmv.x.d keep a signaling NaN", r, 0x7ff0000000000001UL);
    asm volatile("fmv.w.x ft0, %1\n fmv.x.w %0, ft0" : "=r"(r) : "r"(0x7f800001UL) : "ft0");
    CHECKN("fmv.w.x/fmv.x.w keep a signaling NaN", r, 0x7f800001UL);
    csr_write(fflags, 0);
    asm volatile("fmv.d.x ft0, %1\n fsgnjn.d ft1, ft0, ft0\n fmv.x.d %0, ft1" : "=r"(r) : "r"(0x7ff0000000000001UL) : "ft0", "ft1");
    CHECKN("fsgnjn.d of sNaN just flips the sign", r, 0xfff0000000000001UL);
    CHECKN("...no flags", csr_read(fflags), 0);

    fmem[0] = 0xc00921fb54442d18UL;
    fmem[1] = 0;
    asm volatile("fld ft0, 0(%1)\n fsd ft0, 8(%1)\n fmv.x.d %0, ft0" : "=r"(r) : "r"(fmem) : "ft0", "memory");
    CHECKN("fld", r, 0xc00921fb54442d18UL);
    CHECKN("fsd", fmem[1], 0xc00921fb54442d18UL);
    asm volatile("fld ft0, -8(%1)\n fmv.x.d %0, ft0" : "=r"(r) : "r"(&fmem[2]) : "ft0", "memory");
    CHECKN("fld negative offset", r, 0xc00921fb54442d18UL);
    fmem[2] = 0x1111111111111111UL;
    asm volatile("li t0, 0xbf800000\n fmv.w.x ft0, t0\n fsw ft0, 20(%0)" : : "r"(fmem) : "t0", "ft0", "memory");
    CHECKN("fsw writes 4 bytes", fmem[2], 0xbf80000011111111UL);
    asm volatile("flw ft0, 20(%1)\n fmv.x.w %0, ft0" : "=r"(r) : "r"(fmem) : "ft0", "memory");
    CHECKN("flw", r, 0xffffffffbf800000UL);
    /* loads/stores do not canonicalize NaNs or raise flags */
    csr_write(fflags, 0);
    fmem[0] = 0x7ff0000000000001UL;
    asm volatile("fld ft0, 0(%0)\n fsd ft0, 8(%0)" : : "r"(fmem) : "ft0", "memory");
    CHECKN("fld/fsd keep sNaN", fmem[1], 0x7ff0000000000001UL);
    CHECKN("fld/fsd raise no flags", csr_read(fflags), 0);
}

static uint64_t regs_out[32];

static void test_regfile(void)
{
    tsv_section("all 32 f registers");
#define W(n) "addi t0, t0, 1\n fmv.d.x f" #n ", t0\n"
#define S(n) "fsd f" #n ", " #n "*8(%0)\n"
    asm volatile("li t0, 0x100\n" W(0) W(1) W(2) W(3) W(4) W(5) W(6) W(7) W(8) W(9) W(10) W(11) W(12) W(13) W(14) W(15)
                 W(16) W(17) W(18) W(19) W(20) W(21) W(22) W(23) W(24) W(25) W(26) W(27) W(28) W(29) W(30) W(31)
                 S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11) S(12) S(13) S(14) S(15)
                 S(16) S(17) S(18) S(19) S(20) S(21) S(22) S(23) S(24) S(25) S(26) S(27) S(28) S(29) S(30) S(31)
                 : : "r"(regs_out)
                 : "t0", "memory", "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12", "f13",
                   "f14", "f15", "f16", "f17", "f18", "f19", "f20", "f21", "f22", "f23", "f24", "f25", "f26", "f27",
                   "f28", "f29", "f30", "f31");
    for (int i = 0; i < 32; i++)
        CHECKID(1000 + i, "f register holds its own value", regs_out[i], 0x101 + i);
#undef W
#undef S
}

static void test_fma_single_rounding(void)
{
    tsv_section("fused multiply-add rounds once");
    uint64_t r;
    /* a = 1 + 2^-30, b = 1 - 2^-30: a*b = 1 - 2^-60 (rounds to 1.0 in double) */
    uint64_t a = 0x3ff0000000400000UL, b = 0x3fefffffff800000UL, one = 0x3ff0000000000000UL;
    asm volatile("fmv.d.x ft0, %1\n fmv.d.x ft1, %2\n fmv.d.x ft2, %3\n fmsub.d ft3, ft0, ft1, ft2\n fmv.x.d %0, ft3"
                 : "=r"(r) : "r"(a), "r"(b), "r"(one) : "ft0", "ft1", "ft2", "ft3");
    CHECKN("fmsub.d (1+2^-30)(1-2^-30) - 1 = -2^-60", r, 0xbc30000000000000UL);
    asm volatile("fmv.d.x ft0, %1\n fmv.d.x ft1, %2\n fmv.d.x ft2, %3\n fmul.d ft3, ft0, ft1\n fsub.d ft3, ft3, ft2\n fmv.x.d %0, ft3"
                 : "=r"(r) : "r"(a), "r"(b), "r"(one) : "ft0", "ft1", "ft2", "ft3");
    CHECKN("unfused: 0", r, 0);
    /* single precision: (1+2^-12)(1-2^-12) - 1 = -2^-24 */
    asm volatile("fmv.w.x ft0, %1\n fmv.w.x ft1, %2\n fmv.w.x ft2, %3\n fnmsub.s ft3, ft0, ft1, ft2\n fmv.x.w %0, ft3"
                 : "=r"(r) : "r"(0x3f800800UL), "r"(0x3f7ff000UL), "r"(0x3f800000UL) : "ft0", "ft1", "ft2", "ft3");
    CHECKN("fnmsub.s -(1+2^-12)(1-2^-12) + 1 = 2^-24", r, 0x33800000UL);
}

static void test_fs(void)
{
    tsv_section("mstatus.FS");
    uint64_t r;
    /* writing FP state makes FS Dirty (and SD set) */
    csr_clear(mstatus, MSTATUS_FS);
    csr_set(mstatus, MSTATUS_FS_CLEAN);
    CHECKN("FS=Clean: SD clear", csr_read(mstatus) >> 63, 0);
    asm volatile("fmv.d.x ft0, x0" : : : "ft0");
    CHECKN("fmv.d.x makes FS Dirty", csr_read(mstatus) & MSTATUS_FS, MSTATUS_FS_DIRTY);
    CHECKN("SD set when FS Dirty", csr_read(mstatus) >> 63, 1);
    CHECKN("sstatus.SD mirrors", csr_read(sstatus) >> 63, 1);
    csr_clear(mstatus, MSTATUS_FS);
    csr_set(mstatus, MSTATUS_FS_CLEAN);
    csr_write(fflags, 1);
    CHECKN("writing fflags makes FS Dirty", csr_read(mstatus) & MSTATUS_FS, MSTATUS_FS_DIRTY);
    csr_write(fflags, 0);

    /* FS=Off: every FP instruction and FP CSR access is illegal */
    csr_clear(mstatus, MSTATUS_FS);
    CHECKN("FS=Off reads back", csr_read(mstatus) & MSTATUS_FS, 0);
    trap_expect();
    asm volatile(TRAP_LANDING "fadd.d ft0, ft1, ft2" TRAP_END : : : "t6", "ft0");
    CHECKN("FS=Off: fadd.d illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile(TRAP_LANDING "fld ft0, 0(%0)" TRAP_END : : "r"(fmem) : "t6", "ft0");
    CHECKN("FS=Off: fld illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile(TRAP_LANDING "fsw ft0, 0(%0)" TRAP_END : : "r"(fmem) : "t6", "memory");
    CHECKN("FS=Off: fsw illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile(TRAP_LANDING "fmv.x.d %0, ft0" TRAP_END : "=r"(r) : : "t6");
    CHECKN("FS=Off: fmv.x.d illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile(TRAP_LANDING "fmv.w.x ft0, x0" TRAP_END : : : "t6", "ft0");
    CHECKN("FS=Off: fmv.w.x illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile(TRAP_LANDING "fcvt.d.l ft0, x0" TRAP_END : : : "t6", "ft0");
    CHECKN("FS=Off: fcvt.d.l illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile(TRAP_LANDING "fmadd.s ft0, ft1, ft2, ft3" TRAP_END : : : "t6", "ft0");
    CHECKN("FS=Off: fmadd.s illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile(TRAP_LANDING "csrr %0, fcsr" TRAP_END : "=r"(r) : : "t6");
    CHECKN("FS=Off: csrr fcsr illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile(TRAP_LANDING "csrw frm, x0" TRAP_END : : : "t6");
    CHECKN("FS=Off: csrw frm illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile(TRAP_LANDING "csrr %0, fflags" TRAP_END : "=r"(r) : : "t6");
    CHECKN("FS=Off: csrr fflags illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile("mv a5, %0\n" TRAP_LANDING "c.fld fa0, 0(a5)" TRAP_END : : "r"(fmem) : "t6", "a5", "fa0");
    CHECKN("FS=Off: c.fld illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    trap_expect();
    asm volatile(TRAP_LANDING "c.fsdsp fa0, 0(sp)" TRAP_END : : : "t6", "memory");
    CHECKN("FS=Off: c.fsdsp illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    csr_set(mstatus, MSTATUS_FS_INITIAL);
    /* FP state survives FS=Off */
    asm volatile("fmv.d.x ft0, %0" : : "r"(0x1234UL) : "ft0");
    csr_clear(mstatus, MSTATUS_FS);
    csr_set(mstatus, MSTATUS_FS_INITIAL);
    asm volatile("fmv.x.d %0, ft0" : "=r"(r));
    CHECKN("f registers kept across FS=Off", r, 0x1234);
}

int main(void)
{
    test_csrs();
    test_invalid_rm();
    test_boxing();
    test_moves_loads();
    test_regfile();
    test_fma_single_rounding();
    test_fs();
    test_vectors();
    return 0;
}
