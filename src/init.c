/*
 * init.c -- process-wide initialisation, once, from whichever comes first:
 * our constructor or the first malloc of any thread (a library constructor
 * that runs before ours, ld.so, dlsym...).
 *
 * Re-entrancy: initialisation calls into libc (pthread_atfork may allocate).
 * An allocation made by the initialising thread meanwhile sees INIT_RUNNING
 * with itself as the initialiser and is forwarded to libc; other threads
 * wait for the result.  Nothing here allocates through malloc.
 */
#include "internal.h"

#include <sched.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { INIT_NONE, INIT_RUNNING, INIT_DONE, INIT_OFF };

static _Atomic int init_state = INIT_NONE;
static _Atomic(pthread_t) init_thread;

/* The free-list keys (freelist.h), from getrandom: not AT_RANDOM, whose
 * bytes are glibc's stack canary and pointer guard.
 * Should getrandom fail (a kernel before 3.17, a seccomp filter), the
 * fallback mixes what varies between runs: addresses under ASLR, the clock. */
static void secrets_init(struct pymi_constants *out)
{
    uintptr_t words[3];
    ssize_t got = syscall(SYS_getrandom, words, sizeof words, GRND_NONBLOCK);
    if (got != (ssize_t)sizeof words) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uintptr_t seed = (uintptr_t)&now ^ ((uintptr_t)now.tv_nsec << 32) ^ (uintptr_t)now.tv_sec ^
                         (uintptr_t)&secrets_init;
        for (int i = 0; i < 3; i++) {   /* splitmix64 */
            seed += 0x9e3779b97f4a7c15u;
            uintptr_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
            words[i] = z ^ (z >> 31);
        }
    }
    out->key0 = words[0];
    out->key1 = words[1];
    out->fwd_mark = words[2] | 1;
    /* The word malloc leaves in a block it hands out (0) must decode to a
     * link outside any pool, so that a block handed out and found on a
     * free list again is caught (freelist.h): one key in 2^52 fails. */
    if (pymi_rotr17((0 - out->key1) ^ out->key0) >> PYM_POOL_SHIFT == 0)
        out->key0 ^= (uintptr_t)1 << 63;
}

/* PYMALLOC_VERBOSE=1: every start-up decision, one line each, on stderr.
 * (The reservation is reported where it is made, range.c.) */
static void report_start(void)
{
    char name[256];
    pymi_message("pymalloc %s in pid %ld (%s): build override=%s hardening=%s debug-level=%d "
                 "small-max=%d", PYM_VERSION, (long)getpid(), pymi_program_name(name, sizeof name),
#ifdef PYM_OVERRIDE
                 "yes",
#else
                 "no",
#endif
                 PYM_HARDENING ? "on" : "off", PYM_DEBUG_LEVEL, PYM_SMALL_MAX);
    pymi_message("options: STATS=%ld DEBUG=%ld ARENA_CACHE=%ld DISABLE=%ld VERBOSE=%ld "
                 "PURGE_DELAY_MS=%ld PURGE_THREAD=%ld FWD_CACHE=%ld",
                 pymi_option(PYM_OPTION_STATS), pymi_option(PYM_OPTION_DEBUG),
                 pymi_option(PYM_OPTION_ARENA_CACHE), pymi_option(PYM_OPTION_DISABLE),
                 pymi_option(PYM_OPTION_VERBOSE), pymi_option(PYM_OPTION_PURGE_DELAY_MS),
                 pymi_option(PYM_OPTION_PURGE_THREAD), pymi_option(PYM_OPTION_FWD_CACHE));
    if (pymi_option(PYM_OPTION_DISABLE)) {
        pymi_message("disabled (%s): forwarding every request to libc",
                     pymi_option_disable_reason());
        return;
    }
    pymi_message("enabled (PYMALLOC_DISABLE: %s)", pymi_option_disable_reason());
    if (pymi_override_lost())
        pymi_message("malloc is another allocator's (preloaded before pymalloc): "
                     "pymalloc serves only pym_* calls");
    if (pymi_option(PYM_OPTION_DEBUG))
        pymi_message("debug mode on (PYMALLOC_DEBUG): fill patterns, guard bytes and checks "
                     "at free; every call takes the slow path");
    if (pymi_option(PYM_OPTION_STATS)) {
        const char *path = pymi_option_stats_file();
        if (path != NULL && *path != '\0')
            pymi_message("statistics at exit: appended to PYMALLOC_STATS_FILE=%s%s", path,
                         pymi_option_given(PYM_OPTION_STATS) ? "" : " (which implies PYMALLOC_STATS=1)");
        else
            pymi_message("statistics at exit: to stderr as it is now (a duplicate of fd 2)");
    }
}

static int init_run(void)
{
    pymi_sys_init();
    pymi_options_init();
    if (pymi_option(PYM_OPTION_VERBOSE))
        report_start();
    if (pymi_option(PYM_OPTION_STATS))
        pymi_stats_prepare();
    if (pymi_option(PYM_OPTION_DISABLE))
        return 0;
    pymi_debug_on = pymi_option(PYM_OPTION_DEBUG) != 0;
    secrets_init(&pymi_const);
    pymi_fwd_enabled = pymi_sys_is_glibc() && pymi_option(PYM_OPTION_FWD_CACHE);
    if (!pymi_range_init()) {
        pymi_message("cannot reserve address space; forwarding every request to libc");
        return 0;
    }
    /* The fork handlers last: a fork child then finds everything set up. */
    return pymi_heap_init_process() && pymi_fork_init();
}

int pymi_init(void)
{
    int state = atomic_load_explicit(&init_state, memory_order_acquire);
    if (pym_likely(state == INIT_DONE))
        return 1;
    if (state == INIT_NONE) {
        int expected = INIT_NONE;
        if (atomic_compare_exchange_strong_explicit(&init_state, &expected, INIT_RUNNING,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            init_thread = pthread_self();
            int ok = init_run();
            atomic_store_explicit(&init_state, ok ? INIT_DONE : INIT_OFF, memory_order_release);
            return ok;
        }
        state = expected;
    }
    if (state == INIT_RUNNING && pthread_equal(init_thread, pthread_self()))
        return 0;
    while ((state = atomic_load_explicit(&init_state, memory_order_acquire)) == INIT_RUNNING)
        sched_yield();
    return state == INIT_DONE;
}

/* In the child of a multi-threaded process (fork.c): the handlers are
 * registered last in init_run, so a thread that was initialising when the
 * process forked had nothing left to do but publish INIT_DONE; do it for
 * it, or the child would wait for it forever. */
void pymi_init_fork_child(void)
{
    if (atomic_load_explicit(&init_state, memory_order_acquire) == INIT_RUNNING &&
        !pthread_equal(init_thread, pthread_self()))
        atomic_store_explicit(&init_state, INIT_DONE, memory_order_release);
}

__attribute__((constructor(101))) static void pymi_constructor(void)
{
    pymi_init();
}

__attribute__((destructor(101))) static void pymi_destructor(void)
{
    if (pymi_option(PYM_OPTION_STATS))
        pymi_stats_at_exit();
}
