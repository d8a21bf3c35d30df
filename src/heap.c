/*
 * heap.c -- per-thread heaps: creation, thread exit, adoption, fork.
 *
 * Each thread's heap pointer is the library's thread-local state (one word,
 * plus one used only in debug mode; initial-exec TLS, so a dlopen'ed library that links us still loads).  It
 * starts as &pymi_null_heap, whose classes all point at the exhausted pool,
 * so the first malloc of a thread falls into the slow path, which gives the
 * thread a heap; free() never needs one (a pool's owner is never the null
 * heap).
 *
 * Heaps are never freed; their memory comes from mmap, never from malloc.
 * When a thread exits (pthread key destructor), its heap drains what it can,
 * returns its empty pools (PYM_RETURN_BATCH per acquisition of the arena
 * lock: a heap whose blocks others freed may hold 100k empty pools) and is
 * *abandoned* with the blocks still live.
 * Its pools keep pointing at it, so there is no window in which a pool has
 * no owner.  While abandoned, a free into one of its pools takes heap->lock
 * and acts as the owner (pymi_heap_free_abandoned), so memory keeps going
 * back.  The next thread that needs a heap adopts an abandoned one whole.
 *
 * fork (fork.c; pymi_heap_fork_child, at the end): no lock is held across
 * fork.  In the child of a multi-threaded process, the heaps of threads that
 * did not come along are ORPHANED, not abandoned: those threads may have
 * been half-way through a fast path, so the child never acts on their heaps;
 * their blocks stay valid and are simply not reused in the child.  So is an
 * abandoned heap whose lock was held at the fork.
 */
#include "internal.h"

#include <errno.h>

PYM_TLS struct pymi_tls pymi_tls = {&pymi_null_heap, PYM_ARENA_TAG_NONE};
PYM_TLS pym_heap_t *pymi_tls_debug_heap;
pym_heap_t pymi_null_heap = {.pool_for_size = {[0 ... PYM_SMALL_MAX] = &pymi_exhausted_pool},
                              .pools = {[0 ... PYM_NUM_CLASSES - 1] = &pymi_exhausted_pool},
                              .arena_tag = PYM_ARENA_TAG_NONE};
pthread_mutex_t pymi_heaps_lock = PTHREAD_MUTEX_INITIALIZER;

static _Atomic(pym_heap_t *) all_heaps;   /* push-only list through next_all */
static pthread_key_t exit_key;
static uint64_t heaps_adopted;            /* under pymi_heaps_lock */

/* The one writer of a class's current pool: pools[c] and the fast path's
 * entries for the class's 16 request sizes (and size 0's for class 0,
 * types.h). */
static inline void heap_store_current(pym_heap_t *heap, unsigned c, pym_pool_t *pool)
{
    heap->pools[c] = pool;
    /* Eight 16-byte stores, unrolled: a refill of random churn comes every
     * ~9 mallocs, and a loop of them took 32 instructions. */
    typedef uintptr_t two_pools __attribute__((vector_size(16), aligned(8), may_alias));
    two_pools *sizes = (two_pools *)&heap->pool_for_size[c * PYM_ALIGNMENT + 1];
    two_pools both = {(uintptr_t)pool, (uintptr_t)pool};
    _Static_assert(PYM_ALIGNMENT == 16, "a class has 16 request sizes");
    sizes[0] = both; sizes[1] = both; sizes[2] = both; sizes[3] = both;
    sizes[4] = both; sizes[5] = both; sizes[6] = both; sizes[7] = both;
    if (c == 0)
        heap->pool_for_size[0] = pool;
}

/* The one writer of the thread's TLS block: its heap and the copy of the
 * heap's arena tag that free compares with (internal.h). */
static void tls_set_heap(pym_heap_t *heap)
{
    pymi_tls = (struct pymi_tls){heap, heap->arena_tag};
}

