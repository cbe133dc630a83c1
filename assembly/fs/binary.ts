/**
 * Binary iocbs and io_events (issue 12): io_submit over libaio-layout
 * `struct iocb` records and io_getevents into `struct io_event` records, both
 * in user memory (k.buffer()-like blocks the user writes with a DataView), so
 * a batch crosses into the kernel with one call and no JS object per request.
 *
 * The records are user memory: any thread may rewrite them while the kernel
 * reads. So each record is read exactly once, field by field into locals
 * (Linux's copy_from_user of the iocb), and only the locals are judged and
 * used. What a record names is checked as the object path checks it
 * (src/iocb.ts, src/aio.ts encode), with the same errno in the same order
 * (S2), and then it goes through the same submit_one as an object iocb:
 *  - a buffer must lie inside one live user block (user_range_ok), never
 *    kernel memory; the block is pinned (lib/heap.ts, user_pin) until the
 *    request completes, so a block freed meanwhile is not reused before;
 *  - aio_key (32 bits, as Linux's) gets the low 32 bits of the request's key:
 *    its id and the generation's low KEY32_GEN_BITS bits. The event's 64-bit
 *    obj is the full key (its low half equals aio_key), as io_getevents of the
 *    object API gives it. See KEY32_GEN_BITS in layout.ts for what this does
 *    to stale keys.
 */
import { blk_reap_all } from '../block/blk';
import {
  IOCB_SIZE, IOCB_DATA, IOCB_KEY, IOCB_RW_FLAGS, IOCB_LIO_OPCODE, IOCB_REQPRIO, IOCB_FILDES, IOCB_BUF, IOCB_NBYTES,
  IOCB_OFFSET, IOCB_RESERVED2, IOCB_FLAGS, IOCB_RESFD, IOVEC_SIZE, IOVEC_BASE, IOVEC_LEN, KEY_ID_BITS, KEY_ID_MASK,
  KEY32_GEN_MASK, BIN_OUT_ERR, SUB_MAX_BATCH, SUB_OPCODE, SUB_FD, SUB_NBYTES, SUB_FLAGS, SUB_OFFSET,
  SUB_DATA, SUB_RESFD, SUB_RW_FLAGS, SUB_NSEG, SUB_SEG_FIRST, SUB_OUT_ID, SUB_OUT_GEN, SUB_BOUNCE, SUB_BOUNCE_SIZE,
  SUB_COOKIE, SUB_ERR_PREP, SUB_ERR_LATE, SUB_ERR_KEY, SCRATCH_SEGS, SEG_SIZE, SEG_KIND, SEG_REF, SEG_OFF, SEG_LEN,
  BUF_MEM, COOKIE_NONE, UIO_MAXIOV,
  IOCB_CMD_PREAD, IOCB_CMD_PWRITE, IOCB_CMD_PREADV, IOCB_CMD_PWRITEV, IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC, IOCB_CMD_POLL,
  IOCB_CMD_NOOP, IOCB_FLAG_RESFD, IOCB_FLAG_IOPRIO, RWF_SUPPORTED, RWF_APPEND, RWF_NOAPPEND, RWF_ATOMIC, RWF_DONTCACHE, REAP_MAX,
  IO_EVENT_SIZE, CX_REAP_LOCK, ULIVE_SHIFT,
} from '../include/layout';
import { EINVAL, EFAULT, EBUSY, EOPNOTSUPP } from '../include/errno';
import { hi32, mutex_lock_contended } from '../include/barrier';
import { user_range_ok, user_pin, user_unpin } from '../lib/heap';
import { ctx_get_on, ctx_put_on } from './ctxtab';
import { reap_trylock, reap_unlock, ring_reap_bin } from './ring';
import { kiocb_lookup, cw_lookup, kiocb_cancel, lookup_is_list, list_cancel } from './kiocb';
import { submit_begin, submit_one, submit_noop, submit_end, scratch, cpu_ok } from './aio';

