// Description: aio_key names one request: id plus generation, within its context's range (S3, S5).
// Invariant: a key of a request that completed, of a slot's earlier life, of another context,
// or made up, never cancels anything (-EINVAL), and the live request it collides with is unaffected.
import { errno, IOCB_CMD } from 'kaio';
import { STRATEGIES, tBoot, tDisk, tRead, tReap } from './helpers';

describe.each(STRATEGIES)('aio_key (%s)', (_name, opts) => {
  test('io_submit writes a key; a stale key of a reused slot is -EINVAL and the new request is untouched', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 100 });
    const ctx = k.io_setup(1); // one id: the next request must reuse it
    const a = tRead(fd, Buffer.alloc(512), 0, 1n);
    expect(k.io_submit(ctx, [a])).toBe(1);
    expect(typeof a.aio_key).toBe('number');
    tReap(k, ctx, 1);
    const staleKey = a.aio_key!;
    k.device(path).pause();
    const b = tRead(fd, Buffer.alloc(512), 0, 2n);
    expect(k.io_submit(ctx, [b])).toBe(1);
    expect(b.aio_key! % 2 ** 23).toBe(staleKey % 2 ** 23); // same slot...
    expect(b.aio_key).not.toBe(staleKey); // ...another generation
    expect(k.io_cancel(ctx, { aio_key: staleKey })).toBe(-errno.EINVAL);
    k.device(path).resume();
    const [ev] = tReap(k, ctx, 1);
    expect(ev.data).toBe(2n);
    expect(ev.res).toBe(512); // not cancelled
    expect(k.device(path).stats().cancelledQueued).toBe(0);
  });

  test('a key one past the context\'s last id is rejected, even when that id is another context\'s live request (seed bug: key > nr)', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 100 });
    k.device(path).pause();
    const c1 = k.io_setup(16); // ids [base, base + 16)
    const c2 = k.io_setup(16); // the next 16 ids
    const r2 = tRead(fd, Buffer.alloc(512), 0, 22n);
    expect(k.io_submit(c2, [r2])).toBe(1);
    const base1 = k.ctxStat(c1)!.idBase;
    const gid2 = r2.aio_key! % 2 ** 23;
    expect(gid2).toBe(base1 + 16); // exactly the bound of c1
    expect(k.io_cancel(c1, { aio_key: r2.aio_key! })).toBe(-errno.EINVAL);
    expect(k.io_cancel(c1, r2)).toBe(-errno.EINVAL); // cross-context, by iocb
    k.device(path).resume();
    const [ev] = tReap(k, c2, 1);
    expect(ev.res).toBe(512);
  });

  test('made-up keys and keys that are not numbers are -EINVAL; a non-object is -EFAULT', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 100 });
    k.device(path).pause();
    const ctx = k.io_setup(8);
    const r = tRead(fd, Buffer.alloc(512));
    expect(k.io_submit(ctx, [r])).toBe(1);
    const key = r.aio_key!;
    for (const bad of [undefined, null, -1, 1.5, NaN, `${key}`, BigInt(key), key + 1, key + 2 ** 23, key - 2 ** 23, 2 ** 53, 0]) {
      expect(k.io_cancel(ctx, { aio_key: bad as number })).toBe(-errno.EINVAL);
    }
    expect(k.io_cancel(ctx, {} as { aio_key: number })).toBe(-errno.EINVAL);
    expect(k.io_cancel(ctx, { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd })).toBe(-errno.EINVAL); // never submitted
    expect(k.io_cancel(ctx, null)).toBe(-errno.EFAULT);
    expect(k.io_cancel(ctx, 7 as unknown as null)).toBe(-errno.EFAULT);
    expect(k.io_cancel(0, null)).toBe(-errno.EFAULT); // EFAULT is checked before the context
    k.device(path).resume();
    expect(tReap(k, ctx, 1)[0].res).toBe(512);
  });
});
