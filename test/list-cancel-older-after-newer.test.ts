// Invariant: with the 'list' lookup baseline, completing a request never unlinks another: an older request stays findable (and cancellable) after a newer one completed; only that baseline keeps a list.
import { errno, IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import * as L from '../assembly/include/layout';
import { tBoot } from './helpers';

test('list lookup: the older of two waiting pipe reads is still cancellable after the newer completed', async () => {
  const k = await tBoot({ lookup: 'list' });
  const [r1] = k.pipe();
  const [r2, w2] = k.pipe();
  const ctx = k.io_setup(4);
  const older: Iocb = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: r1, aio_buf: Buffer.alloc(4), aio_data: 1n };
  const newer: Iocb = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: r2, aio_buf: Buffer.alloc(4), aio_data: 2n };
  expect(k.io_submit(ctx, [older])).toBe(1);
  expect(k.io_submit(ctx, [newer])).toBe(1);
  expect(k.write(w2, Buffer.from('ab'))).toBe(2);
  const evs: IoEvent[] = [];
  expect(k.io_getevents(ctx, 1, 1, evs, 5000)).toBe(1);
  expect(evs[0]).toMatchObject({ data: 2n, res: 2 });
  expect(k.io_cancel(ctx, older)).toBe(-errno.EINPROGRESS);
  const ev2: IoEvent[] = [];
  expect(k.io_getevents(ctx, 1, 1, ev2, 5000)).toBe(1);
  expect(ev2[0]).toMatchObject({ data: 1n, res: -errno.ECANCELED });
  expect(k.io_cancel(ctx, older)).toBe(-errno.EINVAL);
});

test('list lookup: a kiocb last linked with a successor, reused alone, completes and leaves the list empty: the next request is cancellable', async () => {
  const k = await tBoot({ lookup: 'list' });
  const x = (k as unknown as { core: { x: { tag_test_alloc(s: number, g: number, c: number): number; tag_test_free(s: number, g: number, c: number, id: number): number } } }).core.x;
  const [r, w] = k.pipe();
  const ctx = k.io_setup(4);
  const [s, g] = [ctx % 65536, Math.floor(ctx / 65536)];
  const reap = (): IoEvent => {
    const evs: IoEvent[] = [];
    expect(k.io_getevents(ctx, 1, 1, evs, 5000)).toBe(1);
    return evs[0];
  };
  const read = (data: bigint): Iocb => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: r, aio_buf: Buffer.alloc(1), aio_data: data });
  // X then Y: X is linked with a successor. Both are served and reaped.
  const [xr, yr] = [read(1n), read(2n)];
  expect(k.io_submit(ctx, [xr, yr])).toBe(2);
  expect(k.write(w, Buffer.from('xy'))).toBe(2);
  expect([reap().data, reap().data]).toEqual([1n, 2n]);
  const id = (iocb: Iocb) => iocb.aio_key! & ((1 << 23) - 1);
  // Hold every id (tag hooks), then give back only X's: the next request reuses X's kiocb.
  const held: number[] = [];
  for (let i = 0; i < 1000; i++) { const t = x.tag_test_alloc(s, g, k.cpu); if (t < 0) break; held.push(t); }
  const local = (iocb: Iocb) => id(iocb) - k.ctxStat(ctx)!.idBase; // the hooks take context-local ids
  expect(held).toContain(local(xr));
  expect(x.tag_test_free(s, g, k.cpu, local(xr))).toBe(0);
  const a = read(3n);
  expect(k.io_submit(ctx, [a])).toBe(1);
  expect(local(a)).toBe(local(xr));
  expect(k.write(w, Buffer.from('a'))).toBe(1);
  expect(reap()).toMatchObject({ data: 3n, res: 1 });
  // The next request, in a third kiocb, must be found by its key.
  const z = held.find((t) => t !== local(xr) && t !== local(yr))!;
  expect(x.tag_test_free(s, g, k.cpu, z)).toBe(0);
  const b = read(4n);
  expect(k.io_submit(ctx, [b])).toBe(1);
  expect(local(b)).toBe(z);
  expect(k.io_cancel(ctx, b)).toBe(-errno.EINPROGRESS);
  expect(reap()).toMatchObject({ data: 4n, res: -errno.ECANCELED });
});

test.each([
  ['tags', 0],
  ['list', 3],
] as const)('the %s lookup keeps %i in-flight requests on the context\'s active list', async (lookup, onList) => {
  // Invariant: only the 'list' baseline links requests under ctx_lock; the default lookup (tags, O(1) by id) never does.
  const k = await tBoot({ lookup });
  const u32 = (k as unknown as { core: { u32: Uint32Array } }).core.u32;
  const ctx = k.io_setup(4);
  const cx = L.CTX_OFF + (ctx % L.MAX_CTX) * L.CTX_SIZE;
  const ios: Iocb[] = [0, 1, 2].map((i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: k.pipe()[0], aio_buf: Buffer.alloc(4), aio_data: BigInt(i) }));
  expect(k.io_submit(ctx, ios)).toBe(3);
  let n = 0;
  for (let req = u32[(cx + L.CX_LIST_HEAD) >>> 2]; req !== 0 && n < 10; req = u32[(req + L.KI_LIST_NEXT) >>> 2]) n++;
  expect(n).toBe(onList);
  for (const io of ios) expect(k.io_cancel(ctx, io)).toBe(-errno.EINPROGRESS);
  const evs: IoEvent[] = [];
  expect(k.io_getevents(ctx, 3, 3, evs, 5000)).toBe(3);
  expect(evs.map((e) => e.res)).toEqual([-errno.ECANCELED, -errno.ECANCELED, -errno.ECANCELED]);
  expect(u32[(cx + L.CX_LIST_HEAD) >>> 2]).toBe(0);
  expect(u32[(cx + L.CX_LIST_TAIL) >>> 2]).toBe(0);
});
