/**
 * The syscalls' kernel side: io_submit (S2), io_cancel (S5), the reaping step
 * of io_getevents (S4), synchronous read/write, and boot.
 *
 * Arguments too big for parameters cross in the calling cpu's scratch area
 * (layout.ts: SUB_* records, SEG_* segments, REAP_* records). The host has
 * already rejected what JS alone can judge (malformed entries, reserved
 * fields, negative offsets, bad sizes); everything that needs kernel state is
 * judged here, in the order S2 gives: ring slot (-EAGAIN), fd (-EBADF), open
 * mode (-EBADF), opcode (-EINVAL).
 */
import {
  KAIO_MAGIC, KAIO_VERSION, LAYOUT_SIG, H_MAGIC, H_VERSION, H_MEM_BYTES, H_NCPUS, H_FLAGS,
  H_AIO_MAX_NR, H_HEAP_TOP, H_HEAP_END, H_BOOT_ID, H_LAYOUT_SIG, HEAP_OFF, MAX_CPUS,
  SCRATCH_OFF, SCRATCH_SHIFT, SCRATCH_SEGS, SUB_REC_SIZE, SUB_MAX_BATCH, SUB_OPCODE, SUB_FD,
  SUB_NBYTES, SUB_FLAGS, SUB_OFFSET, SUB_DATA, SUB_RESFD, SUB_RW_FLAGS, SUB_NSEG, SUB_SEG_FIRST,
  SUB_OUT_ID, SUB_OUT_GEN, SUB_BOUNCE, SUB_BOUNCE_SIZE, SEG_SIZE, SEG_KIND, SEG_REF, SEG_OFF,
  SEG_LEN, KI_CTX, KI_ID, KI_DATA, KI_POS, KI_NBYTES, KI_OPCODE, KI_FILE, KI_FLAGS,
  KI_BIOS_LEFT, KI_NBIO, KI_BIOVEC, KI_BOUNCE, KI_BOUNCE_SIZE,
  KI_WQ_WHICH, KI_PRIVATE, KI_DONE, KI_CPU, KI_SEGS, KI_NSEG, KI_SEG_INLINE, KI_INLINE_SEGS,
  KI_BIO_INLINE, BIO_SIZE, WQ_NONE, CX_ID_BASE, REAP_MAX, FT_BLOCK, FT_PIPE_R,
  FT_PIPE_W, FMODE_READ, FMODE_WRITE, IOCB_FLAG_RESFD, RWF_NOWAIT, IOCB_CMD_PREAD,
  IOCB_CMD_PWRITE, IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC, IOCB_CMD_POLL, IOCB_CMD_NOOP,
  IOCB_CMD_PREADV, IOCB_CMD_PWRITEV, DT_RAMDISK, DT_NULL, D_TYPE, D_SIZE, D_MEDIA, BIO_READ,
  BIO_WRITE, BIO_FLUSH, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, POLLERR, POLLHUP, F_POS,
  KW_MAX, TAG_EMPTY, CPU_HELD_REQS, CPU_SPARE_TAG, SUB_MAX_SEGS, SCRATCH_SIZE, CX_REAP_LOCK, SUB_COOKIE, CPU_OFF, CPU_SIZE, CPU_DEFER, KI_COOKIE,
  CPU_STAGED, CPU_SUBMITTED, SCRATCH_STAGE, PC_INFLIGHT, SUB_ERR_PREP, SUB_ERR_LATE, SUB_ERR_KEY, H_ORPHANS, COOKIE_SPACE, COOKIE_INDEX_MASK,
  H_FI_TAG_HOOK, FLAG_FI_TAG_FREE_REUSE, COOKIE_BITS, COOKIE_CPU_SHIFT, CPU_EPOCH, COOKIE_NONE, KI_UPIN, H_POSSIBLE_CPUS, MAX_CTX, CX_STATE_GEN, CTX_DYING, H_ST_DISCARDED,
  FT_HOST, FT_EVENTFD, KI_NOTIFY, KI_RESFD, KI_FDENT, FD_OFF, MAX_FDS, CX_NR, KIOCB_FREE, HF_OSFD, HF_FLAGS, HF_DIR, HF_INTERRUPTIBLE,
} from '../include/layout';
import { EINVAL, EAGAIN, EBADF, EBUSY, EFAULT, ENOMEM, ENOSPC, ESPIPE, EOPNOTSUPP, EINPROGRESS } from '../include/errno';
import { hi32, lo32, pack, mutex_lock_contended } from '../include/barrier';
import { kmalloc, kfree, kmalloc_pages, user_heap_init } from '../lib/heap';
import { ctx_get_on, ctx_put_on, ctx_addr } from './ctxtab';
import { tag_alloc, tag_free } from '../lib/tags';
import { get_reqs, put_reqs, reqs_reserve, reap_trylock, reap_unlock, ring_reap, ring_publish_staged, cookies_take } from './ring';
import {
  kiocb_get, kiocb_lookup, cw_lookup, ki_cw, kiocb_publish, kiocb_cancel, aio_complete, lookup_is_list, list_add,
  list_cancel, fi_tag_free_reuse, next_gen, kiocb_key, stage_event,
} from './kiocb';
import { fget, fput, file_peek, file_type, file_mode, file_obj, file_addr } from './file';
import { pcpu_of } from '../lib/tags';
import { dev_addr, blk_reap_all, blk_finish_plug } from '../block/blk';
import { blkdev_rw_submit, blkdev_fsync_submit } from './block_dev';
import { pipe_read_submit, pipe_write_submit, pipe_poll_submit, pipe_write_sync, pipe_read_sync, kworker_run } from './pipe';
import { hostfile_submit, pool_collect_cancelled } from './hostfile';
import {
  eventfd_notify, eventfd_notify_staged, eventfd_read_sync, eventfd_write_sync, eventfd_pread_submit, eventfd_pwrite_submit,
  eventfd_poll_submit, eventfd_collect,
} from './eventfd';

