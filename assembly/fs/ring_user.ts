/**
 * The commit step of a user-space reaper (src/ring.ts, k.ringReader): events
 * read in place from the ring, then head moved past them, safely alongside
 * io_getevents on other threads and other user-space reapers.
 *
 * Why not a bare compare-and-swap on head from JS: ring_reap (as Linux's
 * aio_read_events_ring, under ctx->ring_lock) loads head, copies, and stores
 * head with a plain store under the reap lock. A CAS that lands between that
 * load and store is overwritten: the events it consumed are delivered again
 * and head may even move backwards (libaio's and fio's user-space reapers have
 * this race with the kernel too; they are only correct as the one reaper of a
 * context). So the user-space reaper moves head under the same reap lock, and
 * compares absolute positions, not head: head is an index mod ring_nr, and a
 * reader stalled while a full ring's worth of events came and went would see
 * the same head again (ABA).
 *
 * The absolute position of head: under the reap lock head is stable, and
 * commit (CX_COMMIT, 64-bit, every event published so far) is within ring_nr
 * events of it (at most nr requests are unreaped or in flight, and nr <
 * ring_nr), so head's position is the largest value <= commit congruent to
 * head mod ring_nr. The reader computes its `from` the same way, outside the
 * lock; if the two agree, no event at or after `from` was consumed in
 * between, so none of its slots was reused, and what it read is what it
 * consumes.
 *
 * Slots and side entries (bounce blocks, cookies) of the consumed events are
 * left for the lazy paths every user-space head move already takes: refill()
 * credits the slots from head, publish_at frees a parked bounce and orphans a
 * parked cookie when it reuses the slot.
 */
import { CX_RING, CX_RING_NR, CX_COMMIT, CX_REAP_LOCK, RING_HEAD, RING_TAIL } from '../include/layout';
import { EINVAL, EBUSY, EAGAIN } from '../include/errno';
import { mutex_trylock, mutex_lock_contended, mutex_unlock } from '../include/barrier';
import { ctx_get_on, ctx_put_on } from './ctxtab';

/**
 * Move head from absolute position `from` by `n` events. 0; -EAGAIN if head is
 * no longer at `from` (another reaper consumed first: nothing moved) or fewer
 * than n events are below tail; -EINVAL (context gone); -EBUSY (the reap lock
 * is held: the host waits, then calls again with contended set, as io_reap).
 */
export function io_ring_advance(cpu: u32, slot: u32, gen: u32, from: f64, n: u32, contended: bool): i32 {
  const ctx = ctx_get_on(cpu, slot, gen);
  if (ctx == 0) return -EINVAL;
  // The reap lock: pairs with ring_reap's holders (io_reap, io_reap_bin) and other user reapers.
  if (!(contended ? mutex_lock_contended(ctx + CX_REAP_LOCK) : mutex_trylock(ctx + CX_REAP_LOCK))) {
    ctx_put_on(cpu, slot);
    return -EBUSY;
  }
  const ring = <usize>load<u32>(ctx, CX_RING);
  const nr = load<u32>(ctx, CX_RING_NR);
  const head = atomic.load<u32>(ring + RING_HEAD) % nr;
  // Pairs with ring_advance's stores: commit before tail, so this commit counts
  // every event below any tail loaded after it.
  const c = atomic.load<u64>(ctx + CX_COMMIT);
  const tail = atomic.load<u32>(ring + RING_TAIL) % nr;
  const pos = c - <u64>((<u32>(c % <u64>nr) + nr - head) % nr);
  let r: i32 = 0;
  if (<f64>pos != from || n > (tail + nr - head) % nr) r = -EAGAIN;
  // Release the slots: pairs with refill's load of head and with other reapers' loads.
  else if (n != 0) atomic.store<u32>(ring + RING_HEAD, (head + n) % nr);
  mutex_unlock(ctx + CX_REAP_LOCK);
  ctx_put_on(cpu, slot);
  return r;
}
