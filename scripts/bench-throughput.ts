/**
 * bench:throughput: the cost per request of submit + complete + reap on a
 * null device (it completes at once, in the submitting thread, moving no
 * data), at batch sizes 1, 8 and 64, on one thread.
 *
 * Variants, side by side in one run:
 *  - kaio tags:   io_submit(batch) + io_getevents(batch), lookup 'tags';
 *  - kaio list:   the same under the 'list' baseline (ctx_lock taken at submit
 *                 and completion);
 *  - kaio promise: the idiomatic API (k.context().read), batch = promises in flight;
 *  - plain TS:    what a Node user would write without kaio: a Map of pending
 *                 requests, each a Promise with an AbortController, completed
 *                 by the same kind of null device.
 * ns per request, best of rounds.
 */
import { Kernel, IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import { benchOptions, machine, best, bestAsync, table, printGoals, save, fmt, type Result } from './lib/bench';

const opts = benchOptions();
const N = opts.quick ? 2_000 : 300_000;
const rounds = opts.quick ? 1 : 5;
const batches = [1, 8, 64];
const SIZE = 4096;

async function syscallLevel(lookup: 'tags' | 'list', batch: number): Promise<number> {
  const k = await Kernel.boot({ lookup });
  try {
    const fd = k.open(k.nulldev('null'), 'rw');
    const ctx = k.io_setup(256);
    const buf = k.buffer(SIZE * 64);
    const iocbs: Iocb[] = Array.from({ length: batch }, (_, i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf.subarray(i * SIZE, (i + 1) * SIZE), aio_offset: 0, aio_data: BigInt(i) }));
    const evs: IoEvent[] = [];
    const iterations = Math.ceil(N / batch);
    const round = (): number => {
      const t0 = performance.now();
      for (let i = 0; i < iterations; i++) {
        if (k.io_submit(ctx, iocbs) !== batch) throw new Error('io_submit');
        if (k.io_getevents(ctx, batch, batch, evs, 0) !== batch) throw new Error('io_getevents');
      }
      return ((performance.now() - t0) * 1e6) / (iterations * batch);
    };
    round(); // warm up
    const ns = best(rounds, round);
    k.io_destroy(ctx);
    return ns;
  } finally {
    await k.shutdown();
  }
}

async function promiseLevel(batch: number): Promise<number> {
  const k = await Kernel.boot();
  try {
    const fd = k.open(k.nulldev('null'), 'rw');
    const io = k.context({ depth: 256 });
    const buf = k.buffer(SIZE * 64);
    const views = Array.from({ length: batch }, (_, i) => buf.subarray(i * SIZE, (i + 1) * SIZE));
    const iterations = Math.ceil(N / 4 / batch); // far slower: a quarter of the requests
    const round = async (): Promise<number> => {
      const t0 = performance.now();
      for (let i = 0; i < iterations; i++) await Promise.all(views.map((v) => io.read(fd, v, 0)));
      return ((performance.now() - t0) * 1e6) / (iterations * batch);
    };
    await round();
    const ns = await bestAsync(rounds, round);
    await io.close();
    return ns;
  } finally {
    await k.shutdown();
  }
}

/** What a Node user would write: pending requests in a Map, each a Promise with an AbortController. */
class PlainNullDevice {
  submit(req: { nbytes: number; complete(res: number): void }): void {
    req.complete(req.nbytes); // completes at once, moves no data
  }
}

async function plain(batch: number): Promise<number> {
  const dev = new PlainNullDevice();
  const pending = new Map<number, { resolve(n: number): void; reject(e: unknown): void; ac: AbortController }>();
  let seq = 0;
  const read = (buf: Uint8Array): Promise<number> => {
    const id = seq++;
    const ac = new AbortController();
    const p = new Promise<number>((resolve, reject) => {
      pending.set(id, { resolve, reject, ac });
      ac.signal.addEventListener('abort', () => {
        const e = pending.get(id);
        if (e) {
          pending.delete(id);
          e.reject(ac.signal.reason);
        }
      }, { once: true });
    });
    dev.submit({
      nbytes: buf.length,
      complete: (res) => {
        const e = pending.get(id);
        if (!e) return;
        pending.delete(id);
        e.resolve(res);
      },
    });
    return p;
  };
  const bufs = Array.from({ length: batch }, () => new Uint8Array(SIZE));
  const iterations = Math.ceil(N / 4 / batch);
  const round = async (): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) await Promise.all(bufs.map((b) => read(b)));
    return ((performance.now() - t0) * 1e6) / (iterations * batch);
  };
  await round();
  return bestAsync(rounds, round);
}

const rows: Result['rows'] = [];
for (const batch of batches) {
  rows.push({ variant: 'kaio tags', batch, nsPerRequest: Number((await syscallLevel('tags', batch)).toFixed(1)) });
  rows.push({ variant: 'kaio list', batch, nsPerRequest: Number((await syscallLevel('list', batch)).toFixed(1)) });
  rows.push({ variant: 'kaio promise', batch, nsPerRequest: Number((await promiseLevel(batch)).toFixed(1)) });
  rows.push({ variant: 'plain TS', batch, nsPerRequest: Number((await plain(batch)).toFixed(1)) });
}
const get = (variant: string, batch: number) => rows.find((r) => r.variant === variant && r.batch === batch)!.nsPerRequest as number;
const ratios: Record<string, number> = {};
for (const b of batches) {
  ratios[`plain/kaio tags at batch ${b}`] = Number((get('plain TS', b) / get('kaio tags', b)).toFixed(2));
  ratios[`list/tags at batch ${b}`] = Number((get('kaio list', b) / get('kaio tags', b)).toFixed(2));
  ratios[`plain/kaio promise at batch ${b}`] = Number((get('plain TS', b) / get('kaio promise', b)).toFixed(2));
}
const goals = [
  { goal: 'kaio tags, batch 64, one thread: <= 100 ns per request', value: get('kaio tags', 64), met: get('kaio tags', 64) <= 100 },
  { goal: 'plain TS / kaio tags at batch 64 >= 5', value: ratios['plain/kaio tags at batch 64'], met: ratios['plain/kaio tags at batch 64'] >= 5 },
];

table('submit + complete + reap on a null device, ns per request (best of rounds)', ['batch', 'kaio tags', 'kaio list', 'kaio promise', 'plain TS', 'plain/kaio'],
  batches.map((b) => [b, get('kaio tags', b), get('kaio list', b), get('kaio promise', b), get('plain TS', b), `${fmt(get('plain TS', b) / get('kaio tags', b), 2)}x`]));
printGoals(goals);

await save(opts, {
  name: 'throughput',
  command: `npm run bench:throughput${opts.quick ? ' -- --quick' : ''}`,
  machine: machine(),
  quick: opts.quick,
  params: { requests: N, rounds, batches, sizeBytes: SIZE, device: 'null device (completes inline, no data moved)', unit: 'ns per request' },
  rows,
  ratios,
  goals,
}, {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: 'submit + complete + reap, ns per request (null device, one thread)',
  width: 420,
  height: 260,
  data: { values: rows },
  mark: 'bar',
  encoding: {
    x: { field: 'batch', type: 'ordinal', title: 'batch size' },
    xOffset: { field: 'variant' },
    y: { field: 'nsPerRequest', type: 'quantitative', scale: { type: 'log' }, title: 'ns per request' },
    color: { field: 'variant', type: 'nominal' },
  },
});
