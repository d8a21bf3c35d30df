/* Unit tests: huge pages for a large heap (range.c).  A heap's first 8 MiB
 * of arenas keep 4 KiB pages; chunks carved past that are advised huge; a
 * chunk purged in part goes back to 4 KiB pages first (and RSS falls by
 * what was purged), one purged whole may be huge again; PYMALLOC_HUGE_PAGES
 * off leaves every new chunk alone.  What the kernel was told is read from
 * /proc/self/smaps (VmFlags "hg" and "nh"), so the tests do not depend on
 * the kernel finding free huge pages.  The tests run in order, in one
 * process: the heap grows from the first to the last. */
#include "unit.h"

#include "../common/resident.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

enum { BLOCK = 64, BLOCKS_PER_MIB = (1 << 20) / BLOCK };

/* 1 when the mapping that holds addr has `flag` in its VmFlags. */
static int vma_has_flag(uintptr_t addr, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    int inside = 0, found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = addr >= start && addr < end;
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            char want[8];
            snprintf(want, sizeof want, " %s", flag);
            found = strstr(line, want) != NULL;
            break;
        }
    }
    fclose(f);
    return found;
}

static size_t huge_chunks(void)
{
    pthread_mutex_lock(&pymi_arena_lock);
    size_t n = pymi_range_huge_chunks();
    pthread_mutex_unlock(&pymi_arena_lock);
    return n;
}

static uintptr_t chunk_of(const void *p)
{
    return (uintptr_t)p & ~(uintptr_t)(PYM_HUGE_CHUNK_SIZE - 1);
}

static int thp_available(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f)
        return 0;
    char line[128] = {0};
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    return got != NULL && strstr(line, "[never]") == NULL;
}

static void **blocks;
static size_t nblocks;

/* Allocates mib MiB more of 64-byte blocks, each written. */
static void grow(size_t mib)
{
    size_t more = mib * BLOCKS_PER_MIB;
    blocks = realloc(blocks, (nblocks + more) * sizeof *blocks);
    assert_non_null(blocks);
    for (size_t i = nblocks; i < nblocks + more; i++) {
        blocks[i] = pym_malloc(BLOCK);
        assert_non_null(blocks[i]);
        memset(blocks[i], 1, BLOCK);
    }
    nblocks += more;
}

static void a_small_heap_keeps_4k_pages(void **state)
{
    (void)state;
    grow(4);
    assert_int_equal(huge_chunks(), 0);
    assert_true(vma_has_flag((uintptr_t)blocks[nblocks - 1], "nh"));
    assert_false(vma_has_flag((uintptr_t)blocks[nblocks - 1], "hg"));
}

static void chunks_carved_past_8_mib_are_huge(void **state)
{
    (void)state;
    grow(20);                       /* 24 MiB: chunks 5-12 of the heap */
    assert_true(huge_chunks() >= 6);
    assert_true(vma_has_flag((uintptr_t)blocks[nblocks - 1], "hg"));
    assert_false(vma_has_flag((uintptr_t)blocks[0], "hg"));   /* the first 8 MiB stay as they were */
}

/* The index of the first block in a chunk made huge: the chunk of the
 * block 16 MiB in (well past 8 MiB, not the last chunk carved). */
static size_t first_in_huge_chunk(void)
{
    uintptr_t chunk = chunk_of(blocks[16 * BLOCKS_PER_MIB]);
    size_t i = 16 * BLOCKS_PER_MIB;
    while (i > 0 && chunk_of(blocks[i - 1]) == chunk)
        i--;
    return i;
}

static void a_chunk_purged_in_part_gets_4k_pages_and_rss_falls_by_the_part(void **state)
{
    (void)state;
    size_t first = first_in_huge_chunk();
    uintptr_t chunk = chunk_of(blocks[first]);
    assert_true(vma_has_flag(chunk, "hg"));
    /* Free the chunk's first 1 MiB of blocks; the rest stays live. */
    pym_trim();
    long before = (long)(resident_bytes() / 1024);
    for (size_t i = first; i < first + BLOCKS_PER_MIB; i++) {
        assert_int_equal(chunk_of(blocks[i]), chunk);
        pym_free(blocks[i]);
        blocks[i] = NULL;
    }
    pym_trim();
    long after = (long)(resident_bytes() / 1024);
    assert_true(vma_has_flag(chunk, "nh"));
    assert_false(vma_has_flag(chunk, "hg"));
    if (after > before - 900)
        fail_msg("RSS went from %ld to %ld KiB after 1 MiB of a huge chunk was freed and trimmed", before, after);
}

