/*
 * thread_first_call.c -- a thread's heap is created lazily, by whatever its
 * first call is, and outlives the thread's exit.
 *
 * First calls: each test starts a new thread whose very first allocator
 * call is free (of another thread's block, or of NULL), calloc, realloc,
 * posix_memalign, malloc_usable_size, or malloc at every class size.
 * Thread exit: threads exit holding live blocks; main, or another live
 * thread, checks and frees them afterwards, and new threads then reuse the
 * abandoned pools without handing out a live block twice.
 *
 * Every test runs against the pym_* API and, in override builds
 * (PYM_OVERRIDE), again against the libc names.  Threads never call cmocka;
 * they return a result that main asserts on.
 */
#define _GNU_SOURCE 1
#ifdef HAVE_CONFIG_H
#include "pym_build_config.h"   /* PYM_OVERRIDE, PYM_SMALL_MAX */
#endif
#include "cmocka_all.h"
#include "pattern.h"
#include "pymalloc.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#ifndef PYM_SMALL_MAX
#define PYM_SMALL_MAX 256
#endif
#define SMALL_MAX PYM_SMALL_MAX

typedef struct api {
    void *(*allocate)(size_t size);
    void *(*allocate_zeroed)(size_t count, size_t size);
    void *(*resize)(void *ptr, size_t size);
    void (*release)(void *ptr);
    int (*allocate_aligned)(void **out, size_t alignment, size_t size);
    size_t (*usable_size)(const void *ptr);
} api_t;

#ifdef PYM_OVERRIDE
static size_t libc_usable_size(const void *ptr)
{
    return malloc_usable_size((void *)ptr);
}
#endif

static const api_t apis[] = {
    { pym_malloc, pym_calloc, pym_realloc, pym_free, pym_posix_memalign, pym_usable_size },
#ifdef PYM_OVERRIDE
    { malloc, calloc, realloc, free, posix_memalign, libc_usable_size },
#endif
};
#define API_COUNT (sizeof apis / sizeof apis[0])

/* What a test thread is given and what it reports back. */
typedef struct first_call {
    const api_t *api;
    unsigned char *block;   /* in: a block from main; out: the thread's result */
    size_t size;
    int ok;                 /* out: the thread's own checks passed */
} first_call_t;

static void run_thread(void *(*body)(void *), first_call_t *call)
{
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, body, call), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
}

/* After a first call in another thread, main's allocations still work. */
static void assert_allocator_healthy(const api_t *api)
{
    enum { COUNT = 200 };
    unsigned char *blocks[COUNT];
    for (int i = 0; i < COUNT; i++) {
        blocks[i] = api->allocate(64);
        assert_non_null(blocks[i]);
        assert_true(pym_owns(blocks[i]));
        pattern_fill(blocks[i], 64, (uint64_t)i);
    }
    for (int i = 0; i < COUNT; i++) {
        assert_true(pattern_intact(blocks[i], 64, (uint64_t)i));
        api->release(blocks[i]);
    }
}

static void *free_as_first_call(void *arg)
{
    first_call_t *call = arg;
    call->api->release(call->block);
    call->ok = 1;
    return NULL;
}

static void first_call_is_free_of_a_block_from_main(void **state)
{
    (void)state;
    for (size_t a = 0; a < API_COUNT; a++) {
        for (size_t size = 0; size <= SMALL_MAX + 64; size += 32) {
            first_call_t call = { &apis[a], apis[a].allocate(size), size, 0 };
            assert_non_null(call.block);
            run_thread(free_as_first_call, &call);
            assert_true(call.ok);
        }
        assert_allocator_healthy(&apis[a]);
    }
}

static void first_call_is_free_of_null(void **state)
{
    (void)state;
    for (size_t a = 0; a < API_COUNT; a++) {
        first_call_t call = { &apis[a], NULL, 0, 0 };
        run_thread(free_as_first_call, &call);
        assert_true(call.ok);
        assert_allocator_healthy(&apis[a]);
    }
}

static void *calloc_as_first_call(void *arg)
{
    first_call_t *call = arg;
    unsigned char *block = call->api->allocate_zeroed(1, call->size);
    call->ok = block != NULL && bytes_all_zero(block, call->size)
               && pym_owns(block) == (call->size <= SMALL_MAX);
    if (block != NULL)
        pattern_fill(block, call->size, 9);
    call->block = block;   /* main frees it: a thread that exited */
    return NULL;
}

static void first_call_is_calloc(void **state)
{
    (void)state;
    for (size_t a = 0; a < API_COUNT; a++) {
        for (size_t size = 1; size <= SMALL_MAX + 100; size += 20) {
            first_call_t call = { &apis[a], NULL, size, 0 };
            run_thread(calloc_as_first_call, &call);
            if (!call.ok)
                fail_msg("calloc(1, %zu) as a thread's first call failed", size);
            assert_true(pattern_intact(call.block, size, 9));
            apis[a].release(call.block);
        }
    }
}

