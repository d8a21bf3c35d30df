/*
 * bench_gen0.c -- the cost of automatic collections per allocated
 * container, thresholds at CPython's defaults (700, 10, 10).  The loop
 * builds and drops small structures, as a program does: each iteration
 * makes a parent and a child that point at each other (a 2-cycle, which
 * only the collector frees) and a temporary pair that refcounting frees,
 * so 3 containers per iteration.  A start/stop callback times every
 * automatic collection; the figure is their total time / containers
 * allocated.  bench/gc/gen0.py does the same loop in CPython with
 * gc.callbacks.
 * Prints: "pymalloc_gc gen0 N containers: C collections, X ns/container".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pymalloc_gc.h"

typedef struct pair {
    void *a, *b;
} pair;

static int pair_traverse(void *self, pym_visit_fn visit, void *arg)
{
    pair *p = self;
    PYM_VISIT(p->a);
    PYM_VISIT(p->b);
    return 0;
}

static void pair_clear(void *self)
{
    pair *p = self;
    PYM_CLEAR(p->a);
    PYM_CLEAR(p->b);
}

static pym_type pair_type = {
    .name = "pair", .size = sizeof(pair), .traverse = pair_traverse, .clear = pair_clear,
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double started, in_collections;
static long collections;

static void timer(const char *phase, const pym_gc_info_t *info, void *arg)
{
    (void)info;
    (void)arg;
    if (strcmp(phase, "start") == 0) {
        started = now();
    } else {
        in_collections += now() - started;
        collections++;
    }
}

static pair *new_pair(void)
{
    pair *p = pym_new(&pair_type);
    if (!p)
        exit(1);
    return p;
}

static double run(long iterations)
{
    in_collections = 0;
    collections = 0;
    for (long i = 0; i < iterations; i++) {
        pair *parent = new_pair();
        pair *child = new_pair();
        parent->a = child;              /* the reference moves in */
        pym_incref(parent);
        child->b = parent;
        pair *tmp = new_pair();
        pym_incref(parent);
        tmp->a = parent;
        pym_decref(tmp);
        pym_decref(parent);
    }
    return in_collections * 1e9 / (double)(3 * iterations);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 3000000;     /* containers */
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    pym_gc_collect(2);
    pym_gc_set_threshold(700, 10, 10);
    pym_gc_callback_add(timer, NULL);
    double best = 1e9;
    long ncoll = 0;
    for (int r = 0; r < repeats; r++) {
        double t = run(n / 3);
        if (t < best) {
            best = t;
            ncoll = collections;
        }
    }
    printf("pymalloc_gc gen0 %ld containers: %ld collections, %.2f ns/container\n", n, ncoll, best);
    return 0;
}
