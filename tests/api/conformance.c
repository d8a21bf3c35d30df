/*
 * conformance.c -- the allocation surface behaves like glibc's, one named
 * test per edge case.
 *
 * The file is compiled twice:
 *   api_pym   calls the prefixed API (pym_malloc, pym_free, ...); it runs in
 *             every build, including --disable-override and sanitizer builds.
 *   api_libc  (-DTEST_LIBC_NAMES, override builds only) calls the libc names
 *             (malloc, free, ..., malloc_usable_size, free_sized), which the
 *             library exports, and adds the checks that only make sense for
 *             them: the override took effect, blocks move between the two
 *             APIs, foreign glibc blocks are handled, valloc/pvalloc and the
 *             introspection functions forward to glibc.
 * The t_* macros below name the function under test in either build.  The
 * programs are built with -fno-builtin so the compiler cannot fold or drop
 * the calls, and impossible sizes go through opaque() so it cannot warn
 * about them at compile time.
 *
 * Several tests know pymalloc's geometry from DESIGN.md: requests of
 * 0..SMALL_MAX bytes with alignment <= 16 are served by 16-byte size classes
 * (owned: pym_owns is 1), larger or over-aligned ones are forwarded; a class
 * reuses its most recently freed block first (LIFO free list), which is how
 * "this call released the block" is observed without reading internals.
 */
#define _GNU_SOURCE 1
#ifdef HAVE_CONFIG_H
#include "pym_build_config.h"   /* PYM_SMALL_MAX (configure --with-small-max) */
#endif
#include "cmocka_all.h"
#include "pattern.h"
#include "pymalloc.h"
#include "sanitizer.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef TEST_LIBC_NAMES
/* C23 names; glibc 2.36's headers do not declare them, libpymalloc exports them. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);
/* glibc's own entry points, bypassing any override. */
void *__libc_malloc(size_t size);
void __libc_free(void *ptr);
#define t_malloc malloc
#define t_calloc calloc
#define t_realloc realloc
#define t_reallocarray reallocarray
#define t_free free
#define t_free_sized free_sized
#define t_free_aligned_sized free_aligned_sized
#define t_posix_memalign posix_memalign
#define t_aligned_alloc aligned_alloc
#define t_memalign memalign
#define t_usable_size malloc_usable_size
#else
#define t_malloc pym_malloc
#define t_calloc pym_calloc
#define t_realloc pym_realloc
#define t_reallocarray pym_reallocarray
#define t_free pym_free
#define t_free_sized pym_free_sized
#define t_free_aligned_sized pym_free_aligned_sized
#define t_posix_memalign pym_posix_memalign
#define t_aligned_alloc pym_aligned_alloc
#define t_memalign pym_memalign
#define t_usable_size pym_usable_size
#endif

/* The largest request served by pools. */
#ifdef PYM_SMALL_MAX
#define SMALL_MAX PYM_SMALL_MAX
#else
#define SMALL_MAX 256
#endif
#define CLASS_STEP 16
#define ERRNO_SENTINEL EDOM

/* Impossible sizes are forwarded to the C library, which is the
 * sanitizer's in a sanitizer build: let it return NULL as glibc does
 * instead of aborting. */
#ifdef UNDER_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif
#ifdef UNDER_TSAN
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif

/* Hides a value from the optimiser (no folding, no alloc-size warnings). */
static size_t opaque(size_t value)
{
    volatile size_t hidden = value;
    return hidden;
}

static int is_aligned(const void *ptr, size_t alignment)
{
    return ((uintptr_t)ptr & (alignment - 1)) == 0;
}

static size_t class_size_of(size_t request)
{
    return request == 0 ? CLASS_STEP : (request + CLASS_STEP - 1) / CLASS_STEP * CLASS_STEP;
}

/* Asserts that the block freed at ptr went back to its size class: it is
 * handed out again within one pool's worth of requests of that class (a
 * freed block waits on its pool's local list until the pool's free list
 * runs dry, as in mimalloc). */
static void assert_small_block_released(void *ptr, size_t size)
{
    enum { TRIES = 64 * (4096 / 16) };   /* several pools of the smallest class */
    static void *taken[TRIES];
    int n = 0, found = 0;
    while (n < TRIES && !found) {
        taken[n] = t_malloc(size);
        found = taken[n++] == ptr;
    }
    while (n > 0)
        t_free(taken[--n]);
    assert_true(found);
}

