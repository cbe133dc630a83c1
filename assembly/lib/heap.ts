/**
 * kmalloc: the kernel heap, shared by every cpu, lock free.
 *
 * Blocks come in power-of-two classes from 2^KMALLOC_MIN_SHIFT to
 * 2^KMALLOC_MAX_SHIFT bytes, naturally aligned (page aligned from PAGE_SIZE
 * up). A freed block goes on its class's Treiber stack; an empty stack falls
 * back to bumping H_HEAP_TOP. Blocks are never split or merged: a context,
 * pipe or bounce buffer of the same size reuses them. The caller passes the
 * size back to kfree (no headers, so page-sized kiocb pages stay one page).
 *
 *   free-list head (u64):  [ aba:32 | first free block address:32 ]
 *   free block:            [ next free block address:32 | ... ]
 *
 * The ABA counter makes a pop whose `next` was read from a block that was
 * popped and pushed again in between fail its cmpxchg.
 */
import {
  H_FREELISTS, H_HEAP_TOP, H_HEAP_END, KMALLOC_MIN_SHIFT, KMALLOC_MAX_SHIFT, PAGE_SIZE, PAGE_SHIFT, H_UFREELISTS, H_ULIVE, H_USTART, H_UPAGES,
  ULIVE_SHIFT, H_UPIN, UPIN_LEAF_SHIFT, UPIN_PER_LEAF, UPIN_CHUNK_SHIFT, UPIN_PENDING, UPIN_CLASS_SHIFT,
  UPIN_COUNT_MASK,
} from '../include/layout';
import { pack, hi32, lo32 } from '../include/barrier';

@inline function size_class(size: u32): u32 {
  if (size <= (1 << KMALLOC_MIN_SHIFT)) return KMALLOC_MIN_SHIFT;
  return 32 - clz<u32>(size - 1);
}

@inline function list_head(cls: u32): usize {
  return H_FREELISTS + ((cls - KMALLOC_MIN_SHIFT) << 3);
}

/** Bump allocation of `size` bytes aligned to `align` (a power of two). 0 if the heap is exhausted. */
function bump(size: u32, align: u32): usize {
  const end = load<u32>(H_HEAP_END);
  let top = atomic.load<u32>(H_HEAP_TOP);
  while (true) {
    const start = (top + align - 1) & ~(align - 1);
    if (start < top || <u64>start + <u64>size > <u64>end) return 0;
    // Pairs with the same cmpxchg in other allocators: each byte is handed out once.
    const seen = atomic.cmpxchg<u32>(H_HEAP_TOP, top, start + size);
    if (seen == top) return start;
    top = seen;
  }
}

/** Pop a block from the Treiber stack at `head` ({aba:32 | ptr:32}); 0 if it is empty. */
function stack_pop(head: usize): usize {
  let h = atomic.load<u64>(head);
  while (lo32(h) != 0) {
    const blk = lo32(h);
    const next = atomic.load<u32>(blk); // may be stale; the aba half makes the cmpxchg fail then
    // Pairs with stack_push's cmpxchg and other pops.
    const seen = atomic.cmpxchg<u64>(head, h, pack(hi32(h) + 1, next));
    if (seen == h) return blk;
    h = seen;
  }
  return 0;
}

/** Push a block onto the Treiber stack at `head`. */
function stack_push(head: usize, blk: usize): void {
  let h = atomic.load<u64>(head);
  while (true) {
    atomic.store<u32>(blk, lo32(h));
    // Release: the link store above is visible before the block is; pairs with stack_pop.
    const seen = atomic.cmpxchg<u64>(head, h, pack(hi32(h) + 1, <u32>blk));
    if (seen == h) return;
    h = seen;
  }
}

/** Allocate at least `size` bytes. Returns the address, or 0 when out of memory. Not zeroed. */
export function kmalloc(size: u32): usize {
  if (size == 0) size = 1;
  const cls = size_class(size);
  if (cls > KMALLOC_MAX_SHIFT) return 0;
  const blk = stack_pop(list_head(cls));
  if (blk != 0) return blk;
  const bsize: u32 = 1 << cls;
  return bump(bsize, bsize < PAGE_SIZE ? bsize : PAGE_SIZE);
}

