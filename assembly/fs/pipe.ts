/**
 * Pipes: the driver that cannot check a mark (S9).
 *
 * A read on an empty pipe may wait forever, so no queue will ever look at its
 * cancel mark. Instead it waits on the pipe's read queue and registers a
 * cancel callback (pipe_cancel_cb). The callback, run by io_cancel, moves the waiter
 * from its wait queue to the pipe's cancelled queue and queues the pipe for
 * the kworker, which completes it -ECANCELED. The callback never completes the
 * request itself, and a cancelled read has consumed nothing.
 *
 * Who moves data: the submitter, inline, when it can (data already there,
 * room already there); otherwise the kworker thread (kworker_run), woken by
 * k.write, by a reader making room, by closes and by cancels. All pipe state
 * is under the pipe's spinlock; completions happen after it is dropped.
 *
 * Data is a byte ring of cap (a power of two) bytes; rpos and wpos are
 * monotonic u32 counters, so wpos - rpos is the fill level.
 *
 * Lock order: ctx_lock (list baseline, held around cancel callbacks) before
 * pipe lock. Nothing takes ctx_lock under a pipe lock.
 */
import {
  PIPE_OFF, PIPE_SIZE, MAX_PIPES, P_STATE, P_LOCK, P_BUF, P_CAP, P_RPOS, P_WPOS, P_READERS,
  P_WRITERS, P_RQ, P_WQ, P_PQ, P_CQ, P_QUEUED, P_KW_NEXT, PIPE_CAP_DEFAULT, PS_FREE, PS_LIVE,
  WQ_NONE, WQ_READ, WQ_WRITE, WQ_POLL, WQ_CANCELLED, KI_WQ_NEXT, KI_WQ_PREV, KI_WQ_WHICH,
  KI_PRIVATE, KI_DONE, KI_NBYTES, KI_OPCODE, H_KW_WORK, H_KW_DOORBELL, H_KW_WAITING,
  IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV, P_WAKE_RD, P_WAKE_WR, KI_POS, POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDNORM, POLLWRNORM,
  KW_REC_SIZE, FT_PIPE_R, FT_PIPE_W, FMODE_READ, FMODE_WRITE, H_FLAGS, FLAG_FI_LATE_CANCEL_FN,
} from '../include/layout';
import { ECANCELED, EAGAIN, EPIPE, ENOMEM, ENFILE } from '../include/errno';
import { hi32, lo32, spin_lock, spin_unlock } from '../include/barrier';
import { kmalloc, kfree } from '../lib/heap';
import { aio_complete, kiocb_set_cancel_fn, ki_cw } from './kiocb';
import { req_copy, req_has_sab } from '../lib/uio';
import { file_open_pair } from './file';

@inline export function pipe_addr(idx: u32): usize {
  return PIPE_OFF + <usize>idx * PIPE_SIZE;
}

// --- wait queues (head, tail of kiocbs linked through KI_WQ_NEXT/PREV) -------

function wq_add(p: usize, q: u32, req: usize, which: u32): void {
  const tail = load<u32>(p + q, 4);
  store<u32>(req, tail, KI_WQ_PREV);
  store<u32>(req, 0, KI_WQ_NEXT);
  if (tail != 0) store<u32>(<usize>tail, <u32>req, KI_WQ_NEXT);
  else store<u32>(p + q, <u32>req);
  store<u32>(p + q, <u32>req, 4);
  store<u32>(req, which, KI_WQ_WHICH);
}

function wq_del(p: usize, q: u32, req: usize): void {
  const prev = load<u32>(req, KI_WQ_PREV);
  const next = load<u32>(req, KI_WQ_NEXT);
  if (prev != 0) store<u32>(<usize>prev, next, KI_WQ_NEXT);
  else store<u32>(p + q, next);
  if (next != 0) store<u32>(<usize>next, prev, KI_WQ_PREV);
  else store<u32>(p + q, prev, 4);
  store<u32>(req, WQ_NONE, KI_WQ_WHICH);
}

@inline function wq_head(p: usize, q: u32): usize {
  return <usize>load<u32>(p + q);
}

@inline function queue_of(which: u32): u32 {
  return which == WQ_READ ? P_RQ : which == WQ_WRITE ? P_WQ : which == WQ_POLL ? P_PQ : P_CQ;
}

