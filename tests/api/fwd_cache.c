/*
 * fwd_cache.c -- the per-thread cache of glibc's chunks of 257 B-4 KiB
 * (PYM_SMALL_MAX + 1 B-4 KiB in a --with-small-max build)
 * (src/fwdcache.c), through the libc names of an override build, where
 * glibc is the allocator below.  The figures come from pym_stats_get
 * (fwd_cache_chunks, fwd_cache_bytes), taken as differences around the
 * operations under test.
 *
 *   a_freed_chunk_serves_the_next_malloc_of_its_class: the same chunk
 *     comes back, its first two words (link and mark) cleared, its
 *     usable size enough, and the count goes up by one and down again;
 *   every_size_gets_back_a_chunk_of_its_class: for each size of 257 B to
 *     4 KiB, a chunk freed comes back for the next malloc of that size and
 *     holds it (the class arithmetic, both ways);
 *   calloc_of_a_cached_chunk_is_zeroed: a dirty chunk comes back zeroed;
 *   realloc_keeps_the_contents_of_a_cached_chunk;
 *   realloc_within_a_chunk_keeps_it_where_glibc_would: a chunk grown a few
 *     bytes at a time comes back as it is wherever glibc's realloc would
 *     keep it, and its contents survive every step;
 *   a_class_keeps_16_KiB_a_thread_and_32_KiB_shared: 200 frees of 300 B
 *     leave the thread's bin (at most 16 KiB) and the shared cache's four
 *     batches of 25 chunks cached, the rest went to glibc;
 *   a_class_grows_only_where_chunks_went_round: 64 chunks of 2000 B
 *     allocated and freed, round after round: the bin keeps its first 8
 *     (and the shared cache 4 batches of 4) while it only misses or only
 *     overflows, grows to twice that (16) once overflows are followed by
 *     misses, no further, and starts over at 8 after a trim;
 *   a_full_bin_passes_its_oldest_chunks_to_other_threads: a thread frees 16
 *     chunks into a bin of 8 and exits; its two batches of the 4 oldest
 *     stay shared, and the main thread's next 8 mallocs of the class are
 *     exactly the 8 it freed first;
 *   sizes_outside_the_classes_go_to_glibc: 200 B (a pool's), 8 KiB and
 *     1 MiB (mapped) leave nothing cached;
 *   a_thread_keeps_what_it_frees: a thread that frees the main thread's
 *     chunks gets exactly those chunks back for its own mallocs (a thread
 *     keeps chunks once it has a heap, i.e. after its first small malloc;
 *     before that its frees go straight to glibc);
 *   an_exiting_thread_gives_its_chunks_back: what a thread kept is gone
 *     from the count once it has exited;
 *   trim_gives_the_chunks_back: malloc_trim empties this thread's cache
 *     and the shared one;
 *   a_double_free_aborts_with_one_line, the same for a chunk its bin
 *     passed on to the shared cache (a_double_free_of_a_shared_chunk_...),
 *   a_write_into_a_cached_chunk_aborts_with_one_line (child processes);
 *   pymalloc_fwd_cache_0_turns_it_off: the program run again with
 *     PYMALLOC_FWD_CACHE=0 keeps nothing, and without it keeps the chunk;
 *   a_process_with_one_thread_shares_nothing: run again, a process that
 *     never started a thread keeps its bin and sends what overflows to
 *     glibc.  (The other tests run after the group's setup started one.)
 * In --disable-override builds (sanitizers included) requests over 256 B
 * go to the program's own malloc, which the cache must leave alone:
 *   without_override_nothing_is_kept.
 */
#define _GNU_SOURCE 1
#ifdef HAVE_CONFIG_H
#include "pym_build_config.h"   /* PYM_OVERRIDE */
#endif
#include "child.h"
#include "cmocka_all.h"
#include "pymalloc.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_TIMEOUT_MS 10000
#define BIN_BYTES (16 << 10)
#ifndef PYM_SMALL_MAX
#define PYM_SMALL_MAX 256
#endif
/* The smallest request the cache serves, and one a little over it (300 B
 * in the default build: class 289..320 B). */
