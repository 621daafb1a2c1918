/*
 * pvkernel: the user task. Position-independent code in its own pages,
 * mapped at USER_TEXT_VA (user, read + execute) and run by run_user().
 *
 * Nothing live is kept in a0, a1, a6 or a7 across an instruction that can
 * trap (ecall, or a load/store that page-faults): under pv those registers
 * come back from the kernel holding TRAP_RETURN's arguments (kernel.h).
 * Checksums fold values with acc = rotl(acc, 7) ^ value, as kernel.c does.
 *
 * Each routine also loads canaries into the registers it does not use, and
 * folds them into its result at the end: a kernel (or VMM) that loses one of
 * them across any of the traps changes the checksum.
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

/* a2 = number of calls. Call i (from 0) is getpid() for even i, else
 * add(i, acc); each result is folded into acc. Exits with acc after the
 * canaries are folded in. */
    .globl user_syscalls
user_syscalls:
    mv s0, a2               /* calls left */
    li s1, 0                /* i */
    li s2, 0                /* acc */
    set_canaries
1:  beqz s0, 4f
    andi t0, s1, 1
    bnez t0, 2f
    li a7, SYS_GETPID
    ecall
    j 3f
2:  mv a2, s1
    mv a3, s2
    li a7, SYS_ADD
    ecall
3:  slli t0, s2, 7
    srli t1, s2, 57
    or s2, t0, t1
    xor s2, s2, a2
    addi s1, s1, 1
    addi s0, s0, -1
    j 1b
4:  fold_canaries s2
    mv a2, s2
5:  li a7, SYS_EXIT
    ecall
    j 5b

/* a2 = base address, a3 = pages, a4 = seed. Writes seed + i * GOLDEN to
 * the doubleword at offset 8 * i of page i, then reads every page back in a
 * second pass, folding the values into acc. Exits with acc after the
 * canaries are folded in. */
    .globl user_touch
user_touch:
    mv s0, a2               /* base */
    mv s1, a3               /* pages */
    mv s5, a4               /* value */
    li s3, 0x9e3779b97f4a7c15
    li s8, PAGE_SIZE
    li s4, 0                /* i */
    set_canaries
    mv s6, s0               /* page i */
1:  beq s4, s1, 2f
    slli t0, s4, 3
    add t0, t0, s6
    sd s5, 0(t0)
    add s5, s5, s3
    add s6, s6, s8
    addi s4, s4, 1
    j 1b
2:  li s4, 0
    mv s6, s0
    li s7, 0                /* acc */
3:  beq s4, s1, 4f
    slli t0, s4, 3
    add t0, t0, s6
    ld t2, 0(t0)
    slli t0, s7, 7
    srli t1, s7, 57
    or s7, t0, t1
    xor s7, s7, t2
    add s6, s6, s8
    addi s4, s4, 1
    j 3b
4:  fold_canaries s7
    mv a2, s7
5:  li a7, SYS_EXIT
    ecall
    j 5b

    .balign 4096            /* the mapping covers whole pages of this section only */
