/**
 * The block layer: bios, the software request queue (stage 1), stacking, and
 * bio completion (S6, S7).
 *
 * A request reaches a block device as one or more bios. Every bio carries
 * BI_CANCEL, a pointer to its kiocb's ki_cancel word (the seeds' `bool
 * *cancelled`, widened to the state word), or 0 where cancellation must not
 * reach (md RAID5 stripe writes, S8). One io_cancel marks the word; every bio
 * pointing at it sees the mark.
 *
 * The block layer knows nothing of kiocbs: a bio's submitter gives it an
 * end_io op (BI_END_IO) and a private word (BI_KIOCB), and a stacked device
 * gives its remap op (D_REMAP). Nothing here imports fs/ or drivers/.
 *
 * Stacking (S7): blk_map moves a bio down through stacked devices (dm-linear,
 * dm-stripe) until it reaches a device with a queue, each driver clipping it
 * at its member's or chunk's boundary. A request is split at those boundaries
 * into bios that all point at the same cancel word, wherever they end up.
 *
 * Stages (the 2013 thread's list):
 *   1. software queue (this file): FIFO under q_lock. A marked bio here never
 *      reaches the device: a cancel unlinks exactly its request's queued bios
 *      (blk_cancel_bios, O(bios of the request), not O(queue)) and parks them
 *      on the device's cancelled list, which the canceller completes
 *      -ECANCELED before io_cancel returns (blk_reap_all), paused or not; a bio marked
 *      before it is queued completes -ECANCELED in blk_submit; and a marked
 *      bio met at dequeue is dropped (blk_fetch).
 *   2. device queue (src/devices: the device thread's NCQ of queueDepth): a
 *      marked bio is dropped only if the device is abortable (dev_abort).
 *   3. executing: completes normally (dev_complete).
 *
 * 'mark-only' (a boot option, the baseline the seeds complain about): stage 1
 * and 2 ignore marks; cancelled requests are dispatched and complete normally.
 */
import {
  DEV_OFF, DEV_SIZE, MAX_DEVS, D_TYPE, D_FLAGS, D_DOORBELL, D_CANCEL_PENDING, D_WAITING, D_Q_LOCK, D_Q_HEAD,
  D_Q_TAIL, D_Q_COUNT, D_ST_DISPATCHED, D_ST_COMPLETED, D_ST_CANCELLED_Q, D_ST_CANCELLED_D,
  D_ST_BYTES, D_REMAP, D_CXL_HEAD, DT_NONE, DEVF_ABORTABLE, BI_NEXT, BI_PREV, BI_CANCEL, BI_KIOCB, BI_OP,
  BI_DEV, BI_POS, BI_KIND, BI_REF, BI_OFF, BI_LEN, BI_DONE, BI_STATUS, BI_FLAGS, BI_END_IO, BIO_QUEUED, BIO_SIZE,
  KIOCB_CANCELLED, KIOCB_CANCELLING, H_FLAGS, FLAG_MARK_ONLY, H_NCPUS, H_CXL_DEVS, CPU_OFF, CPU_SIZE, CPU_DEFER, CPU_PLUG,
  CPU_PLUG_COUNT, BLK_MAX_REQUEST_COUNT, D_PAUSED,
} from '../include/layout';
import { ECANCELED } from '../include/errno';
import { lo32, spin_lock, spin_unlock } from '../include/barrier';

@inline export function dev_addr(idx: u32): usize {
  return DEV_OFF + <usize>idx * DEV_SIZE;
}

/** Cancels reach the block layer (not 'mark-only'). */
@inline export function blk_effective(): bool {
  return (load<u32>(H_FLAGS) & FLAG_MARK_ONLY) == 0;
}

/** True if the bio's request has been asked to cancel (and the bio may be cancelled). */
export function bio_marked(bio: usize): bool {
  const w = <usize>load<u32>(bio, BI_CANCEL);
  if (w == 0) return false;
  // Pairs with kiocb_cancel's cmpxchg/store of the state word.
  const st = lo32(atomic.load<u64>(w));
  return st == KIOCB_CANCELLED || st == KIOCB_CANCELLING;
}

/**
 * Fill a bio. `priv` is the submitter's (BI_KIOCB: the request), `end_io` the
 * function-table index bio_endio calls, `cancel_word` the request's ki_cancel
 * word or 0.
 */
