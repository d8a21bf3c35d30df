/*
 * fuzz_api.c -- libFuzzer target: an input is a program of pym_* calls.
 *
 * Each operation is one opcode byte followed by its argument bytes (missing
 * bytes read as zero).  A shadow model holds every live block: pointer,
 * requested size, usable size, fill byte, alignment asked for.  Every block
 * is filled with its fill byte over its whole usable size, so a block that
 * overlaps another, or a usable size that is not really usable, shows up as
 * a changed byte.  After every operation the block it touched is checked
 * (contents, 16-byte or requested alignment, usable size >= requested);
 * every SWEEP_EVERY operations and at the end of the input every live block
 * is checked, then everything is freed.
 *
 * A helper thread, fed through a queue, frees blocks the main thread hands
 * it (remote frees into the main thread's pools) and allocates blocks on
 * request (owned by the helper's heap, later freed by the main thread).  An
 * operation restarts the helper, so its heap is abandoned with live blocks
 * and adopted by the next helper.
 *
 * Built from the library's sources without src/override.c: ASan owns malloc
 * in this process, pymalloc is reached only through pym_*.  Built a second
 * time with FUZZ_PYMALLOC_DEBUG, it runs in debug mode (PYMALLOC_DEBUG=1).
 * `make check` replays tests/fuzz/reproducers and tests/fuzz/corpus through
 * this file without libFuzzer (replay_main.c), in both modes.
 */
#define _GNU_SOURCE 1   /* setenv */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pymalloc.h"

/* Requests pymalloc forwards go to the program's malloc -- ASan's or
 * TSan's in the sanitizer builds -- and the impossible-size operations must
 * see NULL + ENOMEM from it, as from glibc, instead of the sanitizer's
 * "allocation-size-too-big" report. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "allocator_may_return_null=1";
}

#define MAX_LIVE 256
#define SWEEP_EVERY 64
#define QUEUE_SLOTS 64
/* Thread restarts and trims cost system calls and TLB shootdowns (~1 ms
 * each); past these many per input they only drain the helper's queue. */
#define MAX_COSTLY_OPS 4

typedef struct live {
    unsigned char *ptr;
    size_t requested;
    size_t usable;
    size_t alignment;   /* what the block must be aligned to */
    uint8_t fill;
} live_t;

static live_t live[MAX_LIVE];
static size_t live_count;
static uint8_t next_fill = 1;

/* ---- failing ---------------------------------------------------------------- */

#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_api: %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* ---- the helper thread ------------------------------------------------------ */

enum request_kind { REQ_FREE, REQ_MALLOC, REQ_QUIT };

struct request {
    enum request_kind kind;
    void *ptr;
    size_t size;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct request slots[QUEUE_SLOTS];
    unsigned head, count;
    int busy;            /* the helper is working on a request it took */
    void *reply;         /* result of the last REQ_MALLOC */
    int replied;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

static pthread_t helper;

static void *helper_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&queue.lock);
    for (;;) {
        while (queue.count == 0)
            pthread_cond_wait(&queue.changed, &queue.lock);
        struct request req = queue.slots[queue.head];
        queue.head = (queue.head + 1) % QUEUE_SLOTS;
        queue.count--;
        queue.busy = 1;
        pthread_mutex_unlock(&queue.lock);

        void *result = NULL;
        if (req.kind == REQ_FREE) {
            int saved = errno = 4321;
            pym_free(req.ptr);
            FUZZ_CHECK(errno == saved, "a remote free changed errno to %d", errno);
        } else if (req.kind == REQ_MALLOC) {
            result = pym_malloc(req.size);
        }

        pthread_mutex_lock(&queue.lock);
        queue.busy = 0;
        if (req.kind == REQ_MALLOC) {
            queue.reply = result;
            queue.replied = 1;
        }
        pthread_cond_broadcast(&queue.changed);
        if (req.kind == REQ_QUIT)
            break;
    }
    pthread_mutex_unlock(&queue.lock);
    return NULL;
}

static void helper_send(struct request req)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.count == QUEUE_SLOTS)
        pthread_cond_wait(&queue.changed, &queue.lock);
    queue.slots[(queue.head + queue.count) % QUEUE_SLOTS] = req;
    queue.count++;
    pthread_cond_broadcast(&queue.changed);
    pthread_mutex_unlock(&queue.lock);
}

