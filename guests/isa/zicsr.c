/* zicsr: CSR instructions (all six forms, rs1=x0 / uimm=0 don't write),
 * read-only and unimplemented CSRs, privilege checks, machine information
 * CSRs, misa, WARL views (sstatus/sie/sip, medeleg/mideleg), and Zicntr
 * (cycle/time/instret, mcounteren/scounteren gating from S and U). */
#include "tsv.h"

const char *tsv_test_name = "zicsr";

static void test_forms(void)
{
    tsv_section("csrrw/csrrs/csrrc and immediate forms (on sscratch)");
    uint64_t saved = csr_read(sscratch), r, x;
    csr_write(sscratch, 0x0123456789abcdefUL);
    asm volatile("csrrw %0, sscratch, %1" : "=r"(r) : "r"(0xfedcba9876543210UL));
    CHECKN("csrrw returns old", r, 0x0123456789abcdefUL);
    CHECKN("csrrw writes all 64 bits", csr_read(sscratch), 0xfedcba9876543210UL);
    asm volatile("csrrs %0, sscratch, %1" : "=r"(r) : "r"(0x000000000000000fUL));
    CHECKN("csrrs returns old", r, 0xfedcba9876543210UL);
    CHECKN("csrrs sets bits", csr_read(sscratch), 0xfedcba987654321fUL);
    asm volatile("csrrc %0, sscratch, %1" : "=r"(r) : "r"(0xf000000000000001UL));
    CHECKN("csrrc returns old", r, 0xfedcba987654321fUL);
    CHECKN("csrrc clears bits", csr_read(sscratch), 0x0edcba987654321eUL);
    asm volatile("csrrwi %0, sscratch, 31" : "=r"(r));
    CHECKN("csrrwi returns old", r, 0x0edcba987654321eUL);
    CHECKN("csrrwi zero-extends uimm", csr_read(sscratch), 31);
    asm volatile("csrrsi %0, sscratch, 0x10" : "=r"(r));
    CHECKN("csrrsi returns old", r, 31);
    asm volatile("csrrci %0, sscratch, 0x3" : "=r"(r));
    CHECKN("csrrci returns old", r, 31);
    CHECKN("csrrci clears", csr_read(sscratch), 28);
    asm volatile("csrrsi %0, sscratch, 0" : "=r"(r));
    CHECKN("csrrsi 0 reads", r, 28);
    asm volatile("csrrs %0, sscratch, x0" : "=r"(r));
    CHECKN("csrrs x0 reads", r, 28);
    CHECKN("...and doesn't write", csr_read(sscratch), 28);
    /* rd == rs1: swap */
    x = 0x5555;
    asm volatile("csrrw %0, sscratch, %0" : "+r"(x));
    CHECKN("csrrw rd==rs1 returns old", x, 28);
    CHECKN("csrrw rd==rs1 writes the old rs1", csr_read(sscratch), 0x5555);
    /* rd = x0 */
    asm volatile("csrrw x0, sscratch, %0" : : "r"(0x77UL));
    CHECKN("csrrw x0 writes", csr_read(sscratch), 0x77);
    asm volatile("csrrs x0, sscratch, %0" : : "r"(0x100UL));
    CHECKN("csrrs x0 (csrs) writes", csr_read(sscratch), 0x177);
    asm volatile("csrrci x0, sscratch, 7" : :);
    CHECKN("csrrci x0 (csrci) writes", csr_read(sscratch), 0x170);
    csr_write(sscratch, saved);

    uint64_t m = csr_read(mscratch);
    csr_write(mscratch, 0x8000000000000001UL);
    r = csr_swap(mscratch, m);
    CHECKN("mscratch holds 64 bits", r, 0x8000000000000001UL);
    csr_write(mtval, 0xfffffffffffffff0UL);
    CHECKN("mtval writable", csr_read(mtval), 0xfffffffffffffff0UL);
    csr_write(stval, 0x123);
    CHECKN("stval writable", csr_read(stval), 0x123);
    csr_write(sepc, 0x80001000);
    CHECKN("sepc writable", csr_read(sepc), 0x80001000);
}

