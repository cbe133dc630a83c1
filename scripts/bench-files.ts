/**
 * bench:files: what cancelling a queued read of a real file saves, kaio's
 * pool (S13) against what a Node user has (fs.promises with an AbortSignal).
 *
 * Both sides get a pool of 4 threads (kaio: poolThreads 4; Node: libuv's
 * default UV_THREADPOOL_SIZE of 4) congested by 4 slow reads (32 MiB each)
 * of a real, page-cached file, then Q small reads (64 KiB) queued behind
 * them, half of which (every other one) are aborted at once, at the same
 * moment on both sides:
 *  - kaio: io.read(fd, buf, pos, { signal }): the abort is io_cancel; a
 *    queued item never runs;
 *  - Node: fh.read(buf, 0, len, pos) raced against the signal (FileHandle.read
 *    takes no signal; "aborting does not abort the OS request"): the promise
 *    settles early, the read still runs when a thread frees up.
 * Reads that reached the OS are counted from /proc/self/io (rchar: bytes the
 * process read with read(2) and friends), minus the congesting reads, over
 * the small read size; kaio's poolStats().executed agrees. Latency: from the
 * submission to the completion of each read that was not aborted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kernel } from 'kaio';
import { benchOptions, machine, quantile, table, printGoals, save, fmt, type Result } from './lib/bench';

const opts = benchOptions();
const Q = opts.quick ? 40 : 400;
const SMALL = 64 * 1024;
const BIG = (opts.quick ? 4 : 32) * 1024 * 1024;
const THREADS = 4;

function rchar(): number {
  const m = /rchar:\s+(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kaio-bench-files-'));
const file = path.join(dir, 'data');
fs.writeFileSync(file, Buffer.alloc(BIG + Q * SMALL, 7));
fs.readFileSync(file); // into the page cache

interface Side { ran: number; saved: number; p50: number; p99: number; max: number }

async function kaio(): Promise<Side & { executed: number }> {
  const k = await Kernel.boot({ poolThreads: THREADS, memoryMiB: 64 + (THREADS * BIG) / 2 ** 20 + 64 });
  try {
    const fd = k.open(file, 'r');
    const io = k.context({ depth: Q + THREADS });
    const bigs = Array.from({ length: THREADS }, () => k.buffer(BIG));
    const smalls = Array.from({ length: Q }, () => k.buffer(SMALL));
    const before = rchar();
    const exec0 = k.poolStats().executed;
    const congest = bigs.map((b) => io.read(fd, b, 0));
    const lat: number[] = [];
    const acs = smalls.map(() => new AbortController());
    const t0 = performance.now();
    const reads = smalls.map((b, i) => io.read(fd, b, BIG + i * SMALL, { signal: acs[i].signal }).then(() => { lat.push(performance.now() - t0); }, () => {}));
    await new Promise((r) => setImmediate(r)); // the batch is submitted
    for (let i = 0; i < Q; i += 2) acs[i].abort();
    await Promise.all([...congest, ...reads]);
    const ran = Math.round((rchar() - before - THREADS * BIG) / SMALL);
    await io.close();
    k.close(fd);
    lat.sort((a, b) => a - b);
    return { ran, saved: Q - (k.poolStats().executed - exec0 - THREADS), executed: k.poolStats().executed - exec0 - THREADS, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: lat[lat.length - 1] };
  } finally {
    await k.shutdown();
  }
}

async function node(): Promise<Side> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const bigs = Array.from({ length: THREADS }, () => Buffer.alloc(BIG));
    const smalls = Array.from({ length: Q }, () => Buffer.alloc(SMALL));
    const before = rchar();
    const congest = bigs.map((b) => fh.read(b, 0, BIG, 0));
    const lat: number[] = [];
    const acs = smalls.map(() => new AbortController());
    const t0 = performance.now();
    const settled: Array<Promise<unknown>> = [];
    const reads = smalls.map((b, i) => {
      const op = fh.read(b, 0, SMALL, BIG + i * SMALL);
      settled.push(op);
      const aborted = new Promise((_, rej) => acs[i].signal.addEventListener('abort', () => rej(acs[i].signal.reason), { once: true }));
      return Promise.race([op, aborted]).then(() => { lat.push(performance.now() - t0); }, () => {});
    });
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < Q; i += 2) acs[i].abort();
    await Promise.all([...congest, ...reads, ...settled]); // the OS reads themselves
    const ran = Math.round((rchar() - before - THREADS * BIG) / SMALL);
    lat.sort((a, b) => a - b);
    return { ran, saved: Q / 2 - (ran - Q / 2), p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: lat[lat.length - 1] };
  } finally {
    await fh.close();
  }
}

try {
  const a = await kaio();
  const b = await node();
  const rows = [
    { side: 'kaio (io.read + signal, pool of 4)', queued: Q, aborted: Q / 2, ranAtOS: a.ran, savedReads: a.saved, p50Ms: a.p50, p99Ms: a.p99, maxMs: a.max },
    { side: 'node (fh.read raced with signal, libuv pool of 4)', queued: Q, aborted: Q / 2, ranAtOS: b.ran, savedReads: b.saved, p50Ms: b.p50, p99Ms: b.p99, maxMs: b.max },
  ];
  table(`bench:files: ${THREADS} congesting ${BIG >> 20} MiB reads, then ${Q} reads of ${SMALL >> 10} KiB, every other one aborted at once`,
    ['side', 'reads that reached the OS', 'aborted reads saved', 'p50 ms', 'p99 ms', 'max ms'],
    rows.map((r) => [r.side, r.ranAtOS, r.savedReads, fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.maxMs, 2)]));
  console.log(`  kaio poolStats().executed (small reads): ${a.executed}`);
  const goals = [
    { goal: 'kaio: no aborted queued read ran (poolStats().executed = reads not aborted)', value: a.executed, met: a.executed === Q / 2 },
  ];
  printGoals(goals);
  const result: Result = {
    name: 'files', command: 'npm run bench:files', machine: machine(), quick: opts.quick,
    params: { threads: THREADS, bigBytes: BIG, queued: Q, smallBytes: SMALL, aborted: Q / 2 },
    rows, ratios: { kaioSaved: a.saved, nodeSaved: b.saved, kaioExecuted: a.executed }, goals,
  };
  await save(opts, result, {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Aborted queued reads that still reached the OS',
    data: { values: rows.map((r) => ({ side: r.side, reads: r.ranAtOS - Q / 2 })) },
    mark: 'bar',
    encoding: { x: { field: 'side', type: 'nominal', axis: { labelAngle: 0 } }, y: { field: 'reads', type: 'quantitative', title: 'aborted reads that ran' } },
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
