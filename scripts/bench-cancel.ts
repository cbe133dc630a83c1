/**
 * bench:cancel: the cost of io_cancel itself, and of a whole submit, cancel,
 * reap cycle.
 *
 *  - first cancel: a request waiting in a paused ramdisk's queue, under the
 *    design ('effective'): lookup, the compare-and-swap that marks it, and the
 *    kick that makes the device thread drop it (an atomic add; a wake at most
 *    once per device scan);
 *  - again: the same request cancelled again before its event is out
 *    (-EINPROGRESS: lookup and a state check);
 *  - too late: a request that has completed (-EINVAL: lookup, generation mismatch);
 *  - cycle: submit a batch of 64 reads to the paused ramdisk, cancel them all,
 *    reap the 64 -ECANCELED events (the device thread drops them on the kick):
 *    per request, tags vs list.
 *  - against queue depth (S6, issue 9): with D requests queued on a paused
 *    ramdisk (256 .. 64K), cancel 256 of them spread over the queue: the first
 *    io_cancel's cost, the 256 cancels' cost, and the time from the first
 *    cancel until all 256 -ECANCELED events are reaped. Each cancel unlinks
 *    its request's own bios, so all three should not grow with D.
 * ns per call (or per request), best of rounds (the depth sweep: median).
 */
import { Kernel, IOCB_CMD, errno, type Iocb, type IoEvent } from 'kaio';
import { benchOptions, machine, best, table, printGoals, save, type Result } from './lib/bench';

const opts = benchOptions();
const rounds = opts.quick ? 1 : 5;
const N = opts.quick ? 512 : 16_384;

async function calls(lookup: 'tags' | 'list'): Promise<{ first: number; again: number; late: number; cycle: number }> {
  const k = await Kernel.boot({ lookup });
  try {
    const path = k.ramdisk('q', { sizeBytes: 1 << 20, serviceTimeUs: 0 });
    const fd = k.open(path, 'r');
    const dev = k.device(path);
    const ctx = k.io_setup(N);
    const bytes = k.buffer(N);
    const iocbs: Iocb[] = Array.from({ length: N }, (_, i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: bytes.subarray(i, i + 1), aio_offset: i }));
    const evs: IoEvent[] = [];
    const submitAll = () => {
      for (let i = 0; i < N; i += 512) if (k.io_submit(ctx, iocbs.slice(i, i + 512)) !== Math.min(512, N - i)) throw new Error('io_submit');
    };
    const reapAll = () => {
      let got = 0;
      while (got < N) {
        const n = k.io_getevents(ctx, 1, N - got, evs, 10_000);
        if (n <= 0) throw new Error(`io_getevents ${n}`);
        got += n;
      }
    };
    let first = Infinity;
    let again = Infinity;
    for (let r = 0; r < rounds + 1; r++) {
      dev.pause();
      submitAll();
      let t0 = performance.now();
      for (let i = 0; i < N; i++) if (k.io_cancel(ctx, iocbs[i]) !== -errno.EINPROGRESS) throw new Error('first cancel');
      const f = ((performance.now() - t0) * 1e6) / N;
      // Some are still queued or on their way out: cancel again what we can (-EINPROGRESS or -EINVAL).
      t0 = performance.now();
      for (let i = 0; i < N; i++) k.io_cancel(ctx, iocbs[i]);
      const a = ((performance.now() - t0) * 1e6) / N;
      dev.resume();
      reapAll();
      if (r > 0) { // round 0 warms up
        first = Math.min(first, f);
        again = Math.min(again, a);
      }
    }
    const late = best(rounds, () => {
      const t0 = performance.now();
      for (let i = 0; i < N; i++) if (k.io_cancel(ctx, iocbs[i]) !== -errno.EINVAL) throw new Error('late cancel');
      return ((performance.now() - t0) * 1e6) / N;
    });
    // The whole cycle, in batches of 64.
    const B = 64;
    const cycle = best(rounds, () => {
      dev.pause();
      const t0 = performance.now();
      for (let i = 0; i < N; i += B) {
        const batch = iocbs.slice(i, i + B);
        if (k.io_submit(ctx, batch) !== batch.length) throw new Error('cycle submit');
        for (const c of batch) k.io_cancel(ctx, c);
        let got = 0;
        while (got < batch.length) got += Math.max(0, k.io_getevents(ctx, 1, batch.length - got, evs, 10_000));
      }
      const ns = ((performance.now() - t0) * 1e6) / N;
      dev.resume();
      return ns;
    });
    k.io_destroy(ctx);
    return { first, again, late, cycle };
  } finally {
    await k.shutdown();
  }
}

