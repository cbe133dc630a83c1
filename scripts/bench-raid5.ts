/**
 * bench:raid5: a RAID5 cancel storm (S8). A RAID5 over 4 ramdisks (each
 * member write and read takes serviceTimeUs), N one-chunk writes to distinct
 * chunks submitted at once, every other one cancelled right after io_submit.
 * Under the design ('effective') against the baseline ('mark-only'), in one
 * run: how many cancelled writes touched no member (their events -ECANCELED),
 * the member operations the whole batch cost, and the latency (submit to
 * event) of the writes that were not cancelled, p50 and p99, and the time to
 * drain the batch.
 */
import { Kernel, IOCB_CMD, errno, type Iocb, type IoEvent } from 'kaio';
import { benchOptions, machine, quantile, table, printGoals, save, type Result } from './lib/bench';

const opts = benchOptions();
const N = opts.quick ? 24 : 240;
const SERVICE_US = 100;
const CHUNK = 4096;

interface Run { cancelledEvents: number; memberOps: number; memberBytes: number; p50: number; p99: number; drainMs: number }

async function storm(cancel: 'effective' | 'mark-only'): Promise<Run> {
  const k = await Kernel.boot({ cancel, memoryMiB: 64 });
  try {
    const members = [0, 1, 2, 3].map((i) => k.ramdisk(`m${i}`, { sizeBytes: 256 * CHUNK, serviceTimeUs: SERVICE_US }));
    for (const m of members) await k.device(m).ready();
    const raid = k.raid5('md0', members, { chunkBytes: CHUNK });
    await k.device(raid).ready();
    const fd = k.open(raid, 'rw');
    const ctx = k.io_setup(N + 8);
    const data = k.buffer(CHUNK);
    data.fill(0x5a);
    const ios: Iocb[] = Array.from({ length: N }, (_, i) => ({ aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: fd, aio_buf: data, aio_offset: i * CHUNK, aio_data: BigInt(i) }));
    const sent = new Float64Array(N);
    const t0 = performance.now();
    for (let i = 0; i < N; i += 8) {
      const batch = ios.slice(i, i + 8);
      const now = performance.now();
      for (let j = 0; j < batch.length; j++) sent[i + j] = now;
      if (k.io_submit(ctx, batch) !== batch.length) throw new Error('io_submit');
      for (let j = 0; j < batch.length; j += 2) k.io_cancel(ctx, batch[j]);
    }
    const evs: IoEvent[] = [];
    const lat: number[] = [];
    let cancelledEvents = 0;
    let got = 0;
    while (got < N) {
      const n = k.io_getevents(ctx, 1, N - got, evs, 30_000);
      if (n <= 0) throw new Error(`io_getevents ${n}`);
      const now = performance.now();
      for (let j = 0; j < n; j++) {
        const i = Number(evs[j].data);
        if (evs[j].res === -errno.ECANCELED) cancelledEvents++;
        else if (evs[j].res !== CHUNK) throw new Error(`write ${i}: ${evs[j].res}`);
        if (i % 2 === 1) lat.push(now - sent[i]);
      }
      got += n;
    }
    const drainMs = performance.now() - t0;
    lat.sort((a, b) => a - b);
    let memberOps = 0;
    let memberBytes = 0;
    for (const m of members) {
      const s = k.device(m).stats();
      memberOps += s.completed;
      memberBytes += s.bytes;
    }
    k.io_destroy(ctx);
    return { cancelledEvents, memberOps, memberBytes, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), drainMs };
  } finally {
    await k.shutdown();
  }
}

const eff = await storm('effective');
const mark = await storm('mark-only');
const rows: Result['rows'] = [];
for (const [mode, r] of [['effective', eff], ['mark-only', mark]] as const) {
  rows.push({ cancel: mode, what: 'cancelled writes that touched no member', value: r.cancelledEvents });
  rows.push({ cancel: mode, what: 'member operations', value: r.memberOps });
  rows.push({ cancel: mode, what: 'survivor latency p50 (ms)', value: Number(r.p50.toFixed(2)) });
  rows.push({ cancel: mode, what: 'survivor latency p99 (ms)', value: Number(r.p99.toFixed(2)) });
  rows.push({ cancel: mode, what: 'drain (ms)', value: Number(r.drainMs.toFixed(1)) });
}
const ratios = {
  'member operations mark-only/effective': Number((mark.memberOps / eff.memberOps).toFixed(2)),
  'survivor p50 mark-only/effective': Number((mark.p50 / eff.p50).toFixed(2)),
  'drain mark-only/effective': Number((mark.drainMs / eff.drainMs).toFixed(2)),
};
// A write the RAID5 thread had already started writing when its cancel came completes in full (S8).
const goals = [{ goal: `at least 90% of the ${N / 2} cancelled writes touched no member`, value: eff.cancelledEvents / (N / 2), met: eff.cancelledEvents >= 0.9 * (N / 2) }];
table(`RAID5 cancel storm: ${N} one-chunk writes, every other cancelled after io_submit, 4 members x ${SERVICE_US} us`, ['', 'effective', 'mark-only'], [
  ['cancelled writes that touched no member', eff.cancelledEvents, mark.cancelledEvents],
  ['member operations (reads + writes)', eff.memberOps, mark.memberOps],
  ['survivor latency p50, ms', eff.p50, mark.p50],
  ['survivor latency p99, ms', eff.p99, mark.p99],
  ['drain, ms', eff.drainMs, mark.drainMs],
]);
printGoals(goals);

await save(opts, {
  name: 'raid5',
  command: `npm run bench:raid5${opts.quick ? ' -- --quick' : ''}`,
  machine: machine(),
  quick: opts.quick,
  params: { writes: N, chunkBytes: CHUNK, members: 4, serviceTimeUs: SERVICE_US, cancelled: 'every other, right after io_submit' },
  rows,
  ratios,
  goals,
}, {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: `RAID5 cancel storm (${N} writes, half cancelled)`,
  width: 420,
  height: 220,
  data: { values: rows },
  mark: 'bar',
  encoding: {
    y: { field: 'what', type: 'nominal', title: null },
    yOffset: { field: 'cancel' },
    x: { field: 'value', type: 'quantitative', title: null },
    color: { field: 'cancel', type: 'nominal' },
  },
});
