/* rv64i: every RV64I instruction, with edge cases.
 * All instructions under test are assembled as 32-bit encodings (norvc). */
#include "tsv.h"

const char *tsv_test_name = "rv64i";

struct vec {
    uint16_t op;
    uint64_t a, b, exp;
};
#include "rv64i-vectors.h"

#define NORVC(s) ".option push\n.option norvc\n" s "\n.option pop\n"

#define RR(op, a, b) ({ uint64_t r_; asm volatile(NORVC(op " %0, %1, %2") : "=r"(r_) : "r"((uint64_t)(a)), "r"((uint64_t)(b))); r_; })
#define RI(op, a, imm) ({ uint64_t r_; asm volatile(NORVC(op " %0, %1, %2") : "=r"(r_) : "r"((uint64_t)(a)), "i"(imm)); r_; })
#define T_RI(op, a, imm, exp) CHECKN(op " " #a ", " #imm, RI(op, a, imm), exp)
#define BR(op, a, b) ({ uint64_t t_; asm volatile(NORVC("li %0, 1\n" op " %1, %2, 1f\nli %0, 0\n1:") : "=&r"(t_) : "r"((uint64_t)(a)), "r"((uint64_t)(b))); t_; })
#define T_BR(op, a, b, exp) CHECKN(op " " #a ", " #b " taken", BR(op, a, b), exp)

static uint64_t do_rr(unsigned op, uint64_t a, uint64_t b)
{
    switch (op) {
    case RV64I_ADD: return RR("add", a, b);
    case RV64I_SUB: return RR("sub", a, b);
    case RV64I_SLL: return RR("sll", a, b);
    case RV64I_SLT: return RR("slt", a, b);
    case RV64I_SLTU: return RR("sltu", a, b);
    case RV64I_XOR: return RR("xor", a, b);
    case RV64I_SRL: return RR("srl", a, b);
    case RV64I_SRA: return RR("sra", a, b);
    case RV64I_OR: return RR("or", a, b);
    case RV64I_AND: return RR("and", a, b);
    case RV64I_ADDW: return RR("addw", a, b);
    case RV64I_SUBW: return RR("subw", a, b);
    case RV64I_SLLW: return RR("sllw", a, b);
    case RV64I_SRLW: return RR("srlw", a, b);
    case RV64I_SRAW: return RR("sraw", a, b);
    }
    return 0xdead;
}

static void test_rr_vectors(void)
{
    tsv_section("register-register ALU vectors");
    for (unsigned i = 0; i < ARRAY_SIZE(rv64i_vectors); i++) {
        const struct vec *v = &rv64i_vectors[i];
        uint64_t got = do_rr(v->op, v->a, v->b);
        if (got != v->exp)
            printf("  %s 0x%lx, 0x%lx\n", rv64i_op_names[v->op], v->a, v->b);
        CHECKID(10000 + i, rv64i_op_names[v->op], got, v->exp);
    }
}

static void test_rr_same_regs(void)
{
    tsv_section("rd == rs1 == rs2");
    uint64_t x = 0x8000000000000001UL;
    asm volatile(NORVC("add %0, %0, %0") : "+r"(x));
    CHECK(x, 2);
    x = 5;
    asm volatile(NORVC("sub %0, %0, %0") : "+r"(x));
    CHECK(x, 0);
    x = 0x21; /* shift amount = low 6 bits of the same value = 33 */
    asm volatile(NORVC("sll %0, %0, %0") : "+r"(x));
    CHECK(x, 0x21UL << 33);
    x = 0xffffffff00000003UL;
    asm volatile(NORVC("slt %0, %0, %0") : "+r"(x));
    CHECK(x, 0);
}

