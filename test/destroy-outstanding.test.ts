// Description: io_destroy cancels everything outstanding, waits for it, frees the context (S11).
// Invariant: io_destroy returns only when no request of the context is in flight; its quota is
// back; the id is dead afterwards; the device never executes what was cancelled in its queue.
import { errno, type IoEvent } from 'kaio';
import { STRATEGIES, tBoot, tDisk, tRead, tReap } from './helpers';

describe.each(STRATEGIES)('io_destroy (%s)', (_name, opts) => {
  const effective = opts.cancel !== 'mark-only';
  test('with queued requests on a paused device: returns, nothing dispatched (mark-only: after the device ran them)', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: effective ? 100 : 0 });
    const dev = k.device(path);
    dev.pause();
    const ctx = k.io_setup(128);
    const iocbs = Array.from({ length: 100 }, (_, i) => tRead(fd, Buffer.alloc(512), i * 512, BigInt(i)));
    expect(k.io_submit(ctx, iocbs)).toBe(100);
    expect(k.io_outstanding(ctx)).toHaveLength(100);
    if (effective) {
      expect(k.io_destroy(ctx)).toBe(0);
      expect(dev.stats()).toMatchObject({ dispatched: 0, cancelledQueued: 100 });
    } else {
      // The baseline cannot drop queued requests: io_destroy waits until the device runs them.
      const destroyed = k.io_destroy_async(ctx);
      dev.resume();
      expect(await destroyed).toBe(0);
      expect(dev.stats()).toMatchObject({ dispatched: 100, completed: 100, cancelledQueued: 0 });
    }
    expect(k.aio_nr).toBe(0);
    for (const iocb of iocbs.slice(0, 3)) expect(k.io_cancel(ctx, iocb)).toBe(-errno.EINVAL);
    expect(k.io_submit(ctx, [iocbs[0]])).toBe(-errno.EINVAL);
    dev.resume();
  });

  test('waits for requests the device is executing, which complete normally', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 0, queueDepth: 2 });
    const dev = k.device(path);
    dev.hold(); // one executes and cannot finish, two wait in the device queue, five in stage 1
    const ctx = k.io_setup(16);
    expect(k.io_submit(ctx, Array.from({ length: 8 }, (_, i) => tRead(fd, Buffer.alloc(512), i * 512)))).toBe(8);
    const deadline = Date.now() + 5000;
    while (dev.stats().dispatched < 3 && Date.now() < deadline);
    expect(dev.stats().dispatched).toBe(3);
    const destroyed = k.io_destroy_async(ctx); // it must wait for the executing request
    await new Promise((r) => setImmediate(r));
    expect(dev.stats().completed).toBe(0);
    dev.release();
    expect(await destroyed).toBe(0);
    const st = dev.stats();
    // Everything either ran or was dropped in the queue; nothing is left in flight.
    expect(st.completed + st.cancelledQueued).toBe(8);
    expect(st.completed).toBe(effective ? 3 : 8); // effective: the five in stage 1 were dropped
    expect(st.dispatched).toBe(st.completed);
  });

  test('a reaper waiting asynchronously on the context gets -EINVAL', async () => {
    const k = await tBoot(opts);
    const ctx = k.io_setup(4);
    const pending = k.io_getevents_async(ctx, 1, 1, null);
    expect(k.io_destroy(ctx)).toBe(0);
    expect(await pending).toBe(-errno.EINVAL);
  });

  test('unreaped events are discarded; io_outstanding lists what is in flight with its data', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(8);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(8), 0, 1n)])).toBe(1);
    tReap(k, ctx, 0 + 1);
    k.device(path).pause();
    const a = tRead(fd, Buffer.alloc(8), 0, 0xabcn);
    expect(k.io_submit(ctx, [a])).toBe(1);
    expect(k.io_outstanding(ctx)).toEqual([{ aio_key: a.aio_key, aio_data: 0xabcn }]);
    k.device(path).resume();
    const ev: IoEvent[] = [];
    expect(k.io_getevents(ctx, 1, 1, ev, 5000)).toBe(1);
    expect(k.io_outstanding(ctx)).toEqual([]);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(8))])).toBe(1);
    expect(k.io_destroy(ctx)).toBe(0);
    expect(k.io_outstanding(ctx)).toBe(-errno.EINVAL);
  });
});
