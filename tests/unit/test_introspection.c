/* glibc's introspection functions, overridden: they report glibc's
 * allocator plus ours (override builds only). */
#include "unit.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { COUNT = 4000 };
static void *blocks[COUNT];

static void allocate_blocks(void)
{
    for (int i = 0; i < COUNT; i++) {
        blocks[i] = malloc(64);
        assert_true(pym_owns(blocks[i]));
    }
}

static void free_blocks(void)
{
    for (int i = 0; i < COUNT; i++)
        free(blocks[i]);
}

static void mallinfo2_counts_our_live_blocks(void **state)
{
    (void)state;
    struct mallinfo2 before = mallinfo2();
    allocate_blocks();
    struct mallinfo2 during = mallinfo2();
    assert_true(during.uordblks >= before.uordblks + COUNT * 64);
    assert_true(during.hblkhd >= PYM_ARENA_SIZE);   /* at least one arena of ours */
    free_blocks();
    struct mallinfo2 after = mallinfo2();
    assert_true(after.uordblks <= during.uordblks - COUNT * 64);
}

static void malloc_info_is_one_document_with_our_element(void **state)
{
    (void)state;
    allocate_blocks();
    char *xml = NULL;
    size_t length = 0;
    FILE *mem = open_memstream(&xml, &length);
    assert_non_null(mem);
    assert_int_equal(malloc_info(0, mem), 0);
    assert_int_equal(fclose(mem), 0);
    free_blocks();
    const char *root = strstr(xml, "<malloc ");
    assert_non_null(root);
    assert_null(strstr(root + 1, "<malloc "));          /* a single root */
    const char *ours = strstr(xml, "<pymalloc version=");
    const char *close = strstr(xml, "</malloc>");
    assert_non_null(ours);
    assert_non_null(close);
    assert_true(ours > root && ours < close);            /* inside it */
    assert_non_null(strstr(xml, "<class size=\"64\""));
    assert_non_null(strstr(xml, "</pymalloc>"));
    free(xml);
    errno = 0;
    assert_int_equal(malloc_info(1, stdout), -1);        /* options must be 0 */
    assert_int_equal(errno, EINVAL);
}

static void malloc_stats_prints_our_table_after_glibcs(void **state)
{
    (void)state;
    char path[] = "/tmp/pym-stats-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    malloc_stats();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char text[8192];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    text[n] = '\0';
    assert_non_null(strstr(text, "Arena 0"));                 /* glibc's part */
    assert_non_null(strstr(text, "arenas allocated total"));  /* ours */
}

static void malloc_trim_gives_back_freed_pools(void **state)
{
    (void)state;
    enum { MANY = 63 * 64 * 3 };
    void **many = malloc(MANY * sizeof(void *));
    for (int i = 0; i < MANY; i++)
        many[i] = malloc(32);
    for (int i = 0; i < MANY; i++)
        free(many[i]);
    free(many);
    assert_int_equal(malloc_trim(0), 1);
    pym_stats_t s;
    pym_stats_get(&s);
    assert_int_equal(s.bytes_free_pools_resident, 0);   /* every free page went back */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mallinfo2_counts_our_live_blocks),
        cmocka_unit_test(malloc_info_is_one_document_with_our_element),
        cmocka_unit_test(malloc_stats_prints_our_table_after_glibcs),
        cmocka_unit_test(malloc_trim_gives_back_freed_pools),
    };
    return cmocka_run_group_tests_name("introspection", tests, NULL, NULL);
}
