/**
 * bench:lookup: what io_cancel costs to find and mark a request, against how
 * many are in flight (16 .. 64K), tags (the patch: O(1) by id) vs list (before
 * it: walk the in-flight list under ctx_lock).
 *
 * Method: requests wait in a paused ramdisk's queue; the kernel runs
 * 'mark-only', so a cancel marks but never removes anything and the depth
 * stays put while we measure. Each call cancels a request picked at random
 * (fixed seed), or in submission order; after the first round every cancel
 * finds a request already marked and returns -EINPROGRESS: a lookup plus a
 * state check, which is the cost in question. ns per call, best of 7 rounds.
 */
import { benchOptions, machine, table, printGoals, save, fmt, type Result } from './lib/bench';
import { cancelLookupCost } from './lib/workloads';

const opts = benchOptions();
const depths = opts.quick ? [16, 256] : [16, 256, 4096, 16384, 65536];
const rounds = opts.quick ? 1 : 7;

async function measure(lookup: 'tags' | 'list', depth: number, order: 'random' | 'sequential'): Promise<number> {
  // Enough calls to take tens of milliseconds whatever the cost.
  const calls = Math.max(200, Math.min(200_000, Math.floor(2e7 / (lookup === 'list' ? depth * 3 + 100 : 100))));
  return cancelLookupCost(lookup, depth, { calls, rounds, order });
}

const rows: Result['rows'] = [];
for (const order of ['random', 'sequential'] as const) {
  for (const depth of depths) {
    for (const lookup of ['tags', 'list'] as const) {
      rows.push({ order, depth, lookup, nsPerCancel: Number((await measure(lookup, depth, order)).toFixed(1)) });
    }
  }
}
const get = (order: string, depth: number, lookup: string) => rows.find((r) => r.order === order && r.depth === depth && r.lookup === lookup)!.nsPerCancel as number;
const ratios: Record<string, number> = {};
for (const d of depths) ratios[`list/tags at ${d} (random)`] = Number((get('random', d, 'list') / get('random', d, 'tags')).toFixed(1));
const top = depths[depths.length - 1];
const goals = [
  { goal: `tags at ${top} in flight <= 150 ns (random)`, value: get('random', top, 'tags'), met: get('random', top, 'tags') <= 150 },
  { goal: `list/tags at ${top} >= 1000 (random)`, value: ratios[`list/tags at ${top} (random)`], met: ratios[`list/tags at ${top} (random)`] >= 1000 },
  { goal: `tags at ${top} within 1.5x of tags at 16 (random)`, value: get('random', top, 'tags') / get('random', 16, 'tags'), met: get('random', top, 'tags') / get('random', 16, 'tags') <= 1.5 },
  { goal: `tags at ${top} within 1.5x of tags at 16 (sequential)`, value: get('sequential', top, 'tags') / get('sequential', 16, 'tags'), met: get('sequential', top, 'tags') / get('sequential', 16, 'tags') <= 1.5 },
];

table('io_cancel lookup + mark, ns per call (best of rounds)', ['in flight', 'tags random', 'list random', 'list/tags', 'tags sequential', 'list sequential'],
  depths.map((d) => [d, get('random', d, 'tags'), get('random', d, 'list'), `${fmt(get('random', d, 'list') / get('random', d, 'tags'))}x`, get('sequential', d, 'tags'), get('sequential', d, 'list')]));
printGoals(goals);

await save(opts, {
  name: 'lookup',
  command: `npm run bench:lookup${opts.quick ? ' -- --quick' : ''}`,
  machine: machine(),
  quick: opts.quick,
  params: { depths, rounds, mode: 'mark-only, paused ramdisk', unit: 'ns per io_cancel' },
  rows,
  ratios,
  goals,
}, {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: 'io_cancel lookup + mark vs requests in flight',
  width: 420,
  height: 260,
  data: { values: rows },
  mark: { type: 'line', point: true },
  encoding: {
    x: { field: 'depth', type: 'quantitative', scale: { type: 'log' }, title: 'requests in flight' },
    y: { field: 'nsPerCancel', type: 'quantitative', scale: { type: 'log' }, title: 'ns per io_cancel' },
    color: { field: 'lookup', type: 'nominal' },
    strokeDash: { field: 'order', type: 'nominal' },
  },
});
