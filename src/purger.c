/*
 * purger.c -- a background thread that gives dirty pages back on time.
 *
 * Decay (arena.c) runs on allocator activity, so a program that frees a lot
 * and then goes idle would keep its dirty memory.  In a process that has
 * threads already, once more than PYM_PURGER_THRESHOLD is waiting, one
 * thread is started (jemalloc's background_thread, started on demand): it
 * sleeps until the decay queue's next expiry, purges, and sleeps again.  A
 * single-threaded process never gets it (it would stop being one: glibc's
 * fork from a signal handler, unshare(2) and __libc_single_threaded's
 * shortcuts depend on that); PYMALLOC_PURGE_THREAD=0 turns it off.
 *
 * The thread is started outside every lock of ours, from the top of a
 * malloc or free slow path (pymi_purger_start_if_wanted), never from inside
 * the arena code, since pthread_create may itself allocate.  A fork child
 * has no purger; it starts its own when it needs one.
 */
#include "internal.h"

#include <errno.h>
#include <sys/single_threaded.h>
#include <signal.h>
#include <time.h>

static pthread_mutex_t purger_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t purger_wake;
static _Atomic int64_t purger_deadline = INT64_MAX;
static _Atomic int purger_wanted;     /* asked for, not started yet */
static _Atomic int purger_running;    /* 1 in the process that started it */
static int purger_waiting;            /* under purger_lock: asleep on the cond */

void pymi_purger_deadline(int64_t when_ms)
{
    int64_t old = atomic_exchange_explicit(&purger_deadline, when_ms, memory_order_relaxed);
    /* Wake the thread only when it sleeps longer than it should now. */
    if (when_ms < old && atomic_load_explicit(&purger_running, memory_order_relaxed)) {
        pthread_mutex_lock(&purger_lock);
        if (purger_waiting)
            pthread_cond_signal(&purger_wake);
        pthread_mutex_unlock(&purger_lock);
    }
}

void pymi_purger_want(size_t dirty_bytes)
{
    /* Never the process's second thread: a single-threaded program stays
     * single-threaded (glibc's fork from a signal handler, unshare(2) and
     * __libc_single_threaded's shortcuts depend on it); its own mallocs
     * look at the decay clock instead (alloc.c). */
    if (__libc_single_threaded)
        return;
    if (dirty_bytes > PYM_PURGER_THRESHOLD && pymi_option(PYM_OPTION_PURGE_THREAD) &&
        pymi_option(PYM_OPTION_PURGE_DELAY_MS) > 0 &&
        !atomic_load_explicit(&purger_running, memory_order_relaxed) &&
        !atomic_load_explicit(&purger_wanted, memory_order_relaxed))
        atomic_store_explicit(&purger_wanted, 1, memory_order_relaxed);
}

static void *purger_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&purger_lock);
    for (;;) {
        int64_t deadline = atomic_load_explicit(&purger_deadline, memory_order_relaxed);
        int64_t now = pymi_now_ms();
        if (deadline > now) {
            purger_waiting = 1;
            if (deadline == INT64_MAX) {
                pthread_cond_wait(&purger_wake, &purger_lock);
            } else {
                /* +1 ms: the coarse clock may lag the precise one. */
                struct timespec until = {(time_t)((deadline + 1) / 1000),
                                         (long)((deadline + 1) % 1000) * 1000000};
                pthread_cond_timedwait(&purger_wake, &purger_lock, &until);
            }
            purger_waiting = 0;
            continue;
        }
        pthread_mutex_unlock(&purger_lock);
        pymi_arena_decay();
        pthread_mutex_lock(&purger_lock);
    }
    return NULL;
}

static void purger_fork_child(void)
{
    atomic_store_explicit(&purger_running, 0, memory_order_relaxed);
    pthread_mutex_init(&purger_lock, NULL);
    purger_waiting = 0;
}

static void purger_setup(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&purger_wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_atfork(NULL, NULL, purger_fork_child);
}

void pymi_purger_start_if_wanted(void)
{
    if (pym_likely(!atomic_load_explicit(&purger_wanted, memory_order_relaxed)) ||
        !atomic_exchange_explicit(&purger_wanted, 0, memory_order_relaxed))
        return;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    int saved = errno;
    pthread_once(&once, purger_setup);
    if (atomic_exchange_explicit(&purger_running, 1, memory_order_relaxed)) {
        errno = saved;
        return;
    }
    /* The thread takes no signal meant for the program. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 << 10);
    pthread_t thread;
    if (pthread_create(&thread, &attr, purger_main, NULL) != 0)
        atomic_store_explicit(&purger_running, 0, memory_order_relaxed);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
}
