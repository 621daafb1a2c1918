/* mmu: Sv39 and Sv48 address translation, run once per mode.
 * 4K pages, 2M megapages, 1G gigapages (and a 512G Sv48 leaf), A/D bits
 * (hardware update or page fault, both allowed), R/W/X/U permissions with
 * SUM and MXR, execute-only pages, reserved W-without-R, invalid and
 * non-leaf-at-level-0 PTEs, misaligned superpages, non-canonical addresses,
 * sfence.vma (global and by address) including remapped code, MPRV with
 * MPP=S/U from M-mode, page-fault causes 12/13/15 with tval = faulting VA,
 * delegation of page faults to S, fetch faults across a page boundary,
 * satp WARL. */
#include "tsv.h"

const char *tsv_test_name = "mmu";

#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)
#define PTE_G (1UL << 5)
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)
#define PTE_RWX (PTE_R | PTE_W | PTE_X)
#define PTE_AD (PTE_A | PTE_D)

#define SATP_SV39 (8UL << 60)
#define SATP_SV48 (9UL << 60)

#define GIGA (1UL << 30)
#define MEGA (1UL << 21)
#define PAGE 4096UL

/* virtual address layout (all within Sv39's range) */
#define VA_USER_ALIAS 0x40000000UL  /* 1G, U=1 alias of RAM at 0x80000000 */
#define VA_GIGA 0x100000000UL       /* 1G alias of RAM at 0x80000000 */
#define VA_TEST 0x2000000000UL      /* 4K test pages: VA_TEST + i*4K, i < 512 */
#define VA_MEGA (VA_TEST + MEGA)    /* 2M test pages */
#define U_OFF (VA_USER_ALIAS - 0x80000000UL)
#define TVA(i) (VA_TEST + (uint64_t)(i) * PAGE)

#define SENTINEL 0x5e5e5e5e5e5e5e5eUL

static int levels; /* 3 = Sv39, 4 = Sv48 */
static uint64_t *root;
static uint8_t pt_pool[48][PAGE] ALIGNED(4096);
static unsigned pt_used;
static uint8_t data_pages[16][PAGE] ALIGNED(4096);
extern char _end[];

#define MCHECK(what, got, exp) tsv_check(__LINE__ + (levels == 4 ? 20000 : 0), (what), (uint64_t)(got), (uint64_t)(exp))

static uint64_t *pt_new(void)
{
    if (pt_used >= ARRAY_SIZE(pt_pool)) {
        printf("out of page tables\n");
        tsv_fail(1);
    }
    uint64_t *p = (uint64_t *)pt_pool[pt_used++];
    memset(p, 0, PAGE);
    return p;
}

static uint64_t *pte_slot(uint64_t va, int leaf_level)
{
    uint64_t *t = root;
    for (int lvl = levels - 1; lvl > leaf_level; lvl--) {
        uint64_t idx = (va >> (12 + 9 * lvl)) & 511;
        if (!(t[idx] & PTE_V))
            t[idx] = (((uint64_t)pt_new() >> 12) << 10) | PTE_V;
        t = (uint64_t *)((t[idx] >> 10) << 12);
    }
    return &t[(va >> (12 + 9 * leaf_level)) & 511];
}

static void map(uint64_t va, uint64_t pa, int level, uint64_t flags)
{
    *pte_slot(va, level) = ((pa >> 12) << 10) | flags;
}

static void flush(void)
{
    asm volatile("sfence.vma" ::: "memory");
}

static void build_base(int lv)
{
    levels = lv;
    pt_used = 0;
    root = pt_new();
    map(0x80000000UL, 0x80000000UL, 2, PTE_V | PTE_RWX | PTE_AD);             /* identity, S only */
    map(VA_USER_ALIAS, 0x80000000UL, 2, PTE_V | PTE_RWX | PTE_U | PTE_AD);     /* U alias */
    map(VA_GIGA, 0x80000000UL, 2, PTE_V | PTE_R | PTE_W | PTE_AD);             /* 1G, no X */
    for (int i = 0; i < 16; i++)                                               /* TVA(i) -> data page i */
        map(TVA(i), (uint64_t)data_pages[i], 0, PTE_V | PTE_R | PTE_W | PTE_AD);
    csr_write(satp, (lv == 4 ? SATP_SV48 : SATP_SV39) | ((uint64_t)root >> 12));
    flush();
}

/* ---------------------------------------------------------------- accessors (run in S or U) */
static uint64_t g_val;

static uint64_t acc_ld(uint64_t va)
{
    uint64_t r = SENTINEL;
    asm volatile(TRAP_LANDING "ld %0, 0(%1)" TRAP_END : "+r"(r) : "r"(va) : "t6", "memory");
    return r;
}

static uint64_t acc_lw(uint64_t va)
{
    uint64_t r = SENTINEL;
    asm volatile(TRAP_LANDING "lw %0, 0(%1)" TRAP_END : "+r"(r) : "r"(va) : "t6", "memory");
    return r;
}