#define FWD_MIN (PYM_SMALL_MAX + 1)
#define FWD_SMALL (PYM_SMALL_MAX + 44)

static size_t cached_chunks(void)
{
    pym_stats_t s;
    pym_stats_get(&s);
    return s.fwd_cache_chunks;
}

#ifdef PYM_OVERRIDE

static size_t cached_bytes(void)
{
    pym_stats_t s;
    pym_stats_get(&s);
    return s.fwd_cache_bytes;
}

/* Keeps the compiler from pairing or dropping the calls under test. */
static void *(*volatile do_malloc)(size_t) = malloc;
static void (*volatile do_free)(void *) = free;

static void *do_nothing(void *arg)
{
    return arg;
}

/* A thread keeps chunks once it has a heap: after its first small malloc.
 * The shared cache is used once the process has had a second thread. */
static int give_the_main_thread_a_heap_and_a_peer(void **state)
{
    (void)state;
    do_free(do_malloc(16));
    pthread_t t;
    if (pthread_create(&t, NULL, do_nothing, NULL) != 0 || pthread_join(t, NULL) != 0)
        return -1;
    return 0;
}

static void a_freed_chunk_serves_the_next_malloc_of_its_class(void **state)
{
    (void)state;
    unsigned char *p = do_malloc(1000);
    assert_non_null(p);
    assert_false(pym_owns(p));
    memset(p, 0xAB, 1000);
    size_t before = cached_chunks();
    do_free(p);
    assert_int_equal(cached_chunks(), before + 1);
    unsigned char *q = do_malloc(990);   /* the same class: 961..1024 bytes */
    assert_ptr_equal(q, p);
    assert_int_equal(cached_chunks(), before);
    uint64_t words[2];
    memcpy(words, q, sizeof words);
    assert_int_equal(words[0], 0);
    assert_int_equal(words[1], 0);
    assert_int_equal(q[16], 0xAB);   /* the rest is as the program left it */
    assert_true(malloc_usable_size(q) >= 1024);
    assert_int_equal((uintptr_t)q % 16, 0);
    do_free(q);
}

static void every_size_gets_back_a_chunk_of_its_class(void **state)
{
    (void)state;
    for (size_t n = FWD_MIN; n <= 4096; n++) {
        unsigned char *p = do_malloc(n);
        assert_non_null(p);
        memset(p, 0x5A, n);
        do_free(p);
        unsigned char *q = do_malloc(n);
        if (q != p)
            fail_msg("malloc(%zu) after a free of a chunk of that size: %p, not %p", n, (void *)q, (void *)p);
        assert_true(malloc_usable_size(q) >= n);
        assert_int_equal(q[n - 1], 0x5A);
        do_free(q);
    }
}

static void calloc_of_a_cached_chunk_is_zeroed(void **state)
{
    (void)state;
    unsigned char *p = do_malloc(3000);
    assert_non_null(p);
    memset(p, 0xCD, malloc_usable_size(p));
    do_free(p);
    unsigned char *q = calloc(3, 1000);
    assert_ptr_equal(q, p);
    for (size_t i = 0; i < 3000; i++)
        assert_int_equal(q[i], 0);
    free(q);
}

static void realloc_keeps_the_contents_of_a_cached_chunk(void **state)
{
    (void)state;
    do_free(do_malloc(600));   /* the next 600-byte malloc is served from the cache */
    unsigned char *p = do_malloc(600);
    for (int i = 0; i < 600; i++)
        p[i] = (unsigned char)i;
    p = realloc(p, 3900);
    assert_non_null(p);
    for (int i = 0; i < 600; i++)
        assert_int_equal(p[i], (unsigned char)i);
    p = realloc(p, 100);   /* into a pool */
    assert_non_null(p);
    assert_true(pym_owns(p));
    for (int i = 0; i < 100; i++)
        assert_int_equal(p[i], (unsigned char)i);
    free(p);
}

