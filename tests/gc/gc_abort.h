/*
 * gc_abort.h -- for the GC tests that check a fatal error: run a function
 * in a child process and expect abort() with a one-line message on stderr.
 * Include after gc_test.h.
 */
#ifndef GC_ABORT_H
#define GC_ABORT_H
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn(arg) in a child; expects it to abort with one line on stderr
 * that contains `what` and, unless NULL, `also`. */
static inline void expect_abort_message(void (*fn)(void *), void *arg, const char *what, const char *also)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    char msg[512] = {0};
    size_t got = 0;
    ssize_t r;
    while (got < sizeof msg - 1 && (r = read(fds[0], msg + got, sizeof msg - 1 - got)) > 0)
        got += (size_t)r;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    if (!strstr(msg, what) || (also && !strstr(msg, also)))
        fail_msg("expected \"%s\"%s%s in: %s", what, also ? " and " : "", also ? also : "", msg);
    assert_ptr_equal(strchr(msg, '\n'), msg + strlen(msg) - 1);   /* one line */
}
#endif
