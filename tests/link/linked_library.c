/*
 * linked_library.c -- see linked_library.h.  Walks the loaded objects with
 * dl_iterate_phdr, which neither allocates nor needs libdl.
 */
#define _GNU_SOURCE 1
#include "linked_library.h"

#include <link.h>
#include <string.h>

static int visit_object(struct dl_phdr_info *info, size_t size, void *found)
{
    (void)size;
    if (info->dlpi_name != NULL && strstr(info->dlpi_name, "libpymalloc") != NULL)
        *(int *)found = 1;
    return 0;
}

int shared_pymalloc_is_loaded(void)
{
    int found = 0;
    dl_iterate_phdr(visit_object, &found);
    return found;
}