/* A glibc chunk grown or shrunk within itself: where glibc's realloc keeps
 * the chunk as it is (the size rounded up to 16 with its size word fits,
 * less than 32 bytes over), realloc hands the same pointer back; in every
 * case the contents survive and the block holds the new size. */
static void realloc_within_a_chunk_keeps_it_where_glibc_would(void **state)
{
    (void)state;
    static void *(*volatile do_realloc)(void *, size_t) = realloc;
    unsigned char *p = do_malloc(FWD_SMALL);
    assert_false(pym_owns(p));
    size_t filled = FWD_SMALL;
    for (size_t i = 0; i < filled; i++)
        p[i] = (unsigned char)(i * 7);
    unsigned kept = 0;
    for (size_t n = FWD_SMALL + 1; n <= 3000; n += 1 + n % 13) {
        size_t chunk = malloc_usable_size(p) + 8;
        size_t rounded = (n + 8 + 15) & ~(size_t)15;
        unsigned char *q = do_realloc(p, n);
        assert_non_null(q);
        if (rounded <= chunk && chunk - rounded < 32) {
            assert_ptr_equal(q, p);
            kept++;
        }
        assert_true(malloc_usable_size(q) >= n);
        for (size_t i = 0; i < filled; i++)
            assert_int_equal(q[i], (unsigned char)(i * 7));
        for (; filled < n; filled++)
            q[filled] = (unsigned char)(filled * 7);
        p = q;
    }
    assert_true(kept > 0);
    do_free(p);
}

/* The chunk size of n's class (src/fwdcache.c: 8 classes per doubling). */
static size_t fwd_class_size(size_t n)
{
    size_t doubling = 256;
    while (2 * doubling < n)
        doubling *= 2;
    size_t step = doubling / 8;
    return (n + step - 1) / step * step;
}

static void a_class_keeps_16_KiB_a_thread_and_32_KiB_shared(void **state)
{
    (void)state;
    /* Class 289..320 B (by default): 51 chunks fill a bin's 16 KiB, a
     * batch is 25 of them, and the shared cache takes 4 batches of a class. */
    enum { N = 200 };
    const size_t SIZE = FWD_SMALL, CHUNK = fwd_class_size(SIZE);
    const size_t SHARED_BYTES = 4 * (BIN_BYTES / CHUNK / 2) * CHUNK;
    void *chunks[N];
    malloc_trim(0);
    for (int i = 0; i < N; i++)
        assert_non_null(chunks[i] = do_malloc(SIZE));
    size_t before = cached_bytes();
    for (int i = 0; i < N; i++)
        do_free(chunks[i]);
    size_t kept = cached_bytes() - before;
    assert_true(kept <= BIN_BYTES + SHARED_BYTES);
    assert_true(kept > SHARED_BYTES + BIN_BYTES / 2 - CHUNK);   /* the bin at least half full */
    assert_true(kept < (size_t)N * CHUNK);   /* the rest went to glibc */
    malloc_trim(0);
}

/* One round: n chunks of size allocated, then freed; returns how many of
 * them the cache kept. */
static size_t round_kept(void **chunks, size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++)
        assert_non_null(chunks[i] = do_malloc(size));
    size_t before = cached_chunks();
    for (size_t i = 0; i < n; i++)
        do_free(chunks[i]);
    return cached_chunks() - before;
}

static void a_class_grows_only_where_chunks_went_round(void **state)
{
    (void)state;
    /* Class 1793..2048 B: a bin of 8 at first, batches of 4, 4 of them shared. */
    enum { N = 64, SIZE = 2000, FIRST = BIN_BYTES / 2048, SHARED = 4 * FIRST / 2 };
    void *chunks[N];
    malloc_trim(0);
    /* Misses only (the bin starts empty, nothing overflowed yet): no growth. */
    assert_int_equal(round_kept(chunks, N, SIZE), FIRST + SHARED);
    /* This round's mallocs empty the bin and the shared cache and miss
     * after the last round's overflows: FIRST places more, the bound. */
    assert_int_equal(round_kept(chunks, N, SIZE), 2 * FIRST + SHARED);
    assert_int_equal(round_kept(chunks, N, SIZE), 2 * FIRST + SHARED);
    malloc_trim(0);
    assert_int_equal(cached_chunks(), 0);   /* this test's only thread */
    assert_int_equal(round_kept(chunks, N, SIZE), FIRST + SHARED);
    malloc_trim(0);
}

