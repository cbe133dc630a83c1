#!/usr/bin/env node
// Side by side in one process: the syscall level of two builds of kaio (two
// dist/ folders), io_submit(batch) + io_getevents(batch) on a null device,
// alternating rounds, best of each. For measuring what a change costs.
//
//   git worktree add /tmp/kaio-base <commit> && (cd /tmp/kaio-base && npm ci)
//   node scripts/ab-throughput.mjs /tmp/kaio-base/dist dist
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dirs = process.argv.slice(2);
if (dirs.length !== 2) {
  console.error('usage: node scripts/ab-throughput.mjs <base dist> <new dist>');
  process.exit(2);
}
const mods = await Promise.all(dirs.map((d) => import(pathToFileURL(path.resolve(d, 'index.js')).href)));

async function run(kaio, batch) {
  const { Kernel, IOCB_CMD } = kaio;
  const k = await Kernel.boot();
  try {
    const fd = k.open(k.nulldev('null'), 'rw');
    const ctx = k.io_setup(256);
    const buf = k.buffer(4096 * 64);
    const iocbs = Array.from({ length: batch }, (_, i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf.subarray(i * 4096, (i + 1) * 4096), aio_offset: 0, aio_data: BigInt(i) }));
    const evs = [];
    const it = Math.ceil(200_000 / batch);
    let best = Infinity;
    for (let r = 0; r < 4; r++) {
      const t0 = performance.now();
      for (let i = 0; i < it; i++) {
        if (k.io_submit(ctx, iocbs) !== batch) throw new Error('io_submit');
        if (k.io_getevents(ctx, batch, batch, evs, 0) !== batch) throw new Error('io_getevents');
      }
      best = Math.min(best, ((performance.now() - t0) * 1e6) / (it * batch));
    }
    return best;
  } finally {
    await k.shutdown();
  }
}

console.log('ns per request (best of 4 rounds of 200k, 4 alternating runs each)');
console.log('batch   base    new   new/base');
for (const batch of [1, 8, 64]) {
  const best = [Infinity, Infinity];
  for (let rep = 0; rep < 4; rep++) for (let m = 0; m < 2; m++) best[m] = Math.min(best[m], await run(mods[m], batch));
  console.log(`${String(batch).padStart(5)} ${best[0].toFixed(0).padStart(6)} ${best[1].toFixed(0).padStart(6)}   ${(best[1] / best[0]).toFixed(2)}x`);
}
