/**
 * The syscall level: io_setup, io_submit, io_getevents, io_cancel, io_destroy,
 * with libaio's conventions (return -errno, never throw for kernel errors).
 *
 * io_submit reads each iocb once into a snapshot (src/iocb.ts), encodes the
 * snapshots into this cpu's scratch and makes one WASM call per batch; the
 * kernel (assembly/fs/aio.ts) judges what needs kernel state, in Linux's order.
 * No user code runs while scratch holds a call's records: getters run before,
 * setters after. Events come back the same way, and are written into the
 * caller's array only after the kernel call.
 *
 * The submitting thread keeps a handle per in-flight request (src/handles.ts):
 * the iocb object (event.obj), the buffers the request holds, and the plain
 * buffers to fill from bounce blocks when the event is reaped here.
 */
import * as L from '../assembly/include/layout';
import * as E from '../assembly/include/errno';
import { userBytes, type Iocb, type IoEvent } from './uapi';
import { shutdownError, fsErrno, systemError } from './errno';
import fs from 'node:fs';
import { RecordArray, type IocbArray } from './binary';
import { KEY_ID_SPAN, MAX_KEY, splitCtx } from './sysbase';
import { GeteventsSyscalls } from './getevents';
import { RingReader } from './ring';
import type { LockWait } from './sysbase';

export type { Iocb, IoEvent } from './uapi';
export { IOCB_CMD } from './uapi';

