/*
 * test_oom.c -- running out of memory under RLIMIT_AS.
 *
 * Properties, for small (pool) and large (forwarded) requests, under an
 * address-space limit of 1 GiB and of 256 MiB:
 *   - allocation eventually returns NULL with errno ENOMEM, never crashes;
 *   - calloc, realloc (which keeps the old block) and posix_memalign fail
 *     the same way once memory is gone;
 *   - every block allocated before is intact (each carries a fill pattern);
 *   - once some blocks are freed, requests of that kind succeed again.
 * And under a 64 MiB limit, start-up still gives a working allocator whose
 * blocks come from our pools (the address reservation adapted to the limit).
 *
 * The library reserves its address range at start-up, so the limit must be
 * in place before the first allocation: the parent (run without arguments)
 * starts each case as a child that sets RLIMIT_AS, arms an alarm as a time
 * bound, and re-executes this program as `test_oom CASE`.  The child exits 0
 * when every check held; the parent prints one TAP line per case.
 *
 * Blocks are chained through their own first bytes, so no bookkeeping array
 * competes with the allocator for the limited address space.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pymalloc.h"

#define MiB ((size_t)1 << 20)
#define CHILD_SECONDS 60u          /* per case; a hang fails, it does not block make check */
#define HUGE_REQUEST (8 * MiB)     /* fails whenever small requests already fail */
#define REFILL_COUNT 1000u

/* The first bytes of every block; the rest is filled with `fill`. */
typedef struct chained {
    struct chained *next;
    uint32_t size;
    uint8_t fill;
    uint8_t pad[3];
} chained_t;

struct chain {
    chained_t *head;
    size_t count, bytes, owned;
};

struct oom_case {
    const char *name;
    rlim_t limit;
    int (*run)(void);
};

static int failures;

