// Description: the kaio command (dist/scripts/cli.js, the package's bin).
// Invariant: every command answers --help with its usage and exit 0; bad usage exits 2 with a
// message; `inspect` prints the state its workload leaves, figure for figure (JSON and tables);
// `bench NAME --quick --json` prints that benchmark's result document.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const kaio = (...args: string[]) => spawnSync(process.execPath, [path.join(root, 'dist/scripts/cli.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });

test.each([
  ['--help', /^kaio: the Linux AIO syscalls/],
  ['demo', /^Usage: kaio demo \[--json\]/],
  ['stress', /^Usage: kaio stress \[--threads 4\]/],
  ['bench', /^Usage: kaio bench \[lookup\|throughput\|cancel\|congestion\|scaling\|wake\|raid5\|files\]/],
  ['inspect', /^Usage: kaio inspect \[--requests 32\]/],
])('kaio %s --help prints its usage', (cmd, usage) => {
  const r = cmd === '--help' ? kaio('--help') : kaio(cmd, '--help');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(usage);
});

test.each([
  [['frobnicate'], "kaio: unknown command 'frobnicate'"],
  [['inspect', '--requests', '0'], 'kaio: --requests must be an integer from 1 to 4096 (got 0)'],
  [['inspect', '--lookup', 'hash'], 'kaio: --lookup must be tags or list (got hash)'],
  [['bench', 'nosuch'], 'kaio: --name must be lookup or throughput or cancel or congestion or scaling or wake or raid5 or files (got nosuch)'],
  [['demo', '--bogus'], "kaio: Unknown option '--bogus'"],
])('kaio %j is a usage error: exit 2', (args, message) => {
  const r = kaio(...args);
  expect(r.status).toBe(2);
  expect(r.stderr.split('\n')[0]).toContain(message);
});

test('kaio inspect --json: every stage of the workload, figure for figure', () => {
  const r = kaio('inspect', '--json', '--requests', '40');
  expect(r.status).toBe(0);
  const s = JSON.parse(r.stdout);
  // 40 reads of a held ramdisk with a queue of 8: 1 executing, 8 queued in the device, 31 in the
  // software queue; the last floor(31 / 2) = 15 cancelled there, so 16 stay in stage 1.
  const rd0 = s.devices.find((d: { path: string }) => d.path === '/dev/rd0');
  expect(rd0).toMatchObject({ type: 'ramdisk', queueDepth: 8, held: true, paused: false, softwareQueue: 16, deviceQueue: 8, executing: 1 });
  expect(rd0.stats).toEqual({ dispatched: 9, completed: 0, cancelledQueued: 15, cancelledDevice: 0, bytes: 0 });
  expect(s.devices.find((d: { path: string }) => d.path === '/dev/null0')).toMatchObject({ type: 'null', softwareQueue: 0, deviceQueue: 0, executing: 0 });
  const [a, b] = s.contexts;
  expect(a).toMatchObject({ inflight: 25, ringEvents: 15, published: 15 }); // 40 - 15 cancelled; the cancelled wait unreaped
  expect(b).toMatchObject({ inflight: 1, ringEvents: 16, published: 16 }); // 16 null reads unreaped; the pipe read waits
  expect(s.inflight).toEqual({ requests: 26, softwareQueue: 16, deviceQueue: 8, executing: 1, ringEvents: 31 });
  expect(s.aioNr).toBe(128 + 64);
  expect(s.cpus.map((c: { kind: string }) => c.kind).sort()).toEqual(['device', 'kworker', 'main']);
  // Tags: every one is free (in the pool or a cpu's cache) or held by a request in flight; the
  // cached ones are part of the free ones.
  for (const c of [a, b]) {
    const cached = c.cachedTags.reduce((n: number, t: { tags: number }) => n + t.tags, 0);
    expect(c.freeTags + c.inflight).toBe(c.nr);
    expect(cached).toBeLessThanOrEqual(c.freeTags);
  }
});

test('kaio inspect prints the same state as tables', () => {
  const r = kaio('inspect', '--requests', '40');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^kernel: lookup 'tags', cancel 'effective', aio_nr 192 of 65536$/m);
  expect(r.stdout).toMatch(/^\s+\/dev\/rd0\s+ramdisk\s+8\s+no\s+yes\s+16\s+8\s+1\s+9\s+0\s+15\/0$/m);
  expect(r.stdout).toMatch(/^in flight: 26 requests; bios: 16 in software queues, 8 in device queues, 1 executing; 31 events unreaped$/m);
});

test('kaio bench lookup --quick --json prints the result document', () => {
  const r = kaio('bench', 'lookup', '--quick', '--json');
  expect(r.status).toBe(0);
  const res = JSON.parse(r.stdout);
  expect(res).toMatchObject({ name: 'lookup', quick: true });
  expect(res.rows.map((row: { depth: number; lookup: string }) => `${row.depth}/${row.lookup}`)).toEqual(['16/tags', '16/list', '256/tags', '256/list', '16/tags', '16/list', '256/tags', '256/list']);
}, 120_000);