/** MAX_RW_COUNT: Linux clamps one transfer to INT_MAX rounded down to a page (src/iocb.ts). */
const MAX_RW_COUNT: u32 = 0x7ffff000;
/** Offsets at or above 2^53 travel clamped, as the object path's (SUB_OFFSET is an f64). */
const POS_CLAMP: i64 = 9007199254740992;

/** Linux's ioprio_check_cap for aio_reqprio, as root (src/iocb.ts, ioprioCheck). */
function ioprio_check(prio: i32): i32 {
  const cls = (prio >> 13) & 7;
  if (cls == 0) return (prio & 7) != 0 ? -EINVAL : 0; // IOPRIO_CLASS_NONE
  return cls > 3 ? -EINVAL : 0;
}

/** kiocb_set_rw_flags for kaio's files (src/iocb.ts, rwFlagsCheck). */
function rw_flags_check(rwf: u32): i32 {
  if (rwf == 0) return 0;
  if ((rwf & ~RWF_SUPPORTED) != 0) return -EOPNOTSUPP;
  if ((rwf & RWF_APPEND) != 0 && (rwf & RWF_NOAPPEND) != 0) return -EINVAL;
  if ((rwf & (RWF_ATOMIC | RWF_DONTCACHE)) != 0) return -EOPNOTSUPP;
  return 0;
}

/** Put one segment of `len` bytes at user address `addr` into slot `i`, pinned. 0, -EFAULT or -ENOMEM. */
function seg_pin(segs: usize, i: u32, addr: u64, len: u32): i32 {
  if (addr > 0xffffffff) return -EFAULT;
  const g = user_pin(<usize>addr, len);
  if (g < 0) return <i32>g;
  const start = <u32>g << ULIVE_SHIFT;
  const s = segs + <usize>i * SEG_SIZE;
  store<u32>(s, BUF_MEM, SEG_KIND);
  store<u32>(s, start, SEG_REF); // the block's start: aio_complete unpins by it
  store<u32>(s, <u32>addr - start, SEG_OFF);
  store<u32>(s, len, SEG_LEN);
  return 0;
}

function segs_unpin(segs: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i++) user_unpin(load<u32>(segs + <usize>i * SEG_SIZE, SEG_REF) >> ULIVE_SHIFT);
}

/**
 * Read binary iocb `u` once into the SUB record `rec` (segments, pinned, at
 * `segs`). Returns 0, or the -errno that stops the batch before aio_key is
 * written (reserved field, overflowing size), or -ENOMEM (no pin table).
 * Errors Linux reports later go into the record (SUB_ERR_*), as encode() does.
 */
