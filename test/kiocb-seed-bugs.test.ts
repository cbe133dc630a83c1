// Description: regressions for the seed patch's ki_cancel and lookup bugs (S10).
// Invariant: a request with no cancel callback that is cancelled and then completed neither
// hangs nor loses the cancel; the state word goes 0 -> CANCELLED (never stuck at CANCELLING).
import { errno } from 'kaio';
import { tBoot, tDisk, tRead, tReap } from './helpers';

const CANCELLING = 0xfffffffe;
const CANCELLED = 0xffffffff;
const FREE = 0xfffffffd;

function state(k: import('kaio').Kernel, ctx: number, key: number): number {
  // Internal peek at ki_cancel's low half (tests only).
  const core = (k as unknown as { core: { x: { kiocb_peek(s: number, g: number, id: number): bigint } } }).core;
  const v = core.x.kiocb_peek(ctx % 65536, Math.floor(ctx / 65536), key % 2 ** 23);
  return Number(BigInt.asUintN(32, v));
}

test('no callback, cancelled, then completed by the device (mark-only): no hang, one normal event', async () => {
  const k = await tBoot({ cancel: 'mark-only' });
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  k.device(path).pause();
  const ctx = k.io_setup(4);
  const r = tRead(fd, Buffer.alloc(512));
  expect(k.io_submit(ctx, [r])).toBe(1);
  expect(state(k, ctx, r.aio_key!)).toBe(0);
  expect(k.io_cancel(ctx, r)).toBe(-errno.EINPROGRESS);
  // The seed left this at CANCELLING; completion then spun forever.
  expect(state(k, ctx, r.aio_key!)).toBe(CANCELLED);
  expect(state(k, ctx, r.aio_key!)).not.toBe(CANCELLING);
  k.device(path).resume();
  const [ev] = tReap(k, ctx, 1, 10_000);
  expect(ev.res).toBe(512);
  expect(state(k, ctx, r.aio_key!)).toBe(FREE);
});

test('no callback, cancelled while queued (effective): the block layer sees the mark, -ECANCELED', async () => {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  k.device(path).pause();
  const ctx = k.io_setup(4);
  const r = tRead(fd, Buffer.alloc(512));
  expect(k.io_submit(ctx, [r])).toBe(1);
  expect(k.io_cancel(ctx, r)).toBe(-errno.EINPROGRESS);
  // The seed's kiocb_cancelled() compared with CANCELLED and so missed its own CANCELLING mark.
  const [ev] = tReap(k, ctx, 1, 10_000);
  expect(ev.res).toBe(-errno.ECANCELED);
  expect(k.device(path).stats().dispatched).toBe(0);
});

test('a key whose id equals nr is rejected before any kiocb is touched (seed: key > nr_events)', async () => {
  const k = await tBoot();
  const ctx = k.io_setup(16);
  const base = k.ctxStat(ctx)!.idBase;
  for (let gen = 1; gen < 4; gen++) {
    expect(k.io_cancel(ctx, { aio_key: gen * 2 ** 23 + base + 16 })).toBe(-errno.EINVAL);
    expect(k.io_cancel(ctx, { aio_key: gen * 2 ** 23 + base + 15 })).toBe(-errno.EINVAL); // in range, never submitted
  }
});
