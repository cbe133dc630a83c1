// Description: the SPIN model of the cancel protocol (model/kaio.pml, docs/MODEL.md).
// Invariant: the model's state constants are assembly/include/layout.ts's (and errno.ts's);
// every scenario is explored to the end with 0 errors (safety: assertions and
// invalid end states; liveness: io_destroy terminates under weak fairness); and
// every seed-bug / mutation variant gives SPIN a counterexample.
// No spin or no cc: each test is a visible skip named SKIPPED: <reason>, never a pass.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODEL = join(ROOT, 'model', 'kaio.pml');

/** The constants block of the model: `#define NAME value` between its two headers. */
function modelConstants(): Map<string, number> {
  const text = readFileSync(MODEL, 'utf8');
  const start = text.indexOf('constants of assembly/include/layout.ts');
  const end = text.indexOf('---- shared state');
  const out = new Map<string, number>();
  for (const m of text.slice(start, end).matchAll(/^#define\s+(\w+)\s+(-?\d+)/gm)) out.set(m[1], Number(m[2]));
  return out;
}

/** `export const NAME: type = literal;` of an assembly/ file. */
function codeConstants(file: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of readFileSync(join(ROOT, 'assembly', file), 'utf8').matchAll(/^export const (\w+)(?::\s*\w+)? = (0x[0-9a-fA-F]+|\d+);/gm)) {
    out.set(m[1], Number(m[2]));
  }
  return out;
}

/** Model-only names (a normal result) that have no counterpart in assembly/. */
// CB_PIPE: a callback value; the code stores the callback's function-table index
// there (any value between KIOCB_CANCELLABLE and KIOCB_FREE), not a fixed id.
const MODEL_ONLY = new Set(['RES_OK', 'CB_PIPE']);

function missing(): string | undefined {
  const s = spawnSync('spin', ['-V'], { encoding: 'utf8' });
  if (s.error || s.status !== 0) return 'no spin on this machine (apt-get install spin)';
  const c = spawnSync('cc', ['--version'], { encoding: 'utf8' });
  if (c.error || c.status !== 0) return 'no C compiler (cc) to build the SPIN verifier';
  return undefined;
}

const skipReason = missing();
if (skipReason) console.warn(`\n*** SPIN model tests SKIPPED: ${skipReason} ***\n`);

interface Run {
  name: string;
  spin: string[]; // -D flags for spin -a
  cc: string[]; // extra flags for the verifier
  pan: string[]; // pan's arguments
}

// -O1 only where the search is long enough to repay the compile (about 7 s against 1 s).
const CC = ['-DCOLLAPSE', '-DVECTORSZ=512', '-DMEMLIM=1024'];
const SAFETY = (scen: number): Run => ({
  name: `scenario ${scen} safety`,
  spin: [`-DSCEN=${scen}`],
  cc: [scen === 3 || scen === 5 ? '-O1' : '-O0', '-DSAFETY', '-DNOCLAIM'],
  pan: ['-m100000'],
});
const LIVENESS: Run = { name: 'scenario 4 liveness', spin: ['-DSCEN=4'], cc: ['-O1', '-DNFAIR=3'], pan: ['-a', '-f', '-m100000'] };
const CLEAN: Run[] = [SAFETY(1), SAFETY(2), SAFETY(3), SAFETY(4), SAFETY(5), LIVENESS];
const VARIANTS: Array<[string, number]> = [
  ['SEED_BUG_1', 1],
  ['SEED_BUG_2', 1],
  ['SEED_BUG_3', 1],
  ['SEED_BUG_4', 2],
  ['MUT_NO_RECHECK', 3],
  ['MUT_TAG_BEFORE_KEY', 1],
  ['MUT_CB_NO_GEN', 5],
];
const BUGGY: Run[] = VARIANTS.map(([flag, scen]) => ({
  name: `${flag} (scenario ${scen})`,
  spin: [`-DSCEN=${scen}`, `-D${flag}`],
  cc: ['-O0', '-DSAFETY', '-DNOCLAIM'],
  pan: ['-m100000'],
}));

function sh(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ code, out }));
  });
}

async function verify(run: Run, work: string): Promise<string> {
  const dir = mkdtempSync(join(work, 'run-'));
  copyFileSync(MODEL, join(dir, 'kaio.pml'));
  const a = await sh('spin', ['-a', ...run.spin, 'kaio.pml'], dir);
  if (a.code !== 0) return `spin -a failed: ${a.out}`;
  const b = await sh('cc', [...CC, ...run.cc, '-o', 'pan', 'pan.c'], dir);
  if (b.code !== 0) return `cc failed: ${b.out}`;
  const c = await sh('./pan', run.pan, dir);
  return c.out;
}

/** Two at a time: the machine has 2 cores. */
async function pool(runs: Run[], work: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const queue = [...runs];
  await Promise.all(
    [0, 1].map(async () => {
      for (let r = queue.shift(); r; r = queue.shift()) out.set(r.name, await verify(r, work));
    }),
  );
  return out;
}

const errorsOf = (out: string): number => Number(/errors: (\d+)/.exec(out)?.[1] ?? NaN);

describe('model constants match assembly/', () => {
  test('every ki_cancel state, callback id, context state, wait queue and errno in the model equals the code', () => {
    const model = modelConstants();
    const code = new Map([...codeConstants('include/layout.ts'), ...codeConstants('include/errno.ts')]);
    expect(model.size).toBeGreaterThanOrEqual(14);
    for (const [name, v] of model) {
      if (MODEL_ONLY.has(name)) continue;
      expect([name, code.has(name)]).toEqual([name, true]);
      expect([name, v >>> 0]).toEqual([name, code.get(name)]); // the same 32-bit word
    }
  });
});

describe('SPIN: the model, explored exhaustively', () => {
  const work = mkdtempSync(join(tmpdir(), 'kaio-spin-'));
  let results = new Map<string, string>();
  beforeAll(async () => {
    if (!skipReason) results = await pool([...CLEAN, ...BUGGY], work);
  }, 300_000); // about 35 s on 2 idle cores; the margin is for a loaded machine
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  for (const run of CLEAN) {
    if (skipReason) {
      test.skip(`${run.name} SKIPPED: ${skipReason}`, () => {});
      continue;
    }
    test(`${run.name}: errors 0, state space fully explored`, () => {
      const out = results.get(run.name) ?? '';
      expect(errorsOf(out)).toBe(0);
      expect(out).not.toMatch(/Search not completed|max search depth too small|reached -DMEMLIM bound/);
      expect(out).toMatch(/states, stored/);
    });
  }
  for (const run of BUGGY) {
    if (skipReason) {
      test.skip(`${run.name} SKIPPED: ${skipReason}`, () => {});
      continue;
    }
    test(`${run.name}: SPIN finds a counterexample`, () => {
      const out = results.get(run.name) ?? '';
      expect(errorsOf(out)).toBeGreaterThanOrEqual(1);
      expect(out).toMatch(/pan:1: (assertion violated|invalid end state)/);
    });
  }
});
