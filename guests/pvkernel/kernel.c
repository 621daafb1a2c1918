/*
 * pvkernel: a small Sv39 kernel whose five phases exercise what a VMM's
 * virtualization techniques differ on: system calls, page-table updates,
 * interrupt masking, timer interrupts while idle, and demand paging.
 *
 * One code for both builds: everything that touches privileged state goes
 * through arch.h. Each phase prints one line with a count and a checksum;
 * the lines are the same for native and pv (no timings: the VMM measures).
 * Each phase also checks its own result and fails loudly (SBI SRST with
 * reason "system failure") rather than print a wrong line.
 */
#include "arch.h"
#include "config.h"
#include "kernel.h"
#include "sbi.h"

#if PT_PAGES > 512 || FAULT_PAGES > 512
#error "PT_PAGES and FAULT_PAGES must fit one level-0 page table (512 entries)"
#endif
#define POOL_PAGES (PT_PAGES > FAULT_PAGES ? PT_PAGES : FAULT_PAGES)
#define TIMER_PERIOD (TIMEBASE_HZ / 1000000 * TIMER_PERIOD_US)
#define GOLDEN 0x9e3779b97f4a7c15UL
#define CANARY 0x0123456789abcdefUL /* user.S */
#define CANARIES 12
#define SEED_PAGETABLE 0x5eed0000UL
#define SEED_PAGEFAULT 0xfa017000UL
/* run_user()'s value when the user task stopped on an expected page fault. */
#define USER_FAULTED 0xdeadUL

#define VPN(va, level) (((va) >> (12 + 9 * (level))) & 511)

/* ---------------------------------------------------------------- memory
 * Kernel addresses are physical addresses: the kernel maps itself 1:1. */
static uint64_t root_pt[512] ALIGNED(PAGE_SIZE);
static uint64_t kernel_l1[512] ALIGNED(PAGE_SIZE);
static uint64_t user_l1[512] ALIGNED(PAGE_SIZE);
static uint64_t text_l0[512] ALIGNED(PAGE_SIZE);  /* user code and stack */
static uint64_t pt_l0[512] ALIGNED(PAGE_SIZE);    /* phase 2 */
static uint64_t fault_l0[512] ALIGNED(PAGE_SIZE); /* phase 5 */
static uint8_t user_stack[PAGE_SIZE] ALIGNED(PAGE_SIZE);
/* Frames for the user task's data pages (not zeroed at boot: link.ld). */
static uint8_t pool[POOL_PAGES][PAGE_SIZE] ALIGNED(PAGE_SIZE) __attribute__((section(".pool")));

static uint64_t pte_leaf(const void *pa, uint64_t perms)
{
    /* A and D set: no hardware update or fault needed on first use. */
    return ((uint64_t)pa >> 12) << 10 | perms | PTE_V | PTE_A | PTE_D;
}

static uint64_t pte_table(const void *pa)
{
    return ((uint64_t)pa >> 12) << 10 | PTE_V;
}

static uint8_t *pte_frame(uint64_t pte)
{
    return (uint8_t *)((pte >> 10) << 12);
}

/* The user task's address of a symbol in user.S. */
static uint64_t user_va(const char *sym)
{
    return USER_TEXT_VA + (uint64_t)(sym - __user_start);
}