@inline export function scratch(cpu: u32): usize {
  return SCRATCH_OFF + (<usize>cpu << SCRATCH_SHIFT);
}

/** A cpu id from the host indexes per-cpu arrays sized by the boot's ncpus. */
@inline export function cpu_ok(cpu: u32): bool {
  return cpu < load<u32>(H_NCPUS);
}

/** Boot: write the header. Called once, by the booting thread, before any other. */
export function kernel_init(mem_bytes: u32, ncpus: u32, flags: u32, aio_max_nr: u32, boot_id: u32, possible_cpus: u32): i32 {
  if (ncpus == 0 || ncpus > MAX_CPUS || mem_bytes <= HEAP_OFF || possible_cpus == 0 || possible_cpus > 8192) return -EINVAL;
  store<u32>(H_POSSIBLE_CPUS, possible_cpus);
  store<u32>(H_MAGIC, KAIO_MAGIC);
  store<u32>(H_VERSION, KAIO_VERSION);
  store<u32>(H_LAYOUT_SIG, LAYOUT_SIG);
  store<u32>(H_MEM_BYTES, mem_bytes);
  store<u32>(H_NCPUS, ncpus);
  store<u32>(H_FLAGS, flags);
  store<u32>(H_FI_TAG_HOOK, (flags & FLAG_FI_TAG_FREE_REUSE) != 0 ? fi_tag_free_reuse.index : 0);
  store<u32>(H_AIO_MAX_NR, aio_max_nr);
  store<u32>(H_BOOT_ID, boot_id);
  store<u32>(H_HEAP_END, mem_bytes);
  atomic.store<u32>(H_HEAP_TOP, HEAP_OFF);
  if (!user_heap_init(mem_bytes)) return -ENOMEM;
  const orphans = kmalloc_pages(ncpus * (COOKIE_SPACE >> 3));
  if (orphans == 0) return -ENOMEM;
  store<u32>(H_ORPHANS, <u32>orphans);
  return 0;
}

/** Compile-time layout signature of this module (the host compares it with its own). */
export function layout_sig(): u32 {
  return LAYOUT_SIG;
}

// --- io_submit ------------------------------------------------------------------

/** Copy the record's segments into the kiocb. false when out of memory. */
function take_segments(req: usize, rec: usize, segbase: usize): bool {
  const nseg = load<u32>(rec, SUB_NSEG);
  const first = load<u32>(rec, SUB_SEG_FIRST);
  if (nseg > SUB_MAX_SEGS || first > SUB_MAX_SEGS - nseg) return false; // checked in submit_one
  let segs: usize = 0;
  if (nseg > 0) {
    segs = nseg <= KI_INLINE_SEGS ? req + KI_SEG_INLINE : kmalloc(nseg * SEG_SIZE);
    if (segs == 0) return false;
    const src = segbase + <usize>first * SEG_SIZE;
    if (nseg == 1) {
      // One segment (the common case): two words, not a memory.copy call.
      store<u64>(segs, load<u64>(src));
      store<u64>(segs, load<u64>(src, 8), 8);
    } else {
      memory.copy(segs, src, nseg * SEG_SIZE);
    }
  }
  store<u32>(req, <u32>segs, KI_SEGS);
  store<u32>(req, nseg, KI_NSEG);
  return true;
}

