/**
 * The syscall level: io_setup, io_submit, io_getevents, io_cancel, io_destroy,
 * with libaio's conventions (return -errno, never throw for kernel errors).
 *
 * io_submit reads each iocb once into a snapshot (src/iocb.ts), encodes the
 * snapshots into this cpu's scratch and makes one WASM call per batch; the
 * kernel (assembly/fs/aio.ts) judges what needs kernel state, in Linux's order.
 * No user code runs while scratch holds a call's records: getters run before,
 * setters after. Events come back the same way, and are written into the
 * caller's array only after the kernel call.
 *
 * The submitting thread keeps a handle per in-flight request (src/handles.ts):
 * the iocb object (event.obj), the buffers the request holds, and the plain
 * buffers to fill from bounce blocks when the event is reaped here.
 */
import * as L from '../assembly/include/layout';
import * as E from '../assembly/include/errno';
import type { Core } from './core';
import { BufferRegistry, KernelBuffer, isSAB, POOL_MOVER } from './buffers';
import { waitUntil, waitUntilAsync, spinFor, SPIN_US } from './wait';
import { Handles } from './handles';
import { Snap, snapshot, doomed, singleBuffer, vectorBuffers, posOverflows, MAX_RW_COUNT } from './iocb';
import { userBytes, type Iocb, type IoEvent } from './uapi';
import { shutdownError, fsErrno } from './errno';
import fs from 'node:fs';
import { RecordArray, type IocbArray, type IoEventArray } from './binary';

export type { Iocb, IoEvent } from './uapi';
export { IOCB_CMD } from './uapi';

const KEY_ID_SPAN = 2 ** L.KEY_ID_BITS;
const MAX_KEY = KEY_ID_SPAN * (L.KIOCB_GEN_MASK + 1) - 1;
/** Reap lock: loads to spin while another reaper copies out (a few µs), and retries before sleeping. */
const REAP_LOCK_SPINS = 4000;
const REAP_LOCK_SPIN_ROUNDS = 4;

/** A reaper's progress waiting for a busy reap lock. */
interface LockWait {
  contended: number;
  spun: number;
}

/** What one io_getevents call learnt while it delivered. */
interface ReapState {
  efault: boolean;
}

/** @internal This thread's knowledge of one context. */
interface CtxLocal {
  id: number;
  slot: number;
  gen: number;
  base: number;
  nr: number;
}

const NO_KEYS = new Float64Array(0);
/** SUB_OUT_GEN of a record the kernel never looked at (it writes 0, 1 or a generation < 2^30). */
const UNTOUCHED = 0xffffffff;

/** Write a submitted request's aio_key (a setter that throws now cannot undo the submission). */
function setKey(s: Snap, key: number): void {
  try {
    (s.iocb as { aio_key?: number }).aio_key = key;
  } catch {
    // Linux's put_user succeeded earlier (snapshot); the request is in.
  }
}

