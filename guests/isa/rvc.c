/* rvc: every RV64C compressed instruction (explicit c.* mnemonics, so each is
 * a 16-bit encoding), the all-zero illegal instruction, 32-bit instructions
 * at 2-byte-aligned addresses and across a page boundary. */
#include "tsv.h"

const char *tsv_test_name = "rvc";

/* one register in/out, in a0 */
#define C1(insn, in, exp) do { \
        register uint64_t x_ asm("a0") = (in); \
        asm volatile(insn : "+r"(x_)); \
        CHECKN(insn " [a0=" #in "]", x_, exp); \
    } while (0)
/* a0 op= a1 */
#define C2(insn, a, b, exp) do { \
        register uint64_t x_ asm("a0") = (a); \
        register uint64_t y_ asm("a1") = (b); \
        asm volatile(insn : "+r"(x_) : "r"(y_)); \
        CHECKN(insn " [" #a ", " #b "]", x_, exp); \
    } while (0)

static void test_alu(void)
{
    tsv_section("CI/CR/CA arithmetic");
    C1("c.li a0, -32", 0x1234, -32UL);
    C1("c.li a0, 31", 0x1234, 31);
    C1("c.li a0, 0", 0x1234, 0);
    C1("c.lui a0, 0x1f", 0, 0x1f000);
    C1("c.lui a0, 0x1", 0, 0x1000);
    C1("c.lui a0, 0xfffe0", 0, 0xfffffffffffe0000UL); /* nzimm[17] set: sign-extends */
    C1("c.lui a0, 0xfffff", 0, 0xfffffffffffff000UL);
    C1("c.addi a0, -32", 100, 68);
    C1("c.addi a0, 31", 0xffffffffffffffffUL, 30);
    C1("c.addi a0, 1", 0x7fffffffffffffffUL, 0x8000000000000000UL);
    C1("c.addiw a0, 1", 0x7fffffff, 0xffffffff80000000UL);
    C1("c.addiw a0, 0", 0x12345678ffffffffUL, 0xffffffffffffffffUL); /* sext.w */
    C1("c.addiw a0, -32", 0x100000010UL, 0xfffffffffffffff0UL);
    C1("c.slli a0, 63", 3, 0x8000000000000000UL);
    C1("c.slli a0, 1", 0x8000000000000001UL, 2);
    C1("c.slli a0, 32", 0xffffffffUL, 0xffffffff00000000UL);
    C1("c.srli a0, 63", 0x8000000000000000UL, 1);
    C1("c.srli a0, 32", 0xffffffff00000000UL, 0xffffffffUL);
    C1("c.srli a0, 1", 0x8000000000000000UL, 0x4000000000000000UL);
    C1("c.srai a0, 63", 0x8000000000000000UL, 0xffffffffffffffffUL);
    C1("c.srai a0, 33", 0x8000000000000000UL, 0xffffffffc0000000UL);
    C1("c.srai a0, 4", 0x0000000000000f00UL, 0xf0);
    C1("c.andi a0, -32", 0xffffUL, 0xffe0);
    C1("c.andi a0, 31", 0xffffffffffffffffUL, 31);
    C1("c.andi a0, 0", 0xffffUL, 0);
    C2("c.mv a0, a1", 5, 0x8000000000000000UL, 0x8000000000000000UL);
    C2("c.add a0, a1", 0x7fffffffffffffffUL, 1, 0x8000000000000000UL);
    C2("c.sub a0, a1", 1, 2, 0xffffffffffffffffUL);
    C2("c.xor a0, a1", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0xf0f0f0f0f0f0f0f0UL);
    C2("c.or a0, a1", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0xfff0fff0fff0fff0UL);
    C2("c.and a0, a1", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0x0f000f000f000f00UL);
    C2("c.addw a0, a1", 0x7fffffff, 1, 0xffffffff80000000UL);
    C2("c.addw a0, a1", 0xffffffff00000001UL, 0x00000000ffffffffUL, 0);
    C2("c.subw a0, a1", 0, 1, 0xffffffffffffffffUL);
    C2("c.subw a0, a1", 0x80000000UL, 1, 0x7fffffff);
    /* x8..x15 (the 3-bit register field) map to the right registers */
    {
        uint64_t r1, r2;
        asm volatile("li s0, 1\n li s1, 2\n li a5, 0\n c.add a5, s0\n c.add a5, s1\n c.sub s1, a5\n c.srli a5, 1\n"
                     "c.or s0, s1\n mv %0, s1\n mv %1, a5\n c.xor a5, s0\n c.and s0, a5\n add %1, %1, s0"
                     : "=&r"(r1), "=&r"(r2) : : "s0", "s1", "a5");
        CHECKN("c.sub s1, a5 (x9, x15)", r1, (uint64_t)-1);
        CHECKN("c.srli/c.xor/c.and on a5 and s0", r2, (uint64_t)-1); /* 1 + (~1 & -1) */
    }
    /* c.mv / c.add with any x1..x31 */
    {
        uint64_t r;
        asm volatile("li t6, 40\n c.mv t5, t6\n c.add t5, t6\n c.addi t5, 2\n c.slli t5, 1\n mv %0, t5" : "=r"(r) : : "t5", "t6");
        CHECKN("c.mv/c.add/c.addi/c.slli on t5/t6", r, 164);
    }
    /* c.nop */
    C1("c.nop\n c.nop", 77, 77);
}

