/*
 * pvkernel, pv build: trap entry and exit through tsvisor's paravirtual
 * interface (docs/pv-abi.md), and the first entry into user mode.
 * No privileged instruction: the trap state is read from the shared page and
 * the return is the TRAP_RETURN hypercall.
 *
 * The VMM enters here in kernel mode with every register as it was at the
 * trap except sp, which it loads with shared.kernel_sp for traps from user
 * mode (the interrupted sp is in shared.sp), and with irq_enabled = 0.
 * TRAP_RETURN resumes at shared.epc in the mode shared.from_kernel says, with
 * a0, a1, a6 and a7 reloaded from the shared page and irq_enabled from
 * irq_prev: the exit path puts the frame's values there, so every register
 * of the interrupted code comes back (and a handler's change to the frame,
 * such as a system call's result in a0, is what it sees).
 */
#include "kernel.h"
#include "tsvi.h"

    .text
    .balign 4
    .globl trap_entry
trap_entry:
    addi sp, sp, -FRAME_SIZE
    sd zero, 0(sp)
    sd x1, 1*8(sp)
    sd x3, 3*8(sp)
    sd x4, 4*8(sp)
    sd x5, 5*8(sp)
    sd x6, 6*8(sp)
    sd x7, 7*8(sp)
    sd x8, 8*8(sp)
    sd x9, 9*8(sp)
    sd x10, 10*8(sp)
    sd x11, 11*8(sp)
    sd x12, 12*8(sp)
    sd x13, 13*8(sp)
    sd x14, 14*8(sp)
    sd x15, 15*8(sp)
    sd x16, 16*8(sp)
    sd x17, 17*8(sp)
    sd x18, 18*8(sp)
    sd x19, 19*8(sp)
    sd x20, 20*8(sp)
    sd x21, 21*8(sp)
    sd x22, 22*8(sp)
    sd x23, 23*8(sp)
    sd x24, 24*8(sp)
    sd x25, 25*8(sp)
    sd x26, 26*8(sp)
    sd x27, 27*8(sp)
    sd x28, 28*8(sp)
    sd x29, 29*8(sp)
    sd x30, 30*8(sp)
    sd x31, 31*8(sp)
    la t0, pv_shared_page
    ld t1, SHARED_SP(t0)
    sd t1, 2*8(sp)
    ld t1, SHARED_CAUSE(t0)
    sd t1, FRAME_CAUSE(sp)
    ld t1, SHARED_TVAL(t0)
    sd t1, FRAME_TVAL(sp)
    ld t1, SHARED_EPC(t0)
    sd t1, FRAME_EPC(sp)
    ld t1, SHARED_FROM_KERNEL(t0)
    sd t1, FRAME_FROM_KERNEL(sp)
    lbu t1, SHARED_IRQ_PREV(t0)
    sd t1, FRAME_IRQ_PREV(sp)
    mv a0, sp
    call trap_handler

    /* The resume state goes to the shared page only now: irq_enabled is
     * still 0 (the handler never unmasks), so no trap overwrites it before
     * the TRAP_RETURN. */
    la t0, pv_shared_page
    ld t1, FRAME_EPC(sp)
    sd t1, SHARED_EPC(t0)
    ld t1, FRAME_FROM_KERNEL(sp)
    sd t1, SHARED_FROM_KERNEL(t0)
    ld t1, FRAME_IRQ_PREV(sp)
    sb t1, SHARED_IRQ_PREV(t0)
    ld t1, 10*8(sp)
    sd t1, SHARED_A0(t0)
    ld t1, 11*8(sp)
    sd t1, SHARED_A1(t0)
    ld t1, 16*8(sp)
    sd t1, SHARED_A6(t0)
    ld t1, 17*8(sp)
    sd t1, SHARED_A7(t0)
    ld x1, 1*8(sp)
    ld x3, 3*8(sp)
    ld x4, 4*8(sp)
    ld x5, 5*8(sp)
    ld x6, 6*8(sp)
    ld x7, 7*8(sp)
    ld x8, 8*8(sp)
    ld x9, 9*8(sp)
    ld x12, 12*8(sp)
    ld x13, 13*8(sp)
    ld x14, 14*8(sp)
    ld x15, 15*8(sp)
    ld x18, 18*8(sp)
    ld x19, 19*8(sp)
    ld x20, 20*8(sp)
    ld x21, 21*8(sp)
    ld x22, 22*8(sp)
    ld x23, 23*8(sp)
    ld x24, 24*8(sp)
    ld x25, 25*8(sp)
    ld x26, 26*8(sp)
    ld x27, 27*8(sp)
    ld x28, 28*8(sp)
    ld x29, 29*8(sp)
    ld x30, 30*8(sp)
    ld x31, 31*8(sp)
    ld sp, 2*8(sp)
    li a6, TSVI_TRAP_RETURN
    li a7, TSVI_EXT
    ecall
    j trap_return_failed            /* TRAP_RETURN returns only on an error */

/* uint64_t run_user(entry, usp, arg0, arg1, arg2): TRAP_RETURN into user
 * mode, with a0..a2 = arg0..arg2 and interrupts as the kernel has them
 * (masked) once it is back. */
    .globl run_user
run_user:
    save_kernel_ctx
    la t0, pv_shared_page
    sd a0, SHARED_EPC(t0)
    sd zero, SHARED_FROM_KERNEL(t0)
    sb zero, SHARED_IRQ_PREV(t0)
    sd a2, SHARED_A0(t0)
    sd a3, SHARED_A1(t0)
    sd zero, SHARED_A6(t0)
    sd zero, SHARED_A7(t0)
    mv sp, a1
    mv a2, a4
    clear_user_regs
    li a6, TSVI_TRAP_RETURN
    li a7, TSVI_EXT
    ecall
trap_return_failed:                 /* a0 = the SBI error; sp may be anything */
    la sp, __trap_stack_top
    call pv_trap_return_failed
