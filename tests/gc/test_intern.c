/*
 * test_intern.c -- interning: identity for equal contents, mortality,
 * immortality, contents kept exactly.
 */
#include <string.h>
#include "gc_test.h"

static void equal_bytes_give_the_same_object(void **state)
{
    (void)state;
    char buf[] = "hello";
    void *a = pym_intern("hello", 5);
    void *b = pym_intern(buf, 5);
    void *c = pym_intern("hellp", 5);
    void *d = pym_intern("hell", 4);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_ptr_not_equal(a, d);
    assert_int_equal(pym_refcount(a), 2);
    pym_decref(a);
    pym_decref(b);
    pym_decref(c);
    pym_decref(d);
}

static void contents_are_kept_exactly_with_embedded_nul(void **state)
{
    (void)state;
    void *s = pym_intern("a\0b", 3);
    void *a = pym_intern("a", 1);
    assert_int_equal(pym_bytes_size(s), 3);
    assert_memory_equal(pym_bytes_data(s), "a\0b", 4);   /* and NUL-terminated */
    assert_ptr_not_equal(s, a);
    pym_decref(s);
    pym_decref(a);
}

static void interned_object_is_mortal(void **state)
{
    (void)state;
    void *s = pym_intern("transient", 9);
    void *wr = pym_weakref_new(s, NULL, NULL);
    pym_decref(s);
    assert_null(pym_weakref_get(wr));       /* gone with its last reference */
    void *again = pym_intern("transient", 9);
    assert_int_equal(pym_refcount(again), 1);
    pym_decref(again);
    pym_decref(wr);
}

static void immortal_interned_object_survives_every_decref(void **state)
{
    (void)state;
    void *s = pym_intern_immortal("forever", 7);
    assert_true(pym_is_immortal(s));
    pym_decref(s);
    pym_decref(s);
    void *again = pym_intern("forever", 7);
    assert_ptr_equal(again, s);
    assert_memory_equal(pym_bytes_data(again), "forever", 8);
}

static void many_distinct_strings_each_keep_their_identity(void **state)
{
    (void)state;
    enum { N = 20000 };
    static void *first[N];
    char key[32];
    for (int i = 0; i < N; i++) {
        int len = snprintf(key, sizeof key, "key-%d", i);
        first[i] = pym_intern(key, (size_t)len);
    }
    for (int i = 0; i < N; i++) {
        int len = snprintf(key, sizeof key, "key-%d", i);
        void *again = pym_intern(key, (size_t)len);
        assert_ptr_equal(again, first[i]);
        assert_string_equal(pym_bytes_data(again), key);
        pym_decref(again);
    }
    for (int i = 0; i < N; i++)
        pym_decref(first[i]);
}

/* Interned objects have a size of their own: the bytes of the type's row
 * follow the contents, header and NUL included. */
static void interned_bytes_are_accounted_with_their_length(void **state)
{
    (void)state;
    void *a = pym_intern("abc", 3);
    const pym_type *bytes_type = pym_typeof(a);
    pym_gc_type_stats_t row;
    assert_int_equal(type_row(bytes_type, &row), 1);
    size_t before_objects = row.objects, before_bytes = row.bytes;
    const char *text = "a longer string, interned once";
    size_t len = strlen(text);
    void *b = pym_intern(text, len);
    assert_int_equal(type_row(bytes_type, &row), 1);
    assert_int_equal(row.objects, before_objects + 1);
    assert_int_equal(row.bytes, before_bytes + GC_HEADER_BYTES + bytes_type->size + len + 1);
    pym_decref(b);
    assert_int_equal(type_row(bytes_type, &row), 1);
    assert_int_equal(row.objects, before_objects);
    assert_int_equal(row.bytes, before_bytes);
    pym_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GC_TEST(equal_bytes_give_the_same_object),
        GC_TEST(contents_are_kept_exactly_with_embedded_nul),
        GC_TEST(interned_object_is_mortal),
        GC_TEST(immortal_interned_object_survives_every_decref),
        GC_TEST(many_distinct_strings_each_keep_their_identity),
        GC_TEST(interned_bytes_are_accounted_with_their_length),
    };
    return cmocka_run_group_tests_name("gc intern", tests, NULL, NULL);
}
