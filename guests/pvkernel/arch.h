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
 *                          address it maps, for the TLB, or ARCH_NO_VA while
 *                          the tables are not live
 *   arch_pte_commit()      make all arch_pte_write()s so far visible to
 *                          translation
 *   arch_set_ptbr(satp)    switch page tables
 *   arch_flush_tlb_all()   forget every cached translation
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

static inline void arch_set_ptbr(uint64_t satp)
{
    asm volatile("csrw satp, %0" ::"r"(satp) : "memory");
}

static inline void arch_flush_tlb_all(void)
{
    asm volatile("sfence.vma zero, zero" ::: "memory");
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

/* A store, and a hypercall only when the VMM held an interrupt back. */
static inline void arch_irq_enable(void)
{
    asm volatile("" ::: "memory");
    *(volatile uint8_t *)&pv_shared.irq_enabled = 1;
    if (*(volatile uint8_t *)&pv_shared.irq_pending)
        tsvi_call(TSVI_IRQ_ENABLE, 0, 0);
    asm volatile("" ::: "memory");
}

/*
 * IDLE with irq_enabled = 0, like wfi with SIE clear: it returns once an
 * interrupt is pending (and held back, so irq_pending is set); unmasking
 * then takes it in IRQ_ENABLE. One asm block, so that an interrupt delivered
 * anywhere in it only clobbers registers declared clobbered: TRAP_RETURN
 * comes back with its own a0, a1, a6 and a7.
 */
static inline void arch_idle_step(void)
{
    asm volatile("li a7, %[eid]\n\t"
                 "li a6, %[idle]\n\t"
                 "ecall\n\t"
                 "li t0, 1\n\t"
                 "sb t0, %[en](%[sh])\n\t"
                 "lbu t0, %[pend](%[sh])\n\t"
                 "beqz t0, 1f\n\t"
                 "li a7, %[eid]\n\t"
                 "li a6, %[irqen]\n\t"
                 "ecall\n"
                 "1:\tsb zero, %[en](%[sh])"
                 :
                 : [sh] "r"(&pv_shared), [eid] "i"(TSVI_EXT), [idle] "i"(TSVI_IDLE), [irqen] "i"(TSVI_IRQ_ENABLE),
                   [en] "i"(SHARED_IRQ_ENABLED), [pend] "i"(SHARED_IRQ_PENDING)
                 : "a0", "a1", "a6", "a7", "t0", "memory");
}

/* Queued; MMU_UPDATE applies a batch in one exit, and no fence is needed. */
static inline void arch_pte_write(volatile uint64_t *pte, uint64_t value, uint64_t va)
{
    (void)va;
    if (pv_mmu_count == TSVI_MMU_UPDATE_MAX)
        arch_pte_commit();
    pv_mmu_batch[pv_mmu_count].pte_gpa = (uint64_t)pte;
    pv_mmu_batch[pv_mmu_count].value = value;
    pv_mmu_count++;
}

static inline void arch_set_ptbr(uint64_t satp)
{
    struct sbiret r = tsvi_call(TSVI_SET_PTBR, satp, 0);
    if (r.error)
        panic("SET_PTBR(0x%lx) failed: error %ld", satp, r.error);
}

static inline void arch_flush_tlb_all(void)
{
    tsvi_call(TSVI_FLUSH_TLB, ~0UL, 0);
}

static inline NORETURN void arch_halt(void)
{
    for (;;)
        tsvi_call(TSVI_IDLE, 0, 0);
}
#endif
#endif
