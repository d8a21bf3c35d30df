/*
 * fork_stdio.c -- issue 14, part 1: fork from several threads while others
 * hold stdio locks and allocate.  The process must never deadlock.
 *
 * The hazard: glibc's fork takes the stdio list lock after the atfork
 * prepare handlers ran.  If our prepare handler held our locks across fork,
 * then: forking thread (holds our lock) waits for the list lock ->
 * fflush(NULL) (holds the list lock) waits for a FILE lock -> a getline
 * (holds that FILE lock) waits inside malloc for our lock.
 *
 * Scenario (in a child process with a deadline, deadline.h):
 *   - FORKERS threads fork FORKS_PER_THREAD times each; every child checks
 *     and frees a block its thread allocated before the fork (its own heap)
 *     and one the main thread allocated (a heap whose thread did not come
 *     along), mallocs, checks and frees blocks of every small class and a
 *     few large ones, and _exits with 0 when all was intact; the parent
 *     waits for it;
 *   - READERS threads loop on rewind + getline + free on their own FILE, and
 *     on malloc/free inside flockfile (the same hazard through the pym_* API
 *     when the library does not replace malloc);
 *   - one thread loops on fflush(NULL);
 *   - OPENERS threads loop on fopen + fclose.
 * Readers and the flusher yield once per round: glibc's stdio locks are not
 * fair, and without it the forkers starve on 2 cores (a few forks in 15 s,
 * with glibc's malloc as with ours).  The run is 4 x FORKS_PER_THREAD forks,
 * about 4 s here.
 * Built twice: linked with libpymalloc (fork_stdio), and without it, to run
 * under LD_PRELOAD (fork_stdio_plain, run by fork_stdio_preload.sh).
 */
#define _GNU_SOURCE 1
#include "deadline.h"
#include "fork_alloc.h"
#include "pattern.h"
#include "sanitizer.h"
#include "tap.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>


#ifdef UNDER_TSAN
#define FORKS_PER_THREAD 5     /* a fork under TSan costs tens of ms */
#else
#define FORKS_PER_THREAD 50
#endif
#if defined(UNDER_TSAN) || defined(UNDER_ASAN)
/* Large requests go to the sanitizer's allocator there, which is not
 * fork-safe: a child could hang on a lock a reader held at the fork. */
#define CHILD_LARGE 0
#else
#define CHILD_LARGE 1
#endif
#define FORKERS 4
#define READERS 8
#define OPENERS 2
#define KEEPSAKES 64
#define TIMEOUT_S 60

typedef struct keepsake {
    unsigned char *ptr;
    size_t size;
} keepsake_t;

static keepsake_t keepsakes[KEEPSAKES];   /* allocated by the scenario's main thread */
static atomic_int stop;
static atomic_long forks_done, child_failures, reader_loops, flushes, opens;
static char scratch_dir[64];

static void *alloc_checked(size_t size, uint64_t salt)
{
    unsigned char *p = t_malloc(size);
    if (p != NULL)
        pattern_fill(p, size, pattern_seed(p, salt));
    return p;
}

static int free_checked(void *p, size_t size, uint64_t salt)
{
    int ok = pattern_intact(p, size, pattern_seed(p, salt));
    t_free(p);
    return ok;
}

/* In the child of a fork: only this thread exists. */
static int child_body(unsigned char *own, size_t own_size, unsigned index)
{
    int ok = free_checked(own, own_size, 1);
    keepsake_t *k = &keepsakes[index % KEEPSAKES];
    ok &= free_checked(k->ptr, k->size, 2);
    void *held[64];
    for (unsigned round = 0; round < 4; round++) {
        for (unsigned i = 0; i < 64; i++) {
            size_t size = 1 + (i * 16 + round * 7) % 256;
            if (CHILD_LARGE && i % 16 == 15)
                size = 1000 + i * 100;
            held[i] = alloc_checked(size, 3 + i);
            ok &= held[i] != NULL;
        }
        for (unsigned i = 0; i < 64; i++) {
            size_t size = 1 + (i * 16 + round * 7) % 256;
            if (CHILD_LARGE && i % 16 == 15)
                size = 1000 + i * 100;
            if (held[i] != NULL)
                ok &= free_checked(held[i], size, 3 + i);
        }
    }
    return ok ? 0 : 1;
}

