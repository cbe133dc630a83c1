/**
 * How user buffers reach the code that moves bytes (S6 data, issue: "Data buffers").
 *
 * Three kinds of Uint8Array (any ArrayBufferView, viewed as bytes):
 *  - over the kernel's own memory (k.buffer()): BUF_MEM, zero copy; any thread
 *    sees the bytes when the event is published;
 *  - over another SharedArrayBuffer: BUF_SAB, filled in place. The thread that
 *    moves the bytes (a device thread, or the kworker for pipes) is handed the
 *    SharedArrayBuffer once, by id, through a BroadcastChannel it reads
 *    synchronously (receiveMessageOnPort) when it meets an id it does not
 *    know. So the buffer is filled before the event is published, whichever
 *    thread reaps it;
 *  - anything else (a plain Buffer): bounced through a block of kernel memory.
 *    Writes copy in at submit; reads copy out when the submitting thread reaps
 *    the event with io_getevents. Reaping such a read on another thread, or
 *    straight from the ring, leaves the plain buffer untouched: use a
 *    SharedArrayBuffer or k.buffer() there.
 * Pipes move bytes inside the kernel, so SAB reads on pipes also get a bounce
 * block, copied into the SharedArrayBuffer by the kworker before publication.
 */
import { BroadcastChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
// receiveMessageOnPort takes a BroadcastChannel too (Node docs); @types/node 20 only says MessagePort.
import * as L from '../assembly/include/layout';
import { isSAB, type Core } from './core';
import { waitUntil } from './wait';

export type ByteView = ArrayBufferView;

export function bytesOf(v: ArrayBufferView): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export function isView(v: unknown): v is ArrayBufferView {
  return ArrayBuffer.isView(v);
}

interface Msg { id: number; sab?: SharedArrayBuffer; release?: boolean }

/** The mover id of the host-file pool's threads (they all listen on one channel). */
export const POOL_MOVER = -2;

/** Channel name of the thread that moves bytes for device `dev` (or the kworker, dev = -1; the pool, POOL_MOVER). */
export function channelName(bootId: number, dev: number): string {
  return dev === POOL_MOVER ? `kaio:${bootId}:pool` : dev < 0 ? `kaio:${bootId}:kworker` : `kaio:${bootId}:dev:${dev}`;
}

/**
 * Sender side, one per thread: gives each SharedArrayBuffer an id per mover
 * and posts it once. Poster channels also receive other posters' messages, so
 * they are drained on every post.
 * @internal
 */
export class BufferRegistry {
  private channels = new Map<number, BroadcastChannel>();
  private ids = new Map<number, WeakMap<SharedArrayBuffer, number>>();
  private finalizer = new FinalizationRegistry<{ movers: number[]; id: number }>(({ movers, id }) => {
    for (const dev of movers) {
      const ch = this.channels.get(dev);
      if (ch) ch.postMessage({ id, release: true } satisfies Msg);
    }
  });

  constructor(private core: Core) {}

  /**
   * Id of `sab` for requests on device `dev` (-1: the kworker), registering it
   * if needed. The bytes are moved by the thread of each leaf device under
   * `dev` (itself, or for a stacked device every ramdisk its bios can reach),
   * so the one id is posted to each of them.
   */
  idFor(dev: number, sab: SharedArrayBuffer): number {
    // The pool's ids are per epoch: a replacement pool thread bumps it once it
    // listens, so buffers are posted again and reach it.
    const key = dev === POOL_MOVER ? POOL_MOVER - Atomics.load(this.core.u32, L.H_POOL_EPOCH >>> 2) : dev;
    let m = this.ids.get(key);
    if (!m) this.ids.set(key, (m = new WeakMap()));
    const known = m.get(sab);
    if (known !== undefined) return known;
    const id = Atomics.add(this.core.u32, L.H_NEXT_BUF_ID >>> 2, 1) + 1;
    const movers = dev < 0 ? [dev] : this.core.leafDevices(dev);
    for (const mover of movers) {
      this.waitReady(mover);
      const ch = this.channel(mover);
      while (receiveMessageOnPort(ch as unknown as MessagePort)) { /* drain what other posters sent */ }
      ch.postMessage({ id, sab } satisfies Msg);
    }
    m.set(sab, id);
    this.finalizer.register(sab, { movers, id });
    return id;
  }


  private channel(dev: number): BroadcastChannel {
    let ch = this.channels.get(dev);
    if (!ch) {
      ch = new BroadcastChannel(channelName(this.core.handle.bootId, dev));
      (ch as unknown as { unref(): void }).unref();
      this.channels.set(dev, ch);
    }
    return ch;
  }

  /** A BroadcastChannel only delivers to receivers that exist: wait until the mover listens. */
  private waitReady(dev: number): void {
    const i32 = this.core.i32;
    if (dev === POOL_MOVER) {
      // Every pool thread started so far listens (pairs with runPool's add to ready).
      const ready = L.H_POOL_READY >>> 2;
      const ok = waitUntil(i32, ready, () => Atomics.load(i32, ready) >= Atomics.load(i32, L.H_POOL_THREADS >>> 2), 10_000, 0);
      if (!ok) throw new Error('kaio: pool thread did not start');
      return;
    }
    const word = dev < 0 ? L.H_KW_STATE >>> 2 : (L.DEV_OFF + dev * L.DEV_SIZE + L.D_STATE) >>> 2;
    if (!waitUntil(i32, word, () => Atomics.load(i32, word) !== L.DS_STARTING, 10_000, 0)) {
      throw new Error('kaio: device thread did not start');
    }
  }

  close(): void {
    for (const ch of this.channels.values()) ch.close();
    this.channels.clear();
  }
}

/** Receiver side, in a mover thread: id -> bytes, learnt lazily from the channel. */
export class BufferTable {
  private map = new Map<number, Uint8Array>();
  private ch: BroadcastChannel;

  constructor(bootId: number, dev: number) {
    this.ch = new BroadcastChannel(channelName(bootId, dev));
  }

  get(id: number): Uint8Array | undefined {
    let b = this.map.get(id);
    if (b) return b;
    for (;;) {
      const m = receiveMessageOnPort(this.ch as unknown as MessagePort) as { message: Msg } | undefined;
      if (!m) return undefined;
      const { message } = m;
      if (message.release) this.map.delete(message.id);
      else if (message.sab) this.map.set(message.id, new Uint8Array(message.sab));
      if (message.id === id && !message.release) return this.map.get(id);
      b = this.map.get(id);
      if (b) return b;
    }
  }

  close(): void {
    this.ch.close();
  }

  /**
   * The `len` bytes a bio names, in a mover thread: a view of kernel memory
   * (BUF_MEM), or of the user's SharedArrayBuffer the bio's id stands for;
   * undefined when the id is unknown (released) or the range does not fit (-EFAULT).
   */
  bioBytes(u8: Uint8Array, u32: Uint32Array, bio: number, len: number): Uint8Array | undefined {
    const kind = u32[(bio + L.BI_KIND) >>> 2];
    const ref = u32[(bio + L.BI_REF) >>> 2];
    const off = u32[(bio + L.BI_OFF) >>> 2];
    if (kind === L.BUF_MEM) return u8.subarray(ref + off, ref + off + len);
    const user = this.get(ref);
    return user && off + len <= user.length ? user.subarray(off, off + len) : undefined;
  }
}

export { isSAB };

const taByteOffset = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'byteOffset')!.get!;
const taByteLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'byteLength')!.get!;

