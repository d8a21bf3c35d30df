/*
 * domain.c -- collector domains (one per thread) and the type registry.
 *
 * A thread gets a domain on its first call that needs one; the only TLS is
 * one pointer (pymgc_current_domain).  A pthread key's destructor hands the
 * domain back when the thread exits; the domain keeps its objects and
 * settings and waits on the free list for the next thread to adopt it, so
 * objects of exited threads are still collected.  Domains are never freed.
 *
 * Types get a 16-bit id on first use (the header stores the id, not the
 * pointer, to stay 16 bytes).  Ids and domains are handed out under one
 * mutex; readers of pymgc_types[]/pymgc_domains[] need no lock because a slot
 * is written before its id is published (release/acquire on the id).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gc/gc_internal.h"

#define PYMGC_MAX_IDS 65536

pym_type *pymgc_types[PYMGC_MAX_IDS];
pymgc_domain *pymgc_domains[PYMGC_MAX_IDS];
PYMGC_TLS pymgc_domain *pymgc_current_domain;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned ntypes;             /* ids 1..ntypes are taken */
static unsigned ndomains;           /* ids 1..ndomains are taken */
static pymgc_domain *free_domains;   /* domains of exited threads */
static pthread_key_t domain_key;
static pthread_once_t domain_key_once = PTHREAD_ONCE_INIT;

void pymgc_fatal(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t written = write(2, buf, (size_t)n);
    (void)written;
    abort();
}

/* fork: the child has only the forking thread, so a registry lock held by
 * another thread at the moment of fork would never be released there.  The
 * child makes the lock anew.  What the lock guards are single short updates
 * (an id handed out, a pointer stored, a free list popped or pushed); one
 * cut in the middle leaves at worst an id that is never used.  The domains
 * of the parent's other threads stay owned by threads that do not exist in
 * the child: their objects live on and are never collected there. */
static void shared_child_after_fork(void);

static void registry_child_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    registry_lock = fresh;
    shared_child_after_fork();
}

__attribute__((constructor)) static void registry_atfork_install(void)
{
    if (pthread_atfork(NULL, NULL, registry_child_after_fork) != 0)
        pymgc_fatal("pymalloc_gc: cannot install the fork handler");
}

static void shared_leave_all(void);

static void domain_release(void *arg)
{
    pymgc_domain *d = arg;
    shared_leave_all();     /* a thread that exits inside leaves */
    pymgc_freelists_clear(d);   /* the blocks are of this thread's heap */
    pthread_mutex_lock(&registry_lock);
    d->next_free = free_domains;
    free_domains = d;
    pthread_mutex_unlock(&registry_lock);
    pymgc_current_domain = NULL;
}

static void domain_key_create(void)
{
    if (pthread_key_create(&domain_key, domain_release) != 0)
        pymgc_fatal("pymalloc_gc: cannot create the thread key");
}

static pymgc_domain *domain_create_locked(void)
{
    if (ndomains + 1 >= PYMGC_MAX_IDS)
        pymgc_fatal("pymalloc_gc: more than %d collector domains", PYMGC_MAX_IDS - 1);
    pymgc_domain *d = pym_calloc(1, sizeof *d);
    if (!d)
        pymgc_fatal("pymalloc_gc: out of memory creating a collector domain");
    d->id = (uint16_t)++ndomains;
    d->freelist_key = pymgc_freelist_key_make(d);
    d->enabled = true;
    static const long default_thresholds[PYM_GC_GENERATIONS] = {700, 10, 10};
    for (int i = 0; i < PYM_GC_GENERATIONS; i++)
        d->gens[i].threshold = default_thresholds[i];
    pymgc_set_gen0_trigger(d);
    __atomic_store_n(&pymgc_domains[d->id], d, __ATOMIC_RELEASE);
    return d;
}

pymgc_domain *pymgc_domain_attach(void)
{
    pthread_once(&domain_key_once, domain_key_create);
    pthread_mutex_lock(&registry_lock);
    pymgc_domain *d = free_domains;
    if (d)
        free_domains = d->next_free;
    else
        d = domain_create_locked();
    pthread_mutex_unlock(&registry_lock);
    d->next_free = NULL;
    pthread_setspecific(domain_key, d);
    pymgc_current_domain = d;
    return d;
}

/* ---- the shared domain ---------------------------------------------------
 * One per process, made on the first pym_gc_shared_enter.  A thread inside
 * (between enter and leave) has it as its current domain.  `world` counts
 * the threads inside and stops them for exclusive work: a thread that
 * wants it (a collection, a gc_api call) sets `stopped`, waits until it is
 * the only one inside, works, and clears `stopped`.  Threads that enter,
 * or want exclusive work themselves, meanwhile wait outside (a second
 * would-be collector steps out while it waits, so two never wait for each
 * other).  CPython 3.13's free-threaded build stops the world the same way
 * for its collections. */
