/*
 * pvkernel: the user task. Position-independent code in its own pages,
 * mapped at USER_TEXT_VA (user, read + execute) and run by run_user().
 * System calls as kernel.h says: number in a7, arguments and result in a0/a1.
 * Checksums fold values with acc = rotl(acc, 7) ^ value, as kernel.c does.
 *
 * Every register must survive every trap. The routines keep live values in
 * a0, a1, a6 and a7 across the traps they take (system calls, page faults):
 * the registers pv's hypercalls use, which TRAP_RETURN reloads from the
 * shared page. They also load canaries into the registers they do not use,
 * and fold them into their result at the end: a kernel (or VMM) that loses
 * one of them across any of the traps changes the checksum.
 */
#include "kernel.h"

#define CANARY 0x0123456789abcdef

/* Register k of the list (k = 1..12) gets k * CANARY. */
.macro set_canaries
    li ra, CANARY
    add gp, ra, ra
    add tp, gp, ra
    add t3, tp, ra
    add t4, t3, ra
    add t5, t4, ra
    add t6, t5, ra
    add s9, t6, ra
    add s10, s9, ra
    add s11, s10, ra
    add a4, s11, ra
    add a5, a4, ra
.endm

/* acc = fold(acc, register) for each register of the list, in order. */
.macro fold_canaries acc
    .irp r, ra, gp, tp, t3, t4, t5, t6, s9, s10, s11, a4, a5
    slli t0, \acc, 7
    srli t1, \acc, 57
    or \acc, t0, t1
    xor \acc, \acc, \r
    .endr
.endm

    .section .user.text, "ax"
    .balign 4

/* a0 = number of calls. Call i (from 0) is getpid() for even i, else
 * add(i, acc); each result is folded into acc. Exits with acc after the
 * canaries are folded in. The calls left are counted in a6. */
    .globl user_syscalls
user_syscalls:
    mv a6, a0               /* calls left */
    li s1, 0                /* i */
    li s2, 0                /* acc */
    set_canaries
1:  beqz a6, 4f
    andi t0, s1, 1
    bnez t0, 2f
    li a7, SYS_GETPID
    ecall
    j 3f
2:  mv a0, s1
    mv a1, s2
    li a7, SYS_ADD
    ecall
3:  slli t0, s2, 7
    srli t1, s2, 57
    or s2, t0, t1
    xor s2, s2, a0
    addi s1, s1, 1
    addi a6, a6, -1
    j 1b
4:  fold_canaries s2
    mv a0, s2
5:  li a7, SYS_EXIT
    ecall
    j 5b

/* a0 = base address, a1 = pages, a2 = seed. Writes seed + i * GOLDEN to
 * the doubleword at offset 8 * i of page i, then reads every page back in a
 * second pass, folding the values into acc. Exits with acc after the
 * canaries are folded in. The base, the page count, GOLDEN and the page
 * size stay in a0, a1, a6 and a7 across the page faults. */
    .globl user_touch
user_touch:
    mv s5, a2               /* value */
    li a6, 0x9e3779b97f4a7c15
    li a7, PAGE_SIZE
    li s4, 0                /* i */
    set_canaries
    mv s6, a0               /* page i */
1:  beq s4, a1, 2f
    slli t0, s4, 3
    add t0, t0, s6
    sd s5, 0(t0)
    add s5, s5, a6
    add s6, s6, a7
    addi s4, s4, 1
    j 1b
2:  li s4, 0
    mv s6, a0
    li s7, 0                /* acc */
3:  beq s4, a1, 4f
    slli t0, s4, 3
    add t0, t0, s6
    ld t2, 0(t0)
    slli t0, s7, 7
    srli t1, s7, 57
    or s7, t0, t1
    xor s7, s7, t2
    add s6, s6, a7
    addi s4, s4, 1
    j 3b
4:  fold_canaries s7
    mv a0, s7
5:  li a7, SYS_EXIT
    ecall
    j 5b

    .balign 4096            /* the mapping covers whole pages of this section only */