/** Hand a live request to its driver. It may complete before this returns. */
function dispatch(cpu: u32, req: usize, opcode: u32, type: u32, obj: u32, pos: u64, nbytes: u32, rwf: u32, events: u32): void {
  const nowait = (rwf & RWF_NOWAIT) != 0;
  if (opcode == IOCB_CMD_NOOP) {
    aio_complete(cpu, req, 0, 0);
    return;
  }
  if (type == FT_HOST) {
    // Every other opcode runs on the pool; POLL: regular files are always ready (DEFAULT_POLLMASK).
    if (opcode == IOCB_CMD_POLL) aio_complete(cpu, req, <i64>((POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM) & (events | POLLERR | POLLHUP)), 0);
    else if ((opcode == IOCB_CMD_PREAD || opcode == IOCB_CMD_PWRITE) && nbytes == 0) aio_complete(cpu, req, 0, 0);
    else hostfile_submit(cpu, req, <usize>obj);
    return;
  }
  if (type == FT_EVENTFD) {
    if (opcode == IOCB_CMD_POLL) eventfd_poll_submit(cpu, req, <usize>obj, events);
    else if (opcode == IOCB_CMD_PREAD || opcode == IOCB_CMD_PREADV) eventfd_pread_submit(cpu, req, <usize>obj, nbytes);
    else eventfd_pwrite_submit(cpu, req, <usize>obj, nbytes);
    return;
  }
  if (opcode == IOCB_CMD_POLL) {
    if (type == FT_BLOCK) {
      // Block devices are always ready (DEFAULT_POLLMASK).
      aio_complete(cpu, req, <i64>((POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM) & (events | POLLERR | POLLHUP)), 0);
    } else {
      pipe_poll_submit(cpu, req, obj, type == FT_PIPE_W, events);
    }
    return;
  }
  const write = opcode == IOCB_CMD_PWRITE || opcode == IOCB_CMD_PWRITEV;
  if (type == FT_BLOCK) {
    if (write && nowait) {
      // blkdev_write_iter: RWF_NOWAIT without O_DIRECT is -EOPNOTSUPP, as the event's res.
      aio_complete(cpu, req, -EOPNOTSUPP, 0);
      return;
    }
    if (opcode == IOCB_CMD_FSYNC || opcode == IOCB_CMD_FDSYNC) {
      blkdev_fsync_submit(cpu, req, obj);
      return;
    }
    blkdev_rw_submit(cpu, req, obj, write, pos, nbytes);
    return;
  }
  if (write) pipe_write_submit(cpu, req, obj, nbytes, nowait);
  else pipe_read_submit(cpu, req, obj, nbytes, nowait);
}

/**
 * A ring slot for one request of the running batch (CPU_HELD_REQS), taking
 * slots for up to `left` requests (this one and the rest of the batch) at once
 * when none is held. false: none left (-EAGAIN).
 */
function slot_take(ctx: usize, cpu: u32, left: u32): bool {
  const cpua = CPU_OFF + <usize>cpu * CPU_SIZE;
  let held = load<u32>(cpua, CPU_HELD_REQS);
  if (held == 0) {
    held = reqs_reserve(ctx, cpu, left);
    if (held == 0) {
      // The cache is empty: the full path (global count, refill, steal) for
      // this one, then what it left in the cache for the rest.
      if (!get_reqs(ctx, cpu)) return false;
      held = 1 + reqs_reserve(ctx, cpu, left - 1);
    }
  }
  store<u32>(cpua, held - 1, CPU_HELD_REQS);
  return true;
}

/** Give back the slot of a request that failed after slot_take: the batch's end returns it with the rest. */
@inline function slot_give(cpu: u32): void {
  const cpua = CPU_OFF + <usize>cpu * CPU_SIZE;
  store<u32>(cpua, load<u32>(cpua, CPU_HELD_REQS) + 1, CPU_HELD_REQS);
}

/** An id for a request of the batch: the spare an inline completion left (CPU_SPARE_TAG), else tag_alloc's. */
@inline function id_take(ctx: usize, cpu: u32): u32 {
  const cpua = CPU_OFF + <usize>cpu * CPU_SIZE;
  const spare = load<u32>(cpua, CPU_SPARE_TAG);
  if (spare == TAG_EMPTY) return tag_alloc(ctx, cpu);
  store<u32>(cpua, TAG_EMPTY, CPU_SPARE_TAG);
  return spare;
}

/**
 * The start of an io_submit batch on `cpu` to the context at `slot`: inline
 * completions are staged (CPU_DEFER, published together by submit_end); no
 * slot or spare id is held yet.
 */
export function submit_begin(cpu: u32, slot: u32): void {
  const cpua = CPU_OFF + <usize>cpu * CPU_SIZE;
  store<u32>(cpua, slot + 1, CPU_DEFER);
  store<u32>(cpua, 0, CPU_HELD_REQS);
  store<u32>(cpua, TAG_EMPTY, CPU_SPARE_TAG);
}

/**
 * One iocb, from the SUB record `rec` (segments at `segbase`). 0, or -errno
 * (nothing of it remains then). A record without a cookie (COOKIE_NONE: a
 * binary iocb, fs/binary.ts) holds pins on its BUF_MEM segments' blocks; the
 * request takes them over (KI_UPIN) and aio_complete drops them.
 */
