/**
 * bench:files: what cancelling a queued read of a real file saves, kaio's
 * pool (S13) against what a Node user has (fs.promises with an AbortSignal).
 *
 * Both sides get a pool of 4 threads (kaio: poolThreads 4; Node: libuv's
 * default UV_THREADPOOL_SIZE of 4). Each of the 4 threads is held by a slow
 * read: a read of a FIFO (a real file that has no data yet). Behind them, Q
 * reads of 64 KiB of a page-cached regular file are queued, and every other
 * one is aborted at once, at the same moment on both sides:
 *  - kaio: io.read(fd, buf, pos, { signal }): the abort is io_cancel; a
 *    queued item never runs;
 *  - Node: fh.read(buf, 0, len, pos) raced against the signal (FileHandle.read
 *    takes no signal; "aborting does not abort the OS request"): the promise
 *    settles early, the read still runs when a thread frees up.
 * Then one byte is written to each FIFO, which frees the threads.
 *
 * The congestion is a FIFO wait, not a large read, because a large read's
 * duration depends on memory: with warm buffers, 4 reads of 32 MiB end before
 * the aborts of 400 reads are even issued (so nothing is left to abort), and
 * with fresh buffers they last as long as faulting their pages in takes,
 * several times longer in kaio's shared memory than in Node's private memory.
 *
 * Reads that reached the OS are counted from /proc/self/io (rchar: bytes the
 * process read with read(2) and friends), minus the 4 FIFO bytes, over the
 * small read size; kaio's poolStats().executed agrees. Latency: from the
 * release of the FIFOs to the completion of each read that was not aborted
 * (a kaio pool thread sees FIFO data within its back-off, 50 us doubling to
 * 10 ms; libuv's thread is blocked in read(2) and wakes at once).
 *
 * Each side runs with fresh buffers (first touched by the reads themselves)
 * and with warm ones (written once before the clock starts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Kernel } from 'kaio';
import { benchOptions, machine, quantile, table, printGoals, save, fmt, type Result } from './lib/bench';

const opts = benchOptions();
const Q = opts.quick ? 40 : 400;
const SMALL = 64 * 1024;
const THREADS = 4;

function rchar(): number {
  const m = /rchar:\s+(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kaio-bench-files-'));
const file = path.join(dir, 'data');
fs.writeFileSync(file, Buffer.alloc(Q * SMALL, 7));
fs.readFileSync(file); // into the page cache
let fifoSeq = 0;
/** THREADS fresh FIFOs, each with a writer that keeps it open. */
function fifos(): Array<{ path: string; writer: number }> {
  return Array.from({ length: THREADS }, () => {
    const p = path.join(dir, `fifo${fifoSeq++}`);
    execFileSync('mkfifo', [p]);
    return { path: p, writer: fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_NONBLOCK) };
  });
}
function release(fs4: Array<{ writer: number }>): void {
  for (const f of fs4) fs.writeSync(f.writer, Buffer.from('x'));
}

interface Side { ran: number; saved: number; p50: number; p99: number; max: number }

/** Write every buffer once, so that the reads do not fault their pages in. */
function warm(bufs: Uint8Array[]): void {
  for (const b of bufs) b.fill(1);
}

async function kaio(touch: boolean): Promise<Side & { executed: number }> {
  const k = await Kernel.boot({ poolThreads: THREADS, memoryMiB: 64 + Math.ceil((Q * SMALL) / 2 ** 20) });
  const holds = fifos();
  try {
    const fd = k.open(file, 'r');
    const hfds = holds.map((h) => k.open(h.path, 'r'));
    const io = k.context({ depth: Q + THREADS });
    const smalls = Array.from({ length: Q }, () => k.buffer(SMALL));
    const ones = holds.map(() => k.buffer(1));
    if (touch) warm([...smalls, ...ones]);
    const before = rchar();
    const exec0 = k.poolStats().executed;
    const congest = hfds.map((h, i) => io.read(h, ones[i]));
    // Every pool thread is in its FIFO wait before the small reads queue behind them.
    while (k.poolStats().running < THREADS) await new Promise((r) => setImmediate(r));
    const lat: number[] = [];
    const acs = smalls.map(() => new AbortController());
    let t0 = 0;
    const reads = smalls.map((b, i) => io.read(fd, b, i * SMALL, { signal: acs[i].signal }).then(() => { lat.push(performance.now() - t0); }, () => {}));
    await new Promise((r) => setImmediate(r)); // the batch is submitted
    for (let i = 0; i < Q; i += 2) acs[i].abort();
    t0 = performance.now();
    release(holds);
    await Promise.all([...congest, ...reads]);
    const ran = Math.round((rchar() - before - THREADS) / SMALL);
    const executed = k.poolStats().executed - exec0 - THREADS;
    await io.close();
    lat.sort((a, b) => a - b);
    return { ran, saved: Q - executed, executed, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: lat[lat.length - 1] };
  } finally {
    await k.shutdown();
    for (const h of holds) fs.closeSync(h.writer);
  }
}

