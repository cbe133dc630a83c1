// Invariant: a thief whose xchg finds empty a victim slot its load saw full (the owner popped it meanwhile) takes nothing for that slot, so its cache holds exactly the ids it stole and its next cache_size frees all stay cached.
//
// The race (steal_tags): a thief loads a victim's slot, sees an id, and
// xchg's it out; between the two the owner can pop the same slot (cache_pop's
// xchg), and the thief's xchg then returns TAG_EMPTY. It must skip that slot.
// Counting it as stolen once it already holds an id would store TAG_EMPTY in
// its own cache and advance its top over it: a hole, after which the cache
// overflows (gives a batch back to the global stack) one free early.
// Fault injection 'steal-race' holds the first thief after boot that has
// stolen an id and sees another victim slot full (bounded) until that slot is
// empty; the test pops it as the owner inside the hold.
//
// Set-up, through the kernel's tag hooks on each thread's own cpu: this thread
// takes every id, frees two (its cache slots 0 and 1), and the worker, whose
// cache and the global stack are empty, allocates: it steals slot 0, and is
// held at slot 1, which this thread then pops.
import * as L from '../assembly/include/layout';
import { tBoot, tWorker, tHeld } from './helpers';

const split = (ctx: number): [number, number] => [ctx % 65536, Math.floor(ctx / 65536)];
interface Hooks { tag_test_alloc(s: number, g: number, cpu: number): number; tag_test_free(s: number, g: number, cpu: number, id: number): number }

test('a thief that loses a slot to its owner between load and xchg leaves no hole in its own cache', async () => {
  const k = await tBoot({ maxCpus: 4, faultInjection: 'steal-race' });
  const core = (k as unknown as { core: { x: Hooks; u32: Uint32Array } }).core;
  const ctx = k.io_setup(4);
  const st = k.ctxStat(ctx)!;
  const cs = st.cacheSize;
  expect(cs).toBe(2 * st.batch);
  const [s, g] = split(ctx);

  // 1. This cpu holds every id, then caches two of them (slots 0 and 1).
  const ids: number[] = [];
  for (let i = 0; i <= st.nr; i++) {
    const id = core.x.tag_test_alloc(s, g, k.cpu);
    if (id < 0) break;
    ids.push(id);
  }
  expect(ids.length).toBe(st.nr);
  expect(ids.length).toBeGreaterThanOrEqual(cs + 2);
  const i0 = ids.pop()!;
  const i1 = ids.pop()!;
  expect(core.x.tag_test_free(s, g, k.cpu, i0)).toBe(0);
  expect(core.x.tag_test_free(s, g, k.cpu, i1)).toBe(0);
  expect(k.ctxStat(ctx)!.cachedHere).toBe(2);
  expect(k.ctxStat(ctx)!.freeTags).toBe(2);
  expect(Atomics.load(core.u32, L.H_FI_STEAL_HOLD >>> 2)).toBe(0);

  // 2. The worker allocates: nothing in its cache or on the global stack, so it
  //    steals i0 from slot 0 and is held at slot 1.
  const worker = await tWorker(k);
  expect(k.ctxStat(ctx, worker.cpu)!.cachedHere).toBe(0);
  const thief = worker.run(({ k: wk }, a: { s: number; g: number }) => {
    const x = (wk as unknown as { core: { x: Hooks } }).core.x;
    return x.tag_test_alloc(a.s, a.g, wk.cpu);
  }, { s, g });
  expect(tHeld(core.u32, L.H_FI_STEAL_HOLD)).toBe(L.FI_HOLD_WAITING);

  // 3. The owner pops slot 1 inside the hold; the thief's xchg then finds it empty.
  expect(core.x.tag_test_alloc(s, g, k.cpu)).toBe(i1);
  expect(await thief).toBe(i0);
  expect(Atomics.load(core.u32, L.H_FI_STEAL_HOLD >>> 2)).toBe(L.FI_HOLD_REUSED);
  expect(k.ctxStat(ctx)!.freeTags).toBe(0);

  // 4. The thief's cache is empty with its top at 0: cache_size frees on its cpu
  //    fill it exactly, and none goes to the global stack.
  const after = await worker.run(({ k: wk }, a: { s: number; g: number; ids: number[]; ctx: number }) => {
    const x = (wk as unknown as { core: { x: Hooks } }).core.x;
    const before = wk.ctxStat(a.ctx)!.cachedHere;
    for (const id of a.ids) x.tag_test_free(a.s, a.g, wk.cpu, id);
    return { before, cached: wk.ctxStat(a.ctx)!.cachedHere };
  }, { s, g, ids: ids.slice(0, cs), ctx });
  expect(after).toEqual({ before: 0, cached: cs });
  expect(k.ctxStat(ctx)!.freeTags).toBe(cs);
  expect(k.ctxStat(ctx)!.cachedHere).toBe(0);
});
