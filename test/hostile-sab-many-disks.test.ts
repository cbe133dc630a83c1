// Description: SharedArrayBuffer reads on every ramdisk, not only the first (issue 7, memory safety 7).
// Invariant: a read into a SharedArrayBuffer-backed Uint8Array on any ramdisk, whichever was created
// first, is filled in place with the device's bytes and completes with res = its length (never -EFAULT).
import { tBoot, tDisk, tRead, tReap, tWrite } from './helpers';
import { hPattern, hPlain } from './hostile-helpers';

test('SAB reads on the first, second and third ramdisk are filled in place', async () => {
  const k = await tBoot();
  const disks = [0, 1, 2].map(() => tDisk(k, { serviceTimeUs: 0 }));
  const ctx = k.io_setup(16);
  const results: Array<[number, number, boolean]> = [];
  for (const [i, { fd }] of disks.entries()) {
    const data = hPattern(4096, 20 + i);
    expect(k.pwrite(fd, data, 8192)).toBe(4096);
    const dst = new Uint8Array(new SharedArrayBuffer(4096));
    expect(k.io_submit(ctx, [tRead(fd, dst, 8192, BigInt(i))])).toBe(1);
    const [ev] = tReap(k, ctx, 1);
    results.push([i, ev.res, Buffer.from(dst).equals(data)]);
  }
  expect(results).toEqual([[0, 4096, true], [1, 4096, true], [2, 4096, true]]);
});

test('one SharedArrayBuffer read and written on several disks, in one batch', async () => {
  const k = await tBoot();
  const disks = [0, 1, 2].map(() => tDisk(k, { serviceTimeUs: 0 }));
  const ctx = k.io_setup(16);
  const sab = new SharedArrayBuffer(3 * 1024);
  const src = new Uint8Array(new SharedArrayBuffer(1024));
  src.set(hPattern(1024, 4));
  // The same source SAB written to the three disks (the third, then the second, then the first).
  expect(k.io_submit(ctx, [2, 1, 0].map((i) => tWrite(disks[i].fd, src, 0, BigInt(10 + i))))).toBe(3);
  expect(hPlain(new Map(tReap(k, ctx, 3).map((e) => [e.data, e.res])))).toEqual(hPlain(new Map([[10n, 1024], [11n, 1024], [12n, 1024]])));
  // Three slices of one SAB, each read from another disk.
  const views = [0, 1, 2].map((i) => new Uint8Array(sab, i * 1024, 1024));
  expect(k.io_submit(ctx, [2, 0, 1].map((i) => tRead(disks[i].fd, views[i], 0, BigInt(i))))).toBe(3);
  expect(hPlain(new Map(tReap(k, ctx, 3).map((e) => [e.data, e.res])))).toEqual(hPlain(new Map([[0n, 1024], [1n, 1024], [2n, 1024]])));
  for (const v of views) expect(Buffer.from(v).equals(Buffer.from(src))).toBe(true);
});
