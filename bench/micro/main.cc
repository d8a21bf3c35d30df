/*
 * main.cc -- entry point of the micro benchmark binary.
 *
 * The binary is allocator-agnostic: it calls malloc/free/calloc/realloc and
 * is run once per allocator by bench/run.py, with the allocator preloaded
 * (LD_PRELOAD) or nothing preloaded for glibc.  The workloads live in
 * pairs.cc, working_set.cc and threads.cc.
 */
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
