/*
 * pvkernel: tsvisor's paravirtual interface, the TSVI SBI extension
 * (docs/pv-abi.md). Used by the pv build only.
 */
#ifndef PVKERNEL_TSVI_H
#define PVKERNEL_TSVI_H

#define TSVI_EXT 0x0A545356
#define TSVI_VERSION 0
#define TSVI_SET_SHARED 1
#define TSVI_SET_TRAP_VECTOR 2
#define TSVI_MMU_UPDATE 3
#define TSVI_SET_PTBR 4
#define TSVI_TRAP_RETURN 5
#define TSVI_IRQ_ENABLE 6
#define TSVI_IDLE 7
#define TSVI_FLUSH_TLB 8

#define TSVI_MMU_UPDATE_MAX 512

/* The shared page (pv-abi.md, "The shared page"): byte offsets. */
#define SHARED_CAUSE 0
#define SHARED_TVAL 8
#define SHARED_EPC 16
#define SHARED_FROM_KERNEL 24
#define SHARED_SP 32
#define SHARED_KERNEL_SP 40
#define SHARED_IRQ_ENABLED 48
#define SHARED_IRQ_PENDING 49

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <stdint.h>

/** The vCPU's shared page, registered with SET_SHARED. */
struct tsvi_shared {
    uint64_t cause;       /* VMM */
    uint64_t tval;        /* VMM */
    uint64_t epc;         /* VMM */
    uint64_t from_kernel; /* VMM */
    uint64_t sp;          /* VMM: sp at the trap */
    uint64_t kernel_sp;   /* guest: sp for traps from user mode */
    uint8_t irq_enabled;  /* guest: the pv sstatus.SIE */
    uint8_t irq_pending;  /* VMM */
};
_Static_assert(offsetof(struct tsvi_shared, kernel_sp) == SHARED_KERNEL_SP, "SHARED_KERNEL_SP");
_Static_assert(offsetof(struct tsvi_shared, irq_enabled) == SHARED_IRQ_ENABLED, "SHARED_IRQ_ENABLED");
_Static_assert(offsetof(struct tsvi_shared, irq_pending) == SHARED_IRQ_PENDING, "SHARED_IRQ_PENDING");

/** The shared page as the guest allocates it: a whole page, the VMM's alone. */
union tsvi_shared_page {
    struct tsvi_shared s;
    uint8_t page[4096];
};

/** One MMU_UPDATE entry: store `value` into the PTE at guest-physical `pte_gpa`. */
struct tsvi_mmu_update {
    uint64_t pte_gpa;
    uint64_t value;
};
#endif /* __ASSEMBLER__ */
#endif
