// Description: io_cancel asks and returns at once; the outcome arrives as the event (S5).
// Invariant: every submitted request yields exactly one event, -ECANCELED only where a cancel
// took effect; a cancel of anything not in flight on this context is -EINVAL.
import { errno } from 'kaio';
import { STRATEGIES, tBoot, tByData, tCancelled, tDisk, tRead, tReap } from './helpers';

describe.each(STRATEGIES)('io_cancel (%s)', (_name, opts) => {
  test('a queued request: -EINPROGRESS, then exactly one event with -ECANCELED', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
    k.device(path).pause();
    const ctx = k.io_setup(8);
    const r = tRead(fd, Buffer.alloc(512), 0, 5n);
    expect(k.io_submit(ctx, [r])).toBe(1);
    expect(k.io_cancel(ctx, r)).toBe(-errno.EINPROGRESS);
    if (opts.cancel === 'mark-only') k.device(path).resume(); // mark-only: it waits for the device
    const [ev] = tReap(k, ctx, 1);
    expect(ev.res).toBe(tCancelled(opts, 512));
    expect(ev.obj).toBe(r);
    expect(k.io_cancel(ctx, r)).toBe(-errno.EINVAL); // completed
    expect(k.io_getevents(ctx, 0, 8, [], 50)).toBe(0); // and no second event
  });

  test('a second cancel of a pending request is -EINPROGRESS again, and still one event', async () => {
    const k = await tBoot(opts);
    // A held, non-abortable device: once in its queue, a request stays pending after a cancel.
    const { path, fd } = tDisk(k, { serviceTimeUs: 0, queueDepth: 4 });
    k.device(path).hold();
    const ctx = k.io_setup(8);
    const r = tRead(fd, Buffer.alloc(512), 0, 1n);
    const s = tRead(fd, Buffer.alloc(512), 512, 2n);
    expect(k.io_submit(ctx, [r, s])).toBe(2);
    // Wait until both left the software queue (the device dispatched them).
    const deadline = Date.now() + 5000;
    while (k.device(path).stats().dispatched < 2 && Date.now() < deadline);
    expect(k.device(path).stats().dispatched).toBe(2);
    expect(k.io_cancel(ctx, s)).toBe(-errno.EINPROGRESS);
    expect(k.io_cancel(ctx, s)).toBe(-errno.EINPROGRESS);
    expect(k.io_cancel(ctx, { aio_key: s.aio_key! })).toBe(-errno.EINPROGRESS);
    expect(k.io_getevents(ctx, 0, 8, [], 0)).toBe(0); // still pending: held
    k.device(path).release();
    // Too late for a device that cannot abort: both complete normally.
    const evs = tReap(k, ctx, 2);
    expect(tByData(evs)).toEqual(new Map([[1n, 512], [2n, 512]]));
  });

  test('cancel after completion is -EINVAL and produces no second event', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(8);
    const r = tRead(fd, Buffer.alloc(512), 0, 9n);
    expect(k.io_submit(ctx, [r])).toBe(1);
    const [ev] = tReap(k, ctx, 1);
    expect(ev.res).toBe(512);
    expect(k.io_cancel(ctx, r)).toBe(-errno.EINVAL);
    expect(k.io_getevents(ctx, 0, 8, [], 50)).toBe(0);
  });

  test('a completed but unreaped request is -EINVAL too (its event is published)', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(8);
    const r = tRead(fd, Buffer.alloc(512));
    expect(k.io_submit(ctx, [r])).toBe(1);
    const deadline = Date.now() + 5000;
    while (k.ctxStat(ctx)!.inRing < 1 && Date.now() < deadline);
    expect(k.io_cancel(ctx, r)).toBe(-errno.EINVAL);
    expect(tReap(k, ctx, 1)[0].res).toBe(512);
  });

  test('another context\'s request is -EINVAL on this context and unaffected', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
    k.device(path).pause();
    const a = k.io_setup(8);
    const b = k.io_setup(8);
    const ra = tRead(fd, Buffer.alloc(512), 0, 1n);
    const rb = tRead(fd, Buffer.alloc(512), 0, 2n);
    expect(k.io_submit(a, [ra])).toBe(1);
    expect(k.io_submit(b, [rb])).toBe(1);
    expect(k.io_cancel(a, rb)).toBe(-errno.EINVAL);
    expect(k.io_cancel(b, ra)).toBe(-errno.EINVAL);
    k.device(path).resume();
    expect(tReap(k, a, 1)[0].res).toBe(512);
    expect(tReap(k, b, 1)[0].res).toBe(512);
  });

  test('half of many queued requests cancelled: exactly one event each, -ECANCELED for exactly the cancelled', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 10 });
    k.device(path).pause();
    const ctx = k.io_setup(256);
    const iocbs = Array.from({ length: 200 }, (_, i) => tRead(fd, Buffer.alloc(4096), (i % 200) * 4096, BigInt(i)));
    expect(k.io_submit(ctx, iocbs)).toBe(200);
    for (let i = 0; i < 200; i += 2) expect(k.io_cancel(ctx, iocbs[i])).toBe(-errno.EINPROGRESS);
    k.device(path).resume();
    const res = tByData(tReap(k, ctx, 200));
    expect(res.size).toBe(200);
    for (let i = 0; i < 200; i++) expect(res.get(BigInt(i))).toBe(i % 2 === 0 ? tCancelled(opts, 4096) : 4096);
  });
});