static void vm_init(void)
{
    arch_pte_write(&root_pt[VPN(KERNEL_BASE, 2)], pte_table(kernel_l1), ARCH_NO_VA);
    for (uint64_t pa = KERNEL_BASE; pa < (uint64_t)_end; pa += MEGAPAGE_SIZE)
        arch_pte_write(&kernel_l1[VPN(pa, 1)], pte_leaf((void *)pa, PTE_R | PTE_W | PTE_X), ARCH_NO_VA);

    arch_pte_write(&root_pt[VPN(USER_TEXT_VA, 2)], pte_table(user_l1), ARCH_NO_VA);
    arch_pte_write(&user_l1[VPN(USER_TEXT_VA, 1)], pte_table(text_l0), ARCH_NO_VA);
    arch_pte_write(&user_l1[VPN(PT_VA, 1)], pte_table(pt_l0), ARCH_NO_VA);
    arch_pte_write(&user_l1[VPN(FAULT_VA, 1)], pte_table(fault_l0), ARCH_NO_VA);
    for (const char *p = __user_start; p < __user_end; p += PAGE_SIZE)
        arch_pte_write(&text_l0[VPN(user_va(p), 0)], pte_leaf(p, PTE_R | PTE_X | PTE_U), ARCH_NO_VA);
    arch_pte_write(&text_l0[VPN(USER_STACK_VA, 0)], pte_leaf(user_stack, PTE_R | PTE_W | PTE_U), ARCH_NO_VA);
    arch_pte_commit();

    arch_set_ptbr(SATP_SV39 | (uint64_t)root_pt >> 12);
}

/* ---------------------------------------------------------------- checksums */
static uint64_t fold(uint64_t acc, uint64_t value)
{
    return (acc << 7 | acc >> 57) ^ value;
}

/* The user routines end by folding in their canary registers. */
static uint64_t fold_canaries(uint64_t acc)
{
    for (uint64_t k = 1; k <= CANARIES; k++)
        acc = fold(acc, k * CANARY);
    return acc;
}

/* What user_syscalls (user.S) returns for `calls` calls. */
static uint64_t expect_syscalls(uint64_t calls)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < calls; i++)
        acc = fold(acc, (i & 1) ? i + acc : TASK_PID);
    return fold_canaries(acc);
}

/* The value user_touch (user.S) writes into page i. */
static uint64_t touch_value(uint64_t seed, uint64_t i)
{
    return seed + i * GOLDEN;
}

/* What user_touch returns for `pages` pages. */
static uint64_t expect_touch(uint64_t seed, uint64_t pages)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < pages; i++)
        acc = fold(acc, touch_value(seed, i));
    return fold_canaries(acc);
}

/* The user task wrote page i through its mapping: the frame behind the PTE,
 * read through the kernel's own mapping, must hold the value. */
static void check_touched(const char *phase, const uint64_t *l0, uint64_t va, uint64_t pages, uint64_t seed)
{
    for (uint64_t i = 0; i < pages; i++) {
        uint64_t pte = l0[VPN(va + i * PAGE_SIZE, 0)];
        uint64_t got = ((volatile uint64_t *)pte_frame(pte))[i];
        if (!(pte & PTE_V) || got != touch_value(seed, i))
            panic("%s: page %lu (pte 0x%lx) holds 0x%lx, the user task wrote 0x%lx", phase, i, pte, got,
                  touch_value(seed, i));
    }
}

/* ---------------------------------------------------------------- traps */
static uint64_t syscalls;
static uint64_t expect_fault_va = ~0UL;
static uint64_t faults;
static unsigned fault_next_frame;
static volatile int timer_active;
static volatile uint64_t timer_ticks;
static uint64_t timer_sum;

static NORETURN void unexpected_trap(const struct trap_frame *f)
{
    panic("unexpected trap: cause=0x%lx epc=0x%lx tval=0x%lx from %s mode", f->cause, f->epc, f->tval,
          f->from_kernel ? "kernel" : "user");
}

static void syscall(struct trap_frame *f)
{
    uint64_t *a0 = &f->regs[10], a1 = f->regs[11], nr = f->regs[17];
    f->epc += 4;
    switch (nr) {
    case SYS_GETPID:
        *a0 = TASK_PID;
        break;
    case SYS_ADD:
        *a0 += a1;
        break;
    case SYS_EXIT:
        kernel_resume(*a0);
    default:
        panic("unknown system call %lu at 0x%lx", nr, f->epc - 4);
    }
    syscalls++;
}

/* A user page fault: phase 5's demand paging, or phase 2's probe of an
 * unmapped page. Returns 0 when it is neither. */
