/**
 * Contexts: io_setup, the kernel half of io_destroy, enumeration (S1, S11).
 *
 * io_destroy is split so that every wait happens on the host (no waiting in
 * WASM): ctx_kill (LIVE -> DYING, quota back, reapers woken) -> host waits for
 * users == 0 -> ctx_cancel_all (ask every live request to cancel, found by
 * iterating the ids, or by walking the list in the list baseline) -> host waits
 * for inflight == 0 -> ctx_free.
 *
 * One kzalloc holds a context's ring, ready marks, slot bounces, tag links and
 * per-cpu caches:
 *
 *   mem: [ aio_ring (32 + 32 x ring_nr) | ready u32 x ring_nr | side SIDE_SIZE x ring_nr
 *        | tags_next u32 x nr | pcpu: ncpus x stride ]        (each part 64-aligned)
 */
import {
  AIO_NR_LIMIT, H_POSSIBLE_CPUS, PAGE_SIZE, PAGE_SHIFT, CX_QUOTA, H_AIO_MAX_NR, H_AIO_NR, H_ST_DISCARDED, H_CTX_ROVER, H_NCPUS, H_ID_LOCK, H_ID_HINT, MAX_CTX,
  CX_STATE_GEN, CX_USERS, CX_NR, CX_RING_NR, CX_MEM, CX_MEM_SIZE, CX_RING, CX_READY, CX_BOUNCE,
  CX_TAGS_NEXT, CX_PCPU, CX_PCPU_STRIDE, CX_BATCH, CX_CACHE_SIZE, CX_CTX_LOCK,
  CX_LIST_HEAD, CX_LIST_TAIL, CX_ID_BASE, CX_WAKE, CX_DYING_WAKE, CTX_FREE, CTX_SETUP, CTX_LIVE,
  CTX_DYING, RING_HDR_SIZE, IO_EVENT_SIZE, PC_SLOTS, KIOCBS_PER_PAGE, KIOCBS_PER_PAGE_SHIFT,
  ID_PAGES, IDMAP_OFF, KI_DATA, KI_LIST_NEXT, KIOCB_FREE, KEY_ID_BITS, SIDE_SIZE, PC_INFLIGHT,
} from '../include/layout';
import { EINVAL, EAGAIN, ENOMEM } from '../include/errno';
import { pack, hi32, lo32, spin_lock, spin_unlock } from '../include/barrier';
import { kzalloc, kfree } from '../lib/heap';
import { tags_init, pcpu_of } from '../lib/tags';
import { ring_init, ring_free_bounces, ring_pending } from './ring';
import { ctx_addr, ctx_get, ctx_put, ctx_users_all } from './ctxtab';
import { kiocb_lookup, kiocb_cancel, lookup_is_list, ki_cw, cw_lookup } from './kiocb';

@inline function align64(x: u32): u32 {
  return (x + 63) & ~63;
}

// --- global kiocb id ranges (first fit over a bitmap of id pages) -----------

@inline function idbit(i: u32): bool {
  return ((load<u32>(IDMAP_OFF + (<usize>(i >> 5) << 2)) >> (i & 31)) & 1) != 0;
}

function idbits_set(first: u32, k: u32, on: bool): void {
  for (let i = first; i < first + k; i++) {
    const w = IDMAP_OFF + (<usize>(i >> 5) << 2);
    const bit: u32 = 1 << (i & 31);
    store<u32>(w, on ? load<u32>(w) | bit : load<u32>(w) & ~bit);
  }
}

/** Reserve k consecutive id pages. First page, or -1. */
function idrange_alloc(k: u32): i32 {
  spin_lock(H_ID_LOCK);
  const hint = load<u32>(H_ID_HINT);
  let run: u32 = 0;
  let start: u32 = 0;
  let i = hint;
  let found: i32 = -1;
  while (i < ID_PAGES) {
    if ((i & 31) == 0 && i + 32 <= ID_PAGES) {
      const w = load<u32>(IDMAP_OFF + (<usize>(i >> 5) << 2));
      if (w == 0xffffffff) { run = 0; i += 32; continue; }
      if (w == 0) {
        if (run == 0) start = i;
        run += 32;
        i += 32;
        if (run >= k) { found = <i32>start; break; }
        continue;
      }
    }
    if (idbit(i)) {
      run = 0;
    } else {
      if (run == 0) start = i;
      run++;
      if (run >= k) { found = <i32>start; break; }
    }
    i++;
  }
  if (found >= 0) {
    idbits_set(<u32>found, k, true);
    if (<u32>found == hint) store<u32>(H_ID_HINT, <u32>found + k);
  }
  spin_unlock(H_ID_LOCK);
  return found;
}

