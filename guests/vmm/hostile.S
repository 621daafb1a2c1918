/*
 * hostile: an S-mode guest that does what no guest must be able to hurt
 * anyone with, and checks it gets the architectural answer each time:
 *  - loads and stores past the end of its RAM (64 MiB) and far beyond: access faults;
 *  - garbage in satp (an unsupported mode): the write is ignored;
 *  - page tables with garbage entries (W without R, a leaf outside RAM, a
 *    table outside RAM, reserved bits): page faults and access faults;
 *  - SBI calls with garbage arguments: SBI error codes.
 * It prints one line per check and powers off with SBI SRST. The same lines
 * come out on the bare machine under OpenSBI and in a VM of every technique.
 */
    .option norvc

    .equ RAM_END,   0x84000000          /* 0x80000000 + 64 MiB */
    .equ PTE_LEAF,  0xcf                /* V R W X A D */

    .section .text.init, "ax"
    .globl _start
_start:
    bnez    a0, park                    /* hart 0 only */
    la      sp, stack_top
    la      t0, on_trap
    csrw    stvec, t0
    la      a0, s_hello
    call    puts

    /* 1. Past the end of RAM, and far beyond it. */
    li      s2, RAM_END
    la      s4, s_past_load
    li      s3, 5
    li      s1, -1
    ld      t1, 0(s2)
    call    check
    la      s4, s_past_store
    li      s3, 7
    li      s1, -1
    li      t1, 0x5a5a5a5a
    sd      t1, 0(s2)
    sd      t1, 8(s2)
    call    check
    li      s2, 0x100000000
    la      s4, s_far_load
    li      s3, 5
    li      s1, -1
    lw      t1, 0(s2)
    call    check
    la      s4, s_far_store
    li      s3, 7
    li      s1, -1
    li      t1, 0x5a5a5a5a
    sd      t1, 0(s2)
    call    check

    /* 2. An unsupported satp mode: the write has no effect (privileged spec §4.1.11). */
    li      t0, -1
    csrw    satp, t0
    csrr    s1, satp
    la      s4, s_satp
    li      s3, 0
    call    check

    /* 3. Page tables with garbage entries (Sv39, one root table of gigapages). */
    la      t0, pt
    li      t1, ((0x80000000 >> 12) << 10) | PTE_LEAF     /* VA 2 GiB: RAM, identity */
    sd      t1, 16(t0)
    li      t1, 0x5                                       /* VA 1 GiB: V|W, reserved combination */
    sd      t1, 8(t0)
    li      t1, ((0x100000000 >> 12) << 10) | PTE_LEAF    /* VA 0: a leaf outside RAM */
    sd      t1, 0(t0)
    li      t1, ((0x200000000 >> 12) << 10) | 0x1         /* VA 3 GiB: a table outside RAM */
    sd      t1, 24(t0)
    li      t1, ((0x80000000 >> 12) << 10) | PTE_LEAF
    li      t2, 1
    slli    t2, t2, 60                                    /* a reserved bit (63:54) */
    or      t1, t1, t2
    sd      t1, 32(t0)                                    /* VA 4 GiB */
    srli    t1, t0, 12
    li      t2, 8
    slli    t2, t2, 60
    or      t1, t1, t2
    sfence.vma
    csrw    satp, t1
    sfence.vma
    la      s4, s_pt_wonly
    li      s3, 13
    li      s1, -1
    li      t1, 0x40000000
    ld      t1, 0(t1)
    call    check
    la      s4, s_pt_leaf
    li      s3, 5
    li      s1, -1
    ld      t1, 8(zero)
    call    check
    la      s4, s_pt_table
    li      s3, 5
    li      s1, -1
    li      t1, 0xc0000000
    ld      t1, 0(t1)
    call    check
    la      s4, s_pt_reserved
    li      s3, 13
    li      s1, -1
    li      t1, 0x100000000
    ld      t1, 0(t1)
    call    check
    csrw    satp, zero
    sfence.vma

    /* 4. SBI calls with garbage arguments (SBI v2.0 error codes). */
    li      a7, 0x12345678                                /* no such extension */
    li      a6, 0
    ecall
    mv      s1, a0
    la      s4, s_sbi_ext
    li      s3, -2
    call    check
    li      a7, 0x48534d                                  /* HSM hart_start of hart 99 */
    li      a6, 0
    li      a0, 99
    li      a1, 0x80200000
    li      a2, 0
    ecall
    mv      s1, a0
    la      s4, s_sbi_hsm
    li      s3, -3
    call    check
    li      a7, 0x735049                                  /* IPI to hart 5 of 1 */
    li      a6, 0
    li      a0, 1
    li      a1, 5
    ecall
    mv      s1, a0
    la      s4, s_sbi_ipi
    li      s3, -3
    call    check
    li      a7, 0x53525354                                /* SRST with reset type 0x55 */
    li      a6, 0
    li      a0, 0x55
    li      a1, 0
    ecall
    mv      s1, a0
    la      s4, s_sbi_srst
    li      s3, -3
    call    check

    la      a0, s_done
    call    puts
    li      a7, 0x53525354                                /* SRST: shutdown, no reason */
    li      a6, 0
    li      a0, 0
    li      a1, 0
    ecall