static uint64_t mem[40] ALIGNED(64);
static double dmem[40] ALIGNED(64);
static uint64_t dbits(int i)
{
    uint64_t v;
    memcpy(&v, &dmem[i], 8);
    return v;
}

static void test_mem(void)
{
    tsv_section("CL/CS loads and stores");
    for (int i = 0; i < 40; i++)
        mem[i] = 0x8000000080000000UL + i;
    uint64_t r;
#define CL(insn, exp) do { \
        asm volatile("mv a1, %1\n" insn "\n mv %0, a0" : "=r"(r) : "r"(mem) : "a0", "a1", "memory"); \
        CHECKN(insn, r, exp); \
    } while (0)
    CL("c.lw a0, 0(a1)", 0xffffffff80000000UL);
    CL("c.lw a0, 4(a1)", 0xffffffff80000000UL);
    CL("c.lw a0, 124(a1)", 0xffffffff80000000UL);
    CL("c.lw a0, 120(a1)", 0xffffffff8000000fUL);
    CL("c.ld a0, 8(a1)", 0x8000000080000001UL);
    CL("c.ld a0, 248(a1)", 0x800000008000001fUL);
#define CS(insn) asm volatile("mv a1, %0\n mv a2, %1\n" insn : : "r"(mem), "r"(0x1122334455667788UL) : "a1", "a2", "memory")
    CS("c.sw a2, 124(a1)");
    CHECKN("c.sw 124", mem[15], 0x556677888000000fUL);
    CS("c.sd a2, 248(a1)");
    CHECKN("c.sd 248", mem[31], 0x1122334455667788UL);
    CS("c.sw a2, 0(a1)");
    CHECKN("c.sw 0", mem[0], 0x8000000055667788UL);
    /* FP compressed loads/stores */
    dmem[0] = 1.5;
    dmem[31] = -2.25;
    asm volatile("mv a3, %1\n c.fld fa0, 248(a3)\n fmv.x.d %0, fa0" : "=r"(r) : "r"(dmem) : "a3", "fa0", "memory");
    CHECKN("c.fld 248", r, 0xc002000000000000UL);
    asm volatile("mv a3, %0\n c.fld fa1, 0(a3)\n c.fsd fa1, 16(a3)" : : "r"(dmem) : "a3", "fa1", "memory");
    CHECKN("c.fsd", dbits(2), 0x3ff8000000000000UL);

    tsv_section("CI/CSS stack-pointer relative");
    uint64_t out[8];
    asm volatile("mv t0, sp\n mv sp, %1\n"
                 "c.lwsp a0, 4(sp)\n mv t1, a0\n"
                 "c.lwsp a0, 252(sp)\n mv t2, a0\n"
                 "c.ldsp a0, 16(sp)\n mv t3, a0\n"
                 "c.ldsp a0, 304(sp)\n mv t4, a0\n"
                 "mv sp, t0\n"
                 "sd t1, 0(%0)\n sd t2, 8(%0)\n sd t3, 16(%0)\n sd t4, 24(%0)"
                 : : "r"(out), "r"(mem) : "t0", "t1", "t2", "t3", "t4", "a0", "memory");
    CHECKN("c.lwsp 4", out[0], 0xffffffff80000000UL);
    CHECKN("c.lwsp 252 (upper half of the c.sd value)", out[1], 0x11223344);
    CHECKN("c.ldsp 16", out[2], 0x8000000080000002UL);
    CHECKN("c.ldsp 304", out[3], 0x8000000080000026UL);
    asm volatile("mv t0, sp\n mv sp, %0\n li t1, -1\n li t2, 0x5a5a\n"
                 "c.swsp t1, 252(sp)\n c.sdsp t2, 304(sp)\n c.sdsp t1, 0(sp)\n mv sp, t0"
                 : : "r"(mem) : "t0", "t1", "t2", "memory");
    CHECKN("c.swsp 252", mem[31], 0xffffffff55667788UL);
    CHECKN("c.sdsp 304", mem[38], 0x5a5a);
    CHECKN("c.sdsp 0", mem[0], 0xffffffffffffffffUL);
    dmem[38] = 3.0;
    asm volatile("mv t0, sp\n mv sp, %0\n c.fldsp ft0, 304(sp)\n c.fsdsp ft0, 8(sp)\n c.fldsp ft1, 504(sp)\n mv sp, t0"
                 : : "r"(dmem) : "t0", "ft0", "ft1", "memory");
    CHECKN("c.fldsp/c.fsdsp", dbits(1), 0x4008000000000000UL);

    /* c.addi4spn and c.addi16sp */
    {
        uint64_t sp0, r4, r16a, r16b;
        asm volatile("mv %0, sp\n c.addi4spn a0, sp, 1020\n mv %1, a0\n"
                     "c.addi16sp sp, -512\n mv %2, sp\n c.addi16sp sp, 496\n c.addi16sp sp, 16\n mv %3, sp"
                     : "=&r"(sp0), "=&r"(r4), "=&r"(r16a), "=&r"(r16b) : : "a0", "memory");
        CHECKN("c.addi4spn 1020", r4, sp0 + 1020);
        CHECKN("c.addi16sp -512", r16a, sp0 - 512);
        CHECKN("c.addi16sp +496 +16 restores", r16b, sp0);
        asm volatile("mv %0, sp\n c.addi4spn a0, sp, 4\n mv %1, a0" : "=&r"(sp0), "=&r"(r4) : : "a0");
        CHECKN("c.addi4spn 4", r4, sp0 + 4);
    }
}

