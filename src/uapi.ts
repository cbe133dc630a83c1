/**
 * The user-visible ABI of the syscall level: struct iocb and struct io_event
 * as JS objects (include/uapi/linux/aio_abi.h), and the intrinsics that read
 * user views without running user code.
 */
import { types } from 'node:util';
import * as L from '../assembly/include/layout';

/** An I/O control block, as libaio's struct iocb. */
export interface Iocb {
  aio_data?: bigint;
  /** Written by io_submit: identifies the request (id and generation). */
  aio_key?: number;
  aio_lio_opcode: number;
  aio_reqprio?: number;
  aio_fildes: number;
  /** A byte buffer; for PREADV/PWRITEV an array of them; for POLL the event mask. */
  aio_buf?: ArrayBufferView | ArrayBufferView[] | number;
  /** Bytes (PREAD/PWRITE) or number of buffers (PREADV/PWRITEV). Defaults to all of aio_buf. */
  aio_nbytes?: number;
  aio_offset?: number | bigint;
  aio_flags?: number;
  aio_resfd?: number;
  /** RWF_* flags (RWF_NOWAIT: do not wait on an empty/full pipe; -EAGAIN instead). */
  aio_rw_flags?: number;
  /** Must be 0 (-EINVAL otherwise), as in the kernel's struct iocb. */
  aio_reserved2?: number;
}

/** A completion, as libaio's struct io_event. */
export interface IoEvent {
  /** aio_data of the request, exact to 64 bits. */
  data: bigint;
  /** The submitted iocb on the submitting thread; elsewhere `{ aio_key, aio_data }`. */
  obj: Iocb;
  res: number;
  res2: number;
}

export const IOCB_CMD = Object.freeze({
  PREAD: L.IOCB_CMD_PREAD,
  PWRITE: L.IOCB_CMD_PWRITE,
  FSYNC: L.IOCB_CMD_FSYNC,
  FDSYNC: L.IOCB_CMD_FDSYNC,
  POLL: L.IOCB_CMD_POLL,
  NOOP: L.IOCB_CMD_NOOP,
  PREADV: L.IOCB_CMD_PREADV,
  PWRITEV: L.IOCB_CMD_PWRITEV,
} as const);

// --- reading user views without running user code ---------------------------------
//
// A view's own or inherited `buffer`, `byteOffset` and `length` can be getters
// the user defined; the intrinsic getters read the internal slots instead.
const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
const getter = (proto: object, name: string): ((this: unknown) => unknown) =>
  Object.getOwnPropertyDescriptor(proto, name)!.get as (this: unknown) => unknown;
const taBuffer = getter(TypedArrayProto, 'buffer');
const taByteOffset = getter(TypedArrayProto, 'byteOffset');
const taByteLength = getter(TypedArrayProto, 'byteLength');
const dvBuffer = getter(DataView.prototype, 'buffer');
const dvByteOffset = getter(DataView.prototype, 'byteOffset');
const dvByteLength = getter(DataView.prototype, 'byteLength');

/**
 * The bytes of a user view, as a Uint8Array of kaio's own (no user getters or
 * methods on it), or undefined if `v` is not a genuine ArrayBufferView (a
 * Proxy is not). A detached buffer gives a view of length 0.
 */
export function userBytes(v: unknown): Uint8Array | undefined {
  if (typeof v !== 'object' || v === null || types.isProxy(v)) return undefined;
  let buffer: ArrayBufferLike, off: number, len: number;
  if (types.isTypedArray(v)) {
    buffer = taBuffer.call(v) as ArrayBufferLike;
    off = taByteOffset.call(v) as number;
    len = taByteLength.call(v) as number;
  } else if (types.isDataView(v)) {
    buffer = dvBuffer.call(v) as ArrayBufferLike;
    off = dvByteOffset.call(v) as number;
    len = dvByteLength.call(v) as number;
  } else {
    return undefined;
  }
  return new Uint8Array(buffer, off, len);
}

export { types };
