// Description: views over the kernel's memory that reach another thread by postMessage (issue 7,
// memory safety: "aio_buf may be any view over the kernel's own memory").
// Invariant: a posted view arrives over a new SharedArrayBuffer object for the same memory; it is
// still kernel memory: inside a live k.buffer() block it is zero-copy I/O, anywhere else -EFAULT.
import { errno } from 'kaio';
import { tBoot, tDisk, tWorker } from './helpers';

test('a view over the ring posted to a worker is -EFAULT there; one over a live block is filled in place', async () => {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  expect(k.pwrite(fd, Buffer.alloc(64, 0x5a), 0)).toBe(64);
  const ctx = k.io_setup(8);
  const ring = k.ring(ctx);
  const overRing = new Uint8Array(ring.buffer, ring.byteOffset, 64);
  const block = k.buffer(64);
  block.fill(0);
  const w = await tWorker(k);
  const r = await w.run(({ k: wk, kaio }, a: { ctx: number; path: string; overRing: Uint8Array; overBlock: Uint8Array }) => {
    const wfd = wk.open(a.path, 'r');
    const rd = (buf: Uint8Array, data: bigint) => ({ aio_lio_opcode: kaio.IOCB_CMD.PREAD, aio_fildes: wfd, aio_buf: buf, aio_offset: 0, aio_data: data });
    const ringRes = wk.io_submit(a.ctx, [rd(a.overRing, 1n)]);
    const readRes = wk.read(wfd, a.overRing);
    const blockRes = wk.io_submit(a.ctx, [rd(a.overBlock, 2n)]);
    const evs: Array<{ data: bigint; res: number }> = [];
    const n = wk.io_getevents(a.ctx, 1, 1, evs as never, 5000);
    return { ringRes, readRes, blockRes, n, res: evs[0]?.res, data: String(evs[0]?.data) };
  }, { ctx, path, overRing, overBlock: block });
  expect(r).toEqual({ ringRes: -errno.EFAULT, readRes: -errno.EFAULT, blockRes: 1, n: 1, res: 64, data: '2' });
  expect(ring.getUint32(16, true)).toBe(0xa10a10a1); // the ring header is intact
  expect(block.every((b) => b === 0x5a)).toBe(true); // the worker's read landed in the block
});
