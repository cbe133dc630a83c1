// Invariant: a cancel whose compare-and-swap loses to completion acts on nothing: it returns -EINVAL, and the
// retired generation stays retired (the word is FREE at the next generation).
//
// kiocb_cancel loads the cancel word, decides, and moves it with one cmpxchg;
// a failed cmpxchg must send it round its loop with the word it saw. Fault
// injection 'cancel-race' holds the first io_cancel after boot that finds a
// live request between that load and the cmpxchg, until the request has
// completed and its generation is retired (FREE at the next generation). Here
// a worker cancels a pipe read that waits with its callback registered, and is
// held; this thread writes to the pipe, which completes the read; the worker's
// cmpxchg then fails and its loop sees the next generation: -EINVAL. A cancel
// that took its failed cmpxchg for a win would return -EINPROGRESS, run the
// read's callback on a finished request, and store CANCELLED with the old
// generation over the freed word: the id's next request would take the old
// generation back, and the old key would cancel it.
import { errno, IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import * as L from '../assembly/include/layout';
import { tBoot, tReap, tWorker, tHeld } from './helpers';

test('a cancel that loses the word to completion returns -EINVAL and leaves the generation retired', async () => {
  const k = await tBoot({ maxCpus: 4, faultInjection: 'cancel-race' });
  const u32 = (k as unknown as { core: { u32: Uint32Array } }).core.u32;
  const u64 = new BigUint64Array(u32.buffer);
  const [r, w] = k.pipe();
  const ctx = k.io_setup(1);
  const buf = Buffer.alloc(4);
  const read: Iocb = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: r, aio_buf: buf, aio_data: 1n };
  expect(k.io_submit(ctx, [read])).toBe(1);
  const key = read.aio_key!;
  expect(Atomics.load(u32, L.H_FI_CANCEL_HOLD >>> 2)).toBe(0);

  // 1. The worker cancels the waiting read and is held before its cmpxchg.
  const worker = await tWorker(k);
  const cancel = worker.run(({ k: wk }, a: { ctx: number; key: number }) => wk.io_cancel(a.ctx, { aio_key: a.key }), { ctx, key });
  expect(tHeld(u32, L.H_FI_CANCEL_HOLD)).toBe(L.FI_HOLD_WAITING);

  // 2. A write completes the read; its generation is retired while the cancel is held.
  expect(k.write(w, Buffer.from('data'))).toBe(4);
  expect(await cancel).toBe(-errno.EINVAL);
  expect(Atomics.load(u32, L.H_FI_CANCEL_HOLD >>> 2)).toBe(L.FI_HOLD_REUSED);
  const evs = tReap(k, ctx, 1);
  expect(evs.map((e) => [e.data, e.res])).toEqual([[1n, 4]]);
  expect(buf.toString()).toBe('data');

  // 3. The word stays FREE at the next generation; the old key finds nothing.
  const gid = key % 2 ** L.KEY_ID_BITS;
  const gen = Math.floor(key / 2 ** L.KEY_ID_BITS);
  const page = u32[(L.CPAGE_OFF >>> 2) + Math.floor(gid / L.CW_PER_PAGE)];
  const word = u64[(page + (gid % L.CW_PER_PAGE) * 8) >>> 3];
  expect(word).toBe((BigInt(gen + 1) << 32n) | BigInt(L.KIOCB_FREE));
  expect(k.io_cancel(ctx, { aio_key: key })).toBe(-errno.EINVAL);
  const rest: IoEvent[] = [];
  expect([k.io_getevents(ctx, 0, 4, rest, 0), rest]).toEqual([0, []]);
});
