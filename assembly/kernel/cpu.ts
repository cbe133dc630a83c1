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
 * calls cpu_reclaim, which cleans up after the thread as if it had detached,
 * and also undoes what a thread stopped inside a syscall left behind (see
 * cpu_reclaim for exactly what).
 */
import {
  CPU_OFF, CPU_SIZE, CPU_OWNER, CPU_DEFER, CPU_STAGED, CPU_ONLINE, CPU_RECLAIMING, CPU_KIND_SHIFT,
  H_NCPUS, MAX_CTX, CX_STATE_GEN, SCRATCH_OFF, SCRATCH_SHIFT, SCRATCH_STAGE, CPU_EPOCH, CPU_ORPHANS,
  H_ORPHANS, COOKIE_SPACE, CPU_SUBMITTED, PC_INFLIGHT, CPU_SPARE_TAG, CPU_HELD_REQS, TAG_EMPTY,
} from '../include/layout';
import { hi32, lo32, pack } from '../include/barrier';
import { ctx_addr, ctx_get_on, ctx_put_on, ctx_refs_of, ctx_refs_drop } from '../fs/ctxtab';
import { tags_drain_cpu, tag_free, pcpu_of } from '../lib/tags';
import { reqs_drain_cpu, put_reqs, ring_publish_staged } from '../fs/ring';
import { eventfd_notify_staged } from '../fs/eventfd';
import { blk_finish_plug } from '../block/blk';

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
 * that ends cpu_offline and cpu_reclaim, after which the cpu's caches, staged
 * events and references are all clean.
 */
export function cpu_online(kind: u32, tid: u32): i32 {
  const n = load<u32>(H_NCPUS);
  const w = owner(kind, tid, CPU_ONLINE);
  for (let c: u32 = 0; c < n; c++) {
    const a = cpu_addr(c);
    if (atomic.cmpxchg<u64>(a + CPU_OWNER, 0, w) == 0) {
      // A new epoch: cookies of this id's earlier owner (their events may
      // still be in a ring) stop naming anything, and its orphan bits go.
      // Pairs with cookie_orphan's load of the epoch.
      atomic.add<u32>(a + CPU_EPOCH, 1);
      memory.fill(<usize>load<u32>(H_ORPHANS) + <usize>c * (COOKIE_SPACE >> 3), 0, COOKIE_SPACE >> 3);
      atomic.store<u32>(a + CPU_ORPHANS, 0);
      return <i32>c;
    }
  }
  return -1;
}

/**
 * Give back every tag and ring slot `cpu` caches, in every live context. The
 * context reference is counted on `cpu` itself, so a thread stopped in here
 * leaves only a reference that cpu_reclaim drops.
 */
export function cpu_drain(cpu: u32): void {
  if (cpu >= load<u32>(H_NCPUS)) return;
  for (let s: u32 = 0; s < MAX_CTX; s++) {
    const sg = atomic.load<u64>(ctx_addr(s) + CX_STATE_GEN);
    if (sg == 0) continue;
    const ctx = ctx_get_on(cpu, s, hi32(sg));
    if (ctx == 0) continue;
    tags_drain_cpu(ctx, cpu);
    reqs_drain_cpu(ctx, cpu);
    ctx_put_on(cpu, s);
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
 * Undo what a thread stopped inside a syscall on `cpu` left behind. Only for a
 * cpu in RECLAIMING (its thread is gone and no one else runs on it).
 *  - Inside io_submit (CPU_DEFER set): the events of requests that completed
 *    inline are staged in the cpu's scratch; they are published to the
 *    context the cpu holds a reference on (io_submit holds exactly one, on the
 *    context it submits to, from before CPU_DEFER is set to after it is
 *    cleared, so the ring is still there). Then CPU_DEFER and CPU_STAGED are
 *    cleared, so the next thread on this cpu does not stage into a dead batch,
 *    and the doorbells its plug owes (CPU_PLUG) are rung.
 *  - The cpu's per-syscall context references are dropped (io_destroy waits
 *    for their sum to be 0), waking any io_destroy waiting on them.
 */
function cpu_undo_syscall(cpu: u32): void {
  const ca = cpu_addr(cpu);
  const staged = load<u32>(ca, CPU_STAGED);
  const submitted = load<u32>(ca, CPU_SUBMITTED);
  const spare = load<u32>(ca, CPU_SPARE_TAG);
  const held = load<u32>(ca, CPU_HELD_REQS);
  if (load<u32>(ca, CPU_DEFER) != 0 && (staged != 0 || submitted != 0 || spare != TAG_EMPTY || held != 0)) {
    for (let s: u32 = 0; s < MAX_CTX; s++) {
      if (ctx_refs_of(cpu, s) == 0) continue;
      // The batch's spare id and unused ring slots, before its events are
      // visible, as io_submit's end would have given them back (the drain
      // below moves them on to the context's global pools).
      if (spare != TAG_EMPTY) tag_free(ctx_addr(s), cpu, spare);
      if (held != 0) put_reqs(ctx_addr(s), cpu, held);
      // The batch's in-flight count, as io_submit's end would have added it (CPU_SUBMITTED).
      const delta = <i32>submitted - <i32>staged;
      if (delta != 0) atomic.add<i32>(pcpu_of(ctx_addr(s), cpu) + PC_INFLIGHT, delta);
      if (staged != 0) {
        ring_publish_staged(ctx_addr(s), SCRATCH_OFF + (<usize>cpu << SCRATCH_SHIFT) + SCRATCH_STAGE, staged);
        eventfd_notify_staged(cpu, SCRATCH_OFF + (<usize>cpu << SCRATCH_SHIFT) + SCRATCH_STAGE, staged);
      }
      break;
    }
  }
  store<u32>(ca, 0, CPU_DEFER);
  store<u32>(ca, 0, CPU_STAGED);
  store<u32>(ca, 0, CPU_SUBMITTED);
  store<u32>(ca, TAG_EMPTY, CPU_SPARE_TAG);
  store<u32>(ca, 0, CPU_HELD_REQS);
  blk_finish_plug(cpu); // bios it queued wait for a doorbell it did not ring
  ctx_refs_drop(cpu);
}

/**
 * Take back every cpu claimed by thread (kind, tid), which is gone (exited or
 * terminated without detaching; the host calls this on its 'exit' event).
 * For each: undo what a syscall it was stopped in left behind, drain its
 * caches, free its id. Returns how many cpus were taken back (a thread may
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
    cpu_undo_syscall(c);
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