static void *helper_malloc(size_t size)
{
    pthread_mutex_lock(&queue.lock);
    queue.replied = 0;
    pthread_mutex_unlock(&queue.lock);
    helper_send((struct request){.kind = REQ_MALLOC, .size = size});
    pthread_mutex_lock(&queue.lock);
    while (!queue.replied)
        pthread_cond_wait(&queue.changed, &queue.lock);
    void *result = queue.reply;
    pthread_mutex_unlock(&queue.lock);
    return result;
}

/* Waits until the helper has done everything it was sent. */
static void helper_drain(void)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.count != 0 || queue.busy)
        pthread_cond_wait(&queue.changed, &queue.lock);
    pthread_mutex_unlock(&queue.lock);
}

static void helper_start(void)
{
    FUZZ_CHECK(pthread_create(&helper, NULL, helper_main, NULL) == 0, "no helper thread");
}

static void helper_restart(void)
{
    helper_send((struct request){.kind = REQ_QUIT});
    pthread_join(helper, NULL);
    helper_start();
}

/* ---- the shadow model -------------------------------------------------------- */

static void check_block(const live_t *block, const char *after)
{
    FUZZ_CHECK(((uintptr_t)block->ptr & (block->alignment - 1)) == 0,
               "after %s: %p is not %zu-byte aligned", after, (void *)block->ptr, block->alignment);
    size_t usable = pym_usable_size(block->ptr);
    FUZZ_CHECK(usable == block->usable, "after %s: usable size of %p went from %zu to %zu",
               after, (void *)block->ptr, block->usable, usable);
    if (block->usable == 0)
        return;
    /* All bytes equal the first, and the first is the fill: one memcmp of
     * the block against itself shifted by one byte, then a loop to name the
     * culprit only when that fails. */
    if (block->ptr[0] == block->fill && memcmp(block->ptr, block->ptr + 1, block->usable - 1) == 0)
        return;
    for (size_t i = 0; i < block->usable; i++)
        FUZZ_CHECK(block->ptr[i] == block->fill,
                   "after %s: byte %zu of %p (requested %zu, usable %zu) is 0x%02x, not 0x%02x",
                   after, i, (void *)block->ptr, block->requested, block->usable,
                   block->ptr[i], block->fill);
}

static void sweep(const char *after)
{
    for (size_t i = 0; i < live_count; i++)
        check_block(&live[i], after);
}

/* Takes a fresh block into the model: checks its alignment and usable size,
 * and fills it.  `zeroed` blocks (calloc) must read as zeros first. */
static void adopt(void *ptr, size_t requested, size_t alignment, int zeroed, const char *what)
{
    FUZZ_CHECK(ptr != NULL, "%s(%zu) returned NULL", what, requested);
    if (alignment < 16)
        alignment = 16;
    FUZZ_CHECK(((uintptr_t)ptr & (alignment - 1)) == 0, "%s(%zu) = %p is not %zu-byte aligned",
               what, requested, ptr, alignment);
    size_t usable = pym_usable_size(ptr);
    FUZZ_CHECK(usable >= requested, "%s(%zu) = %p has usable size %zu", what, requested, ptr, usable);
    if (pym_owns(ptr) && pym_option_get(PYM_OPTION_DEBUG) == 1)
        FUZZ_CHECK(usable == requested, "%s(%zu): debug-mode block %p of usable size %zu",
                   what, requested, ptr, usable);   /* exactly the request, then guard bytes */
    else if (pym_owns(ptr))
        FUZZ_CHECK(usable <= 512 && usable % 16 == 0, "%s: pool block %p of usable size %zu",
                   what, ptr, usable);
    unsigned char *bytes = ptr;
    if (zeroed)
        for (size_t i = 0; i < requested; i++)
            FUZZ_CHECK(bytes[i] == 0, "%s(%zu) = %p: byte %zu is not zero", what, requested, ptr, i);
    live_t *block = &live[live_count++];
    *block = (live_t){.ptr = bytes, .requested = requested, .usable = usable,
                      .alignment = alignment, .fill = next_fill};
    next_fill = (uint8_t)(next_fill * 5 + 3) | 1;   /* never 0: zeroed memory must not pass */
    memset(bytes, block->fill, usable);
}

static live_t forget(size_t index)
{
    live_t block = live[index];
    live[index] = live[--live_count];
    return block;
}

/* ---- decoding the input ----------------------------------------------------- */

struct input {
    const uint8_t *data;
    size_t size, at;
};

static uint8_t take_byte(struct input *in)
{
    return in->at < in->size ? in->data[in->at++] : 0;
}

