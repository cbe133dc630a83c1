// Description: a thread's handles on its requests when the events are consumed elsewhere (issue 7:
// "an in-flight request holds everything it uses until its event is reaped or discarded").
// Invariant: a request's k.buffer() block stays allocated until its event is consumed, by whoever
// consumes it (another thread's io_getevents, a user-space reaper moving head, io_destroy), and is
// freed once it was: the submitter's handle goes back through the kernel's orphan bitmap.
import { IOCB_CMD, type Iocb, type IoEvent, type Kernel, type KernelBuffer } from 'kaio';
import { tBoot, tDisk, tWorker } from './helpers';
import { hCollect } from './hostile-helpers';
import * as L from '../assembly/include/layout';

const SIZE = 4096;

/** Submit n reads of SIZE bytes into fresh k.buffer() blocks; return the blocks' addresses (the views are dropped). */
function submitReads(k: Kernel, ctx: number, fd: number, n: number): number[] {
  const addrs: number[] = [];
  const iocbs: Iocb[] = [];
  for (let i = 0; i < n; i++) {
    const kb: KernelBuffer = k.buffer(SIZE);
    addrs.push(kb.byteOffset);
    iocbs.push({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: kb, aio_offset: 0, aio_data: BigInt(i + 1) });
  }
  expect(k.io_submit(ctx, iocbs)).toBe(n);
  for (const c of iocbs) c.aio_buf = undefined; // the user keeps nothing of the blocks
  return addrs;
}

/**
 * Wait (bounded) until n events are in ctx's ring, then consume them as libaio's
 * user-space reaper does, by moving head past them. Returns the ring's size.
 */
function consumeInUserSpace(k: Kernel, ctx: number, n: number): number {
  const ring = k.ring(ctx);
  const nr = ring.getUint32(4, true);
  const deadline = Date.now() + 5000;
  const inRing = () => (ring.getUint32(12, true) - ring.getUint32(8, true) + nr) % nr;
  while (inRing() < n && Date.now() < deadline);
  expect(inRing()).toBe(n);
  ring.setUint32(8, (ring.getUint32(8, true) + n) % nr, true);
  return nr;
}

/**
 * How many of `addrs` new k.buffer() calls hand out again, after collection ran. With `want`,
 * keep collecting and allocating (bounded: 10 rounds) until that many came back: kaio's
 * finalizers run in some later round, in no set order.
 */
async function reusedOf(k: Kernel, addrs: number[], tries: number, want?: number): Promise<number> {
  const left = new Set(addrs);
  const keep: KernelBuffer[] = [];
  let hits = 0;
  for (let round = 0; round < (want === undefined ? 1 : 10) && (want === undefined || hits < want); round++) {
    await hCollect(6);
    for (let i = 0; i < tries && (want === undefined || hits < want); i++) {
      const b = k.buffer(SIZE);
      keep.push(b);
      if (left.delete(b.byteOffset)) hits++;
    }
  }
  return hits;
}

test.each([
  ['io_getevents into IoEvent objects', false],
  ['io_getevents into an IoEventArray (binary records)', true],
])('events reaped by another thread (%s) free the submitter\'s blocks (after its next sweep)', async (_how, binary) => {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(512);
  const N = 300; // more than the 256 orphans that make io_submit sweep
  const w = await tWorker(k);
  const addrs = submitReads(k, ctx, fd, N);
  // The worker reaps all of them: it cannot deliver to this thread's objects.
  const got = await w.run(({ k: wk }, a: { ctx: number; n: number; binary: boolean }) => {
    const evs = a.binary ? wk.ioEventArray(64) : [];
    let n = 0;
    while (n < a.n) {
      const r = wk.io_getevents(a.ctx, 1, Math.min(64, a.n - n), evs, 5000);
      if (r <= 0) break;
      n += r;
    }
    return n;
  }, { ctx, n: N, binary });
  expect(got).toBe(N);
  // Until this thread sweeps, the blocks are still held: none is handed out again.
  expect(await reusedOf(k, addrs, 8)).toBe(0);
  // A submit with 300 orphans pending sweeps them: the handles let go of the blocks.
  expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: 9999n }])).toBe(1);
  expect(k.io_getevents(ctx, 1, 1, [], 5000)).toBe(1);
  expect(await reusedOf(k, addrs, N + 16, N)).toBe(N);
  expect(k.device(path).stats().completed).toBe(N);
});

