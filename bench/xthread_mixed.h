/*
 * xthread_mixed.h -- the server pattern: threads that free each other's
 * blocks all the time.  Shared by the micro benchmark xthread/server
 * (micro/threads.cc, wall time) and the RSS probe xthread-mixed
 * (memory/rss_probe.c, peak RSS), so both measure the same thing.  It is
 * written in the common subset of C11 and C++ (GCC's __atomic builtins,
 * pthreads), which is why it is a header of static inline functions.
 *
 * N participants (2..XMIXED_MAX_THREADS): the calling thread is number 0,
 * xmixed_create() starts the others.  One round (xmixed_round) is:
 *   - every participant allocates `steps` blocks of the server size mix
 *     (size_mix.h: 16 B..4 KiB, mostly small), writes the first byte, and
 *     deals them out round-robin to the *other* participants, in batches of
 *     XMIXED_BATCH, through the receiver's mailbox;
 *   - a mailbox is a bounded array (XMIXED_MAILBOX_CAP blocks) under a
 *     pthread mutex; after each batch it sends, a participant empties its
 *     own mailbox and frees what it received.  A sender that finds a
 *     mailbox full empties its own while it waits, so two full mailboxes
 *     cannot deadlock;
 *   - when it has sent everything, a participant keeps emptying its own
 *     mailbox until every other participant has sent everything, then
 *     empties it a last time.  Every block allocated in the round has then
 *     been freed, each by a thread other than the one that allocated it.
 * So one round is N * steps malloc+free pairs, every free a remote free.
 *
 * The shared state (mailboxes, size tables, staging arrays) comes from
 * mmap, never from the allocator under test.  Idle participants wait for
 * the next round spinning briefly and then yielding; there is no sleep.
 */
#ifndef PYM_BENCH_XTHREAD_MIXED_H
#define PYM_BENCH_XTHREAD_MIXED_H

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "size_mix.h"

#define XMIXED_MAX_THREADS 8
#define XMIXED_BATCH 16
#define XMIXED_MAILBOX_CAP 1024
#define XMIXED_SIZE_TABLE 4096 /* sizes drawn before timing, replayed in a ring */

struct xmixed;

struct xmixed_mailbox {
    pthread_mutex_t lock;
    size_t count; /* written under lock, read without it (__atomic) */
    void *blocks[XMIXED_MAILBOX_CAP];
} __attribute__((aligned(64)));

struct xmixed_participant {
    struct xmixed *shared;
    unsigned self;
    pthread_t thread;
    size_t next_size;
    uint32_t sizes[XMIXED_SIZE_TABLE];
    size_t outbox_count[XMIXED_MAX_THREADS];
    void *outbox[XMIXED_MAX_THREADS][XMIXED_BATCH]; /* one batch per receiver */
    void *inbox[XMIXED_MAILBOX_CAP];                /* freed outside the lock */
} __attribute__((aligned(64)));

struct xmixed {
    unsigned threads;
    size_t steps;                  /* blocks each participant allocates per round */
    unsigned long round;           /* bumped by participant 0 to start a round */
    int stop;
    unsigned senders_left;         /* participants still sending this round */
    unsigned done;                 /* participants finished with this round */
    struct xmixed_mailbox mailbox[XMIXED_MAX_THREADS];
    struct xmixed_participant part[XMIXED_MAX_THREADS];
};

static inline void xmixed_wait_a_little(unsigned *spins)
{
    if (++*spins < 64)
        return;
    *spins = 0;
    sched_yield();
}

/* Empty our own mailbox and free what was in it; returns the count. */
static inline size_t xmixed_drain(struct xmixed_participant *me)
{
    struct xmixed_mailbox *box = &me->shared->mailbox[me->self];
    if (__atomic_load_n(&box->count, __ATOMIC_RELAXED) == 0)
        return 0;
    pthread_mutex_lock(&box->lock);
    size_t n = box->count;
    memcpy(me->inbox, box->blocks, n * sizeof(void *));
    __atomic_store_n(&box->count, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&box->lock);
    for (size_t i = 0; i < n; i++)
        free(me->inbox[i]);
    return n;
}

static inline void xmixed_send(struct xmixed_participant *me, unsigned dest)
{
    struct xmixed_mailbox *box = &me->shared->mailbox[dest];
    size_t n = me->outbox_count[dest];
    unsigned spins = 0;
    for (;;) {
        pthread_mutex_lock(&box->lock);
        if (box->count + n <= XMIXED_MAILBOX_CAP) {
            memcpy(box->blocks + box->count, me->outbox[dest], n * sizeof(void *));
            __atomic_store_n(&box->count, box->count + n, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&box->lock);
            break;
        }
        pthread_mutex_unlock(&box->lock);
        /* The receiver is behind: free our own mail meanwhile (no deadlock). */
        if (xmixed_drain(me) == 0)
            xmixed_wait_a_little(&spins);
    }
    me->outbox_count[dest] = 0;
    xmixed_drain(me);
}