static void *forker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    for (unsigned n = 0; n < FORKS_PER_THREAD; n++) {
        size_t own_size = 16 + (n * 24 + id * 8) % 240;
        unsigned char *own = alloc_checked(own_size, 1);
        pid_t pid = fork();
        if (pid == 0)
            _exit(child_body(own, own_size, id * FORKS_PER_THREAD + n));
        if (pid < 0) {
            atomic_fetch_add(&child_failures, 1);
            break;
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            continue;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            atomic_fetch_add(&child_failures, 1);
        free_checked(own, own_size, 1);
        atomic_fetch_add(&forks_done, 1);
    }
    return NULL;
}

static void *reader(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    FILE *f = tmpfile();
    if (f == NULL)
        return NULL;
    for (unsigned i = 0; i < 20; i++)
        fprintf(f, "reader %u line %u %.*s\n", id, i, (int)(i * 13 % 400), 
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    uint64_t salt = 100 + id;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        char *line = NULL;
        size_t cap = 0;
        rewind(f);
        if (getline(&line, &cap, f) <= 0)
            atomic_fetch_add(&child_failures, 1);
        free(line);
        /* Our allocator called with a FILE lock held, also when it does not
         * replace malloc. */
        flockfile(f);
        void *p = alloc_checked(16 + (size_t)(salt++ % 400), 7);
        t_free(p);
        funlockfile(f);
        atomic_fetch_add_explicit(&reader_loops, 1, memory_order_relaxed);
        sched_yield();   /* the same for fflush(NULL), waiting for our FILE lock */
    }
    fclose(f);
    return NULL;
}

static void *flusher(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        fflush(NULL);
        atomic_fetch_add_explicit(&flushes, 1, memory_order_relaxed);
        /* glibc's list lock is not fair: without a pause here the forkers
         * and openers starve (a few forks in 15 s, with glibc's malloc too). */
        sched_yield();
    }
    return NULL;
}

static void *opener(void *arg)
{
    char path[128];
    snprintf(path, sizeof path, "%s/open%u", scratch_dir, (unsigned)(uintptr_t)arg);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        FILE *f = fopen(path, "w");
        if (f != NULL) {
            fputs("x\n", f);
            fclose(f);
        }
        atomic_fetch_add_explicit(&opens, 1, memory_order_relaxed);
    }
    unlink(path);
    return NULL;
}

static int scenario(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < KEEPSAKES; i++) {
        keepsakes[i].size = 8 + (i * 37) % 249;
        keepsakes[i].ptr = alloc_checked(keepsakes[i].size, 2);
    }
    pthread_t forkers[FORKERS], others[READERS + 1 + OPENERS];
    unsigned n_others = 0;
    for (unsigned i = 0; i < READERS; i++)
        pthread_create(&others[n_others++], NULL, reader, (void *)(uintptr_t)i);
    pthread_create(&others[n_others++], NULL, flusher, NULL);
    for (unsigned i = 0; i < OPENERS; i++)
        pthread_create(&others[n_others++], NULL, opener, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < FORKERS; i++)
        pthread_create(&forkers[i], NULL, forker, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < FORKERS; i++)
        pthread_join(forkers[i], NULL);
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < n_others; i++)
        pthread_join(others[i], NULL);
    int ok = 1;
    for (unsigned i = 0; i < KEEPSAKES; i++)
        ok &= free_checked(keepsakes[i].ptr, keepsakes[i].size, 2);
    char note[200];
    snprintf(note, sizeof note, "%ld forks, %ld failed children, %ld getline rounds, %ld fflush(NULL), %ld fopen",
             atomic_load(&forks_done), atomic_load(&child_failures), atomic_load(&reader_loops),
             atomic_load(&flushes), atomic_load(&opens));
    fprintf(stderr, "%s\n", note);
    if (atomic_load(&forks_done) != FORKERS * FORKS_PER_THREAD)
        return 2;
    return ok && atomic_load(&child_failures) == 0 ? 0 : 1;
}

int main(void)
{
#ifdef FORK_TEST_PRELOAD
    tap_plan(2);
    if (!tap_check(dlsym(RTLD_DEFAULT, "pym_malloc") != NULL, "pymalloc is preloaded")) {
        tap_check(0, "fork from 4 threads while 11 others use stdio: no deadlock");
        return tap_exit_status();
    }
#else
    tap_plan(1);
#endif
    snprintf(scratch_dir, sizeof scratch_dir, "%s", "/tmp/pym-forkstdio.XXXXXX");
    if (mkdtemp(scratch_dir) == NULL) {
        tap_check(0, "mkdtemp");
        return tap_exit_status();
    }
    deadline_check(scenario, TIMEOUT_S,
                   "fork from 4 threads while 11 others use stdio: no deadlock, children can allocate");
    rmdir(scratch_dir);
    return tap_exit_status();
}
