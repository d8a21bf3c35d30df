# misuse.mk -- tests/misuse: misuse of the default build ends in one line
# and abort(), never a hang; blocks do not leak the free-list secret
# (issue 12, items 1, 2, 4, 5, 18).  Cases the core does not handle yet are
# TAP "# TODO" (XFAIL) until it does.
check_PROGRAMS += tests/misuse/test_misuse
TESTS += tests/misuse/test_misuse
tests_misuse_test_misuse_SOURCES = tests/misuse/test_misuse.c $(tests_tap_sources) \
	$(tests_child_sources)
tests_misuse_test_misuse_CPPFLAGS = $(tests_cppflags)
tests_misuse_test_misuse_CFLAGS = $(AM_CFLAGS) -pthread
tests_misuse_test_misuse_LDADD = libpymalloc.la
tests_misuse_test_misuse_LDFLAGS = -pthread