static void test_control(void)
{
    tsv_section("CJ/CB/CR control transfer");
    uint64_t r, link, exp;
    asm volatile("li %0, 0\n c.j 1f\n li %0, 1\n 1:" : "=&r"(r));
    CHECKN("c.j forward", r, 0);
    asm volatile("li %0, 0\n j 2f\n 1: addi %0, %0, 1\n j 3f\n 2: c.j 1b\n li %0, 5\n 3:" : "=&r"(r));
    CHECKN("c.j backward", r, 1);
    {
        register uint64_t a0 asm("a0");
        asm volatile("li %0, 0\n li a1, 0\n c.beqz a1, 1f\n li %0, 1\n 1:" : "=&r"(r) : : "a1");
        CHECKN("c.beqz taken", r, 0);
        asm volatile("li %0, 0\n li a1, 0x100\n slli a1, a1, 32\n c.beqz a1, 1f\n li %0, 1\n 1:" : "=&r"(r) : : "a1");
        CHECKN("c.beqz not taken (upper bits)", r, 1);
        asm volatile("li %0, 0\n li a1, -1\n c.bnez a1, 1f\n li %0, 1\n 1:" : "=&r"(r) : : "a1");
        CHECKN("c.bnez taken", r, 0);
        asm volatile("li %0, 0\n li a1, 0\n c.bnez a1, 1f\n li %0, 1\n 1:" : "=&r"(r) : : "a1");
        CHECKN("c.bnez not taken", r, 1);
        /* backward c.bnez loop */
        asm volatile("li a0, 5\n li %0, 0\n 1: addi %0, %0, 2\n c.addi a0, -1\n c.bnez a0, 1b" : "=&r"(r), "=r"(a0));
        CHECKN("c.bnez loop", r, 10);
    }
    /* c.jr: jump, lsb ignored */
    asm volatile("li %0, 0\n lla t0, 1f\n addi t0, t0, 1\n c.jr t0\n li %0, 1\n 1:" : "=&r"(r) : : "t0");
    CHECKN("c.jr (odd target)", r, 0);
    /* c.jalr: link = pc + 2 */
    asm volatile("li %2, 0\n lla t0, 1f\n c.jalr t0\n 2: li %2, 1\n 1: mv %0, ra\n lla %1, 2b"
                 : "=r"(link), "=r"(exp), "=&r"(r) : : "t0", "ra");
    CHECKN("c.jalr jumps", r, 0);
    CHECKN("c.jalr link = pc+2", link, exp);
    /* c.jalr ra: target is the old ra */
    asm volatile("li %2, 0\n lla ra, 1f\n c.jalr ra\n 2: li %2, 1\n 1: mv %0, ra\n lla %1, 2b"
                 : "=r"(link), "=r"(exp), "=&r"(r) : : "ra");
    CHECKN("c.jalr ra uses old ra", r, 0);
    CHECKN("c.jalr ra link", link, exp);
    /* a call through c.jalr returning with c.jr ra */
    asm volatile("li a0, 1\n j 2f\n 1: c.addi a0, 3\n c.jr ra\n 2: lla t0, 1b\n c.jalr t0\n c.jalr t0\n mv %0, a0"
                 : "=r"(r) : : "a0", "t0", "ra");
    CHECKN("c.jalr/c.jr call-return twice", r, 7);
}

