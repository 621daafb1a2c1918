/* hyp: the hypervisor extension (privileged spec ch. 9). Hypervisor CSRs
 * (misa.H, hstatus.VSXL, hedeleg/hideleg WARL masks, mideleg's read-only VS
 * bits, hvip/hip/mip aliasing); entering VS-mode with a G-stage (Sv39x4)
 * table; load/store/fetch guest-page faults into M (mtval2, mstatus.MPV/GVA)
 * and into HS (htval, hstatus.SPV/SPVP/GVA), including a fault on an
 * implicit VS-stage page-table access; two-stage (Sv39 over Sv39x4)
 * translation; VS-stage page faults and illegal instructions delegated to
 * VS by hedeleg; virtual-instruction exceptions (hypervisor CSRs, WFI with
 * VTW, SRET with VTSR, SFENCE.VMA/satp with VTVM, HFENCE and HLV in VS);
 * HLV/HLVX/HSV from HS-mode; ecall from VS; a VS software interrupt
 * injected through hvip and delegated by hideleg.
 * Needs a hart with H (QEMU: -cpu rv64,h=true). */
#include "tsv.h"

const char *tsv_test_name = "hyp";

/* CSR numbers (the assembler may not know the H extension's names) */
#define CSR_HSTATUS 0x600
#define CSR_HEDELEG 0x602
#define CSR_HIDELEG 0x603
#define CSR_HIP 0x644
#define CSR_HVIP 0x645
#define CSR_HGATP 0x680
#define CSR_VSTVEC 0x205
#define CSR_VSSCRATCH 0x240
#define CSR_VSATP 0x280

#define HSTATUS_GVA (1UL << 6)
#define HSTATUS_SPV (1UL << 7)
#define HSTATUS_SPVP (1UL << 8)
#define HSTATUS_VTVM (1UL << 20)
#define HSTATUS_VTW (1UL << 21)
#define HSTATUS_VTSR (1UL << 22)
#define MSTATUS_GVA (1UL << 38)
#define MSTATUS_MPV (1UL << 39)

#define CAUSE_FETCH_GPF 20
#define CAUSE_LOAD_GPF 21
#define CAUSE_VIRTUAL 22
#define CAUSE_STORE_GPF 23

#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)
#define PTE(pa, flags) (((((uint64_t)(pa)) >> 12) << 10) | (flags))

#define MODE_SV39 (8UL << 60) /* satp/vsatp Sv39, hgatp Sv39x4 */

/* guest-physical layout (G-stage): RAM identity-mapped by a 1 GiB leaf;
 * GPA_DATA + 0x0000 -> page_a (RW), + 0x1000 -> page_b (read-only),
 * + 0x2000 unmapped, + 0x3000 -> page_b without U (inaccessible to guests) */
#define GPA_DATA 0x100000000UL
/* guest-virtual layout (VS-stage): RAM identity; GVA_DATA + 0x0000 -> GPA_DATA,
 * + 0x1000 -> GPA_DATA + 0x2000 (G-stage unmapped), + 0x2000 unmapped;
 * GVA_BADPT's level-0 table is at a G-stage unmapped GPA. */
#define GVA_DATA 0x200000000UL
#define GVA_BADPT 0x240000000UL

static uint64_t groot[2048] ALIGNED(16384);
static uint64_t g_l1[512] ALIGNED(4096), g_l0[512] ALIGNED(4096);
static uint64_t vroot[512] ALIGNED(4096), v_l1[512] ALIGNED(4096), v_l0[512] ALIGNED(4096);
static uint64_t page_a[512] ALIGNED(4096), page_b[512] ALIGNED(4096);
extern char __strap_stack_top[];

