/*
 * tsvisor bare-metal guest framework: shared declarations.
 *
 * Programs start in M-mode on hart 0 at 0x80000000 (see crt.S / link.ld).
 * main() returns 0 for "all passed"; any failed CHECK makes the program exit
 * with (N << 16) | 0x3333 on the sifive,test device, N = the first failing
 * check's id (the source line of the CHECK unless given explicitly).
 */
#ifndef TSV_H
#define TSV_H

typedef unsigned char uint8_t;
typedef signed char int8_t;
typedef unsigned short uint16_t;
typedef short int16_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned long uint64_t;
typedef long int64_t;
typedef unsigned long uintptr_t;
typedef long intptr_t;
typedef unsigned long size_t;
typedef __builtin_va_list va_list;
#define va_start(v, l) __builtin_va_start(v, l)
#define va_end(v) __builtin_va_end(v)
#define va_arg(v, t) __builtin_va_arg(v, t)
#define NULL ((void *)0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NOINLINE __attribute__((noinline))
#define ALIGNED(n) __attribute__((aligned(n)))

/* ---------------------------------------------------------------- devices */
#define UART0_BASE 0x10000000UL
#define TEST_BASE 0x100000UL /* sifive,test */
#define CLINT_BASE 0x2000000UL
#define CLINT_MSIP (CLINT_BASE + 0x0)
#define CLINT_MTIMECMP (CLINT_BASE + 0x4000)
#define CLINT_MTIME (CLINT_BASE + 0xbff8)
#define TEST_PASS 0x5555
#define TEST_FAIL 0x3333
/* A physical address QEMU's virt board (7.2) leaves unmapped: between the
 * platform bus (0x4000000..0x6000000) and the PLIC (0xc000000). Loads,
 * stores and fetches there raise access faults. */
#define UNMAPPED_PA 0x08000000UL

static inline void mmio_write32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint32_t mmio_read32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write64(uintptr_t a, uint64_t v) { *(volatile uint64_t *)a = v; }
static inline uint64_t mmio_read64(uintptr_t a) { return *(volatile uint64_t *)a; }
static inline uint64_t mtime(void) { return mmio_read64(CLINT_MTIME); }

/* ---------------------------------------------------------------- CSRs */
#define STR_(x) #x
#define STR(x) STR_(x)
#define csr_read(csr) ({ uint64_t v_; asm volatile("csrr %0, " STR(csr) : "=r"(v_)::"memory"); v_; })
#define csr_write(csr, val) ({ asm volatile("csrw " STR(csr) ", %0" ::"rK"((uint64_t)(val)) : "memory"); })
#define csr_set(csr, val) ({ asm volatile("csrs " STR(csr) ", %0" ::"rK"((uint64_t)(val)) : "memory"); })
#define csr_clear(csr, val) ({ asm volatile("csrc " STR(csr) ", %0" ::"rK"((uint64_t)(val)) : "memory"); })
#define csr_swap(csr, val) ({ uint64_t v_; asm volatile("csrrw %0, " STR(csr) ", %1" : "=r"(v_) : "rK"((uint64_t)(val)) : "memory"); v_; })

/* mstatus bits */
#define MSTATUS_SIE (1UL << 1)
#define MSTATUS_MIE (1UL << 3)
#define MSTATUS_SPIE (1UL << 5)
#define MSTATUS_UBE (1UL << 6)
#define MSTATUS_MPIE (1UL << 7)
#define MSTATUS_SPP (1UL << 8)
#define MSTATUS_MPP_SHIFT 11
#define MSTATUS_MPP (3UL << 11)
#define MSTATUS_FS (3UL << 13)
#define MSTATUS_FS_INITIAL (1UL << 13)
#define MSTATUS_FS_CLEAN (2UL << 13)
#define MSTATUS_FS_DIRTY (3UL << 13)
#define MSTATUS_XS (3UL << 15)
#define MSTATUS_MPRV (1UL << 17)
#define MSTATUS_SUM (1UL << 18)
#define MSTATUS_MXR (1UL << 19)
#define MSTATUS_TVM (1UL << 20)
#define MSTATUS_TW (1UL << 21)
#define MSTATUS_TSR (1UL << 22)
#define MSTATUS_UXL (3UL << 32)
#define MSTATUS_SXL (3UL << 34)
#define MSTATUS_SD (1UL << 63)

/* interrupt numbers */
#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define IRQ_MEI 11
#define MIP_SSIP (1UL << IRQ_SSI)
#define MIP_MSIP (1UL << IRQ_MSI)
#define MIP_STIP (1UL << IRQ_STI)
#define MIP_MTIP (1UL << IRQ_MTI)
#define MIP_SEIP (1UL << IRQ_SEI)
#define MIP_MEIP (1UL << IRQ_MEI)
#define CAUSE_INTR (1UL << 63)

