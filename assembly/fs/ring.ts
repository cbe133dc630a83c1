/**
 * The completion ring (S12) and the ring slots it is guarded by.
 *
 * Layout is the kernel's aio_ring (see layout.ts): a 32-byte header, then
 * ring_nr io_events of 32 bytes. A context of nr requests has ring_nr = nr + 1
 * slots, so head == tail always means empty.
 *
 * Slot accounting (fs/aio.c's reqs_available): io_submit reserves a slot before
 * it allocates a kiocb and the slot stays taken until the event has been
 * consumed (head moved past it). So at most nr events are ever in flight or
 * unreaped, and a completion never finds the ring full. Slots come back lazily,
 * by refill(), from how far head has moved: whether io_getevents moved it or a
 * user-space reaper did (libaio style), the accounting is the same.
 *
 * Per-cpu batching: each cpu caches up to `batch` reserved slots (PC_REQS) so
 * the common submit touches only its own cache line. A cpu that finds its cache
 * and the global count empty refills from the ring, then steals other cpus'
 * cached slots, so `nr` submissions always fit whatever the cpus hold.
 *
 * Requests that complete inline during io_submit are staged per cpu and
 * published together at the end of the batch (ring_publish_staged): one
 * atomic add for all their positions, one advance.
 *
 * Publication, many producers, no producer waits for another:
 *   1. p = prod++ (a ticket: the event's position); write the event into slot
 *      p % ring_nr; store ready[slot] = p + 1.
 *   2. ring_advance: whoever takes commit_lock (a try-lock, never waited on)
 *      moves tail over every consecutive ready slot. A producer that loses the
 *      try-lock leaves: the holder re-checks after unlocking, so either it sees
 *      the loser's ready mark, or the loser's try-lock comes after the unlock
 *      and succeeds (sequentially consistent atomics).
 *   Only the commit_lock holder stores tail, so tail never moves backwards for
 *   a user-space reader, and a producer preempted mid-publication delays only
 *   its own event's successors, without spinning anyone.
 */
import {
  CX_NR, CX_RING_NR, CX_RING, CX_READY, CX_BOUNCE, CX_REQS, CX_BATCH, CX_COMMIT_LOCK,
  CX_WAKE, CX_PROD, CX_COMMIT, CX_RETURNED, CX_WAITERS, CX_REAP_LOCK, CX_COMPLETED,
  RING_ID, RING_NR, RING_HEAD, RING_TAIL, RING_MAGIC, RING_COMPAT, RING_INCOMPAT,
  RING_HEADER_LENGTH, RING_HDR_SIZE, IO_EVENT_SIZE, EV_DATA, EV_OBJ, EV_RES, EV_RES2,
  AIO_RING_MAGIC, AIO_RING_COMPAT_FEATURES, AIO_RING_INCOMPAT_FEATURES,
  PC_REQS, H_NCPUS, REAP_REC_SIZE, REAP_BOUNCE, REAP_BOUNCE_SIZE, REAP_COOKIE, SIDE_SIZE,
  SIDE_BOUNCE, SIDE_COOKIE, STAGE_REC_SIZE, COOKIE_NONE, COOKIE_BITS, COOKIE_INDEX_MASK, COOKIE_CPU_SHIFT,
  COOKIE_SPACE, H_ORPHANS, CPU_OFF, CPU_SIZE, CPU_EPOCH, CPU_ORPHANS, BIN_REAP_SIDE,
} from '../include/layout';
import { pcpu_of } from '../lib/tags';
import { kfree } from '../lib/heap';
import { mutex_trylock, mutex_unlock } from '../include/barrier';

@inline function ring_of(ctx: usize): usize {
  return <usize>load<u32>(ctx, CX_RING);
}
@inline function event_at(ring: usize, slot: u32): usize {
  return ring + RING_HDR_SIZE + <usize>slot * IO_EVENT_SIZE;
}
@inline function ready_of(ctx: usize, slot: u32): usize {
  return <usize>load<u32>(ctx, CX_READY) + (<usize>slot << 2);
}
@inline function side_of(ctx: usize, slot: u32): usize {
  return <usize>load<u32>(ctx, CX_BOUNCE) + <usize>slot * SIDE_SIZE;
}

