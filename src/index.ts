/**
 * kaio: the Linux AIO syscalls with cancellation that works, as a Node package.
 *
 *   import { Kernel, IOCB_CMD, errno } from 'kaio';
 *   const k = await Kernel.boot();
 */
import * as L from '../assembly/include/layout';

export { Kernel } from './kernel';
export type { BootOptions, RamdiskOptions, DeviceStats, DeviceControl, CtxStat, KernelStats, PoolStats, OpenOptions } from './kernel';
export { IOCB_CMD } from './aio';
export { AioContext } from './promises';
export type { IoOptions, EventsOptions } from './promises';
export type { Iocb, IoEvent } from './aio';
export type { KernelHandle } from './core';
export type { KernelSnapshot, CpuSnapshot, ContextSnapshot, DeviceSnapshot } from './snapshot';
export type { KernelBuffer } from './buffers';
export { IOCB_FIELD, IO_EVENT_FIELD } from './binary';
export type { IocbArray, IoEventArray, IocbFields } from './binary';
export type { RingReader, RingEvent } from './ring';
export { errno, errnoName, systemError, abortError } from './errno';
export type { KaioSystemError } from './errno';

// The constants are re-declared as numbers here, not re-exported from
// assembly/include/layout.ts: that file is shared with AssemblyScript and typed with
// its `u32`, a type that only exists inside this package's build.
/** poll(2) event bits, for IOCB_CMD.POLL's mask and its event's res. */
export const POLLIN: number = L.POLLIN;
export const POLLOUT: number = L.POLLOUT;
export const POLLERR: number = L.POLLERR;
export const POLLHUP: number = L.POLLHUP;
export const POLLRDNORM: number = L.POLLRDNORM;
export const POLLWRNORM: number = L.POLLWRNORM;
/** aio_rw_flags: do not wait on an empty or full pipe (-EAGAIN instead). */
export const RWF_NOWAIT: number = L.RWF_NOWAIT;
/** aio_flags: add 1 to the eventfd aio_resfd (k.eventfd()) when the event is published. */
export const IOCB_FLAG_RESFD: number = L.IOCB_FLAG_RESFD;
/** aio_flags: aio_reqprio holds an I/O priority. */
export const IOCB_FLAG_IOPRIO: number = L.IOCB_FLAG_IOPRIO;
/** The aio_ring header's magic (0xa10a10a1). */
export const AIO_RING_MAGIC: number = L.AIO_RING_MAGIC;