function bin_read(u: usize, rec: usize, segs: usize): i32 {
  // The snapshot: every field once (a concurrent writer changes nothing below).
  const data = load<u64>(u, IOCB_DATA);
  const rwf = load<u32>(u, IOCB_RW_FLAGS);
  const op = <u32>load<u16>(u, IOCB_LIO_OPCODE);
  const prio = <i32>load<i16>(u, IOCB_REQPRIO);
  const fd = load<i32>(u, IOCB_FILDES);
  const buf = load<u64>(u, IOCB_BUF);
  const nb = load<u64>(u, IOCB_NBYTES);
  const off = load<i64>(u, IOCB_OFFSET);
  const r2 = load<u64>(u, IOCB_RESERVED2);
  const flags = load<u32>(u, IOCB_FLAGS);
  const resfd = load<i32>(u, IOCB_RESFD);
  // io_submit_one: the reserved field, then the overflow checks.
  if (r2 != 0) return -EINVAL;
  if (<i64>nb < 0) return -EINVAL;
  let prep: i32 = 0;
  let late: i32 = 0;
  let nbytes: u32 = 0;
  let nseg: u32 = 0;
  if (op == IOCB_CMD_PREAD || op == IOCB_CMD_PWRITE || op == IOCB_CMD_PREADV || op == IOCB_CMD_PWRITEV) {
    // aio_prep_rw: ioprio, then the rw flags; then the buffer, then rw_verify_area.
    if ((flags & IOCB_FLAG_IOPRIO) != 0) prep = ioprio_check(prio);
    if (prep == 0) prep = rw_flags_check(rwf);
    let total: u64 = 0;
    if (op == IOCB_CMD_PREAD || op == IOCB_CMD_PWRITE) {
      // import_ubuf: the count clamped, then the range.
      const n: u32 = nb > <u64>MAX_RW_COUNT ? MAX_RW_COUNT : <u32>nb;
      if (n > 0 && (buf > 0xffffffff || !user_range_ok(<usize>buf, n))) late = -EFAULT;
      total = n;
    } else if (nb > <u64>UIO_MAXIOV) {
      late = -EINVAL;
    } else if (nb > 0 && (buf > 0xffffffff || !user_range_ok(<usize>buf, <u32>nb * IOVEC_SIZE))) {
      late = -EFAULT;
    } else {
      // import_iovec: each iovec read once; a negative length is -EINVAL, a bad range -EFAULT.
      for (let i: u32 = 0; i < <u32>nb; i++) {
        const v = <usize>buf + <usize>i * IOVEC_SIZE;
        const base = load<u64>(v, IOVEC_BASE);
        const len = load<u64>(v, IOVEC_LEN);
        if (<i64>len < 0) { late = -EINVAL; break; }
        const room = <u64>MAX_RW_COUNT - total;
        const l: u32 = len > room ? <u32>room : <u32>len;
        if (l > 0 && (base > 0xffffffff || !user_range_ok(<usize>base, l))) { late = -EFAULT; break; }
        total += l;
        if (l > 0) {
          store<u64>(segs + <usize>nseg * SEG_SIZE, base); // the address, pinned below
          store<u32>(segs + <usize>nseg * SEG_SIZE, l, SEG_LEN);
          nseg++;
        }
      }
      if (late != 0) nseg = 0;
    }
    if (late == 0 && off < 0) late = -EINVAL;
    else if (late == 0 && <u64>off + total > <u64>0x7fffffffffffffff) late = -EINVAL;
    nbytes = <u32>total;
    if (prep == 0 && late == 0) {
      // Pin what the request will touch (only a request that can go in pins anything).
      let e: i32 = 0;
      if (op == IOCB_CMD_PREAD || op == IOCB_CMD_PWRITE) {
        if (nbytes > 0) {
          e = seg_pin(segs, 0, buf, nbytes);
          if (e == 0) nseg = 1;
        }
      } else {
        for (let i: u32 = 0; i < nseg; i++) {
          const s = segs + <usize>i * SEG_SIZE;
          e = seg_pin(segs, i, load<u64>(s), load<u32>(s, SEG_LEN));
          if (e != 0) {
            segs_unpin(segs, i);
            break;
          }
        }
      }
      if (e != 0) {
        nseg = 0;
        if (e != -EFAULT) return e; // -ENOMEM stops the batch, as a bounce block's does
        late = e; // freed since the range check: as if it had never been live
      }
    } else {
      nseg = 0;
    }
  } else if (op == IOCB_CMD_FSYNC || op == IOCB_CMD_FDSYNC) {
    if (buf != 0 || off != 0 || nb != 0 || rwf != 0) prep = -EINVAL;
  } else if (op == IOCB_CMD_POLL) {
    // aio_poll: the event mask is a u16 in aio_buf; no offset, nbytes or rw_flags.
    if (buf > 0xffff || off != 0 || nb != 0 || rwf != 0) prep = -EINVAL;
    else nbytes = <u32>buf; // the kernel reads the mask from the record's nbytes
  }
  store<u32>(rec, op, SUB_OPCODE);
  store<i32>(rec, fd, SUB_FD);
  store<u32>(rec, nbytes, SUB_NBYTES);
  store<u32>(rec, flags, SUB_FLAGS);
  store<f64>(rec, off < 0 ? 0 : off >= POS_CLAMP ? <f64>POS_CLAMP : <f64>off, SUB_OFFSET);
  store<u64>(rec, data, SUB_DATA);
  store<i32>(rec, resfd, SUB_RESFD);
  store<u32>(rec, rwf, SUB_RW_FLAGS);
  store<u32>(rec, nseg, SUB_NSEG);
  store<u32>(rec, 0, SUB_SEG_FIRST);
  store<u32>(rec, 0, SUB_BOUNCE);
  store<u32>(rec, 0, SUB_BOUNCE_SIZE);
  store<u32>(rec, COOKIE_NONE, SUB_COOKIE); // no host handle: the request holds pins instead
  store<i32>(rec, prep, SUB_ERR_PREP);
  store<i32>(rec, late, SUB_ERR_LATE);
  store<i32>(rec, 0, SUB_ERR_KEY); // aio_key is in the record, always writable
  return 0;
}