/* Metadata comes in mmap'd chunks carved under pymi_heaps_lock, a heap
 * on whole pages of its own.  While heaps sat back to back (64-byte
 * aligned), threads/churn with 2 threads ran each thread 24 % slower than
 * one alone; on pages of their own, 8-10 % faster than that (most likely
 * the hardware prefetchers, which fetch lines ahead within a 4 KiB page,
 * brought a neighbour heap's lines into the other core; docs/design.md,
 * "Session 31").  A heap is 7 KiB (5 KiB before session 32's table of
 * pools by request size), so a thread pays 1 KiB more (the rest of its
 * second page). */
static char *meta_next, *meta_end;
#define PYM_META_CHUNK ((size_t)64 << 10)

static pym_heap_t *heap_new_locked(void)
{
    size_t need = (sizeof(pym_heap_t) + PYM_OS_PAGE_SIZE - 1) & ~(size_t)(PYM_OS_PAGE_SIZE - 1);
    if (meta_next == NULL || (size_t)(meta_end - meta_next) < need) {
        char *chunk = pymi_os_map(PYM_META_CHUNK);
        if (chunk == NULL)
            return NULL;
        meta_next = chunk;
        meta_end = chunk + PYM_META_CHUNK;
    }
    pym_heap_t *heap = (pym_heap_t *)meta_next;
    meta_next += need;
    pymi_arena_home_init(&heap->home);
    heap->arena_tag = pymi_arena_tag_for_heap(heap->home.id);
    for (unsigned c = 0; c < PYM_NUM_CLASSES; c++)
        heap_store_current(heap, c, &pymi_exhausted_pool);
    heap->decay_tick = PYM_DECAY_TICK_IDLE;
    pymi_fwd_heap_init(heap);
    atomic_init(&heap->reclaim, NULL);
    atomic_init(&heap->state, PYM_HEAP_ACTIVE);
    pthread_mutex_init(&heap->lock, NULL);
    heap->next_all = atomic_load_explicit(&all_heaps, memory_order_relaxed);
    atomic_store_explicit(&all_heaps, heap, memory_order_release);
    return heap;
}

static pym_heap_t *heap_adopt_locked(void)
{
    for (pym_heap_t *h = atomic_load_explicit(&all_heaps, memory_order_acquire); h; h = h->next_all) {
        if (atomic_load_explicit(&h->state, memory_order_relaxed) != PYM_HEAP_ABANDONED)
            continue;
        pthread_mutex_lock(&h->lock);
        atomic_store_explicit(&h->state, PYM_HEAP_ACTIVE, memory_order_release);
        pthread_mutex_unlock(&h->lock);
        heaps_adopted++;
        return h;
    }
    return NULL;
}

/* ---- class lists ---------------------------------------------------------------
 * heap->pools[c] is the class's current pool, the one malloc pops from; it
 * carries the pin (one extra count in `used`, types.h), so that the free
 * fast path never sees it empty.  The pin moves with the list's head. */

static void heap_set_current(pym_heap_t *heap, unsigned c, pym_pool_t *pool)
{
    pym_pool_t *old = heap->pools[c];
    if (old == pool)
        return;
    if (old != &pymi_exhausted_pool)
        old->used--;
    if (pool == NULL || pool == &pymi_exhausted_pool)
        pool = &pymi_exhausted_pool;
    else
        pool->used++;
    heap_store_current(heap, c, pool);
}

/* A heap has two lists of pools per class, linked through next/prev:
 *   - the class list (state LINKED), whose head is the current pool (so
 *     the head moves with heap_set_current and its pin).  A pool that
 *     comes back from FULL goes last (mimalloc's habit, not CPython's
 *     front): the pools ahead of it are used first, so it gathers more
 *     frees before malloc reaches it.  A fresh pool lands on an empty list
 *     and is used at once;
 *   - the FULL list (state FULL), oldest first: the pools malloc found with
 *     no free block.  The owner's frees keep going into them on the fast
 *     path; malloc looks at the oldest when the class list runs dry. */
static void list_set_head(pym_heap_t *heap, unsigned c, int state, pym_pool_t *pool)
{
    if (state == PYM_POOL_FULL)
        heap->full_head[c] = pool;
    else
        heap_set_current(heap, c, pool);
}

