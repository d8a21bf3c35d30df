/*
 * tap.c -- see tap.h.  Lines are formatted into a stack buffer and written
 * with one write(2) each, so the producer works in constructors, atexit
 * handlers and destructors, and does not depend on the allocator under test.
 */
#include "tap.h"

#include <string.h>
#include <unistd.h>

static unsigned tap_next_number = 1;
static int tap_failures;

/* Appends text to line[*len], truncating at the buffer's end. */
static void line_append(char *line, size_t cap, size_t *len, const char *text)
{
    size_t n = strlen(text);
    if (n > cap - *len)
        n = cap - *len;
    memcpy(line + *len, text, n);
    *len += n;
}

static void line_append_unsigned(char *line, size_t cap, size_t *len, unsigned value)
{
    char digits[16];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (n > 0 && *len < cap)
        line[(*len)++] = digits[--n];
}

static void line_write(const char *line, size_t len)
{
    while (len > 0) {
        ssize_t written = write(STDOUT_FILENO, line, len);
        if (written <= 0)
            return;
        line += written;
        len -= (size_t)written;
    }
}

void tap_plan(unsigned count)
{
    char line[32];
    size_t len = 0;
    line_append(line, sizeof line, &len, "1..");
    line_append_unsigned(line, sizeof line, &len, count);
    line_append(line, sizeof line, &len, "\n");
    line_write(line, len);
}

static void tap_result(int passed, const char *name, const char *skip_reason)
{
    char line[512];
    size_t len = 0;
    if (!passed)
        tap_failures++;
    line_append(line, sizeof line - 1, &len, passed ? "ok " : "not ok ");
    line_append_unsigned(line, sizeof line - 1, &len, tap_next_number++);
    line_append(line, sizeof line - 1, &len, " - ");
    line_append(line, sizeof line - 1, &len, name);
    if (skip_reason != NULL) {
        line_append(line, sizeof line - 1, &len, " # SKIP ");
        line_append(line, sizeof line - 1, &len, skip_reason);
    }
    line[len++] = '\n';
    line_write(line, len);
}

int tap_check(int passed, const char *name)
{
    tap_result(passed, name, NULL);
    return passed;
}

void tap_skip(const char *name, const char *reason)
{
    tap_result(1, name, reason);
}

void tap_note(const char *text)
{
    char line[512];
    size_t len = 0;
    line_append(line, sizeof line - 1, &len, "# ");
    line_append(line, sizeof line - 1, &len, text);
    line[len++] = '\n';
    line_write(line, len);
}

int tap_exit_status(void)
{
    return tap_failures == 0 ? 0 : 1;
}