/** Write the aio_ring header; called by io_setup before the context is published. */
export function ring_init(ctx: usize, ring_id: u32): void {
  const ring = ring_of(ctx);
  const nr = load<u32>(ctx, CX_RING_NR);
  store<u32>(ring, ring_id, RING_ID);
  store<u32>(ring, nr, RING_NR);
  store<u32>(ring, 0, RING_HEAD);
  store<u32>(ring, 0, RING_TAIL);
  store<u32>(ring, AIO_RING_MAGIC, RING_MAGIC);
  store<u32>(ring, AIO_RING_COMPAT_FEATURES, RING_COMPAT);
  store<u32>(ring, AIO_RING_INCOMPAT_FEATURES, RING_INCOMPAT);
  store<u32>(ring, RING_HDR_SIZE, RING_HEADER_LENGTH);
  for (let s: u32 = 0; s < nr; s++) {
    store<u32>(ready_of(ctx, s), 0);
    store<u64>(side_of(ctx, s), 0, SIDE_BOUNCE);
    store<u32>(side_of(ctx, s), COOKIE_NONE, SIDE_COOKIE);
  }
  store<u32>(ctx + CX_REQS, load<u32>(ctx, CX_NR));
  store<u64>(ctx + CX_PROD, 0);
  store<u64>(ctx + CX_COMMIT, 0);
  store<u64>(ctx + CX_RETURNED, 0);
  store<u32>(ctx + CX_COMMIT_LOCK, 0);
  store<u32>(ctx + CX_REAP_LOCK, 0);
  store<u32>(ctx + CX_COMPLETED, 0);
}

// ---------------------------------------------------------------------------
// Slot reservation

/**
 * Credit back the slots of events that have been consumed (fs/aio.c's
 * refill_reqs_available). head is written by user space too, so it is clamped.
 * commit is published before tail and read here before head, so an event a
 * reaper consumed before our head read is counted in our commit snapshot:
 * while head <= that snapshot the count is exact. If head ran past the
 * snapshot meanwhile, the modular count comes out ring_nr low, so we credit
 * less (the next refill catches up), never more than was consumed.
 */
export function refill(ctx: usize): void {
  const nr = <u64>load<u32>(ctx, CX_RING_NR);
  // Pairs with ring_advance's store of commit (after the tail store).
  const c = atomic.load<u64>(ctx + CX_COMMIT);
  // Pairs with the reapers' atomic store of head (io_getevents, or user space).
  const head = <u64>atomic.load<u32>(ring_of(ctx) + RING_HEAD) % nr;
  const in_ring = (c % nr + nr - head) % nr;
  const consumed = c - in_ring;
  let r = atomic.load<u64>(ctx + CX_RETURNED);
  while (<i64>(consumed - r) > 0) {
    // Pairs with concurrent refills: each consumed event is credited once.
    const seen = atomic.cmpxchg<u64>(ctx + CX_RETURNED, r, consumed);
    if (seen == r) {
      atomic.add<u32>(ctx + CX_REQS, <u32>(consumed - r));
      return;
    }
    r = seen;
  }
}

