/**
 * The syscall level: io_setup, io_submit, io_getevents, io_cancel, io_destroy,
 * with libaio's conventions (return -errno, never throw for kernel errors).
 *
 * This file judges what JS alone can judge, in the order S2 gives, encodes
 * iocbs into this cpu's scratch and makes one WASM call per batch; the kernel
 * (assembly/aio.ts) judges the rest. Events come back the same way.
 *
 * Per thread, per context, a table indexed by the request's id remembers the
 * iocb object (event.obj is that object on the submitting thread) and the
 * plain buffers to fill from bounce blocks when the event is reaped here.
 */
import * as L from '../assembly/layout';
import * as E from '../assembly/errno';
import type { Core } from './core';
import { BufferRegistry, KernelBuffer, bytesOf, isView, isSAB } from './buffers';
import { waitUntil, waitUntilAsync, spinFor, SPIN_US } from './wait';

/** An I/O control block, as libaio's struct iocb. */
export interface Iocb {
  aio_data?: bigint;
  /** Written by io_submit: identifies the request (id and generation). */
  aio_key?: number;
  aio_lio_opcode: number;
  aio_reqprio?: number;
  aio_fildes: number;
  /** A byte buffer; for PREADV/PWRITEV an array of them; for POLL the event mask. */
  aio_buf?: ArrayBufferView | ArrayBufferView[] | number;
  /** Bytes (PREAD/PWRITE) or number of buffers (PREADV/PWRITEV). Defaults to all of aio_buf. */
  aio_nbytes?: number;
  aio_offset?: number | bigint;
  aio_flags?: number;
  aio_resfd?: number;
  /** RWF_* flags (RWF_NOWAIT: do not wait on an empty/full pipe; -EAGAIN instead). */
  aio_rw_flags?: number;
  /** Must be 0 (-EINVAL otherwise), as in the kernel's struct iocb. */
  aio_reserved2?: number;
}

/** A completion, as libaio's struct io_event. */
export interface IoEvent {
  /** aio_data of the request, exact to 64 bits. */
  data: bigint;
  /** The submitted iocb on the submitting thread; elsewhere `{ aio_key, aio_data }`. */
  obj: Iocb;
  res: number;
  res2: number;
}

export const IOCB_CMD = Object.freeze({
  PREAD: L.IOCB_CMD_PREAD,
  PWRITE: L.IOCB_CMD_PWRITE,
  FSYNC: L.IOCB_CMD_FSYNC,
  FDSYNC: L.IOCB_CMD_FDSYNC,
  POLL: L.IOCB_CMD_POLL,
  NOOP: L.IOCB_CMD_NOOP,
  PREADV: L.IOCB_CMD_PREADV,
  PWRITEV: L.IOCB_CMD_PWRITEV,
} as const);

const KEY_ID_SPAN = 2 ** L.KEY_ID_BITS;
const MAX_KEY = KEY_ID_SPAN * (L.KIOCB_GEN_MASK + 1) - 1;
const U64_MAX = (1n << 64n) - 1n;
/** Reap lock: loads to spin while another reaper copies out (a few µs), and retries before sleeping. */
const REAP_LOCK_SPINS = 4000;
const REAP_LOCK_SPIN_ROUNDS = 4;


/** This thread's knowledge of one context. */
interface CtxLocal {
  id: number;
  slot: number;
  gen: number;
  base: number;
  nr: number;
}

/**
 * Requests this thread submitted and has not reaped, by cookie. A request's
 * cookie travels with it through the kernel (KI_COOKIE) and comes back beside
 * its event (the ring's side entry), so the submitting thread finds its iocb
 * object in O(1), as the kernel finds the user's iocb through io_event.obj.
 * Cookies go round a ring as large as aio_max_nr (at least 65536, at most
 * 2^22): an entry is reused only after that many later submissions from this
 * thread, and a thread cannot have more requests outstanding than aio_max_nr.
 * An event reaped elsewhere (another thread, the ring) leaves its entry to be
 * overwritten; an event whose entry is gone carries { aio_key, aio_data }.
 * The entries are parallel arrays (no object per request).
 */
class PendingRing {
  readonly size: number;
  readonly iocb: (Iocb | undefined)[];
  readonly key: Float64Array;
  readonly data: bigint[];
  /** Views to fill from the bounce block at reap, by cookie: [view, offset in bounce]. */
  readonly copies = new Map<number, Array<[Uint8Array, number]>>();
  next = 0;

  constructor(aioMaxNr: number) {
    let n = 65536;
    while (n < aioMaxNr && n < 1 << 22) n *= 2;
    this.size = n;
    this.iocb = new Array<Iocb | undefined>(n).fill(undefined);
    this.key = new Float64Array(n);
    this.data = new Array<bigint>(n).fill(0n);
  }
}

