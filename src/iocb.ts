/**
 * Reading a user's iocb, as io_submit_one's copy_from_user does: once, into a
 * snapshot, before the kernel is entered.
 *
 * An iocb is a JS object whose properties may be getters that throw, re-enter
 * kaio or change other iocbs; its buffers may be Proxies or views whose
 * properties were redefined. So io_submit works in three steps (src/aio.ts):
 *  1. snapshot(): read every field once (user code may run here, and only
 *     here) and judge what Linux judges before it writes aio_key; then write
 *     aio_key = 0 as Linux's put_user does (-EFAULT later, in Linux's place,
 *     if that throws);
 *  2. encode(): from the snapshot alone (no user code), check the buffers and
 *     write the kernel record into this cpu's scratch;
 *  3. one kernel call; then handles and aio_keys (user code again: setters).
 * A re-entrant call from a getter or setter is then just an earlier or later
 * call: it never sees this call's scratch half written.
 *
 * Errors Linux reports after the file lookup (rw_flags, ioprio, the buffer, the
 * offset) are judged here but travel in the record (SUB_ERR_*), and the kernel
 * reports them in Linux's order (assembly/fs/aio.ts, submit_one).
 */
import * as L from '../assembly/include/layout';
import * as E from '../assembly/include/errno';
import { userBytes } from './uapi';

const U64_LIMIT = 1n << 64n;
const S64_LIMIT = 1n << 63n;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
/** MAX_RW_COUNT: Linux clamps one transfer to INT_MAX rounded down to a page. */
export const MAX_RW_COUNT = 0x7ffff000;

/** One iocb's fields as read, and what could be judged from them alone. */
export class Snap {
  iocb: object = null!;
  opcode = 0;
  fd = -1;
  flags = 0;
  rwf = 0;
  resfd = 0;
  data = 0n;
  /** The offset, clamped to what the kernel record holds (f64, exact below 2^53). */
  offset = 0;
  /** Bytes (PREAD/PWRITE), buffer count (PREADV/PWRITEV) or poll mask, as given (undefined: default). */
  nbytes: number | undefined = undefined;
  /** aio_buf as read; for vectored I/O, its elements (up to UIO_MAXIOV). */
  buf: unknown = undefined;
  vec: unknown[] | undefined = undefined;
  vecLength = 0;
  /** aio_key before put_user, to restore if Linux would not have written it. */
  oldKey: unknown = undefined;
  hadKey = false;
  /** Deferred errors (0 or -errno): see SUB_ERR_* in layout.ts. */
  errPrep = 0;
  errLate = 0;
  errKey = 0;
  /** The offset as given, for rw_verify_area (pos + count): a number if it is a safe integer, else a bigint. */
  pos: number | bigint = 0;

  /** Drop every reference to the user's objects (the pool outlives the call). */
  clear(): void {
    this.iocb = null!;
    this.buf = undefined;
    this.vec = undefined;
    this.oldKey = undefined;
  }
}

const int32 = (v: unknown, dflt: number): number =>
  v === undefined ? dflt : typeof v === 'number' && (v | 0) === v ? v : NaN;
const u32 = (v: unknown): number =>
  v === undefined ? 0 : typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : NaN;

/**
 * Step 1: read iocb `x` (entry `i` of the user's array, already read). Returns
 * a snapshot, or the -errno that stops the batch at this entry before aio_key
 * is written (-EFAULT: not an object or a getter threw; -EINVAL: reserved
 * field set, an overflowing size, an aio_data that is not a __u64).
 */