static void test_imm(void)
{
    tsv_section("register-immediate");
    T_RI("addi", 5, -6, -1UL);
    T_RI("addi", 0x7fffffffffffffffUL, 1, 0x8000000000000000UL);
    T_RI("addi", 0, 2047, 2047);
    T_RI("addi", 0, -2048, -2048UL);
    T_RI("addi", 0xffffffffffffffffUL, 1, 0);
    T_RI("slti", -1UL, 0, 1);
    T_RI("slti", 0, -1, 0);
    T_RI("slti", -2049UL, -2048, 1);
    T_RI("slti", 2047, 2047, 0);
    T_RI("slti", 0x8000000000000000UL, 0, 1);
    T_RI("sltiu", 0, -1, 1); /* -1 sign-extends to the largest unsigned value */
    T_RI("sltiu", -2UL, -1, 1);
    T_RI("sltiu", -1UL, -1, 0);
    T_RI("sltiu", 0, 1, 1); /* seqz */
    T_RI("sltiu", 1, 1, 0);
    T_RI("sltiu", 0x800, 2047, 0);
    T_RI("xori", 0x00ff00ff00ff00ffUL, -1, 0xff00ff00ff00ff00UL);
    T_RI("xori", 0x123, 0x7ff, 0x6dc);
    T_RI("xori", 0xf0f0, -2048, 0xffffffffffff08f0UL);
    T_RI("ori", 0x8000000000000000UL, -2048, 0xfffffffffffff800UL);
    T_RI("ori", 0x100, 0x0ff, 0x1ff);
    T_RI("andi", 0xffffffffffffffffUL, -2048, 0xfffffffffffff800UL);
    T_RI("andi", 0x123456789abcdef0UL, 0x7ff, 0x6f0);
    T_RI("andi", 0x8000000000000fffUL, -1, 0x8000000000000fffUL);
    T_RI("slli", 1, 63, 0x8000000000000000UL);
    T_RI("slli", 0xffffffffffffffffUL, 0, 0xffffffffffffffffUL);
    T_RI("slli", 0x00000000ffffffffUL, 32, 0xffffffff00000000UL);
    T_RI("srli", 0x8000000000000000UL, 63, 1);
    T_RI("srli", 0xffffffffffffffffUL, 32, 0xffffffffUL);
    T_RI("srli", 0x8000000000000000UL, 0, 0x8000000000000000UL);
    T_RI("srai", 0x8000000000000000UL, 63, 0xffffffffffffffffUL);
    T_RI("srai", 0x8000000000000000UL, 32, 0xffffffff80000000UL);
    T_RI("srai", 0x7fffffffffffffffUL, 63, 0);
    T_RI("srai", 0x00000000f0000000UL, 28, 0xf);
    /* W immediates: 32-bit result, sign-extended */
    T_RI("addiw", 0x7fffffff, 1, 0xffffffff80000000UL);
    T_RI("addiw", 0xffffffff00000000UL, -1, 0xffffffffffffffffUL);
    T_RI("addiw", 0x123456789UL, 0, 0x23456789UL);         /* sext.w */
    T_RI("addiw", 0x00000000fffff800UL, 2047, 0xffffffffffffffffUL);
    T_RI("addiw", 0x0000000080000000UL, -2048, 0x7ffff800UL);
    T_RI("slliw", 1, 31, 0xffffffff80000000UL);
    T_RI("slliw", 0xffffffff00000003UL, 30, 0xffffffffc0000000UL);
    T_RI("slliw", 0x12345678ffffffffUL, 0, 0xffffffffffffffffUL);
    T_RI("srliw", 0xffffffff80000000UL, 31, 1);
    T_RI("srliw", 0x0000000080000000UL, 0, 0xffffffff80000000UL); /* shift 0 still sign-extends */
    T_RI("srliw", 0xffffffff80000000UL, 1, 0x40000000);
    T_RI("srliw", 0x12345678ffffffffUL, 4, 0x0fffffff);
    T_RI("sraiw", 0x0000000080000000UL, 31, 0xffffffffffffffffUL);
    T_RI("sraiw", 0x0000000080000000UL, 4, 0xfffffffff8000000UL);
    T_RI("sraiw", 0xffffffff7fffffffUL, 30, 1);
    T_RI("sraiw", 0x00000000ffffffffUL, 0, 0xffffffffffffffffUL);
}

static void test_lui_auipc(void)
{
    tsv_section("lui/auipc");
    uint64_t r, pc;
    asm volatile(NORVC("lui %0, 0x80000") : "=r"(r));
    CHECKN("lui 0x80000 sign-extends", r, 0xffffffff80000000UL);
    asm volatile(NORVC("lui %0, 0xfffff") : "=r"(r));
    CHECKN("lui 0xfffff", r, 0xfffffffffffff000UL);
    asm volatile(NORVC("lui %0, 0x7ffff") : "=r"(r));
    CHECKN("lui 0x7ffff", r, 0x7ffff000UL);
    asm volatile(NORVC("lui %0, 0") : "=r"(r));
    CHECKN("lui 0", r, 0);
    asm volatile(NORVC("lui %0, 0x12345") : "=r"(r));
    CHECKN("lui 0x12345", r, 0x12345000UL);
    asm volatile(NORVC("1: auipc %0, 0\n lla %1, 1b") : "=r"(r), "=r"(pc));
    CHECKN("auipc 0 = pc", r, pc);
    asm volatile(NORVC("1: auipc %0, 1\n lla %1, 1b") : "=r"(r), "=r"(pc));
    CHECKN("auipc 1 = pc+0x1000", r, pc + 0x1000);
    asm volatile(NORVC("1: auipc %0, 0x80000\n lla %1, 1b") : "=r"(r), "=r"(pc));
    CHECKN("auipc 0x80000 = pc-2^31", r, pc - 0x80000000UL);
    asm volatile(NORVC("1: auipc %0, 0xfffff\n lla %1, 1b") : "=r"(r), "=r"(pc));
    CHECKN("auipc 0xfffff = pc-0x1000", r, pc - 0x1000);
}

