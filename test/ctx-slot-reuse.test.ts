// Invariant: a context set up in a slot that an earlier context used starts with an empty ring
// (producer, commit, returned and completed counts at 0): it delivers each of its events once and
// accepts as many requests, round after round, as the slot's first context did.
//
// io_setup finds context slots next-fit from a rover, so a freed slot comes back
// only after the others have been used once; the test cycles io_setup/io_destroy
// until it does, bounded by MAX_CTX rounds.
import { IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import * as L from '../assembly/include/layout';
import { tBoot } from './helpers';

test('a context in a reused slot: its ring starts empty, publishes every event once, and keeps its capacity', async () => {
  const k = await tBoot();
  const fd = k.open(k.nulldev('reuse'), 'rw');
  const noop = (data: number): Iocb => ({ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: BigInt(data) });
  /** Submit NOOPs one by one until the ring is full; then reap them all. The count. */
  const fillAndReap = (ctx: number): number => {
    let n = 0;
    while (n < 100_000 && k.io_submit(ctx, [noop(n)]) === 1) n++;
    const evs: IoEvent[] = [];
    expect(k.io_getevents(ctx, n, n + 1, evs, 5000)).toBe(n);
    expect(new Set(evs.map((e) => e.data)).size).toBe(n);
    return n;
  };
  const first = k.io_setup(1);
  expect(first).toBeGreaterThan(0);
  // The first life moves every counter well away from 0, and leaves 2 events in the ring.
  const cap = fillAndReap(first);
  expect(cap).toBeGreaterThan(8);
  expect(fillAndReap(first)).toBe(cap);
  expect(k.io_submit(first, [noop(1), noop(2), noop(3)])).toBe(3);
  expect(k.io_getevents(first, 1, 1, [], 5000)).toBe(1);
  expect(k.io_destroy(first)).toBe(0);
  let again = 0;
  let failed = 0;
  for (let i = 0; i <= L.MAX_CTX && again === 0 && failed === 0; i++) {
    const c = k.io_setup(1);
    if (c <= 0) failed = c;
    else if (c % L.MAX_CTX === first % L.MAX_CTX) again = c;
    else if (k.io_destroy(c) !== 0) failed = c;
  }
  expect(failed).toBe(0);
  expect(again).not.toBe(0);
  expect(again).not.toBe(first); // a new generation of the slot
  const st = k.ctxStat(again)!;
  expect([st.inRing, st.published, st.inflight]).toEqual([0, 0, 0]);
  expect([fillAndReap(again), fillAndReap(again), fillAndReap(again)]).toEqual([cap, cap, cap]);
  expect(k.io_getevents(again, 0, 8, [], 0)).toBe(0);
});