export function submit_one(cpu: u32, ctx: usize, slot: u32, rec: usize, segbase: usize, left: u32): i32 {
  const nseg = load<u32>(rec, SUB_NSEG);
  if (nseg > SUB_MAX_SEGS || load<u32>(rec, SUB_SEG_FIRST) > SUB_MAX_SEGS - nseg) return -EFAULT;
  if (!slot_take(ctx, cpu, left)) return -EAGAIN;
  // Block devices outlive their files: a lockless lookup will do, and no
  // reference is held (no shared write per request). A pipe must stay alive
  // while a request waits on it: its file is referenced until completion.
  const fd = load<i32>(rec, SUB_FD);
  const peek = file_peek(fd);
  if (peek == 0) {
    slot_give(cpu);
    return -EBADF;
  }
  const type = <u32>(peek >> 16) & 0xff;
  const mode = <u32>(peek >> 24) & 0xff;
  const obj = <u32>(peek >> 32);
  let fh: u32 = 0;
  if (type != FT_BLOCK) {
    fh = fget(fd);
    if (fh != <u32>(peek & 0xffff)) { // closed or replaced since the peek
      fput(fh);
      slot_give(cpu);
      return -EBADF;
    }
  }
  const flags = load<u32>(rec, SUB_FLAGS);
  let efh: u32 = 0;
  if ((flags & IOCB_FLAG_RESFD) != 0) {
    // eventfd_ctx_fdget: not open -EBADF, not an eventfd -EINVAL. The
    // reference is held until the event is published (aio_complete's notify).
    efh = fget(load<i32>(rec, SUB_RESFD));
    if (efh == 0 || file_type(efh) != FT_EVENTFD) {
      fput(efh);
      fput(fh);
      slot_give(cpu);
      return efh != 0 ? -EINVAL : -EBADF;
    }
  }
  // From here on Linux has written aio_key (put_user): the host keeps the 0 it wrote.
  store<u32>(rec, 1, SUB_OUT_GEN);
  // Per opcode, in Linux's order (aio_read/aio_write: aio_prep_rw, the open
  // mode, then the buffer and rw_verify_area; aio_fsync and aio_poll: their
  // field checks). The host judged the field checks; they wait here for the
  // checks that need the file.
  const opcode = load<u32>(rec, SUB_OPCODE);
  const prep = load<i32>(rec, SUB_ERR_PREP);
  let err: i32 = load<i32>(rec, SUB_ERR_KEY);
  if (err != 0) {
    // put_user(aio_key) failed: after the file and eventfd, before the opcode.
  } else if (opcode == IOCB_CMD_PREAD || opcode == IOCB_CMD_PREADV || opcode == IOCB_CMD_PWRITE || opcode == IOCB_CMD_PWRITEV) {
    const want = opcode == IOCB_CMD_PREAD || opcode == IOCB_CMD_PREADV ? FMODE_READ : FMODE_WRITE;
    if (prep != 0) err = prep;
    else if ((mode & want) == 0) err = -EBADF;
    else if (type == FT_HOST && (load<u32>(<usize>obj, HF_FLAGS) & HF_DIR) != 0) err = -EINVAL; // no read_iter/write_iter
    else err = load<i32>(rec, SUB_ERR_LATE);
  } else if (opcode == IOCB_CMD_FSYNC || opcode == IOCB_CMD_FDSYNC) {
    if (prep != 0) err = prep;
    else if (type != FT_BLOCK && type != FT_HOST) err = -EINVAL; // pipes and eventfds have no fsync
  } else if (opcode == IOCB_CMD_POLL) {
    err = prep;
    // aio_poll: a file without a wait queue (a block device, a regular host
    // file or directory) whose ready mask (DEFAULT_POLLMASK) has nothing
    // requested keeps apt.error = -EINVAL. A host FIFO, socket or character
    // device would have a wait queue on Linux, but kaio cannot wait on a host
    // fd's readiness: -EINVAL (as for a file with no poll support) rather
    // than a ready mask that is not true.
    if (err == 0 && type == FT_HOST && (load<u32>(<usize>obj, HF_FLAGS) & HF_INTERRUPTIBLE) != 0) err = -EINVAL;
    else if (err == 0 && (type == FT_BLOCK || type == FT_HOST) && ((POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM) & (load<u32>(rec, SUB_NBYTES) | POLLERR | POLLHUP)) == 0) err = -EINVAL;
  } else if (opcode != IOCB_CMD_NOOP) {
    err = -EINVAL;
  }
  if (err != 0) {
    fput(efh);
    fput(fh);
    slot_give(cpu);
    return err;
  }
  const id = id_take(ctx, cpu);
  const req = id == TAG_EMPTY ? 0 : kiocb_get(ctx, id);
  if (req == 0 || !take_segments(req, rec, segbase)) {
    if (id != TAG_EMPTY) tag_free(ctx, cpu, id);
    fput(efh);
    fput(fh);
    slot_give(cpu);
    // No id although we hold a ring slot: another cpu holds free ids in transit
    // (preempted between its cache and the global pool). The host retries.
    return id == TAG_EMPTY ? -EBUSY : -ENOMEM;
  }
  const gen = hi32(atomic.load<u64>(ki_cw(req)));
  const pos = <u64>load<f64>(rec, SUB_OFFSET);
  const nbytes = load<u32>(rec, SUB_NBYTES);
  const rwf = load<u32>(rec, SUB_RW_FLAGS);
  store<u32>(req, slot, KI_CTX);
  store<u32>(req, id, KI_ID);
  store<u64>(req, load<u64>(rec, SUB_DATA), KI_DATA);
  store<u64>(req, pos, KI_POS);
  store<u32>(req, nbytes, KI_NBYTES);
  store<u32>(req, opcode, KI_OPCODE);
  store<u32>(req, fh, KI_FILE);
  store<u32>(req, rwf, KI_FLAGS);
  store<u32>(req, 0, KI_BIOS_LEFT);
  store<u32>(req, 0, KI_NBIO);
  store<u32>(req, 0, KI_BIOVEC);
  store<u32>(req, load<u32>(rec, SUB_BOUNCE), KI_BOUNCE);
  store<u32>(req, load<u32>(rec, SUB_BOUNCE_SIZE), KI_BOUNCE_SIZE);
  store<u32>(req, WQ_NONE, KI_WQ_WHICH);
  store<u32>(req, 0xffffffff, KI_PRIVATE);
  store<u32>(req, 0, KI_DONE);
  store<u32>(req, cpu, KI_CPU);
  store<u32>(req, efh != 0 ? eventfd_notify.index : 0, KI_NOTIFY);
  store<u32>(req, efh, KI_RESFD);
  store<u32>(req, atomic.load<u32>(FD_OFF + (<usize>fd << 2)), KI_FDENT); // io_cancel_all's {fd}
  // The cookie, packed with this cpu and its claim epoch (layout.ts: COOKIE_*).
  // Pairs with cpu_online's add of the epoch (this thread's own claim).
  const ck = load<u32>(rec, SUB_COOKIE);
  if (ck == COOKIE_NONE) {
    store<u32>(req, COOKIE_NONE, KI_COOKIE);
    store<u32>(req, 1, KI_UPIN);
  } else {
    const epoch = atomic.load<u32>(CPU_OFF + <usize>cpu * CPU_SIZE + CPU_EPOCH) & 0xff;
    store<u32>(req, (cpu << COOKIE_CPU_SHIFT) | (epoch << COOKIE_BITS) | (ck & COOKIE_INDEX_MASK), KI_COOKIE);
    store<u32>(req, 0, KI_UPIN);
  }
  // aio_key, written back to the iocb by the host.
  store<u32>(rec, load<u32>(ctx, CX_ID_BASE) + id, SUB_OUT_ID);
  store<u32>(rec, gen, SUB_OUT_GEN);
  // In flight: counted by the caller once per batch (CPU_SUBMITTED), not here.
  const cpua = CPU_OFF + <usize>cpu * CPU_SIZE;
  store<u32>(cpua, load<u32>(cpua, CPU_SUBMITTED) + 1, CPU_SUBMITTED);
  if (lookup_is_list()) list_add(ctx, req);
  // A NOOP completes in dispatch, before anyone can know its key: it is never
  // made cancellable (aio_complete takes a FREE word as decided), which saves
  // two atomics on its ki_cancel word.
  if (opcode != IOCB_CMD_NOOP) kiocb_publish(req, gen);
  dispatch(cpu, req, opcode, type, obj, pos, nbytes, rwf, nbytes);
  return 0;
}

