/**
 * Shared test helpers (prefix: t). Every kernel booted here is shut down in
 * afterAll, so no device thread outlives its test file.
 */
import { Kernel, IOCB_CMD, type BootOptions, type Iocb, type IoEvent } from 'kaio';

const booted: Kernel[] = [];

/** Boot a kernel that is shut down after the file's tests. */
export async function tBoot(opts: BootOptions = {}): Promise<Kernel> {
  const k = await Kernel.boot({ memoryMiB: 64, ...opts });
  booted.push(k);
  return k;
}

afterAll(async () => {
  await Promise.all(booted.splice(0).map((k) => k.shutdown()));
});

/**
 * The strategies every semantic test runs under: the design, and both baselines
 * (issue 2: "Both baselines pass the same semantic tests. The only exception is
 * mark-only's dispatch counts and results").
 */
export const STRATEGIES: Array<[string, BootOptions]> = [
  ['tags', { lookup: 'tags' }],
  ['list', { lookup: 'list' }],
  ['mark-only', { cancel: 'mark-only' }],
];

/** Under mark-only a cancelled block request still runs: its result is the normal one. */
export function tCancelled(opts: BootOptions, normal: number): number {
  return opts.cancel === 'mark-only' ? normal : -125;
}

let nameSeq = 0;
/** A ramdisk with a unique name; returns its path and an rw fd. */
export function tDisk(k: Kernel, opts: { sizeBytes?: number; serviceTimeUs?: number; queueDepth?: number; abortable?: boolean } = {}): { path: string; fd: number } {
  const path = k.ramdisk(`t${process.pid}_${nameSeq++}`, { sizeBytes: 1 << 20, ...opts });
  const fd = k.open(path, 'rw');
  if (fd < 0) throw new Error(`open ${path}: ${fd}`);
  return { path, fd };
}

export function tRead(fd: number, buf: ArrayBufferView, offset = 0, data: bigint = 0n): Iocb {
  return { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf, aio_offset: offset, aio_data: data };
}

export function tWrite(fd: number, buf: ArrayBufferView, offset = 0, data: bigint = 0n): Iocb {
  return { aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: fd, aio_buf: buf, aio_offset: offset, aio_data: data };
}

/** Reap exactly n events (waiting up to timeoutMs), then check that no other is ready. */
export function tReap(k: Kernel, ctx: number, n: number, timeoutMs = 10_000): IoEvent[] {
  const evs: IoEvent[] = [];
  const got = k.io_getevents(ctx, n, n, evs, timeoutMs);
  if (got !== n) throw new Error(`expected ${n} events, got ${got}`);
  const extra: IoEvent[] = [];
  const more = k.io_getevents(ctx, 0, 64, extra, 0);
  if (more !== 0) throw new Error(`expected no more events, got ${more}: ${extra.map((e) => e.res).join(',')}`);
  return evs;
}

/** Results by aio_data, for order-independent checks. */
export function tByData(evs: IoEvent[]): Map<bigint, number> {
  return new Map(evs.map((e) => [e.data, e.res]));
}

export { IOCB_CMD };
