// Description: bulk cancel (io_cancel_all, io.cancelAll), beyond Linux AIO: io_uring's CANCEL_ALL and CANCEL_FD.
// Invariant: it asks exactly the requests in flight on the context (or on fd) to cancel, returns how
// many, and each still yields exactly one event; requests on other fds are untouched.
import { errno, IOCB_CMD, type Iocb } from 'kaio';
import { STRATEGIES, tBoot, tByData, tReap } from './helpers';

const rd = (fd: number, data: bigint): Iocb => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(4), aio_data: data });

describe.each(STRATEGIES)('io_cancel_all (%s)', (_name, opts) => {
  test('by fd, then all; bad arguments', async () => {
    const k = await tBoot(opts);
    const [ra, wa] = k.pipe();
    const [rb, wb] = k.pipe();
    const ctx = k.io_setup(16);
    expect(k.io_submit(ctx, [rd(ra, 1n), rd(ra, 2n), rd(rb, 3n), rd(ra, 4n), rd(rb, 5n)])).toBe(5);
    expect(k.io_cancel_all(ctx, { fd: ra })).toBe(3);
    expect(tByData(tReap(k, ctx, 3))).toEqual(new Map([[1n, -errno.ECANCELED], [2n, -errno.ECANCELED], [4n, -errno.ECANCELED]]));
    expect(k.io_cancel_all(ctx, { fd: wa })).toBe(0); // nothing on the write end
    expect(k.write(wb, Buffer.from('12345678'))).toBe(8);
    expect(tByData(tReap(k, ctx, 2))).toEqual(new Map([[3n, 4], [5n, 4]]));
    expect(k.io_submit(ctx, [rd(ra, 6n), rd(rb, 7n)])).toBe(2);
    expect(k.io_cancel_all(ctx)).toBe(2);
    // Asked again while the kworker may or may not have completed them yet: it asks
    // those still in flight (0, 1 or 2, a race with the kworker) and changes nothing else.
    expect([0, 1, 2]).toContain(k.io_cancel_all(ctx));
    expect(tByData(tReap(k, ctx, 2))).toEqual(new Map([[6n, -errno.ECANCELED], [7n, -errno.ECANCELED]])); // each once
    expect(k.io_cancel_all(ctx)).toBe(0); // nothing in flight
    expect(k.io_cancel_all(ctx, { fd: 4000 })).toBe(-errno.EBADF);
    expect(k.io_cancel_all(ctx, { fd: -1 })).toBe(-errno.EBADF);
    expect(k.io_cancel_all(ctx, { fd: 1.5 })).toBe(-errno.EBADF);
    expect(k.io_cancel_all(ctx, null as unknown as {})).toBe(-errno.EINVAL);
    expect(k.io_cancel_all(ctx, { get fd(): number { throw new Error('x'); } })).toBe(-errno.EFAULT);
    expect(k.io_cancel_all(12345)).toBe(-errno.EINVAL);
    expect(k.io_destroy(ctx)).toBe(0);
    expect(k.io_cancel_all(ctx)).toBe(-errno.EINVAL);
  });
});

test('io.cancelAll({ fd }) rejects exactly the promises on fd with ECANCELED', async () => {
  const k = await tBoot();
  const [ra] = k.pipe();
  const [rb, wb] = k.pipe();
  const io = k.context();
  const a = [io.read(ra, Buffer.alloc(4)), io.read(ra, Buffer.alloc(4))];
  const b = io.read(rb, Buffer.alloc(4));
  await new Promise((r) => setImmediate(r)); // after the batch's io_submit (a microtask)
  expect(io.cancelAll({ fd: ra })).toBe(2);
  for (const p of a) await expect(p).rejects.toMatchObject({ code: 'ECANCELED', syscall: 'read' });
  expect(k.write(wb, Buffer.from('data'))).toBe(4);
  await expect(b).resolves.toBe(4);
  expect(() => io.cancelAll({ fd: 'x' as unknown as number })).toThrow(TypeError);
  await io.close();
});