/* Sizes used by the realloc tests: every class, both sides of each class
 * boundary and of the small/large threshold, and forwarded sizes up to one
 * that glibc serves with mmap. */
static const size_t resize_sizes[] = {
    1, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 80, 96, 100, 112, 127, 128,
    129, 144, 160, 176, 192, 200, 208, 224, 240, 255, 256, 257, 300, 512, 513,
    1024, 4096, 65536, 200000,
};
#define RESIZE_SIZES_COUNT (sizeof resize_sizes / sizeof resize_sizes[0])

/* ---- malloc ------------------------------------------------------------- */

static void malloc_zero_returns_unique_aligned_blocks(void **state)
{
    (void)state;
    enum { COUNT = 64 };
    unsigned char *blocks[COUNT];
    for (int i = 0; i < COUNT; i++) {
        blocks[i] = t_malloc(opaque(0));
        assert_non_null(blocks[i]);
        assert_true(is_aligned(blocks[i], 16));
        assert_true(pym_owns(blocks[i]));
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(blocks[i], blocks[j]);
        blocks[i][0] = (unsigned char)i;   /* a unique 16-byte block: writable */
    }
    for (int i = 0; i < COUNT; i++) {
        assert_int_equal(blocks[i][0], i);
        t_free(blocks[i]);
    }
}

static void every_size_up_to_1024_is_16_byte_aligned(void **state)
{
    (void)state;
    for (size_t size = 0; size <= 1024; size++) {
        void *block = t_malloc(size);
        assert_non_null(block);
        if (!is_aligned(block, 16))
            fail_msg("malloc(%zu) = %p is not 16-byte aligned", size, block);
        t_free(block);
    }
}

static void usable_size_covers_every_size_up_to_1024(void **state)
{
    (void)state;
    for (size_t size = 0; size <= 1024; size++) {
        unsigned char *block = t_malloc(size);
        assert_non_null(block);
        size_t usable = t_usable_size(block);
        if (usable < size)
            fail_msg("usable size %zu < request %zu", usable, size);
        if (size <= SMALL_MAX && usable > class_size_of(size))
            fail_msg("usable size %zu of a small %zu-byte request exceeds its class size %zu",
                     usable, size, class_size_of(size));
        memset(block, 0x5A, usable);   /* all of it really is usable */
        t_free(block);
    }
}

static void usable_size_of_null_is_zero(void **state)
{
    (void)state;
    assert_int_equal(t_usable_size(NULL), 0);
}

static void live_blocks_never_overlap(void **state)
{
    (void)state;
    enum { COUNT = 20000 };
    unsigned char **blocks = t_malloc(COUNT * sizeof *blocks);
    size_t *sizes = t_malloc(COUNT * sizeof *sizes);
    assert_non_null(blocks);
    assert_non_null(sizes);
    for (size_t i = 0; i < COUNT; i++) {
        sizes[i] = (i * 7919) % (SMALL_MAX + 64);
        blocks[i] = t_malloc(sizes[i]);
        assert_non_null(blocks[i]);
        pattern_fill(blocks[i], sizes[i], pattern_seed(blocks[i], i));
    }
    for (size_t i = 0; i < COUNT; i++) {
        if (!pattern_intact(blocks[i], sizes[i], pattern_seed(blocks[i], i)))
            fail_msg("block %zu (%zu bytes at %p) was overwritten", i, sizes[i],
                     (void *)blocks[i]);
        t_free(blocks[i]);
    }
    t_free(sizes);
    t_free(blocks);
}

static void huge_malloc_fails_with_enomem(void **state)
{
    (void)state;
    const size_t huge[] = { SIZE_MAX, (size_t)PTRDIFF_MAX + 1, SIZE_MAX - 15 };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        assert_null(t_malloc(opaque(huge[i])));
        assert_int_equal(errno, ENOMEM);
    }
}

/* ---- ownership ------------------------------------------------------------ */

static int static_object;

static void small_blocks_are_owned(void **state)
{
    (void)state;
    for (size_t size = 0; size <= SMALL_MAX; size++) {
        unsigned char *block = t_malloc(size);
        assert_non_null(block);
        if (!pym_owns(block))
            fail_msg("a %zu-byte block at %p is not owned", size, (void *)block);
        t_free(block);
    }
}

