// Description: the 'mark-only' baseline: io_cancel marks, the block layer dispatches anyway.
// Invariant: under mark-only, io_cancel still answers as S5 says, but every cancelled block
// request reaches the device and its event carries the normal result; callback drivers (pipes)
// still cancel.
import { errno, IOCB_CMD } from 'kaio';
import { tBoot, tByData, tDisk, tRead, tReap } from './helpers';

test('cancelled queued requests are dispatched and complete normally', async () => {
  const k = await tBoot({ cancel: 'mark-only' });
  expect(k.cancelMode).toBe('mark-only');
  const { path, fd } = tDisk(k, { serviceTimeUs: 10, abortable: true });
  const dev = k.device(path);
  dev.pause();
  const ctx = k.io_setup(32);
  const iocbs = Array.from({ length: 20 }, (_, i) => tRead(fd, Buffer.alloc(1024), i * 1024, BigInt(i)));
  expect(k.io_submit(ctx, iocbs)).toBe(20);
  for (let i = 0; i < 20; i += 2) expect(k.io_cancel(ctx, iocbs[i])).toBe(-errno.EINPROGRESS);
  expect(k.io_getevents(ctx, 1, 20, [], 50)).toBe(0); // nothing completes while paused
  dev.resume();
  const res = tByData(tReap(k, ctx, 20));
  for (let i = 0; i < 20; i++) expect(res.get(BigInt(i))).toBe(1024);
  expect(dev.stats()).toEqual({ dispatched: 20, completed: 20, cancelledQueued: 0, cancelledDevice: 0, bytes: 20 * 1024 });
});

test('pipe reads are still cancelled by their callback', async () => {
  const k = await tBoot({ cancel: 'mark-only' });
  const [rfd] = k.pipe();
  const ctx = k.io_setup(4);
  const r = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: rfd, aio_buf: Buffer.alloc(8), aio_data: 3n };
  expect(k.io_submit(ctx, [r])).toBe(1);
  expect(k.io_cancel(ctx, r)).toBe(-errno.EINPROGRESS);
  expect(tReap(k, ctx, 1)[0].res).toBe(-errno.ECANCELED);
});
