/*
 * freelist.h -- the links between free blocks, protected against overwrite.
 *
 * A free block's first word is the address of the next free block XORed
 * with a per-process secret (from the kernel's AT_RANDOM bytes), as
 * mimalloc's secure mode and musl's mallocng do.  A program that writes
 * into a freed block (use after free) or past the end of the block before
 * it turns that word into garbage; decoded, it points outside the block's
 * pool, which the malloc fast path checks before following it, so the
 * corruption is reported (one line, abort) instead of handing out memory
 * the attacker chose.  Cost: one XOR on each push and pop, and the
 * same-pool check on pop -- 6 instructions per malloc+free pair.
 * configure --disable-hardening stores links in the clear.
 */
#ifndef PYM_FREELIST_H
#define PYM_FREELIST_H

#include "types.h"

#ifndef PYM_HARDENING
#define PYM_HARDENING 1
#endif
static const int pym_hardening = PYM_HARDENING;

/* Written once during initialisation, before the first block exists. */
PYM_HIDDEN extern uintptr_t pymi_freelist_key;

PYM_INLINE pym_block_t *pymi_block_next(const pym_block_t *block)
{
    return (pym_block_t *)(block->encoded_next ^ (pym_hardening ? pymi_freelist_key : 0));
}

PYM_INLINE void pymi_block_set_next(pym_block_t *block, const pym_block_t *next)
{
    block->encoded_next = (uintptr_t)next ^ (pym_hardening ? pymi_freelist_key : 0);
}

/* A non-NULL link stays inside the pool of the block that holds it. */
PYM_INLINE int pymi_block_link_is_sane(const pym_block_t *block, const pym_block_t *next)
{
    return !pym_hardening || (((uintptr_t)block ^ (uintptr_t)next) >> PYM_POOL_SHIFT) == 0;
}

PYM_HIDDEN PYM_NORETURN PYM_COLD void pymi_freelist_corrupt(const void *block);

#endif /* PYM_FREELIST_H */
