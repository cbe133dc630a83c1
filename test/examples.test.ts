// Description: every script in examples/ runs as a user runs it (node examples/<file>) and does
// what it says.
// Invariant: each exits 0 and prints exactly its expected lines (the examples assert their own
// results with node:assert, so a behaviour change fails them too).
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

export const EXAMPLES: Array<[string, string]> = [
  ['examples/syscalls.mjs', 'syscalls: the cancelled read completed -ECANCELED and never reached the device\n'],
  ['examples/promises.mjs', 'promises: read "hello, kaio", the aborted read rejected with AbortError, events() ended after 2\n'],
  ['examples/port-libaio.mjs', [
    'expect  -9: (w), res =  -9', 'expect 512: (r), res = 512', 'expect  -9: (r), res =  -9', 'expect 512: (w), res = 512',
    'expect 512: (w), res = 512', 'expect 512: (r), res = 512', 'expect -22: (r), res = -22', 'expect -22: (w), res = -22',
    'test cases/4.t completed PASSED.', ''].join('\n')],
  ['examples/threads/main.mjs', 'threads (esm): 4 reads from the worker, 2 cancelled by key from main: 1:4096 2:4096 3:-125 4:-125\n'],
  ['examples/threads-cjs/main.cjs', 'threads (cjs): 4 reads from the worker, 2 cancelled by key from main: 1:4096 2:4096 3:-125 4:-125\n'],
];

test.each(EXAMPLES)('%s runs and prints what it should', (file, expected) => {
  const out = execFileSync(process.execPath, [file], { cwd: root, timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  expect(out).toBe(expected);
});
