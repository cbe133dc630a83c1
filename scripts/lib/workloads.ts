/**
 * The two measurements the demo (npm start) and the benchmarks share, so that
 * the demo prints what bench:lookup and bench:congestion measure, the same way.
 */
import { Kernel, IOCB_CMD, errno, type Iocb, type IoEvent } from 'kaio';
import { best, xorshift } from './bench';

/**
 * ns per io_cancel on `depth` requests that stay in flight: one-byte reads in
 * a paused ramdisk's queue, under 'mark-only', so a cancel marks but removes
 * nothing. After a warm-up round every request is marked, so each call is a
 * lookup plus a state check (-EINPROGRESS). Targets are random (fixed seed) or
 * sweep the population in submission order. Best of `rounds` rounds of `calls`.
 */
export async function cancelLookupCost(lookup: 'tags' | 'list', depth: number, opts: { calls: number; rounds: number; order: 'random' | 'sequential' }): Promise<number> {
  const { calls, rounds, order } = opts;
  const k = await Kernel.boot({ lookup, cancel: 'mark-only' });
  try {
    const path = k.ramdisk('held', { sizeBytes: 1 << 20, serviceTimeUs: 0 });
    const fd = k.open(path, 'r');
    k.device(path).pause();
    const ctx = k.io_setup(depth);
    const bytes = k.buffer(depth);
    const iocbs: Iocb[] = Array.from({ length: depth }, (_, i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: bytes.subarray(i, i + 1), aio_offset: i }));
    for (let i = 0; i < depth; i += 512) {
      const want = Math.min(512, depth - i);
      if (k.io_submit(ctx, iocbs.slice(i, i + want)) !== want) throw new Error('io_submit failed');
    }
    // The keys as numbers, passed in one reused object: the measurement is the
    // kernel's lookup, not JS heap misses on thousands of key objects.
    // 'sequential' sweeps the whole population however few the calls (list at
    // 64K makes ~100): i * step, step >= 1.
    const pick = xorshift(0x9e3779b9);
    const step = Math.max(1, Math.floor(depth / calls));
    const keys = new Float64Array(calls);
    for (let i = 0; i < calls; i++) keys[i] = iocbs[order === 'random' ? pick(depth) : (i * step) % depth].aio_key!;
    const key = { aio_key: 0 };
    const round = (): number => {
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) {
        key.aio_key = keys[i];
        if (k.io_cancel(ctx, key) !== -errno.EINPROGRESS) throw new Error('io_cancel failed');
      }
      return ((performance.now() - t0) * 1e6) / calls;
    };
    round(); // warm up: JIT, and every request marked once
    const ns = best(rounds, round);
    k.device(path).resume();
    k.io_destroy(ctx);
    return ns;
  } finally {
    await k.shutdown();
  }
}

/** Bytes per read in congested(). */
export const CONGESTED_BLOCK = 4096;

export interface CongestedRun {
  /** Requests that entered the device queue, and requests dropped from the software queue. */
  dispatched: number;
  cancelledQueued: number;
  /** Events with -ECANCELED. */
  cancelledEvents: number;
  /** Cancelled requests the device executed anyway. */
  wasted: number;
  /** Of those, the ones still in the software queue (stage 1) when they were cancelled. */
  wastedQueued: number;
  drainMs: number;
  /** Submission to reaped event, ms, of the requests not cancelled; sorted. */
  survivorLatencies: number[];
}

/**
 * A congested ramdisk (`serviceUs` per request, a 32-deep device queue) gets
 * `doomed.length` 4 KiB reads at once; those with doomed[i] set are cancelled
 * right after submission. The clock starts once the device thread is up.
 */
export async function congested(cancel: 'effective' | 'mark-only', doomed: Uint8Array, serviceUs: number): Promise<CongestedRun> {
  const N = doomed.length;
  const BLOCK = CONGESTED_BLOCK;
  const k = await Kernel.boot({ cancel });
  try {
    const path = k.ramdisk('congested', { sizeBytes: N * BLOCK, serviceTimeUs: serviceUs, queueDepth: 32 });
    await k.device(path).ready(); // time the queue, not the device thread's start-up
    const fd = k.open(path, 'r');
    const ctx = k.io_setup(N);
    const buf = k.buffer(N * BLOCK);
    const iocbs: Iocb[] = Array.from({ length: N }, (_, i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf.subarray(i * BLOCK, (i + 1) * BLOCK), aio_offset: i * BLOCK, aio_data: BigInt(i) }));
    const submitted = new Float64Array(N);
    const t0 = performance.now();
    for (let i = 0; i < N; i += 256) {
      const batch = iocbs.slice(i, i + 256);
      const now = performance.now();
      if (k.io_submit(ctx, batch) !== batch.length) throw new Error('io_submit');
      for (let j = 0; j < batch.length; j++) submitted[i + j] = now;
    }
    for (let i = 0; i < N; i++) {
      if (!doomed[i]) continue;
      const r = k.io_cancel(ctx, iocbs[i]); // -EINVAL: it completed already
      if (r !== -errno.EINPROGRESS && r !== -errno.EINVAL) throw new Error(`io_cancel: ${r}`);
    }
    // The device takes requests in submission order (one submitter, FIFO
    // software queue), so request i was still in the software queue at the end
    // of the cancel loop, and so when it was cancelled, iff i >= dispatched now.
    const dispatchedAfterCancels = k.device(path).stats().dispatched;
    const lat: number[] = [];
    let got = 0;
    let cancelledEvents = 0;
    let wasted = 0;
    let wastedQueued = 0;
    const evs: IoEvent[] = [];
    while (got < N) {
      const n = k.io_getevents(ctx, 1, N - got, evs, 30_000);
      if (n <= 0) throw new Error(`io_getevents ${n}`);
      const now = performance.now();
      for (let j = 0; j < n; j++) {
        const i = Number(evs[j].data);
        if (evs[j].res === -errno.ECANCELED) cancelledEvents++;
        else if (!doomed[i]) lat.push(now - submitted[i]);
        else if (evs[j].res === BLOCK) {
          wasted++;
          if (i >= dispatchedAfterCancels) wastedQueued++;
        } else throw new Error(`request ${i}: res ${evs[j].res}`);
      }
      got += n;
    }
    const drainMs = performance.now() - t0;
    const st = k.device(path).stats();
    k.io_destroy(ctx);
    if (st.completed !== lat.length + wasted) throw new Error(`device completed ${st.completed}, expected ${lat.length} + ${wasted}`);
    return { dispatched: st.dispatched, cancelledQueued: st.cancelledQueued, cancelledEvents, wasted, wastedQueued, drainMs, survivorLatencies: lat.sort((a, b) => a - b) };
  } finally {
    await k.shutdown();
  }
}
