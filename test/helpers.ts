/**
 * Shared test helpers (prefix: t). Every kernel booted here is shut down in
 * afterAll, so no device thread outlives its test file.
 */
import { Worker } from 'node:worker_threads';
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
/**
 * A ramdisk with a unique name; returns its path and an rw fd. Returns once the
 * device's thread is online (so cpu counts are settled), without doing I/O.
 */
export function tDisk(k: Kernel, opts: { sizeBytes?: number; serviceTimeUs?: number; queueDepth?: number; abortable?: boolean } = {}): { path: string; fd: number } {
  const before = k.stats().cpusOnline;
  const path = k.ramdisk(`t${process.pid}_${nameSeq++}`, { sizeBytes: 1 << 20, ...opts });
  const deadline = Date.now() + 10_000;
  while (k.stats().cpusOnline === before && Date.now() < deadline);
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

// --- threads ------------------------------------------------------------------


export interface TWorker {
  readonly worker: Worker;
  readonly cpu: number;
  /** Run `fn` in the worker: `fn(env, args)` with env = { k, kaio, threadId, shared }. */
  run<A, R>(fn: (env: TEnv, args: A) => R | Promise<R>, args?: A): Promise<Awaited<R>>;
  terminate(): Promise<number>;
}

export interface TEnv {
  k: Kernel;
  kaio: typeof import('kaio');
  threadId: number;
  shared: SharedArrayBuffer | undefined;
}

const workers: Worker[] = [];

/** Start a worker attached to `k` (or not attached, with attach: false). */
export async function tWorker(k: Kernel, opts: { shared?: SharedArrayBuffer; attach?: boolean } = {}): Promise<TWorker> {
  const worker = new Worker(new URL('./fixtures/rpc-worker.mjs', import.meta.url), {
    workerData: { handle: k.handle, shared: opts.shared, attach: opts.attach },
  });
  workers.push(worker);
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  let seq = 0;
  const ready = new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (m: { ready?: boolean; cpu?: number; id?: number; result?: unknown; error?: { message: string; code?: string } }) => {
      if (m.ready) return resolve(m.cpu!);
      const p = pending.get(m.id!);
      if (!p) return;
      pending.delete(m.id!);
      if (m.error) p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else p.resolve(m.result);
    });
  });
  const cpu = await ready;
  return {
    worker,
    cpu,
    run(fn, args) {
      const id = seq++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        worker.postMessage({ id, src: fn.toString(), args });
      });
    },
    terminate: () => worker.terminate(),
  };
}

afterAll(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});
