/*
 * bench_collect.c -- time of a full collection over a graph of N objects
 * (default 1,000,000): one linked chain of N/2 nodes that stays alive, and
 * N/8 garbage cycles of 4 nodes.  Each node has two reference slots, like
 * the Python objects of bench/gc/graph.py (a class with __slots__ a, b),
 * which builds the same shape for CPython's gc.collect().
 * Prints: "pymalloc_gc N objects: best T s, X ns/object, R unreachable".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
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

/* Builds the graph; returns the head of the chain (the one held reference). */
static pair *build(long n)
{
    pair *head = NULL;
    for (long i = 0; i < n / 2; i++) {
        pair *p = pym_new(&pair_type);
        if (!p)
            exit(1);
        p->a = head;            /* our reference moves into the new node */
        head = p;
    }
    for (long i = 0; i < n / 8; i++) {
        pair *ring[4];
        for (int j = 0; j < 4; j++)
            if (!(ring[j] = pym_new(&pair_type)))
                exit(1);
        for (int j = 0; j < 4; j++) {
            pym_incref(ring[(j + 1) % 4]);
            ring[j]->a = ring[(j + 1) % 4];
        }
        for (int j = 0; j < 4; j++)
            pym_decref(ring[j]);
    }
    return head;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    pym_gc_disable();
    double best = 1e9;
    long unreachable = 0;
    for (int r = 0; r < repeats; r++) {
        pair *head = build(n);
        double t0 = now();
        unreachable = pym_gc_collect(2);
        double t = now() - t0;
        if (t < best)
            best = t;
        pym_decref(head);
    }
    printf("pymalloc_gc %ld objects: best %.4f s, %.2f ns/object, %ld unreachable\n",
           n, best, best * 1e9 / (double)n, unreachable);
    return 0;
}
