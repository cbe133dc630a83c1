/**
 * The block layer: bios, the software request queue (stage 1), and bio
 * completion (S6, S7).
 *
 * A request reaches a block device as one or more bios. Every bio carries
 * BI_CANCEL, a pointer to its kiocb's ki_cancel word (the seeds' `bool
 * *cancelled`, widened to the state word), or 0 where cancellation must not
 * reach (md RAID5 stripe writes, S8). One io_cancel marks the word; every bio
 * pointing at it sees the mark.
 *
 * Stages (the 2013 thread's list):
 *   1. software queue (this file): FIFO under q_lock. A marked bio found here
 *      completes -ECANCELED and never reaches the device. The check runs when
 *      the device dequeues (blk_fetch) AND when a cancel kicks the queue
 *      (blk_scan), so a cancelled request completes promptly even while the
 *      device is paused or its queue is full.
 *   2. device queue (src/devices: the device thread's NCQ of queueDepth): a
 *      marked bio is dropped only if the device is abortable (dev_abort).
 *   3. executing: completes normally (dev_complete).
 *
 * 'mark-only' (a boot option, the baseline the seeds complain about): stage 1
 * and 2 ignore marks; cancelled requests are dispatched and complete normally.
 *
 * Result of a request with several bios (S7): bios cover consecutive byte
 * ranges, and the result is the length of the longest prefix of the request
 * that was transferred, i.e. bytes done by the leading bios up to and
 * including the first one that did not transfer all of its range. If that
 * prefix is empty, the result is the status of the first bio that has one
 * (-ECANCELED if it was cancelled), else 0. So a cancelled request that moved
 * no data at its start reports -ECANCELED, and a partly cancelled one reports
 * the bytes that are valid from the start of the buffer, as a short read does.
 */
import {
  DEV_OFF, DEV_SIZE, MAX_DEVS, D_TYPE, D_DOORBELL, D_CANCEL_PENDING, D_WAITING, D_Q_LOCK, D_Q_HEAD,
  D_Q_TAIL, D_Q_COUNT, D_ST_DISPATCHED, D_ST_COMPLETED, D_ST_CANCELLED_Q, D_ST_CANCELLED_D,
  D_ST_BYTES, DT_NONE, BI_NEXT, BI_PREV, BI_CANCEL, BI_KIOCB, BI_OP, BI_DEV, BI_POS, BI_KIND,
  BI_REF, BI_OFF, BI_LEN, BI_DONE, BI_STATUS, BI_FLAGS, BIO_SIZE, KI_BIOS_LEFT, KI_NBIO,
  KI_BIOVEC, KIOCB_CANCELLED, KIOCB_CANCELLING, H_FLAGS, FLAG_MARK_ONLY, H_NCPUS,
} from './layout';
import { ECANCELED } from './errno';
import { lo32, spin_lock, spin_unlock } from './barrier';
import { aio_complete } from './kiocb';

@inline export function dev_addr(idx: u32): usize {
  return DEV_OFF + <usize>idx * DEV_SIZE;
}

