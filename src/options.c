/*
 * options.c -- the one table of PYMALLOC_* settings.
 *
 * Read once, at process initialisation, by scanning `environ` directly:
 * getenv() is fine too, but scanning lets us warn about misspelt names, and
 * neither allocates, so this works before main and inside malloc.  A bad
 * value or an unknown PYMALLOC_ name gets one warning line and the default.
 * PYMALLOC_STATS_FILE without PYMALLOC_STATS turns the statistics on.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define PYM_HAVE_VALGRIND_H 1
#endif
#endif

extern char **environ;

/* Values: a number in min..max; for 0..1 options also yes/no, true/false,
 * on/off; for an option with `auto` set, the word auto (stored as -1).
 * Words are compared without regard to case (ON, True, No, Auto). */
struct option_desc {
    const char *name;     /* after the PYMALLOC_ prefix */
    long value;           /* current value (starts as the default) */
    long min, max;
    int has_auto;         /* "auto" is accepted and means -1 */
    const char *help;
};

/* Indexed by pym_option_t. */
static struct option_desc options[PYM_OPTION_COUNT_] = {
    [PYM_OPTION_STATS] = {"STATS", 0, 0, 1, 0, "print statistics to stderr (or PYMALLOC_STATS_FILE) at exit"},
    [PYM_OPTION_DEBUG] = {"DEBUG", 0, 0, 1, 0, "debug mode: fill patterns, guard bytes, checks at free"},
    [PYM_OPTION_ARENA_CACHE] = {"ARENA_CACHE", 1, 0, 1024, 0, "empty arenas kept resident past the purge delay"},
    [PYM_OPTION_DISABLE] = {"DISABLE", -1, -1, 1, 1, "forward every request to libc (auto, -1: only under valgrind)"},
    [PYM_OPTION_VERBOSE] = {"VERBOSE", 0, 0, 1, 0, "report start-up decisions on stderr"},
    [PYM_OPTION_PURGE_DELAY_MS] = {"PURGE_DELAY_MS", PYM_PURGE_DELAY_DEFAULT_MS, 0, 3600000, 0,
                                   "free pages stay resident this long for reuse (0: purge at once)"},
    [PYM_OPTION_PURGE_THREAD] = {"PURGE_THREAD", 1, 0, 1, 0,
                                 "a background thread purges on time once 4 MiB wait (0: only on activity)"},
    [PYM_OPTION_FWD_CACHE] = {"FWD_CACHE", 1, 0, 1, 0,
                              "a thread keeps glibc's 257 B-4 KiB chunks it frees for its next malloc, and a "
                              "realloc glibc would answer with the same chunk is answered at once "
                              "(0: glibc does both)"},
    [PYM_OPTION_HUGE_PAGES] = {"HUGE_PAGES", 1, 0, 1, 0,
                               "arenas carved once a heap has 8 MiB of them are backed by 2 MiB pages "
                               "(transparent huge pages; 0: 4 KiB pages only)"},
};

/* Which options the environment set (PYMALLOC_STATS_FILE implies STATS
 * only when STATS itself was not given). */
static unsigned char given[PYM_OPTION_COUNT_];

/* Why DISABLE ended up as it is: reported by PYMALLOC_VERBOSE (init.c). */
static const char *disable_reason = "default";

/* PYMALLOC_STATS_FILE is a path, not a number: kept apart from the table. */
static const char *stats_file;

static int parse_long(const char *text, int has_auto, long *out)
{
    if (strcasecmp(text, "yes") == 0 || strcasecmp(text, "true") == 0 || strcasecmp(text, "on") == 0) {
        *out = 1;
        return 1;
    }
    if (strcasecmp(text, "no") == 0 || strcasecmp(text, "false") == 0 || strcasecmp(text, "off") == 0) {
        *out = 0;
        return 1;
    }
    if (has_auto && strcasecmp(text, "auto") == 0) {
        *out = -1;
        return 1;
    }
    int negative = *text == '-';
    const char *p = text + negative;
    if (*p == '\0')
        return 0;
    long value = 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || value > (1L << 40))
            return 0;
        value = value * 10 + (*p - '0');
    }
    *out = negative ? -value : value;
    return 1;
}