pymgc_domain *pymgc_shared;
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    unsigned inside;            /* threads inside, waiting ones not counted */
    bool stopped;               /* a thread works exclusively */
} world = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};
static PYMGC_TLS pymgc_domain *home_domain;    /* the thread's own, while inside */
static PYMGC_TLS unsigned inside_depth;        /* nested enters */
static PYMGC_TLS unsigned exclusive_depth;     /* nested exclusive sections */

bool pymgc_inside_shared(void)
{
    return inside_depth > 0;
}

static pymgc_domain *shared_domain_get(void)
{
    pymgc_domain *d = __atomic_load_n(&pymgc_shared, __ATOMIC_ACQUIRE);
    if (d)
        return d;
    pthread_mutex_lock(&registry_lock);
    d = pymgc_shared;
    if (!d) {
        d = domain_create_locked();
        d->shared = true;
        pthread_mutex_init(&d->lock, NULL);
        __atomic_fetch_or(&pym_gc_slow_refcount_, PYMGC_SLOW_SHARED, __ATOMIC_RELEASE);
        __atomic_store_n(&pymgc_shared, d, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&registry_lock);
    return d;
}

int pym_gc_shared_enter(void)
{
    if (inside_depth > 0) {
        inside_depth++;
        return 0;
    }
    pymgc_domain *own = pymgc_domain_current();
    pymgc_domain *d = shared_domain_get();
    pthread_mutex_lock(&world.lock);
    while (world.stopped)
        pthread_cond_wait(&world.changed, &world.lock);
    world.inside++;
    pthread_mutex_unlock(&world.lock);
    home_domain = own;
    inside_depth = 1;
    pymgc_current_domain = d;
    return 0;
}

int pym_gc_shared_leave(void)
{
    if (inside_depth == 0 || exclusive_depth > 0) {
        errno = EPERM;
        return -1;
    }
    if (--inside_depth > 0)
        return 0;
    pymgc_current_domain = home_domain;
    home_domain = NULL;
    pthread_mutex_lock(&world.lock);
    world.inside--;
    pthread_cond_broadcast(&world.changed);
    pthread_mutex_unlock(&world.lock);
    return 0;
}

static void shared_leave_all(void)
{
    if (inside_depth == 0)
        return;
    exclusive_depth = 0;
    inside_depth = 1;
    pym_gc_shared_leave();
}

pymgc_domain *pymgc_exclusive_begin(void)
{
    pymgc_domain *d = pymgc_domain_current();
    if (pymgc_likely(!d->shared))
        return d;
    if (exclusive_depth++ > 0)
        return d;
    pthread_mutex_lock(&world.lock);
    while (world.stopped) {
        /* Another thread works exclusively: step out until it is done. */
        world.inside--;
        pthread_cond_broadcast(&world.changed);
        while (world.stopped)
            pthread_cond_wait(&world.changed, &world.lock);
        world.inside++;
    }
    world.stopped = true;
    while (world.inside > 1)
        pthread_cond_wait(&world.changed, &world.lock);
    pthread_mutex_unlock(&world.lock);
    return d;
}

void pymgc_exclusive_end(pymgc_domain **dp)
{
    if (pymgc_likely(!(*dp)->shared))
        return;
    if (--exclusive_depth > 0)
        return;
    pthread_mutex_lock(&world.lock);
    world.stopped = false;
    pthread_cond_broadcast(&world.changed);
    pthread_mutex_unlock(&world.lock);
}

uint16_t pymgc_type_register(pym_type *type)
{
    pthread_mutex_lock(&registry_lock);
    unsigned id = type->pymgc_type_id;
    if (id == 0) {
        if (ntypes + 1 >= PYMGC_MAX_IDS)
            pymgc_fatal("pymalloc_gc: more than %d types", PYMGC_MAX_IDS - 1);
        id = ++ntypes;
        pymgc_types[id] = type;
        __atomic_store_n(&type->pymgc_type_id, id, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&registry_lock);
    return (uint16_t)id;
}

/* In a child only the forking thread is inside (if it was). */
static void shared_child_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t fresh_cond = PTHREAD_COND_INITIALIZER;
    world.lock = fresh;
    world.changed = fresh_cond;
    world.inside = inside_depth > 0;
    world.stopped = exclusive_depth > 0;
    if (pymgc_shared)
        pymgc_shared->lock = fresh;
}
