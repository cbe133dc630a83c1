// Invariant: a bio whose request is marked for cancel but not yet unlinked by its callback, met by the
// device thread at the head of stage 1, completes -ECANCELED there, once, and never reaches the device.
//
// io_cancel moves a request with a callback to CANCELLING, then runs the
// callback (blkdev_cancel), which unlinks the request's queued bios. In between,
// the device thread may fetch: blk_fetch drops a marked bio from stage 1 and
// completes it (cancel_chain); its completion then waits until the canceller
// stores CANCELLED. Fault injection 'cancel-cb-hold' holds the canceller in that
// gap until the test releases it: a worker cancels a read queued on a paused
// ramdisk and is held; the test resumes the ramdisk, sees the device thread
// drop the bio (cancelledQueued), and releases the canceller.
import { errno, IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import * as L from '../assembly/include/layout';
import { tBoot, tHeld, tWorker } from './helpers';

test('a marked bio the device thread meets before the callback ran is completed -ECANCELED at fetch', async () => {
  const k = await tBoot({ maxCpus: 4, faultInjection: 'cancel-cb-hold' });
  const u32 = (k as unknown as { core: { u32: Uint32Array } }).core.u32;
  const path = k.ramdisk('fetchdrop', { sizeBytes: 1 << 16 });
  await k.device(path).ready();
  const dev = k.device(path);
  const fd = k.open(path, 'rw');
  const ctx = k.io_setup(4);
  dev.pause();
  const buf = Buffer.alloc(4096, 0x11);
  const read: Iocb = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf, aio_offset: 0, aio_data: 1n };
  expect(k.io_submit(ctx, [read])).toBe(1);
  const until = async (cond: () => boolean): Promise<boolean> => {
    for (let i = 0; i < 200_000; i++) {
      if (cond()) return true;
      await new Promise((r) => setImmediate(r));
    }
    return cond();
  };

  // 1. The worker cancels: the request goes CANCELLING and the worker is held before the callback.
  const worker = await tWorker(k);
  const cancel = worker.run(({ k: wk }, a: { ctx: number; key: number }) => wk.io_cancel(a.ctx, { aio_key: a.key }), { ctx, key: read.aio_key! });
  expect(tHeld(u32, L.H_FI_CB_HOLD)).toBe(L.FI_HOLD_WAITING);

  // 2. The device thread, resumed, meets the marked bio at the head of stage 1 and drops it.
  dev.resume();
  const dropped = await until(() => dev.stats().cancelledQueued === 1);
  Atomics.store(u32, L.H_FI_CB_HOLD >>> 2, L.FI_HOLD_RELEASED);
  expect(dropped).toBe(true);
  expect(await cancel).toBe(-errno.EINPROGRESS);

  // 3. One event, -ECANCELED; the device never ran it and the buffer is as it was.
  const evs: IoEvent[] = [];
  expect(k.io_getevents(ctx, 1, 2, evs, 10_000)).toBe(1);
  expect(evs.map((e) => [e.data, e.res])).toEqual([[1n, -errno.ECANCELED]]);
  expect(k.io_getevents(ctx, 0, 2, [], 0)).toBe(0);
  expect(dev.stats()).toMatchObject({ dispatched: 0, completed: 0, cancelledQueued: 1 });
  expect(buf.every((b) => b === 0x11)).toBe(true);
});
