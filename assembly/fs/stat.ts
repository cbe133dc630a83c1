/**
 * Read-only views for tests, the stress tool and io_destroy's bookkeeping.
 * None of these is on a hot path.
 */
import { H_NCPUS, MAX_CTX, MAX_CPUS, CX_NR, CX_RING_NR, CX_BATCH, CX_CACHE_SIZE, CX_ID_BASE, CX_COMPLETED } from '../include/layout';
import { EINVAL } from '../include/errno';
import { ctx_get, ctx_put } from './ctxtab';
import { tags_count_free, tags_cached, tag_alloc, tag_free } from '../lib/tags';
import { reqs_count, ring_pending } from './ring';
import { kiocb_lookup, ki_cw } from './kiocb';
import { ctx_inflight } from './ctx';

/**
 * Statistics of a live context into out[0..]: nr, ring_nr, free tags, free
 * slots (after crediting consumed events), inflight, events in the ring,
 * batch, cache size, id base, events published, tags cached by `cpu`.
 * Returns 0, or -EINVAL if the context is not live.
 */
export function ctx_stat(slot: u32, gen: u32, cpu: u32, out: usize): i32 {
  const ctx = ctx_get(slot, gen);
  if (ctx == 0) return -EINVAL;
  store<u32>(out, load<u32>(ctx, CX_NR), 0);
  store<u32>(out, load<u32>(ctx, CX_RING_NR), 4);
  store<u32>(out, tags_count_free(ctx), 8);
  store<u32>(out, reqs_count(ctx), 12);
  store<u32>(out, ctx_inflight(slot), 16);
  store<u32>(out, ring_pending(ctx), 20);
  store<u32>(out, load<u32>(ctx, CX_BATCH), 24);
  store<u32>(out, load<u32>(ctx, CX_CACHE_SIZE), 28);
  store<u32>(out, load<u32>(ctx, CX_ID_BASE), 32);
  store<u32>(out, load<u32>(ctx, CX_COMPLETED), 36);
  store<u32>(out, cpu < load<u32>(H_NCPUS) ? tags_cached(ctx, cpu) : 0, 40);
  ctx_put(ctx);
  return 0;
}

/** ki_cancel state of the kiocb with global id gid in a live context, or -1. */
export function kiocb_peek(slot: u32, gen: u32, gid: u32): i64 {
  if (slot >= MAX_CTX) return -1;
  const ctx = ctx_get(slot, gen);
  if (ctx == 0) return -1;
  const req = kiocb_lookup(ctx, gid);
  const v: i64 = req == 0 ? -1 : <i64>atomic.load<u64>(ki_cw(req));
  ctx_put(ctx);
  return v;
}

// --- tag allocator hooks for property tests (test/tags-*.test.ts) -----------
// They drive one context's tag pool as any cpu, bypassing ring slots, so a
// single thread can play several cpus deterministically.

/** tag_alloc on behalf of `cpu`: a context-local id, or -1 (none free), -EINVAL (bad args). */
export function tag_test_alloc(slot: u32, gen: u32, cpu: u32): i32 {
  if (cpu >= load<u32>(H_NCPUS)) return -EINVAL;
  const ctx = ctx_get(slot, gen);
  if (ctx == 0) return -EINVAL;
  const id = tag_alloc(ctx, cpu);
  ctx_put(ctx);
  return id == 0xffffffff ? -1 : <i32>id;
}

/** tag_free on behalf of `cpu`. 0, or -EINVAL (bad args). */
export function tag_test_free(slot: u32, gen: u32, cpu: u32, id: u32): i32 {
  if (cpu >= load<u32>(H_NCPUS)) return -EINVAL;
  const ctx = ctx_get(slot, gen);
  if (ctx == 0) return -EINVAL;
  if (id >= load<u32>(ctx, CX_NR)) {
    ctx_put(ctx);
    return -EINVAL;
  }
  tag_free(ctx, cpu, id);
  ctx_put(ctx);
  return 0;
}
