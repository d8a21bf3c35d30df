/*
 * pairs.cc -- the allocator's fast path in isolation: one malloc (or
 * calloc) immediately followed by its free, at one fixed size.
 *
 * Each iteration is one pair; items_per_second counts pairs, so the
 * reported ns/op is the cost of one malloc+free.  The pointer escapes
 * through benchmark::DoNotOptimize, so the compiler cannot elide the pair.
 * No byte of the block is touched: this measures the allocator alone.
 */
#include <benchmark/benchmark.h>

#include <cstdlib>

namespace {

void pair(benchmark::State &state)
{
    const size_t size = static_cast<size_t>(state.range(0));
    for (auto _ : state) {
        void *p = std::malloc(size);
        benchmark::DoNotOptimize(p);
        std::free(p);
    }
    state.SetItemsProcessed(state.iterations());
}

/* calloc must return zeroed memory, so its cost grows with the size. */
void calloc_pair(benchmark::State &state)
{
    const size_t size = static_cast<size_t>(state.range(0));
    for (auto _ : state) {
        void *p = std::calloc(1, size);
        benchmark::DoNotOptimize(p);
        std::free(p);
    }
    state.SetItemsProcessed(state.iterations());
}

} // namespace

BENCHMARK(pair)->Name("pair")->Arg(16)->Arg(32)->Arg(64)->Arg(128)->Arg(256)->Arg(1024);
BENCHMARK(calloc_pair)->Name("calloc")->Arg(64)->Arg(256)->Arg(4096);