static void test_jumps(void)
{
    tsv_section("jal/jalr");
    uint64_t link, exp, flag;
    asm volatile(NORVC("li %2, 0\n jal %0, 1f\n 2: li %2, 1\n 1: lla %1, 2b")
                 : "=r"(link), "=r"(exp), "=&r"(flag));
    CHECKN("jal link = pc+4", link, exp);
    CHECKN("jal skips", flag, 0);
    /* backward jal */
    asm volatile(NORVC("li %1, 0\n j 3f\n 1: addi %1, %1, 1\n j 2f\n 3: jal %0, 1b\n 4: lla %2, 4b\n j 5f\n 2: lla %2, 4b\n 5:")
                 : "=r"(link), "=&r"(flag), "=&r"(exp));
    CHECKN("backward jal ran target once", flag, 1);
    CHECKN("backward jal link", link, exp);
    /* jal x0 */
    asm volatile(NORVC("li %0, 7\n jal x0, 1f\n li %0, 9\n 1:") : "=&r"(flag));
    CHECKN("jal x0 jumps", flag, 7);
    /* jalr clears bit 0 of the target */
    asm volatile(NORVC("li %2, 0\n lla t0, 1f\n addi t0, t0, 1\n jalr %0, 0(t0)\n 2: li %2, 1\n 1: lla %1, 2b")
                 : "=r"(link), "=r"(exp), "=&r"(flag) : : "t0");
    CHECKN("jalr odd target lands on even address", flag, 0);
    CHECKN("jalr link", link, exp);
    /* jalr with positive and negative offset */
    asm volatile(NORVC("li %1, 0\n lla t0, 1f - 12\n jalr x0, 12(t0)\n li %1, 1\n 1:") : "=r"(link), "=&r"(flag) : : "t0");
    CHECKN("jalr +12", flag, 0);
    asm volatile(NORVC("li %1, 0\n lla t0, 1f + 2000\n jalr x0, -2000(t0)\n li %1, 1\n 1:") : "=r"(link), "=&r"(flag) : : "t0");
    CHECKN("jalr -2000", flag, 0);
    /* jalr rd == rs1: the target uses the old value */
    asm volatile(NORVC("li %1, 0\n lla t0, 1f\n jalr t0, 0(t0)\n 2: li %1, 1\n 1: lla %2, 2b\n mv %0, t0")
                 : "=r"(link), "=&r"(flag), "=&r"(exp) : : "t0");
    CHECKN("jalr rd==rs1 jumps to old value", flag, 0);
    CHECKN("jalr rd==rs1 link", link, exp);
    /* call/ret through a real function */
    asm volatile(NORVC("li %0, 0\n jal ra, 1f\n j 2f\n 1: addi %0, %0, 5\n jalr x0, 0(ra)\n 2:")
                 : "=&r"(flag) : : "ra");
    CHECKN("call/ret", flag, 5);
}

static void test_branches(void)
{
    tsv_section("branches");
    T_BR("beq", 5, 5, 1);
    T_BR("beq", 5, 6, 0);
    T_BR("beq", 0x100000005UL, 5, 0);
    T_BR("bne", 5, 5, 0);
    T_BR("bne", 0x8000000000000000UL, 0, 1);
    T_BR("blt", -1UL, 1, 1);
    T_BR("blt", 1, -1UL, 0);
    T_BR("blt", 3, 3, 0);
    T_BR("blt", 0x8000000000000000UL, 0x7fffffffffffffffUL, 1);
    T_BR("bge", 3, 3, 1);
    T_BR("bge", -1UL, 0, 0);
    T_BR("bge", 0, -1UL, 1);
    T_BR("bge", 0x7fffffffffffffffUL, 0x8000000000000000UL, 1);
    T_BR("bltu", -1UL, 1, 0);
    T_BR("bltu", 1, -1UL, 1);
    T_BR("bltu", 7, 7, 0);
    T_BR("bltu", 0x7fffffffffffffffUL, 0x8000000000000000UL, 1);
    T_BR("bgeu", 7, 7, 1);
    T_BR("bgeu", -1UL, 0, 1);
    T_BR("bgeu", 0, 1, 0);
    T_BR("bgeu", 0xffffffffUL, 0x100000000UL, 0);
    /* backward branch loop */
    uint64_t n;
    asm volatile(NORVC("li %0, 0\n li t0, 10\n 1: addi %0, %0, 3\n addi t0, t0, -1\n bnez t0, 1b") : "=&r"(n) : : "t0");
    CHECKN("backward bne loop", n, 30);
    /* branch with rs1 == rs2 */
    uint64_t t;
    asm volatile(NORVC("li %0, 1\n li t0, -5\n bge t0, t0, 1f\n li %0, 0\n 1:") : "=&r"(t) : : "t0");
    CHECKN("bge x, x taken", t, 1);
}