// --- the kworker's work list ---------------------------------------------------

/** Queue the pipe for the kworker (once until it is serviced) and wake it. */
export function pipe_queue_work(idx: u32): void {
  const p = pipe_addr(idx);
  // Pairs with kworker_run's store of queued = 0 before it services the pipe.
  if (atomic.cmpxchg<u32>(p + P_QUEUED, 0, 1) != 0) return;
  let h = atomic.load<u32>(H_KW_WORK);
  while (true) {
    store<u32>(p, h, P_KW_NEXT);
    // Push (single consumer takes the whole list with xchg): no ABA possible.
    const seen = atomic.cmpxchg<u32>(H_KW_WORK, h, idx + 1);
    if (seen == h) break;
    h = seen;
  }
  atomic.add<u32>(H_KW_DOORBELL, 1);
  // Pairs with the kworker's store of waiting=1 before it sleeps on the doorbell.
  if (atomic.load<u32>(H_KW_WAITING) != 0) atomic.notify(H_KW_DOORBELL, 1);
}

// --- creation and release ------------------------------------------------------

/** pipe(): fds to out[0] (read end) and out[1] (write end). 0, or -errno. */
export function pipe_create(out: usize): i32 {
  let idx: u32 = 0;
  for (; idx < MAX_PIPES; idx++) {
    if (atomic.cmpxchg<u32>(pipe_addr(idx) + P_STATE, PS_FREE, PS_LIVE) == PS_FREE) break;
  }
  if (idx == MAX_PIPES) return -ENFILE;
  const p = pipe_addr(idx);
  const buf = kmalloc(PIPE_CAP_DEFAULT);
  if (buf == 0) {
    atomic.store<u32>(p + P_STATE, PS_FREE);
    return -ENOMEM;
  }
  // P_LOCK and P_QUEUED stay as they are: the kworker may still hold the lock,
  // or hold this index on its work list, from the pipe's previous life.
  spin_lock(p + P_LOCK);
  store<u32>(p, <u32>buf, P_BUF);
  store<u32>(p, PIPE_CAP_DEFAULT, P_CAP);
  store<u32>(p, 0, P_RPOS);
  store<u32>(p, 0, P_WPOS);
  store<u32>(p, 1, P_READERS);
  store<u32>(p, 1, P_WRITERS);
  store<u64>(p + P_RQ, 0);
  store<u64>(p + P_WQ, 0);
  store<u64>(p + P_PQ, 0);
  store<u64>(p + P_CQ, 0);
  store<u32>(p, 0, P_WAKE_RD);
  store<u32>(p, 0, P_WAKE_WR);
  spin_unlock(p + P_LOCK);
  const r = file_open_pair(idx, out, FT_PIPE_R, FT_PIPE_W, FMODE_READ, FMODE_WRITE, pipe_file_release.index);
  if (r < 0) {
    spin_lock(p + P_LOCK);
    atomic.store<u32>(p + P_STATE, PS_FREE);
    spin_unlock(p + P_LOCK);
    kfree(buf, PIPE_CAP_DEFAULT);
  }
  return r;
}

/** The last reference to one end went away (file release). */
/** The pipe files' release op (F_RELEASE): the last fput of an end. */
function pipe_file_release(idx: u32, type: u32): void {
  pipe_release_end(idx, type == FT_PIPE_W);
}

export function pipe_release_end(idx: u32, write_end: bool): void {
  const p = pipe_addr(idx);
  spin_lock(p + P_LOCK);
  if (write_end) store<u32>(p, load<u32>(p, P_WRITERS) - 1, P_WRITERS);
  else store<u32>(p, load<u32>(p, P_READERS) - 1, P_READERS);
  const gone = load<u32>(p, P_READERS) == 0 && load<u32>(p, P_WRITERS) == 0;
  const buf = <usize>load<u32>(p, P_BUF);
  const cap = load<u32>(p, P_CAP);
  // Under the lock: the kworker re-checks the state after taking it.
  if (gone) atomic.store<u32>(p + P_STATE, PS_FREE);
  spin_unlock(p + P_LOCK);
  if (gone) {
    kfree(buf, cap); // no waiter is left (each held a file reference) and the kworker will skip a FREE pipe
  } else {
    pipe_queue_work(idx); // waiters may now see EOF or EPIPE
  }
}

