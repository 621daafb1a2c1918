/*
 * pvcheck: a small pv guest that holds tsvisor's `pv` technique to the
 * letter of docs/pv-abi.md where the pvkernel workload does not go.
 *
 * 1. Garbage hypercall arguments (misaligned or out-of-RAM addresses,
 *    frames outside RAM, bad modes, too many entries, unknown functions):
 *    each must fail with the SBI error the ABI names, change nothing, and
 *    leave the guest running. It prints every result; the test
 *    (src/vmm/pv.test.ts) holds the expected lines.
 * 2. The VMM's translations stay exact without fences: a superpage and a
 *    table replaced by MMU_UPDATE, a plain store made visible by FLUSH_TLB,
 *    an unmapped page that must fault, and an update to an address space
 *    that is not live, seen after SET_PTBR without any flush.
 * 3. Trap delivery: a privileged instruction becomes an illegal-instruction
 *    trap with every register kept, and an interrupt reaches user mode even
 *    with irq_enabled = 0.
 *
 * Built with -DPV from start.S, console.c, arch.c and trap-pv.S of the
 * pvkernel (its trap entry and exit, run_user and the TSVI set-up) and this
 * file. It runs under tsvisor's pv technique with 128 MiB of RAM only: the
 * wfi in part 3 is meant to trap, so it is no pv build in the sense of
 * build-pvkernel.sh's check.
 */
#include "arch.h"
#include "config.h"
#include "kernel.h"
#include "sbi.h"
#include "tsvi.h"

#define RAM_BASE UL(0x80000000)
#define RAM_SIZE (UL(128) << 20)
/* Two 2 MiB-aligned frames inside RAM, far above the image. */
#define SUPER_F1 UL(0x84000000)
#define SUPER_F2 UL(0x84200000)
/* Test addresses, all under root entry 1 (0x40000000..0x7fffffff). */
#define SUPER_VA UL(0x40000000) /* test_l1[0]: a 2 MiB leaf */
#define TABLE_VA UL(0x40200000) /* test_l1[1]: a level-0 table */
#define SPACE_VA UL(0x40400000) /* test_l1[2]: differs between the two address spaces */
#define USER_VA UL(0x40600000)  /* test_l1[3]: user code for the interrupt test */
#define MARK(n) (UL(0x5a5a000000000000) | (n))

#define VPN(va, level) (((va) >> (12 + 9 * (level))) & 511)

static uint64_t root1[512] ALIGNED(PAGE_SIZE);
static uint64_t root2[512] ALIGNED(PAGE_SIZE);
static uint64_t ram_l1[512] ALIGNED(PAGE_SIZE); /* 1:1, both spaces */
static uint64_t test_l1[512] ALIGNED(PAGE_SIZE);
static uint64_t test_l1b[512] ALIGNED(PAGE_SIZE); /* root2's */
static uint64_t t1[512] ALIGNED(PAGE_SIZE), t2[512] ALIGNED(PAGE_SIZE);
static uint64_t space1[512] ALIGNED(PAGE_SIZE), space2[512] ALIGNED(PAGE_SIZE);
static uint64_t user_l0[512] ALIGNED(PAGE_SIZE);
static uint64_t scratch[512] ALIGNED(PAGE_SIZE); /* MMU_UPDATE targets that are no live table */
static uint64_t page_a[512] ALIGNED(PAGE_SIZE), page_b[512] ALIGNED(PAGE_SIZE), page_c[512] ALIGNED(PAGE_SIZE);
/* `1: j 1b`, executed in user mode. */
static uint32_t user_code[1024] ALIGNED(PAGE_SIZE) = { 0x0000006f };
static struct tsvi_mmu_update batch[4] ALIGNED(8);

static uint64_t leaf(uint64_t pa, uint64_t perms)
{
    return (pa >> 12) << 10 | perms | PTE_V | PTE_A | PTE_D;
}