/**
 * A NOOP on a block device (whose file submit_one neither references nor
 * judges further) inside an io_submit batch to the context at `slot`,
 * submitted and completed at once without filling its kiocb: it is never
 * published (submit_one makes no NOOP cancellable) and nothing reads a FREE
 * kiocb's fields, so all it needs of one is its id and ki_cancel word. The
 * same outcome as submit_one + dispatch + aio_complete: the same errors in
 * the same order, the id's generation retired (FREE, next generation) before
 * the id goes back (CPU_SPARE_TAG, freed by submit_end before it publishes),
 * the event staged, counted in and out of the batch. Returns the request's
 * key (> 0); -EAGAIN or -EBADF (before Linux writes aio_key); or 0: take the
 * full path (another kind of file, or no id or kiocb page now: submit_one
 * then decides between -EBUSY and -ENOMEM), having changed nothing.
 * Not for the 'list' lookup (its requests go on the context's list).
 */
export function submit_noop(cpu: u32, ctx: usize, fd: i32, data: u64, left: u32): i64 {
  const peek = file_peek(fd);
  if (peek != 0 && (<u32>(peek >> 16) & 0xff) != FT_BLOCK) return 0;
  if (!slot_take(ctx, cpu, left)) return -EAGAIN;
  if (peek == 0) {
    slot_give(cpu);
    return -EBADF;
  }
  const id = id_take(ctx, cpu);
  const req = id == TAG_EMPTY ? 0 : kiocb_get(ctx, id);
  if (req == 0) {
    if (id != TAG_EMPTY) tag_free(ctx, cpu, id);
    slot_give(cpu);
    return 0;
  }
  const cw = ki_cw(req);
  // FREE, and ours: only the holder of an id writes a FREE word (io_cancel and
  // set_cancel_fn leave one alone). Pairs with the store that freed it.
  const gen = hi32(atomic.load<u64>(cw));
  const key = kiocb_key(gen, load<u32>(ctx, CX_ID_BASE) + id);
  // Retired before the event can be seen, as aio_complete's step 3; pairs with
  // io_cancel's loads and cmpxchg (a cancel of this key is -EINVAL).
  atomic.store<u64>(cw, pack(next_gen(gen), KIOCB_FREE));
  const cpua = CPU_OFF + <usize>cpu * CPU_SIZE;
  // The id for the batch's next request (it has none: id_take emptied it).
  store<u32>(cpua, id, CPU_SPARE_TAG);
  stage_event(cpu, data, key, 0, 0, 0, 0, COOKIE_NONE, 0);
  store<u32>(cpua, load<u32>(cpua, CPU_SUBMITTED) + 1, CPU_SUBMITTED);
  return <i64>key;
}