static uint64_t acc_sd(uint64_t va)
{
    asm volatile(TRAP_LANDING "sd %1, 0(%0)" TRAP_END : : "r"(va), "r"(g_val) : "t6", "memory");
    return 0;
}

static uint64_t acc_amo(uint64_t va)
{
    uint64_t r = SENTINEL;
    asm volatile(TRAP_LANDING "amoadd.d %0, %2, (%1)" TRAP_END : "+r"(r) : "r"(va), "r"(g_val) : "t6", "memory");
    return r;
}

static uint64_t acc_exec(uint64_t va)
{
    uint64_t r;
    asm volatile("li a0, %2\n" TRAP_LANDING "jalr ra, 0(%1)" TRAP_END "mv %0, a0"
                 : "=r"(r) : "r"(va), "i"(0x5e5) : "a0", "ra", "t6", "memory");
    return r;
}

static uint64_t acc_sfence_va(uint64_t va)
{
    asm volatile("sfence.vma %0, x0" : : "r"(va) : "memory");
    return 0;
}

static uint64_t acc_sfence(uint64_t va)
{
    (void)va;
    asm volatile("sfence.vma" ::: "memory");
    return 0;
}

struct res {
    uint64_t val, traps, cause, tval, epc;
};

static struct res run_acc(int mode, uint64_t (*fn)(uint64_t), uint64_t va)
{
    struct res r;
    trap_expect();
    r.val = run_mode_va(mode, fn, va, mode == PRV_U ? U_OFF : 0);
    r.traps = trap_count();
    r.cause = g_mtrap.cause;
    r.tval = g_mtrap.tval;
    r.epc = g_mtrap.epc;
    return r;
}

#define S_LD(va) run_acc(PRV_S, acc_ld, (va))
#define U_LD(va) run_acc(PRV_U, acc_ld, (va))

/* expect one page fault with cause and tval */
#define EXPECT_FAULT(r, c, va, what) do { \
        struct res r_ = (r); \
        MCHECK(what ": faults", r_.traps, 1); \
        MCHECK(what ": cause", r_.cause, c); \
        MCHECK(what ": tval = VA", r_.tval, va); \
    } while (0)
#define EXPECT_OK(r, v, what) do { \
        struct res r_ = (r); \
        MCHECK(what ": no fault", r_.traps, 0); \
        MCHECK(what ": value", r_.val, v); \
    } while (0)

static void put_code(uint8_t *page, uint64_t off, uint32_t imm)
{
    uint32_t *p = (uint32_t *)(page + off);
    p[0] = (imm << 20) | (10 << 7) | 0x13; /* addi a0, x0, imm */
    p[1] = 0x00008067;                     /* ret */
    asm volatile("fence.i" ::: "memory");
}

static uint64_t *pte_of(uint64_t va, int level)
{
    return pte_slot(va, level);
}