export function bio_init(bio: usize, priv: usize, cancel_word: usize, op: u32, dev: u32, pos: u64,
  kind: u32, ref: u32, off: u32, len: u32, end_io: u32): void {
  store<u32>(bio, 0, BI_NEXT);
  store<u32>(bio, 0, BI_PREV);
  store<u32>(bio, <u32>cancel_word, BI_CANCEL);
  store<u32>(bio, <u32>priv, BI_KIOCB);
  store<u32>(bio, op, BI_OP);
  store<u32>(bio, dev, BI_DEV);
  store<u64>(bio, pos, BI_POS);
  store<u32>(bio, kind, BI_KIND);
  store<u32>(bio, ref, BI_REF);
  store<u32>(bio, off, BI_OFF);
  store<u32>(bio, len, BI_LEN);
  store<u32>(bio, 0, BI_DONE);
  store<i32>(bio, 0, BI_STATUS);
  store<u32>(bio, 0, BI_FLAGS);
  store<u32>(bio, end_io, BI_END_IO);
}

/**
 * Move a bio down through stacked devices to a device with a queue of its own,
 * each driver's remap op clipping it at a member (or chunk) boundary. Returns
 * the bio's length after clipping. With `account`, each stacked device counts
 * the bio as dispatched to a member.
 */
export function blk_map(bio: usize, account: bool): u32 {
  for (let depth: u32 = 0; depth < MAX_DEVS; depth++) {
    const d = dev_addr(load<u32>(bio, BI_DEV));
    const remap = load<u32>(d, D_REMAP);
    if (remap == 0) break;
    call_indirect<u32>(remap, bio);
    if (account) atomic.add<u64>(d + D_ST_DISPATCHED, 1);
  }
  return load<u32>(bio, BI_LEN);
}

/** Ring the device thread's doorbell; notify only if it sleeps. */
export function device_kick(dev: usize): void {
  atomic.add<u32>(dev + D_DOORBELL, 1);
  // Pairs with the device thread's store of waiting=1 before it re-reads the
  // doorbell and Atomics.wait()s on it (which compares atomically).
  if (atomic.load<u32>(dev + D_WAITING) != 0) atomic.notify(dev + D_DOORBELL, 1);
}

/**
 * Queue a (leaf) bio in stage 1 and kick its device. A bio whose request was
 * asked to cancel before it got here is not queued: it completes -ECANCELED
 * now, on the submitter's cpu (a cancel's blk_cancel_bios, which takes the same
 * q_lock, either ran before this and left it to us, or runs after and finds
 * it queued).
 */
export function blk_submit(cpu: u32, bio: usize): void {
  const devidx = load<u32>(bio, BI_DEV);
  const dev = dev_addr(devidx); // read now: once queued, the bio may complete at any time
  spin_lock(dev + D_Q_LOCK);
  const marked = blk_effective() && bio_marked(bio);
  if (!marked) {
    const tail = load<u32>(dev, D_Q_TAIL);
    store<u32>(bio, tail, BI_PREV);
    store<u32>(bio, 0, BI_NEXT);
    if (tail != 0) store<u32>(<usize>tail, <u32>bio, BI_NEXT);
    else store<u32>(dev, <u32>bio, D_Q_HEAD);
    store<u32>(dev, <u32>bio, D_Q_TAIL);
    store<u32>(dev, load<u32>(dev, D_Q_COUNT) + 1, D_Q_COUNT);
    store<u32>(bio, BIO_QUEUED, BI_FLAGS);
  }
  spin_unlock(dev + D_Q_LOCK);
  if (marked) {
    atomic.add<u64>(dev + D_ST_CANCELLED_Q, 1);
    bio_endio(cpu, bio, -ECANCELED, 0);
  } else {
    // Plugged (inside io_submit on this cpu): the batch's end rings the doorbell,
    // once per device, instead of a wake of the device thread per bio.
    const ca = CPU_OFF + <usize>cpu * CPU_SIZE;
    if (load<u32>(ca, CPU_DEFER) != 0) {
      store<u64>(ca, load<u64>(ca, CPU_PLUG) | (<u64>1 << devidx), CPU_PLUG);
      const n = load<u32>(ca, CPU_PLUG_COUNT) + 1;
      store<u32>(ca, n, CPU_PLUG_COUNT);
      if (n >= BLK_MAX_REQUEST_COUNT) blk_finish_plug(cpu);
    } else {
      device_kick(dev);
    }
  }
}

/**
 * blk_finish_plug: ring the doorbell of every device the cpu's io_submit
 * queued bios on (CPU_PLUG). By the owner of the cpu at the end of its batch,
 * or by cpu_reclaim for an owner gone mid-batch.
 */