/* exception causes */
#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS 1
#define CAUSE_ILLEGAL 2
#define CAUSE_BREAKPOINT 3
#define CAUSE_MISALIGNED_LOAD 4
#define CAUSE_LOAD_ACCESS 5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS 7
#define CAUSE_ECALL_U 8
#define CAUSE_ECALL_S 9
#define CAUSE_ECALL_VS 10
#define CAUSE_ECALL_M 11
#define CAUSE_FETCH_PAGE 12
#define CAUSE_LOAD_PAGE 13
#define CAUSE_STORE_PAGE 15

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

/* ---------------------------------------------------------------- output */
void putchar_(int c);
void puts_(const char *s); /* no newline added */
void printf_(const char *fmt, ...);
#define printf printf_

/* ---------------------------------------------------------------- exit */
void tsv_exit(uint32_t code) __attribute__((noreturn));
void tsv_pass(void) __attribute__((noreturn));
void tsv_fail(unsigned id) __attribute__((noreturn));

/* ---------------------------------------------------------------- checks */
extern const char *tsv_test_name;
extern unsigned tsv_first_failure; /* 0 = none yet */
extern unsigned long tsv_checks;
/* Compare got against exp; on mismatch print and record (first failure wins).
 * Returns 1 if equal. */
int tsv_check(unsigned id, const char *what, uint64_t got, uint64_t exp);
#define CHECK(got, exp) tsv_check(__LINE__, #got, (uint64_t)(got), (uint64_t)(exp))
#define CHECKN(what, got, exp) tsv_check(__LINE__, (what), (uint64_t)(got), (uint64_t)(exp))
#define CHECKID(id, what, got, exp) tsv_check((id), (what), (uint64_t)(got), (uint64_t)(exp))
/* Print a section header (only for readability of the log). */
void tsv_section(const char *name);

/* ---------------------------------------------------------------- traps
 * The M-mode trap handler (crt.S + runtime.c) records every trap.
 * Exceptions are fatal unless announced with trap_expect(); an expected
 * exception is recorded and execution resumes at the address held in t6
 * (x31) -- use the TRAP_* asm macros below, which load t6 with the address
 * of the instruction after the one that is expected to trap.
 * Interrupts are passed to m_irq_hook (fatal if none is installed); the hook
 * must clear the interrupt source. */
struct trap_rec {
    volatile uint64_t count;   /* traps recorded since trap_expect()/trap_reset() */
    volatile uint64_t cause, epc, tval, status, prev_priv;
    volatile uint64_t causes[16]; /* first 16 causes in order */
    volatile uint64_t expected;
    /* H extension, recorded only when tsv_trap_h asks: mtval2 (M) or
     * htval (S), and hstatus (S) */
    volatile uint64_t tval2, hstatus;
};
/* Bit 0: the M handler records mtval2; bit 1: the S handler records htval and
 * hstatus (only while it runs in HS-mode: in VS-mode they do not exist). */
extern volatile int tsv_trap_h;
extern struct trap_rec g_mtrap; /* traps taken into M-mode */
extern struct trap_rec g_strap; /* traps taken into S-mode (s_trap_entry) */
extern void (*volatile m_irq_hook)(uint64_t cause);
extern void (*volatile s_irq_hook)(uint64_t cause);
void trap_reset(void);           /* clear both records, expectations off */
void trap_expect(void);          /* clear g_mtrap, expect one exception into M */
void strap_expect(void);         /* clear g_strap, expect one exception into S */
void trap_expect_abort(void);    /* expect one exception into M that aborts the
                                    current run_mode() call (which returns -1) */
uint64_t trap_count(void);       /* end an expectation: traps into M since trap_expect() */
uint64_t strap_count(void);      /* same for S */
extern char m_trap_entry[], s_trap_entry[];

/* asm fragment: t6 := landing address, then the instruction(s) */
#define TRAP_LANDING "la t6, 9f\n"
#define TRAP_END "\n9:\n"

/* Run fn(arg) in privilege mode `mode` (PRV_U/PRV_S/PRV_M) via mret, on the
 * lower-mode stack; fn returns via an ecall trampoline and the value comes
 * back here. `va_off` is added to fn, the trampoline and the stack pointer
 * (for running through an aliased virtual mapping). */
uint64_t run_mode(int mode, uint64_t (*fn)(uint64_t), uint64_t arg);
uint64_t run_mode_va(int mode, uint64_t (*fn)(uint64_t), uint64_t arg, uint64_t va_off);
/* From S/U code: report a fatal error to M (prints and exits). */
void lower_fatal(uint64_t code) __attribute__((noreturn));

/* ---------------------------------------------------------------- misc */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
extern uint64_t tsv_boot_hartid, tsv_boot_dtb;
extern const char *tsv_bootargs; /* /chosen/bootargs from the DTB or "" */
int main(void);

#define ECALL_MAGIC_RETURN 0x7e57c0de5e7e7e7eUL
#define ECALL_MAGIC_FATAL 0x7e57c0defa7a1111UL

/* ids used by the framework itself for non-check failures */
#define FAIL_UNEXPECTED_TRAP 0xfffe
#define FAIL_NESTED_TRAP 0xfffd
#define FAIL_LOWER_FATAL 0xfffc
#define FAIL_MAIN_RET 0xfffb

#endif
