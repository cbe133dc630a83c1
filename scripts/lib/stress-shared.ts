/**
 * What the stress tool's threads share (besides the kernel): one
 * SharedArrayBuffer with control words, the context table, per-thread
 * counters, a ring of recently submitted keys for cross-thread cancels, and
 * per-thread bitmaps of requests submitted, received and asked to cancel.
 *
 * Request identity travels in aio_data:
 *   [ thread:8 | kind:4 | len:13 | unused:7 | seq:32 ]
 * so any reaper can check an event against what its request must produce.
 */

export const KIND_DISK_READ = 1;
export const KIND_DISK_WRITE = 2;
export const KIND_NOOP = 3;
export const KIND_PIPE_READ = 4;

export function encodeData(thread: number, kind: number, len: number, seq: number): bigint {
  return (BigInt(thread) << 56n) | (BigInt(kind) << 52n) | (BigInt(len) << 39n) | BigInt(seq >>> 0);
}

export function decodeData(d: bigint): { thread: number; kind: number; len: number; seq: number } {
  return {
    thread: Number(d >> 56n),
    kind: Number((d >> 52n) & 0xfn),
    len: Number((d >> 39n) & 0x1fffn),
    seq: Number(d & 0xffffffffn),
  };
}

/** What an event must say for its request, or why it is wrong (null: fine). */
export function checkResult(kind: number, len: number, res: number, cancelAsked: boolean): string | null {
  if (res === -125) return cancelAsked ? null : 'res -ECANCELED but no cancel was asked';
  switch (kind) {
    case KIND_DISK_READ:
    case KIND_DISK_WRITE:
      return res === len ? null : `disk request of ${len} bytes completed with ${res}`;
    case KIND_NOOP:
      return res === 0 ? null : `NOOP completed with ${res}`;
    case KIND_PIPE_READ:
      return res >= 1 && res <= len ? null : `pipe read of ${len} bytes completed with ${res}`;
    default:
      return `unknown request kind ${kind}`;
  }
}

export const KEY_RING = 4096;
export const COUNTERS = 16;
// Per-thread counters (Int32, written by their thread, read by main).
export const C_HEARTBEAT = 0;
export const C_SUBMITTED = 1;
export const C_REAPED = 2;
export const C_CANCEL_CALLS = 3;
export const C_CANCEL_INPROGRESS = 4;
export const C_CANCELLED_EVENTS = 5;
export const C_EAGAIN = 6;
export const C_EINVAL = 7;
export const C_VIOLATIONS = 8;
export const C_DESTROYS = 9;
export const C_UNEXPECTED = 10;
export const C_PIPE_BYTES = 11;

export interface StressConfig {
  threads: number;
  seconds: number;
  cancelRatio: number;
  lookup: 'tags' | 'list';
  depth: number;
  contexts: number;
  pipes: number;
  seqCapacity: number; // requests per thread the bitmaps can hold
}

/** Views over the shared control buffer. */
export class Shared {
  readonly sab: SharedArrayBuffer;
  readonly control: Int32Array; // [0] stop
  readonly ctxIds: Float64Array; // contexts.length ids
  readonly ctxState: Int32Array; // 0 live, 1 being recreated
  readonly pipeFds: Int32Array; // [r0, w0, r1, w1, ...]
  readonly counters: Int32Array; // threads x COUNTERS
  readonly keyVer: Int32Array; // seqlock per key-ring entry (odd: being written)
  readonly keyCtx: Float64Array;
  readonly keyKey: Float64Array;
  readonly keyOwner: Int32Array; // thread
  readonly keySeq: Int32Array;
  readonly keyNext: Int32Array; // [0] next entry to write
  readonly submitted: Uint32Array[]; // per thread bitmaps
  readonly received: Uint32Array[];
  readonly asked: Uint32Array[];

