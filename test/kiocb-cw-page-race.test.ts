// Invariant: when two cpus race to publish the same fresh cancel-word page, both end up using the published one, so a request of the cpu that lost the race can be cancelled by its key; a page's initialisation writes only its own words.
//
// The race (cw_page): a cancel-word page holds the ki_cancel words of
// CW_PER_PAGE ids, i.e. of CW_PER_PAGE / KIOCBS_PER_PAGE kiocb pages, so two
// cpus allocating the first kiocb of two different fresh kiocb pages can both
// find its cancel page missing, both initialise a copy and race to publish it.
// The loser must free its copy and use the winner's: its kiocbs store
// pointers into the cancel page (KI_CW) that completion and the driver
// follow, while io_cancel finds the word through the published page
// (cw_lookup). Fault injection 'cw-page-race' holds the first cpu after boot
// that has initialised a copy (bounded) until another cpu has published the
// page, so that it always loses.
//
// Set-up: two contexts, whose id ranges lie in two different kiocb pages of
// the first cancel page. A worker submits the first request of the kernel (to
// context A) and is held; the test sees the hold and submits to context B,
// which publishes the page; the worker's cmpxchg then fails.
import { errno, IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import * as L from '../assembly/include/layout';
import { tBoot, tWorker, tHeld } from './helpers';

const split = (ctx: number): [number, number] => [ctx % 65536, Math.floor(ctx / 65536)];

test('the cpu that loses the race to publish a fresh cancel page uses the published one: its request is cancellable by key', async () => {
  const k = await tBoot({ maxCpus: 4, faultInjection: 'cw-page-race' });
  const u32 = (k as unknown as { core: { u32: Uint32Array } }).core.u32;
  const [ra] = k.pipe();
  const [rb] = k.pipe();
  const ctxA = k.io_setup(4);
  const ctxB = k.io_setup(4);
  const a = k.ctxStat(ctxA)!;
  const b = k.ctxStat(ctxB)!;
  // Two kiocb pages, one cancel page, not yet allocated.
  expect(Math.floor(a.idBase / L.KIOCBS_PER_PAGE)).not.toBe(Math.floor(b.idBase / L.KIOCBS_PER_PAGE));
  expect(Math.floor((a.idBase + a.nr - 1) / L.CW_PER_PAGE)).toBe(0);
  expect(Math.floor((b.idBase + b.nr - 1) / L.CW_PER_PAGE)).toBe(0);
  expect(u32[L.CPAGE_OFF >>> 2]).toBe(0);
  expect(Atomics.load(u32, L.H_FI_CW_HOLD >>> 2)).toBe(0);

  // 1. The worker submits a read to context A: its cw_page is held before its cmpxchg.
  const worker = await tWorker(k);
  const held = worker.run(({ k, kaio }, { ctxA, ra }) => {
    const iocb: Iocb = { aio_lio_opcode: kaio.IOCB_CMD.PREAD, aio_fildes: ra, aio_buf: Buffer.alloc(8), aio_data: 1n };
    const n = k.io_submit(ctxA, [iocb]);
    return n === 1 ? { key: iocb.aio_key! } : { error: `io_submit ${n}` };
  }, { ctxA, ra });
  expect(tHeld(u32, L.H_FI_CW_HOLD)).toBe(L.FI_HOLD_WAITING);
  expect(u32[L.CPAGE_OFF >>> 2]).toBe(0); // the worker's copy is not published
  // The copy is the last block the bump allocator handed out: all its words are
  // FREE at generation 1, and initialising it wrote nothing past its end.
  const u64 = new BigUint64Array(u32.buffer);
  const top = u32[L.H_HEAP_TOP >>> 2];
  const copy = top - L.PAGE_SIZE;
  const free1 = (1n << 32n) | BigInt(L.KIOCB_FREE);
  expect(u64.subarray(copy >>> 3, top >>> 3).every((w) => w === free1)).toBe(true);
  expect(u64[top >>> 3]).toBe(0n);

  // 2. This thread submits to context B: it allocates, initialises and publishes the page.
  const bio: Iocb = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: rb, aio_buf: Buffer.alloc(8), aio_data: 2n };
  expect(k.io_submit(ctxB, [bio])).toBe(1);
  const page = u32[L.CPAGE_OFF >>> 2];
  expect(page).not.toBe(0);

  // 3. The worker's cmpxchg lost; its request must live in the published page.
  const r = await held as { error?: string; key: number };
  expect(r.error).toBeUndefined();
  expect(Atomics.load(u32, L.H_FI_CW_HOLD >>> 2)).toBe(L.FI_HOLD_REUSED);
  expect(u32[L.CPAGE_OFF >>> 2]).toBe(page);
  const gid = r.key % 2 ** L.KEY_ID_BITS;
  expect(gid - a.idBase).toBeGreaterThanOrEqual(0);
  expect(gid - a.idBase).toBeLessThan(a.nr);
  const kpage = u32[(L.KPAGE_OFF >>> 2) + Math.floor(gid / L.KIOCBS_PER_PAGE)];
  const kiCw = u32[(kpage + (gid % L.KIOCBS_PER_PAGE) * L.KIOCB_SIZE + L.KI_CW) >>> 2];
  expect(kiCw).toBe(page + (gid % L.CW_PER_PAGE) * 8);

  // Both requests are found by their keys, and each ends once, cancelled.
  expect(k.io_cancel(ctxA, { aio_key: r.key })).toBe(-errno.EINPROGRESS);
  expect(k.io_cancel(ctxB, { aio_key: bio.aio_key! })).toBe(-errno.EINPROGRESS);
  const got: Array<{ data: string; res: number }> = [];
  for (const ctx of [ctxA, ctxB]) {
    const evs: IoEvent[] = [];
    expect(k.io_getevents(ctx, 1, 2, evs, 10_000)).toBe(1);
    got.push(...evs.map((e) => ({ data: String(e.data), res: e.res })));
    expect(k.io_getevents(ctx, 0, 1, [], 0)).toBe(0);
  }
  expect(got).toEqual([{ data: '1', res: -errno.ECANCELED }, { data: '2', res: -errno.ECANCELED }]);
  expect(k.io_cancel(ctxA, { aio_key: r.key })).toBe(-errno.EINVAL); // retired now
});
