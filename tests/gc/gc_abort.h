/*
 * gc_abort.h -- for the GC tests that check a fatal error: run a function
 * in a child process (tests/common/child.c, with its deadline) and expect
 * abort() with a one-line message on stderr.  Include after gc_test.h;
 * link tests/common/child.c.
 */
#ifndef GC_ABORT_H
#define GC_ABORT_H
#include <signal.h>
#include <string.h>
#include "child.h"

typedef struct gc_abort_call {
    void (*fn)(void *);
    void *arg;
} gc_abort_call;

static inline int gc_abort_child(void *call)
{
    const gc_abort_call *c = call;
    child_no_core_dump();
    c->fn(c->arg);
    return 0;
}

/* Runs fn(arg) in a child; expects it to abort with one line on stderr
 * that contains `what` and, unless NULL, `also`. */
static inline void expect_abort_message(void (*fn)(void *), void *arg, const char *what, const char *also)
{
    static child_result_t r;
    gc_abort_call call = {fn, arg};
    assert_int_equal(child_run(gc_abort_child, &call, 10000, &r), 0);
    assert_true(child_killed_by(&r, SIGABRT));
    const char *msg = r.stderr_text;
    if (!strstr(msg, what) || (also && !strstr(msg, also)))
        fail_msg("expected \"%s\"%s%s in: %s", what, also ? " and " : "", also ? also : "", msg);
    assert_ptr_equal(strchr(msg, '\n'), msg + strlen(msg) - 1);   /* one line */
}
#endif