/** The depth sweep: one kernel per depth, device paused, 256 cancels spread over the queue. */
async function sweep(depth: number): Promise<{ first: number; second: number; cancels: number; toEvents: number; adjacent: number }> {
  const C = 256;
  const k = await Kernel.boot({ memoryMiB: 512, aioMaxNr: 1 << 20 });
  try {
    const path = k.ramdisk('q', { sizeBytes: 1 << 20, serviceTimeUs: 0 });
    await k.device(path).ready();
    const fd = k.open(path, 'r');
    const dev = k.device(path);
    const ctx = k.io_setup(depth);
    const bytes = k.buffer(4096);
    const iocbs: Iocb[] = Array.from({ length: depth }, (_, i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: bytes.subarray(i & 4095, (i & 4095) + 1), aio_offset: i & 0xfffff, aio_data: BigInt(i) }));
    const evs: IoEvent[] = [];
    const step = depth / C;
    const firsts: number[] = [];
    const all: number[] = [];
    const events: number[] = [];
    const adjacent: number[] = [];
    // The second cancel alone: the first one after a submit burst also pays for
    // what the burst left behind (a young-generation collection, cold code
    // paths), whatever the depth.
    const seconds: number[] = [];
    const R = opts.quick ? 1 : 7;
    for (let r = 0; r < R + 1; r++) {
      // The same work on 256 neighbours (ids 0..255): what is left of the
      // spread figure's growth is the cache and TLB misses of touching 256
      // kiocbs (and iocb objects) scattered over the queue, not more work.
      dev.pause();
      for (let i = 0; i < depth; i += 512) if (k.io_submit(ctx, iocbs.slice(i, i + 512)) !== Math.min(512, depth - i)) throw new Error('io_submit');
      const a0 = performance.now();
      for (let c = 0; c < C; c++) if (k.io_cancel(ctx, iocbs[c]) !== -errno.EINPROGRESS) throw new Error('cancel');
      if (r > 0) adjacent.push(((performance.now() - a0) * 1e6) / C);
      dev.resume();
      for (let got = 0; got < depth;) got += Math.max(0, k.io_getevents(ctx, 1, depth - got, evs, 10_000));
      dev.pause();
      for (let i = 0; i < depth; i += 512) if (k.io_submit(ctx, iocbs.slice(i, i + 512)) !== Math.min(512, depth - i)) throw new Error('io_submit');
      const t0 = performance.now();
      if (k.io_cancel(ctx, iocbs[0]) !== -errno.EINPROGRESS) throw new Error('first cancel');
      const t1 = performance.now();
      if (k.io_cancel(ctx, iocbs[step]) !== -errno.EINPROGRESS) throw new Error('second cancel');
      const t1b = performance.now();
      for (let c = 2; c < C; c++) if (k.io_cancel(ctx, iocbs[c * step]) !== -errno.EINPROGRESS) throw new Error('cancel');
      const t2 = performance.now();
      let got = 0;
      while (got < C) {
        const n = k.io_getevents(ctx, 1, C - got, evs, 10_000);
        if (n <= 0) throw new Error(`io_getevents ${n}`);
        for (let j = 0; j < n; j++) if (evs[j].res !== -errno.ECANCELED) throw new Error(`event ${evs[j].data}: ${evs[j].res} (device paused: only cancelled ones may complete)`);
        got += n;
      }
      const t3 = performance.now();
      dev.resume();
      let rest = 0;
      while (rest < depth - C) rest += Math.max(0, k.io_getevents(ctx, 1, depth - C - rest, evs, 10_000));
      if (r > 0) { // round 0 warms up
        firsts.push((t1 - t0) * 1e6);
        seconds.push((t1b - t1) * 1e6);
        all.push(((t2 - t0) * 1e6) / C);
        events.push((t3 - t0) * 1e3);
      }
    }
    const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1];
    k.io_destroy(ctx);
    return { first: med(firsts), second: med(seconds), cancels: med(all), toEvents: med(events), adjacent: med(adjacent) };
  } finally {
    await k.shutdown();
  }
}

const DEPTHS = opts.quick ? [256, 1024] : [256, 1024, 4096, 16384, 65536];
const sw: Array<{ depth: number; first: number; second: number; cancels: number; toEvents: number; adjacent: number }> = [];
await sweep(DEPTHS[0]); // warm-up: the first kernel of the run also compiles the JS paths
for (const d of DEPTHS) sw.push({ depth: d, ...(await sweep(d)) });

