# A fully static executable linked with our malloc (tests/static/).  Not
# under sanitizers (they cannot link -static) and only when we override
# malloc: with --disable-override a static program simply uses glibc's.
if PYM_OVERRIDE
if !PYM_SANITIZER
check_PROGRAMS += tests/static/test_static_exe
TESTS += tests/static/test_static_exe
tests_static_test_static_exe_SOURCES = tests/static/test_static_exe.c
tests_static_test_static_exe_CFLAGS = $(AM_CFLAGS) -pthread
tests_static_test_static_exe_LDADD = libpymalloc.la
tests_static_test_static_exe_LDFLAGS = -all-static -pthread
endif
endif
