/* pmp: physical memory protection as OpenSBI uses it: NAPOT/TOR/NA4 regions
 * that deny or restrict S/U accesses (load/store/fetch access faults with
 * tval), priority of the lowest-numbered matching entry, M-mode unaffected
 * unless the entry is locked, locked entries ignore writes, and PMP checks
 * on the implicit page-table accesses of S-mode translation. */
#include "tsv.h"

const char *tsv_test_name = "pmp";

#define PMP_R 0x01
#define PMP_W 0x02
#define PMP_X 0x04
#define PMP_OFF 0x00
#define PMP_TOR 0x08
#define PMP_NA4 0x10
#define PMP_NAPOT 0x18
#define PMP_L 0x80
#define PAGE 4096UL
#define SENTINEL 0x5e5e5e5e5e5e5e5eUL
#define CATCH_ALL 15 /* lowest-priority entry: everything RWX for S/U */

static uint8_t pages[8][PAGE] ALIGNED(4096);
static uint64_t pt_root[512] ALIGNED(4096);

static void pmp_set_addr(int i, uint64_t v)
{
    switch (i) {
    case 0: csr_write(pmpaddr0, v); break;
    case 1: csr_write(pmpaddr1, v); break;
    case 2: csr_write(pmpaddr2, v); break;
    case 3: csr_write(pmpaddr3, v); break;
    case 4: csr_write(pmpaddr4, v); break;
    case 5: csr_write(pmpaddr5, v); break;
    case 6: csr_write(pmpaddr6, v); break;
    case 7: csr_write(pmpaddr7, v); break;
    case 15: csr_write(pmpaddr15, v); break;
    }
}

static uint64_t pmp_get_addr(int i)
{
    switch (i) {
    case 0: return csr_read(pmpaddr0);
    case 5: return csr_read(pmpaddr5);
    case 15: return csr_read(pmpaddr15);
    }
    return 0;
}

static void pmp_set_cfg(int i, uint8_t cfg)
{
    int sh = (i & 7) * 8;
    uint64_t mask = 0xffUL << sh, v = (uint64_t)cfg << sh;
    if (i < 8) {
        csr_clear(pmpcfg0, mask);
        csr_set(pmpcfg0, v);
    } else {
        csr_clear(pmpcfg2, mask);
        csr_set(pmpcfg2, v);
    }
}

static uint8_t pmp_get_cfg(int i)
{
    return (i < 8 ? csr_read(pmpcfg0) : csr_read(pmpcfg2)) >> ((i & 7) * 8);
}

static uint64_t napot(uint64_t base, uint64_t size)
{
    return (base >> 2) | ((size >> 3) - 1);
}

static void sync_pmp(void)
{
    asm volatile("sfence.vma" ::: "memory");
}

/* ---------------------------------------------------------------- accessors */
static uint64_t g_val;

static uint64_t acc_ld(uint64_t a)
{
    uint64_t r = SENTINEL;
    asm volatile(TRAP_LANDING "ld %0, 0(%1)" TRAP_END : "+r"(r) : "r"(a) : "t6", "memory");
    return r;
}

static uint64_t acc_lw(uint64_t a)
{
    uint64_t r = SENTINEL;
    asm volatile(TRAP_LANDING "lw %0, 0(%1)" TRAP_END : "+r"(r) : "r"(a) : "t6", "memory");
    return r;
}

static uint64_t acc_sd(uint64_t a)
{
    asm volatile(TRAP_LANDING "sd %1, 0(%0)" TRAP_END : : "r"(a), "r"(g_val) : "t6", "memory");
    return 0;
}

static uint64_t acc_exec(uint64_t a)
{
    uint64_t r;
    asm volatile("li a0, 0x5e5\n" TRAP_LANDING "jalr ra, 0(%1)" TRAP_END "mv %0, a0" : "=r"(r) : "r"(a) : "a0", "ra", "t6", "memory");
    return r;
}

struct res {
    uint64_t val, traps, cause, tval;
};

