#!/usr/bin/env node
// The README's code examples are the files in examples/: each block that
// follows a `<!-- example: examples/NAME -->` line is that file, verbatim.
// `node scripts/readme-examples.mjs` rewrites the blocks from the files;
// `--check` exits 1 and names the blocks that differ (test/readme-examples.test.ts).
import fs from 'node:fs';

const README = new URL('../README.md', import.meta.url);
const root = new URL('../', import.meta.url);
const BLOCK = /(<!-- example: (\S+) -->\n```(\w+)\n)([\s\S]*?)(```)/g;

export function readmeBlocks(text) {
  return [...text.matchAll(BLOCK)].map((m) => ({ file: m[2], lang: m[3], body: m[4] }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = fs.readFileSync(README, 'utf8');
  const check = process.argv.includes('--check');
  const stale = [];
  const next = text.replace(BLOCK, (all, open, file, lang, body, close) => {
    const src = fs.readFileSync(new URL(file, root), 'utf8');
    if (src !== body) stale.push(file);
    return `${open}${src}${close}`;
  });
  if (check) {
    if (stale.length) console.error(`README blocks that differ from their files: ${stale.join(', ')} (run node scripts/readme-examples.mjs)`);
    process.exit(stale.length ? 1 : 0);
  }
  fs.writeFileSync(README, next);
  console.log(stale.length ? `README: rewrote ${stale.join(', ')}` : 'README: every example block is up to date');
}
