// Description: io_setup's argument checks and the aio_max_nr quota (S1).
// Invariant: EINVAL for a bad nr is decided before the quota; the quota counts nr itself
// and comes back on io_destroy; ids are positive and distinct.
import { errno } from 'kaio';
import { tBoot } from './helpers';

describe('io_setup', () => {
  test('rejects nr <= 0, non-integers and nr > 8388608 with -EINVAL, before the quota', async () => {
    const k = await tBoot({ aioMaxNr: 16 });
    for (const nr of [0, -1, -1000, 1.5, NaN, Infinity, 8388609, 2 ** 32, '4', null, undefined, 4n]) {
      expect(k.io_setup(nr as number)).toBe(-errno.EINVAL);
    }
    // 8388608 is a valid nr, so it gets past EINVAL to the quota check.
    expect(k.io_setup(8388608)).toBe(-errno.EAGAIN);
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
