/**
 * CPUs: every thread that instantiates the module claims one, and passes its
 * id to every export that has per-cpu behaviour (tag caches, slot batches,
 * context references, scratch). Ids are claimed by cmpxchg of the cpu's owner
 * word (layout.ts, "CPU table") and given back on detach, at which point the
 * cpu's cached tags and slots go back to every live context's global pool.
 *
 * A cpu whose thread vanished without detaching (a terminated worker) leaves
 * its caches to be stolen: tag_alloc and get_reqs raid other cpus before
 * failing. When the host learns that the thread is gone (its 'exit' event) it
 * calls cpu_reclaim, which cleans up after the thread as if it had detached.
 */
import {
  CPU_OFF, CPU_SIZE, CPU_OWNER, CPU_ONLINE, CPU_RECLAIMING, CPU_KIND_SHIFT, H_NCPUS, MAX_CTX, CX_STATE_GEN,
} from './layout';
import { hi32, lo32, pack } from './barrier';
import { ctx_addr, ctx_get, ctx_put } from './ctxtab';
import { tags_drain_cpu } from './tags';
import { reqs_drain_cpu } from './ring';

@inline export function cpu_addr(cpu: u32): usize {
  return CPU_OFF + <usize>cpu * CPU_SIZE;
}

/** The owner word of a cpu claimed by (kind, tid) in `state`. */
@inline function owner(kind: u32, tid: u32, state: u32): u64 {
  return pack(tid, (kind << CPU_KIND_SHIFT) | state);
}

/**
 * Claim a cpu id for thread (kind, tid). Returns it, or -1 if all ncpus are taken.
 * The claim and the identity are one cmpxchg: pairs with the atomic store of 0
 * that ends cpu_offline and cpu_reclaim, after which the cpu's caches are clean.
 */
export function cpu_online(kind: u32, tid: u32): i32 {
  const n = load<u32>(H_NCPUS);
  const w = owner(kind, tid, CPU_ONLINE);
  for (let c: u32 = 0; c < n; c++) {
    if (atomic.cmpxchg<u64>(cpu_addr(c) + CPU_OWNER, 0, w) == 0) return <i32>c;
  }
  return -1;
}

/** Give back every tag and ring slot `cpu` caches, in every live context. */
export function cpu_drain(cpu: u32): void {
  if (cpu >= load<u32>(H_NCPUS)) return;
  for (let s: u32 = 0; s < MAX_CTX; s++) {
    const sg = atomic.load<u64>(ctx_addr(s) + CX_STATE_GEN);
    if (sg == 0) continue;
    const ctx = ctx_get(s, hi32(sg));
    if (ctx == 0) continue;
    tags_drain_cpu(ctx, cpu);
    reqs_drain_cpu(ctx, cpu);
    ctx_put(ctx);
  }
}

/**
 * Detach (called by the owner, between syscalls): drain the cpu's caches and
 * free its id. The owner word stays ONLINE(kind, tid) while draining, so a
 * thread stopped in here is still found by cpu_reclaim.
 */
export function cpu_offline(cpu: u32): void {
  if (cpu >= load<u32>(H_NCPUS)) return;
  const a = cpu_addr(cpu) + CPU_OWNER;
  // Pairs with cpu_online's cmpxchg (our own claim) and cpu_reclaim's: a cpu
  // already taken over by a reclaimer is not ours to free.
  const w = atomic.load<u64>(a);
  if ((lo32(w) & 0xff) != CPU_ONLINE) return;
  cpu_drain(cpu);
  // Release: the drained caches before the id can be claimed again; pairs with
  // cpu_online's cmpxchg from 0. A cmpxchg, not a store, for the same reason as above.
  atomic.cmpxchg<u64>(a, w, 0);
}

/**
 * Take back every cpu claimed by thread (kind, tid), which is gone (exited or
 * terminated without detaching; the host calls this on its 'exit' event).
 * For each: drain its caches, free its id. Returns how many cpus were taken back (a thread may
 * have attached more than once), 0 if none.
 *
 * Exact by construction: the whole owner word is compared, so only a cpu
 * whose current claim is (kind, tid) matches, never a cpu that a previous
 * (kind, tid) left and another thread is claiming. Host thread ids are never
 * reused within a process, so once (kind, tid) is gone no new claim carries it.
 * Two reclaimers of the same thread: the cmpxchg to RECLAIMING lets one in.
 */
export function cpu_reclaim(kind: u32, tid: u32): i32 {
  const n = load<u32>(H_NCPUS);
  const on = owner(kind, tid, CPU_ONLINE);
  const mine = owner(kind, tid, CPU_RECLAIMING);
  let k: i32 = 0;
  for (let c: u32 = 0; c < n; c++) {
    const a = cpu_addr(c) + CPU_OWNER;
    // Pairs with cpu_online's cmpxchg (the claim we take over) and with a
    // concurrent reclaimer's cmpxchg (one of us wins).
    if (atomic.cmpxchg<u64>(a, on, mine) != on) continue;
    cpu_drain(c);
    // Release: pairs with cpu_online's cmpxchg from 0 (the cpu is clean).
    atomic.store<u64>(a, 0);
    k++;
  }
  return k;
}

/** Number of cpus online now (a cpu being reclaimed counts until it is free). */
export function cpus_online(): u32 {
  const n = load<u32>(H_NCPUS);
  let k: u32 = 0;
  for (let c: u32 = 0; c < n; c++) if (atomic.load<u64>(cpu_addr(c) + CPU_OWNER) != 0) k++;
  return k;
}