/** Split a context id (gen * MAX_CTX + slot). undefined if it cannot be one. */
function splitCtx(ctx: unknown): [number, number] | undefined {
  if (typeof ctx !== 'number' || !Number.isSafeInteger(ctx) || ctx <= 0) return undefined;
  const slot = ctx % L.MAX_CTX;
  const gen = Math.floor(ctx / L.MAX_CTX);
  if (gen === 0 || gen > 0xffffffff) return undefined;
  return [slot, gen];
}

export class Syscalls {
  /**
   * How long io_getevents spins on the ring before it sleeps (microseconds; default 50).
   * A reaper whose events arrive within it wakes in well under a microsecond
   * instead of after a futex wake; 0 sleeps at once. Per thread.
   */
  reapSpinUs = SPIN_US;
  /** @internal */
  readonly core: Core;
  /** @internal */
  readonly buffers: BufferRegistry;
  private readonly locals = new Map<number, CtxLocal>();
  private readonly pending: PendingRing;
  private lastCtx: CtxLocal | undefined;
  /** Segments used by the last encode() (to avoid an object per iocb). */
  private lastNseg = 0;

  constructor(core: Core) {
    this.core = core;
    this.buffers = new BufferRegistry(core);
    this.pending = new PendingRing(core.u32[L.H_AIO_MAX_NR >> 2]);
  }

  // --- contexts -------------------------------------------------------------------

  /** The context if it is live now (read straight from its table entry), else undefined. */
  /** @internal */
  ctxLocal(ctx: unknown): CtxLocal | undefined {
    const u32 = this.core.u32;
    const last = this.lastCtx;
    if (last !== undefined && last.id === ctx) {
      // The same context as last time: it only needs to be still live.
      const a = L.CTX_OFF + last.slot * L.CTX_SIZE;
      if (u32[(a + L.CX_STATE_GEN) >> 2] === L.CTX_LIVE && u32[(a + L.CX_STATE_GEN + 4) >> 2] === last.gen) return last;
    }
    const sg = splitCtx(ctx);
    if (!sg) return undefined;
    const [slot, gen] = sg;
    const c = this.core;
    const a = L.CTX_OFF + slot * L.CTX_SIZE;
    if (c.u32[(a + L.CX_STATE_GEN + 4) >> 2] !== gen || c.u32[(a + L.CX_STATE_GEN) >> 2] !== L.CTX_LIVE) {
      this.locals.delete(ctx as number);
      if (this.lastCtx?.id === ctx) this.lastCtx = undefined;
      return undefined;
    }
    let l = this.locals.get(ctx as number);
    if (!l) {
      l = { id: ctx as number, slot, gen, base: c.u32[(a + L.CX_ID_BASE) >> 2], nr: c.u32[(a + L.CX_NR) >> 2], };
      this.locals.set(ctx as number, l);
    }
    this.lastCtx = l;
    return l;
  }

  /** io_setup(nr): a context id > 0, or -EINVAL (bad nr) / -EAGAIN (over aio_max_nr) / -ENOMEM. */
  io_setup(nr_events: number): number {
    if (typeof nr_events !== 'number' || !Number.isInteger(nr_events) || nr_events <= 0 || nr_events > L.AIO_NR_LIMIT) return -E.EINVAL;
    const slot = this.core.x.io_setup(nr_events);
    if (slot < 0) return slot;
    return this.core.x.ctx_gen(slot) * L.MAX_CTX + slot;
  }

  /**
   * io_destroy: cancel every outstanding request, wait until all have
   * completed, free the context and return its quota (S11). Blocks.
   * 0, or -EINVAL if ctx is not a live context.
   */
  io_destroy(ctx: number): number {
    const sg = splitCtx(ctx);
    if (!sg) return -E.EINVAL;
    const [slot, gen] = sg;
    const r = this.core.x.ctx_kill(slot, gen);
    if (r < 0) return r;
    this.finishDestroy(slot);
    this.locals.delete(ctx);
    return 0;
  }

  /** io_destroy without blocking the calling thread. */
  async io_destroy_async(ctx: number): Promise<number> {
    return this.destroyAsync(ctx, null);
  }

  /**
   * @internal io_destroy_async that gives up waiting after `timeoutMs` (the
   * context is then left dying, its memory not freed): for shutdown, which
   * must end even if a device thread is wedged. -ETIMEDOUT then.
   */
  async destroyAsync(ctx: number, timeoutMs: number | null): Promise<number> {
    const sg = splitCtx(ctx);
    if (!sg) return -E.EINVAL;
    const [slot, gen] = sg;
    const r = this.core.x.ctx_kill(slot, gen);
    if (r < 0) return r;
    this.locals.delete(ctx);
    const c = this.core;
    const wake = (L.CTX_OFF + slot * L.CTX_SIZE + L.CX_DYING_WAKE) >> 2;
    if (!(await waitUntilAsync(c.i32, wake, () => c.x.ctx_users(slot) === 0, timeoutMs))) return -E.ETIMEDOUT;
    c.x.ctx_cancel_all(slot);
    if (!(await waitUntilAsync(c.i32, wake, () => c.x.ctx_inflight(slot) === 0, timeoutMs))) return -E.ETIMEDOUT;
    c.x.ctx_free(slot);
    return 0;
  }