function idrange_free(first: u32, k: u32): void {
  spin_lock(H_ID_LOCK);
  idbits_set(first, k, false);
  if (first < load<u32>(H_ID_HINT)) store<u32>(H_ID_HINT, first);
  spin_unlock(H_ID_LOCK);
}

// --- io_setup ------------------------------------------------------------------

function quota_put(nr: u32): void {
  atomic.sub<u32>(H_AIO_NR, nr);
}

/**
 * The ring Linux 6.18 gives io_setup(nr) (fs/aio.c, ioctx_alloc and
 * aio_setup_ring): nr_events = 2 x max(nr, 4 x possible cpus), in u32
 * arithmetic; 0 when that is over the limit (-EINVAL); else the events that
 * fit the pages of a header plus nr_events + 2 io_events.
 */
function linux_ring(nr: u32): u32 {
  const possible = load<u32>(H_POSSIBLE_CPUS);
  const floor: u32 = possible * 4;
  const n: u32 = (nr > floor ? nr : floor) * 2; // wraps, as in the kernel
  if (n > AIO_NR_LIMIT) return 0;
  const bytes = <u64>RING_HDR_SIZE + <u64>IO_EVENT_SIZE * (<u64>n + 2);
  const pages = (bytes + PAGE_SIZE - 1) >> PAGE_SHIFT;
  return <u32>((pages * PAGE_SIZE - RING_HDR_SIZE) / IO_EVENT_SIZE);
}

/**
 * How many requests a context with that ring accepts in flight or unreaped,
 * as Linux does from one cpu: ring - 1 slots handed out in batches of
 * req_batch = (ring - 1) / (4 x possible cpus), whole batches only.
 */
function linux_capacity(ring: u32): u32 {
  const avail = ring - 1;
  let batch = avail / (load<u32>(H_POSSIBLE_CPUS) * 4);
  if (batch < 1) batch = 1;
  return (avail / batch) * batch;
}

/**
 * io_setup(nr): the context's table slot, or -errno, in ioctx_alloc's order:
 * nr 0 or a doubled size over 0x10000000 / 32 -> -EINVAL; a doubled size that
 * wrapped to 0, or nr over aio_max_nr -> -EAGAIN; then the quota (aio_nr + nr).
 * The host turns (slot, generation) into the context id. The quota counts nr;
 * the context accepts as many requests as Linux's ring would (linux_capacity).
 */
