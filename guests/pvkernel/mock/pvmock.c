/*
 * pvmock: a minimal machine-mode implementation of tsvisor's paravirtual
 * interface (docs/pv-abi.md), so that the pv build of pvkernel can be run
 * and checked on any RISC-V machine (QEMU, tsvisor's bare board), apart
 * from tsvisor's own `pv` technique. It is a test harness, not a VMM: the
 * guest kernel runs in S-mode and its user task in U-mode, translation uses
 * the guest's page tables directly (no shadowing), and only one hart runs.
 *
 * What it does check: every trap of the guest comes here (nothing is
 * delegated), and mstatus.TVM/TW/TSR make satp, sfence.vma, wfi and sret
 * trap too, so a privileged instruction the pv kernel should not execute
 * stops the run; the SBI calls and TSVI hypercalls are carried out as
 * pv-abi.md describes them, with traps delivered through the shared page.
 *
 * Its reading of the places where pv-abi.md leaves the implementation a
 * choice: IDLE sleeps in wfi until the timer fires (the only interrupt it
 * has); SET_PTBR fences, because the hart's TLB is not tagged by root (every
 * address space has ASID 0) and the guest no longer asks for a fence;
 * MMU_UPDATE fences the whole TLB once per call rather than per va; a leaf's
 * frame is checked as 4 KiB (the mock does not know which level a table
 * page is at).
 */
#include <stdint.h>
#include "sbi.h"
#include "tsvi.h"

#define UART_BASE 0x10000000UL
#define UART_LSR_THRE 0x20
#define TEST_BASE 0x100000UL /* sifive,test: 0x5555 = pass, (code << 16) | 0x3333 = fail */
#define CLINT_MTIMECMP 0x2004000UL
#define RAM_BASE 0x80000000UL
#define KERNEL_ENTRY 0x80200000UL
#define DEFAULT_RAM_SIZE (128UL << 20)

#define MSTATUS_MPP_SHIFT 11
#define MSTATUS_MPP (3UL << MSTATUS_MPP_SHIFT)
#define MSTATUS_TVM (1UL << 20)
#define MSTATUS_TW (1UL << 21)
#define MSTATUS_TSR (1UL << 22)
#define MIP_MTIP (1UL << 7)
#define CAUSE_INTR (1UL << 63)
#define CAUSE_M_TIMER (CAUSE_INTR | 7)
#define CAUSE_S_TIMER (CAUSE_INTR | 5)
#define CAUSE_ILLEGAL 2
#define CAUSE_ECALL_S 9
#define CAUSE_PAGE_FETCH 12
#define CAUSE_PAGE_LOAD 13
#define CAUSE_PAGE_STORE 15
#define PRV_U 0
#define PRV_S 1

#define SBI_ERR_NOT_SUPPORTED (-2)
#define SBI_ERR_INVALID_PARAM (-3)
#define SBI_ERR_INVALID_ADDRESS (-5)

#define STR_(x) #x
#define STR(x) STR_(x)
#define csr_read(csr) ({ uint64_t v_; asm volatile("csrr %0, " STR(csr) : "=r"(v_)::"memory"); v_; })
#define csr_write(csr, val) asm volatile("csrw " STR(csr) ", %0" ::"r"((uint64_t)(val)) : "memory")
#define csr_set(csr, val) asm volatile("csrs " STR(csr) ", %0" ::"r"((uint64_t)(val)) : "memory")
#define csr_clear(csr, val) asm volatile("csrc " STR(csr) ", %0" ::"r"((uint64_t)(val)) : "memory")

/** The guest's registers while the monitor runs (pvmock.S); x[2] is its sp. */
struct guest_regs {
    uint64_t x[32];
};
struct guest_regs guest;

static uint64_t ram_end = RAM_BASE + DEFAULT_RAM_SIZE;
static struct tsvi_shared *shared; /* set by SET_SHARED */
static uint64_t trap_vector;       /* set by SET_TRAP_VECTOR */
static int timer_pending;          /* fired, not yet delivered */
static unsigned long hypercalls, deliveries;

/* ---------------------------------------------------------------- output */
static void uart_put(char c)
{
    volatile uint8_t *u = (volatile uint8_t *)UART_BASE;
    if (c == '\n')
        uart_put('\r');
    while (!(u[5] & UART_LSR_THRE))
        ;
    u[0] = (uint8_t)c;
}

static void put_str(const char *s)
{
    while (*s)
        uart_put(*s++);
}

