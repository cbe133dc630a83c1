// Description: ring publication by several producers at once (ring_advance's try-lock and re-check).
// Invariant: once every io_submit that completed requests inline has returned, all of their
// events are visible to io_getevents at once: a producer that lost the commit try-lock never
// leaves its event behind tail.
import { tBoot, tDisk, tWorker } from './helpers';

test('two threads publish inline completions in the same instant: after both io_submits return, all their events are reapable with no wait, 5000 overlapping rounds', async () => {
  // Rounds run until 5000 of them had the two io_submits overlap (seen by the
  // thread that returned first: the other had entered and not yet returned), so
  // a loaded machine, where the threads rarely run at the same instant, runs more
  // rounds instead of fewer races. Bounded by MAX_ROUNDS.
  const OVERLAPS = 5000;
  const MAX_ROUNDS = 60_000;
  const B = 2; // NOOPs per io_submit: one staged publication of B events each
  const k = await tBoot();
  const { path } = tDisk(k);
  const ctx = k.io_setup(64);
  // Two threads meet at a spin barrier (one per core of a 2-vCPU machine), so both publications
  // start within a few hundred ns; thread 0 then checks the ring. [0] barrier count, [1] rounds
  // whose events were not all visible, [2] first unexpected io_submit result, [3] stop,
  // [4] overlapping rounds, [5 + me] io_submits entered by thread me, [7 + me] returned.
  const shared = new SharedArrayBuffer(40);
  const ws = await Promise.all([0, 1].map(() => tWorker(k, { shared })));
  const runs = ws.map((w, me) => w.run(({ k, kaio, shared }, { ctx, path, OVERLAPS, MAX_ROUNDS, B, me }) => {
    const sync = new Int32Array(shared!);
    const fd = k.open(path, 'r');
    let gen = 0;
    const barrier = () => { // two-party, spin: both threads leave it within one Atomics.load of each other
      gen += 2;
      Atomics.add(sync, 0, 1);
      while (Atomics.load(sync, 0) < gen);
    };
    const iocbs = Array.from({ length: B }, () => ({ aio_lio_opcode: kaio.IOCB_CMD.NOOP, aio_fildes: fd }));
    let r = 0;
    for (; r < MAX_ROUNDS && Atomics.load(sync, 4) < OVERLAPS; r++) {
      barrier();
      Atomics.store(sync, 5 + me, r + 1);
      // -EAGAIN: slots of reaped events come back lazily (ring.ts, refill); retry, bounded.
      let n = k.io_submit(ctx, iocbs);
      for (let t = 0; n === -11 && t < 1000; t++) n = k.io_submit(ctx, iocbs);
      // The other thread is inside its io_submit of this round as this one returns.
      if (Atomics.load(sync, 5 + (1 - me)) === r + 1 && Atomics.load(sync, 7 + (1 - me)) !== r + 1) Atomics.add(sync, 4, 1);
      Atomics.store(sync, 7 + me, r + 1);
      if (n !== B) Atomics.compareExchange(sync, 2, 0, n === 0 ? -1 : n);
      barrier();
      if (me === 0) {
        const evs: unknown[] = [];
        const got = k.io_getevents(ctx, 0, 64, evs as never, 0);
        if (got !== 2 * B) {
          Atomics.add(sync, 1, 1);
          Atomics.store(sync, 3, 1); // one is enough: stop both threads after this round
          // What a lost advance left behind becomes visible at the next one: drain, bounded.
          k.io_getevents(ctx, 2 * B - got, 2 * B - got, [] as never, 1000);
        }
      }
      barrier();
      if (Atomics.load(sync, 3) !== 0) { r++; break; }
    }
    return r;
  }, { ctx, path, OVERLAPS, MAX_ROUNDS, B, me }));
  const rounds = await Promise.all(runs) as number[];
  const sync = new Int32Array(shared);
  expect(sync[2]).toBe(0);
  expect(sync[1]).toBe(0);
  expect(rounds[0]).toBe(rounds[1]); // the barriers kept them in step
  expect(k.ctxStat(ctx)!.published).toBe(rounds[0] * 2 * B);
});
