#!/usr/bin/env node
// The package is ESM; require('kaio') works through Node's require(esm)
// (Node >= 20.19) and returns the same module namespace. TypeScript types a
// require of an ESM .d.ts as an error under moduleResolution node16/nodenext
// (TS1479), so the "require" condition gets the same declarations as a
// .d.cts: identical named exports, read as a CommonJS module's.
import fs from 'node:fs';

fs.copyFileSync('dist/index.d.ts', 'dist/index.d.cts');
console.log('build: dist/index.d.ts, dist/index.d.cts');
