/*
 * test_threads.c -- one collector domain per thread: independent settings
 * and objects, references across domains keep objects alive, domains of
 * exited threads are adopted, the owner check catches misuse.  Threads are
 * ordered by joins only.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "gc_test.h"

static void *run(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    void *result;
    assert_int_equal(pthread_create(&t, NULL, fn, arg), 0);
    assert_int_equal(pthread_join(t, &result), 0);
    return result;
}

static void *thread_threshold(void *arg)
{
    (void)arg;
    long t[3];
    pym_gc_get_threshold(t);
    pym_gc_set_threshold(1, 2, 3);
    return (void *)t[0];
}

static void each_thread_has_its_own_settings(void **state)
{
    (void)state;
    pym_gc_set_threshold(111, 10, 10);
    long seen = (long)run(thread_threshold, NULL);
    assert_int_not_equal(seen, 111);    /* a new or an adopted domain, never ours */
    long t[3];
    pym_gc_get_threshold(t);
    assert_int_equal(t[0], 111);
}

static node *made_elsewhere;
static void *thread_make_node(void *arg)
{
    (void)arg;
    pym_gc_set_threshold(0, 10, 10);
    made_elsewhere = node_new();
    return NULL;
}

static int count_hits(void *obj, void *arg)
{
    void **target = arg;
    return obj == target[0] ? (target[1] = (void *)1, 1) : 0;
}

static void reference_from_another_domain_keeps_a_cycle_alive(void **state)
{
    (void)state;
    run(thread_make_node, NULL);
    node *y = made_elsewhere;           /* domain B; the thread is gone */
    void *probe[2] = {y, NULL};
    pym_gc_get_objects(-1, count_hits, probe);
    assert_null(probe[1]);              /* not among our objects */
    node *x = node_new();               /* domain A */
    node_link(x, 0, y);
    node_link(y, 0, x);                 /* a cycle across two domains */
    pym_decref(x);
    pym_decref(y);
    assert_int_equal(pym_gc_collect(2), 0);
    assert_int_equal(node_deallocs, 0);
    assert_true(pym_gc_is_tracked(x));
    /* Break the cycle by hand: both die by reference counting. */
    node *held = x;
    pym_incref(held);
    node_link(held, 0, NULL);
    assert_int_equal(node_deallocs, 1);
    pym_decref(held);
    assert_int_equal(node_deallocs, 2);
}

static void *thread_leave_garbage(void *arg)
{
    (void)arg;
    pym_gc_set_threshold(0, 10, 10);
    pym_gc_collect(2);                  /* an adopted domain may hold old garbage */
    node *first = ring_new(3);
    pym_decref(first);
    return NULL;
}

static void *thread_collect(void *arg)
{
    (void)arg;
    return (void *)pym_gc_collect(2);
}

static void garbage_of_an_exited_thread_is_collected_by_the_next(void **state)
{
    (void)state;
    run(thread_leave_garbage, NULL);
    long collected = (long)run(thread_collect, NULL);   /* adopts that domain */
    assert_int_equal(collected, 3);
    assert_int_equal(node_deallocs, 3);
}

static void *thread_rings(void *arg)
{
    long n = (long)arg;
    long total = 0;
    for (int round = 0; round < 5; round++) {
        node *keep = ring_new(n);
        node *drop = ring_new(n);
        pym_decref(drop);
        total += pym_gc_collect(2);
        pym_decref(keep);
        total += pym_gc_collect(2);
    }
    return (void *)total;
}

static void concurrent_domains_collect_only_their_own_garbage(void **state)
{
    (void)state;
    pthread_t t[2];
    void *result[2];
    for (long i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_rings, (void *)(2000 + i)), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], &result[i]), 0);
    assert_int_equal((long)result[0], 5 * 2 * 2000);
    assert_int_equal((long)result[1], 5 * 2 * 2001);
}

static void owner_check_aborts_on_use_from_another_thread(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        run(thread_make_node, NULL);
        pym_gc_set_debug(PYM_GC_DEBUG_OWNER);
        pym_incref(made_elsewhere);     /* not this thread's object */
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GC_TEST(each_thread_has_its_own_settings),
        GC_TEST(reference_from_another_domain_keeps_a_cycle_alive),
        GC_TEST(garbage_of_an_exited_thread_is_collected_by_the_next),
        GC_TEST(concurrent_domains_collect_only_their_own_garbage),
        GC_TEST(owner_check_aborts_on_use_from_another_thread),
    };
    return cmocka_run_group_tests_name("gc threads", tests, NULL, NULL);
}
