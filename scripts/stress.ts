/**
 * npm run stress -- --threads N --seconds S --cancel-ratio R --lookup tags|list --depth D
 *
 * N worker threads attach to one kernel and, for S seconds, submit to shared
 * contexts on a ramdisk and pipes, cancel each other's requests by key at
 * random, reap from several threads, and destroy and recreate contexts now
 * and then. Live progress on stderr; a summary at the end that checks:
 *
 *   1. exactly one event per submitted request (or it died with its ring in
 *      io_destroy: the kernel counts those, and the counts must match);
 *   2. res is -ECANCELED only where a cancel was asked;
 *   3. no request a cancel could not reach lost its result (every other
 *      event carries what its request must produce), and every disk read
 *      returned the disk's bytes (reads go to a half of the disk that holds a
 *      known pattern and that no write touches);
 *   4. afterwards every tag is free, every ring slot is whole, aio_nr is 0;
 *   5. no thread stalled longer than --stall-ms.
 *
 * Exits 1 if any fails. --json prints the summary as JSON on stdout.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import cliProgress from 'cli-progress';
import { Kernel, type IoEvent } from 'kaio';
import {
  Shared, type StressConfig, COUNTERS, C_HEARTBEAT, C_SUBMITTED, C_REAPED, C_CANCEL_CALLS, C_CANCEL_INPROGRESS,
  C_CANCELLED_EVENTS, C_EAGAIN, C_EINVAL, C_VIOLATIONS, C_DESTROYS, C_UNEXPECTED, C_PIPE_BYTES, C_BYTES_CHECKED, KIND_DISK_READ,
  decodeData, checkResult, checkReadBytes, diskPattern,
} from './lib/stress-shared';

const { values: opt } = parseArgs({
  options: {
    threads: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '10' },
    'cancel-ratio': { type: 'string', default: '0.3' },
    lookup: { type: 'string', default: 'tags' },
    depth: { type: 'string', default: '256' },
    contexts: { type: 'string', default: '4' },
    pipes: { type: 'string', default: '4' },
    'stall-ms': { type: 'string', default: '5000' },
    seed: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  console.log('kaio stress (or npm run stress --) [--threads 4] [--seconds 10] [--cancel-ratio 0.3] [--lookup tags|list] [--depth 256]\n' +
    '                                    [--contexts 4] [--pipes 4] [--stall-ms 5000] [--seed 1] [--json]');
  process.exit(0);
}

function num(name: string, v: string | undefined, min: number, max: number, int = true): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) {
    console.error(`stress: --${name} must be ${int ? 'an integer' : 'a number'} from ${min} to ${max} (got ${v})`);
    process.exit(2);
  }
  return n;
}

const threads = num('threads', opt.threads, 1, 48);
const seconds = num('seconds', opt.seconds, 0.1, 86400, false);
const cancelRatio = num('cancel-ratio', opt['cancel-ratio'], 0, 1, false);
const depth = num('depth', opt.depth, 1, 65536);
const contexts = num('contexts', opt.contexts, 1, 64);
const pipes = num('pipes', opt.pipes, 1, 64);
const stallMs = num('stall-ms', opt['stall-ms'], 10, 3_600_000);
const seed = num('seed', opt.seed, 0, 2 ** 31);
const lookup = opt.lookup === 'list' ? 'list' : opt.lookup === 'tags' ? 'tags' : null;
if (!lookup) {
  console.error(`stress: --lookup must be tags or list (got ${opt.lookup})`);
  process.exit(2);
}

// Bitmaps sized for ~500k requests/s in all, at least 1M requests per thread.
const seqCapacity = Math.min(2 ** 30, Math.max(1 << 20, Math.ceil((seconds * 500_000) / threads / 32) * 32));
const cfg: StressConfig = { threads, seconds, cancelRatio, lookup, depth, contexts, pipes, seqCapacity };
const DISK = 4 << 20;

interface Summary {
  command: string;
  config: StressConfig;
  machine: { cpu: string; cores: number; node: string; date: string };
  seconds: number;
  requests: number;
  ratePerSecond: number;
  reaped: number;
  cancelCalls: number;
  cancelsInProgress: number;
  cancelledEvents: number;
  eventsDiscardedByDestroy: number;
  destroys: number;
  eagain: number;
  pipeBytes: number;
  readBytesChecked: number;
  maxStallMs: number;
  checks: Record<string, boolean>;
  violations: string[];
  ok: boolean;
}

async function main(): Promise<Summary> {
  const k = await Kernel.boot({ lookup: lookup!, maxCpus: Math.min(64, threads + 8), memoryMiB: 256 });
  const sh = new Shared(cfg);
  const diskPath = k.ramdisk('stress', { sizeBytes: DISK, serviceTimeUs: 0, queueDepth: 32, abortable: true });
  {
    // The lower half holds the pattern every read is checked against.
    const fd = k.open(diskPath, 'w');
    const chunk = new Uint8Array(65536);
    for (let at = 0; at < DISK / 2; at += chunk.length) {
      for (let i = 0; i < chunk.length; i++) chunk[i] = diskPattern(at + i);
      if (k.pwrite(fd, chunk, at) !== chunk.length) throw new Error('stress: could not fill the disk');
    }
    k.close(fd);
  }
  const mem = new Uint8Array(k.handle.memory.buffer); // read only: the bytes reads returned
  for (let c = 0; c < contexts; c++) sh.ctxIds[c] = k.io_setup(depth);
  for (let p = 0; p < pipes; p++) {
    const [r, w] = k.pipe();
    sh.pipeFds[2 * p] = r;
    sh.pipeFds[2 * p + 1] = w;
  }
  const violations: string[] = [];
  const discarded0 = k.stats().eventsDiscarded;
  const workers = Array.from({ length: threads }, (_, thread) =>
    new Worker(new URL('./stress-worker.js', import.meta.url), {
      workerData: { handle: k.handle, sab: sh.sab, cfg, thread, diskPath, diskSize: DISK, seed: seed * 7919 + thread * 104729 + 1 },
    }));
  const reports = workers.map((w) => new Promise<{ violations: string[] }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  }));

  // Progress and stall watch.
  const t0 = performance.now();
  const sum = (c: number) => Array.from({ length: threads }, (_, t) => sh.counter(t, c)).reduce((a, b) => a + b, 0);
  const lastBeat = new Array<number>(threads).fill(-1);
  const lastMove = new Array<number>(threads).fill(t0);
  let maxStall = 0;
  const bar = opt.json || !process.stderr.isTTY ? null : new cliProgress.SingleBar({
    format: 'stress |{bar}| {value}/{total}s | {rate} req/s | {requests} requests | {cancels} cancels -> {cancelled} -ECANCELED | {violations} violations',
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  bar?.start(Math.ceil(seconds), 0, { rate: 0, requests: 0, cancels: 0, cancelled: 0, violations: 0 });
  let lastReq = 0;
  let lastT = t0;
  const tick = setInterval(() => {
    const now = performance.now();
    for (let t = 0; t < threads; t++) {
      const b = sh.counter(t, C_HEARTBEAT);
      if (b !== lastBeat[t]) {
        lastBeat[t] = b;
        lastMove[t] = now;
      }
      maxStall = Math.max(maxStall, now - lastMove[t]);
    }
    const req = sum(C_SUBMITTED);
    const line = { rate: Math.round(((req - lastReq) * 1000) / Math.max(1, now - lastT)), requests: req, cancels: sum(C_CANCEL_CALLS), cancelled: sum(C_CANCELLED_EVENTS), violations: sum(C_VIOLATIONS) };
    bar?.update(Math.min(Math.ceil(seconds), Math.floor((now - t0) / 1000)), line);
    if (!bar && !opt.json && Math.floor((now - t0) / 1000) !== Math.floor((lastT - t0) / 1000)) {
      process.stderr.write(`stress ${Math.floor((now - t0) / 1000)}s: ${line.rate} req/s, ${line.requests} requests, ${line.cancels} cancels, ${line.cancelled} -ECANCELED, ${line.violations} violations\n`);
    }
    lastReq = req;
    lastT = now;
  }, 200);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  Atomics.store(sh.control, 0, 1);
  for (const r of await Promise.all(reports)) violations.push(...r.violations);
  clearInterval(tick);
  bar?.update(Math.ceil(seconds));
  bar?.stop();
  const elapsed = (performance.now() - t0) / 1000;

  // Drain: cancel what still waits (pipe reads nobody feeds), reap everything, check it too.
  const drainViolations: string[] = [];
  let drained = 0;
  let bytesChecked = 0;
  for (let c = 0; c < contexts; c++) {
    const ctx = sh.ctxIds[c];
    const out = k.io_outstanding(ctx);
    if (typeof out !== 'number') {
      for (const o of out) {
        const { thread, seq } = decodeData(o.aio_data);
        Shared.setBit(sh.asked[thread], seq);
        k.io_cancel(ctx, { aio_key: o.aio_key });
      }
    }
    for (;;) {
      const st = k.ctxStat(ctx);
      if (!st || (st.inflight === 0 && st.inRing === 0)) break;
      const evs: IoEvent[] = [];
      const n = k.io_getevents(ctx, 0, 1024, evs, 100);
      for (const e of evs.slice(0, Math.max(0, n))) {
        drained++;
        const { thread, kind, len, seq } = decodeData(e.data);
        if (Shared.setBit(sh.received[thread], seq)) drainViolations.push(`request ${thread}:${seq} delivered twice`);
        const why = checkResult(kind, len, e.res, Shared.getBit(sh.asked[thread], seq));
        if (why) drainViolations.push(`request ${thread}:${seq}: ${why}`);
        if (kind === KIND_DISK_READ && e.res === len) {
          const bytes = checkReadBytes(sh, mem, thread, seq, len, DISK);
          if (bytes === null) bytesChecked += len;
          else if (bytes !== 'reused') drainViolations.push(`request ${thread}:${seq}: ${bytes}`);
        }
      }
    }
  }
  violations.push(...drainViolations.slice(0, 20));

  // Accounting: every submitted request was received exactly once, or died in io_destroy.
  let submittedBits = 0;
  let missing = 0;
  let phantom = 0;
  for (let t = 0; t < threads; t++) {
    const s = sh.submitted[t];
    const r = sh.received[t];
    for (let w = 0; w < s.length; w++) {
      const sw = s[w];
      const rw = r[w];
      if (sw === 0 && rw === 0) continue;
      submittedBits += popcount(sw);
      missing += popcount(sw & ~rw);
      phantom += popcount(rw & ~sw);
    }
  }
  const discarded = k.stats().eventsDiscarded - discarded0;
  const wholeCtx = Array.from({ length: contexts }, (_, c) => k.ctxStat(sh.ctxIds[c])!);
  const allFree = wholeCtx.every((st) => st.freeTags === st.nr && st.freeSlots === st.nr && st.inflight === 0);
  for (let c = 0; c < contexts; c++) k.io_destroy(sh.ctxIds[c]);
  const aioNr = k.aio_nr;
  await k.shutdown();

  const requests = sum(C_SUBMITTED);
  const checks = {
    'exactly one event per submitted request': missing === discarded && phantom === 0 && submittedBits === requests && !violations.some((v) => v.includes('twice')),
    '-ECANCELED only where a cancel was asked': !violations.some((v) => v.includes('no cancel was asked')),
    'every other event carries its request\'s result': !violations.some((v) => v.includes('completed with')),
    'every disk read returned the disk\'s bytes': !violations.some((v) => v.includes('of a read at')) && sum(C_BYTES_CHECKED) + bytesChecked > 0,
    'afterwards all tags free, slots whole, aio_nr 0': allFree && aioNr === 0,
    [`no thread stalled more than ${stallMs} ms`]: maxStall <= stallMs,
    'no unexpected errno': sum(C_UNEXPECTED) === 0,
  };
  if (missing !== discarded) violations.push(`${missing} requests never delivered, ${discarded} events dropped by io_destroy`);
  const ok = Object.values(checks).every(Boolean) && violations.length === 0 && sum(C_VIOLATIONS) === 0;
  return {
    command: `npm run stress -- --threads ${threads} --seconds ${seconds} --cancel-ratio ${cancelRatio} --lookup ${lookup} --depth ${depth}`,
    config: cfg,
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, date: new Date().toISOString() },
    seconds: Number(elapsed.toFixed(2)),
    requests,
    ratePerSecond: Math.round(requests / elapsed),
    reaped: sum(C_REAPED) + drained,
    cancelCalls: sum(C_CANCEL_CALLS),
    cancelsInProgress: sum(C_CANCEL_INPROGRESS),
    cancelledEvents: sum(C_CANCELLED_EVENTS),
    eventsDiscardedByDestroy: discarded,
    destroys: sum(C_DESTROYS),
    eagain: sum(C_EAGAIN),
    pipeBytes: sum(C_PIPE_BYTES),
    readBytesChecked: sum(C_BYTES_CHECKED) + bytesChecked,
    maxStallMs: Math.round(maxStall),
    checks,
    violations: violations.slice(0, 50),
    ok,
  };
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

const s = await main();
if (opt.json) {
  console.log(JSON.stringify(s, null, 2));
} else {
  console.log(`\nkaio stress: ${threads} threads, ${s.seconds} s, lookup ${lookup}, depth ${depth}, ${contexts} contexts, cancel ratio ${cancelRatio}`);
  console.log(`  ${s.requests} requests (${s.ratePerSecond}/s), ${s.cancelCalls} cancels (${s.cancelsInProgress} in flight -> ${s.cancelledEvents} -ECANCELED),`);
  console.log(`  ${s.destroys} contexts destroyed and recreated (${s.eventsDiscardedByDestroy} events died with their rings), ${s.eagain} io_submit -EAGAIN`);
  console.log(`  longest gap in a thread's progress: ${s.maxStallMs} ms`);
  for (const [name, pass] of Object.entries(s.checks)) console.log(`  ${pass ? 'ok  ' : 'FAIL'} ${name}`);
  for (const v of s.violations) console.log(`  violation: ${v}`);
  console.log(s.ok ? 'PASS' : 'FAIL');
}
process.exit(s.ok ? 0 : 1);
