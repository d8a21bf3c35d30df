/* Unit tests: the ownership test is exact and never reads foreign memory. */
#include "unit.h"

#include <sys/mman.h>

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);

static int a_static_object;

/* Whether the region at `region` is ours, from its first arena's tag. */
static int region_is_ours(uintptr_t region)
{
    size_t slot = (region - pymi_const.window_base) >> PYM_ARENA_SHIFT;
    return slot < PYM_WINDOW_ARENAS && atomic_load(&pymi_arena_tags[slot]) != PYM_ARENA_TAG_FOREIGN;
}

static void small_blocks_are_ours_and_aligned(void **state)
{
    (void)state;
    for (size_t n = 0; n <= PYM_SMALL_MAX; n++) {
        void *p = pym_malloc(n);
        assert_true(pym_owns(p));
        assert_int_equal((uintptr_t)p % PYM_ALIGNMENT, 0);
        pym_free(p);
    }
}

static void foreign_memory_is_not_ours(void **state)
{
    (void)state;
    int on_stack;
    void *libc_block = __libc_malloc(32);
    void *large = pym_malloc(PYM_SMALL_MAX + 1);
    void *mapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_false(pym_owns(&on_stack));
    assert_false(pym_owns(&a_static_object));
    assert_false(pym_owns(libc_block));
    assert_false(pym_owns(large));
    assert_false(pym_owns(mapped));
    assert_false(pym_owns(NULL));
    /* Around the region of a block of ours: exact to the byte. */
    void *ours = pym_malloc(32);
    uintptr_t region = (uintptr_t)ours & ~(uintptr_t)PYM_REGION_MASK;
    assert_true(pym_owns((void *)region));
    assert_true(pym_owns((void *)(region + PYM_REGION_SIZE - 1)));
    if (!region_is_ours(region + PYM_REGION_SIZE))
        assert_false(pym_owns((void *)(region + PYM_REGION_SIZE)));
    if (region > pymi_const.window_base && !region_is_ours(region - PYM_REGION_SIZE))
        assert_false(pym_owns((void *)(region - 1)));
    assert_false(pym_owns((void *)(pymi_const.window_base - 1)));
    assert_false(pym_owns((void *)(pymi_const.window_base + PYM_WINDOW_REGIONS * PYM_REGION_SIZE)));
    pym_free(ours);
    munmap(mapped, 4096);
    pym_free(large);
    __libc_free(libc_block);
}

static void arena_descriptors_map_back_to_their_addresses(void **state)
{
    (void)state;
    void *p = pym_malloc(100);
    pym_arena_t *arena = pymi_arena_of(p);
    uintptr_t base = pymi_arena_base(arena);
    assert_true((uintptr_t)p >= base && (uintptr_t)p < base + PYM_ARENA_SIZE);
    assert_int_equal(base % PYM_ARENA_SIZE, 0);
    assert_true(arena->in_use);
    pym_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(small_blocks_are_ours_and_aligned),
        cmocka_unit_test(foreign_memory_is_not_ours),
        cmocka_unit_test(arena_descriptors_map_back_to_their_addresses),
    };
    return cmocka_run_group_tests_name("pagemap", tests, NULL, NULL);
}