static pym_pool_t **list_tail(pym_heap_t *heap, unsigned c, int state)
{
    return state == PYM_POOL_FULL ? &heap->full_tail[c] : &heap->tails[c];
}

static void list_append(pym_heap_t *heap, pym_pool_t *pool, int state)
{
    unsigned c = pool->sizeclass;
    pym_pool_t **tail = list_tail(heap, c, state);
    pym_pool_t *last = *tail;
    pool->next = 0;
    pool->prev = pymi_pool_number(last);
    pool->state = (uint8_t)state;
    *tail = pool;
    if (last != NULL)
        last->next = pymi_pool_number(pool);
    else
        list_set_head(heap, c, state, pool);
}

/* Off whichever list its state says; DETACHED afterwards. */
static void list_remove(pym_heap_t *heap, pym_pool_t *pool)
{
    unsigned c = pool->sizeclass;
    int state = pool->state;
    pym_pool_t *prev = pymi_pool_at(pool->prev);
    pym_pool_t *next = pymi_pool_at(pool->next);
    if (prev != NULL)
        prev->next = pool->next;
    else
        list_set_head(heap, c, state, next);
    if (next != NULL)
        next->prev = pool->prev;
    else
        *list_tail(heap, c, state) = prev;
    pool->next = pool->prev = 0;
    pool->state = PYM_POOL_DETACHED;
}

void pymi_heap_unlink(pym_heap_t *heap, pym_pool_t *pool)
{
    if (pool->state != PYM_POOL_DETACHED)
        list_remove(heap, pool);
}

void pymi_heap_link(pym_heap_t *heap, pym_pool_t *pool)
{
    if (pool->state == PYM_POOL_LINKED)
        return;
    pymi_heap_unlink(heap, pool);
    list_append(heap, pool, PYM_POOL_LINKED);
}

/* The current pool has no block: from the class list to the FULL list. */
static void heap_retire(pym_heap_t *heap, pym_pool_t *pool)
{
    list_remove(heap, pool);
    list_append(heap, pool, PYM_POOL_FULL);
}

/* Takes the oldest pool, the head, off the FULL list (DETACHED
 * afterwards): the general list_remove's choice of list and of ends is
 * not needed for it. */
static void full_pop_oldest(pym_heap_t *heap, unsigned c)
{
    pym_pool_t *oldest = heap->full_head[c];
    pym_pool_t *next = pymi_pool_at(oldest->next);
    heap->full_head[c] = next;
    if (next != NULL)
        next->prev = 0;
    else
        heap->full_tail[c] = NULL;
    oldest->next = 0;
    oldest->state = PYM_POOL_DETACHED;
}

/* ---- the malloc slow path --------------------------------------------------------- */

/* A FULL pool is worth taking back once a sixteenth of its blocks (at
 * least one) are free on its list.  Taken back with one or two, it ran dry
 * again a few mallocs later, and each time the first pop from it was a
 * cache miss (its head block was freed long ago): churn/100k 15-23 %
 * faster in session 23 with this bound, the churn probe's peak RSS +0.1 %
 * (an eighth: +4 %, no faster).  Session 20 measured the bound a slower
 * trees/14, whose short-lived trees then gave more pools back to the arena
 * and took more; the heap's stack of empty pools has made that cheap. */
static inline bool worth_taking_back(const pym_pool_t *pool)
{
    unsigned capacity = pymi_class_capacity(pool->sizeclass);
    unsigned wanted_free = capacity >> PYM_TAKE_BACK_SHIFT;
    return !pymi_is_list_end(pool->free) && pool->used + wanted_free <= capacity;
}

