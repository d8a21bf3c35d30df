/*
 * test_misuse.c -- misuse of the default (release) build must end in one
 * line on stderr and abort(), never in a hang or silent corruption; and a
 * freed or fresh block must not leak the free-list secret (issue 12, items
 * 1, 2, 4, 5 and 18).
 *
 * Every case runs in a forked child (tests/common/child.c) with a deadline:
 * a child that hangs is killed and the case fails.  The pym_* names are
 * used, so the cases run in --disable-override builds too (malloc is the
 * same code).  PYMALLOC_DEBUG must not be set: these are release checks.
 *
 * Cases 9-12: a bad pointer in a pym_free_batch ends in the very line
 * pym_free of the same pointers, one by one, gives.
 *
 * Before core v2, cases 2-7 failed: a non-adjacent double free handed the
 * same block out twice, a double free by another thread made the owner spin
 * for ever, and fresh blocks showed glibc's pointer guard ^ 1.
 */
#define _GNU_SOURCE 1
#include "config.h"   /* PYM_HARDENING, the pool size */
#include "child.h"
#include "pymalloc.h"
#include "tap.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>

/* The core aborts within milliseconds; a hang is killed after this long. */
#define CHILD_TIMEOUT_MS 3000

static void *volatile sink;

/* The child died of abort() and wrote exactly one line, ours. */
static int aborted_with_one_line(const child_result_t *r)
{
    static const char *const words[] = { "pymalloc:", NULL };
    const char *newline = strchr(r->stderr_text, '\n');
    return child_killed_by(r, SIGABRT) && child_stderr_line_has(r, words) && newline != NULL &&
           newline[1] == '\0';
}

static void note_outcome(const child_result_t *r)
{
    char line[200];
    if (r->timed_out)
        snprintf(line, sizeof line, "the child hung: killed after %d ms", CHILD_TIMEOUT_MS);
    else if (WIFSIGNALED(r->status))
        snprintf(line, sizeof line, "the child died of signal %d; stderr: %.120s", WTERMSIG(r->status),
                 r->stderr_text);
    else
        snprintf(line, sizeof line, "the child exited with %d; stderr: %.120s", WEXITSTATUS(r->status),
                 r->stderr_text);
    tap_note(line);
}

static void expect_abort(int (*body)(void *), const char *name)
{
    child_result_t r;
    int ok = child_run(body, NULL, CHILD_TIMEOUT_MS, &r) == 0 && aborted_with_one_line(&r);
    tap_check(ok, name);
    if (!ok)
        note_outcome(&r);
}

/* ---- item 1: a double free from another thread --------------------------- */

static void *victim, *second;

/* The other thread's frees, one letter each: v for victim, s for second. */
static void *free_in_order(void *order)
{
    for (const char *c = order; *c != '\0'; c++)
        pym_free(*c == 'v' ? victim : second);
    return NULL;
}

enum owner_free { OWNER_DOES_NOT_FREE, OWNER_FREES_FIRST, OWNER_FREES_AFTER };

/* The owner allocates two blocks, frees the victim itself before or after
 * another thread (which then exits) frees in `order`, or not at all, then
 * allocates the class, reaching the remote frees. */
static int owner_allocates(const char *order, enum owner_free owner)
{
    child_no_core_dump();
    victim = pym_malloc(48);
    second = pym_malloc(48);
    if (owner == OWNER_FREES_FIRST)
        pym_free(victim);
    pthread_t thread;
    if (pthread_create(&thread, NULL, free_in_order, (void *)order) != 0 ||
        pthread_join(thread, NULL) != 0)
        return 2;
    if (owner == OWNER_FREES_AFTER)
        pym_free(victim);
    for (int i = 0; i < 1000; i++)
        sink = pym_malloc(48);
    return 0;   /* returning at all is the failure */
}

static int remote_double_free(void *arg)
{
    (void)arg;
    return owner_allocates("vv", OWNER_DOES_NOT_FREE);
}

static int remote_non_adjacent_double_free(void *arg)
{
    (void)arg;
    return owner_allocates("vsv", OWNER_DOES_NOT_FREE);
}

/* Freed by its owner, then again by another thread. */
static int local_then_remote_double_free(void *arg)
{
    (void)arg;
    return owner_allocates("v", OWNER_FREES_FIRST);
}

/* Freed by another thread, whose exit sends the block to its owner, then
 * again by the owner: the block is on the owner's free list and on the
 * pool's remote list at once. */
static int remote_then_local_double_free(void *arg)
{
    (void)arg;
    return owner_allocates("v", OWNER_FREES_AFTER);
}

/* ---- item 2: non-adjacent double free in the owner thread ------------------ */