export function snapshot(x: unknown, s: Snap): number {
  if (x === null || (typeof x !== 'object' && typeof x !== 'function')) return -E.EFAULT;
  const iocb = x as Record<string, unknown>;
  let op: unknown, fd: unknown, buf: unknown, nb: unknown, off: unknown, data: unknown, fl: unknown;
  let rw: unknown, r2: unknown, prio: unknown, resfd: unknown;
  try {
    op = iocb.aio_lio_opcode;
    fd = iocb.aio_fildes;
    buf = iocb.aio_buf;
    nb = iocb.aio_nbytes;
    off = iocb.aio_offset;
    data = iocb.aio_data;
    fl = iocb.aio_flags;
    rw = iocb.aio_rw_flags;
    r2 = iocb.aio_reserved2;
    prio = iocb.aio_reqprio;
    resfd = iocb.aio_resfd;
    const key = iocb.aio_key;
    s.oldKey = key;
    s.hadKey = key !== undefined || Object.prototype.hasOwnProperty.call(iocb, 'aio_key');
    s.vec = undefined;
    if (Array.isArray(buf)) {
      // The iovec array is user memory too: copy what the kernel will look at.
      const n = Math.min(buf.length, L.UIO_MAXIOV + 1);
      const v = new Array<unknown>(n);
      for (let j = 0; j < n; j++) v[j] = buf[j];
      s.vec = v;
      s.vecLength = buf.length;
    }
  } catch {
    return -E.EFAULT;
  }
  // io_submit_one: reserved field, then the overflow checks.
  if (r2 !== undefined && r2 !== 0) return -E.EINVAL;
  if (nb !== undefined && !(typeof nb === 'number' && Number.isInteger(nb) && nb >= 0 && nb < 2 ** 63)) return -E.EINVAL;
  if (typeof data === 'bigint') {
    if (data < 0n || data >= U64_LIMIT) return -E.EINVAL;
    s.data = data;
  } else if (data === undefined) {
    s.data = 0n;
  } else if (typeof data === 'number' && Number.isSafeInteger(data) && data >= 0) {
    s.data = BigInt(data);
  } else {
    return -E.EINVAL;
  }

  s.iocb = iocb;
  s.opcode = typeof op === 'number' && Number.isInteger(op) && op >= 0 && op <= 0xffff ? op : 0xffff;
  const f = int32(fd, -1);
  s.fd = Number.isNaN(f) ? -1 : f;
  const rf = int32(resfd, 0);
  s.resfd = Number.isNaN(rf) ? -1 : rf;
  s.nbytes = nb as number | undefined;
  s.buf = buf;
  s.errPrep = 0;
  s.errLate = 0;
  s.errKey = 0;

  const rw_op = s.opcode === L.IOCB_CMD_PREAD || s.opcode === L.IOCB_CMD_PWRITE || s.opcode === L.IOCB_CMD_PREADV || s.opcode === L.IOCB_CMD_PWRITEV;
  const flags = u32(fl);
  s.flags = Number.isNaN(flags) ? 0 : flags;
  const rwf = u32(rw);
  s.rwf = Number.isNaN(rwf) ? 0 : rwf;

  // The offset, as loff_t: a bigint in [2^63, 2^64) wraps negative, as in C.
  // Numbers stay numbers (no BigInt on the common path).
  let pos: number | bigint | undefined;
  if (off === undefined) pos = 0;
  else if (typeof off === 'number') pos = Number.isSafeInteger(off) ? off : undefined;
  else if (typeof off === 'bigint' && off >= -S64_LIMIT && off < U64_LIMIT) {
    const v = BigInt.asIntN(64, off);
    pos = v >= -MAX_SAFE_BIG && v <= MAX_SAFE_BIG ? Number(v) : v;
  }
  s.pos = pos ?? -1;
  s.offset = pos === undefined || pos < 0 ? 0 : typeof pos === 'bigint' ? 2 ** 53 : pos;
  const posZero = pos === 0;

  if (rw_op) {
    // aio_prep_rw: ioprio, then kiocb_set_rw_flags.
    if (Number.isNaN(flags)) s.errPrep = -E.EINVAL;
    else if (flags & L.IOCB_FLAG_IOPRIO) s.errPrep = ioprioCheck(prio);
    if (s.errPrep === 0) s.errPrep = rwFlagsCheck(rwf);
    // rw_verify_area: a negative offset (the buffer's checks come first: encode()).
    if (pos === undefined || pos < 0) s.errLate = -E.EINVAL;
  } else if (s.opcode === L.IOCB_CMD_FSYNC || s.opcode === L.IOCB_CMD_FDSYNC) {
    // aio_fsync: any of aio_buf, aio_offset, aio_nbytes, aio_rw_flags set.
    if ((buf !== undefined && buf !== null && buf !== 0) || !posZero || (nb ?? 0) !== 0 || (rw !== undefined && rw !== 0)) s.errPrep = -E.EINVAL;
  } else if (s.opcode === L.IOCB_CMD_POLL) {
    // aio_poll: aio_buf must fit the u16 event mask; no offset, nbytes or rw_flags.
    const ev = buf ?? 0;
    if (typeof ev !== 'number' || !Number.isInteger(ev) || ev < 0 || ev > 0xffff) s.errPrep = -E.EINVAL;
    else if (!posZero || (nb ?? 0) !== 0 || (rw !== undefined && rw !== 0)) s.errPrep = -E.EINVAL;
    else s.nbytes = ev; // the kernel reads the mask from the record's nbytes
  }
  if (Number.isNaN(flags) && s.errPrep === 0) s.errPrep = -E.EINVAL;
  if (Number.isNaN(rwf) && s.errPrep === 0) s.errPrep = -E.EINVAL;

  // put_user(KIOCB_KEY, &iocb->aio_key): Linux writes 0 there before the
  // opcode's own checks; kaio writes the real key once the request is in.
  try {
    iocb.aio_key = 0;
  } catch {
    s.errKey = -E.EFAULT;
  }
  return 0;
}

