// Description: kernel memory above 2 GiB (issue 7, memory safety 4).
// Invariant: every memoryMiB that boot accepts works in full: with the heap pushed past 2 GiB,
// k.buffer() blocks there do exact zero-copy I/O and contexts whose rings live there submit, reap and
// cancel; a size boot refuses is a RangeError naming memoryMiB.
import { Kernel, errno } from 'kaio';
import { tBoot, tDisk, tRead, tReap, tWrite } from './helpers';
import { hPattern, hPlain } from './hostile-helpers';

const TWO_GIB = 2 ** 31;

test('memoryMiB 4095: buffers and rings above 2 GiB do exact I/O; submit, reap and cancel work', async () => {
  let k: Kernel;
  try {
    k = await tBoot({ memoryMiB: 4095 });
  } catch (e) {
    // Refusing the size is allowed, but only as a RangeError that names the option.
    expect(e).toBeInstanceOf(RangeError);
    expect((e as Error).message).toMatch(/memoryMiB/);
    return;
  }
  // Media is never written here except two pages, so the process touches little of it.
  const big = tDisk(k, { sizeBytes: 0x88000000, serviceTimeUs: 0 });
  const small = tDisk(k, { sizeBytes: 1 << 20, serviceTimeUs: 0 });

  const src = k.buffer(65536);
  expect(src.byteOffset).toBeGreaterThanOrEqual(TWO_GIB);
  const data = hPattern(65536, 11);
  src.set(data);
  const ctx = k.io_setup(64);
  expect(ctx).toBeGreaterThan(0);
  const ring = k.ring(ctx);
  expect(ring.byteOffset).toBeGreaterThanOrEqual(TWO_GIB);
  expect(ring.getUint32(16, true)).toBe(0xa10a10a1);

  expect(k.io_submit(ctx, [tWrite(small.fd, src, 0, 1n)])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(65536);
  const dst = k.buffer(65536);
  expect(dst.byteOffset).toBeGreaterThanOrEqual(TWO_GIB);
  expect(k.io_submit(ctx, [tRead(small.fd, dst, 0, 2n)])).toBe(1);
  const [ev] = tReap(k, ctx, 1);
  expect(hPlain([ev.data, ev.res])).toEqual(hPlain([2n, 65536]));
  expect(Buffer.from(dst).equals(data)).toBe(true);

  // The far end of the big disk (media above 2 GiB), through a plain (bounced) buffer and a sub-view.
  const end = 0x88000000 - 4096;
  expect(k.io_submit(ctx, [tWrite(big.fd, src.subarray(4096, 8192), end, 3n)])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(4096);
  const plain = Buffer.alloc(4096);
  expect(k.io_submit(ctx, [tRead(big.fd, plain, end, 4n)])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(4096);
  expect(plain.equals(data.subarray(4096, 8192))).toBe(true);

  // Cancel on a context above 2 GiB: a queued read is cancelled and never reaches the device.
  const dev = k.device(small.path);
  const dispatched = dev.stats().dispatched;
  dev.pause();
  const rd = tRead(small.fd, dst, 0, 5n);
  expect(k.io_submit(ctx, [rd])).toBe(1);
  expect(k.io_cancel(ctx, rd)).toBe(-errno.EINPROGRESS);
  const [c] = tReap(k, ctx, 1);
  expect(hPlain([c.data, c.res])).toEqual(hPlain([5n, -errno.ECANCELED]));
  dev.resume();
  expect(dev.stats().dispatched).toBe(dispatched);
  expect(k.io_destroy(ctx)).toBe(0);
});

test('a memoryMiB boot cannot honour is a RangeError naming memoryMiB', async () => {
  await expect(Kernel.boot({ memoryMiB: 1 << 20 })).rejects.toThrow(RangeError);
  await expect(Kernel.boot({ memoryMiB: 1 << 20 })).rejects.toThrow(/memoryMiB/);
  await expect(Kernel.boot({ memoryMiB: 4096 })).rejects.toThrow(RangeError);
});
