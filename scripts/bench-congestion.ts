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
import { benchOptions, machine, xorshift, quantile, table, printGoals, save, fmt, type Result } from './lib/bench';
import { congested, CONGESTED_BLOCK as BLOCK, type CongestedRun } from './lib/workloads';

const opts = benchOptions();
const N = opts.quick ? 100 : 1000;
const SERVICE_US = 100;
const fractions = [0, 0.25, 0.5, 0.75];

interface Run extends CongestedRun { p50: number; p99: number }

async function run(cancel: 'effective' | 'mark-only', f: number): Promise<Run> {
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
  const r = await congested(cancel, doomed, SERVICE_US);
  return { ...r, p50: quantile(r.survivorLatencies, 0.5), p99: quantile(r.survivorLatencies, 0.99) };
}

const rows: Result['rows'] = [];
const results = new Map<string, Run>();
for (const f of fractions) {
  for (const mode of ['effective', 'mark-only'] as const) {
    const r = await run(mode, f);
    results.set(`${mode} ${f}`, r);
    rows.push({ mode, fraction: f, deviceOpsOnCancelled: r.wasted, deviceOpsOnCancelledWhileQueued: r.wastedQueued, drainMs: Number(r.drainMs.toFixed(2)), p50Ms: Number(r.p50.toFixed(3)), p99Ms: Number(r.p99.toFixed(3)), cancelledEvents: r.cancelledEvents });
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
