/**
 * The `kaio` command (package.json "bin"): npx kaio demo | stress | bench | inspect.
 *
 * Tables go to stdout, progress bars to stderr (only on a terminal), and
 * --json replaces the tables with one JSON document on stdout. Exit codes:
 * 0 ok, 1 a run failed (stress found a violation, a benchmark failed),
 * 2 bad usage.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { runDemo, printDemo, DEMO_STEPS, DEMO_FIRST_STEP } from './lib/demo';
import { inspectWorkload, formatSnapshot, QUEUE_DEPTH } from './lib/inspect';
import { progress } from './lib/progress';

const BENCHES = ['lookup', 'throughput', 'cancel', 'congestion', 'scaling', 'wake', 'raid5', 'files'] as const;
const here = (f: string) => new URL(`./${f}`, import.meta.url).pathname;

const HELP: Record<string, string> = {
  kaio: `kaio: the Linux AIO syscalls with cancellation that works, emulated in WebAssembly.

Usage: kaio <command> [options]

Commands:
  demo               what effective cancellation buys, measured on this machine (~15 s)
  stress [options]   many threads on one kernel, cancelling each other's requests; checks every invariant
  bench [name]       the benchmarks: ${BENCHES.join(', ')} (all of them if no name)
  inspect [options]  boot a kernel, run a short workload, print its live state

Options for every command:
  --json             one JSON document on stdout instead of tables
  -h, --help         help for the command

Run 'kaio <command> --help' for a command's options.`,
  demo: `Usage: kaio demo [--json]

A congested ramdisk with 2000 queued reads, half of them cancelled at once:
effective cancellation (the 2013 patch's design) against mark-only (what Linux
AIO did): requests that reached the device, time to drain. Then the cost of
io_cancel at 16..16384 requests in flight: O(1) tags against the list walk.
Every figure is measured in this run.`,
  stress: `Usage: kaio stress [--threads 4] [--seconds 10] [--cancel-ratio 0.3] [--lookup tags|list]
                   [--depth 256] [--contexts 4] [--pipes 4] [--stall-ms 5000] [--seed 1] [--json]

N worker threads on one kernel submit reads, writes, NOOPs and pipe reads to
shared contexts, cancel each other's requests by key at random, reap from every
thread and destroy and recreate contexts. The summary checks: one event per
request, -ECANCELED only where a cancel was asked, every other result exact,
every tag and ring slot back at the end, no thread stalled. Exit 1 if any fails.`,
  bench: `Usage: kaio bench [${BENCHES.join('|')}] [--quick] [--out DIR] [--json]

Runs one benchmark, or all of them (about 2 minutes), each in its own process,
and prints its tables. --quick: tiny sizes (checks it runs; measures nothing
worth reading). --out DIR: also write DIR/<name>.json (and .svg where vega is
installed). --json: print the results as JSON instead of the tables.`,
  inspect: `Usage: kaio inspect [--requests 32] [--lookup tags|list] [--cancel effective|mark-only] [--json]

Boots a kernel and leaves a short workload in it: --requests reads of a held
ramdisk (queue depth ${QUEUE_DEPTH}: one executing, ${QUEUE_DEPTH} in the device queue, the rest in the
software queue, half of those cancelled), 16 completed reads of a null device
left unreaped, and a read waiting on an empty pipe. Then prints the live state
(what k.snapshot() returns): cpus, contexts (in flight, ring fill, per-cpu tag
caches), devices (bios in each stage). In your own program, call k.snapshot().`,
};

class UsageError extends Error {}

function parse(args: string[], options: ParseArgsConfig['options'], positionals = 0): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  let r;
  try {
    r = parseArgs({ args, options: { ...options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: positionals > 0, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (r.positionals.length > positionals) throw new UsageError(`unexpected argument '${r.positionals[positionals]}'`);
  return r;
}

function int(name: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got ${v})`);
  return n;
}

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T {
  if (v === undefined) return allowed[0];
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${name} must be ${allowed.join(' or ')} (got ${v})`);
  return v as T;
}

/** Run a script of this package in a child Node; resolves with its exit code and what it printed. */
function run(script: string, args: string[], capture: boolean): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [here(script), ...args], { stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] });
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout }));
  });
}

async function demo(args: string[]): Promise<number> {
  const { values } = parse(args, {});
  if (values.help) return help('demo');
  const bar = progress(DEMO_STEPS, DEMO_FIRST_STEP);
  let r;
  try {
    r = await runDemo(bar.step);
  } finally {
    bar.stop();
  }
  if (values.json) console.log(JSON.stringify(r, null, 2));
  else printDemo(r);
  return 0;
}

async function stress(args: string[]): Promise<number> {
  // stress.js parses its own options (and has its own progress bar); only --help is answered here.
  if (args.includes('--help') || args.includes('-h')) return help('stress');
  return (await run('stress.js', args, false)).code;
}

async function bench(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { quick: { type: 'boolean' }, out: { type: 'string' } }, 1);
  if (values.help) return help('bench');
  const names = positionals.length ? [oneOf('name', positionals[0], BENCHES)] : [...BENCHES];
  // Results go to a temporary folder unless --out is given; --json prints them.
  const out = values.out ? path.resolve(values.out as string) : fs.mkdtempSync(path.join(os.tmpdir(), 'kaio-bench-'));
  const results: unknown[] = [];
  let failed = 0;
  const bar = progress(names.length, `bench ${names[0]}`);
  try {
    for (const [i, name] of names.entries()) {
      const r = await run(`bench-${name}.js`, [...(values.quick ? ['--quick'] : []), '--out', out], true);
      bar.step(i + 1 < names.length ? `bench ${names[i + 1]}` : 'done');
      if (r.code !== 0) {
        failed++;
        console.error(`kaio bench: ${name} failed (exit ${r.code})`);
        continue;
      }
      if (values.json) results.push(JSON.parse(fs.readFileSync(path.join(out, `${name}.json`), 'utf8')));
      else process.stdout.write(`\n=== ${name} ===\n${values.out ? r.stdout : r.stdout.replace(/\n\s*wrote .*\n?$/, '\n')}`);
    }
  } finally {
    bar.stop();
    if (!values.out) fs.rmSync(out, { recursive: true, force: true });
  }
  if (values.json) console.log(JSON.stringify(names.length === 1 ? results[0] : results, null, 2));
  return failed ? 1 : 0;
}

async function inspect(args: string[]): Promise<number> {
  const { values } = parse(args, { requests: { type: 'string' }, lookup: { type: 'string' }, cancel: { type: 'string' } });
  if (values.help) return help('inspect');
  const snap = await inspectWorkload({
    requests: int('requests', values.requests as string | undefined, 32, 1, 4096),
    lookup: oneOf('lookup', values.lookup as string | undefined, ['tags', 'list'] as const),
    cancel: oneOf('cancel', values.cancel as string | undefined, ['effective', 'mark-only'] as const),
  });
  if (values.json) console.log(JSON.stringify(snap, null, 2));
  else console.log(formatSnapshot(snap).join('\n'));
  return 0;
}

function help(cmd: string): number {
  console.log(HELP[cmd]);
  return 0;
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = { demo, stress, bench, inspect };

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    if (cmd === 'help' && rest[0] && HELP[rest[0]]) return help(rest[0]);
    return help('kaio');
  }
  const f = COMMANDS[cmd];
  if (!f) throw new UsageError(`unknown command '${cmd}'`);
  return f(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof UsageError) {
      console.error(`kaio: ${e.message}\nRun 'kaio --help' for usage.`);
      process.exit(2);
    }
    console.error(e);
    process.exit(1);
  },
);
