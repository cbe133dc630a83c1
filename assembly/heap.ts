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
import { H_FREELISTS, H_HEAP_TOP, H_HEAP_END, KMALLOC_MIN_SHIFT, KMALLOC_MAX_SHIFT, PAGE_SIZE } from './layout';
import { pack, hi32, lo32 } from './barrier';

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

/** Allocate at least `size` bytes. Returns the address, or 0 when out of memory. Not zeroed. */
export function kmalloc(size: u32): usize {
  if (size == 0) size = 1;
  const cls = size_class(size);
  if (cls > KMALLOC_MAX_SHIFT) return 0;
  const head = list_head(cls);
  let h = atomic.load<u64>(head);
  while (lo32(h) != 0) {
    const blk = lo32(h);
    const next = atomic.load<u32>(blk); // may be stale; the aba half makes the cmpxchg fail then
    // Pairs with the cmpxchg in kfree (push) and other pops.
    const seen = atomic.cmpxchg<u64>(head, h, pack(hi32(h) + 1, next));
    if (seen == h) return blk;
    h = seen;
  }
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
  const head = list_head(size_class(size));
  let h = atomic.load<u64>(head);
  while (true) {
    atomic.store<u32>(blk, lo32(h));
    // Release: the link store above is visible before the block is; pairs with kmalloc's pop.
    const seen = atomic.cmpxchg<u64>(head, h, pack(hi32(h) + 1, <u32>blk));
    if (seen == h) return;
    h = seen;
  }
}

/**
 * Page-aligned and never freed (device media). Zero-filled because bump memory
 * has never been handed out before. 0 when out of memory.
 */
export function kmalloc_pages(size: u32): usize {
  return bump((size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1), PAGE_SIZE);
}