static uint64_t mem[4] ALIGNED(16);

#define LD(op, off) ({ uint64_t r_; asm volatile(NORVC(op " %0, %2(%1)") : "=r"(r_) : "r"(mem), "i"(off) : "memory"); r_; })

static void test_loads_stores(void)
{
    tsv_section("loads/stores");
    mem[0] = 0x8182838485868788UL;
    mem[1] = 0x7172737475767778UL;
    mem[2] = 0;
    mem[3] = 0;
    CHECKN("lb 0", LD("lb", 0), 0xffffffffffffff88UL);
    CHECKN("lb 7", LD("lb", 7), 0xffffffffffffff81UL);
    CHECKN("lb 8", LD("lb", 8), 0x78);
    CHECKN("lbu 0", LD("lbu", 0), 0x88);
    CHECKN("lbu 15", LD("lbu", 15), 0x71);
    CHECKN("lh 0", LD("lh", 0), 0xffffffffffff8788UL);
    CHECKN("lh 6", LD("lh", 6), 0xffffffffffff8182UL);
    CHECKN("lh 8", LD("lh", 8), 0x7778);
    CHECKN("lhu 6", LD("lhu", 6), 0x8182);
    CHECKN("lw 0", LD("lw", 0), 0xffffffff85868788UL);
    CHECKN("lw 4", LD("lw", 4), 0xffffffff81828384UL);
    CHECKN("lw 12", LD("lw", 12), 0x71727374);
    CHECKN("lwu 4", LD("lwu", 4), 0x81828384UL);
    CHECKN("lwu 8", LD("lwu", 8), 0x75767778UL);
    CHECKN("ld 0", LD("ld", 0), 0x8182838485868788UL);
    CHECKN("ld 8", LD("ld", 8), 0x7172737475767778UL);
    /* negative offsets */
    uint64_t r;
    asm volatile(NORVC("lb %0, -1(%1)") : "=r"(r) : "r"((uintptr_t)mem + 8) : "memory");
    CHECKN("lb -1", r, 0xffffffffffffff81UL);
    asm volatile(NORVC("ld %0, -8(%1)") : "=r"(r) : "r"((uintptr_t)mem + 16) : "memory");
    CHECKN("ld -8", r, 0x7172737475767778UL);
    asm volatile(NORVC("lhu %0, -2048(%1)") : "=r"(r) : "r"((uintptr_t)mem + 2048 + 2) : "memory");
    CHECKN("lhu -2048", r, 0x8586);
    asm volatile(NORVC("lbu %0, 2047(%1)") : "=r"(r) : "r"((uintptr_t)mem - 2047 + 9) : "memory");
    CHECKN("lbu +2047", r, 0x77);

    /* stores write exactly their width */
    mem[2] = 0x1111111111111111UL;
    asm volatile(NORVC("sb %0, 3(%1)") : : "r"(0xabcdef99UL), "r"(&mem[2]) : "memory");
    CHECKN("sb", mem[2], 0x1111111199111111UL);
    asm volatile(NORVC("sh %0, 6(%1)") : : "r"(0xabcdef98UL), "r"(&mem[2]) : "memory");
    CHECKN("sh", mem[2], 0xef98111199111111UL);
    asm volatile(NORVC("sw %0, 0(%1)") : : "r"(0x123456789abcdef0UL), "r"(&mem[2]) : "memory");
    CHECKN("sw", mem[2], 0xef9811119abcdef0UL);
    asm volatile(NORVC("sd %0, -8(%1)") : : "r"(0x0102030405060708UL), "r"(&mem[3]) : "memory");
    CHECKN("sd", mem[2], 0x0102030405060708UL);
    CHECKN("sd did not touch the next word", mem[3], 0);
    asm volatile(NORVC("sb %0, -2048(%1)") : : "r"(0x55UL), "r"((uintptr_t)&mem[3] + 2048 + 7) : "memory");
    CHECKN("sb -2048", mem[3], 0x5500000000000000UL);
    /* store then load the same address (forwarding) */
    asm volatile(NORVC("sw %1, 0(%2)\n lw %0, 0(%2)") : "=&r"(r) : "r"(0x80000000UL), "r"(&mem[3]) : "memory");
    CHECKN("sw/lw roundtrip sign-extends", r, 0xffffffff80000000UL);
}

