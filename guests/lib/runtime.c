/* tsvisor bare-metal guest framework: UART output, exit, checks, trap
 * handlers, DTB bootargs, libc bits. */
#include "tsv.h"

/* ------------------------------------------------------------ UART */
#define UART_THR 0
#define UART_LSR 5
#define LSR_THRE 0x20

void putchar_(int c)
{
    volatile uint8_t *u = (volatile uint8_t *)UART0_BASE;
    if (c == '\n')
        putchar_('\r');
    while (!(u[UART_LSR] & LSR_THRE))
        ;
    u[UART_THR] = (uint8_t)c;
}

void puts_(const char *s)
{
    while (*s)
        putchar_(*s++);
}

static void print_num(uint64_t v, unsigned base, int neg, int width, int zero, int upper)
{
    char buf[24];
    int n = 0;
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        buf[n++] = digits[v % base];
        v /= base;
    } while (v);
    if (neg)
        buf[n++] = '-';
    while (n < width--)
        putchar_(zero ? '0' : ' ');
    while (n)
        putchar_(buf[--n]);
}

void printf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            putchar_(*fmt);
            continue;
        }
        fmt++;
        int zero = 0, width = 0, lng = 0;
        if (*fmt == '0') {
            zero = 1;
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l') {
            lng++;
            fmt++;
        }
        switch (*fmt) {
        case 'd': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            print_num(v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, width, zero, 0);
            break;
        }
        case 'u': {
            uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            print_num(v, 10, 0, width, zero, 0);
            break;
        }
        case 'x':
        case 'X': {
            uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            print_num(v, 16, 0, width, zero, *fmt == 'X');
            break;
        }
        case 'p':
            puts_("0x");
            print_num(va_arg(ap, uint64_t), 16, 0, 16, 1, 0);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            puts_(s ? s : "(null)");
            break;
        }
        case 'c':
            putchar_(va_arg(ap, int));
            break;
        case '%':
            putchar_('%');
            break;
        default:
            putchar_('%');
            putchar_(*fmt);
            break;
        }
    }
    va_end(ap);
}

/* ------------------------------------------------------------ exit */
void tsv_exit(uint32_t code)
{
    mmio_write32(TEST_BASE, code);
    for (;;)
        asm volatile("wfi");
}

void tsv_pass(void)
{
    printf("PASS %s (%lu checks)\n", tsv_test_name, tsv_checks);
    tsv_exit(TEST_PASS);
}

void tsv_fail(unsigned id)
{
    if (id == 0 || id > 0xffff)
        id = 0xffff;
    printf("FAIL %s (check #%u)\n", tsv_test_name, id);
    tsv_exit((id << 16) | TEST_FAIL);
}

/* ------------------------------------------------------------ checks */
unsigned tsv_first_failure;
unsigned long tsv_checks;
static unsigned long tsv_failures;
static unsigned long tsv_mutate; /* bootargs "tsv.mutate=K": K-th check expects wrong value */

int tsv_check(unsigned id, const char *what, uint64_t got, uint64_t exp)
{
    tsv_checks++;
    if (tsv_mutate && tsv_checks == tsv_mutate)
        exp = ~exp;
    if (got == exp)
        return 1;
    tsv_failures++;
    if (tsv_failures <= 64)
        printf("FAIL check #%u (%s): %s: got 0x%lx expected 0x%lx\n", id, tsv_test_name, what, got, exp);
    if (!tsv_first_failure)
        tsv_first_failure = id ? id : 0xffff;
    return 0;
}

void tsv_section(const char *name)
{
    printf("-- %s\n", name);
}

/* ------------------------------------------------------------ traps */
struct trap_rec g_mtrap, g_strap;
volatile int tsv_trap_h;
void (*volatile m_irq_hook)(uint64_t cause);
void (*volatile s_irq_hook)(uint64_t cause);
static volatile int m_in_handler;
extern char run_mode_resume[];

void trap_reset(void)
{
    memset((void *)&g_mtrap, 0, sizeof g_mtrap);
    memset((void *)&g_strap, 0, sizeof g_strap);
}

void trap_expect(void)
{
    memset((void *)&g_mtrap, 0, sizeof g_mtrap);
    g_mtrap.expected = 1;
    asm volatile("" ::: "memory");
}

void trap_expect_abort(void)
{
    trap_expect();
    g_mtrap.expected = 2;
}

void strap_expect(void)
{
    memset((void *)&g_strap, 0, sizeof g_strap);
    g_strap.expected = 1;
    asm volatile("" ::: "memory");
}

uint64_t trap_count(void)
{
    g_mtrap.expected = 0;
    return g_mtrap.count;
}

uint64_t strap_count(void)
{
    g_strap.expected = 0;
    return g_strap.count;
}

