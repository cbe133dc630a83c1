/**
 * Host files on a pool of threads (S13: the seeds' "aio v2" fallback, io-wq).
 *
 * A host file is a real file the host opened (k.open of an absolute path not
 * under /dev/). Its reads, writes and syncs have no asynchronous
 * implementation, so each request becomes a work item: the kiocb itself, on
 * the pool's queue (H_POOL_QHEAD, linked through KI_WQ_NEXT/PREV). Pool
 * threads (src/devices/pool.ts) take items (pool_fetch), do the real fs call
 * into the request's buffer and complete it (pool_done).
 *
 * Cancellation is not tied to threads:
 *  - queued: the cancel callback takes the item off the queue and onto the
 *    cancelled list; the kworker (never busy with I/O) completes it
 *    -ECANCELED at once, even while every pool thread is busy. It never runs.
 *    A cancel that came before the callback was registered is seen at
 *    dequeue (pool_fetch checks the mark), with the same outcome;
 *  - running, interruptible (a FIFO, socket or character device: HF_INTERRUPTIBLE):
 *    the thread waits with non-blocking calls and a futex wait on the
 *    request's ki_cancel word; the callback wakes it (notify on that word) and
 *    the request ends -EINTR, as io-wq does for a signalled worker;
 *  - running, a plain file read or write: completes normally (stage 3).
 *
 * Item states (KI_WQ_WHICH, under H_POOL_LOCK): WQ_NONE -> WQ_POOL (queued)
 * -> WQ_RUNNING (a thread has it; its slot names it) -> WQ_NONE (done), or
 * WQ_POOL -> WQ_CANCELLED (on the cancelled list) -> WQ_NONE (the kworker took it).
 * One global lock: a callback run late (S9) may find its kiocb reused, so it
 * takes a lock it can name without the kiocb and checks the generation under it.
 *
 * A released host file's host fd is closed by a pool thread (the kernel
 * cannot close it): the release op pushes it on H_POOL_CLOSE.
 */
import {
  HF_SIZE, HF_OSFD, HF_FLAGS, HF_NEXT, H_POOL_LOCK, H_POOL_QHEAD, H_POOL_QTAIL, H_POOL_CXL, H_POOL_DOORBELL,
  H_POOL_WAITING, H_POOL_CLOSE, H_POOL_QUEUED, H_POOL_RUNNING, H_POOL_ST_EXECUTED, H_POOL_ST_CANCELLED_Q,
  H_POOL_ST_INTERRUPTED, H_POOL_SLOTS, MAX_POOL_THREADS, H_POOL_THREADS, KI_WQ_NEXT, KI_WQ_PREV, KI_WQ_WHICH,
  KI_PRIVATE, WQ_NONE, WQ_POOL, WQ_RUNNING, WQ_CANCELLED, KW_REC_SIZE, FT_HOST,
} from '../include/layout';
import { ECANCELED, ENOMEM, ENODEV } from '../include/errno';
import { hi32, spin_lock, spin_unlock } from '../include/barrier';
import { kmalloc, kfree } from '../lib/heap';
import { aio_complete, kiocb_set_cancel_fn, kiocb_cancel_asked, ki_cw } from './kiocb';
import { file_open_ops } from './file';
import { kworker_kick } from './kworker';

// --- the queue (caller holds H_POOL_LOCK) -----------------------------------------

function q_add(req: usize): void {
  const tail = load<u32>(H_POOL_QTAIL);
  store<u32>(req, tail, KI_WQ_PREV);
  store<u32>(req, 0, KI_WQ_NEXT);
  if (tail != 0) store<u32>(<usize>tail, <u32>req, KI_WQ_NEXT);
  else store<u32>(H_POOL_QHEAD, <u32>req);
  store<u32>(H_POOL_QTAIL, <u32>req);
  store<u32>(req, WQ_POOL, KI_WQ_WHICH);
  store<u32>(H_POOL_QUEUED, load<u32>(H_POOL_QUEUED) + 1);
}

