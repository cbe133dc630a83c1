/**
 * Binary iocbs and io_events (issue 12): records in the kernel's user memory,
 * in libaio's layout, so io_submit and io_getevents cross into the kernel once
 * per batch with no JS object per request.
 *
 *   const iocbs = k.iocbArray(64);                    // 64 struct iocb, zeroed
 *   iocbs.set(0, { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf, aio_data: 7n });
 *   k.io_submit(ctx, iocbs, 1);                       // aio_key written into record 0
 *   const evs = k.ioEventArray(64);                   // 64 struct io_event
 *   k.io_getevents(ctx, 1, 64, evs, 0);               // evs[0..n-1]; evs.obj(i) is the aio_key
 *
 * The records are plain user memory (a k.buffer() block): write them through
 * the accessors, or through `.view` (a DataView over the records, offsets as
 * in linux/aio_abi.h: IOCB_FIELD, IO_EVENT_FIELD). The kernel trusts none of
 * it: it reads each record once and checks every field as it checks an
 * object iocb (assembly/fs/binary.ts). aio_buf is an address in the kernel's
 * memory (a k.buffer() view's byteOffset, plus an offset into it): a request
 * whose buffer is not inside one live k.buffer() block fails -EFAULT, and the
 * block stays allocated until the request completes, even if its view is
 * garbage collected meanwhile.
 *
 * aio_key is 32 bits, as in Linux: the request's id and the low 9 bits of its
 * generation. The event's obj carries the full key (its low 32 bits equal the
 * record's aio_key). io_cancel(ctx, iocbs, i) cancels by the record's key; a
 * stale 32-bit key can name a later request only once its kiocb slot has been
 * reused a multiple of 512 times (the object API's keys: 2^30).
 */
import * as L from '../assembly/include/layout';
import { KernelBuffer } from './buffers';
import type { Core } from './core';

/** Byte offsets of struct iocb's fields (linux/aio_abi.h, little-endian). */
export const IOCB_FIELD = Object.freeze({
  aio_data: L.IOCB_DATA,
  aio_key: L.IOCB_KEY,
  aio_rw_flags: L.IOCB_RW_FLAGS,
  aio_lio_opcode: L.IOCB_LIO_OPCODE,
  aio_reqprio: L.IOCB_REQPRIO,
  aio_fildes: L.IOCB_FILDES,
  aio_buf: L.IOCB_BUF,
  aio_nbytes: L.IOCB_NBYTES,
  aio_offset: L.IOCB_OFFSET,
  aio_reserved2: L.IOCB_RESERVED2,
  aio_flags: L.IOCB_FLAGS,
  aio_resfd: L.IOCB_RESFD,
}) as Readonly<Record<string, number>>;

/** Byte offsets of struct io_event's fields. */
export const IO_EVENT_FIELD = Object.freeze({ data: L.EV_DATA, obj: L.EV_OBJ, res: L.EV_RES, res2: L.EV_RES2 }) as Readonly<Record<string, number>>;

/** The fields IocbArray.set writes; the others are 0. */
export interface IocbFields {
  aio_lio_opcode?: number;
  aio_fildes?: number;
  /** A k.buffer() view (its address), or an address in the kernel's memory. */
  aio_buf?: KernelBuffer | number;
  /** Bytes (default: the length of aio_buf when it is a view), iovec count, or 0. */
  aio_nbytes?: number;
  aio_offset?: number | bigint;
  aio_data?: number | bigint;
  aio_rw_flags?: number;
  aio_reqprio?: number;
  aio_flags?: number;
  aio_resfd?: number;
  aio_reserved2?: number | bigint;
}

function index(i: unknown, n: number): number {
  if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= n) throw new RangeError(`index must be an integer from 0 to ${n - 1}, got ${String(i)}`);
  return i;
}

function u64(v: unknown, name: string): bigint {
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new TypeError(`${name} must be an integer from 0 to 2^64 - 1`);
}

function s64(v: unknown, name: string): bigint {
  if (typeof v === 'bigint' && v >= -(1n << 63n) && v < 1n << 63n) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw new TypeError(`${name} must be an integer from -2^63 to 2^63 - 1`);
}