static void large_and_overaligned_blocks_are_not_owned(void **state)
{
    (void)state;
    const size_t large[] = { SMALL_MAX + 1, 1024, 4096, 1 << 20 };
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
        void *block = t_malloc(large[i]);
        assert_non_null(block);
        assert_false(pym_owns(block));
        t_free(block);
    }
    void *aligned = t_memalign(64, 32);
    assert_non_null(aligned);
    assert_true(is_aligned(aligned, 64));
    assert_false(pym_owns(aligned));
    t_free(aligned);
}

static void stack_static_and_null_are_not_owned(void **state)
{
    (void)state;
    int stack_object = 0;
    assert_false(pym_owns(&stack_object));
    assert_false(pym_owns(&static_object));
    assert_false(pym_owns(NULL));
    assert_false(pym_owns("a string literal"));
}

/* ---- calloc ------------------------------------------------------------- */

static void calloc_zeroes_fresh_blocks(void **state)
{
    (void)state;
    for (size_t size = 0; size <= 1024; size += 7) {
        unsigned char *block = t_calloc(1, size);
        assert_non_null(block);
        assert_true(bytes_all_zero(block, size));
        t_free(block);
    }
    unsigned char *big = t_calloc(1000, 1000);   /* 1 MB: glibc's mmap path */
    assert_non_null(big);
    assert_true(bytes_all_zero(big, 1000 * 1000));
    t_free(big);
}

static void calloc_zeroes_reused_dirty_blocks(void **state)
{
    (void)state;
    enum { COUNT = 300 };   /* more than a pool holds: freed blocks come back */
    /* Every class up to 256 B (calloc clears a block with stores from both
     * ends, which overlap differently at each size), and beyond. */
    const size_t sizes[] = { 1,   16,  24,  32,  48,  64,  80,  96,   100,  112, 128,
                             144, 160, 176, 192, 200, 208, 224, 240, 256, 300, 1000, 4096 };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t size = sizes[s];
        unsigned char *dirty[COUNT], *clean[COUNT];
        for (int i = 0; i < COUNT; i++) {
            dirty[i] = t_malloc(size);
            assert_non_null(dirty[i]);
            memset(dirty[i], 0xA5, t_usable_size(dirty[i]));
        }
        for (int i = 0; i < COUNT; i++)
            t_free(dirty[i]);
        int reused = 0;
        for (int i = 0; i < COUNT; i++) {
            /* half as calloc(1, size), half as calloc(size, 1) */
            clean[i] = (i & 1) ? t_calloc(size, 1) : t_calloc(1, size);
            assert_non_null(clean[i]);
            /* All the program may use (malloc_usable_size), not only size:
             * by the fast path, the refill and the decay tick alike. */
            if (!bytes_all_zero(clean[i], t_usable_size(clean[i])))
                fail_msg("calloc of %zu bytes returned dirty memory at %p", size,
                         (void *)clean[i]);
            for (int j = 0; j < COUNT; j++)
                reused += clean[i] == dirty[j];
        }
        /* The test is only meaningful if dirty blocks came back. */
        if (size <= SMALL_MAX && reused == 0)
            fail_msg("no freed %zu-byte block was reused by calloc", size);
        for (int i = 0; i < COUNT; i++)
            t_free(clean[i]);
    }
}

static void calloc_of_zero_returns_a_block(void **state)
{
    (void)state;
    void *none = t_calloc(0, 8);
    void *empty = t_calloc(8, 0);
    assert_non_null(none);
    assert_non_null(empty);
    assert_ptr_not_equal(none, empty);
    t_free(none);
    t_free(empty);
}

static void calloc_overflow_fails_with_enomem(void **state)
{
    (void)state;
    const size_t pairs[][2] = {
        { SIZE_MAX / 2 + 1, 2 },
        { 2, SIZE_MAX / 2 + 1 },
        { SIZE_MAX, SIZE_MAX },
        { (size_t)1 << 32, (size_t)1 << 32 },
        { SIZE_MAX / 16 + 1, 16 },       /* product wraps to exactly 0 */
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        errno = 0;
        assert_null(t_calloc(opaque(pairs[i][0]), opaque(pairs[i][1])));
        assert_int_equal(errno, ENOMEM);
    }
    errno = 0;
    assert_null(t_calloc(1, opaque(SIZE_MAX)));
    assert_int_equal(errno, ENOMEM);
}

/* ---- realloc / reallocarray ---------------------------------------------- */

