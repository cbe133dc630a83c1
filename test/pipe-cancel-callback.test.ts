// Description: pipes, the driver that cannot check a mark: waiters with cancel callbacks (S9).
// Invariant: a read on an empty pipe does not block io_submit; it completes when data is written,
// or -ECANCELED in bounded time when cancelled, having consumed no data.
import { errno, IOCB_CMD, RWF_NOWAIT, type Iocb } from 'kaio';
import { STRATEGIES, tBoot, tByData, tReap } from './helpers';

const pread = (fd: number, buf: Uint8Array, data = 0n, extra: Partial<Iocb> = {}): Iocb => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf, aio_data: data, ...extra });
const pwrite = (fd: number, buf: Uint8Array, data = 0n): Iocb => ({ aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: fd, aio_buf: buf, aio_data: data });

describe.each(STRATEGIES)('pipes (%s)', (_name, opts) => {
  test('a read on an empty pipe waits, and a write completes it', async () => {
    const k = await tBoot(opts);
    const [r, w] = k.pipe();
    expect(r).toBeGreaterThanOrEqual(0);
    const ctx = k.io_setup(4);
    const buf = Buffer.alloc(32);
    const iocb = pread(r, buf, 1n);
    expect(k.io_submit(ctx, [iocb])).toBe(1);
    expect(k.io_getevents(ctx, 1, 1, [], 20)).toBe(0);
    expect(k.write(w, Buffer.from('kaio pipe'))).toBe(9);
    const [ev] = tReap(k, ctx, 1);
    expect(ev.res).toBe(9);
    expect(ev.obj).toBe(iocb);
    expect(buf.subarray(0, 9).toString()).toBe('kaio pipe');
  });

  test('data already there is read inline; a read takes at most what is there', async () => {
    const k = await tBoot(opts);
    const [r, w] = k.pipe();
    const ctx = k.io_setup(4);
    expect(k.write(w, Buffer.from('abcdef'))).toBe(6);
    const b1 = Buffer.alloc(4);
    const b2 = Buffer.alloc(16);
    expect(k.io_submit(ctx, [pread(r, b1, 1n), pread(r, b2, 2n)])).toBe(2);
    const res = tByData(tReap(k, ctx, 2));
    expect(res).toEqual(new Map([[1n, 4], [2n, 2]]));
    expect(b1.toString()).toBe('abcd');
    expect(b2.subarray(0, 2).toString()).toBe('ef');
  });

  test('a cancelled read completes -ECANCELED by its callback and consumes no data', async () => {
    const k = await tBoot(opts);
    const [r, w] = k.pipe();
    const ctx = k.io_setup(4);
    const a = pread(r, Buffer.alloc(8), 1n);
    expect(k.io_submit(ctx, [a])).toBe(1);
    expect(k.io_cancel(ctx, a)).toBe(-errno.EINPROGRESS);
    const [ev] = tReap(k, ctx, 1);
    expect(ev.res).toBe(-errno.ECANCELED);
    expect(k.io_cancel(ctx, a)).toBe(-errno.EINVAL);
    expect(k.write(w, Buffer.from('xyz'))).toBe(3);
    const b = Buffer.alloc(8);
    expect(k.io_submit(ctx, [pread(r, b, 2n)])).toBe(1);
    expect(tReap(k, ctx, 1)[0].res).toBe(3);
    expect(b.subarray(0, 3).toString()).toBe('xyz');
  });

  test('readers are served in order; cancelling the first lets the second have the data', async () => {
    const k = await tBoot(opts);
    const [r, w] = k.pipe();
    const ctx = k.io_setup(4);
    const a = pread(r, Buffer.alloc(8), 1n);
    const bbuf = Buffer.alloc(8);
    const b = pread(r, bbuf, 2n);
    expect(k.io_submit(ctx, [a, b])).toBe(2);
    expect(k.io_cancel(ctx, a)).toBe(-errno.EINPROGRESS);
    expect(tReap(k, ctx, 1)[0].data).toBe(1n);
    expect(k.write(w, Buffer.from('hi'))).toBe(2);
    const [ev] = tReap(k, ctx, 1);
    expect([ev.data, ev.res]).toEqual([2n, 2]);
    expect(bbuf.subarray(0, 2).toString()).toBe('hi');
  });

  test('RWF_NOWAIT on an empty pipe completes -EAGAIN (LTP io_submit04); closing the writer gives EOF', async () => {
    const k = await tBoot(opts);
    const [r, w] = k.pipe();
    const ctx = k.io_setup(4);
    expect(k.io_submit(ctx, [pread(r, Buffer.alloc(8), 1n, { aio_rw_flags: RWF_NOWAIT })])).toBe(1);
    expect(tReap(k, ctx, 1)[0].res).toBe(-errno.EAGAIN);
    expect(k.io_submit(ctx, [pread(r, Buffer.alloc(8), 2n)])).toBe(1);
    expect(k.close(w)).toBe(0);
    expect(tReap(k, ctx, 1)[0].res).toBe(0);
    expect(k.io_submit(ctx, [pread(r, Buffer.alloc(8), 3n)])).toBe(1);
    expect(tReap(k, ctx, 1)[0].res).toBe(0);
  });

  test('AIO writes to a pipe; a write to a pipe without readers is -EPIPE; the wrong end is -EBADF', async () => {
    const k = await tBoot(opts);
    const [r, w] = k.pipe();
    const ctx = k.io_setup(4);
    expect(k.io_submit(ctx, [pwrite(w, Buffer.from('0123456789'), 1n)])).toBe(1);
    expect(tReap(k, ctx, 1)[0].res).toBe(10);
    const out = Buffer.alloc(10);
    expect(k.read(r, out)).toBe(10);
    expect(out.toString()).toBe('0123456789');
    expect(k.io_submit(ctx, [pread(w, Buffer.alloc(4))])).toBe(-errno.EBADF);
    expect(k.io_submit(ctx, [pwrite(r, Buffer.alloc(4))])).toBe(-errno.EBADF);
    expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.FSYNC, aio_fildes: w }])).toBe(-errno.EINVAL);
    expect(k.close(r)).toBe(0);
    expect(k.io_submit(ctx, [pwrite(w, Buffer.from('x'), 2n)])).toBe(1);
    expect(tReap(k, ctx, 1)[0].res).toBe(-errno.EPIPE);
    expect(k.write(w, Buffer.from('x'))).toBe(-errno.EPIPE);
  });

  test('a write larger than the pipe waits for readers; cancelled, it reports the bytes it moved', async () => {
    const k = await tBoot(opts);
    const [r, w] = k.pipe();
    const ctx = k.io_setup(4);
    const big = Buffer.alloc(100_000, 1);
    const wr = pwrite(w, big, 9n);
    expect(k.io_submit(ctx, [wr])).toBe(1);
    expect(k.io_getevents(ctx, 1, 1, [], 20)).toBe(0); // 65536 fit, the rest waits
    expect(k.io_cancel(ctx, wr)).toBe(-errno.EINPROGRESS);
    expect(tReap(k, ctx, 1)[0].res).toBe(65536);
    const sink = Buffer.alloc(100_000);
    expect(k.read(r, sink)).toBe(65536);
    expect(k.read(r, sink)).toBe(-errno.EAGAIN);
  });

  test('data crossing the end of the pipe\'s byte ring arrives intact, in order', async () => {
    const k = await tBoot(opts);
    const [r, w] = k.pipe();
    const ctx = k.io_setup(4);
    const chunk = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));
    expect(k.write(w, chunk(40_000, 1))).toBe(40_000);
    expect(k.read(r, Buffer.alloc(40_000))).toBe(40_000);
    // The ring now starts at 40000 of 65536: this write and the AIO read both wrap.
    const big = chunk(50_000, 2);
    expect(k.write(w, big)).toBe(50_000);
    const into = Buffer.alloc(50_000);
    expect(k.io_submit(ctx, [pread(r, into, 1n)])).toBe(1);
    expect(tReap(k, ctx, 1)[0].res).toBe(50_000);
    expect(into.equals(big)).toBe(true);
    const aw = chunk(30_000, 3);
    expect(k.io_submit(ctx, [pwrite(w, aw, 2n)])).toBe(1);
    expect(tReap(k, ctx, 1)[0].res).toBe(30_000);
    const back = Buffer.alloc(30_000);
    expect(k.read(r, back)).toBe(30_000);
    expect(back.equals(aw)).toBe(true);
  });

  test('IOCB_CMD_POLL waits for readability and can be cancelled; a block device is ready at once', async () => {
    const k = await tBoot(opts);
    const [r, w] = k.pipe();
    const ctx = k.io_setup(4);
    const POLLIN = 1;
    const p1: Iocb = { aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: r, aio_buf: POLLIN, aio_data: 1n };
    expect(k.io_submit(ctx, [p1])).toBe(1);
    expect(k.io_getevents(ctx, 1, 1, [], 20)).toBe(0);
    expect(k.write(w, Buffer.from('!'))).toBe(1);
    const [ev] = tReap(k, ctx, 1);
    expect(ev.res & POLLIN).toBe(POLLIN);
    expect(k.read(r, Buffer.alloc(1))).toBe(1);
    const p2: Iocb = { aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: r, aio_buf: POLLIN, aio_data: 2n };
    expect(k.io_submit(ctx, [p2])).toBe(1);
    expect(k.io_cancel(ctx, p2)).toBe(-errno.EINPROGRESS);
    expect(tReap(k, ctx, 1)[0].res).toBe(-errno.ECANCELED);
  });

  test('a pipe freed and recreated while still queued for the kworker keeps working (no work-list cycle)', async () => {
    const k = await tBoot(opts);
    const ctx = k.io_setup(4);
    for (let i = 0; i < 50; i++) {
      const [r1, w1] = k.pipe();
      expect(k.close(w1)).toBe(0); // queues the pipe for the kworker (readers see EOF)
      expect(k.close(r1)).toBe(0); // frees it, maybe before the kworker ran
      const [r2, w2] = k.pipe(); // likely the same index
      expect(k.close(w2)).toBe(0); // queues it again
      const [r3, w3] = k.pipe();
      expect(k.io_submit(ctx, [pread(r3, Buffer.alloc(4), BigInt(i))])).toBe(1);
      expect(k.write(w3, Buffer.from('ok'))).toBe(2);
      expect(tReap(k, ctx, 1)[0].res).toBe(2);
      for (const fd of [r2, r3, w3]) expect(k.close(fd)).toBe(0);
    }
  });

  test('io_destroy with a blocked pipe read cancels it through its callback and returns', async () => {
    const k = await tBoot(opts);
    const [r] = k.pipe();
    const ctx = k.io_setup(4);
    expect(k.io_submit(ctx, [pread(r, Buffer.alloc(8)), pread(r, Buffer.alloc(8))])).toBe(2);
    expect(k.io_destroy(ctx)).toBe(0);
    expect(k.aio_nr).toBe(0);
    expect(k.io_getevents(ctx, 0, 1, [], 0)).toBe(-errno.EINVAL);
  });
});
