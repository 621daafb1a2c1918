/* bench/mem: memory-bound -- streaming copy+add and sum over 16 MiB buffers,
 * a cache-line-strided walk, and random pointer chasing through an 8 MiB
 * single-cycle permutation (Sattolo). Prints a checksum; a wrong checksum
 * fails. */
#include "bench.h"

#ifndef HOST
const char *tsv_test_name = "mem";
#endif

#define EXPECTED 0x38286d621ea928b9ULL
#define WORDS (2u << 20)        /* 16 MiB of uint64_t */
#define STREAM_PASSES 6
#define STRIDE_PASSES 24
#define CHASE_N (2u << 20)      /* 8 MiB of uint32_t */
#define CHASE_STEPS 6000000u

int main(void)
{
    uint64_t t0 = bench_start();
    uint64_t seed = 0x2545f4914f6cdd1dULL, sum = 0;
    uint64_t *src = bench_alloc(WORDS * 8), *dst = bench_alloc(WORDS * 8);
    for (uint32_t i = 0; i < WORDS; i++)
        src[i] = xorshift64(&seed);

    /* streaming copy with an add, then a sum of the destination */
    for (uint32_t p = 0; p < STREAM_PASSES; p++) {
        for (uint32_t i = 0; i < WORDS; i += 4) {
            dst[i] = src[i] + p;
            dst[i + 1] = src[i + 1] ^ p;
            dst[i + 2] = src[i + 2] - p;
            dst[i + 3] = src[i + 3];
        }
        uint64_t s = 0;
        for (uint32_t i = 0; i < WORDS; i++)
            s += dst[i];
        sum = mix64(sum + s);
        uint64_t *t = src;
        src = dst;
        dst = t;
    }

    bench_phase("stream");

    /* one word per 64-byte line, starting at a different offset each pass */
    for (uint32_t p = 0; p < STRIDE_PASSES; p++) {
        uint64_t s = 0;
        for (uint32_t i = p % 8; i < WORDS; i += 8)
            s ^= src[i] + i;
        sum = mix64(sum ^ s);
    }

    bench_phase("stride");

    /* pointer chasing: next = perm[cur] over one big cycle */
    uint32_t *perm = bench_alloc(CHASE_N * 4);
    for (uint32_t i = 0; i < CHASE_N; i++)
        perm[i] = i;
    for (uint32_t i = CHASE_N - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(xorshift64(&seed) % i); /* Sattolo: j < i */
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    bench_phase("shuffle");
    uint32_t cur = 0;
    uint64_t acc = 0;
    for (uint32_t k = 0; k < CHASE_STEPS; k++) {
        cur = perm[cur];
        acc += cur;
    }
    sum = mix64(sum ^ acc ^ cur);
    bench_phase("chase");

    return bench_finish("mem", sum, EXPECTED, bench_ns() - t0);
}