function q_del(req: usize): void {
  const prev = load<u32>(req, KI_WQ_PREV);
  const next = load<u32>(req, KI_WQ_NEXT);
  if (prev != 0) store<u32>(<usize>prev, next, KI_WQ_NEXT);
  else store<u32>(H_POOL_QHEAD, next);
  if (next != 0) store<u32>(<usize>next, prev, KI_WQ_PREV);
  else store<u32>(H_POOL_QTAIL, prev);
  store<u32>(req, WQ_NONE, KI_WQ_WHICH);
  store<u32>(H_POOL_QUEUED, load<u32>(H_POOL_QUEUED) - 1);
}

/** Wake one sleeping pool thread. */
function pool_kick(): void {
  atomic.add<u32>(H_POOL_DOORBELL, 1);
  // Pairs with a pool thread's add to waiting before it sleeps on the doorbell.
  if (atomic.load<u32>(H_POOL_WAITING) != 0) atomic.notify(H_POOL_DOORBELL, 1);
}

// --- files --------------------------------------------------------------------------

/**
 * Make a host fd (opened by the host) a kaio file. flags: HF_*. Returns the
 * kaio fd, or -errno (the host then closes osfd itself).
 */
export function hostfile_open(osfd: i32, mode: u32, flags: u32): i32 {
  const hf = kmalloc(HF_SIZE);
  if (hf == 0) return -ENOMEM;
  store<i32>(hf, osfd, HF_OSFD);
  store<u32>(hf, flags, HF_FLAGS);
  store<u32>(hf, 0, HF_NEXT);
  const fd = file_open_ops(FT_HOST, mode, <u32>hf, hostfile_release.index);
  if (fd < 0) kfree(hf, HF_SIZE);
  return fd;
}

/** The host file's release op (the last fput): its host fd goes to a pool thread to close. */
function hostfile_release(obj: u32, type: u32): void {
  const hf = <usize>obj;
  let h = atomic.load<u32>(H_POOL_CLOSE);
  while (true) {
    store<u32>(hf, h, HF_NEXT);
    // Push; the one consumer takes the whole stack with xchg (no ABA).
    const seen = atomic.cmpxchg<u32>(H_POOL_CLOSE, h, <u32>hf);
    if (seen == h) break;
    h = seen;
  }
  pool_kick();
}

/**
 * Take every released host file: returns the first (0: none); each one's
 * HF_OSFD is the host fd to close, HF_NEXT the next. The caller frees each
 * with kfree(hf, HF_SIZE) after reading it.
 */
export function pool_take_closes(): u32 {
  return atomic.xchg<u32>(H_POOL_CLOSE, 0);
}

// --- submission and cancel ----------------------------------------------------------------

/** Queue a live request on host file `hf` for the pool. It may complete before this returns. */
export function hostfile_submit(cpu: u32, req: usize, hf: usize): void {
  if (atomic.load<u32>(H_POOL_THREADS) == 0) {
    aio_complete(cpu, req, -ENODEV, 0); // no pool (it is stopped): nobody would run it
    return;
  }
  const gen = hi32(atomic.load<u64>(ki_cw(req))); // ours until it is queued
  store<u32>(req, <u32>hf, KI_PRIVATE);
  spin_lock(H_POOL_LOCK);
  q_add(req);
  spin_unlock(H_POOL_LOCK);
  pool_kick();
  kiocb_set_cancel_fn(req, gen, pool_cancel_cb.index);
}

/**
 * The pool item's ki_cancel (run under CANCELLING by kiocb_cancel, or at once
 * by set_cancel_fn when the cancel came first). Queued: to the cancelled list,
 * for the kworker. Running: wake the thread waiting on the ki_cancel word (it
 * looks at the mark; only interruptible work waits there). Never completes.
 */
function pool_cancel_cb(req: usize, gen: u32): void {
  const cw = ki_cw(req);
  spin_lock(H_POOL_LOCK);
  let which = WQ_NONE;
  if (hi32(atomic.load<u64>(cw)) == gen) which = load<u32>(req, KI_WQ_WHICH);
  if (which == WQ_POOL) {
    q_del(req);
    store<u32>(req, load<u32>(H_POOL_CXL), KI_WQ_NEXT);
    store<u32>(H_POOL_CXL, <u32>req);
    store<u32>(req, WQ_CANCELLED, KI_WQ_WHICH);
  }
  spin_unlock(H_POOL_LOCK);
  if (which == WQ_POOL) {
    atomic.add<u64>(H_POOL_ST_CANCELLED_Q, 1);
    kworker_kick();
  } else if (which == WQ_RUNNING) {
    // Pairs with the pool thread's Atomics.wait on this word (after its load of it).
    atomic.notify(cw, -1);
  }
}

