// Invariant: once k.device(path).pause() has returned, no bio leaves that device's software queue (stage 1) until resume(): blk_fetch reads the pause under the queue lock, so even a device thread that saw "not paused" just before takes nothing queued after it.
import * as L from '../assembly/include/layout';
import { errno, type IoEvent } from 'kaio';
import { tBoot, tDisk, tRead } from './helpers';

type Core = { u8: Uint8Array; cpu: number; x: { blk_fetch(cpu: number, dev: number): number } };

function devIndex(core: Core, path: string): number {
  const name = Buffer.concat([Buffer.from(path.replace(/^\/dev\//, '')), Buffer.alloc(1)]);
  for (let i = 0; i < L.MAX_DEVS; i++) {
    const d = L.DEV_OFF + i * L.DEV_SIZE + L.D_NAME;
    if (Buffer.from(core.u8.subarray(d, d + name.length)).equals(name)) return i;
  }
  throw new Error(`no device ${path}`);
}

test('blk_fetch of a paused device returns nothing although bios are queued; after resume the device serves them all', async () => {
  const k = await tBoot();
  const core = (k as unknown as { core: Core }).core;
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const dev = k.device(path);
  dev.pause();
  const ctx = k.io_setup(8);
  const bufs = [k.buffer(512), k.buffer(512), k.buffer(512)];
  const iocbs = bufs.map((b, i) => tRead(fd, b, i * 512, BigInt(i)));
  expect(k.io_submit(ctx, iocbs)).toBe(3);
  // What the device thread would do if it had read D_PAUSED as 0 just before pause(): take from stage 1.
  expect(core.x.blk_fetch(core.cpu, devIndex(core, path))).toBe(0);
  expect(k.snapshot().devices.find((d) => d.path === path)!.softwareQueue).toBe(3);
  expect(dev.stats().dispatched).toBe(0);
  // Still in stage 1: a cancel takes it out at once; the other two are served on resume.
  expect(k.io_cancel(ctx, iocbs[0])).toBe(-errno.EINPROGRESS);
  dev.resume();
  const all: IoEvent[] = [];
  while (all.length < 3) {
    const evs: IoEvent[] = [];
    const r = k.io_getevents(ctx, 1, 3 - all.length, evs, 10_000);
    expect(r).toBeGreaterThan(0);
    all.push(...evs.slice(0, r));
  }
  expect(new Map(all.map((e) => [e.data, e.res]))).toEqual(new Map([[0n, -errno.ECANCELED], [1n, 512], [2n, 512]]));
  expect(dev.stats()).toMatchObject({ dispatched: 2, completed: 2, cancelledQueued: 1 });
});
