/*
 * test_shared.c -- issue 13, item 2: cycles that span threads, in the
 * shared domain.  CPython has one collector per interpreter, so a cycle
 * between objects made by two threads is collected; the models are
 * test_gc.GCTests.test_trashcan_threads (threads making and dropping
 * containers while collections run) and 3.13's
 * test_free_threading/test_gc.py (threads mutating while another calls
 * gc.collect()).  No sleeps: threads meet through joins and semaphores.
 * Under TSan the collector's reads of fields that builder threads write
 * (plain, non-atomic) check that a collection runs only while the others
 * are outside.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>
#include "gc_test.h"

static int shared_setup(void **state)
{
    node_deallocs = 0;
    assert_int_equal(pym_gc_shared_enter(), 0);
    pym_gc_collect(2);
    assert_int_equal(pym_gc_shared_leave(), 0);
    (void)state;
    return 0;
}

static long shared_collect(int generation)
{
    assert_int_equal(pym_gc_shared_enter(), 0);
    long n = pym_gc_collect(generation);
    assert_int_equal(pym_gc_shared_leave(), 0);
    return n;
}

static node *made_by_main;

static void *thread_close_the_cycle(void *arg)
{
    (void)arg;
    assert_int_equal(pym_gc_shared_enter(), 0);
    node *b = node_new();
    b->id = 2;
    node_link(b, 0, made_by_main);
    node_link(made_by_main, 0, b);
    pym_decref(b);
    assert_int_equal(pym_gc_shared_leave(), 0);
    return NULL;
}

/* The basic case: a made by this thread, b by another, a <-> b. */
static void cycle_made_by_two_threads_is_collected(void **state)
{
    (void)state;
    assert_int_equal(pym_gc_shared_enter(), 0);
    made_by_main = node_new();
    made_by_main->id = 1;
    assert_int_equal(pym_gc_shared_leave(), 0);   /* leave before blocking */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_close_the_cycle, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(pym_gc_shared_enter(), 0);
    assert_int_equal(pym_refcount(made_by_main), 2);
    assert_int_equal(pym_gc_collect(2), 0);       /* still held by us */
    pym_decref(made_by_main);
    assert_int_equal(node_deallocs, 0);
    assert_int_equal(pym_gc_collect(2), 2);
    assert_int_equal(node_deallocs, 2);
    assert_int_equal(pym_gc_shared_leave(), 0);
}

/* The thread's own domain is back after leave: a cycle made there is
 * its own collector's. */
static void leave_restores_the_threads_own_domain(void **state)
{
    (void)state;
    long before[3], inside[3];
    pym_gc_set_threshold(123, 10, 10);
    pym_gc_get_threshold(before);
    assert_int_equal(pym_gc_shared_enter(), 0);
    pym_gc_get_threshold(inside);
    assert_int_equal(inside[0], 700);
    assert_int_equal(pym_gc_shared_enter(), 0);     /* nests */
    assert_int_equal(pym_gc_shared_leave(), 0);
    assert_int_equal(pym_gc_shared_leave(), 0);
    errno = 0;
    assert_int_equal(pym_gc_shared_leave(), -1);    /* not inside */
    assert_int_equal(errno, EPERM);
    long after[3];
    pym_gc_get_threshold(after);
    assert_int_equal(after[0], 123);
    pym_gc_set_threshold(700, 10, 10);
    node *r = ring_new(3);
    pym_decref(r);
    assert_int_equal(shared_collect(2), 0);         /* not the shared domain's */
    assert_int_equal(pym_gc_collect(2), 3);
}

/* ---- many threads ---- */
#define BUILDERS 2
#define ITERATIONS 4000
/* mailbox[i]: a node builder i made, waiting for builder 1 - i. */
static _Atomic(node *) mailbox[BUILDERS];
static atomic_long created, cross_pairs;
static atomic_int builders_done;

/* Pairs a new node x with a node the other builder left for it (x <->
 * other, a 2-cycle of two threads' objects), or leaves x for the other;
 * a node of its own still waiting there is paired with x instead. */