const tags = await calls('tags');
const list = await calls('list');
const rows: Result['rows'] = [];
for (const [name, r] of [['tags', tags], ['list', list]] as const) {
  rows.push({ lookup: name, what: 'first cancel (queued)', ns: Number(r.first.toFixed(1)) });
  rows.push({ lookup: name, what: 'cancel again (-EINPROGRESS)', ns: Number(r.again.toFixed(1)) });
  rows.push({ lookup: name, what: 'cancel too late (-EINVAL)', ns: Number(r.late.toFixed(1)) });
  rows.push({ lookup: name, what: 'submit + cancel + reap, per request', ns: Number(r.cycle.toFixed(1)) });
}
const ratios: Record<string, number> = {
  'list/tags first cancel': Number((list.first / tags.first).toFixed(2)),
  'list/tags cycle': Number((list.cycle / tags.cycle).toFixed(2)),
};
const lo = sw[0];
const hi = sw[sw.length - 1];
ratios[`first cancel ${hi.depth}/${lo.depth} queued`] = Number((hi.first / lo.first).toFixed(2));
ratios[`second cancel ${hi.depth}/${lo.depth} queued`] = Number((hi.second / lo.second).toFixed(2));
ratios[`256 cancels ${hi.depth}/${lo.depth} queued`] = Number((hi.cancels / lo.cancels).toFixed(2));
ratios[`cancel-to-events ${hi.depth}/${lo.depth} queued`] = Number((hi.toEvents / lo.toEvents).toFixed(2));
for (const r of sw) {
  rows.push({ lookup: 'tags', what: `depth ${r.depth}: first cancel`, ns: Number(r.first.toFixed(0)) });
  rows.push({ lookup: 'tags', what: `depth ${r.depth}: second cancel`, ns: Number(r.second.toFixed(0)) });
  rows.push({ lookup: 'tags', what: `depth ${r.depth}: per cancel (256)`, ns: Number(r.cancels.toFixed(1)) });
  rows.push({ lookup: 'tags', what: `depth ${r.depth}: first cancel to 256 events reaped (us)`, ns: Number(r.toEvents.toFixed(1)) });
  rows.push({ lookup: 'tags', what: `depth ${r.depth}: per cancel, 256 adjacent`, ns: Number(r.adjacent.toFixed(1)) });
}
const goals = [
  { goal: 'io_cancel (first, tags) <= 200 ns', value: tags.first, met: tags.first <= 200 },
  { goal: `first cancel flat: ${hi.depth} queued within 1.5x of ${lo.depth}`, value: hi.first / lo.first, met: hi.first / lo.first <= 1.5 },
  { goal: `cancel-to-events flat: ${hi.depth} queued within 1.5x of ${lo.depth}`, value: hi.toEvents / lo.toEvents, met: hi.toEvents / lo.toEvents <= 1.5 },
];
table('256 cancels against queue depth (device paused, effective, tags), median of rounds', ['depth', 'first cancel ns', 'second cancel ns', 'per cancel ns', 'first cancel to 256 events us', 'per cancel ns, 256 adjacent'],
  sw.map((r) => [String(r.depth), r.first, r.second, r.cancels, r.toEvents, r.adjacent]));
table(`io_cancel with ${N} requests queued, ns (best of rounds)`, ['', 'tags', 'list'], [
  ['first cancel (marks, kicks the queue)', tags.first, list.first],
  ['cancel again (-EINPROGRESS)', tags.again, list.again],
  ['cancel too late (-EINVAL)', tags.late, list.late],
  ['submit + cancel + reap, per request (batch 64)', tags.cycle, list.cycle],
]);
printGoals(goals);

await save(opts, {
  name: 'cancel',
  command: `npm run bench:cancel${opts.quick ? ' -- --quick' : ''}`,
  machine: machine(),
  quick: opts.quick,
  params: { requests: N, rounds, cancel: 'effective', device: 'ramdisk, paused while cancelling', unit: 'ns' },
  rows,
  ratios,
  goals,
}, {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: `io_cancel cost (${N} requests queued)`,
  width: 420,
  height: 220,
  data: { values: rows },
  mark: 'bar',
  encoding: {
    y: { field: 'what', type: 'nominal', title: null },
    yOffset: { field: 'lookup' },
    x: { field: 'ns', type: 'quantitative', scale: { type: 'log' }, title: 'ns' },
    color: { field: 'lookup', type: 'nominal' },
  },
});