/** Reserve one ring slot for `cpu`. false: none left (-EAGAIN). */
export function get_reqs(ctx: usize, cpu: u32): bool {
  const pc = pcpu_of(ctx, cpu) + PC_REQS;
  let v = atomic.load<u32>(pc);
  while (v > 0) {
    // Owner takes from its cache; pairs with thieves' xchg in the steal below.
    const seen = atomic.cmpxchg<u32>(pc, v, v - 1);
    if (seen == v) return true;
    v = seen;
  }
  const batch = load<u32>(ctx, CX_BATCH);
  for (let pass = 0; pass < 2; pass++) {
    let g = atomic.load<u32>(ctx + CX_REQS);
    while (g > 0) {
      const take = g < batch ? g : batch;
      // Pairs with refill's atomic add and other takers.
      const seen = atomic.cmpxchg<u32>(ctx + CX_REQS, g, g - take);
      if (seen == g) {
        if (take > 1) atomic.add<u32>(pc, take - 1);
        return true;
      }
      g = seen;
    }
    if (pass == 0) refill(ctx);
  }
  const ncpus = load<u32>(H_NCPUS);
  for (let k: u32 = 1; k < ncpus; k++) {
    const vp = pcpu_of(ctx, (cpu + k) % ncpus) + PC_REQS;
    if (atomic.load<u32>(vp) == 0) continue;
    const got = atomic.xchg<u32>(vp, 0); // pairs with the owner's cmpxchg
    if (got > 0) {
      if (got > 1) atomic.add<u32>(pc, got - 1);
      return true;
    }
  }
  return false;
}

/**
 * Reserve up to `want` slots at once from `cpu`'s own cache (an io_submit
 * batch takes its slots in one move, not one cmpxchg per request). Returns how
 * many (0: the cache is empty; get_reqs then refills or steals). Only the
 * cache: a batch never hoards slots another cpu could have found elsewhere.
 */
export function reqs_reserve(ctx: usize, cpu: u32, want: u32): u32 {
  const pc = pcpu_of(ctx, cpu) + PC_REQS;
  let v = atomic.load<u32>(pc);
  while (v > 0 && want > 0) {
    const take = v < want ? v : want;
    // Owner takes from its cache; pairs with thieves' xchg in get_reqs' steal.
    const seen = atomic.cmpxchg<u32>(pc, v, v - take);
    if (seen == v) return take;
    v = seen;
  }
  return 0;
}

/** Give back n slots that were reserved but not used (a submit that failed later, a batch's leftovers). */
export function put_reqs(ctx: usize, cpu: u32, n: u32 = 1): void {
  atomic.add<u32>(pcpu_of(ctx, cpu) + PC_REQS, n); // pairs with the owner's cmpxchg and thieves' xchg
}

/** Give every slot cached by `cpu` back to the global count (detach). */
export function reqs_drain_cpu(ctx: usize, cpu: u32): void {
  const got = atomic.xchg<u32>(pcpu_of(ctx, cpu) + PC_REQS, 0);
  if (got > 0) atomic.add<u32>(ctx + CX_REQS, got);
}

/** Slots available now: global + every cache (after crediting consumed events). */
export function reqs_count(ctx: usize): u32 {
  refill(ctx);
  let n = atomic.load<u32>(ctx + CX_REQS);
  const ncpus = load<u32>(H_NCPUS);
  for (let c: u32 = 0; c < ncpus; c++) n += atomic.load<u32>(pcpu_of(ctx, c) + PC_REQS);
  return n;
}

// ---------------------------------------------------------------------------
// Publication

