/*
 * pvkernel: the architecture layer, the only C code that differs between the
 * native build (a supervisor-mode kernel using privileged instructions) and
 * the pv build (-DPV: no privileged instruction at all; hypercalls and the
 * shared page of docs/pv-abi.md instead). The trap entry and exit, and the
 * first entry into user mode, are in trap-native.S / trap-pv.S.
 *
 * Interface (both builds):
 *   arch_init()            trap vector, per-CPU state (before paging)
 *   arch_irq_disable()     mask interrupts
 *   arch_irq_enable()      unmask interrupts; a pending one is taken now
 *   arch_idle_step()       wait for an interrupt and take it (called masked,
 *                          returns masked)
 *   arch_pte_write(p,v,va) store PTE value v at p (a kernel address, which is
 *                          also its physical address); va is the virtual
 *                          address it maps, or ARCH_NO_VA while the tables
 *                          are not live (nothing cached to invalidate)
 *   arch_pte_commit()      make all arch_pte_write()s so far visible to
 *                          translation
 *   arch_set_ptbr(satp)    switch to page tables committed before
 *   arch_halt()            stop for good
 */
#ifndef PVKERNEL_ARCH_H
#define PVKERNEL_ARCH_H
#include "kernel.h"
#include "sbi.h"

#define ARCH_NO_VA (~0UL)

void arch_init(void);

#ifndef PV
/* ================================================================ native */
#define ARCH_NAME "native"

static inline void arch_irq_disable(void)
{
    asm volatile("csrc sstatus, %0" ::"rK"(SSTATUS_SIE) : "memory");
}

static inline void arch_irq_enable(void)
{
    asm volatile("csrs sstatus, %0" ::"rK"(SSTATUS_SIE) : "memory");
}

/* wfi wakes on a pending interrupt even while sstatus.SIE is clear (priv.
 * spec §3.3.3), so there is no window in which the wake-up is lost; the
 * interrupt is taken at the csrs. */
static inline void arch_idle_step(void)
{
    asm volatile("wfi\n\t"
                 "csrs sstatus, %0\n\t"
                 "csrc sstatus, %0" ::"rK"(SSTATUS_SIE)
                 : "memory");
}

/* A store, then a fence for that page: the spec lets a hart cache invalid
 * entries too, so a new mapping is fenced like a removed one (as Linux does
 * without Svvptc). */
static inline void arch_pte_write(volatile uint64_t *pte, uint64_t value, uint64_t va)
{
    *pte = value;
    if (va != ARCH_NO_VA)
        asm volatile("sfence.vma %0, zero" ::"r"(va) : "memory");
}

static inline void arch_pte_commit(void)
{
}

/* The stores to the new tables must be ordered before the walks through
 * them (priv. spec §4.2.1), and nothing cached for the old satp may stay. */
static inline void arch_set_ptbr(uint64_t satp)
{
    asm volatile("csrw satp, %0\n\t"
                 "sfence.vma zero, zero" ::"r"(satp)
                 : "memory");
}

static inline NORETURN void arch_halt(void)
{
    for (;;)
        asm volatile("wfi");
}

#else
/* ================================================================ pv */
#include "tsvi.h"
#define ARCH_NAME "pv"
_Static_assert(ARCH_NO_VA == TSVI_NO_VA, "ARCH_NO_VA");

extern union tsvi_shared_page pv_shared_page;
#define pv_shared (pv_shared_page.s)
extern struct tsvi_mmu_update pv_mmu_batch[TSVI_MMU_UPDATE_MAX];
extern unsigned pv_mmu_count;
void arch_pte_commit(void);

static inline struct sbiret tsvi_call(uint64_t fid, uint64_t arg0, uint64_t arg1)
{
    return sbi_call(TSVI_EXT, fid, arg0, arg1, 0);
}

/* A plain store to the shared page: no exit. */
static inline void arch_irq_disable(void)
{
    asm volatile("" ::: "memory");
    *(volatile uint8_t *)&pv_shared.irq_enabled = 0;
    asm volatile("" ::: "memory");
}

/* A store, and a hypercall only when the VMM held an interrupt back. An
 * interrupt that arrives between the two is delivered at once (irq_enabled
 * is 1 by then); one held back before the store is taken in IRQ_ENABLE. */
static inline void arch_irq_enable(void)
{
    asm volatile("" ::: "memory");
    *(volatile uint8_t *)&pv_shared.irq_enabled = 1;
    asm volatile("" ::: "memory");
    if (*(volatile uint8_t *)&pv_shared.irq_pending)
        tsvi_call(TSVI_IRQ_ENABLE, 0, 0);
    asm volatile("" ::: "memory");
}

/* IDLE with irq_enabled = 0, like wfi with SIE clear: it returns once an
 * interrupt is pending (held back, so irq_pending is set); unmasking then
 * takes it in IRQ_ENABLE. */
static inline void arch_idle_step(void)
{
    tsvi_call(TSVI_IDLE, 0, 0);
    arch_irq_enable();
    arch_irq_disable();
}

/* Queued; MMU_UPDATE applies a batch in one exit, and no fence is needed. */
static inline void arch_pte_write(volatile uint64_t *pte, uint64_t value, uint64_t va)
{
    if (pv_mmu_count == TSVI_MMU_UPDATE_MAX)
        arch_pte_commit();
    struct tsvi_mmu_update *u = &pv_mmu_batch[pv_mmu_count++];
    u->pte_gpa = (uint64_t)pte;
    u->value = value;
    u->va = va; /* ARCH_NO_VA is TSVI_NO_VA: -1, "unknown" */
}

/* No flush: MMU_UPDATE keeps every address space exact. */
static inline void arch_set_ptbr(uint64_t satp)
{
    struct sbiret r = tsvi_call(TSVI_SET_PTBR, satp, 0);
    if (r.error)
        panic("SET_PTBR(0x%lx) failed: error %ld", satp, r.error);
}

static inline NORETURN void arch_halt(void)
{
    for (;;)
        tsvi_call(TSVI_IDLE, 0, 0);
}
#endif
#endif