/**
 * io_submit: submit the n records in the cpu's scratch. Returns how many were
 * submitted; if the first one failed, its -errno. -EINVAL for a bad context.
 * The record that stopped the batch gets its error in SUB_OUT_ID, and in
 * SUB_OUT_GEN 0 if it failed before the point where Linux writes aio_key
 * (put_user), 1 after it: -EBUSY there means "retry".
 */
export function io_submit(cpu: u32, slot: u32, gen: u32, n: u32): i32 {
  if (!cpu_ok(cpu)) return -EINVAL;
  const ctx = ctx_get_on(cpu, slot, gen);
  if (ctx == 0) return -EINVAL;
  if (n > SUB_MAX_BATCH) n = SUB_MAX_BATCH;
  const base = scratch(cpu);
  let i: u32 = 0;
  let err: i32 = 0;
  // Requests that complete inline publish their events without advancing the
  // ring; the batch advances it once (the events become visible together).
  submit_begin(cpu, slot);
  for (; i < n; i++) {
    const rec = base + <usize>i * SUB_REC_SIZE;
    store<u32>(rec, 0, SUB_OUT_GEN);
    err = submit_one(cpu, ctx, slot, rec, base + SCRATCH_SEGS, n - i);
    if (err < 0) {
      store<i32>(rec, err, SUB_OUT_ID);
      break;
    }
  }
  submit_end(cpu, ctx, base);
  ctx_put_on(cpu, slot);
  return i > 0 ? <i32>i : err;
}

/**
 * The end of an io_submit batch (CPU_DEFER was set): count what is still in
 * flight, once (see CPU_SUBMITTED), publish what completed inline (one
 * atomic add takes the ring positions), and unplug: ring once the doorbell
 * of each device the batch queued bios on (CPU_PLUG). Before the context reference is dropped:
 * io_destroy reads in-flight counts only once no syscall holds one.
 */
export function submit_end(cpu: u32, ctx: usize, base: usize): void {
  const cpua = CPU_OFF + <usize>cpu * CPU_SIZE;
  store<u32>(cpua, 0, CPU_DEFER);
  // What the batch holds goes back before its events are visible, so a reaper
  // that sees them and submits again finds both its ring slot and an id free
  // (as aio_complete's step 4).
  const spare = load<u32>(cpua, CPU_SPARE_TAG);
  if (spare != TAG_EMPTY) {
    store<u32>(cpua, TAG_EMPTY, CPU_SPARE_TAG);
    tag_free(ctx, cpu, spare);
  }
  const held = load<u32>(cpua, CPU_HELD_REQS);
  if (held != 0) {
    store<u32>(cpua, 0, CPU_HELD_REQS);
    put_reqs(ctx, cpu, held);
  }
  const staged = load<u32>(cpua, CPU_STAGED);
  const delta = <i32>load<u32>(cpua, CPU_SUBMITTED) - <i32>staged;
  store<u32>(cpua, 0, CPU_SUBMITTED);
  if (delta != 0) atomic.add<i32>(pcpu_of(ctx, cpu) + PC_INFLIGHT, delta); // io_destroy sums these; see PC_INFLIGHT
  if (staged != 0) {
    store<u32>(cpua, 0, CPU_STAGED);
    ring_publish_staged(ctx, base + SCRATCH_STAGE, staged);
    eventfd_notify_staged(cpu, base + SCRATCH_STAGE, staged);
  }
  blk_finish_plug(cpu); // the doorbells the batch's bios owe (CPU_PLUG)
}

