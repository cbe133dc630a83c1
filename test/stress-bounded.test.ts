// Description: a bounded run of the stress tool (npm run stress), as users run it.
// Invariant: 4 threads on one kernel, submitting, cancelling each other's requests, reaping
// and recreating contexts for a few seconds: exactly one event per request, -ECANCELED only
// where asked, every other result intact, nothing stranded afterwards, no thread stalled.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

test.each(['tags', 'list'])('stress, lookup %s: 4 threads for 3 s keep every invariant', (lookup) => {
  let out: string;
  try {
    out = execFileSync(process.execPath, [path.join(root, 'dist/scripts/stress.js'), '--threads', '4', '--seconds', '3', '--lookup', lookup, '--stall-ms', '2000', '--json'], { encoding: 'utf8', timeout: 120_000, cwd: root });
  } catch (e) {
    out = String((e as { stdout?: string }).stdout ?? '');
  }
  const s = JSON.parse(out);
  expect(s.violations).toEqual([]);
  for (const [name, pass] of Object.entries(s.checks)) expect([name, pass]).toEqual([name, true]);
  expect(s.ok).toBe(true);
  // It really ran: many requests, cancels that took effect, several threads reaping.
  expect(s.requests).toBeGreaterThan(10_000);
  expect(s.cancelledEvents).toBeGreaterThan(0);
  expect(s.reaped).toBeGreaterThan(0);
});
