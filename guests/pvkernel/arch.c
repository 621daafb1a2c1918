/*
 * pvkernel: the architecture layer's out-of-line parts (see arch.h).
 */
#include "arch.h"

#ifndef PV
/* ================================================================ native */
void arch_init(void)
{
    asm volatile("csrw stvec, %0" ::"r"(trap_entry)); /* direct mode */
    asm volatile("csrw sscratch, zero");               /* 0: in the kernel (trap-native.S) */
    asm volatile("csrw sie, %0" ::"r"(SIE_STIE));      /* the timer only */
}

#else
/* ================================================================ pv */

union tsvi_shared_page pv_shared_page ALIGNED(PAGE_SIZE);

struct tsvi_mmu_update pv_mmu_batch[TSVI_MMU_UPDATE_MAX] ALIGNED(8);
unsigned pv_mmu_count;

static void tsvi_check(const char *what, struct sbiret r)
{
    if (r.error)
        panic("TSVI %s failed: error %ld", what, r.error);
}

void arch_init(void)
{
    if (!sbi_probe_extension(TSVI_EXT))
        panic("no TSVI extension (0x%x): the pv build runs only under tsvisor's pv technique", TSVI_EXT);
    struct sbiret r = tsvi_call(TSVI_VERSION, 0, 0);
    if (r.error || r.value != 1)
        panic("TSVI VERSION: error %ld, version %ld (want 1)", r.error, r.value);
    /* Kernel addresses are guest-physical ones (1:1 before and after paging). */
    tsvi_check("SET_SHARED", tsvi_call(TSVI_SET_SHARED, (uint64_t)&pv_shared_page, 0));
    pv_shared.kernel_sp = (uint64_t)__trap_stack_top;
    pv_shared.irq_enabled = 0;
    tsvi_check("SET_TRAP_VECTOR", tsvi_call(TSVI_SET_TRAP_VECTOR, (uint64_t)trap_entry, 0));
}

/* Called by trap-pv.S when a TRAP_RETURN hypercall came back. */
NORETURN void pv_trap_return_failed(long error);
NORETURN void pv_trap_return_failed(long error)
{
    panic("TRAP_RETURN failed: error %ld", error);
}

void arch_pte_commit(void)
{
    if (pv_mmu_count == 0)
        return;
    /* The batch is read by the VMM from guest memory: it must be there first. */
    asm volatile("" ::: "memory");
    struct sbiret r = tsvi_call(TSVI_MMU_UPDATE, (uint64_t)pv_mmu_batch, pv_mmu_count);
    if (r.error || (unsigned long)r.value != pv_mmu_count)
        panic("MMU_UPDATE of %u entries (first: pte 0x%lx = 0x%lx for va 0x%lx): error %ld, applied %ld", pv_mmu_count,
              pv_mmu_batch[0].pte_gpa, pv_mmu_batch[0].value, pv_mmu_batch[0].va, r.error, r.value);
    pv_mmu_count = 0;
}
#endif
