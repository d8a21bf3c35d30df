/*
 * pattern.h -- fill a block with bytes derived from a seed, and check them
 * later.  Tests derive the seed from the block's address and a per-thread or
 * per-test salt, so two live blocks that overlapped, or a block the allocator
 * handed out twice, or bytes it scribbled on (free-list links, headers), show
 * up as a mismatch when the block is checked before it is freed.
 */
#ifndef PYM_TEST_PATTERN_H
#define PYM_TEST_PATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* splitmix64: a cheap, well-mixed step from one 64-bit state to the next. */
static inline uint64_t pattern_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The seed of a block: its address mixed with a caller-chosen salt. */
static inline uint64_t pattern_seed(const void *block, uint64_t salt)
{
    return pattern_mix((uint64_t)(uintptr_t)block ^ pattern_mix(salt));
}

/* Fills size bytes at block with the sequence generated from seed. */
static inline void pattern_fill(void *block, size_t size, uint64_t seed)
{
    unsigned char *bytes = (unsigned char *)block;
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t word = pattern_mix(seed + i);
        memcpy(bytes + i, &word, 8);
    }
    if (i < size) {
        uint64_t word = pattern_mix(seed + i);
        memcpy(bytes + i, &word, size - i);
    }
}

/* Returns 1 when the size bytes at block still hold what pattern_fill wrote
 * with the same seed, else 0. */
static inline int pattern_intact(const void *block, size_t size, uint64_t seed)
{
    const unsigned char *bytes = (const unsigned char *)block;
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t word = pattern_mix(seed + i);
        if (memcmp(bytes + i, &word, 8) != 0)
            return 0;
    }
    if (i < size) {
        uint64_t word = pattern_mix(seed + i);
        if (memcmp(bytes + i, &word, size - i) != 0)
            return 0;
    }
    return 1;
}

/* Returns 1 when the size bytes at block are all zero, else 0. */
static inline int bytes_all_zero(const void *block, size_t size)
{
    const unsigned char *bytes = (const unsigned char *)block;
    for (size_t i = 0; i < size; i++)
        if (bytes[i] != 0)
            return 0;
    return 1;
}

#endif /* PYM_TEST_PATTERN_H */
