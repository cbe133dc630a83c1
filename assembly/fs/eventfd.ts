/**
 * eventfd: a 64-bit counter as a file (Linux fs/eventfd.c), for completion
 * notification (IOCB_FLAG_RESFD). kaio's eventfds are EFD_NONBLOCK: a read of
 * a zero counter is -EAGAIN, never a wait (k.read, and PREAD as its event's
 * res); POLL waits until the counter is non-zero, as on Linux.
 *
 * The struct (EFD_*) is kmalloc'd per eventfd and is its file's F_OBJ. One
 * lock, H_EFD_LOCK, covers every eventfd's fields and wait queue and the
 * deferred list: a cancel callback run late (set_cancel_fn, S9) may find its
 * kiocb reused by another request, so it must take a lock it can name without
 * trusting the kiocb, and check the generation under it. A request that
 * completes on the kworker (a cancelled poller: -ECANCELED; a read into a
 * registered SharedArrayBuffer, whose bytes the kworker copies) waits on the
 * deferred list (H_EFD_DEFERRED) with its result in KI_POS. Completions happen
 * with the lock dropped.
 */
import {
  EFD_SIZE, EFD_COUNT, EFD_PQ, H_EFD_DEFERRED, H_EFD_LOCK, KI_WQ_NEXT, KI_WQ_PREV, KI_WQ_WHICH,
  KI_PRIVATE, KI_NBYTES, KI_POS, WQ_NONE, WQ_POLL, WQ_CANCELLED, KW_REC_SIZE, FT_EVENTFD, FMODE_READ, FMODE_WRITE,
  POLLIN, POLLOUT, POLLERR, POLLRDNORM, POLLWRNORM, STAGE_REC_SIZE, STAGE_RESFD,
} from '../include/layout';
import { EAGAIN, EINVAL, ENOMEM, ECANCELED } from '../include/errno';
import { hi32, spin_lock, spin_unlock } from '../include/barrier';
import { kmalloc, kfree } from '../lib/heap';
import { req_copy, req_has_sab } from '../lib/uio';
import { aio_complete, kiocb_set_cancel_fn, ki_cw } from './kiocb';
import { file_open_ops, fput, file_obj } from './file';
import { kworker_kick } from './kworker';

const ULLONG_MAX: u64 = 0xffffffffffffffff;

function wq_add(e: usize, req: usize): void {
  const tail = load<u32>(e + EFD_PQ, 4);
  store<u32>(req, tail, KI_WQ_PREV);
  store<u32>(req, 0, KI_WQ_NEXT);
  if (tail != 0) store<u32>(<usize>tail, <u32>req, KI_WQ_NEXT);
  else store<u32>(e + EFD_PQ, <u32>req);
  store<u32>(e + EFD_PQ, <u32>req, 4);
  store<u32>(req, WQ_POLL, KI_WQ_WHICH);
}

function wq_del(e: usize, req: usize): void {
  const prev = load<u32>(req, KI_WQ_PREV);
  const next = load<u32>(req, KI_WQ_NEXT);
  if (prev != 0) store<u32>(<usize>prev, next, KI_WQ_NEXT);
  else store<u32>(e + EFD_PQ, next);
  if (next != 0) store<u32>(<usize>next, prev, KI_WQ_PREV);
  else store<u32>(e + EFD_PQ, prev, 4);
  store<u32>(req, WQ_NONE, KI_WQ_WHICH);
}

/** Hand a request to the kworker, to complete with `res`. Caller holds H_EFD_LOCK and kicks the kworker after dropping it. */
function defer(req: usize, res: i64): void {
  store<i64>(req, res, KI_POS);
  store<u32>(req, load<u32>(H_EFD_DEFERRED), KI_WQ_NEXT);
  store<u32>(H_EFD_DEFERRED, <u32>req);
  store<u32>(req, WQ_CANCELLED, KI_WQ_WHICH);
}

/** Ready mask (eventfd_poll). Caller holds the lock. */
function efd_mask(e: usize): u32 {
  const c = load<u64>(e, EFD_COUNT);
  let m: u32 = 0;
  if (c > 0) m |= POLLIN | POLLRDNORM;
  if (c == ULLONG_MAX) m |= POLLERR;
  if (ULLONG_MAX - 1 > c) m |= POLLOUT | POLLWRNORM;
  return m;
}

