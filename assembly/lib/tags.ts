/**
 * Tag allocator for kiocb ids, in the style of lib/percpu_ida.c, lock free.
 *
 * Each context owns ids [0, nr). Free ids live in:
 *   - a per-cpu cache of up to cache_size (= 2 x batch) slots. The owning cpu
 *     pushes and pops at its private `top` (a plain word only it uses); any
 *     slot may be emptied by a thief, who scans them all;
 *   - a global Treiber stack (CX_TAG_HEAD, links in tags_next[]), from which a
 *     cpu with an empty cache takes `batch` ids at a time, and to which a full
 *     cache gives back `batch` ids in one chain;
 *   - when the global stack is empty too, an allocator steals every id cached
 *     by the other cpus (percpu_ida's steal_tags), so no id is ever stranded in
 *     the cache of a cpu that went idle or away.
 *
 * percpu_ida serialises a cache against thieves with a per-cpu spinlock and
 * disabled interrupts. A user-space thread cannot disable preemption, so here
 * every slot move is a single xchg: a cache can be raided while its owner is
 * preempted, asleep or gone, and no lock is ever held. The cost is scanning a
 * victim's slots when stealing, which only happens when the global stack is
 * empty. A cpu preempted in the middle of a batch move holds those ids in
 * transit until it runs again; tag_alloc reports that as "busy" and the host
 * retries. (A thread terminated at that instant would lose them.)
 *
 * Trade-off stated as in the kernel: per-cpu caches (spread over cache lines
 * for large contexts) trade memory for scalability; a context of nr ids can
 * have up to ncpus x cache_size of them parked in caches.
 *
 * Encodings: the stack head is {aba:32 | id+1:32}; tags_next[id] = next id + 1;
 * 0 ends the stack. Cache slots hold an id or TAG_EMPTY.
 */
import {
  CX_NR, CX_TAGS_NEXT, CX_PCPU, CX_PCPU_STRIDE, CX_BATCH, CX_CACHE_SIZE, CX_TAG_HEAD,
  PC_TOP, PC_SLOTS, TAG_EMPTY, H_NCPUS, H_FI_TAG_HOOK, H_FLAGS, FLAG_FI_STEAL_RACE, H_FI_STEAL_HOLD,
  FI_HOLD_WAITING, FI_HOLD_REUSED, FI_HOLD_TIMEOUT,
} from '../include/layout';
import { pack, hi32, lo32, cpu_relax } from '../include/barrier';

@inline export function pcpu_of(ctx: usize, cpu: u32): usize {
  return <usize>load<u32>(ctx, CX_PCPU) + <usize>(cpu * load<u32>(ctx, CX_PCPU_STRIDE));
}

@inline function next_of(ctx: usize, id: u32): usize {
  return <usize>load<u32>(ctx, CX_TAGS_NEXT) + (<usize>id << 2);
}

/** Put ids [0, nr) on the global stack; empty every cache. Called by io_setup before publication. */
export function tags_init(ctx: usize, ncpus: u32): void {
  const nr = load<u32>(ctx, CX_NR);
  for (let i: u32 = 0; i < nr; i++) store<u32>(next_of(ctx, i), i + 1 < nr ? i + 2 : 0);
  store<u64>(ctx + CX_TAG_HEAD, pack(0, 1));
  const cs = load<u32>(ctx, CX_CACHE_SIZE);
  for (let c: u32 = 0; c < ncpus; c++) {
    const pc = pcpu_of(ctx, c);
    store<u32>(pc, 0, PC_TOP);
    for (let s: u32 = 0; s < cs; s++) store<u32>(pc + PC_SLOTS + (s << 2), TAG_EMPTY);
  }
}

/** Pop one id from the global stack, or TAG_EMPTY. */
function global_pop(ctx: usize): u32 {
  const head = ctx + CX_TAG_HEAD;
  let h = atomic.load<u64>(head);
  while (lo32(h) != 0) {
    const id = lo32(h) - 1;
    const next = atomic.load<u32>(next_of(ctx, id)); // stale if id was popped meanwhile: aba catches it
    // Pairs with the cmpxchg in global_push_chain and other pops.
    const seen = atomic.cmpxchg<u64>(head, h, pack(hi32(h) + 1, next));
    if (seen == h) return id;
    h = seen;
  }
  return TAG_EMPTY;
}

