# tests.mk -- conformance, misuse, stress, lifecycle, preload and link tests
# of the allocator core (the unit tests of internals live in tests/unit/).
# Every program prints TAP: cmocka ones through CMOCKA_MESSAGE_OUTPUT=TAP,
# the others through tests/common/tap.c, the shell scripts by hand.
#
# What runs where:
#   every build        api_pym, invalid_free, stress, lifecycle, link/*
#                      (the static link checks of malloc/new skip without override)
#   override builds    api_libc, preload/*
#                      (preload also needs a build without sanitizers: a
#                      sanitizer runtime cannot be preloaded into python3 & co)
# Checks that do not apply to a build print "ok N # SKIP reason".

tests_cppflags = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/common
tests_tap_sources = tests/common/tap.c tests/common/tap.h
tests_child_sources = tests/common/child.c tests/common/child.h
tests_pattern_sources = tests/common/pattern.h tests/common/cmocka_all.h \
	tests/common/sanitizer.h



if HAVE_CMOCKA
# --- tests/api: conformance with glibc's semantics, misuse ------------------
# -fno-builtin: the compiler must not fold or drop the calls under test.
check_PROGRAMS += tests/api/api_pym tests/api/invalid_free
TESTS += tests/api/api_pym tests/api/invalid_free
tests_api_api_pym_SOURCES = tests/api/conformance.c $(tests_pattern_sources)
tests_api_api_pym_CPPFLAGS = $(tests_cppflags)
tests_api_api_pym_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -fno-builtin
tests_api_api_pym_LDADD = libpymalloc.la $(CMOCKA_LIBS)

tests_api_invalid_free_SOURCES = tests/api/invalid_free.c $(tests_child_sources) \
	$(tests_pattern_sources)
tests_api_invalid_free_CPPFLAGS = $(tests_cppflags)
tests_api_invalid_free_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_api_invalid_free_LDADD = libpymalloc.la $(CMOCKA_LIBS)

# The cache of glibc's chunks (src/fwdcache.c): its cases in override
# builds, and that it stays out of the way without override.
check_PROGRAMS += tests/api/fwd_cache
TESTS += tests/api/fwd_cache
tests_api_fwd_cache_SOURCES = tests/api/fwd_cache.c $(tests_child_sources) $(tests_pattern_sources)
tests_api_fwd_cache_CPPFLAGS = $(tests_cppflags)
tests_api_fwd_cache_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -fno-builtin -pthread
tests_api_fwd_cache_LDADD = libpymalloc.la $(CMOCKA_LIBS)
tests_api_fwd_cache_LDFLAGS = -pthread

if PYM_OVERRIDE
check_PROGRAMS += tests/api/api_libc
TESTS += tests/api/api_libc
tests_api_api_libc_SOURCES = tests/api/conformance.c $(tests_pattern_sources)
tests_api_api_libc_CPPFLAGS = $(tests_cppflags) -DTEST_LIBC_NAMES
tests_api_api_libc_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -fno-builtin
tests_api_api_libc_LDADD = libpymalloc.la $(CMOCKA_LIBS)
endif

# --- tests/stress: threads, cross-thread frees (STRESS_SCALE=N for soak) ----
check_PROGRAMS += tests/stress/stress
TESTS += tests/stress/stress
tests_stress_stress_SOURCES = tests/stress/stress.c $(tests_pattern_sources)
tests_stress_stress_CPPFLAGS = $(tests_cppflags)
tests_stress_stress_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -pthread
tests_stress_stress_LDADD = libpymalloc.la $(CMOCKA_LIBS)
tests_stress_stress_LDFLAGS = -pthread

# Soak mode, outside `make check`: make check-stress [STRESS_SCALE=N] (default 20).
check-stress: tests/stress/stress$(EXEEXT)
	STRESS_SCALE=$${STRESS_SCALE:-20} CMOCKA_MESSAGE_OUTPUT=TAP tests/stress/stress$(EXEEXT)
.PHONY: check-stress
endif HAVE_CMOCKA

if HAVE_CMOCKA
# --- tests/lifecycle: fork, threads' first and last calls ------------------
check_PROGRAMS += tests/lifecycle/fork_threads tests/lifecycle/thread_first_call
TESTS += tests/lifecycle/fork_threads tests/lifecycle/thread_first_call
tests_lifecycle_fork_threads_SOURCES = tests/lifecycle/fork_threads.c \
	$(tests_child_sources) $(tests_pattern_sources)
tests_lifecycle_fork_threads_CPPFLAGS = $(tests_cppflags)
tests_lifecycle_fork_threads_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -pthread
tests_lifecycle_fork_threads_LDADD = libpymalloc.la $(CMOCKA_LIBS)
tests_lifecycle_fork_threads_LDFLAGS = -pthread