enum { PASSED = 16, PASSED_SIZE = 2000 };   /* class 1793..2048 B: a bin of 8, batches of 4 */
static void *passed[PASSED];

static void *free_all_then_exit(void *arg)
{
    (void)arg;
    do_free(do_malloc(16));   /* the thread's heap */
    for (int i = 0; i < PASSED; i++)
        do_free(passed[i]);
    return NULL;
}

static void a_full_bin_passes_its_oldest_chunks_to_other_threads(void **state)
{
    (void)state;
    malloc_trim(0);   /* this thread's bin of the class and the shared cache empty */
    for (int i = 0; i < PASSED; i++)
        assert_non_null(passed[i] = do_malloc(PASSED_SIZE));
    size_t before = cached_chunks();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_all_then_exit, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    /* The 9th and the 13th free each passed the bin's 4 oldest on; the
     * bin's 8 went back to glibc when the thread exited. */
    assert_int_equal(cached_chunks(), before + 8);
    void *mine[8];
    for (int i = 0; i < 8; i++) {
        assert_non_null(mine[i] = do_malloc(PASSED_SIZE));
        int first_eight = 0;
        for (int j = 0; j < 8; j++)
            first_eight |= mine[i] == passed[j];
        assert_true(first_eight);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(mine[i], mine[j]);
    }
    assert_int_equal(cached_chunks(), before);
    for (int i = 0; i < 8; i++)
        do_free(mine[i]);
    malloc_trim(0);
}

static void sizes_outside_the_classes_go_to_glibc(void **state)
{
    (void)state;
    static const size_t sizes[] = {200, 8192, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = do_malloc(sizes[i]);
        assert_non_null(p);
        size_t before = cached_chunks();
        do_free(p);
        assert_int_equal(cached_chunks(), before);
    }
}

enum { SHARED = 8, SHARED_SIZE = 2000 };   /* 8 chunks of 2048 bytes: one class's 16 KiB */
static void *shared[SHARED];
static int reused[SHARED];

static void *free_then_reuse(void *arg)
{
    (void)arg;
    do_free(do_malloc(16));   /* the thread's heap */
    for (int i = 0; i < SHARED; i++)
        do_free(shared[i]);
    void *mine[SHARED];
    for (int i = 0; i < SHARED; i++) {
        mine[i] = do_malloc(SHARED_SIZE);
        for (int j = 0; j < SHARED; j++)
            reused[i] |= mine[i] == shared[j];
    }
    for (int i = 0; i < SHARED; i++)
        do_free(mine[i]);
    return NULL;
}

static void a_thread_keeps_what_it_frees(void **state)
{
    (void)state;
    for (int i = 0; i < SHARED; i++)
        assert_non_null(shared[i] = do_malloc(SHARED_SIZE));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_then_reuse, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    for (int i = 0; i < SHARED; i++)
        assert_true(reused[i]);
}

static pthread_barrier_t kept, checked;

static void *keep_then_exit(void *arg)
{
    (void)arg;
    do_free(do_malloc(16));   /* the thread's heap */
    void *chunks[10];
    for (int i = 0; i < 10; i++)
        chunks[i] = do_malloc(1500);   /* class 1409..1536: a bin of 10, none passed on */
    for (int i = 0; i < 10; i++)
        do_free(chunks[i]);
    pthread_barrier_wait(&kept);
    pthread_barrier_wait(&checked);
    return NULL;
}