/** Move tail over every consecutive ready slot; wake sleeping reapers. */
export function ring_advance(ctx: usize): void {
  const nr = <u64>load<u32>(ctx, CX_RING_NR);
  const ring = ring_of(ctx);
  // Nothing ready at commit: nothing to do (the common case after a batch of
  // requests that did not complete inline). Same test as the re-check below.
  const c = atomic.load<u64>(ctx + CX_COMMIT);
  if (atomic.load<u32>(ready_of(ctx, <u32>(c % nr))) != <u32>(c + 1)) return;
  while (true) {
    // Try-lock: pairs with the atomic store that releases it below.
    if (atomic.cmpxchg<u32>(ctx + CX_COMMIT_LOCK, 0, 1) != 0) return;
    const c0 = atomic.load<u64>(ctx + CX_COMMIT);
    let c = c0;
    // Pairs with ring_publish's store of the ready mark (after the event).
    while (atomic.load<u32>(ready_of(ctx, <u32>(c % nr))) == <u32>(c + 1)) c++;
    if (c != c0) {
      // commit before tail: pairs with refill's load of commit (before head).
      // Any event a reaper can see (below tail) is then already counted in
      // commit, so a refill never misses a consumed event it should credit.
      atomic.store<u64>(ctx + CX_COMMIT, c);
      // Release the events: pairs with reapers' atomic load of tail.
      atomic.store<u32>(ring + RING_TAIL, <u32>(c % nr));
      store<u32>(ctx + CX_COMPLETED, load<u32>(ctx, CX_COMPLETED) + <u32>(c - c0));
    }
    atomic.store<u32>(ctx + CX_COMMIT_LOCK, 0);
    // Pairs with a reaper's add to waiters before it re-checks tail and sleeps.
    // Wake batching: at most one sleeping reaper per new event.
    if (c != c0 && atomic.load<u32>(ctx + CX_WAITERS) != 0) {
      atomic.add<u32>(ctx + CX_WAKE, 1);
      atomic.notify(ctx + CX_WAKE, <i32>(c - c0 < 0x7fffffff ? c - c0 : 0x7fffffff));
    }
    // A producer may have marked slot c after our scan and lost the try-lock to us.
    const c1 = atomic.load<u64>(ctx + CX_COMMIT);
    if (atomic.load<u32>(ready_of(ctx, <u32>(c1 % nr))) != <u32>(c1 + 1)) return;
  }
}

/**
 * Publish one event. The slot was reserved at submit, so it is free. A bounce
 * block still parked in the slot belonged to an earlier event that a user-space
 * reaper consumed without io_getevents; it is freed here.
 */
/** Write one event at ring position p and mark it ready (no advance). */
function publish_at(ctx: usize, p: u64, nr: u64, data: u64, obj: u64, res: i64, res2: i64, bounce: u32, bounce_size: u32, cookie: u32): void {
  const slot = <u32>(p % nr);
  const side = side_of(ctx, slot);
  // Ownership of a slot's bounce block moves by xchg of the {addr, size} word:
  // pairs with ring_reap's xchg, so a block is freed by exactly one thread even
  // if user space moves head while io_getevents runs. Nothing to move (the
  // common case): no xchg.
  if (bounce != 0 || atomic.load<u64>(side + SIDE_BOUNCE) != 0) {
    const stale = atomic.xchg<u64>(side + SIDE_BOUNCE, (<u64>bounce_size << 32) | <u64>bounce);
    if (<u32>stale != 0) kfree(<u32>stale, <u32>(stale >> 32));
  }
  // The cookie moves the same way: a cookie still here was consumed without
  // io_getevents (user space moved head): its owner may free the handle.
  // Pairs with ring_reap's xchg.
  // Neither an old cookie nor a new one (a binary request's slot, reaped): no xchg.
  if (cookie != COOKIE_NONE || atomic.load<u32>(side + SIDE_COOKIE) != COOKIE_NONE) {
    const was = atomic.xchg<u32>(side + SIDE_COOKIE, cookie);
    if (was != COOKIE_NONE) cookie_orphan(was);
  }
  const ev = event_at(ring_of(ctx), slot);
  store<u64>(ev, data, EV_DATA);
  store<u64>(ev, obj, EV_OBJ);
  store<i64>(ev, res, EV_RES);
  store<i64>(ev, res2, EV_RES2);
  // Release: the event (and its side entry) are written before it is marked;
  // pairs with ring_advance's load.
  atomic.store<u32>(ready_of(ctx, slot), <u32>(p + 1));
}

export function ring_publish(ctx: usize, data: u64, obj: u64, res: i64, res2: i64, bounce: u32, bounce_size: u32, cookie: u32, advance: bool): void {
  const nr = <u64>load<u32>(ctx, CX_RING_NR);
  const p = atomic.add<u64>(ctx + CX_PROD, 1); // pairs with other producers: one position each
  publish_at(ctx, p, nr, data, obj, res, res2, bounce, bounce_size, cookie);
  if (advance) ring_advance(ctx);
}

