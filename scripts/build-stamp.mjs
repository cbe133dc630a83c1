#!/usr/bin/env node
// One build per `npm test`: `npm ci` builds (prepare), and pretest only
// rebuilds if something changed since. `write` (the last step of `npm run
// build`) records a hash of the build's inputs and of what it produced in
// dist/.build-stamp; `check` exits 0 if both still match (dist/ is what the
// sources build), 1 otherwise. Hashing the outputs too catches a dist/ that
// something else rewrote (a mutation run killed mid-way, a partial build).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const STAMP = 'dist/.build-stamp';
const INPUT_DIRS = ['assembly', 'src', 'scripts'];
const INPUT_FILES = ['package.json', 'package-lock.json', 'asconfig.json', 'tsconfig.json', 'tsconfig.build.json', 'api-extractor.json'];
const OUTPUTS = ['dist/kaio.wasm', 'dist/index.js', 'dist/kthread.js', 'dist/index.d.ts', 'dist/index.d.cts', 'dist/scripts/cli.js'];

function walk(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

function digest(files) {
  const h = crypto.createHash('sha256');
  for (const f of [...files].sort()) {
    h.update(`${f}\0`);
    h.update(fs.readFileSync(f));
  }
  return h.digest('hex');
}

const inputs = () => digest([...INPUT_DIRS.flatMap(walk), ...INPUT_FILES.filter((f) => fs.existsSync(f))]);
const outputs = () => digest([...OUTPUTS, ...walk('dist/scripts').filter((f) => f.endsWith('.js'))]);

const cmd = process.argv[2];
if (cmd === 'write') {
  fs.writeFileSync(STAMP, `${JSON.stringify({ inputs: inputs(), outputs: outputs() })}\n`);
} else if (cmd === 'check') {
  let ok = false;
  try {
    const s = JSON.parse(fs.readFileSync(STAMP, 'utf8'));
    ok = OUTPUTS.every((f) => fs.existsSync(f)) && s.inputs === inputs() && s.outputs === outputs();
  } catch {
    ok = false;
  }
  console.log(ok ? 'build: dist/ is up to date with the sources, not rebuilt' : 'build: the sources changed since the last build (or there was none): building');
  process.exit(ok ? 0 : 1);
} else {
  console.error('usage: node scripts/build-stamp.mjs write|check');
  process.exit(2);
}
