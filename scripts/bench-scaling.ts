/**
 * bench:scaling: requests per second with 1, 2 and 4 threads (on this 2-core
 * machine) submitting to and reaping from ONE shared context on a null
 * device, tags vs list. Under 'list' every submit and completion takes the
 * context's ctx_lock, shared by all cpus; under 'tags' nothing on that path
 * is shared but the ring.
 */
import { Worker } from 'node:worker_threads';
import { Kernel } from 'kaio';
import { benchOptions, machine, table, printGoals, save, fmt, type Result } from './lib/bench';

const opts = benchOptions();
const seconds = opts.quick ? 0.2 : 1.5;
const threadCounts = [1, 2, 4];
const rounds = opts.quick ? 1 : 3;

async function run(lookup: 'tags' | 'list', threads: number): Promise<number> {
  const k = await Kernel.boot({ lookup });
  try {
    const path = k.nulldev('null');
    const ctx = k.io_setup(1024);
    const sab = new SharedArrayBuffer(64 * 4);
    const ctl = new Int32Array(sab);
    const ws = Array.from({ length: threads }, (_, index) =>
      new Worker(new URL('./bench-scaling-worker.js', import.meta.url), { workerData: { handle: k.handle, ctx, path, sab, index } }));
    const exits = ws.map((w) => new Promise((r) => w.once('exit', r)));
    while (Atomics.load(ctl, 2) < threads) await new Promise((r) => setTimeout(r, 5));
    const t0 = performance.now();
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    Atomics.store(ctl, 1, 1);
    await Promise.all(exits);
    const elapsed = (performance.now() - t0) / 1000;
    let reaped = 0;
    for (let i = 0; i < threads; i++) reaped += ctl[8 + i];
    k.io_destroy(ctx);
    return reaped / elapsed;
  } finally {
    await k.shutdown();
  }
}

const rows: Result['rows'] = [];
for (const threads of threadCounts) {
  for (const lookup of ['tags', 'list'] as const) {
    let bestRate = 0;
    for (let r = 0; r < rounds; r++) bestRate = Math.max(bestRate, await run(lookup, threads));
    rows.push({ lookup, threads, requestsPerSecond: Math.round(bestRate) });
  }
}
const get = (lookup: string, t: number) => rows.find((r) => r.lookup === lookup && r.threads === t)!.requestsPerSecond as number;
const ratios = {
  'tags 2/1': Number((get('tags', 2) / get('tags', 1)).toFixed(2)),
  'list 2/1': Number((get('list', 2) / get('list', 1)).toFixed(2)),
  'tags 4/1': Number((get('tags', 4) / get('tags', 1)).toFixed(2)),
  'list 4/1': Number((get('list', 4) / get('list', 1)).toFixed(2)),
  'tags/list at 2 threads': Number((get('tags', 2) / get('list', 2)).toFixed(2)),
};
const goals = [
  { goal: 'tags: 2 threads / 1 thread >= 1.6', value: ratios['tags 2/1'], met: ratios['tags 2/1'] >= 1.6 },
  { goal: 'tags 2/1 clearly above list 2/1 (by 10% or more)', value: ratios['tags 2/1'] / ratios['list 2/1'], met: ratios['tags 2/1'] >= 1.1 * ratios['list 2/1'] },
];
table('requests per second, one shared context, null device, batches of 8 (best of rounds)', ['threads', 'tags', 'list', 'tags/list'],
  threadCounts.map((t) => [t, get('tags', t), get('list', t), `${fmt(get('tags', t) / get('list', t), 2)}x`]));
console.log(`\n  scaling 2/1: tags ${ratios['tags 2/1']}x, list ${ratios['list 2/1']}x; 4/1 (oversubscribed): tags ${ratios['tags 4/1']}x, list ${ratios['list 4/1']}x`);
printGoals(goals);

await save(opts, {
  name: 'scaling',
  command: `npm run bench:scaling${opts.quick ? ' -- --quick' : ''}`,
  machine: machine(),
  quick: opts.quick,
  params: { seconds, rounds, threadCounts, batch: 8, context: 'one, shared by all threads', device: 'null device' },
  rows,
  ratios,
  goals,
}, {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: 'throughput vs threads (one shared context)',
  width: 420,
  height: 260,
  data: { values: rows },
  mark: { type: 'line', point: true },
  encoding: {
    x: { field: 'threads', type: 'ordinal' },
    y: { field: 'requestsPerSecond', type: 'quantitative', title: 'requests per second' },
    color: { field: 'lookup', type: 'nominal' },
  },
});
