// Description: the tag allocator under two real threads at once (issue 8: "a multi-threaded test
// of stealing"), through the kernel's test hooks on each thread's own cpu.
// Invariant: while two cpus allocate and free concurrently no id is ever held twice, and after
// one of them stops with ids cached, the other can still take every one of the capacity ids.
import { tBoot, tCapacity, tWorker } from './helpers';

const split = (ctx: number): [number, number] => [ctx % 65536, Math.floor(ctx / 65536)];

test('two threads allocate and free concurrently: never a double grant; a stopped cpu\'s cache is stolen', async () => {
  const k = await tBoot({ maxCpus: 8 });
  const ctx = k.io_setup(64);
  const cap = tCapacity(k, ctx, 64);
  const [s, g] = split(ctx);
  // owner[id]: 0 free, else 1 + the thread index holding it. Written only by CAS.
  const shared = new SharedArrayBuffer(4 * (cap + 8));
  const ws = await Promise.all([0, 1].map(() => tWorker(k, { shared })));
  const phase1 = await Promise.all(ws.map((w, wi) => w.run(({ k: wk, shared: sab }, a: { s: number; g: number; wi: number; iters: number }) => {
    const owner = new Int32Array(sab!);
    const x = (wk as unknown as { core: { x: { tag_test_alloc(s: number, g: number, c: number): number; tag_test_free(s: number, g: number, c: number, id: number): number } } }).core.x;
    const cpu = wk.cpu;
    const me = a.wi + 1;
    const held: number[] = [];
    let doubles = 0, grants = 0, fails = 0;
    let r = 12345 + a.wi * 7919;
    for (let i = 0; i < a.iters; i++) {
      r ^= r << 13; r ^= r >>> 17; r ^= r << 5;
      if ((r >>> 0) % 100 < 55 || held.length === 0) {
        const id = x.tag_test_alloc(a.s, a.g, cpu);
        if (id < 0) { fails++; continue; }
        grants++;
        if (Atomics.compareExchange(owner, id, 0, me) !== 0) doubles++;
        held.push(id);
      } else {
        const id = held.splice((r >>> 0) % held.length, 1)[0];
        Atomics.store(owner, id, 0); // released before the free: a re-grant elsewhere finds it 0
        x.tag_test_free(a.s, a.g, cpu, id);
      }
    }
    // Give everything back; what this cpu caches stays cached (its cache is its own).
    for (const id of held) { Atomics.store(owner, id, 0); x.tag_test_free(a.s, a.g, cpu, id); }
    return { doubles, grants, fails, cached: wk.ctxStat((a.g * 65536) + a.s)!.cachedHere };
  }, { s, g, wi, iters: 100_000 })));
  for (const p of phase1) {
    expect(p.doubles).toBe(0);
    expect(p.grants).toBeGreaterThan(10_000);
  }
  expect(phase1[0].cached + phase1[1].cached).toBeGreaterThan(0); // ids stayed in the cpus' caches
  // Thread 0 stops here. Thread 1 must be able to hold every id, stealing thread 0's cache.
  const all = await ws[1].run(({ k: wk }, a: { s: number; g: number; cap: number }) => {
    const x = (wk as unknown as { core: { x: { tag_test_alloc(s: number, g: number, c: number): number; tag_test_free(s: number, g: number, c: number, id: number): number } } }).core.x;
    const got = new Set<number>();
    for (let i = 0; i <= a.cap; i++) {
      const id = x.tag_test_alloc(a.s, a.g, wk.cpu);
      if (id < 0) break;
      got.add(id);
    }
    const size = got.size;
    const inRange = [...got].every((id) => id >= 0 && id < a.cap);
    for (const id of got) x.tag_test_free(a.s, a.g, wk.cpu, id);
    return { size, inRange };
  }, { s, g, cap });
  expect(all).toEqual({ size: cap, inRange: true });
  expect(k.ctxStat(ctx)!.freeTags).toBe(cap);
});