/**
 * Publish n staged events (STAGE_REC_SIZE records at `recs`, completed inline
 * during one io_submit): one atomic add takes n consecutive positions, then
 * one advance makes them visible.
 */
export function ring_publish_staged(ctx: usize, recs: usize, n: u32): void {
  const nr = <u64>load<u32>(ctx, CX_RING_NR);
  const p0 = atomic.add<u64>(ctx + CX_PROD, <u64>n); // pairs with other producers
  for (let i: u32 = 0; i < n; i++) {
    const r = recs + <usize>i * STAGE_REC_SIZE;
    publish_at(ctx, p0 + <u64>i, nr, load<u64>(r, EV_DATA), load<u64>(r, EV_OBJ), load<i64>(r, EV_RES), load<i64>(r, EV_RES2),
      load<u32>(r, REAP_BOUNCE), load<u32>(r, REAP_BOUNCE_SIZE), load<u32>(r, REAP_COOKIE));
  }
  ring_advance(ctx);
}

// ---------------------------------------------------------------------------
// Reaping

/** Reaper lock: try, or flag contention (host sleeps on CX_REAP_LOCK). */
export function reap_trylock(ctx: usize): bool {
  return mutex_trylock(ctx + CX_REAP_LOCK);
}

/**
 * Copy up to `max` events at head into `out` (REAP_REC_SIZE each: the event,
 * then the bounce block its slot owned, which passes to the caller) and move
 * head past them. Caller holds the reap lock. Returns the number copied.
 */
export function ring_reap(ctx: usize, out: usize, max: u32, cpu: u32): u32 {
  const ring = ring_of(ctx);
  const nr = load<u32>(ctx, CX_RING_NR);
  // Clamp: user space can write head (fs/aio.c does the same).
  let head = atomic.load<u32>(ring + RING_HEAD) % nr;
  // Pairs with ring_advance's atomic store of tail: events before it are written.
  const tail = atomic.load<u32>(ring + RING_TAIL) % nr;
  let n: u32 = 0;
  while (head != tail && n < max) {
    const rec = out + <usize>n * REAP_REC_SIZE;
    const ev = event_at(ring, head); // four words, not a memory.copy call
    store<u64>(rec, load<u64>(ev, EV_DATA), EV_DATA);
    store<u64>(rec, load<u64>(ev, EV_OBJ), EV_OBJ);
    store<u64>(rec, load<u64>(ev, EV_RES), EV_RES);
    store<u64>(rec, load<u64>(ev, EV_RES2), EV_RES2);
    const side = side_of(ctx, head);
    const b = atomic.load<u64>(side + SIDE_BOUNCE) != 0 ? atomic.xchg<u64>(side + SIDE_BOUNCE, 0) : 0; // pairs with ring_publish's xchg
    store<u32>(rec, <u32>b, REAP_BOUNCE);
    store<u32>(rec, <u32>(b >> 32), REAP_BOUNCE_SIZE);
    // Take the cookie (pairs with publish_at's xchg). Another cpu's goes back to
    // its owner as an orphan: this reaper cannot deliver to its objects.
    const c = atomic.load<u32>(side + SIDE_COOKIE) != COOKIE_NONE ? atomic.xchg<u32>(side + SIDE_COOKIE, COOKIE_NONE) : COOKIE_NONE;
    if (c != COOKIE_NONE && c >>> COOKIE_CPU_SHIFT != cpu) cookie_orphan(c);
    store<u32>(rec, c, REAP_COOKIE);
    head = head + 1 == nr ? 0 : head + 1;
    n++;
  }
  // Release the slots: pairs with refill's load of head and with producers reusing them.
  if (n != 0) atomic.store<u32>(ring + RING_HEAD, head);
  return n;
}

