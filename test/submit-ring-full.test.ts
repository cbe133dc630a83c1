// Description: a submit reserves a ring slot; when none is left io_submit says -EAGAIN (S2, S12).
// Invariant: a context of nr requests accepts exactly Linux's capacity for io_setup(nr) (from its
// ring size and the possible cpus) in flight or unreaped, never hangs, and every slot comes back
// once its event is consumed.
import { errno, IOCB_CMD } from 'kaio';
import { STRATEGIES, tBoot, tCapacity, tDisk, tLinuxCapacity, tRead, tReap, tWorker } from './helpers';

describe.each(STRATEGIES)('ring full (%s)', (_name, opts) => {
  test('capacity requests fit; the next is -EAGAIN; a batch across the limit is partial', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 50 });
    const dev = k.device(path);
    dev.pause();
    const ctx = k.io_setup(4);
    const cap = tCapacity(k, ctx, 4); // 120 with 2 possible cpus
    const ringNr = k.ring(ctx).getUint32(4, true);
    expect(ringNr).toBe(tLinuxCapacity(4).ring); // 127: one page of events
    expect(cap).toBeLessThanOrEqual(ringNr - 1); // whole req_batches of ring nr - 1, as in fs/aio.c
    const mk = (i: number) => tRead(fd, Buffer.alloc(512), i * 512, BigInt(i));
    const first = Array.from({ length: cap - 1 }, (_, i) => mk(i));
    expect(k.io_submit(ctx, first)).toBe(cap - 1);
    const across = [mk(cap - 1), mk(cap), mk(cap + 1)];
    expect(k.io_submit(ctx, across)).toBe(1);
    expect(across[1].aio_key).toBeUndefined();
    expect(k.io_submit(ctx, [mk(cap + 2)])).toBe(-errno.EAGAIN);
    expect(k.ctxStat(ctx)!.freeSlots).toBe(0);
    dev.resume();
    const evs = tReap(k, ctx, cap);
    expect(evs.map((e) => e.data).sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: cap }, (_, i) => BigInt(i)));
    expect(evs.every((e) => e.res === 512)).toBe(true);
    expect(k.ctxStat(ctx)!.freeSlots).toBe(cap);
    expect(k.io_submit(ctx, Array.from({ length: cap }, (_, i) => mk(cap + 3 + i)))).toBe(cap);
    expect(k.io_submit(ctx, [mk(0)])).toBe(-errno.EAGAIN);
    tReap(k, ctx, cap);
  });

  test('completed but unreaped events keep their slots until consumed', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(2);
    const cap = tCapacity(k, ctx, 2); // 120 with 2 possible cpus
    expect(k.io_submit(ctx, Array.from({ length: cap }, () => tRead(fd, Buffer.alloc(64))))).toBe(cap);
    // Wait until all are in the ring, without consuming them.
    const deadline = Date.now() + 5000;
    while (k.ctxStat(ctx)!.inRing < cap && Date.now() < deadline);
    expect(k.ctxStat(ctx)!.inRing).toBe(cap);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(64))])).toBe(-errno.EAGAIN);
    expect(k.io_getevents(ctx, 1, 1, [], 1000)).toBe(1);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(64))])).toBe(1);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(64))])).toBe(-errno.EAGAIN);
    tReap(k, ctx, cap);
  });
});

test('slots cached by another cpu are taken over, never counted twice: capacity in all, then -EAGAIN', async () => {
  const k = await tBoot({ maxCpus: 8 });
  const ctx = k.io_setup(100);
  const cap = tCapacity(k, ctx, 100);
  const { fd } = tDisk(k);
  const { batch } = k.ctxStat(ctx)!;
  expect(batch).toBeGreaterThanOrEqual(3); // the worker's cpu keeps batch - 1 >= 2 slots cached
  // A worker submits one NOOP (completed inline, left unreaped): its cpu takes a batch of slots.
  const w = await tWorker(k);
  expect(await w.run(({ k: wk, kaio }, x: { ctx: number; fd: number }) => wk.io_submit(x.ctx, [{ aio_lio_opcode: kaio.IOCB_CMD.NOOP, aio_fildes: x.fd, aio_data: 1n }]), { ctx, fd })).toBe(1);
  // This thread submits until -EAGAIN, nothing reaped: it empties the global count, then takes the worker's cache.
  let n = 0;
  let r = 0;
  for (let i = 0; i <= cap; i++) {
    r = k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: 2n }]);
    if (r !== 1) break;
    n++;
  }
  expect(r).toBe(-errno.EAGAIN);
  expect(n).toBe(cap - 1);
  expect(k.io_getevents(ctx, cap, cap, [], 5000)).toBe(cap);
  expect(k.io_destroy(ctx)).toBe(0);
});
