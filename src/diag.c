/*
 * diag.c -- one-line messages and fatal errors that never allocate.
 *
 * They run inside malloc and free, possibly with our locks held or while the
 * heap is corrupt, so they format into a stack buffer with a tiny printf of
 * their own (%s %c %d %u %zu %zx %lu %llu %p %%) and write(2) it to fd 2.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static size_t put_unsigned(char *buf, size_t cap, size_t at, unsigned long long value, unsigned base)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = "0123456789abcdef"[value % base];
        value /= base;
    } while (value != 0);
    while (n > 0 && at + 1 < cap)
        buf[at++] = digits[--n];
    return at;
}

size_t pymi_format(char *buf, size_t cap, const char *fmt, va_list ap)
{
    size_t at = 0;
    for (const char *f = fmt; *f != '\0' && at + 1 < cap; f++) {
        if (*f != '%') {
            buf[at++] = *f;
            continue;
        }
        f++;
        int longs = 0, size_t_arg = 0;
        while (*f == 'l') { longs++; f++; }
        if (*f == 'z') { size_t_arg = 1; f++; }
        switch (*f) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            for (s = s ? s : "(null)"; *s != '\0' && at + 1 < cap; s++)
                buf[at++] = *s;
            break;
        }
        case 'c':
            buf[at++] = (char)va_arg(ap, int);
            break;
        case 'd': {
            long long v = longs ? va_arg(ap, long) : va_arg(ap, int);
            if (v < 0 && at + 1 < cap) {
                buf[at++] = '-';
                v = -v;
            }
            at = put_unsigned(buf, cap, at, (unsigned long long)v, 10);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v;
            if (size_t_arg)
                v = va_arg(ap, size_t);
            else if (longs == 2)
                v = va_arg(ap, unsigned long long);
            else if (longs == 1)
                v = va_arg(ap, unsigned long);
            else
                v = va_arg(ap, unsigned);
            at = put_unsigned(buf, cap, at, v, *f == 'x' ? 16 : 10);
            break;
        }
        case 'p':
            if (at + 3 < cap) {
                buf[at++] = '0';
                buf[at++] = 'x';
            }
            at = put_unsigned(buf, cap, at, (uintptr_t)va_arg(ap, void *), 16);
            break;
        case '%':
            buf[at++] = '%';
            break;
        default:
            return at;  /* unknown conversion: stop rather than misread va_args */
        }
    }
    buf[at] = '\0';
    return at;
}

static void vmessage(const char *fmt, va_list ap)
{
    char line[512];
    int saved = errno;
    size_t n = 9;
    for (size_t i = 0; i < n; i++)
        line[i] = "pymalloc: "[i];
    line[n++] = ' ';
    n += pymi_format(line + n, sizeof line - n - 1, fmt, ap);
    line[n++] = '\n';
    for (size_t done = 0; done < n;) {
        ssize_t w = write(2, line + done, n - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    errno = saved;
}

void pymi_message(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

void pymi_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    abort();
}

void pymi_assert_fail(const char *what, const char *file, int line)
{
    pymi_fatal("internal assertion failed: %s (%s:%d)", what, file, line);
}

/* Reads up to cap - 1 bytes of a small /proc file; 0 when it cannot. */
static size_t read_proc(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t used = 0;
    ssize_t n;
    while (used + 1 < cap && (n = read(fd, buf + used, cap - 1 - used)) > 0)
        used += (size_t)n;
    close(fd);
    buf[used] = '\0';
    return used;
}

const char *pymi_program_name(char *buf, size_t cap)
{
    int saved = errno;
    /* argv[0] (up to its NUL), else the kernel's 15-character comm. */
    if (read_proc("/proc/self/cmdline", buf, cap) == 0 || buf[0] == '\0') {
        size_t n = read_proc("/proc/self/comm", buf, cap);
        if (n > 0 && buf[n - 1] == '\n')
            buf[n - 1] = '\0';
        if (buf[0] == '\0' && cap > 1) {
            buf[0] = '?';
            buf[1] = '\0';
        }
    }
    errno = saved;
    return buf;
}
