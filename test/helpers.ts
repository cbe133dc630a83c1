/**
 * Shared test helpers (prefix: t). Every kernel booted here is shut down in
 * afterAll, so no device thread outlives its test file.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Kernel, IOCB_CMD, type BootOptions, type Iocb, type IoEvent } from 'kaio';
import { FI_HOLD_WAITING } from '../assembly/include/layout';

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

/**
 * Wait (bounded, by condition, not by time) until read() returns `want`, yielding to the event
 * loop between looks; returns the last value read, for the caller to assert. For what another
 * thread updates just after it publishes an event the test has already reaped: a completer runs
 * the RESFD eventfd's notify, and then counts its request out of ctxStat().inflight, after the
 * event is visible; the ring's `published` count moves after its tail.
 */
export async function tUntil(read: () => number, want: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let v = read();
  while (v !== want && Date.now() < deadline) {
    await new Promise((r) => setImmediate(r));
    v = read();
  }
  return v;
}

/** Results by aio_data, for order-independent checks. */
export function tByData(evs: IoEvent[]): Map<bigint, number> {
  return new Map(evs.map((e) => [e.data, e.res]));
}

/**
 * num_possible_cpus() of this machine, read here (not from the kernel) from
 * /sys/devices/system/cpu/possible: "0-1" is 2, "0,2-3" is 3.
 */
export function tPossibleCpus(): number {
  let n = 0;
  for (const part of readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',')) {
    const [a, b] = part.split('-').map(Number);
    n += b === undefined ? 1 : b - a + 1;
  }
  if (!Number.isInteger(n) || n < 1) throw new Error(`cannot parse /sys/devices/system/cpu/possible`);
  return n;
}

/**
 * What Linux 6.18's io_setup(nr) builds, computed independently of the kernel
 * (fs/aio.c ioctx_alloc and aio_setup_ring): n = 2 x max(nr, 4P) in u32
 * arithmetic; the ring is the events that fit in whole pages of
 * 32 + 32 x (n + 2) bytes, less the 32-byte header; req_batch =
 * max(1, floor((ring - 1) / 4P)), and one cpu can take capacity =
 * req_batch x floor((ring - 1) / req_batch) requests in flight or unreaped.
 * Only for an nr that io_setup accepts (throws otherwise).
 */
export function tLinuxCapacity(nr: number, possible = tPossibleCpus()): { ring: number; capacity: number } {
  const n = (Math.max(nr, 4 * possible) * 2) >>> 0;
  if (!Number.isInteger(nr) || nr < 1 || n === 0 || n > 8388608) throw new Error(`io_setup(${nr}) fails on Linux`);
  const PAGE = 4096;
  const pages = Math.ceil((32 + 32 * (n + 2)) / PAGE);
  const ring = Math.floor((pages * PAGE - 32) / 32);
  const batch = Math.max(1, Math.floor((ring - 1) / (4 * possible)));
  return { ring, capacity: batch * Math.floor((ring - 1) / batch) };
}

/**
 * The capacity of a live context, as k.ctxStat reports it, after checking that
 * it (and the ring size) is exactly Linux's for io_setup(nr).
 */
export function tCapacity(k: Kernel, ctx: number, nr: number): number {
  const st = k.ctxStat(ctx);
  if (!st) throw new Error(`no context ${ctx}`);
  const want = tLinuxCapacity(nr);
  if (st.nr !== want.capacity || st.ringNr !== want.ring) {
    throw new Error(`io_setup(${nr}): capacity ${st.nr}, ring ${st.ringNr}; Linux: capacity ${want.capacity}, ring ${want.ring}`);
  }
  return st.nr;
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

/**
 * Wait (bounded: about 20 s of 1 ms sleeps) until a fault-injection hold word
 * (H_FI_*_HOLD) says another thread is held there (FI_HOLD_WAITING); returns
 * the word's last value, for the caller to assert. The held thread is in wasm,
 * spinning on a condition the test controls, so this thread may block.
 */
export function tHeld(u32: Uint32Array, holdWord: number): number {
  const tick = new Int32Array(new SharedArrayBuffer(4));
  let hold = Atomics.load(u32, holdWord >>> 2);
  for (let i = 0; i < 20_000 && hold !== FI_HOLD_WAITING; i++) {
    Atomics.wait(tick, 0, 0, 1);
    hold = Atomics.load(u32, holdWord >>> 2);
  }
  return hold;
}
