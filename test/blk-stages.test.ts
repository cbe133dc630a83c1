// Description: where a cancel takes effect in the block layer (S6).
// Invariant: a request cancelled in the software queue (stage 1) never reaches the device and
// completes -ECANCELED without waiting for the device; in the device queue (stage 2) only an
// abortable device drops it; executing (stage 3) it completes normally. Idle: dispatched =
// completed + cancelledDevice. (mark-only's counts differ by design: test/blk-mark-only.test.ts.)
import { errno } from 'kaio';
import { STRATEGIES, tBoot, tByData, tDisk, tRead, tReap } from './helpers';

describe.each(STRATEGIES.filter(([, o]) => o.cancel !== 'mark-only'))('block layer stages (%s)', (_name, opts) => {
  test('stage 1: cancelled while the device is paused, never dispatched, completes promptly', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 100 });
    const dev = k.device(path);
    dev.pause();
    const ctx = k.io_setup(64);
    const iocbs = Array.from({ length: 40 }, (_, i) => tRead(fd, Buffer.alloc(4096), i * 4096, BigInt(i)));
    expect(k.io_submit(ctx, iocbs)).toBe(40);
    for (let i = 0; i < 40; i += 2) expect(k.io_cancel(ctx, iocbs[i])).toBe(-errno.EINPROGRESS);
    // Still paused: the 20 cancelled complete anyway, and nothing was dispatched.
    const cancelled = tByData((() => { const e: import('kaio').IoEvent[] = []; expect(k.io_getevents(ctx, 20, 40, e, 10_000)).toBe(20); return e; })());
    for (const [d, res] of cancelled) {
      expect(Number(d) % 2).toBe(0);
      expect(res).toBe(-errno.ECANCELED);
    }
    expect(dev.stats()).toEqual({ dispatched: 0, completed: 0, cancelledQueued: 20, cancelledDevice: 0, bytes: 0 });
    dev.resume();
    const rest = tByData(tReap(k, ctx, 20));
    for (const [d, res] of rest) {
      expect(Number(d) % 2).toBe(1);
      expect(res).toBe(4096);
    }
    expect(dev.stats()).toEqual({ dispatched: 20, completed: 20, cancelledQueued: 20, cancelledDevice: 0, bytes: 20 * 4096 });
  });

  test('stage 1 behind a full device queue: cancelled requests do not wait for room', async () => {
    const k = await tBoot(opts);
    // One request executes (held: it cannot finish) and one waits in the device queue (depth 1).
    const { path, fd } = tDisk(k, { serviceTimeUs: 0, queueDepth: 1 });
    const dev = k.device(path);
    dev.hold();
    const ctx = k.io_setup(16);
    const iocbs = Array.from({ length: 6 }, (_, i) => tRead(fd, Buffer.alloc(512), i * 512, BigInt(i)));
    expect(k.io_submit(ctx, iocbs)).toBe(6);
    const deadline = Date.now() + 5000;
    while (dev.stats().dispatched < 2 && Date.now() < deadline);
    expect(dev.stats().dispatched).toBe(2);
    for (let i = 2; i < 6; i++) expect(k.io_cancel(ctx, iocbs[i])).toBe(-errno.EINPROGRESS);
    const ev: import('kaio').IoEvent[] = [];
    expect(k.io_getevents(ctx, 4, 6, ev, 10_000)).toBe(4);
    // They completed while the device was still busy with its first request.
    expect(dev.stats().completed).toBe(0);
    expect(ev.every((e) => e.res === -errno.ECANCELED && e.data >= 2n)).toBe(true);
    dev.release();
    expect(tByData(tReap(k, ctx, 2))).toEqual(new Map([[0n, 512], [1n, 512]]));
    expect(dev.stats()).toMatchObject({ dispatched: 2, completed: 2, cancelledQueued: 4 });
  });

  test('stage 2: an abortable device drops cancelled requests from its queue; a plain one runs them', async () => {
    for (const abortable of [true, false]) {
      const k = await tBoot(opts);
      const { path, fd } = tDisk(k, { serviceTimeUs: 0, queueDepth: 8, abortable });
      const dev = k.device(path);
      dev.hold(); // the first request to execute cannot finish: the cancels below are never late
      const ctx = k.io_setup(16);
      const iocbs = Array.from({ length: 5 }, (_, i) => tRead(fd, Buffer.alloc(512), i * 512, BigInt(i)));
      expect(k.io_submit(ctx, iocbs)).toBe(5);
      const deadline = Date.now() + 5000;
      while (dev.stats().dispatched < 5 && Date.now() < deadline); // all in the device: 1 executing, 4 queued
      expect(dev.stats().dispatched).toBe(5);
      for (let i = 1; i < 5; i++) expect(k.io_cancel(ctx, iocbs[i])).toBe(-errno.EINPROGRESS);
      if (abortable) expect(tByData(tReap(k, ctx, 4))).toEqual(new Map([1n, 2n, 3n, 4n].map((d) => [d, -errno.ECANCELED])));
      expect(dev.stats().completed).toBe(0); // held
      dev.release();
      const res = tByData(abortable ? tReap(k, ctx, 1) : tReap(k, ctx, 5));
      if (abortable) for (let i = 1; i < 5; i++) res.set(BigInt(i), -errno.ECANCELED);
      expect(res.get(0n)).toBe(512); // stage 3: too late
      for (let i = 1; i < 5; i++) expect(res.get(BigInt(i))).toBe(abortable ? -errno.ECANCELED : 512);
      const st = dev.stats();
      expect(st.cancelledQueued).toBe(0);
      expect(st.cancelledDevice).toBe(abortable ? 4 : 0);
      expect(st.dispatched).toBe(st.completed + st.cancelledDevice);
    }
  });
});

describe('device start-up', () => {
  // Invariant: device(path).ready() resolves only once the device's thread is online, and at once
  // on a running device; requests submitted before it wait in stage 1 and are not lost.
  test('ready() resolves once the device thread is online; earlier requests are served after', async () => {
    const k = await tBoot();
    const before = k.stats().cpusOnline;
    const path = k.ramdisk(`ready${process.pid}`, { sizeBytes: 1 << 16, serviceTimeUs: 0 });
    const fd = k.open(path, 'r');
    const ctx = k.io_setup(8);
    const early = tRead(fd, Buffer.alloc(512), 0, 1n);
    expect(k.io_submit(ctx, [early])).toBe(1);
    const dev = k.device(path);
    await expect(dev.ready()).resolves.toBeUndefined();
    expect(k.stats().cpusOnline).toBe(before + 1);
    await expect(dev.ready()).resolves.toBeUndefined();
    expect(tByData(tReap(k, ctx, 1))).toEqual(new Map([[1n, 512]]));
    expect(dev.stats()).toMatchObject({ dispatched: 1, completed: 1 });
    k.io_destroy(ctx);
    // A null device has no thread: it is ready from the start.
    await expect(k.device(k.nulldev(`null${process.pid}`)).ready()).resolves.toBeUndefined();
  });
});
