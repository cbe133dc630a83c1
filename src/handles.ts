/**
 * The submitting thread's handles on its in-flight requests.
 *
 * A request's handle (its cookie index) travels with it through the kernel
 * (KI_COOKIE, packed with the cpu and the cpu's claim epoch) and comes back
 * beside its event (the ring's side entry), so the submitting thread finds in
 * O(1) what the request holds on the host: the iocb object (event.obj is that
 * object, as the kernel's io_event.obj is the user's iocb pointer), the buffers
 * it must keep alive while the device may still touch them (k.buffer() blocks,
 * SharedArrayBuffers), and the plain buffers to fill from bounce blocks.
 *
 * A handle is freed when its event is consumed, never before:
 *  - reaped by this thread with io_getevents: freed here, at once;
 *  - consumed anywhere else (another thread's io_getevents, a user-space reaper
 *    moving the ring's head, io_destroy discarding it): the kernel sets the
 *    cookie's bit in this cpu's orphan bitmap (assembly/fs/ring.ts,
 *    cookie_orphan), and this table takes those bits back before it grows.
 * So a handle never wraps onto a live request, and a thread with n requests
 * outstanding holds about n handles. At most COOKIE_SPACE - 1 at once.
 */
import * as L from '../assembly/include/layout';
import type { Core } from './core';

/** Entries in the table at first; it doubles up to COOKIE_SPACE - 1. */
const INITIAL = 1024;
const LIMIT = L.COOKIE_SPACE - 1; // COOKIE_NONE's index stays unused
/** Orphans that make io_submit sweep even when it has handles to spare. */
const ORPHAN_SWEEP = 256;

/** @internal */
export class Handles {
  /** The iocb object, by index; undefined when the handle is free. */
  iocb: (object | undefined)[] = new Array<object | undefined>(INITIAL).fill(undefined);
  /** The request's aio_key (set once io_submit knows it). */
  key = new Float64Array(INITIAL);
  /** The request's aio_data as the user gave it (the event returns this very bigint). */
  data: bigint[] = new Array<bigint>(INITIAL).fill(0n);
  /** What the request keeps alive: a view, or an array of them. */
  pin: unknown[] = new Array<unknown>(INITIAL).fill(undefined);
  /** Plain buffers to fill at reap: one view (bounce offset 0), or [view, offset] pairs. */
  copies: (Uint8Array | Array<[Uint8Array, number]> | undefined)[] = new Array(INITIAL).fill(undefined);
  /** 1 while the handle is allocated. */
  private used = new Uint8Array(INITIAL);
  private free: Int32Array;
  private top: number;

  constructor(private readonly core: Core) {
    this.key.fill(-1);
    this.free = new Int32Array(INITIAL);
    for (let i = 0; i < INITIAL; i++) this.free[i] = INITIAL - 1 - i;
    this.top = INITIAL;
  }

  get capacity(): number {
    return this.key.length;
  }

  /** Handles free now. */
  get available(): number {
    return this.top;
  }

  /**
   * Make at least `n` handles available: take back the orphaned ones, then
   * grow. Uses this cpu's scratch: call it before encoding into scratch.
   * Returns how many are available (maybe fewer than n at the limit).
   */
  reserve(n: number): number {
    if (this.top >= n && this.orphansPending() < ORPHAN_SWEEP) return this.top;
    this.takeOrphans();
    while (this.top < n && this.capacity < LIMIT) this.grow();
    return this.top;
  }

  alloc(): number {
    if (this.top === 0) return -1;
    const i = this.free[--this.top];
    this.used[i] = 1;
    return i;
  }

  /** Whether handle i is allocated. */
  live(i: number): boolean {
    return this.used[i] === 1;
  }

  /** Free a handle (its event was consumed, or the request was never submitted). */
  release(i: number): void {
    if (this.used[i] !== 1) return;
    this.used[i] = 0;
    this.iocb[i] = undefined;
    this.pin[i] = undefined;
    this.copies[i] = undefined;
    this.key[i] = -1;
    this.free[this.top++] = i;
  }

  /** How many of this cpu's cookies were orphaned since the last sweep (a hint). */
  private orphansPending(): number {
    // A hint, read plainly (a stale 0 only delays a sweep to the next call); cookie_orphan adds to it.
    const c = this.core;
    return c.u32[(L.CPU_OFF + c.cpu * L.CPU_SIZE + L.CPU_ORPHANS) >>> 2];
  }

  /** Take back every orphaned handle now (after io_destroy: its discarded events' handles). Uses scratch. */
  sweep(): void {
    if (this.orphansPending() > 0) this.takeOrphans();
  }

  private takeOrphans(): void {
    const core = this.core;
    for (;;) {
      const n = core.x.cookies_orphaned(core.cpu, 4096);
      const at = core.scratch >>> 2;
      for (let j = 0; j < n; j++) {
        const i = core.u32[at + j];
        if (i < this.capacity) this.release(i);
      }
      if (n < 4096 - 31) return;
    }
  }

  private grow(): void {
    const old = this.capacity;
    const cap = Math.min(old * 2, LIMIT);
    const key = new Float64Array(cap);
    key.set(this.key);
    key.fill(-1, old);
    this.key = key;
    this.iocb.length = cap;
    this.iocb.fill(undefined, old);
    this.pin.length = cap;
    this.pin.fill(undefined, old);
    this.data.length = cap;
    this.data.fill(0n, old);
    this.copies.length = cap;
    this.copies.fill(undefined, old);
    const used = new Uint8Array(cap);
    used.set(this.used);
    this.used = used;
    const free = new Int32Array(cap);
    free.set(this.free.subarray(0, this.top));
    for (let i = cap - 1; i >= old; i--) free[this.top++] = i;
    this.free = free;
  }
}