/* ---------------------------------------------------------------- tests */
static void test_basic(void)
{
    tsv_section(levels == 4 ? "Sv48: basic mappings" : "Sv39: basic mappings");
    uint64_t *d0 = (uint64_t *)data_pages[0], *d1 = (uint64_t *)data_pages[1];
    d0[0] = 0x1111;
    d0[511] = 0x2222;
    d1[3] = 0x3333;
    EXPECT_OK(S_LD(TVA(0)), 0x1111, "4K page, offset 0");
    EXPECT_OK(S_LD(TVA(0) + 4088), 0x2222, "4K page, offset 4088");
    EXPECT_OK(S_LD(TVA(1) + 24), 0x3333, "second 4K page");
    g_val = 0xabcdef;
    run_acc(PRV_S, acc_sd, TVA(1) + 8);
    MCHECK("store through 4K page reaches PA", d1[1], 0xabcdef);
    EXPECT_OK(S_LD(TVA(1) + 8), 0xabcdef, "load back");
    d1[2] = 0x80000000;
    EXPECT_OK(run_acc(PRV_S, acc_lw, TVA(1) + 16), 0xffffffff80000000UL, "lw sign-extends via VA");
    g_val = 5;
    d1[4] = 10;
    EXPECT_OK(run_acc(PRV_S, acc_amo, TVA(1) + 32), 10, "AMO through 4K page");
    MCHECK("AMO result in memory", d1[4], 15);

    /* 1G gigapage: VA_GIGA + x -> 0x80000000 + x */
    static volatile uint64_t marker = 0x6161616161616161UL;
    EXPECT_OK(S_LD(VA_GIGA + ((uint64_t)&marker - 0x80000000UL)), 0x6161616161616161UL, "1G gigapage");
    /* 2M megapage: in free RAM, 2M aligned */
    uint64_t mpa = ((uint64_t)_end + MEGA - 1) & ~(MEGA - 1);
    map(VA_MEGA, mpa, 1, PTE_V | PTE_R | PTE_W | PTE_AD);
    flush();
    *(volatile uint64_t *)(mpa + 0x12345 * 8 % MEGA) = 0x7777;
    *(volatile uint64_t *)(mpa + MEGA - 8) = 0x8888;
    EXPECT_OK(S_LD(VA_MEGA + 0x12345 * 8 % MEGA), 0x7777, "2M megapage, inner offset");
    EXPECT_OK(S_LD(VA_MEGA + MEGA - 8), 0x8888, "2M megapage, last dword");
    g_val = 0x9999;
    run_acc(PRV_S, acc_sd, VA_MEGA + 0x100000);
    MCHECK("store through megapage", *(volatile uint64_t *)(mpa + 0x100000), 0x9999);

    if (levels == 4) {
        /* a 512G leaf at level 3: VA 512G + x -> PA x */
        map(512 * GIGA, 0, 3, PTE_V | PTE_R | PTE_W | PTE_AD);
        flush();
        EXPECT_OK(S_LD(512 * GIGA + (uint64_t)&marker), 0x6161616161616161UL, "Sv48 512G leaf");
        /* a VA only Sv48 can express: bit 38 set but canonical in Sv48 */
        map(0x4000000000UL, (uint64_t)data_pages[0], 0, PTE_V | PTE_R | PTE_AD);
        flush();
        EXPECT_OK(S_LD(0x4000000000UL), 0x1111, "Sv48: VA with bit 38 set (canonical in Sv48)");
        /* upper half: 0xffff8000_00000000 */
        map(0xffff800000000000UL, (uint64_t)data_pages[0], 0, PTE_V | PTE_R | PTE_AD);
        flush();
        EXPECT_OK(S_LD(0xffff800000000000UL + 4088), 0x2222, "Sv48: upper-half VA");
    } else {
        /* Sv39 upper half: 0xffffffc0_00000000 */
        map(0xffffffc000000000UL, (uint64_t)data_pages[0], 0, PTE_V | PTE_R | PTE_AD);
        flush();
        EXPECT_OK(S_LD(0xffffffc000000000UL + 4088), 0x2222, "Sv39: upper-half VA");
    }
    /* U-mode through its alias, load and store */
    static volatile uint64_t umarker = 0x4242;
    EXPECT_OK(U_LD((uint64_t)&umarker + U_OFF), 0x4242, "U load via U page");
}

static void test_noncanonical(void)
{
    tsv_section("non-canonical addresses");
    uint64_t bad1 = levels == 4 ? 0x0001000000000000UL : 0x0000008000000000UL;
    uint64_t bad2 = levels == 4 ? 0xfffe000000000000UL : 0xffffff0000000000UL;
    uint64_t bad3 = 0x8000000080000000UL;
    EXPECT_FAULT(S_LD(bad1), CAUSE_LOAD_PAGE, bad1, "load, non-canonical (low)");
    EXPECT_FAULT(S_LD(bad2), CAUSE_LOAD_PAGE, bad2, "load, non-canonical (high)");
    EXPECT_FAULT(S_LD(bad3), CAUSE_LOAD_PAGE, bad3, "load, bit 63 only");
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, bad1), CAUSE_STORE_PAGE, bad1, "store, non-canonical");
    EXPECT_FAULT(run_acc(PRV_S, acc_exec, bad1), CAUSE_FETCH_PAGE, bad1, "fetch, non-canonical");
    EXPECT_FAULT(U_LD(bad3), CAUSE_LOAD_PAGE, bad3, "U load, non-canonical");
}