/* The usual refill under random churn: the current pool, alone on its
 * class list, has just been marked FULL, and the oldest FULL pool has
 * enough blocks again (worth_taking_back).  The two trade places -- the
 * lists end as heap_retire then pymi_heap_link would leave them (the dry
 * pool last of the FULL list, the other current, the pin moved).  The
 * one-pool class list is replaced in place, without its removal and
 * append and their two moves of the pin through an empty list, and the
 * FULL list's head leaves by full_pop_oldest, not the general list_remove
 * (count_pairs' churn: 97.6 -> 90.5 instructions per pair for the first,
 * 91.3 -> 88.1 for the second; one refill per ~9 pairs).  Inline, so that
 * the quick refill below stays a leaf.  False, with nothing changed, when
 * the case is not this one. */
PYM_INLINE bool heap_swap_with_oldest_full(pym_heap_t *heap, unsigned c, pym_pool_t *pool)
{
    pym_pool_t *full = heap->full_head[c];
    if (full == NULL || pool->next != 0 || !worth_taking_back(full))
        return false;
    full_pop_oldest(heap, c);
    /* The next trade of the class takes the new oldest pool and pops the
     * head of its list, a block freed long ago: a cache miss that was
     * 84 % of the refill's samples in churn/100k.  Fetch that block now,
     * and the descriptor of the pool after it, so that the next trade's
     * reads of its new oldest pool find them cached: churn/100k 4 %
     * faster (the block alone gained nothing; pinned, alternating). */
    pym_pool_t *next = heap->full_head[c];
    if (next != NULL) {
        __builtin_prefetch(next->free);
        __builtin_prefetch(pymi_pool_at(next->next));
    }
    /* The class list [pool] becomes [full]; the pin moves with it (both
     * are real pools, unlike the general heap_set_current's). */
    full->state = PYM_POOL_LINKED;
    heap->tails[c] = full;
    pool->used--;
    full->used++;
    heap_store_current(heap, c, full);
    list_append(heap, pool, PYM_POOL_FULL);
    heap->full_dry[c] = 0;
    return true;
}

/* The usual refill under random churn, on its own: the current pool ran
 * dry again after a swap, so it is still flagged FULL with an empty remote
 * list (remote.c; marking it again would need no CAS), and the oldest FULL
 * pool has enough blocks.  A leaf function, which saves no register: the
 * general path below, behind two calls that each save six, took 164
 * instructions a refill of count_pairs' churn (one refill per ~9 pairs).
 * NULL, with nothing changed, when the case is not this one. */
pym_pool_t *pymi_heap_refill_quick(pym_heap_t *heap, unsigned sizeclass)
{
    pym_pool_t *pool = heap->pools[sizeclass];
    if (!pool->flagged ||
        atomic_load_explicit(&heap->reclaim, memory_order_relaxed) != NULL ||
        !heap_swap_with_oldest_full(heap, sizeclass, pool))
        return NULL;
    return heap->pools[sizeclass];
}

/* How many FULL pools malloc looks at before it takes a fresh one; one
 * only while the last look found them all dry (full_dry).  A program that
 * allocates a batch and frees nothing meanwhile has only dry FULL pools,
 * and four looks, each a cold descriptor and a rotation of the list, were 6
 * of 131 instructions per pair in a batch of 100 000 objects (callgrind);
 * random churn, whose looks find blocks, keeps looking at four. */
#define PYM_FULL_LOOKS 4u

/* The current pool has nothing on its free list and nothing to carve.
 * Refill it from its remote list; else retire it (FULL) and move to the
 * next pool of the class; else take back the oldest FULL pool that has
 * enough blocks again (worth_taking_back); else bring back pools that
 * remote frees refilled; else a fresh pool (emptypools.c). */
