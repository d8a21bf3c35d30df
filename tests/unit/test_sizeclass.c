/* Unit tests: request size -> class -> block size. */
#include "unit.h"

static void every_small_size_maps_to_the_smallest_class_that_fits(void **state)
{
    (void)state;
    for (size_t n = 0; n <= PYM_SMALL_MAX; n++) {
        unsigned c = pymi_size_to_class(n);
        size_t block = pymi_class_to_size(c);
        assert_true(c < PYM_NUM_CLASSES);
        assert_true(block >= n);
        assert_true(block >= 16);
        if (block > 16)
            assert_true(block - 16 < n);   /* the class below would not fit */
    }
}

static void zero_bytes_use_the_16_byte_class(void **state)
{
    (void)state;
    assert_int_equal(pymi_size_to_class(0), 0);
    assert_int_equal(pymi_class_to_size(0), 16);
}

static void classes_are_16_bytes_apart_and_16_byte_multiples(void **state)
{
    (void)state;
    for (unsigned c = 0; c < PYM_NUM_CLASSES; c++) {
        assert_int_equal(pymi_class_to_size(c), 16 * (c + 1));
        assert_int_equal(pymi_class_to_size(c) % PYM_ALIGNMENT, 0);
    }
    assert_int_equal(pymi_class_to_size(PYM_NUM_CLASSES - 1), PYM_SMALL_MAX);
}

static void only_requests_up_to_the_threshold_are_small(void **state)
{
    (void)state;
    assert_true(pymi_is_small(PYM_SMALL_MAX));
    assert_false(pymi_is_small(PYM_SMALL_MAX + 1));
    assert_false(pymi_is_small(SIZE_MAX));
}

static void a_pool_holds_what_fits_in_its_page(void **state)
{
    (void)state;
    for (unsigned c = 0; c < PYM_NUM_CLASSES; c++) {
        size_t size = pymi_class_to_size(c);
        unsigned cap = pymi_class_capacity(c);
        assert_true(cap * size <= PYM_POOL_SIZE);
        assert_true((cap + 1) * size > PYM_POOL_SIZE);
    }
    /* No header in the pool: the 64-byte class fills its 16 KiB, 256 blocks. */
    assert_int_equal(pymi_class_capacity(pymi_size_to_class(64)), 256);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_small_size_maps_to_the_smallest_class_that_fits),
        cmocka_unit_test(zero_bytes_use_the_16_byte_class),
        cmocka_unit_test(classes_are_16_bytes_apart_and_16_byte_multiples),
        cmocka_unit_test(only_requests_up_to_the_threshold_are_small),
        cmocka_unit_test(a_pool_holds_what_fits_in_its_page),
    };
    return cmocka_run_group_tests_name("sizeclass", tests, NULL, NULL);
}