#define TRAPS(insn) ({ uint64_t r_ = 0; trap_expect(); \
    asm volatile("li t0, 0\n" TRAP_LANDING insn TRAP_END : "+r"(r_) : : "t0", "t6"); trap_count(); })

static void test_readonly(void)
{
    tsv_section("read-only and unimplemented CSRs");
    uint64_t r;
    CHECKN("mhartid = boot a0", csr_read(mhartid), tsv_boot_hartid);
    CHECKN("boot hart is 0", csr_read(mhartid), 0);
    (void)csr_read(mvendorid);
    (void)csr_read(marchid);
    (void)csr_read(mimpid);
    CHECKN("csrr mhartid (csrrs x0) doesn't trap", TRAPS("csrrs %0, mhartid, x0"), 0);
    CHECKN("csrrsi mvendorid, 0 doesn't trap", TRAPS("csrrsi %0, mvendorid, 0"), 0);
    CHECKN("csrrci marchid, 0 doesn't trap", TRAPS("csrrci %0, marchid, 0"), 0);
    CHECKN("csrrc mimpid, x0 doesn't trap", TRAPS("csrrc %0, mimpid, x0"), 0);
    CHECKN("csrw mhartid traps", TRAPS("csrw mhartid, t0"), 1);
    CHECKN("...illegal instruction", g_mtrap.cause, CAUSE_ILLEGAL);
    CHECKN("csrrw x0, mvendorid, x0 traps (always writes)", TRAPS("csrrw x0, mvendorid, x0"), 1);
    CHECKN("csrrwi mimpid, 0 traps (always writes)", TRAPS("csrrwi %0, mimpid, 0"), 1);
    /* The spec also requires a trap for csrrs/csrrc with rs1 != x0 holding 0
     * (the write is still attempted); QEMU 7.2 doesn't trap then, so only
     * non-zero masks are tested. */
    CHECKN("csrrs mhartid with rs1 = 1 traps", TRAPS("li t0, 1\n csrrs %0, mhartid, t0"), 1);
    CHECKN("csrrc mvendorid with rs1 = -1 traps", TRAPS("li t0, -1\n csrrc %0, mvendorid, t0"), 1);
    CHECKN("csrrsi marchid, 1 traps", TRAPS("csrrsi %0, marchid, 1"), 1);
    CHECKN("csrw cycle traps (user counters are read-only)", TRAPS("csrw cycle, t0"), 1);
    CHECKN("csrs instret traps", TRAPS("li t0, 4\n csrs instret, t0"), 1);
    CHECKN("csrw time traps", TRAPS("csrw time, t0"), 1);
    /* unimplemented CSR: illegal, mtval = instruction bits */
    uint64_t insn_pc;
    trap_expect();
    asm volatile(TRAP_LANDING "lla %0, 1f\n 1: csrr %1, 0x7c0" TRAP_END : "=&r"(insn_pc), "=r"(r) : : "t6");
    CHECKN("unimplemented CSR 0x7c0 traps", trap_count(), 1);
    CHECKN("...illegal instruction", g_mtrap.cause, CAUSE_ILLEGAL);
    CHECKN("...mepc", g_mtrap.epc, insn_pc);
    CHECKN("...mtval = instruction bits", g_mtrap.tval, *(volatile uint32_t *)insn_pc);
    CHECKN("...instruction bits are csrr 0x7c0", g_mtrap.tval & 0xfff0707f, 0x7c002073);
    CHECKN("pmpcfg1 doesn't exist on RV64", TRAPS("csrr %0, pmpcfg1"), 1);
}

