/*
 * deadline.h -- run a scenario in a child process with a deadline, so that a
 * deadlock fails the test instead of hanging `make check`.
 *
 * The child leads its own process group; at the deadline, and after it ends,
 * the whole group is killed with SIGKILL, so a hung child takes whatever it
 * forked (a hung grandchild, a signal sender) with it.  No sleeps: the
 * parent waits on a pidfd with poll's timeout.
 */
#ifndef PYM_TEST_DEADLINE_H
#define PYM_TEST_DEADLINE_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

typedef struct deadline_result {
    int timed_out;   /* 1: killed at the deadline (a hang) */
    int status;      /* waitpid status otherwise */
    double seconds;  /* how long the child ran */
} deadline_result_t;

static inline double deadline_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs exit(body(arg)) in a child; returns -1 when fork or pidfd_open failed. */
static inline int deadline_run(int (*body)(void *), void *arg, unsigned timeout_s,
                               deadline_result_t *out)
{
    fflush(NULL);
    double start = deadline_now();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0);
        exit(body(arg));
    }
    setpgid(pid, pid);   /* also here: no race with the kill below */
    int pidfd = pidfd_open(pid, 0);
    if (pidfd < 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    out->timed_out = 1;
    for (;;) {
        double left = start + timeout_s - deadline_now();
        if (left <= 0)
            break;
        struct pollfd fd = { .fd = pidfd, .events = POLLIN };
        int ready = poll(&fd, 1, (int)(left * 1000) + 1);
        if (ready > 0) {
            out->timed_out = 0;
            break;
        }
        if (ready < 0 && errno != EINTR)
            break;
    }
    out->seconds = deadline_now() - start;
    kill(-pid, SIGKILL);   /* the group: stragglers, or everything on a timeout */
    while (waitpid(pid, &out->status, 0) < 0 && errno == EINTR)
        continue;
    close(pidfd);
    return 0;
}

/* Runs body with the deadline and makes it one TAP check, `name`: it ended
 * in time with exit status 0.  A note says how it ended.  Returns the
 * check's result. */
static inline int deadline_check(int (*body)(void *), unsigned timeout_s, const char *name)
{
    deadline_result_t r;
    int started = deadline_run(body, NULL, timeout_s, &r) == 0;
    int exited = started && !r.timed_out && WIFEXITED(r.status);
    char note[160];
    snprintf(note, sizeof note, "%s after %.1f s (limit %u s), exit status %d",
             !started ? "not started" : r.timed_out ? "HUNG, killed" : "ended",
             started ? r.seconds : 0.0, timeout_s, exited ? WEXITSTATUS(r.status) : -1);
    tap_note(note);
    return tap_check(exited && WEXITSTATUS(r.status) == 0, name);
}

#endif /* PYM_TEST_DEADLINE_H */