static void realloc_of_null_is_malloc(void **state)
{
    (void)state;
    for (size_t size = 0; size <= 1024; size += 13) {
        unsigned char *block = t_realloc(NULL, size);
        assert_non_null(block);
        assert_true(is_aligned(block, 16));
        assert_true(t_usable_size(block) >= size);
        assert_int_equal(pym_owns(block), size <= SMALL_MAX);
        memset(block, 0x11, size);
        t_free(block);
    }
}

static void realloc_to_zero_frees_and_returns_null(void **state)
{
    (void)state;
    for (size_t size = 1; size <= SMALL_MAX; size += CLASS_STEP) {
        void *block = t_malloc(size);
        assert_non_null(block);
        errno = ERRNO_SENTINEL;
        assert_null(t_realloc(block, 0));
        assert_int_equal(errno, ERRNO_SENTINEL);
        assert_small_block_released(block, size);
    }
    void *large = t_malloc(5000);   /* forwarded: released by glibc's realloc */
    assert_non_null(large);
    assert_null(t_realloc(large, 0));
}

/* Resizes a block from every size of resize_sizes to every other one and
 * checks that the common prefix survives each move. */
static void realloc_keeps_contents_between_every_pair_of_sizes(void **state)
{
    (void)state;
    for (size_t from = 0; from < RESIZE_SIZES_COUNT; from++) {
        for (size_t to = 0; to < RESIZE_SIZES_COUNT; to++) {
            size_t old_size = resize_sizes[from], new_size = resize_sizes[to];
            unsigned char *block = t_malloc(old_size);
            assert_non_null(block);
            uint64_t seed = pattern_seed(block, old_size * 31 + new_size);
            pattern_fill(block, old_size, seed);
            unsigned char *moved = t_realloc(block, new_size);
            assert_non_null(moved);
            assert_true(is_aligned(moved, 16));
            assert_true(t_usable_size(moved) >= new_size);
            size_t kept = old_size < new_size ? old_size : new_size;
            if (!pattern_intact(moved, kept, seed))
                fail_msg("realloc %zu -> %zu lost the contents", old_size, new_size);
            memset(moved, 0x33, new_size);
            t_free(moved);
        }
    }
}

/* One block walks small -> large -> small -> large, crossing the threshold
 * both ways and visiting every class, with its contents checked each step. */
static void realloc_keeps_contents_across_the_threshold_both_ways(void **state)
{
    (void)state;
    size_t size = 1;
    unsigned char *block = t_malloc(size);
    assert_non_null(block);
    uint64_t seed = 0x5eed;
    pattern_fill(block, size, seed);
    const size_t path[] = {
        16, 48, 100, 256, 257, 1024, 255, 128, 32, 17, 3000, 64, 4096, 256, 300, 8, 1,
    };
    for (size_t step = 0; step < sizeof path / sizeof path[0]; step++) {
        size_t new_size = path[step];
        block = t_realloc(block, new_size);
        assert_non_null(block);
        size_t kept = size < new_size ? size : new_size;
        if (!pattern_intact(block, kept, seed))
            fail_msg("step %zu: realloc %zu -> %zu lost the contents", step, size, new_size);
        if (new_size > SMALL_MAX)
            assert_false(pym_owns(block));   /* no pool block can hold it */
        seed = pattern_mix(seed);
        pattern_fill(block, new_size, seed);
        size = new_size;
    }
    t_free(block);
}

static void realloc_stays_in_place_within_the_class(void **state)
{
    (void)state;
    for (size_t class_size = CLASS_STEP; class_size <= SMALL_MAX; class_size += CLASS_STEP) {
        /* growing to the end of the class */
        unsigned char *block = t_malloc(class_size - CLASS_STEP + 1);
        assert_non_null(block);
        pattern_fill(block, class_size - CLASS_STEP + 1, 1);
        assert_ptr_equal(t_realloc(block, class_size), block);
        assert_true(pattern_intact(block, class_size - CLASS_STEP + 1, 1));
        /* shrinking by less than a quarter */
        pattern_fill(block, class_size, 2);
        size_t smaller = class_size - class_size / 4 + 1;
        assert_ptr_equal(t_realloc(block, smaller), block);
        assert_true(pattern_intact(block, smaller, 2));
        /* same size */
        assert_ptr_equal(t_realloc(block, smaller), block);
        t_free(block);
    }
}

