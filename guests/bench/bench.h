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
static uint64_t bench_instret(void) { return 0; } /* no RISC-V counter on the host */
static void bench_print_phases(void);
static int bench_finish(const char *name, uint64_t sum, uint64_t expected, uint64_t ns)
{
    bench_print_phases();
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
static uint64_t bench_instret(void)
{
    return csr_read(minstret);
}
static void bench_print_phases(void);
static int bench_finish(const char *name, uint64_t sum, uint64_t expected, uint64_t ns)
{
    bench_print_phases();
    printf("%s: checksum 0x%016lx (expected 0x%016lx) %s, %lu ms guest time\n", name, sum, expected,
           sum == expected ? "ok" : "MISMATCH", ns / 1000000);
    CHECKN("benchmark checksum", sum, expected);
    return 0;
}
#endif

/*
 * Phases: bench_start() marks the start; each bench_phase("name") ends the
 * phase running since the last mark. bench_finish() prints one line a phase,
 *   phase NAME: T us, I instructions
 * (I from minstret; 0 on the host), which `npm run bench` sets side by side
 * for every engine and for the program built natively (-DHOST).
 */
#define BENCH_MAX_PHASES 8
static const char *bench_phase_names[BENCH_MAX_PHASES];
static uint64_t bench_phase_ns[BENCH_MAX_PHASES], bench_phase_insns[BENCH_MAX_PHASES];
static unsigned bench_phases;
static uint64_t bench_mark_ns, bench_mark_insns;

static __attribute__((unused)) uint64_t bench_start(void)
{
    bench_mark_insns = bench_instret();
    return bench_mark_ns = bench_ns();
}

static __attribute__((unused)) void bench_phase(const char *name)
{
    uint64_t now = bench_ns(), insns = bench_instret();
    if (bench_phases < BENCH_MAX_PHASES) {
        bench_phase_names[bench_phases] = name;
        bench_phase_ns[bench_phases] = now - bench_mark_ns;
        bench_phase_insns[bench_phases] = insns - bench_mark_insns;
        bench_phases++;
    }
    bench_mark_ns = now;
    bench_mark_insns = insns;
}

static void bench_print_phases(void)
{
    for (unsigned i = 0; i < bench_phases; i++)
        printf("phase %s: %llu us, %llu instructions\n", bench_phase_names[i],
               (unsigned long long)(bench_phase_ns[i] / 1000), (unsigned long long)bench_phase_insns[i]);
}

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