pym_pool_t *pymi_heap_alloc_slow(pym_heap_t *heap, unsigned sizeclass)
{
    for (;;) {
        pym_pool_t *pool = heap->pools[sizeclass];
        if (pool == &pymi_exhausted_pool)
            break;
        if (pymi_pool_has_block(pool))
            return pool;   /* the next pool of the list */
        unsigned got = pymi_remote_take(pool);
        if (got != 0) {
            heap->refilled[sizeclass] += got;
            return pool;
        }
        if (pymi_remote_mark_full(pool)) {
            if (heap_swap_with_oldest_full(heap, sizeclass, pool))
                return heap->pools[sizeclass];
            heap_retire(heap, pool);   /* the next pool becomes current */
        }
    }
    unsigned looks = heap->full_dry[sizeclass] ? 1 : PYM_FULL_LOOKS;
    for (unsigned look = 0; look < looks; look++) {
        pym_pool_t *pool = heap->full_head[sizeclass];
        if (pool == NULL)
            break;
        if (pymi_is_list_end(pool->free))
            heap->refilled[sizeclass] += pymi_remote_take(pool);
        if (worth_taking_back(pool)) {
            heap->full_dry[sizeclass] = 0;
            pymi_heap_link(heap, pool);   /* the list was empty: it is current */
            return pool;
        }
        full_pop_oldest(heap, sizeclass);   /* still dry: to the back of the line */
        list_append(heap, pool, PYM_POOL_FULL);
    }
    heap->full_dry[sizeclass] = 1;
    if (atomic_load_explicit(&heap->reclaim, memory_order_relaxed) != NULL) {
        pymi_remote_reclaim_batched(heap, 1, NULL);
        if (heap->pools[sizeclass] != &pymi_exhausted_pool)
            return pymi_heap_alloc_slow(heap, sizeclass);
    }
    pym_pool_t *pool = pymi_heap_take_empty_pool(heap);
    if (pool == NULL)
        return NULL;
    pymi_pool_init(pool, heap, sizeclass);
    pymi_heap_link(heap, pool);
    heap->refilled[sizeclass] += pymi_class_capacity(sizeclass);
    return pool;
}

/* ---- the outbox: remote frees pushed in batches ----------------------------------
 * A remote free is a CAS on the pool's remote word, and the CAS waits for
 * the store of the block's link into a cache line the allocating thread's
 * core holds: one cross-core round trip per block, one after the other
 * (94 % of pymi_remote_push's samples in the server benchmark).  Frees
 * into one pool are gathered instead, in one of PYM_OUTBOX_WAYS outboxes
 * of the class, and pushed with one CAS when PYM_OUTBOX_MAX are waiting,
 * when a block of a pool none of them holds needs a way and none is free
 * (the busy ones are taken in turn), and when the thread trims or exits.
 * With one outbox per class, a thread that received blocks from 3 others
 * (xthread/server with 4 threads) pushed 4.3 blocks a CAS, the pools of
 * the senders taking turns; 2 threads, 28 (of 32).  A block in an outbox
 * still counts as used in its pool, so the pool cannot change hands
 * meanwhile.  A thread that stops freeing holds back at most
 * PYM_OUTBOX_WAYS * PYM_OUTBOX_MAX blocks per class until it exits or
 * trims. */
#define PYM_OUTBOX_MAX 32u

static void outbox_flush(pym_outbox_t *box)
{
    pym_pool_t *pool = box->pool;
    if (pool == NULL)
        return;
    box->pool = NULL;
    pym_heap_t *owner = box->owner;
    if (atomic_load_explicit(&owner->state, memory_order_acquire) != PYM_HEAP_ABANDONED) {
        pymi_remote_push_list(owner, pool, box->head, box->tail, box->count, box->live_xor);
        return;
    }
    for (pym_block_t *block = box->head, *next; block != NULL; block = next) {
        next = block == box->tail ? NULL : pymi_block_next(block);
        pymi_heap_free_abandoned(owner, pool, block);
    }
}

/* The outbox of the class that holds pool's blocks, else a free one, else
 * the next in turn, flushed. */
static pym_outbox_t *outbox_for(pym_heap_t *me, unsigned sizeclass, const pym_pool_t *pool)
{
    pym_outbox_t *ways = me->outbox[sizeclass], *free_way = NULL;
    for (unsigned i = 0; i < PYM_OUTBOX_WAYS; i++) {
        if (ways[i].pool == pool)
            return &ways[i];
        if (ways[i].pool == NULL && free_way == NULL)
            free_way = &ways[i];
    }
    if (free_way != NULL)
        return free_way;
    pym_outbox_t *next = &ways[me->outbox_victim[sizeclass]++ % PYM_OUTBOX_WAYS];
    outbox_flush(next);
    return next;
}

