/* Unit tests of the purge policy (arena.c, purger.c): freed pages stay for
 * reuse during the purge delay and go back once they stay unused past it.
 *
 *   a_working_set_reused_within_the_window_does_not_fault: 16 MiB of 64-byte
 *     blocks freed and allocated again at once, ten times: the second to
 *     tenth rounds take (almost) no minor page fault, and nothing is purged.
 *   a_working_set_left_idle_goes_back: freed and left alone (light activity
 *     only), its pages go back within the delay plus a margin: RSS falls
 *     and the purge counter rises, with no trim call.
 *   a_zero_delay_purges_at_once: PYMALLOC_PURGE_DELAY_MS=0 is the old
 *     behaviour: the pages go back in the free that empties the arenas.
 *   trim_purges_everything_now: pym_trim does not wait for the delay.
 *   a_pool_taken_but_not_used_is_not_resident: after a trim, a fresh pool
 *     comes from the arena with a second one for the heap's stack of empty
 *     pools; the statistics count that one free but not resident.
 */
#include "unit.h"

#include "../common/resident.h"
#include "../common/sanitizer.h"

#include <stdio.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { BLOCK = 64, BLOCKS = (16 << 20) / BLOCK, DELAY_MS = 200 };

static void **blocks;

static long minor_faults(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
}

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000;
}

static void allocate_all(void)
{
    for (size_t i = 0; i < BLOCKS; i++) {
        blocks[i] = pym_malloc(BLOCK);
        assert_non_null(blocks[i]);
        *(volatile char *)blocks[i] = 1;   /* touch it, as a program would */
    }
}

static void free_all(void)
{
    for (size_t i = 0; i < BLOCKS; i++)
        pym_free(blocks[i]);
}

static uint64_t pages_purged(void)
{
    pym_stats_t s;
    pym_stats_get(&s);
    return s.pages_purged;
}

static void a_working_set_reused_within_the_window_does_not_fault(void **state)
{
    (void)state;
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 10000), 0);
    pym_trim();
    allocate_all();
    free_all();
    long faults_before = minor_faults();
    uint64_t purged_before = pages_purged();
    for (int round = 0; round < 10; round++) {
        allocate_all();
        free_all();
    }
    long faults = minor_faults() - faults_before;
    print_message("# 10 rounds of 16 MiB: %ld minor faults, %llu pages purged\n", faults,
                  (unsigned long long)(pages_purged() - purged_before));
#ifndef UNDER_TSAN   /* TSan's own shadow pages fault as they are first used */
    /* 16 MiB is 4096 pages: refaulting them once would be 4096 per round. */
    assert_true(faults < 200);
#endif
    assert_int_equal(pages_purged(), purged_before);
}

static void a_working_set_left_idle_goes_back(void **state)
{
    (void)state;
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, DELAY_MS), 0);
    pym_trim();
    allocate_all();
    size_t peak = resident_bytes();
    uint64_t purged_before = pages_purged();
    long start = now_ms();
    free_all();
    /* Light activity (a pair every 5 ms) for up to ten times the delay. */
    size_t rss = resident_bytes();
    long waited = 0;
    while (waited < 10 * DELAY_MS && rss > peak - (12 << 20)) {
        pym_free(pym_malloc(BLOCK));
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
        rss = resident_bytes();
        waited = now_ms() - start;
    }
    print_message("# RSS %zu MiB at the peak, %zu MiB %ld ms after the free (delay %d ms)\n",
                  peak >> 20, rss >> 20, waited, DELAY_MS);
    assert_true(rss <= peak - (12 << 20));
    assert_true(pages_purged() - purged_before >= (12 << 20) / PYM_POOL_SIZE);
    /* Not before the delay (less the coarse clock's few milliseconds). */
    assert_true(waited >= DELAY_MS - 10);
}

static void a_zero_delay_purges_at_once(void **state)
{
    (void)state;
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 0), 0);
    pym_trim();
    allocate_all();
    size_t peak = resident_bytes();
    free_all();
    size_t rss = resident_bytes();
    print_message("# delay 0: RSS %zu MiB at the peak, %zu MiB right after the free\n",
                  peak >> 20, rss >> 20);
    assert_true(rss <= peak - (12 << 20));
}

static void trim_purges_everything_now(void **state)
{
    (void)state;
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 60000), 0);
    pym_trim();
    allocate_all();
    size_t peak = resident_bytes();
    free_all();
    assert_true(resident_bytes() > peak - (4 << 20));   /* kept for reuse... */
    pym_trim();
    /* The statistics first: resident_bytes() opens a file, and where
     * glibc's FILE (472 bytes) is a pool's block (--with-small-max=512) its
     * malloc takes pools from the arena again. */
    pym_stats_t s;
    pym_stats_get(&s);
    assert_int_equal(s.bytes_free_pools_resident, 0);
    assert_true(resident_bytes() <= peak - (12 << 20));   /* ...until asked */
}

static void a_pool_taken_but_not_used_is_not_resident(void **state)
{
    (void)state;
    assert_int_equal(pym_option_set(PYM_OPTION_PURGE_DELAY_MS, 60000), 0);
    pym_trim();
    pym_stats_t before, after;
    pym_stats_get(&before);
    assert_int_equal(before.bytes_free_pools_resident, 0);
    /* A class with no pool (the trim gave back every empty one): a fresh pool. */
    size_t size = 0;
    for (size_t c = before.num_classes; c-- > 0 && size == 0;) {
        const pym_class_stats_t *cs = &before.classes[c];
        if (cs->pools_used + cs->pools_full + cs->pools_empty == 0)
            size = cs->block_size;
    }
    assert_true(size > 0);
    void *block = pym_malloc(size);
    assert_non_null(block);
    /* Two pools taken from the arena, the second now on the heap's stack. */
    assert_int_equal(pymi_tls.heap->empty_count, 1);
    pym_stats_get(&after);
    assert_int_equal(after.bytes_free_pools_resident, 0);
    pym_free(block);
    pym_trim();
}

int main(void)
{
    blocks = malloc(BLOCKS * sizeof *blocks);
    if (blocks == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_working_set_reused_within_the_window_does_not_fault),
        cmocka_unit_test(a_working_set_left_idle_goes_back),
        cmocka_unit_test(a_zero_delay_purges_at_once),
        cmocka_unit_test(trim_purges_everything_now),
        cmocka_unit_test(a_pool_taken_but_not_used_is_not_resident),
    };
    return cmocka_run_group_tests_name("decay", tests, NULL, NULL);
}