static void a_chunk_purged_whole_may_be_huge_again(void **state)
{
    (void)state;
    /* The chunk of the block 20 MiB in: free every block of it. */
    size_t middle = 20 * BLOCKS_PER_MIB, begin = middle, end = middle;
    uintptr_t chunk = chunk_of(blocks[middle]);
    while (begin > 0 && blocks[begin - 1] && chunk_of(blocks[begin - 1]) == chunk)
        begin--;
    while (end < nblocks && chunk_of(blocks[end]) == chunk)
        end++;
    assert_int_equal(end - begin, 2 * BLOCKS_PER_MIB);   /* the whole chunk is these blocks */
    for (size_t i = begin; i < end; i++) {
        pym_free(blocks[i]);
        blocks[i] = NULL;
    }
    pym_trim();
    assert_true(vma_has_flag(chunk, "hg"));
}

static void huge_pages_off_leaves_new_chunks_alone(void **state)
{
    (void)state;
    assert_int_equal(pym_option_set(PYM_OPTION_HUGE_PAGES, 0), 0);
    size_t huge = huge_chunks();
    grow(8);                        /* carves new chunks: the freed ones are reused first */
    assert_true(huge_chunks() <= huge);
    assert_false(vma_has_flag((uintptr_t)blocks[nblocks - 1], "hg"));
    assert_int_equal(pym_option_set(PYM_OPTION_HUGE_PAGES, 1), 0);
}

/* Pages of [addr, addr + size) resident now (mincore: the process's own
 * view, whatever a sanitizer's shadow memory adds to RSS). */
static size_t resident_pages(uintptr_t addr, size_t size)
{
    static unsigned char vec[PYM_HUGE_CHUNK_SIZE / 4096];
    assert_true(size / 4096 <= sizeof vec);
    assert_int_equal(mincore((void *)addr, size, vec), 0);
    size_t n = 0;
    for (size_t i = 0; i < size / 4096; i++)
        n += vec[i] & 1;
    return n;
}

/* A huge chunk that carving has just entered is resident whole; freed
 * and trimmed, none of it may stay: neither the pools used nor the arenas
 * not carved yet (the huge page brought them in too). */
enum { FRONTIER_BLOCKS = 40000 * POOL_SCALE };
static void *frontier_blocks[FRONTIER_BLOCKS];

static void freeing_a_new_huge_chunk_gives_all_of_it_back(void **state)
{
    (void)state;
    size_t n = 0;
    uintptr_t entered = 0;
    while (n < FRONTIER_BLOCKS) {
        void *p = pym_malloc(BLOCK);
        assert_non_null(p);
        memset(p, 1, BLOCK);
        frontier_blocks[n++] = p;
        uintptr_t chunk = chunk_of(p);
        if (n > 1 && chunk != chunk_of(frontier_blocks[n - 2]) && (uintptr_t)p - chunk < PYM_POOL_SIZE &&
            vma_has_flag(chunk, "hg")) {
            entered = chunk;
            break;
        }
    }
    assert_true(entered != 0);      /* carving entered a huge chunk within FRONTIER_BLOCKS */
    for (size_t i = 1; i < PYM_POOL_SIZE / BLOCK; i++) {   /* the rest of its first pool */
        frontier_blocks[n] = pym_malloc(BLOCK);
        assert_non_null(frontier_blocks[n]);
        memset(frontier_blocks[n++], 1, BLOCK);
    }
    size_t used = resident_pages(entered, PYM_HUGE_CHUNK_SIZE);
    for (size_t i = 0; i < n; i++)
        pym_free(frontier_blocks[i]);
    pym_trim();
    size_t left = resident_pages(entered, PYM_HUGE_CHUNK_SIZE);
    if (left > 16)
        fail_msg("%zu of the 512 pages of a huge chunk carving had just entered stay resident after its "
                 "blocks were freed and trimmed (%zu before the frees)", left, used);
}

int main(void)
{
    if (!thp_available() || pym_option_get(PYM_OPTION_DISABLE) == 1) {
        printf("1..0 # SKIP no transparent huge pages here, or pymalloc is off\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_small_heap_keeps_4k_pages),
        cmocka_unit_test(chunks_carved_past_8_mib_are_huge),
        cmocka_unit_test(a_chunk_purged_in_part_gets_4k_pages_and_rss_falls_by_the_part),
        cmocka_unit_test(a_chunk_purged_whole_may_be_huge_again),
        cmocka_unit_test(huge_pages_off_leaves_new_chunks_alone),
        cmocka_unit_test(freeing_a_new_huge_chunk_gives_all_of_it_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
