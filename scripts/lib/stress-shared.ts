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

/**
 * Disk reads are checked byte for byte: the lower half of the disk holds
 * diskPattern (written before the threads start) and only reads go there;
 * writes go to the upper half. A read's offset follows from (thread, seq), so
 * whichever thread reaps its event knows what the bytes must be.
 */
export function diskPattern(off: number): number {
  return (Math.imul(off >>> 0, 0x9e3779b1) >>> 24) ^ (off & 0xff);
}

export function readOffset(thread: number, seq: number, diskSize: number): number {
  const span = diskSize / 2 - 4096;
  return ((Math.imul(seq + 1, 0x85ebca6b) ^ Math.imul(thread + 1, 0xc2b2ae35)) >>> 0) % span;
}

/** Buffer slots per thread: request seq uses slot seq % SLOTS of its thread's buffer. */
export const SLOTS = 1024;
export const SLOT_SIZE = 4096;

/**
 * Check the bytes a disk read of `len` bytes returned into its owner's slot
 * (`mem`: the kernel's memory, read only). null if fine or if the slot was
 * reused meanwhile (no verdict), else why not.
 */
export function checkReadBytes(sh: Shared, mem: Uint8Array, owner: number, seq: number, len: number, diskSize: number): string | null | 'reused' {
  const at = sh.bufBase[owner] + (seq % SLOTS) * SLOT_SIZE;
  const off = readOffset(owner, seq, diskSize);
  let bad = -1;
  for (let i = 0; i < len && bad < 0; i++) if (mem[at + i] !== diskPattern(off + i)) bad = i;
  // The owner may reuse the slot once this event was received or its context
  // destroyed; it stores the new seq before it submits into the slot, so a changed
  // seq means the bytes may be the next request's: no verdict then.
  if (Atomics.load(sh.slotSeq, owner * SLOTS + (seq % SLOTS)) !== seq) return 'reused';
  return bad < 0 ? null : `byte ${bad} of a read at ${off} is ${mem[at + bad]}, not ${diskPattern(off + bad)}`;
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
export const C_BYTES_CHECKED = 12; // bytes of disk reads checked against the disk's pattern

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
  /** Kernel address of each thread's buffer (SLOTS x SLOT_SIZE), for byte checks by any reaper. */
  readonly bufBase: Float64Array;
  /** Per thread and slot, the seq of the request using it now (Atomics: stored before the request is submitted). */
  readonly slotSeq: Int32Array;

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
      cfg.threads * 8,
      cfg.threads * SLOTS * 4,
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
    this.bufBase = new Float64Array(this.sab, take(cfg.threads * 8), cfg.threads);
    this.slotSeq = new Int32Array(this.sab, take(cfg.threads * SLOTS * 4), cfg.threads * SLOTS);
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