park:
    wfi
    j       park

/* Records the cause and steps over the faulting (4-byte) instruction. */
    .align 2
on_trap:
    csrr    s1, scause
    csrr    t6, sepc
    addi    t6, t6, 4
    csrw    sepc, t6
    sret

/* check: prints "<name s4>: ok" when s1 == s3, else "<name>: FAIL <s1 in hex>". */
check:
    addi    sp, sp, -16
    sd      ra, 0(sp)
    mv      a0, s4
    call    puts
    beq     s1, s3, 1f
    la      a0, s_fail
    call    puts
    mv      a0, s1
    call    puthex
    j       2f
1:  la      a0, s_ok
    call    puts
2:  li      a0, '\n'
    call    putc
    ld      ra, 0(sp)
    addi    sp, sp, 16
    ret

/* puts: a0 = NUL-terminated string. */
puts:
    addi    sp, sp, -16
    sd      ra, 0(sp)
    sd      s0, 8(sp)
    mv      s0, a0
1:  lbu     a0, 0(s0)
    beqz    a0, 2f
    call    putc
    addi    s0, s0, 1
    j       1b
2:  ld      ra, 0(sp)
    ld      s0, 8(sp)
    addi    sp, sp, 16
    ret

/* puthex: a0 as 16 hex digits. */
puthex:
    addi    sp, sp, -32
    sd      ra, 0(sp)
    sd      s0, 8(sp)
    sd      s5, 16(sp)
    mv      s0, a0
    li      s5, 60
1:  srl     a0, s0, s5
    andi    a0, a0, 15
    addi    a0, a0, '0'
    li      t0, '9'
    ble     a0, t0, 2f
    addi    a0, a0, 'a' - '9' - 1
2:  call    putc
    addi    s5, s5, -4
    bgez    s5, 1b
    ld      ra, 0(sp)
    ld      s0, 8(sp)
    ld      s5, 16(sp)
    addi    sp, sp, 32
    ret

/* putc: a0 = byte, through the legacy SBI console (SBI v2.0 §5.2). */
putc:
    li      a7, 1
    ecall
    ret

    .section .rodata
s_hello:        .asciz "hostile: start\n"
s_past_load:    .asciz "load past RAM"
s_past_store:   .asciz "store past RAM"
s_far_load:     .asciz "load far beyond RAM"
s_far_store:    .asciz "store far beyond RAM"
s_satp:         .asciz "unsupported satp mode ignored"
s_pt_wonly:     .asciz "PTE with W but not R"
s_pt_leaf:      .asciz "PTE leaf outside RAM"
s_pt_table:     .asciz "page table outside RAM"
s_pt_reserved:  .asciz "PTE reserved bits"
s_sbi_ext:      .asciz "SBI unknown extension"
s_sbi_hsm:      .asciz "SBI hart_start of a missing hart"
s_sbi_ipi:      .asciz "SBI IPI to a missing hart"
s_sbi_srst:     .asciz "SBI reset of a bad type"
s_ok:           .asciz ": ok"
s_fail:         .asciz ": FAIL "
s_done:         .asciz "hostile: done\n"

    .section .bss
    .align 12
pt: .space 4096