  constructor(cfg: StressConfig, sab?: SharedArrayBuffer) {
    const words = Math.ceil(cfg.seqCapacity / 32);
    const sizes = [
      16 * 4, // control
      cfg.contexts * 8, // ctxIds
      cfg.contexts * 4, // ctxState
      cfg.pipes * 2 * 4, // pipe fds
      cfg.threads * COUNTERS * 4,
      KEY_RING * 4, KEY_RING * 8, KEY_RING * 8, KEY_RING * 4, KEY_RING * 4, 16,
      cfg.threads * words * 4 * 3,
    ];
    const total = sizes.reduce((a, b) => a + ((b + 7) & ~7), 0);
    this.sab = sab ?? new SharedArrayBuffer(total);
    let off = 0;
    const take = (n: number) => {
      const o = off;
      off += (n + 7) & ~7;
      return o;
    };
    this.control = new Int32Array(this.sab, take(16 * 4), 16);
    this.ctxIds = new Float64Array(this.sab, take(cfg.contexts * 8), cfg.contexts);
    this.ctxState = new Int32Array(this.sab, take(cfg.contexts * 4), cfg.contexts);
    this.pipeFds = new Int32Array(this.sab, take(cfg.pipes * 8), cfg.pipes * 2);
    this.counters = new Int32Array(this.sab, take(cfg.threads * COUNTERS * 4), cfg.threads * COUNTERS);
    this.keyVer = new Int32Array(this.sab, take(KEY_RING * 4), KEY_RING);
    this.keyCtx = new Float64Array(this.sab, take(KEY_RING * 8), KEY_RING);
    this.keyKey = new Float64Array(this.sab, take(KEY_RING * 8), KEY_RING);
    this.keyOwner = new Int32Array(this.sab, take(KEY_RING * 4), KEY_RING);
    this.keySeq = new Int32Array(this.sab, take(KEY_RING * 4), KEY_RING);
    this.keyNext = new Int32Array(this.sab, take(16), 4);
    const bm = take(cfg.threads * words * 4 * 3);
    const view = (i: number) => new Uint32Array(this.sab, bm + i * words * 4, words);
    this.submitted = Array.from({ length: cfg.threads }, (_, t) => view(t * 3));
    this.received = Array.from({ length: cfg.threads }, (_, t) => view(t * 3 + 1));
    this.asked = Array.from({ length: cfg.threads }, (_, t) => view(t * 3 + 2));
  }

  counter(thread: number, c: number): number {
    return Atomics.load(this.counters, thread * COUNTERS + c);
  }

  /** Set a bit; returns whether it was set before. */
  static setBit(map: Uint32Array, i: number): boolean {
    const bit = 1 << (i & 31);
    return (Atomics.or(map, i >>> 5, bit) & bit) !== 0;
  }

  static getBit(map: Uint32Array, i: number): boolean {
    return (Atomics.load(map, i >>> 5) & (1 << (i & 31))) !== 0;
  }

  /** Publish a submitted request's key for others to cancel (seqlock-protected entry). */
  pushKey(ctx: number, key: number, owner: number, seq: number): void {
    const i = Atomics.add(this.keyNext, 0, 1) % KEY_RING;
    const v = Atomics.add(this.keyVer, i, 1); // odd: being written
    if ((v & 1) === 1) {
      Atomics.sub(this.keyVer, i, 1); // another writer owns it right now; drop this one
      return;
    }
    this.keyCtx[i] = ctx;
    this.keyKey[i] = key;
    this.keyOwner[i] = owner;
    this.keySeq[i] = seq;
    Atomics.add(this.keyVer, i, 1); // even again: pairs with readKey's loads of the version
  }

  /** A consistent recent entry, or null if it was being written. */
  readKey(i: number): { ctx: number; key: number; owner: number; seq: number } | null {
    const v1 = Atomics.load(this.keyVer, i);
    if ((v1 & 1) === 1 || v1 === 0) return null;
    const e = { ctx: this.keyCtx[i], key: this.keyKey[i], owner: this.keyOwner[i], seq: this.keySeq[i] };
    return Atomics.load(this.keyVer, i) === v1 ? e : null;
  }
}