// --- io_cancel --------------------------------------------------------------------

/**
 * io_cancel: (gid, kgen) is the aio_key split by the host. -EINPROGRESS if the
 * request was in flight on this context (its event says how it ended),
 * -EINVAL otherwise. Never blocks.
 */
export function io_cancel(cpu: u32, slot: u32, gen: u32, gid: u32, kgen: u32): i32 {
  const ctx = ctx_get_on(cpu, slot, gen);
  if (ctx == 0) return -EINVAL;
  let r: i32 = -EINVAL;
  if (lookup_is_list()) {
    r = list_cancel(ctx, gid, kgen);
  } else {
    const req = kiocb_lookup(ctx, gid);
    if (req != 0) r = kiocb_cancel(req, cw_lookup(gid), kgen);
  }
  // Bios the cancel took out of stage 1 complete here, on this cpu, now that no
  // lock is held (list_cancel holds ctx_lock, which completion takes).
  blk_reap_all(cpu);
  ctx_put_on(cpu, slot);
  return r;
}

/**
 * Bulk cancel (io_uring's IORING_ASYNC_CANCEL_ALL, and _FD when fd >= 0): ask
 * every request in flight on the context (only those submitted on fd's open
 * file) to cancel. Returns how many it asked (each still yields exactly one
 * event), -EINVAL for a bad context, -EBADF for an fd that is not open.
 * Never blocks: O(nr) over the dense cancel words.
 */
export function io_cancel_all(cpu: u32, slot: u32, gen: u32, fd: i32): i32 {
  if (!cpu_ok(cpu)) return -EINVAL;
  let ent: u32 = 0;
  if (fd >= 0) {
    if (<u32>fd >= MAX_FDS) return -EBADF;
    ent = atomic.load<u32>(FD_OFF + (<usize>fd << 2)); // pairs with fd_install's and fd_close's stores
    if (ent == 0) return -EBADF;
  }
  const ctx = ctx_get_on(cpu, slot, gen);
  if (ctx == 0) return -EINVAL;
  const base = load<u32>(ctx, CX_ID_BASE);
  const nr = load<u32>(ctx, CX_NR);
  let n: i32 = 0;
  for (let i: u32 = 0; i < nr; i++) {
    const req = kiocb_lookup(ctx, base + i);
    if (req == 0) continue;
    const cw = cw_lookup(base + i);
    // Pairs with kiocb_publish's and aio_complete's stores: a request that
    // completes after this load makes kiocb_cancel's cmpxchg fail (-EINVAL).
    const w = atomic.load<u64>(cw);
    if (lo32(w) == KIOCB_FREE) continue;
    // KI_FDENT is written before the publish that made w live; a reuse since
    // changes the generation, and kiocb_cancel then refuses.
    if (fd >= 0 && load<u32>(req, KI_FDENT) != ent) continue;
    if (kiocb_cancel(req, cw, hi32(w)) == -EINPROGRESS) n++;
  }
  blk_reap_all(cpu); // the bios those cancels took out of stage 1
  ctx_put_on(cpu, slot);
  return n;
}

// --- io_getevents, the part that takes events ---------------------------------------

/**
 * Take up to `max` events into the cpu's scratch (REAP_REC_SIZE each). Returns
 * the count (0: none ready), -EINVAL (context gone), or -EBUSY (another reaper
 * holds the ring; the host sleeps on the lock word and retries).
 */
export function io_reap(cpu: u32, slot: u32, gen: u32, max: u32, contended: bool): i32 {
  if (!cpu_ok(cpu)) return -EINVAL;
  const ctx = ctx_get_on(cpu, slot, gen);
  if (ctx == 0) return -EINVAL;
  // A reaper that slept on the lock takes it as "locked, maybe with sleepers"
  // (futex mutex protocol), so the next unlock still wakes the others.
  if (!(contended ? mutex_lock_contended(ctx + CX_REAP_LOCK) : reap_trylock(ctx))) {
    ctx_put_on(cpu, slot);
    return -EBUSY;
  }
  const n = ring_reap(ctx, scratch(cpu), max < REAP_MAX ? max : REAP_MAX, cpu);
  reap_unlock(ctx);
  // Slots are credited back lazily (refill, when a submitter runs dry), as
  // fs/aio.c does: a reaper writes nothing to the submit side.
  ctx_put_on(cpu, slot);
  return <i32>n;
}

/**
 * io_destroy's last look at the ring, once every request has completed: take
 * up to `max` unreaped events into the cpu's scratch, as io_reap does, so the
 * destroying thread can copy finished reads into its plain buffers (Linux's
 * io_destroy returns once outstanding I/O is done and its data is in place)
 * before the ring is freed. They are discarded: counted in H_ST_DISCARDED.
 * Returns the count, or -EINVAL if the context is not dying.
 */
