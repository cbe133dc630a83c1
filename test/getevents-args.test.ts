// Description: io_getevents' arguments, timeouts and event contents (S4).
// Invariant: -EINVAL unless 0 <= min_nr <= nr on a live context and the timeout is a number (or
// none); timeout 0 polls once, expiry returns what arrived, no timeout or a negative one (as Linux)
// waits for min_nr; every event once, data exact to 64 bits.
import { errno, type IoEvent } from 'kaio';
import { STRATEGIES, tBoot, tDisk, tRead, tReap, tWorker } from './helpers';

describe.each(STRATEGIES)('io_getevents (%s)', (_name, opts) => {
  test('argument checks', async () => {
    const k = await tBoot(opts);
    const ctx = k.io_setup(4);
    const ev: IoEvent[] = [];
    expect(k.io_getevents(ctx, 2, 1, ev, 0)).toBe(-errno.EINVAL);
    expect(k.io_getevents(ctx, -1, 1, ev, 0)).toBe(-errno.EINVAL);
    expect(k.io_getevents(ctx, 0, -1, ev, 0)).toBe(-errno.EINVAL);
    expect(k.io_getevents(ctx, 0.5, 1, ev, 0)).toBe(-errno.EINVAL);
    expect(k.io_getevents(ctx, 0, 1, ev, NaN)).toBe(-errno.EINVAL);
    expect(k.io_getevents(ctx, 0, 1, ev, -1)).toBe(0); // valid: no limit, and min_nr 0 returns at once
    expect(k.io_getevents(ctx, 0, 1, ev, -Infinity)).toBe(0);
    expect(k.io_getevents(ctx, 0, 1, ev, '5' as unknown as number)).toBe(-errno.EINVAL);
    expect(k.io_getevents(0, 0, 1, ev, 0)).toBe(-errno.EINVAL);
    expect(k.io_getevents(ctx + 1, 0, 1, ev, 0)).toBe(-errno.EINVAL);
    expect(k.io_getevents(ctx, 0, 1, 'x' as unknown as IoEvent[], 0)).toBe(-errno.EFAULT);
    expect(k.io_getevents(ctx, 0, 0, ev, 0)).toBe(0);
    expect(ev.length).toBe(0);
  });

  test('min_nr 0 returns at once with whatever is ready, whatever the timeout', async () => {
    const k = await tBoot(opts);
    const ctx = k.io_setup(4);
    const t0 = performance.now();
    expect(k.io_getevents(ctx, 0, 4, [], null)).toBe(0);
    expect(k.io_getevents(ctx, 0, 4, [], undefined)).toBe(0);
    expect(k.io_getevents(ctx, 0, 4, [], 60_000)).toBe(0);
    expect(performance.now() - t0).toBeLessThan(30_000); // it did not wait out the 60 s timeout
  });

  test('expiry returns what has arrived (0 here); null waits for min_nr', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
    const dev = k.device(path);
    dev.pause();
    const ctx = k.io_setup(4);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(8), 0, 1n), tRead(fd, Buffer.alloc(8), 0, 2n)])).toBe(2);
    expect(k.io_getevents(ctx, 1, 4, [], 20)).toBe(0);
    expect(k.io_getevents(ctx, 1, 4, [], 0)).toBe(0);
    dev.resume();
    const ev: IoEvent[] = [];
    const n = k.io_getevents(ctx, 2, 4, ev, null);
    expect(n).toBe(2);
    expect(ev.map((e) => e.data).sort()).toEqual([1n, 2n]);
    expect(k.io_getevents(ctx, 0, 4, [], 0)).toBe(0);
  });

  test('a negative timeout is no limit, as in Linux: it waits for min_nr, past a bounded wait\'s expiry', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
    const dev = k.device(path);
    const ctx = k.io_setup(4);
    const w = await tWorker(k);
    // The async call on this thread, and the blocking one on another thread (so that this one
    // stays free to watch it, and a wait that never ends fails the test by its timeout).
    const calls: Array<[string, number, () => Promise<IoEvent[] | number>]> = [
      ['async', -1, () => k.io_getevents_async(ctx, 1, 4, -1)],
      ...[-1, -1000, -Infinity].map((t): [string, number, () => Promise<IoEvent[] | number>] => ['blocking', t, () =>
        w.run(({ k: wk }, a: { ctx: number; t: number }) => {
          const evs: IoEvent[] = [];
          const r = wk.io_getevents(a.ctx, 1, 4, evs, a.t);
          return r < 0 ? r : evs.map((e) => ({ data: e.data, res: e.res }) as IoEvent);
        }, { ctx, t })]),
    ];
    let i = 0n;
    for (const [how, t, call] of calls) {
      dev.pause();
      expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(8), 0, ++i)])).toBe(1);
      let settled = false;
      const waiting = call().then((r) => {
        settled = true;
        return r;
      });
      // A bounded wait started after it expires first, with nothing; the negative one still waits.
      expect(await k.io_getevents_async(ctx, 1, 4, 50)).toEqual([]);
      expect([how, t, settled]).toEqual([how, t, false]);
      dev.resume();
      const got = (await waiting) as IoEvent[];
      expect([how, t, got.map((e) => [e.data, e.res])]).toEqual([how, t, [[i, 8]]]);
    }
    expect(k.io_getevents(ctx, 0, 4, [], 0)).toBe(0);
  });

  test('nr bounds the events returned; the rest stay for the next call, each delivered once', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(16);
    const iocbs = Array.from({ length: 10 }, (_, i) => tRead(fd, Buffer.alloc(8), i * 8, BigInt(i)));
    expect(k.io_submit(ctx, iocbs)).toBe(10);
    const seen: bigint[] = [];
    let left = 10;
    while (left > 0) {
      const ev: IoEvent[] = [];
      const n = k.io_getevents(ctx, 1, 3, ev, 5000);
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThanOrEqual(3);
      expect(ev.length).toBe(n);
      seen.push(...ev.map((e) => e.data));
      left -= n;
    }
    expect(seen.sort((a, b) => (a < b ? -1 : 1))).toEqual(iocbs.map((_, i) => BigInt(i)));
    expect(k.io_getevents(ctx, 0, 16, [], 0)).toBe(0);
  });

  test('event data is aio_data exact to 64 bits; obj is the submitted iocb; res2 is 0', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(8);
    const values = [0n, 1n, 0xffffffffn, 0x100000000n, 0xdeadbeefcafebaben, 0xffffffffffffffffn, 2n ** 53n + 1n];
    const iocbs = values.map((v, i) => tRead(fd, Buffer.alloc(8), i * 8, v));
    expect(k.io_submit(ctx, iocbs)).toBe(values.length);
    const evs = tReap(k, ctx, values.length);
    for (const e of evs) {
      const i = iocbs.indexOf(e.obj);
      expect(i).toBeGreaterThanOrEqual(0);
      expect(e.data).toBe(values[i]);
      expect(typeof e.data).toBe('bigint');
      expect(e.res).toBe(8);
      expect(e.res2).toBe(0);
    }
    // Numbers are accepted for aio_data and come back as bigint.
    expect(k.io_submit(ctx, [{ ...tRead(fd, Buffer.alloc(8)), aio_data: 77 as unknown as bigint }])).toBe(1);
    expect(tReap(k, ctx, 1)[0].data).toBe(77n);
  });
});