/** Push the chain first -> ... -> last (already linked through tags_next) in one cmpxchg. */
function global_push_chain(ctx: usize, first: u32, last: u32): void {
  const head = ctx + CX_TAG_HEAD;
  let h = atomic.load<u64>(head);
  while (true) {
    atomic.store<u32>(next_of(ctx, last), lo32(h));
    // Release: the links are visible before the chain is; pairs with global_pop's load.
    const seen = atomic.cmpxchg<u64>(head, h, pack(hi32(h) + 1, first + 1));
    if (seen == h) return;
    h = seen;
  }
}

/** Owner pops from its own cache. TAG_EMPTY if it holds none. */
function cache_pop(pc: usize): u32 {
  let top = load<u32>(pc, PC_TOP);
  while (top > 0) {
    top--;
    // Pairs with thieves' xchg on the same slot: exactly one of us gets the id.
    const t = atomic.xchg<u32>(pc + PC_SLOTS + (top << 2), TAG_EMPTY);
    if (t != TAG_EMPTY) {
      store<u32>(pc, top, PC_TOP);
      return t;
    }
  }
  store<u32>(pc, 0, PC_TOP);
  return TAG_EMPTY;
}

/** Move `batch` ids from the top of the own cache to the global stack. */
function cache_flush(ctx: usize, pc: usize, batch: u32): void {
  let top = load<u32>(pc, PC_TOP);
  let first: u32 = TAG_EMPTY;
  let last: u32 = TAG_EMPTY;
  let moved: u32 = 0;
  while (top > 0 && moved < batch) {
    top--;
    const t = atomic.xchg<u32>(pc + PC_SLOTS + (top << 2), TAG_EMPTY);
    if (t == TAG_EMPTY) continue; // stolen
    if (first == TAG_EMPTY) {
      first = t;
    } else {
      atomic.store<u32>(next_of(ctx, last), t + 1);
    }
    last = t;
    moved++;
  }
  store<u32>(pc, top, PC_TOP);
  if (first != TAG_EMPTY) global_push_chain(ctx, first, last);
}

/** Owner pushes onto its own cache, giving a batch back to the global stack when full. */
function cache_push(ctx: usize, pc: usize, id: u32): void {
  const cs = load<u32>(ctx, CX_CACHE_SIZE);
  let top = load<u32>(pc, PC_TOP);
  if (top >= cs) {
    cache_flush(ctx, pc, load<u32>(ctx, CX_BATCH));
    top = load<u32>(pc, PC_TOP);
  }
  // Release: pairs with the xchg of a thief or of our own later pop.
  atomic.store<u32>(pc + PC_SLOTS + (top << 2), id);
  store<u32>(pc, top + 1, PC_TOP);
}

/** Move up to `batch` ids from the global stack into the (empty) own cache; return one of them. */
function refill_from_global(ctx: usize, pc: usize): u32 {
  const batch = load<u32>(ctx, CX_BATCH);
  const got = global_pop(ctx);
  if (got == TAG_EMPTY) return TAG_EMPTY;
  let top = load<u32>(pc, PC_TOP);
  for (let i: u32 = 1; i < batch; i++) {
    const t = global_pop(ctx);
    if (t == TAG_EMPTY) break;
    atomic.store<u32>(pc + PC_SLOTS + (top << 2), t);
    top++;
  }
  store<u32>(pc, top, PC_TOP);
  return got;
}

/**
 * Fault injection (FLAG_FI_STEAL_RACE), called by steal_tags between its load
 * of a full victim slot and its xchg, once it has stolen an id already: the
 * first call after boot waits, bounded, until the slot is empty (its owner
 * popped it), so that the xchg finds TAG_EMPTY. Records the outcome in
 * H_FI_STEAL_HOLD. Needs nothing from fs/, so it lives here.
 */
function fi_steal_race(slot: usize): void {
  if ((load<u32>(H_FLAGS) & FLAG_FI_STEAL_RACE) == 0) return;
  if (atomic.cmpxchg<u32>(H_FI_STEAL_HOLD, 0, FI_HOLD_WAITING) != 0) return; // one hold per boot
  for (let i = 0; i < 1_000_000_000; i++) {
    // Pairs with the owner's xchg in cache_pop/cache_flush.
    if (atomic.load<u32>(slot) == TAG_EMPTY) {
      atomic.store<u32>(H_FI_STEAL_HOLD, FI_HOLD_REUSED);
      return;
    }
  }
  atomic.store<u32>(H_FI_STEAL_HOLD, FI_HOLD_TIMEOUT);
}

/**
 * Steal every id cached by other cpus into the (empty) own cache; return one.
 * Scans all slots of each victim, not just below its top hint: a victim that
 * died between storing a slot and raising top must not strand that id.
 */