/** eventfd(initval, EFD_NONBLOCK): an fd, or -errno. */
export function eventfd_create(initval: u32): i32 {
  const e = kmalloc(EFD_SIZE);
  if (e == 0) return -ENOMEM;
  store<u64>(e, <u64>initval, EFD_COUNT);
  store<u64>(e + EFD_PQ, 0);
  const fd = file_open_ops(FT_EVENTFD, FMODE_READ | FMODE_WRITE, <u32>e, eventfd_release.index);
  if (fd < 0) kfree(e, EFD_SIZE);
  return fd;
}

/** The eventfd file's release op: no poller is left (each held a file reference). */
function eventfd_release(obj: u32, type: u32): void {
  kfree(<usize>obj, EFD_SIZE);
}

/**
 * Add n to the counter (eventfd_signal) and complete the pollers it makes
 * ready, with the wake key EPOLLIN, as aio_poll_wake does. The count
 * saturates below ULLONG_MAX (Linux's eventfd_signal does not fail either).
 */
export function eventfd_add(cpu: u32, e: usize, n: u64): void {
  spin_lock(H_EFD_LOCK);
  const c = load<u64>(e, EFD_COUNT);
  store<u64>(e, ULLONG_MAX - 1 - c < n ? ULLONG_MAX - 1 : c + n, EFD_COUNT);
  // Take every poller that wants POLLIN; the rest keep waiting.
  let woken: usize = 0;
  let r = <usize>load<u32>(e + EFD_PQ);
  while (r != 0) {
    const next = <usize>load<u32>(r, KI_WQ_NEXT);
    if ((load<u32>(r, KI_NBYTES) & (POLLIN | POLLRDNORM)) != 0 && n > 0) {
      wq_del(e, r);
      store<u32>(r, <u32>woken, KI_WQ_NEXT);
      woken = r;
    }
    r = next;
  }
  spin_unlock(H_EFD_LOCK);
  while (woken != 0) {
    const next = <usize>load<u32>(woken, KI_WQ_NEXT);
    aio_complete(cpu, woken, <i64>POLLIN, 0);
    woken = next;
  }
}

/**
 * The notify op aio_complete calls once an event with IOCB_FLAG_RESFD is
 * published: add 1 to the eventfd and drop the request's reference to it.
 */
export function eventfd_notify(cpu: u32, fh: u32): void {
  eventfd_add(cpu, <usize>file_obj(fh), 1);
  fput(fh);
}

/** read(2): 8 and the counter (little-endian) at dst, reset to 0; -EAGAIN at 0; -EINVAL below 8 bytes. */
export function eventfd_read_sync(e: usize, dst: usize, n: u32): i32 {
  if (n < 8) return -EINVAL;
  spin_lock(H_EFD_LOCK);
  const c = load<u64>(e, EFD_COUNT);
  store<u64>(e, 0, EFD_COUNT);
  spin_unlock(H_EFD_LOCK);
  if (c == 0) return -EAGAIN;
  store<u64>(dst, c);
  return 8;
}

/** write(2): add the little-endian u64 at src. 8, or -EINVAL (short, or ULLONG_MAX), -EAGAIN (it would overflow). */
export function eventfd_write_sync(cpu: u32, e: usize, src: usize, n: u32): i32 {
  if (n < 8) return -EINVAL;
  const v = load<u64>(src);
  if (v == ULLONG_MAX) return -EINVAL;
  spin_lock(H_EFD_LOCK);
  const ok = ULLONG_MAX - 1 - load<u64>(e, EFD_COUNT) >= v;
  spin_unlock(H_EFD_LOCK);
  if (!ok) return -EAGAIN;
  eventfd_add(cpu, e, v);
  return 8;
}

