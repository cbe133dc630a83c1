#!/usr/bin/env node
// Side by side in one process: the promise level of two builds of kaio (two
// dist/ folders), io.read of 4 KiB at 64 in flight on a null device, and
// node:fs/promises FileHandle.read of 4 KiB at 64 in flight on /dev/null (the
// same null work: nothing moved, completes at once; it goes through libuv's
// thread pool). Alternating runs (order swapped each time), best of each. For measuring what a change
// to src/promises.ts costs.
//
//   git worktree add /tmp/kaio-base <commit> && (cd /tmp/kaio-base && npm ci)
//   node scripts/ab-promise.mjs /tmp/kaio-base/dist dist
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dirs = process.argv.slice(2);
if (dirs.length !== 2) {
  console.error('usage: node scripts/ab-promise.mjs <base dist> <new dist>');
  process.exit(2);
}
const mods = await Promise.all(dirs.map((d) => import(pathToFileURL(path.resolve(d, 'index.js')).href)));
const SIZE = 4096;
const INFLIGHT = 64;

async function kaioRun(kaio) {
  const k = await kaio.Kernel.boot();
  try {
    const fd = k.open(k.nulldev('null'), 'rw');
    const io = k.context({ depth: 256 });
    const buf = k.buffer(SIZE * INFLIGHT);
    const views = Array.from({ length: INFLIGHT }, (_, i) => buf.subarray(i * SIZE, (i + 1) * SIZE));
    const it = Math.ceil(100_000 / INFLIGHT);
    let best = Infinity;
    for (let r = 0; r < 4; r++) {
      const t0 = performance.now();
      for (let i = 0; i < it; i++) await Promise.all(views.map((v) => io.read(fd, v, 0)));
      best = Math.min(best, ((performance.now() - t0) * 1e6) / (it * INFLIGHT));
    }
    await io.close();
    return best;
  } finally {
    await k.shutdown();
  }
}

async function fsRun() {
  const fh = await fs.promises.open('/dev/null', 'r');
  try {
    const bufs = Array.from({ length: INFLIGHT }, () => Buffer.alloc(SIZE));
    const it = Math.ceil(20_000 / INFLIGHT);
    let best = Infinity;
    for (let r = 0; r < 4; r++) {
      const t0 = performance.now();
      for (let i = 0; i < it; i++) await Promise.all(bufs.map((b) => fh.read(b, 0, SIZE, 0)));
      best = Math.min(best, ((performance.now() - t0) * 1e6) / (it * INFLIGHT));
    }
    return best;
  } finally {
    await fh.close();
  }
}

const REPS = Number(process.env.AB_REPS ?? 8);
console.log(`ns per request, ${INFLIGHT} in flight, 4 KiB (best of 4 rounds, ${REPS} alternating runs each, order swapped every run)`);
const best = [Infinity, Infinity, Infinity];
for (let rep = 0; rep < REPS; rep++) {
  for (const m of rep % 2 ? [1, 0] : [0, 1]) best[m] = Math.min(best[m], await kaioRun(mods[m]));
  best[2] = Math.min(best[2], await fsRun());
}
console.log(`io.read base ${best[0].toFixed(0)}  new ${best[1].toFixed(0)}  new/base ${(best[1] / best[0]).toFixed(2)}x`);
console.log(`fs.promises FileHandle.read on /dev/null ${best[2].toFixed(0)}  fs/new ${(best[2] / best[1]).toFixed(1)}x  fs/base ${(best[2] / best[0]).toFixed(1)}x`);