void pymi_heap_free_remote(pym_heap_t *me, pym_heap_t *owner, pym_pool_t *pool, pym_block_t *block)
{
    pym_outbox_t *box = outbox_for(me, pymi_pool_shared(pool)->sizeclass, pool);
    if (box->pool != pool) {
        box->pool = pool;
        box->owner = owner;
        box->head = NULL;
        box->tail = block;
        box->count = 0;
        box->live_xor = 0;
    } else if (pym_unlikely(block == box->head)) {
        pymi_free_invalid(block, "double free");
    }
    pymi_block_set_next(block, box->head);
    box->head = block;
    box->count++;
    box->live_xor ^= (uint16_t)(uintptr_t)block;
    if (box->count == PYM_OUTBOX_MAX)
        outbox_flush(box);
}

/* Returns every empty pool and drains what can be drained, PYM_RETURN_BATCH
 * pools per acquisition of the arena lock.  Caller acts as the owner (its
 * own heap, or an abandoned heap whose lock it holds). */
static void heap_release_empty(pym_heap_t *heap)
{
    pymi_fwd_flush(heap);
    for (unsigned c = 0; c < PYM_NUM_CLASSES; c++)
        for (unsigned i = 0; i < PYM_OUTBOX_WAYS; i++)
            outbox_flush(&heap->outbox[c][i]);   /* empty but for the owner thread's own call */
    pym_pool_batch_t batch;   /* only count is set: no 512-byte memset */
    batch.count = 0;
    pymi_remote_reclaim_batched(heap, 0, &batch);
    pymi_heap_release_empty_pools(heap, &batch);
    for (unsigned c = 0; c < PYM_NUM_CLASSES; c++) {
        heap->spare[c] = NULL;
        /* The FULL list first: settling moves a pool with blocks to the
         * class list, walked next. */
        for (pym_pool_t *pool = heap->full_head[c], *next; pool != NULL; pool = next) {
            next = pymi_pool_at(pool->next);
            pymi_remote_take(pool);
            pymi_pool_settle_batched(heap, pool, 0, &batch);
        }
        pym_pool_t *pool = heap->pools[c];
        while (pool != &pymi_exhausted_pool && pool != NULL) {
            pym_pool_t *next = pymi_pool_at(pool->next);
            pymi_remote_take(pool);
            pymi_pool_settle_batched(heap, pool, 0, &batch);
            pool = next;
        }
    }
    pymi_arena_return_batch(&batch);
}

static void heap_thread_exit(void *arg)
{
    pym_heap_t *heap = arg;
    if (heap == NULL || heap == &pymi_null_heap)
        return;
    heap_release_empty(heap);
    pthread_mutex_lock(&heap->lock);
    atomic_store_explicit(&heap->state, PYM_HEAP_ABANDONED, memory_order_release);
    pthread_mutex_unlock(&heap->lock);
    /* Frees by later TLS destructors of this thread go the abandoned way;
     * a later malloc would adopt a heap again and re-arm the key. */
    tls_set_heap(&pymi_null_heap);
    pymi_tls_debug_heap = NULL;
}

int pymi_heap_init_process(void)
{
    return pthread_key_create(&exit_key, heap_thread_exit) == 0;
}

/* The slow path's way to a heap for this thread, once the process is
 * initialised (the caller's business: heap and init do not call each
 * other); NULL means "forward". */
pym_heap_t *pymi_heap_for_thread(void)
{
    if (pymi_tls.heap != &pymi_null_heap)
        return pymi_tls.heap;
    if (pymi_tls_debug_heap != NULL)
        return pymi_tls_debug_heap;
    pthread_mutex_lock(&pymi_heaps_lock);
    pym_heap_t *heap = heap_adopt_locked();
    if (heap == NULL)
        heap = heap_new_locked();
    pthread_mutex_unlock(&pymi_heaps_lock);
    if (heap == NULL)
        return NULL;
    /* Set before pthread_setspecific, which may itself call malloc. */
    if (pymi_debug_on)
        pymi_tls_debug_heap = heap;
    else
        tls_set_heap(heap);
    int saved = errno;
    pthread_setspecific(exit_key, heap);
    errno = saved;
    return heap;
}