static uint64_t table(const void *pa)
{
    return ((uint64_t)pa >> 12) << 10 | PTE_V;
}

static struct sbiret tsvi(uint64_t fid, uint64_t a0, uint64_t a1)
{
    return sbi_call(TSVI_EXT, fid, a0, a1, 0);
}

static void report(const char *what, struct sbiret r)
{
    printf("%s: error=%ld value=%ld\n", what, r.error, r.value);
}

/* One MMU_UPDATE of `n` entries from `batch`; panics unless it applies them all. */
static void update(unsigned n)
{
    struct sbiret r = tsvi(TSVI_MMU_UPDATE, (uint64_t)batch, n);
    if (r.error || r.value != (long)n)
        panic("MMU_UPDATE of %u entries: error %ld, value %ld", n, r.error, r.value);
}

static void update1(uint64_t *pte, uint64_t value, uint64_t va)
{
    batch[0] = (struct tsvi_mmu_update){ (uint64_t)pte, value, va };
    update(1);
}

/* A load of `va` that may fault: the trap handler skips it, and -1 comes back. */
static uint64_t probe(uint64_t va)
{
    uint64_t v;
    asm volatile(".option push\n\t.option norvc\n\t"
                 "li %0, -1\n\t"
                 "ld %0, 0(%1)\n\t"
                 ".option pop"
                 : "=&r"(v)
                 : "r"(va)
                 : "memory");
    return v;
}

static void expect(const char *what, uint64_t got, uint64_t want)
{
    if (got != want)
        panic("%s: read 0x%lx, want 0x%lx", what, got, want);
}

/* ---------------------------------------------------------------- traps */
static volatile uint64_t last_cause, last_tval, last_from_kernel, traps;

void trap_handler(struct trap_frame *f)
{
    traps++;
    last_cause = f->cause;
    last_tval = f->tval;
    last_from_kernel = f->from_kernel;
    if (f->from_kernel && (f->cause == CAUSE_LOAD_PAGE || f->cause == 2 /* illegal instruction */)) {
        f->epc += 4; /* probe()'s ld, or the wfi: both 4 bytes */
        return;
    }
    if (!f->from_kernel && f->cause == (CAUSE_INTR | IRQ_S_TIMER)) {
        sbi_set_timer(~0UL);
        kernel_resume(1);
    }
    panic("unexpected trap: cause=0x%lx epc=0x%lx tval=0x%lx from %s mode", f->cause, f->epc, f->tval,
          f->from_kernel ? "kernel" : "user");
}

