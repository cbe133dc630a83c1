// Invariant: a pipe cancel callback run late by set_cancel_fn acts only on the request of its own generation, never on the next request in the same kiocb.
//
// The race (pipe_cancel_cb's generation check): a pipe read is queued, a cancel
// comes before it registers its callback (state 0 -> CANCELLED, nothing to run),
// so set_cancel_fn runs the callback at once. If, before the callback takes the
// pipe lock, the read completes with data and its kiocb is reused by another
// waiting request (here a poll), the callback finds that request in the kiocb. Fault injection
// 'late-cancel-fn-reuse' holds both windows open (bounded): the submitter waits
// for the cancel, then the callback waits until the kiocb is live again under a
// new generation with a callback registered. A worker thread does the rest in
// between: cancel, write, reap, and submit polls until one gets the kiocb back.
import { IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import { tBoot, tWorker } from './helpers';

const KEY_ID_MASK = (1 << 23) - 1;
const POLLIN = 0x1;
const POLLRDNORM = 0x40;

test('a late pipe cancel callback leaves the next request in its kiocb waiting', async () => {
  const k = await tBoot({ maxCpus: 4, faultInjection: 'late-cancel-fn-reuse' });
  const [r1, w1] = k.pipe();
  const [r2, w2] = k.pipe();
  const ctx = k.io_setup(1);
  const late0 = k.stats().lateCallbacks;
  const worker = await tWorker(k);
  const driving = worker.run(({ k, kaio }, { ctx, w1, r2, KEY_ID_MASK, late0 }) => {
    // 1. The first read is in flight (its submitter is held before set_cancel_fn): cancel it.
    let key1 = -1;
    for (let i = 0; i < 10_000_000 && key1 < 0; i++) {
      const out = k.io_outstanding(ctx);
      if (typeof out === 'number') return { error: `io_outstanding ${out}` };
      if (out.length > 0) key1 = out[0].aio_key!;
    }
    if (key1 < 0) return { error: 'the first read never showed up' };
    const cancel = k.io_cancel(ctx, { aio_key: key1 });
    // 2. The submitter's set_cancel_fn has taken the "run at once" branch (the
    //    counter moves just before the held callback). Now the read completes
    //    with data, the held callback has not dequeued it, and it is reaped.
    let late = 0;
    for (let i = 0; i < 100_000_000 && late === 0; i++) late = k.stats().lateCallbacks - late0;
    const wrote = k.write(w1, Buffer.from('abcd'));
    const evs: IoEvent[] = [];
    const got = k.io_getevents(ctx, 1, 1, evs, 10_000);
    // 3. Polls on the other pipe (waiters with a pipe callback of their own, and
    //    no fault injection of their own) until one is given the read's kiocb.
    const keys: number[] = [];
    let reused = -1;
    for (let i = 0; i < 1000 && reused < 0; i++) {
      const iocb: Iocb = { aio_lio_opcode: kaio.IOCB_CMD.POLL, aio_fildes: r2, aio_buf: 1 /* POLLIN */, aio_data: BigInt(100 + i) };
      const n = k.io_submit(ctx, [iocb]);
      if (n !== 1) return { error: `io_submit ${n} after ${i}` };
      keys.push(iocb.aio_key!);
      if ((iocb.aio_key! & KEY_ID_MASK) === (key1 & KEY_ID_MASK)) reused = i;
    }
    return { key1, cancel, late, wrote, got, ev: evs[0] && { data: String(evs[0].data), key: evs[0].obj.aio_key, res: evs[0].res }, keys, reused };
  }, { ctx, w1, r2, KEY_ID_MASK, late0 });

  const buf1 = new Uint8Array(new SharedArrayBuffer(4)); // filled by the kworker, whoever reaps
  expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: r1, aio_buf: buf1, aio_data: 1n }])).toBe(1);
  const d = await driving as { error?: string; key1: number; cancel: number; late: number; wrote: number; got: number; ev: { data: string; key: number; res: number }; keys: number[]; reused: number };
  expect(d.error).toBeUndefined();
  expect(d.cancel).toBe(-115); // -EINPROGRESS: the cancel came first
  expect(d.late).toBe(1); // set_cancel_fn found the cancel and ran the callback at once
  expect(d.wrote).toBe(4);
  expect(d.got).toBe(1);
  expect(d.ev).toEqual({ data: '1', key: d.key1, res: 4 }); // completed with the data: the callback was still held
  expect(Buffer.from(buf1).toString()).toBe('abcd');
  expect(d.reused).toBeGreaterThanOrEqual(0);
  expect(d.keys[d.reused]).not.toBe(d.key1); // same kiocb, next generation
  expect(k.stats().lateCallbacks - late0).toBe(1);

  // The late callback has run (io_submit returned). Every poll on the second
  // pipe must still be waiting: one write completes all of them, readable.
  const n = d.keys.length;
  expect(k.write(w2, Buffer.from('x'))).toBe(1);
  const evs: IoEvent[] = [];
  while (evs.length < n) {
    const tmp: IoEvent[] = [];
    const g = k.io_getevents(ctx, 1, n, tmp, 10_000);
    expect(g).toBeGreaterThan(0);
    evs.push(...tmp);
  }
  expect(evs.map((e) => e.res)).toEqual(Array(n).fill(POLLIN | POLLRDNORM)); // none -ECANCELED
  expect(new Set(evs.map((e) => e.obj.aio_key))).toEqual(new Set(d.keys));
  expect(k.io_getevents(ctx, 0, 1, [], 0)).toBe(0);
});