/* One participant's share of one round. */
static inline void xmixed_play(struct xmixed_participant *me)
{
    struct xmixed *x = me->shared;
    const unsigned n = x->threads;
    for (size_t i = 0; i < x->steps; i++) {
        size_t size = me->sizes[me->next_size++ & (XMIXED_SIZE_TABLE - 1)];
        char *p = (char *)malloc(size);
        if (!p) {
            fprintf(stderr, "xthread_mixed: malloc(%zu) failed\n", size);
            abort();
        }
        p[0] = (char)i;
        unsigned dest = (me->self + 1 + (unsigned)(i % (n - 1))) % n;
        me->outbox[dest][me->outbox_count[dest]++] = p;
        if (me->outbox_count[dest] == XMIXED_BATCH)
            xmixed_send(me, dest);
    }
    for (unsigned dest = 0; dest < n; dest++)
        if (me->outbox_count[dest])
            xmixed_send(me, dest);
    __atomic_fetch_sub(&x->senders_left, 1, __ATOMIC_ACQ_REL);
    unsigned spins = 0;
    while (__atomic_load_n(&x->senders_left, __ATOMIC_ACQUIRE) != 0)
        if (xmixed_drain(me) == 0)
            xmixed_wait_a_little(&spins);
    xmixed_drain(me);
    __atomic_fetch_add(&x->done, 1, __ATOMIC_RELEASE);
}

static inline void *xmixed_worker(void *arg)
{
    struct xmixed_participant *me = (struct xmixed_participant *)arg;
    struct xmixed *x = me->shared;
    unsigned long seen = 0;
    unsigned spins = 0;
    for (;;) {
        unsigned long round = __atomic_load_n(&x->round, __ATOMIC_ACQUIRE);
        if (round == seen) {
            xmixed_wait_a_little(&spins);
            continue;
        }
        seen = round;
        if (__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE))
            return NULL;
        xmixed_play(me);
    }
}

/* Participant 0 (the caller) runs one round with all the others. */
static inline void xmixed_round(struct xmixed *x)
{
    __atomic_store_n(&x->done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&x->senders_left, x->threads, __ATOMIC_RELAXED);
    __atomic_fetch_add(&x->round, 1, __ATOMIC_RELEASE);
    xmixed_play(&x->part[0]);
    unsigned spins = 0;
    while (__atomic_load_n(&x->done, __ATOMIC_ACQUIRE) != x->threads)
        xmixed_wait_a_little(&spins);
}

/* threads in 2..XMIXED_MAX_THREADS; the others start waiting for a round. */
static inline struct xmixed *xmixed_create(unsigned threads, size_t steps, uint64_t seed)
{
    if (threads < 2 || threads > XMIXED_MAX_THREADS) {
        fprintf(stderr, "xthread_mixed: %u threads (2..%d)\n", threads, XMIXED_MAX_THREADS);
        abort();
    }
    void *memory = mmap(NULL, sizeof(struct xmixed), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
        perror("xthread_mixed: mmap");
        abort();
    }
    struct xmixed *x = (struct xmixed *)memory;
    memset(x, 0, sizeof *x); /* resident before any RSS baseline is taken */
    x->threads = threads;
    x->steps = steps;
    for (unsigned t = 0; t < threads; t++) {
        pthread_mutex_init(&x->mailbox[t].lock, NULL);
        struct xmixed_participant *me = &x->part[t];
        me->shared = x;
        me->self = t;
        bench_rng_t rng = bench_rng_seeded(seed + t);
        for (size_t i = 0; i < XMIXED_SIZE_TABLE; i++)
            me->sizes[i] = (uint32_t)bench_size_server_mix(&rng);
    }
    for (unsigned t = 1; t < threads; t++) {
        if (pthread_create(&x->part[t].thread, NULL, xmixed_worker, &x->part[t]) != 0) {
            fprintf(stderr, "xthread_mixed: pthread_create failed\n");
            abort();
        }
    }
    return x;
}

static inline void xmixed_destroy(struct xmixed *x)
{
    __atomic_store_n(&x->stop, 1, __ATOMIC_RELEASE);
    __atomic_fetch_add(&x->round, 1, __ATOMIC_RELEASE);
    for (unsigned t = 1; t < x->threads; t++)
        pthread_join(x->part[t].thread, NULL);
    for (unsigned t = 0; t < x->threads; t++)
        pthread_mutex_destroy(&x->mailbox[t].lock);
    munmap(x, sizeof(struct xmixed));
}

#endif /* PYM_BENCH_XTHREAD_MIXED_H */
