# rules for tools/, man/, tests/rss, tests/options, tests/install
# (the pymalloc command, its manual page, installation and the tests of
# memory going back, options and the installed tree).

# --- the pymalloc command: configure makes tools/pymalloc from tools/pymalloc.in
bin_SCRIPTS = tools/pymalloc
man_MANS = man/pymalloc.1
EXTRA_DIST += tools/pymalloc.in man/pymalloc.1

# --- tests/rss: RSS falls when memory is freed (pym_* API, any build) -------
if HAVE_CMOCKA
check_PROGRAMS += tests/rss/test_rss
TESTS += tests/rss/test_rss
tests_rss_test_rss_SOURCES = tests/rss/test_rss.c
tests_rss_test_rss_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -pthread
tests_rss_test_rss_LDADD = libpymalloc.la $(CMOCKA_LIBS)
tests_rss_test_rss_LDFLAGS = -pthread
if PYM_SANITIZER
# Sanitizers slow every access and ASan keeps shadow pages: 64 MiB, not 512.
tests_rss_test_rss_CPPFLAGS = $(AM_CPPFLAGS) -DPYM_RSS_MIB=64
endif
endif