static void test_permissions(void)
{
    tsv_section("permissions");
    uint8_t *code = data_pages[8];
    put_code(code, 0, 0x11);
    put_code(code, 64, 0x22);
    ((uint64_t *)code)[100] = 0xc0de;
    /* TVA(20): RX, TVA(21): X only, TVA(22): RW (no X), TVA(23): R only,
     * TVA(24): W only (reserved), TVA(25): invalid, TVA(26): U RWX */
    map(TVA(20), (uint64_t)code, 0, PTE_V | PTE_R | PTE_X | PTE_AD);
    map(TVA(21), (uint64_t)code, 0, PTE_V | PTE_X | PTE_AD);
    map(TVA(22), (uint64_t)code, 0, PTE_V | PTE_R | PTE_W | PTE_AD);
    map(TVA(23), (uint64_t)code, 0, PTE_V | PTE_R | PTE_AD);
    map(TVA(24), (uint64_t)code, 0, PTE_V | PTE_W | PTE_AD);
    map(TVA(25), (uint64_t)code, 0, PTE_R | PTE_W | PTE_X | PTE_AD);
    map(TVA(26), (uint64_t)code, 0, PTE_V | PTE_RWX | PTE_U | PTE_AD);
    flush();
    csr_clear(mstatus, MSTATUS_SUM | MSTATUS_MXR);

    EXPECT_OK(run_acc(PRV_S, acc_exec, TVA(20)), 0x11, "exec RX page");
    EXPECT_OK(run_acc(PRV_S, acc_exec, TVA(20) + 64), 0x22, "exec RX page, offset");
    EXPECT_OK(S_LD(TVA(20) + 800), 0xc0de, "load RX page");
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, TVA(20) + 800), CAUSE_STORE_PAGE, TVA(20) + 800, "store RX page");
    EXPECT_OK(run_acc(PRV_S, acc_exec, TVA(21)), 0x11, "exec execute-only page");
    EXPECT_FAULT(S_LD(TVA(21) + 800), CAUSE_LOAD_PAGE, TVA(21) + 800, "load execute-only page, MXR=0");
    csr_set(mstatus, MSTATUS_MXR);
    EXPECT_OK(S_LD(TVA(21) + 800), 0xc0de, "load execute-only page, MXR=1");
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, TVA(21) + 800), CAUSE_STORE_PAGE, TVA(21) + 800, "store execute-only page, MXR=1");
    csr_clear(mstatus, MSTATUS_MXR);
    EXPECT_FAULT(run_acc(PRV_S, acc_exec, TVA(22)), CAUSE_FETCH_PAGE, TVA(22), "exec RW page");
    MCHECK("fetch fault epc = target", g_mtrap.epc, TVA(22));
    g_val = 0xc0df;
    EXPECT_OK(run_acc(PRV_S, acc_sd, TVA(22) + 808), 0, "store RW page");
    MCHECK("store RW page reached memory", ((uint64_t *)code)[101], 0xc0df);
    EXPECT_OK(S_LD(TVA(23) + 800), 0xc0de, "load R page");
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, TVA(23) + 8), CAUSE_STORE_PAGE, TVA(23) + 8, "store R page");
    EXPECT_FAULT(run_acc(PRV_S, acc_amo, TVA(23) + 8), CAUSE_STORE_PAGE, TVA(23) + 8, "AMO on R page");
    EXPECT_FAULT(run_acc(PRV_S, acc_exec, TVA(23)), CAUSE_FETCH_PAGE, TVA(23), "exec R page");
    EXPECT_FAULT(S_LD(TVA(24)), CAUSE_LOAD_PAGE, TVA(24), "load W-only (reserved) page");
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, TVA(24)), CAUSE_STORE_PAGE, TVA(24), "store W-only (reserved) page");
    EXPECT_FAULT(S_LD(TVA(25) + 16), CAUSE_LOAD_PAGE, TVA(25) + 16, "load invalid PTE");
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, TVA(25)), CAUSE_STORE_PAGE, TVA(25), "store invalid PTE");
    EXPECT_FAULT(run_acc(PRV_S, acc_exec, TVA(25)), CAUSE_FETCH_PAGE, TVA(25), "exec invalid PTE");
    EXPECT_FAULT(S_LD(TVA(100)), CAUSE_LOAD_PAGE, TVA(100), "load unmapped page");

    tsv_section("U bit, SUM");
    EXPECT_FAULT(S_LD(TVA(26) + 800), CAUSE_LOAD_PAGE, TVA(26) + 800, "S load U page, SUM=0");
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, TVA(26) + 800), CAUSE_STORE_PAGE, TVA(26) + 800, "S store U page, SUM=0");
    csr_set(mstatus, MSTATUS_SUM);
    EXPECT_OK(S_LD(TVA(26) + 800), 0xc0de, "S load U page, SUM=1");
    g_val = 0xc0e0;
    EXPECT_OK(run_acc(PRV_S, acc_sd, TVA(26) + 816), 0, "S store U page, SUM=1");
    MCHECK("...reached memory", ((uint64_t *)code)[102], 0xc0e0);
    EXPECT_FAULT(run_acc(PRV_S, acc_exec, TVA(26)), CAUSE_FETCH_PAGE, TVA(26), "S exec U page, SUM=1");
    csr_clear(mstatus, MSTATUS_SUM);
    EXPECT_OK(run_acc(PRV_U, acc_exec, TVA(26) + 64), 0x22, "U exec U page");
    EXPECT_OK(U_LD(TVA(26) + 800), 0xc0de, "U load U page");
    EXPECT_FAULT(U_LD(TVA(20) + 800), CAUSE_LOAD_PAGE, TVA(20) + 800, "U load S page");
    EXPECT_FAULT(run_acc(PRV_U, acc_sd, TVA(22) + 800), CAUSE_STORE_PAGE, TVA(22) + 800, "U store S page");
    EXPECT_FAULT(run_acc(PRV_U, acc_exec, TVA(20)), CAUSE_FETCH_PAGE, TVA(20), "U exec S page");
    csr_set(mstatus, MSTATUS_SUM);
    EXPECT_FAULT(U_LD(TVA(20) + 800), CAUSE_LOAD_PAGE, TVA(20) + 800, "U load S page (SUM=1 irrelevant)");
    csr_clear(mstatus, MSTATUS_SUM);
    /* MXR also applies to U */
    map(TVA(27), (uint64_t)code, 0, PTE_V | PTE_X | PTE_U | PTE_AD);
    flush();
    EXPECT_FAULT(U_LD(TVA(27) + 800), CAUSE_LOAD_PAGE, TVA(27) + 800, "U load X-only U page");
    csr_set(mstatus, MSTATUS_MXR);
    EXPECT_OK(U_LD(TVA(27) + 800), 0xc0de, "U load X-only U page, MXR=1");
    csr_clear(mstatus, MSTATUS_MXR);
}