static void test_misa_mstatus(void)
{
    tsv_section("misa / mstatus / sstatus");
    uint64_t misa = csr_read(misa);
    CHECKN("misa.MXL = 2 (64-bit)", misa >> 62, 2);
    const char *want = "IMAFDCSU";
    for (const char *c = want; *c; c++) {
        printf("  misa.%c\n", *c);
        CHECKID(2000 + (*c - 'A'), "misa extension bit", (misa >> (*c - 'A')) & 1, 1);
    }
    uint64_t ms = csr_read(mstatus);
    CHECKN("mstatus.UXL = 2", (ms >> 32) & 3, 2);
    CHECKN("mstatus.SXL = 2", (ms >> 34) & 3, 2);
    CHECKN("sstatus.UXL = 2", (csr_read(sstatus) >> 32) & 3, 2);
    /* sstatus is a restricted view of mstatus */
    csr_clear(mstatus, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR);
    csr_set(mstatus, MSTATUS_MPIE | (1UL << MSTATUS_MPP_SHIFT));
    uint64_t before = csr_read(mstatus);
    csr_set(sstatus, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_MIE | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR);
    uint64_t after = csr_read(mstatus);
    CHECKN("sstatus write sets SIE/SPIE/SPP/SUM/MXR in mstatus",
           after & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR),
           MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR);
    CHECKN("sstatus write can't touch MIE/MPRV/TVM/TW/TSR",
           after & (MSTATUS_MIE | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR), 0);
    CHECKN("sstatus write keeps MPIE/MPP", after & (MSTATUS_MPIE | MSTATUS_MPP), before & (MSTATUS_MPIE | MSTATUS_MPP));
    uint64_t ss = csr_read(sstatus);
    CHECKN("sstatus hides MPIE/MPP", ss & (MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MIE), 0);
    CHECKN("sstatus shows SIE/SPP", ss & (MSTATUS_SIE | MSTATUS_SPP), MSTATUS_SIE | MSTATUS_SPP);
    csr_clear(sstatus, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR);
    CHECKN("sstatus clear", csr_read(mstatus) & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR), 0);
    csr_clear(mstatus, MSTATUS_MPP | MSTATUS_MPIE);
}

static void test_interrupt_csrs(void)
{
    tsv_section("mie/sie, mip/sip, mideleg/medeleg");
    csr_write(mideleg, -1UL);
    uint64_t mideleg = csr_read(mideleg);
    CHECKN("mideleg: S interrupts delegable", mideleg & 0x222, 0x222);
    CHECKN("mideleg: M interrupts not delegable", mideleg & 0x888, 0);
    csr_write(medeleg, -1UL);
    uint64_t medeleg = csr_read(medeleg);
    CHECKN("medeleg: ecall-U, page faults, illegal, breakpoint delegable",
           medeleg & ((1 << 8) | (1 << 12) | (1 << 13) | (1 << 15) | (1 << 2) | (1 << 3)),
           (1 << 8) | (1 << 12) | (1 << 13) | (1 << 15) | (1 << 2) | (1 << 3));
    csr_write(medeleg, 0);
    CHECKN("medeleg cleared", csr_read(medeleg), 0);

    /* sie/sip show only delegated bits */
    csr_write(mie, 0);
    csr_write(mideleg, 0);
    csr_write(sie, 0x222);
    CHECKN("sie write with nothing delegated: no effect on mie", csr_read(mie) & 0x222, 0);
    CHECKN("sie reads 0 with nothing delegated", csr_read(sie) & 0x222, 0);
    csr_write(mie, 0x222 | MIP_MTIP);
    CHECKN("sie hides undelegated mie bits", csr_read(sie), 0);
    csr_write(mideleg, MIP_SSIP | MIP_STIP);
    CHECKN("sie shows delegated bits", csr_read(sie), MIP_SSIP | MIP_STIP);
    csr_write(sie, 0);
    CHECKN("sie write clears only delegated mie bits", csr_read(mie), MIP_SEIP | MIP_MTIP);
    csr_write(sie, MIP_SSIP);
    CHECKN("sie write sets delegated mie bit", csr_read(mie), MIP_SEIP | MIP_MTIP | MIP_SSIP);
    csr_write(mie, 0);
    /* sip.SSIP writable when delegated, reflected in mip */
    csr_write(sip, MIP_SSIP);
    CHECKN("sip.SSIP write sets mip.SSIP", csr_read(mip) & MIP_SSIP, MIP_SSIP);
    CHECKN("sip.SSIP reads back", csr_read(sip) & MIP_SSIP, MIP_SSIP);
    csr_clear(sip, MIP_SSIP);
    CHECKN("sip.SSIP clear", csr_read(mip) & MIP_SSIP, 0);
    csr_set(mip, MIP_SSIP);
    CHECKN("mip.SSIP writable from M", csr_read(mip) & MIP_SSIP, MIP_SSIP);
    csr_write(mideleg, 0);
    CHECKN("sip hides undelegated SSIP", csr_read(sip) & MIP_SSIP, 0);
    csr_clear(mip, MIP_SSIP);
    CHECKN("mip.SSIP cleared", csr_read(mip) & MIP_SSIP, 0);
    mmio_write64(CLINT_MTIMECMP, -1UL); /* no timer interrupt pending */
    mmio_write32(CLINT_MSIP, 0);
    CHECKN("no M interrupt pending", csr_read(mip) & (MIP_MTIP | MIP_MSIP | MIP_MEIP), 0);
    csr_write(mip, MIP_MTIP | MIP_MSIP | MIP_MEIP);
    CHECKN("mip.MTIP/MSIP/MEIP are read-only (set by devices)", csr_read(mip) & (MIP_MTIP | MIP_MSIP | MIP_MEIP), 0);
}

