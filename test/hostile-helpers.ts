/**
 * Helpers for the hostile-input tests of issue 7 (prefix: h). The kernels and
 * workers themselves come from ./helpers (tBoot, tDisk, tWorker), which shuts
 * them down after each file.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * The garbage collector: `globalThis.gc` when node runs with --expose-gc, else
 * the flag is set at run time and gc taken from a fresh context (as
 * test/data-buffers.test.ts does). Throws, loudly, if neither gives one: a test
 * about collection must not pass because nothing was collected.
 */
function findGc(): () => void {
  const g = (globalThis as { gc?: unknown }).gc;
  if (typeof g === 'function') return g as () => void;
  setFlagsFromString('--expose-gc');
  const f = runInNewContext('gc') as unknown;
  if (typeof f !== 'function') throw new Error('hostile tests need gc(): run node with --expose-gc');
  return f as () => void;
}
const gc = findGc();

/** Collect garbage and let FinalizationRegistry callbacks run (several rounds). */
export async function hCollect(rounds = 4): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * Watch an object for collection without keeping it alive: the returned
 * function says whether it has been collected (its finalizer ran).
 */
export function hWatch(obj: object): () => boolean {
  const state = { collected: false };
  const reg = new FinalizationRegistry<{ collected: boolean }>((s) => {
    s.collected = true;
  });
  reg.register(obj, state);
  // The registry must outlive obj for its callback to run: keep it in the closure.
  return () => (void reg, state.collected);
}

/** Collect until `collected()` says so, for at most `rounds` rounds; true if it did. */
export async function hCollectUntil(collected: () => boolean, rounds = 40): Promise<boolean> {
  for (let i = 0; i < rounds && !collected(); i++) await hCollect(1);
  // One more round, so other registries' callbacks for the same object have run too.
  await hCollect(2);
  return collected();
}

/** n bytes of a recognisable pattern. */
export function hPattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17 + 1) & 0xff;
  return b;
}

/**
 * Await `p` for at most `ms`; if it has not settled by then, call `unblock()`
 * (which must make `p` settle, e.g. release a lock a worker waits on), wait for
 * `p`, and throw `message`. Bounds tests whose failure mode is a hang in
 * another thread.
 */
export async function hWithin<T>(p: Promise<T>, ms: number, unblock: () => void, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = Symbol('late');
  const r = await Promise.race([p, new Promise<typeof late>((res) => (timer = setTimeout(() => res(late), ms)))]);
  clearTimeout(timer);
  if (r !== late) return r as T;
  unblock();
  await p.catch(() => undefined);
  throw new Error(message);
}

/**
 * A deep copy with every bigint as a string ('5n'), for values handed to expect(): when jest runs
 * files in worker processes it cannot send a failure whose values hold a BigInt, and the whole file
 * then reports "Do not know how to serialize a BigInt" instead of the assertion.
 */
export function hPlain(v: unknown): unknown {
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Map) return new Map([...v].map(([a, b]) => [hPlain(a), hPlain(b)]));
  if (v instanceof Set) return new Set([...v].map(hPlain));
  if (Array.isArray(v)) return v.map(hPlain);
  if (ArrayBuffer.isView(v)) return `<${v.constructor.name} of ${v.byteLength} bytes>`;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([a, b]) => [a, hPlain(b)]));
  return v;
}

/** 'the same object' if `actual` is `expected`, else a printable copy of `actual` (see hPlain). */
export function hIs(actual: unknown, expected: unknown): unknown {
  return actual === expected ? 'the same object' : hPlain(actual);
}