static int local_non_adjacent_double_free(void *arg)
{
    (void)arg;
    child_no_core_dump();
    void *a = pym_malloc(48), *b = pym_malloc(48);
    pym_free(a);
    pym_free(b);
    pym_free(a);
    void *x = pym_malloc(48), *y = pym_malloc(48), *z = pym_malloc(48);
    return x == z || x == y || y == z ? 3 : 0;   /* 3: the same block handed out twice */
}

/* The adjacent case, which the core catches today: the reference. */
static int local_adjacent_double_free(void *arg)
{
    (void)arg;
    child_no_core_dump();
    void *a = pym_malloc(48);
    pym_free(a);
    pym_free(a);
    return 0;
}

/* free(a) twice, far apart, in a pool that is not the current one, with
 * another block of it (c) still live: the pool's count says empty.  Given
 * back to its arena, c's memory would go to someone else. */
static int double_free_empties_a_pool(void *arg)
{
    (void)arg;
    child_no_core_dump();
    enum { SIZE = 176, MAX = PYM_POOL_SIZE / SIZE + 2 };   /* a class nothing else here uses */
    void *blocks[MAX];
    unsigned n = 0;
    blocks[n++] = pym_malloc(SIZE);
    uintptr_t page = (uintptr_t)blocks[0] >> PYM_POOL_SHIFT;
    for (void *p; n < MAX && ((uintptr_t)(p = pym_malloc(SIZE)) >> PYM_POOL_SHIFT) == page;)
        blocks[n++] = p;   /* the first block of the next pool stays live: harmless */
    pym_free(blocks[0]);
    for (unsigned i = 2; i < n; i++)
        pym_free(blocks[i]);   /* blocks[1] is c */
    pym_free(blocks[0]);
    return 0;
}

/* ---- item 5: glibc's pointer guard must not show --------------------------- */

#define GUARD_BLOCKS 800   /* 48-byte blocks: more than two pools */

static uintptr_t pointer_guard(void)
{
    uintptr_t guard = 0;
    const unsigned char *random = (const unsigned char *)getauxval(AT_RANDOM);
    if (random != NULL)
        memcpy(&guard, random + 8, sizeof guard);
    return guard;
}