/** Whether this entry will certainly fail, whatever the kernel finds (stop reading the batch after it). */
export function doomed(s: Snap): boolean {
  return s.errKey !== 0 || s.errPrep !== 0 || s.errLate !== 0;
}

/** Linux's ioprio_check_cap for aio_reqprio (a __s16), as root. */
function ioprioCheck(prio: unknown): number {
  const p = prio === undefined ? 0 : prio;
  if (typeof p !== 'number' || !Number.isInteger(p) || p < -0x8000 || p > 0xffff) return -E.EINVAL;
  const v = (p << 16) >> 16; // as the __s16 field holds it
  const cls = (v >> 13) & 7;
  const level = v & 7;
  if (cls === 0) return level !== 0 ? -E.EINVAL : 0; // IOPRIO_CLASS_NONE
  if (cls > 3) return -E.EINVAL;
  return 0;
}

/**
 * kiocb_set_rw_flags, for kaio's files (ramdisks and pipes): unknown flags,
 * then APPEND with NOAPPEND, then RWF_ATOMIC (a read never; no kaio file has
 * FMODE_CAN_ATOMIC_WRITE) and RWF_DONTCACHE (no FOP_DONTCACHE).
 */
function rwFlagsCheck(rwf: number): number {
  if (rwf === 0) return 0;
  if (rwf & ~L.RWF_SUPPORTED) return -E.EOPNOTSUPP;
  if ((rwf & L.RWF_APPEND) && (rwf & L.RWF_NOAPPEND)) return -E.EINVAL;
  if (rwf & (L.RWF_ATOMIC | L.RWF_DONTCACHE)) return -E.EOPNOTSUPP;
  return 0;
}

/** The bytes of a PREAD/PWRITE buffer, or -EFAULT (late) if it is not one. */
export function singleBuffer(s: Snap): Uint8Array | number {
  const buf = s.buf;
  const nb = s.nbytes;
  if (buf === undefined || buf === null) {
    return nb === undefined || nb === 0 ? EMPTY : -E.EFAULT;
  }
  const v = userBytes(buf);
  if (v === undefined) return -E.EFAULT;
  const want = nb === undefined ? v.length : nb;
  if (want > v.length) return -E.EFAULT; // beyond the view: memory the caller does not have
  const n = Math.min(want, MAX_RW_COUNT);
  return n === v.length ? v : v.subarray(0, n);
}

/** The buffers of a PREADV/PWRITEV (import_iovec), or -errno (late). */
export function vectorBuffers(s: Snap): Uint8Array[] | number {
  if (s.vec === undefined) return -E.EFAULT;
  const cnt = s.nbytes === undefined ? s.vecLength : s.nbytes;
  if (cnt > L.UIO_MAXIOV) return -E.EINVAL;
  if (cnt > s.vecLength) return -E.EFAULT;
  const views: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; i < cnt; i++) {
    let v = userBytes(s.vec[i]);
    if (v === undefined) return -E.EFAULT;
    if (total + v.length > MAX_RW_COUNT) v = v.subarray(0, MAX_RW_COUNT - total);
    total += v.length;
    if (v.length > 0) views.push(v);
  }
  return views;
}

const EMPTY = new Uint8Array(0);

/** rw_verify_area's overflow check: pos + count must stay a loff_t. */
export function posOverflows(s: Snap, count: number): boolean {
  const p = s.pos;
  // A safe-integer offset plus a count below 2^31 cannot reach 2^63.
  return typeof p === 'bigint' && p + BigInt(count) >= S64_LIMIT;
}