static int user_page_fault(struct trap_frame *f)
{
    uint64_t va = f->tval & ~(PAGE_SIZE - 1);
    if (va == expect_fault_va) {
        expect_fault_va = ~0UL;
        kernel_resume(USER_FAULTED);
    }
    if (va < FAULT_VA || va >= FAULT_VA + FAULT_PAGES * PAGE_SIZE || f->cause == CAUSE_FETCH_PAGE)
        return 0;
    volatile uint64_t *pte = &fault_l0[VPN(va, 0)];
    if ((*pte & PTE_V) || fault_next_frame == POOL_PAGES)
        return 0; /* mapped already: the new PTE was not seen */
    uint8_t *frame = pool[fault_next_frame++];
    memset(frame, 0, PAGE_SIZE);
    arch_pte_write(pte, pte_leaf(frame, PTE_R | PTE_W | PTE_U), va);
    arch_pte_commit();
    faults++;
    return 1; /* the faulting access runs again */
}

static void timer_interrupt(struct trap_frame *f)
{
    if (!timer_active)
        unexpected_trap(f);
    timer_ticks++;
    timer_sum = fold(timer_sum, f->cause + timer_ticks);
    sbi_set_timer(timer_ticks < TIMER_TICKS ? rdtime() + TIMER_PERIOD : ~0UL);
}

void trap_handler(struct trap_frame *f)
{
    if (f->cause == (CAUSE_INTR | IRQ_S_TIMER)) {
        timer_interrupt(f);
        return;
    }
    if (!f->from_kernel) {
        switch (f->cause) {
        case CAUSE_ECALL_U:
            syscall(f);
            return;
        case CAUSE_FETCH_PAGE:
        case CAUSE_LOAD_PAGE:
        case CAUSE_STORE_PAGE:
            if (user_page_fault(f))
                return;
            break;
        }
    }
    unexpected_trap(f);
}

/* ---------------------------------------------------------------- phases */
static void print_phase(const char *name, const char *what, uint64_t count, uint64_t checksum)
{
    printf("%s: %s=%lu checksum=0x%016lx\n", name, what, count, checksum);
}

/* 1: system calls from a user task, each a trap into the kernel and back. */
static void phase_syscalls(void)
{
    syscalls = 0;
    uint64_t sum = run_user(user_va(user_syscalls), USER_STACK_TOP, SYSCALLS, 0, 0);
    if (syscalls != SYSCALLS || sum != expect_syscalls(SYSCALLS))
        panic("syscalls: %lu calls, checksum 0x%lx (want %u, 0x%lx)", syscalls, sum, SYSCALLS,
              expect_syscalls(SYSCALLS));
    print_phase("syscalls", "calls", syscalls, sum);
}

/* 2: map PT_PAGES pages, let the user task write and read them all, unmap
 * them, and check that an access now faults; PT_ROUNDS times, with the
 * pages on different frames each round. */
static void phase_pagetable(void)
{
    uint64_t total = 0, mapped = 0;
    for (uint64_t r = 0; r < PT_ROUNDS; r++) {
        for (uint64_t i = 0; i < PT_PAGES; i++) {
            uint64_t va = PT_VA + i * PAGE_SIZE;
            arch_pte_write(&pt_l0[VPN(va, 0)], pte_leaf(pool[(i * 7 + r * 13) % PT_PAGES], PTE_R | PTE_W | PTE_U), va);
        }
        arch_pte_commit();
        mapped += PT_PAGES;

        uint64_t seed = SEED_PAGETABLE + r;
        uint64_t sum = run_user(user_va(user_touch), USER_STACK_TOP, PT_VA, PT_PAGES, seed);
        if (sum != expect_touch(seed, PT_PAGES))
            panic("pagetable: round %lu: checksum 0x%lx, want 0x%lx", r, sum, expect_touch(seed, PT_PAGES));
        check_touched("pagetable", pt_l0, PT_VA, PT_PAGES, seed);
        total = fold(total, sum);

        for (uint64_t i = 0; i < PT_PAGES; i++) {
            uint64_t va = PT_VA + i * PAGE_SIZE;
            arch_pte_write(&pt_l0[VPN(va, 0)], 0, va);
        }
        arch_pte_commit();

        /* A stale translation would let this access through. */
        uint64_t probe = PT_VA + (r * 17 % PT_PAGES) * PAGE_SIZE;
        expect_fault_va = probe;
        uint64_t got = run_user(user_va(user_touch), USER_STACK_TOP, probe, 1, 0);
        if (got != USER_FAULTED)
            panic("pagetable: round %lu: page 0x%lx is still mapped after the unmap", r, probe);
    }
    print_phase("pagetable", "pages", mapped, total);
}

