// Description: every script in examples/ runs as a user runs it (node examples/<file>) and does
// what it says.
// Invariant: each exits 0 and prints exactly its expected lines (the examples assert their own
// results with node:assert, so a behaviour change fails them too).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { EXAMPLES } from './fixtures/examples-expected';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');


test.each(EXAMPLES)('%s runs and prints what it should', (file, expected) => {
  const out = execFileSync(process.execPath, [file], { cwd: root, timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  expect(out).toBe(expected);
});