/** The kworker's share: cancelled items as (kiocb, -ECANCELED) records from index n, up to max. */
export function pool_collect_cancelled(out: usize, n: u32, max: u32): u32 {
  if (atomic.load<u32>(H_POOL_CXL) == 0) return n;
  spin_lock(H_POOL_LOCK);
  let r = <usize>load<u32>(H_POOL_CXL);
  while (r != 0 && n < max) {
    const next = <usize>load<u32>(r, KI_WQ_NEXT);
    store<u32>(r, WQ_NONE, KI_WQ_WHICH);
    store<u32>(out + <usize>n * KW_REC_SIZE, <u32>r);
    store<i64>(out + <usize>n * KW_REC_SIZE, -ECANCELED, 8);
    n++;
    r = next;
  }
  store<u32>(H_POOL_CXL, <u32>r);
  spin_unlock(H_POOL_LOCK);
  if (r != 0) kworker_kick();
  return n;
}

// --- the pool threads' side -----------------------------------------------------------

@inline function slot_addr(slot: u32): usize {
  return H_POOL_SLOTS + (<usize>slot << 2);
}

/**
 * Take the next item for pool thread `slot`: the kiocb, now WQ_RUNNING and
 * named by the slot, or 0 if the queue is empty. An item already asked to
 * cancel is completed -ECANCELED here instead (it never runs).
 */
export function pool_fetch(cpu: u32, slot: u32): usize {
  if (slot >= MAX_POOL_THREADS) return 0;
  while (true) {
    spin_lock(H_POOL_LOCK);
    const req = <usize>load<u32>(H_POOL_QHEAD);
    if (req == 0) {
      spin_unlock(H_POOL_LOCK);
      return 0;
    }
    q_del(req);
    if (kiocb_cancel_asked(req)) {
      spin_unlock(H_POOL_LOCK);
      atomic.add<u64>(H_POOL_ST_CANCELLED_Q, 1);
      aio_complete(cpu, req, -ECANCELED, 0);
      continue;
    }
    store<u32>(req, WQ_RUNNING, KI_WQ_WHICH);
    store<u32>(H_POOL_RUNNING, load<u32>(H_POOL_RUNNING) + 1);
    // Pairs with pool_slot's atomic load (the host reads the slot without the lock).
    atomic.store<u32>(slot_addr(slot), <u32>req);
    spin_unlock(H_POOL_LOCK);
    return req;
  }
}

/** The item pool thread `slot` runs (a replacement thread finishes its dead predecessor's), or 0. */
export function pool_slot(slot: u32): usize {
  if (slot >= MAX_POOL_THREADS) return 0;
  return <usize>atomic.load<u32>(slot_addr(slot));
}

/**
 * Pool thread `slot` finished its item with `res` (interrupted: it ended
 * -EINTR because a cancel woke it). Completes the request.
 */
export function pool_done(cpu: u32, slot: u32, res: i64, interrupted: bool): void {
  if (slot >= MAX_POOL_THREADS) return;
  spin_lock(H_POOL_LOCK);
  const req = <usize>load<u32>(slot_addr(slot));
  if (req != 0) {
    store<u32>(req, WQ_NONE, KI_WQ_WHICH);
    store<u32>(H_POOL_RUNNING, load<u32>(H_POOL_RUNNING) - 1);
    atomic.store<u32>(slot_addr(slot), 0); // pairs with pool_slot's atomic load, as above
  }
  spin_unlock(H_POOL_LOCK);
  if (req == 0) return;
  atomic.add<u64>(H_POOL_ST_EXECUTED, 1);
  if (interrupted) atomic.add<u64>(H_POOL_ST_INTERRUPTED, 1);
  aio_complete(cpu, req, res, 0);
}