static void realloc_moves_when_shrinking_a_lot(void **state)
{
    (void)state;
    for (size_t class_size = 2 * CLASS_STEP; class_size <= SMALL_MAX; class_size += CLASS_STEP) {
        unsigned char *block = t_malloc(class_size);
        assert_non_null(block);
        pattern_fill(block, class_size, 3);
        size_t quarter = class_size / 4;
        unsigned char *moved = t_realloc(block, quarter);
        assert_non_null(moved);
        if (moved == block)
            fail_msg("realloc %zu -> %zu kept a block four times too big", class_size, quarter);
        assert_true(pattern_intact(moved, quarter, 3));
        assert_true(t_usable_size(moved) <= class_size_of(quarter));
        t_free(moved);
    }
}

static void realloc_failure_keeps_the_block(void **state)
{
    (void)state;
    const size_t sizes[] = { 24, 256, 5000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *block = t_malloc(sizes[i]);
        assert_non_null(block);
        pattern_fill(block, sizes[i], 4);
        errno = 0;
        assert_null(t_realloc(block, opaque(SIZE_MAX)));
        assert_int_equal(errno, ENOMEM);
        assert_true(pattern_intact(block, sizes[i], 4));
        t_free(block);
    }
}

static void reallocarray_resizes_like_realloc(void **state)
{
    (void)state;
    unsigned char *block = t_reallocarray(NULL, 10, 10);
    assert_non_null(block);
    assert_true(pym_owns(block));
    pattern_fill(block, 100, 5);
    block = t_reallocarray(block, 100, 10);
    assert_non_null(block);
    assert_false(pym_owns(block));
    assert_true(pattern_intact(block, 100, 5));
    block = t_reallocarray(block, 3, 16);
    assert_non_null(block);
    assert_true(pattern_intact(block, 48, 5));
    t_free(block);
}

static void reallocarray_overflow_fails_with_enomem_and_keeps_the_block(void **state)
{
    (void)state;
    errno = 0;
    assert_null(t_reallocarray(NULL, opaque(SIZE_MAX / 2 + 1), 2));
    assert_int_equal(errno, ENOMEM);

    /* Called through a pointer: glibc's declaration tells gcc that
     * reallocarray always frees its argument, which is not so on failure. */
    void *(*volatile resize_array)(void *, size_t, size_t) = t_reallocarray;
    unsigned char *block = t_malloc(64);
    assert_non_null(block);
    pattern_fill(block, 64, 6);
    errno = 0;
    assert_null(resize_array(block, (size_t)1 << 32, (size_t)1 << 32));
    assert_int_equal(errno, ENOMEM);
    assert_true(pattern_intact(block, 64, 6));
    t_free(block);
}

/* ---- aligned allocation ---------------------------------------------------- */

static const size_t aligned_sizes[] = { 1, 16, 100, 256, 1000, 5000 };
#define ALIGNED_SIZES_COUNT (sizeof aligned_sizes / sizeof aligned_sizes[0])

/* Checks one aligned block: alignment, usable size, every byte writable. */
static void check_aligned_block(void *block, size_t alignment, size_t size)
{
    assert_non_null(block);
    if (!is_aligned(block, alignment))
        fail_msg("%p is not %zu-byte aligned", block, alignment);
    assert_true(t_usable_size(block) >= size);
    pattern_fill(block, size, alignment + size);
    assert_true(pattern_intact(block, size, alignment + size));
}

static void posix_memalign_rejects_bad_alignments_without_touching_errno(void **state)
{
    (void)state;
    /* zero, not a power of two, or smaller than sizeof(void *) */
    const size_t bad[] = { 0, 1, 2, 3, 4, 12, 24, 48, 100, sizeof(void *) + 1,
                           (size_t)1 << 63 | 16 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *out = NULL;
        errno = ERRNO_SENTINEL;
        int result = t_posix_memalign(&out, opaque(bad[i]), 64);
        if (result != EINVAL)
            fail_msg("posix_memalign(alignment %zu) returned %d, not EINVAL", bad[i], result);
        assert_int_equal(errno, ERRNO_SENTINEL);
    }
}

static void posix_memalign_aligns_16_to_65536(void **state)
{
    (void)state;
    for (size_t alignment = 16; alignment <= 65536; alignment *= 2) {
        for (size_t s = 0; s < ALIGNED_SIZES_COUNT; s++) {
            void *block = NULL;
            errno = ERRNO_SENTINEL;
            assert_int_equal(t_posix_memalign(&block, alignment, aligned_sizes[s]), 0);
            assert_int_equal(errno, ERRNO_SENTINEL);
            check_aligned_block(block, alignment, aligned_sizes[s]);
            t_free(block);
        }
    }
}