export function io_setup(nr: u32): i32 {
  if (nr == 0) return -EINVAL;
  const possible = load<u32>(H_POSSIBLE_CPUS);
  const doubled: u32 = (nr > possible * 4 ? nr : possible * 4) * 2;
  if (doubled > AIO_NR_LIMIT) return -EINVAL;
  const max = load<u32>(H_AIO_MAX_NR);
  if (doubled == 0 || nr > max) return -EAGAIN;
  const ring_nr = linux_ring(nr);
  const cap = linux_capacity(ring_nr);
  let cur = atomic.load<u32>(H_AIO_NR);
  while (true) {
    if (<u64>cur + <u64>nr > <u64>max) return -EAGAIN;
    // Pairs with concurrent io_setup/io_destroy on the quota.
    const seen = atomic.cmpxchg<u32>(H_AIO_NR, cur, cur + nr);
    if (seen == cur) break;
    cur = seen;
  }

  // A free table slot, next-fit from the rover so ids are not reused at once.
  const rover = atomic.load<u32>(H_CTX_ROVER);
  let slot: u32 = MAX_CTX;
  let gen: u32 = 0;
  for (let k: u32 = 0; k < MAX_CTX; k++) {
    const s = (rover + k) & (MAX_CTX - 1);
    const c = ctx_addr(s);
    const sg = atomic.load<u64>(c + CX_STATE_GEN);
    if (lo32(sg) != CTX_FREE) continue;
    const ng = hi32(sg) + 1 == 0 ? 1 : hi32(sg) + 1;
    if (atomic.cmpxchg<u64>(c + CX_STATE_GEN, sg, pack(ng, CTX_SETUP)) == sg) {
      slot = s;
      gen = ng;
      break;
    }
  }
  if (slot == MAX_CTX) {
    quota_put(nr);
    return -EAGAIN;
  }
  atomic.store<u32>(H_CTX_ROVER, (slot + 1) & (MAX_CTX - 1));
  const ctx = ctx_addr(slot);

  const quota = nr;
  nr = cap; // from here on, nr is the capacity: ids, tags and ring slots
  const npages = (nr + KIOCBS_PER_PAGE - 1) >> KIOCBS_PER_PAGE_SHIFT;
  const first = npages <= ID_PAGES ? idrange_alloc(npages) : -1;
  if (first < 0) {
    atomic.store<u64>(ctx + CX_STATE_GEN, pack(gen, CTX_FREE));
    quota_put(quota);
    return -EAGAIN;
  }

  const ncpus = load<u32>(H_NCPUS);
  let batch = nr / (ncpus * 4);
  if (batch < 1) batch = 1;
  if (batch > 32) batch = 32;
  const cache = batch * 2;
  const stride = nr >= 256 ? align64(PC_SLOTS + cache * 4) : (PC_SLOTS + cache * 4 + 7) & ~7;
  const ring_sz = align64(RING_HDR_SIZE + ring_nr * IO_EVENT_SIZE);
  const ready_sz = align64(ring_nr * 4);
  const bounce_sz = align64(ring_nr * SIDE_SIZE);
  const next_sz = align64(nr * 4);
  const pcpu_sz = align64(ncpus * stride);
  const size = ring_sz + ready_sz + bounce_sz + next_sz + pcpu_sz;
  const mem = kzalloc(size);
  if (mem == 0) {
    idrange_free(<u32>first, npages);
    atomic.store<u64>(ctx + CX_STATE_GEN, pack(gen, CTX_FREE));
    quota_put(quota);
    return -ENOMEM;
  }
  store<u32>(ctx, nr, CX_NR);
  store<u32>(ctx, quota, CX_QUOTA);
  store<u32>(ctx, ring_nr, CX_RING_NR);
  store<u32>(ctx, <u32>mem, CX_MEM);
  store<u32>(ctx, size, CX_MEM_SIZE);
  store<u32>(ctx, <u32>mem, CX_RING);
  store<u32>(ctx, <u32>mem + ring_sz, CX_READY);
  store<u32>(ctx, <u32>mem + ring_sz + ready_sz, CX_BOUNCE);
  store<u32>(ctx, <u32>mem + ring_sz + ready_sz + bounce_sz, CX_TAGS_NEXT);
  store<u32>(ctx, <u32>mem + ring_sz + ready_sz + bounce_sz + next_sz, CX_PCPU);
  store<u32>(ctx, stride, CX_PCPU_STRIDE);
  store<u32>(ctx, batch, CX_BATCH);
  store<u32>(ctx, cache, CX_CACHE_SIZE);
  store<u32>(ctx, 0, CX_CTX_LOCK);
  store<u32>(ctx, 0, CX_LIST_HEAD);
  store<u32>(ctx, 0, CX_LIST_TAIL);
  store<u32>(ctx, <u32>first << KIOCBS_PER_PAGE_SHIFT, CX_ID_BASE);
  // CX_USERS and CX_WAITERS are not reset: they are always balanced, and a
  // stale ctx_get or reaper of the slot's previous life may still be undoing theirs.
  tags_init(ctx, ncpus);
  ring_init(ctx, slot);
  // Release: everything above before the context can be found; pairs with ctx_get's loads.
  atomic.store<u64>(ctx + CX_STATE_GEN, pack(gen, CTX_LIVE));
  return <i32>slot;
}

/** Generation of a table slot (for the host to form the context id). */
export function ctx_gen(slot: u32): u32 {
  return slot < MAX_CTX ? hi32(atomic.load<u64>(ctx_addr(slot) + CX_STATE_GEN)) : 0;
}

// --- io_destroy, in steps -------------------------------------------------------

/** LIVE -> DYING. Quota goes back at once (as kill_ioctx does). 0, or -EINVAL. */
export function ctx_kill(slot: u32, gen: u32): i32 {
  if (slot >= MAX_CTX) return -EINVAL;
  const ctx = ctx_addr(slot);
  const live = pack(gen, CTX_LIVE);
  // Pairs with ctx_get's re-check: a syscall either sees DYING or is counted in users.
  if (atomic.cmpxchg<u64>(ctx + CX_STATE_GEN, live, pack(gen, CTX_DYING)) != live) return -EINVAL;
  quota_put(load<u32>(ctx, CX_QUOTA));
  // Wake every reaper; they find the context dead and return.
  atomic.add<u32>(ctx + CX_WAKE, 1);
  atomic.notify(ctx + CX_WAKE, -1);
  return 0;
}

/** Syscalls still inside a dying context (host waits for 0 on CX_DYING_WAKE). */
export function ctx_users(slot: u32): u32 {
  return slot < MAX_CTX ? ctx_users_all(slot) : 0;
}

/**
 * Requests submitted and not yet completed: the sum of the per-cpu counts
 * (PC_INFLIGHT). Once no request can be submitted (a dying context with no
 * users), a sum of 0 means none is in flight: each completion's decrement
 * follows its submission's increment, whatever order we read the cpus in.
 */
