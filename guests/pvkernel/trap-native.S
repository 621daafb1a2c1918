/*
 * pvkernel, native build: trap entry and exit in supervisor mode, and the
 * first entry into user mode.
 *
 * sscratch is 0 while in the kernel and holds the trap stack's top while in
 * user mode (as in Linux), so one entry serves traps from both modes.
 */
#include "kernel.h"

    .text
    .balign 4
    .globl trap_entry
trap_entry:
    csrrw sp, sscratch, sp      /* from user: sp = trap stack, sscratch = user sp */
    bnez sp, 1f
    csrr sp, sscratch           /* from the kernel: stay on the interrupted stack */
1:  addi sp, sp, -FRAME_SIZE
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
    csrr t0, sscratch           /* the interrupted sp, either way */
    sd t0, 2*8(sp)
    csrw sscratch, zero
    csrr t0, scause
    sd t0, FRAME_CAUSE(sp)
    csrr t0, stval
    sd t0, FRAME_TVAL(sp)
    csrr t0, sepc
    sd t0, FRAME_EPC(sp)
    csrr t0, sstatus
    srli t1, t0, 8              /* SPP */
    andi t1, t1, 1
    sd t1, FRAME_FROM_KERNEL(sp)
    srli t1, t0, 5              /* SPIE */
    andi t1, t1, 1
    sd t1, FRAME_IRQ_PREV(sp)
    mv a0, sp
    call trap_handler

    ld t0, FRAME_EPC(sp)
    csrw sepc, t0
    ld t0, FRAME_FROM_KERNEL(sp)
    bnez t0, 2f                 /* sstatus.SPP still says where we came from */
    la t0, __trap_stack_top
    csrw sscratch, t0
2:  ld x1, 1*8(sp)
    ld x3, 3*8(sp)
    ld x4, 4*8(sp)
    ld x5, 5*8(sp)
    ld x6, 6*8(sp)
    ld x7, 7*8(sp)
    ld x8, 8*8(sp)
    ld x9, 9*8(sp)
    ld x10, 10*8(sp)
    ld x11, 11*8(sp)
    ld x12, 12*8(sp)
    ld x13, 13*8(sp)
    ld x14, 14*8(sp)
    ld x15, 15*8(sp)
    ld x16, 16*8(sp)
    ld x17, 17*8(sp)
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
    sret

/* uint64_t run_user(entry, usp, arg0, arg1, arg2): sret into user mode,
 * with a0..a2 = arg0..arg2. */
    .globl run_user
run_user:
    save_kernel_ctx
    csrw sepc, a0
    li t0, SSTATUS_SPP | SSTATUS_SPIE
    csrc sstatus, t0            /* to user mode, SIE stays clear on return */
    la t0, __trap_stack_top
    csrw sscratch, t0
    mv sp, a1
    mv a0, a2
    mv a1, a3
    mv a2, a4
    clear_user_regs
    sret