static void an_exiting_thread_gives_its_chunks_back(void **state)
{
    (void)state;
    assert_int_equal(pthread_barrier_init(&kept, NULL, 2), 0);
    assert_int_equal(pthread_barrier_init(&checked, NULL, 2), 0);
    size_t before = cached_chunks();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, keep_then_exit, NULL), 0);
    pthread_barrier_wait(&kept);
    size_t while_alive = cached_chunks();
    pthread_barrier_wait(&checked);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(while_alive, before + 10);
    assert_int_equal(cached_chunks(), before);
    pthread_barrier_destroy(&kept);
    pthread_barrier_destroy(&checked);
}

static void trim_gives_the_chunks_back(void **state)
{
    (void)state;
    void *p = do_malloc(700), *q = do_malloc(2500);
    void *many[12];   /* class 1793..2048 B: a bin of 8, so a batch of 4 goes shared */
    for (int i = 0; i < 12; i++)
        assert_non_null(many[i] = do_malloc(2000));
    do_free(p);
    do_free(q);
    for (int i = 0; i < 12; i++)
        do_free(many[i]);
    assert_true(cached_chunks() >= 14);
    malloc_trim(0);
    assert_int_equal(cached_chunks(), 0);   /* this test's only thread */
}

static int free_twice(void *arg)
{
    (void)arg;
    child_no_core_dump();
    void *p = do_malloc(700);
    do_free(p);
    do_free(p);
    return 0;
}

/* The 9th free into a bin of 8 (class 1793..2048 B) passes the 4 oldest
 * on to the shared cache: the first chunk freed is there when it is freed
 * again. */
static int free_twice_after_it_went_shared(void *arg)
{
    (void)arg;
    child_no_core_dump();
    void *chunks[9];
    for (int i = 0; i < 9; i++)
        chunks[i] = do_malloc(2000);
    for (int i = 0; i < 9; i++)
        do_free(chunks[i]);
    do_free(chunks[0]);
    return 0;
}

static int write_after_free_then_malloc(void *arg)
{
    (void)arg;
    child_no_core_dump();
    unsigned char *p = do_malloc(700);
    do_free(p);
    memset(p, 0x41, 16);   /* a use after free over the link and the mark */
    do_malloc(700);
    return 0;
}

static void expect_one_line_and_abort(int (*body)(void *), const char *const *words)
{
    child_result_t result;
    assert_int_equal(child_run(body, NULL, CHILD_TIMEOUT_MS, &result), 0);
    if (result.timed_out)
        fail_msg("the child hung instead of aborting");
    if (!child_killed_by(&result, SIGABRT))
        fail_msg("the child was not aborted; its stderr: %s", result.stderr_text);
    if (!child_stderr_line_has(&result, words))
        fail_msg("no line of the child's stderr names the misuse: %s", result.stderr_text);
}

static void a_double_free_aborts_with_one_line(void **state)
{
    (void)state;
    static const char *const words[] = {"pymalloc", "double free", NULL};
    expect_one_line_and_abort(free_twice, words);
}

static void a_double_free_of_a_shared_chunk_aborts_with_one_line(void **state)
{
    (void)state;
    static const char *const words[] = {"pymalloc", "double free", NULL};
    expect_one_line_and_abort(free_twice_after_it_went_shared, words);
}

static void a_write_into_a_cached_chunk_aborts_with_one_line(void **state)
{
    (void)state;
    static const char *const words[] = {"pymalloc", "corrupt", NULL};
    expect_one_line_and_abort(write_after_free_then_malloc, words);
}

/* The program itself, run again with this argument: exits with the
 * number of chunks one free of a 1000-byte chunk left cached (0 or 1), or
 * 2 if PYMALLOC_FWD_CACHE as read disagrees with that. */
#define PROBE "--probe-cache"
#define PROBE_ONE_THREAD "--probe-one-thread"

static int probe_cache(void)
{
    do_free(do_malloc(16));   /* a heap for this thread */
    size_t before = cached_chunks();
    do_free(do_malloc(1000));
    size_t kept = cached_chunks() - before;
    return kept == (size_t)pym_option_get(PYM_OPTION_FWD_CACHE) ? (int)kept : 2;
}

