/*
 * child.h -- run a function in a forked child process, capture what it
 * writes to stderr, and wait for it with a deadline.
 *
 * Used by the tests that expect a process to die (misuse must abort with our
 * message) and by the fork tests, where a deadlock in the child must fail the
 * test instead of hanging `make check`: past the deadline the child is killed
 * with SIGKILL and the result says it timed out.
 */
#ifndef PYM_TEST_CHILD_H
#define PYM_TEST_CHILD_H

#include <stddef.h>

#define CHILD_STDERR_MAX 4096

typedef struct child_result {
    int timed_out;      /* 1 when the child was killed at the deadline */
    int status;         /* waitpid status, valid when timed_out == 0 */
    size_t stderr_len;  /* bytes kept in stderr_text (the first ones) */
    char stderr_text[CHILD_STDERR_MAX + 1];  /* NUL-terminated */
} child_result_t;

/* Flushes stdio (so the child cannot print the parent's buffered output a
 * second time), forks, and in the child redirects stderr into a pipe and
 * calls exit(body(arg)) -- exit, not _exit, so atexit handlers and library
 * destructors run in the child too.  Returns 0 when the child was started
 * and waited for (or killed), -1 when fork or pipe failed. */
int child_run(int (*body)(void *arg), void *arg, unsigned timeout_ms,
              child_result_t *out);

/* For a child body that is about to abort on purpose: no core file. */
void child_no_core_dump(void);

/* 1 when the child exited normally with status code, else 0. */
int child_exited_with(const child_result_t *result, int code);
/* 1 when the child was ended by signal signo, else 0. */
int child_killed_by(const child_result_t *result, int signo);
/* 1 when one line of the child's stderr contains every word of the
 * NULL-terminated list, compared case-insensitively, else 0. */
int child_stderr_line_has(const child_result_t *result, const char *const *words);

#endif /* PYM_TEST_CHILD_H */
