// Description: the booting thread takes back the cpu of a worker that is gone without detaching (k.reclaimThread, what its 'exit' event runs).
// Invariant: after a terminated worker is reclaimed, every tag and ring slot of every context it used is free, io_destroy of them returns 0, its staged events are delivered once, and its cpu id is free and clean for the next thread.
//
// Jest gives tests a copy of `process` that never sees the 'worker' event the
// host uses to watch its workers exit, so these tests call k.reclaimThread(tid)
// themselves after the worker's 'exit' (the real event is exercised in a plain
// Node process by threads-attach.test.ts).
import * as L from '../assembly/include/layout';
import { errno, IOCB_CMD, type Kernel } from 'kaio';
import { tBoot, tDisk, tReap, tWorker, type TWorker, tCapacity, tUntil } from './helpers';

/** Terminate a worker and wait for its 'exit' (no exit hook runs in it). */
async function tKill(w: TWorker): Promise<number> {
  const exited = new Promise<void>((r) => w.worker.once('exit', () => r()));
  const tid = w.worker.threadId;
  await w.terminate();
  await exited;
  return tid;
}

function defer(k: Kernel, cpu: number): number {
  return new Uint32Array(k.handle.memory.buffer)[(L.CPU_OFF + cpu * L.CPU_SIZE + L.CPU_DEFER) >> 2];
}

test('a worker terminated between calls: its cached tags and slots come back, io_destroy returns 0, its cpu id is reused', async () => {
  const k = await tBoot({ maxCpus: 8 });
  const { path } = tDisk(k, { serviceTimeUs: 0 });
  const base = k.stats().cpusOnline;
  const ctx = k.io_setup(256); // batch 8: a submitting cpu caches spare ids and slots
  const w = await tWorker(k);
  const cached = await w.run(({ k, kaio }, { ctx, path }) => {
    const wfd = k.open(path, 'r');
    const iocbs = Array.from({ length: 3 }, (_, i) => ({ aio_lio_opcode: kaio.IOCB_CMD.PREAD, aio_fildes: wfd, aio_buf: new Uint8Array(8), aio_offset: i * 8 }));
    if (k.io_submit(ctx, iocbs) !== 3) throw new Error('submit');
    if (k.io_getevents(ctx, 3, 3, [], 10_000) !== 3) throw new Error('reap');
    return k.ctxStat(ctx)!.cachedHere;
  }, { ctx, path });
  expect(cached).toBeGreaterThan(0);
  const tid = await tKill(w);
  k.reclaimThread(tid);
  expect(k.stats().cpusOnline).toBe(base);
  expect(k.ctxStat(ctx, w.cpu)!.cachedHere).toBe(0);
  // The device thread counts each read out of inflight just after it publishes its event.
  expect(await tUntil(() => k.ctxStat(ctx)!.inflight, 0)).toBe(0);
  const st = k.ctxStat(ctx)!;
  const cap = tCapacity(k, ctx, 256);
  expect([st.freeTags, st.freeSlots, st.inflight]).toEqual([cap, cap, 0]);
  k.reclaimThread(tid); // a second reclaim finds nothing
  expect(k.stats().cpusOnline).toBe(base);
  const w2 = await tWorker(k);
  expect(w2.cpu).toBe(w.cpu);
  await w2.run(({ k }) => k.detach());
  expect(k.io_destroy(ctx)).toBe(0);
  expect(k.aio_nr).toBe(0);
});

test('a worker that attached twice and is terminated gives back both cpus', async () => {
  const k = await tBoot({ maxCpus: 8 });
  const base = k.stats().cpusOnline;
  const w = await tWorker(k);
  const second = await w.run(async ({ kaio }, { handle }) => (await kaio.Kernel.attach(handle)).cpu, { handle: k.handle });
  expect(second).not.toBe(w.cpu);
  expect(k.stats().cpusOnline).toBe(base + 2);
  k.reclaimThread(await tKill(w));
  expect(k.stats().cpusOnline).toBe(base);
});

