/** io_getevents: decoding events and delivering them, the reap lock, waiting (see src/aio.ts). */
import * as L from '../assembly/include/layout';
import * as E from '../assembly/include/errno';
import { waitUntil, waitUntilAsync, spinFor } from './wait';
import { type Iocb, type IoEvent } from './uapi';
import { RecordArray, type IoEventArray } from './binary';
import { REAP_LOCK_SPINS, REAP_LOCK_SPIN_ROUNDS } from './sysbase';
import type { LockWait, ReapState, CtxLocal } from './sysbase';
import { SubmitSyscalls } from './submit';

/** The syscall level, layer 3: io_getevents. Use it through Kernel. */
export class GeteventsSyscalls extends SubmitSyscalls {
  // --- io_getevents ---------------------------------------------------------------

  /** -errno if the arguments are wrong, else 0 (S4). */
  /** @internal */
  protected checkGetevents(min_nr: unknown, nr: unknown, timeout: unknown): number {
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
  /** @internal */
  protected static writable(events: unknown): boolean {
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
  /** @internal */
  protected readonly pushback = new Map<number, IoEvent[]>();

  /**
   * Write evs into out[at..] (user code may run: setters, Proxy traps; the
   * kernel call is over). Returns how many were written; the rest go back to
   * the context's pushback list, in order.
   */
  /** @internal */
  protected deliver(c: CtxLocal, out: IoEvent[], at: number, evs: IoEvent[], st: ReapState): number {
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
  /** @internal */
  protected reapInto(c: CtxLocal, out: IoEvent[], at: number, max: number, deadline: number, st: ReapState): number {
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
  /** @internal */
  protected override decode(n: number): IoEvent[] {
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

  /** @internal */
  protected ringHasEvents(c: CtxLocal): boolean {
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
    if (!GeteventsSyscalls.writable(events)) return -E.EFAULT;
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
  /** @internal */
  protected geteventsBinary(c: CtxLocal, min_nr: number, nr: number, addr: number, len: number, timeoutMs: number | null | undefined): number {
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
  /** @internal */
  protected reapBinary(c: CtxLocal, addr: number, max: number, deadline: number): number {
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
  /** @internal */
  protected waitReapLock(c: CtxLocal, st: LockWait, deadline: number): boolean {
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

  /** @internal */
  protected waitEvents(c: CtxLocal, timeout: number | null): void {
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

}