export function ctx_inflight(slot: u32): u32 {
  if (slot >= MAX_CTX) return 0;
  const ctx = ctx_addr(slot);
  if (lo32(atomic.load<u64>(ctx + CX_STATE_GEN)) == CTX_FREE) return 0;
  const ncpus = load<u32>(H_NCPUS);
  let n: i32 = 0;
  for (let c: u32 = 0; c < ncpus; c++) n += atomic.load<i32>(pcpu_of(ctx, c) + PC_INFLIGHT);
  return <u32>n;
}

/** Ask every live request of a dying context to cancel. Returns how many were live. */
export function ctx_cancel_all(slot: u32): u32 {
  if (slot >= MAX_CTX) return 0;
  const ctx = ctx_addr(slot);
  if (lo32(atomic.load<u64>(ctx + CX_STATE_GEN)) != CTX_DYING) return 0;
  const base = load<u32>(ctx, CX_ID_BASE);
  const nr = load<u32>(ctx, CX_NR);
  let n: u32 = 0;
  if (lookup_is_list()) {
    // Pre-patch design: walk active_reqs under ctx_lock, cancelling each.
    spin_lock(ctx + CX_CTX_LOCK);
    let req = <usize>load<u32>(ctx, CX_LIST_HEAD);
    while (req != 0) {
      const next = <usize>load<u32>(req, KI_LIST_NEXT);
      const cw = ki_cw(req);
      // On the list means live (completion unlinks under ctx_lock, which we hold);
      // the load pairs with kiocb_publish's store of the generation.
      kiocb_cancel(req, cw, hi32(atomic.load<u64>(cw)));
      n++;
      req = next;
    }
    spin_unlock(ctx + CX_CTX_LOCK);
    return n;
  }
  // S11: found by iterating the ids.
  for (let i: u32 = 0; i < nr; i++) {
    const req = kiocb_lookup(ctx, base + i);
    if (req == 0) continue;
    const cw = cw_lookup(base + i); // the dense words: a free id costs no kiocb read
    // Pairs with kiocb_publish's and aio_complete's stores; a request that
    // completes after this load makes kiocb_cancel's cmpxchg fail (-EINVAL).
    const w = atomic.load<u64>(cw);
    if (lo32(w) == KIOCB_FREE) continue;
    kiocb_cancel(req, cw, hi32(w));
    n++;
  }
  return n;
}

/** Free a dying context whose requests have all completed. */
export function ctx_free(slot: u32): void {
  if (slot >= MAX_CTX) return;
  const ctx = ctx_addr(slot);
  const sg = atomic.load<u64>(ctx + CX_STATE_GEN);
  if (lo32(sg) != CTX_DYING) return;
  atomic.add<u64>(H_ST_DISCARDED, <u64>ring_pending(ctx)); // their events die with the ring
  ring_free_bounces(ctx);
  kfree(<usize>load<u32>(ctx, CX_MEM), load<u32>(ctx, CX_MEM_SIZE));
  const nr = load<u32>(ctx, CX_NR);
  idrange_free(load<u32>(ctx, CX_ID_BASE) >> KIOCBS_PER_PAGE_SHIFT, (nr + KIOCBS_PER_PAGE - 1) >> KIOCBS_PER_PAGE_SHIFT);
  // Release: the slot may be claimed by io_setup from here on.
  atomic.store<u64>(ctx + CX_STATE_GEN, pack(hi32(sg), CTX_FREE));
  atomic.add<u32>(ctx + CX_DYING_WAKE, 1);
}

/**
 * Enumerate outstanding requests (checkpoint/restore, S11): writes up to `max`
 * records {aio_key u64, aio_data u64} at `out`. Returns the count, or -EINVAL.
 * A snapshot: requests may complete while it is taken.
 */
export function ctx_enumerate(slot: u32, gen: u32, out: usize, max: u32): i32 {
  const ctx = ctx_get(slot, gen);
  if (ctx == 0) return -EINVAL;
  const base = load<u32>(ctx, CX_ID_BASE);
  const nr = load<u32>(ctx, CX_NR);
  let n: u32 = 0;
  for (let i: u32 = 0; i < nr && n < max; i++) {
    const req = kiocb_lookup(ctx, base + i);
    if (req == 0) continue;
    const w = atomic.load<u64>(cw_lookup(base + i)); // pairs with kiocb_publish / aio_complete: a snapshot
    if (lo32(w) == KIOCB_FREE) continue;
    store<u64>(out + <usize>n * 16, (<u64>hi32(w) << KEY_ID_BITS) | <u64>(base + i));
    store<u64>(out + <usize>n * 16, load<u64>(req, KI_DATA), 8);
    n++;
  }
  ctx_put(ctx);
  return <i32>n;
}
