# Benchmarks: pymalloc against glibc, jemalloc, mimalloc and tcmalloc.
#
#   make bench        full run (10-20 min); rewrites bench/results/ and
#                     bench/images/ in the source tree
#   make bench-quick  the same suite scaled down (< 3 min), for CI; writes
#                     to $(builddir)/bench/quick/ and prints the tables.
#                     It reports and never fails because pymalloc is slower.
#
# The programs are built only by these targets (EXTRA_PROGRAMS), never by
# `make all`.  They are built without sanitizers: another allocator cannot
# be preloaded into an ASan binary.  bench/run.py runs each program once per
# allocator (preloaded with LD_PRELOAD; glibc = nothing preloaded), writes
# the raw CSVs, then bench/report.py writes latest.md and bench/plot.py
# the PNGs.

BENCH_PY = /usr/bin/python3
BENCH_C_FLAGS = -std=c11 -Wall -Wextra
BENCH_CXX_FLAGS = -Wall -Wextra -pthread

bench_memory_rss_probe_SOURCES = bench/memory/rss_probe.c bench/size_mix.h bench/xthread_mixed.h
bench_memory_rss_probe_CFLAGS = $(BENCH_C_FLAGS) -pthread
bench_memory_rss_probe_LDFLAGS = -pthread

bench_instructions_count_pairs_SOURCES = bench/instructions/count_pairs.c bench/size_mix.h
bench_instructions_count_pairs_CFLAGS = $(BENCH_C_FLAGS)
bench_instructions_count_pairs_LDFLAGS =

BENCH_BINARIES = bench/memory/rss_probe bench/instructions/count_pairs
if HAVE_BENCHMARK
bench_micro_pym_micro_SOURCES = bench/micro/main.cc bench/micro/pairs.cc \
	bench/micro/working_set.cc bench/micro/threads.cc bench/micro/churn.h bench/size_mix.h \
	bench/xthread_mixed.h
bench_micro_pym_micro_CXXFLAGS = $(BENCH_CXX_FLAGS) $(BENCHMARK_CFLAGS)
bench_micro_pym_micro_LDFLAGS = -pthread
bench_micro_pym_micro_LDADD = $(BENCHMARK_LIBS)
BENCH_BINARIES += bench/micro/pym_micro
endif
EXTRA_PROGRAMS = $(BENCH_BINARIES)
CLEANFILES += $(BENCH_BINARIES)

EXTRA_DIST += bench/README.md bench/run.py bench/report.py bench/plot.py \
	bench/benchlib.py bench/programs bench/results bench/images

BENCH_RUN = $(BENCH_PY) $(abs_top_srcdir)/bench/run.py \
	--builddir '$(abs_top_builddir)' \
	--pymalloc '$(abs_top_builddir)/.libs/libpymalloc.so'

bench: libpymalloc.la $(BENCH_BINARIES)
	$(BENCH_RUN) --mode full --out '$(abs_top_srcdir)/bench' --command 'make bench'

bench-quick: libpymalloc.la $(BENCH_BINARIES)
	$(BENCH_RUN) --mode quick --out '$(abs_top_builddir)/bench/quick' --command 'make bench-quick'
	@cat '$(abs_top_builddir)/bench/quick/results/latest.md'

.PHONY: bench bench-quick
