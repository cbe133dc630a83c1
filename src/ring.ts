/**
 * A reap without copying: events read in place from the context's aio_ring
 * (k.ring(ctx), S12), then consumed by moving head, correct alongside
 * io_getevents on other threads and other readers (issue 12).
 *
 *   const r = k.ringReader(ctx);
 *   for (;;) {
 *     const n = r.peek();                  // events at head now: a snapshot
 *     if (n === 0) break;
 *     for (let i = 0; i < n; i++) use(r.data(i), r.res(i));   // read in the ring, no copy
 *     if (!r.advance(n)) continue;         // another reaper took them first: what was read is void
 *   }
 *
 * The rule: what peek() shows is yours only once advance() returns true for
 * it. advance(m) consumes the snapshot's first m events if no other reaper
 * consumed any event since the peek (compared by absolute ring position, so a
 * head that came round the ring again does not pass); if one did, it moves
 * nothing and returns false, and the values read since the peek may belong
 * to events another reaper has (peek again). Head moves under the kernel's
 * reap lock, the one io_getevents holds while it copies: a bare
 * compare-and-swap on head would be undone by io_getevents' store (see
 * assembly/fs/ring_user.ts). Consumed events free their ring slots exactly
 * as io_getevents' do: the next io_submit that runs short credits them back.
 *
 * Do not mix it with writes of head through k.ring(ctx), nor use it on an
 * AioContext's context (the AioContext reaps it). Events of object-API reads
 * into plain buffers consumed here leave those buffers unfilled (their data
 * was in a bounce block): use k.buffer() memory or binary records.
 */
import * as L from '../assembly/include/layout';
import * as E from '../assembly/include/errno';
import { outOfRange, systemError } from './errno';
import type { Core } from './core';

/** One io_event, as RingReader.event() and next() return it. */
export interface RingEvent {
  /** The iocb's aio_data. */
  data: bigint;
  /** The request's full aio_key (for a binary record, its low 32 bits are the record's aio_key). */
  obj: number;
  /** Bytes, or -errno. */
  res: number;
  res2: number;
}

/**
 * A user-space reaper of one context's completion ring: k.ringReader(ctx).
 * One per thread and context (it holds a snapshot); any number of readers
 * and io_getevents callers may reap the same context at once.
 */
export class RingReader {
  /** The context id. */
  readonly ctx: number;
  readonly #core: Core;
  readonly #gen: number;
  readonly #state: number; // u32 index of the context's state word (its generation follows)
  readonly #head: number; // u32 index of the ring's head
  readonly #tail: number;
  readonly #commit: number; // u32 index of CX_COMMIT's low half
  readonly #events: number; // byte address of io_events[0]
  readonly #nr: number;
  readonly #advance: (from: number, n: number) => number;
  readonly #alive: () => boolean;
  // The snapshot: #count events from ring index #at, absolute position #pos.
  #at = 0;
  #pos = 0;
  #count = 0;

  /** @internal use Kernel.ringReader() */
  constructor(core: Core, ctx: number, slot: number, gen: number, advance: (from: number, n: number) => number, alive: () => boolean) {
    this.ctx = ctx;
    this.#core = core;
    this.#gen = gen;
    const a = L.CTX_OFF + slot * L.CTX_SIZE;
    const ring = core.u32[(a + L.CX_RING) >>> 2];
    this.#state = (a + L.CX_STATE_GEN) >>> 2;
    this.#head = (ring + L.RING_HEAD) >>> 2;
    this.#tail = (ring + L.RING_TAIL) >>> 2;
    this.#commit = (a + L.CX_COMMIT) >>> 2;
    this.#events = ring + L.RING_HDR_SIZE;
    this.#nr = core.u32[(a + L.CX_RING_NR) >>> 2];
    this.#advance = advance;
    this.#alive = alive;
  }

  /** Events in the current snapshot (0 after a failed advance, until the next peek). */
  get count(): number {
    return this.#count;
  }