test('a worker terminated inside io_submit: its staged events are delivered, its context reference dropped, its cpu comes back clean', async () => {
  // Fault injection makes io_submit spin (inside WASM, bounded) after it has queued a pipe
  // read and before it registers its cancel callback: the worker is then inside io_submit,
  // holding its context reference, with the batch's earlier NOOP completed and staged.
  const k = await tBoot({ maxCpus: 8, faultInjection: 'late-cancel-fn' });
  const base = k.stats().cpusOnline;
  let caught = 0;
  for (let attempt = 0; attempt < 5 && caught === 0; attempt++) {
    const [rfd, wfd] = k.pipe();
    const ctx = k.io_setup(8);
    const w = await tWorker(k);
    const submitted = w.run(({ k, kaio }, { ctx, rfd }) => k.io_submit(ctx, [
      { aio_lio_opcode: kaio.IOCB_CMD.NOOP, aio_fildes: rfd, aio_data: 1n },
      { aio_lio_opcode: kaio.IOCB_CMD.PREAD, aio_fildes: rfd, aio_buf: new Uint8Array(4), aio_offset: 0, aio_data: 2n },
    ]), { ctx, rfd });
    submitted.catch(() => {}); // never settles if the worker dies inside the call
    // The pipe read is outstanding once it is queued: the worker is in the spin (or just past it).
    const deadline = Date.now() + 10_000;
    const queued = () => { const o = k.io_outstanding(ctx); return Array.isArray(o) && o.some((r) => r.aio_data === 2n); };
    while (!queued() && Date.now() < deadline);
    expect(queued()).toBe(true);
    const tid = await tKill(w);
    const inside = defer(k, w.cpu) === 1; // stopped between io_submit's DEFER store and its clear
    if (inside) caught++;
    k.reclaimThread(tid);
    expect(k.stats().cpusOnline).toBe(base);
    // Exactly one event per request: the NOOP's (staged by the dead cpu, or published by its
    // io_submit if it returned), then the pipe read's once the pipe has data.
    const noop = tReap(k, ctx, 1, 2000);
    expect([noop[0].data, noop[0].res]).toEqual([1n, 0]);
    expect(k.write(wfd, Buffer.from('abcd'))).toBe(4);
    const rd = tReap(k, ctx, 1, 10_000);
    expect([rd[0].data, rd[0].res]).toEqual([2n, 4]);
    // The kworker counts the read out of inflight just after it publishes its event.
    expect(await tUntil(() => k.ctxStat(ctx)!.inflight, 0)).toBe(0);
    const st = k.ctxStat(ctx)!;
    const cap = tCapacity(k, ctx, 8);
    expect([st.freeTags, st.freeSlots, st.inflight, st.inRing]).toEqual([cap, cap, 0, 0]);
    expect(defer(k, w.cpu)).toBe(0); // nothing of the dead batch is left on the free cpu
    // The cpu id is reused, and its next owner's batches are its own: one NOOP, one event.
    const w2 = await tWorker(k);
    expect(w2.cpu).toBe(w.cpu);
    const ctx2 = k.io_setup(4);
    expect(await w2.run(({ k, kaio }, { ctx2, rfd }) => k.io_submit(ctx2, [{ aio_lio_opcode: kaio.IOCB_CMD.NOOP, aio_fildes: rfd, aio_data: 7n }]), { ctx2, rfd })).toBe(1);
    const ev2 = tReap(k, ctx2, 1, 2000);
    expect([ev2[0].data, ev2[0].res]).toEqual([7n, 0]);
    await w2.run(({ k }) => k.detach());
    // io_destroy waits for the sum of per-cpu references: the dead cpu's was dropped.
    expect(await k.destroyAsync(ctx, 5000)).toBe(0);
    expect(k.io_destroy(ctx2)).toBe(0);
    expect(k.close(rfd)).toBe(0);
    expect(k.close(wfd)).toBe(0);
  }
  expect(k.aio_nr).toBe(0);
  expect(caught).toBe(1); // at least one attempt stopped the worker inside io_submit
  void errno;
  void IOCB_CMD;
});

test('a worker started by an attached worker is reclaimed by that worker when it is terminated (real process events)', async () => {
  // The 'worker' event fires only in the thread that started the worker. Inside a
  // worker, `process` is the real one (jest's copy exists only on the test's thread).
  const k = await tBoot({ maxCpus: 8 });
  const base = k.stats().cpusOnline;
  const w = await tWorker(k);
  const counts = await w.run(async ({ k }, { handle }) => {
    const { Worker } = await import('node:worker_threads');
    const src = "const { Kernel } = require('kaio'); const { workerData, parentPort } = require('node:worker_threads');" +
      "setInterval(() => {}, 1e9); Kernel.attach(workerData).then(() => parentPort.postMessage(1));";
    const out: number[] = [];
    for (let i = 0; i < 3; i++) {
      const nested = new Worker(src, { eval: true, workerData: handle });
      await new Promise((r) => nested.once('message', r));
      out.push(k.stats().cpusOnline);
      const exited = new Promise((r) => nested.once('exit', r));
      await nested.terminate();
      await exited; // this thread's 'exit' listener (registered first) has reclaimed by now
      out.push(k.stats().cpusOnline);
    }
    return out;
  }, { handle: k.handle });
  const b = base + 1; // main's cpus and this worker's
  expect(counts).toEqual([b + 1, b, b + 1, b, b + 1, b]);
});
