/*
 * test_api.c -- the rest of the gc module's interface: get_objects,
 * get_referrers, get_referents, freeze, callbacks, debug output, settings.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "gc_test.h"

typedef struct found {
    void *items[16];
    int n;
} found;

static int collect_into(void *obj, void *arg)
{
    found *f = arg;
    if (f->n < 16)
        f->items[f->n] = obj;
    f->n++;
    return 0;
}

static int contains(const found *f, const void *obj)
{
    for (int i = 0; i < f->n && i < 16; i++)
        if (f->items[i] == obj)
            return 1;
    return 0;
}

typedef struct search { const void *target; int hits; } search;
static int look_for(void *obj, void *arg)
{
    search *s = arg;
    s->hits += obj == s->target;
    return 0;
}

static int in_generation(int gen, const void *obj)
{
    search s = {obj, 0};
    pym_gc_get_objects(gen, look_for, &s);
    return s.hits;
}

static void get_objects_follows_an_object_through_the_generations(void **state)
{
    (void)state;
    node *n = node_new();
    assert_int_equal(in_generation(0, n), 1);
    pym_gc_collect(0);
    assert_int_equal(in_generation(0, n), 0);
    assert_int_equal(in_generation(1, n), 1);
    pym_gc_collect(1);
    assert_int_equal(in_generation(2, n), 1);
    assert_int_equal(in_generation(-1, n), 1);
    pym_gc_untrack(n);
    assert_int_equal(in_generation(-1, n), 0);
    pym_decref(n);
}

static void get_referrers_finds_the_containers_that_refer(void **state)
{
    (void)state;
    node *a = node_new(), *b = node_new(), *c = node_new(), *other = node_new();
    node_link(a, 0, c);
    node_link(b, 2, c);
    found f = {0};
    assert_int_equal(pym_gc_get_referrers(c, collect_into, &f), 2);
    assert_true(contains(&f, a));
    assert_true(contains(&f, b));
    assert_false(contains(&f, other));
    pym_decref(a);
    pym_decref(b);
    pym_decref(c);
    pym_decref(other);
}

static void get_referents_returns_what_traverse_reports(void **state)
{
    (void)state;
    node *a = node_new(), *b = node_new(), *c = node_new();
    node_link(a, 0, b);
    node_link(a, 3, c);
    found f = {0};
    assert_int_equal(pym_gc_get_referents(a, collect_into, &f), 2);
    assert_ptr_equal(f.items[0], b);
    assert_ptr_equal(f.items[1], c);
    pym_decref(a);
    pym_decref(b);
    pym_decref(c);
}

static void frozen_objects_are_not_collected_until_unfrozen(void **state)
{
    (void)state;
    node *first = ring_new(4);
    pym_decref(first);
    size_t before = pym_gc_get_freeze_count();
    pym_gc_freeze();
    assert_true(pym_gc_get_freeze_count() >= before + 4);
    assert_int_equal(pym_gc_collect(2), 0);
    assert_int_equal(node_deallocs, 0);
    assert_int_equal(in_generation(-1, first), 0);
    pym_gc_unfreeze();
    assert_int_equal(pym_gc_get_freeze_count(), 0);
    assert_int_equal(pym_gc_collect(2), 4);
    assert_int_equal(node_deallocs, 4);
}

typedef struct callback_log {
    char phases[8][8];
    pym_gc_info_t infos[8];
    int n;
} callback_log;

static void log_callback(const char *phase, const pym_gc_info_t *info, void *arg)
{
    callback_log *log = arg;
    if (log->n < 8) {
        snprintf(log->phases[log->n], sizeof log->phases[0], "%s", phase);
        log->infos[log->n] = *info;
    }
    log->n++;
}

static void callbacks_see_start_and_stop_with_results(void **state)
{
    (void)state;
    callback_log log = {0};
    assert_int_equal(pym_gc_callback_add(log_callback, &log), 0);
    node *first = ring_new(3);
    pym_decref(first);
    pym_gc_collect(1);
    assert_int_equal(log.n, 2);
    assert_string_equal(log.phases[0], "start");
    assert_int_equal(log.infos[0].generation, 1);
    assert_int_equal(log.infos[0].collected, 0);
    assert_string_equal(log.phases[1], "stop");
    assert_int_equal(log.infos[1].generation, 1);
    assert_int_equal(log.infos[1].collected, 3);
    assert_int_equal(log.infos[1].uncollectable, 0);
    assert_int_equal(pym_gc_callback_remove(log_callback, &log), 0);
    pym_gc_collect(2);
    assert_int_equal(log.n, 2);
    errno = 0;
    assert_int_equal(pym_gc_callback_remove(log_callback, &log), -1);
    assert_int_equal(errno, ENOENT);
}

static void stats_count_collections_collected_and_uncollectable(void **state)
{
    (void)state;
    pym_gc_gen_stats_t before[3], after[3];
    pym_gc_get_stats(before);
    node *first = ring_new(5);
    pym_decref(first);
    pym_gc_collect(2);
    pym_gc_get_stats(after);
    assert_int_equal(after[2].collections, before[2].collections + 1);
    assert_int_equal(after[2].collected, before[2].collected + 5);
    assert_int_equal(after[2].uncollectable, before[2].uncollectable);
    assert_int_equal(after[0].collections, before[0].collections);
}

static void settings_read_back(void **state)
{
    (void)state;
    long t[3];
    pym_gc_get_threshold(t);
    assert_int_equal(t[0], 700);
    assert_int_equal(t[1], 10);
    assert_int_equal(t[2], 10);
    pym_gc_set_threshold(100, 5, 3);
    pym_gc_get_threshold(t);
    assert_int_equal(t[0], 100);
    assert_int_equal(t[1], 5);
    assert_int_equal(t[2], 3);
    pym_gc_set_debug(PYM_GC_DEBUG_LEAK);
    assert_int_equal(pym_gc_get_debug(), PYM_GC_DEBUG_COLLECTABLE | PYM_GC_DEBUG_UNCOLLECTABLE | PYM_GC_DEBUG_SAVEALL);
}

/* Runs a collection with stderr redirected into buf. */
static void collect_capturing_stderr(char *buf, size_t size)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    pym_gc_collect(2);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, size - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
}