/* 3: interrupt masking around a tiny critical section. */
static volatile uint64_t irq_protected;

static void phase_irqflag(void)
{
    uint64_t pairs = 0;
    arch_irq_enable();
    for (uint64_t i = 0; i < IRQ_PAIRS; i++) {
        arch_irq_disable();
        irq_protected = irq_protected * 6364136223846793005UL + i;
        arch_irq_enable();
        pairs++;
    }
    arch_irq_disable();
    print_phase("irqflag", "pairs", pairs, irq_protected);
}

/* 4: idle until TIMER_TICKS timer interrupts, each armed TIMER_PERIOD_US
 * after the last. */
static void phase_timer(void)
{
    uint64_t start = rdtime();
    uint64_t deadline = start + TIMEBASE_HZ / 1000 * TIMER_DEADLINE_MS;
    timer_ticks = 0;
    timer_sum = 0;
    timer_active = 1;
    sbi_set_timer(start + TIMER_PERIOD);
    while (timer_ticks < TIMER_TICKS) {
        arch_idle_step();
        if (rdtime() > deadline)
            panic("timer: %lu of %u interrupts in %u ms", timer_ticks, TIMER_TICKS, TIMER_DEADLINE_MS);
    }
    timer_active = 0;
    print_phase("timer", "ticks", timer_ticks, timer_sum);
}

/* 5: the user task touches FAULT_PAGES unmapped pages; each first touch
 * faults and the kernel maps a zeroed frame. */
static void phase_pagefault(void)
{
    faults = 0;
    fault_next_frame = 0;
    uint64_t sum = run_user(user_va(user_touch), USER_STACK_TOP, FAULT_VA, FAULT_PAGES, SEED_PAGEFAULT);
    if (faults != FAULT_PAGES || sum != expect_touch(SEED_PAGEFAULT, FAULT_PAGES))
        panic("pagefault: %lu faults, checksum 0x%lx (want %u, 0x%lx)", faults, sum, FAULT_PAGES,
              expect_touch(SEED_PAGEFAULT, FAULT_PAGES));
    check_touched("pagefault", fault_l0, FAULT_VA, FAULT_PAGES, SEED_PAGEFAULT);
    for (uint64_t i = 0; i < FAULT_PAGES; i++) {
        uint64_t va = FAULT_VA + i * PAGE_SIZE;
        arch_pte_write(&fault_l0[VPN(va, 0)], 0, va);
    }
    arch_pte_commit();
    print_phase("pagefault", "faults", faults, sum);
}

/* ---------------------------------------------------------------- main */
static NORETURN void shutdown(uint64_t reason)
{
    sbi_system_reset(SBI_SRST_SHUTDOWN, reason);
    sbi_legacy_shutdown();
    arch_halt();
}

NORETURN void panic(const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    printf("pvkernel: FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    __builtin_va_end(ap);
    shutdown(SBI_SRST_REASON_FAILURE);
}

NORETURN void kmain(uint64_t hartid, uint64_t dtb)
{
    (void)hartid;
    (void)dtb;
    console_init();
    printf("pvkernel: %s\n", ARCH_NAME);
    sbi_set_timer(~0UL); /* no timer interrupt before phase 4 */
    arch_init();
    vm_init();
    phase_syscalls();
    phase_pagetable();
    phase_irqflag();
    phase_timer();
    phase_pagefault();
    printf("pvkernel: done\n");
    shutdown(SBI_SRST_REASON_NONE);
}