static void record(struct trap_rec *r, uint64_t cause, uint64_t epc, uint64_t tval, uint64_t status, uint64_t prev)
{
    if (r->count < ARRAY_SIZE(r->causes))
        r->causes[r->count] = cause;
    r->count++;
    r->cause = cause;
    r->epc = epc;
    r->tval = tval;
    r->status = status;
    r->prev_priv = prev;
    /* (CSR numbers: the assembler may not know the H extension's names) */
    if (r == &g_mtrap && (tsv_trap_h & 1))
        r->tval2 = csr_read(0x34b); /* mtval2 */
    if (r == &g_strap && (tsv_trap_h & 2)) {
        r->tval2 = csr_read(0x643); /* htval */
        r->hstatus = csr_read(0x600);
    }
}

static const char *cause_name(uint64_t c)
{
    static const char *const exc[] = {
        "misaligned fetch", "fetch access fault", "illegal instruction", "breakpoint",
        "misaligned load", "load access fault", "misaligned store", "store access fault",
        "ecall from U", "ecall from S", "?", "ecall from M",
        "fetch page fault", "load page fault", "?", "store page fault",
    };
    if (c & CAUSE_INTR)
        return "interrupt";
    return c < 16 ? exc[c] : "?";
}

struct frame {
    uint64_t x[32];
};

