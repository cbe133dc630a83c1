/**
 * The syscall level's shared state (src/aio.ts is the entry; this file, then
 * src/submit.ts and src/getevents.ts, are its layers, each a class the next
 * extends): the thread's knowledge of contexts, io_setup and io_destroy.
 */
import * as L from '../assembly/include/layout';
import * as E from '../assembly/include/errno';
import type { Core } from './core';
import { BufferRegistry } from './buffers';
import { waitUntil, waitUntilAsync, SPIN_US } from './wait';
import { Handles } from './handles';
import { Snap, snapshot } from './iocb';
import { type IoEvent } from './uapi';


export const KEY_ID_SPAN = 2 ** L.KEY_ID_BITS;
export const MAX_KEY = KEY_ID_SPAN * (L.KIOCB_GEN_MASK + 1) - 1;
/** Reap lock: loads to spin while another reaper copies out (a few µs), and retries before sleeping. */
export const REAP_LOCK_SPINS = 4000;
export const REAP_LOCK_SPIN_ROUNDS = 4;

/** A reaper's progress waiting for a busy reap lock. */
export interface LockWait {
  contended: number;
  spun: number;
}

/** What one io_getevents call learnt while it delivered. */
export interface ReapState {
  efault: boolean;
}

/** @internal This thread's knowledge of one context. */
export interface CtxLocal {
  id: number;
  slot: number;
  gen: number;
  base: number;
  nr: number;
}

export const NO_KEYS = new Float64Array(0);
/** SUB_OUT_GEN of a record the kernel never looked at (it writes 0, 1 or a generation < 2^30). */
export const UNTOUCHED = 0xffffffff;

/** Write a submitted request's aio_key (a setter that throws now cannot undo the submission). */
export function setKey(s: Snap, key: number): void {
  try {
    (s.iocb as { aio_key?: number }).aio_key = key;
  } catch {
    // Linux's put_user succeeded earlier (snapshot); the request is in.
  }
}

/** Put back the aio_key snapshot() overwrote with 0, where Linux would not have written it. */
export function restoreKey(s: Snap): void {
  if (s.errKey !== 0) return; // the write failed: nothing changed
  try {
    if (!s.hadKey && s.oldKey === undefined) delete (s.iocb as { aio_key?: number }).aio_key;
    else (s.iocb as { aio_key?: unknown }).aio_key = s.oldKey;
  } catch {
    // as above
  }
}

/** Split a context id (gen * MAX_CTX + slot). undefined if it cannot be one. */
export function splitCtx(ctx: unknown): [number, number] | undefined {
  if (typeof ctx !== 'number' || !Number.isSafeInteger(ctx) || ctx <= 0) return undefined;
  const slot = ctx % L.MAX_CTX;
  const gen = Math.floor(ctx / L.MAX_CTX);
  if (gen === 0 || gen > 0xffffffff) return undefined;
  return [slot, gen];
}


/** The syscall level, layer 1: shared state, io_setup, io_destroy. Use it through Kernel. */
export abstract class SyscallsBase {
  /** @internal Events of `n` reap records in scratch (src/getevents.ts). */
  protected abstract decode(n: number): IoEvent[];

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
  /** @internal */
  protected readonly locals = new Map<number, CtxLocal>();
  /** @internal */
  readonly handles: Handles;
  /** @internal */
  protected lastCtx: CtxLocal | undefined;
  /** Segments used by the last encode() (to avoid an object per iocb). */
  /** @internal */
  protected lastNseg = 0;
  /** Snapshots, one pool per nesting depth (a getter may call io_submit again). */
  /** @internal */
  protected readonly snaps: Snap[][] = [];
  /** Keys of a batch, one array per nesting depth (setters run while they are read). */
  /** @internal */
  protected readonly keyBufs: Float64Array[] = [];
  /** @internal */
  protected depth = 0;
  /** @internal */
  protected readonly handleOf = new Int32Array(L.SUB_MAX_BATCH);
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
  /** @internal */
  protected tag = -1;
  /** @internal */
  protected get cookieTag(): number {
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

  /** @internal */
  protected finishDestroy(slot: number): void {
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
  /** @internal */
  protected drainDying(slot: number): void {
    const c = this.core;
    for (;;) {
      const n = c.x.io_reap_dying(c.cpu, slot, L.REAP_MAX);
      if (n <= 0) return;
      this.decode(n);
    }
  }

}
