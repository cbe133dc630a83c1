// Description: the percpu_ida-style tag allocator: per-cpu caches, global pool, batch moves,
// stealing (driven as several cpus from one thread through the kernel's test hooks).
// Invariant: over any sequence of allocs and frees by any cpus, no id is given twice while held,
// none is lost, and an allocation fails only when every one of the context's capacity ids
// (Linux's figure for io_setup(nr), not nr) is held.
import fc from 'fast-check';
import type { Kernel } from 'kaio';
import { tBoot, tCapacity, tLinuxCapacity } from './helpers';

interface Hooks { tag_test_alloc(s: number, g: number, cpu: number): number; tag_test_free(s: number, g: number, cpu: number, id: number): number }
const hooks = (k: Kernel) => (k as unknown as { core: { x: Hooks } }).core.x;
const split = (ctx: number): [number, number] => [ctx % 65536, Math.floor(ctx / 65536)];

describe('tag allocator', () => {
  let k: Kernel;
  beforeAll(async () => {
    k = await tBoot({ maxCpus: 8 });
  });

  test('exhaustion: exactly capacity ids, distinct, then none; freeing one makes one available', () => {
    const ctx = k.io_setup(100);
    const cap = tCapacity(k, ctx, 100); // 248 with 2 possible cpus
    const [s, g] = split(ctx);
    const x = hooks(k);
    const held = new Set<number>();
    for (let i = 0; i < cap; i++) {
      const id = x.tag_test_alloc(s, g, i % 3);
      expect(id).toBeGreaterThanOrEqual(0);
      expect(id).toBeLessThan(cap);
      expect(held.has(id)).toBe(false);
      held.add(id);
    }
    expect(x.tag_test_alloc(s, g, 0)).toBe(-1);
    expect(x.tag_test_alloc(s, g, 5)).toBe(-1);
    expect(x.tag_test_free(s, g, 2, 42)).toBe(0);
    expect(x.tag_test_alloc(s, g, 7)).toBe(42); // stolen from cpu 2's cache
    expect(x.tag_test_alloc(s, g, 7)).toBe(-1);
    for (const id of held) expect(x.tag_test_free(s, g, 1, id)).toBe(0);
    expect(k.ctxStat(ctx)!.freeTags).toBe(cap);
    expect(x.tag_test_free(s, g, 1, cap)).toBe(-22); // id out of range
    expect(x.tag_test_alloc(s, g, 99)).toBe(-22); // no such cpu
    k.io_destroy(ctx);
  });

  test('batch moves: a cpu takes a batch from the global pool and gives a batch back when its cache is full', () => {
    const ctx = k.io_setup(4096);
    const cap = tCapacity(k, ctx, 4096); // 8312 with 2 possible cpus
    const st = k.ctxStat(ctx)!;
    expect(Math.floor(cap / (8 * 4))).toBeGreaterThan(32); // batch = cap / (8 cpus * 4), capped at 32; cache = 64
    expect(st.batch).toBe(32);
    expect(st.cacheSize).toBe(64);
    const [s, g] = split(ctx);
    const x = hooks(k);
    const me = k.cpu;
    const first = x.tag_test_alloc(s, g, me);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(k.ctxStat(ctx)!.cachedHere).toBe(31); // took 32, kept 31 after handing out one
    const ids = [first];
    for (let i = 0; i < 31; i++) ids.push(x.tag_test_alloc(s, g, me));
    expect(k.ctxStat(ctx)!.cachedHere).toBe(0);
    ids.push(x.tag_test_alloc(s, g, me)); // next batch
    expect(k.ctxStat(ctx)!.cachedHere).toBe(31);
    for (const id of ids) x.tag_test_free(s, g, me, id); // 31 + 33 = 64: full, not yet flushed
    expect(k.ctxStat(ctx)!.cachedHere).toBe(64);
    // A pop from the full cache makes room for one push: it goes back into the cache, no flush.
    const popped = x.tag_test_alloc(s, g, me);
    expect(k.ctxStat(ctx)!.cachedHere).toBe(63);
    expect(x.tag_test_free(s, g, me, popped)).toBe(0);
    expect(k.ctxStat(ctx)!.cachedHere).toBe(64);
    const other = x.tag_test_alloc(s, g, me + 1);
    x.tag_test_free(s, g, me, other); // a push onto a full cache gives 32 back first
    expect(k.ctxStat(ctx)!.cachedHere).toBe(33);
    expect(k.ctxStat(ctx)!.freeTags).toBe(cap);
    k.io_destroy(ctx);
  });

  test('stealing: ids cached by idle cpus are never stranded', () => {
    const ctx = k.io_setup(64);
    const cap = tCapacity(k, ctx, 64); // 248 with 2 possible cpus
    const st = k.ctxStat(ctx)!;
    expect(st.batch).toBe(Math.max(1, Math.min(32, Math.floor(cap / (8 * 4))))); // 7, cache 14
    const [s, g] = split(ctx);
    const x = hooks(k);
    // Every cpu takes a share of all the ids and frees them into its own cache.
    const all: number[] = [];
    for (let i = 0; i < cap; i++) all.push(x.tag_test_alloc(s, g, i % 8));
    expect(new Set(all).size).toBe(cap);
    expect(all.every((id) => id >= 0 && id < cap)).toBe(true);
    all.forEach((id, i) => x.tag_test_free(s, g, i % 8, id));
    let parked = 0; // ids now in the caches of cpus other than 3: the ones it must steal
    for (let cpu = 0; cpu < 8; cpu++) if (cpu !== 3) parked += k.ctxStat(ctx, cpu)!.cachedHere;
    expect(parked).toBeGreaterThan(0);
    // One cpu can now allocate all of them, raiding the others.
    const got = new Set<number>();
    for (let i = 0; i < cap; i++) got.add(x.tag_test_alloc(s, g, 3));
    expect(got.size).toBe(cap);
    expect(got.has(-1)).toBe(false);
    expect(x.tag_test_alloc(s, g, 3)).toBe(-1);
    for (const id of got) x.tag_test_free(s, g, 3, id);
    k.io_destroy(ctx);
  });

  test('property: random allocs and frees by random cpus never lose or duplicate an id', () => {
    const x = hooks(k);
    let total = 0;
    let fullTries = 0; // allocations tried with every id held (each must fail)
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        // Allocations outnumber frees by a per-run margin, so the walk also reaches a full
        // context (capacity >= 120) and stays there for a while.
        fc.integer({ min: 50, max: 70 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 7 }), fc.nat()), { minLength: 1, maxLength: 3000, size: 'max' }),
        (nr, allocPct, ops) => {
          const ctx = k.io_setup(nr);
          const cap = k.ctxStat(ctx)!.nr;
          const [s, g] = split(ctx);
          const held: number[] = [];
          total += ops.length;
          const set = new Set<number>();
          try {
            if (cap !== tLinuxCapacity(nr).capacity) return false;
            for (const [roll, cpu, pick] of ops) {
              if (roll < allocPct || held.length === 0) {
                const id = x.tag_test_alloc(s, g, cpu);
                if (held.length === cap) {
                  fullTries++;
                  if (id !== -1) return false; // all held: must fail
                } else {
                  if (id < 0 || id >= cap || set.has(id)) return false;
                  held.push(id);
                  set.add(id);
                }
              } else {
                const i = pick % held.length;
                const id = held[i];
                held[i] = held[held.length - 1];
                held.pop();
                set.delete(id);
                if (x.tag_test_free(s, g, cpu, id) !== 0) return false;
              }
            }
            for (const id of held) x.tag_test_free(s, g, 0, id);
            return k.ctxStat(ctx)!.freeTags === cap;
          } finally {
            k.io_destroy(ctx);
          }
        },
      ),
      { numRuns: 100, seed: 0x6b61696f },
    );
    expect(total).toBeGreaterThan(50_000); // the sequences really are long
    expect(fullTries).toBeGreaterThan(1000); // and often reach a full context
  });

  test('a full cache whose lower slots a thief emptied gives a batch back without losing the global stack', () => {
    const ctx = k.io_setup(100);
    const cap = tCapacity(k, ctx, 100);
    const [s, g] = split(ctx);
    const x = hooks(k);
    const { batch, cacheSize: cs } = k.ctxStat(ctx)!;
    expect(batch).toBeGreaterThanOrEqual(2); // so a batch move can meet an emptied slot after a real one
    // 1. cpu 1 holds every id.
    const held: number[] = [];
    for (let i = 0; i < cap; i++) held.push(x.tag_test_alloc(s, g, 1));
    expect(new Set(held).size).toBe(cap);
    expect(x.tag_test_alloc(s, g, 1)).toBe(-1);
    // 2. cpu 0 caches cs - 1 ids (room left: no batch move).
    for (let i = 0; i < cs - 1; i++) expect(x.tag_test_free(s, g, 0, held.pop()!)).toBe(0);
    expect(k.ctxStat(ctx, 0)!.cachedHere).toBe(cs - 1);
    // 3. cpu 1 (own cache and global stack empty) steals all of them; cpu 0's top still says cs - 1.
    held.push(x.tag_test_alloc(s, g, 1));
    expect(k.ctxStat(ctx, 0)!.cachedHere).toBe(0);
    expect(k.ctxStat(ctx, 1)!.cachedHere).toBe(cs - 2);
    // 4. cpu 1 frees until its cache gives a batch to the global stack.
    for (let i = 0; i < 3; i++) expect(x.tag_test_free(s, g, 1, held.pop()!)).toBe(0);
    expect(k.ctxStat(ctx, 1)!.cachedHere).toBe(cs + 1 - batch);
    // 5. cpu 0 fills its last slot, then its next free moves a batch: the slots below are empty (stolen).
    expect(x.tag_test_free(s, g, 0, held.pop()!)).toBe(0);
    expect(x.tag_test_free(s, g, 0, held.pop()!)).toBe(0);
    // Nothing lost: every id not held is counted free, and all of them can be taken again.
    expect(k.ctxStat(ctx)!.freeTags).toBe(cap - held.length);
    const got = new Set<number>();
    for (let id = x.tag_test_alloc(s, g, 3); id >= 0 && got.size <= cap; id = x.tag_test_alloc(s, g, 3)) got.add(id);
    expect(got.size).toBe(cap - held.length);
    for (const id of held) expect(got.has(id)).toBe(false);
    for (const id of [...got, ...held]) expect(x.tag_test_free(s, g, 2, id)).toBe(0);
    expect(k.ctxStat(ctx)!.freeTags).toBe(cap);
    expect(k.io_destroy(ctx)).toBe(0);
  });
});