/**
 * The view k.buffer() returns: a block of the kernel's user memory, as a
 * Uint8Array. The block goes back to the kernel's heap when this view and
 * every view cut from it with subarray() are garbage (each sub-view holds its
 * parent, so a sub-view alone keeps the block alive), and no request that
 * uses it is in flight (a submitted request holds its buffers until its event
 * is reaped or discarded). A view made by hand over `.buffer` holds nothing:
 * keep a KernelBuffer alive while you use it.
 *
 * It carries its block's bounds, so io_submit takes it for zero-copy I/O
 * without asking the view for its buffer (a slow getter on shared memory) and
 * without trusting any property a user may have redefined on it.
 */
export class KernelBuffer extends Uint8Array<ArrayBufferLike> {
  #start = 0;
  #end = 0;
  /** This view's own offset and length, read once through the intrinsics (a view over a SharedArrayBuffer never changes them). */
  #off = 0;
  #len = 0;
  #core: Core | undefined;
  #parent: KernelBuffer | undefined;

  /** @internal */
  static adopt(view: KernelBuffer, core: Core, addr: number, size: number): KernelBuffer {
    view.#core = core;
    view.#start = addr;
    view.#end = addr + size;
    view.#off = taByteOffset.call(view) as number;
    view.#len = taByteLength.call(view) as number;
    return view;
  }

  /** The intrinsic byteLength of the view addrOf last accepted. */
  static lastLength = 0;

  /**
   * For io_submit's fast path, in one look: if v is a KernelBuffer of `core`'s
   * kernel lying inside its block, its address (lastLength: its length), else -1.
   * @internal
   */
  static addrOf(v: object, core: Core): number {
    if (!(#start in v) || (v as KernelBuffer).#core !== core) return -1;
    const kb = v as KernelBuffer;
    const off = kb.#off;
    if (off < kb.#start || off + kb.#len > kb.#end) return -1;
    KernelBuffer.lastLength = kb.#len;
    return off;
  }

  override subarray(begin?: number, end?: number): KernelBuffer {
    const sub = super.subarray(begin, end) as KernelBuffer;
    if (this.#core !== undefined) {
      sub.#core = this.#core;
      sub.#start = this.#start;
      sub.#end = this.#end;
      sub.#off = taByteOffset.call(sub) as number;
      sub.#len = taByteLength.call(sub) as number;
      sub.#parent = this;
    }
    return sub;
  }
}
