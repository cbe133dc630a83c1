/**
 * bench:congestion: a congested ramdisk (each request takes 100 µs; they all
 * arrive at once), with a fraction f of the queued requests cancelled right
 * after submission, f = 0, 0.25, 0.5, 0.75; 'effective' (the seeds' design)
 * vs 'mark-only' (the block layer dispatches cancelled requests anyway).
 *
 * Reported: device operations spent on cancelled requests, the time to drain
 * the queue, and the p50/p99 latency (submission to reaped event) of the
 * requests that were not cancelled.
 */
import { Kernel, IOCB_CMD, errno, type Iocb, type IoEvent } from 'kaio';
import { benchOptions, machine, xorshift, quantile, table, printGoals, save, fmt, type Result } from './lib/bench';

const opts = benchOptions();
const N = opts.quick ? 100 : 1000;
const SERVICE_US = 100;
const BLOCK = 4096;
const fractions = [0, 0.25, 0.5, 0.75];

interface Run {
  /** Cancelled requests the device executed anyway. */
  wasted: number;
  /** Of those, the ones still in the software queue (stage 1) when they were cancelled. */
  wastedQueued: number;
  drainMs: number; p50: number; p99: number; survivors: number; cancelled: number;
}

async function run(cancel: 'effective' | 'mark-only', f: number): Promise<Run> {
  const k = await Kernel.boot({ cancel });
  try {
    const path = k.ramdisk('congested', { sizeBytes: N * BLOCK, serviceTimeUs: SERVICE_US, queueDepth: 32 });
    await k.device(path).ready(); // time the queue, not the device thread's start-up
    const fd = k.open(path, 'r');
    const ctx = k.io_setup(N);
    const buf = k.buffer(N * BLOCK);
    const iocbs: Iocb[] = Array.from({ length: N }, (_, i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf.subarray(i * BLOCK, (i + 1) * BLOCK), aio_offset: i * BLOCK, aio_data: BigInt(i) }));
    const pick = xorshift(12345 + Math.round(f * 100));
    const doomed = new Uint8Array(N);
    let toCancel = Math.round(N * f);
    while (toCancel > 0) {
      const i = pick(N);
      if (!doomed[i]) {
        doomed[i] = 1;
        toCancel--;
      }
    }
    const submitted = new Float64Array(N);
    const t0 = performance.now();
    for (let i = 0; i < N; i += 256) {
      const batch = iocbs.slice(i, i + 256);
      const now = performance.now();
      if (k.io_submit(ctx, batch) !== batch.length) throw new Error('io_submit');
      for (let j = 0; j < batch.length; j++) submitted[i + j] = now;
    }
    for (let i = 0; i < N; i++) if (doomed[i]) k.io_cancel(ctx, iocbs[i]);
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
    lat.sort((a, b) => a - b);
    k.io_destroy(ctx);
    const survivors = N - Math.round(N * f);
    if (st.completed !== survivors + wasted) throw new Error(`device completed ${st.completed}, expected ${survivors} + ${wasted}`);
    return { wasted, wastedQueued, drainMs, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), survivors, cancelled: cancelledEvents };
  } finally {
    await k.shutdown();
  }
}

const rows: Result['rows'] = [];
const results = new Map<string, Run>();
for (const f of fractions) {
  for (const mode of ['effective', 'mark-only'] as const) {
    const r = await run(mode, f);
    results.set(`${mode} ${f}`, r);
    rows.push({ mode, fraction: f, deviceOpsOnCancelled: r.wasted, deviceOpsOnCancelledWhileQueued: r.wastedQueued, drainMs: Number(r.drainMs.toFixed(2)), p50Ms: Number(r.p50.toFixed(3)), p99Ms: Number(r.p99.toFixed(3)), cancelledEvents: r.cancelled });
  }
}
const e5 = results.get('effective 0.5')!;
const m5 = results.get('mark-only 0.5')!;
const ratios = {
  'p99 effective/mark-only at f=0.5': Number((e5.p99 / m5.p99).toFixed(3)),
  'drain effective/mark-only at f=0.5': Number((e5.drainMs / m5.drainMs).toFixed(3)),
};
const goals = [
  { goal: 'effective: 0 device operations on requests cancelled while queued (every f)', value: Math.max(...fractions.map((f) => results.get(`effective ${f}`)!.wastedQueued)), met: fractions.every((f) => results.get(`effective ${f}`)!.wastedQueued === 0) },
  { goal: 'survivors p99, effective / mark-only at f = 0.5 <= 0.55', value: ratios['p99 effective/mark-only at f=0.5'], met: ratios['p99 effective/mark-only at f=0.5'] <= 0.55 },
];
table(`congested ramdisk: ${N} x ${BLOCK / 1024} KiB reads at ${SERVICE_US} µs each, a fraction f cancelled at once`,
  ['f', 'mode', 'device ops on cancelled', '(cancelled while queued)', 'drain ms', 'survivor p50 ms', 'survivor p99 ms'],
  rows.map((r) => [String(r.fraction), r.mode, r.deviceOpsOnCancelled, r.deviceOpsOnCancelledWhileQueued, r.drainMs, r.p50Ms, r.p99Ms]));
console.log('\n  "cancelled while queued": still in the software queue when io_cancel ran; the others had already entered the device.');
printGoals(goals);
console.log(`\n  at f = 0.5: survivors' p99 ${fmt(e5.p99, 2)} ms effective vs ${fmt(m5.p99, 2)} ms mark-only`);

await save(opts, {
  name: 'congestion',
  command: `npm run bench:congestion${opts.quick ? ' -- --quick' : ''}`,
  machine: machine(),
  quick: opts.quick,
  params: { requests: N, serviceTimeUs: SERVICE_US, queueDepth: 32, blockBytes: BLOCK, fractions },
  rows,
  ratios,
  goals,
}, {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: 'survivors p99 latency vs fraction cancelled',
  width: 420,
  height: 260,
  data: { values: rows },
  mark: { type: 'line', point: true },
  encoding: {
    x: { field: 'fraction', type: 'quantitative', title: 'fraction of queued requests cancelled' },
    y: { field: 'p99Ms', type: 'quantitative', title: 'p99 latency of the others (ms)' },
    color: { field: 'mode', type: 'nominal' },
  },
});
