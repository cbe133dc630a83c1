// Invariant: slot reservation (get_reqs) from the shared count by two threads at once never admits more than the context's capacity: after both have submitted until -EAGAIN, exactly capacity requests were accepted.
//
// With 64 possible cpus the batch is 1, so every reservation is a cmpxchg on
// the context's global count; the two threads leave a spin barrier together
// and race on that word for the whole round. Thread 0 then reaps every event.
import { tBoot, tCapacity, tDisk, tWorker } from './helpers';

test('two threads reserving slots at once: exactly capacity accepted per round, 300 rounds', async () => {
  const ROUNDS = 300;
  const k = await tBoot({ maxCpus: 64 });
  const { path } = tDisk(k);
  const ctx = k.io_setup(200);
  const cap = tCapacity(k, ctx, 200);
  expect(k.ctxStat(ctx)!.batch).toBe(1);
  // [0] barrier count, [1] accepted this round, [2] rounds with a wrong total, [3] first wrong total,
  // [4] first unexpected io_submit / io_getevents result
  const shared = new SharedArrayBuffer(32);
  const ws = await Promise.all([0, 1].map(() => tWorker(k, { shared })));
  const runs = ws.map((w, me) => w.run(({ k, kaio, shared }, { ctx, path, cap, ROUNDS, me }) => {
    const sync = new Int32Array(shared!);
    const fd = k.open(path, 'r');
    let gen = 0;
    const barrier = () => {
      gen += 2;
      Atomics.add(sync, 0, 1);
      for (let i = 0; i < 1e9 && Atomics.load(sync, 0) < gen; i++);
    };
    const iocb = [{ aio_lio_opcode: kaio.IOCB_CMD.NOOP, aio_fildes: fd }];
    for (let r = 0; r < ROUNDS; r++) {
      barrier();
      let n = 0;
      for (let i = 0; i <= cap; i++) {
        const got = k.io_submit(ctx, iocb);
        if (got === -11) break; // -EAGAIN: no slot left
        if (got !== 1) { Atomics.compareExchange(sync, 4, 0, got); break; }
        n++;
      }
      Atomics.add(sync, 1, n);
      barrier();
      if (me === 0) {
        const total = Atomics.exchange(sync, 1, 0);
        if (total !== cap && Atomics.add(sync, 2, 1) === 0) Atomics.store(sync, 3, total);
        let left = total;
        for (let t = 0; t < 1000 && left > 0; t++) {
          const g = k.io_getevents(ctx, 1, left, [], 5000);
          if (g <= 0) { Atomics.compareExchange(sync, 4, 0, 1000 + g); break; }
          left -= g;
        }
      }
      barrier();
    }
    return 0;
  }, { ctx, path, cap, ROUNDS, me }));
  await Promise.all(runs);
  const sync = new Int32Array(shared);
  expect(sync[4]).toBe(0);
  expect({ wrongRounds: sync[2], firstWrongTotal: sync[3] }).toEqual({ wrongRounds: 0, firstWrongTotal: 0 });
});