/** IOCB_CMD_PREAD on an eventfd: as read(2), the result as the event's res. */
export function eventfd_pread_submit(cpu: u32, req: usize, e: usize, nbytes: u32): void {
  if (nbytes < 8) { aio_complete(cpu, req, -EINVAL, 0); return; }
  spin_lock(H_EFD_LOCK);
  const c = load<u64>(e, EFD_COUNT);
  store<u64>(e, 0, EFD_COUNT);
  spin_unlock(H_EFD_LOCK);
  if (c == 0) { aio_complete(cpu, req, -EAGAIN, 0); return; }
  const tmp = kmalloc(8);
  if (tmp == 0) { aio_complete(cpu, req, -ENOMEM, 0); return; }
  store<u64>(tmp, c);
  req_copy(req, tmp, 8, 0, true);
  kfree(tmp, 8);
  // A registered SharedArrayBuffer is filled by the kworker from the bounce block.
  if (req_has_sab(req)) {
    spin_lock(H_EFD_LOCK);
    defer(req, 8);
    spin_unlock(H_EFD_LOCK);
    kworker_kick();
  } else {
    aio_complete(cpu, req, 8, 0);
  }
}

/** IOCB_CMD_PWRITE on an eventfd: as write(2). */
export function eventfd_pwrite_submit(cpu: u32, req: usize, e: usize, nbytes: u32): void {
  if (nbytes < 8) { aio_complete(cpu, req, -EINVAL, 0); return; }
  const tmp = kmalloc(8);
  if (tmp == 0) { aio_complete(cpu, req, -ENOMEM, 0); return; }
  req_copy(req, tmp, 8, 0, false);
  const r = eventfd_write_sync(cpu, e, tmp, 8);
  kfree(tmp, 8);
  aio_complete(cpu, req, <i64>r, 0);
}

/** IOCB_CMD_POLL on an eventfd: the ready mask now, or a waiter until a signal makes POLLIN ready. */
export function eventfd_poll_submit(cpu: u32, req: usize, e: usize, events: u32): void {
  const gen = hi32(atomic.load<u64>(ki_cw(req))); // ours until the waiter is visible
  const want = events | POLLERR;
  spin_lock(H_EFD_LOCK);
  const mask = efd_mask(e) & want;
  if (mask != 0) {
    spin_unlock(H_EFD_LOCK);
    aio_complete(cpu, req, <i64>mask, 0);
    return;
  }
  store<u32>(req, <u32>e, KI_PRIVATE);
  store<u32>(req, want, KI_NBYTES);
  wq_add(e, req);
  spin_unlock(H_EFD_LOCK);
  kiocb_set_cancel_fn(req, gen, eventfd_cancel_cb.index);
}

/**
 * A waiting poller's ki_cancel: moves it to the deferred list for the kworker
 * to complete -ECANCELED. Acts only if the request of generation `gen` still
 * waits (checked under the eventfd's lock, which every queue change takes).
 */
function eventfd_cancel_cb(req: usize, gen: u32): void {
  spin_lock(H_EFD_LOCK);
  const waiting = hi32(atomic.load<u64>(ki_cw(req))) == gen && load<u32>(req, KI_WQ_WHICH) == WQ_POLL;
  if (waiting) {
    wq_del(<usize>load<u32>(req, KI_PRIVATE), req);
    defer(req, -ECANCELED);
  }
  spin_unlock(H_EFD_LOCK);
  if (waiting) kworker_kick();
}

/** The kworker's share: (kiocb, result) records from index n, up to max. Returns the new n. */
export function eventfd_collect(out: usize, n: u32, max: u32): u32 {
  if (atomic.load<u32>(H_EFD_DEFERRED) == 0) return n;
  spin_lock(H_EFD_LOCK);
  let r = <usize>load<u32>(H_EFD_DEFERRED);
  while (r != 0 && n < max) {
    const next = load<u32>(r, KI_WQ_NEXT);
    store<u32>(r, WQ_NONE, KI_WQ_WHICH);
    store<u32>(out + <usize>n * KW_REC_SIZE, <u32>r);
    store<i64>(out + <usize>n * KW_REC_SIZE, load<i64>(r, KI_POS), 8);
    n++;
    r = <usize>next;
  }
  store<u32>(H_EFD_DEFERRED, <u32>r);
  spin_unlock(H_EFD_LOCK);
  if (r != 0) kworker_kick();
  return n;
}

/** Signal the eventfds of n staged events (STAGE_REC_SIZE records at recs), once they are published. */
export function eventfd_notify_staged(cpu: u32, recs: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i++) {
    const fh = load<u32>(recs + <usize>i * STAGE_REC_SIZE, STAGE_RESFD);
    if (fh != 0) eventfd_notify(cpu, fh);
  }
}
