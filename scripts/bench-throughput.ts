/**
 * bench:throughput: the cost per request of submit + complete + reap on a
 * null device (it completes at once, in the submitting thread, moving no
 * data), at batch sizes 1, 8, 32 and 64, on one thread.
 *
 * Variants, side by side in one run:
 *  - kaio binary: io_submit of binary iocbs (k.iocbArray, NOOPs) + io_getevents
 *                 into binary io_events (k.ioEventArray): no JS object per request;
 *                 a NOOP takes submit_noop's short path (no kiocb fields, no dispatch);
 *  - kaio binary read: the same with 4 KiB PREAD records into k.buffer() memory:
 *                 the full request path (kiocb, segments, dispatch to the null
 *                 device, aio_complete), what a real binary request costs;
 *  - kaio tags:   io_submit(batch) + io_getevents(batch), lookup 'tags';
 *  - kaio list:   the same under the 'list' baseline (ctx_lock taken at submit
 *                 and completion);
 *  - kaio promise: the idiomatic API (k.context().read), batch = promises in flight;
 *  - fs.promises: node:fs/promises FileHandle.read of the same size on /dev/null,
 *                 batch = reads in flight: the same null work (nothing moved,
 *                 completes at once) through libuv's thread pool;
 *  - plain TS:    what a Node user would write without kaio: a Map of pending
 *                 requests, each a Promise with an AbortController, completed
 *                 by the same kind of null device;
 *  - io_uring NOP / Linux AIO: the real kernel on this machine (native anchors,
 *                 scripts/native/nop-anchors.c, compiled with cc at bench time;
 *                 skipped, and said so, where there is no C compiler): raw
 *                 io_uring NOPs, and io_submit + io_getevents of page-cached
 *                 64-byte reads (they complete inline).
 * ns per request, best of rounds; kaio/native ratios from the same run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kernel, IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import { benchOptions, machine, best, bestAsync, table, printGoals, save, fmt, type Result } from './lib/bench';

const opts = benchOptions();
const N = opts.quick ? 2_000 : 300_000;
const rounds = opts.quick ? 1 : 5;
const batches = [1, 8, 32, 64];
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

async function binaryLevel(batch: number, op: 'noop' | 'read' = 'noop'): Promise<number> {
  const k = await Kernel.boot();
  try {
    const fd = k.open(k.nulldev('null'), 'rw');
    const ctx = k.io_setup(256);
    const iocbs = k.iocbArray(batch);
    const buf = k.buffer(SIZE * 64);
    for (let i = 0; i < batch; i++) {
      iocbs.set(i, op === 'noop'
        ? { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: i }
        : { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf.subarray(i * SIZE, (i + 1) * SIZE), aio_nbytes: SIZE, aio_offset: 0, aio_data: i });
    }
    const evs = k.ioEventArray(batch);
    const iterations = Math.ceil(N / batch);
    const round = (): number => {
      const t0 = performance.now();
      for (let i = 0; i < iterations; i++) {
        if (k.io_submit(ctx, iocbs, batch) !== batch) throw new Error('io_submit');
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

/** The native anchors' binary, built once per run; undefined (and why) without a compiler or Linux. */
function buildNative(): { bin?: string; file?: string; why?: string } {
  const src = new URL('../../scripts/native/nop-anchors.c', import.meta.url).pathname;
  if (os.platform() !== 'linux') return { why: 'not Linux' };
  if (!fs.existsSync(src)) return { why: 'scripts/native/nop-anchors.c not found (installed package)' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kaio-native-'));
  const bin = path.join(dir, 'nop-anchors');
  const r = spawnSync('cc', ['-O2', '-o', bin, src], { encoding: 'utf8' });
  if (r.status !== 0) return { why: r.error ? `no C compiler (${r.error.message})` : `cc failed: ${r.stderr}` };
  const file = path.join(dir, 'cached');
  fs.writeFileSync(file, Buffer.alloc(4096, 1));
  return { bin, file };
}

function native(nat: { bin?: string; file?: string }, kind: 'uring' | 'aio', batch: number): number | undefined {
  if (!nat.bin) return undefined;
  const r = spawnSync(nat.bin, [kind, String(batch), String(N), String(rounds), nat.file!], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`native ${kind} at batch ${batch} failed: ${r.stderr.trim() || r.status}`);
    return undefined;
  }
  return Number(r.stdout.trim());
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

/** fs.promises on /dev/null: FileHandle.read of SIZE bytes at position 0, `batch` in flight. */
async function fsPromises(batch: number): Promise<number> {
  const fh = await fs.promises.open('/dev/null', 'r');
  try {
    const bufs = Array.from({ length: batch }, () => Buffer.alloc(SIZE));
    const iterations = Math.ceil(N / 40 / batch); // a thread-pool round trip each: a fortieth of the requests
    const round = async (): Promise<number> => {
      const t0 = performance.now();
      for (let i = 0; i < iterations; i++) await Promise.all(bufs.map((b) => fh.read(b, 0, SIZE, 0)));
      return ((performance.now() - t0) * 1e6) / (iterations * batch);
    };
    await round();
    return await bestAsync(rounds, round);
  } finally {
    await fh.close();
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

const nat = buildNative();
if (nat.why) console.log(`native anchors skipped: ${nat.why}`);
const load0 = os.loadavg();
const rows: Result['rows'] = [];
for (const batch of batches) {
  rows.push({ variant: 'kaio binary', batch, nsPerRequest: Number((await binaryLevel(batch)).toFixed(1)) });
  rows.push({ variant: 'kaio binary read', batch, nsPerRequest: Number((await binaryLevel(batch, 'read')).toFixed(1)) });
  rows.push({ variant: 'kaio tags', batch, nsPerRequest: Number((await syscallLevel('tags', batch)).toFixed(1)) });
  rows.push({ variant: 'kaio list', batch, nsPerRequest: Number((await syscallLevel('list', batch)).toFixed(1)) });
  rows.push({ variant: 'kaio promise', batch, nsPerRequest: Number((await promiseLevel(batch)).toFixed(1)) });
  rows.push({ variant: 'fs.promises', batch, nsPerRequest: Number((await fsPromises(batch)).toFixed(1)) });
  rows.push({ variant: 'plain TS', batch, nsPerRequest: Number((await plain(batch)).toFixed(1)) });
  const u = native(nat, 'uring', batch);
  if (u !== undefined) rows.push({ variant: 'io_uring NOP', batch, nsPerRequest: u });
  const a = native(nat, 'aio', batch);
  if (a !== undefined) rows.push({ variant: 'Linux AIO', batch, nsPerRequest: a });
}
const load1 = os.loadavg();
const get = (variant: string, batch: number) => rows.find((r) => r.variant === variant && r.batch === batch)?.nsPerRequest as number | undefined ?? NaN;
const ratios: Record<string, number> = {};
const r2 = (x: number) => Number(x.toFixed(2));
for (const b of batches) {
  ratios[`plain/kaio tags at batch ${b}`] = r2(get('plain TS', b) / get('kaio tags', b));
  ratios[`list/tags at batch ${b}`] = r2(get('kaio list', b) / get('kaio tags', b));
  ratios[`plain/kaio promise at batch ${b}`] = r2(get('plain TS', b) / get('kaio promise', b));
  ratios[`fs.promises/kaio promise at batch ${b}`] = r2(get('fs.promises', b) / get('kaio promise', b));
  ratios[`tags/binary at batch ${b}`] = r2(get('kaio tags', b) / get('kaio binary', b));
  if (nat.bin) {
    ratios[`kaio binary/io_uring NOP at batch ${b}`] = r2(get('kaio binary', b) / get('io_uring NOP', b));
    ratios[`kaio binary read/io_uring NOP at batch ${b}`] = r2(get('kaio binary read', b) / get('io_uring NOP', b));
    ratios[`kaio tags/io_uring NOP at batch ${b}`] = r2(get('kaio tags', b) / get('io_uring NOP', b));
    ratios[`kaio binary/Linux AIO at batch ${b}`] = r2(get('kaio binary', b) / get('Linux AIO', b));
    ratios[`kaio tags/Linux AIO at batch ${b}`] = r2(get('kaio tags', b) / get('Linux AIO', b));
  }
}
const goals = [
  { goal: 'kaio tags, batch 64, one thread: <= 100 ns per request', value: get('kaio tags', 64), met: get('kaio tags', 64) <= 100 },
  { goal: 'plain TS / kaio tags at batch 64 >= 5', value: ratios['plain/kaio tags at batch 64'], met: ratios['plain/kaio tags at batch 64'] >= 5 },
  { goal: 'kaio binary, batch 64, one thread: <= 60 ns per request', value: get('kaio binary', 64), met: get('kaio binary', 64) <= 60 },
  ...(nat.bin ? [{ goal: 'kaio binary / io_uring NOP at batch 64 < 1 (same run)', value: ratios['kaio binary/io_uring NOP at batch 64'], met: ratios['kaio binary/io_uring NOP at batch 64'] < 1 }] : []),
];

const cols = ['kaio binary', 'kaio binary read', 'kaio tags', 'kaio list', 'kaio promise', 'fs.promises', 'plain TS', ...(nat.bin ? ['io_uring NOP', 'Linux AIO'] : [])];
table('submit + complete + reap on a null device, ns per request (best of rounds)', ['batch', ...cols, ...(nat.bin ? ['binary/uring', 'tags/uring', 'binary/aio'] : []), 'plain/kaio'],
  batches.map((b) => [b, ...cols.map((c) => get(c, b)), ...(nat.bin ? [`${fmt(get('kaio binary', b) / get('io_uring NOP', b), 2)}x`, `${fmt(get('kaio tags', b) / get('io_uring NOP', b), 2)}x`, `${fmt(get('kaio binary', b) / get('Linux AIO', b), 2)}x`] : []), `${fmt(get('plain TS', b) / get('kaio tags', b), 2)}x`]));
console.log(`load average (1 min) before / after: ${load0[0].toFixed(2)} / ${load1[0].toFixed(2)} on ${os.cpus().length} cores`);
printGoals(goals);

await save(opts, {
  name: 'throughput',
  command: `npm run bench:throughput${opts.quick ? ' -- --quick' : ''}`,
  machine: machine(),
  quick: opts.quick,
  params: {
    requests: N, rounds, batches, sizeBytes: SIZE, device: 'null device (completes inline, no data moved)', unit: 'ns per request',
    fsPromises: 'node:fs/promises FileHandle.read(buf, 0, sizeBytes, 0) on /dev/null, batch reads in flight',
    binary: 'IOCB_CMD_NOOP records in k.iocbArray, events into k.ioEventArray',
    binaryRead: '4 KiB IOCB_CMD_PREAD records into k.buffer() memory, same arrays',
    native: nat.bin ? 'scripts/native/nop-anchors.c (cc -O2): io_uring NOP via raw syscalls; Linux AIO 64-byte page-cached PREADs' : `skipped: ${nat.why}`,
    loadAverage1m: { before: Number(load0[0].toFixed(2)), after: Number(load1[0].toFixed(2)) },
  },
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