tests_lifecycle_thread_first_call_SOURCES = tests/lifecycle/thread_first_call.c \
	$(tests_pattern_sources)
tests_lifecycle_thread_first_call_CPPFLAGS = $(tests_cppflags)
tests_lifecycle_thread_first_call_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -pthread
tests_lifecycle_thread_first_call_LDADD = libpymalloc.la $(CMOCKA_LIBS)
tests_lifecycle_thread_first_call_LDFLAGS = -pthread
endif HAVE_CMOCKA

# Constructors, atexit handlers, destructors: once with the shared library,
# once with the archive linked in (its constructor may then run after ours).
check_PROGRAMS += tests/lifecycle/init_fini tests/lifecycle/init_fini_static
TESTS += tests/lifecycle/init_fini tests/lifecycle/init_fini_static
tests_lifecycle_init_fini_SOURCES = tests/lifecycle/init_fini.c $(tests_tap_sources) \
	tests/common/pattern.h
tests_lifecycle_init_fini_CPPFLAGS = $(tests_cppflags)
tests_lifecycle_init_fini_LDADD = libpymalloc.la
tests_lifecycle_init_fini_static_SOURCES = $(tests_lifecycle_init_fini_SOURCES)
tests_lifecycle_init_fini_static_CPPFLAGS = $(tests_cppflags)
tests_lifecycle_init_fini_static_LDADD = libpymalloc.la
tests_lifecycle_init_fini_static_LDFLAGS = -static

# dlopen of a module that links libpymalloc, from a host that does not.
check_LTLIBRARIES += tests/lifecycle/dlopen_module.la
tests_lifecycle_dlopen_module_la_SOURCES = tests/lifecycle/dlopen_module.c tests/common/pattern.h
tests_lifecycle_dlopen_module_la_CPPFLAGS = $(tests_cppflags)
tests_lifecycle_dlopen_module_la_LDFLAGS = -module -avoid-version -rpath /nowhere
tests_lifecycle_dlopen_module_la_LIBADD = libpymalloc.la
check_PROGRAMS += tests/lifecycle/dlopen_host
TESTS += tests/lifecycle/dlopen_host
tests_lifecycle_dlopen_host_SOURCES = tests/lifecycle/dlopen_host.c $(tests_tap_sources)
tests_lifecycle_dlopen_host_CPPFLAGS = $(tests_cppflags)
tests_lifecycle_dlopen_host_CFLAGS = $(AM_CFLAGS) -pthread
tests_lifecycle_dlopen_host_LDADD = -ldl
tests_lifecycle_dlopen_host_LDFLAGS = -pthread

# --- tests/link: the static archive, and the prefixed API alone -------------
# -static (a libtool flag): link libpymalloc.a, system libraries stay shared.
tests_link_common_sources = tests/link/linked_library.c tests/link/linked_library.h \
	$(tests_tap_sources)
check_PROGRAMS += tests/link/static_c tests/link/static_cxx tests/link/prefixed_only
TESTS += tests/link/static_c tests/link/static_cxx tests/link/prefixed_only
tests_link_static_c_SOURCES = tests/link/static_c.c $(tests_link_common_sources) \
	tests/common/pattern.h
tests_link_static_c_CPPFLAGS = $(tests_cppflags)
tests_link_static_c_LDADD = libpymalloc.la
tests_link_static_c_LDFLAGS = -static
tests_link_static_cxx_SOURCES = tests/link/static_cxx.cc $(tests_link_common_sources)
tests_link_static_cxx_CPPFLAGS = $(tests_cppflags)
tests_link_static_cxx_LDADD = libpymalloc.la
tests_link_static_cxx_LDFLAGS = -static
tests_link_prefixed_only_SOURCES = tests/link/prefixed_only.c $(tests_tap_sources) \
	tests/common/pattern.h
tests_link_prefixed_only_CPPFLAGS = $(tests_cppflags)
tests_link_prefixed_only_LDADD = libpymalloc.la

# --- tests/preload: real programs under LD_PRELOAD ---------------------------
# preload_check is linked against nothing of ours on purpose.
EXTRA_DIST += tests/preload/common.sh
tests_preload_scripts = tests/preload/preload_took_effect.sh tests/preload/python3.sh \
	tests/preload/git.sh tests/preload/sqlite3.sh tests/preload/perl.sh \
	tests/preload/sort.sh tests/preload/gxx.sh tests/preload/xz.sh
EXTRA_DIST += $(tests_preload_scripts)
if PYM_OVERRIDE
if !PYM_SANITIZER
check_PROGRAMS += tests/preload/preload_check
tests_preload_preload_check_SOURCES = tests/preload/preload_check.c
tests_preload_preload_check_LDADD = -ldl
TESTS += $(tests_preload_scripts)
endif !PYM_SANITIZER
endif PYM_OVERRIDE
