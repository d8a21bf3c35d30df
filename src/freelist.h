/*
 * freelist.h -- the links between free blocks, protected against overwrite,
 * and the mark that catches a double free.
 *
 * A free block's first word is the address of the next free block, encoded
 * with two per-process secrets (from getrandom, init.c) and the block's own
 * address, as glibc's safe-linking and mimalloc's secure mode do:
 *
 *     word0 = (rotl(next ^ block, 17) ^ key0) + key1
 *
 * One leaked word does not give the keys away (two unknowns, and the add
 * carries across bits), and the same link stored in two blocks reads
 * differently.  A program that writes into a freed block (use after free) or
 * past the end of the block before it turns the word into garbage; decoded,
 * it points outside the block's pool, which malloc checks before following
 * it, so the corruption is reported (one line, abort) instead of handing out
 * memory the attacker chose.  Blocks handed out by malloc have their link
 * word cleared, so no key material ever reaches the program.
 *
 * Double frees are caught without reading the freed block (a load there is
 * a cache miss in a program that frees what it has not touched lately,
 * and free would wait for it; stores do not wait):
 *   - free(a); free(a): a is the head of its list (free compares with the
 *     head it links to anyway; remote.c does the same);
 *   - free(a); ...; free(a): a sits on a list twice.  When malloc reaches
 *     the second copy, the first has been handed out and its link word
 *     cleared (or overwritten by the program), which decodes to garbage
 *     (init.c makes sure a cleared word does): one line and abort before
 *     the block goes out twice;
 *   - a double free also makes the pool look empty while a block is still
 *     live.  Each pool keeps the XOR of the addresses (low 16 bits) of the
 *     blocks it handed out and, apart, of the blocks that came back
 *     (pool->out_xor, back_xor); a pool whose count says empty while the
 *     two differ is not returned to its arena but reported (pool.c).
 *
 * configure --disable-hardening stores links in the clear and skips the
 * same-pool check (and so the second case).
 */
#ifndef PYM_FREELIST_H
#define PYM_FREELIST_H

#include "types.h"

#ifndef PYM_HARDENING
#define PYM_HARDENING 1
#endif
static const int pym_hardening = PYM_HARDENING;

PYM_INLINE uintptr_t pymi_rotl17(uintptr_t x)
{
    return (x << 17) | (x >> 47);
}

PYM_INLINE uintptr_t pymi_rotr17(uintptr_t x)
{
    return (x >> 17) | (x << 47);
}

/* The decoded link XOR the block's own address: below PYM_POOL_SIZE for
 * a link that stays in the block's pool (pymi_link_delta_is_sane, below),
 * so malloc can check it before it turns it into the link in place. */
PYM_INLINE uintptr_t pymi_block_link_delta(const pym_block_t *block)
{
    if (!pym_hardening)
        return block->encoded_next ^ (uintptr_t)block;
    return pymi_rotr17((block->encoded_next - pymi_const.key1) ^ pymi_const.key0);
}

PYM_INLINE pym_block_t *pymi_block_next(const pym_block_t *block)
{
    if (!pym_hardening)
        return (pym_block_t *)block->encoded_next;
    return (pym_block_t *)(pymi_block_link_delta(block) ^ (uintptr_t)block);
}

/* The encoded link from block to next, with the keys given (a loop that
 * stores many links keeps them in registers). */
PYM_INLINE uintptr_t pymi_encode_link(const pym_block_t *block, const pym_block_t *next, uintptr_t key0,
                                      uintptr_t key1)
{
    if (!pym_hardening)
        return (uintptr_t)next;
    return (pymi_rotl17((uintptr_t)next ^ (uintptr_t)block) ^ key0) + key1;
}

PYM_INLINE void pymi_block_set_next(pym_block_t *block, const pym_block_t *next)
{
    block->encoded_next = pymi_encode_link(block, next, pymi_const.key0, pymi_const.key1);
}

/* The end of a pool's free list: an address in the pool's page that no
 * block has (blocks are 16-byte aligned), not NULL, so that the pop's
 * check that a link stays in the pool holds for the last block as well
 * (a list that ended in NULL sent every pop of a one-block list, a
 * malloc/free pair's, out of line), and malloc finds it with one bit test.
 * A remote list still ends in NULL (remote.c), which the pop turns into
 * the end mark.  pymi_exhausted_pool's list is the bare mark. */
#define PYM_LIST_END_BIT ((uintptr_t)8)
PYM_INLINE pym_block_t *pymi_list_end(const void *in_page)
{
    return (pym_block_t *)(((uintptr_t)in_page & ~(uintptr_t)PYM_POOL_MASK) | PYM_LIST_END_BIT);
}
PYM_INLINE int pymi_is_list_end(const pym_block_t *block)
{
    return ((uintptr_t)block & PYM_LIST_END_BIT) != 0;
}

/* A link stays inside the pool of the block that holds it (the list's end
 * mark does; NULL does not): its delta (the link XOR the block,
 * pymi_block_link_delta) is below the pool's size.  A compare, where a
 * shift would need a copy. */
PYM_INLINE int pymi_link_delta_is_sane(uintptr_t delta)
{
    return delta < PYM_POOL_SIZE;
}

/* The same, from the link.  Without hardening: the link is not NULL. */
PYM_INLINE int pymi_block_link_is_sane(const pym_block_t *block, const pym_block_t *next)
{
    if (!pym_hardening)
        return next != NULL;
    return pymi_link_delta_is_sane((uintptr_t)block ^ (uintptr_t)next);
}

PYM_HIDDEN PYM_NORETURN PYM_COLD void pymi_freelist_corrupt(const void *block);

#endif /* PYM_FREELIST_H */