function uint(v: unknown, bits: number, name: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** bits) return v;
  throw new TypeError(`${name} must be an integer from 0 to 2^${bits} - 1`);
}

/** A block of binary records in the kernel's user memory (shared by IocbArray and IoEventArray). */
export abstract class RecordArray {
  /** Number of records. */
  readonly length: number;
  /** A DataView over the records (little-endian fields). */
  readonly view: DataView;
  /** The records' address in the kernel's memory. */
  readonly address: number;
  /** @internal The block (held: it is freed when this array is garbage). */
  readonly bytes: KernelBuffer;
  /** @internal */
  readonly core: Core;
  // Copies the kernel entry points read: a brand (`#addr in x`) that user code cannot forge or redefine.
  #addr: number;
  #len: number;
  #size: number;
  #core: Core;

  /** @internal */
  constructor(core: Core, bytes: KernelBuffer, length: number, size: number) {
    bytes.fill(0);
    this.core = core;
    this.bytes = bytes;
    this.length = length;
    this.address = bytes.byteOffset;
    this.#addr = bytes.byteOffset;
    this.#len = length;
    this.#size = size;
    this.#core = core;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, length * size);
  }

  /**
   * @internal x's address if it is an array of `size`-byte records (an
   * IocbArray: IOCB_SIZE, an IoEventArray: IO_EVENT_SIZE) of `core`'s kernel,
   * else -1; its length in lastLength. Runs no user code (a private brand).
   */
  static addrOf(x: unknown, core: Core, size: number): number {
    if (typeof x !== 'object' || x === null || !(#addr in x)) return -1;
    const a = x as RecordArray;
    if (a.#size !== size || a.#core !== core) return -1;
    RecordArray.lastLength = a.#len;
    return a.#addr;
  }

  /** @internal */
  static lastLength = 0;
}

/** struct iocb records (64 B each), for k.io_submit(ctx, iocbs, nr). */
export class IocbArray extends RecordArray {
  /** @internal */
  constructor(core: Core, bytes: KernelBuffer, length: number) {
    super(core, bytes, length, L.IOCB_SIZE);
  }

  /** Write record i: the fields given, 0 for the others (aio_key included). Returns this. */
  set(i: number, f: IocbFields): this {
    const at = index(i, this.length) * L.IOCB_SIZE;
    const v = this.view;
    let buf = 0;
    let nbytes = f.aio_nbytes;
    if (typeof f.aio_buf === 'object' && f.aio_buf !== null) {
      buf = KernelBuffer.addrOf(f.aio_buf, this.core);
      if (buf < 0) throw new TypeError('aio_buf must be a k.buffer() view of this kernel, or an address');
      nbytes ??= KernelBuffer.lastLength;
    } else if (f.aio_buf !== undefined) {
      buf = uint(f.aio_buf, 32, 'aio_buf');
    }
    for (let o = 0; o < L.IOCB_SIZE; o += 8) v.setBigUint64(at + o, 0n, true);
    v.setBigUint64(at + L.IOCB_DATA, u64(f.aio_data ?? 0, 'aio_data'), true);
    v.setUint32(at + L.IOCB_RW_FLAGS, uint(f.aio_rw_flags ?? 0, 32, 'aio_rw_flags'), true);
    v.setUint16(at + L.IOCB_LIO_OPCODE, uint(f.aio_lio_opcode ?? 0, 16, 'aio_lio_opcode'), true);
    v.setUint16(at + L.IOCB_REQPRIO, uint((f.aio_reqprio ?? 0) & 0xffff, 16, 'aio_reqprio'), true);
    v.setInt32(at + L.IOCB_FILDES, (f.aio_fildes ?? 0) | 0, true);
    v.setBigUint64(at + L.IOCB_BUF, BigInt(buf), true);
    v.setBigUint64(at + L.IOCB_NBYTES, u64(nbytes ?? 0, 'aio_nbytes'), true);
    v.setBigInt64(at + L.IOCB_OFFSET, s64(f.aio_offset ?? 0, 'aio_offset'), true);
    v.setBigUint64(at + L.IOCB_RESERVED2, u64(f.aio_reserved2 ?? 0, 'aio_reserved2'), true);
    v.setUint32(at + L.IOCB_FLAGS, uint(f.aio_flags ?? 0, 32, 'aio_flags'), true);
    v.setInt32(at + L.IOCB_RESFD, (f.aio_resfd ?? 0) | 0, true);
    return this;
  }

  /** Record i's aio_key (written by io_submit). */
  key(i: number): number {
    return this.view.getUint32(index(i, this.length) * L.IOCB_SIZE + L.IOCB_KEY, true);
  }

  /** Record i's aio_data. */
  data(i: number): bigint {
    return this.view.getBigUint64(index(i, this.length) * L.IOCB_SIZE + L.IOCB_DATA, true);
  }

  setData(i: number, data: number | bigint): this {
    this.view.setBigUint64(index(i, this.length) * L.IOCB_SIZE + L.IOCB_DATA, u64(data, 'aio_data'), true);
    return this;
  }

  /** Record i's aio_buf and aio_nbytes: a k.buffer() view (its length unless nbytes is given) or an address. */
  setBuf(i: number, buf: KernelBuffer | number, nbytes?: number): this {
    const at = index(i, this.length) * L.IOCB_SIZE;
    let addr: number;
    if (typeof buf === 'object' && buf !== null) {
      addr = KernelBuffer.addrOf(buf, this.core);
      if (addr < 0) throw new TypeError('aio_buf must be a k.buffer() view of this kernel, or an address');
      nbytes ??= KernelBuffer.lastLength;
    } else {
      addr = uint(buf, 32, 'aio_buf');
    }
    this.view.setBigUint64(at + L.IOCB_BUF, BigInt(addr), true);
    if (nbytes !== undefined) this.view.setBigUint64(at + L.IOCB_NBYTES, u64(nbytes, 'aio_nbytes'), true);
    return this;
  }

  setOffset(i: number, offset: number | bigint): this {
    this.view.setBigInt64(index(i, this.length) * L.IOCB_SIZE + L.IOCB_OFFSET, s64(offset, 'aio_offset'), true);
    return this;
  }

  opcode(i: number): number {
    return this.view.getUint16(index(i, this.length) * L.IOCB_SIZE + L.IOCB_LIO_OPCODE, true);
  }

  fildes(i: number): number {
    return this.view.getInt32(index(i, this.length) * L.IOCB_SIZE + L.IOCB_FILDES, true);
  }
}

/** struct io_event records (32 B each), for k.io_getevents(ctx, min_nr, nr, events, timeout). */
export class IoEventArray extends RecordArray {
  /** @internal */
  constructor(core: Core, bytes: KernelBuffer, length: number) {
    super(core, bytes, length, L.IO_EVENT_SIZE);
  }

  /** Event i's data (the iocb's aio_data). */
  data(i: number): bigint {
    return this.view.getBigUint64(index(i, this.length) * L.IO_EVENT_SIZE + L.EV_DATA, true);
  }

  /** Event i's obj: the request's full aio_key (a number below 2^53). */
  obj(i: number): number {
    const at = index(i, this.length) * L.IO_EVENT_SIZE + L.EV_OBJ;
    return this.view.getUint32(at + 4, true) * 2 ** 32 + this.view.getUint32(at, true);
  }

  /** Event i's obj, low 32 bits: the aio_key io_submit wrote into the binary record. */
  key(i: number): number {
    return this.view.getUint32(index(i, this.length) * L.IO_EVENT_SIZE + L.EV_OBJ, true);
  }

  /** Event i's res (bytes, or -errno). */
  res(i: number): number {
    const at = index(i, this.length) * L.IO_EVENT_SIZE + L.EV_RES;
    return this.view.getInt32(at + 4, true) * 2 ** 32 + this.view.getUint32(at, true);
  }

  res2(i: number): number {
    const at = index(i, this.length) * L.IO_EVENT_SIZE + L.EV_RES2;
    return this.view.getInt32(at + 4, true) * 2 ** 32 + this.view.getUint32(at, true);
  }
}