export class Syscalls extends GeteventsSyscalls {
  /**
   * io_cancel: ask for the request to be cancelled; never blocks (S5).
   * -EINPROGRESS if it was in flight on ctx (its event, with -ECANCELED or its
   * normal result, arrives through io_getevents); -EINVAL if not (never
   * submitted, already completed, stale key, another context's key);
   * -EFAULT if iocb is not an object.
   */
  io_cancel(ctx: number, iocb: Iocb | { aio_key: number } | null): number;
  /** io_cancel of binary record `index` of `iocbs`, by its 32-bit aio_key (src/binary.ts). */
  io_cancel(ctx: number, iocbs: IocbArray, index: number): number;
  io_cancel(ctx: number, iocb: Iocb | { aio_key: number } | IocbArray | null, index?: number): number {
    if (this.dead) return -E.EINVAL;
    const bin = RecordArray.addrOf(iocb, this.core, L.IOCB_SIZE);
    if (bin >= 0) {
      // get_user(aio_key) from the record: an index outside the array cannot be read.
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= RecordArray.lastLength) return -E.EFAULT;
      const key32 = this.core.u32[(bin + index * L.IOCB_SIZE + L.IOCB_KEY) >>> 2];
      const sg = splitCtx(ctx);
      if (!sg) return -E.EINVAL;
      return this.core.x.io_cancel_key32(this.core.cpu, sg[0], sg[1], key32);
    }
    if (iocb === null || typeof iocb !== 'object') return -E.EFAULT;
    let key: unknown;
    try {
      key = (iocb as { aio_key?: unknown }).aio_key; // get_user: before the context lookup
    } catch {
      return -E.EFAULT;
    }
    const sg = splitCtx(ctx);
    if (!sg) return -E.EINVAL;
    if (typeof key !== 'number' || !Number.isSafeInteger(key) || key < 0 || key > MAX_KEY) return -E.EINVAL;
    const gid = key % KEY_ID_SPAN;
    const kgen = (key - gid) / KEY_ID_SPAN;
    return this.core.x.io_cancel(this.core.cpu, sg[0], sg[1], gid, kgen);
  }

  /**
   * Bulk cancel (beyond Linux AIO; io_uring's IORING_ASYNC_CANCEL_ALL and
   * _FD): ask every request in flight on ctx, or only those submitted on
   * `fd`, to cancel. Returns how many it asked (each still yields exactly one
   * event: -ECANCELED, or its result if it was too late), or -EINVAL (bad
   * context, options not an object), -EBADF (fd not open), -EFAULT (options
   * unreadable). Never blocks.
   */
  io_cancel_all(ctx: number, options?: { fd?: number }): number {
    if (this.dead) return -E.EINVAL;
    let fd: unknown;
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') return -E.EINVAL;
      try {
        fd = options.fd;
      } catch {
        return -E.EFAULT;
      }
    }
    const sg = splitCtx(ctx);
    if (!sg) return -E.EINVAL;
    let f = -1;
    if (fd !== undefined) {
      if (typeof fd !== 'number' || (fd | 0) !== fd || fd < 0) return -E.EBADF;
      f = fd;
    }
    return this.core.x.io_cancel_all(this.core.cpu, sg[0], sg[1], f);
  }

  /**
   * The context's aio_ring in shared memory (S12): header {id, nr, head, tail,
   * magic, compat_features, incompat_features, header_length}, then nr
   * 32-byte io_events {data u64, obj u64 (the aio_key), res i64, res2 i64}.
   * Advancing head consumes events, exactly as io_getevents would. The view is
   * dead after io_destroy.
   */
  ring(ctx: number): DataView {
    const c = this.dead ? undefined : this.ctxLocal(ctx);
    if (!c) throw Object.assign(new Error(`EINVAL: invalid argument, ring (no live context ${String(ctx)})`), { code: 'EINVAL', errno: -E.EINVAL, syscall: 'ring' });
    const a = L.CTX_OFF + c.slot * L.CTX_SIZE;
    const ring = this.core.u32[(a + L.CX_RING) >>> 2];
    const nr = this.core.u32[(a + L.CX_RING_NR) >>> 2];
    return new DataView(this.core.buffer, ring, L.RING_HDR_SIZE + nr * L.IO_EVENT_SIZE);
  }

  /**
   * A user-space reaper of ctx's ring (src/ring.ts): peek() the events at
   * head, read them in place, advance() head past them; correct alongside
   * io_getevents and other readers on any thread. Throws EINVAL (a
   * SystemError-shaped error) if ctx is not a live context.
   */
  ringReader(ctx: number): RingReader {
    const c = this.dead ? undefined : this.ctxLocal(ctx);
    if (!c) throw systemError(E.EINVAL, 'ring_reader');
    const core = this.core;
    const advance = (from: number, n: number): number => {
      const lock: LockWait = { contended: 0, spun: 0 };
      for (;;) {
        if (this.dead) return -E.EINVAL;
        const r = core.x.io_ring_advance(core.cpu, c.slot, c.gen, from, n, lock.contended);
        if (r !== -E.EBUSY) return r;
        // Held by a reaper for one bounded copy: spin, then sleep on it, as io_getevents does.
        this.waitReapLock(c, lock, Infinity);
      }
    };
    return new RingReader(core, c.id, c.slot, c.gen, advance, () => !this.dead);
  }

  /** Outstanding requests of a context, for checkpoint/restore (S11): a snapshot. */
  io_outstanding(ctx: number): Array<{ aio_key: number; aio_data: bigint }> | number {
    if (this.dead) return -E.EINVAL;
    const c = this.ctxLocal(ctx);
    if (!c) return -E.EINVAL;
    const core = this.core;
    const max = Math.floor(L.SCRATCH_SIZE / 16);
    const n = core.x.ctx_enumerate(c.slot, c.gen, core.scratch, max);
    if (n < 0) return n;
    const out: Array<{ aio_key: number; aio_data: bigint }> = [];
    for (let i = 0; i < n; i++) {
      const r = core.scratch + i * 16;
      out.push({ aio_key: core.readU64(r), aio_data: core.u64[(r + 8) >>> 3] });
    }
    return out;
  }

  // --- files ---------------------------------------------------------------------------

  /** close(2): 0 or -EBADF (also for a number that is not an int, as 2**32 + fd). */
  close(fd: number): number {
    if (this.dead) return -E.EINVAL;
    if (typeof fd !== 'number' || (fd | 0) !== fd) return -E.EBADF;
    return this.core.x.fd_close(fd);
  }

  /** pipe(2): [readFd, writeFd], or [-errno, -errno] (-EMFILE, -ENFILE, -ENOMEM). */
  pipe(): [readFd: number, writeFd: number] {
    if (this.dead) throw shutdownError('pipe');
    const core = this.core;
    const r = core.x.pipe_create(core.scratch);
    if (r < 0) return [r, r];
    return [core.i32[core.scratch >>> 2], core.i32[(core.scratch >>> 2) + 1]];
  }

  /** write(2): bytes written or -errno. Pipes never block (-EAGAIN when full); block devices write at the file position. */
  write(fd: number, data: ArrayBufferView): number {
    return this.rw(fd, data, -1, true);
  }

  /** read(2): bytes read, 0 at end of file, or -errno. Pipes never block (-EAGAIN when empty). */
  read(fd: number, data: ArrayBufferView): number {
    return this.rw(fd, data, -1, false);
  }

  /** pwrite(2) on a block device. */
  pwrite(fd: number, data: ArrayBufferView, position: number): number {
    if (this.dead) return -E.EINVAL;
    if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) return -E.EINVAL;
    return this.rw(fd, data, position, true);
  }

  /** pread(2) on a block device. */
  pread(fd: number, data: ArrayBufferView, position: number): number {
    if (this.dead) return -E.EINVAL;
    if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) return -E.EINVAL;
    return this.rw(fd, data, position, false);
  }

  /** read/write/pread/pwrite on a host file: the real call, on this thread. */
  /** @internal */
  protected hostRw(fd: number, target: Uint8Array, pos: number, write: boolean): number {
    const osfd = this.core.x.host_fd(fd);
    if (osfd < 0) return osfd;
    try {
      const p = pos < 0 ? null : pos;
      return write ? fs.writeSync(osfd, target, 0, target.length, p) : fs.readSync(osfd, target, 0, target.length, p);
    } catch (err) {
      return fsErrno(err);
    }
  }

  /** @internal */
  protected rw(fd: number, data: ArrayBufferView, pos: number, write: boolean): number {
    if (this.dead) return -E.EINVAL;
    if (typeof fd !== 'number' || (fd | 0) !== fd) return -E.EBADF;
    const bytes = userBytes(data);
    if (bytes === undefined) return -E.EFAULT;
    const core = this.core;
    // A view over the kernel's memory only inside one live user block (as io_submit).
    if (core.isKernelMemory(bytes.buffer) && !core.x.user_range_ok(bytes.byteOffset, bytes.length)) return -E.EFAULT;
    const target = bytes.buffer === core.buffer || !core.isKernelMemory(bytes.buffer) ? bytes : core.u8.subarray(bytes.byteOffset, bytes.byteOffset + bytes.length);
    let total = 0;
    do {
      const chunk = Math.min(L.SCRATCH_SIZE, bytes.length - total);
      if (write) core.u8.set(target.subarray(total, total + chunk), core.scratch);
      const r = core.x.sys_rw(core.cpu, fd, chunk, pos < 0 ? -1 : pos + total, write ? 1 : 0);
      if (r === -E.EOPNOTSUPP && total === 0) return this.hostRw(fd, target, pos, write);
      if (r < 0) return total > 0 ? total : r;
      if (!write) target.set(core.u8.subarray(core.scratch, core.scratch + r), total);
      total += r;
      if (r < chunk || r === 0) break;
    } while (total < bytes.length);
    return total;
  }
}