/**
 * ring_reap for binary io_events: copy up to `max` events at head straight
 * into `out` (IO_EVENT_SIZE each, user memory the caller checked), taking
 * their slots' side entries as ring_reap does, and move head past them. An
 * event with a side entry the host must settle (a bounce block, or a cookie of
 * this cpu's) also gets its REAP record at `recs`, from the ring's words (not
 * from `out`, which user code may be rewriting); once there is one, every
 * record before it says "nothing" (no bounce, COOKIE_NONE), so the host can
 * decode all n. Returns the count, with BIN_REAP_SIDE if there was one.
 * Caller holds the reap lock.
 */
export function ring_reap_bin(ctx: usize, out: usize, recs: usize, max: u32, cpu: u32): u32 {
  const ring = ring_of(ctx);
  const nr = load<u32>(ctx, CX_RING_NR);
  // Clamp: user space can write head (fs/aio.c does the same).
  let head = atomic.load<u32>(ring + RING_HEAD) % nr;
  // Pairs with ring_advance's atomic store of tail: events before it are written.
  const tail = atomic.load<u32>(ring + RING_TAIL) % nr;
  let n: u32 = 0;
  let side = false;
  while (head != tail && n < max) {
    const ev = event_at(ring, head);
    const e = out + <usize>n * IO_EVENT_SIZE;
    const data = load<u64>(ev, EV_DATA);
    const obj = load<u64>(ev, EV_OBJ);
    const res = load<u64>(ev, EV_RES);
    const res2 = load<u64>(ev, EV_RES2);
    store<u64>(e, data, EV_DATA);
    store<u64>(e, obj, EV_OBJ);
    store<u64>(e, res, EV_RES);
    store<u64>(e, res2, EV_RES2);
    const sd = side_of(ctx, head);
    const b = atomic.load<u64>(sd + SIDE_BOUNCE) != 0 ? atomic.xchg<u64>(sd + SIDE_BOUNCE, 0) : 0; // pairs with publish_at's xchg
    // Pairs with publish_at's xchg. Another cpu's cookie goes back to its owner as an orphan.
    const c = atomic.load<u32>(sd + SIDE_COOKIE) != COOKIE_NONE ? atomic.xchg<u32>(sd + SIDE_COOKIE, COOKIE_NONE) : COOKIE_NONE;
    if (c != COOKIE_NONE && c >>> COOKIE_CPU_SHIFT != cpu) cookie_orphan(c);
    if (<u32>b != 0 || (c != COOKIE_NONE && c >>> COOKIE_CPU_SHIFT == cpu)) {
      if (!side) {
        for (let i: u32 = 0; i < n; i++) {
          const r0 = recs + <usize>i * REAP_REC_SIZE;
          store<u32>(r0, 0, REAP_BOUNCE);
          store<u32>(r0, COOKIE_NONE, REAP_COOKIE);
        }
        side = true;
      }
      const rec = recs + <usize>n * REAP_REC_SIZE;
      store<u64>(rec, data, EV_DATA);
      store<u64>(rec, obj, EV_OBJ);
      store<u64>(rec, res, EV_RES);
      store<u64>(rec, res2, EV_RES2);
      store<u32>(rec, <u32>b, REAP_BOUNCE);
      store<u32>(rec, <u32>(b >> 32), REAP_BOUNCE_SIZE);
      store<u32>(rec, c, REAP_COOKIE);
    } else if (side) {
      const rec = recs + <usize>n * REAP_REC_SIZE;
      store<u32>(rec, 0, REAP_BOUNCE);
      store<u32>(rec, COOKIE_NONE, REAP_COOKIE);
    }
    head = head + 1 == nr ? 0 : head + 1;
    n++;
  }
  // Release the slots: pairs with refill's load of head and with producers reusing them.
  if (n != 0) atomic.store<u32>(ring + RING_HEAD, head);
  return side ? n | BIN_REAP_SIDE : n;
}

