# The GC layer: libpymalloc_gc.la (refcounting + CPython's cycle collector,
# objects in pymalloc's pools), its tests (tests/gc), the example program
# (examples/) and its two benchmarks (bench/gc, `make bench-gc`).
lib_LTLIBRARIES += libpymalloc_gc.la
include_HEADERS += include/pymalloc_gc.h

libpymalloc_gc_la_SOURCES = \
	src/gc/gc_internal.h src/gc/domain.c src/gc/object.c src/gc/collect.c \
	src/gc/gc_api.c src/gc/weakref.c src/gc/intern.c src/gc/explain.c src/gc/ptrmap.c \
	src/gc/table.c src/gc/gc_refs.c
# The layer needs only the public pymalloc.h; hidden by default, pym_* exported;
# -fno-plt: its calls of pym_malloc/pym_free go straight through the GOT.
libpymalloc_gc_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden -fno-plt -pthread
libpymalloc_gc_la_LDFLAGS = -version-info 0:0:0 -pthread
libpymalloc_gc_la_LIBADD = libpymalloc.la

EXTRA_DIST += tests/gc/gc_test.h tests/gc/gc_abort.h examples/run-doctree.sh bench/gc/graph.py bench/gc/gen0.py bench/gc/run.sh

if HAVE_CMOCKA
gc_test_programs = \
	tests/gc/test_collect tests/gc/test_refcount tests/gc/test_weakref \
	tests/gc/test_automatic tests/gc/test_api tests/gc/test_intern \
	tests/gc/test_explain tests/gc/test_threads tests/gc/test_rss \
	tests/gc/test_static_link tests/gc/test_fork tests/gc/test_badargs \
	tests/gc/test_shared tests/gc/test_tables tests/gc/test_freelist
check_PROGRAMS += $(gc_test_programs)
TESTS += $(gc_test_programs)
GC_TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -pthread
GC_TEST_LDADD = libpymalloc_gc.la libpymalloc.la $(CMOCKA_LIBS) -lpthread
tests_gc_test_collect_SOURCES = tests/gc/test_collect.c $(tests_child_sources)
tests_gc_test_collect_CPPFLAGS = $(tests_cppflags)
tests_gc_test_collect_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_collect_LDADD = $(GC_TEST_LDADD)
tests_gc_test_refcount_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_refcount_LDADD = $(GC_TEST_LDADD)
tests_gc_test_weakref_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_weakref_LDADD = $(GC_TEST_LDADD)
tests_gc_test_automatic_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_automatic_LDADD = $(GC_TEST_LDADD)
tests_gc_test_api_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_api_LDADD = $(GC_TEST_LDADD)
tests_gc_test_intern_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_intern_LDADD = $(GC_TEST_LDADD)
tests_gc_test_explain_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_explain_LDADD = $(GC_TEST_LDADD)
tests_gc_test_threads_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_threads_LDADD = $(GC_TEST_LDADD)
tests_gc_test_rss_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_rss_LDADD = $(GC_TEST_LDADD)
tests_gc_test_badargs_SOURCES = tests/gc/test_badargs.c $(tests_child_sources)
tests_gc_test_badargs_CPPFLAGS = $(tests_cppflags)
tests_gc_test_badargs_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_badargs_LDADD = $(GC_TEST_LDADD)
tests_gc_test_shared_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_shared_LDADD = $(GC_TEST_LDADD)
tests_gc_test_tables_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_tables_LDADD = $(GC_TEST_LDADD)
tests_gc_test_freelist_SOURCES = tests/gc/test_freelist.c $(tests_child_sources)
tests_gc_test_freelist_CPPFLAGS = $(tests_cppflags)
tests_gc_test_freelist_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_freelist_LDADD = $(GC_TEST_LDADD)
tests_gc_test_fork_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_fork_LDADD = $(GC_TEST_LDADD)
# Both static archives in one program (libtool's -static takes the .a of
# the uninstalled libraries).
tests_gc_test_static_link_CFLAGS = $(GC_TEST_CFLAGS)
tests_gc_test_static_link_LDADD = $(GC_TEST_LDADD)
tests_gc_test_static_link_LDFLAGS = -static
endif

# The example: a document tree with parent links, checked by a TAP script.
check_PROGRAMS += examples/doctree
examples_doctree_LDADD = libpymalloc_gc.la libpymalloc.la
TESTS += examples/run-doctree.sh

# Benchmarks: `make bench-gc` prints the three ratios.  They are check
# programs only so that no new top-level variable is needed; make check
# builds them (a second) and never runs them.
check_PROGRAMS += bench/gc/bench_collect bench/gc/bench_newdecref bench/gc/bench_gen0
bench_gc_bench_collect_LDADD = libpymalloc_gc.la libpymalloc.la
bench_gc_bench_newdecref_LDADD = libpymalloc_gc.la libpymalloc.la
bench_gc_bench_gen0_LDADD = libpymalloc_gc.la libpymalloc.la

.PHONY: bench-gc
bench-gc: bench/gc/bench_collect$(EXEEXT) bench/gc/bench_newdecref$(EXEEXT) bench/gc/bench_gen0$(EXEEXT)
	$(SHELL) $(top_srcdir)/bench/gc/run.sh $(abs_top_builddir) $(abs_top_srcdir)
