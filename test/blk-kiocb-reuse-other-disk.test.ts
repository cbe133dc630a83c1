// Invariant: a block request is queued on the device of its own file, even when its kiocb (and the bio inside it) last served a request on another device.
//
// Every id of a context is used once for disk A, then once for disk B, so each
// read of the second round runs in a kiocb whose inline bio was set up for A;
// the bytes each read returns say which disk served it.
import { IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import { tBoot, tCapacity, tDisk } from './helpers';

const pattern = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

test('a read in a kiocb reused from another disk reads its own disk', async () => {
  const k = await tBoot();
  const a = tDisk(k, { serviceTimeUs: 0 });
  const b = tDisk(k, { serviceTimeUs: 0 });
  expect(k.pwrite(a.fd, pattern(4096, 1), 0)).toBe(4096);
  expect(k.pwrite(b.fd, pattern(4096, 2), 0)).toBe(4096);
  const ctx = k.io_setup(4);
  const cap = tCapacity(k, ctx, 4);
  for (const [fd, seed] of [[a.fd, 1], [b.fd, 2], [a.fd, 1]]) {
    const bufs = Array.from({ length: cap }, () => Buffer.alloc(512));
    const iocbs: Iocb[] = bufs.map((buf, i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf, aio_offset: i * 512 % 4096, aio_data: BigInt(i) }));
    expect(k.io_submit(ctx, iocbs)).toBe(cap); // every id of the context at once
    const evs: IoEvent[] = [];
    while (evs.length < cap) {
      const got: IoEvent[] = [];
      expect(k.io_getevents(ctx, 1, cap, got, 5000)).toBeGreaterThan(0);
      evs.push(...got);
    }
    expect(evs.map((e) => e.res)).toEqual(Array(cap).fill(512));
    bufs.forEach((buf, i) => expect([seed, i, buf.equals(pattern(4096, seed).subarray(i * 512 % 4096, i * 512 % 4096 + 512))]).toEqual([seed, i, true]));
  }
});
