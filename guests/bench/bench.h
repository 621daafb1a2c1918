/* Shared bits of the benchmark programs. They build for tsvisor/QEMU
 * (bare metal, with guests/lib) and, with -DHOST, as ordinary host programs
 * so the expected checksums can be recomputed independently:
 *   gcc -O2 -DHOST -ffp-contract=off -fno-math-errno -I guests/bench guests/bench/int.c
 */
#ifndef BENCH_H
#define BENCH_H

#ifdef HOST
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
static __attribute__((unused)) void *bench_alloc(size_t n) { return calloc(1, n); }
static uint64_t bench_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}
static int bench_finish(const char *name, uint64_t sum, uint64_t expected, uint64_t ns)
{
    printf("%s: checksum 0x%016llx (expected 0x%016llx) %s, %llu ms\n", name, (unsigned long long)sum,
           (unsigned long long)expected, sum == expected ? "ok" : "MISMATCH", (unsigned long long)(ns / 1000000));
    return sum != expected;
}
#else
#include "tsv.h"
extern char _end[];
static uintptr_t bench_heap;
/* bump allocator over the free RAM after the image (below the DTB QEMU puts
 * near the end of a 128 MiB RAM); the memory is zeroed here */
static __attribute__((unused)) void *bench_alloc(size_t n)
{
    if (!bench_heap)
        bench_heap = ((uintptr_t)_end + 4095) & ~4095UL;
    void *p = (void *)bench_heap;
    bench_heap = (bench_heap + n + 4095) & ~4095UL;
    if (bench_heap > 0x87c00000UL) {
        printf("bench_alloc: out of memory\n");
        tsv_fail(2);
    }
    memset(p, 0, n);
    return p;
}
static uint64_t bench_ns(void)
{
    return mtime() * 100; /* CLINT mtime runs at 10 MHz on virt */
}
static int bench_finish(const char *name, uint64_t sum, uint64_t expected, uint64_t ns)
{
    printf("%s: checksum 0x%016lx (expected 0x%016lx) %s, %lu ms guest time\n", name, sum, expected,
           sum == expected ? "ok" : "MISMATCH", ns / 1000000);
    CHECKN("benchmark checksum", sum, expected);
    return 0;
}
#endif

static inline uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

#endif