/** kmalloc, zeroed. */
export function kzalloc(size: u32): usize {
  const p = kmalloc(size);
  if (p != 0) memory.fill(p, 0, size);
  return p;
}

/** Return a block from kmalloc(size) (same size). */
export function kfree(blk: usize, size: u32): void {
  if (blk == 0) return;
  if (size == 0) size = 1;
  stack_push(list_head(size_class(size)), blk);
}

/**
 * Page-aligned and never freed (device media). Zero-filled because bump memory
 * has never been handed out before. 0 when out of memory.
 */
export function kmalloc_pages(size: u32): usize {
  return bump((size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1), PAGE_SIZE);
}

// --- user memory (k.buffer()) ---------------------------------------------------
//
// User blocks come from free lists of their own (H_UFREELISTS) and from pages
// bumped for them alone: a block below a page is carved from a page that holds
// only user blocks of its class. So a user block, live or freed, never shares
// memory with a kernel structure, and a view the user keeps over a freed block
// can only ever reach another user block.
//
// Two bitmaps over all of memory, one bit per 64-byte granule, say which
// granules are inside a live user block (ULIVE) and where a block starts
// (USTART). kmalloc_user sets them, kfree_user clears them (atomic or/and on
// words that neighbouring small blocks share); user_range_ok reads them.

@inline function ulist_head(cls: u32): usize {
  return H_UFREELISTS + ((cls - KMALLOC_MIN_SHIFT) << 3);
}

/** Set (on) or clear granule bits [g, g + n) of the bitmap at `map`. */
function bits_update(map: usize, g: u32, n: u32, on: bool): void {
  let i = g;
  const end = g + n;
  while (i < end) {
    const w = map + (<usize>(i >> 5) << 2);
    const lo = i & 31;
    const k = end - i < 32 - lo ? end - i : 32 - lo;
    const mask: u32 = (k == 32 ? 0xffffffff : ((<u32>1 << k) - 1)) << lo;
    // Words are shared by neighbouring small blocks: atomic or/and, pairs with user_range_ok's loads.
    if (on) atomic.or<u32>(w, mask);
    else atomic.and<u32>(w, ~mask);
    i += k;
  }
}

/** A user block of at least `size` bytes (k.buffer()). 0 when out of memory. Not zeroed. */
export function kmalloc_user(size: u32): usize {
  if (size == 0) size = 1;
  const cls = size_class(size);
  if (cls > KMALLOC_MAX_SHIFT) return 0;
  const bsize: u32 = 1 << cls;
  let blk = stack_pop(ulist_head(cls));
  if (blk == 0) {
    const upages = <usize>load<u32>(H_UPAGES);
    if (bsize >= PAGE_SIZE) {
      blk = bump(bsize, PAGE_SIZE);
      // Pairs with user_block_of's load, after its loads of the live bits set below.
      if (blk != 0) for (let o: u32 = 0; o < bsize; o += PAGE_SIZE) atomic.store<u32>(upages + (((blk + o) >> PAGE_SHIFT) << 2), <u32>(blk >> ULIVE_SHIFT) << 1);
    } else {
      // A fresh page for this class alone: keep its first block, free the rest.
      blk = bump(PAGE_SIZE, PAGE_SIZE);
      if (blk != 0) {
        atomic.store<u32>(upages + ((blk >> PAGE_SHIFT) << 2), (cls << 1) | 1); // pairs as above
        for (let o: u32 = bsize; o < PAGE_SIZE; o += bsize) stack_push(ulist_head(cls), blk + o);
      }
    }
    if (blk == 0) return 0;
  }
  const g = <u32>(blk >> ULIVE_SHIFT);
  bits_update(<usize>load<u32>(H_USTART), g, 1, true);
  bits_update(<usize>load<u32>(H_ULIVE), g, bsize >> ULIVE_SHIFT, true);
  return blk;
}