static void test_structure(void)
{
    tsv_section("misaligned superpages, non-leaf at level 0");
    uint64_t mpa = ((uint64_t)_end + MEGA - 1) & ~(MEGA - 1);
    /* megapage whose PPN[0] != 0 */
    map(VA_MEGA + MEGA, mpa + PAGE, 1, PTE_V | PTE_R | PTE_W | PTE_AD);
    /* gigapage whose PPN[1] != 0 */
    map(5 * GIGA, 0x80000000UL + MEGA, 2, PTE_V | PTE_R | PTE_AD);
    flush();
    EXPECT_FAULT(S_LD(VA_MEGA + MEGA + 64), CAUSE_LOAD_PAGE, VA_MEGA + MEGA + 64, "misaligned megapage");
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, VA_MEGA + MEGA + 64), CAUSE_STORE_PAGE, VA_MEGA + MEGA + 64, "misaligned megapage store");
    EXPECT_FAULT(S_LD(5 * GIGA + 8), CAUSE_LOAD_PAGE, 5 * GIGA + 8, "misaligned gigapage");
    /* level-0 PTE that is a pointer (V=1, RWX=0): page fault */
    *pte_of(TVA(30), 0) = (((uint64_t)data_pages[2] >> 12) << 10) | PTE_V;
    flush();
    EXPECT_FAULT(S_LD(TVA(30)), CAUSE_LOAD_PAGE, TVA(30), "non-leaf PTE at level 0");
}

static void test_ad(void)
{
    tsv_section("A/D bits (hardware update or page fault)");
    uint64_t *pte;
    ((uint64_t *)data_pages[3])[0] = 0x3030;
    /* A=0: load either faults or sets A */
    map(TVA(40), (uint64_t)data_pages[3], 0, PTE_V | PTE_R | PTE_W);
    flush();
    pte = pte_of(TVA(40), 0);
    struct res r = S_LD(TVA(40));
    if (r.traps) {
        MCHECK("A=0 load: page fault", r.cause, CAUSE_LOAD_PAGE);
        MCHECK("A=0 load: tval", r.tval, TVA(40));
        MCHECK("A=0 load fault: PTE unchanged", *pte, (((uint64_t)data_pages[3] >> 12) << 10) | PTE_V | PTE_R | PTE_W);
        printf("  (A/D: page-fault scheme)\n");
    } else {
        MCHECK("A=0 load: value", r.val, 0x3030);
        MCHECK("A=0 load: hardware set A", *pte & PTE_A, PTE_A);
        MCHECK("A=0 load: D stays 0", *pte & PTE_D, 0);
        printf("  (A/D: hardware update)\n");
    }
    /* A=1, D=0: store either faults or sets D */
    map(TVA(41), (uint64_t)data_pages[3], 0, PTE_V | PTE_R | PTE_W | PTE_A);
    flush();
    pte = pte_of(TVA(41), 0);
    g_val = 0x4141;
    r = run_acc(PRV_S, acc_sd, TVA(41) + 8);
    if (r.traps) {
        MCHECK("D=0 store: page fault", r.cause, CAUSE_STORE_PAGE);
        MCHECK("D=0 store: tval", r.tval, TVA(41) + 8);
        MCHECK("D=0 store fault: memory unchanged", ((uint64_t *)data_pages[3])[1], 0);
        MCHECK("D=0 store fault: D still 0", *pte & PTE_D, 0);
    } else {
        MCHECK("D=0 store: stored", ((uint64_t *)data_pages[3])[1], 0x4141);
        MCHECK("D=0 store: hardware set D", *pte & PTE_D, PTE_D);
    }
    /* A=0, D=0: store either faults or sets both */
    map(TVA(42), (uint64_t)data_pages[3], 0, PTE_V | PTE_R | PTE_W);
    flush();
    pte = pte_of(TVA(42), 0);
    g_val = 0x4242;
    r = run_acc(PRV_S, acc_sd, TVA(42) + 16);
    if (r.traps) {
        MCHECK("A=D=0 store: page fault", r.cause, CAUSE_STORE_PAGE);
        MCHECK("A=D=0 store fault: PTE unchanged", *pte & PTE_AD, 0);
    } else {
        MCHECK("A=D=0 store: hardware set A and D", *pte & PTE_AD, PTE_AD);
    }
    /* A=0 on an execute page */
    put_code(data_pages[4], 0, 0x44);
    map(TVA(43), (uint64_t)data_pages[4], 0, PTE_V | PTE_X);
    flush();
    pte = pte_of(TVA(43), 0);
    r = run_acc(PRV_S, acc_exec, TVA(43));
    if (r.traps) {
        MCHECK("A=0 fetch: page fault", r.cause, CAUSE_FETCH_PAGE);
    } else {
        MCHECK("A=0 fetch: ran", r.val, 0x44);
        MCHECK("A=0 fetch: hardware set A", *pte & PTE_A, PTE_A);
    }
    /* a load never sets D */
    map(TVA(44), (uint64_t)data_pages[3], 0, PTE_V | PTE_R | PTE_W | PTE_A);
    flush();
    pte = pte_of(TVA(44), 0);
    S_LD(TVA(44));
    MCHECK("load through A=1,D=0 PTE leaves D=0", *pte & PTE_D, 0);
    /* a faulting store (no W) doesn't set D */
    map(TVA(45), (uint64_t)data_pages[3], 0, PTE_V | PTE_R | PTE_A);
    flush();
    pte = pte_of(TVA(45), 0);
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, TVA(45)), CAUSE_STORE_PAGE, TVA(45), "store to R-only page");
    MCHECK("...doesn't set D", *pte & PTE_D, 0);
}

