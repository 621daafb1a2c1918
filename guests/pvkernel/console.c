/*
 * pvkernel: console output through the SBI, a line at a time: DBCN
 * console_write (SBI v2.0 ch. 12) when the SBI implementation has it, else
 * the legacy console_putchar (one call per character; OpenSBI 1.1 has no
 * DBCN). The same in both builds.
 */
#include "kernel.h"
#include "sbi.h"

static int have_dbcn;
static char line[256];
static unsigned line_len;

void console_init(void)
{
    have_dbcn = sbi_probe_extension(SBI_EXT_DBCN);
}

static void flush(void)
{
    unsigned done = 0;
    while (have_dbcn && done < line_len) {
        /* The buffer's kernel address is its physical address (1:1 map). */
        struct sbiret r = sbi_debug_console_write(line_len - done, (uint64_t)&line[done]);
        if (r.error) {
            have_dbcn = 0;
            break;
        }
        done += (unsigned)r.value;
    }
    for (; done < line_len; done++)
        sbi_legacy_putchar(line[done]);
    line_len = 0;
}

static void put(char c)
{
    line[line_len++] = c;
    if (c == '\n' || line_len == sizeof(line))
        flush();
}

static void put_number(uint64_t v, unsigned base, unsigned width, char pad, int negative)
{
    char digits[24];
    unsigned n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    if (negative)
        digits[n++] = '-';
    while (width > n) {
        put(pad);
        width--;
    }
    while (n > 0)
        put(digits[--n]);
}

/* %s %c %d %u %x %p, with an optional 0 flag, width and l modifier. */
void vprintf(const char *fmt, __builtin_va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(*fmt);
            continue;
        }
        char pad = ' ';
        unsigned width = 0;
        int is_long = 0;
        fmt++;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (unsigned)(*fmt++ - '0');
        while (*fmt == 'l') {
            is_long = 1;
            fmt++;
        }
        switch (*fmt) {
        case 's': {
            const char *s = __builtin_va_arg(ap, const char *);
            while (*s)
                put(*s++);
            break;
        }
        case 'c':
            put((char)__builtin_va_arg(ap, int));
            break;
        case 'd': {
            int64_t v = is_long ? __builtin_va_arg(ap, long) : __builtin_va_arg(ap, int);
            put_number(v < 0 ? -(uint64_t)v : (uint64_t)v, 10, width, pad, v < 0);
            break;
        }
        case 'u':
            put_number(is_long ? __builtin_va_arg(ap, unsigned long) : __builtin_va_arg(ap, unsigned), 10, width, pad, 0);
            break;
        case 'x':
            put_number(is_long ? __builtin_va_arg(ap, unsigned long) : __builtin_va_arg(ap, unsigned), 16, width, pad, 0);
            break;
        case 'p':
            put('0');
            put('x');
            put_number((uint64_t)__builtin_va_arg(ap, void *), 16, width, pad, 0);
            break;
        case '%':
            put('%');
            break;
        default: /* unknown: print as is */
            put('%');
            if (*fmt == '\0')
                return;
            put(*fmt);
            break;
        }
    }
}

void printf(const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    vprintf(fmt, ap);
    __builtin_va_end(ap);
}

/* Also what the compiler calls for zeroing loops. Doublewords when it can:
 * zeroing demand-paged frames should not dominate phase 5. */
void *memset(void *d, int c, size_t n)
{
    uint8_t *p = d;
    if ((((uintptr_t)p | n) & 7) == 0) {
        uint64_t v = (uint8_t)c * 0x0101010101010101UL;
        for (uint64_t *q = d; n; n -= 8)
            *q++ = v;
        return d;
    }
    while (n--)
        *p++ = (uint8_t)c;
    return d;
}
