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
 * ns per call (or per request), best of rounds.
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

const tags = await calls('tags');
const list = await calls('list');
const rows: Result['rows'] = [];
for (const [name, r] of [['tags', tags], ['list', list]] as const) {
  rows.push({ lookup: name, what: 'first cancel (queued)', ns: Number(r.first.toFixed(1)) });
  rows.push({ lookup: name, what: 'cancel again (-EINPROGRESS)', ns: Number(r.again.toFixed(1)) });
  rows.push({ lookup: name, what: 'cancel too late (-EINVAL)', ns: Number(r.late.toFixed(1)) });
  rows.push({ lookup: name, what: 'submit + cancel + reap, per request', ns: Number(r.cycle.toFixed(1)) });
}
const ratios = {
  'list/tags first cancel': Number((list.first / tags.first).toFixed(2)),
  'list/tags cycle': Number((list.cycle / tags.cycle).toFixed(2)),
};
const goals = [{ goal: 'io_cancel (first, tags) <= 200 ns', value: tags.first, met: tags.first <= 200 }];
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