/* Mostly small sizes, all classes and their edges, some forwarded ones. */
static size_t take_size(struct input *in)
{
    uint8_t selector = take_byte(in);
    uint8_t low = take_byte(in);
    switch (selector >> 6) {
    case 0:
    case 1:
        return low;                                       /* 0..255 */
    case 2:
        return 256 + low;                                 /* the edge, forwarded */
    default:
        return ((size_t)(selector & 0x3f) << 8 | low) * 4; /* up to 64 KiB */
    }
}

/* A power of two from 1 to 8192, or (top bit set) any small number. */
static size_t take_alignment(struct input *in)
{
    uint8_t b = take_byte(in);
    return b & 0x80 ? (size_t)(b & 0x7f) : (size_t)1 << (b % 14);
}

static int is_power_of_two(size_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

static size_t round_up_power_of_two(size_t x)
{
    size_t p = 1;
    while (p < x)
        p <<= 1;
    return p;
}

/* Frees a block, through the model, with the errno contract checked. */
static void free_checked(size_t index, int sized)
{
    live_t block = forget(index);
    check_block(&block, "before free");
    int saved = errno = 1234;
    if (sized)
        pym_free_sized(block.ptr, block.requested);
    else
        pym_free(block.ptr);
    FUZZ_CHECK(errno == saved, "free changed errno to %d", errno);
}

static size_t take_index(struct input *in)
{
    return take_byte(in) % live_count;
}

enum op {
    OP_MALLOC, OP_CALLOC, OP_REALLOC, OP_MEMALIGN, OP_ALIGNED_ALLOC, OP_POSIX_MEMALIGN,
    OP_FREE, OP_FREE_SIZED, OP_FREE_REMOTE, OP_MALLOC_REMOTE, OP_USABLE, OP_HELPER_RESTART,
    OP_IMPOSSIBLE, OP_REALLOCARRAY, OP_TRIM, OP_COUNT
};

static unsigned costly_ops;   /* in this input */

static void run_one(struct input *in)
{
    enum op op = (enum op)(take_byte(in) % OP_COUNT);
    int needs_block = op == OP_REALLOC || op == OP_FREE || op == OP_FREE_SIZED ||
                      op == OP_FREE_REMOTE || op == OP_USABLE || op == OP_REALLOCARRAY;
    if (needs_block && live_count == 0)
        op = OP_MALLOC;
    if (!needs_block && live_count == MAX_LIVE && op != OP_IMPOSSIBLE && op != OP_TRIM &&
        op != OP_HELPER_RESTART)
        free_checked(take_index(in), 0);

    switch (op) {
    case OP_MALLOC: {
        size_t size = take_size(in);
        adopt(pym_malloc(size), size, 16, 0, "malloc");
        break;
    }
    case OP_CALLOC: {
        size_t count = take_byte(in) % 17;
        size_t size = take_size(in) / 8;
        void *ptr = pym_calloc(count, size);
        adopt(ptr, count * size, 16, 1, "calloc");
        break;
    }
    case OP_REALLOC:
    case OP_REALLOCARRAY: {
        size_t index = take_index(in);
        size_t size = take_size(in);
        live_t old = live[index];
        check_block(&old, "before realloc");
        errno = 0;
        unsigned char *moved = op == OP_REALLOC ? pym_realloc(old.ptr, size)
                                                : pym_reallocarray(old.ptr, 1, size);
        forget(index);
        if (size == 0 && moved == NULL)
            break;   /* freed, as glibc's realloc(p, 0) does */
        FUZZ_CHECK(moved != NULL, "realloc(%p, %zu) failed, errno %d", (void *)old.ptr, size, errno);
        size_t kept = old.requested < size ? old.requested : size;
        for (size_t i = 0; i < kept; i++)
            FUZZ_CHECK(moved[i] == old.fill, "realloc(%p, %zu) = %p lost byte %zu of %zu",
                       (void *)old.ptr, size, (void *)moved, i, kept);
        adopt(moved, size, 16, 0, "realloc");
        break;
    }
    case OP_MEMALIGN: {
        size_t alignment = take_alignment(in);
        size_t size = take_size(in);
        void *ptr = pym_memalign(alignment, size);
        adopt(ptr, size, round_up_power_of_two(alignment), 0, "memalign");
        break;
    }
    case OP_ALIGNED_ALLOC: {
        size_t alignment = take_alignment(in);
        size_t size = take_size(in);
        errno = 0;
        void *ptr = pym_aligned_alloc(alignment, size);
        if (!is_power_of_two(alignment)) {
            FUZZ_CHECK(ptr == NULL && errno == EINVAL, "aligned_alloc(%zu, %zu) = %p, errno %d",
                       alignment, size, ptr, errno);
            break;
        }
        adopt(ptr, size, alignment, 0, "aligned_alloc");
        break;
    }
    case OP_POSIX_MEMALIGN: {
        size_t alignment = take_alignment(in);
        size_t size = take_size(in);
        void *ptr = NULL;
        int saved = errno = 777;
        int rc = pym_posix_memalign(&ptr, alignment, size);
        FUZZ_CHECK(errno == saved, "posix_memalign changed errno to %d", errno);
        if (!is_power_of_two(alignment) || alignment % sizeof(void *) != 0) {
            FUZZ_CHECK(rc == EINVAL && ptr == NULL, "posix_memalign(%zu, %zu) = %d", alignment, size, rc);
            break;
        }
        FUZZ_CHECK(rc == 0, "posix_memalign(%zu, %zu) = %d", alignment, size, rc);
        adopt(ptr, size, alignment, 0, "posix_memalign");
        break;
    }
    case OP_FREE:
        free_checked(take_index(in), 0);
        break;
    case OP_FREE_SIZED:
        free_checked(take_index(in), 1);
        break;
    case OP_FREE_REMOTE: {
        live_t block = forget(take_index(in));
        check_block(&block, "before a remote free");
        helper_send((struct request){.kind = REQ_FREE, .ptr = block.ptr});
        break;
    }
    case OP_MALLOC_REMOTE: {
        size_t size = take_size(in);
        adopt(helper_malloc(size), size, 16, 0, "malloc on the helper thread");
        break;
    }
    case OP_USABLE: {
        live_t *block = &live[take_index(in)];
        check_block(block, "a usable-size query");
        break;
    }
    case OP_HELPER_RESTART:
        if (costly_ops++ < MAX_COSTLY_OPS)
            helper_restart();
        else
            helper_drain();
        break;
    case OP_IMPOSSIBLE: {
        errno = 0;
        void *ptr = pym_malloc(SIZE_MAX - take_byte(in));
        FUZZ_CHECK(ptr == NULL && errno == ENOMEM, "malloc(huge) = %p, errno %d", ptr, errno);
        errno = 0;
        ptr = pym_calloc(SIZE_MAX / 2 + 1, 2 + take_byte(in));
        FUZZ_CHECK(ptr == NULL && errno == ENOMEM, "calloc(overflow) = %p, errno %d", ptr, errno);
        if (live_count > 0) {
            live_t *block = &live[take_index(in)];
            errno = 0;
            ptr = pym_realloc(block->ptr, SIZE_MAX / 2);
            FUZZ_CHECK(ptr == NULL && errno == ENOMEM, "realloc(huge) = %p, errno %d", ptr, errno);
            check_block(block, "a failed realloc");
        }
        break;
    }
    case OP_TRIM:
        helper_drain();
        if (costly_ops++ < MAX_COSTLY_OPS)
            pym_trim();
        break;
    case OP_COUNT:
        break;
    }
}

/* The second target, fuzz_api_debug (FUZZ_PYMALLOC_DEBUG), runs in debug
 * mode: options are read as the library starts, before this is called, so
 * it re-executes itself with PYMALLOC_DEBUG=1 in its environment. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static int started;
    (void)argc;
#ifdef FUZZ_PYMALLOC_DEBUG
    if (pym_option_get(PYM_OPTION_DEBUG) != 1) {
        const char *debug = getenv("PYMALLOC_DEBUG");
        FUZZ_CHECK(debug == NULL || strcmp(debug, "1") != 0, "PYMALLOC_DEBUG=1 did not take effect");
        setenv("PYMALLOC_DEBUG", "1", 1);
        execv("/proc/self/exe", *argv);
        FUZZ_CHECK(0, "cannot re-execute in debug mode");
    }
#else
    (void)argv;
#endif
    if (!started++)
        helper_start();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {.data = data, .size = size};
    costly_ops = 0;
    for (unsigned step = 1; in.at < in.size; step++) {
        run_one(&in);
        if (step % SWEEP_EVERY == 0)
            sweep("a periodic sweep");
    }
    helper_drain();
    sweep("the end of the input");
    while (live_count > 0)
        free_checked(live_count - 1, 0);
    return 0;
}
