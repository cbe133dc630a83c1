/**
 * Sleeping on kernel words, on the host (never inside WASM: see
 * assembly/include/barrier.ts). Spin briefly first so a busy waiter wakes in
 * microseconds rather than after a futex round trip, then Atomics.wait.
 */

/** Default time a waiter spins before it sleeps, in microseconds. */
export const SPIN_US = 50;

/** Spin up to `us` microseconds for ready(). */
export function spinFor(ready: () => boolean, us: number): boolean {
  if (us <= 0) return false;
  const end = performance.now() + us / 1000;
  do {
    for (let i = 0; i < 64; i++) if (ready()) return true;
  } while (performance.now() < end);
  return false;
}

/**
 * Block until `ready()` is true or `timeoutMs` passes (null: forever). `word` is
 * the index (in Int32 units) of the futex word the waker bumps and notifies;
 * `ready` must be re-checked after reading it. Spins `spinUs` first. Returns ready().
 */
export function waitUntil(i32: Int32Array, word: number, ready: () => boolean, timeoutMs: number | null, spinUs = SPIN_US): boolean {
  if (ready()) return true;
  if (spinFor(ready, timeoutMs === null ? spinUs : Math.min(spinUs, timeoutMs * 1000))) return true;
  const deadline = timeoutMs === null ? Infinity : performance.now() + timeoutMs;
  for (;;) {
    const w = Atomics.load(i32, word);
    if (ready()) return true;
    const left = deadline - performance.now();
    if (left <= 0) return ready();
    Atomics.wait(i32, word, w, left === Infinity ? undefined : left);
    if (ready()) return true;
  }
}

// Atomics.waitAsync does not keep Node's event loop alive: hold a timer while
// anything waits asynchronously.
let keepers = 0;
let keepTimer: ReturnType<typeof setInterval> | undefined;

export function keepAlive(): () => void {
  if (keepers++ === 0) keepTimer = setInterval(() => {}, 1 << 30);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--keepers === 0 && keepTimer) {
      clearInterval(keepTimer);
      keepTimer = undefined;
    }
  };
}

/** Async version of waitUntil, on Atomics.waitAsync. */
export async function waitUntilAsync(i32: Int32Array, word: number, ready: () => boolean, timeoutMs: number | null, spinUs = SPIN_US): Promise<boolean> {
  if (ready()) return true;
  if (spinFor(ready, timeoutMs === null ? spinUs : Math.min(spinUs, timeoutMs * 1000))) return true;
  const deadline = timeoutMs === null ? Infinity : performance.now() + timeoutMs;
  const release = keepAlive();
  try {
    for (;;) {
      const w = Atomics.load(i32, word);
      if (ready()) return true;
      const left = deadline - performance.now();
      if (left <= 0) return ready();
      const r = Atomics.waitAsync(i32, word, w, left === Infinity ? undefined : left);
      if (r.async) await r.value;
      if (ready()) return true;
    }
  } finally {
    release();
  }
}