/** Put back the aio_key snapshot() overwrote with 0, where Linux would not have written it. */
function restoreKey(s: Snap): void {
  if (s.errKey !== 0) return; // the write failed: nothing changed
  try {
    if (!s.hadKey && s.oldKey === undefined) delete (s.iocb as { aio_key?: number }).aio_key;
    else (s.iocb as { aio_key?: unknown }).aio_key = s.oldKey;
  } catch {
    // as above
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
  /** @internal */
  readonly handles: Handles;
  private lastCtx: CtxLocal | undefined;
  /** Segments used by the last encode() (to avoid an object per iocb). */
  private lastNseg = 0;
  /** Snapshots, one pool per nesting depth (a getter may call io_submit again). */
  private readonly snaps: Snap[][] = [];
  /** Keys of a batch, one array per nesting depth (setters run while they are read). */
  private readonly keyBufs: Float64Array[] = [];
  private depth = 0;
  private readonly handleOf = new Int32Array(L.SUB_MAX_BATCH);
  /** @internal Set once the kernel is shut down or this thread detached: every call fails. */
  protected dead = false;

  /** @internal */
  constructor(core: Core) {
    this.core = core;
    this.buffers = new BufferRegistry(core);
    this.handles = new Handles(core);
  }

  /**
   * cpu << 8 | claim epoch: the top bits of this thread's cookies (layout.ts,
   * COOKIE_*). Fixed while this thread holds its cpu (the epoch moves only when
   * a cpu is claimed), so it is read once.
   */
  private tag = -1;
  private get cookieTag(): number {
    if (this.tag < 0) {
      const c = this.core;
      this.tag = ((c.cpu << L.COOKIE_EPOCH_BITS) | (c.u32[(L.CPU_OFF + c.cpu * L.CPU_SIZE + L.CPU_EPOCH) >>> 2] & 0xff)) >>> 0;
    }
    return this.tag;
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
      if (u32[(a + L.CX_STATE_GEN) >>> 2] === L.CTX_LIVE && u32[(a + L.CX_STATE_GEN + 4) >>> 2] === last.gen) return last;
    }
    const sg = splitCtx(ctx);
    if (!sg) return undefined;
    const [slot, gen] = sg;
    const c = this.core;
    const a = L.CTX_OFF + slot * L.CTX_SIZE;
    if (c.u32[(a + L.CX_STATE_GEN + 4) >>> 2] !== gen || c.u32[(a + L.CX_STATE_GEN) >>> 2] !== L.CTX_LIVE) {
      this.locals.delete(ctx as number);
      if (this.lastCtx?.id === ctx) this.lastCtx = undefined;
      return undefined;
    }
    let l = this.locals.get(ctx as number);
    if (!l) {
      l = { id: ctx as number, slot, gen, base: c.u32[(a + L.CX_ID_BASE) >>> 2], nr: c.u32[(a + L.CX_NR) >>> 2], };
      this.locals.set(ctx as number, l);
    }
    this.lastCtx = l;
    return l;
  }

  /** io_setup(nr): a context id > 0, or -EINVAL (bad nr) / -EAGAIN (over aio_max_nr) / -ENOMEM. */
  io_setup(nr_events: number): number {
    if (this.dead) return -E.EINVAL;
    // The syscall takes an unsigned int (libaio's io_setup an int): any integer
    // a 32-bit register can hold, taken modulo 2^32 as the kernel sees it.
    if (typeof nr_events !== 'number' || !Number.isInteger(nr_events) || nr_events < -(2 ** 31) || nr_events >= 2 ** 32) return -E.EINVAL;
    const slot = this.core.x.io_setup(nr_events >>> 0);
    if (slot < 0) return slot;
    return this.core.x.ctx_gen(slot) * L.MAX_CTX + slot;
  }

  /**
   * io_destroy: cancel every outstanding request, wait until all have
   * completed, free the context and return its quota (S11). Blocks.
   * 0, or -EINVAL if ctx is not a live context.
   */
  io_destroy(ctx: number): number {
    if (this.dead) return -E.EINVAL;
    const sg = splitCtx(ctx);
    if (!sg) return -E.EINVAL;
    const [slot, gen] = sg;
    const r = this.core.x.ctx_kill(slot, gen);
    if (r < 0) return r;
    this.finishDestroy(slot);
    this.locals.delete(ctx);
    this.handles.sweep(); // the discarded events' handles (and what they held) go now
    return 0;
  }

  /** io_destroy without blocking the calling thread. */
  async io_destroy_async(ctx: number): Promise<number> {
    if (this.dead) return -E.EINVAL;
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
    const wake = (L.CTX_OFF + slot * L.CTX_SIZE + L.CX_DYING_WAKE) >>> 2;
    if (!(await waitUntilAsync(c.i32, wake, () => c.x.ctx_users(slot) === 0, timeoutMs))) return -E.ETIMEDOUT;
    c.x.ctx_cancel_all(slot);
    c.x.blk_reap_all(c.cpu); // the bios those cancels took out of stage 1
    if (!(await waitUntilAsync(c.i32, wake, () => c.x.ctx_inflight(slot) === 0, timeoutMs))) return -E.ETIMEDOUT;
    this.drainDying(slot);
    c.x.ctx_free(slot);
    this.handles.sweep();
    return 0;
  }

  private finishDestroy(slot: number): void {
    const c = this.core;
    const wake = (L.CTX_OFF + slot * L.CTX_SIZE + L.CX_DYING_WAKE) >>> 2;
    waitUntil(c.i32, wake, () => c.x.ctx_users(slot) === 0, null);
    c.x.ctx_cancel_all(slot);
    c.x.blk_reap_all(c.cpu); // the bios those cancels took out of stage 1
    waitUntil(c.i32, wake, () => c.x.ctx_inflight(slot) === 0, null);
    this.drainDying(slot);
    c.x.ctx_free(slot);
  }

  /**
   * Before a dying context's ring is freed: take its unreaped events, so that
   * finished reads this thread submitted into plain buffers get their bytes
   * (as Linux's io_destroy returns with outstanding I/O done). The events are
   * discarded; other threads' handles go back to them as orphans.
   */
  private drainDying(slot: number): void {
    const c = this.core;
    for (;;) {
      const n = c.x.io_reap_dying(c.cpu, slot, L.REAP_MAX);
      if (n <= 0) return;
      this.decode(n);
    }
  }

  // --- io_submit ------------------------------------------------------------------

  /**
   * io_submit: returns the number of iocbs submitted, or the -errno of the
   * first if none was. `nr` defaults to iocbs.length. Writes aio_key into each
   * submitted iocb (0 into one that failed after Linux's put_user point).
   */
  io_submit(ctx: number, iocbs: ArrayLike<Iocb | null | undefined> | IocbArray | null, nr?: number): number {
    if (this.dead) return -E.EINVAL;
    const bin = RecordArray.addrOf(iocbs, this.core, L.IOCB_SIZE);
    if (bin >= 0) return this.submitBinary(ctx, bin, RecordArray.lastLength, nr);
    let n: unknown = nr;
    if (n === undefined) {
      try {
        n = iocbs !== null && typeof iocbs === 'object' && typeof iocbs.length === 'number' ? iocbs.length : 0;
      } catch {
        n = 0; // a length that cannot be read: no entries we could read either
      }
    }
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return -E.EINVAL;
    const c = this.ctxLocal(ctx);
    if (!c) return -E.EINVAL;
    if (n === 0) return 0;
    if (iocbs === null || typeof iocbs !== 'object') return -E.EFAULT;
    const list = iocbs as ArrayLike<Iocb | null | undefined>;
    const pool = (this.snaps[this.depth] ??= []);
    this.depth++;
    try {
      let done = 0;
      while (done < n) {
        // 1. Read: user code (getters) runs here, and only here.
        let k = 0;
        let stop = 0;
        while (done + k < n && k < L.SUB_MAX_BATCH) {
          let x: unknown;
          try {
            x = list[done + k];
          } catch {
            stop = -E.EFAULT;
            break;
          }
          const sn = (pool[k] ??= new Snap());
          const e = snapshot(x, sn);
          if (e < 0) {
            stop = e;
            break;
          }
          k++;
          if (doomed(sn)) break; // it fails whatever the kernel finds: Linux reads no further
        }
        // 2-3. Encode, enter the kernel, publish.
        const r = this.submitSnaps(c, pool, k);
        for (let j = 0; j < k; j++) pool[j].clear(); // hold nothing of the user's past the call
        if (r < k) return done + r > 0 ? done + r : this.lastErr;
        done += k;
        if (stop) return done > 0 ? done : stop;
      }
      return done;
    } finally {
      this.depth--;
    }
  }

  /**
   * io_submit of binary iocbs (src/binary.ts): `len` records at `addr`, one
   * kernel call per SUB_MAX_BATCH of them, no JS per request. Entries past
   * the array are unreadable (-EFAULT there, as Linux's copy_from_user).
   */
  private submitBinary(ctx: number, addr: number, len: number, nr: number | undefined): number {
    const n = nr === undefined ? len : nr;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return -E.EINVAL;
    const c = this.ctxLocal(ctx);
    if (!c) return -E.EINVAL;
    const core = this.core;
    const m = Math.min(n, len);
    let done = 0;
    let busyRetries = 0;
    while (done < m) {
      const k = Math.min(m - done, L.SUB_MAX_BATCH);
      const r = core.x.io_submit_bin(core.cpu, c.slot, c.gen, addr + done * L.IOCB_SIZE, k);
      if (r === k) {
        done += k;
        continue;
      }
      const err = core.i32[(core.scratch + L.BIN_OUT_ERR) >>> 2];
      if (r > 0) done += r;
      if (err === -E.EBUSY && busyRetries++ < 2000) {
        // As submitSnaps: free ids in transit on another cpu; let it run, retry.
        Atomics.wait(core.i32, L.H_KW_DOORBELL >>> 2, Atomics.load(core.i32, L.H_KW_DOORBELL >>> 2), 0.05);
        continue;
      }
      const e = err === -E.EBUSY ? -E.EAGAIN : err !== 0 ? err : r;
      return done > 0 ? done : e;
    }
    if (m < n) return done > 0 ? done : -E.EFAULT;
    return done;
  }

  /** The error that stopped the last submitSnaps short. */
  private lastErr = 0;

  /**
   * Submit snapshots pool[0..k-1]: how many went in (the rest were restored
   * and the first failure's errno left in lastErr).
   */
  private submitSnaps(c: CtxLocal, pool: Snap[], k: number): number {
    const core = this.core;
    const u32 = core.u32;
    const h = this.handles;
    let j0 = 0;
    let busyRetries = 0;
    while (j0 < k) {
      // 2. Encode from the snapshots alone: no user code from here to the end of the kernel call.
      h.reserve(k - j0);
      let m = 0;
      let segs = 0;
      let hostErr = 0;
      while (j0 + m < k) {
        const rec = core.scratch + m * L.SUB_REC_SIZE;
        const e = this.encode(pool[j0 + m], rec, segs, m);
        if (e < 0) {
          hostErr = e;
          break;
        }
        if (segs + this.lastNseg > L.SUB_MAX_SEGS) {
          this.unstage(rec, m);
          if (m === 0) hostErr = -E.EINVAL;
          break;
        }
        segs += this.lastNseg;
        m++;
      }
      // The kernel writes SUB_OUT_GEN of every record it looks at; one it never
      // reached (the call itself failed: the context died under us) keeps this.
      if (m > 0) u32[(core.scratch + L.SUB_OUT_GEN) >>> 2] = UNTOUCHED;
      const r = m > 0 ? core.x.io_submit(core.cpu, c.slot, c.gen, m) : 0;
      const ok = r > 0 ? r : 0;
      // 3. Results out of scratch first (a setter below may re-enter and reuse it).
      let kerr = 0;
      let afterKey = false;
      if (ok < m) {
        const stopRec = core.scratch + ok * L.SUB_REC_SIZE;
        const gen = u32[(stopRec + L.SUB_OUT_GEN) >>> 2];
        if (r < 0 && gen === UNTOUCHED) {
          kerr = r;
        } else {
          kerr = core.i32[(stopRec + L.SUB_OUT_ID) >>> 2];
          afterKey = gen !== 0;
        }
      }
      const keys = ok > 0 ? (this.keyBufs[this.depth] ??= new Float64Array(L.SUB_MAX_BATCH)) : NO_KEYS;
      for (let j = 0; j < m; j++) {
        const rec = core.scratch + j * L.SUB_REC_SIZE;
        const i = this.handleOf[j];
        if (j < ok) keys[j] = h.key[i] = u32[(rec + L.SUB_OUT_GEN) >>> 2] * KEY_ID_SPAN + u32[(rec + L.SUB_OUT_ID) >>> 2];
        else this.unstage(rec, j);
      }
      // Now the user's setters (which may call kaio again: only locals from here on).
      for (let j = 0; j < ok; j++) setKey(pool[j0 + j], keys[j]);
      if (kerr === -E.EBUSY && busyRetries++ < 2000) {
        // Free ids exist but another cpu holds them in transit: let it run, retry
        // (for up to ~100 ms; after that, report the slot shortage as -EAGAIN).
        j0 += ok;
        Atomics.wait(core.i32, L.H_KW_DOORBELL >>> 2, Atomics.load(core.i32, L.H_KW_DOORBELL >>> 2), 0.05);
        continue;
      }
      if (ok < m) {
        // The kernel stopped at j0 + ok. Entries it never reached (and the
        // stopping one, if it failed before put_user) get their aio_key back.
        const f = j0 + ok;
        if (!afterKey || kerr === -E.EBUSY) restoreKey(pool[f]);
        for (let j = f + 1; j < k; j++) restoreKey(pool[j]);
        this.lastErr = kerr === -E.EBUSY ? -E.EAGAIN : kerr;
        return f;
      }
      j0 += m;
      if (hostErr) {
        for (let j = j0; j < k; j++) restoreKey(pool[j]);
        this.lastErr = hostErr === -E.EBUSY ? -E.EAGAIN : hostErr;
        return j0;
      }
    }
    return k;
  }

  /** Undo an encoded record that was not submitted: its bounce block and handle. */
  private unstage(rec: number, m: number): void {
    const core = this.core;
    const b = core.u32[(rec + L.SUB_BOUNCE) >>> 2];
    if (b) core.x.kfree(b, core.u32[(rec + L.SUB_BOUNCE_SIZE) >>> 2]);
    core.u32[(rec + L.SUB_BOUNCE) >>> 2] = 0;
    this.handles.release(this.handleOf[m]);
  }

  /**
   * Step 2: write snapshot `s` as record `rec` (the m-th of the call), with a
   * handle, its buffers' segments from segment `segFirst`, and bounce blocks.
   * Returns 0, or the -errno that stops the batch here (no handle left:
   * -EAGAIN; no kernel memory for a bounce block: -ENOMEM). Errors of the
   * iocb itself go into the record for the kernel to report in order.
   */
  private encode(s: Snap, rec: number, segFirst: number, m: number): number {
    const core = this.core;
    const { u32, i32, f64, u64 } = core;
    u32[(rec + L.SUB_BOUNCE) >>> 2] = 0;
    u32[(rec + L.SUB_BOUNCE_SIZE) >>> 2] = 0;
    const h = this.handles;
    const idx = h.alloc();
    if (idx < 0) return -E.EBUSY; // COOKIE_SPACE requests outstanding on this thread
    this.handleOf[m] = idx;
    h.iocb[idx] = s.iocb;
    h.data[idx] = s.data;
    const op = s.opcode;
    let nbytes = 0;
    let nseg = 0;
    let late = s.errLate;
    const fine = s.errPrep === 0 && s.errKey === 0;
    if (op === L.IOCB_CMD_PREAD || op === L.IOCB_CMD_PWRITE) {
      const write = op === L.IOCB_CMD_PWRITE;
      const buf = s.buf;
      // Fast path: a k.buffer() view (its block's bounds travel with it).
      const addr = typeof buf === 'object' && buf !== null ? KernelBuffer.addrOf(buf, core) : -1;
      if (addr >= 0) {
        const kl = KernelBuffer.lastLength;
        const want = s.nbytes === undefined ? kl : s.nbytes;
        if (want > kl) late = -E.EFAULT;
        else if (late === 0 && posOverflows(s, want)) late = -E.EINVAL;
        else if (late === 0 && fine) {
          nbytes = Math.min(want, MAX_RW_COUNT);
          if (nbytes > 0) {
            const seg = core.scratch + L.SCRATCH_SEGS + segFirst * L.SEG_SIZE;
            u32[(seg + L.SEG_KIND) >>> 2] = L.BUF_MEM;
            u32[(seg + L.SEG_REF) >>> 2] = addr;
            u32[(seg + L.SEG_OFF) >>> 2] = 0;
            u32[(seg + L.SEG_LEN) >>> 2] = nbytes;
            nseg = 1;
            h.pin[idx] = buf; // the block stays allocated while the request may touch it
          }
        }
      } else {
        const v = singleBuffer(s);
        if (typeof v === 'number') late = v;
        else if (late === 0 && posOverflows(s, v.length)) late = -E.EINVAL;
        else if (late === 0 && fine && v.length > 0) {
          nbytes = v.length;
          const r = this.segments([v], write, s.fd, rec, segFirst, idx);
          if (r < 0) {
            if (r === -E.EFAULT) late = r;
            else return this.failEncode(rec, m, r);
          } else {
            nseg = r;
          }
        }
      }
    } else if (op === L.IOCB_CMD_PREADV || op === L.IOCB_CMD_PWRITEV) {
      const views = vectorBuffers(s);
      if (typeof views === 'number') late = views;
      else {
        for (const v of views) nbytes += v.length;
        if (late === 0 && posOverflows(s, nbytes)) late = -E.EINVAL;
        if (late === 0 && fine && views.length > 0) {
          const r = this.segments(views, op === L.IOCB_CMD_PWRITEV, s.fd, rec, segFirst, idx);
          if (r < 0) {
            if (r === -E.EFAULT) late = r;
            else return this.failEncode(rec, m, r);
          } else {
            nseg = r;
          }
        }
      }
    } else if (op === L.IOCB_CMD_POLL) {
      nbytes = s.nbytes ?? 0;
    }
    if (late !== 0 || !fine) {
      // It will fail in the kernel: nothing of it may stay allocated.
      this.freeBounceOf(rec);
      nseg = 0;
      h.pin[idx] = undefined;
      h.copies[idx] = undefined;
    }
    u32[(rec + L.SUB_OPCODE) >>> 2] = op;
    i32[(rec + L.SUB_FD) >>> 2] = s.fd;
    u32[(rec + L.SUB_NBYTES) >>> 2] = nbytes;
    u32[(rec + L.SUB_FLAGS) >>> 2] = s.flags;
    f64[(rec + L.SUB_OFFSET) >>> 3] = s.offset;
    u64[(rec + L.SUB_DATA) >>> 3] = s.data;
    i32[(rec + L.SUB_RESFD) >>> 2] = s.resfd;
    u32[(rec + L.SUB_RW_FLAGS) >>> 2] = s.rwf;
    u32[(rec + L.SUB_NSEG) >>> 2] = nseg;
    u32[(rec + L.SUB_SEG_FIRST) >>> 2] = segFirst;
    u32[(rec + L.SUB_COOKIE) >>> 2] = idx;
    i32[(rec + L.SUB_ERR_PREP) >>> 2] = s.errPrep;
    i32[(rec + L.SUB_ERR_LATE) >>> 2] = late;
    i32[(rec + L.SUB_ERR_KEY) >>> 2] = s.errKey;
    this.lastNseg = nseg;
    return 0;
  }

  private failEncode(rec: number, m: number, err: number): number {
    this.unstage(rec, m);
    return err;
  }

  private freeBounceOf(rec: number): void {
    const core = this.core;
    const b = core.u32[(rec + L.SUB_BOUNCE) >>> 2];
    if (b) core.x.kfree(b, core.u32[(rec + L.SUB_BOUNCE_SIZE) >>> 2]);
    core.u32[(rec + L.SUB_BOUNCE) >>> 2] = 0;
    core.u32[(rec + L.SUB_BOUNCE_SIZE) >>> 2] = 0;
  }

  /**
   * Segments for user buffers that are not k.buffer() views (see
   * src/buffers.ts): views over the kernel's memory must lie inside one live
   * user block (-EFAULT otherwise); other SharedArrayBuffers on block devices
   * go by registry id; anything else through a bounce block. Writes copy into
   * the bounce now; reads list where to copy out at reap. What the request
   * must keep alive goes into its handle. Returns the segment count or -errno.
   */
  private segments(views: Uint8Array[], write: boolean, fd: number, rec: number, segFirst: number, idx: number): number {
    const core = this.core;
    const { u32 } = core;
    const kmem = core.buffer;
    // A view over the kernel's memory posted from another thread has another
    // SharedArrayBuffer object for the same memory: it is kernel memory too.
    const bufs = views.map((v) => (core.isKernelMemory(v.buffer) ? kmem : v.buffer));
    for (let i = 0; i < views.length; i++) {
      if (bufs[i] === kmem && !core.x.user_range_ok(views[i].byteOffset, views[i].length)) return -E.EFAULT;
    }
    const isShared = (b: ArrayBufferLike) => b !== kmem && !(b instanceof ArrayBuffer) && isSAB(b);
    let ft = -1;
    let obj = 0;
    if (bufs.some(isShared)) {
      const t = core.x.fd_type(fd);
      if (t >= 0) {
        ft = t & 15;
        obj = t >>> 4;
      }
    }
    // Block devices and host files move bytes on a thread of their own, into
    // SharedArrayBuffers by id (a host file's: every pool thread's).
    const isBlock = ft === L.FT_BLOCK || ft === L.FT_HOST;
    const mover = ft === L.FT_HOST ? POOL_MOVER : obj;
    // Pipes and eventfds copy inside the kernel: any view outside kernel memory bounces the whole request.
    const pipeBounce = !isBlock && !bufs.every((b) => b === kmem);
    let bounceSize = 0;
    for (let i = 0; i < views.length; i++) if (pipeBounce || (bufs[i] !== kmem && !(isBlock && isShared(bufs[i])))) bounceSize += views[i].length;
    let bounce = 0;
    if (bounceSize > 0) {
      bounce = core.x.kmalloc(bounceSize) >>> 0;
      if (!bounce) return -E.ENOMEM;
      u32[(rec + L.SUB_BOUNCE) >>> 2] = bounce;
      u32[(rec + L.SUB_BOUNCE_SIZE) >>> 2] = bounceSize;
    }
    let copies: Array<[Uint8Array, number]> | undefined;
    let at = 0;
    let s = core.scratch + L.SCRATCH_SEGS + segFirst * L.SEG_SIZE;
    const end = core.scratch + L.SCRATCH_SIZE;
    let nseg = 0;
    const put = (kind: number, ref: number, off: number, len: number) => {
      if (s + L.SEG_SIZE <= end) {
        u32[(s + L.SEG_KIND) >>> 2] = kind;
        u32[(s + L.SEG_REF) >>> 2] = ref;
        u32[(s + L.SEG_OFF) >>> 2] = off;
        u32[(s + L.SEG_LEN) >>> 2] = len;
      }
      s += L.SEG_SIZE;
      nseg++; // the caller rejects a batch whose segments overflow scratch, by count
    };
    for (let i = 0; i < views.length; i++) {
      const v = views[i];
      const b = bufs[i];
      if (!pipeBounce && b === kmem) {
        put(L.BUF_MEM, v.byteOffset, 0, v.length);
      } else if (isBlock && isShared(b)) {
        put(L.BUF_SAB, this.buffers.idFor(mover, b as SharedArrayBuffer), v.byteOffset, v.length);
      } else {
        // Bounced: this piece lives at bounce + at.
        if (write) {
          core.u8.set(v, bounce + at);
        } else if (pipeBounce && isShared(b)) {
          put(L.BUF_SAB, this.buffers.idFor(-1, b as SharedArrayBuffer), v.byteOffset, v.length);
          at += v.length;
          continue;
        } else {
          (copies ??= []).push([v, at]);
        }
        put(L.BUF_MEM, bounce + at, 0, v.length);
        at += v.length;
      }
    }
    // The request holds its views (and so their buffers: a SharedArrayBuffer's
    // registry id lives as long as it does) until its event is consumed.
    this.handles.pin[idx] = views.length === 1 ? views[0] : views;
    this.handles.copies[idx] = copies !== undefined && copies.length === 1 && copies[0][1] === 0 ? copies[0][0] : copies;
    return nseg;
  }

  // --- io_cancel --------------------------------------------------------------------

  /**
   * io_cancel: ask for the request to be cancelled; never blocks (S5).
   * -EINPROGRESS if it was in flight on ctx (its event, with -ECANCELED or its
   * normal result, arrives through io_getevents); -EINVAL if not (never
   * submitted, already completed, stale key, another context's key);
   * -EFAULT if iocb is not an object.
   */
  io_cancel(ctx: number, iocb: Iocb | { aio_key: number } | null): number;
  /** io_cancel of binary record `index` of `iocbs`, by its 32-bit aio_key (src/binary.ts). */
  io_cancel(ctx: number, iocbs: IocbArray, index: number): number;
  io_cancel(ctx: number, iocb: Iocb | { aio_key: number } | IocbArray | null, index?: number): number {
    if (this.dead) return -E.EINVAL;
    const bin = RecordArray.addrOf(iocb, this.core, L.IOCB_SIZE);
    if (bin >= 0) {
      // get_user(aio_key) from the record: an index outside the array cannot be read.
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= RecordArray.lastLength) return -E.EFAULT;
      const key32 = this.core.u32[(bin + index * L.IOCB_SIZE + L.IOCB_KEY) >>> 2];
      const sg = splitCtx(ctx);
      if (!sg) return -E.EINVAL;
      return this.core.x.io_cancel_key32(this.core.cpu, sg[0], sg[1], key32);
    }
    if (iocb === null || typeof iocb !== 'object') return -E.EFAULT;
    let key: unknown;
    try {
      key = (iocb as { aio_key?: unknown }).aio_key; // get_user: before the context lookup
    } catch {
      return -E.EFAULT;
    }
    const sg = splitCtx(ctx);
    if (!sg) return -E.EINVAL;
    if (typeof key !== 'number' || !Number.isSafeInteger(key) || key < 0 || key > MAX_KEY) return -E.EINVAL;
    const gid = key % KEY_ID_SPAN;
    const kgen = (key - gid) / KEY_ID_SPAN;
    return this.core.x.io_cancel(this.core.cpu, sg[0], sg[1], gid, kgen);
  }

  /**
   * Bulk cancel (beyond Linux AIO; io_uring's IORING_ASYNC_CANCEL_ALL and
   * _FD): ask every request in flight on ctx, or only those submitted on
   * `fd`, to cancel. Returns how many it asked (each still yields exactly one
   * event: -ECANCELED, or its result if it was too late), or -EINVAL (bad
   * context, options not an object), -EBADF (fd not open), -EFAULT (options
   * unreadable). Never blocks.
   */
  io_cancel_all(ctx: number, options?: { fd?: number }): number {
    if (this.dead) return -E.EINVAL;
    let fd: unknown;
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') return -E.EINVAL;
      try {
        fd = options.fd;
      } catch {
        return -E.EFAULT;
      }
    }
    const sg = splitCtx(ctx);
    if (!sg) return -E.EINVAL;
    let f = -1;
    if (fd !== undefined) {
      if (typeof fd !== 'number' || (fd | 0) !== fd || fd < 0) return -E.EBADF;
      f = fd;
    }
    return this.core.x.io_cancel_all(this.core.cpu, sg[0], sg[1], f);
  }

  // --- io_getevents ---------------------------------------------------------------

  /** -errno if the arguments are wrong, else 0 (S4). */
  private checkGetevents(min_nr: unknown, nr: unknown, timeout: unknown): number {
    if (typeof min_nr !== 'number' || typeof nr !== 'number' || !Number.isInteger(min_nr) || !Number.isInteger(nr)) return -E.EINVAL;
    if (min_nr < 0 || min_nr > nr) return -E.EINVAL;
    // Linux does not validate the timespec: a negative one overflows to "no limit" (ktime_add_safe).
    if (timeout !== undefined && timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout))) return -E.EINVAL;
    return 0;
  }

  /**
   * Whether events[0..nr-1] can be written at all: an Array (or a Proxy of
   * one) that is extensible. Judged before any event is taken from the ring,
   * so a frozen or sealed array is -EFAULT with the events left in the ring
   * (Linux's copy_to_user failing before head moves). A setter that throws
   * later is handled by deliver().
   */
  private static writable(events: unknown): boolean {
    try {
      // A Proxy's traps run here, before anything is taken from the ring.
      return Array.isArray(events) && Object.isExtensible(events);
    } catch {
      return false;
    }
  }

  /**
   * Events this thread took from a context's ring but could not write into
   * the caller's array (a setter threw): the next io_getevents on this thread
   * returns them first, so none is lost or delivered twice.
   */
  private readonly pushback = new Map<number, IoEvent[]>();

  /**
   * Write evs into out[at..] (user code may run: setters, Proxy traps; the
   * kernel call is over). Returns how many were written; the rest go back to
   * the context's pushback list, in order.
   */
  private deliver(c: CtxLocal, out: IoEvent[], at: number, evs: IoEvent[], st: ReapState): number {
    for (let i = 0; i < evs.length; i++) {
      try {
        out[at + i] = evs[i];
      } catch {
        const rest = evs.slice(i);
        const pb = this.pushback.get(c.id);
        this.pushback.set(c.id, pb === undefined ? rest : rest.concat(pb));
        st.efault = true;
        return i;
      }
    }
    return evs.length;
  }

  /**
   * One pass: move up to `max` events into `out` from `at`. Count, or -EINVAL
   * (context gone). Waits for a busy reap lock until `deadline` at most
   * (performance.now() time; a deadline already passed still spins briefly).
   */
  private reapInto(c: CtxLocal, out: IoEvent[], at: number, max: number, deadline: number, st: ReapState): number {
    const core = this.core;
    let got = 0;
    const lock: LockWait = { contended: 0, spun: 0 };
    const pb = this.pushback.size === 0 ? undefined : this.pushback.get(c.id);
    if (pb !== undefined) {
      // Events taken earlier on this thread and not yet written: they come first.
      this.pushback.delete(c.id);
      const mine = pb.length > max ? pb.slice(0, max) : pb;
      if (pb.length > max) this.pushback.set(c.id, pb.slice(max));
      got = this.deliver(c, out, at, mine, st);
      if (got < mine.length) return got;
    }
    while (got < max) {
      const want = Math.min(max - got, L.REAP_MAX);
      const r = core.x.io_reap(core.cpu, c.slot, c.gen, want, lock.contended);
      if (r === -E.EBUSY) {
        if (!this.waitReapLock(c, lock, deadline)) return got;
        continue;
      }
      lock.contended = 0;
      if (r < 0) return got > 0 ? got : r;
      if (r === 0) break;
      // Decode all of them first: a setter run by deliver() may re-enter kaio and reuse scratch.
      const d = this.deliver(c, out, at + got, this.decode(r), st);
      got += d;
      if (d < r || r < want) break;
    }
    return got;
  }

  /** Turn n reaped records in scratch into events. No user code runs. */
  private decode(n: number): IoEvent[] {
    const out = new Array<IoEvent>(n);
    const core = this.core;
    const { u32, u64, u8 } = core;
    const h = this.handles;
    const tag = this.cookieTag;
    for (let i = 0; i < n; i++) {
      const rec = core.scratch + i * L.REAP_REC_SIZE;
      const key = u32[(rec + L.EV_OBJ + 4) >>> 2] * 0x100000000 + u32[(rec + L.EV_OBJ) >>> 2];
      const res = u32[(rec + L.EV_RES) >>> 2] + core.i32[(rec + L.EV_RES + 4) >>> 2] * 0x100000000;
      const res2 = u32[(rec + L.EV_RES2) >>> 2] + core.i32[(rec + L.EV_RES2 + 4) >>> 2] * 0x100000000;
      let data: bigint | undefined;
      const bounce = u32[(rec + L.REAP_BOUNCE) >>> 2];
      const cookie = u32[(rec + L.REAP_COOKIE) >>> 2];
      let obj: object | undefined;
      if (cookie !== L.COOKIE_NONE && cookie >>> L.COOKIE_BITS === tag) {
        const idx = cookie & L.COOKIE_INDEX_MASK;
        if (h.live(idx) && h.key[idx] === key) {
          obj = h.iocb[idx];
          data = h.data[idx];
          const copies = h.copies[idx];
          if (bounce && copies !== undefined && res > 0) {
            if (copies instanceof Uint8Array) {
              const m = Math.min(copies.length, res);
              if (m > 0) copies.set(u8.subarray(bounce, bounce + m));
            } else {
              for (const [v, off] of copies) {
                const m = Math.min(v.length, res - off);
                if (m <= 0) break;
                v.set(u8.subarray(bounce + off, bounce + off + m));
              }
            }
          }
          h.release(idx);
        }
      }
      if (bounce) core.x.kfree(bounce, u32[(rec + L.REAP_BOUNCE_SIZE) >>> 2]);
      if (obj !== undefined) {
        out[i] = { data: data!, obj: obj as Iocb, res, res2 };
      } else {
        data = u64[(rec + L.EV_DATA) >>> 3];
        out[i] = { data, obj: { aio_key: key, aio_data: data } as Iocb, res, res2 };
      }
    }
    return out;
  }

  private ringHasEvents(c: CtxLocal): boolean {
    if (this.pushback.size !== 0 && this.pushback.has(c.id)) return true;
    const { u32 } = this.core;
    const a = L.CTX_OFF + c.slot * L.CTX_SIZE;
    if (u32[(a + L.CX_STATE_GEN) >>> 2] !== L.CTX_LIVE || u32[(a + L.CX_STATE_GEN + 4) >>> 2] !== c.gen) return true; // dead: stop waiting
    const ring = u32[(a + L.CX_RING) >>> 2];
    const nr = u32[(a + L.CX_RING_NR) >>> 2];
    // Clamped as the kernel does: user space may have written any head.
    return Atomics.load(u32, (ring + L.RING_HEAD) >>> 2) % nr !== Atomics.load(u32, (ring + L.RING_TAIL) >>> 2) % nr;
  }

  /**
   * io_getevents: fill events[0..n-1] and return n, or -errno (S4). Waits until
   * min_nr events have arrived, or timeoutMs passes (then returns what it
   * has, maybe 0); timeoutMs 0 polls once; null/undefined waits for min_nr.
   * min_nr 0 returns at once. Blocks the calling thread. An events array that
   * cannot be written (frozen, a Proxy, accessors) is -EFAULT, and the events
   * stay in the ring.
   */
  io_getevents(ctx: number, min_nr: number, nr: number, events: IoEvent[] | IoEventArray, timeoutMs?: number | null): number {
    if (this.dead) return -E.EINVAL;
    const bad = this.checkGetevents(min_nr, nr, timeoutMs);
    if (bad) return bad;
    const c = this.ctxLocal(ctx);
    if (!c) return -E.EINVAL;
    if (nr === 0) return 0;
    const bin = RecordArray.addrOf(events, this.core, L.IO_EVENT_SIZE);
    if (bin >= 0) return this.geteventsBinary(c, min_nr, nr, bin, RecordArray.lastLength, timeoutMs);
    if (!Syscalls.writable(events)) return -E.EFAULT;
    if (typeof timeoutMs === 'number' && timeoutMs < 0) timeoutMs = null; // as Linux: no limit
    // (A poll's deadline is 0: always past, without asking the clock.)
    const deadline = timeoutMs === null || timeoutMs === undefined ? Infinity : timeoutMs === 0 ? 0 : performance.now() + timeoutMs;
    const st: ReapState = { efault: false }; // this call's own: a setter may run another io_getevents
    const list = events as IoEvent[];
    let got = this.reapInto(c, list, 0, nr, deadline, st);
    for (;;) {
      // A write into events failed: what was written counts, else -EFAULT (the rest wait in pushback).
      if (st.efault) return got > 0 ? got : -E.EFAULT;
      if (got < 0 || got >= min_nr || got === nr || timeoutMs === 0) return got;
      const left = deadline - performance.now();
      if (left <= 0) return got;
      this.waitEvents(c, left === Infinity ? null : left);
      const r = this.reapInto(c, list, got, nr - got, deadline, st);
      if (r < 0) return got > 0 ? got : r;
      got += r;
    }
  }

  /**
   * io_getevents into binary io_events (src/binary.ts): `len` records at
   * `addr`, filled by the kernel straight from the ring, no JS object per
   * event. nr above the array's length is -EFAULT (it cannot hold them).
   * Events the object API pushed back on this thread stay for it.
   */
  private geteventsBinary(c: CtxLocal, min_nr: number, nr: number, addr: number, len: number, timeoutMs: number | null | undefined): number {
    if (nr > len) return -E.EFAULT;
    if (typeof timeoutMs === 'number' && timeoutMs < 0) timeoutMs = null; // as Linux: no limit
    const deadline = timeoutMs === null || timeoutMs === undefined ? Infinity : timeoutMs === 0 ? 0 : performance.now() + timeoutMs;
    let got = this.reapBinary(c, addr, nr, deadline);
    for (;;) {
      if (got < 0 || got >= min_nr || got === nr || timeoutMs === 0) return got;
      const left = deadline - performance.now();
      if (left <= 0) return got;
      this.waitEvents(c, left === Infinity ? null : left);
      const r = this.reapBinary(c, addr + got * L.IO_EVENT_SIZE, nr - got, deadline);
      if (r < 0) return got > 0 ? got : r;
      got += r;
    }
  }

  /** One pass of geteventsBinary: up to `max` events at `addr`. Count or -errno. */
  private reapBinary(c: CtxLocal, addr: number, max: number, deadline: number): number {
    const core = this.core;
    let got = 0;
    const lock: LockWait = { contended: 0, spun: 0 };
    while (got < max) {
      const want = Math.min(max - got, L.REAP_MAX);
      const r = core.x.io_reap_bin(core.cpu, c.slot, c.gen, addr + got * L.IO_EVENT_SIZE, want, lock.contended);
      if (r === -E.EBUSY) {
        if (!this.waitReapLock(c, lock, deadline)) return got;
        continue;
      }
      lock.contended = 0;
      if (r < 0) return got > 0 ? got : r;
      const n = r & ~L.BIN_REAP_SIDE;
      // An object-API request's event: free its bounce block, release its handle
      // (and fill its plain buffers, if it was this thread's), as decode() does.
      if (r !== n) this.decode(n);
      got += n;
      if (n < want) break;
    }
    return got;
  }

  /**
   * The reap lock is held by another reaper: spin a little, then sleep on it
   * (futex mutex protocol). false if the deadline passed.
   */
  private waitReapLock(c: CtxLocal, st: LockWait, deadline: number): boolean {
    const core = this.core;
    const lock = (L.CTX_OFF + c.slot * L.CTX_SIZE + L.CX_REAP_LOCK) >>> 2;
    // It holds it for one bounded copy, so first spin a little, as the kernel's
    // mutex spins while the owner runs (pairs with mutex_unlock's xchg to 0).
    if (!st.contended && st.spun++ < REAP_LOCK_SPIN_ROUNDS) {
      let spins = REAP_LOCK_SPINS;
      while (spins-- > 0 && Atomics.load(core.i32, lock) !== 0);
      if (spins >= 0) return true;
    }
    const left = deadline - performance.now();
    if (left <= 0) return false; // the timeout holds while waiting for the lock too
    // Still held: mark it contended and sleep until mutex_unlock notifies (0/1/2).
    if (Atomics.compareExchange(core.i32, lock, 1, 2) !== 0) Atomics.wait(core.i32, lock, 2, Math.min(10, left));
    st.contended = 1;
    return true;
  }

  private waitEvents(c: CtxLocal, timeout: number | null): void {
    const { i32, u32 } = this.core;
    const a = L.CTX_OFF + c.slot * L.CTX_SIZE;
    // Spin first, watching only head and tail: a spinning reaper needs no
    // wake-up, so it does not register as a waiter (no shared write on the
    // producer's path). Liveness is checked before sleeping.
    const ring = u32[(a + L.CX_RING) >>> 2];
    const nr = u32[(a + L.CX_RING_NR) >>> 2];
    const head = (ring + L.RING_HEAD) >>> 2;
    const tail = (ring + L.RING_TAIL) >>> 2;
    if (this.pushback.has(c.id)) return;
    if (spinFor(() => Atomics.load(u32, head) % nr !== Atomics.load(u32, tail) % nr, timeout === null ? this.reapSpinUs : Math.min(this.reapSpinUs, timeout * 1000))) return;
    const waiters = (a + L.CX_WAITERS) >>> 2;
    Atomics.add(i32, waiters, 1); // pairs with ring_advance's load of waiters after it moves tail
    try {
      waitUntil(i32, (a + L.CX_WAKE) >>> 2, () => this.ringHasEvents(c), timeout, 0);
    } finally {
      Atomics.sub(i32, waiters, 1);
    }
  }

  /**
   * io_getevents without blocking the thread (Atomics.waitAsync). Resolves to
   * the events, or to -errno.
   */
  async io_getevents_async(ctx: number, min_nr: number, nr: number, timeoutMs?: number | null): Promise<IoEvent[] | number> {
    if (this.dead) return -E.EINVAL;
    const events: IoEvent[] = [];
    const bad = this.checkGetevents(min_nr, nr, timeoutMs);
    if (bad) return bad;
    const c = this.ctxLocal(ctx);
    if (!c) return -E.EINVAL;
    if (typeof timeoutMs === 'number' && timeoutMs < 0) timeoutMs = null; // as Linux: no limit
    const deadline = timeoutMs === null || timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
    const i32 = this.core.i32;
    const a = L.CTX_OFF + c.slot * L.CTX_SIZE;
    for (;;) {
      const r = this.reapInto(c, events, events.length, nr - events.length, deadline, { efault: false });
      if (r < 0) return events.length > 0 ? events : r;
      if (events.length >= min_nr || events.length === nr) return events;
      const left = deadline - performance.now();
      if (left <= 0) return events;
      Atomics.add(i32, (a + L.CX_WAITERS) >>> 2, 1);
      try {
        await waitUntilAsync(i32, (a + L.CX_WAKE) >>> 2, () => this.ringHasEvents(c), left === Infinity ? null : left, this.reapSpinUs);
      } finally {
        Atomics.sub(i32, (a + L.CX_WAITERS) >>> 2, 1);
      }
      if (this.dead) return events.length > 0 ? events : -E.EINVAL;
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
    const c = this.dead ? undefined : this.ctxLocal(ctx);
    if (!c) throw Object.assign(new Error(`EINVAL: invalid argument, ring (no live context ${String(ctx)})`), { code: 'EINVAL', errno: -E.EINVAL, syscall: 'ring' });
    const a = L.CTX_OFF + c.slot * L.CTX_SIZE;
    const ring = this.core.u32[(a + L.CX_RING) >>> 2];
    const nr = this.core.u32[(a + L.CX_RING_NR) >>> 2];
    return new DataView(this.core.buffer, ring, L.RING_HDR_SIZE + nr * L.IO_EVENT_SIZE);
  }

  /** Outstanding requests of a context, for checkpoint/restore (S11): a snapshot. */
  io_outstanding(ctx: number): Array<{ aio_key: number; aio_data: bigint }> | number {
    if (this.dead) return -E.EINVAL;
    const c = this.ctxLocal(ctx);
    if (!c) return -E.EINVAL;
    const core = this.core;
    const max = Math.floor(L.SCRATCH_SIZE / 16);
    const n = core.x.ctx_enumerate(c.slot, c.gen, core.scratch, max);
    if (n < 0) return n;
    const out: Array<{ aio_key: number; aio_data: bigint }> = [];
    for (let i = 0; i < n; i++) {
      const r = core.scratch + i * 16;
      out.push({ aio_key: core.readU64(r), aio_data: core.u64[(r + 8) >>> 3] });
    }
    return out;
  }

  // --- files ---------------------------------------------------------------------------

  /** close(2): 0 or -EBADF (also for a number that is not an int, as 2**32 + fd). */
  close(fd: number): number {
    if (this.dead) return -E.EINVAL;
    if (typeof fd !== 'number' || (fd | 0) !== fd) return -E.EBADF;
    return this.core.x.fd_close(fd);
  }

  /** pipe(2): [readFd, writeFd], or [-errno, -errno] (-EMFILE, -ENFILE, -ENOMEM). */
  pipe(): [readFd: number, writeFd: number] {
    if (this.dead) throw shutdownError('pipe');
    const core = this.core;
    const r = core.x.pipe_create(core.scratch);
    if (r < 0) return [r, r];
    return [core.i32[core.scratch >>> 2], core.i32[(core.scratch >>> 2) + 1]];
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
    if (this.dead) return -E.EINVAL;
    if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) return -E.EINVAL;
    return this.rw(fd, data, position, true);
  }

  /** pread(2) on a block device. */
  pread(fd: number, data: ArrayBufferView, position: number): number {
    if (this.dead) return -E.EINVAL;
    if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) return -E.EINVAL;
    return this.rw(fd, data, position, false);
  }

  /** read/write/pread/pwrite on a host file: the real call, on this thread. */
  private hostRw(fd: number, target: Uint8Array, pos: number, write: boolean): number {
    const osfd = this.core.x.host_fd(fd);
    if (osfd < 0) return osfd;
    try {
      const p = pos < 0 ? null : pos;
      return write ? fs.writeSync(osfd, target, 0, target.length, p) : fs.readSync(osfd, target, 0, target.length, p);
    } catch (err) {
      return fsErrno(err);
    }
  }

  private rw(fd: number, data: ArrayBufferView, pos: number, write: boolean): number {
    if (this.dead) return -E.EINVAL;
    if (typeof fd !== 'number' || (fd | 0) !== fd) return -E.EBADF;
    const bytes = userBytes(data);
    if (bytes === undefined) return -E.EFAULT;
    const core = this.core;
    // A view over the kernel's memory only inside one live user block (as io_submit).
    if (core.isKernelMemory(bytes.buffer) && !core.x.user_range_ok(bytes.byteOffset, bytes.length)) return -E.EFAULT;
    const target = bytes.buffer === core.buffer || !core.isKernelMemory(bytes.buffer) ? bytes : core.u8.subarray(bytes.byteOffset, bytes.byteOffset + bytes.length);
    let total = 0;
    do {
      const chunk = Math.min(L.SCRATCH_SIZE, bytes.length - total);
      if (write) core.u8.set(target.subarray(total, total + chunk), core.scratch);
      const r = core.x.sys_rw(core.cpu, fd, chunk, pos < 0 ? -1 : pos + total, write ? 1 : 0);
      if (r === -E.EOPNOTSUPP && total === 0) return this.hostRw(fd, target, pos, write);
      if (r < 0) return total > 0 ? total : r;
      if (!write) target.set(core.u8.subarray(core.scratch, core.scratch + r), total);
      total += r;
      if (r < chunk || r === 0) break;
    } while (total < bytes.length);
    return total;
  }
}
