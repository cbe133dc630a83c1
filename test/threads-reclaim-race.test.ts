// Description: cpu_reclaim(kind, tid) against cpus being claimed at the same time.
// Invariant: reclaiming a thread that is gone frees only cpus that thread claimed; a cpu a live thread has just claimed is never freed under it, whatever the cpu's previous owner was.
import * as L from '../assembly/include/layout';
import { tBoot, tWorker, type TEnv } from './helpers';

type X = { cpu_online(kind: number, tid: number): number; cpu_offline(cpu: number): void; cpu_reclaim(kind: number, tid: number): number };

const ITERS = 10_000;

test('a reclaim of a gone thread never frees the cpu another thread is claiming on the same slot', async () => {
  const k = await tBoot({ maxCpus: 4 }); // main + kworker: two cpus left for the two claimers
  const base = k.stats().cpusOnline;
  // [0, 1] dead tid published by claimer i; [2] claimers done; [3] reclaims that freed something;
  // [4, 8) owner of cpu c (claimer index + 1); [8, 10) double claims seen by claimer i.
  const sab = new SharedArrayBuffer(64);
  const claimer = (env: TEnv, a: { handle: typeof k.handle; sab: SharedArrayBuffer; i: number; iters: number; kind: number }) => {
    const x = new WebAssembly.Instance(a.handle.module, { env: { memory: a.handle.memory } }).exports as unknown as X;
    const s = new Int32Array(a.sab);
    const live = 500 + a.i; // this thread's own (live) tid
    for (let n = 0; n < a.iters; n++) {
      // A thread that claims a cpu, detaches cleanly and is gone: its tid is dead from here on.
      const dead = 1_000_000 + a.i * 10_000_000 + n;
      const c1 = x.cpu_online(a.kind, dead);
      if (c1 >= 0) x.cpu_offline(c1);
      Atomics.store(s, a.i, dead);
      // A live thread claims a cpu, maybe the one the dead thread left.
      const c2 = x.cpu_online(a.kind, live);
      if (c2 < 0) continue;
      if (Atomics.compareExchange(s, 4 + c2, 0, a.i + 1) !== 0) Atomics.add(s, 8 + a.i, 1); // someone else holds it
      else Atomics.store(s, 4 + c2, 0);
      x.cpu_offline(c2);
    }
    Atomics.add(s, 2, 1);
    return 0;
  };
  const reclaimer = (env: TEnv, a: { handle: typeof k.handle; sab: SharedArrayBuffer; kind: number }) => {
    const x = new WebAssembly.Instance(a.handle.module, { env: { memory: a.handle.memory } }).exports as unknown as X;
    const s = new Int32Array(a.sab);
    let calls = 0;
    while (Atomics.load(s, 2) < 2) {
      for (let i = 0; i < 2; i++) {
        const dead = Atomics.load(s, i);
        if (dead === 0) continue;
        calls++;
        if (x.cpu_reclaim(a.kind, dead) > 0) Atomics.add(s, 3, 1); // > 0: some cpu was freed (before the fix: its index)
      }
    }
    return calls;
  };
  const [a, b, r] = await Promise.all([tWorker(k, { attach: false }), tWorker(k, { attach: false }), tWorker(k, { attach: false })]);
  const kind = L.CPU_KIND_WORKER;
  const [calls] = await Promise.all([
    r.run(reclaimer, { handle: k.handle, sab, kind }),
    a.run(claimer, { handle: k.handle, sab, i: 0, iters: ITERS, kind }),
    b.run(claimer, { handle: k.handle, sab, i: 1, iters: ITERS, kind }),
  ]);
  const s = new Int32Array(sab);
  expect(calls).toBeGreaterThan(0);
  expect({ wrongReclaims: s[3], doubleClaims: s[8] + s[9] }).toEqual({ wrongReclaims: 0, doubleClaims: 0 });
  expect(k.stats().cpusOnline).toBe(base);
});
