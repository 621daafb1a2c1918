/*
 * pvkernel: declarations shared by the kernel's C and assembly files.
 *
 * The kernel's logic (kernel.c) is one code for both builds; what differs
 * between running on a real supervisor mode (native) and on tsvisor's
 * paravirtual interface (pv, docs/pv-abi.md) is in arch.h and in the trap
 * entry files trap-native.S / trap-pv.S.
 */
#ifndef PVKERNEL_KERNEL_H
#define PVKERNEL_KERNEL_H

/* A constant usable in C (unsigned long) and in assembly. */
#ifdef __ASSEMBLER__
#define UL(x) x
#else
#define UL(x) x##UL
#endif

/* ---------------------------------------------------------------- trap frame
 * Built by the trap entry (trap-native.S or trap-pv.S) on the kernel stack,
 * handed to trap_handler(), and restored from on the way out: a handler
 * changes what the interrupted code sees by changing the frame. */
#define FRAME_REGS 0          /* x0..x31; x2 (sp) is the interrupted sp */
#define FRAME_CAUSE 256       /* as scause: bit 63 = interrupt */
#define FRAME_TVAL 264        /* as stval */
#define FRAME_EPC 272         /* as sepc: where to resume */
#define FRAME_FROM_KERNEL 280 /* 1: trap came from (and returns to) kernel mode */
#define FRAME_IRQ_PREV 288    /* interrupts were enabled at the trap (sstatus.SPIE; pv: irq_prev) */
#define FRAME_SIZE 304        /* a multiple of 16 (the stack alignment) */

/* ---------------------------------------------------------------- user ABI
 * The user task's system calls, as Linux's: number in a7, arguments in a0 and
 * a1, result in a0; every other register is preserved, across any trap. */
#define SYS_GETPID 1
#define SYS_ADD 2
#define SYS_EXIT 3 /* a0 = the value run_user() returns in the kernel */
#define TASK_PID 7

/* ---------------------------------------------------------------- memory
 * Sv39. The kernel maps its own image and page pool 1:1 with 2 MiB leaves
 * (not user-accessible); the user task's pages live in the first 1 GiB. */
#define PAGE_SIZE UL(4096)
#define MEGAPAGE_SIZE (UL(1) << 21)
#define KERNEL_BASE UL(0x80200000)
#define USER_TEXT_VA UL(0x10000000)  /* the user task's code (user.S) */
#define USER_STACK_VA UL(0x101ff000) /* one stack page, below USER_STACK_TOP */
#define USER_STACK_TOP UL(0x10200000)
#define PT_VA UL(0x20000000)    /* phase 2: pages mapped and unmapped in rounds */
#define FAULT_VA UL(0x30000000) /* phase 5: pages mapped on demand */

#define PTE_V (UL(1) << 0)
#define PTE_R (UL(1) << 1)
#define PTE_W (UL(1) << 2)
#define PTE_X (UL(1) << 3)
#define PTE_U (UL(1) << 4)
#define PTE_A (UL(1) << 6)
#define PTE_D (UL(1) << 7)
#define SATP_SV39 (UL(8) << 60)

#define SSTATUS_SIE (UL(1) << 1)
#define SSTATUS_SPIE (UL(1) << 5)
#define SSTATUS_SPP (UL(1) << 8)
#define SIE_STIE (UL(1) << 5)

#define CAUSE_INTR (UL(1) << 63)
#define IRQ_S_TIMER 5
#define CAUSE_ECALL_U 8
#define CAUSE_FETCH_PAGE 12
#define CAUSE_LOAD_PAGE 13
#define CAUSE_STORE_PAGE 15

#ifdef __ASSEMBLER__
/* Saves the kernel's callee-saved state for kernel_resume() (start.S). */
.macro save_kernel_ctx
    la t0, kernel_ctx
    sd ra, 0(t0)
    sd sp, 8(t0)
    sd s0, 16(t0)
    sd s1, 24(t0)
    sd s2, 32(t0)
    sd s3, 40(t0)
    sd s4, 48(t0)
    sd s5, 56(t0)
    sd s6, 64(t0)
    sd s7, 72(t0)
    sd s8, 80(t0)
    sd s9, 88(t0)
    sd s10, 96(t0)
    sd s11, 104(t0)
.endm

/* The user task starts with zeroes but for its arguments (a0..a2) and sp. */
.macro clear_user_regs
    li ra, 0
    li gp, 0
    li tp, 0
    li t0, 0
    li t1, 0
    li t2, 0
    li s0, 0
    li s1, 0
    li a3, 0
    li a4, 0
    li a5, 0
    li a6, 0
    li a7, 0
    li s2, 0
    li s3, 0
    li s4, 0
    li s5, 0
    li s6, 0
    li s7, 0
    li s8, 0
    li s9, 0
    li s10, 0
    li s11, 0
    li t3, 0
    li t4, 0
    li t5, 0
    li t6, 0
.endm
#else
#include <stdint.h>
#include <stddef.h>

#define ALIGNED(n) __attribute__((aligned(n)))
#define NORETURN __attribute__((noreturn))

/** The registers and trap state saved on kernel entry (layout: FRAME_*). */
struct trap_frame {
    uint64_t regs[32];
    uint64_t cause;
    uint64_t tval;
    uint64_t epc;
    uint64_t from_kernel;
    uint64_t irq_prev;
    uint64_t pad;
};
_Static_assert(sizeof(struct trap_frame) == FRAME_SIZE, "FRAME_SIZE");
_Static_assert(offsetof(struct trap_frame, irq_prev) == FRAME_IRQ_PREV, "FRAME_IRQ_PREV");
_Static_assert(offsetof(struct trap_frame, cause) == FRAME_CAUSE, "FRAME_CAUSE");
_Static_assert(offsetof(struct trap_frame, from_kernel) == FRAME_FROM_KERNEL, "FRAME_FROM_KERNEL");

/* trap-*.S */
/** Runs the user task from user virtual address `entry` with sp = `usp` and
 *  a0..a2 = the arguments, until it makes the SYS_EXIT call; returns its a0. */
uint64_t run_user(uint64_t entry, uint64_t usp, uint64_t arg0, uint64_t arg1, uint64_t arg2);
/** Trap entry: the address given to stvec (native) or SET_TRAP_VECTOR (pv). */
void trap_entry(void);
/* start.S */
/** Returns from the pending run_user() with `value` (called by SYS_EXIT). */
NORETURN void kernel_resume(uint64_t value);
/* user.S, mapped at USER_TEXT_VA */
extern char __user_start[], __user_end[];
extern char user_syscalls[], user_touch[];
/* link.ld */
extern char __trap_stack_top[], _end[];

/* kernel.c */
void trap_handler(struct trap_frame *f);
NORETURN void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
NORETURN void kmain(uint64_t hartid, uint64_t dtb);

/* console.c */
void console_init(void);
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprintf(const char *fmt, __builtin_va_list ap);
void *memset(void *d, int c, size_t n);

static inline uint64_t rdtime(void)
{
    uint64_t t;
    asm volatile("rdtime %0" : "=r"(t));
    return t;
}
#endif /* __ASSEMBLER__ */
#endif
