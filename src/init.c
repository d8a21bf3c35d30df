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
#include <sys/auxv.h>
#include <unistd.h>

enum { INIT_NONE, INIT_RUNNING, INIT_DONE, INIT_OFF };

static _Atomic int init_state = INIT_NONE;
static _Atomic(pthread_t) init_thread;

/* 8 of the kernel's 16 random bytes (AT_RANDOM): no syscall, no allocation. */
static uintptr_t freelist_secret(void)
{
    uintptr_t secret = (uintptr_t)&secret;
    const unsigned char *random = (const unsigned char *)getauxval(AT_RANDOM);
    if (random != NULL)
        memcpy(&secret, random + 8, sizeof secret);
    return secret | 1;   /* never 0: a zeroed link never decodes to NULL */
}

/* PYMALLOC_VERBOSE=1: every start-up decision, one line each, on stderr.
 * (The reservation's size is reported where it is made, pagemap.c.) */
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
    pymi_message("options: STATS=%ld DEBUG=%ld ARENA_CACHE=%ld DISABLE=%ld VERBOSE=%ld",
                 pymi_option(PYM_OPTION_STATS), pymi_option(PYM_OPTION_DEBUG),
                 pymi_option(PYM_OPTION_ARENA_CACHE), pymi_option(PYM_OPTION_DISABLE),
                 pymi_option(PYM_OPTION_VERBOSE));
    if (pymi_option(PYM_OPTION_DISABLE)) {
        pymi_message("disabled (%s): forwarding every request to libc",
                     pymi_option_disable_reason());
        return;
    }
    pymi_message("enabled (PYMALLOC_DISABLE: %s)", pymi_option_disable_reason());
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
    pymi_options_init();
    if (pymi_option(PYM_OPTION_VERBOSE))
        report_start();
    if (pymi_option(PYM_OPTION_STATS))
        pymi_stats_prepare();
    if (pymi_option(PYM_OPTION_DISABLE))
        return 0;
    pymi_debug_on = pymi_option(PYM_OPTION_DEBUG) != 0;
    pymi_freelist_key = freelist_secret();
    pymi_block_starts_init();
    if (!pymi_pagemap_init()) {
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
