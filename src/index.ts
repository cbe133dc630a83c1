/**
 * kaio: the Linux AIO syscalls with cancellation that works, as a Node package.
 *
 *   import { Kernel, IOCB_CMD, errno } from 'kaio';
 *   const k = await Kernel.boot();
 */
export { Kernel } from './kernel';
export type { BootOptions, RamdiskOptions, DeviceStats, DeviceControl, CtxStat, KernelStats } from './kernel';
export { IOCB_CMD } from './aio';
export { AioContext } from './promises';
export type { IoOptions } from './promises';
export type { Iocb, IoEvent } from './aio';
export type { KernelHandle } from './core';
export type { KernelBuffer } from './buffers';
export { errno, errnoName, systemError, abortError } from './errno';
export type { KaioSystemError } from './errno';
export { POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDNORM, POLLWRNORM, RWF_NOWAIT, IOCB_FLAG_RESFD, IOCB_FLAG_IOPRIO, AIO_RING_MAGIC } from '../assembly/include/layout';