#define CHECK(cond, ...)                                        \
    do {                                                        \
        if (!(cond)) {                                          \
            fprintf(stderr, "# %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                       \
            fputc('\n', stderr);                                \
            failures++;                                         \
        }                                                       \
    } while (0)

static uint8_t fill_for(size_t index)
{
    return (uint8_t)(index * 131u + 17u);
}

static void fill_block(chained_t *block, size_t size, uint8_t fill)
{
    block->size = (uint32_t)size;
    block->fill = fill;
    memset(block + 1, fill, size - sizeof(chained_t));
}

static int block_intact(const chained_t *block)
{
    const uint8_t *bytes = (const uint8_t *)(block + 1);
    for (size_t i = 0; i < block->size - sizeof(chained_t); i++)
        if (bytes[i] != block->fill)
            return 0;
    return 1;
}

static void chain_push(struct chain *chain, chained_t *block, size_t size)
{
    fill_block(block, size, fill_for(chain->count));
    block->next = chain->head;
    chain->head = block;
    chain->count++;
    chain->bytes += size;
    chain->owned += pym_owns(block) != 0;
}

/* Allocates blocks of size_of(i) until the allocator says no; returns the
 * errno that came with the NULL (or -1 if it never did within max_count). */
static int allocate_until_null(struct chain *chain, size_t (*size_of)(size_t), size_t max_count)
{
    for (size_t i = 0; i < max_count; i++) {
        size_t size = size_of(chain->count);
        errno = 0;
        chained_t *block = pym_malloc(size);
        if (block == NULL)
            return errno;
        CHECK(((uintptr_t)block & 15) == 0, "block %p is not 16-byte aligned", (void *)block);
        chain_push(chain, block, size);
    }
    return -1;
}

static size_t chain_damaged(const struct chain *chain)
{
    size_t damaged = 0;
    for (const chained_t *b = chain->head; b != NULL; b = b->next)
        damaged += !block_intact(b);
    return damaged;
}

/* Frees every other block; returns how many. */
static size_t chain_free_half(struct chain *chain)
{
    size_t freed = 0, index = 0;
    for (chained_t **link = &chain->head; *link != NULL; index++) {
        chained_t *block = *link;
        if (index % 2 == 0) {
            *link = block->next;
            freed++;
            chain->count--;
            pym_free(block);
        } else {
            link = &block->next;
        }
    }
    return freed;
}

static void chain_free_all(struct chain *chain)
{
    while (chain->head != NULL) {
        chained_t *next = chain->head->next;
        pym_free(chain->head);
        chain->head = next;
    }
    chain->count = 0;
}

/* Once memory is gone, the other entry points must fail cleanly too, and a
 * failed realloc must leave its block as it was. */
static void other_requests_fail(struct chain *chain)
{
    errno = 0;
    CHECK(pym_calloc(1, HUGE_REQUEST) == NULL && errno == ENOMEM, "calloc: errno %d", errno);
    errno = 0;
    CHECK(pym_malloc(HUGE_REQUEST) == NULL && errno == ENOMEM, "malloc: errno %d", errno);

    chained_t *victim = chain->head;
    errno = 0;
    void *moved = pym_realloc(victim, HUGE_REQUEST);
    CHECK(moved == NULL && errno == ENOMEM, "realloc: %p, errno %d", moved, errno);
    if (moved != NULL)
        chain->head = moved;   /* keep the chain valid for the checks below */
    CHECK(block_intact(chain->head), "the block of a failed realloc changed");

    void *aligned = NULL;
    errno = 12345;
    int rc = pym_posix_memalign(&aligned, 64, HUGE_REQUEST);
    /* glibc's posix_memalign sets errno to ENOMEM as well as returning it. */
    CHECK(rc == ENOMEM && aligned == NULL && errno == ENOMEM,
          "posix_memalign: rc %d, errno %d", rc, errno);
}

static size_t small_size(size_t index)
{
    return 16 + (index * 37) % 241;   /* 16..256: every pool class */
}

static size_t large_size(size_t index)
{
    return (64 << 10) + (index % 16) * (60 << 10);   /* 64 KiB .. ~1 MiB */
}

/* The common shape of the exhaustion cases. */
static int exhaust(size_t (*size_of)(size_t), size_t max_count, int expect_owned)
{
    struct chain chain = {0};
    int err = allocate_until_null(&chain, size_of, max_count);
    fprintf(stderr, "# %zu blocks (%zu MiB, %zu in our pools) before NULL\n",
            chain.count, chain.bytes / MiB, chain.owned);
    CHECK(err == ENOMEM, "the failing request gave errno %d", err);
    CHECK(chain.count > 0, "nothing could be allocated");
    if (chain.count == 0)
        return failures;
    CHECK(!expect_owned || chain.owned > 0, "no block came from our pools");

    other_requests_fail(&chain);
    size_t damaged = chain_damaged(&chain);
    CHECK(damaged == 0, "%zu of %zu blocks damaged after running out", damaged, chain.count);

    size_t freed = chain_free_half(&chain);
    damaged = chain_damaged(&chain);
    CHECK(damaged == 0, "%zu blocks damaged after freeing half", damaged);

    /* Freed memory is usable again.  A quarter of the freed count: glibc
     * may not reuse every hole for a different size (it falls back to 1 MiB
     * mmap heaps once sbrk fails), and that is not ours to test. */
    struct chain refill = {0};
    size_t refill_count = freed / 4 < REFILL_COUNT ? freed / 4 : REFILL_COUNT;
    err = allocate_until_null(&refill, size_of, refill_count);
    CHECK(err == -1, "only %zu of %zu requests succeeded after freeing (errno %d)",
          refill.count, refill_count, err);
    CHECK(chain_damaged(&refill) == 0 && chain_damaged(&chain) == 0, "damage after the refill");

    chain_free_all(&refill);
    chain_free_all(&chain);
    void *after = pym_malloc(100);
    CHECK(after != NULL, "malloc(100) after freeing everything");
    pym_free(after);
    return failures;
}

static int small_requests(void)
{
    return exhaust(small_size, SIZE_MAX, 1);
}

static int large_requests(void)
{
    return exhaust(large_size, SIZE_MAX, 0);
}

/* Under a small limit the reservation shrinks instead of failing: blocks are
 * still ours, and running out there works like anywhere else. */
static int startup_small_limit(void)
{
    void *first = pym_malloc(64);
    CHECK(first != NULL, "the first malloc failed");
    CHECK(pym_owns(first), "the first small block is not from our pools: the reservation did not adapt");
    pym_free(first);
    return exhaust(small_size, SIZE_MAX, 1);
}

static const struct oom_case cases[] = {
    {"small requests under 1 GiB", (rlim_t)1024 * MiB, small_requests},
    {"large requests under 1 GiB", (rlim_t)1024 * MiB, large_requests},
    {"small requests under 256 MiB", (rlim_t)256 * MiB, small_requests},
    {"large requests under 256 MiB", (rlim_t)256 * MiB, large_requests},
    {"start-up under 64 MiB", (rlim_t)64 * MiB, startup_small_limit},
};
enum { CASE_COUNT = sizeof cases / sizeof cases[0] };

/* Runs case `index` in a limited child; returns 1 when it passed. */
static int run_case_in_child(const char *self, unsigned index)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("# fork");
        return 0;
    }
    if (pid == 0) {
        struct rlimit limit = {cases[index].limit, cases[index].limit};
        if (setrlimit(RLIMIT_AS, &limit) != 0) {
            perror("# setrlimit");
            _exit(2);
        }
        alarm(CHILD_SECONDS);   /* survives exec: a hang ends in SIGALRM */
        char arg[16];
        snprintf(arg, sizeof arg, "%u", index);
        execl("/proc/self/exe", self, arg, (char *)NULL);
        perror("# exec");
        _exit(2);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("# waitpid");
            return 0;
        }
    if (WIFSIGNALED(status))
        fprintf(stderr, "# child killed by signal %d%s\n", WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? " (time limit)" : "");
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
    if (argc == 2) {
        unsigned index = (unsigned)atoi(argv[1]);
        if (index >= CASE_COUNT)
            return 2;
        return cases[index].run() == 0 ? 0 : 1;
    }
    printf("1..%u\n", (unsigned)CASE_COUNT);
    int failed = 0;
    for (unsigned i = 0; i < CASE_COUNT; i++) {
        int ok = run_case_in_child(argv[0], i);
        failed += !ok;
        printf("%sok %u - %s\n", ok ? "" : "not ", i + 1, cases[i].name);
    }
    return failed != 0;
}