NORETURN void panic(const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    printf("pvcheck: FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    __builtin_va_end(ap);
    sbi_system_reset(SBI_SRST_SHUTDOWN, SBI_SRST_REASON_FAILURE);
    for (;;)
        ;
}

/* ---------------------------------------------------------------- 1: garbage */
static void garbage_before_setup(void)
{
    report("SET_SHARED misaligned", tsvi(TSVI_SET_SHARED, (uint64_t)&pv_shared_page + 8, 0));
    report("SET_SHARED below RAM", tsvi(TSVI_SET_SHARED, 0x1000, 0));
    report("SET_SHARED at the end of RAM", tsvi(TSVI_SET_SHARED, RAM_BASE + RAM_SIZE, 0));
    report("SET_SHARED beyond 2^53", tsvi(TSVI_SET_SHARED, ~0UL << 12, 0));
    report("TRAP_RETURN without a shared page", tsvi(TSVI_TRAP_RETURN, 0, 0));
    report("SET_TRAP_VECTOR misaligned", tsvi(TSVI_SET_TRAP_VECTOR, (uint64_t)trap_entry + 2, 0));
    report("unknown function", tsvi(99, 0, 0));
    report("VERSION", tsvi(TSVI_VERSION, 0, 0));
}

static void garbage_after_setup(void)
{
    uint64_t *target = &scratch[3];
    *target = 0x1234;
    report("MMU_UPDATE list below RAM", tsvi(TSVI_MMU_UPDATE, 0x1000, 1));
    report("MMU_UPDATE list across the end of RAM", tsvi(TSVI_MMU_UPDATE, RAM_BASE + RAM_SIZE - 16, 1));
    report("MMU_UPDATE list beyond 2^53", tsvi(TSVI_MMU_UPDATE, ~0UL - 7, 1));
    report("MMU_UPDATE 513 entries", tsvi(TSVI_MMU_UPDATE, (uint64_t)batch, 513));
    report("MMU_UPDATE no entries", tsvi(TSVI_MMU_UPDATE, (uint64_t)batch, 0));

    /* A good entry first: a failing batch must write nothing at all. */
    batch[0] = (struct tsvi_mmu_update){ (uint64_t)target, leaf((uint64_t)page_a, PTE_R), TSVI_NO_VA };
    batch[1] = (struct tsvi_mmu_update){ (uint64_t)&scratch[5] + 4, 0, TSVI_NO_VA };
    report("MMU_UPDATE misaligned pte", tsvi(TSVI_MMU_UPDATE, (uint64_t)batch, 2));
    batch[1] = (struct tsvi_mmu_update){ 0x10000000, 0, TSVI_NO_VA };
    report("MMU_UPDATE pte outside RAM", tsvi(TSVI_MMU_UPDATE, (uint64_t)batch, 2));
    batch[1] = (struct tsvi_mmu_update){ (uint64_t)&scratch[5], leaf(0x10000000, PTE_R | PTE_W), TSVI_NO_VA };
    report("MMU_UPDATE leaf outside RAM", tsvi(TSVI_MMU_UPDATE, (uint64_t)batch, 2));
    batch[1] = (struct tsvi_mmu_update){ (uint64_t)&scratch[5], leaf(RAM_BASE + RAM_SIZE, PTE_R), TSVI_NO_VA };
    report("MMU_UPDATE leaf at the end of RAM", tsvi(TSVI_MMU_UPDATE, (uint64_t)batch, 2));
    batch[1] = (struct tsvi_mmu_update){ (uint64_t)&scratch[5], (~0UL >> 10 << 10) | PTE_R | PTE_V, TSVI_NO_VA };
    report("MMU_UPDATE leaf with every frame bit set", tsvi(TSVI_MMU_UPDATE, (uint64_t)batch, 2));
    printf("failed batches wrote nothing: %s\n", *target == 0x1234 && scratch[5] == 0 ? "yes" : "no");

    report("SET_PTBR mode 5", tsvi(TSVI_SET_PTBR, 5UL << 60 | (uint64_t)root1 >> 12, 0));
    report("SET_PTBR root outside RAM", tsvi(TSVI_SET_PTBR, SATP_SV39 | 0x10000, 0));
    pv_shared.from_kernel = 2;
    report("TRAP_RETURN from_kernel=2", tsvi(TSVI_TRAP_RETURN, 0, 0));
    report("FLUSH_TLB at a garbage address", tsvi(TSVI_FLUSH_TLB, 0xdead00000123UL, 0));
    report("IRQ_ENABLE with nothing pending", tsvi(TSVI_IRQ_ENABLE, 0, 0));
}

/* ---------------------------------------------------------------- 2: exact translations */
static void map_spaces(void)
{
    /* RAM 1:1 with 2 MiB leaves, in both address spaces. */
    unsigned n = 0;
    for (uint64_t pa = RAM_BASE; pa < RAM_BASE + RAM_SIZE; pa += MEGAPAGE_SIZE) {
        batch[n++] = (struct tsvi_mmu_update){ (uint64_t)&ram_l1[VPN(pa, 1)], leaf(pa, PTE_R | PTE_W | PTE_X), TSVI_NO_VA };
        if (n == 4) {
            update(n);
            n = 0;
        }
    }
    batch[0] = (struct tsvi_mmu_update){ (uint64_t)&root1[VPN(RAM_BASE, 2)], table(ram_l1), TSVI_NO_VA };
    batch[1] = (struct tsvi_mmu_update){ (uint64_t)&root2[VPN(RAM_BASE, 2)], table(ram_l1), TSVI_NO_VA };
    batch[2] = (struct tsvi_mmu_update){ (uint64_t)&root1[VPN(SUPER_VA, 2)], table(test_l1), TSVI_NO_VA };
    batch[3] = (struct tsvi_mmu_update){ (uint64_t)&root2[VPN(SUPER_VA, 2)], table(test_l1b), TSVI_NO_VA };
    update(4);
    /* Space 1 maps SPACE_VA to page A, space 2 to page B. */
    batch[0] = (struct tsvi_mmu_update){ (uint64_t)&test_l1[VPN(SPACE_VA, 1)], table(space1), TSVI_NO_VA };
    batch[1] = (struct tsvi_mmu_update){ (uint64_t)&test_l1b[VPN(SPACE_VA, 1)], table(space2), TSVI_NO_VA };
    batch[2] = (struct tsvi_mmu_update){ (uint64_t)&space1[0], leaf((uint64_t)page_a, PTE_R | PTE_W), TSVI_NO_VA };
    batch[3] = (struct tsvi_mmu_update){ (uint64_t)&space2[0], leaf((uint64_t)page_b, PTE_R | PTE_W), TSVI_NO_VA };
    update(4);
}

static void check_translations(void)
{
    page_a[0] = MARK(0xa);
    page_b[0] = MARK(0xb);
    page_c[0] = MARK(0xc);
    /* Markers in the first two pages of each 2 MiB frame, written through the 1:1 map. */
    for (int k = 0; k < 2; k++) {
        ((volatile uint64_t *)(SUPER_F1 + k * PAGE_SIZE))[0] = MARK(0xf10 + k);
        ((volatile uint64_t *)(SUPER_F2 + k * PAGE_SIZE))[0] = MARK(0xf20 + k);
    }

    /* A superpage replaced: every page of it, not just the one at va. */
    update1(&test_l1[VPN(SUPER_VA, 1)], leaf(SUPER_F1, PTE_R | PTE_W), SUPER_VA);
    expect("superpage, page 0", probe(SUPER_VA), MARK(0xf10));
    expect("superpage, page 1", probe(SUPER_VA + PAGE_SIZE), MARK(0xf11));
    update1(&test_l1[VPN(SUPER_VA, 1)], leaf(SUPER_F2, PTE_R | PTE_W), SUPER_VA);
    expect("remapped superpage, page 0", probe(SUPER_VA), MARK(0xf20));
    expect("remapped superpage, page 1", probe(SUPER_VA + PAGE_SIZE), MARK(0xf21));
    printf("superpage replaced: exact\n");

    /* A table replaced by another: every page it mapped, not just the one at va. */
    t1[0] = leaf((uint64_t)page_a, PTE_R | PTE_W);
    t1[1] = leaf((uint64_t)page_c, PTE_R | PTE_W);
    t2[0] = leaf((uint64_t)page_b, PTE_R | PTE_W);
    t2[1] = leaf((uint64_t)page_a, PTE_R | PTE_W);
    update1(&test_l1[VPN(TABLE_VA, 1)], table(t1), TABLE_VA);
    expect("table 1, page 0", probe(TABLE_VA), MARK(0xa));
    expect("table 1, page 1", probe(TABLE_VA + PAGE_SIZE), MARK(0xc));
    update1(&test_l1[VPN(TABLE_VA, 1)], table(t2), TABLE_VA);
    expect("table 2, page 0", probe(TABLE_VA), MARK(0xb));
    expect("table 2, page 1", probe(TABLE_VA + PAGE_SIZE), MARK(0xa));
    printf("table replaced: exact\n");

    /* Plain stores, made visible by FLUSH_TLB(va): to a 4 KiB leaf, and to a
     * superpage's (all of whose pages the flush covers, as natively). */
    t2[0] = leaf((uint64_t)page_c, PTE_R | PTE_W);
    tsvi(TSVI_FLUSH_TLB, TABLE_VA, 0);
    expect("plain store after FLUSH_TLB", probe(TABLE_VA), MARK(0xc));
    test_l1[VPN(SUPER_VA, 1)] = leaf(SUPER_F1, PTE_R | PTE_W);
    tsvi(TSVI_FLUSH_TLB, SUPER_VA, 0);
    expect("superpage store after FLUSH_TLB, page 1", probe(SUPER_VA + PAGE_SIZE), MARK(0xf11));
    printf("plain store + FLUSH_TLB: visible\n");

    /* An unmapped page faults (a stale translation would let the load through). */
    update1(&t2[0], 0, TABLE_VA);
    traps = 0;
    uint64_t got = probe(TABLE_VA);
    printf("unmapped page: read 0x%lx, traps=%lu cause=%lu tval=0x%lx from_kernel=%lu\n", got, traps, last_cause,
           last_tval, last_from_kernel);

    /* An update to the space that is not live, seen after SET_PTBR with no flush. */
    expect("space 1", probe(SPACE_VA), MARK(0xa));
    arch_set_ptbr(SATP_SV39 | (uint64_t)root2 >> 12);
    expect("space 2", probe(SPACE_VA), MARK(0xb));
    update1(&space1[0], leaf((uint64_t)page_c, PTE_R | PTE_W), SPACE_VA);
    expect("space 2 after the update of space 1", probe(SPACE_VA), MARK(0xb));
    arch_set_ptbr(SATP_SV39 | (uint64_t)root1 >> 12);
    expect("space 1 after its update", probe(SPACE_VA), MARK(0xc));
    printf("update of a space that is not live: exact after SET_PTBR\n");
}

/* ---------------------------------------------------------------- 3: trap delivery */
static void check_traps(void)
{
    register uint64_t a0 asm("a0") = 0x1010, a1 asm("a1") = 0x1111;
    register uint64_t a6 asm("a6") = 0x1616, a7 asm("a7") = 0x1717;
    traps = 0;
    asm volatile(".option push\n\t.option norvc\n\twfi\n\t.option pop" : "+r"(a0), "+r"(a1), "+r"(a6), "+r"(a7)::"memory");
    printf("privileged instruction: traps=%lu cause=%lu tval=0x%lx from_kernel=%lu, a0/a1/a6/a7 %s\n", traps,
           last_cause, last_tval, last_from_kernel,
           a0 == 0x1010 && a1 == 0x1111 && a6 == 0x1616 && a7 == 0x1717 ? "kept" : "lost");

    /* User code that spins; the timer interrupt must reach it though irq_enabled is 0. */
    update1(&user_l0[0], leaf((uint64_t)user_code, PTE_R | PTE_X | PTE_U), USER_VA);
    update1(&test_l1[VPN(USER_VA, 1)], table(user_l0), USER_VA);
    arch_irq_disable();
    sbi_set_timer(rdtime() + TIMEBASE_HZ / 1000);
    uint64_t r = run_user(USER_VA, 0, 0, 0, 0);
    printf("interrupt in user mode: resumed=%lu cause=0x%lx from_kernel=%lu\n", r, last_cause, last_from_kernel);
}

NORETURN void kmain(uint64_t hartid, uint64_t dtb)
{
    (void)hartid;
    (void)dtb;
    console_init();
    printf("pvcheck: start\n");
    garbage_before_setup();
    arch_init();
    garbage_after_setup();
    map_spaces();
    arch_set_ptbr(SATP_SV39 | (uint64_t)root1 >> 12);
    check_translations();
    check_traps();
    printf("pvcheck: done\n");
    sbi_system_reset(SBI_SRST_SHUTDOWN, SBI_SRST_REASON_NONE);
    for (;;)
        ;
}
