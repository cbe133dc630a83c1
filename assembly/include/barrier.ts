/**
 * Ordering and locking helpers, and nothing else (as liburing keeps barrier.h).
 *
 * WebAssembly atomics are sequentially consistent, so every atomic here is a
 * full barrier; call sites still name the access they pair with, because that
 * is what a reader must check.
 *
 * Nothing in the kernel ever waits inside WASM: V8's Liftoff tier on Node 20
 * corrupts locals live across memory.atomic.wait. Locks here either spin for
 * critical sections a few dozen instructions long, or are try-locks whose
 * callers return to the host, which sleeps with Atomics.wait on the same word.
 */

/** Busy-wait hint. There is no PAUSE in WASM; a few dependent loads stand in. */
@inline export function cpu_relax(): void {
  atomic.load<u32>(0); // header magic: a cheap shared load the spin cannot hoist
}

/** Spinlock for short sections. 0 = unlocked, 1 = locked. */
export function spin_lock(lock: usize): void {
  while (true) {
    // Acquire: pairs with the atomic store in spin_unlock.
    if (atomic.cmpxchg<u32>(lock, 0, 1) == 0) return;
    while (atomic.load<u32>(lock) != 0) cpu_relax();
  }
}

@inline export function spin_unlock(lock: usize): void {
  // Release: pairs with the cmpxchg in spin_lock / mutex_trylock.
  atomic.store<u32>(lock, 0);
}

/**
 * Sleeping mutex, host side of the wait (futex protocol, Drepper's "mutex2"):
 * 0 unlocked, 1 locked, 2 locked with sleepers. Returns true if taken.
 * On false the host marks the word 2 (mutex_mark_contended) and Atomics.wait()s
 * on it while it reads 2.
 */
@inline export function mutex_trylock(lock: usize): bool {
  // Acquire: pairs with the atomic.xchg in mutex_unlock.
  return atomic.cmpxchg<u32>(lock, 0, 1) == 0;
}

/** Take the mutex as "locked with sleepers" if it is free, else flag sleepers. */
export function mutex_lock_contended(lock: usize): bool {
  // Pairs with mutex_unlock's xchg: either we take it (0 -> 2), or the holder
  // will see 2 and notify.
  return atomic.xchg<u32>(lock, 2) == 0;
}

export function mutex_unlock(lock: usize): void {
  // Release: pairs with the cmpxchg/xchg that takes it. If anyone slept, wake one.
  if (atomic.xchg<u32>(lock, 0) == 2) atomic.notify(lock, 1);
}

// 64-bit words split as {hi: generation, lo: state or count}.
@inline export function pack(hi: u32, lo: u32): u64 {
  return (<u64>hi << 32) | <u64>lo;
}
@inline export function hi32(v: u64): u32 {
  return <u32>(v >> 32);
}
@inline export function lo32(v: u64): u32 {
  return <u32>v;
}