static void *realloc_as_first_call(void *arg)
{
    first_call_t *call = arg;
    unsigned char *moved = call->api->resize(call->block, call->size * 2 + 1);
    call->ok = moved != NULL && pattern_intact(moved, call->size, 10);
    call->block = moved;
    return NULL;
}

static void first_call_is_realloc_of_a_block_from_main(void **state)
{
    (void)state;
    for (size_t a = 0; a < API_COUNT; a++) {
        for (size_t size = 8; size <= SMALL_MAX; size += 40) {
            first_call_t call = { &apis[a], apis[a].allocate(size), size, 0 };
            assert_non_null(call.block);
            pattern_fill(call.block, size, 10);
            run_thread(realloc_as_first_call, &call);
            assert_true(call.ok);
            apis[a].release(call.block);
        }
    }
}

static void *aligned_and_usable_size_as_first_calls(void *arg)
{
    first_call_t *call = arg;
    /* usable size of main's block first, then an aligned allocation */
    call->ok = call->api->usable_size(call->block) >= call->size;
    void *aligned = NULL;
    call->ok &= call->api->allocate_aligned(&aligned, 64, 100) == 0
                && ((uintptr_t)aligned & 63) == 0;
    call->api->release(aligned);
    return NULL;
}

static void first_call_is_usable_size_or_posix_memalign(void **state)
{
    (void)state;
    for (size_t a = 0; a < API_COUNT; a++) {
        first_call_t call = { &apis[a], apis[a].allocate(72), 72, 0 };
        assert_non_null(call.block);
        run_thread(aligned_and_usable_size_as_first_calls, &call);
        assert_true(call.ok);
        apis[a].release(call.block);
    }
}

static void *malloc_as_first_call(void *arg)
{
    first_call_t *call = arg;
    unsigned char *block = call->api->allocate(call->size);
    call->ok = block != NULL && pym_owns(block) == (call->size <= SMALL_MAX)
               && ((uintptr_t)block & 15) == 0;
    if (block != NULL) {
        pattern_fill(block, call->size, 11);
        call->ok &= pattern_intact(block, call->size, 11);
    }
    call->api->release(block);
    return NULL;
}

static void first_call_is_malloc_at_every_class_size(void **state)
{
    (void)state;
    const size_t extra[] = { 0, 1, SMALL_MAX + 1, 4096, 1 << 20 };
    for (size_t a = 0; a < API_COUNT; a++) {
        for (size_t size = 16; size <= SMALL_MAX; size += 16) {
            first_call_t call = { &apis[a], NULL, size, 0 };
            run_thread(malloc_as_first_call, &call);
            if (!call.ok)
                fail_msg("malloc(%zu) as a thread's first call failed", size);
        }
        for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
            first_call_t call = { &apis[a], NULL, extra[i], 0 };
            run_thread(malloc_as_first_call, &call);
            if (!call.ok)
                fail_msg("malloc(%zu) as a thread's first call failed", extra[i]);
        }
    }
}

/* ---- threads exiting with live blocks --------------------------------------- */

#define LEFT_BEHIND 3000

typedef struct legacy {
    const api_t *api;
    uint64_t salt;
    unsigned char *blocks[LEFT_BEHIND];
    size_t sizes[LEFT_BEHIND];
    int ok;
} legacy_t;

static void *allocate_and_exit(void *arg)
{
    legacy_t *legacy = arg;
    legacy->ok = 1;
    for (size_t i = 0; i < LEFT_BEHIND; i++) {
        legacy->sizes[i] = (i * 37 + legacy->salt) % (SMALL_MAX + 45);
        legacy->blocks[i] = legacy->api->allocate(legacy->sizes[i]);
        if (legacy->blocks[i] == NULL) {
            legacy->ok = 0;
            return NULL;
        }
        pattern_fill(legacy->blocks[i], legacy->sizes[i],
                     pattern_seed(legacy->blocks[i], legacy->salt));
    }
    return NULL;
}

/* Checks and frees every other block (or all of them), returns failures. */
static int free_legacy(legacy_t *legacy, size_t stride)
{
    int failures = 0;
    for (size_t i = 0; i < LEFT_BEHIND; i += stride) {
        if (legacy->blocks[i] == NULL)
            continue;
        failures += !pattern_intact(legacy->blocks[i], legacy->sizes[i],
                                    pattern_seed(legacy->blocks[i], legacy->salt));
        legacy->api->release(legacy->blocks[i]);
        legacy->blocks[i] = NULL;
    }
    return failures;
}

