/*
 * working_set.cc -- single-thread workloads where many blocks are alive at
 * once, so free lists, pool/page reuse and cache behaviour matter:
 *
 *   batch/lifo|fifo|random/N  allocate N blocks of 8..256 B (1 000, and
 *                           100 000: 13 MiB, more than a purge budget or
 *                           window would keep), then free them newest-
 *                           first, oldest-first or shuffled, and again;
 *   churn/100k              a 100 000-object working set with the
 *                           CPython-like size mix; each op frees one random
 *                           object and allocates a replacement;
 *   trees/N                 build and tear down binary trees of depth N
 *                           (16-byte nodes), as the benchmarks-game test;
 *   realloc/string          grow a string by 1..16 bytes at a time from
 *                           1 B to 4 KiB with realloc, as a string builder.
 *
 * Random sizes and orders are precomputed before timing starts, from fixed
 * seeds, so every allocator sees the same request stream and the timed
 * loop spends its time in the allocator, not in the generator.
 * items_per_second counts malloc+free pairs (realloc calls for realloc/),
 * so ns/op is per pair.
 */
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "../size_mix.h"
#include "churn.h"

namespace {

enum free_order { ORDER_LIFO, ORDER_FIFO, ORDER_RANDOM };

void batch(benchmark::State &state, free_order order)
{
    const size_t kBatchObjects = static_cast<size_t>(state.range(0));
    bench_rng_t rng = bench_rng_seeded(42);
    std::vector<size_t> sizes(kBatchObjects);
    for (size_t &size : sizes)
        size = bench_size_small_uniform(&rng);
    std::vector<size_t> free_sequence(kBatchObjects);
    for (size_t i = 0; i < kBatchObjects; i++)
        free_sequence[i] = order == ORDER_LIFO ? kBatchObjects - 1 - i : i;
    if (order == ORDER_RANDOM) {
        for (size_t i = kBatchObjects - 1; i > 0; i--)
            std::swap(free_sequence[i], free_sequence[bench_rng_below(&rng, i + 1)]);
    }
    std::vector<void *> blocks(kBatchObjects);
    auto cycle = [&] {
        for (size_t i = 0; i < kBatchObjects; i++) {
            char *p = static_cast<char *>(std::malloc(sizes[i]));
            p[0] = static_cast<char>(i);
            blocks[i] = p;
        }
        benchmark::ClobberMemory();
        for (size_t i = 0; i < kBatchObjects; i++)
            std::free(blocks[free_sequence[i]]);
    };

    /* One untimed cycle first: the first touch of fresh pages costs every
     * allocator alike (tens of microseconds a page in this VM), and with
     * 100 000 objects a short run (bench-quick) may time a single cycle.
     * What stays in the timed cycles is what the allocator does to the
     * memory between them: one that purges it on free faults it in again. */
    cycle();
    for (auto _ : state)
        cycle();
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchObjects));
}

constexpr size_t kChurnObjects = 100000;
constexpr size_t kChurnPlanLength = 1u << 16;

void churn(benchmark::State &state)
{
    bench_churn(state, 7, kChurnObjects, kChurnPlanLength);
}

struct tree_node {
    tree_node *left;
    tree_node *right;
};

tree_node *tree_build(int depth)
{
    tree_node *node = static_cast<tree_node *>(std::malloc(sizeof(tree_node)));
    if (depth > 0) {
        node->left = tree_build(depth - 1);
        node->right = tree_build(depth - 1);
    } else {
        node->left = node->right = nullptr;
    }
    return node;
}

long tree_check(const tree_node *node)
{
    return node->left ? 1 + tree_check(node->left) + tree_check(node->right) : 1;
}

void tree_free(tree_node *node)
{
    if (node->left) {
        tree_free(node->left);
        tree_free(node->right);
    }
    std::free(node);
}

void trees(benchmark::State &state)
{
    const int depth = static_cast<int>(state.range(0));
    /* A long-lived tree stays up the whole time, as in the original test. */
    tree_node *long_lived = tree_build(depth);
    long nodes = 0;
    for (auto _ : state) {
        tree_node *t = tree_build(depth);
        nodes += tree_check(t);
        tree_free(t);
    }
    benchmark::DoNotOptimize(tree_check(long_lived));
    tree_free(long_lived);
    state.SetItemsProcessed(nodes);
}

constexpr size_t kStringMax = 4096;

void realloc_string(benchmark::State &state)
{
    bench_rng_t rng = bench_rng_seeded(3);
    std::vector<uint8_t> steps(4096);
    for (uint8_t &s : steps)
        s = static_cast<uint8_t>(bench_rng_between(&rng, 1, 16));
    int64_t reallocs = 0;
    for (auto _ : state) {
        size_t length = 1, k = 0;
        char *s = static_cast<char *>(std::malloc(length));
        s[0] = 'a';
        while (length < kStringMax) {
            size_t grown = length + steps[k++ & 4095];
            s = static_cast<char *>(std::realloc(s, grown));
            std::memset(s + length, 'b', grown - length);
            length = grown;
            reallocs++;
        }
        benchmark::DoNotOptimize(s);
        std::free(s);
    }
    state.SetItemsProcessed(reallocs);
}

} // namespace

BENCHMARK_CAPTURE(batch, lifo, ORDER_LIFO)->Name("batch/lifo")->Arg(1000)->Arg(100000);
BENCHMARK_CAPTURE(batch, fifo, ORDER_FIFO)->Name("batch/fifo")->Arg(1000)->Arg(100000);
BENCHMARK_CAPTURE(batch, random, ORDER_RANDOM)->Name("batch/random")->Arg(1000)->Arg(100000);
BENCHMARK(churn)->Name("churn/100k");
BENCHMARK(trees)->Name("trees")->Arg(14);
BENCHMARK(realloc_string)->Name("realloc/string");
