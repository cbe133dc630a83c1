// Description: assembly/ keeps Linux's layering: include/ and lib/ at the bottom, block/ below
// fs/, drivers/ on top, and the core reaching drivers only through ops tables.
// Invariant: the import graph of assembly/ has no cycle, and no file imports a layer above its own.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'assembly');

/** Rank of each layer: a file may import only files of its own rank or below. */
// kernel/cpu.ts is cpu hotplug: taking a cpu (a thread) down drains the subsystems' per-cpu
// state (tag caches, request counts, staged events), as cpuhp callbacks do, so it sits above fs/.
const RANK: Record<string, number> = { include: 0, lib: 1, block: 2, fs: 3, kernel: 4, drivers: 5, '.': 6 };

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []);
}

const graph = new Map<string, string[]>();
for (const f of files(root)) {
  const src = fs.readFileSync(f, 'utf8');
  const deps = [...src.matchAll(/from '(\.[^']+)'/g)].map((m) => path.relative(root, path.resolve(path.dirname(f), m[1])) + '.ts');
  graph.set(path.relative(root, f), deps);
}
const layer = (rel: string) => (rel.includes('/') ? rel.split('/')[0] : '.');

test('every import in assembly/ resolves to a file', () => {
  for (const [f, deps] of graph) for (const d of deps) expect([f, d, graph.has(d)]).toEqual([f, d, true]);
});

test('no file imports a layer above its own (fs/ never imports drivers/, block/ never fs/)', () => {
  const up: string[] = [];
  for (const [f, deps] of graph) {
    for (const d of deps) if (RANK[layer(d)] > RANK[layer(f)]) up.push(`${f} -> ${d}`);
  }
  expect(up).toEqual([]);
});

test('the import graph has no cycle', () => {
  const state = new Map<string, 1 | 2>();
  const cycles: string[] = [];
  const visit = (f: string, stack: string[]) => {
    if (state.get(f) === 2) return;
    if (state.get(f) === 1) { cycles.push([...stack.slice(stack.indexOf(f)), f].join(' -> ')); return; }
    state.set(f, 1);
    for (const d of graph.get(f) ?? []) visit(d, [...stack, f]);
    state.set(f, 2);
  };
  for (const f of graph.keys()) visit(f, []);
  expect(cycles).toEqual([]);
});
