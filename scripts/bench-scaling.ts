/**
 * bench:scaling: requests per second with 1, 2 and 4 threads (on this 2-core
 * machine) submitting to and reaping from ONE shared context, tags vs list.
 *
 * Three workloads:
 *  - 'submit+reap': batches of null-device reads, nothing else. Under 'list'
 *    every submit and completion takes the context's ctx_lock; under 'tags'
 *    nothing on that path is shared but the ring itself.
 *  - 'own context each': the same, but every thread sets up its own context:
 *    nothing is shared but the kernel. The ceiling the machine allows.
 *  - 'with cancels': the same, while each thread also keeps `depth` reads
 *    waiting on its own pipe and cancels (and replaces) one at random per
 *    batch. Under 'list' each cancel walks every in-flight request of every
 *    thread with ctx_lock held, which stalls the other threads' submits and
 *    completions; under 'tags' it is one indexed lookup.
 *
 * Rounds are interleaved (every configuration once per round) so that the
 * machine's noise falls on all of them alike; each cell is its best round.
 */
import { Worker } from 'node:worker_threads';
import { Kernel } from 'kaio';
import { benchOptions, machine, table, printGoals, save, fmt, type Result } from './lib/bench';

const opts = benchOptions();
const seconds = opts.quick ? 0.15 : 0.8;
const rounds = opts.quick ? 1 : 4;
const threadCounts = [1, 2, 4];
const batch = 16;
const workloads = [
  { workload: 'submit+reap', depth: 0, own: false },
  { workload: 'with cancels', depth: 128, own: false },
  { workload: 'own context each', depth: 0, own: true },
] as const;
type Lookup = 'tags' | 'list';

async function run(lookup: Lookup, threads: number, depth: number, own: boolean): Promise<number> {
  const k = await Kernel.boot({ lookup });
  try {
    const path = k.nulldev('null');
    const ctx = k.io_setup(4096);
    const sab = new SharedArrayBuffer(64 * 4);
    const ctl = new Int32Array(sab);
    const ws = Array.from({ length: threads }, (_, index) =>
      new Worker(new URL('./bench-scaling-worker.js', import.meta.url), { workerData: { handle: k.handle, ctx, path, sab, index, batch, depth, own } }));
    const exits = ws.map((w) => new Promise<void>((resolve, reject) => {
      w.once('error', reject);
      w.once('exit', () => resolve());
    }));
    while (Atomics.load(ctl, 2) < threads) {
      for (let i = 0; i < threads; i++) if (ctl[24 + i] !== 0) throw new Error(`worker ${i} failed: ${ctl[24 + i]}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const t0 = performance.now();
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    Atomics.store(ctl, 1, 1);
    const elapsed = (performance.now() - t0) / 1000;
    await Promise.all(exits);
    let reaped = 0;
    for (let i = 0; i < threads; i++) reaped += ctl[8 + i];
    k.io_destroy(ctx);
    return reaped / elapsed;
  } finally {
    await k.shutdown();
  }
}

const bestRate = new Map<string, number>();
const cell = (w: string, lookup: Lookup, t: number) => `${w}/${lookup}/${t}`;
for (let r = 0; r < rounds; r++) {
  for (const { workload, depth, own } of workloads) {
    for (const threads of threadCounts) {
      for (const lookup of ['tags', 'list'] as const) {
        const rate = await run(lookup, threads, depth, own);
        const key = cell(workload, lookup, threads);
        bestRate.set(key, Math.max(bestRate.get(key) ?? 0, rate));
      }
    }
  }
}

const rows: Result['rows'] = [];
for (const { workload } of workloads) {
  for (const threads of threadCounts) {
    for (const lookup of ['tags', 'list'] as const) {
      rows.push({ workload, lookup, threads, requestsPerSecond: Math.round(bestRate.get(cell(workload, lookup, threads))!) });
    }
  }
}
const get = (w: string, lookup: Lookup, t: number) => bestRate.get(cell(w, lookup, t))!;
const ratio = (a: number, b: number) => Number((a / b).toFixed(2));
const ratios: Record<string, number> = {};
const goals: Result['goals'] = [];
for (const { workload } of workloads) {
  const t21 = ratio(get(workload, 'tags', 2), get(workload, 'tags', 1));
  const l21 = ratio(get(workload, 'list', 2), get(workload, 'list', 1));
  ratios[`${workload}: tags 2/1`] = t21;
  ratios[`${workload}: list 2/1`] = l21;
  ratios[`${workload}: tags 4/1`] = ratio(get(workload, 'tags', 4), get(workload, 'tags', 1));
  ratios[`${workload}: list 4/1`] = ratio(get(workload, 'list', 4), get(workload, 'list', 1));
  ratios[`${workload}: tags/list at 2 threads`] = ratio(get(workload, 'tags', 2), get(workload, 'list', 2));
  if (workload === 'own context each') continue; // the reference, not a goal
  goals.push({ goal: `${workload}: tags 2 threads / 1 thread >= 1.6`, value: t21, met: t21 >= 1.6 });
  goals.push({ goal: `${workload}: tags 2/1 clearly above list 2/1 (by 10% or more)`, value: ratio(t21, l21), met: t21 >= 1.1 * l21 });
}

for (const { workload, depth, own } of workloads) {
  table(`${workload}: requests per second, ${own ? 'a context per thread' : 'one shared context'}, batches of ${batch}${depth ? `, ${depth} pipe reads in flight per thread, one cancelled per batch` : ''} (best of ${rounds} rounds)`,
    ['threads', 'tags', 'list', 'tags/list'],
    threadCounts.map((t) => [t, Math.round(get(workload, 'tags', t)), Math.round(get(workload, 'list', t)), `${fmt(get(workload, 'tags', t) / get(workload, 'list', t), 2)}x`]));
  console.log(`  scaling 2/1: tags ${ratios[`${workload}: tags 2/1`]}x, list ${ratios[`${workload}: list 2/1`]}x; ` +
    `4/1 (oversubscribed): tags ${ratios[`${workload}: tags 4/1`]}x, list ${ratios[`${workload}: list 4/1`]}x`);
}
printGoals(goals);

await save(opts, {
  name: 'scaling',
  command: `npm run bench:scaling${opts.quick ? ' -- --quick' : ''}`,
  machine: machine(),
  quick: opts.quick,
  params: { seconds, rounds, threadCounts, batch, workloads, context: 'one, shared by all threads (own context each: one per thread)', device: 'null device (+ one pipe per thread)' },
  rows,
  ratios,
  goals,
}, {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: 'throughput vs threads',
  data: { values: rows },
  facet: { column: { field: 'workload', type: 'nominal', title: null } },
  spec: {
    width: 220,
    height: 240,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'threads', type: 'ordinal' },
      y: { field: 'requestsPerSecond', type: 'quantitative', title: 'requests per second' },
      color: { field: 'lookup', type: 'nominal' },
    },
  },
  resolve: { scale: { y: 'independent' } },
});
