#!/usr/bin/env node
/**
 * Mutation testing of the kernel (assembly/): apply one single-line mutation,
 * rebuild only the wasm, run a relevant jest subset with --bail, record
 * killed / survived / build-failed / timeout, restore the file. Survivors of
 * the subset are re-run against the whole suite (--confirm, on by default).
 *
 *   npm run mutate -- [--files kiocb,tags] [--tests a.test.ts,b.test.ts]
 *                     [--budget 1800] [--only ring.ts:187:drop] [--sample 40]
 *                     [--seed 1] [--list] [--no-confirm] [--timeout 90]
 *                     [--no-named] [--out docs/results/mutation.json]
 *
 * A mutant whose wasm is byte-identical to the unmutated build's (the
 * compiler folded the change away: a dead branch, a store it already
 * elided) is recorded 'equivalent' with by 'identical wasm' and not tested
 * (trivial compiler equivalence).
 *
 * The source file is restored from memory in a finally block after every
 * mutant, and again at exit (also on SIGINT/SIGTERM) from the text it had
 * before the run, and the clean wasm is rebuilt, so neither assembly/ nor
 * dist/ is left mutated, and uncommitted work in assembly/ is kept.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { spawnSync, spawn } from 'node:child_process';
import { dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
process.chdir(root);

// --- options -------------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const flag = (name) => argv.includes(`--${name}`);

/** Test files that exercise each kernel file, fastest killers first. */
const SUBSETS = {
  kiocb: ['kiocb-seed-bugs', 'kiocb-key-retired-before-reuse', 'kiocb-cw-page-race', 'kiocb-cancel-loses-to-completion', 'ring-staged-event-fields', 'list-cancel-older-after-newer', 'blk-vectored-no-leak', 'heap-exhausted-submit', 'pipe-late-callback-reuse', 'key-stale', 'cancel-semantics', 'pipe-cancel-callback', 'blk-stages', 'submit-errors', 'threads-races', 'blk-cancel-before-queue'],
  tags: ['tags-allocator', 'tags-steal-raced-slot', 'threads-exit-reclaim', 'threads-attach', 'setup-limits'],
  ring: ['ring-reap-direct', 'ctx-slot-reuse', 'binary-records', 'submit-ring-full', 'getevents-args', 'hostile-pending-wrap', 'handles-orphans', 'ring-advance-concurrent', 'ring-reserve-concurrent', 'threads-races'],
  blk: ['blk-stages', 'blk-fetch-drops-marked', 'blk-plug-doorbell', 'blk-pause-holds-stage1', 'blk-stacked', 'blk-kiocb-reuse-other-disk', 'blk-mark-only', 'cancel-semantics', 'data-buffers', 'blk-cancel-before-queue', 'md-raid5'],
  block_dev: ['blk-stages', 'blk-stacked', 'blk-vectored-no-leak', 'blk-mark-only', 'cancel-semantics', 'data-buffers', 'blk-cancel-before-queue', 'md-raid5'],
  pipe: ['pipe-cancel-callback', 'pipe-create-no-leak', 'pipe-write-empty-and-full', 'pipe-late-callback-reuse', 'promises-abort', 'threads-races', 'cancel-semantics'],
  heap: ['data-buffers', 'hostile-buffer-inflight', 'setup-limits', 'threads-exit-reclaim'],
  ctx: ['destroy-outstanding', 'ctx-slot-reuse', 'setup-limits', 'threads-attach', 'hostile-after-shutdown'],
};

/** Where each kernel file lives (assembly/ follows Linux's layering). */
const PATHS = { kiocb: 'fs/kiocb', ring: 'fs/ring', pipe: 'fs/pipe', ctx: 'fs/ctx', block_dev: 'fs/block_dev', tags: 'lib/tags', heap: 'lib/heap', blk: 'block/blk' };
const srcPath = (file) => `assembly/${PATHS[file] ?? file}.ts`;

