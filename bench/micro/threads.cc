/*
 * threads.cc -- workloads with more than one thread:
 *
 *   xthread/producer_consumer  the benchmark thread allocates blocks of
 *       8..256 B in batches of 64 and hands each batch through a
 *       single-producer single-consumer ring to a consumer thread, which
 *       frees them: every free is a cross-thread (remote) free;
 *   threads/churn/threads:N    N threads each churn a private 10 000-object
 *       working set (CPython-like size mix), N = 1, 2, 4, to show how the
 *       allocator scales (the machine may have fewer cores than threads);
 *   xthread/server/threads:N   the server pattern of ../xthread_mixed.h,
 *       N = 2, 4: every thread allocates blocks of 16 B..4 KiB (mostly
 *       small) and deals them out in batches of 16 to the other threads,
 *       which free them; every free is remote, in both directions.  One
 *       iteration is one round of 4096 blocks per thread, timed by hand
 *       (UseManualTime) from its start to the moment the last block of the
 *       round is freed.  bench/memory/rss_probe.c (xthread-mixed) runs the
 *       same rounds for the peak RSS.
 *
 * All use wall-clock time (UseRealTime, or UseManualTime for the rounds);
 * items_per_second counts malloc+free pairs summed over all threads, so
 * ns/op is wall time per pair for the whole process.  Waiting on the ring
 * spins briefly and then yields the CPU: there is no sleeping and no lock
 * (the server mailboxes do take a mutex, as a server's queues would).
 */
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "../size_mix.h"
#include "../xthread_mixed.h"
#include "churn.h"

namespace {

constexpr size_t kBatch = 64;
constexpr size_t kRingSlots = 64;
constexpr size_t kSizeTable = 4096;

struct alignas(64) ring_slot {
    void *blocks[kBatch];
};

struct spsc_ring {
    ring_slot slots[kRingSlots];
    alignas(64) std::atomic<size_t> head{0}; /* next slot to consume */
    alignas(64) std::atomic<size_t> tail{0}; /* next slot to fill */
    alignas(64) std::atomic<bool> done{false};
};

void wait_a_little(unsigned &spins)
{
    if (++spins < 64)
        return;
    spins = 0;
    std::this_thread::yield();
}

void consume(spsc_ring *ring)
{
    size_t head = 0;
    unsigned spins = 0;
    for (;;) {
        size_t tail = ring->tail.load(std::memory_order_acquire);
        if (head == tail) {
            if (ring->done.load(std::memory_order_acquire) &&
                head == ring->tail.load(std::memory_order_acquire))
                return;
            wait_a_little(spins);
            continue;
        }
        ring_slot &slot = ring->slots[head % kRingSlots];
        for (void *p : slot.blocks)
            std::free(p);
        head++;
        ring->head.store(head, std::memory_order_release);
    }
}

void producer_consumer(benchmark::State &state)
{
    bench_rng_t rng = bench_rng_seeded(11);
    std::vector<size_t> sizes(kSizeTable);
    for (size_t &size : sizes)
        size = bench_size_small_uniform(&rng);

    auto ring = std::make_unique<spsc_ring>();
    std::thread consumer(consume, ring.get());
    size_t tail = 0, next_size = 0;
    unsigned spins = 0;
    for (auto _ : state) {
        while (tail - ring->head.load(std::memory_order_acquire) == kRingSlots)
            wait_a_little(spins);
        ring_slot &slot = ring->slots[tail % kRingSlots];
        for (void *&p : slot.blocks) {
            char *block = static_cast<char *>(std::malloc(sizes[next_size++ % kSizeTable]));
            block[0] = 1;
            p = block;
        }
        tail++;
        ring->tail.store(tail, std::memory_order_release);
    }
    ring->done.store(true, std::memory_order_release);
    consumer.join();
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));
}

constexpr size_t kThreadObjects = 10000;
constexpr size_t kThreadPlanLength = 1u << 14;

void thread_churn(benchmark::State &state)
{
    bench_churn(state, 1000 + static_cast<uint64_t>(state.thread_index()), kThreadObjects, kThreadPlanLength);
}

constexpr size_t kServerSteps = 4096;

void xthread_server(benchmark::State &state)
{
    const unsigned threads = static_cast<unsigned>(state.range(0));
    struct xmixed *x = xmixed_create(threads, kServerSteps, 500);
    for (auto _ : state) {
        auto start = std::chrono::steady_clock::now();
        xmixed_round(x);
        std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
        state.SetIterationTime(elapsed.count());
    }
    xmixed_destroy(x);
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(threads * kServerSteps));
}

} // namespace

BENCHMARK(producer_consumer)->Name("xthread/producer_consumer")->UseRealTime();
BENCHMARK(thread_churn)->Name("threads/churn")->Threads(1)->Threads(2)->Threads(4)->UseRealTime();
BENCHMARK(xthread_server)->Name("xthread/server")->ArgName("threads")->Arg(2)->Arg(4)->UseManualTime();
