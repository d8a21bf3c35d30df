/*
 * child.c -- see child.h.  The parent polls two descriptors: the read end of
 * the child's stderr pipe (drained as it fills, so a chatty child cannot
 * block on a full pipe) and a pidfd that becomes readable when the child
 * exits.  poll's timeout is the deadline; nothing sleeps.
 */
#define _GNU_SOURCE 1
#include "child.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Reads what is available on fd into out; returns 0 at end of file. */
static int drain_pipe(int fd, child_result_t *out)
{
    char chunk[1024];
    ssize_t got = read(fd, chunk, sizeof chunk);
    if (got < 0)
        return errno == EINTR || errno == EAGAIN;
    if (got == 0)
        return 0;
    size_t keep = (size_t)got;
    if (keep > CHILD_STDERR_MAX - out->stderr_len)
        keep = CHILD_STDERR_MAX - out->stderr_len;
    memcpy(out->stderr_text + out->stderr_len, chunk, keep);
    out->stderr_len += keep;
    out->stderr_text[out->stderr_len] = '\0';
    return 1;
}

int child_run(int (*body)(void *arg), void *arg, unsigned timeout_ms,
              child_result_t *out)
{
    int pipe_fds[2];
    memset(out, 0, sizeof *out);
    if (pipe(pipe_fds) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(pipe_fds[0]);
        dup2(pipe_fds[1], STDERR_FILENO);
        close(pipe_fds[1]);
        exit(body(arg));
    }
    close(pipe_fds[1]);

    /* Without pidfds (Linux < 5.3) poll wakes every 10 ms to ask waitpid. */
    int pidfd = pidfd_open(pid, 0);
    long long deadline = monotonic_ms() + timeout_ms;
    int pipe_open = 1, exited = 0, reaped = 0;
    while (!exited) {
        long long left = deadline - monotonic_ms();
        if (left <= 0)
            break;
        if (pidfd < 0 && left > 10)
            left = 10;
        struct pollfd fds[2] = {
            { .fd = pipe_open ? pipe_fds[0] : -1, .events = POLLIN },
            { .fd = pidfd, .events = POLLIN },
        };
        int ready = poll(fds, 2, (int)left);
        if (ready < 0 && errno != EINTR)
            break;
        if (ready > 0 && (fds[0].revents & (POLLIN | POLLHUP)))
            pipe_open = drain_pipe(pipe_fds[0], out);
        if (ready > 0 && (fds[1].revents & POLLIN))
            exited = 1;
        if (pidfd < 0 && waitpid(pid, &out->status, WNOHANG) == pid)
            exited = reaped = 1;
    }
    if (!exited) {
        out->timed_out = 1;
        kill(pid, SIGKILL);
    }
    while (!reaped && waitpid(pid, &out->status, 0) < 0 && errno == EINTR)
        continue;
    /* The child is gone: whatever is left in the pipe ends at EOF. */
    while (pipe_open)
        pipe_open = drain_pipe(pipe_fds[0], out);
    if (pidfd >= 0)
        close(pidfd);
    close(pipe_fds[0]);
    return 0;
}

int child_exited_with(const child_result_t *result, int code)
{
    return !result->timed_out && WIFEXITED(result->status)
           && WEXITSTATUS(result->status) == code;
}

int child_killed_by(const child_result_t *result, int signo)
{
    return !result->timed_out && WIFSIGNALED(result->status)
           && WTERMSIG(result->status) == signo;
}

/* 1 when word occurs in line[0..len) ignoring case. */
static int line_has_word(const char *line, size_t len, const char *word)
{
    size_t word_len = strlen(word);
    for (size_t start = 0; start + word_len <= len; start++) {
        size_t i = 0;
        while (i < word_len && tolower((unsigned char)line[start + i])
                                   == tolower((unsigned char)word[i]))
            i++;
        if (i == word_len)
            return 1;
    }
    return 0;
}

int child_stderr_line_has(const child_result_t *result, const char *const *words)
{
    const char *line = result->stderr_text;
    const char *end = result->stderr_text + result->stderr_len;
    while (line < end) {
        const char *newline = memchr(line, '\n', (size_t)(end - line));
        size_t len = newline ? (size_t)(newline - line) : (size_t)(end - line);
        int all = 1;
        for (const char *const *word = words; *word != NULL && all; word++)
            all = line_has_word(line, len, *word);
        if (all)
            return 1;
        line += len + 1;
    }
    return 0;
}

void child_no_core_dump(void)
{
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
}