static void posix_memalign_of_a_pointer_alignment_is_served_by_pools(void **state)
{
    (void)state;
    for (size_t alignment = sizeof(void *); alignment <= 16; alignment *= 2) {
        void *block = NULL;
        assert_int_equal(t_posix_memalign(&block, alignment, 64), 0);
        check_aligned_block(block, alignment, 64);
        assert_true(pym_owns(block));
        t_free(block);
    }
}

static void aligned_alloc_aligns_16_to_65536(void **state)
{
    (void)state;
    for (size_t alignment = 16; alignment <= 65536; alignment *= 2) {
        for (size_t s = 0; s < ALIGNED_SIZES_COUNT; s++) {
            void *block = t_aligned_alloc(alignment, aligned_sizes[s]);
            check_aligned_block(block, alignment, aligned_sizes[s]);
            t_free_aligned_sized(block, alignment, aligned_sizes[s]);
        }
    }
}

/* pym_aligned_alloc: C17 (DR 460) and glibc 2.38.  aligned_alloc itself
 * answers as the glibc it was built against: up to 2.37 that is memalign,
 * which rounds the alignment up (tests/api/align_vs_glibc.sh compares). */
#if defined(TEST_LIBC_NAMES) && !__GLIBC_PREREQ(2, 38)
static void aligned_alloc_with_a_non_power_of_two_alignment(void **state)
{
    (void)state;
    const size_t odd[] = { 3, 24, 48, 100, 4095 };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        size_t rounded = 1;
        while (rounded < odd[i])
            rounded <<= 1;
        void *block = t_aligned_alloc(opaque(odd[i]), odd[i] * 4);
        if (block == NULL || ((uintptr_t)block & (rounded - 1)) != 0)
            fail_msg("aligned_alloc(%zu, %zu) is not glibc 2.36's memalign", odd[i], odd[i] * 4);
        t_free(block);
    }
}
#else   /* EINVAL */
static void aligned_alloc_with_a_non_power_of_two_alignment(void **state)
{
    (void)state;
    const size_t bad[] = { 3, 24, 48, 100, 4095 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        void *block = t_aligned_alloc(opaque(bad[i]), bad[i] * 4);
        if (block != NULL)
            fail_msg("aligned_alloc(%zu, %zu) did not fail", bad[i], bad[i] * 4);
        assert_int_equal(errno, EINVAL);
    }
}

#endif

static void memalign_aligns_16_to_65536(void **state)
{
    (void)state;
    for (size_t alignment = 16; alignment <= 65536; alignment *= 2) {
        for (size_t s = 0; s < ALIGNED_SIZES_COUNT; s++) {
            void *block = t_memalign(alignment, aligned_sizes[s]);
            check_aligned_block(block, alignment, aligned_sizes[s]);
            t_free(block);
        }
    }
}

static void huge_aligned_requests_fail_with_enomem(void **state)
{
    (void)state;
    void *block = NULL;
    errno = 0;
    assert_int_equal(t_posix_memalign(&block, 64, opaque(SIZE_MAX)), ENOMEM);
    assert_int_equal(errno, ENOMEM);   /* glibc sets it too */
    errno = 0;
    assert_null(t_aligned_alloc(64, opaque(SIZE_MAX - 63)));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(t_memalign(4096, opaque((size_t)PTRDIFF_MAX + 1)));
    assert_int_equal(errno, ENOMEM);
}

/* ---- free ------------------------------------------------------------------ */

static void free_of_null_does_nothing(void **state)
{
    (void)state;
    errno = ERRNO_SENTINEL;
    t_free(NULL);
    t_free_sized(NULL, 0);
    t_free_aligned_sized(NULL, 64, 0);
    assert_int_equal(errno, ERRNO_SENTINEL);
}

/* Frees blocks of every kind, including enough small ones that whole pools
 * and arenas empty and go back to the kernel, with errno set throughout. */
