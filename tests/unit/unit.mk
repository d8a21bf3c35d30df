# Unit tests of the allocator's internals (tests/unit/).  They link the
# static library, so hidden pymi_* symbols resolve.
if HAVE_CMOCKA
PYM_UNIT_TESTS = tests/unit/test_sizeclass tests/unit/test_pool tests/unit/test_arena \
	tests/unit/test_pagemap tests/unit/test_debug tests/unit/test_thread_exit \
	tests/unit/test_decay tests/unit/test_remote tests/unit/test_hugepages \
	tests/unit/test_emptypools tests/unit/test_heap_pages
if PYM_OVERRIDE
PYM_UNIT_TESTS += tests/unit/test_introspection
endif
check_PROGRAMS += $(PYM_UNIT_TESTS)
TESTS += $(PYM_UNIT_TESTS)
PYM_UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -pthread
PYM_UNIT_LDADD = libpymalloc.la $(CMOCKA_LIBS) -ldl
PYM_UNIT_LINK_FLAGS = -static -pthread
tests_unit_test_sizeclass_SOURCES = tests/unit/test_sizeclass.c tests/unit/unit.h
tests_unit_test_sizeclass_CFLAGS = $(PYM_UNIT_CFLAGS)
tests_unit_test_sizeclass_LDADD = $(PYM_UNIT_LDADD)
tests_unit_test_sizeclass_LDFLAGS = $(PYM_UNIT_LINK_FLAGS)
tests_unit_test_pool_SOURCES = tests/unit/test_pool.c tests/unit/unit.h
tests_unit_test_pool_CFLAGS = $(PYM_UNIT_CFLAGS)
tests_unit_test_pool_LDADD = $(PYM_UNIT_LDADD)
tests_unit_test_pool_LDFLAGS = $(PYM_UNIT_LINK_FLAGS)
tests_unit_test_emptypools_SOURCES = tests/unit/test_emptypools.c tests/unit/unit.h \
	tests/common/child.c tests/common/child.h
tests_unit_test_emptypools_CPPFLAGS = $(tests_cppflags)
tests_unit_test_emptypools_CFLAGS = $(PYM_UNIT_CFLAGS)
tests_unit_test_emptypools_LDADD = $(PYM_UNIT_LDADD)
tests_unit_test_emptypools_LDFLAGS = $(PYM_UNIT_LINK_FLAGS)
tests_unit_test_arena_SOURCES = tests/unit/test_arena.c tests/unit/unit.h \
	tests/common/child.c tests/common/child.h
tests_unit_test_arena_CPPFLAGS = $(tests_cppflags)
tests_unit_test_arena_CFLAGS = $(PYM_UNIT_CFLAGS)
tests_unit_test_arena_LDADD = $(PYM_UNIT_LDADD)
tests_unit_test_arena_LDFLAGS = $(PYM_UNIT_LINK_FLAGS)
tests_unit_test_pagemap_SOURCES = tests/unit/test_pagemap.c tests/unit/unit.h
tests_unit_test_pagemap_CFLAGS = $(PYM_UNIT_CFLAGS)
tests_unit_test_pagemap_LDADD = $(PYM_UNIT_LDADD)
tests_unit_test_pagemap_LDFLAGS = $(PYM_UNIT_LINK_FLAGS)
tests_unit_test_debug_SOURCES = tests/unit/test_debug.c tests/unit/unit.h
tests_unit_test_debug_CFLAGS = $(PYM_UNIT_CFLAGS)
tests_unit_test_debug_LDADD = $(PYM_UNIT_LDADD)
tests_unit_test_debug_LDFLAGS = $(PYM_UNIT_LINK_FLAGS)
tests_unit_test_hugepages_SOURCES = tests/unit/test_hugepages.c tests/unit/unit.h tests/common/resident.h
tests_unit_test_hugepages_CFLAGS = $(PYM_UNIT_CFLAGS)
tests_unit_test_hugepages_LDADD = $(PYM_UNIT_LDADD)
tests_unit_test_hugepages_LDFLAGS = $(PYM_UNIT_LINK_FLAGS)
tests_unit_test_decay_SOURCES = tests/unit/test_decay.c tests/unit/unit.h tests/common/resident.h
tests_unit_test_decay_CFLAGS = $(PYM_UNIT_CFLAGS)
tests_unit_test_decay_LDADD = $(PYM_UNIT_LDADD)
tests_unit_test_decay_LDFLAGS = $(PYM_UNIT_LINK_FLAGS)
tests_unit_test_remote_SOURCES = tests/unit/test_remote.c tests/unit/unit.h \
	tests/common/child.c tests/common/child.h
tests_unit_test_remote_CPPFLAGS = $(tests_cppflags)
tests_unit_test_remote_CFLAGS = $(PYM_UNIT_CFLAGS)
tests_unit_test_remote_LDADD = $(PYM_UNIT_LDADD)
tests_unit_test_remote_LDFLAGS = $(PYM_UNIT_LINK_FLAGS)
tests_unit_test_heap_pages_SOURCES = tests/unit/test_heap_pages.c tests/unit/unit.h
tests_unit_test_heap_pages_CFLAGS = $(PYM_UNIT_CFLAGS)
tests_unit_test_heap_pages_LDADD = $(PYM_UNIT_LDADD)
tests_unit_test_heap_pages_LDFLAGS = $(PYM_UNIT_LINK_FLAGS)
tests_unit_test_thread_exit_SOURCES = tests/unit/test_thread_exit.c tests/unit/unit.h
tests_unit_test_thread_exit_CFLAGS = $(PYM_UNIT_CFLAGS)
tests_unit_test_thread_exit_LDADD = $(PYM_UNIT_LDADD)
tests_unit_test_thread_exit_LDFLAGS = $(PYM_UNIT_LINK_FLAGS)
tests_unit_test_introspection_SOURCES = tests/unit/test_introspection.c tests/unit/unit.h
tests_unit_test_introspection_CFLAGS = $(PYM_UNIT_CFLAGS)
tests_unit_test_introspection_LDADD = $(PYM_UNIT_LDADD)
tests_unit_test_introspection_LDFLAGS = $(PYM_UNIT_LINK_FLAGS)
endif
