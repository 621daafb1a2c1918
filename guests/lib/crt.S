/* tsvisor bare-metal startup, trap entry points and privilege-mode helpers. */
#define MSTATUS_MPP (3 << 11)
#define MSTATUS_MIE (1 << 3)
#define MSTATUS_MPIE (1 << 7)
#define MSTATUS_FS_INITIAL (1 << 13)
#define FRAME 256

    .section .text.init, "ax"
    .option norvc
    .globl _start
_start:
    csrr t0, mhartid
    bnez t0, park
    la sp, __stack_top
    la t0, __mtrap_stack_top
    csrw mscratch, t0
    la t0, __strap_stack_top
    csrw sscratch, t0
    la t0, m_trap_entry
    csrw mtvec, t0
    mv s0, a0
    mv s1, a1
    /* PMP entry 0: NAPOT over the whole address space, RWX, so S/U-mode may
     * access everything (QEMU 7.2 also refuses mret to S/U -- illegal
     * instruction -- while no PMP entry is configured). */
    li t0, -1
    csrw pmpaddr0, t0
    li t0, 0x1f
    csrw pmpcfg0, t0
    /* zero .bss */
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:  /* enable the FPU (mstatus.FS = Initial) and clear fcsr */
    li t0, MSTATUS_FS_INITIAL
    csrs mstatus, t0
    csrwi fcsr, 0
    mv a0, s0
    mv a1, s1
    call tsv_start
3:  j 3b
park:
    wfi
    j park
    .option rvc

    .text
/* ------------------------------------------------------------------ M trap */
    .align 4
    .globl m_trap_entry
m_trap_entry:
    csrrw sp, mscratch, sp
    addi sp, sp, -FRAME
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
    csrr t0, mscratch
    sd t0, 2*8(sp)
    sd zero, 0(sp)
    mv a0, sp
    call m_trap_handler
    addi t0, sp, FRAME
    csrw mscratch, t0
    ld x1, 1*8(sp)
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
    mret

/* ------------------------------------------------------------------ S trap */
    .align 4
    .globl s_trap_entry
s_trap_entry:
    csrrw sp, sscratch, sp
    addi sp, sp, -FRAME
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
    csrr t0, sscratch
    sd t0, 2*8(sp)
    sd zero, 0(sp)
    mv a0, sp
    call s_trap_handler
    addi t0, sp, FRAME
    csrw sscratch, t0
    ld x1, 1*8(sp)
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

/* ------------------------------------------------------------ run_mode */
/* uint64_t run_mode_va(int mode, fn, arg, va_off) */
    .globl run_mode_va
run_mode_va:
    addi sp, sp, -112
    sd ra, 0(sp)
    sd s0, 8(sp)
    sd s1, 16(sp)
    sd s2, 24(sp)
    sd s3, 32(sp)
    sd s4, 40(sp)
    sd s5, 48(sp)
    sd s6, 56(sp)
    sd s7, 64(sp)
    sd s8, 72(sp)
    sd s9, 80(sp)
    sd s10, 88(sp)
    sd s11, 96(sp)
    la t0, g_run_sp
    sd sp, 0(t0)
    csrr t1, mstatus
    la t0, g_run_mstatus
    sd t1, 0(t0)
    li t0, MSTATUS_MPP
    csrc mstatus, t0
    slli t1, a0, 11
    and t1, t1, t0
    csrs mstatus, t1
    add t0, a1, a3
    csrw mepc, t0
    la ra, run_mode_tramp
    add ra, ra, a3
    la sp, __lower_stack_top
    add sp, sp, a3
    mv a0, a2
    mret

/* the M trap handler resumes here (in M-mode) when the trampoline ecalls */
    .globl run_mode_resume
run_mode_resume:
    la t0, g_run_sp
    ld sp, 0(t0)
    la t0, g_run_mstatus
    ld t1, 0(t0)
    li t0, (MSTATUS_MPP | MSTATUS_MIE | MSTATUS_MPIE)
    csrc mstatus, t0
    and t1, t1, t0
    csrs mstatus, t1
    ld ra, 0(sp)
    ld s0, 8(sp)
    ld s1, 16(sp)
    ld s2, 24(sp)
    ld s3, 32(sp)
    ld s4, 40(sp)
    ld s5, 48(sp)
    ld s6, 56(sp)
    ld s7, 64(sp)
    ld s8, 72(sp)
    ld s9, 80(sp)
    ld s10, 88(sp)
    ld s11, 96(sp)
    addi sp, sp, 112
    ret

    .globl run_mode_tramp
run_mode_tramp:
    li a7, 0x7e57c0de5e7e7e7e
    ecall
1:  j 1b

    .globl lower_fatal
lower_fatal:
    li a7, 0x7e57c0defa7a1111
    ecall
1:  j 1b

    .bss
    .align 3
g_run_sp: .dword 0
g_run_mstatus: .dword 0