// --- data movement (caller holds the pipe lock) --------------------------------

/**
 * Copy n bytes between the byte ring at position `pos` (wrapping at cap) and
 * either a request's buffer at offset `at` (req != 0) or kernel memory at `mem`.
 * from_pipe: ring -> other side; else other side -> ring.
 */
function ring_copy(p: usize, pos: u32, n: u32, req: usize, mem: usize, at: u32, from_pipe: bool): void {
  if (n > 0) {
    const w = from_pipe ? P_WAKE_WR : P_WAKE_RD;
    store<u32>(p + w, load<u32>(p + w) + 1);
  }
  const buf = <usize>load<u32>(p, P_BUF);
  const cap = load<u32>(p, P_CAP);
  const off = pos & (cap - 1);
  const first = cap - off < n ? cap - off : n;
  for (let part = 0; part < 2; part++) {
    const k = part == 0 ? buf + off : buf;
    const len = part == 0 ? first : n - first;
    const skip = part == 0 ? 0 : first;
    if (len == 0) continue;
    if (req != 0) req_copy(req, k, len, at + skip, from_pipe);
    else if (from_pipe) memory.copy(mem + skip, k, len);
    else memory.copy(k, mem + skip, len);
  }
}

/** Move n bytes out of the pipe into the request at offset `at`. */
function pipe_to_req(p: usize, req: usize, n: u32, at: u32): void {
  const rpos = load<u32>(p, P_RPOS);
  ring_copy(p, rpos, n, req, 0, at, true);
  store<u32>(p, rpos + n, P_RPOS);
}

/** Move n bytes from the request at offset `at` into the pipe. */
function req_to_pipe(p: usize, req: usize, n: u32, at: u32): void {
  const wpos = load<u32>(p, P_WPOS);
  ring_copy(p, wpos, n, req, 0, at, false);
  store<u32>(p, wpos + n, P_WPOS);
}

@inline function avail(p: usize): u32 {
  return load<u32>(p, P_WPOS) - load<u32>(p, P_RPOS);
}
@inline function room(p: usize): u32 {
  return load<u32>(p, P_CAP) - avail(p);
}

/** Ready mask of one end, as pipe_poll() computes it. */
function pipe_mask(p: usize, write_end: bool): u32 {
  let mask: u32 = 0;
  if (!write_end) {
    if (avail(p) > 0) mask |= POLLIN | POLLRDNORM;
    if (load<u32>(p, P_WRITERS) == 0) mask |= POLLHUP;
  } else {
    if (room(p) > 0) mask |= POLLOUT | POLLWRNORM;
    if (load<u32>(p, P_READERS) == 0) mask |= POLLERR;
  }
  return mask;
}

@inline function is_writer(req: usize): bool {
  const op = load<u32>(req, KI_OPCODE);
  return op == IOCB_CMD_PWRITE || op == IOCB_CMD_PWRITEV;
}

// --- submission (the kiocb is live; called by io_submit) -----------------------

/**
 * Fault injection (FLAG_FI_LATE_CANCEL_FN): wait, bounded, for a cancel to
 * arrive first. The bound (~0.5-2 s of loads) only runs out when no cancel
 * comes; it is wide so that a canceller thread descheduled on a loaded
 * machine still arrives inside it.
 */
function fi_late_cancel_fn(req: usize): void {
  if ((load<u32>(H_FLAGS) & FLAG_FI_LATE_CANCEL_FN) == 0) return;
  for (let i = 0; i < 500_000_000; i++) {
    if (lo32(atomic.load<u64>(ki_cw(req))) != 0) return;
  }
}