export function blk_finish_plug(cpu: u32): void {
  const ca = CPU_OFF + <usize>cpu * CPU_SIZE;
  let m = load<u64>(ca, CPU_PLUG);
  if (m == 0) return;
  store<u64>(ca, 0, CPU_PLUG);
  store<u32>(ca, 0, CPU_PLUG_COUNT);
  while (m != 0) {
    const d = <u32>ctz(m);
    m &= m - 1;
    device_kick(dev_addr(d));
  }
}

/** Unlink a bio from stage 1. Caller holds q_lock. */
@inline function q_unlink(dev: usize, bio: usize): void {
  const prev = load<u32>(bio, BI_PREV);
  const next = load<u32>(bio, BI_NEXT);
  if (prev != 0) store<u32>(<usize>prev, next, BI_NEXT);
  else store<u32>(dev, next, D_Q_HEAD);
  if (next != 0) store<u32>(<usize>next, prev, BI_PREV);
  else store<u32>(dev, prev, D_Q_TAIL);
  store<u32>(dev, load<u32>(dev, D_Q_COUNT) - 1, D_Q_COUNT);
  store<u32>(bio, 0, BI_FLAGS);
}

/** Complete a chain (linked by BI_NEXT) of bios dropped from stage 1. */
function cancel_chain(cpu: u32, dev: usize, first: usize): u32 {
  let n: u32 = 0;
  let b = first;
  while (b != 0) {
    const next = <usize>load<u32>(b, BI_NEXT);
    atomic.add<u64>(dev + D_ST_CANCELLED_Q, 1);
    bio_endio(cpu, b, -ECANCELED, 0);
    b = next;
    n++;
  }
  return n;
}

/**
 * Device thread: take the next bio from stage 1 for the device queue. Marked
 * bios met on the way complete -ECANCELED instead (stage-1 check at dequeue).
 * Returns the bio (counted as dispatched), or 0 if the queue is empty or the
 * device is paused.
 */
export function blk_fetch(cpu: u32, devidx: u32): usize {
  if (devidx >= MAX_DEVS || cpu >= load<u32>(H_NCPUS)) return 0;
  const dev = dev_addr(devidx);
  const eff = blk_effective();
  let dropped: usize = 0;
  let dropped_tail: usize = 0;
  spin_lock(dev + D_Q_LOCK);
  // Paused: nothing leaves stage 1. Read under q_lock, so that a device thread
  // that saw "not paused" just before pause() never takes a bio queued after
  // pause() returned (its blk_submit took q_lock after the store). Pairs with
  // pause's atomic store of D_PAUSED.
  if (atomic.load<u32>(dev + D_PAUSED) != 0) {
    spin_unlock(dev + D_Q_LOCK);
    return 0;
  }
  let bio = <usize>load<u32>(dev, D_Q_HEAD);
  while (bio != 0) {
    q_unlink(dev, bio);
    if (!(eff && bio_marked(bio))) break;
    store<u32>(bio, 0, BI_NEXT);
    if (dropped_tail != 0) store<u32>(dropped_tail, <u32>bio, BI_NEXT);
    else dropped = bio;
    dropped_tail = bio;
    bio = <usize>load<u32>(dev, D_Q_HEAD);
  }
  spin_unlock(dev + D_Q_LOCK);
  if (dropped != 0) cancel_chain(cpu, dev, dropped);
  if (bio != 0) atomic.add<u64>(dev + D_ST_DISPATCHED, 1);
  return bio;
}

/**
 * A cancel's block-layer half, for the `n` bios of one request at `vec`
 * (consecutive, BIO_SIZE apart), run while the request cannot complete (its
 * cancel callback, state CANCELLING; or before any of its bios is queued).
 * Each bio still in its device's stage 1 is unlinked and parked on that
 * device's cancelled list, for the caller to complete with blk_reap_all once
 * it holds no lock (a device thread would too, on its next cancel kick); an
 * abortable device holding a bio in its device queue is kicked once. O(n),
 * whatever the queues hold. Returns how many bios it took out of stage 1.
 */
