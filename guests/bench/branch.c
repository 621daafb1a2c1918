/* bench/branch: branchy code -- a switch-dispatched register-VM interpreter
 * running Collatz trajectories (data-dependent even/odd branches), plus
 * binary searches for random keys in a sorted table. Prints a checksum; a
 * wrong checksum fails. */
#include "bench.h"

#ifndef HOST
const char *tsv_test_name = "branch";
#endif

#define EXPECTED 0xea8475c9e97a20edULL
#define COLLATZ_N 60000
#define SEARCH_TABLE (1u << 16)
#define SEARCHES 1500000u

enum { LI, ADD, ADDI, SUB, MUL, AND, SHRI, JZ, JNZ, JLT, JMP, HALT };

struct insn {
    uint8_t op, a, b, c;
    int32_t imm;
};

/* r0 = n, r1 = limit, r2 = total steps, r3 = x, r4 = tmp, r5 = 3, r6 = max x */
static const struct insn program[] = {
    /* 0 */ {LI, 0, 0, 0, 1},
    /* 1 */ {LI, 1, 0, 0, COLLATZ_N},
    /* 2 */ {LI, 2, 0, 0, 0},
    /* 3 */ {LI, 5, 0, 0, 3},
    /* 4 */ {LI, 6, 0, 0, 0},
    /* 5 loop_n: */ {ADD, 3, 0, 7, 0}, /* x = n + r7(0) */
    /* 6 loop_c: */ {ADDI, 4, 3, 0, -1},
    /* 7 */ {JZ, 4, 0, 0, 17}, /* x == 1 -> next */
    /* 8 */ {AND, 4, 3, 8, 0},  /* r8 = 1 */
    /* 9 */ {JZ, 4, 0, 0, 14},  /* even */
    /* 10 */ {MUL, 3, 3, 5, 0},
    /* 11 */ {ADDI, 3, 3, 0, 1},
    /* 12 */ {ADDI, 2, 2, 0, 1},
    /* 13 */ {JMP, 0, 0, 0, 6},
    /* 14 even: */ {SHRI, 3, 3, 0, 1},
    /* 15 */ {ADDI, 2, 2, 0, 1},
    /* 16 */ {JMP, 0, 0, 0, 6},
    /* 17 next: */ {ADDI, 0, 0, 0, 1},
    /* 18 */ {JLT, 0, 1, 0, 5},
    /* 19 */ {HALT, 0, 0, 0, 0},
};

static uint64_t run_vm(const struct insn *prog, uint64_t *r)
{
    uint64_t executed = 0;
    uint32_t pc = 0;
    for (;;) {
        const struct insn *i = &prog[pc++];
        executed++;
        switch (i->op) {
        case LI: r[i->a] = (uint64_t)(int64_t)i->imm; break;
        case ADD: r[i->a] = r[i->b] + r[i->c]; break;
        case ADDI: r[i->a] = r[i->b] + (uint64_t)(int64_t)i->imm; break;
        case SUB: r[i->a] = r[i->b] - r[i->c]; break;
        case MUL: r[i->a] = r[i->b] * r[i->c]; break;
        case AND: r[i->a] = r[i->b] & r[i->c]; break;
        case SHRI: r[i->a] = r[i->b] >> i->imm; break;
        case JZ: if (!r[i->a]) pc = i->imm; break;
        case JNZ: if (r[i->a]) pc = i->imm; break;
        case JLT: if (r[i->a] < r[i->b]) pc = i->imm; break;
        case JMP: pc = i->imm; break;
        case HALT: return executed;
        }
    }
}

int main(void)
{
    uint64_t t0 = bench_start();
    uint64_t seed = 0xdeadbeefcafef00dULL, sum;

    uint64_t r[16] = {0};
    r[8] = 1;
    uint64_t executed = run_vm(program, r);
    sum = mix64(executed ^ (r[2] << 20));
    bench_phase("vm");

    uint32_t *table = bench_alloc(SEARCH_TABLE * 4);
    uint32_t v = 0;
    for (uint32_t i = 0; i < SEARCH_TABLE; i++) {
        v += 1 + (uint32_t)(xorshift64(&seed) & 15);
        table[i] = v;
    }
    uint64_t found = 0, pos = 0;
    for (uint32_t k = 0; k < SEARCHES; k++) {
        uint32_t key = (uint32_t)(xorshift64(&seed) % (v + 1));
        uint32_t lo = 0, hi = SEARCH_TABLE;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (table[mid] < key)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < SEARCH_TABLE && table[lo] == key)
            found++;
        pos += lo;
    }
    sum = mix64(sum ^ found ^ (pos << 1));
    bench_phase("search");
    return bench_finish("branch", sum, EXPECTED, bench_ns() - t0);
}
