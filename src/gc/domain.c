/*
 * domain.c -- collector domains (one per thread) and the type registry.
 *
 * A thread gets a domain on its first call that needs one; the only TLS is
 * one pointer (pymi_current_domain).  A pthread key's destructor hands the
 * domain back when the thread exits; the domain keeps its objects and
 * settings and waits on the free list for the next thread to adopt it, so
 * objects of exited threads are still collected.  Domains are never freed.
 *
 * Types get a 16-bit id on first use (the header stores the id, not the
 * pointer, to stay 32 bytes).  Ids and domains are handed out under one
 * mutex; readers of pymi_types[]/pymi_domains[] need no lock because a slot
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

#define PYMI_MAX_IDS 65536

pym_type *pymi_types[PYMI_MAX_IDS];
pymi_domain *pymi_domains[PYMI_MAX_IDS];
PYMI_TLS pymi_domain *pymi_current_domain;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned ntypes;             /* ids 1..ntypes are taken */
static unsigned ndomains;           /* ids 1..ndomains are taken */
static pymi_domain *free_domains;   /* domains of exited threads */
static pthread_key_t domain_key;
static pthread_once_t domain_key_once = PTHREAD_ONCE_INIT;

void pymi_fatal(const char *fmt, ...)
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

static void domain_release(void *arg)
{
    pymi_domain *d = arg;
    pthread_mutex_lock(&registry_lock);
    d->next_free = free_domains;
    free_domains = d;
    pthread_mutex_unlock(&registry_lock);
    pymi_current_domain = NULL;
}

static void domain_key_create(void)
{
    if (pthread_key_create(&domain_key, domain_release) != 0)
        pymi_fatal("pymalloc_gc: cannot create the thread key");
}

static pymi_domain *domain_create_locked(void)
{
    if (ndomains + 1 >= PYMI_MAX_IDS)
        pymi_fatal("pymalloc_gc: more than %d collector domains", PYMI_MAX_IDS - 1);
    pymi_domain *d = pym_calloc(1, sizeof *d);
    if (!d)
        pymi_fatal("pymalloc_gc: out of memory creating a collector domain");
    d->id = (uint16_t)++ndomains;
    d->enabled = true;
    static const long default_thresholds[PYM_GC_GENERATIONS] = {700, 10, 10};
    for (int i = 0; i < PYM_GC_GENERATIONS; i++) {
        pymi_list_init(&d->gens[i].head);
        d->gens[i].threshold = default_thresholds[i];
    }
    pymi_set_gen0_trigger(d);
    pymi_list_init(&d->permanent);
    __atomic_store_n(&pymi_domains[d->id], d, __ATOMIC_RELEASE);
    return d;
}

pymi_domain *pymi_domain_attach(void)
{
    pthread_once(&domain_key_once, domain_key_create);
    pthread_mutex_lock(&registry_lock);
    pymi_domain *d = free_domains;
    if (d)
        free_domains = d->next_free;
    else
        d = domain_create_locked();
    pthread_mutex_unlock(&registry_lock);
    d->next_free = NULL;
    pthread_setspecific(domain_key, d);
    pymi_current_domain = d;
    return d;
}

uint16_t pymi_type_register(pym_type *type)
{
    pthread_mutex_lock(&registry_lock);
    unsigned id = type->pymi_type_id;
    if (id == 0) {
        if (ntypes + 1 >= PYMI_MAX_IDS)
            pymi_fatal("pymalloc_gc: more than %d types", PYMI_MAX_IDS - 1);
        id = ++ntypes;
        pymi_types[id] = type;
        __atomic_store_n(&type->pymi_type_id, id, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&registry_lock);
    return (uint16_t)id;
}

static void epoch_reset_list(pymi_head *list)
{
    for (pymi_head *h = list->next; h != list; h = h->next)
        h->epoch = 0;
}

uint8_t pymi_next_epochs(pymi_domain *d, unsigned n)
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
