// Description: io_setup's argument checks and the aio_max_nr quota (S1).
// Invariant: nr is a u32; EINVAL for a bad nr (0, or 2 x max(nr, 4 x cpus) over 8388608, so any
// nr > 4194304 whose doubling does not wrap) is decided before the quota; a doubling that wraps
// to 0 is EAGAIN; the quota counts nr itself and comes back on io_destroy; ids are positive and distinct.
import { errno } from 'kaio';
import { tBoot, tCapacity } from './helpers';

describe('io_setup', () => {
  test('rejects nr 0, non-integers and nr > 4194304 (as a u32) with -EINVAL, before the quota', async () => {
    const k = await tBoot({ aioMaxNr: 16 });
    // -1 and -1000 are 0xffffffff and 0xfffffc18 as the kernel's unsigned int: far over the bound.
    const einval = [0, -1, -1000, 1.5, NaN, Infinity, 4194305, 8388608, 8388609, 2 ** 31 - 1, 2 ** 32, -(2 ** 31) - 1, '4', null, undefined, 4n];
    for (const nr of einval) expect([nr, k.io_setup(nr as number)]).toEqual([nr, -errno.EINVAL]);
    // 4194304 doubles to exactly 8388608, a valid size, so it gets past EINVAL to the quota check.
    expect(k.io_setup(4194304)).toBe(-errno.EAGAIN);
    // 2^31 (also as -2^31) doubles to 0 in u32 arithmetic: -EAGAIN, as Linux; 2^31 + 1 doubles
    // to 2, a valid size, and is then over aio_max_nr: -EAGAIN.
    for (const nr of [2 ** 31, -(2 ** 31), 2 ** 31 + 1]) expect([nr, k.io_setup(nr)]).toEqual([nr, -errno.EAGAIN]);
    expect(k.aio_nr).toBe(0);
    // With the quota used up, a bad nr is still -EINVAL, not -EAGAIN.
    const ctx = k.io_setup(16);
    expect(ctx).toBeGreaterThan(0);
    expect(k.aio_nr).toBe(16);
    for (const nr of einval) expect([nr, k.io_setup(nr as number)]).toEqual([nr, -errno.EINVAL]);
    expect(k.io_setup(1)).toBe(-errno.EAGAIN);
    expect(k.io_destroy(ctx)).toBe(0);
    expect(k.aio_nr).toBe(0);
  });

  test('nr over aio_max_nr, or aio_nr + nr over it, is -EAGAIN', async () => {
    const k = await tBoot({ aioMaxNr: 100 });
    expect(k.io_setup(101)).toBe(-errno.EAGAIN);
    const a = k.io_setup(60);
    expect(a).toBeGreaterThan(0);
    expect(k.aio_nr).toBe(60);
    expect(k.io_setup(41)).toBe(-errno.EAGAIN);
    const b = k.io_setup(40);
    expect(b).toBeGreaterThan(0);
    expect(b).not.toBe(a);
    expect(k.aio_nr).toBe(100);
    expect(k.io_setup(1)).toBe(-errno.EAGAIN);
    expect(k.io_destroy(a)).toBe(0);
    expect(k.aio_nr).toBe(40);
    expect(k.io_setup(60)).toBeGreaterThan(0);
  });

  test('the quota counts exactly nr per context (libaio 20.t): (max / nr) contexts fit, one more does not', async () => {
    const max = 256;
    const k = await tBoot({ aioMaxNr: max });
    for (const nr of [1, 2, 4, 8, 32, 256]) {
      const ids: number[] = [];
      for (let i = 0; i < max / nr; i++) {
        const id = k.io_setup(nr);
        expect(id).toBeGreaterThan(0);
        tCapacity(k, id, nr); // what the context accepts is Linux's figure, not nr
        ids.push(id);
      }
      expect(new Set(ids).size).toBe(ids.length);
      expect(k.aio_nr).toBe(max);
      expect(k.io_setup(1)).toBe(-errno.EAGAIN);
      for (const id of ids) expect(k.io_destroy(id)).toBe(0);
      expect(k.aio_nr).toBe(0);
    }
  });

  test('a destroyed context id is dead for every syscall', async () => {
    const k = await tBoot();
    const ctx = k.io_setup(4);
    expect(k.io_destroy(ctx)).toBe(0);
    expect(k.io_destroy(ctx)).toBe(-errno.EINVAL);
    expect(k.io_submit(ctx, [], 0)).toBe(-errno.EINVAL);
    expect(k.io_getevents(ctx, 0, 1, [], 0)).toBe(-errno.EINVAL);
    expect(k.io_cancel(ctx, { aio_key: 1 })).toBe(-errno.EINVAL);
    // The table slot is reused by a later io_setup under a new id.
    const again = k.io_setup(4);
    expect(again).toBeGreaterThan(0);
    expect(again).not.toBe(ctx);
    expect(k.io_getevents(ctx, 0, 1, [], 0)).toBe(-errno.EINVAL);
  });
});
