/*
 * pvkernel: SBI calls (SBI v2.0 ch. 3: a7 = extension ID, a6 = function ID,
 * a0..a5 arguments; a0 = error, a1 = value on return). Both builds use the
 * standard extensions the same way; pv's hypercalls (tsvi.h) are SBI calls too.
 */
#ifndef PVKERNEL_SBI_H
#define PVKERNEL_SBI_H
#include <stdint.h>

#define SBI_EXT_LEGACY_PUTCHAR 0x01
#define SBI_EXT_LEGACY_SHUTDOWN 0x08
#define SBI_EXT_BASE 0x10
#define SBI_EXT_TIME 0x54494d45
#define SBI_EXT_SRST 0x53525354
#define SBI_EXT_DBCN 0x4442434e

#define SBI_BASE_PROBE_EXTENSION 3
#define SBI_SRST_SHUTDOWN 0
#define SBI_SRST_REASON_NONE 0
#define SBI_SRST_REASON_FAILURE 1

/** An SBI call's result. */
struct sbiret {
    long error;
    long value;
};

/*
 * Only a0 and a1 change (SBI v2.0 §3). Under pv this holds for IRQ_ENABLE and
 * IDLE too, which may deliver an interrupt at the instruction after the
 * ecall: the trap saves a0, a1, a6 and a7 in the shared page and TRAP_RETURN
 * reloads them (docs/pv-abi.md).
 */
static inline struct sbiret sbi_call(uint64_t ext, uint64_t fid, uint64_t arg0, uint64_t arg1, uint64_t arg2)
{
    register uint64_t a0 asm("a0") = arg0;
    register uint64_t a1 asm("a1") = arg1;
    register uint64_t a2 asm("a2") = arg2;
    register uint64_t a6 asm("a6") = fid;
    register uint64_t a7 asm("a7") = ext;
    asm volatile("ecall" : "+r"(a0), "+r"(a1) : "r"(a2), "r"(a6), "r"(a7) : "memory");
    return (struct sbiret){ (long)a0, (long)a1 };
}

/** True when the SBI implementation has extension `ext` (Base, §4.8). */
static inline int sbi_probe_extension(uint64_t ext)
{
    struct sbiret r = sbi_call(SBI_EXT_BASE, SBI_BASE_PROBE_EXTENSION, ext, 0, 0);
    return r.error == 0 && r.value != 0;
}

/** Programs the next timer interrupt at `time` (TIME, §6.1); ~0 cancels. */
static inline void sbi_set_timer(uint64_t time)
{
    sbi_call(SBI_EXT_TIME, 0, time, 0, 0);
}

/** Writes `len` bytes at physical address `pa` (DBCN console_write, §12.1). */
static inline struct sbiret sbi_debug_console_write(uint64_t len, uint64_t pa)
{
    return sbi_call(SBI_EXT_DBCN, 0, len, pa, 0); /* base_addr_hi = 0 */
}

/** Legacy console_putchar (§5.2), for SBI implementations without DBCN. */
static inline void sbi_legacy_putchar(int c)
{
    sbi_call(SBI_EXT_LEGACY_PUTCHAR, 0, (uint64_t)c, 0, 0);
}

/** System reset (SRST, §10.1); returns only when the call failed. */
static inline struct sbiret sbi_system_reset(uint64_t type, uint64_t reason)
{
    return sbi_call(SBI_EXT_SRST, 0, type, reason, 0);
}

/** Legacy shutdown (§5.7), the fallback when SRST is missing. */
static inline void sbi_legacy_shutdown(void)
{
    sbi_call(SBI_EXT_LEGACY_SHUTDOWN, 0, 0, 0, 0);
}
#endif