/**
 * io_submit of `n` binary iocbs at user address `iocbs` (IOCB_SIZE each).
 * Returns how many were submitted; if the first failed, its -errno; -EINVAL
 * for a bad context; -EFAULT if the first record is not user memory. The
 * error that stopped a batch is left in the cpu's scratch (BIN_OUT_ERR):
 * -EBUSY there means "retry the rest" (as io_submit's). At most SUB_MAX_BATCH
 * records per call.
 */
export function io_submit_bin(cpu: u32, slot: u32, gen: u32, iocbs: usize, n: u32): i32 {
  if (!cpu_ok(cpu)) return -EINVAL;
  const base = scratch(cpu);
  store<i32>(base + BIN_OUT_ERR, 0);
  const ctx = ctx_get_on(cpu, slot, gen);
  if (ctx == 0) return -EINVAL;
  if (n > SUB_MAX_BATCH) n = SUB_MAX_BATCH;
  // The records must be user memory (copy_from_user): all of them in one
  // look, else as many as are, and -EFAULT at the first that is not.
  let ok = n;
  if (!user_range_ok(iocbs, n * IOCB_SIZE)) {
    ok = 0;
    while (ok < n && user_range_ok(iocbs + <usize>ok * IOCB_SIZE, IOCB_SIZE)) ok++;
  }
  const rec = base; // one SUB record, rebuilt for each iocb
  const segs = base + SCRATCH_SEGS;
  let i: u32 = 0;
  let err: i32 = 0;
  submit_begin(cpu, slot); // inline completions are staged and published together (as io_submit)
  const fast = !lookup_is_list(); // the NOOP fast path (submit_noop) never goes on the 'list' lookup's list
  for (; i < n; i++) {
    if (i == ok) {
      err = -EFAULT;
      break;
    }
    const u = iocbs + <usize>i * IOCB_SIZE;
    if (fast && load<u16>(u, IOCB_LIO_OPCODE) == IOCB_CMD_NOOP) {
      // A NOOP reads aio_data, aio_fildes, aio_nbytes (its sign), aio_reserved2
      // and aio_flags (RESFD), each once; bin_read judges nothing else of it.
      // Anything else, or a file that is not a block device, takes the full
      // path, which reads the record afresh (nothing was done with it here).
      const data = load<u64>(u, IOCB_DATA);
      const fd = load<i32>(u, IOCB_FILDES);
      const nb = load<u64>(u, IOCB_NBYTES);
      const r2 = load<u64>(u, IOCB_RESERVED2);
      const flags = load<u32>(u, IOCB_FLAGS);
      if (r2 != 0 || <i64>nb < 0) {
        err = -EINVAL; // as bin_read: before aio_key is written
        break;
      }
      if ((flags & IOCB_FLAG_RESFD) == 0) {
        const r = submit_noop(cpu, ctx, fd, data, n - i);
        if (r < 0) {
          err = <i32>r; // -EAGAIN or -EBADF: aio_key untouched, as submit_one's before put_user
          break;
        }
        if (r > 0) {
          store<u32>(u, <u32>r, IOCB_KEY); // the key's low 32 bits (see KEY32_GEN_BITS)
          continue;
        }
      }
    }
    err = bin_read(u, rec, segs);
    if (err != 0) break;
    store<u32>(rec, 0, SUB_OUT_GEN);
    err = submit_one(cpu, ctx, slot, rec, segs, n - i);
    if (err < 0) {
      segs_unpin(segs, load<u32>(rec, SUB_NSEG));
      // Past Linux's put_user point, aio_key holds 0 (KIOCB_KEY); before it, it is untouched.
      if (load<u32>(rec, SUB_OUT_GEN) != 0) store<u32>(u, 0, IOCB_KEY);
      break;
    }
    store<u32>(u, (load<u32>(rec, SUB_OUT_GEN) << KEY_ID_BITS) | load<u32>(rec, SUB_OUT_ID), IOCB_KEY);
  }
  submit_end(cpu, ctx, base);
  ctx_put_on(cpu, slot);
  store<i32>(base + BIN_OUT_ERR, err);
  return i > 0 ? <i32>i : err;
}

