// Description: a k.buffer() block under a request in flight (issue 7, memory safety 1).
// Invariant: a KernelBuffer whose last JS reference is dropped while its read is in flight is not
// freed until the event is reaped: no new k.buffer() overlaps it, and the read lands in it, not in them.
import { IOCB_CMD, type Iocb, type KernelBuffer } from 'kaio';
import { tBoot, tDisk, tReap } from './helpers';
import { hCollect, hCollectUntil, hPattern, hWatch, hIs } from './hostile-helpers';

const SIZE = 4096;
const overlaps = (a: number, b: number) => a < b + SIZE && b < a + SIZE;

test('a dropped KernelBuffer stays allocated while its read is in flight, and is freed after the reap', async () => {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const data = hPattern(SIZE, 3);
  expect(k.pwrite(fd, data, 0)).toBe(SIZE);
  const ctx = k.io_setup(8);
  const dev = k.device(path);
  dev.pause();

  let kb: KernelBuffer | undefined = k.buffer(SIZE);
  const addr = kb.byteOffset;
  // A view made by hand over the kernel's memory: it does not keep the block alive.
  const raw = new Uint8Array(kb.buffer, addr, SIZE);
  raw.fill(0);
  const iocb: Iocb = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: kb, aio_offset: 0, aio_data: 1n };
  expect(k.io_submit(ctx, [iocb])).toBe(1);
  // The kernel took the address at submit; the user reuses the iocb (legal, as in Linux).
  iocb.aio_buf = undefined;
  const collected = hWatch(kb);
  kb = undefined;
  // Collect what can be collected: the user holds nothing of the block now. (kaio's
  // handle on the request may keep the KernelBuffer object itself alive; either way
  // its block must stay allocated, which is what the rest checks.)
  await hCollectUntil(collected);

  // New buffers of the same size must not be carved from the in-flight block.
  const fresh: KernelBuffer[] = [];
  for (let i = 0; i < 16; i++) {
    const b = k.buffer(SIZE);
    b.fill(0xa5);
    fresh.push(b);
  }
  const clashing = fresh.map((b) => b.byteOffset).filter((o) => overlaps(o, addr));
  expect(clashing).toEqual([]);

  dev.resume();
  const [ev] = tReap(k, ctx, 1);
  expect(hIs(ev.obj, iocb)).toBe('the same object');
  expect(ev.res).toBe(SIZE);
  expect(Buffer.from(raw).equals(data)).toBe(true); // the bytes landed in the old range
  for (const b of fresh) expect(b.every((x) => x === 0xa5)).toBe(true); // and nowhere else

  // Reaped: now the block goes back to the heap (this also shows collection ran above).
  let reused = false;
  for (let i = 0; i < 20 && !reused; i++) {
    await hCollect();
    const again = k.buffer(SIZE);
    reused = again.byteOffset === addr;
    fresh.push(again);
  }
  expect(reused).toBe(true);
});

test('a dropped KernelBuffer under a request that io_destroy discards is freed, not leaked', async () => {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(8);
  k.device(path).pause();
  let kb: KernelBuffer | undefined = k.buffer(SIZE);
  const addr = kb.byteOffset;
  const iocb: Iocb = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: kb, aio_offset: 0, aio_data: 1n };
  expect(k.io_submit(ctx, [iocb])).toBe(1);
  iocb.aio_buf = undefined;
  const collected = hWatch(kb);
  kb = undefined;
  await hCollectUntil(collected);
  const held = k.buffer(SIZE);
  expect(overlaps(held.byteOffset, addr)).toBe(false); // still in flight: not handed out
  expect(k.io_destroy(ctx)).toBe(0); // cancels it (stage 1) and discards its event
  let reused = false;
  const more: KernelBuffer[] = [held];
  for (let i = 0; i < 20 && !reused; i++) {
    await hCollect();
    const again = k.buffer(SIZE);
    reused = again.byteOffset === addr;
    more.push(again);
  }
  expect(reused).toBe(true);
});