void m_trap_handler(struct frame *f)
{
    uint64_t cause = csr_read(mcause), epc = csr_read(mepc), tval = csr_read(mtval);
    uint64_t status = csr_read(mstatus);
    uint64_t prev = (status & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT;

    if (m_in_handler) {
        printf("\nFATAL: nested M trap cause=0x%lx epc=0x%lx tval=0x%lx\n", cause, epc, tval);
        tsv_fail(FAIL_NESTED_TRAP);
    }
    m_in_handler = 1;

    if (cause & CAUSE_INTR) {
        record(&g_mtrap, cause, epc, tval, status, prev);
        if (!m_irq_hook) {
            printf("\nFATAL: unexpected M interrupt cause=0x%lx epc=0x%lx\n", cause, epc);
            tsv_fail(FAIL_UNEXPECTED_TRAP);
        }
        m_irq_hook(cause);
        m_in_handler = 0;
        return;
    }
    if ((cause == CAUSE_ECALL_U || cause == CAUSE_ECALL_S || cause == CAUSE_ECALL_VS || cause == CAUSE_ECALL_M) &&
        f->x[17] == ECALL_MAGIC_RETURN) {
        /* run_mode() trampoline: back to the M-mode caller, a0 = result */
        csr_write(mepc, (uint64_t)run_mode_resume);
        csr_set(mstatus, MSTATUS_MPP);
        /* back to M-mode with V=0: clear MPV (bit 39, H extension; QEMU 7.2
         * applies MPV on mret even when MPP=M) */
        csr_clear(mstatus, 1UL << 39);
        m_in_handler = 0;
        return;
    }
    if ((cause == CAUSE_ECALL_U || cause == CAUSE_ECALL_S || cause == CAUSE_ECALL_VS) && f->x[17] == ECALL_MAGIC_FATAL) {
        printf("\nFATAL from lower mode: code 0x%lx (epc 0x%lx)\n", f->x[10], epc);
        if (g_strap.count)
            printf("  last S trap: cause=0x%lx (%s) sepc=0x%lx stval=0x%lx\n", g_strap.cause,
                   cause_name(g_strap.cause), g_strap.epc, g_strap.tval);
        tsv_fail(FAIL_LOWER_FATAL);
    }
    if (g_mtrap.expected) {
        record(&g_mtrap, cause, epc, tval, status, prev);
        if (g_mtrap.expected == 2) { /* abort the run_mode() call */
            g_mtrap.expected = 0;
            f->x[10] = -1UL;
            csr_write(mepc, (uint64_t)run_mode_resume);
            csr_set(mstatus, MSTATUS_MPP);
            csr_clear(mstatus, 1UL << 39); /* V=0, as above */
            m_in_handler = 0;
            return;
        }
        g_mtrap.expected = 0;
        csr_write(mepc, f->x[31]); /* landing address in t6 */
        m_in_handler = 0;
        return;
    }
    printf("\nFATAL: unexpected trap into M: cause=0x%lx (%s) mepc=0x%lx mtval=0x%lx from priv %lu\n",
           cause, cause_name(cause), epc, tval, prev);
    tsv_fail(FAIL_UNEXPECTED_TRAP);
}

void s_trap_handler(struct frame *f)
{
    uint64_t cause = csr_read(scause), epc = csr_read(sepc), tval = csr_read(stval);
    uint64_t status = csr_read(sstatus);
    uint64_t prev = (status & MSTATUS_SPP) ? PRV_S : PRV_U;

    if (cause == CAUSE_ECALL_U && (f->x[17] == ECALL_MAGIC_RETURN || f->x[17] == ECALL_MAGIC_FATAL)) {
        /* a run_mode() return / fatal report from U, delegated here by
         * medeleg: forward it to M (which doesn't come back) */
        csr_write(sscratch, (uint64_t)(f + 1));
        register uint64_t a0 asm("a0") = f->x[10];
        register uint64_t a7 asm("a7") = f->x[17];
        asm volatile("ecall" : : "r"(a0), "r"(a7) : "memory");
        __builtin_unreachable();
    }
    record(&g_strap, cause, epc, tval, status, prev);
    if (cause & CAUSE_INTR) {
        if (!s_irq_hook)
            lower_fatal(0x5000 | (cause & 0xff));
        s_irq_hook(cause);
        return;
    }
    if (g_strap.expected) {
        g_strap.expected = 0;
        csr_write(sepc, f->x[31]);
        return;
    }
    lower_fatal(0x5100 | cause);
}

uint64_t run_mode(int mode, uint64_t (*fn)(uint64_t), uint64_t arg)
{
    return run_mode_va(mode, fn, arg, 0);
}

/* ------------------------------------------------------------ DTB */
uint64_t tsv_boot_hartid, tsv_boot_dtb;
const char *tsv_bootargs = "";

static uint32_t be32(const void *p)
{
    const uint8_t *b = p;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static void parse_dtb(uint64_t dtb)
{
    /* RAM on virt is 0x80000000.., ignore anything else */
    if (dtb < 0x80000000UL || dtb >= 0x100000000UL || (dtb & 3))
        return;
    const uint8_t *h = (const uint8_t *)dtb;
    if (be32(h) != 0xd00dfeed)
        return;
    uint32_t off_struct = be32(h + 8), off_strings = be32(h + 12);
    uint32_t size_struct = be32(h + 36);
    const uint8_t *p = h + off_struct, *end = p + size_struct;
    const char *strings = (const char *)h + off_strings;
    int depth = 0, in_chosen = 0;
    while (p < end) {
        uint32_t tok = be32(p);
        p += 4;
        if (tok == 1) { /* BEGIN_NODE */
            const char *name = (const char *)p;
            depth++;
            if (depth == 2 && strncmp(name, "chosen", 7) == 0)
                in_chosen = 1;
            p += (strlen(name) + 4) & ~3UL;
        } else if (tok == 2) { /* END_NODE */
            if (depth == 2)
                in_chosen = 0;
            depth--;
        } else if (tok == 3) { /* PROP */
            uint32_t len = be32(p), nameoff = be32(p + 4);
            p += 8;
            if (in_chosen && strncmp(strings + nameoff, "bootargs", 9) == 0 && len)
                tsv_bootargs = (const char *)p;
            p += (len + 3) & ~3UL;
        } else if (tok == 4) { /* NOP */
        } else {
            break;
        }
    }
}

static unsigned long bootarg_num(const char *key)
{
    size_t kl = strlen(key);
    for (const char *s = tsv_bootargs; *s; s++) {
        if ((s == tsv_bootargs || s[-1] == ' ') && strncmp(s, key, kl) == 0 && s[kl] == '=') {
            unsigned long v = 0;
            for (s += kl + 1; *s >= '0' && *s <= '9'; s++)
                v = v * 10 + (*s - '0');
            return v;
        }
    }
    return 0;
}

void tsv_start(uint64_t hartid, uint64_t dtb)
{
    tsv_boot_hartid = hartid;
    tsv_boot_dtb = dtb;
    parse_dtb(dtb);
    tsv_mutate = bootarg_num("tsv.mutate");
    printf("tsvisor bare-metal: %s\n", tsv_test_name);
    if (tsv_mutate)
        printf("(mutation run: check %lu expects a wrong value)\n", tsv_mutate);
    int r = main();
    if (tsv_first_failure) {
        printf("%lu of %lu checks failed\n", tsv_failures, tsv_checks);
        tsv_fail(tsv_first_failure);
    }
    if (r != 0) {
        printf("main returned %d\n", r);
        tsv_fail(r > 0 && r < 0xffff ? (unsigned)r : FAIL_MAIN_RET);
    }
    tsv_pass();
}

/* ------------------------------------------------------------ libc bits */
void *memset(void *d, int c, size_t n)
{
    uint8_t *p = d;
    if (((uintptr_t)p & 7) == 0 && (n & 7) == 0) {
        uint64_t v = (uint8_t)c;
        v |= v << 8;
        v |= v << 16;
        v |= v << 32;
        for (uint64_t *q = d; n; n -= 8)
            *q++ = v;
        return d;
    }
    while (n--)
        *p++ = (uint8_t)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;
    if ((((uintptr_t)dp | (uintptr_t)sp) & 7) == 0) {
        for (; n >= 8; n -= 8, dp += 8, sp += 8)
            *(uint64_t *)dp = *(const uint64_t *)sp;
    }
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;
    if (dp <= sp || dp >= sp + n)
        return memcpy(d, s, n);
    while (n--)
        dp[n] = sp[n];
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (uint8_t)*a - (uint8_t)*b;
        if (!*a)
            return 0;
    }
    return 0;
}