static void test_counters_m(void)
{
    tsv_section("Zicntr in M-mode");
    uint64_t c0 = csr_read(cycle), i0 = csr_read(instret);
    uint64_t n = 1000;
    asm volatile("1: addi %0, %0, -1\n bnez %0, 1b" : "+r"(n));
    uint64_t c1 = csr_read(cycle), i1 = csr_read(instret);
    CHECKN("cycle advances", c1 > c0, 1);
    CHECKN("instret advances by at least the instructions run", i1 - i0 >= 2000, 1);
    CHECKN("mcycle = cycle", csr_read(mcycle) >= c1, 1);
    CHECKN("minstret = instret", csr_read(minstret) >= i1, 1);
    uint64_t t0 = csr_read(time), mt = mtime(), t1 = csr_read(time);
    CHECKN("time <= CLINT mtime", t0 <= mt, 1);
    CHECKN("CLINT mtime <= time", mt <= t1, 1);
    CHECKN("time runs", t1 - t0 < 10000000, 1);
    /* minstret/mcycle are writable */
    csr_write(minstret, 1000000);
    uint64_t i2 = csr_read(minstret);
    CHECKN("minstret write", i2 >= 1000000 && i2 < 1000000 + 100000000, 1);
    csr_write(mcycle, 5000000);
    uint64_t c2 = csr_read(mcycle);
    CHECKN("mcycle write", c2 >= 5000000 && c2 < 5000000 + 1000000000, 1);
    CHECKN("instret follows minstret", csr_read(instret) >= 1000000, 1);
}

/* executed in S or U: read a counter, 1 if it trapped (illegal) */
static uint64_t lower_read_counter(uint64_t which)
{
    uint64_t r = 0;
    switch (which) {
    case 0: asm volatile(TRAP_LANDING "csrr %0, cycle" TRAP_END : "+r"(r) : : "t6"); break;
    case 1: asm volatile(TRAP_LANDING "csrr %0, time" TRAP_END : "+r"(r) : : "t6"); break;
    case 2: asm volatile(TRAP_LANDING "csrr %0, instret" TRAP_END : "+r"(r) : : "t6"); break;
    }
    return r;
}

