// Description: what `npm pack` ships, installed in a fresh app, as a new user gets it.
// Invariant: the tarball holds the CLI, the wasm, the worker entries, the types, the examples and
// the docs files, and nothing of the sources or tests; in an app that installed it, `kaio --help`
// and `kaio demo` run, every example prints what it should, and the types check under
// moduleResolution node16, nodenext and bundler with skipLibCheck off (ESM and CommonJS), while a
// file that misuses the API gets exactly its expected errors.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXAMPLES } from './fixtures/examples-expected';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kaio-consumer-'));
const app = path.join(tmp, 'app');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let files: string[] = [];

beforeAll(() => {
  // dist/ is built (pretest): pack it as it is, without running prepare again.
  const packed = JSON.parse(execFileSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }).toString());
  files = packed[0].files.map((f: { path: string }) => f.path).sort();
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  execFileSync(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(tmp, packed[0].filename)], { cwd: app, stdio: 'pipe', timeout: 120_000 });
  // The consumer's own type dependencies: Node's types, as any Node app has.
  fs.mkdirSync(path.join(app, 'node_modules/@types'), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules/@types/node'), path.join(app, 'node_modules/@types/node'), 'dir');
}, 180_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('npm pack ships the CLI, wasm, worker entries, types, examples and docs files, and no sources', () => {
  for (const f of [
    'package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/index.js', 'dist/kthread.js', 'dist/kaio.wasm', 'dist/index.d.ts', 'dist/index.d.cts',
    'dist/scripts/cli.js', 'dist/scripts/demo.js', 'dist/scripts/stress.js', 'dist/scripts/stress-worker.js', 'dist/scripts/bench-lookup.js',
    'dist/scripts/bench-scaling-worker.js', 'dist/scripts/bench-wake-worker.js', 'examples/syscalls.mjs', 'examples/promises.mjs', 'examples/port-libaio.mjs',
    'examples/threads/main.mjs', 'examples/threads/worker.mjs', 'examples/threads-cjs/main.cjs', 'examples/threads-cjs/worker.cjs',
  ]) expect(files).toContain(f);
  expect(files.filter((f) => /^(src|assembly|test|scripts|docs|model|build)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts') || f.includes('.build-stamp'))).toEqual([]);
  const pkg = JSON.parse(fs.readFileSync(path.join(app, 'node_modules/kaio/package.json'), 'utf8'));
  expect(pkg.bin).toEqual({ kaio: 'dist/scripts/cli.js' });
  expect(Object.keys(pkg.dependencies)).toEqual(['cli-progress']);
});

const kaio = (...args: string[]) => spawnSync(path.join(app, 'node_modules/.bin/kaio'), args, { cwd: app, encoding: 'utf8', timeout: 120_000 });

test('kaio --help and kaio demo run in the app', () => {
  const help = kaio('--help');
  expect(help.status).toBe(0);
  expect(help.stdout).toMatch(/^kaio: the Linux AIO syscalls/);
  for (const cmd of ['demo', 'stress', 'bench', 'inspect']) expect(help.stdout).toMatch(new RegExp(`^  ${cmd} `, 'm'));
  const demo = kaio('demo', '--json');
  expect(demo.status).toBe(0);
  const r = JSON.parse(demo.stdout);
  // 2000 reads, every other one cancelled at once: mark-only dispatches all of them; effective
  // drops the cancelled ones still in the software queue (how many were already in the device
  // depends on timing), and exactly those complete -ECANCELED.
  const eff = r.congested.effective;
  expect(r.congested.markOnly).toMatchObject({ dispatched: 2000, cancelledQueued: 0 });
  expect(eff.dispatched + eff.cancelledQueued).toBe(2000);
  expect(eff.cancelledEvents).toBe(eff.cancelledQueued);
  expect(eff.cancelledQueued).toBeGreaterThan(0);
  expect(eff.cancelledQueued).toBeLessThanOrEqual(1000);
  expect(r.lookup.map((l: { inflight: number }) => l.inflight)).toEqual([16, 256, 4096, 16384]);
}, 180_000);

test.each(EXAMPLES)('%s runs from the installed package', (file, expected) => {
  const out = execFileSync(process.execPath, [path.join(app, 'node_modules/kaio', file)], { cwd: app, timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  expect(out).toBe(expected);
});

const tsc = path.join(root, 'node_modules/.bin/tsc');
function typecheck(name: string, compilerOptions: Record<string, unknown>, inputs: string[]): { status: number | null; errors: string[] } {
  for (const f of fs.readdirSync(path.join(root, 'test/fixtures/consumer'))) fs.copyFileSync(path.join(root, 'test/fixtures/consumer', f), path.join(app, f));
  const config = { compilerOptions: { target: 'es2022', lib: ['es2022'], strict: true, skipLibCheck: false, noEmit: true, types: ['node'], ...compilerOptions }, files: inputs };
  fs.writeFileSync(path.join(app, `tsconfig.${name}.json`), JSON.stringify(config));
  const r = spawnSync(tsc, ['-p', `tsconfig.${name}.json`], { cwd: app, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, errors: r.stdout.split('\n').filter((l) => / error TS\d+/.test(l)) };
}

const MODES: Array<[string, Record<string, unknown>, string[]]> = [
  ['node16', { module: 'node16', moduleResolution: 'node16' }, ['ok.mts', 'ok.cts']],
  ['nodenext', { module: 'nodenext', moduleResolution: 'nodenext' }, ['ok.mts', 'ok.cts']],
  ['bundler', { module: 'esnext', moduleResolution: 'bundler' }, ['ok.mts']],
];

test.each(MODES)('the published types check under moduleResolution %s, skipLibCheck off', (name, options, inputs) => {
  expect(typecheck(name, options, inputs)).toEqual({ status: 0, errors: [] });
}, 120_000);

test.each(MODES)('under %s, misuse of the API is an error, exactly where expected', (name, options) => {
  const r = typecheck(`${name}-bad`, options, ['bad.mts']);
  expect(r.status).not.toBe(0);
  expect(r.errors.map((l) => l.replace(/^bad\.mts\((\d+),\d+\): error (TS\d+).*$/, '$1 $2'))).toEqual([
    '2 TS2322', // lookup: 'hash' is not 'tags' | 'list'
    '3 TS2339', // k.core is @internal: not in the published types
    '4 TS2345', // io_setup takes a number
    '5 TS2673', // the constructor is private: Kernel.boot()
    '6 TS2322', // count is a number
  ]);
}, 120_000);