  private finishDestroy(slot: number): void {
    const c = this.core;
    const wake = (L.CTX_OFF + slot * L.CTX_SIZE + L.CX_DYING_WAKE) >> 2;
    waitUntil(c.i32, wake, () => c.x.ctx_users(slot) === 0, null);
    c.x.ctx_cancel_all(slot);
    waitUntil(c.i32, wake, () => c.x.ctx_inflight(slot) === 0, null);
    c.x.ctx_free(slot);
  }

  // --- io_submit ------------------------------------------------------------------

  /**
   * io_submit: returns the number of iocbs submitted, or the -errno of the
   * first if none was. `nr` defaults to iocbs.length. Writes aio_key into each
   * submitted iocb.
   */
  io_submit(ctx: number, iocbs: ArrayLike<Iocb | null | undefined> | null, nr?: number): number {
    let n: unknown = nr;
    if (n === undefined) n = iocbs !== null && typeof iocbs === 'object' && typeof iocbs.length === 'number' ? iocbs.length : 0;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return -E.EINVAL;
    const c = this.ctxLocal(ctx);
    if (!c) return -E.EINVAL;
    if (n === 0) return 0;
    if (iocbs === null || typeof iocbs !== 'object') return -E.EFAULT;
    const core = this.core;
    const pend = this.pending;
    let done = 0;
    let busyRetries = 0;
    while (done < n) {
      let k = 0;
      let segs = 0;
      let jsErr = 0;
      while (done + k < n && k < L.SUB_MAX_BATCH) {
        const rec = core.scratch + k * L.SUB_REC_SIZE;
        const e = this.encode(iocbs[done + k], rec, segs);
        if (e < 0) {
          jsErr = e;
          break;
        }
        if (segs + this.lastNseg > L.SUB_MAX_SEGS) {
          this.unstage(rec);
          if (k === 0) jsErr = -E.EINVAL;
          break;
        }
        segs += this.lastNseg;
        k++;
      }
      let r = 0;
      if (k > 0) r = core.x.io_submit(core.cpu, c.slot, c.gen, k);
      const ok = r > 0 ? r : 0;
      const stop = core.scratch + ok * L.SUB_REC_SIZE;
      const busy = ok < k && core.u32[(stop + L.SUB_OUT_GEN) >> 2] === 0 && core.i32[(stop + L.SUB_OUT_ID) >> 2] === -E.EBUSY;
      const u32 = core.u32;
      for (let j = 0; j < k; j++) {
        const rec = core.scratch + j * L.SUB_REC_SIZE;
        if (j < ok) {
          const key = u32[(rec + L.SUB_OUT_GEN) >> 2] * KEY_ID_SPAN + u32[(rec + L.SUB_OUT_ID) >> 2];
          const cookie = u32[(rec + L.SUB_COOKIE) >> 2];
          pend.key[cookie] = key;
          pend.iocb[cookie]!.aio_key = key;
        } else {
          this.unstage(rec);
        }
      }
      if (busy && busyRetries++ < 2000) {
        // Free ids exist but another cpu holds them in transit: let it run, retry
        // (for up to ~100 ms; after that, report the slot shortage as -EAGAIN).
        done += ok;
        Atomics.wait(core.i32, L.H_KW_DOORBELL >> 2, Atomics.load(core.i32, L.H_KW_DOORBELL >> 2), 0.05);
        continue;
      }
      if (busy) return done + ok > 0 ? done + ok : -E.EAGAIN;
      if (r < 0) return done > 0 ? done : r;
      done += r;
      if (r < k) return done;
      if (jsErr) return done > 0 ? done : jsErr;
    }
    return done;
  }

  /** Undo an encoded record that was not submitted: its bounce block and pending entry. */
  private unstage(rec: number): void {
    this.freeBounce(rec);
    const cookie = this.core.u32[(rec + L.SUB_COOKIE) >> 2];
    this.pending.iocb[cookie] = undefined;
    this.pending.copies.delete(cookie);
  }

  private freeBounce(rec: number): void {
    const core = this.core;
    const b = core.u32[(rec + L.SUB_BOUNCE) >> 2];
    if (b) core.x.kfree(b, core.u32[(rec + L.SUB_BOUNCE_SIZE) >> 2]);
    core.u32[(rec + L.SUB_BOUNCE) >> 2] = 0;
  }