async function node(touch: boolean): Promise<Side> {
  const holds = fifos();
  const fh = await fs.promises.open(file, 'r');
  // O_RDWR: a FIFO opens without waiting for a writer, and a read blocks its libuv thread until data.
  const hfhs = await Promise.all(holds.map((h) => fs.promises.open(h.path, 'r+')));
  try {
    const smalls = Array.from({ length: Q }, () => Buffer.alloc(SMALL));
    const ones = holds.map(() => Buffer.alloc(1));
    if (touch) warm([...smalls, ...ones]);
    const before = rchar();
    const congest = hfhs.map((h, i) => h.read(ones[i], 0, 1, null));
    const lat: number[] = [];
    const acs = smalls.map(() => new AbortController());
    let t0 = 0;
    const settled: Array<Promise<unknown>> = [];
    const reads = smalls.map((b, i) => {
      const op = fh.read(b, 0, SMALL, i * SMALL);
      settled.push(op);
      const aborted = new Promise((_, rej) => acs[i].signal.addEventListener('abort', () => rej(acs[i].signal.reason), { once: true }));
      return Promise.race([op, aborted]).then(() => { lat.push(performance.now() - t0); }, () => {});
    });
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < Q; i += 2) acs[i].abort();
    t0 = performance.now();
    release(holds);
    await Promise.all([...congest, ...reads, ...settled]); // the OS reads themselves
    const ran = Math.round((rchar() - before - THREADS) / SMALL);
    lat.sort((a, b) => a - b);
    return { ran, saved: Q / 2 - (ran - Q / 2), p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: lat[lat.length - 1] };
  } finally {
    await fh.close();
    for (const h of hfhs) await h.close();
    for (const h of holds) fs.closeSync(h.writer);
  }
}

try {
  const runs: Array<{ buffers: string; a: Side & { executed: number }; b: Side }> = [];
  for (const touch of [false, true]) {
    const a = await kaio(touch);
    const b = await node(touch);
    runs.push({ buffers: touch ? 'warm' : 'fresh', a, b });
  }
  const rows = runs.flatMap(({ buffers, a, b }) => [
    { side: 'kaio (io.read + signal, pool of 4)', buffers, queued: Q, aborted: Q / 2, ranAtOS: a.ran, savedReads: a.saved, p50Ms: a.p50, p99Ms: a.p99, maxMs: a.max },
    { side: 'node (fh.read raced with signal, libuv pool of 4)', buffers, queued: Q, aborted: Q / 2, ranAtOS: b.ran, savedReads: b.saved, p50Ms: b.p50, p99Ms: b.p99, maxMs: b.max },
  ]);
  table(`bench:files: ${THREADS} threads held by FIFO reads, ${Q} reads of ${SMALL >> 10} KiB queued behind them, every other one aborted at once`,
    ['side', 'buffers', 'reads that reached the OS', 'aborted reads saved', 'p50 ms', 'p99 ms', 'max ms'],
    rows.map((r) => [r.side, r.buffers, r.ranAtOS, r.savedReads, fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.maxMs, 2)]));
  for (const { buffers, a, b } of runs) {
    console.log(`  ${buffers} buffers: kaio poolStats().executed (small reads) ${a.executed}; latency after release, kaio/node: p50 ${fmt(a.p50 / b.p50, 2)}x, max ${fmt(a.max / b.max, 2)}x`);
  }
  const goals = runs.map(({ buffers, a }) => (
    { goal: `kaio, ${buffers} buffers: no aborted queued read ran (poolStats().executed = reads not aborted)`, value: a.executed, met: a.executed === Q / 2 }));
  printGoals(goals);
  const result: Result = {
    name: 'files', command: 'npm run bench:files', machine: machine(), quick: opts.quick,
    params: { threads: THREADS, congestion: 'one FIFO read per thread, released after the aborts', queued: Q, smallBytes: SMALL, aborted: Q / 2 },
    rows,
    ratios: Object.fromEntries(runs.flatMap(({ buffers, a, b }) => [
      [`${buffers}KaioSaved`, a.saved], [`${buffers}NodeSaved`, b.saved], [`${buffers}KaioExecuted`, a.executed],
      [`${buffers}P50KaioOverNode`, +(a.p50 / b.p50).toFixed(3)], [`${buffers}MaxKaioOverNode`, +(a.max / b.max).toFixed(3)],
    ])),
    goals,
  };
  await save(opts, result, {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Aborted queued reads that still reached the OS',
    data: { values: rows.map((r) => ({ side: r.side, buffers: r.buffers, reads: r.ranAtOS - Q / 2 })) },
    mark: 'bar',
    encoding: { x: { field: 'side', type: 'nominal', axis: { labelAngle: 0 } }, xOffset: { field: 'buffers' }, color: { field: 'buffers', type: 'nominal' }, y: { field: 'reads', type: 'quantitative', title: 'aborted reads that ran' } },
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
