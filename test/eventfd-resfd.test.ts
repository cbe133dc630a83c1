// Description: eventfd and IOCB_FLAG_RESFD (libaio harness 16.t): completion notification.
// Invariant: each event of a request with RESFD adds exactly 1 to the eventfd once it is published;
// a read returns 8 and the little-endian counter and resets it, -EAGAIN at 0; POLL waits for it.
import { errno, IOCB_CMD, IOCB_FLAG_RESFD, type Iocb } from 'kaio';
import { tBoot, tByData, tReap, tUntil } from './helpers';

const nop = (fd: number, efd: number, data: bigint): Iocb => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(1), aio_offset: 0, aio_data: data, aio_flags: IOCB_FLAG_RESFD, aio_resfd: efd });

test('k.eventfd, k.read and k.write follow Linux', async () => {
  const k = await tBoot();
  expect(k.eventfd(-1)).toBe(-errno.EINVAL);
  expect(k.eventfd(1.5)).toBe(-errno.EINVAL);
  expect(k.eventfd('1' as unknown as number)).toBe(-errno.EINVAL);
  const efd = k.eventfd(7);
  expect(efd).toBeGreaterThanOrEqual(3);
  const b = Buffer.alloc(8);
  expect(k.read(efd, Buffer.alloc(4))).toBe(-errno.EINVAL);
  expect(k.read(efd, b)).toBe(8);
  expect(b.readBigUInt64LE()).toBe(7n);
  expect(k.read(efd, b)).toBe(-errno.EAGAIN);
  b.writeBigUInt64LE(0xffffffffffffffffn);
  expect(k.write(efd, b)).toBe(-errno.EINVAL);
  b.writeBigUInt64LE(0x1_0000_0002n);
  expect(k.write(efd, b)).toBe(8);
  b.writeBigUInt64LE(0xffffffffffffffffn - 0x1_0000_0002n);
  expect(k.write(efd, b)).toBe(-errno.EAGAIN); // would reach ULLONG_MAX
  const out = Buffer.alloc(8);
  expect(k.read(efd, out)).toBe(8);
  expect(out.readBigUInt64LE()).toBe(0x1_0000_0002n);
  expect(k.close(efd)).toBe(0);
  expect(k.read(efd, out)).toBe(-errno.EBADF);
});

test('RESFD: n events add n; a bad resfd is -EBADF, a non-eventfd -EINVAL, at submit', async () => {
  const k = await tBoot();
  const disk = k.ramdisk('efd0', { sizeBytes: 4096, serviceTimeUs: 0 });
  const fd = k.open(disk, 'rw');
  const efd = k.eventfd();
  const ctx = k.io_setup(64);
  expect(k.io_submit(ctx, [nop(fd, 999, 1n)])).toBe(-errno.EBADF);
  expect(k.io_submit(ctx, [nop(fd, fd, 1n)])).toBe(-errno.EINVAL);
  const b = Buffer.alloc(8);
  expect(k.read(efd, b)).toBe(-errno.EAGAIN); // the refused ones added nothing
  const iocbs = Array.from({ length: 40 }, (_, i) => nop(fd, efd, BigInt(i)));
  expect(k.io_submit(ctx, iocbs)).toBe(40);
  expect(tReap(k, ctx, 40).every((e) => e.res === 1)).toBe(true);
  // The device thread adds to the eventfd just after it publishes each event, and counts the
  // request out of inflight after that: once none is in flight, every add has been made.
  expect(await tUntil(() => k.ctxStat(ctx)!.inflight, 0)).toBe(0);
  expect(k.read(efd, b)).toBe(8);
  expect(b.readBigUInt64LE()).toBe(40n);
  // Inline completions (a null device, staged inside io_submit) count too.
  const nfd = k.open(k.nulldev('efdnull'), 'rw');
  expect(k.io_submit(ctx, Array.from({ length: 5 }, (_, i) => nop(nfd, efd, BigInt(i))))).toBe(5);
  expect(k.read(efd, b)).toBe(8);
  expect(b.readBigUInt64LE()).toBe(5n);
  tReap(k, ctx, 5);
});

test('PREAD and POLL on an eventfd: POLL waits until a RESFD completion, then POLLIN; cancel ends it', async () => {
  const k = await tBoot();
  const nfd = k.open(k.nulldev('efdpoll'), 'rw');
  const efd = k.eventfd();
  const ctx = k.io_setup(16);
  const pr = Buffer.alloc(8);
  const sab = new Uint8Array(new SharedArrayBuffer(8));
  const poll: Iocb = { aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: efd, aio_buf: 0x1 /* POLLIN */, aio_data: 1n };
  // POLLOUT is ready at once; POLLIN is not yet.
  expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: efd, aio_buf: 0x4 /* POLLOUT */, aio_data: 9n }])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(0x4);
  expect(k.io_submit(ctx, [poll, { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: efd, aio_buf: pr, aio_data: 2n }])).toBe(2);
  expect(tReap(k, ctx, 1)[0]).toMatchObject({ data: 2n, res: -errno.EAGAIN });
  expect(k.io_getevents(ctx, 1, 1, [], 0)).toBe(0);
  expect(k.io_submit(ctx, [nop(nfd, efd, 3n)])).toBe(1);
  expect(tByData(tReap(k, ctx, 2))).toEqual(new Map([[3n, 1], [1n, 0x1]]));
  expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: efd, aio_buf: sab, aio_data: 4n }])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(8);
  expect(Buffer.from(sab).readBigUInt64LE()).toBe(1n);
  const p2 = { ...poll, aio_data: 5n };
  expect(k.io_submit(ctx, [p2])).toBe(1);
  expect(k.io_cancel(ctx, p2)).toBe(-errno.EINPROGRESS);
  expect(tReap(k, ctx, 1)[0]).toMatchObject({ data: 5n, res: -errno.ECANCELED });
});