static void test_sfence(void)
{
    tsv_section("sfence.vma");
    uint64_t *p5 = (uint64_t *)data_pages[5], *p6 = (uint64_t *)data_pages[6];
    p5[0] = 555;
    p6[0] = 666;
    map(TVA(50), (uint64_t)p5, 0, PTE_V | PTE_R | PTE_W | PTE_AD);
    flush();
    EXPECT_OK(S_LD(TVA(50)), 555, "initial mapping");
    for (int i = 0; i < 3; i++)
        S_LD(TVA(50));
    map(TVA(50), (uint64_t)p6, 0, PTE_V | PTE_R | PTE_W | PTE_AD);
    (void)S_LD(TVA(50)); /* old or new: either is allowed before the fence */
    run_acc(PRV_S, acc_sfence, 0);
    EXPECT_OK(S_LD(TVA(50)), 666, "remapped after sfence.vma (from S)");
    map(TVA(50), (uint64_t)p5, 0, PTE_V | PTE_R | PTE_W | PTE_AD);
    run_acc(PRV_S, acc_sfence_va, TVA(50));
    EXPECT_OK(S_LD(TVA(50)), 555, "remapped after sfence.vma va (from S)");
    /* a new mapping for an address that faulted before */
    EXPECT_FAULT(S_LD(TVA(51)), CAUSE_LOAD_PAGE, TVA(51), "unmapped before");
    map(TVA(51), (uint64_t)p6, 0, PTE_V | PTE_R | PTE_AD);
    run_acc(PRV_S, acc_sfence_va, TVA(51));
    EXPECT_OK(S_LD(TVA(51)), 666, "new mapping visible after sfence.vma va");
    /* unmapping takes effect */
    *pte_of(TVA(51), 0) = 0;
    flush();
    EXPECT_FAULT(S_LD(TVA(51)), CAUSE_LOAD_PAGE, TVA(51), "unmapped after sfence.vma");
    /* permission downgrade takes effect */
    map(TVA(50), (uint64_t)p5, 0, PTE_V | PTE_R | PTE_AD);
    flush();
    EXPECT_FAULT(run_acc(PRV_S, acc_sd, TVA(50)), CAUSE_STORE_PAGE, TVA(50), "write-protected after sfence.vma");

    tsv_section("remapped code");
    put_code(data_pages[9], 0, 0x91);
    put_code(data_pages[10], 0, 0xa1);
    map(TVA(60), (uint64_t)data_pages[9], 0, PTE_V | PTE_R | PTE_X | PTE_AD);
    flush();
    for (int i = 0; i < 4; i++) /* run it enough for a JIT to translate it */
        EXPECT_OK(run_acc(PRV_S, acc_exec, TVA(60)), 0x91, "code page A");
    map(TVA(60), (uint64_t)data_pages[10], 0, PTE_V | PTE_R | PTE_X | PTE_AD);
    run_acc(PRV_S, acc_sfence_va, TVA(60));
    EXPECT_OK(run_acc(PRV_S, acc_exec, TVA(60)), 0xa1, "same VA remapped to code page B");
    /* same physical code reached through two VAs */
    map(TVA(61), (uint64_t)data_pages[10], 0, PTE_V | PTE_R | PTE_X | PTE_AD);
    flush();
    EXPECT_OK(run_acc(PRV_S, acc_exec, TVA(61)), 0xa1, "second VA for code page B");
    put_code(data_pages[10], 0, 0xa2); /* modify code via PA + fence.i */
    EXPECT_OK(run_acc(PRV_S, acc_exec, TVA(61)), 0xa2, "code modified after fence.i (VA 2)");
    EXPECT_OK(run_acc(PRV_S, acc_exec, TVA(60)), 0xa2, "code modified after fence.i (VA 1)");

    tsv_section("switching page tables (satp)");
    uint64_t old = csr_read(satp);
    uint64_t *root2 = pt_new(), *saved_root = root;
    root = root2;
    map(0x80000000UL, 0x80000000UL, 2, PTE_V | PTE_RWX | PTE_AD);
    map(TVA(50), (uint64_t)p6, 0, PTE_V | PTE_R | PTE_AD);
    root = saved_root;
    csr_write(satp, (old & ~0xfffffffffffUL) | ((uint64_t)root2 >> 12));
    flush();
    EXPECT_OK(S_LD(TVA(50)), 666, "second page table");
    csr_write(satp, old);
    flush();
    EXPECT_OK(S_LD(TVA(50)), 555, "back to the first page table");
}

