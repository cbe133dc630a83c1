/**
 * npm run bench: every benchmark, one after the other, each in its own
 * process (so one's threads and JIT state do not colour the next). Options
 * are passed on (--quick, --out DIR).
 */
import { spawnSync } from 'node:child_process';

const names = ['lookup', 'throughput', 'cancel', 'congestion', 'scaling', 'wake', 'raid5', 'files'];
const t0 = performance.now();
let failed = 0;
for (const name of names) {
  console.log(`\n=== bench:${name} ===`);
  const r = spawnSync(process.execPath, [new URL(`./bench-${name}.js`, import.meta.url).pathname, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`bench:${name} failed (${r.status ?? r.signal})`);
    failed++;
  }
}
console.log(`\nall benchmarks: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
process.exit(failed ? 1 : 0);
