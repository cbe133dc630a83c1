// Description: every benchmark runs at a tiny size and writes well-formed results.
// Invariant: `npm run bench:<name> -- --quick --out DIR` exits 0 and writes DIR/<name>.json (name,
// command, machine info, rows, ratios, goals) and DIR/<name>.svg. Nothing here judges the numbers:
// speed is measured by the benchmarks themselves, never asserted in tests.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kaio-bench-'));

afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

test.each(['lookup', 'throughput', 'cancel', 'congestion', 'scaling', 'wake', 'raid5', 'files'])('bench:%s runs at a tiny size and writes JSON and SVG', (name) => {
  execFileSync(process.execPath, [path.join(root, `dist/scripts/bench-${name}.js`), '--quick', '--out', out], { cwd: root, timeout: 120_000, stdio: 'pipe' });
  const r = JSON.parse(fs.readFileSync(path.join(out, `${name}.json`), 'utf8'));
  expect(r.name).toBe(name);
  expect(r.command).toMatch(new RegExp(`^npm run bench:${name}`));
  expect(r.quick).toBe(true);
  expect(typeof r.machine.cpu).toBe('string');
  expect(r.machine.cores).toBeGreaterThan(0);
  expect(r.machine.node).toMatch(/^v\d+/);
  expect(Number.isNaN(Date.parse(r.machine.date))).toBe(false);
  expect(Array.isArray(r.rows)).toBe(true);
  expect(r.rows.length).toBeGreaterThan(0);
  for (const row of r.rows) for (const v of Object.values(row)) expect(['string', 'number']).toContain(typeof v);
  for (const v of Object.values(r.ratios)) expect(Number.isFinite(v)).toBe(true);
  for (const g of r.goals) {
    expect(typeof g.goal).toBe('string');
    expect(typeof g.met).toBe('boolean');
  }
  const svg = fs.readFileSync(path.join(out, `${name}.svg`), 'utf8');
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg.length).toBeGreaterThan(1000);
});
