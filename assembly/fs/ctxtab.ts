/**
 * kioctx table access and the per-syscall context reference.
 *
 * A context id handed to JS is gen * MAX_CTX + slot (see src/aio.ts). Both
 * halves are checked before any context memory is touched: the slot against
 * the table size, the generation and state against the entry's state_gen word.
 * Table entries are never freed, only recycled under a new generation, so a
 * stale id always lands on valid memory and then fails the generation check.
 */
import {
  CTX_OFF, CTX_SIZE, MAX_CTX, MAX_CTX_SHIFT, CX_STATE_GEN, CX_USERS, CX_DYING_WAKE, CTX_LIVE, CTX_DYING,
  CPUREF_OFF, H_NCPUS,
} from '../include/layout';
import { pack, lo32 } from '../include/barrier';

@inline export function ctx_addr(slot: u32): usize {
  return CTX_OFF + <usize>slot * CTX_SIZE;
}

/**
 * Take a reference on live context (slot, gen) for the length of one syscall.
 * Returns its address, or 0 if it is not live (-EINVAL to the caller).
 */
export function ctx_get(slot: u32, gen: u32): usize {
  if (slot >= MAX_CTX) return 0;
  const ctx = ctx_addr(slot);
  const live = pack(gen, CTX_LIVE);
  if (atomic.load<u64>(ctx + CX_STATE_GEN) != live) return 0;
  atomic.add<u32>(ctx + CX_USERS, 1);
  // Re-check after announcing ourselves: pairs with io_destroy's cmpxchg to DYING
  // followed by its load of users. Either it sees us and waits, or we see DYING.
  if (atomic.load<u64>(ctx + CX_STATE_GEN) != live) {
    ctx_put(ctx);
    return 0;
  }
  return ctx;
}

/** Drop a syscall reference; wakes io_destroy waiting for users to drain. */
export function ctx_put(ctx: usize): void {
  if (atomic.sub<u32>(ctx + CX_USERS, 1) == 1 && lo32(atomic.load<u64>(ctx + CX_STATE_GEN)) == CTX_DYING) {
    atomic.add<u32>(ctx + CX_DYING_WAKE, 1);
    atomic.notify(ctx + CX_DYING_WAKE, -1);
  }
}

@inline function cpuref(cpu: u32, slot: u32): usize {
  return CPUREF_OFF + (((<usize>cpu << MAX_CTX_SHIFT) + <usize>slot) << 2);
}

/**
 * ctx_get for the hot syscalls: the reference is counted on the calling cpu
 * (CPUREF_OFF), so syscalls on one context from several cpus share no write.
 * Same protocol as ctx_get: announce, then re-check the state.
 */
export function ctx_get_on(cpu: u32, slot: u32, gen: u32): usize {
  if (slot >= MAX_CTX || cpu >= load<u32>(H_NCPUS)) return 0;
  const ctx = ctx_addr(slot);
  const live = pack(gen, CTX_LIVE);
  if (atomic.load<u64>(ctx + CX_STATE_GEN) != live) return 0;
  atomic.add<u32>(cpuref(cpu, slot), 1);
  // Pairs with io_destroy's cmpxchg to DYING followed by its sum of references.
  if (atomic.load<u64>(ctx + CX_STATE_GEN) != live) {
    ctx_put_on(cpu, slot);
    return 0;
  }
  return ctx;
}

export function ctx_put_on(cpu: u32, slot: u32): void {
  atomic.sub<u32>(cpuref(cpu, slot), 1);
  const ctx = ctx_addr(slot);
  if (lo32(atomic.load<u64>(ctx + CX_STATE_GEN)) == CTX_DYING) {
    atomic.add<u32>(ctx + CX_DYING_WAKE, 1);
    atomic.notify(ctx + CX_DYING_WAKE, -1);
  }
}

/** References `cpu` holds on context slot `slot` now. */
export function ctx_refs_of(cpu: u32, slot: u32): u32 {
  // Pairs with the owner's add/sub in ctx_get_on / ctx_put_on.
  return atomic.load<u32>(cpuref(cpu, slot));
}

/**
 * Drop every reference `cpu` holds (cpu_reclaim: its thread is gone, stopped
 * inside a syscall, and will never put them). Wakes an io_destroy waiting for
 * them. Only for a cpu no thread runs on.
 */
export function ctx_refs_drop(cpu: u32): void {
  for (let s: u32 = 0; s < MAX_CTX; s++) {
    const r = cpuref(cpu, s);
    if (atomic.load<u32>(r) == 0) continue;
    // Pairs with io_destroy's sum (ctx_users_all) after its cmpxchg to DYING,
    // as the ctx_put_on the gone thread never made would.
    atomic.store<u32>(r, 0);
    const ctx = ctx_addr(s);
    if (lo32(atomic.load<u64>(ctx + CX_STATE_GEN)) == CTX_DYING) {
      atomic.add<u32>(ctx + CX_DYING_WAKE, 1);
      atomic.notify(ctx + CX_DYING_WAKE, -1);
    }
  }
}

/** Syscalls inside the context now: CX_USERS plus every cpu's reference count. */
export function ctx_users_all(slot: u32): u32 {
  let n = atomic.load<u32>(ctx_addr(slot) + CX_USERS);
  const ncpus = load<u32>(H_NCPUS);
  for (let c: u32 = 0; c < ncpus; c++) n += atomic.load<u32>(cpuref(c, slot));
  return n;
}
