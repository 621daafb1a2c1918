/* bench/int: integer throughput -- table-driven CRC32 over a 1 MiB buffer,
 * a 64-bit multiply/xor-shift hash chain, and an in-place quicksort of
 * 256 Ki 32-bit keys. Prints a checksum; a wrong checksum fails. */
#include "bench.h"

#ifndef HOST
const char *tsv_test_name = "int";
#endif

#define EXPECTED 0x6bd43c731957a853ULL
#define BUF_BYTES (1u << 20)
#define CRC_PASSES 96
#define HASH_ITERS 24000000u
#define SORT_N (1u << 19)

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void quicksort(uint32_t *a, long lo, long hi)
{
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        /* median of three */
        if (a[mid] < a[lo]) { uint32_t t = a[mid]; a[mid] = a[lo]; a[lo] = t; }
        if (a[hi] < a[lo]) { uint32_t t = a[hi]; a[hi] = a[lo]; a[lo] = t; }
        if (a[hi] < a[mid]) { uint32_t t = a[hi]; a[hi] = a[mid]; a[mid] = t; }
        uint32_t pivot = a[mid];
        long i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                uint32_t t = a[i]; a[i] = a[j]; a[j] = t;
                i++;
                j--;
            }
        }
        /* recurse into the smaller half */
        if (j - lo < hi - i) {
            quicksort(a, lo, j);
            lo = i;
        } else {
            quicksort(a, i, hi);
            hi = j;
        }
    }
}

int main(void)
{
    uint64_t t0 = bench_start();
    uint64_t seed = 0x9e3779b97f4a7c15ULL, sum = 0;

    crc_init();
    uint8_t *buf = bench_alloc(BUF_BYTES);
    for (uint32_t i = 0; i < BUF_BYTES; i += 8) {
        uint64_t v = xorshift64(&seed);
        memcpy(buf + i, &v, 8);
    }
    uint32_t crc = 0;
    for (int p = 0; p < CRC_PASSES; p++) {
        buf[p * 4099 % BUF_BYTES] ^= (uint8_t)p;
        crc = crc32(crc, buf, BUF_BYTES);
    }
    sum = crc;
    bench_phase("crc32");

    uint64_t h = 0x0123456789abcdefULL;
    for (uint32_t i = 0; i < HASH_ITERS; i++) {
        h ^= i;
        h *= 0x100000001b3ULL;
        h ^= h >> 29;
        h += (h << 7) | (i & 0xff);
    }
    sum = mix64(sum ^ h);
    bench_phase("hash");

    uint32_t *a = bench_alloc(SORT_N * sizeof(uint32_t));
    for (uint32_t i = 0; i < SORT_N; i++)
        a[i] = (uint32_t)xorshift64(&seed);
    quicksort(a, 0, SORT_N - 1);
    uint64_t s = 0;
    int sorted = 1;
    for (uint32_t i = 0; i < SORT_N; i++) {
        s = s * 31 + a[i];
        if (i && a[i - 1] > a[i])
            sorted = 0;
    }
    sum = mix64(sum ^ s) + sorted;
    bench_phase("quicksort");

    return bench_finish("int", sum, EXPECTED, bench_ns() - t0);
}
