// Description: io_submit's return values and the order of its checks (S2).
// Invariant: an error on entry 0 returns its -errno; on entry k > 0 returns k, and exactly the
// first k were submitted (k events arrive, no more).
import { errno, IOCB_CMD, type Iocb } from 'kaio';
import { STRATEGIES, tBoot, tCapacity, tDisk, tRead, tReap, tWrite } from './helpers';

describe.each(STRATEGIES)('io_submit errors (%s)', (_name, opts) => {
  test('bad ctx is -EINVAL, even when nr is 0; nr < 0 is -EINVAL; nr 0 is 0', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    for (const bad of [0, -1, 123, 1.5, NaN, '65536', null]) {
      expect(k.io_submit(bad as number, [], 0)).toBe(-errno.EINVAL);
      expect(k.io_submit(bad as number, [tRead(fd, Buffer.alloc(8))])).toBe(-errno.EINVAL);
    }
    const ctx = k.io_setup(8);
    expect(k.io_submit(ctx, [], 0)).toBe(0);
    expect(k.io_submit(ctx, null, 0)).toBe(0);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(8))], -1)).toBe(-errno.EINVAL);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(8))], 0.5)).toBe(-errno.EINVAL);
    expect(k.io_submit(ctx, null, 1)).toBe(-errno.EFAULT);
  });

  test('per-entry errors on entry 0 return the -errno, and nothing is submitted', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
    const ro = k.open(path, 'r');
    const wo = k.open(path, 'w');
    const ctx = k.io_setup(8);
    const buf = Buffer.alloc(16);
    const cases: Array<[string, unknown, number]> = [
      ['null entry', null, -errno.EFAULT],
      ['non-object entry', 42, -errno.EFAULT],
      ['buffer that is not a byte view', { ...tRead(fd, buf), aio_buf: 'abc' }, -errno.EFAULT],
      ['no buffer but nbytes > 0', { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_nbytes: 8 }, -errno.EFAULT],
      ['reserved field set', { ...tRead(fd, buf), aio_reserved2: 1 }, -errno.EINVAL],
      ['negative offset', tRead(fd, buf, -512), -errno.EINVAL],
      ['non-integer offset', tRead(fd, buf, 1.5), -errno.EINVAL],
      ['nbytes larger than the buffer', { ...tRead(fd, buf), aio_nbytes: 17 }, -errno.EFAULT],
      ['negative nbytes', { ...tRead(fd, buf), aio_nbytes: -1 }, -errno.EINVAL],
      ['bad fd', tRead(12345, buf), -errno.EBADF],
      ['fd -1', tRead(-1, buf), -errno.EBADF],
      ['write on a read-only fd', tWrite(ro, buf), -errno.EBADF],
      ['read on a write-only fd', tRead(wo, buf), -errno.EBADF],
      ['unknown opcode', { ...tRead(fd, buf), aio_lio_opcode: 99 }, -errno.EINVAL],
      ['opcode 4 (unused)', { ...tRead(fd, buf), aio_lio_opcode: 4 }, -errno.EINVAL],
      ['non-integer opcode', { ...tRead(fd, buf), aio_lio_opcode: 'PREAD' }, -errno.EINVAL],
      ['fsync with a buffer', { aio_lio_opcode: IOCB_CMD.FSYNC, aio_fildes: fd, aio_buf: buf }, -errno.EINVAL],
      ['poll with an offset', { aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: fd, aio_buf: 1, aio_offset: 8 }, -errno.EINVAL],
      ['unknown rw flags', { ...tRead(fd, buf), aio_rw_flags: 1 << 20 }, -errno.EOPNOTSUPP],
      ['resfd that is not an eventfd', { ...tRead(fd, buf), aio_flags: 1, aio_resfd: fd }, -errno.EINVAL],
      ['resfd that is not open', { ...tRead(fd, buf), aio_flags: 1, aio_resfd: 999 }, -errno.EBADF],
    ];
    for (const [what, iocb, want] of cases) {
      const r = k.io_submit(ctx, [iocb as Iocb]);
      expect([what, r]).toEqual([what, want]);
    }
    expect(k.io_getevents(ctx, 0, 8, [], 0)).toBe(0);
    expect(k.ctxStat(ctx)!.inflight).toBe(0);
    expect(k.ctxStat(ctx)!.freeSlots).toBe(tCapacity(k, ctx, 8)); // every slot free again
  });

  test('an error on entry k > 0 returns k, and exactly k requests complete', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(16);
    for (const [bad, code] of [[null, 'EFAULT'], [tRead(777, Buffer.alloc(8)), 'EBADF'], [{ ...tRead(fd, Buffer.alloc(8)), aio_lio_opcode: 99 }, 'EINVAL']] as const) {
      const iocbs = [tRead(fd, Buffer.alloc(8), 0, 1n), tRead(fd, Buffer.alloc(8), 8, 2n), bad as Iocb, tRead(fd, Buffer.alloc(8), 16, 3n)];
      expect([code, k.io_submit(ctx, iocbs)]).toEqual([code, 2]);
      const evs = tReap(k, ctx, 2);
      expect(evs.map((e) => e.data).sort()).toEqual([1n, 2n]);
      expect(iocbs[3].aio_key).toBeUndefined();
    }
  });

  test('checks run in Linux\'s order: EFAULT/EINVAL (copy, reserved) before EAGAIN before EBADF before rw_flags before mode before buffer before offset', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 1000 });
    k.device(path).pause();
    const ro = k.open(path, 'r');
    const ctx = k.io_setup(1);
    const cap = tCapacity(k, ctx, 1); // 120 with 2 possible cpus
    const fill = Array.from({ length: cap }, () => tRead(fd, Buffer.alloc(8)));
    expect(k.io_submit(ctx, fill)).toBe(cap); // every slot is now taken
    expect(k.ctxStat(ctx)!.freeSlots).toBe(0);
    // Ring full: malformed and reserved-field entries still report their own errors first...
    expect(k.io_submit(ctx, [null])).toBe(-errno.EFAULT);
    expect(k.io_submit(ctx, [{ ...tRead(fd, Buffer.alloc(8)), aio_reserved2: 1 }])).toBe(-errno.EINVAL);
    // ...but a bad fd, a wrong mode, a bad opcode, bad rw_flags, a negative offset or a bad
    // buffer come after the slot check (fs/aio.c: aio_get_req before __io_submit_one).
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(8), -1)])).toBe(-errno.EAGAIN);
    expect(k.io_submit(ctx, [{ ...tRead(fd, Buffer.alloc(8)), aio_rw_flags: 1 << 20 }])).toBe(-errno.EAGAIN);
    expect(k.io_submit(ctx, [{ ...tRead(fd, Buffer.alloc(8)), aio_buf: 'abc' as never }])).toBe(-errno.EAGAIN);
    expect(k.io_submit(ctx, [tRead(999, Buffer.alloc(8))])).toBe(-errno.EAGAIN);
    expect(k.io_submit(ctx, [tWrite(ro, Buffer.alloc(8))])).toBe(-errno.EAGAIN);
    expect(k.io_submit(ctx, [{ ...tRead(fd, Buffer.alloc(8)), aio_lio_opcode: 99 }])).toBe(-errno.EAGAIN);
    expect(k.ctxStat(ctx)!.freeSlots).toBe(0); // none of those took a slot
    k.device(path).resume();
    tReap(k, ctx, cap);
    // With a slot free: a bad fd beats a bad opcode, bad rw_flags, a negative offset and a bad
    // buffer; the open mode comes after rw_flags and before the buffer and the offset.
    expect(k.io_submit(ctx, [{ ...tRead(999, Buffer.alloc(8)), aio_lio_opcode: 99 }])).toBe(-errno.EBADF);
    expect(k.io_submit(ctx, [{ ...tRead(999, Buffer.alloc(8)), aio_rw_flags: 1 << 20 }])).toBe(-errno.EBADF);
    expect(k.io_submit(ctx, [tRead(999, Buffer.alloc(8), -1)])).toBe(-errno.EBADF);
    expect(k.io_submit(ctx, [{ ...tWrite(ro, Buffer.alloc(8)), aio_rw_flags: 1 << 20 }])).toBe(-errno.EOPNOTSUPP);
    expect(k.io_submit(ctx, [tWrite(ro, Buffer.alloc(8), -1)])).toBe(-errno.EBADF);
    expect(k.io_submit(ctx, [{ ...tWrite(ro, Buffer.alloc(8)), aio_buf: 'abc' as never }])).toBe(-errno.EBADF);
    expect(k.io_submit(ctx, [{ ...tRead(fd, Buffer.alloc(8), -1), aio_buf: 'abc' as never }])).toBe(-errno.EFAULT);
  });

  test('errors of the I/O itself arrive as the event res, not as io_submit\'s return', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { sizeBytes: 4096, serviceTimeUs: 0 });
    const ctx = k.io_setup(4);
    const w = tWrite(fd, Buffer.alloc(512), 4096, 7n); // at the end of the device
    expect(k.io_submit(ctx, [w])).toBe(1);
    const [ev] = tReap(k, ctx, 1);
    expect(ev.res).toBe(-errno.ENOSPC);
    expect(ev.obj).toBe(w);
  });
});
