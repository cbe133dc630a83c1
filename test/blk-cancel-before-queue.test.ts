// Description: a cancel that lands while io_submit is still building a block request's bios.
// Invariant: a request cancelled at any point after it became cancellable completes -ECANCELED
// promptly, even on a paused device: a mark that came before the request's device was known is
// seen when its bios are queued (blk_submit), so no cancelled bio waits in stage 1 for a dequeue.
import { errno, IOCB_CMD, type IoEvent } from 'kaio';
import { tBoot, tDisk, tWorker } from './helpers';

test('a thread cancelling every outstanding request while 16-bio PREADVs are submitted to a paused device: each one completes -ECANCELED within 2 s, 1500 rounds', async () => {
  const ROUNDS = 1500;
  const SEGS = 16; // one bio each: the window between publication and the last bio's queueing
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  k.device(path).pause(); // nothing is ever dequeued: only a cancel scan can complete a request
  const ctx = k.io_setup(4);
  const shared = new SharedArrayBuffer(8);
  const stop = new Int32Array(shared);
  const canceller = await tWorker(k, { shared });
  const cancelling = canceller.run(({ k, shared }, { ctx }) => {
    const stop = new Int32Array(shared!);
    let n = 0;
    while (Atomics.load(stop, 0) === 0) {
      const out = k.io_outstanding(ctx);
      if (typeof out === 'number') break;
      for (const o of out) if (k.io_cancel(ctx, o) === -115) n++;
    }
    return n;
  }, { ctx });
  const bufs = Array.from({ length: SEGS }, () => Buffer.alloc(512));
  let late = 0; // rounds whose cancelled request did not complete within 2 s
  const res = new Map<number, number>();
  for (let r = 0; r < ROUNDS && late === 0; r++) {
    expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.PREADV, aio_fildes: fd, aio_buf: bufs, aio_offset: 0, aio_data: BigInt(r) }])).toBe(1);
    const evs: IoEvent[] = [];
    if (k.io_getevents(ctx, 1, 1, evs, 2000) !== 1) late++;
    else res.set(evs[0].res, (res.get(evs[0].res) ?? 0) + 1);
  }
  Atomics.store(stop, 0, 1);
  await cancelling;
  expect(late).toBe(0);
  expect([...res.keys()]).toEqual([-errno.ECANCELED]);
  expect(k.device(path).stats().dispatched).toBe(0);
});