  /**
   * Check one iocb (S2: malformed -> -EFAULT; reserved field, negative offset,
   * bad size -> -EINVAL), write its record and its pending entry. Returns 0 or
   * -errno (the record's segment count is left in lastNseg).
   */
  private encode(iocb: Iocb | null | undefined, rec: number, segFirst: number): number {
    const core = this.core;
    const { u32, i32, f64, u64 } = core;
    u32[(rec + L.SUB_BOUNCE) >> 2] = 0;
    u32[(rec + L.SUB_BOUNCE_SIZE) >> 2] = 0;
    if (iocb === null || typeof iocb !== 'object' || Object.isFrozen(iocb)) return -E.EFAULT;
    const op = iocb.aio_lio_opcode;
    const opcode = typeof op === 'number' && op >= 0 && op <= 0xffff && Number.isInteger(op) ? op : 0xffff;
    const r2 = iocb.aio_reserved2;
    if (r2 !== undefined && r2 !== 0) return -E.EINVAL;
    let rwf = 0;
    const rw = iocb.aio_rw_flags;
    if (rw !== undefined) {
      if (typeof rw !== 'number' || !Number.isInteger(rw) || rw < 0 || rw > 0xffffffff) return -E.EINVAL;
      if (rw & ~L.RWF_SUPPORTED) return -E.EOPNOTSUPP;
      rwf = rw;
    }
    let flags = 0;
    const fl = iocb.aio_flags;
    if (fl !== undefined) {
      if (typeof fl !== 'number' || !Number.isInteger(fl) || fl < 0 || fl > 0xffffffff) return -E.EINVAL;
      if (fl & L.IOCB_FLAG_IOPRIO) {
        const prio = iocb.aio_reqprio ?? 0;
        if (typeof prio !== 'number' || !Number.isInteger(prio) || prio < 0 || prio >> 13 > 3) return -E.EINVAL;
      }
      flags = fl;
    }
    let offset = 0;
    const o = iocb.aio_offset;
    if (typeof o === 'number') {
      if (!Number.isSafeInteger(o) || o < 0) return -E.EINVAL;
      offset = o;
    } else if (typeof o === 'bigint') {
      if (o < 0n || o > 0x7fffffffffffffffn) return -E.EINVAL;
      offset = Number(o);
    } else if (o !== undefined) {
      return -E.EINVAL;
    }
    let data: bigint;
    const d = iocb.aio_data as unknown;
    if (typeof d === 'bigint') data = d >= 0n && d <= U64_MAX ? d : BigInt.asUintN(64, d);
    else if (d === undefined) data = 0n;
    else if (typeof d === 'number' && Number.isSafeInteger(d)) data = BigInt.asUintN(64, BigInt(d));
    else return -E.EINVAL;
    const fdv = iocb.aio_fildes;
    const fd = typeof fdv === 'number' && (fdv | 0) === fdv ? fdv : -1;
    const rf = iocb.aio_resfd;
    const resfd = rf === undefined ? 0 : typeof rf === 'number' && (rf | 0) === rf ? rf : -1;

    let nbytes = 0;
    let nseg = 0;
    let copies: Array<[Uint8Array, number]> | undefined;
    const buf = iocb.aio_buf;
    if (opcode === L.IOCB_CMD_PREAD || opcode === L.IOCB_CMD_PWRITE) {
      const nb = iocb.aio_nbytes;
      if (buf === undefined || buf === null) {
        if (nb !== undefined && nb !== 0) return typeof nb === 'number' && nb < 0 ? -E.EINVAL : -E.EFAULT;
      } else {
        if (!ArrayBuffer.isView(buf)) return -E.EFAULT;
        const v = buf instanceof Uint8Array ? buf : bytesOf(buf);
        const want = nb === undefined ? v.length : nb;
        if (typeof want !== 'number' || !Number.isInteger(want) || want < 0 || want > v.length) return -E.EINVAL;
        nbytes = want;
        if (want > 0) {
          const seg = core.scratch + L.SCRATCH_SEGS + segFirst * L.SEG_SIZE;
          // Fast path: kernel memory, zero copy. Views from k.buffer() carry
          // their address (asking a view of shared memory for .buffer is slow).
          let addr = KernelBuffer.addrIn(v, core);
          if (addr < 0 && v.buffer === core.buffer) addr = v.byteOffset;
          if (addr >= 0) {
            u32[(seg + L.SEG_KIND) >> 2] = L.BUF_MEM;
            u32[(seg + L.SEG_REF) >> 2] = addr;
            u32[(seg + L.SEG_OFF) >> 2] = 0;
            u32[(seg + L.SEG_LEN) >> 2] = want;
            nseg = 1;
          } else {
            const r = this.segments([want === v.length ? v : v.subarray(0, want)], opcode === L.IOCB_CMD_PWRITE, fd, rec, segFirst);
            if (typeof r === 'number') return r;
            nseg = r.nseg;
            copies = r.copies;
          }
        }
      }
    } else if (opcode === L.IOCB_CMD_PREADV || opcode === L.IOCB_CMD_PWRITEV) {
      if (!Array.isArray(buf)) return -E.EFAULT;
      const cnt = iocb.aio_nbytes === undefined ? buf.length : iocb.aio_nbytes;
      if (typeof cnt !== 'number' || !Number.isInteger(cnt) || cnt < 0) return -E.EINVAL;
      if (cnt > L.UIO_MAXIOV) return -E.EINVAL;
      if (cnt > buf.length) return -E.EFAULT;
      const views: Uint8Array[] = [];
      for (let i = 0; i < cnt; i++) {
        if (!isView(buf[i])) return -E.EFAULT;
        const v = bytesOf(buf[i]);
        nbytes += v.length;
        if (v.length > 0) views.push(v);
      }
      if (nbytes > 0x7fffffff) return -E.EINVAL;
      if (views.length > 0) {
        const r = this.segments(views, opcode === L.IOCB_CMD_PWRITEV, fd, rec, segFirst);
        if (typeof r === 'number') return r;
        nseg = r.nseg;
        copies = r.copies;
      }
    } else if (opcode === L.IOCB_CMD_POLL) {
      const ev = buf ?? 0;
      if (typeof ev !== 'number' || !Number.isInteger(ev) || ev < 0 || ev > 0xffff) return -E.EINVAL;
      if ((iocb.aio_nbytes ?? 0) !== 0 || offset !== 0 || rwf !== 0) return -E.EINVAL;
      nbytes = ev; // the kernel reads the event mask from the record's nbytes
    } else if (opcode === L.IOCB_CMD_FSYNC || opcode === L.IOCB_CMD_FDSYNC) {
      if ((buf !== undefined && buf !== null && buf !== 0) || (iocb.aio_nbytes ?? 0) !== 0 || offset !== 0 || rwf !== 0) return -E.EINVAL;
    }

    const pend = this.pending;
    const cookie = pend.next;
    pend.next = cookie + 1 === pend.size ? 0 : cookie + 1;
    pend.iocb[cookie] = iocb;
    pend.data[cookie] = data;
    if (copies !== undefined) pend.copies.set(cookie, copies);
    else if (pend.copies.size > 0) pend.copies.delete(cookie);
    u32[(rec + L.SUB_OPCODE) >> 2] = opcode;
    i32[(rec + L.SUB_FD) >> 2] = fd;
    u32[(rec + L.SUB_NBYTES) >> 2] = nbytes;
    u32[(rec + L.SUB_FLAGS) >> 2] = flags;
    f64[(rec + L.SUB_OFFSET) >> 3] = offset;
    u64[(rec + L.SUB_DATA) >> 3] = data;
    i32[(rec + L.SUB_RESFD) >> 2] = resfd;
    u32[(rec + L.SUB_RW_FLAGS) >> 2] = rwf;
    u32[(rec + L.SUB_NSEG) >> 2] = nseg;
    u32[(rec + L.SUB_SEG_FIRST) >> 2] = segFirst;
    u32[(rec + L.SUB_COOKIE) >> 2] = cookie;
    this.lastNseg = nseg;
    return 0;
  }

