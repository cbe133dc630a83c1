#!/usr/bin/env node
// Side by side in one process: the syscall level of two builds of kaio (two
// dist/ folders) on a null device, for measuring what a change costs:
//  - binary: io_submit of binary NOOP iocbs (k.iocbArray) + io_getevents into
//    k.ioEventArray, as bench:throughput's 'kaio binary';
//  - object: io_submit of object PREAD iocbs + io_getevents into objects, as
//    bench:throughput's 'kaio tags'.
// Both builds are booted once per (path, batch) and their rounds alternate
// (base, new, base, new, ...), so a noisy neighbour hits both alike; each
// side reports its best round, and the ratio is new/base. Rounds are timed in
// process CPU time by default (AB_CLOCK=wall for wall time).
//
//   git worktree add --detach /tmp/kaio-base <commit> && (cd /tmp/kaio-base && npm ci && npm run build)
//   node scripts/ab-throughput.mjs /tmp/kaio-base/dist dist [rounds]
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dirs = process.argv.slice(2, 4);
if (dirs.length !== 2) {
  console.error('usage: node scripts/ab-throughput.mjs <base dist> <new dist> [rounds]');
  process.exit(2);
}
const ROUNDS = Number(process.argv[4] ?? 12);
const REQS = 200_000; // requests per round
const WALL = process.env.AB_CLOCK === 'wall';
const mods = await Promise.all(dirs.map((d) => import(pathToFileURL(path.resolve(d, 'index.js')).href)));

/** Boot one build and return a round function (ns per request) and its teardown. */
async function setup(kaio, kind, batch) {
  const { Kernel, IOCB_CMD } = kaio;
  const k = await Kernel.boot();
  const fd = k.open(k.nulldev('null'), 'rw');
  const ctx = k.io_setup(256);
  const it = Math.ceil(REQS / batch);
  let step;
  if (kind === 'binary') {
    const iocbs = k.iocbArray(batch);
    for (let i = 0; i < batch; i++) iocbs.set(i, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: i });
    const evs = k.ioEventArray(batch);
    step = () => {
      if (k.io_submit(ctx, iocbs, batch) !== batch) throw new Error('io_submit');
      if (k.io_getevents(ctx, batch, batch, evs, 0) !== batch) throw new Error('io_getevents');
    };
  } else {
    const buf = k.buffer(4096 * 64);
    const iocbs = Array.from({ length: batch }, (_, i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf.subarray(i * 4096, (i + 1) * 4096), aio_offset: 0, aio_data: BigInt(i) }));
    const evs = [];
    step = () => {
      if (k.io_submit(ctx, iocbs) !== batch) throw new Error('io_submit');
      if (k.io_getevents(ctx, batch, batch, evs, 0) !== batch) throw new Error('io_getevents');
    };
  }
  // CPU time of the process (this thread does all the work; the kernel's
  // other threads sleep): a round preempted by a neighbour does not count
  // the time it waited, as wall time would. AB_CLOCK=wall for wall time.
  const round = () => {
    if (WALL) {
      const t0 = performance.now();
      for (let i = 0; i < it; i++) step();
      return ((performance.now() - t0) * 1e6) / (it * batch);
    }
    const c0 = process.cpuUsage();
    for (let i = 0; i < it; i++) step();
    const c = process.cpuUsage(c0);
    return ((c.user + c.system) * 1e3) / (it * batch);
  };
  round(); // warm up (JIT, kiocb pages)
  return { round, done: () => k.shutdown() };
}

console.log(`ns per request (${WALL ? 'wall' : 'process CPU'} time), best of ${ROUNDS} alternating rounds of ${REQS / 1000}k requests`);
console.log('path    batch   base    new   new/base');
for (const kind of ['binary', 'object']) {
  for (const batch of [1, 8, 32, 64]) {
    const s = [await setup(mods[0], kind, batch), await setup(mods[1], kind, batch)];
    const best = [Infinity, Infinity];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which goes first, so neither always runs right after a GC of the other.
      for (const m of r % 2 ? [1, 0] : [0, 1]) best[m] = Math.min(best[m], s[m].round());
    }
    await s[0].done();
    await s[1].done();
    console.log(`${kind.padEnd(7)} ${String(batch).padStart(5)} ${best[0].toFixed(1).padStart(6)} ${best[1].toFixed(1).padStart(6)}   ${(best[1] / best[0]).toFixed(3)}x`);
  }
}
