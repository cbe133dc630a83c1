/**
 * CPUs: every thread that instantiates the module claims one, and passes its
 * id to every export that has per-cpu behaviour (tag caches, slot batches,
 * scratch). Ids are claimed by cmpxchg and given back on detach, at which
 * point the cpu's cached tags and slots go back to every live context's global
 * pool. A cpu that vanished without detaching (a terminated worker) leaves its
 * caches to be stolen: tag_alloc and get_reqs raid other cpus before failing.
 */
import { CPU_OFF, CPU_SIZE, CPU_STATE, CPU_KIND, CPU_TID, CPU_FREE, CPU_ONLINE, CPU_EPOCH, H_NCPUS, MAX_CTX, CX_STATE_GEN } from './layout';
import { hi32 } from './barrier';
import { ctx_addr, ctx_get, ctx_put } from './ctxtab';
import { tags_drain_cpu } from './tags';
import { reqs_drain_cpu } from './ring';

@inline export function cpu_addr(cpu: u32): usize {
  return CPU_OFF + <usize>cpu * CPU_SIZE;
}

/** Claim a cpu id. Returns it, or -1 if all ncpus are taken. */
export function cpu_online(kind: u32, tid: u32): i32 {
  const n = load<u32>(H_NCPUS);
  for (let c: u32 = 0; c < n; c++) {
    const a = cpu_addr(c);
    // Pairs with cpu_offline's atomic store of CPU_FREE.
    if (atomic.cmpxchg<u32>(a + CPU_STATE, CPU_FREE, CPU_ONLINE) == CPU_FREE) {
      store<u32>(a, kind, CPU_KIND);
      store<u32>(a, tid, CPU_TID);
      // A new epoch: cookies of this id's earlier owner stop naming anything.
      // Pairs with cookie_orphan's load.
      atomic.add<u32>(a + CPU_EPOCH, 1);
      return <i32>c;
    }
  }
  return -1;
}

/** Give back every tag and ring slot this cpu caches, in every live context. */
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

/** Detach: drain the cpu's caches and free its id. */
export function cpu_offline(cpu: u32): void {
  if (cpu >= load<u32>(H_NCPUS)) return;
  cpu_drain(cpu);
  atomic.store<u32>(cpu_addr(cpu) + CPU_STATE, CPU_FREE);
}

/**
 * Take back the cpu claimed by a thread that exited without detaching (its
 * host id `tid`, kind `kind`): drain its caches, free its id. Returns the cpu,
 * or -1 if no such cpu is online.
 */
export function cpu_reclaim(kind: u32, tid: u32): i32 {
  const n = load<u32>(H_NCPUS);
  for (let c: u32 = 0; c < n; c++) {
    const a = cpu_addr(c);
    if (atomic.load<u32>(a + CPU_STATE) == CPU_ONLINE && load<u32>(a, CPU_KIND) == kind && load<u32>(a, CPU_TID) == tid) {
      cpu_offline(c);
      return <i32>c;
    }
  }
  return -1;
}

/** Number of cpus online now. */
export function cpus_online(): u32 {
  const n = load<u32>(H_NCPUS);
  let k: u32 = 0;
  for (let c: u32 = 0; c < n; c++) if (atomic.load<u32>(cpu_addr(c) + CPU_STATE) == CPU_ONLINE) k++;
  return k;
}
