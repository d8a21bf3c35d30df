# rules for tools/, man/, tests/rss, tests/options, tests/install
# (the pymalloc command, its manual page, installation and the tests of
# memory going back, options and the installed tree).

# --- pkg-config file of the GC layer (configure makes it from pymalloc_gc.pc.in)
pkgconfig_DATA += pymalloc_gc.pc
EXTRA_DIST += pymalloc_gc.pc.in

# --- the pymalloc command: configure makes tools/pymalloc from tools/pymalloc.in
bin_SCRIPTS = tools/pymalloc
man_MANS = man/pymalloc.1
EXTRA_DIST += tools/pymalloc.in man/pymalloc.1

# --- tests/rss: RSS falls when memory is freed (pym_* API, any build) -------
if HAVE_CMOCKA
check_PROGRAMS += tests/rss/test_rss
TESTS += tests/rss/test_rss
tests_rss_test_rss_SOURCES = tests/rss/test_rss.c tests/common/resident.h
tests_rss_test_rss_CPPFLAGS = $(AM_CPPFLAGS) $(PYM_RSS_SIZE)
tests_rss_test_rss_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -pthread
tests_rss_test_rss_LDADD = libpymalloc.la $(CMOCKA_LIBS)
tests_rss_test_rss_LDFLAGS = -pthread
# Sanitizers slow every access: 64 MiB, not 512.  TSan's shadow memory
# stays resident after we give pages back, so there RSS is only printed.
if PYM_TSAN
PYM_RSS_SIZE = -DPYM_RSS_MIB=64 -DPYM_RSS_ASSERT=0
else
if PYM_SANITIZER
PYM_RSS_SIZE = -DPYM_RSS_MIB=64
else
PYM_RSS_SIZE =
endif
endif
endif

# --- tests/options: PYMALLOC_* variables, the option API, valgrind, the command
# option_probe links the library statically (runs in sanitizer builds too);
# plain_workload is an ordinary program, built without pymalloc or
# sanitizers, for LD_PRELOAD.
PYM_OPTION_SHELL_TESTS = tests/options/test_options.sh tests/options/test_command.sh
TESTS += $(PYM_OPTION_SHELL_TESTS)
EXTRA_DIST += $(PYM_OPTION_SHELL_TESTS)
check_PROGRAMS += tests/options/option_probe tests/options/plain_workload
tests_options_option_probe_SOURCES = tests/options/option_probe.c
tests_options_option_probe_LDADD = libpymalloc.la -ldl
tests_options_option_probe_LDFLAGS = -static -pthread
tests_options_plain_workload_SOURCES = tests/options/plain_workload.c
tests_options_plain_workload_CFLAGS = -std=c11 -Wall -Wextra -pthread
tests_options_plain_workload_LDFLAGS = -pthread
tests_options_plain_workload_LDADD = -ldl
if HAVE_CMOCKA
check_PROGRAMS += tests/options/test_option_api
TESTS += tests/options/test_option_api
tests_options_test_option_api_SOURCES = tests/options/test_option_api.c
tests_options_test_option_api_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_options_test_option_api_LDADD = libpymalloc.la $(CMOCKA_LIBS)
endif

# --- tests/install: make install/uninstall into a temporary DESTDIR ---------
TESTS += tests/install/test_install.sh
# before make install: scripts/where.sh, the build tree's command, run-doctree.sh
TESTS += tests/install/test_build_tree.sh
EXTRA_DIST += tests/install/test_build_tree.sh
EXTRA_DIST += tests/install/test_install.sh tests/tap.sh

# Files of other parts of the tree that the tarball missed (make distcheck
# passes without them, but the README and scripts/demo.sh use them).
EXTRA_DIST += examples/small_objects.py
