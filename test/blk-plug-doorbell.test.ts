// Invariant: io_submit plugs the block layer (Linux's blk_start_plug/blk_finish_plug): a batch rings a device's doorbell once per BLK_MAX_REQUEST_COUNT bios it queues there and once at its end, never once per bio, and every bio it queued is serviced.
import * as L from '../assembly/include/layout';
import { errno, type IoEvent } from 'kaio';
import { tBoot, tDisk, tRead } from './helpers';

type Core = { u8: Uint8Array; u32: Uint32Array };

/** The doorbell word of the device named `path` ('/dev/<name>'), found by its name in the device table. */
function doorbell(core: Core, path: string): () => number {
  const name = Buffer.from(path.replace(/^\/dev\//, ''));
  for (let i = 0; i < L.MAX_DEVS; i++) {
    const d = L.DEV_OFF + i * L.DEV_SIZE;
    if (Buffer.from(core.u8.subarray(d + L.D_NAME, d + L.D_NAME + name.length + 1)).equals(Buffer.concat([name, Buffer.alloc(1)]))) {
      return () => Atomics.load(core.u32, (d + L.D_DOORBELL) >>> 2);
    }
  }
  throw new Error(`no device ${path}`);
}

function reapAll(k: Awaited<ReturnType<typeof tBoot>>, ctx: number, n: number): IoEvent[] {
  const all: IoEvent[] = [];
  while (all.length < n) {
    const evs: IoEvent[] = [];
    const r = k.io_getevents(ctx, 1, n - all.length, evs, 10_000);
    if (r <= 0) throw new Error(`io_getevents: ${r}`);
    all.push(...evs.slice(0, r));
  }
  return all;
}

test('a batch of 65 reads to one paused disk rings its doorbell 3 times (at 32 and 64 bios, and at the end for the 65th), and all 65 complete on resume', async () => {
  const k = await tBoot();
  const core = (k as unknown as { core: Core }).core;
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const bell = doorbell(core, path);
  const dev = k.device(path);
  dev.pause();
  const ctx = k.io_setup(128);
  const bufs = Array.from({ length: 65 }, () => k.buffer(512));
  const before = bell();
  expect(k.io_submit(ctx, bufs.map((b, i) => tRead(fd, b, i * 512, BigInt(i))))).toBe(65);
  expect(bell() - before).toBe(3);
  // A batch that fills the plug exactly owes nothing at its end.
  expect(k.io_submit(ctx, bufs.slice(0, 32).map((b, i) => tRead(fd, b, i * 512, BigInt(100 + i))))).toBe(32);
  expect(bell() - before).toBe(4);
  dev.resume();
  const evs = reapAll(k, ctx, 97);
  expect(evs.map((e) => e.res)).toEqual(Array(97).fill(512));
  expect(new Set(evs.map((e) => e.data)).size).toBe(97);
});

test('a batch over two disks rings each doorbell once at its end; a single-request batch rings once', async () => {
  const k = await tBoot();
  const core = (k as unknown as { core: Core }).core;
  const a = tDisk(k, { serviceTimeUs: 0 });
  const b = tDisk(k, { serviceTimeUs: 0 });
  const bellA = doorbell(core, a.path);
  const bellB = doorbell(core, b.path);
  k.device(a.path).pause();
  k.device(b.path).pause();
  const ctx = k.io_setup(32);
  const bufs = Array.from({ length: 20 }, () => k.buffer(512));
  const [a0, b0] = [bellA(), bellB()];
  expect(k.io_submit(ctx, bufs.map((buf, i) => tRead(i % 2 ? b.fd : a.fd, buf, 0, BigInt(i))))).toBe(20);
  expect([bellA() - a0, bellB() - b0]).toEqual([1, 1]);
  expect(k.io_submit(ctx, [tRead(a.fd, k.buffer(512), 0, 99n)])).toBe(1);
  expect([bellA() - a0, bellB() - b0]).toEqual([2, 1]);
  // A cancel of a queued bio needs no doorbell: it unlinks the bio itself.
  const iocb = tRead(b.fd, k.buffer(512), 0, 100n);
  expect(k.io_submit(ctx, [iocb])).toBe(1);
  expect(k.io_cancel(ctx, iocb)).toBe(-errno.EINPROGRESS);
  expect([bellA() - a0, bellB() - b0]).toEqual([2, 2]);
  k.device(a.path).resume();
  k.device(b.path).resume();
  const evs = reapAll(k, ctx, 22);
  expect(evs.filter((e) => e.res === 512).length).toBe(21);
  expect(evs.find((e) => e.data === 100n)?.res).toBe(-errno.ECANCELED);
});

test('a batch that stops at a bad iocb still rings the doorbell of the bios it queued', async () => {
  const k = await tBoot();
  const core = (k as unknown as { core: Core }).core;
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const bell = doorbell(core, path);
  const ctx = k.io_setup(8);
  const before = bell();
  const bufs = [k.buffer(512), k.buffer(512)];
  expect(k.io_submit(ctx, [tRead(fd, bufs[0], 0, 1n), tRead(fd, bufs[1], 512, 2n), tRead(12345, bufs[0], 0, 3n)])).toBe(2);
  expect(bell() - before).toBe(1);
  // The device is running: the two are serviced without any other kick.
  const evs = reapAll(k, ctx, 2);
  expect(evs.map((e) => [e.data, e.res]).sort()).toEqual([[1n, 512], [2n, 512]]);
});