static void debug_flags_print_cpython_messages(void **state)
{
    (void)state;
    static char out[8192];
    node *n = node_new();
    node_link(n, 0, n);
    pym_decref(n);
    char expected[128];
    snprintf(expected, sizeof expected, "gc: collectable <node %p>\n", (void *)n);
    pym_gc_set_debug(PYM_GC_DEBUG_STATS | PYM_GC_DEBUG_COLLECTABLE);
    collect_capturing_stderr(out, sizeof out);
    pym_gc_set_debug(0);
    assert_non_null(strstr(out, "gc: collecting generation 2...\n"));
    assert_non_null(strstr(out, "gc: objects in each generation: "));
    assert_non_null(strstr(out, "gc: objects in permanent generation: 0\n"));
    assert_non_null(strstr(out, expected));
    assert_non_null(strstr(out, "gc: done, 1 unreachable, 0 uncollectable, "));
    assert_non_null(strstr(out, "s elapsed\n"));
}

static int opaque_traverse(void *self, pym_visit_fn visit, void *arg) { return node_traverse(self, visit, arg); }
static void opaque_dealloc(void *self) { node_clear(self); }
static pym_type opaque_type = {
    .name = "opaque", .size = sizeof(node), .traverse = opaque_traverse, .dealloc = opaque_dealloc,
    .flags = PYM_TYPE_LEGACY_FINALIZER,
};

static void debug_uncollectable_names_the_objects(void **state)
{
    (void)state;
    static char out[8192];
    node *o = pym_new(&opaque_type);
    node_link(o, 0, o);
    pym_decref(o);
    char expected[128];
    snprintf(expected, sizeof expected, "gc: uncollectable <opaque %p>\n", (void *)o);
    pym_gc_set_debug(PYM_GC_DEBUG_STATS | PYM_GC_DEBUG_UNCOLLECTABLE);
    collect_capturing_stderr(out, sizeof out);
    pym_gc_set_debug(0);
    assert_non_null(strstr(out, expected));
    assert_non_null(strstr(out, "gc: done, 1 unreachable, 1 uncollectable, "));
    node_link(o, 0, NULL);      /* break it; the garbage list drops it in teardown */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GC_TEST(get_objects_follows_an_object_through_the_generations),
        GC_TEST(get_referrers_finds_the_containers_that_refer),
        GC_TEST(get_referents_returns_what_traverse_reports),
        GC_TEST(frozen_objects_are_not_collected_until_unfrozen),
        GC_TEST(callbacks_see_start_and_stop_with_results),
        GC_TEST(stats_count_collections_collected_and_uncollectable),
        GC_TEST(settings_read_back),
        GC_TEST(debug_flags_print_cpython_messages),
        GC_TEST(debug_uncollectable_names_the_objects),
    };
    return cmocka_run_group_tests_name("gc api", tests, NULL, NULL);
}
