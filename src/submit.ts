/** io_submit: the iocb snapshot, encoding into scratch, the kernel call, aio_key (see src/aio.ts). */
import * as L from '../assembly/include/layout';
import * as E from '../assembly/include/errno';
import { KernelBuffer, isSAB, POOL_MOVER } from './buffers';
import { Snap, snapshot, doomed, singleBuffer, vectorBuffers, posOverflows, MAX_RW_COUNT } from './iocb';
import { type Iocb } from './uapi';
import { RecordArray, type IocbArray } from './binary';
import { KEY_ID_SPAN, NO_KEYS, UNTOUCHED, setKey, restoreKey, SyscallsBase } from './sysbase';
import type { CtxLocal } from './sysbase';

/** The syscall level, layer 2: io_submit. Use it through Kernel. */
export abstract class SubmitSyscalls extends SyscallsBase {
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
  /** @internal */
  protected submitBinary(ctx: number, addr: number, len: number, nr: number | undefined): number {
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
  /** @internal */
  protected lastErr = 0;

  /**
   * Submit snapshots pool[0..k-1]: how many went in (the rest were restored
   * and the first failure's errno left in lastErr).
   */
  /** @internal */
  protected submitSnaps(c: CtxLocal, pool: Snap[], k: number): number {
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
  /** @internal */
  protected unstage(rec: number, m: number): void {
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
  /** @internal */
  protected encode(s: Snap, rec: number, segFirst: number, m: number): number {
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

  /** @internal */
  protected failEncode(rec: number, m: number, err: number): number {
    this.unstage(rec, m);
    return err;
  }

  /** @internal */
  protected freeBounceOf(rec: number): void {
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
  /** @internal */
  protected segments(views: Uint8Array[], write: boolean, fd: number, rec: number, segFirst: number, idx: number): number {
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

}
