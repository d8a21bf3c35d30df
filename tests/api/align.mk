# align.mk -- memalign, aligned_alloc and posix_memalign compared with the
# installed glibc's answers (tests/api/align_vs_glibc.sh runs align_table
# plainly and under LD_PRELOAD).  Override builds without sanitizers only.
EXTRA_DIST += tests/api/align_vs_glibc.sh
if PYM_OVERRIDE
if !PYM_SANITIZER
check_PROGRAMS += tests/api/align_table
tests_api_align_table_SOURCES = tests/api/align_table.c
tests_api_align_table_CFLAGS = $(AM_CFLAGS) -fno-builtin
tests_api_align_table_LDADD = -ldl
TESTS += tests/api/align_vs_glibc.sh
endif !PYM_SANITIZER
endif PYM_OVERRIDE
