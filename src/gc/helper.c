/*
 * helper.c -- the collector's second thread, for the passes of a large
 * collection that split into independent halves (gc_refs.c's walk).
 *
 * One helper per process, started on first use and then asleep on a
 * condition variable between jobs.  A collection hands it one job at a
 * time (pymgc_helper_start) and runs its own share meanwhile, then waits
 * for it (pymgc_helper_wait).  When the helper is busy with another
 * domain's collection, could not be started, or PYMALLOC_GC_HELPER=0 is
 * set, pymgc_helper_start says no and the caller does all the work: a job
 * must be written so that the caller alone can finish it.
 *
 * The helper runs only user `traverse` functions (which must only read),
 * with every signal blocked.  A fork child has no helper: the handler
 * below forgets it, and the child starts its own when it needs one.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "gc/gc_internal.h"

static pthread_mutex_t helper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t helper_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t helper_done = PTHREAD_COND_INITIALIZER;
static bool helper_started;     /* the thread exists (in this process) */
static bool helper_taken;       /* a collection has it (start..wait) */
static bool job_pending;        /* handed over, not finished */
static void (*job_fn)(void *);
static void *job_arg;

static void *helper_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&helper_lock);
    for (;;) {
        while (!job_pending)
            pthread_cond_wait(&helper_wake, &helper_lock);
        void (*fn)(void *) = job_fn;
        void *arg = job_arg;
        pthread_mutex_unlock(&helper_lock);
        fn(arg);
        pthread_mutex_lock(&helper_lock);
        job_pending = false;
        pthread_cond_signal(&helper_done);
    }
    return NULL;
}

static bool helper_disabled(void)
{
    static int disabled = -1;   /* read once; only under helper_lock */
    if (disabled < 0) {
        const char *v = getenv("PYMALLOC_GC_HELPER");
        disabled = v && strcmp(v, "0") == 0;
    }
    return disabled;
}

/* Under helper_lock. */
static bool helper_start_thread(void)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return false;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);     /* inherited by the helper */
    pthread_t thread;
    bool ok = pthread_create(&thread, &attr, helper_main, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (ok)
        pthread_setname_np(thread, "pymalloc-gc");
    return ok;
}

bool pymgc_helper_start(void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&helper_lock);
    bool ok = !helper_taken && !helper_disabled() && (helper_started || (helper_started = helper_start_thread()));
    if (ok) {
        helper_taken = true;
        job_fn = fn;
        job_arg = arg;
        job_pending = true;
        pthread_cond_signal(&helper_wake);
    }
    pthread_mutex_unlock(&helper_lock);
    return ok;
}

void pymgc_helper_wait(void)
{
    pthread_mutex_lock(&helper_lock);
    while (job_pending)
        pthread_cond_wait(&helper_done, &helper_lock);
    helper_taken = false;
    pthread_mutex_unlock(&helper_lock);
}

void pymgc_helper_child_after_fork(void)
{
    pthread_mutex_init(&helper_lock, NULL);
    pthread_cond_init(&helper_wake, NULL);
    pthread_cond_init(&helper_done, NULL);
    helper_started = helper_taken = job_pending = false;
}