function steal_tags(ctx: usize, cpu: u32, pc: usize): u32 {
  const ncpus = load<u32>(H_NCPUS);
  const cs = load<u32>(ctx, CX_CACHE_SIZE);
  let got: u32 = TAG_EMPTY;
  let top = load<u32>(pc, PC_TOP);
  for (let k: u32 = 1; k < ncpus; k++) {
    const victim = (cpu + k) % ncpus;
    const vp = pcpu_of(ctx, victim);
    for (let s: u32 = 0; s < cs; s++) {
      const slot = vp + PC_SLOTS + (s << 2);
      if (atomic.load<u32>(slot) == TAG_EMPTY) continue;
      if (got != TAG_EMPTY) fi_steal_race(slot);
      // Pairs with the owner's xchg in cache_pop/cache_flush: one of us wins the id.
      const t = atomic.xchg<u32>(slot, TAG_EMPTY);
      if (t == TAG_EMPTY) continue;
      if (got == TAG_EMPTY) {
        got = t;
      } else if (top < cs) {
        atomic.store<u32>(pc + PC_SLOTS + (top << 2), t);
        top++;
      } else {
        global_push_chain(ctx, t, t);
      }
    }
    if (got != TAG_EMPTY) break;
  }
  store<u32>(pc, top, PC_TOP);
  return got;
}

/**
 * Allocate an id on behalf of `cpu`. Returns the id, or TAG_EMPTY if none could
 * be found. Callers hold a reqs_available slot, which guarantees a free id
 * exists; it can only be missed while another cpu holds it in transit between
 * a cache and the global stack, so a bounded retry covers that window.
 */
export function tag_alloc(ctx: usize, cpu: u32): u32 {
  const pc = pcpu_of(ctx, cpu);
  for (let attempt = 0; attempt < 1000; attempt++) {
    let t = cache_pop(pc);
    if (t != TAG_EMPTY) return t;
    t = refill_from_global(ctx, pc);
    if (t != TAG_EMPTY) return t;
    t = steal_tags(ctx, cpu, pc);
    if (t != TAG_EMPTY) return t;
    cpu_relax();
  }
  return TAG_EMPTY;
}

/** Free an id on behalf of `cpu` (the completing thread). */
export function tag_free(ctx: usize, cpu: u32, id: u32): void {
  cache_push(ctx, pcpu_of(ctx, cpu), id);
  // Fault injection (FLAG_FI_TAG_FREE_REUSE): fs/kiocb.ts's hook, through its
  // function-table index; 0 (nothing) unless the boot asked for it.
  const hook = load<u32>(H_FI_TAG_HOOK);
  if (hook != 0) call_indirect<void>(hook, ctx, id);
}

/** Give every id cached by `cpu` back to the global stack (detach). */
export function tags_drain_cpu(ctx: usize, cpu: u32): void {
  const pc = pcpu_of(ctx, cpu);
  const cs = load<u32>(ctx, CX_CACHE_SIZE);
  for (let s: u32 = 0; s < cs; s++) {
    const t = atomic.xchg<u32>(pc + PC_SLOTS + (s << 2), TAG_EMPTY);
    if (t != TAG_EMPTY) global_push_chain(ctx, t, t);
  }
  store<u32>(pc, 0, PC_TOP);
}

/** Count free ids (global stack + every cache). Exact only when no cpu is allocating. */
export function tags_count_free(ctx: usize): u32 {
  let n: u32 = 0;
  let id = lo32(atomic.load<u64>(ctx + CX_TAG_HEAD));
  const nr = load<u32>(ctx, CX_NR);
  while (id != 0 && n <= nr) {
    n++;
    id = atomic.load<u32>(next_of(ctx, id - 1));
  }
  const ncpus = load<u32>(H_NCPUS);
  const cs = load<u32>(ctx, CX_CACHE_SIZE);
  for (let c: u32 = 0; c < ncpus; c++) {
    const pc = pcpu_of(ctx, c);
    for (let s: u32 = 0; s < cs; s++) if (atomic.load<u32>(pc + PC_SLOTS + (s << 2)) != TAG_EMPTY) n++;
  }
  return n;
}

/** Count ids cached by one cpu (tests of batch moves and stealing). */
export function tags_cached(ctx: usize, cpu: u32): u32 {
  const pc = pcpu_of(ctx, cpu);
  const cs = load<u32>(ctx, CX_CACHE_SIZE);
  let n: u32 = 0;
  for (let s: u32 = 0; s < cs; s++) if (atomic.load<u32>(pc + PC_SLOTS + (s << 2)) != TAG_EMPTY) n++;
  return n;
}
