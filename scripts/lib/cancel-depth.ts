/**
 * The depth sweep of bench:cancel (S6, issue 9), shared with
 * scripts/ab-cancel-depth.mjs, which runs it against two builds side by side.
 *
 * D reads wait on a paused ramdisk (D = 256 .. 64K); C = 256 of them are
 * cancelled, then the 256 events are reaped. Two choices of the 256, in
 * alternating order from round to round:
 *  - adjacent: the first 256 submitted (ids 0..255): the same work at every
 *    depth, on memory that is as hot at 64K as at 256. What grows here grows
 *    with the queue: a walk.
 *  - spread: ids 0, D/256, 2D/256, ...: the same work again, but each cancel
 *    touches a kiocb, its bio and its neighbours, its cancel word and tag word,
 *    and the JS iocb object, spread over tens of MiB at 64K queued: what grows
 *    here is cache and TLB misses.
 * Each pattern runs on a fresh context (ids, and so kiocbs, in submission
 * order). For each: the first io_cancel's cost (one call, right after the submit
 * burst: what a user pays, cold paths included), the mean per cancel, and the
 * time from the first cancel until the 256th -ECANCELED event is reaped.
 * Medians over rounds, after warm-up rounds (the JIT compiles the paths in the
 * first ones; without them the shallowest depth, run first, looks slowest).
 *
 *  - cold: adjacent again, with a 64 MiB read between the submit burst and the
 *    first cancel, so that the caches are as cold at every depth. A 64K
 *    submit burst streams some 30 MiB of kiocbs, bios and JS objects through
 *    them, a 256 one almost nothing: the plain first cancel measures that as
 *    much as the cancel; this one compares the cancel's work across depths.
 *
 * `kaio` is the package's module (or another build's, for A/B).
 */
import type * as Kaio from 'kaio';

export interface DepthFigures { first: number; perCancel: number; toEventsUs: number }
export interface DepthRow { depth: number; adjacent: DepthFigures; spread: DepthFigures; cold: DepthFigures }

const C = 256;
let big: Float64Array | undefined;
let sink = 0;
/** Read 64 MiB: what was in the caches (kernel code and data, JS code) is gone. */
function flushCaches(): void {
  if (!big) {
    big = new Float64Array(8 << 20);
    for (let i = 0; i < big.length; i += 512) big[i] = i;
  }
  let s = 0;
  for (let i = 0; i < big.length; i += 8) s += big[i];
  sink += s;
}

export async function cancelDepth(kaio: typeof Kaio, depth: number, rounds: number, warmup: number): Promise<DepthRow> {
  const { Kernel, IOCB_CMD, errno } = kaio;
  const k = await Kernel.boot({ memoryMiB: 512, aioMaxNr: 1 << 20 });
  try {
    const path = k.ramdisk('q', { sizeBytes: 1 << 20, serviceTimeUs: 0 });
    const dev = k.device(path);
    await dev.ready();
    const fd = k.open(path, 'r');
    let ctx = 0;
    const bytes = k.buffer(4096);
    const iocbs: Kaio.Iocb[] = Array.from({ length: depth }, (_, i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: bytes.subarray(i & 4095, (i & 4095) + 1), aio_offset: i & 0xfffff, aio_data: BigInt(i) }));
    const evs: Kaio.IoEvent[] = [];
    const step = depth / C;
    const pick = { adjacent: (c: number) => iocbs[c], spread: (c: number) => iocbs[c * step], cold: (c: number) => iocbs[c] };
    const lists = () => ({ first: [] as number[], perCancel: [] as number[], toEventsUs: [] as number[] });
    const got = { adjacent: lists(), spread: lists(), cold: lists() };
    const submitAll = () => {
      for (let i = 0; i < depth; i += 512) if (k.io_submit(ctx, iocbs.slice(i, i + 512)) !== Math.min(512, depth - i)) throw new Error('io_submit');
    };
    const reap = (n: number, check: boolean) => {
      for (let have = 0; have < n;) {
        const r = k.io_getevents(ctx, 1, n - have, evs, 10_000);
        if (r <= 0) throw new Error(`io_getevents: ${r}`);
        if (check) for (let j = 0; j < r; j++) if (evs[j].res !== -errno.ECANCELED) throw new Error(`event ${evs[j].data}: ${evs[j].res} (device paused: only cancelled ones may complete)`);
        have += r;
      }
    };
    for (let r = 0; r < warmup + rounds; r++) {
      const order = r % 2 === 0 ? (['adjacent', 'spread', 'cold'] as const) : (['cold', 'spread', 'adjacent'] as const);
      for (const which of order) {
        const at = pick[which];
        // A fresh context each time: its ids (and so its kiocbs) go to the
        // requests in submission order, as in a new workload. A reused one
        // hands out the ids its last round freed, in LIFO order: "adjacent"
        // requests would sit anywhere in its kiocb pages.
        ctx = k.io_setup(depth);
        if (ctx < 0) throw new Error(`io_setup: ${ctx}`);
        dev.pause();
        submitAll();
        if (which === 'cold') flushCaches();
        const t0 = performance.now();
        if (k.io_cancel(ctx, at(0)) !== -errno.EINPROGRESS) throw new Error('first cancel');
        const t1 = performance.now();
        for (let c = 1; c < C; c++) if (k.io_cancel(ctx, at(c)) !== -errno.EINPROGRESS) throw new Error('cancel');
        const t2 = performance.now();
        reap(C, true);
        const t3 = performance.now();
        dev.resume();
        reap(depth - C, false);
        if (k.io_destroy(ctx) !== 0) throw new Error('io_destroy');
        if (r >= warmup) {
          got[which].first.push((t1 - t0) * 1e6);
          got[which].perCancel.push(((t2 - t0) * 1e6) / C);
          got[which].toEventsUs.push((t3 - t0) * 1e3);
        }
      }
    }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
    const fig = (g: { first: number[]; perCancel: number[]; toEventsUs: number[] }): DepthFigures => ({ first: med(g.first), perCancel: med(g.perCancel), toEventsUs: med(g.toEventsUs) });
    if (sink === -1) console.log(sink); // keeps the flush's reads
    return { depth, adjacent: fig(got.adjacent), spread: fig(got.spread), cold: fig(got.cold) };
  } finally {
    await k.shutdown();
  }
}