  /**
   * Segments for user buffers that are not all in kernel memory (see
   * src/buffers.ts): SharedArrayBuffers on block devices go by registry id,
   * anything else through a bounce block. Writes copy into the bounce now;
   * reads list where to copy out at reap.
   */
  private segments(views: Uint8Array[], write: boolean, fd: number, rec: number, segFirst: number): number | { nseg: number; copies?: Array<[Uint8Array, number]> } {
    const core = this.core;
    const { u32 } = core;
    const isShared = (b: ArrayBufferLike) => !(b instanceof ArrayBuffer) && isSAB(b);
    let ft = -1;
    let obj = 0;
    if (views.some((v) => v.buffer !== core.buffer && isShared(v.buffer))) {
      const t = core.x.fd_type(fd);
      if (t >= 0) {
        ft = t & 15;
        obj = t >> 4;
      }
    }
    const isBlock = ft === L.FT_BLOCK;
    const inMem = (v: Uint8Array) => v.buffer === core.buffer;
    // Pipes copy inside the kernel: any view outside kernel memory bounces the whole request.
    const pipeBounce = ft !== L.FT_BLOCK && !views.every(inMem);
    let bounceSize = 0;
    for (const v of views) if (pipeBounce || (!inMem(v) && !(isBlock && isShared(v.buffer)))) bounceSize += v.length;
    let bounce = 0;
    if (bounceSize > 0) {
      bounce = core.x.kmalloc(bounceSize);
      if (!bounce) return -E.ENOMEM;
      u32[(rec + L.SUB_BOUNCE) >> 2] = bounce;
      u32[(rec + L.SUB_BOUNCE_SIZE) >> 2] = bounceSize;
    }
    let copies: Array<[Uint8Array, number]> | undefined;
    let at = 0;
    let s = core.scratch + L.SCRATCH_SEGS + segFirst * L.SEG_SIZE;
    const end = core.scratch + L.SCRATCH_SIZE;
    let nseg = 0;
    const put = (kind: number, ref: number, off: number, len: number) => {
      if (s + L.SEG_SIZE <= end) {
        u32[(s + L.SEG_KIND) >> 2] = kind;
        u32[(s + L.SEG_REF) >> 2] = ref;
        u32[(s + L.SEG_OFF) >> 2] = off;
        u32[(s + L.SEG_LEN) >> 2] = len;
      }
      s += L.SEG_SIZE;
      nseg++; // the caller rejects a batch whose segments overflow scratch, by count
    };
    for (const v of views) {
      if (!pipeBounce && inMem(v)) {
        put(L.BUF_MEM, v.byteOffset, 0, v.length);
      } else if (isBlock && isShared(v.buffer)) {
        put(L.BUF_SAB, this.buffers.idFor(obj, v.buffer as SharedArrayBuffer), v.byteOffset, v.length);
      } else {
        // Bounced: this piece lives at bounce + at.
        if (write) {
          core.u8.set(v, bounce + at);
        } else if (pipeBounce && isShared(v.buffer)) {
          put(L.BUF_SAB, this.buffers.idFor(-1, v.buffer as SharedArrayBuffer), v.byteOffset, v.length);
          at += v.length;
          continue;
        } else {
          (copies ??= []).push([v, at]);
        }
        put(L.BUF_MEM, bounce + at, 0, v.length);
        at += v.length;
      }
    }
    return { nseg, copies };
  }

