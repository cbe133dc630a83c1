// Description: differential test of kaio against this machine's Linux AIO syscalls.
// Every sequence in test/oracle/sequences/*.seq runs twice: through
// test/oracle/aio-oracle.c (raw io_setup/io_submit/io_getevents/io_cancel/io_destroy,
// compiled here with the system cc) and through kaio (test/oracle/kaio-runner.ts).
// Invariant: both print the same lines, except where test/oracle/differences.ts
// lists a deliberate difference that matches the exact pair of lines.
// No cc, or a kernel that refuses io_setup: every test is a visible skip, never a pass.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runKaio } from './oracle/kaio-runner';
import { compare, type Comparison } from './oracle/differences';

const ORACLE_DIR = fileURLToPath(new URL('./oracle/', import.meta.url));
const SEQ_DIR = join(ORACLE_DIR, 'sequences');
const files = readdirSync(SEQ_DIR).filter((f) => f.endsWith('.seq')).sort();
const only = process.env.ORACLE_SEQ; // run just the sequences whose name contains this
const outDir = process.env.ORACLE_OUT; // keep both outputs of each sequence there

const work = mkdtempSync(join(tmpdir(), 'kaio-oracle-'));
const bin = join(work, 'aio-oracle');
// A sequence whose Linux result depends on the file system says `# requires: ext4`
// (the file-size limit of host-offsets-huge); elsewhere it is a visible skip.
const EXT4_SUPER_MAGIC = 0xef53;
const onExt4 = statfsSync(work).type === EXT4_SUPER_MAGIC;

/** Build the oracle and ask the kernel for a context. A reason to skip, or undefined. */
function prepare(): string | undefined {
  const cc = spawnSync('cc', ['--version'], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) return 'no C compiler (cc) on this machine';
  const build = spawnSync('cc', ['-O1', '-Wall', '-std=c99', '-o', bin, join(ORACLE_DIR, 'aio-oracle.c')], { encoding: 'utf8' });
  if (build.status !== 0) return `cc failed to build aio-oracle.c: ${build.stderr}`;
  const probe = join(work, 'probe.seq');
  writeFileSync(probe, 'setup c 1\ndestroy c\n');
  const r = spawnSync(bin, [probe, work], { encoding: 'utf8', timeout: 10_000 });
  const first = r.stdout.split('\n')[0] ?? '';
  if (first !== 'setup c 1 = 0') return `the kernel refuses io_setup (${first.replace(/^setup c 1 = /, '') || r.stderr.trim()})`;
  return undefined;
}

const skipReason = prepare();
if (skipReason) {
  console.warn(`\n*** differential tests SKIPPED: ${skipReason} ***\n`);
}

function runLinux(name: string): string[] {
  const dir = mkdtempSync(join(work, 'seq-'));
  try {
    const r = spawnSync(bin, [join(SEQ_DIR, name), dir], { encoding: 'utf8', timeout: 25_000 });
    if (r.status !== 0) throw new Error(`aio-oracle ${name}: status ${r.status} signal ${r.signal}: ${r.stderr}`);
    return r.stdout.split('\n').filter((l) => l.length > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Array<{ name: string; c: Comparison }> = [];

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  if (skipReason || results.length === 0) return;
  const same = results.filter((r) => r.c.mismatches.length === 0 && r.c.masked.length === 0).length;
  const documented = results.filter((r) => r.c.mismatches.length === 0 && r.c.masked.length > 0).length;
  const failing = results.filter((r) => r.c.mismatches.length > 0);
  console.log(
    `differential: ${results.length} sequences, ${same} identical, ${documented} identical but for documented differences, ` +
      `${failing.length} with undocumented differences${failing.length ? ': ' + failing.map((r) => r.name).join(' ') : ''}`,
  );
});

describe('kaio against Linux AIO, sequence by sequence', () => {
  for (const file of files) {
    const name = file.replace(/\.seq$/, '');
    if (only && !name.includes(only)) continue;
    if (skipReason) {
      test.skip(`${name} SKIPPED: ${skipReason}`, () => {});
      continue;
    }
    if (!onExt4 && /^# requires: ext4$/m.test(readFileSync(join(SEQ_DIR, file), 'utf8'))) {
      test.skip(`${name} SKIPPED: its Linux results are ext4's, and ${tmpdir()} is not on ext4`, () => {});
      continue;
    }
    test(name, async () => {
      const linux = runLinux(file);
      const kaio = await runKaio(readFileSync(join(SEQ_DIR, file), 'utf8'));
      if (outDir) {
        mkdirSync(outDir, { recursive: true });
        writeFileSync(join(outDir, `${name}.linux`), linux.join('\n') + '\n');
        writeFileSync(join(outDir, `${name}.kaio`), kaio.join('\n') + '\n');
      }
      const c = compare(name, linux, kaio);
      results.push({ name, c });
      expect(c.mismatches).toEqual([]);
    });
  }
});