/**
 * io_getevents' reaping step into `max` binary io_events at user address
 * `out` (IO_EVENT_SIZE each). Returns the count (maybe 0), with BIN_REAP_SIDE
 * set if one of them was an object-API request's whose side entry the host
 * must settle (its REAP records are in scratch, as io_reap leaves them);
 * -EINVAL (context gone), -EFAULT (out is not user memory: nothing taken), or
 * -EBUSY (another reaper holds the ring, as io_reap).
 */
export function io_reap_bin(cpu: u32, slot: u32, gen: u32, out: usize, max: u32, contended: bool): i32 {
  if (!cpu_ok(cpu)) return -EINVAL;
  const ctx = ctx_get_on(cpu, slot, gen);
  if (ctx == 0) return -EINVAL;
  if (max > REAP_MAX) max = REAP_MAX;
  if (!user_range_ok(out, max * IO_EVENT_SIZE)) {
    ctx_put_on(cpu, slot);
    return -EFAULT;
  }
  if (!(contended ? mutex_lock_contended(ctx + CX_REAP_LOCK) : reap_trylock(ctx))) {
    ctx_put_on(cpu, slot);
    return -EBUSY;
  }
  // Straight from the ring into the user's records: no scratch copy (only an
  // event whose side entry the host settles also gets its REAP record there).
  const r = ring_reap_bin(ctx, out, scratch(cpu), max, cpu);
  reap_unlock(ctx);
  ctx_put_on(cpu, slot);
  return <i32>r;
}

/**
 * io_cancel by a binary record's 32-bit aio_key: the id, and the generation
 * modulo 2^KEY32_GEN_BITS. -EINPROGRESS or -EINVAL, as io_cancel.
 */
export function io_cancel_key32(cpu: u32, slot: u32, gen: u32, key: u32): i32 {
  if (!cpu_ok(cpu)) return -EINVAL;
  const ctx = ctx_get_on(cpu, slot, gen);
  if (ctx == 0) return -EINVAL;
  const gid = key & KEY_ID_MASK;
  let r: i32 = -EINVAL;
  const req = kiocb_lookup(ctx, gid);
  if (req != 0) {
    const cw = cw_lookup(gid);
    // The generation now; kiocb_cancel's cmpxchg fails if it moves after this load.
    const kg = hi32(atomic.load<u64>(cw));
    if ((kg & KEY32_GEN_MASK) == key >>> KEY_ID_BITS) r = lookup_is_list() ? list_cancel(ctx, gid, kg) : kiocb_cancel(req, cw, kg);
  }
  // As io_cancel: bios the cancel took out of stage 1 complete here, now that no lock is held.
  blk_reap_all(cpu);
  ctx_put_on(cpu, slot);
  return r;
}