static void test_fetch_boundary(void)
{
    tsv_section("fetch fault across a page boundary");
    /* TVA(70) maps a code page; TVA(71) is unmapped. A 32-bit instruction at
     * TVA(70)+4094 straddles into TVA(71). */
    uint8_t *cp = data_pages[11];
    memset(cp, 0, PAGE);
    uint16_t *h = (uint16_t *)(cp + PAGE - 2);
    h[0] = 0x0513; /* low half of addi a0, x0, 0x4d2 */
    asm volatile("fence.i" ::: "memory");
    map(TVA(70), (uint64_t)cp, 0, PTE_V | PTE_R | PTE_X | PTE_AD);
    *pte_of(TVA(71), 0) = 0;
    flush();
    struct res r = run_acc(PRV_S, acc_exec, TVA(70) + PAGE - 2);
    MCHECK("straddling fetch faults", r.traps, 1);
    MCHECK("...instruction page fault", r.cause, CAUSE_FETCH_PAGE);
    MCHECK("...epc = start of the instruction", r.epc, TVA(70) + PAGE - 2);
    /* tval is the address of the portion that faulted: the next page */
    MCHECK("...tval = the faulting portion (next page)", r.tval, TVA(71));
    /* map the second page: the instruction completes */
    uint16_t *h2 = (uint16_t *)data_pages[12];
    h2[0] = 0x4d20; /* high half */
    h2[1] = 0x8082; /* c.jr ra */
    asm volatile("fence.i" ::: "memory");
    map(TVA(71), (uint64_t)data_pages[12], 0, PTE_V | PTE_R | PTE_X | PTE_AD);
    flush();
    EXPECT_OK(run_acc(PRV_S, acc_exec, TVA(70) + PAGE - 2), 0x4d2, "straddling instruction with both pages mapped");
}

static void test_mprv(void)
{
    tsv_section("MPRV from M-mode");
    uint64_t r = SENTINEL;
    ((uint64_t *)data_pages[7])[0] = 0x7070;
    map(TVA(80), (uint64_t)data_pages[7], 0, PTE_V | PTE_R | PTE_W | PTE_AD);
    map(TVA(81), (uint64_t)data_pages[7], 0, PTE_V | PTE_R | PTE_W | PTE_U | PTE_AD);
    flush();
    csr_clear(mstatus, MSTATUS_MPP | MSTATUS_SUM);
    csr_set(mstatus, (uint64_t)PRV_S << MSTATUS_MPP_SHIFT);
    /* MPRV=1, MPP=S: loads and stores translate as S */
    asm volatile("csrs mstatus, %2\n ld %0, 0(%1)\n csrc mstatus, %2" : "=&r"(r) : "r"(TVA(80)), "r"(MSTATUS_MPRV) : "memory");
    MCHECK("MPRV load via S translation", r, 0x7070);
    asm volatile("csrs mstatus, %2\n sd %1, 8(%0)\n csrc mstatus, %2" : : "r"(TVA(80)), "r"(0x7171UL), "r"(MSTATUS_MPRV) : "memory");
    MCHECK("MPRV store via S translation", ((uint64_t *)data_pages[7])[1], 0x7171);
    /* instruction fetch is not affected: this code keeps running at its PA */
    /* MPRV with MPP=S: U page faults (SUM=0) with cause 13 into M */
    r = SENTINEL;
    trap_expect();
    asm volatile("csrs mstatus, %2\n" TRAP_LANDING "ld %0, 0(%1)" TRAP_END "csrc mstatus, %2"
                 : "+r"(r) : "r"(TVA(81)), "r"(MSTATUS_MPRV) : "t6", "memory");
    MCHECK("MPRV (MPP=S) U page SUM=0: faults", trap_count(), 1);
    MCHECK("...load page fault", g_mtrap.cause, CAUSE_LOAD_PAGE);
    MCHECK("...mtval", g_mtrap.tval, TVA(81));
    MCHECK("...from M", g_mtrap.prev_priv, PRV_M);
    csr_clear(mstatus, MSTATUS_MPP);
    csr_set(mstatus, (uint64_t)PRV_S << MSTATUS_MPP_SHIFT);
    csr_set(mstatus, MSTATUS_SUM);
    asm volatile("csrs mstatus, %2\n ld %0, 0(%1)\n csrc mstatus, %2" : "=&r"(r) : "r"(TVA(81)), "r"(MSTATUS_MPRV) : "memory");
    MCHECK("MPRV (MPP=S) U page SUM=1", r, 0x7070);
    csr_clear(mstatus, MSTATUS_SUM);
    /* MPP=U: S page faults, U page works */
    csr_clear(mstatus, MSTATUS_MPP);
    asm volatile("csrs mstatus, %2\n ld %0, 0(%1)\n csrc mstatus, %2" : "=&r"(r) : "r"(TVA(81)), "r"(MSTATUS_MPRV) : "memory");
    MCHECK("MPRV (MPP=U) U page", r, 0x7070);
    trap_expect();
    asm volatile("csrs mstatus, %2\n" TRAP_LANDING "sd %1, 0(%0)" TRAP_END "csrc mstatus, %2"
                 : : "r"(TVA(80)), "r"(1UL), "r"(MSTATUS_MPRV) : "t6", "memory");
    MCHECK("MPRV (MPP=U) store to S page faults", trap_count() == 1 && g_mtrap.cause == CAUSE_STORE_PAGE && g_mtrap.tval == TVA(80), 1);
    /* MPP=M: MPRV has no effect (physical) */
    csr_set(mstatus, MSTATUS_MPP);
    volatile uint64_t phys = 0x8181;
    asm volatile("csrs mstatus, %2\n ld %0, 0(%1)\n csrc mstatus, %2" : "=&r"(r) : "r"(&phys), "r"(MSTATUS_MPRV) : "memory");
    MCHECK("MPRV with MPP=M: physical", r, 0x8181);
    /* MXR with MPRV */
    map(TVA(82), (uint64_t)data_pages[7], 0, PTE_V | PTE_X | PTE_AD);
    flush();
    csr_clear(mstatus, MSTATUS_MPP);
    csr_set(mstatus, ((uint64_t)PRV_S << MSTATUS_MPP_SHIFT) | MSTATUS_MXR);
    asm volatile("csrs mstatus, %2\n ld %0, 0(%1)\n csrc mstatus, %2" : "=&r"(r) : "r"(TVA(82)), "r"(MSTATUS_MPRV) : "memory");
    MCHECK("MPRV + MXR reads an execute-only page", r, 0x7070);
    csr_clear(mstatus, MSTATUS_MXR | MSTATUS_MPP);
}