/**
 * Free a block from kmalloc_user(size). If binary requests in flight pin it
 * (user_pin), it stops being live now (no new request can name it) and goes
 * back to its free list when the last pin is dropped, never before: a view
 * over a freed block cannot meet memory a device is still filling.
 */
export function kfree_user(blk: usize, size: u32): void {
  if (blk == 0) return;
  if (size == 0) size = 1;
  const cls = size_class(size);
  const g = <u32>(blk >> ULIVE_SHIFT);
  bits_update(<usize>load<u32>(H_ULIVE), g, (<u32>1 << cls) >> ULIVE_SHIFT, false);
  // After the live bits are clear (pairs with user_pin's add before its
  // re-check of them): either a pinner sees the block dead and backs off, or
  // the or below sees its pin and leaves the free to the last unpin.
  const w = upin_word(g, false);
  if (w != 0) {
    const v = UPIN_PENDING | ((cls - KMALLOC_MIN_SHIFT) << UPIN_CLASS_SHIFT);
    const old = atomic.or<u32>(w, v);
    if ((old & UPIN_COUNT_MASK) == 0) upin_settle(w, g, v);
    return;
  }
  ufree_now(blk, cls);
}

/** The free proper: the block's start bit, then its free list. */
function ufree_now(blk: usize, cls: u32): void {
  bits_update(<usize>load<u32>(H_USTART), <u32>(blk >> ULIVE_SHIFT), 1, false);
  stack_push(ulist_head(cls), blk);
}

// --- pins (binary requests' buffers) ------------------------------------------------

/**
 * The pin word of granule g (see UPIN_* in layout.ts). With `alloc`, its leaf
 * page is created on first use; 0 if there is none (or no memory for it).
 */
function upin_word(g: u32, alloc: bool): usize {
  const de = <usize>load<u32>(H_UPIN) + (<usize>(g >> UPIN_LEAF_SHIFT) << 2);
  // Pairs with the cmpxchg below that publishes a zeroed leaf.
  let leaf = <usize>atomic.load<u32>(de);
  if (leaf == 0) {
    if (!alloc) return 0;
    const p = kzalloc(PAGE_SIZE);
    if (p == 0) return 0;
    const seen = <usize>atomic.cmpxchg<u32>(de, 0, <u32>p);
    if (seen != 0) {
      kfree(p, PAGE_SIZE);
      leaf = seen;
    } else {
      leaf = p;
    }
  }
  return leaf + (<usize>(g & (UPIN_PER_LEAF - 1)) << 2);
}

/** v = {pending, class, 0 pins}: whoever swaps it to 0 frees the block (exactly one does). */
function upin_settle(w: usize, g: u32, v: u32): void {
  // Pairs with the add/sub/or of pinners and the freer on the same word.
  if (atomic.cmpxchg<u32>(w, v, 0) == v) ufree_now(<usize>g << ULIVE_SHIFT, ((v >> UPIN_CLASS_SHIFT) & 31) + KMALLOC_MIN_SHIFT);
}

@inline function bits(lo: u32, hi: u32): u32 { // bits lo..hi of a word, inclusive
  return (hi == 31 ? 0xffffffff : ((<u32>1 << (hi + 1)) - 1)) & ~((<u32>1 << lo) - 1);
}

/**
 * The first granule of the live user block holding [addr, addr + len)
 * (len > 0), or 0xffffffff if no one live block holds it. O(1) but for
 * user_range_ok's O(len / 2 KiB): the range's granules are live and no block
 * starts inside it after its first granule, so they lie in the live block
 * that holds the first one; which block that is, the user pages' table says
 * (H_UPAGES): a page's blocks never move.
 */
export function user_block_of(addr: usize, len: u32): u32 {
  if (len == 0 || !user_range_ok(addr, len)) return 0xffffffff;
  // After user_range_ok's loads of the live bits: pairs with kmalloc_user's
  // store of the entry, made before the page's first live bit was set.
  const e = atomic.load<u32>(<usize>load<u32>(H_UPAGES) + ((addr >> PAGE_SHIFT) << 2));
  if (e == 0) return 0xffffffff; // not a user page (cannot be: its granules are live)
  if ((e & 1) == 0) return e >> 1;
  return <u32>((addr & ~((<usize>1 << ((e >> 1) & 31)) - 1)) >> ULIVE_SHIFT);
}

