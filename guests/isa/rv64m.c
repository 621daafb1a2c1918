/* rv64m: MUL/MULH/MULHSU/MULHU/DIV/DIVU/REM/REMU and the W forms, including
 * division by zero and signed overflow (INT_MIN / -1). */
#include "tsv.h"

const char *tsv_test_name = "rv64m";

struct vec {
    uint16_t op;
    uint64_t a, b, exp;
};
#include "rv64m-vectors.h"

#define NORVC(s) ".option push\n.option norvc\n" s "\n.option pop\n"
#define RR(op, a, b) ({ uint64_t r_; asm volatile(NORVC(op " %0, %1, %2") : "=r"(r_) : "r"((uint64_t)(a)), "r"((uint64_t)(b))); r_; })
#define T(op, a, b, exp) CHECKN(op " " #a ", " #b, RR(op, a, b), exp)

#define IMIN 0x8000000000000000UL
#define IMAX 0x7fffffffffffffffUL

static uint64_t do_rr(unsigned op, uint64_t a, uint64_t b)
{
    switch (op) {
    case RV64M_MUL: return RR("mul", a, b);
    case RV64M_MULH: return RR("mulh", a, b);
    case RV64M_MULHSU: return RR("mulhsu", a, b);
    case RV64M_MULHU: return RR("mulhu", a, b);
    case RV64M_DIV: return RR("div", a, b);
    case RV64M_DIVU: return RR("divu", a, b);
    case RV64M_REM: return RR("rem", a, b);
    case RV64M_REMU: return RR("remu", a, b);
    case RV64M_MULW: return RR("mulw", a, b);
    case RV64M_DIVW: return RR("divw", a, b);
    case RV64M_DIVUW: return RR("divuw", a, b);
    case RV64M_REMW: return RR("remw", a, b);
    case RV64M_REMUW: return RR("remuw", a, b);
    }
    return 0xdead;
}

int main(void)
{
    tsv_section("multiply");
    T("mul", 3, 7, 21);
    T("mul", -1UL, -1UL, 1);
    T("mul", IMAX, 2, -2UL);
    T("mul", IMIN, -1UL, IMIN);
    T("mul", 0x100000000UL, 0x100000000UL, 0);
    T("mulh", -1UL, -1UL, 0);
    T("mulh", IMIN, IMIN, 0x4000000000000000UL);
    T("mulh", IMIN, 2, -1UL);
    T("mulh", IMAX, IMAX, 0x3fffffffffffffffUL);
    T("mulh", -2UL, 3, -1UL);
    T("mulhu", -1UL, -1UL, 0xfffffffffffffffeUL);
    T("mulhu", IMIN, 2, 1);
    T("mulhu", 0x100000000UL, 0x100000000UL, 1);
    T("mulhsu", -1UL, -1UL, -1UL);       /* -1 * (2^64-1) */
    T("mulhsu", IMIN, 2, -1UL);
    T("mulhsu", 2, -1UL, 1);              /* 2 * (2^64-1) */
    T("mulhsu", IMIN, IMIN, 0xc000000000000000UL);
    T("mulw", 0x7fffffff, 2, 0xfffffffffffffffeUL);
    T("mulw", 0x123456789UL, 1, 0x23456789UL);
    T("mulw", 0x10000, 0x8000, 0xffffffff80000000UL);
    T("mulw", 0xffffffff00000003UL, 0x00000000ffffffffUL, 0xfffffffffffffffdUL);

    tsv_section("divide");
    T("div", 7, -2UL, -3UL);
    T("div", -7UL, 2, -3UL);
    T("div", -7UL, -2UL, 3);
    T("div", 7, 0, -1UL);
    T("div", 0, 0, -1UL);
    T("div", IMIN, -1UL, IMIN);
    T("divu", 7, 0, -1UL);
    T("divu", -1UL, 2, IMAX);
    T("divu", IMIN, -1UL, 0);
    T("rem", 7, -2UL, 1);
    T("rem", -7UL, 2, -1UL);
    T("rem", -7UL, 0, -7UL);
    T("rem", IMIN, -1UL, 0);
    T("remu", -7UL, 0, -7UL);
    T("remu", -1UL, 10, 5);
    T("divw", 0xffffffff80000000UL, -1UL, 0xffffffff80000000UL);
    T("divw", 0x0000000080000000UL, 0xffffffffUL, 0xffffffff80000000UL); /* upper bits ignored */
    T("divw", 7, 0, -1UL);
    T("divw", 0x1234567800000007UL, 0xffffffff00000002UL, 3);
    T("divw", -7UL, 2, -3UL);
    T("divuw", 7, 0, -1UL);
    T("divuw", 0xffffffffUL, 1, -1UL);      /* 0xffffffff sign-extends */
    T("divuw", 0xfffffffffffffffeUL, 2, 0x7fffffff);
    T("remw", 0xffffffff80000000UL, -1UL, 0);
    T("remw", 0x1234567880000000UL, 0, 0xffffffff80000000UL);
    T("remw", -7UL, 2, -1UL);
    T("remw", 0x12345678fffffff9UL, 0x2, -1UL);
    T("remuw", 0x12345678fffffff9UL, 0, 0xfffffffffffffff9UL);
    T("remuw", 0xffffffffUL, 0x10, 0xf);
    T("remuw", 0x80000005UL, 0x80000000UL, 5);

    tsv_section("rd == rs1 == rs2");
    uint64_t x = 0xfffffffffffffff9UL;
    asm volatile(NORVC("mul %0, %0, %0") : "+r"(x));
    CHECK(x, 49);
    x = 0;
    asm volatile(NORVC("div %0, %0, %0") : "+r"(x));
    CHECK(x, -1UL);
    x = 0;
    asm volatile(NORVC("remu %0, %0, %0") : "+r"(x));
    CHECK(x, 0);
    x = IMIN;
    asm volatile(NORVC("mulhu %0, %0, %0") : "+r"(x));
    CHECK(x, 0x4000000000000000UL);

    tsv_section("vectors");
    for (unsigned i = 0; i < ARRAY_SIZE(rv64m_vectors); i++) {
        const struct vec *v = &rv64m_vectors[i];
        uint64_t got = do_rr(v->op, v->a, v->b);
        if (got != v->exp)
            printf("  %s 0x%lx, 0x%lx\n", rv64m_op_names[v->op], v->a, v->b);
        CHECKID(10000 + i, rv64m_op_names[v->op], got, v->exp);
    }
    return 0;
}
