/*
 * test_rlimit_runtime.c -- a program that lowers RLIMIT_AS after start keeps
 * working (issue: pymalloc used to reserve 64 GiB at start-up, so every
 * later mmap -- thread stacks, glibc's large blocks -- was refused).
 *
 * The program allocates a little (pymalloc is initialised and has its first
 * region), lowers RLIMIT_AS to 256 MiB, as test runners and sandboxes do,
 * then:
 *   - creates threads with small stacks: every pthread_create succeeds;
 *   - each thread allocates small blocks until malloc returns NULL, which
 *     it must do with errno ENOMEM, never with an abort;
 *   - posix_memalign under the exhausted limit returns ENOMEM and sets errno
 *     to ENOMEM too, as glibc does;
 *   - after the threads freed their blocks, allocation works again.
 * An alarm bounds the run: a hang fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tap.h"

enum { THREADS = 4, STACK = 256 << 10 };

struct chain {
    struct chain *next;
};

static pthread_barrier_t all_started;

struct worker {
    struct chain *blocks;
    size_t count;
    int last_errno;
};

static size_t vm_size_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kib = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmSize: %zu kB", &kib) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kib << 10;
}

static void *allocate_until_failure(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(&all_started);
    for (;;) {
        errno = 0;
        struct chain *c = malloc(sizeof(struct chain) + 40);
        if (c == NULL) {
            w->last_errno = errno;
            return NULL;
        }
        c->next = w->blocks;
        w->blocks = c;
        w->count++;
    }
}

static void *allocate_nothing(void *arg)
{
    free(malloc(100));
    return arg;
}

int main(void)
{
    tap_plan(5);
    alarm(120);
    free(malloc(64));   /* initialised, first region reserved */
    char note[160];
    size_t limit = (size_t)256 << 20;
    snprintf(note, sizeof note, "%zu MiB mapped before the limit", vm_size_bytes() >> 20);
    tap_note(note);
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0) {
        perror("# setrlimit");
        return 1;
    }
    snprintf(note, sizeof note, "RLIMIT_AS lowered to %zu MiB at run time", limit >> 20);
    tap_note(note);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, STACK);
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    memset(workers, 0, sizeof workers);
    int created = 0;
    pthread_barrier_init(&all_started, NULL, THREADS + 1);
    for (int t = 0; t < THREADS; t++) {
        int rc = pthread_create(&threads[t], &attr, allocate_until_failure, &workers[t]);
        if (rc != 0) {
            snprintf(note, sizeof note, "pthread_create: %s", strerror(rc));
            tap_note(note);
            break;
        }
        created++;
    }
    tap_check(created == THREADS, "threads can be created under the lowered limit");
    if (created < THREADS)
        return tap_exit_status();   /* the others wait at the barrier for ever */
    pthread_barrier_wait(&all_started);   /* now they allocate, all at once */
    for (int t = 0; t < created; t++)
        pthread_join(threads[t], NULL);
    int all_enomem = 1;
    size_t total = 0;
    for (int t = 0; t < created; t++) {
        all_enomem &= workers[t].last_errno == ENOMEM;
        total += workers[t].count;
    }
    snprintf(note, sizeof note, "%zu blocks allocated before malloc returned NULL", total);
    tap_note(note);
    tap_check(all_enomem && total > 1000, "malloc ends in NULL with ENOMEM, not an abort");

    errno = 0;
    void *aligned = NULL;
    int rc = posix_memalign(&aligned, 64, (size_t)256 << 20);
    tap_check(rc == ENOMEM && errno == ENOMEM && aligned == NULL,
              "posix_memalign reports ENOMEM in its result and in errno");

    for (int t = 0; t < created; t++) {
        while (workers[t].blocks != NULL) {
            struct chain *next = workers[t].blocks->next;
            free(workers[t].blocks);
            workers[t].blocks = next;
        }
    }
    void *again = malloc(48);
    tap_check(again != NULL, "after freeing, small requests succeed again");
    free(again);
    pthread_t late;
    int late_ok = pthread_create(&late, &attr, allocate_nothing, NULL) == 0;
    if (late_ok)
        pthread_join(late, NULL);
    tap_check(late_ok, "and threads can still be created");
    return tap_exit_status();
}