const files = opt('files', 'kiocb,tags,ring,blk,pipe').split(',').map((f) => f.replace(/\.ts$/, ''));
const testsOpt = opt('tests', null);
const budgetS = Number(opt('budget', '3600'));
const only = opt('only', null)?.split(',');
const sample = Number(opt('sample', '0'));
const seed = Number(opt('seed', '1'));
const timeoutS = Number(opt('timeout', '90'));
const confirm = !flag('no-confirm');
const outPath = opt('out', 'docs/results/mutation.json');

// --- mutation operators ----------------------------------------------------------
const REL = [[' == ', ' != '], [' != ', ' == '], [' <= ', ' < '], [' >= ', ' > '], [' < ', ' <= '], [' > ', ' >= '], [' && ', ' || '], [' || ', ' && ']];
const DROPPABLE = /^(atomic\.(store|add|sub|xchg|or|notify|cmpxchg)|store<|kfree\(|cpu_relax\(|device_kick\(|blk_cancel_kick\(|pipe_queue_work\(|global_push_chain\(|cache_flush\(|refill\(|ring_advance\(|tag_free\(|wq_add\(|wq_del\(|list_del\(|list_add\(|fput\(|aio_complete\(|run_cancel_cb\(|kiocb_set_cancel_fn\(|cookie_orphan\(|cancel_chain\(|bio_endio\(|fi_late_cancel_fn\(|pipe_cancel_cb\(|ring_publish\(|q_unlink\()/;
const isStmt = (t) => DROPPABLE.test(t) && t.endsWith(';');

function* lineMutants(line, prev, next) {
  const code = line.replace(/\/\/.*$/, '');
  const t = code.trim();
  if (t === '' || t.startsWith('*') || t.startsWith('/*') || t.startsWith('import') || t.startsWith('@') || t.startsWith('export {')) return;
  // relational / logical operators, each occurrence separately
  for (const [a, b] of REL) {
    let at = code.indexOf(a);
    let k = 0;
    while (at >= 0) {
      // ' < ' inside '<u32>' never has spaces; skip ' > ' of '=> '
      yield { op: `rel${k}:${a.trim()}>${b.trim()}`, text: line.slice(0, at) + b + line.slice(at + a.length) };
      at = code.indexOf(a, at + a.length);
      k++;
    }
  }
  // off by one: drop a `+ 1` / `- 1`
  for (const a of [' + 1', ' - 1']) {
    const at = code.indexOf(a);
    if (at >= 0 && !/\d/.test(code[at + a.length] ?? '')) yield { op: `obo:${a.trim()}`, text: line.slice(0, at) + line.slice(at + a.length) };
  }
  // generation bump dropped
  const ng = code.match(/next_gen\(([^()]+)\)/);
  if (ng) yield { op: 'nogen', text: line.replace(ng[0], ng[1]) };
  // statement dropped (atomics, stores, calls with effects)
  const body = t.startsWith('if (') ? null : t;
  if (body && isStmt(body)) yield { op: 'drop', text: line.replace(t, '/* dropped */') };
  // the statement of a one-line `if (c) stmt;` dropped, or the condition forced
  const oneIf = t.match(/^(} else )?if \((.*)\) (continue|break|return[^;]*|[a-z_.<>0-9]+\(.*\));$/);
  if (oneIf) {
    if (/^(continue|break)$/.test(oneIf[3])) yield { op: `no-${oneIf[3]}`, text: line.replace(`${oneIf[3]};`, '{}') };
    else yield { op: 'if-false', text: line.replace(`if (${oneIf[2]})`, 'if (false)') };
    yield { op: 'if-true', text: line.replace(`if (${oneIf[2]})`, 'if (true)') };
  } else if (/^if \(.*\) \{$/.test(t)) {
    yield { op: 'if-false', text: line.replace(/if \((.*)\) \{$/, 'if (false) {') };
  }
  if (t === 'continue;' || t === 'break;') yield { op: `no-${t.slice(0, -1)}`, text: line.replace(t, '{}') };
  // constants: a literal other than 0/1 in a comparison, loop bound or return
  const lit = code.match(/(?<![\w.])(\d[\d_]*|0x[0-9a-f]+)(?![\w.])/i);
  if (lit && !/^[01]$/.test(lit[1]) && /( [<>=!]=? |return |attempt|for )/.test(code)) {
    const v = Number(lit[1].replace(/_/g, ''));
    yield { op: `const:${lit[1]}>${v + 1}`, text: line.slice(0, lit.index) + String(v + 1) + line.slice(lit.index + lit[0].length) };
  }
  // ordering: swap with the next line when both are atomic/store statements at the same indent
  const nt = next?.replace(/\/\/.*$/, '').trim();
  const ind = (s) => s.match(/^\s*/)[0];
  if (next !== undefined && isStmt(t) && nt && isStmt(nt) && ind(line) === ind(next)) yield { op: 'swap-next', swap: true };
}

/**
 * Named mutants: the ones an outside review found surviving, which no
 * single-line operator above produces exactly. Each is a find/replace on the
 * whole file (it may move a line).
 */
const NAMED = [
  { file: 'ring', name: 'ring-advance-no-recheck', find: '    const c1 = atomic.load<u64>(ctx + CX_COMMIT);\n    if (atomic.load<u32>(ready_of(ctx, <u32>(c1 % nr))) != <u32>(c1 + 1)) return;', replace: '    return;' },
  { file: 'tags', name: 'tags-pop-no-aba', find: 'pack(hi32(h) + 1, next)', replace: 'pack(hi32(h), next)' },
  { file: 'tags', name: 'tags-push-no-aba', find: 'pack(hi32(h) + 1, first + 1)', replace: 'pack(hi32(h), first + 1)' },
  { file: 'pipe', name: 'pipe-cb-no-gen-check', find: 'const which = hi32(atomic.load<u64>(ki_cw(req))) == gen ? load<u32>(req, KI_WQ_WHICH) : WQ_NONE;', replace: 'const which = load<u32>(req, KI_WQ_WHICH);' },
  { file: 'kiocb', name: 'kiocb-key-retired-after-tag-free', find: '  atomic.store<u64>(cw, pack(next_gen(gen), KIOCB_FREE));\n', replace: '', then: ['  tag_free(ctx, cpu, id);\n', '  tag_free(ctx, cpu, id);\n  atomic.store<u64>(cw, pack(next_gen(gen), KIOCB_FREE));\n'] },
  { file: 'blk', name: 'blk-submit-mark-never-seen', find: 'const marked = blk_effective() && bio_marked(bio);', replace: 'const marked = false;' },
];

function namedOf(file, src) {
  return NAMED.filter((n) => n.file === file).map((n) => {
    if (!src.includes(n.find)) throw new Error(`named mutant ${n.name}: pattern not found in ${file}.ts`);
    let out = src.replace(n.find, n.replace);
    if (n.then) out = out.replace(n.then[0], n.then[1]);
    const line = src.slice(0, src.indexOf(n.find)).split('\n').length;
    return { id: `${file}.ts:${line}:named:${n.name}`, file: srcPath(file), line, op: 'named', original: n.find.trim(), mutated: n.name, src: out, named: true };
  });
}

function mutantsOf(file) {
  const path = srcPath(file);
  const src = readFileSync(path, 'utf8');
  const lines = src.split('\n');
  const out = [];
  let inBlock = false;
  lines.forEach((line, i) => {
    const t = line.trim();
    if (inBlock) { if (t.includes('*/')) inBlock = false; return; }
    if (t.startsWith('/*') && !t.includes('*/')) { inBlock = true; return; }
    for (const m of lineMutants(line, lines[i - 1], lines[i + 1])) {
      const id = `${file}.ts:${i + 1}:${m.op}`;
      const mutated = lines.slice();
      if (m.swap) { mutated[i] = lines[i + 1]; mutated[i + 1] = lines[i]; } else mutated[i] = m.text;
      out.push({ id, file: path, line: i + 1, op: m.op.replace(/^rel\d+/, 'rel'), original: line.trim(), mutated: m.swap ? `${lines[i + 1].trim()}  <->  ${line.trim()}` : m.text.trim(), src: mutated.join('\n') });
    }
  });
  return { path, src, mutants: out, named: namedOf(file, src) };
}

// deterministic sample (mulberry32)
function rng(s) { return () => { s |= 0; s = (s + 0x6d2b79f5) | 0; let t = Math.imul(s ^ (s >>> 15), 1 | s); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; }

// --- running ---------------------------------------------------------------------------
// Restore exactly the files this run mutated, from their text before the run
// (never `git checkout`: that would also throw away uncommitted work in assembly/).
const originals = new Map();
const restoreAll = () => { for (const [f, text] of originals) writeFileSync(f, text); };
let dirty = false;
const onSignal = () => { if (dirty) { restoreAll(); spawnSync('npm', ['run', 'build:wasm'], { stdio: 'ignore' }); } process.exit(130); };
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/**
 * The confirming run is the whole suite (differential.test.ts included: it
 * passes on main since 0fe5682 and adds ~20 s of one worker) except
 * bench-smoke.test.ts (a smoke run of the benchmarks, 21 s, asserting only
 * that they finish).
 */
const CONFIRM_IGNORE = ['--testPathIgnorePatterns', 'bench-smoke'];
const jestArgs = ['--experimental-vm-modules', '--disable-warning=ExperimentalWarning', 'node_modules/jest/bin/jest.js', '--bail', '--silent'];

function runJest(tests, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn('node', [...jestArgs, ...(tests ?? [])], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; if (err.length > 1e6) err = err.slice(-5e5); });
    p.stdout.on('data', () => {});
    const timer = setTimeout(() => { try { process.kill(-p.pid, 'SIGKILL'); } catch {} }, timeoutMs);
    p.on('close', (code, sig) => {
      clearTimeout(timer);
      // A jest worker spinning in a mutated kernel (an infinite loop in wasm)
      // does not answer jest's shutdown and outlives it, still burning a cpu
      // for every later mutant: kill whatever is left of the group.
      try { process.kill(-p.pid, 'SIGKILL'); } catch {}
      const failed = [...err.matchAll(/^FAIL (\S+)/gm)].map((m) => basename(m[1]));
      resolve({ code, timedOut: sig === 'SIGKILL', ms: Date.now() - t0, failed });
    });
  });
}

function build() {
  const r = spawnSync('npm', ['run', 'build:wasm'], { encoding: 'utf8' });
  return r.status === 0;
}

const wasmHash = () => createHash('sha256').update(readFileSync('dist/kaio.wasm')).digest('hex');

const subsetFiles = (file) => {
  if (testsOpt) return testsOpt.split(',');
  const have = new Set(spawnSync('ls', ['test'], { encoding: 'utf8' }).stdout.split('\n'));
  return SUBSETS[file].map((n) => `${n}.test.ts`).filter((f) => have.has(f)).map((f) => `test/${f}`);
};

async function main() {
  let all = [];
  for (const f of files) {
    const { mutants, named } = mutantsOf(f);
    let ms = mutants;
    if (sample > 0 && ms.length > sample) {
      const r = rng(seed);
      ms = ms.map((m) => [r(), m]).sort((a, b) => a[0] - b[0]).slice(0, sample).map((x) => x[1]).sort((a, b) => a.line - b.line);
    }
    all.push(...(flag('no-named') ? [] : named).map((m) => ({ ...m, kfile: f })), ...ms.map((m) => ({ ...m, kfile: f })));
  }
  if (only) all = all.filter((m) => only.includes(m.id));
  if (flag('list')) {
    for (const m of all) console.log(`${m.id}\t${m.mutated}`);
    console.log(`${all.length} mutants`);
    return;
  }
  if (!flag('no-baseline')) {
    for (const f of new Set(all.map((m) => m.kfile))) {
      const b = await runJest(subsetFiles(f), timeoutS * 1000);
      if (b.code !== 0) throw new Error(`baseline: the ${f} subset fails without any mutant (${b.failed.join(',')})`);
    }
    console.log('baseline: every subset passes unmutated');
  }
  if (!build()) throw new Error('the unmutated kernel does not build');
  const cleanHash = wasmHash();
  const t0 = Date.now();
  const results = [];
  for (const m of all) {
    if ((Date.now() - t0) / 1000 > budgetS) { results.push({ ...strip(m), status: 'skipped-budget' }); continue; }
    const orig = readFileSync(m.file, 'utf8');
    if (!originals.has(m.file)) originals.set(m.file, orig);
    let r;
    try {
      writeFileSync(m.file, m.src);
      dirty = true;
      if (!build()) r = { status: 'build-failed' };
      else if (wasmHash() === cleanHash) r = { status: 'equivalent', by: 'identical wasm' };
      else {
        const sub = await runJest(subsetFiles(m.kfile), timeoutS * 1000);
        if (sub.timedOut) r = { status: 'killed', by: 'timeout (subset)', ms: sub.ms };
        else if (sub.code !== 0) r = { status: 'killed', by: sub.failed.join(',') || `exit ${sub.code}`, ms: sub.ms };
        else if (confirm) {
          const full = await runJest(CONFIRM_IGNORE, Math.max(timeoutS, 240) * 1000);
          if (full.timedOut) r = { status: 'killed', by: 'timeout (full)', ms: sub.ms + full.ms };
          else if (full.code !== 0) r = { status: 'killed', by: `full: ${full.failed.join(',') || `exit ${full.code}`}`, ms: sub.ms + full.ms };
          else r = { status: 'survived', ms: sub.ms + full.ms, confirmed: 'full suite' };
        } else r = { status: 'survived', ms: sub.ms, confirmed: 'subset only' };
      }
    } finally {
      writeFileSync(m.file, orig);
    }
    results.push({ ...strip(m), ...r });
    writeReport(results, t0, true);
    console.log(`${r.status.padEnd(12)} ${m.id.padEnd(34)} ${m.mutated.slice(0, 90)}${r.by ? `  [${r.by}]` : ''}`);
  }
  if (dirty) {
    restoreAll();
    build();
    dirty = false;
  }
  const status = spawnSync('git', ['status', '--porcelain', 'assembly'], { encoding: 'utf8' }).stdout.trim();
  if (status) console.error(`WARNING: assembly/ not clean:\n${status}`);
  const summary = writeReport(results, t0, false);
  console.log('\nfile                 mutants killed survived identical build-failed skipped kill-rate');
  for (const s of summary) console.log(`${s.file.padEnd(20)} ${String(s.mutants).padStart(7)} ${String(s.killed).padStart(6)} ${String(s.survived).padStart(8)} ${String(s.identical).padStart(9)} ${String(s.buildFailed).padStart(12)} ${String(s.skipped).padStart(7)} ${s.killRate ?? '-'}`);
  console.log(`\nwrote ${outPath}`);
}

function writeReport(results, t0, partial) {
  const rows = {};
  for (const r of results) {
    const s = (rows[r.kfile ?? r.file] ??= { file: r.file, mutants: 0, killed: 0, survived: 0, identical: 0, buildFailed: 0, skipped: 0 });
    s.mutants++;
    if (r.status === 'killed') s.killed++;
    else if (r.status === 'equivalent') s.identical++;
    else if (r.status === 'survived') s.survived++;
    else if (r.status === 'build-failed') s.buildFailed++;
    else s.skipped++;
  }
  const summary = Object.values(rows).map((s) => ({ ...s, killRate: s.killed + s.survived ? +(s.killed / (s.killed + s.survived)).toFixed(3) : null }));
  const report = { command: `npm run mutate -- ${argv.join(' ')}`.trim(), date: new Date().toISOString(), partial, seconds: Math.round((Date.now() - t0) / 1000), summary, results };
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, JSON.stringify(report, null, 1) + '\n');
  return summary;
}

const strip = ({ src, kfile, ...m }) => ({ ...m, kfile });

main().catch((e) => { console.error(e); process.exitCode = 1; }).finally(() => { if (dirty) { restoreAll(); build(); } });
