// Description: the README's code examples are the files in examples/, so the README cannot drift
// from what runs (test/examples.test.ts runs the files).
// Invariant: every `<!-- example: FILE -->` block in README.md is FILE verbatim, and every example
// entry point (examples/*.mjs, examples/*/main.*) appears in the README.
import fs from 'node:fs';
import path from 'node:path';
// @ts-expect-error: a plain .mjs script without types
import { readmeBlocks } from '../scripts/readme-examples.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

test('each example block in README.md is its file, verbatim', () => {
  const blocks: Array<{ file: string; body: string }> = readmeBlocks(readme);
  expect(blocks.map((b) => b.file)).toEqual(['examples/syscalls.mjs', 'examples/promises.mjs', 'examples/host-files.mjs', 'examples/threads/main.mjs', 'examples/threads/worker.mjs']);
  for (const b of blocks) expect({ file: b.file, body: b.body }).toEqual({ file: b.file, body: fs.readFileSync(path.join(root, b.file), 'utf8') });
});

test('every example entry point is named in the README', () => {
  const entries = fs.readdirSync(path.join(root, 'examples'), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? fs.readdirSync(path.join(root, 'examples', e.name)).filter((f) => f.startsWith('main.')).map((f) => `examples/${e.name}/${f}`)
      : [`examples/${e.name}`]);
  expect(entries.sort()).toEqual(['examples/host-files.mjs', 'examples/port-libaio.mjs', 'examples/promises.mjs', 'examples/syscalls.mjs', 'examples/threads-cjs/main.cjs', 'examples/threads/main.mjs']);
  for (const f of entries) expect(readme).toContain(f);
});
