#!/usr/bin/env node
// Bundle the host side with esbuild: the library entry, the kernel-thread
// entry (device threads and the kworker), and the runnable scripts. ESM only:
// the worker entry and the .wasm are located with new URL(..., import.meta.url).
// Scripts import the package by name ('kaio'), which Node resolves to this
// package's own dist/index.js, so they exercise it as users do.
import { build } from 'esbuild';
import fs from 'node:fs';

const common = { bundle: true, platform: 'node', format: 'esm', target: 'node20', sourcemap: true, logLevel: 'warning' };
await build({ ...common, entryPoints: { index: 'src/index.ts', kthread: 'src/kthread.ts' }, outdir: 'dist' });
const scripts = fs.readdirSync('scripts').filter((f) => f.endsWith('.ts'));
if (scripts.length) {
  await build({
    ...common,
    entryPoints: scripts.map((f) => `scripts/${f}`),
    outdir: 'dist/scripts',
    external: ['kaio'],
    packages: 'external',
    banner: { js: '#!/usr/bin/env node' },
  });
}
// The depth sweep alone, for scripts/ab-cancel-depth.mjs, which runs it against
// two builds (not in the package: "files" takes dist/scripts/*.js only).
await build({ ...common, entryPoints: { 'lib/cancel-depth': 'scripts/lib/cancel-depth.ts' }, outdir: 'dist/scripts', packages: 'external' });
console.log(`build: dist/index.js, dist/kthread.js${scripts.length ? `, dist/scripts/{${scripts.map((f) => f.replace(/\.ts$/, '.js')).join(',')}}` : ''}`);