static void test_delegated(void)
{
    tsv_section("page faults delegated to S");
    csr_write(medeleg, (1 << CAUSE_FETCH_PAGE) | (1 << CAUSE_LOAD_PAGE) | (1 << CAUSE_STORE_PAGE));
    trap_reset();
    strap_expect();
    struct res r = S_LD(TVA(90) + 24);
    MCHECK("delegated load page fault: not in M", r.traps, 0);
    MCHECK("...S handler", strap_count(), 1);
    MCHECK("...scause", g_strap.cause, CAUSE_LOAD_PAGE);
    MCHECK("...stval", g_strap.tval, TVA(90) + 24);
    strap_expect();
    run_acc(PRV_U, acc_sd, TVA(20));
    MCHECK("delegated store page fault from U", strap_count() == 1 && g_strap.cause == CAUSE_STORE_PAGE, 1);
    MCHECK("...stval", g_strap.tval, TVA(20));
    MCHECK("...SPP = U", g_strap.prev_priv, PRV_U);
    strap_expect();
    run_acc(PRV_S, acc_exec, TVA(91));
    MCHECK("delegated fetch page fault", strap_count() == 1 && g_strap.cause == CAUSE_FETCH_PAGE, 1);
    MCHECK("...stval", g_strap.tval, TVA(91));
    MCHECK("...sepc", g_strap.epc, TVA(91));
    csr_write(medeleg, 0);
}

static void test_satp_warl(void)
{
    tsv_section("satp");
    uint64_t old = csr_read(satp);
    csr_write(satp, (11UL << 60) | 0x12345);
    MCHECK("satp write with reserved mode 11 is ignored", csr_read(satp), old);
    csr_write(satp, 0);
    MCHECK("satp = Bare", csr_read(satp), 0);
    /* with Bare, S accesses are physical */
    static volatile uint64_t phys = 0x9191;
    EXPECT_OK(S_LD((uint64_t)&phys), 0x9191, "Bare: S load is physical");
    csr_write(satp, old);
    MCHECK("satp restored", csr_read(satp), old);
}

static void run_suite(int lv)
{
    build_base(lv);
    MCHECK("satp mode", csr_read(satp) >> 60, lv == 4 ? 9 : 8);
    test_basic();
    test_noncanonical();
    test_permissions();
    test_structure();
    test_ad();
    test_sfence();
    test_fetch_boundary();
    test_mprv();
    test_delegated();
    test_satp_warl();
    csr_write(satp, 0);
    flush();
}

int main(void)
{
    csr_write(stvec, (uint64_t)s_trap_entry);
    tsv_section("Sv39");
    run_suite(3);
    tsv_section("Sv48");
    run_suite(4);
    return 0;
}