export function io_reap_dying(cpu: u32, slot: u32, max: u32): i32 {
  if (!cpu_ok(cpu) || slot >= MAX_CTX) return -EINVAL;
  const ctx = ctx_addr(slot);
  // Pairs with ctx_kill's cmpxchg: no syscall enters a dying context, so this is the only reaper.
  if (lo32(atomic.load<u64>(ctx + CX_STATE_GEN)) != CTX_DYING) return -EINVAL;
  const n = ring_reap(ctx, scratch(cpu), max < REAP_MAX ? max : REAP_MAX, cpu);
  atomic.add<u64>(H_ST_DISCARDED, <u64>n);
  return <i32>n;
}

// --- synchronous I/O (k.write, k.read, k.pwrite, k.pread) ----------------------------

function block_sync(fh: u32, buf: usize, n: u32, pos: u64, write: bool): i32 {
  const d = dev_addr(file_obj(fh));
  if (atomic.load<u32>(d + D_TYPE) == DT_NULL) return write ? <i32>n : 0;
  const size = load<u64>(d, D_SIZE);
  if (pos >= size) return write && n > 0 ? -ENOSPC : 0;
  const m: u32 = <u64>n < size - pos ? n : <u32>(size - pos);
  const media = <usize>load<u32>(d, D_MEDIA) + <usize>pos;
  if (write) memory.copy(media, buf, m);
  else memory.copy(buf, media, m);
  return <i32>m;
}

/**
 * write(2)/read(2) (pos < 0: at and advancing the file position) or
 * pwrite/pread (pos >= 0) of n bytes from/to the cpu's scratch. Pipes are
 * non-blocking. Returns bytes, or -errno.
 */
export function sys_rw(cpu: u32, fd: i32, n: u32, pos: f64, write: bool): i32 {
  if (!cpu_ok(cpu) || n > SCRATCH_SIZE) return -EINVAL;
  const fh = fget(fd);
  if (fh == 0) return -EBADF;
  const type = file_type(fh);
  const mode = file_mode(fh);
  const buf = scratch(cpu);
  let r: i32 = -EBADF;
  if ((mode & (write ? FMODE_WRITE : FMODE_READ)) != 0) {
    if (type == FT_BLOCK) {
      const f = file_addr(fh - 1);
      const p: u64 = pos < 0 ? load<u64>(f, F_POS) : <u64>pos;
      r = block_sync(fh, buf, n, p, write);
      if (pos < 0 && r > 0) store<u64>(f, p + <u64>r, F_POS);
    } else if (type == FT_EVENTFD) {
      r = write ? eventfd_write_sync(cpu, <usize>file_obj(fh), buf, n) : eventfd_read_sync(<usize>file_obj(fh), buf, n);
    } else if (type == FT_HOST) {
      r = -EOPNOTSUPP; // the host does these itself (it holds the host fd)
    } else if (pos >= 0) {
      r = -ESPIPE; // pipes have no offset
    } else if (type == FT_PIPE_W && write) {
      r = pipe_write_sync(file_obj(fh), buf, n);
    } else if (type == FT_PIPE_R && !write) {
      r = pipe_read_sync(file_obj(fh), buf, n);
    }
  }
  fput(fh);
  return r;
}

/**
 * The file open at fd, packed as FT_* | object << 4 (the device or pipe
 * index), or -EBADF. The host uses it to pick buffer handling.
 */
export function fd_type(fd: i32): i32 {
  const fh = fget(fd);
  if (fh == 0) return -EBADF;
  const t = file_type(fh) | (file_obj(fh) << 4);
  fput(fh);
  return <i32>t;
}

/** The host fd of the host file open at fd (k.read/k.write do those in the host), or -EBADF. */
export function host_fd(fd: i32): i32 {
  const fh = fget(fd);
  if (fh == 0) return -EBADF;
  const r = file_type(fh) == FT_HOST ? load<i32>(<usize>file_obj(fh), HF_OSFD) : -EBADF;
  fput(fh);
  return r;
}

/** Move up to `max` orphaned cookie indices of `cpu` into its scratch (u32 each). */
export function cookies_orphaned(cpu: u32, max: u32): u32 {
  if (!cpu_ok(cpu)) return 0;
  return cookies_take(cpu, scratch(cpu), max < (SCRATCH_SIZE >> 2) ? max : SCRATCH_SIZE >> 2);
}

// --- the kworker ------------------------------------------------------------------

/** Serve queued pipes into the cpu's scratch (kiocb, result) records; returns the count. */
export function kworker_collect(cpu: u32): u32 {
  if (!cpu_ok(cpu)) return 0;
  const out = scratch(cpu);
  let n = kworker_run(out, KW_MAX);
  n = pool_collect_cancelled(out, n, KW_MAX);
  return eventfd_collect(out, n, KW_MAX);
}

/** Complete a request the kworker collected (after the host filled its SAB segments). */
export function kworker_complete(cpu: u32, req: usize, res: i64): void {
  aio_complete(cpu, req, res, 0);
}
