# Out-of-memory tests (tests/oom/): RLIMIT_AS of 1 GiB, 256 MiB and 64 MiB set
# before start, and a limit lowered at run time (test_rlimit_runtime).
# Not under sanitizers: ASan and TSan reserve terabytes of shadow address
# space, so no address-space limit can hold them.  Linked with -static (the
# library only) so that the test re-executes itself, not a libtool wrapper.
if !PYM_SANITIZER
check_PROGRAMS += tests/oom/test_oom
TESTS += tests/oom/test_oom
tests_oom_test_oom_SOURCES = tests/oom/test_oom.c
tests_oom_test_oom_LDADD = libpymalloc.la -ldl
tests_oom_test_oom_LDFLAGS = -static -pthread

# A limit lowered at run time, after pymalloc reserved its first region.
check_PROGRAMS += tests/oom/test_rlimit_runtime
TESTS += tests/oom/test_rlimit_runtime
tests_oom_test_rlimit_runtime_SOURCES = tests/oom/test_rlimit_runtime.c \
	tests/common/tap.c tests/common/tap.h
tests_oom_test_rlimit_runtime_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/common
tests_oom_test_rlimit_runtime_CFLAGS = $(AM_CFLAGS) -pthread
tests_oom_test_rlimit_runtime_LDADD = libpymalloc.la
tests_oom_test_rlimit_runtime_LDFLAGS = -pthread
endif