static struct res run_acc(int mode, uint64_t (*fn)(uint64_t), uint64_t a)
{
    struct res r;
    trap_expect();
    r.val = run_mode(mode, fn, a);
    r.traps = trap_count();
    r.cause = g_mtrap.cause;
    r.tval = g_mtrap.tval;
    return r;
}

#define EXPECT_FAULT(r, c, a, what) do { \
        struct res r_ = (r); \
        CHECKN(what ": faults", r_.traps, 1); \
        CHECKN(what ": cause", r_.cause, c); \
        CHECKN(what ": tval", r_.tval, a); \
    } while (0)
#define EXPECT_OK(r, v, what) do { \
        struct res r_ = (r); \
        CHECKN(what ": no fault", r_.traps, 0); \
        CHECKN(what ": value", r_.val, v); \
    } while (0)

static void put_code(uint8_t *page, uint32_t imm)
{
    uint32_t *p = (uint32_t *)page;
    p[0] = (imm << 20) | (10 << 7) | 0x13; /* addi a0, x0, imm */
    p[1] = 0x00008067;                     /* ret */
    asm volatile("fence.i" ::: "memory");
}

int main(void)
{
    uint64_t A = (uint64_t)pages[0], B = (uint64_t)pages[1], C = (uint64_t)pages[2], D = (uint64_t)pages[3];
    uint64_t E = (uint64_t)pages[4], F = (uint64_t)pages[5];
    for (int i = 0; i < 6; i++)
        ((uint64_t *)pages[i])[1] = 0x1000 + i;
    put_code(pages[1], 0x11);
    put_code(pages[3], 0x33);

    tsv_section("PMP CSRs");
    /* catch-all in the last entry, entry 0 freed */
    pmp_set_addr(CATCH_ALL, -1UL);
    pmp_set_cfg(CATCH_ALL, PMP_NAPOT | PMP_R | PMP_W | PMP_X);
    pmp_set_cfg(0, PMP_OFF);
    CHECKN("pmpcfg2 entry 15 reads back", pmp_get_cfg(CATCH_ALL), PMP_NAPOT | PMP_R | PMP_W | PMP_X);
    pmp_set_addr(0, napot(A, PAGE));
    CHECKN("pmpaddr0 reads back", pmp_get_addr(0), napot(A, PAGE));
    EXPECT_OK(run_acc(PRV_S, acc_ld, A + 8), 0x1000, "S load with only the catch-all");

    tsv_section("NAPOT deny region");
    pmp_set_cfg(0, PMP_NAPOT); /* no permissions */
    sync_pmp();
    EXPECT_FAULT(run_acc(PRV_S, acc_ld, A + 8), CAUSE_LOAD_ACCESS, A + 8, "S load denied");
    g_val = 0xbad;
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, A + 16), CAUSE_STORE_ACCESS, A + 16, "S store denied");
    CHECKN("denied store didn't write", ((uint64_t *)pages[0])[2], 0);
    EXPECT_FAULT(run_acc(PRV_U, acc_ld, A + 24), CAUSE_LOAD_ACCESS, A + 24, "U load denied");
    EXPECT_OK(run_acc(PRV_S, acc_ld, A + PAGE + 8), 0x1001, "S load just past the region");
    EXPECT_OK(run_acc(PRV_S, acc_ld, A - 8 + 8 * 0), *(volatile uint64_t *)(A - 8), "S load just before the region");
    ((volatile uint64_t *)pages[0])[3] = 0x3333;
    CHECKN("M-mode unaffected (not locked)", ((volatile uint64_t *)pages[0])[3], 0x3333);

    tsv_section("TOR read-only region, execute");
    pmp_set_addr(1, B >> 2);
    pmp_set_cfg(1, PMP_OFF);
    pmp_set_addr(2, (B + PAGE) >> 2);
    pmp_set_cfg(2, PMP_TOR | PMP_R);
    sync_pmp();
    EXPECT_OK(run_acc(PRV_S, acc_ld, B + 8), ((uint64_t *)pages[1])[1], "S load from R region");
    g_val = 0xbad;
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, B + 64), CAUSE_STORE_ACCESS, B + 64, "S store to R region");
    EXPECT_FAULT(run_acc(PRV_S, acc_exec, B), CAUSE_FETCH_ACCESS, B, "S exec from R region");
    EXPECT_FAULT(run_acc(PRV_U, acc_exec, B), CAUSE_FETCH_ACCESS, B, "U exec from R region");
    /* an X-only region */
    pmp_set_addr(3, napot(D, PAGE));
    pmp_set_cfg(3, PMP_NAPOT | PMP_X);
    sync_pmp();
    EXPECT_OK(run_acc(PRV_S, acc_exec, D), 0x33, "S exec from X region");
    EXPECT_OK(run_acc(PRV_U, acc_exec, D), 0x33, "U exec from X region");
    EXPECT_FAULT(run_acc(PRV_S, acc_ld, D + 8), CAUSE_LOAD_ACCESS, D + 8, "S load from X region");

    tsv_section("NA4 and priority");
    ((volatile uint64_t *)pages[2])[1] = 0x2222;
    ((volatile uint64_t *)pages[2])[2] = 0x4444;
    pmp_set_addr(4, (C + 16) >> 2);
    pmp_set_cfg(4, PMP_NA4);
    sync_pmp();
    EXPECT_FAULT(run_acc(PRV_S, acc_lw, C + 16), CAUSE_LOAD_ACCESS, C + 16, "NA4 word denied");
    EXPECT_OK(run_acc(PRV_S, acc_lw, C + 20), 0, "the next word is fine");
    EXPECT_OK(run_acc(PRV_M, acc_lw, C + 16), 0x4444, "M unaffected by the NA4 entry");
    EXPECT_OK(run_acc(PRV_S, acc_lw, C + 8), 0x2222, "the previous word is fine");
    /* an access overlapping the NA4 word partially must fail */
    EXPECT_FAULT(run_acc(PRV_S, acc_ld, C + 16), CAUSE_LOAD_ACCESS, C + 16, "ld covering the NA4 word");
    /* a partial match fails even in M-mode, whatever L, R, W, X say */
    EXPECT_FAULT(run_acc(PRV_M, acc_ld, C + 16), CAUSE_LOAD_ACCESS, C + 16, "M ld partially matching the NA4 entry");
    pmp_set_cfg(4, PMP_NA4 | PMP_R | PMP_W);
    sync_pmp();
    EXPECT_FAULT(run_acc(PRV_M, acc_ld, C + 16), CAUSE_LOAD_ACCESS, C + 16, "...also with R/W set");
    EXPECT_OK(run_acc(PRV_M, acc_lw, C + 16), 0x4444, "M lw matching the NA4 entry fully");
    EXPECT_OK(run_acc(PRV_S, acc_lw, C + 16), 0x4444, "S lw with NA4 R");
    pmp_set_cfg(4, PMP_OFF);
    sync_pmp();
    /* lowest-numbered match wins: entry 0 (R only over A) vs the catch-all */
    pmp_set_cfg(0, PMP_NAPOT | PMP_R);
    sync_pmp();
    EXPECT_OK(run_acc(PRV_S, acc_ld, A + 8), 0x1000, "entry 0 now allows R");
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, A + 8), CAUSE_STORE_ACCESS, A + 8, "entry 0 R-only beats catch-all RWX");
    /* no match at all for S: fault (catch-all off) */
    pmp_set_cfg(CATCH_ALL, PMP_OFF);
    sync_pmp();
    CHECKN("M still runs with no matching entry", ((volatile uint64_t *)pages[5])[1], 0x1005);
    /* S can't even fetch its own code now: run_mode's mret lands on a fetch access fault */
    trap_expect_abort();
    CHECKN("S with no matching entry: run_mode aborted", run_mode(PRV_S, acc_ld, F + 8), -1UL);
    CHECKN("...by one fetch access fault", trap_count() == 1 && g_mtrap.cause == CAUSE_FETCH_ACCESS, 1);
    CHECKN("...at the S entry point", g_mtrap.tval, (uint64_t)acc_ld);
    pmp_set_cfg(CATCH_ALL, PMP_NAPOT | PMP_R | PMP_W | PMP_X);
    sync_pmp();
    EXPECT_OK(run_acc(PRV_S, acc_ld, F + 8), 0x1005, "catch-all restored");

    tsv_section("PMP on page-table walks");
    /* Sv39 with the root in page E; identity gigapage for RAM */
    uint64_t *root = (uint64_t *)E;
    memset(root, 0, PAGE);
    root[2] = ((0x80000000UL >> 12) << 10) | 0xcf; /* V R W X A D */
    csr_write(satp, (8UL << 60) | (E >> 12));
    sync_pmp();
    EXPECT_OK(run_acc(PRV_S, acc_ld, F + 8), 0x1005, "S load through page table in allowed memory");
    pmp_set_addr(5, napot(E, PAGE));
    pmp_set_cfg(5, PMP_NAPOT); /* deny the page table to S */
    sync_pmp();
    trap_expect_abort();
    run_mode(PRV_S, acc_ld, F + 8);
    /* the very first fetch in S already needs the walk: fetch access fault */
    CHECKN("page table in a denied region: fetch access fault", trap_count() == 1 && g_mtrap.cause == CAUSE_FETCH_ACCESS, 1);
    CHECKN("...tval = the fetch address", g_mtrap.tval, (uint64_t)acc_ld);
    pmp_set_cfg(5, PMP_OFF);
    csr_write(satp, 0);
    sync_pmp();
    (void)pt_root;

    tsv_section("locked entries");
    /* entry 6: lock page F read-only: applies to M too */
    pmp_set_addr(6, napot(F, PAGE));
    pmp_set_cfg(6, PMP_NAPOT | PMP_R | PMP_L);
    sync_pmp();
    CHECKN("locked cfg reads back", pmp_get_cfg(6), PMP_NAPOT | PMP_R | PMP_L);
    uint64_t r = SENTINEL;
    trap_expect();
    asm volatile(TRAP_LANDING "ld %0, 8(%1)" TRAP_END : "+r"(r) : "r"(F) : "t6", "memory");
    CHECKN("M load from locked R region", trap_count(), 0);
    CHECKN("...value", r, 0x1005);
    trap_expect();
    asm volatile(TRAP_LANDING "sd %0, 16(%1)" TRAP_END : : "r"(0xbadUL), "r"(F) : "t6", "memory");
    CHECKN("M store to locked R region faults", trap_count(), 1);
    CHECKN("...store access fault", g_mtrap.cause, CAUSE_STORE_ACCESS);
    CHECKN("...mtval", g_mtrap.tval, F + 16);
    CHECKN("...memory unchanged", ((volatile uint64_t *)pages[5])[2], 0);
    trap_expect();
    asm volatile(TRAP_LANDING "jalr ra, 0(%0)" TRAP_END : : "r"(F) : "ra", "t6", "memory");
    CHECKN("M exec from locked non-X region faults", trap_count() == 1 && g_mtrap.cause == CAUSE_FETCH_ACCESS, 1);
    /* writes to a locked entry are ignored */
    pmp_set_cfg(6, PMP_NAPOT | PMP_R | PMP_W | PMP_X);
    pmp_set_addr(6, napot(A, PAGE));
    CHECKN("locked cfg ignores writes", pmp_get_cfg(6), PMP_NAPOT | PMP_R | PMP_L);
    CHECKN("locked addr ignores writes", csr_read(pmpaddr6), napot(F, PAGE));
    trap_expect();
    asm volatile(TRAP_LANDING "sd %0, 16(%1)" TRAP_END : : "r"(0xbadUL), "r"(F) : "t6", "memory");
    CHECKN("M store still faults", trap_count(), 1);
    /* S/U: locked R region allows loads */
    EXPECT_OK(run_acc(PRV_S, acc_ld, F + 8), 0x1005, "S load from locked R region");
    return 0;
}
