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
 * pointer, to stay 32 bytes).  Ids and domains are handed out under one
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
static void registry_child_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    registry_lock = fresh;
}

__attribute__((constructor)) static void registry_atfork_install(void)
{
    if (pthread_atfork(NULL, NULL, registry_child_after_fork) != 0)
        pymgc_fatal("pymalloc_gc: cannot install the fork handler");
}

static void domain_release(void *arg)
{
    pymgc_domain *d = arg;
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
    d->enabled = true;
    static const long default_thresholds[PYM_GC_GENERATIONS] = {700, 10, 10};
    for (int i = 0; i < PYM_GC_GENERATIONS; i++) {
        pymgc_list_init(&d->gens[i].head);
        d->gens[i].threshold = default_thresholds[i];
    }
    pymgc_set_gen0_trigger(d);
    pymgc_list_init(&d->permanent);
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

static void epoch_reset_list(pymgc_head *list)
{
    for (pymgc_head *h = list->next; h != list; h = h->next)
        h->epoch = 0;
}

uint8_t pymgc_next_epochs(pymgc_domain *d, unsigned n)
{
    if (d->epoch > UINT8_MAX - n) {
        /* Wrap-around: an old stamp must not pass for a current one. */
        for (int i = 0; i < PYM_GC_GENERATIONS; i++)
            epoch_reset_list(&d->gens[i].head);
        epoch_reset_list(&d->permanent);
        d->epoch = 0;
    }
    uint8_t first = (uint8_t)(d->epoch + 1);
    d->epoch = (uint8_t)(d->epoch + n);
    return first;
}