  // --- io_cancel --------------------------------------------------------------------

  /**
   * io_cancel: ask for the request to be cancelled; never blocks (S5).
   * -EINPROGRESS if it was in flight on ctx (its event, with -ECANCELED or its
   * normal result, arrives through io_getevents); -EINVAL if not (never
   * submitted, already completed, stale key, another context's key);
   * -EFAULT if iocb is not an object.
   */
  io_cancel(ctx: number, iocb: Iocb | { aio_key: number } | null): number {
    if (iocb === null || typeof iocb !== 'object') return -E.EFAULT;
    const sg = splitCtx(ctx);
    if (!sg) return -E.EINVAL;
    const key = (iocb as { aio_key?: unknown }).aio_key;
    if (typeof key !== 'number' || !Number.isSafeInteger(key) || key < 0 || key > MAX_KEY) return -E.EINVAL;
    const gid = key % KEY_ID_SPAN;
    const kgen = (key - gid) / KEY_ID_SPAN;
    return this.core.x.io_cancel(this.core.cpu, sg[0], sg[1], gid, kgen);
  }

  // --- io_getevents ---------------------------------------------------------------

  /** -errno if the arguments are wrong, else 0 (S4). */
  private checkGetevents(min_nr: number, nr: number, events: unknown, timeout: unknown): number {
    if (typeof min_nr !== 'number' || typeof nr !== 'number' || !Number.isInteger(min_nr) || !Number.isInteger(nr)) return -E.EINVAL;
    if (min_nr < 0 || min_nr > nr) return -E.EINVAL;
    if (events === undefined || events === null) {
      if (nr > 0) return -E.EFAULT;
    } else if (!Array.isArray(events)) {
      return -E.EFAULT;
    }
    if (timeout !== undefined && timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0)) return -E.EINVAL;
    return 0;
  }

  /** One pass: move up to `max` events into `out` from `at`. Count, or -EINVAL (context gone). */
  private reapInto(c: CtxLocal, out: IoEvent[], at: number, max: number): number {
    const core = this.core;
    let got = 0;
    let contended = 0;
    let spun = 0;
    while (got < max) {
      const want = Math.min(max - got, L.REAP_MAX);
      const r = core.x.io_reap(core.cpu, c.slot, c.gen, want, contended);
      if (r === -E.EBUSY) {
        const lock = (L.CTX_OFF + c.slot * L.CTX_SIZE + L.CX_REAP_LOCK) >> 2;
        // Another reaper holds the ring. It holds it for one bounded copy, so
        // first spin a little, as the kernel's mutex spins while the owner
        // runs (pairs with mutex_unlock's xchg to 0): sleeping and being woken
        // costs microseconds of futex calls on both sides.
        if (!contended && spun++ < REAP_LOCK_SPIN_ROUNDS) {
          let spins = REAP_LOCK_SPINS;
          while (spins-- > 0 && Atomics.load(core.i32, lock) !== 0);
          if (spins >= 0) continue;
        }
        // Still held: mark the lock contended and sleep on it until
        // mutex_unlock notifies (futex mutex protocol, 0/1/2).
        if (Atomics.compareExchange(core.i32, lock, 1, 2) !== 0) Atomics.wait(core.i32, lock, 2, 10);
        contended = 1;
        continue;
      }
      contended = 0;
      if (r < 0) return got > 0 ? got : r;
      if (r === 0) break;
      this.decode(r, out, at + got);
      got += r;
      if (r < want) break;
    }
    return got;
  }

  private decode(n: number, out: IoEvent[], at: number): void {
    const core = this.core;
    const { u32, u64, u8 } = core;
    for (let i = 0; i < n; i++) {
      const rec = core.scratch + i * L.REAP_REC_SIZE;
      const lo = u32[(rec + L.EV_OBJ) >> 2];
      const key = u32[(rec + L.EV_OBJ + 4) >> 2] * 0x100000000 + lo;
      const res = u32[(rec + L.EV_RES) >> 2] + core.i32[(rec + L.EV_RES + 4) >> 2] * 0x100000000;
      const res2 = u32[(rec + L.EV_RES2) >> 2] + core.i32[(rec + L.EV_RES2 + 4) >> 2] * 0x100000000;
      const bounce = u32[(rec + L.REAP_BOUNCE) >> 2];
      const pend = this.pending;
      let obj: Iocb | undefined;
      let cookie = -1;
      if (u32[(rec + L.REAP_CPU) >> 2] === core.cpu) {
        cookie = u32[(rec + L.REAP_COOKIE) >> 2];
        obj = pend.key[cookie] === key ? pend.iocb[cookie] : undefined;
      }
      let ev: IoEvent;
      if (obj !== undefined) {
        pend.iocb[cookie] = undefined;
        if (bounce) {
          const copies = pend.copies.get(cookie);
          if (copies !== undefined) {
            pend.copies.delete(cookie);
            if (res > 0) {
              for (const [v, off] of copies) {
                const m = Math.min(v.length, res - off);
                if (m <= 0) break;
                v.set(u8.subarray(bounce + off, bounce + off + m));
              }
            }
          }
        }
        ev = { data: pend.data[cookie], obj, res, res2 };
      } else {
        const data = u64[(rec + L.EV_DATA) >> 3];
        ev = { data, obj: { aio_key: key, aio_data: data } as Iocb, res, res2 };
      }
      if (bounce) core.x.kfree(bounce, u32[(rec + L.REAP_BOUNCE_SIZE) >> 2]);
      out[at + i] = ev;
    }
  }

  private ringHasEvents(c: CtxLocal): boolean {
    const { u32 } = this.core;
    const a = L.CTX_OFF + c.slot * L.CTX_SIZE;
    if (u32[(a + L.CX_STATE_GEN) >> 2] !== L.CTX_LIVE || u32[(a + L.CX_STATE_GEN + 4) >> 2] !== c.gen) return true; // dead: stop waiting
    const ring = u32[(a + L.CX_RING) >> 2];
    const nr = u32[(a + L.CX_RING_NR) >> 2];
    // Clamped as the kernel does: user space may have written any head.
    return Atomics.load(u32, (ring + L.RING_HEAD) >> 2) % nr !== Atomics.load(u32, (ring + L.RING_TAIL) >> 2) % nr;
  }

  /**
   * io_getevents: fill events[0..n-1] and return n, or -errno (S4). Waits until
   * min_nr events have arrived, or timeoutMs passes (then returns what it
   * has, maybe 0); timeoutMs 0 polls once; null/undefined waits for min_nr.
   * min_nr 0 returns at once. Blocks the calling thread.
   */
  io_getevents(ctx: number, min_nr: number, nr: number, events: IoEvent[], timeoutMs?: number | null): number {
    const c = this.ctxLocal(ctx);
    if (!c) return -E.EINVAL;
    const bad = this.checkGetevents(min_nr, nr, events, timeoutMs);
    if (bad) return bad;
    let got = this.reapInto(c, events, 0, nr);
    if (got < 0 || got >= min_nr || got === nr || timeoutMs === 0) return got;
    const deadline = timeoutMs === null || timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) return got;
      this.waitEvents(c, left === Infinity ? null : left);
      const r = this.reapInto(c, events, got, nr - got);
      if (r < 0) return got > 0 ? got : r;
      got += r;
      if (got >= min_nr || got === nr) return got;
    }
  }

  private waitEvents(c: CtxLocal, timeout: number | null): void {
    const { i32, u32 } = this.core;
    const a = L.CTX_OFF + c.slot * L.CTX_SIZE;
    // Spin first, watching only head and tail: a spinning reaper needs no
    // wake-up, so it does not register as a waiter (no shared write on the
    // producer's path). Liveness is checked before sleeping.
    const ring = u32[(a + L.CX_RING) >> 2];
    const nr = u32[(a + L.CX_RING_NR) >> 2];
    const head = (ring + L.RING_HEAD) >> 2;
    const tail = (ring + L.RING_TAIL) >> 2;
    if (spinFor(() => Atomics.load(u32, head) % nr !== Atomics.load(u32, tail) % nr, timeout === null ? this.reapSpinUs : Math.min(this.reapSpinUs, timeout * 1000))) return;
    const waiters = (a + L.CX_WAITERS) >> 2;
    Atomics.add(i32, waiters, 1); // pairs with ring_advance's load of waiters after it moves tail
    try {
      waitUntil(i32, (a + L.CX_WAKE) >> 2, () => this.ringHasEvents(c), timeout, 0);
    } finally {
      Atomics.sub(i32, waiters, 1);
    }
  }

  /**
   * io_getevents without blocking the thread (Atomics.waitAsync). Resolves to
   * the events, or to -errno.
   */
  async io_getevents_async(ctx: number, min_nr: number, nr: number, timeoutMs?: number | null): Promise<IoEvent[] | number> {
    const events: IoEvent[] = [];
    const c = this.ctxLocal(ctx);
    if (!c) return -E.EINVAL;
    const bad = this.checkGetevents(min_nr, nr, events, timeoutMs);
    if (bad) return bad;
    const deadline = timeoutMs === null || timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
    const i32 = this.core.i32;
    const a = L.CTX_OFF + c.slot * L.CTX_SIZE;
    for (;;) {
      const r = this.reapInto(c, events, events.length, nr - events.length);
      if (r < 0) return events.length > 0 ? events : r;
      if (events.length >= min_nr || events.length === nr) return events;
      const left = deadline - performance.now();
      if (left <= 0) return events;
      Atomics.add(i32, (a + L.CX_WAITERS) >> 2, 1);
      try {
        await waitUntilAsync(i32, (a + L.CX_WAKE) >> 2, () => this.ringHasEvents(c), left === Infinity ? null : left, this.reapSpinUs);
      } finally {
        Atomics.sub(i32, (a + L.CX_WAITERS) >> 2, 1);
      }
    }
  }

  // --- the ring and friends -------------------------------------------------------------

  /**
   * The context's aio_ring in shared memory (S12): header {id, nr, head, tail,
   * magic, compat_features, incompat_features, header_length}, then nr
   * 32-byte io_events {data u64, obj u64 (the aio_key), res i64, res2 i64}.
   * Advancing head consumes events, exactly as io_getevents would. The view is
   * dead after io_destroy.
   */
  ring(ctx: number): DataView {
    const c = this.ctxLocal(ctx);
    if (!c) throw Object.assign(new Error(`EINVAL: invalid argument, ring (no live context ${String(ctx)})`), { code: 'EINVAL', errno: -E.EINVAL, syscall: 'ring' });
    const a = L.CTX_OFF + c.slot * L.CTX_SIZE;
    const ring = this.core.u32[(a + L.CX_RING) >> 2];
    const nr = this.core.u32[(a + L.CX_RING_NR) >> 2];
    return new DataView(this.core.buffer, ring, L.RING_HDR_SIZE + nr * L.IO_EVENT_SIZE);
  }

  /** Outstanding requests of a context, for checkpoint/restore (S11): a snapshot. */
  io_outstanding(ctx: number): Array<{ aio_key: number; aio_data: bigint }> | number {
    const c = this.ctxLocal(ctx);
    if (!c) return -E.EINVAL;
    const core = this.core;
    const max = Math.floor(L.SCRATCH_SIZE / 16);
    const n = core.x.ctx_enumerate(c.slot, c.gen, core.scratch, max);
    if (n < 0) return n;
    const out: Array<{ aio_key: number; aio_data: bigint }> = [];
    for (let i = 0; i < n; i++) {
      const r = core.scratch + i * 16;
      out.push({ aio_key: core.readU64(r), aio_data: core.u64[(r + 8) >> 3] });
    }
    return out;
  }

  // --- files ---------------------------------------------------------------------------

  close(fd: number): number {
    if (typeof fd !== 'number' || !Number.isInteger(fd)) return -E.EBADF;
    return this.core.x.fd_close(fd | 0);
  }

  pipe(): [readFd: number, writeFd: number] {
    const core = this.core;
    const r = core.x.pipe_create(core.scratch);
    if (r < 0) return [r, r];
    return [core.i32[core.scratch >> 2], core.i32[(core.scratch >> 2) + 1]];
  }

  /** write(2): bytes written or -errno. Pipes never block (-EAGAIN when full); block devices write at the file position. */
  write(fd: number, data: ArrayBufferView): number {
    return this.rw(fd, data, -1, true);
  }

  /** read(2): bytes read, 0 at end of file, or -errno. Pipes never block (-EAGAIN when empty). */
  read(fd: number, data: ArrayBufferView): number {
    return this.rw(fd, data, -1, false);
  }

  /** pwrite(2) on a block device. */
  pwrite(fd: number, data: ArrayBufferView, position: number): number {
    if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) return -E.EINVAL;
    return this.rw(fd, data, position, true);
  }

  /** pread(2) on a block device. */
  pread(fd: number, data: ArrayBufferView, position: number): number {
    if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) return -E.EINVAL;
    return this.rw(fd, data, position, false);
  }

  private rw(fd: number, data: ArrayBufferView, pos: number, write: boolean): number {
    if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < -0x80000000 || fd > 0x7fffffff) return -E.EBADF;
    if (!isView(data)) return -E.EFAULT;
    const core = this.core;
    const bytes = bytesOf(data);
    let total = 0;
    do {
      const chunk = Math.min(L.SCRATCH_SIZE, bytes.length - total);
      if (write) core.u8.set(bytes.subarray(total, total + chunk), core.scratch);
      const r = core.x.sys_rw(core.cpu, fd, chunk, pos < 0 ? -1 : pos + total, write ? 1 : 0);
      if (r < 0) return total > 0 ? total : r;
      if (!write) bytes.set(core.u8.subarray(core.scratch, core.scratch + r), total);
      total += r;
      if (r < chunk || r === 0) break;
    } while (total < bytes.length);
    return total;
  }
}