static void *thread_build(void *arg)
{
    long me = (long)arg;
    for (int i = 0; i < ITERATIONS; i++) {
        assert_int_equal(pym_gc_shared_enter(), 0);
        node *x = node_new();
        x->id = me;
        created++;
        node *other = atomic_exchange(&mailbox[1 - me], NULL);
        if (!other) {
            pym_incref(x);      /* the mailbox's reference */
            other = atomic_exchange(&mailbox[me], x);
        }
        if (other) {
            node_link(x, 0, other);
            node_link(other, 1, x);
            if (other->id != me)
                cross_pairs++;
            pym_decref(other);  /* the mailbox's reference */
        }
        pym_decref(x);
        assert_int_equal(pym_gc_shared_leave(), 0);
    }
    builders_done++;
    return NULL;
}

static void *thread_collect(void *arg)
{
    (void)arg;
    while (builders_done < BUILDERS) {
        assert_true(shared_collect(2) >= 0);
        assert_true(shared_collect(0) >= 0);
    }
    return NULL;
}

static void threads_build_cross_thread_cycles_while_another_collects(void **state)
{
    (void)state;
    created = cross_pairs = 0;
    pym_gc_gen_stats_t before[3], after[3];
    assert_int_equal(pym_gc_shared_enter(), 0);
    pym_gc_get_stats(before);
    assert_int_equal(pym_gc_shared_leave(), 0);
    builders_done = 0;
    pthread_t b[BUILDERS], c;
    assert_int_equal(pthread_create(&c, NULL, thread_collect, NULL), 0);
    for (long i = 0; i < BUILDERS; i++)
        assert_int_equal(pthread_create(&b[i], NULL, thread_build, (void *)i), 0);
    for (int i = 0; i < BUILDERS; i++)
        assert_int_equal(pthread_join(b[i], NULL), 0);
    assert_int_equal(pthread_join(c, NULL), 0);
    assert_int_equal(pym_gc_shared_enter(), 0);
    for (int i = 0; i < BUILDERS; i++) {
        node *left = atomic_exchange(&mailbox[i], NULL);
        if (left)
            pym_decref(left);
    }
    pym_gc_collect(2);
    assert_int_equal(pym_gc_shared_leave(), 0);
    /* Every node of every cycle was freed, by one collector or another
     * (automatic collections in the builders too); none twice. */
    assert_int_equal(node_deallocs, created);
    assert_true(cross_pairs > 0);
    /* ... and by the collector: all but the one or two left in a mailbox. */
    assert_int_equal(pym_gc_shared_enter(), 0);
    pym_gc_get_stats(after);
    assert_int_equal(pym_gc_shared_leave(), 0);
    size_t found = 0;
    for (int g = 0; g < 3; g++)
        found += after[g].collected - before[g].collected;
    assert_true(found + BUILDERS >= (size_t)created);
    assert_true(found <= (size_t)created);
}

/* The owner check knows the rule for shared objects: use only inside. */
static void owner_check_aborts_on_shared_object_used_outside(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pym_gc_shared_enter();
        node *n = pym_new(&node_type);
        pym_gc_shared_leave();
        pym_gc_set_debug(PYM_GC_DEBUG_OWNER);
        pym_incref(n);          /* outside: aborts */
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void weakrefs_and_interning_are_refused_inside(void **state)
{
    (void)state;
    assert_int_equal(pym_gc_shared_enter(), 0);
    node *n = node_new();
    errno = 0;
    assert_null(pym_weakref_new(n, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(pym_intern("x", 1));
    assert_int_equal(errno, EINVAL);
    pym_decref(n);
    assert_int_equal(pym_gc_shared_leave(), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, shared_setup, NULL)
    const struct CMUnitTest tests[] = {
        T(cycle_made_by_two_threads_is_collected),
        T(leave_restores_the_threads_own_domain),
        T(threads_build_cross_thread_cycles_while_another_collects),
        T(owner_check_aborts_on_shared_object_used_outside),
        T(weakrefs_and_interning_are_refused_inside),
    };
    return cmocka_run_group_tests_name("gc shared domain", tests, NULL, NULL);
}