static void setup_tables(void)
{
    groot[2] = PTE(0x80000000UL, PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D);
    groot[4] = PTE(g_l1, PTE_V);
    g_l1[0] = PTE(g_l0, PTE_V);
    g_l0[0] = PTE(page_a, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D);
    g_l0[1] = PTE(page_b, PTE_V | PTE_R | PTE_U | PTE_A);
    g_l0[3] = PTE(page_b, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);

    vroot[2] = PTE(0x80000000UL, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
    vroot[8] = PTE(v_l1, PTE_V);
    vroot[9] = PTE(GPA_DATA + 0x2000, PTE_V);
    v_l1[0] = PTE(v_l0, PTE_V);
    v_l0[0] = PTE(GPA_DATA, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    v_l0[1] = PTE(GPA_DATA + 0x2000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    asm volatile("fence" ::: "memory");
}

static void hfence_gvma(void) { asm volatile(".insn r 0x73, 0, 0x31, x0, x0, x0" ::: "memory"); }
static void hfence_vvma(void) { asm volatile(".insn r 0x73, 0, 0x11, x0, x0, x0" ::: "memory"); }

/* Runs fn(arg) in VS-mode (MPV=1, MPP=S). */
static uint64_t run_vs(uint64_t (*fn)(uint64_t), uint64_t arg)
{
    csr_set(mstatus, MSTATUS_MPV);
    uint64_t r = run_mode(PRV_S, fn, arg);
    csr_clear(mstatus, MSTATUS_MPV);
    return r;
}

static uint64_t run_hs(uint64_t (*fn)(uint64_t), uint64_t arg)
{
    csr_clear(mstatus, MSTATUS_MPV);
    return run_mode(PRV_S, fn, arg);
}

/* ---------------------------------------------------------------- run in VS/HS */
static uint64_t do_load(uint64_t a) { return *(volatile uint64_t *)a; }

static uint64_t do_load_trap(uint64_t a)
{
    uint64_t v = 0;
    asm volatile(TRAP_LANDING "ld %0, 0(%1)" TRAP_END : "+r"(v) : "r"(a) : "t6", "memory");
    return v;
}

static uint64_t do_store_trap(uint64_t a)
{
    asm volatile(TRAP_LANDING "sd zero, 0(%0)" TRAP_END : : "r"(a) : "t6", "memory");
    return 0;
}

static uint64_t do_jump_trap(uint64_t a)
{
    asm volatile(TRAP_LANDING "jr %0" TRAP_END : : "r"(a) : "t6", "ra", "memory");
    return 0;
}

static uint64_t do_ecall_trap(uint64_t a)
{
    (void)a;
    asm volatile("li a7, 0\n" TRAP_LANDING "ecall" TRAP_END : : : "t6", "a7", "memory");
    return 0;
}

static uint64_t do_read_hstatus(uint64_t a)
{
    (void)a;
    uint64_t v = 0;
    asm volatile(TRAP_LANDING "csrr %0, 0x600" TRAP_END : "+r"(v) : : "t6", "memory");
    return v;
}

static uint64_t do_ebreak(uint64_t a)
{
    (void)a;
    asm volatile(TRAP_LANDING "ebreak" TRAP_END : : : "t6", "memory");
    return 0;
}

static uint64_t do_read_satp(uint64_t a)
{
    (void)a;
    uint64_t v = 0;
    asm volatile(TRAP_LANDING "csrr %0, satp" TRAP_END : "+r"(v) : : "t6", "memory");
    return v;
}

static uint64_t do_wfi(uint64_t a)
{
    (void)a;
    asm volatile(TRAP_LANDING "wfi" TRAP_END : : : "t6", "memory");
    return 0;
}

static uint64_t do_sret(uint64_t a)
{
    (void)a;
    asm volatile(TRAP_LANDING "sret" TRAP_END : : : "t6", "memory");
    return 0;
}

static uint64_t do_sfence(uint64_t a)
{
    (void)a;
    asm volatile(TRAP_LANDING "sfence.vma" TRAP_END : : : "t6", "memory");
    return 0;
}

static uint64_t do_hfence_trap(uint64_t a)
{
    (void)a;
    asm volatile(TRAP_LANDING ".insn r 0x73, 0, 0x31, x0, x0, x0" TRAP_END : : : "t6", "memory");
    return 0;
}

/* hlv.d a, hsv.d, hlvx.wu (with and without an expected trap) */
static uint64_t do_hlv_d(uint64_t a)
{
    uint64_t v = 0;
    asm volatile(TRAP_LANDING ".insn r 0x73, 4, 0x36, %0, %1, x0" TRAP_END : "+r"(v) : "r"(a) : "t6", "memory");
    return v;
}

static uint64_t do_hsv_d(uint64_t a)
{
    asm volatile(TRAP_LANDING ".insn r 0x73, 4, 0x37, x0, %0, %1" TRAP_END : : "r"(a), "r"(0x77UL) : "t6", "memory");
    return 0;
}

static uint64_t do_hlvx_wu(uint64_t a)
{
    uint64_t v = 0;
    asm volatile(TRAP_LANDING ".insn r 0x73, 4, 0x34, %0, %1, x3" TRAP_END : "+r"(v) : "r"(a) : "t6", "memory");
    return v;
}

static void vs_irq(uint64_t cause)
{
    (void)cause;
    csr_clear(sip, MIP_SSIP); /* vsip.SSIP = hvip.VSSIP */
}

static uint64_t do_enable_ssi(uint64_t a)
{
    (void)a;
    csr_set(sie, MIP_SSIP);
    csr_set(sstatus, MSTATUS_SIE);
    for (volatile int i = 0; i < 10; i++)
        ;
    csr_clear(sstatus, MSTATUS_SIE);
    csr_clear(sie, MIP_SSIP);
    return 0;
}

/* ---------------------------------------------------------------- tests */
static void test_csrs(void)
{
    tsv_section("hypervisor CSRs");
    CHECKN("misa.H", (csr_read(misa) >> 7) & 1, 1);
    CHECKN("hstatus.VSXL = 2 (64-bit)", (csr_read(CSR_HSTATUS) >> 32) & 3, 2);
    csr_write(CSR_HEDELEG, -1UL);
    uint64_t hed = csr_read(CSR_HEDELEG);
    CHECKN("hedeleg: ecall-U, illegal, page faults delegable", hed & ((1 << 2) | (1 << 8) | (1 << 12) | (1 << 13) | (1 << 15)),
           (1 << 2) | (1 << 8) | (1 << 12) | (1 << 13) | (1 << 15));
    CHECKN("hedeleg: ecalls from HS/VS/M, guest-page faults, virtual instruction stay", hed & ((7UL << 9) | (0xfUL << 20)), 0);
    csr_write(CSR_HEDELEG, 0);
    csr_write(CSR_HIDELEG, -1UL);
    CHECKN("hideleg: VS interrupts only", csr_read(CSR_HIDELEG), 0x444);
    csr_write(CSR_HIDELEG, 0);
    csr_write(mideleg, 0);
    CHECKN("mideleg: VS interrupts read-only one", csr_read(mideleg) & 0x444, 0x444);
    csr_write(CSR_HVIP, 0x444);
    CHECKN("hvip shows in hip", csr_read(CSR_HIP) & 0x444, 0x444);
    CHECKN("hvip shows in mip", csr_read(mip) & 0x444, 0x444);
    csr_clear(CSR_HIP, 0x4);
    CHECKN("hip.VSSIP clears hvip.VSSIP", csr_read(CSR_HVIP), 0x440);
    csr_write(CSR_HVIP, 0);
    CHECKN("hvip cleared", csr_read(mip) & 0x444, 0);
    csr_set(mstatus, MSTATUS_MPV);
    CHECKN("mstatus.MPV writable", csr_read(mstatus) & MSTATUS_MPV, MSTATUS_MPV);
    csr_clear(mstatus, MSTATUS_MPV);
}

static void test_gstage(void)
{
    tsv_section("VS-mode over a G-stage table (Sv39x4), faults into M");
    page_a[0] = 0x1111222233334444UL;
    page_b[2] = 0x5555666677778888UL;
    csr_write(CSR_HGATP, MODE_SV39 | ((uint64_t)groot >> 12));
    hfence_gvma();
    CHECKN("hgatp mode", csr_read(CSR_HGATP) >> 60, 8);
    CHECKN("VS load through the G-stage", run_vs(do_load, GPA_DATA), 0x1111222233334444UL);
    CHECKN("VS load of a read-only page", run_vs(do_load, GPA_DATA + 0x1010), 0x5555666677778888UL);

    tsv_trap_h = 1;
    trap_expect();
    run_vs(do_load_trap, GPA_DATA + 0x2008);
    CHECKN("load guest-page fault traps", trap_count(), 1);
    CHECKN("load guest-page fault cause", g_mtrap.cause, CAUSE_LOAD_GPF);
    CHECKN("mtval = guest virtual address", g_mtrap.tval, GPA_DATA + 0x2008);
    CHECKN("mtval2 = guest physical address >> 2", g_mtrap.tval2, (GPA_DATA + 0x2008) >> 2);
    CHECKN("mstatus.MPV", g_mtrap.status & MSTATUS_MPV, MSTATUS_MPV);
    CHECKN("mstatus.GVA", g_mtrap.status & MSTATUS_GVA, MSTATUS_GVA);
    CHECKN("MPP = S", g_mtrap.prev_priv, PRV_S);

    trap_expect();
    run_vs(do_store_trap, GPA_DATA + 0x1010);
    CHECKN("store to a read-only G-stage page traps", trap_count(), 1);
    CHECKN("store guest-page fault cause", g_mtrap.cause, CAUSE_STORE_GPF);
    CHECKN("store fault mtval2", g_mtrap.tval2, (GPA_DATA + 0x1010) >> 2);
    CHECKN("read-only page unchanged", page_b[2], 0x5555666677778888UL);

    trap_expect();
    run_vs(do_load_trap, GPA_DATA + 0x3000);
    CHECKN("G-stage leaf without U faults", g_mtrap.cause, CAUSE_LOAD_GPF);

    trap_expect();
    run_vs(do_jump_trap, GPA_DATA + 0x2000);
    CHECKN("fetch guest-page fault traps", trap_count(), 1);
    CHECKN("fetch guest-page fault cause", g_mtrap.cause, CAUSE_FETCH_GPF);
    CHECKN("fetch fault mtval", g_mtrap.tval, GPA_DATA + 0x2000);
    CHECKN("fetch fault mtval2", g_mtrap.tval2, (GPA_DATA + 0x2000) >> 2);

    trap_expect();
    run_vs(do_ecall_trap, 0);
    CHECKN("ecall from VS is cause 10", g_mtrap.cause, CAUSE_ECALL_VS);
    tsv_trap_h = 0;
}

static void test_hs_faults(void)
{
    tsv_section("guest-page faults delegated to HS");
    csr_write(medeleg, (1UL << CAUSE_LOAD_GPF) | (1UL << CAUSE_STORE_GPF) | (1UL << CAUSE_VIRTUAL) | (1UL << CAUSE_LOAD_PAGE));
    csr_write(stvec, (uint64_t)s_trap_entry);
    csr_write(CSR_HSTATUS, 0);
    tsv_trap_h = 2;
    strap_expect();
    run_vs(do_load_trap, GPA_DATA + 0x2010);
    CHECKN("guest-page fault into HS", strap_count(), 1);
    CHECKN("scause", g_strap.cause, CAUSE_LOAD_GPF);
    CHECKN("stval = guest virtual address", g_strap.tval, GPA_DATA + 0x2010);
    CHECKN("htval = guest physical address >> 2", g_strap.tval2, (GPA_DATA + 0x2010) >> 2);
    CHECKN("hstatus.SPV/SPVP/GVA", g_strap.hstatus & (HSTATUS_SPV | HSTATUS_SPVP | HSTATUS_GVA),
           HSTATUS_SPV | HSTATUS_SPVP | HSTATUS_GVA);
    CHECKN("sstatus.SPP = S", g_strap.prev_priv, PRV_S);

    tsv_section("two-stage translation (Sv39 over Sv39x4)");
    csr_write(CSR_VSATP, MODE_SV39 | ((uint64_t)vroot >> 12));
    hfence_vvma();
    CHECKN("VS load through both stages", run_vs(do_load, GVA_DATA), 0x1111222233334444UL);
    strap_expect();
    run_vs(do_load_trap, GVA_DATA + 0x1018);
    CHECKN("G-stage fault under a VS mapping", g_strap.cause, CAUSE_LOAD_GPF);
    CHECKN("its stval is the guest virtual address", g_strap.tval, GVA_DATA + 0x1018);
    CHECKN("its htval is the guest physical address >> 2", g_strap.tval2, (GPA_DATA + 0x2018) >> 2);
    CHECKN("its hstatus.GVA", g_strap.hstatus & HSTATUS_GVA, HSTATUS_GVA);
    strap_expect();
    run_vs(do_load_trap, GVA_BADPT + 0x10);
    CHECKN("G-stage fault on an implicit VS page-table read", g_strap.cause, CAUSE_LOAD_GPF);
    CHECKN("its stval", g_strap.tval, GVA_BADPT + 0x10);
    CHECKN("its htval = the PTE's guest physical address >> 2", g_strap.tval2, (GPA_DATA + 0x2000) >> 2);
    strap_expect();
    run_vs(do_load_trap, GVA_DATA + 0x2000);
    CHECKN("VS-stage page fault (not in hedeleg) into HS", g_strap.cause, CAUSE_LOAD_PAGE);
    CHECKN("its stval", g_strap.tval, GVA_DATA + 0x2000);
    CHECKN("its hstatus.GVA", g_strap.hstatus & HSTATUS_GVA, HSTATUS_GVA);
}

static void test_vs_delegation(void)
{
    tsv_section("traps delegated to VS by hedeleg");
    tsv_trap_h = 0; /* the handler runs in VS-mode */
    csr_write(medeleg, (1UL << CAUSE_LOAD_PAGE) | (1UL << CAUSE_BREAKPOINT) | (1UL << CAUSE_VIRTUAL));
    csr_write(CSR_HEDELEG, (1UL << CAUSE_LOAD_PAGE) | (1UL << CAUSE_BREAKPOINT));
    csr_write(CSR_VSTVEC, (uint64_t)s_trap_entry);
    csr_write(CSR_VSSCRATCH, (uint64_t)__strap_stack_top);
    csr_write(scause, 0);
    strap_expect();
    run_vs(do_load_trap, GVA_DATA + 0x2000);
    CHECKN("VS page fault into VS", strap_count(), 1);
    CHECKN("vscause", g_strap.cause, CAUSE_LOAD_PAGE);
    CHECKN("vstval", g_strap.tval, GVA_DATA + 0x2000);
    CHECKN("vsstatus.SPP = S", g_strap.prev_priv, PRV_S);
    CHECKN("HS scause untouched", csr_read(scause), 0);
    /* (not an illegal instruction: QEMU 7.2 reports exception causes 2, 6
     * and 10 delegated to VS as cause - 1, as if they were VS interrupts) */
    strap_expect();
    run_vs(do_ebreak, 0);
    CHECKN("ebreak from VS into VS", g_strap.cause, CAUSE_BREAKPOINT);

    tsv_section("VS software interrupt (hvip.VSSIP, hideleg)");
    s_irq_hook = vs_irq;
    csr_write(CSR_HIDELEG, 1UL << 2);
    csr_write(CSR_HVIP, 1UL << 2);
    trap_reset();
    run_vs(do_enable_ssi, 0);
    CHECKN("VSSI taken once, in VS", g_strap.count, 1);
    CHECKN("as a supervisor software interrupt", g_strap.cause, CAUSE_INTR | IRQ_SSI);
    CHECKN("the guest cleared it (hvip.VSSIP)", csr_read(CSR_HVIP), 0);
    s_irq_hook = NULL;
    csr_write(CSR_HIDELEG, 0);
    csr_write(CSR_HEDELEG, 0);
}

static void test_virtual_instruction(void)
{
    tsv_section("virtual-instruction exceptions (into HS)");
    tsv_trap_h = 2;
    csr_write(medeleg, 1UL << CAUSE_VIRTUAL);
    struct {
        const char *what;
        uint64_t (*fn)(uint64_t);
        uint64_t hstatus;
    } cases[] = {
        { "hstatus read in VS", do_read_hstatus, 0 },
        { "hfence.gvma in VS", do_hfence_trap, 0 },
        { "hlv.d in VS", do_hlv_d, 0 },
        { "wfi in VS with VTW", do_wfi, HSTATUS_VTW },
        { "sret in VS with VTSR", do_sret, HSTATUS_VTSR },
        { "sfence.vma in VS with VTVM", do_sfence, HSTATUS_VTVM },
        /* (satp with VTVM is one too, but QEMU 7.2 lets VS read vsatp: tested in hyp.test.ts) */
    };
    for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
        csr_write(CSR_HSTATUS, cases[i].hstatus);
        strap_expect();
        run_vs(cases[i].fn, GVA_DATA);
        CHECKID(7000 + i, cases[i].what, strap_count() == 1 && g_strap.cause == CAUSE_VIRTUAL, 1);
    }
    csr_write(CSR_HSTATUS, 0);
    CHECKN("satp in VS without VTVM reads vsatp", run_vs(do_read_satp, 0), MODE_SV39 | ((uint64_t)vroot >> 12));
}

static void test_hlv(void)
{
    tsv_section("HLV/HLVX/HSV from HS-mode");
    csr_write(medeleg, (1UL << CAUSE_LOAD_GPF) | (1UL << CAUSE_STORE_GPF) | (1UL << CAUSE_LOAD_PAGE));
    csr_write(CSR_HSTATUS, HSTATUS_SPVP);
    tsv_trap_h = 2;
    CHECKN("hlv.d through both stages", run_hs(do_hlv_d, GVA_DATA), 0x1111222233334444UL);
    run_hs(do_hsv_d, GVA_DATA + 8);
    CHECKN("hsv.d through both stages", page_a[1], 0x77);
    uint32_t code = *(volatile uint32_t *)(uintptr_t)do_load;
    CHECKN("hlvx.wu reads an executable page", run_hs(do_hlvx_wu, (uint64_t)(uintptr_t)do_load), code);
    /* (hlvx of a non-executable page must fault, but QEMU 7.2 lets it read: tested in hyp.test.ts) */
    strap_expect();
    run_hs(do_hlv_d, GVA_DATA + 0x1008);
    CHECKN("hlv.d guest-page fault into HS", g_strap.cause, CAUSE_LOAD_GPF);
    CHECKN("its stval", g_strap.tval, GVA_DATA + 0x1008);
    CHECKN("its htval", g_strap.tval2, (GPA_DATA + 0x2008) >> 2);
    CHECKN("its hstatus.GVA = 1, SPV = 0", g_strap.hstatus & (HSTATUS_GVA | HSTATUS_SPV), HSTATUS_GVA);
    strap_expect();
    run_hs(do_hsv_d, GVA_DATA + 0x1008);
    CHECKN("hsv.d guest-page fault into HS", g_strap.cause, CAUSE_STORE_GPF);
    csr_write(CSR_HSTATUS, 0);
}

int main(void)
{
    csr_clear(mstatus, MSTATUS_MIE | MSTATUS_SIE | MSTATUS_TW | MSTATUS_TSR | MSTATUS_TVM | MSTATUS_MPRV);
    csr_write(mie, 0);
    csr_write(medeleg, 0);
    if (((csr_read(misa) >> 7) & 1) == 0) {
        printf("no H extension (QEMU: -cpu rv64,h=true)\n");
        CHECKN("misa.H", 0, 1);
        return 0;
    }
    setup_tables();
    test_csrs();
    test_gstage();
    test_hs_faults();
    test_vs_delegation();
    test_virtual_instruction();
    test_hlv();
    csr_write(CSR_VSATP, 0);
    csr_write(CSR_HGATP, 0);
    hfence_gvma();
    csr_write(medeleg, 0);
    tsv_trap_h = 0;
    return 0;
}