static void test_traps(void)
{
    tsv_section("c.ebreak / illegal all-zero");
    uint64_t pc;
    trap_expect();
    asm volatile(TRAP_LANDING "lla %0, 1f\n 1: c.ebreak" TRAP_END : "=&r"(pc) : : "t6");
    CHECKN("c.ebreak cause", g_mtrap.cause, CAUSE_BREAKPOINT);
    CHECKN("c.ebreak mepc", g_mtrap.epc, pc);
    CHECKN("c.ebreak mtval is 0 or the pc", g_mtrap.tval == 0 || g_mtrap.tval == pc, 1);
    trap_expect();
    asm volatile(TRAP_LANDING "lla %0, 1f\n 1: .2byte 0" TRAP_END : "=&r"(pc) : : "t6");
    CHECKN("all-zero 16-bit instruction: illegal", g_mtrap.cause, CAUSE_ILLEGAL);
    CHECKN("all-zero: mepc", g_mtrap.epc, pc);
    CHECKN("all-zero: mtval = 0", g_mtrap.tval, 0);
}

/* 32-bit instructions at 2 mod 4, and straddling a page boundary */
static uint16_t page_code[4096] ALIGNED(4096); /* two pages */

static uint64_t call_code(void *p)
{
    register uint64_t r asm("a0");
    asm volatile("jalr ra, 0(%1)" : "=r"(r) : "r"(p) : "ra", "memory");
    return r;
}

static void test_alignment(void)
{
    tsv_section("mixed 16/32-bit streams");
    uint64_t r;
    asm volatile(".option push\n .option norvc\n .balign 4\n .option pop\n"
                 "c.li a0, 1\n"
                 ".option push\n .option norvc\n addi a0, a0, 2\n addi a0, a0, 4\n .option pop\n"
                 "c.addi a0, 8\n"
                 ".option push\n .option norvc\n addi a0, a0, 16\n .option pop\n mv %0, a0"
                 : "=r"(r) : : "a0");
    CHECKN("32-bit instructions at odd halfword addresses", r, 31);
    /* addi a0, x0, 1234 (0x4d200513) split across the page boundary, then
     * c.addi a0, 1 (0x0505) and c.jr ra (0x8082) */
    uint16_t *p = &page_code[2048 - 1];
    p[0] = 0x0513;
    p[1] = 0x4d20;
    p[2] = 0x0505;
    p[3] = 0x8082;
    asm volatile("fence.i" ::: "memory");
    CHECKN("32-bit instruction across a page boundary", call_code(p), 1235);
    /* a compressed instruction in the last halfword of a page */
    p = &page_code[2048 - 3];
    p[0] = 0x4501; /* c.li a0, 0 */
    p[1] = 0x0509; /* c.addi a0, 2 */
    p[2] = 0x0511; /* c.addi a0, 4 (last halfword of the page) */
    p[3] = 0x0521; /* c.addi a0, 8 (first of the next page) */
    p[4] = 0x8082;
    asm volatile("fence.i" ::: "memory");
    CHECKN("compressed instructions at the page end", call_code(p), 14);
}

int main(void)
{
    test_alu();
    test_mem();
    test_control();
    test_traps();
    test_alignment();
    return 0;
}