/* In a process that has had one thread only: 20 frees of 2000 B (class
 * 1793..2048 B, a bin of 8) keep the bin's 8 and send the other 12 to
 * glibc, none to the shared cache. */
static int probe_one_thread(void)
{
    void *chunks[20];
    do_free(do_malloc(16));   /* a heap for this thread */
    for (int i = 0; i < 20; i++)
        chunks[i] = do_malloc(2000);
    size_t before = cached_chunks();
    for (int i = 0; i < 20; i++)
        do_free(chunks[i]);
    return cached_chunks() - before == 8 ? 0 : 1;
}

/* The exit status of this program run again in `mode`, with
 * PYMALLOC_FWD_CACHE=value (unset: NULL). */
static int run_self(const char *mode, const char *value)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (value)
            setenv("PYMALLOC_FWD_CACHE", value, 1);
        else
            unsetenv("PYMALLOC_FWD_CACHE");
        execl("/proc/self/exe", "fwd_cache", mode, (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void pymalloc_fwd_cache_0_turns_it_off(void **state)
{
    (void)state;
    assert_int_equal(run_self(PROBE, "0"), 0);
    assert_int_equal(run_self(PROBE, NULL), 1);
}

static void a_process_with_one_thread_shares_nothing(void **state)
{
    (void)state;
    assert_int_equal(run_self(PROBE_ONE_THREAD, NULL), 0);
}

#else /* !PYM_OVERRIDE */

static void without_override_nothing_is_kept(void **state)
{
    (void)state;
    size_t before = cached_chunks();
    for (int i = 0; i < 100; i++)
        pym_free(pym_malloc(FWD_SMALL + 37 * (size_t)i));
    assert_int_equal(cached_chunks(), before);
    assert_int_equal(before, 0);
}

#endif

int main(int argc, char **argv)
{
#ifdef PYM_OVERRIDE
    if (argc > 1 && strcmp(argv[1], PROBE) == 0)
        return probe_cache();
    if (argc > 1 && strcmp(argv[1], PROBE_ONE_THREAD) == 0)
        return probe_one_thread();
#else
    (void)argc;
    (void)argv;
#endif
    const struct CMUnitTest tests[] = {
#ifdef PYM_OVERRIDE
        cmocka_unit_test(a_freed_chunk_serves_the_next_malloc_of_its_class),
        cmocka_unit_test(every_size_gets_back_a_chunk_of_its_class),
        cmocka_unit_test(calloc_of_a_cached_chunk_is_zeroed),
        cmocka_unit_test(realloc_keeps_the_contents_of_a_cached_chunk),
        cmocka_unit_test(realloc_within_a_chunk_keeps_it_where_glibc_would),
        cmocka_unit_test(a_class_keeps_16_KiB_a_thread_and_32_KiB_shared),
        cmocka_unit_test(a_class_grows_only_where_chunks_went_round),
        cmocka_unit_test(a_full_bin_passes_its_oldest_chunks_to_other_threads),
        cmocka_unit_test(sizes_outside_the_classes_go_to_glibc),
        cmocka_unit_test(a_thread_keeps_what_it_frees),
        cmocka_unit_test(an_exiting_thread_gives_its_chunks_back),
        cmocka_unit_test(trim_gives_the_chunks_back),
        cmocka_unit_test(a_double_free_aborts_with_one_line),
        cmocka_unit_test(a_double_free_of_a_shared_chunk_aborts_with_one_line),
        cmocka_unit_test(a_write_into_a_cached_chunk_aborts_with_one_line),
        cmocka_unit_test(pymalloc_fwd_cache_0_turns_it_off),
        cmocka_unit_test(a_process_with_one_thread_shares_nothing),
#else
        cmocka_unit_test(without_override_nothing_is_kept),
#endif
    };
#ifdef PYM_OVERRIDE
    return cmocka_run_group_tests(tests, give_the_main_thread_a_heap_and_a_peer, NULL);
#else
    return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
