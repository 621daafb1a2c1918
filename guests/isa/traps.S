/* Vector tables for the vectored-mode mtvec/stvec tests in traps.c: entry i
 * records i in g_mvec_hit / g_svec_hit, then continues in the common handler. */
    .text
    .option norvc

    .macro VSTUB mode, i
\mode\()vec_stub_\i:
    csrrw sp, \mode\()scratch, sp
    sd t0, -8(sp)
    sd t1, -16(sp)
    la t0, g_\mode\()vec_hit
    li t1, \i
    sd t1, 0(t0)
    ld t0, -8(sp)
    ld t1, -16(sp)
    csrrw sp, \mode\()scratch, sp
    j \mode\()_trap_entry
    .endm

    .macro VTABLE mode
    .balign 256
    .globl \mode\()vec_table
\mode\()vec_table:
    .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    j \mode\()vec_stub_\i
    .endr
    .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    VSTUB \mode, \i
    .endr
    .endm

    VTABLE m
    VTABLE s

    .bss
    .balign 8
    .globl g_mvec_hit, g_svec_hit
g_mvec_hit: .dword 0
g_svec_hit: .dword 0