export function pipe_read_submit(cpu: u32, req: usize, idx: u32, nbytes: u32, nowait: bool): void {
  const p = pipe_addr(idx);
  const gen = hi32(atomic.load<u64>(ki_cw(req))); // ours until the waiter is visible
  const sab = req_has_sab(req);
  spin_lock(p + P_LOCK);
  if (wq_head(p, P_RQ) == 0) {
    const a = avail(p);
    if (nbytes == 0 || (a > 0 && !sab)) {
      const n = a < nbytes ? a : nbytes;
      if (n > 0) pipe_to_req(p, req, n, 0);
      const kick = n > 0 && (wq_head(p, P_WQ) != 0 || wq_head(p, P_PQ) != 0);
      spin_unlock(p + P_LOCK);
      if (kick) pipe_queue_work(idx);
      aio_complete(cpu, req, <i64>n, 0);
      return;
    }
    if (a == 0 && load<u32>(p, P_WRITERS) == 0) {
      spin_unlock(p + P_LOCK);
      aio_complete(cpu, req, 0, 0); // EOF
      return;
    }
    if (a == 0 && nowait) {
      spin_unlock(p + P_LOCK);
      aio_complete(cpu, req, -EAGAIN, 0);
      return;
    }
  }
  store<u32>(req, idx, KI_PRIVATE);
  wq_add(p, P_RQ, req, WQ_READ);
  const kick = avail(p) > 0 || load<u32>(p, P_WRITERS) == 0; // data for a reader the submitter could not fill
  spin_unlock(p + P_LOCK);
  if (kick) pipe_queue_work(idx);
  fi_late_cancel_fn(req);
  kiocb_set_cancel_fn(req, gen, pipe_cancel_cb.index);
}

export function pipe_write_submit(cpu: u32, req: usize, idx: u32, nbytes: u32, nowait: bool): void {
  const p = pipe_addr(idx);
  const gen = hi32(atomic.load<u64>(ki_cw(req))); // ours until the waiter is visible
  spin_lock(p + P_LOCK);
  if (load<u32>(p, P_READERS) == 0) {
    spin_unlock(p + P_LOCK);
    aio_complete(cpu, req, -EPIPE, 0);
    return;
  }
  let done: u32 = 0;
  if (wq_head(p, P_WQ) == 0) {
    const r = room(p);
    done = r < nbytes ? r : nbytes;
    if (done > 0) req_to_pipe(p, req, done, 0);
    if (done == nbytes || nowait) {
      const kick = done > 0 && (wq_head(p, P_RQ) != 0 || wq_head(p, P_PQ) != 0);
      spin_unlock(p + P_LOCK);
      if (kick) pipe_queue_work(idx);
      aio_complete(cpu, req, done > 0 || nbytes == 0 ? <i64>done : -EAGAIN, 0);
      return;
    }
  }
  store<u32>(req, done, KI_DONE);
  store<u32>(req, idx, KI_PRIVATE);
  wq_add(p, P_WQ, req, WQ_WRITE);
  const kick = done > 0 && (wq_head(p, P_RQ) != 0 || wq_head(p, P_PQ) != 0);
  spin_unlock(p + P_LOCK);
  if (kick) pipe_queue_work(idx);
  kiocb_set_cancel_fn(req, gen, pipe_cancel_cb.index);
}

/** IOCB_CMD_POLL on a pipe end: completes with the ready mask (S9 waiter when not ready). */
export function pipe_poll_submit(cpu: u32, req: usize, idx: u32, write_end: bool, events: u32): void {
  const p = pipe_addr(idx);
  const gen = hi32(atomic.load<u64>(ki_cw(req))); // ours until the waiter is visible
  const want = events | POLLERR | POLLHUP;
  spin_lock(p + P_LOCK);
  const mask = pipe_mask(p, write_end) & want;
  if (mask != 0) {
    spin_unlock(p + P_LOCK);
    aio_complete(cpu, req, <i64>mask, 0);
    return;
  }
  store<u32>(req, idx, KI_PRIVATE);
  store<u32>(req, want, KI_NBYTES);
  store<u32>(req, write_end ? 1 : 0, KI_DONE);
  store<u64>(req, <u64>load<u32>(p + (write_end ? P_WAKE_WR : P_WAKE_RD)), KI_POS); // the wake count it waits past
  wq_add(p, P_PQ, req, WQ_POLL);
  spin_unlock(p + P_LOCK);
  kiocb_set_cancel_fn(req, gen, pipe_cancel_cb.index);
}

