/*
 * pvkernel: entry point and the return from user mode to the kernel. Both
 * builds; no privileged instruction here.
 *
 * Entered like Linux from OpenSBI (or from tsvisor under pv): a0 = hart id,
 * a1 = device tree, paging off, interrupts off.
 */
#include "kernel.h"

    .section .text.init, "ax"
    .globl _start
_start:
    la sp, __stack_top
    mv s0, a0
    mv s1, a1
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:  mv a0, s0
    mv a1, s1
    call kmain
3:  j 3b                    /* kmain does not return */

    .text
/* void kernel_resume(uint64_t value): back into run_user()'s caller, which
 * sees `value` returned. Called from the trap handler on SYS_EXIT; the trap
 * frame it leaves behind on the trap stack is simply abandoned. */
    .globl kernel_resume
kernel_resume:
    la t0, kernel_ctx
    ld ra, 0(t0)
    ld sp, 8(t0)
    ld s0, 16(t0)
    ld s1, 24(t0)
    ld s2, 32(t0)
    ld s3, 40(t0)
    ld s4, 48(t0)
    ld s5, 56(t0)
    ld s6, 64(t0)
    ld s7, 72(t0)
    ld s8, 80(t0)
    ld s9, 88(t0)
    ld s10, 96(t0)
    ld s11, 104(t0)
    ret

    .bss
    .balign 8
    .globl kernel_ctx
kernel_ctx: .space 14 * 8   /* ra, sp, s0..s11 of run_user()'s caller */