export function reap_unlock(ctx: usize): void {
  mutex_unlock(ctx + CX_REAP_LOCK);
}

/** Events waiting in the ring now (head to tail). */
export function ring_pending(ctx: usize): u32 {
  const ring = ring_of(ctx);
  const nr = load<u32>(ctx, CX_RING_NR);
  const head = atomic.load<u32>(ring + RING_HEAD) % nr;
  const tail = atomic.load<u32>(ring + RING_TAIL) % nr;
  return (tail + nr - head) % nr;
}

/**
 * Free every bounce block still parked in the ring, and hand every cookie
 * still there back to its owner (io_destroy: the events are discarded).
 */
export function ring_free_bounces(ctx: usize): void {
  const nr = load<u32>(ctx, CX_RING_NR);
  for (let s: u32 = 0; s < nr; s++) {
    const b = atomic.xchg<u64>(side_of(ctx, s) + SIDE_BOUNCE, 0);
    if (<u32>b != 0) kfree(<u32>b, <u32>(b >> 32));
    const c = atomic.xchg<u32>(side_of(ctx, s) + SIDE_COOKIE, COOKIE_NONE); // pairs with ring_reap's xchg
    if (c != COOKIE_NONE) cookie_orphan(c);
  }
}

// ---------------------------------------------------------------------------
// Orphaned cookies

/**
 * Tell a cookie's owner that its event was consumed elsewhere: set the
 * cookie's bit in its cpu's orphan bitmap. A cookie from an earlier claim of
 * that cpu id (its thread left; the epoch moved on) is dropped: the new owner
 * never had it.
 */
export function cookie_orphan(c: u32): void {
  const cpu = c >>> COOKIE_CPU_SHIFT;
  if (cpu >= load<u32>(H_NCPUS)) return;
  const epoch = (c >>> COOKIE_BITS) & 0xff;
  // Pairs with cpu_online's atomic add of the epoch (after its claim).
  if ((atomic.load<u32>(CPU_OFF + <usize>cpu * CPU_SIZE + CPU_EPOCH) & 0xff) != epoch) return;
  const idx = c & COOKIE_INDEX_MASK;
  const map = <usize>load<u32>(H_ORPHANS) + <usize>cpu * (COOKIE_SPACE >> 3);
  // Pairs with the owner's atomic xchg of the word in cookies_take.
  atomic.or<u32>(map + (<usize>(idx >> 5) << 2), <u32>1 << (idx & 31));
  // The count after the bit: an owner that sees it non-zero and scans finds the
  // bit. Pairs with cookies_take's xchg of the count, which comes before its
  // scan (a bit set behind the scan leaves the count non-zero for the next one).
  atomic.add<u32>(CPU_OFF + <usize>cpu * CPU_SIZE + CPU_ORPHANS, 1);
}

/**
 * The owner side: move up to `max` orphaned cookie indices of `cpu` into
 * `out` (u32 each) and clear their bits. Returns the count.
 */
export function cookies_take(cpu: u32, out: usize, max: u32): u32 {
  if (cpu >= load<u32>(H_NCPUS)) return 0;
  const map = <usize>load<u32>(H_ORPHANS) + <usize>cpu * (COOKIE_SPACE >> 3);
  // Zero the count first: a bit set after this scan passes its word counts again.
  atomic.xchg<u32>(CPU_OFF + <usize>cpu * CPU_SIZE + CPU_ORPHANS, 0);
  let n: u32 = 0;
  for (let w: u32 = 0; w < (COOKIE_SPACE >> 5) && n + 32 <= max; w++) {
    const a = map + (<usize>w << 2);
    if (atomic.load<u32>(a) == 0) continue;
    let bits = atomic.xchg<u32>(a, 0); // pairs with cookie_orphan's atomic or
    while (bits != 0) {
      const b = ctz<u32>(bits);
      bits &= bits - 1;
      store<u32>(out + (<usize>n << 2), (w << 5) | b);
      n++;
    }
  }
  return n;
}