static void free_functions_keep_errno(void **state)
{
    (void)state;
    enum { MANY = 3 * 256 * 1024 / 64 };   /* three arenas of 64-byte blocks */
    void **many = t_malloc(MANY * sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i < MANY; i++) {
        many[i] = t_malloc(64);
        assert_non_null(many[i]);
    }
    void *large = t_malloc(5000), *mapped = t_malloc(4 << 20);
    void *sized_small = t_malloc(40), *sized_large = t_malloc(40000);
    void *aligned = t_aligned_alloc(4096, 4096);
    assert_non_null(large);
    assert_non_null(mapped);
    assert_non_null(sized_small);
    assert_non_null(sized_large);
    assert_non_null(aligned);

    errno = ERRNO_SENTINEL;
    for (size_t i = 0; i < MANY; i++)
        t_free(many[i]);
    t_free(large);
    t_free(mapped);
    t_free_sized(sized_small, 40);
    t_free_sized(sized_large, 40000);
    t_free_aligned_sized(aligned, 4096, 4096);
    assert_int_equal(errno, ERRNO_SENTINEL);
    t_free(many);
}

static void free_sized_releases_the_block(void **state)
{
    (void)state;
    for (size_t size = 0; size <= SMALL_MAX; size += 5) {
        void *block = t_malloc(size);
        assert_non_null(block);
        t_free_sized(block, size);
        assert_small_block_released(block, size);
    }
}

static void free_aligned_sized_releases_the_block(void **state)
{
    (void)state;
    for (size_t size = 16; size <= SMALL_MAX; size += CLASS_STEP) {
        void *block = t_aligned_alloc(16, size);
        assert_non_null(block);
        assert_true(pym_owns(block));
        t_free_aligned_sized(block, 16, size);
        assert_small_block_released(block, size);
    }
}

#ifdef TEST_LIBC_NAMES
/* ---- libc names only ------------------------------------------------------- */

static void malloc_is_served_by_pymalloc(void **state)
{
    (void)state;
    void *block = malloc(opaque(64));
    assert_non_null(block);
    assert_true(pym_owns(block));
    void *zeroed = calloc(1, opaque(64));
    assert_non_null(zeroed);
    assert_true(pym_owns(zeroed));
    free(zeroed);
    free(block);
}

static void blocks_move_between_the_two_apis(void **state)
{
    (void)state;
    for (size_t size = 0; size <= 2 * SMALL_MAX; size += 24) {
        unsigned char *block = malloc(size);
        assert_non_null(block);
        assert_int_equal(pym_usable_size(block), malloc_usable_size(block));
        pym_free(block);
        block = pym_malloc(size);
        assert_non_null(block);
        pattern_fill(block, size, 7);
        block = realloc(block, size + 40);
        assert_non_null(block);
        assert_true(pattern_intact(block, size, 7));
        free(block);
    }
}

static void foreign_glibc_blocks_are_handled(void **state)
{
    (void)state;
    const size_t sizes[] = { 24, 200, 5000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *block = __libc_malloc(sizes[i]);
        assert_non_null(block);
        assert_false(pym_owns(block));
        assert_true(malloc_usable_size(block) >= sizes[i]);
        pattern_fill(block, sizes[i], 8);
        block = realloc(block, sizes[i] * 3);
        assert_non_null(block);
        assert_true(pattern_intact(block, sizes[i], 8));
        free(block);
    }
    void *glibc_block = __libc_malloc(100);
    assert_non_null(glibc_block);
    free_sized(glibc_block, 100);
}

static void valloc_and_pvalloc_are_page_aligned(void **state)
{
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t sizes[] = { 1, 100, 4096, 5000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *block = valloc(sizes[i]);
        check_aligned_block(block, page, sizes[i]);
        free(block);
        block = pvalloc(sizes[i]);
        check_aligned_block(block, page, sizes[i]);
        size_t rounded = (sizes[i] + page - 1) / page * page;
        if (malloc_usable_size(block) < rounded)
            fail_msg("pvalloc(%zu) has %zu usable bytes, not a whole %zu", sizes[i],
                     malloc_usable_size(block), rounded);
        free(block);
    }
}

