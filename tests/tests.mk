# tests.mk -- conformance, misuse, stress, lifecycle, preload and link tests
# of the allocator core (the unit tests of internals live in tests/unit/).
# Every program prints TAP: cmocka ones through CMOCKA_MESSAGE_OUTPUT=TAP,
# the others through tests/common/tap.c, the shell scripts by hand.
#
# What runs where:
#   every build        api_pym, invalid_free, stress, lifecycle, link/prefixed_only
#   override builds    api_libc, link/static_c, link/static_cxx, preload/*
#                      (preload also needs a build without sanitizers: a
#                      sanitizer runtime cannot be preloaded into python3 & co)
# Checks that do not apply to a build print "ok N # SKIP reason".

tests_cppflags = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/common
tests_tap_sources = tests/common/tap.c tests/common/tap.h
tests_child_sources = tests/common/child.c tests/common/child.h
tests_pattern_sources = tests/common/pattern.h tests/common/cmocka_all.h



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
endif HAVE_CMOCKA
