#!/usr/bin/env node
// Side by side in one process: bench:cancel's depth sweep (scripts/lib/cancel-depth.ts)
// against two builds of kaio (two dist/ folders), alternating builds at each depth.
// For measuring what a change to the cancel path does against queue depth, for
// example the build before issue 9 (a cancel marked its request and kicked the
// device thread, which walked its whole queue) against this one:
//
//   git worktree add /tmp/kaio-scan 1f1a464 && (cd /tmp/kaio-scan && npm ci && npm run build)
//   npm run build && node scripts/ab-cancel-depth.mjs /tmp/kaio-scan/dist dist
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const dirs = args.filter((a) => a !== '--quick');
if (dirs.length !== 2) {
  console.error('usage: node scripts/ab-cancel-depth.mjs [--quick] <base dist> <new dist>');
  process.exit(2);
}
const here = path.dirname(new URL(import.meta.url).pathname);
const sweepUrl = pathToFileURL(path.resolve(here, '..', 'dist', 'scripts', 'lib', 'cancel-depth.js')).href;
const { cancelDepth } = await import(sweepUrl);
const mods = await Promise.all(dirs.map((d) => import(pathToFileURL(path.resolve(d, 'index.js')).href)));
const DEPTHS = quick ? [256, 1024] : [256, 1024, 4096, 16384, 65536];
const ROUNDS = quick ? 1 : 7;
const WARM = quick ? 1 : 3;

for (const m of mods) await cancelDepth(m, DEPTHS[0], 1, WARM); // warm-up kernels
const rows = [];
for (const d of DEPTHS) {
  const pair = [];
  for (const m of mods) pair.push(await cancelDepth(m, d, ROUNDS, WARM));
  rows.push(pair);
}
const f = (n) => (n >= 100 ? n.toFixed(0) : n.toFixed(1)).padStart(8);
console.log(`256 cancels on a paused ramdisk, median of ${ROUNDS} rounds; base = ${dirs[0]}, new = ${dirs[1]}`);
for (const w of ['adjacent', 'spread', 'cold']) {
  console.log(`\n${w}: first cancel ns, per cancel ns, first cancel to 256 events reaped us`);
  console.log('   depth |   base: first  per cancel  to events |    new: first  per cancel  to events');
  for (const [b, n] of rows) {
    console.log(`${String(b.depth).padStart(8)} | ${f(b[w].first)}    ${f(b[w].perCancel)}   ${f(b[w].toEventsUs)} | ${f(n[w].first)}    ${f(n[w].perCancel)}   ${f(n[w].toEventsUs)}`);
  }
  const lo = rows[0], hi = rows[rows.length - 1];
  const r = (i, k) => (hi[i][w][k] / lo[i][w][k]).toFixed(2);
  console.log(`${hi[0].depth}/${lo[0].depth}:  base first ${r(0, 'first')}x, to events ${r(0, 'toEventsUs')}x | new first ${r(1, 'first')}x, to events ${r(1, 'toEventsUs')}x`);
}