static int compare_addresses(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Words 0 and 1 of each block must reveal no key: none is the guard or
 * guard ^ 1; no non-zero word repeats across blocks; and no one value v
 * turns nearly every block's word 0 into the address of another of the
 * blocks (or NULL) by XOR -- that would be a position-independent key,
 * readable from any block whose link is known.  Returns 0 when clean, else
 * a code saying which. */
static int words_reveal_nothing(void *const *blocks, size_t n, uintptr_t guard)
{
    static uintptr_t words[2 * GUARD_BLOCKS], addresses[GUARD_BLOCKS];
    for (size_t i = 0; i < n; i++) {
        memcpy(&words[2 * i], blocks[i], 2 * sizeof(uintptr_t));
        addresses[i] = (uintptr_t)blocks[i];
    }
    for (size_t i = 0; i < 2 * n; i++) {
        if (words[i] == guard || words[i] == (guard ^ 1))
            return 10 + (int)(i % 2);   /* 10: a word 0 is the guard, 11: a word 1 */
        for (size_t j = i + 1; j < 2 * n; j++)
            if (words[i] != 0 && words[i] == words[j] && i / 2 != j / 2)
                return 20 + (int)(i % 2);   /* 20/21: a constant word 0 / word 1 */
    }
    qsort(addresses, n, sizeof addresses[0], compare_addresses);
    for (size_t first = 0; first < n; first++) {
        if (words[2 * first] == 0)
            continue;
        for (size_t candidate = 0; candidate <= n; candidate++) {
            uintptr_t v = words[2 * first] ^ (candidate < n ? addresses[candidate] : 0);
            if (v == 0)
                continue;
            size_t decoded = 0;
            for (size_t i = 0; i < n; i++) {
                uintptr_t next = words[2 * i] ^ v;
                decoded += next == 0 ||
                           bsearch(&next, addresses, n, sizeof addresses[0], compare_addresses) != NULL;
            }
            if (decoded * 10 >= n * 9)
                return 30;   /* one key decodes the links of nearly every block */
        }
        break;   /* the candidates of one block are enough */
    }
    return 0;
}

static void malloc_guard_blocks(void **blocks)
{
    for (size_t i = 0; i < GUARD_BLOCKS; i++)
        blocks[i] = pym_malloc(48);
}

/* 200 blocks of 48 bytes, fresh, or (reused) freed and allocated again. */
static int guard_blocks_case(int reused)
{
    uintptr_t guard = pointer_guard();
    if (guard == 0)
        return 2;
    static void *blocks[GUARD_BLOCKS];
    malloc_guard_blocks(blocks);
    if (reused) {
        for (size_t i = 0; i < GUARD_BLOCKS; i++)
            pym_free(blocks[i]);
        malloc_guard_blocks(blocks);
    }
    return words_reveal_nothing(blocks, GUARD_BLOCKS, guard);
}

static int fresh_blocks_hide_the_guard(void *arg)
{
    (void)arg;
    return guard_blocks_case(0);
}

static int reused_blocks_hide_the_guard(void *arg)
{
    (void)arg;
    return guard_blocks_case(1);
}

/* A case only the checked free-list links catch: configure
 * --disable-hardening stores them in the clear, and the case is skipped. */
static void expect_abort_if_hardened(int (*body)(void *), const char *name)
{
#if PYM_HARDENING
    expect_abort(body, name);
#else
    (void)body;
    tap_skip(name, "configure --disable-hardening: free-list links are not checked");
#endif
}

static void expect_clean(int (*body)(void *), const char *name)
{
    child_result_t r;
    int ok = child_run(body, NULL, CHILD_TIMEOUT_MS, &r) == 0 && child_exited_with(&r, 0);
    tap_check(ok, name);
    if (!ok)
        note_outcome(&r);
}

/* ---- pym_free_batch: a bad pointer in a batch ------------------------------- */

/* The pointer a child is about to free wrongly, told to the parent through
 * a shared page mapped before the children are forked. */
static void *volatile *bad_pointer;

/* *(int *)mode: 1 frees with one pym_free_batch, 0 with pym_free one by one. */
static void free_all(void *mode, void *const *ptrs, size_t n)
{
    if (*(const int *)mode) {
        pym_free_batch(ptrs, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        pym_free(ptrs[i]);
}

/* a, b, c, d, d, e, f: the same pointer twice in a row, in one pool's run. */
static int batch_with_a_pointer_twice(void *mode)
{
    child_no_core_dump();
    void *b[6];
    for (int i = 0; i < 6; i++)
        b[i] = pym_malloc(80);
    void *batch[7] = { b[0], b[1], b[2], b[3], b[3], b[4], b[5] };
    *bad_pointer = b[3];
    free_all(mode, batch, 7);
    return 0;   /* returning at all is the failure */
}

/* a, b, c + 8, d, e: an interior pointer in the middle of a valid run. */
static int batch_with_an_interior_pointer(void *mode)
{
    child_no_core_dump();
    char *b[5];
    for (int i = 0; i < 5; i++)
        b[i] = pym_malloc(80);
    void *batch[5] = { b[0], b[1], b[2] + 8, b[3], b[4] };
    *bad_pointer = b[2] + 8;
    free_all(mode, batch, 5);
    return 0;
}

/* Five pools' worth of 240-byte blocks (a class nothing else here uses),
 * all freed: the first pool emptied is kept as the spare, the next ones go
 * back to their arena, so a block from the middle lies in a pool that holds
 * no blocks.  Then a batch frees it again between live blocks. */
static int batch_with_a_block_of_a_returned_pool(void *mode)
{
    child_no_core_dump();
    enum { SIZE = 240, COUNT = 5 * (PYM_POOL_SIZE / SIZE) + 1 };
    static void *blocks[COUNT];
    for (int i = 0; i < COUNT; i++)
        blocks[i] = pym_malloc(SIZE);
    free_all(mode, blocks, COUNT);
    void *stale = blocks[COUNT / 2];
    void *live[3] = { pym_malloc(SIZE), pym_malloc(SIZE), pym_malloc(SIZE) };
    void *batch[5] = { live[0], live[1], NULL, stale, live[2] };
    *bad_pointer = stale;
    free_all(mode, batch, 5);
    return 0;
}

/* The blocks of one 112-byte pool, all freed: the pool is empty and not the
 * class's current one, so the heap keeps it as its spare.  Then one of them,
 * not the last freed, is freed again.  Before the fast path tested the
 * count before decrementing it, the count wrapped from 0 to 65535 and the
 * double free went unseen: the block was on the free list twice. */
static int double_free_into_the_spare_pool(void *mode)
{
    child_no_core_dump();
    enum { SIZE = 112, MOST = 2 * (PYM_POOL_SIZE / SIZE) + 2 };
    static char *blocks[MOST];
    int n = 0;
    blocks[n++] = pym_malloc(SIZE);
    uintptr_t first_pool = (uintptr_t)blocks[0] >> PYM_POOL_SHIFT;
    while (n < MOST && (uintptr_t)(blocks[n - 1]) >> PYM_POOL_SHIFT == first_pool)
        blocks[n++] = pym_malloc(SIZE);   /* the last one opens the next pool */
    free_all(mode, (void *const *)blocks, (size_t)n - 1);
    void *again[1] = {blocks[0]};
    *bad_pointer = blocks[0];
    free_all(mode, again, 1);
    return 0;
}

/* The first block of a fresh pool of 208-byte blocks (a class nothing
 * else here uses) is handed out; the third block is freed, which malloc
 * has not reached yet.  Before blocks were carved it lay on the free list,
 * behind the head, and the free put it there a second time, unseen. */
static int free_of_a_block_never_handed_out(void *mode)
{
    child_no_core_dump();
    enum { SIZE = 208 };
    char *first = pym_malloc(SIZE);
    if (((uintptr_t)first & (PYM_POOL_SIZE - 1)) != 0)
        return 2;   /* not a fresh pool: the case cannot be set up */
    void *never[1] = {first + 2 * SIZE};
    *bad_pointer = never[0];
    free_all(mode, never, 1);
    return 0;
}

/* Runs body twice, freeing with pym_free_batch and with pym_free one by
 * one; each child must abort with exactly one line: "pymalloc: free(<the
 * pointer it reported>): " and then `what`. */
static void expect_batch_abort(int (*body)(void *), const char *what, const char *name)
{
    child_result_t r[2];
    int ok[2];
    for (int batch = 0; batch < 2; batch++) {
        *bad_pointer = NULL;
        ok[batch] = child_run(body, &batch, CHILD_TIMEOUT_MS, &r[batch]) == 0 &&
                    aborted_with_one_line(&r[batch]) && *bad_pointer != NULL;
        char expected[300];
        snprintf(expected, sizeof expected, "pymalloc: free(0x%lx): %s\n",
                 (unsigned long)(uintptr_t)*bad_pointer, what);
        ok[batch] = ok[batch] && strcmp(r[batch].stderr_text, expected) == 0;
    }
    tap_check(ok[0] && ok[1], name);
    for (int batch = 0; batch < 2; batch++) {
        if (!ok[batch]) {
            tap_note(batch ? "with pym_free_batch:" : "with pym_free one by one:");
            note_outcome(&r[batch]);
        }
    }
}

int main(void)
{
    bad_pointer = mmap(NULL, sizeof(void *), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (bad_pointer == MAP_FAILED) {
        perror("mmap");
        return 99;
    }
    tap_plan(14);
    expect_abort(local_adjacent_double_free,
                 "free(a); free(a) of a 48-byte block aborts with one line");
    expect_abort(local_non_adjacent_double_free,
                 "free(a); free(b); free(a) of 48-byte blocks aborts with one line (default build)");
    expect_abort(remote_double_free,
                 "another thread frees a block twice: the owner's next 1000 mallocs abort with one "
                 "line, no hang");
    expect_abort_if_hardened(remote_non_adjacent_double_free,
                             "another thread frees a, b, a: the owner's next mallocs abort with "
                             "one line, no hang");
    expect_abort_if_hardened(local_then_remote_double_free,
                             "freed by its owner, then by another thread: abort with one line, "
                             "no hang");
    expect_abort_if_hardened(remote_then_local_double_free,
                             "freed by another thread, which exits, then by its owner: abort with "
                             "one line, no hang");
    expect_abort(double_free_empties_a_pool,
                 "a double free that makes a pool look empty while one of its blocks is live: "
                 "abort with one line, the pool is not given back");
    expect_clean(fresh_blocks_hide_the_guard,
                 "words 0 and 1 of fresh malloc(48) blocks: not glibc's pointer guard (^1), "
                 "no constant key");
    expect_clean(reused_blocks_hide_the_guard,
                 "words 0 and 1 of malloc(48) blocks after free: not glibc's pointer guard (^1), "
                 "no constant key");
    expect_batch_abort(batch_with_a_pointer_twice, "double free (inside a pool of 80-byte blocks)",
                       "pym_free_batch of a, b, c, d, d, e, f: abort with pym_free's one line, "
                       "double free of d");
    expect_batch_abort(batch_with_an_interior_pointer,
                       "invalid pointer (not the start of a block) (inside a pool of 80-byte blocks)",
                       "pym_free_batch of a, b, c + 8, d, e: abort with pym_free's one line, "
                       "invalid pointer c + 8");
    expect_batch_abort(batch_with_a_block_of_a_returned_pool,
                       "block not allocated (double free, or a pointer never returned by malloc) "
                       "(inside a pymalloc arena, in a pool that holds no blocks)",
                       "pym_free_batch of a block whose pool went back to its arena, between live "
                       "blocks: abort with pym_free's one line, block not allocated");
    expect_batch_abort(double_free_into_the_spare_pool, "double free (inside a pool of 112-byte blocks)",
                       "free of a block of the heap's empty spare pool (not its free list's head): "
                       "abort with one line, double free");
    expect_batch_abort(free_of_a_block_never_handed_out,
                       "block not allocated (a pointer never returned by malloc) (inside a pool of "
                       "208-byte blocks)",
                       "free of a block of a fresh pool that malloc has not reached: abort with "
                       "one line, block not allocated");
    return tap_exit_status();
}