/**
 * The pipe's ki_cancel, run by kiocb_cancel (state CANCELLING) or by set_cancel_fn when the
 * cancel came first, for the request of generation `gen`. Dequeues the waiter
 * if it is still waiting; if the kworker already took it, the request
 * completes with what it got. A callback run at once by set_cancel_fn can be
 * late: by then the kiocb may have completed and been reused by another
 * request, so its generation is checked under the pipe lock (every queue
 * change happens under that lock) before anything is touched.
 */
export function pipe_cancel_cb(req: usize, gen: u32): void {
  const idx = load<u32>(req, KI_PRIVATE);
  if (idx >= MAX_PIPES) return;
  const p = pipe_addr(idx);
  spin_lock(p + P_LOCK);
  const which = hi32(atomic.load<u64>(ki_cw(req))) == gen ? load<u32>(req, KI_WQ_WHICH) : WQ_NONE;
  const queued = which == WQ_READ || which == WQ_WRITE || which == WQ_POLL;
  if (queued) {
    wq_del(p, queue_of(which), req);
    wq_add(p, P_CQ, req, WQ_CANCELLED);
  }
  spin_unlock(p + P_LOCK);
  if (queued) pipe_queue_work(idx);
}

// --- the kworker -----------------------------------------------------------------

/**
 * Serve one pipe: cancelled waiters, readers with data (or EOF), writers with
 * room (or EPIPE), ready pollers. Appends (kiocb, result) records at `out`
 * from index n, up to max; returns the new n. If `out` fills, the pipe is
 * queued again. Completion happens in the host after this returns
 * (kworker_complete), because a reader's SharedArrayBuffer segments must be
 * filled from its bounce block before its event is published.
 */
function pipe_service(idx: u32, out: usize, n: u32, max: u32): u32 {
  const p = pipe_addr(idx);
  spin_lock(p + P_LOCK);
  // A pipe released (and maybe recreated) since it was queued: a FREE one has
  // nothing to serve; a new one is served as it is, which is harmless.
  if (atomic.load<u32>(p + P_STATE) != PS_LIVE) {
    spin_unlock(p + P_LOCK);
    return n;
  }
  let full = false;
  // 1. cancelled waiters
  let r = wq_head(p, P_CQ);
  while (r != 0) {
    if (n == max) { full = true; break; }
    wq_del(p, P_CQ, r);
    const done = is_writer(r) ? load<u32>(r, KI_DONE) : 0;
    store<u32>(out + <usize>n * KW_REC_SIZE, <u32>r);
    store<i64>(out + <usize>n * KW_REC_SIZE, done > 0 ? <i64>done : -ECANCELED, 8);
    n++;
    r = wq_head(p, P_CQ);
  }
  // 2. readers and writers, until neither makes progress
  let progress = true;
  while (progress && !full) {
    progress = false;
    r = wq_head(p, P_RQ);
    while (r != 0) {
      if (n == max) { full = true; break; }
      const a = avail(p);
      const want = load<u32>(r, KI_NBYTES);
      let res: i64 = -1;
      if (a > 0) {
        const m = a < want ? a : want;
        pipe_to_req(p, r, m, 0);
        res = <i64>m;
        progress = true;
      } else if (load<u32>(p, P_WRITERS) == 0) {
        res = 0;
      } else {
        break;
      }
      wq_del(p, P_RQ, r);
      store<u32>(out + <usize>n * KW_REC_SIZE, <u32>r);
      store<i64>(out + <usize>n * KW_REC_SIZE, res, 8);
      n++;
      r = wq_head(p, P_RQ);
    }
    r = wq_head(p, P_WQ);
    while (r != 0 && !full) {
      if (n == max) { full = true; break; }
      const done = load<u32>(r, KI_DONE);
      const want = load<u32>(r, KI_NBYTES);
      let res: i64 = -1;
      if (load<u32>(p, P_READERS) == 0) {
        res = done > 0 ? <i64>done : -EPIPE;
      } else {
        const rm = room(p);
        if (rm == 0) break;
        const m = rm < want - done ? rm : want - done;
        req_to_pipe(p, r, m, done);
        store<u32>(r, done + m, KI_DONE);
        progress = true;
        if (done + m < want) break;
        res = <i64>(done + m);
      }
      wq_del(p, P_WQ, r);
      store<u32>(out + <usize>n * KW_REC_SIZE, <u32>r);
      store<i64>(out + <usize>n * KW_REC_SIZE, res, 8);
      n++;
      r = wq_head(p, P_WQ);
    }
  }
  // 3. pollers: woken by a key since they queued (bytes in, for the read end;
  //    bytes out, for the write end) they complete with the key, as
  //    aio_poll_wake's mangle_poll(key), even if a reader took the bytes since;
  //    otherwise (a close wakes without a key) with the ready mask.
  r = wq_head(p, P_PQ);
  while (r != 0 && !full) {
    const next = <usize>load<u32>(r, KI_WQ_NEXT);
    const we = load<u32>(r, KI_DONE) != 0;
    const want = load<u32>(r, KI_NBYTES);
    const woken = load<u32>(p + (we ? P_WAKE_WR : P_WAKE_RD)) != <u32>load<u64>(r, KI_POS);
    const key: u32 = !woken ? 0 : we ? POLLOUT | POLLWRNORM : POLLIN | POLLRDNORM;
    const res: u32 = (key & want) != 0 ? key : pipe_mask(p, we) & want;
    if (res != 0) {
      if (n == max) { full = true; break; }
      wq_del(p, P_PQ, r);
      store<u32>(out + <usize>n * KW_REC_SIZE, <u32>r);
      store<i64>(out + <usize>n * KW_REC_SIZE, <i64>res, 8);
      n++;
    }
    r = next;
  }
  spin_unlock(p + P_LOCK);
  if (full) pipe_queue_work(idx);
  return n;
}

