# startup.mk -- tests/options/test_startup.sh: statistics of programs that
# close stderr, one header per process, option values in any case, auto,
# PYMALLOC_VERBOSE (uses option_probe from tools.mk).
TESTS += tests/options/test_startup.sh
EXTRA_DIST += tests/options/test_startup.sh