static void thread_exits_with_live_blocks_freed_by_main(void **state)
{
    (void)state;
    static legacy_t legacies[3];
    for (size_t a = 0; a < API_COUNT; a++) {
        legacies[0] = (legacy_t){ .api = &apis[a], .salt = 1 };
        pthread_t thread;
        assert_int_equal(pthread_create(&thread, NULL, allocate_and_exit, &legacies[0]), 0);
        assert_int_equal(pthread_join(thread, NULL), 0);
        assert_true(legacies[0].ok);
        /* Half freed now; then new threads take over the abandoned pools
         * while the other half is still live; then main frees the rest. */
        assert_int_equal(free_legacy(&legacies[0], 2), 0);
        for (int t = 1; t < 3; t++) {
            legacies[t] = (legacy_t){ .api = &apis[a], .salt = (uint64_t)t + 1 };
            assert_int_equal(pthread_create(&thread, NULL, allocate_and_exit, &legacies[t]), 0);
            assert_int_equal(pthread_join(thread, NULL), 0);
            assert_true(legacies[t].ok);
        }
        for (int t = 0; t < 3; t++)
            assert_int_equal(free_legacy(&legacies[t], 1), 0);
    }
}

static void *free_legacy_while_allocating(void *arg)
{
    legacy_t *legacy = arg;
    legacy_t own = { .api = legacy->api, .salt = 99 };
    allocate_and_exit(&own);
    legacy->ok = own.ok && free_legacy(legacy, 1) == 0 && free_legacy(&own, 1) == 0;
    return NULL;
}

static void blocks_of_an_exited_thread_are_freed_by_a_live_thread(void **state)
{
    (void)state;
    static legacy_t legacy;
    for (size_t a = 0; a < API_COUNT; a++) {
        legacy = (legacy_t){ .api = &apis[a], .salt = 7 };
        pthread_t thread;
        assert_int_equal(pthread_create(&thread, NULL, allocate_and_exit, &legacy), 0);
        assert_int_equal(pthread_join(thread, NULL), 0);
        assert_true(legacy.ok);
        assert_int_equal(pthread_create(&thread, NULL, free_legacy_while_allocating, &legacy), 0);
        assert_int_equal(pthread_join(thread, NULL), 0);
        assert_true(legacy.ok);
    }
}

#define SHORT_LIVED_THREADS 100
#define KEPT_PER_THREAD 30

typedef struct short_lived {
    unsigned char *kept[KEPT_PER_THREAD];
    size_t sizes[KEPT_PER_THREAD];
    int ok;
} short_lived_t;

static void *allocate_some_keep_a_few(void *arg)
{
    short_lived_t *self = arg;
    unsigned char *scratch[200];
    self->ok = 1;
    for (int i = 0; i < 200; i++) {
        scratch[i] = pym_malloc((size_t)(i * 13) % SMALL_MAX);
        self->ok &= scratch[i] != NULL;
    }
    for (int i = 0; i < KEPT_PER_THREAD; i++) {
        self->sizes[i] = (size_t)(i * 29) % (SMALL_MAX + 1);
        self->kept[i] = pym_malloc(self->sizes[i]);
        if (self->kept[i] == NULL) {
            self->ok = 0;
            break;
        }
        pattern_fill(self->kept[i], self->sizes[i], pattern_seed(self->kept[i], 0));
    }
    for (int i = 0; i < 200; i++)
        pym_free(scratch[i]);
    return NULL;
}

static void many_short_lived_threads_leave_blocks_behind(void **state)
{
    (void)state;
    static short_lived_t threads[SHORT_LIVED_THREADS];
    for (int t = 0; t < SHORT_LIVED_THREADS; t += 2) {
        pthread_t first, second;
        assert_int_equal(pthread_create(&first, NULL, allocate_some_keep_a_few, &threads[t]), 0);
        assert_int_equal(pthread_create(&second, NULL, allocate_some_keep_a_few, &threads[t + 1]), 0);
        assert_int_equal(pthread_join(first, NULL), 0);
        assert_int_equal(pthread_join(second, NULL), 0);
        assert_true(threads[t].ok && threads[t + 1].ok);
    }
    for (int t = 0; t < SHORT_LIVED_THREADS; t++) {
        for (int i = 0; i < KEPT_PER_THREAD; i++) {
            unsigned char *block = threads[t].kept[i];
            if (!pattern_intact(block, threads[t].sizes[i], pattern_seed(block, 0)))
                fail_msg("thread %d's block %d was overwritten after the thread exited", t, i);
            pym_free(block);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_call_is_free_of_a_block_from_main),
        cmocka_unit_test(first_call_is_free_of_null),
        cmocka_unit_test(first_call_is_calloc),
        cmocka_unit_test(first_call_is_realloc_of_a_block_from_main),
        cmocka_unit_test(first_call_is_usable_size_or_posix_memalign),
        cmocka_unit_test(first_call_is_malloc_at_every_class_size),
        cmocka_unit_test(thread_exits_with_live_blocks_freed_by_main),
        cmocka_unit_test(blocks_of_an_exited_thread_are_freed_by_a_live_thread),
        cmocka_unit_test(many_short_lived_threads_leave_blocks_behind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
