// Description: aio_buf over the kernel's own memory (issue 7, memory safety 2).
// Invariant: a buffer over the kernel's memory that is not inside one live k.buffer() block is
// -EFAULT at io_submit (PREAD/PWRITE and PREADV/PWRITEV elements alike), and no kernel byte changes.
import { IOCB_CMD, errno, type Iocb, type KernelBuffer } from 'kaio';
import type { Kernel } from 'kaio';
import { tBoot, tDisk, tReap } from './helpers';
import { hCollect, hCollectUntil, hPattern, hWatch, hPlain } from './hostile-helpers';

const AIO_RING_MAGIC = 0xa10a10a1;
const KAIO_MAGIC = 0x6b61696f;

/**
 * Submit `iocb` alone on a paused disk and return io_submit's result. If it
 * was accepted (the bug), cancel it while still queued (stage 1) and reap it, so
 * the bad read never reaches the device and never writes into kernel memory.
 */
function submitGuarded(k: Kernel, ctx: number, path: string, iocb: Iocb): number {
  const dev = k.device(path);
  dev.pause();
  const r = k.io_submit(ctx, [iocb]);
  if (r === 1) {
    k.io_cancel(ctx, iocb);
    tReap(k, ctx, 1);
  }
  dev.resume();
  return r;
}

async function setup() {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  expect(k.pwrite(fd, hPattern(8192, 1), 0)).toBe(8192);
  const ctx = k.io_setup(8);
  const kb = k.buffer(4096);
  const mem = kb.buffer as SharedArrayBuffer;
  const ring = k.ring(ctx);
  const header = () => new DataView(mem, 0, 64).getUint32(0, true);
  return { k, path, fd, ctx, kb, mem, ring, header };
}

const pread = (fd: number, buf: Uint8Array | Uint8Array[], data: bigint, op: number = IOCB_CMD.PREAD): Iocb =>
  ({ aio_lio_opcode: op, aio_fildes: fd, aio_buf: buf, aio_offset: 0, aio_data: data });

test('a view over the kernel header is -EFAULT at io_submit', async () => {
  const { k, path, fd, ctx, mem, ring, header } = await setup();
  const snap = Buffer.from(new Uint8Array(mem, 0, 64));
  expect(submitGuarded(k, ctx, path, pread(fd, new Uint8Array(mem, 0, 64), 1n))).toBe(-errno.EFAULT);
  expect(submitGuarded(k, ctx, path, pread(fd, new Uint8Array(mem, 0, 64), 2n, IOCB_CMD.PWRITE))).toBe(-errno.EFAULT);
  expect(header()).toBe(KAIO_MAGIC);
  expect(Buffer.from(new Uint8Array(mem, 0, 20)).equals(snap.subarray(0, 20))).toBe(true);
  expect(ring.getUint32(16, true)).toBe(AIO_RING_MAGIC);
});

test('a view over the completion ring is -EFAULT; the ring stays whole and events still arrive', async () => {
  const { k, path, fd, ctx, ring } = await setup();
  const overRing = new Uint8Array(ring.buffer, ring.byteOffset, ring.byteLength);
  expect(submitGuarded(k, ctx, path, pread(fd, overRing, 1n))).toBe(-errno.EFAULT);
  expect(submitGuarded(k, ctx, path, pread(fd, overRing.subarray(0, 32), 2n))).toBe(-errno.EFAULT);
  expect(ring.getUint32(16, true)).toBe(AIO_RING_MAGIC);
  expect(ring.getUint32(28, true)).toBe(32);
  const ok = Buffer.alloc(16);
  expect(k.io_submit(ctx, [pread(fd, ok, 3n)])).toBe(1);
  const [ev] = tReap(k, ctx, 1);
  expect(hPlain([ev.data, ev.res])).toEqual(hPlain([3n, 16]));
});

test('a view that starts inside a live k.buffer() block and runs past its end is -EFAULT', async () => {
  const { k, path, fd, ctx, kb, mem, ring } = await setup();
  const next = k.buffer(4096); // whatever follows the block must not be written
  next.fill(0x77);
  const straddle = new Uint8Array(mem, kb.byteOffset + 4000, 200);
  expect(submitGuarded(k, ctx, path, pread(fd, straddle, 1n))).toBe(-errno.EFAULT);
  const wholePlusOne = new Uint8Array(mem, kb.byteOffset, 4097);
  expect(submitGuarded(k, ctx, path, pread(fd, wholePlusOne, 2n))).toBe(-errno.EFAULT);
  const before = new Uint8Array(mem, kb.byteOffset - 1, 2);
  expect(submitGuarded(k, ctx, path, pread(fd, before, 3n))).toBe(-errno.EFAULT);
  expect(next.every((x) => x === 0x77)).toBe(true);
  expect(ring.getUint32(16, true)).toBe(AIO_RING_MAGIC);
});

