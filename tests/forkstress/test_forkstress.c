/*
 * test_forkstress.c -- fork while four threads allocate, free and hand
 * blocks to each other.
 *
 * Four workers loop over a ring of live blocks of mixed sizes (small ones
 * from our pools, large ones forwarded to libc), checking each block's fill
 * pattern before freeing it; some blocks go through a shared mailbox to
 * another worker, which checks and frees them (cross-thread frees).  While
 * they run, the main thread forks FORKSTRESS_FORKS times.  Each child, alone
 * with a snapshot of heaps whose threads did not come along, frees the
 * blocks it finds in the mailbox, allocates, reallocates, checks and frees a
 * few thousand blocks of its own, and exits 0.
 *
 * Bounds: the parent waits for each child on a pidfd with a CHILD_SECONDS
 * timeout and kills and fails a child that does not finish (a deadlock
 * inherited through fork), and a process-wide alarm ends the whole test if
 * the parent itself deadlocks (in fork's prepare handler, say).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pymalloc.h"

#ifndef FORKSTRESS_FORKS
#define FORKSTRESS_FORKS 200
#endif
#define WORKERS 4
#define RING_SLOTS 256
#define MAILBOX_SLOTS 16
#define CHILD_BLOCKS 2000
#define CHILD_SECONDS 10
#define WHOLE_TEST_SECONDS 120

/* Every block starts with this header; the rest holds `fill`. */
typedef struct block {
    uint32_t size;
    uint8_t fill;
    uint8_t pad[3];
} block_t;

static _Atomic(block_t *) mailbox[MAILBOX_SLOTS];
static atomic_int stop;
static atomic_ulong damaged_blocks, worker_operations, handoffs;
static pthread_barrier_t started;

static uint64_t next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer would scan every child at exit (the children never free
 * what the vanished workers held) and report those blocks as leaks. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}
#endif

/* 15 in 16 requests small (8..256), the rest large (257..16 KiB) -- except
 * in sanitizer builds (FORKSTRESS_SMALL_ONLY): large requests go to the
 * sanitizer's allocator there, which is not fork-safe, so a child could
 * hang on a lock a worker held at the fork. */
static size_t random_size(uint64_t *rng)
{
    uint64_t r = next_random(rng);
#ifndef FORKSTRESS_SMALL_ONLY
    if (r % 16 == 0)
        return 257 + (r >> 8) % (16384 - 257);
#endif
    return 8 + (r >> 8) % 249;
}

static block_t *block_new(size_t size, uint8_t fill)
{
    block_t *block = pym_malloc(size);
    if (block == NULL)
        return NULL;
    block->size = (uint32_t)size;
    block->fill = fill;
    memset(block + 1, fill, size - sizeof(block_t));
    return block;
}

static int block_intact(const block_t *block)
{
    const uint8_t *bytes = (const uint8_t *)(block + 1);
    if (((uintptr_t)block & 15) != 0)
        return 0;
    for (size_t i = 0; i < block->size - sizeof(block_t); i++)
        if (bytes[i] != block->fill)
            return 0;
    return 1;
}

/* Checks and frees; returns 1 when the block was intact. */
static int block_release(block_t *block)
{
    int intact = block_intact(block);
    pym_free(block);
    return intact;
}

static void *worker(void *arg)
{
    uint64_t rng = 0x9e3779b97f4a7c15u * ((uintptr_t)arg + 1);
    block_t *ring[RING_SLOTS] = {0};
    unsigned long operations = 0, given = 0, damaged = 0;
    pthread_barrier_wait(&started);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = next_random(&rng);
        unsigned slot = r % RING_SLOTS;
        if (ring[slot] != NULL) {
            if ((r >> 16) % 8 == 0) {
                /* Publish it; whatever was there is another worker's block. */
                block_t *other = atomic_exchange_explicit(&mailbox[(r >> 24) % MAILBOX_SLOTS],
                                                          ring[slot], memory_order_acq_rel);
                given++;
                if (other != NULL)
                    damaged += !block_release(other);
            } else {
                damaged += !block_release(ring[slot]);
            }
        }
        ring[slot] = block_new(random_size(&rng), (uint8_t)r);
        operations++;
    }
    for (unsigned i = 0; i < RING_SLOTS; i++)
        if (ring[i] != NULL)
            damaged += !block_release(ring[i]);
    atomic_fetch_add(&worker_operations, operations);
    atomic_fetch_add(&handoffs, given);
    atomic_fetch_add(&damaged_blocks, damaged);
    return NULL;
}