static void apply(const char *name, size_t name_len, const char *text)
{
    if (name_len == 10 && memcmp(name, "STATS_FILE", 10) == 0) {
        stats_file = text;
        return;
    }
    if (name_len == 3 && memcmp(name, "LIB", 3) == 0)
        return;   /* read by the pymalloc command, not by the library */
    for (int i = 0; i < PYM_OPTION_COUNT_; i++) {
        struct option_desc *o = &options[i];
        if (strlen(o->name) != name_len || memcmp(o->name, name, name_len) != 0)
            continue;
        long value;
        if (!parse_long(text, o->has_auto, &value) || value < o->min || value > o->max) {
            if (o->has_auto)
                pymi_message("PYMALLOC_%s=%s is not a valid value (auto, %ld..%ld, yes/no); using %s",
                             o->name, text, o->min + 1, o->max, o->value < 0 ? "auto" : "its default");
            else if (o->max == 1)
                pymi_message("PYMALLOC_%s=%s is not a valid value (0/1, yes/no, on/off, true/false); "
                             "using %ld", o->name, text, o->value);
            else
                pymi_message("PYMALLOC_%s=%s is not a valid value (%ld..%ld); using %ld",
                             o->name, text, o->min, o->max, o->value);
            return;
        }
        o->value = value;
        given[i] = 1;
        return;
    }
    char shown[64];
    size_t n = name_len < sizeof shown - 1 ? name_len : sizeof shown - 1;
    memcpy(shown, name, n);
    shown[n] = '\0';
    pymi_message("unknown option PYMALLOC_%s ignored", shown);
}

void pymi_options_init(void)
{
    static const char prefix[] = "PYMALLOC_";
    for (char **env = environ; env != NULL && *env != NULL; env++) {
        const char *entry = *env;
        if (strncmp(entry, prefix, sizeof prefix - 1) != 0)
            continue;
        const char *name = entry + sizeof prefix - 1;
        const char *eq = strchr(name, '=');
        if (eq == NULL)
            continue;
        apply(name, (size_t)(eq - name), eq + 1);
    }
    if (stats_file != NULL && *stats_file != '\0' && !given[PYM_OPTION_STATS])
        options[PYM_OPTION_STATS].value = 1;   /* PYMALLOC_STATS_FILE alone asks for them */
    if (options[PYM_OPTION_DISABLE].value == -1) {
#ifdef PYM_HAVE_VALGRIND_H
        options[PYM_OPTION_DISABLE].value = RUNNING_ON_VALGRIND ? 1 : 0;
        disable_reason = options[PYM_OPTION_DISABLE].value
            ? "auto: running under valgrind (PYMALLOC_DISABLE=0 keeps pymalloc on)"
            : "auto: not running under valgrind";
#else
        options[PYM_OPTION_DISABLE].value = 0;
        disable_reason = "auto: built without valgrind.h, cannot tell valgrind";
#endif
    } else if (given[PYM_OPTION_DISABLE]) {
        disable_reason = "set by PYMALLOC_DISABLE";
    }
}

int pymi_option_given(pym_option_t option)
{
    return given[option];
}

const char *pymi_option_disable_reason(void)
{
    return disable_reason;
}

long pymi_option(pym_option_t option)
{
    return options[option].value;
}

const char *pymi_option_stats_file(void)
{
    return stats_file;
}

long pym_option_get(pym_option_t option)
{
    if ((unsigned)option >= PYM_OPTION_COUNT_) {
        errno = EINVAL;
        return -1;
    }
    return options[option].value;
}

int pym_option_set(pym_option_t option, long value)
{
    /* DISABLE and DEBUG decide how blocks are laid out: changing them once
     * blocks exist would mix two layouts, so they are start-up only. */
    if ((unsigned)option >= PYM_OPTION_COUNT_ || option == PYM_OPTION_DISABLE ||
        option == PYM_OPTION_DEBUG || value < options[option].min || value > options[option].max) {
        errno = EINVAL;
        return -1;
    }
    options[option].value = value;
    return 0;
}