test('a view over a block whose KernelBuffer was collected is -EFAULT', async () => {
  const { k, path, fd, ctx, mem } = await setup();
  let gone: KernelBuffer | undefined = k.buffer(8192);
  const addr = gone.byteOffset;
  const collected = hWatch(gone);
  gone = undefined;
  expect(await hCollectUntil(collected)).toBe(true);
  // This file's registry saw the object go; kaio's own (which frees the block) runs in the
  // same or a later round, in no set order: give it a bounded number of rounds. Until it
  // has run, the block is still a live user block and the read is accepted (harmlessly).
  let r = submitGuarded(k, ctx, path, pread(fd, new Uint8Array(mem, addr, 8192), 1n));
  for (let i = 0; i < 40 && r !== -errno.EFAULT; i++) {
    await hCollect(1);
    r = submitGuarded(k, ctx, path, pread(fd, new Uint8Array(mem, addr, 8192), 1n));
  }
  expect(r).toBe(-errno.EFAULT);
  expect(submitGuarded(k, ctx, path, pread(fd, new Uint8Array(mem, addr + 64, 64), 2n))).toBe(-errno.EFAULT);
});

test('PREADV/PWRITEV: an element over kernel memory outside a live block is -EFAULT', async () => {
  const { k, path, fd, ctx, kb, mem, ring } = await setup();
  const good = Buffer.alloc(16);
  const bad = new Uint8Array(mem, 0, 64);
  expect(submitGuarded(k, ctx, path, pread(fd, [good, bad], 1n, IOCB_CMD.PREADV))).toBe(-errno.EFAULT);
  expect(submitGuarded(k, ctx, path, pread(fd, [kb.subarray(0, 16), new Uint8Array(ring.buffer, ring.byteOffset, 32)], 2n, IOCB_CMD.PREADV))).toBe(-errno.EFAULT);
  expect(submitGuarded(k, ctx, path, pread(fd, [new Uint8Array(mem, kb.byteOffset + 4090, 16)], 3n, IOCB_CMD.PREADV))).toBe(-errno.EFAULT);
  expect(submitGuarded(k, ctx, path, pread(fd, [good, bad], 4n, IOCB_CMD.PWRITEV))).toBe(-errno.EFAULT);
  expect(ring.getUint32(16, true)).toBe(AIO_RING_MAGIC);
  expect(new DataView(mem, 0, 4).getUint32(0, true)).toBe(KAIO_MAGIC);
});

test('an -EFAULT entry k > 0 submits the entries before it, not it; a hand-made view inside a live block is accepted', async () => {
  const { k, path, fd, ctx, kb, mem, header } = await setup();
  const inside = new Uint8Array(mem, kb.byteOffset + 100, 200); // entirely inside the live block
  const vec = [new Uint8Array(mem, kb.byteOffset + 1000, 50), new Uint8Array(mem, kb.byteOffset + 2000, 50)];
  const third = pread(fd, new Uint8Array(mem, 0, 8), 3n);
  const dev = k.device(path);
  dev.pause();
  const r = k.io_submit(ctx, [pread(fd, inside, 1n), pread(fd, vec, 2n, IOCB_CMD.PREADV), third]);
  if (r === 3) k.io_cancel(ctx, third); // the bug: keep it off the device (it would overwrite the header)
  dev.resume();
  const evs = tReap(k, ctx, r === 3 ? 3 : 2).filter((e) => e.data !== 3n);
  expect(r).toBe(2);
  expect(hPlain(new Map(evs.map((e) => [e.data, e.res])))).toEqual(hPlain(new Map([[1n, 200], [2n, 100]])));
  expect(header()).toBe(KAIO_MAGIC);
  const want = hPattern(8192, 1);
  expect(Buffer.from(inside).equals(want.subarray(0, 200))).toBe(true);
  expect(Buffer.from(vec[0]).equals(want.subarray(0, 50))).toBe(true);
  expect(Buffer.from(vec[1]).equals(want.subarray(50, 100))).toBe(true);
});