/**
 * kworker: take the whole work list and serve each pipe. Writes up to `max`
 * (kiocb, result) records at `out`; returns how many. Pipes that did not fit
 * stay queued.
 */
export function kworker_run(out: usize, max: u32): u32 {
  // Take everything queued so far; pairs with pipe_queue_work's cmpxchg push.
  let w = atomic.xchg<u32>(H_KW_WORK, 0);
  let n: u32 = 0;
  while (w != 0) {
    const idx = w - 1;
    const p = pipe_addr(idx);
    w = load<u32>(p, P_KW_NEXT);
    // Re-arm before serving: a kick from now on queues the pipe again.
    atomic.store<u32>(p + P_QUEUED, 0);
    if (n < max) n = pipe_service(idx, out, n, max);
    else pipe_queue_work(idx);
  }
  return n;
}

// --- synchronous read/write from the host (k.write, k.read) --------------------

/** write(2) on a pipe, non-blocking: bytes written, -EAGAIN if full, -EPIPE if no reader. */
export function pipe_write_sync(idx: u32, src: usize, n: u32): i32 {
  const p = pipe_addr(idx);
  spin_lock(p + P_LOCK);
  if (load<u32>(p, P_READERS) == 0) {
    spin_unlock(p + P_LOCK);
    return -EPIPE;
  }
  const r = room(p);
  const m = r < n ? r : n;
  const wpos = load<u32>(p, P_WPOS);
  ring_copy(p, wpos, m, 0, src, 0, false);
  store<u32>(p, wpos + m, P_WPOS);
  const kick = m > 0 && (wq_head(p, P_RQ) != 0 || wq_head(p, P_PQ) != 0);
  spin_unlock(p + P_LOCK);
  if (kick) pipe_queue_work(idx);
  return m > 0 || n == 0 ? <i32>m : -EAGAIN;
}

/** read(2) on a pipe, non-blocking: bytes read, 0 at EOF, -EAGAIN if empty. */
export function pipe_read_sync(idx: u32, dst: usize, n: u32): i32 {
  const p = pipe_addr(idx);
  spin_lock(p + P_LOCK);
  const a = avail(p);
  const m = a < n ? a : n;
  const rpos = load<u32>(p, P_RPOS);
  ring_copy(p, rpos, m, 0, dst, 0, true);
  store<u32>(p, rpos + m, P_RPOS);
  const writers = load<u32>(p, P_WRITERS);
  const kick = m > 0 && (wq_head(p, P_WQ) != 0 || wq_head(p, P_PQ) != 0);
  spin_unlock(p + P_LOCK);
  if (kick) pipe_queue_work(idx);
  if (m > 0 || n == 0) return <i32>m;
  return writers == 0 ? 0 : -EAGAIN;
}