static uint64_t lower_csr(uint64_t which)
{
    uint64_t r = 0;
    switch (which) {
    case 0: asm volatile(TRAP_LANDING "csrr %0, mstatus" TRAP_END : "+r"(r) : : "t6"); break;
    case 1: asm volatile(TRAP_LANDING "csrr %0, sstatus" TRAP_END : "+r"(r) : : "t6"); break;
    case 2: asm volatile(TRAP_LANDING "csrr %0, mscratch" TRAP_END : "+r"(r) : : "t6"); break;
    case 3: asm volatile(TRAP_LANDING "csrw sscratch, %0" TRAP_END : "+r"(r) : : "t6"); break;
    case 4: asm volatile(TRAP_LANDING "csrr %0, mhartid" TRAP_END : "+r"(r) : : "t6"); break;
    case 5: asm volatile(TRAP_LANDING "csrr %0, satp" TRAP_END : "+r"(r) : : "t6"); break;
    case 6: asm volatile(TRAP_LANDING "csrr %0, fcsr" TRAP_END : "+r"(r) : : "t6"); break;
    case 7: asm volatile(TRAP_LANDING "csrr %0, mcycle" TRAP_END : "+r"(r) : : "t6"); break;
    case 8: asm volatile(TRAP_LANDING "csrr %0, scounteren" TRAP_END : "+r"(r) : : "t6"); break;
    }
    return r;
}

static uint64_t lower_trap(int mode, uint64_t (*fn)(uint64_t), uint64_t arg)
{
    trap_expect();
    run_mode(mode, fn, arg);
    return trap_count();
}

static void test_privilege(void)
{
    tsv_section("CSR privilege");
    static const char *const names[] = {"mstatus", "sstatus", "mscratch", "sscratch(w)", "mhartid", "satp", "fcsr", "mcycle", "scounteren"};
    static const uint8_t s_traps[] = {1, 0, 1, 0, 1, 0, 0, 1, 0};
    static const uint8_t u_traps[] = {1, 1, 1, 1, 1, 1, 0, 1, 1};
    for (unsigned i = 0; i < ARRAY_SIZE(s_traps); i++) {
        printf("  %s from S and U\n", names[i]);
        CHECKID(3000 + i, "S-mode access traps?", lower_trap(PRV_S, lower_csr, i), s_traps[i]);
        if (g_mtrap.count)
            CHECKID(3100 + i, "S-mode access cause", g_mtrap.cause, CAUSE_ILLEGAL);
        CHECKID(3200 + i, "U-mode access traps?", lower_trap(PRV_U, lower_csr, i), u_traps[i]);
        if (g_mtrap.count) {
            CHECKID(3300 + i, "U-mode access cause", g_mtrap.cause, CAUSE_ILLEGAL);
            CHECKID(3400 + i, "trap came from U", g_mtrap.prev_priv, PRV_U);
        }
    }
}

static void test_counter_gating(void)
{
    tsv_section("mcounteren/scounteren gating");
    static const char *const cn[] = {"cycle", "time", "instret"};
    static const unsigned bit[] = {0, 1, 2}; /* CY, TM, IR */
    for (unsigned c = 0; c < 3; c++) {
        for (unsigned m = 0; m < 2; m++) {
            for (unsigned s = 0; s < 2; s++) {
                csr_write(mcounteren, m ? 1UL << bit[c] : 0);
                csr_write(scounteren, s ? 1UL << bit[c] : 0);
                printf("  %s mcounteren=%u scounteren=%u\n", cn[c], m, s);
                unsigned id = 3500 + c * 16 + m * 4 + s * 2;
                CHECKID(id, "S-mode read traps iff mcounteren bit clear", lower_trap(PRV_S, lower_read_counter, c), !m);
                CHECKID(id + 1, "U-mode read traps iff either bit clear", lower_trap(PRV_U, lower_read_counter, c), !(m && s));
            }
        }
    }
    /* the value read from S matches the M view */
    csr_write(mcounteren, 7);
    csr_write(scounteren, 7);
    uint64_t t0 = csr_read(time);
    uint64_t ts = run_mode(PRV_S, lower_read_counter, 1);
    uint64_t tu = run_mode(PRV_U, lower_read_counter, 1);
    uint64_t t1 = csr_read(time);
    CHECKN("time from S in range", ts >= t0 && ts <= t1, 1);
    CHECKN("time from U in range", tu >= ts && tu <= t1, 1);
    csr_write(mcounteren, 0);
    csr_write(scounteren, 0);
}

int main(void)
{
    test_forms();
    test_readonly();
    test_misa_mstatus();
    test_interrupt_csrs();
    test_counters_m();
    test_privilege();
    test_counter_gating();
    return 0;
}