  #live(call: string): void {
    const u32 = this.#core.u32;
    if (!this.#alive() || u32[this.#state] !== L.CTX_LIVE || u32[this.#state + 1] !== this.#gen) {
      this.#count = 0;
      throw systemError(E.EINVAL, call);
    }
  }

  /**
   * Take a snapshot of the events at head, and return how many there are
   * (0: none now; it never waits). Read them with data(i), obj(i), res(i)...
   * for 0 <= i < the count. Throws EINVAL if the context was destroyed.
   */
  peek(): number {
    this.#live('ring_peek');
    const u32 = this.#core.u32;
    const nr = this.#nr;
    const h = Atomics.load(u32, this.#head) % nr;
    // commit (64-bit, only grows): low, high, low again; a carry between the two
    // lows (2^32 events) reads again. Loaded after head, so it counts every
    // event below head: head's absolute position is the largest value <= commit
    // congruent to head mod nr (ring_user.ts, which checks it under the lock).
    let lo: number;
    let hi: number;
    do {
      lo = Atomics.load(u32, this.#commit);
      hi = Atomics.load(u32, this.#commit + 1);
    } while (Atomics.load(u32, this.#commit) < lo);
    const commit = hi * 0x100000000 + lo;
    const published = (commit % nr - h + nr) % nr;
    // Pairs with ring_advance's store of tail (events below it are written).
    const below = (Atomics.load(u32, this.#tail) % nr - h + nr) % nr;
    this.#at = h;
    this.#pos = commit - published;
    this.#count = below < published ? below : published;
    return this.#count;
  }

  /**
   * Consume the snapshot's first n events (default: all): true, and the
   * snapshot keeps the rest (index 0 is the next one). false if another
   * reaper consumed events since the peek: nothing moved, the snapshot is
   * empty, and values read from it may be another reaper's (peek again).
   * Throws ERR_OUT_OF_RANGE for an n that is not an integer from 0 to the
   * snapshot's count, EINVAL if the context was destroyed.
   */
  advance(n: number = this.#count): boolean {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > this.#count) {
      throw outOfRange('n', `an integer from 0 to ${this.#count} (the events peek() showed)`, n);
    }
    this.#live('ring_advance');
    if (n === 0) return true;
    const r = this.#advance(this.#pos, n);
    if (r === -E.EAGAIN) {
      this.#count = 0;
      return false;
    }
    if (r < 0) {
      this.#count = 0;
      throw systemError(-r, 'ring_advance');
    }
    this.#at = (this.#at + n) % this.#nr;
    this.#pos += n;
    this.#count -= n;
    return true;
  }

  /** The next event, consumed (peek, read, advance by one, again if another reaper was first); null if the ring is empty. */
  next(): RingEvent | null {
    for (;;) {
      if (this.peek() === 0) return null;
      const ev = this.event(0);
      if (this.advance(1)) return ev;
    }
  }

  /** Event i of the snapshot as an object (a copy). */
  event(i: number): RingEvent {
    const at = this.#addr(i);
    return { data: this.#u64(at + L.EV_DATA), obj: this.#num(at + L.EV_OBJ, false), res: this.#num(at + L.EV_RES, true), res2: this.#num(at + L.EV_RES2, true) };
  }

  /** Event i's data (the iocb's aio_data), read in the ring. */
  data(i: number): bigint {
    return this.#u64(this.#addr(i) + L.EV_DATA);
  }

  /** Event i's obj: the request's full aio_key (below 2^53). */
  obj(i: number): number {
    return this.#num(this.#addr(i) + L.EV_OBJ, false);
  }

  /** Event i's obj, low 32 bits: a binary record's aio_key. */
  key(i: number): number {
    return this.#core.u32[(this.#addr(i) + L.EV_OBJ) >>> 2];
  }

  /** Event i's res (bytes, or -errno). */
  res(i: number): number {
    return this.#num(this.#addr(i) + L.EV_RES, true);
  }

  res2(i: number): number {
    return this.#num(this.#addr(i) + L.EV_RES2, true);
  }

  #addr(i: number): number {
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= this.#count) {
      throw outOfRange('index', `an integer from 0 to ${this.#count - 1} (the snapshot's events)`, i);
    }
    return this.#events + ((this.#at + i) % this.#nr) * L.IO_EVENT_SIZE;
  }

  #u64(at: number): bigint {
    return this.#core.u64[at >>> 3];
  }

  #num(at: number, signed: boolean): number {
    return signed ? this.#core.readI64(at) : this.#core.readU64(at);
  }
}