/**
 * Pin the live user block holding [addr, addr + len) (len > 0) for a request
 * in flight. Returns its first granule, or -EFAULT (no live block holds it) or
 * -ENOMEM (no memory for the pin table).
 */
export function user_pin(addr: usize, len: u32): i64 {
  const s = user_block_of(addr, len);
  if (s == 0xffffffff) return -14; // EFAULT
  const w = upin_word(s, true);
  if (w == 0) return -12; // ENOMEM
  atomic.add<u32>(w, 1);
  // Still the same live block (it may have been freed, or freed and reused,
  // since the scan)? Pairs with kfree_user's clearing of the live bits before its or.
  if (user_block_of(addr, len) != s) {
    upin_put(w, s);
    return -14;
  }
  return <i64>s;
}

function upin_put(w: usize, g: u32): void {
  const old = atomic.sub<u32>(w, 1); // pairs with kfree_user's or: one of us sees the other
  if ((old & UPIN_PENDING) != 0 && (old & UPIN_COUNT_MASK) == 1) upin_settle(w, g, old - 1);
}

/** Drop a pin user_pin took on the block starting at granule g; frees the block if its free was deferred. */
export function user_unpin(g: u32): void {
  const w = upin_word(g, false);
  if (w != 0) upin_put(w, g);
}

/**
 * Whether [addr, addr + len) lies inside one live user block: every granule is
 * live and no block starts after the first granule. len 0 is fine anywhere in
 * memory. This is how io_submit refuses views over kernel memory (-EFAULT).
 */
export function user_range_ok(addr: usize, len: u32): bool {
  const end = <u64>addr + <u64>len;
  if (end > <u64>load<u32>(H_HEAP_END)) return false;
  if (len == 0) return true;
  const live = <usize>load<u32>(H_ULIVE);
  const start = <usize>load<u32>(H_USTART);
  const g0 = <u32>(addr >> ULIVE_SHIFT);
  const g1 = <u32>((end - 1) >> ULIVE_SHIFT);
  // A bitmap word (32 granules, 2 KiB) at a time: every granule of the range
  // live, no start bit on granules g0+1 .. g1.
  const w0 = g0 >> 5;
  const w1 = g1 >> 5;
  for (let w = w0; w <= w1; w++) {
    const lo: u32 = w == w0 ? g0 & 31 : 0;
    const hi: u32 = w == w1 ? g1 & 31 : 31;
    const need = bits(lo, hi);
    // Pairs with bits_update's atomic or/and.
    if ((atomic.load<u32>(live + (<usize>w << 2)) & need) != need) return false;
    const after = w == w0 ? (lo == hi ? 0 : bits(lo + 1, hi)) : need;
    if (after != 0 && (atomic.load<u32>(start + (<usize>w << 2)) & after) != 0) return false;
  }
  return true;
}

/**
 * Boot: carve the user bitmaps from the heap (bump memory is zero). false when
 * memory is too small.
 */
export function user_heap_init(mem_bytes: u32): bool {
  const bytes = <u32>(((<u64>mem_bytes >> ULIVE_SHIFT) + 7) >> 3);
  const live = kmalloc_pages(bytes);
  const start = kmalloc_pages(bytes);
  const upages = kmalloc_pages(<u32>(((<u64>mem_bytes >> PAGE_SHIFT) + 1) << 2));
  if (upages == 0) return false;
  store<u32>(H_UPAGES, <u32>upages);
  const pins = kmalloc_pages(<u32>(((<u64>mem_bytes >> UPIN_CHUNK_SHIFT) + 1) << 2));
  if (live == 0 || start == 0 || pins == 0) return false;
  store<u32>(H_UPIN, <u32>pins);
  store<u32>(H_ULIVE, <u32>live);
  store<u32>(H_USTART, <u32>start);
  return true;
}