void pymi_heap_free_abandoned(pym_heap_t *owner, pym_pool_t *pool, pym_block_t *block)
{
    pthread_mutex_lock(&owner->lock);
    if (atomic_load_explicit(&owner->state, memory_order_relaxed) != PYM_HEAP_ABANDONED) {
        /* Adopted meanwhile: it has an owner thread again. */
        pthread_mutex_unlock(&owner->lock);
        pymi_remote_push(owner, pool, block);
        return;
    }
    pymi_pool_push_free(pool, block);
    pymi_remote_take(pool);
    pym_pool_batch_t batch;   /* only count is set: no 512-byte memset */
    batch.count = 0;
    pymi_remote_reclaim_batched(owner, 0, &batch);
    pymi_pool_settle_batched(owner, pool, 0, &batch);
    pymi_arena_return_batch(&batch);
    pthread_mutex_unlock(&owner->lock);
}

int pymi_heap_collect_abandoned(void)
{
    int any = 0;
    for (pym_heap_t *h = atomic_load_explicit(&all_heaps, memory_order_acquire); h; h = h->next_all) {
        if (atomic_load_explicit(&h->state, memory_order_relaxed) != PYM_HEAP_ABANDONED)
            continue;
        if (pthread_mutex_trylock(&h->lock) != 0)
            continue;
        if (atomic_load_explicit(&h->state, memory_order_relaxed) == PYM_HEAP_ABANDONED) {
            heap_release_empty(h);
            any = 1;
        }
        pthread_mutex_unlock(&h->lock);
    }
    return any;
}

int pymi_heap_trim_own(void)
{
    pym_heap_t *heap = pymi_tls_debug_heap != NULL ? pymi_tls_debug_heap : pymi_tls.heap;
    if (heap == &pymi_null_heap)
        return 0;
    heap_release_empty(heap);
    return 1;
}

pym_heap_t *pymi_heap_list(void)
{
    return atomic_load_explicit(&all_heaps, memory_order_acquire);
}

uint64_t pymi_heaps_adopted(void)
{
    return heaps_adopted;
}

/* In the child of a multi-threaded process (fork.c), alone in it.
 *   - pymi_heaps_lock held at the fork: the metadata chunk being carved may
 *     be half-updated, so its rest is given up (the next heap maps a new
 *     chunk).  all_heaps needs nothing: a heap is fully made before one
 *     release store publishes it.
 *   - every heap but this thread's: ACTIVE ones lost their thread; an
 *     ABANDONED one whose lock was held was being acted for (a free, a
 *     collect, an adoption) by a thread that did not come along.  Both
 *     become ORPHANED: never acted for, never adopted.  An ABANDONED heap
 *     whose lock was free is consistent and stays adoptable.
 * A held heap lock is re-initialised in any case, so nothing in the child
 * can wait for it. */
void pymi_heap_fork_child(int heaps_lock_was_held)
{
    if (heaps_lock_was_held) {
        meta_next = NULL;
        meta_end = NULL;
    }
    pym_heap_t *mine = pymi_tls_debug_heap != NULL ? pymi_tls_debug_heap : pymi_tls.heap;
    for (pym_heap_t *h = atomic_load_explicit(&all_heaps, memory_order_acquire); h; h = h->next_all) {
        int held = pymi_fork_reset_lock(&h->lock);
        if (h == mine)
            continue;
        int state = atomic_load_explicit(&h->state, memory_order_relaxed);
        if (state == PYM_HEAP_ACTIVE || (state == PYM_HEAP_ABANDONED && held))
            atomic_store_explicit(&h->state, PYM_HEAP_ORPHANED, memory_order_relaxed);
    }
}