export function blk_cancel_bios(vec: usize, n: u32): u32 {
  let kick: u64 = 0; // devices to kick (MAX_DEVS == 64)
  let park: u64 = 0; // devices whose cancelled list got a bio
  let taken: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const bio = vec + <usize>i * BIO_SIZE;
    const devidx = load<u32>(bio, BI_DEV);
    const dev = dev_addr(devidx);
    spin_lock(dev + D_Q_LOCK);
    if ((load<u32>(bio, BI_FLAGS) & BIO_QUEUED) != 0) {
      q_unlink(dev, bio);
      store<u32>(bio, load<u32>(dev, D_CXL_HEAD), BI_NEXT);
      store<u32>(dev, <u32>bio, D_CXL_HEAD);
      park |= <u64>1 << devidx;
      taken++;
    } else if ((load<u32>(dev, D_FLAGS) & DEVF_ABORTABLE) != 0) {
      kick |= <u64>1 << devidx; // maybe in its device queue: let the device abort it
    }
    spin_unlock(dev + D_Q_LOCK);
  }
  // Pairs with blk_reap_all's xchg: a reaper that takes the bit finds the bio on the list.
  if (park != 0) atomic.or<u64>(H_CXL_DEVS, park);
  while (kick != 0) {
    const d = <u32>ctz(kick);
    kick &= kick - 1;
    blk_cancel_kick(d);
  }
  return taken;
}

/**
 * Complete -ECANCELED every bio that cancels parked on cancelled lists (any
 * device's), on this cpu. Called by io_cancel, io_destroy and the RAID5 thread
 * after blk_cancel_bios, holding no lock. Returns how many.
 */
export function blk_reap_all(cpu: u32): u32 {
  if (cpu >= load<u32>(H_NCPUS)) return 0;
  // Every io_cancel comes here: read first, so that a cancel that parked
  // nothing (a pipe, a completed request) does not write the shared word.
  // Pairs with blk_cancel_bios' atomic or. A parker calls this after its own
  // or, so it never reads 0 for its own bits; bits set by others are reaped
  // by their own parkers.
  if (atomic.load<u64>(H_CXL_DEVS) == 0) return 0;
  // Pairs with blk_cancel_bios' atomic or: the bits taken are this reaper's to complete.
  let m = atomic.xchg<u64>(H_CXL_DEVS, 0);
  let n: u32 = 0;
  while (m != 0) {
    const d = <u32>ctz(m);
    m &= m - 1;
    n += blk_reap_cancelled(cpu, d);
  }
  return n;
}

/**
 * Device thread, on a cancel kick: complete -ECANCELED the bios cancels took
 * out of stage 1 (the device's cancelled list). Returns how many.
 */
export function blk_reap_cancelled(cpu: u32, devidx: u32): u32 {
  if (devidx >= MAX_DEVS || cpu >= load<u32>(H_NCPUS)) return 0;
  const dev = dev_addr(devidx);
  spin_lock(dev + D_Q_LOCK);
  const first = <usize>load<u32>(dev, D_CXL_HEAD);
  store<u32>(dev, 0, D_CXL_HEAD);
  spin_unlock(dev + D_Q_LOCK);
  return first != 0 ? cancel_chain(cpu, dev, first) : 0;
}

/** A cancel asked for a request whose bios sit on this device: make its thread look. */
export function blk_cancel_kick(devidx: u32): void {
  if (devidx >= MAX_DEVS) return;
  const dev = dev_addr(devidx);
  if (atomic.load<u32>(dev + D_TYPE) == DT_NONE) return;
  // Only the first cancel since the device last looked rings; pairs with the
  // device thread's xchg of cancel_pending to 0 before it looks.
  if (atomic.add<u32>(dev + D_CANCEL_PENDING, 1) == 0) device_kick(dev);
}

/** Device thread: a bio in the device queue dropped by abort (stage 2). */
export function dev_abort(cpu: u32, bio: usize): void {
  atomic.add<u64>(dev_addr(load<u32>(bio, BI_DEV)) + D_ST_CANCELLED_D, 1);
  bio_endio(cpu, bio, -ECANCELED, 0);
}

/** Device thread: a bio executed (stage 3), `done` bytes transferred, `status` 0 or -errno. */
export function dev_complete(cpu: u32, bio: usize, status: i32, done: u32): void {
  const dev = dev_addr(load<u32>(bio, BI_DEV));
  atomic.add<u64>(dev + D_ST_COMPLETED, 1);
  atomic.add<u64>(dev + D_ST_BYTES, <u64>done);
  bio_endio(cpu, bio, status, done);
}

/** A bio is done: record its result and call its submitter's end_io. */
export function bio_endio(cpu: u32, bio: usize, status: i32, done: u32): void {
  store<u32>(bio, done, BI_DONE);
  store<i32>(bio, status, BI_STATUS);
  call_indirect<void>(load<u32>(bio, BI_END_IO), cpu, bio);
}

/** Stats word addresses for the host's reads (u64 each). */
export function dev_stats_addr(devidx: u32): usize {
  return devidx < MAX_DEVS ? dev_addr(devidx) + D_ST_DISPATCHED : 0;
}