static void introspection_functions_forward_to_glibc(void **state)
{
    (void)state;
    assert_int_equal(mallopt(M_MMAP_THRESHOLD, 256 * 1024), 1);
    void *mapped = malloc(8 << 20);
    assert_non_null(mapped);
    struct mallinfo2 info = mallinfo2();
    assert_true(info.hblkhd >= (size_t)(8 << 20));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    assert_true(mallinfo().hblkhd > 0);
#pragma GCC diagnostic pop
    free(mapped);

    char *xml = NULL;
    size_t xml_len = 0;
    FILE *stream = open_memstream(&xml, &xml_len);
    assert_non_null(stream);
    assert_int_equal(malloc_info(0, stream), 0);
    assert_int_equal(malloc_info(1, stream), EINVAL);   /* glibc returns it, errno unset */
    fclose(stream);
    assert_non_null(strstr(xml, "<malloc"));
    free(xml);

    int trimmed = malloc_trim(0);
    assert_true(trimmed == 0 || trimmed == 1);

    /* malloc_stats prints to stderr: catch it in a temporary file. */
    FILE *capture = tmpfile();
    assert_non_null(capture);
    fflush(stderr);
    int saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    dup2(fileno(capture), STDERR_FILENO);
    malloc_stats();
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    assert_true(lseek(fileno(capture), 0, SEEK_END) > 0);
    fclose(capture);
}
#endif /* TEST_LIBC_NAMES */

/* ---- the prefixed API's extras ---------------------------------------------- */

static void version_and_option_contracts_hold(void **state)
{
    (void)state;
    assert_string_equal(pym_version(), PYM_VERSION);
    errno = 0;
    assert_int_equal(pym_option_set(PYM_OPTION_COUNT_, 1), -1);
    assert_int_equal(errno, EINVAL);
    int trimmed = pym_trim();
    assert_true(trimmed == 0 || trimmed == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malloc_zero_returns_unique_aligned_blocks),
        cmocka_unit_test(every_size_up_to_1024_is_16_byte_aligned),
        cmocka_unit_test(usable_size_covers_every_size_up_to_1024),
        cmocka_unit_test(usable_size_of_null_is_zero),
        cmocka_unit_test(live_blocks_never_overlap),
        cmocka_unit_test(huge_malloc_fails_with_enomem),
        cmocka_unit_test(small_blocks_are_owned),
        cmocka_unit_test(large_and_overaligned_blocks_are_not_owned),
        cmocka_unit_test(stack_static_and_null_are_not_owned),
        cmocka_unit_test(calloc_zeroes_fresh_blocks),
        cmocka_unit_test(calloc_zeroes_reused_dirty_blocks),
        cmocka_unit_test(calloc_of_zero_returns_a_block),
        cmocka_unit_test(calloc_overflow_fails_with_enomem),
        cmocka_unit_test(realloc_of_null_is_malloc),
        cmocka_unit_test(realloc_to_zero_frees_and_returns_null),
        cmocka_unit_test(realloc_keeps_contents_between_every_pair_of_sizes),
        cmocka_unit_test(realloc_keeps_contents_across_the_threshold_both_ways),
        cmocka_unit_test(realloc_stays_in_place_within_the_class),
        cmocka_unit_test(realloc_moves_when_shrinking_a_lot),
        cmocka_unit_test(realloc_failure_keeps_the_block),
        cmocka_unit_test(reallocarray_resizes_like_realloc),
        cmocka_unit_test(reallocarray_overflow_fails_with_enomem_and_keeps_the_block),
        cmocka_unit_test(posix_memalign_rejects_bad_alignments_without_touching_errno),
        cmocka_unit_test(posix_memalign_aligns_16_to_65536),
        cmocka_unit_test(posix_memalign_of_a_pointer_alignment_is_served_by_pools),
        cmocka_unit_test(aligned_alloc_aligns_16_to_65536),
        cmocka_unit_test(aligned_alloc_with_a_non_power_of_two_alignment),
        cmocka_unit_test(memalign_aligns_16_to_65536),
        cmocka_unit_test(huge_aligned_requests_fail_with_enomem),
        cmocka_unit_test(free_of_null_does_nothing),
        cmocka_unit_test(free_functions_keep_errno),
        cmocka_unit_test(free_sized_releases_the_block),
        cmocka_unit_test(free_aligned_sized_releases_the_block),
#ifdef TEST_LIBC_NAMES
        cmocka_unit_test(malloc_is_served_by_pymalloc),
        cmocka_unit_test(blocks_move_between_the_two_apis),
        cmocka_unit_test(foreign_glibc_blocks_are_handled),
        cmocka_unit_test(valloc_and_pvalloc_are_page_aligned),
        cmocka_unit_test(introspection_functions_forward_to_glibc),
#endif
        cmocka_unit_test(version_and_option_contracts_hold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
