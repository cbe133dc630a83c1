// Description: a submit reserves a ring slot; when none is left io_submit says -EAGAIN (S2, S12).
// Invariant: a context of nr requests accepts exactly nr in flight or unreaped, never hangs,
// and every slot comes back once its event is consumed.
import { errno } from 'kaio';
import { STRATEGIES, tBoot, tDisk, tRead, tReap } from './helpers';

describe.each(STRATEGIES)('ring full (%s)', (_name, opts) => {
  test('nr requests fit; the next is -EAGAIN; a batch across the limit is partial', async () => {
    const k = await tBoot(opts);
    const { path, fd } = tDisk(k, { serviceTimeUs: 50 });
    const dev = k.device(path);
    dev.pause();
    const ctx = k.io_setup(4);
    expect(k.ring(ctx).getUint32(4, true) - 1).toBe(4); // ring nr - 1 = capacity, as in fs/aio.c
    const mk = (i: number) => tRead(fd, Buffer.alloc(512), i * 512, BigInt(i));
    expect(k.io_submit(ctx, [mk(0), mk(1), mk(2)])).toBe(3);
    expect(k.io_submit(ctx, [mk(3), mk(4), mk(5)])).toBe(1);
    expect(k.io_submit(ctx, [mk(6)])).toBe(-errno.EAGAIN);
    dev.resume();
    const evs = tReap(k, ctx, 4);
    expect(evs.map((e) => e.data).sort()).toEqual([0n, 1n, 2n, 3n]);
    expect(evs.every((e) => e.res === 512)).toBe(true);
    expect(k.ctxStat(ctx)!.freeSlots).toBe(4);
    expect(k.io_submit(ctx, [mk(7), mk(8), mk(9), mk(10)])).toBe(4);
    tReap(k, ctx, 4);
  });

  test('completed but unreaped events keep their slots until consumed', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(2);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(64)), tRead(fd, Buffer.alloc(64))])).toBe(2);
    // Wait until both are in the ring, without consuming them.
    const deadline = Date.now() + 5000;
    while (k.ctxStat(ctx)!.inRing < 2 && Date.now() < deadline);
    expect(k.ctxStat(ctx)!.inRing).toBe(2);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(64))])).toBe(-errno.EAGAIN);
    expect(k.io_getevents(ctx, 1, 1, [], 1000)).toBe(1);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(64))])).toBe(1);
    tReap(k, ctx, 2);
  });
});