@inline function effective(): bool {
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

export function bio_init(bio: usize, req: usize, cancel_word: usize, op: u32, dev: u32, pos: u64,
  kind: u32, ref: u32, off: u32, len: u32): void {
  store<u32>(bio, 0, BI_NEXT);
  store<u32>(bio, 0, BI_PREV);
  store<u32>(bio, <u32>cancel_word, BI_CANCEL);
  store<u32>(bio, <u32>req, BI_KIOCB);
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
}

/** Ring the device thread's doorbell; notify only if it sleeps. */
export function device_kick(dev: usize): void {
  atomic.add<u32>(dev + D_DOORBELL, 1);
  // Pairs with the device thread's store of waiting=1 before it re-reads the
  // doorbell and Atomics.wait()s on it (which compares atomically).
  if (atomic.load<u32>(dev + D_WAITING) != 0) atomic.notify(dev + D_DOORBELL, 1);
}

/** Queue a bio in stage 1 and kick its device. */
export function blk_submit(bio: usize): void {
  const devidx = load<u32>(bio, BI_DEV); // read now: once queued, the bio may complete at any time
  const dev = dev_addr(devidx);
  spin_lock(dev + D_Q_LOCK);
  const tail = load<u32>(dev, D_Q_TAIL);
  store<u32>(bio, tail, BI_PREV);
  store<u32>(bio, 0, BI_NEXT);
  if (tail != 0) store<u32>(<usize>tail, <u32>bio, BI_NEXT);
  else store<u32>(dev, <u32>bio, D_Q_HEAD);
  store<u32>(dev, <u32>bio, D_Q_TAIL);
  store<u32>(dev, load<u32>(dev, D_Q_COUNT) + 1, D_Q_COUNT);
  // A cancel that came before KI_DEV was set could not kick this device; one
  // that comes later kicks it and its scan (under q_lock) finds the bio.
  const marked = effective() && bio_marked(bio);
  spin_unlock(dev + D_Q_LOCK);
  if (marked) blk_cancel_kick(devidx);
  else device_kick(dev);
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
 * Returns the bio (counted as dispatched), or 0 if the queue is empty.
 */
export function blk_fetch(cpu: u32, devidx: u32): usize {
  if (devidx >= MAX_DEVS || cpu >= load<u32>(H_NCPUS)) return 0;
  const dev = dev_addr(devidx);
  const eff = effective();
  let dropped: usize = 0;
  let dropped_tail: usize = 0;
  spin_lock(dev + D_Q_LOCK);
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
 * Device thread, on a cancel kick: drop every marked bio from stage 1 at once,
 * whether or not the device has room (S6: "promptly, without waiting for the
 * device"). Returns how many were dropped.
 */
export function blk_scan(cpu: u32, devidx: u32): u32 {
  if (devidx >= MAX_DEVS || cpu >= load<u32>(H_NCPUS) || !effective()) return 0;
  const dev = dev_addr(devidx);
  let dropped: usize = 0;
  let dropped_tail: usize = 0;
  spin_lock(dev + D_Q_LOCK);
  let bio = <usize>load<u32>(dev, D_Q_HEAD);
  while (bio != 0) {
    const next = <usize>load<u32>(bio, BI_NEXT);
    if (bio_marked(bio)) {
      q_unlink(dev, bio);
      store<u32>(bio, 0, BI_NEXT);
      if (dropped_tail != 0) store<u32>(dropped_tail, <u32>bio, BI_NEXT);
      else dropped = bio;
      dropped_tail = bio;
    }
    bio = next;
  }
  spin_unlock(dev + D_Q_LOCK);
  return dropped != 0 ? cancel_chain(cpu, dev, dropped) : 0;
}

/** A cancel asked for a request whose bios sit on this device: make it scan. */
export function blk_cancel_kick(devidx: u32): void {
  if (devidx >= MAX_DEVS) return;
  const dev = dev_addr(devidx);
  if (atomic.load<u32>(dev + D_TYPE) == DT_NONE) return;
  // Only the first cancel since the device's last scan rings; pairs with the
  // device thread's xchg of cancel_pending to 0 before it scans.
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

/** Result of a request from its bios (the prefix rule in the header comment). */
function bios_result(req: usize): i64 {
  const n = load<u32>(req, KI_NBIO);
  const vec = <usize>load<u32>(req, KI_BIOVEC);
  let total: i64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const b = vec + <usize>i * BIO_SIZE;
    const done = load<u32>(b, BI_DONE);
    total += <i64>done;
    if (done < load<u32>(b, BI_LEN) || load<i32>(b, BI_STATUS) != 0) {
      if (total > 0) return total;
      for (let j: u32 = i; j < n; j++) {
        const st = load<i32>(vec + <usize>j * BIO_SIZE, BI_STATUS);
        if (st != 0) return <i64>st;
      }
      return 0;
    }
  }
  return total;
}

/** A bio is done. The last bio of a request completes the request. */
export function bio_endio(cpu: u32, bio: usize, status: i32, done: u32): void {
  store<u32>(bio, done, BI_DONE);
  store<i32>(bio, status, BI_STATUS);
  const req = <usize>load<u32>(bio, BI_KIOCB);
  // Release our bio's result; the thread that takes bios_left to 0 reads every
  // bio's result (acquire) and completes the request.
  if (atomic.sub<u32>(req + KI_BIOS_LEFT, 1) == 1) aio_complete(cpu, req, bios_result(req), 0);
}

/** Stats word addresses for the host's reads (u64 each). */
export function dev_stats_addr(devidx: u32): usize {
  return devidx < MAX_DEVS ? dev_addr(devidx) + D_ST_DISPATCHED : 0;
}
