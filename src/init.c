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

enum { INIT_NONE, INIT_RUNNING, INIT_DONE, INIT_OFF };

static _Atomic int init_state = INIT_NONE;
static _Atomic(pthread_t) init_thread;

static int init_run(void)
{
    pymi_options_init();
    if (pymi_option(PYM_OPTION_DISABLE))
        return 0;
    pymi_debug_on = pymi_option(PYM_OPTION_DEBUG) != 0;
    pymi_block_starts_init();
    if (!pymi_pagemap_init()) {
        pymi_message("cannot reserve address space; forwarding every request to libc");
        return 0;
    }
    return pymi_heap_init_process();
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

__attribute__((constructor(101))) static void pymi_constructor(void)
{
    pymi_init();
}

__attribute__((destructor(101))) static void pymi_destructor(void)
{
    if (pymi_option(PYM_OPTION_STATS))
        pymi_stats_at_exit();
}
