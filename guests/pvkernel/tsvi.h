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
/* MMU_UPDATE's va when the caller does not know it (costs a full flush). */
#define TSVI_NO_VA (~0UL)

/* The shared page (pv-abi.md, "The shared page"): byte offsets. */
#define SHARED_CAUSE 0
#define SHARED_TVAL 8
#define SHARED_EPC 16
#define SHARED_FROM_KERNEL 24
#define SHARED_SP 32
#define SHARED_KERNEL_SP 40
#define SHARED_IRQ_ENABLED 48
#define SHARED_IRQ_PENDING 49
#define SHARED_IRQ_PREV 50
#define SHARED_A0 56
#define SHARED_A1 64
#define SHARED_A6 72
#define SHARED_A7 80

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <stdint.h>

/** The vCPU's shared page, registered with SET_SHARED. */
struct tsvi_shared {
    uint64_t cause;       /* VMM */
    uint64_t tval;        /* VMM */
    uint64_t epc;         /* VMM at a trap, guest for TRAP_RETURN */
    uint64_t from_kernel; /* VMM at a trap, guest for TRAP_RETURN */
    uint64_t sp;          /* VMM: sp at the trap */
    uint64_t kernel_sp;   /* guest: sp for traps from user mode */
    uint8_t irq_enabled;  /* guest: the pv sstatus.SIE */
    uint8_t irq_pending;  /* VMM */
    uint8_t irq_prev;     /* VMM at a trap, guest for TRAP_RETURN: the pv sstatus.SPIE */
    uint8_t reserved[5];
    uint64_t a0, a1, a6, a7; /* VMM at a trap, guest for TRAP_RETURN */
};
_Static_assert(offsetof(struct tsvi_shared, kernel_sp) == SHARED_KERNEL_SP, "SHARED_KERNEL_SP");
_Static_assert(offsetof(struct tsvi_shared, irq_enabled) == SHARED_IRQ_ENABLED, "SHARED_IRQ_ENABLED");
_Static_assert(offsetof(struct tsvi_shared, irq_pending) == SHARED_IRQ_PENDING, "SHARED_IRQ_PENDING");
_Static_assert(offsetof(struct tsvi_shared, irq_prev) == SHARED_IRQ_PREV, "SHARED_IRQ_PREV");
_Static_assert(offsetof(struct tsvi_shared, a0) == SHARED_A0, "SHARED_A0");
_Static_assert(offsetof(struct tsvi_shared, a7) == SHARED_A7, "SHARED_A7");

/** The shared page as the guest allocates it: a whole page, the VMM's alone. */
union tsvi_shared_page {
    struct tsvi_shared s;
    uint8_t page[4096];
};

/** One MMU_UPDATE entry: store `value` into the PTE at guest-physical
 *  `pte_gpa`, which maps virtual address `va` (or TSVI_NO_VA). */
struct tsvi_mmu_update {
    uint64_t pte_gpa;
    uint64_t value;
    uint64_t va;
};
_Static_assert(sizeof(struct tsvi_mmu_update) == 24, "MMU_UPDATE entries are 24 bytes");
#endif /* __ASSEMBLER__ */
#endif