static void test_x0(void)
{
    tsv_section("x0");
    uint64_t r;
    asm volatile(NORVC("addi x0, x0, 5\n mv %0, x0") : "=r"(r));
    CHECKN("addi x0 ignored", r, 0);
    asm volatile(NORVC("lui x0, 0x12345\n add %0, x0, x0") : "=r"(r));
    CHECKN("lui x0 ignored", r, 0);
    mem[0] = 0x1234;
    asm volatile(NORVC("ld x0, 0(%1)\n mv %0, x0") : "=r"(r) : "r"(mem) : "memory");
    CHECKN("ld x0 ignored", r, 0);
    asm volatile(NORVC("1: auipc x0, 1\n jal x0, 2f\n 2: or %0, x0, x0") : "=r"(r));
    CHECKN("auipc/jal x0 ignored", r, 0);
    asm volatile(NORVC("li t0, -1\n add x0, t0, t0\n sltu %0, x0, t0") : "=r"(r) : : "t0");
    CHECKN("x0 still 0 after add x0", r, 1);
    asm volatile(NORVC("sd x0, 0(%0)") : : "r"(mem) : "memory");
    CHECKN("sd x0 stores 0", mem[0], 0);
}

/* self-modifying code: write "li a0, imm; ret" into RAM, fence.i, call it */
static uint32_t code_buf[16] ALIGNED(64);

static uint32_t enc_addi(unsigned rd, unsigned rs1, int imm)
{
    return ((uint32_t)(imm & 0xfff) << 20) | (rs1 << 15) | (0 << 12) | (rd << 7) | 0x13;
}

static uint64_t call_buf(void)
{
    uint64_t r;
    asm volatile("jalr ra, 0(%1)\n mv %0, a0" : "=r"(r) : "r"(code_buf) : "ra", "a0", "memory");
    return r;
}

static void test_fence_i(void)
{
    tsv_section("fence / fence.i / self-modifying code");
    asm volatile("fence\n fence rw, rw\n fence r, r\n fence w, w\n fence iorw, iorw\n fence.tso" ::: "memory");
    code_buf[0] = enc_addi(10, 0, 42); /* addi a0, x0, 42 */
    code_buf[1] = 0x00008067;          /* jalr x0, 0(ra) */
    asm volatile("fence.i" ::: "memory");
    CHECKN("generated code returns 42", call_buf(), 42);
    for (int i = 0; i < 3; i++) { /* run it a few times so a JIT would compile it */
        code_buf[0] = enc_addi(10, 0, 100 + i);
        asm volatile("fence.i" ::: "memory");
        CHECKN("rewritten code after fence.i", call_buf(), 100 + i);
    }
    /* a longer block: rewrite an instruction in the middle of a loop body */
    code_buf[0] = enc_addi(10, 0, 0);   /* a0 = 0 */
    code_buf[1] = enc_addi(5, 0, 4);    /* t0 = 4 */
    code_buf[2] = enc_addi(10, 10, 3);  /* a0 += 3 */
    code_buf[3] = enc_addi(5, 5, -1);   /* t0 -= 1 */
    code_buf[4] = 0xfe029ce3;           /* bnez t0, -8 */
    code_buf[5] = 0x00008067;           /* ret */
    asm volatile("fence.i" ::: "memory");
    CHECKN("generated loop", call_buf(), 12);
    code_buf[2] = enc_addi(10, 10, -7);
    asm volatile("fence.i" ::: "memory");
    CHECKN("generated loop rewritten", call_buf(), (uint64_t)-28);
}

static void test_misc(void)
{
    tsv_section("nop / hints");
    uint64_t r = 3;
    asm volatile(NORVC("nop\n addi x0, x0, 0\n slli x0, x0, 3\n fence\n addi %0, %0, 1") : "+r"(r));
    CHECKN("nop-like instructions have no effect", r, 4);
}

int main(void)
{
    test_rr_same_regs();
    test_imm();
    test_lui_auipc();
    test_jumps();
    test_branches();
    test_loads_stores();
    test_x0();
    test_fence_i();
    test_misc();
    test_rr_vectors();
    return 0;
}