test('events consumed from the ring by user space, then discarded by io_destroy, free their blocks', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(16);
  const addrs = submitReads(k, ctx, fd, 8);
  consumeInUserSpace(k, ctx, 8);
  expect(k.io_getevents(ctx, 0, 8, [], 0)).toBe(0); // consumed: nothing for io_getevents
  expect(await reusedOf(k, addrs, 8)).toBe(0); // still held: the kernel has not told the owner
  expect(k.io_destroy(ctx)).toBe(0); // frees the ring: every cookie still in it goes back
  expect(await reusedOf(k, addrs, 32, 8)).toBe(8);
});

test('an event of a thread that left never frees a handle of the next thread on its cpu id (claim epochs)', async () => {
  const k = await tBoot({ maxCpus: 8 });
  const { path } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(8);
  k.device(path).pause();
  // A submits a read (its first handle) and leaves with it in flight.
  const a = await tWorker(k);
  await a.run(({ k: wk, kaio }, x: { ctx: number; path: string }) => {
    const fd = wk.open(x.path, 'r');
    if (wk.io_submit(x.ctx, [{ aio_lio_opcode: kaio.IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: new Uint8Array(16), aio_offset: 0, aio_data: 1n }]) !== 1) throw new Error('submit');
    wk.detach();
  }, { ctx, path });
  // B takes the same cpu id, and its first handle (the same index) waits on a pipe.
  const [rfd, wfd] = k.pipe();
  const b = await tWorker(k);
  expect(b.cpu).toBe(a.cpu);
  await b.run(({ k: wk, kaio }, x: { ctx: number; rfd: number }) => {
    const g = globalThis as unknown as { mine: object };
    g.mine = { aio_lio_opcode: kaio.IOCB_CMD.PREAD, aio_fildes: x.rfd, aio_buf: new Uint8Array(4), aio_data: 2n };
    if (wk.io_submit(x.ctx, [g.mine as never]) !== 1) throw new Error('submit');
  }, { ctx, rfd });
  // A's event is reaped here: its cookie names A's cpu id with A's epoch, not B's.
  k.device(path).resume();
  const evs: IoEvent[] = [];
  expect(k.io_getevents(ctx, 1, 1, evs, 5000)).toBe(1);
  expect(evs[0].data).toBe(1n);
  // B sweeps its orphans (io_destroy does), then gets its pipe read with its own iocb.
  expect(k.write(wfd, Buffer.from('wxyz'))).toBe(4);
  const r = await b.run(({ k: wk }, x: { ctx: number }) => {
    const other = wk.io_setup(1);
    wk.io_destroy(other);
    const out: IoEvent[] = [];
    const n = wk.io_getevents(x.ctx, 1, 1, out, 5000);
    const g = globalThis as unknown as { mine: { aio_buf: Uint8Array } };
    return { n, same: (out[0]?.obj as unknown) === g.mine, res: out[0]?.res, bytes: Array.from(g.mine.aio_buf) };
  }, { ctx });
  expect(r).toEqual({ n: 1, same: true, res: 4, bytes: [0x77, 0x78, 0x79, 0x7a] });
});

test('events consumed by moving head go back to their submitter when the ring reuses their slots, and only those', async () => {
  const k = await tBoot();
  const core = (k as unknown as { core: { u32: Uint32Array } }).core;
  const orphans = () => Atomics.load(core.u32, (L.CPU_OFF + k.cpu * L.CPU_SIZE + L.CPU_ORPHANS) >>> 2);
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(16);
  const addrs = submitReads(k, ctx, fd, 8);
  const nr = consumeInUserSpace(k, ctx, 8);
  expect(orphans()).toBe(0);
  // nr NOOPs, each reaped by this thread with io_getevents: every slot is published
  // again, so each of the 8 consumed events' cookies is found there and orphaned;
  // the NOOPs' own cookies, reaped by their submitter, are not.
  for (let i = 0; i < nr; i++) {
    expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: 100n }])).toBe(1);
    const evs: IoEvent[] = [];
    expect(k.io_getevents(ctx, 1, 1, evs, 5000)).toBe(1);
    expect(evs[0].data).toBe(100n);
  }
  expect(orphans()).toBe(8);
  k.io_destroy(k.io_setup(1)); // io_destroy sweeps this thread's orphans
  expect(orphans()).toBe(0);
  expect(await reusedOf(k, addrs, 32, 8)).toBe(8); // the blocks the 8 reads held are free
});
