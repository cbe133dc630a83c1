// Description: aio_key names one request: id plus generation, within its context's range (S3, S5).
// Invariant: a key of a request that completed, of a slot's earlier life, of another context,
// past the context's capacity ids, or made up, never cancels anything (-EINVAL), and the live
// request it collides with is unaffected.
import { errno, IOCB_CMD, type Iocb } from 'kaio';
import { STRATEGIES, tBoot, tCancelled, tCapacity, tDisk, tRead, tReap } from './helpers';

const ID = 2 ** 23; // aio_key = generation x 2^23 + global id

describe.each(STRATEGIES)('aio_key (%s)', (_name, opts) => {
  test('io_submit writes a key; a stale key of a reused slot is -EINVAL and the new request is untouched', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 100 });
    const ctx = k.io_setup(1);
    const cap = tCapacity(k, ctx, 1); // 120 ids with 2 possible cpus
    const a = tRead(fd, Buffer.alloc(512), 0, 1n);
    expect(k.io_submit(ctx, [a])).toBe(1);
    expect(typeof a.aio_key).toBe('number');
    tReap(k, ctx, 1);
    const staleKey = a.aio_key!;
    k.device(path).pause();
    // Hold requests until one has a's slot: with all capacity ids held, one of them is.
    const held: Iocb[] = [];
    let b: Iocb | undefined;
    while (!b && held.length < cap) {
      const r = tRead(fd, Buffer.alloc(512), 0, BigInt(2 + held.length));
      expect(k.io_submit(ctx, [r])).toBe(1);
      held.push(r);
      if (r.aio_key! % ID === staleKey % ID) b = r; // same slot...
    }
    expect(b).toBeDefined();
    expect(b!.aio_key).not.toBe(staleKey); // ...another generation
    expect(new Set(held.map((r) => r.aio_key! % ID)).size).toBe(held.length);
    expect(k.io_cancel(ctx, { aio_key: staleKey })).toBe(-errno.EINVAL);
    k.device(path).resume();
    const evs = tReap(k, ctx, held.length);
    expect(evs.map((e) => e.data).sort((x, y) => (x < y ? -1 : 1))).toEqual(held.map((r) => r.aio_data));
    expect(evs.every((e) => e.res === 512)).toBe(true); // b, and every other, not cancelled
    expect(k.device(path).stats().cancelledQueued).toBe(0);
  });

  test('the context\'s last id is accepted, a key one past it is rejected, and so is the first id of the next context\'s range, a live request (seed bug: key > nr)', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 100 });
    k.device(path).pause();
    const c1 = k.io_setup(16);
    const cap1 = tCapacity(k, c1, 16); // c1's ids are [base1, base1 + cap1): 120 with 2 possible cpus
    const c2 = k.io_setup(16);
    const base1 = k.ctxStat(c1)!.idBase;
    // Every id of c1 live at once: exactly [base1, base1 + cap1).
    const r1 = Array.from({ length: cap1 }, (_, i) => tRead(fd, Buffer.alloc(512), 0, BigInt(i)));
    for (const r of r1) expect(k.io_submit(c1, [r])).toBe(1);
    expect(k.io_submit(c1, [tRead(fd, Buffer.alloc(512))])).toBe(-errno.EAGAIN);
    const gids = r1.map((r) => r.aio_key! % ID).sort((x, y) => x - y);
    expect(gids).toEqual(Array.from({ length: cap1 }, (_, i) => base1 + i));
    const r2 = tRead(fd, Buffer.alloc(512), 0, 22n);
    expect(k.io_submit(c2, [r2])).toBe(1);
    // c1's id range is whole pages of 16 kiocbs: c2's first id is the first one after them.
    const gid2 = r2.aio_key! % ID;
    expect(gid2).toBe(k.ctxStat(c2)!.idBase);
    expect(gid2).toBe(base1 + Math.ceil(cap1 / 16) * 16);
    expect(k.io_cancel(c1, { aio_key: r2.aio_key! })).toBe(-errno.EINVAL);
    expect(k.io_cancel(c1, r2)).toBe(-errno.EINVAL); // cross-context, by iocb
    // One past c1's last id, up to c2's range, under the generations in use: none is c1's.
    const last = r1.find((r) => r.aio_key! % ID === base1 + cap1 - 1)!;
    const gens = new Set([1, Math.floor(last.aio_key! / ID), Math.floor(r2.aio_key! / ID)]);
    for (let gid = base1 + cap1; gid < gid2; gid++) {
      for (const gen of gens) expect([gid, gen, k.io_cancel(c1, { aio_key: gen * ID + gid })]).toEqual([gid, gen, -errno.EINVAL]);
    }
    // The last id itself is c1's: its key cancels it.
    expect(k.io_cancel(c1, last)).toBe(-errno.EINPROGRESS);
    k.device(path).resume();
    const evs = tReap(k, c1, cap1);
    for (const e of evs) expect([e.data, e.res]).toEqual([e.data, e.obj === last ? tCancelled(opts, 512) : 512]);
    const [ev] = tReap(k, c2, 1);
    expect(ev.data).toBe(22n);
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