/* The child's whole life: runs alone, reports through its exit status. */
static void child_main(void)
{
    alarm(CHILD_SECONDS);
    int bad = 0;
    for (unsigned i = 0; i < MAILBOX_SLOTS; i++) {
        block_t *inherited = atomic_exchange(&mailbox[i], NULL);
        if (inherited != NULL && !block_release(inherited)) {
            fprintf(stderr, "# child %d: inherited block %p damaged\n", (int)getpid(), (void *)inherited);
            bad = 1;
        }
    }
    static block_t *blocks[CHILD_BLOCKS];
    uint64_t rng = 0x2545f4914f6cdd1du ^ (uint64_t)getpid();
    for (unsigned i = 0; i < CHILD_BLOCKS; i++) {
        blocks[i] = block_new(random_size(&rng), (uint8_t)i);
        if (blocks[i] == NULL) {
            fprintf(stderr, "# child %d: allocation %u failed\n", (int)getpid(), i);
            _exit(1);
        }
    }
    /* Grow or shrink a third of them in place or by moving. */
    for (unsigned i = 0; i < CHILD_BLOCKS; i += 3) {
        size_t size = random_size(&rng);
        size_t kept = size < blocks[i]->size ? size : blocks[i]->size;
        block_t *moved = pym_realloc(blocks[i], size);
        if (moved == NULL)
            _exit(1);
        if (size > kept)
            memset((char *)moved + kept, moved->fill, size - kept);
        moved->size = (uint32_t)size;
        blocks[i] = moved;
    }
    for (unsigned i = 0; i < CHILD_BLOCKS; i++) {
        unsigned j = (unsigned)(next_random(&rng) % CHILD_BLOCKS);
        block_t *swap = blocks[i];
        blocks[i] = blocks[j];
        blocks[j] = swap;
    }
    for (unsigned i = 0; i < CHILD_BLOCKS; i++)
        if (!block_release(blocks[i])) {
            fprintf(stderr, "# child %d: block %u damaged\n", (int)getpid(), i);
            bad = 1;
        }
    exit(bad);
}

enum child_outcome { CHILD_OK, CHILD_FAILED, CHILD_HUNG };

static enum child_outcome wait_bounded(pid_t pid)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        perror("# pidfd_open");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return CHILD_FAILED;
    }
    struct pollfd watch = {.fd = pidfd, .events = POLLIN};
    int ready;
    do
        ready = poll(&watch, 1, CHILD_SECONDS * 1000);
    while (ready < 0 && errno == EINTR);
    close(pidfd);
    enum child_outcome outcome = CHILD_OK;
    if (ready == 0) {
        kill(pid, SIGKILL);
        outcome = CHILD_HUNG;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (outcome == CHILD_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        if (WIFSIGNALED(status))
            fprintf(stderr, "# child %d killed by signal %d\n", (int)pid, WTERMSIG(status));
        outcome = WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? CHILD_HUNG : CHILD_FAILED;
    }
    return outcome;
}

int main(void)
{
    alarm(WHOLE_TEST_SECONDS);
    setvbuf(stdout, NULL, _IONBF, 0);   /* nothing buffered for the children to repeat */
    printf("1..3\n");
    pthread_t threads[WORKERS];
    pthread_barrier_init(&started, NULL, WORKERS + 1);
    for (uintptr_t i = 0; i < WORKERS; i++)
        if (pthread_create(&threads[i], NULL, worker, (void *)i) != 0) {
            printf("Bail out! cannot create threads\n");
            return 1;
        }
    pthread_barrier_wait(&started);

    unsigned failed = 0, hung = 0;
    for (unsigned i = 0; i < FORKSTRESS_FORKS; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("# fork");
            failed++;
            continue;
        }
        if (pid == 0)
            child_main();
        enum child_outcome outcome = wait_bounded(pid);
        failed += outcome == CHILD_FAILED;
        hung += outcome == CHILD_HUNG;
    }
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    for (unsigned i = 0; i < MAILBOX_SLOTS; i++) {
        block_t *left = atomic_exchange(&mailbox[i], NULL);
        if (left != NULL && !block_release(left))
            atomic_fetch_add(&damaged_blocks, 1);
    }

    printf("# %d forks, %lu worker operations, %lu cross-thread hand-offs\n", FORKSTRESS_FORKS,
           atomic_load(&worker_operations), atomic_load(&handoffs));
    printf("%sok 1 - every child allocated, checked and exited 0 (%u failed)\n",
           failed == 0 ? "" : "not ", failed);
    printf("%sok 2 - every child finished within %d s (%u hung)\n",
           hung == 0 ? "" : "not ", CHILD_SECONDS, hung);
    unsigned long damaged = atomic_load(&damaged_blocks);
    int workers_ok = damaged == 0 && atomic_load(&worker_operations) > 0;
    printf("%sok 3 - the workers ran and found every block intact (%lu damaged)\n",
           workers_ok ? "" : "not ", damaged);
    return failed + hung != 0 || !workers_ok;
}