static void put_hex(uint64_t v)
{
    put_str("0x");
    for (int sh = 60; sh >= 0; sh -= 4)
        uart_put("0123456789abcdef"[(v >> sh) & 15]);
}

static __attribute__((noreturn)) void finish(uint32_t code)
{
    *(volatile uint32_t *)TEST_BASE = code;
    for (;;)
        asm volatile("wfi");
}

static __attribute__((noreturn)) void fail(const char *what, uint64_t v)
{
    put_str("pvmock: FAIL: ");
    put_str(what);
    put_str(" ");
    put_hex(v);
    put_str(" (epc ");
    put_hex(csr_read(mepc));
    put_str(")\n");
    finish((2 << 16) | 0x3333);
}

/* ---------------------------------------------------------------- memory */
static int in_ram(uint64_t pa, uint64_t len)
{
    return pa >= RAM_BASE && len <= ram_end - RAM_BASE && pa - RAM_BASE <= ram_end - RAM_BASE - len;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RAM's end from the device tree's /memory reg (2 address and 2 size cells,
 * as on the virt board); the default when there is no usable one. */
static void find_ram(const uint8_t *fdt)
{
    if (fdt == 0 || be32(fdt) != 0xd00dfeed)
        return;
    const uint8_t *p = fdt + be32(fdt + 8);
    const char *strings = (const char *)fdt + be32(fdt + 12);
    int depth = 0, in_memory = 0;
    for (;;) {
        uint32_t token = be32(p);
        p += 4;
        if (token == 1) { /* FDT_BEGIN_NODE */
            const char *name = (const char *)p;
            depth++;
            in_memory = depth == 2 && name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'o' &&
                        name[4] == 'r' && name[5] == 'y';
            unsigned n = 0;
            while (name[n])
                n++;
            p += (n + 4) & ~3u;
        } else if (token == 2) { /* FDT_END_NODE */
            depth--;
            in_memory = 0;
        } else if (token == 3) { /* FDT_PROP */
            uint32_t len = be32(p), nameoff = be32(p + 4);
            const char *name = strings + nameoff;
            if (in_memory && len == 16 && name[0] == 'r' && name[1] == 'e' && name[2] == 'g' && name[3] == 0) {
                uint64_t base = (uint64_t)be32(p + 8) << 32 | be32(p + 12);
                uint64_t size = (uint64_t)be32(p + 16) << 32 | be32(p + 20);
                if (base == RAM_BASE)
                    ram_end = base + size;
                return;
            }
            p += 8 + ((len + 3) & ~3u);
        } else if (token != 4) { /* FDT_END, or garbage */
            return;
        }
    }
}

/* ---------------------------------------------------------------- traps */
static unsigned prev_mode(void)
{
    return (csr_read(mstatus) & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT;
}

static void set_mode(unsigned mode)
{
    csr_clear(mstatus, MSTATUS_MPP);
    csr_set(mstatus, (uint64_t)mode << MSTATUS_MPP_SHIFT);
}

/* pv-abi.md, "Trap delivery": fill the trap's slots of the shared page,
 * mask interrupts, switch to kernel mode (with sp = kernel_sp from user
 * mode), go to the vector. */
static void deliver(uint64_t cause, uint64_t tval, uint64_t epc, int from_kernel)
{
    if (shared == 0 || trap_vector == 0)
        fail("trap before SET_SHARED and SET_TRAP_VECTOR, cause", cause);
    shared->cause = cause;
    shared->tval = tval;
    shared->epc = epc;
    shared->from_kernel = (uint64_t)from_kernel;
    shared->sp = guest.x[2];
    shared->irq_prev = shared->irq_enabled;
    shared->a0 = guest.x[10];
    shared->a1 = guest.x[11];
    shared->a6 = guest.x[16];
    shared->a7 = guest.x[17];
    shared->irq_enabled = 0;
    if (!from_kernel)
        guest.x[2] = shared->kernel_sp;
    csr_write(mepc, trap_vector);
    set_mode(PRV_S);
    deliveries++;
}

/* The timer fired: it stays pending (mie.MTIE off, so it traps only once)
 * until delivered or re-armed. */
static void timer_fired(void)
{
    csr_clear(mie, MIP_MTIP);
    timer_pending = 1;
}

/* Delivers a pending timer interrupt if the guest takes it now (always in
 * user mode, with irq_enabled in kernel mode); else marks it held back.
 * Returns 1 when delivered. */
static int try_deliver_timer(uint64_t epc, int from_kernel)
{
    if (!timer_pending || shared == 0)
        return 0;
    if (from_kernel && !shared->irq_enabled) {
        shared->irq_pending = 1;
        return 0;
    }
    timer_pending = 0;
    shared->irq_pending = 0;
    deliver(CAUSE_S_TIMER, 0, epc, from_kernel);
    return 1;
}

static int known_extension(uint64_t eid)
{
    return eid == SBI_EXT_BASE || eid == SBI_EXT_TIME || eid == SBI_EXT_SRST || eid == SBI_EXT_DBCN || eid == TSVI_EXT;
}

static long mmu_update(uint64_t gpa, uint64_t n)
{
    if (n > TSVI_MMU_UPDATE_MAX)
        return SBI_ERR_INVALID_PARAM;
    if (!in_ram(gpa, n * sizeof(struct tsvi_mmu_update)))
        return SBI_ERR_INVALID_ADDRESS;
    if (gpa & 7)
        return SBI_ERR_INVALID_ADDRESS;
    struct tsvi_mmu_update *u = (struct tsvi_mmu_update *)gpa;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = u[i].value;
        if ((u[i].pte_gpa & 7) || !in_ram(u[i].pte_gpa, 8))
            return SBI_ERR_INVALID_ADDRESS;
        if ((v & 1) && (v & 0xe) && !in_ram(((v >> 10) & ((1UL << 44) - 1)) << 12, 4096))
            return SBI_ERR_INVALID_ADDRESS;
    }
    for (uint64_t i = 0; i < n; i++)
        *(volatile uint64_t *)u[i].pte_gpa = u[i].value;
    /* Visible to translation on return (entry va's unused: one full fence). */
    asm volatile("sfence.vma" ::: "memory");
    return 0;
}

/* An ECALL from the guest kernel. Returns with mepc, the mode and the
 * guest's registers set for where it continues. */
static void hypercall(uint64_t epc)
{
    uint64_t eid = guest.x[17], fid = guest.x[16];
    uint64_t a0 = guest.x[10], a1 = guest.x[11];
    long err = 0, val = 0;
    hypercalls++;
    csr_write(mepc, epc + 4);
    switch (eid) {
    case SBI_EXT_BASE:
        if (fid == 0)
            val = 2 << 24; /* SBI 2.0 */
        else if (fid == SBI_BASE_PROBE_EXTENSION)
            val = known_extension(a0);
        else if (fid > 6)
            err = SBI_ERR_NOT_SUPPORTED;
        break;
    case SBI_EXT_TIME:
        if (fid != 0) {
            err = SBI_ERR_NOT_SUPPORTED;
            break;
        }
        *(volatile uint64_t *)CLINT_MTIMECMP = a0;
        timer_pending = 0;
        if (shared)
            shared->irq_pending = 0;
        csr_set(mie, MIP_MTIP);
        break;
    case SBI_EXT_DBCN:
        if (fid != 0) {
            err = SBI_ERR_NOT_SUPPORTED;
        } else if (guest.x[12] != 0 || !in_ram(a1, a0)) {
            err = SBI_ERR_INVALID_PARAM;
        } else {
            for (uint64_t i = 0; i < a0; i++) {
                char c = ((const char *)a1)[i];
                if (c != '\r')
                    uart_put(c);
            }
            val = (long)a0;
        }
        break;
    case SBI_EXT_LEGACY_PUTCHAR:
        uart_put((char)a0);
        break;
    case SBI_EXT_SRST:
        if (fid != 0 || a0 != SBI_SRST_SHUTDOWN) {
            err = SBI_ERR_NOT_SUPPORTED;
            break;
        }
        put_str("pvmock: shutdown after ");
        put_hex(hypercalls);
        put_str(" hypercalls and ");
        put_hex(deliveries);
        put_str(" trap deliveries\n");
        finish(a1 == SBI_SRST_REASON_NONE ? 0x5555 : (1 << 16) | 0x3333);
    case SBI_EXT_LEGACY_SHUTDOWN:
        finish(0x5555);
    case TSVI_EXT:
        switch (fid) {
        case TSVI_VERSION:
            val = 1;
            break;
        case TSVI_SET_SHARED:
            if (a0 & 4095)
                err = SBI_ERR_INVALID_PARAM;
            else if (!in_ram(a0, 4096))
                err = SBI_ERR_INVALID_ADDRESS;
            else
                shared = (struct tsvi_shared *)a0;
            break;
        case TSVI_SET_TRAP_VECTOR:
            if (a0 & 3)
                err = SBI_ERR_INVALID_PARAM;
            else
                trap_vector = a0;
            break;
        case TSVI_MMU_UPDATE:
            err = mmu_update(a0, a1);
            val = err ? 0 : (long)a1;
            break;
        case TSVI_SET_PTBR: {
            uint64_t mode = a0 >> 60;
            if (mode != 0 && mode != 8 && mode != 9) {
                err = SBI_ERR_INVALID_PARAM;
            } else if (mode != 0 && !in_ram((a0 & ((1UL << 44) - 1)) << 12, 4096)) {
                err = SBI_ERR_INVALID_ADDRESS;
            } else {
                /* The hart's TLB is not tagged by root: drop the old space's. */
                csr_write(satp, a0);
                asm volatile("sfence.vma" ::: "memory");
            }
            break;
        }
        case TSVI_TRAP_RETURN:
            if (shared == 0 || shared->from_kernel > 1) {
                err = SBI_ERR_INVALID_PARAM;
                break;
            }
            /* pc, mode, a0, a1, a6, a7 and irq_enabled from the shared page. */
            csr_write(mepc, shared->epc);
            set_mode(shared->from_kernel ? PRV_S : PRV_U);
            guest.x[10] = shared->a0;
            guest.x[11] = shared->a1;
            guest.x[16] = shared->a6;
            guest.x[17] = shared->a7;
            shared->irq_enabled = shared->irq_prev;
            try_deliver_timer(shared->epc, (int)shared->from_kernel);
            return;
        case TSVI_IRQ_ENABLE:
            guest.x[10] = 0;
            guest.x[11] = 0;
            if (try_deliver_timer(epc + 4, 1))
                return;
            break;
        case TSVI_IDLE:
            if (!timer_pending) {
                if (!(csr_read(mie) & MIP_MTIP))
                    fail("IDLE with no timer armed: it would never return", 0);
                while (!(csr_read(mip) & MIP_MTIP))
                    asm volatile("wfi");
                timer_fired();
            }
            guest.x[10] = 0;
            guest.x[11] = 0;
            if (try_deliver_timer(epc + 4, 1))
                return;
            break;
        case TSVI_FLUSH_TLB:
            if (a0 == ~0UL)
                asm volatile("sfence.vma" ::: "memory");
            else
                asm volatile("sfence.vma %0" ::"r"(a0) : "memory");
            break;
        default:
            err = SBI_ERR_NOT_SUPPORTED;
        }
        break;
    default:
        err = SBI_ERR_NOT_SUPPORTED;
    }
    guest.x[10] = (uint64_t)err;
    guest.x[11] = (uint64_t)val;
}

/** Called by pvmock.S for every trap of the guest. */
void mock_trap(void)
{
    uint64_t cause = csr_read(mcause), epc = csr_read(mepc), tval = csr_read(mtval);
    int from_kernel = prev_mode() == PRV_S;
    if (cause == CAUSE_M_TIMER) {
        timer_fired();
        try_deliver_timer(epc, from_kernel);
        return;
    }
    if (from_kernel && cause == CAUSE_ECALL_S) {
        hypercall(epc);
        return;
    }
    if (from_kernel && cause == CAUSE_ILLEGAL)
        fail("the pv kernel executed a privileged or illegal instruction: mtval", tval);
    if (from_kernel && cause != CAUSE_PAGE_FETCH && cause != CAUSE_PAGE_LOAD && cause != CAUSE_PAGE_STORE)
        fail("exception in the pv kernel: cause", cause);
    deliver(cause, tval, epc, from_kernel);
}

/** Called once by pvmock.S; returns into the kernel. */
void mock_main(uint64_t hartid, uint64_t dtb)
{
    find_ram((const uint8_t *)dtb);
    put_str("pvmock: TSVI reference monitor, RAM up to ");
    put_hex(ram_end);
    put_str("\n");
    /* S/U may access everything (PMP entry 0: NAPOT over all, RWX). */
    csr_write(pmpaddr0, ~0UL);
    csr_write(pmpcfg0, 0x1f);
    csr_write(medeleg, 0);
    csr_write(mideleg, 0);
    csr_write(mie, 0);
    csr_write(mcounteren, 7); /* rdtime */
    csr_write(scounteren, 7);
    csr_write(satp, 0);
    csr_clear(mstatus, MSTATUS_MPP | (1UL << 7) /* MPIE */);
    csr_set(mstatus, MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | (uint64_t)PRV_S << MSTATUS_MPP_SHIFT);
    csr_write(mepc, KERNEL_ENTRY);
    guest.x[10] = hartid;
    guest.x[11] = dtb;
}
