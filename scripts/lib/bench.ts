/**
 * Shared by the benchmarks (scripts/bench-*.ts): options, machine info,
 * timing helpers, the printed table, and the results on disk
 * (docs/results/<name>.json and an SVG chart drawn with vega-lite).
 * vega and vega-lite are devDependencies: where they are not installed (kaio
 * installed from the registry, `npx kaio bench`) the JSON is written alone.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { TopLevelSpec } from 'vega-lite';

export interface BenchOptions {
  /** Tiny sizes: checks that the benchmark runs, measures nothing worth reading. */
  quick: boolean;
  /** Where the JSON and SVG go. */
  out: string;
}

export function benchOptions(): BenchOptions {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: path.resolve('docs/results') },
    },
    strict: true,
  });
  return { quick: values.quick!, out: values.out! };
}

export interface Machine { cpu: string; cores: number; memoryGiB: number; node: string; platform: string; date: string }

export function machine(): Machine {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    date: new Date().toISOString(),
  };
}

export interface Goal { goal: string; value: number; met: boolean }

export interface Result {
  name: string;
  command: string;
  machine: Machine;
  quick: boolean;
  params: Record<string, unknown>;
  rows: Array<Record<string, string | number>>;
  ratios: Record<string, number>;
  goals: Goal[];
}

/** Best (lowest) of `rounds` runs of fn, which returns a cost. */
export function best(rounds: number, fn: () => number): number {
  let b = Infinity;
  for (let i = 0; i < rounds; i++) b = Math.min(b, fn());
  return b;
}

export async function bestAsync(rounds: number, fn: () => Promise<number>): Promise<number> {
  let b = Infinity;
  for (let i = 0; i < rounds; i++) b = Math.min(b, await fn());
  return b;
}

/** Nanoseconds since an arbitrary origin, comparable across threads (CLOCK_MONOTONIC). */
export const nowNs = (): number => Number(process.hrtime.bigint());

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** A deterministic xorshift32 generator. */
export function xorshift(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

export function fmt(v: number, digits = 1): string {
  if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(digits);
}

/** Print an aligned table. */
export function table(title: string, columns: string[], rows: Array<Array<string | number>>): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  console.log(`\n${title}\n`);
  console.log(`  ${columns.map((c, i) => c.padStart(widths[i])).join('  ')}`);
  for (const r of cells) console.log(`  ${r.map((c, i) => c.padStart(widths[i])).join('  ')}`);
}

export function printGoals(goals: Goal[]): void {
  if (goals.length === 0) return;
  console.log('');
  for (const g of goals) console.log(`  ${g.met ? 'met    ' : 'NOT MET'}  ${g.goal}: ${fmt(g.value, 2)}`);
}

/** Write <out>/<name>.json and <out>/<name>.svg (the chart is a vega-lite spec). */
export async function save(opts: BenchOptions, result: Result, chart: TopLevelSpec): Promise<void> {
  fs.mkdirSync(opts.out, { recursive: true });
  fs.writeFileSync(path.join(opts.out, `${result.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const json = path.relative(process.cwd(), path.join(opts.out, `${result.name}.json`));
  let vega: typeof import('vega');
  let vegaLite: typeof import('vega-lite');
  try {
    [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  } catch {
    console.log(`\n  wrote ${json} (no .svg: the chart needs vega and vega-lite, kaio's devDependencies)`);
    return;
  }
  const view = new vega.View(vega.parse(vegaLite.compile(chart).spec), { renderer: 'none' });
  fs.writeFileSync(path.join(opts.out, `${result.name}.svg`), await view.toSVG());
  await view.finalize();
  console.log(`\n  wrote ${json} and .svg`);
}

export type { TopLevelSpec };
