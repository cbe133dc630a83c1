// Description: worker_threads attach to one kernel as cpus of their own (issue 3, "Attach").
// Invariant: an attached thread sees the same contexts, fds and devices; requests cross threads
// by key; a thread that detaches, exits or is terminated leaves no tag, slot or cpu stranded.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { errno, IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import { tBoot, tDisk, tRead, tReap, tWorker, tCapacity } from './helpers';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

test('k.handle is structured-clonable and attach gives a distinct cpu over the same memory', async () => {
  const k = await tBoot();
  expect(() => structuredClone(k.handle)).not.toThrow();
  const before = k.stats().cpusOnline;
  const a = await tWorker(k);
  const b = await tWorker(k);
  expect(new Set([k.cpu, a.cpu, b.cpu]).size).toBe(3);
  expect(k.stats().cpusOnline).toBe(before + 2);
  // Same devices and contexts: a worker opens a device by path and submits to main's context.
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  expect(k.pwrite(fd, Buffer.from('shared bytes'), 0)).toBe(12);
  const ctx = k.io_setup(8);
  const sab = new SharedArrayBuffer(12);
  const key = await a.run(({ k, kaio }, { path, ctx, sab }) => {
    const wfd = k.open(path, 'r');
    const iocb: Iocb = { aio_lio_opcode: kaio.IOCB_CMD.PREAD, aio_fildes: wfd, aio_buf: new Uint8Array(sab), aio_offset: 0, aio_data: 0xfedcba9876543210n };
    if (k.io_submit(ctx, [iocb]) !== 1) throw new Error('submit');
    return iocb.aio_key;
  }, { path, ctx, sab });
  const [ev] = tReap(k, ctx, 1);
  expect(ev.res).toBe(12);
  expect(ev.data).toBe(0xfedcba9876543210n);
  expect(ev.obj).toEqual({ aio_key: key, aio_data: 0xfedcba9876543210n }); // reaped off the submitting thread
  expect(Buffer.from(sab).toString()).toBe('shared bytes'); // filled in place
  await expect(a.run(({ k }) => k.ramdisk('nope', { sizeBytes: 4096 }))).rejects.toThrow(/booted/);
  const withDevice = k.stats().cpusOnline; // main, kworker, device thread, a, b
  await a.run(({ k }) => k.detach());
  expect(k.stats().cpusOnline).toBe(withDevice - 1);
});

test('io_cancel by key and io_getevents work from any thread', async () => {
  const k = await tBoot();
  const w = await tWorker(k);
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  k.device(path).pause();
  const ctx = k.io_setup(8);
  const r = tRead(fd, Buffer.alloc(512), 0, 5n);
  const s = tRead(fd, Buffer.alloc(512), 512, 6n);
  expect(k.io_submit(ctx, [r, s])).toBe(2);
  expect(await w.run(({ k }, { ctx, key }) => k.io_cancel(ctx, { aio_key: key }), { ctx, key: r.aio_key! })).toBe(-errno.EINPROGRESS);
  // The worker blocks in io_getevents (Atomics.wait) until main resumes the device.
  const reaped = w.run(({ k }, { ctx }) => {
    const evs: IoEvent[] = [];
    const n = k.io_getevents(ctx, 2, 2, evs, 10_000);
    return { n, got: evs.map((e) => [e.data, e.res, e.obj.aio_key]) };
  }, { ctx });
  k.device(path).resume();
  const { n, got } = await reaped;
  expect(n).toBe(2);
  expect(new Map(got.map(([d, res]) => [d, res]))).toEqual(new Map([[5n, -errno.ECANCELED], [6n, 512]]));
  expect(got.map((g) => g[2]).sort()).toEqual([r.aio_key, s.aio_key].sort());
});

test('detach gives back the tags and slots the thread cached', async () => {
  const k = await tBoot({ maxCpus: 8 });
  const { fd, path } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(1024); // batch 32: a submitting cpu caches up to 31 spare ids and slots
  const w = await tWorker(k);
  const cached = await w.run(({ k, kaio }, { ctx, path }) => {
    const wfd = k.open(path, 'r');
    const iocbs = Array.from({ length: 10 }, (_, i) => ({ aio_lio_opcode: kaio.IOCB_CMD.PREAD, aio_fildes: wfd, aio_buf: new Uint8Array(new SharedArrayBuffer(8)), aio_offset: i * 8 }));
    if (k.io_submit(ctx, iocbs) !== 10) throw new Error('submit');
    if (k.io_getevents(ctx, 10, 10, [], 10_000) !== 10) throw new Error('reap');
    return k.ctxStat(ctx)!.cachedHere;
  }, { ctx, path });
  expect(cached).toBeGreaterThan(0);
  expect(k.ctxStat(ctx, w.cpu)!.cachedHere).toBe(cached);
  await w.run(({ k }) => k.detach());
  expect(k.ctxStat(ctx, w.cpu)!.cachedHere).toBe(0);
  const cap = tCapacity(k, ctx, 1024);
  expect(k.ctxStat(ctx)!.freeTags).toBe(cap);
  expect(k.ctxStat(ctx)!.freeSlots).toBe(cap);
  expect(k.io_submit(ctx, Array.from({ length: cap }, (_, i) => tRead(fd, Buffer.alloc(1), i)))).toBe(cap);
  tReap(k, ctx, cap);
});

test('a worker that exits without detaching, or is terminated holding cached tags, strands no tag or slot', async () => {
  const k = await tBoot({ maxCpus: 8 });
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(256); // batch 8
  const cap = tCapacity(k, ctx, 256);
  const base = k.stats().cpusOnline;
  for (const how of ['exit', 'terminate'] as const) {
    const w = await tWorker(k);
    expect(k.stats().cpusOnline).toBe(base + 1);
    const cached = await w.run(({ k, kaio }, { ctx, path }) => {
      const wfd = k.open(path, 'r');
      const iocbs = Array.from({ length: 3 }, (_, i) => ({ aio_lio_opcode: kaio.IOCB_CMD.PREAD, aio_fildes: wfd, aio_buf: new Uint8Array(new SharedArrayBuffer(8)), aio_offset: i * 8 }));
      if (k.io_submit(ctx, iocbs) !== 3) throw new Error('submit');
      if (k.io_getevents(ctx, 3, 3, [], 10_000) !== 3) throw new Error('reap');
      return k.ctxStat(ctx)!.cachedHere;
    }, { ctx, path });
    expect(cached).toBeGreaterThan(0); // it holds ids (and ring slots) in its cache
    const exited = new Promise((r) => w.worker.once('exit', r));
    if (how === 'exit') {
      void w.run(() => {
        setImmediate(() => process.exit(0)); // exits without detaching: its 'exit' hook detaches
      });
    } else {
      await w.terminate(); // no hook runs: its caches stay until stolen (or reclaimed, see below)
    }
    await exited;
    if (how === 'exit') {
      expect(k.stats().cpusOnline).toBe(base);
      expect(k.ctxStat(ctx, w.cpu)!.cachedHere).toBe(0);
    }
    // Every id and slot is usable again: with the device paused all `cap` must be held at
    // once, so the dead cpu's cached ids and slots have to be taken (stolen if not drained).
    k.device(path).pause();
    expect(k.io_submit(ctx, Array.from({ length: cap }, (_, i) => tRead(fd, Buffer.alloc(1), i)))).toBe(cap);
    expect(k.ctxStat(ctx, w.cpu)!.cachedHere).toBe(0);
    k.device(path).resume();
    tReap(k, ctx, cap);
  }
});

test('the booting thread takes back the cpu of a worker that was terminated (real process events)', () => {
  // Jest hands tests a copy of `process` that never sees 'worker' events, so
  // this runs in a plain Node process, as users run kaio.
  const script = `
    const { Kernel } = require('kaio');
    const { Worker } = require('node:worker_threads');
    (async () => {
      const k = await Kernel.boot({ memoryMiB: 64, maxCpus: 4 });
      const base = k.stats().cpusOnline; // main + kworker
      const out = [];
      for (let i = 0; i < 6; i++) { // more terminations than there are spare cpus
        // The worker stays alive (an interval) until it is terminated: no exit hook runs.
        const w = new Worker("setInterval(() => {}, 1e9); require('kaio').Kernel.attach(require('node:worker_threads').workerData).then(() => require('node:worker_threads').parentPort.postMessage(1))", { eval: true, workerData: k.handle });
        await new Promise((r) => w.once('message', r));
        out.push(k.stats().cpusOnline - base);
        await w.terminate();
        await new Promise((r) => setImmediate(r));
        out.push(k.stats().cpusOnline - base);
      }
      await k.shutdown();
      process.stdout.write(JSON.stringify(out));
    })();`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: root }).toString();
  expect(JSON.parse(out)).toEqual([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
});

test('an attached thread\'s in-flight requests complete after it is gone, and their events are delivered', async () => {
  const k = await tBoot();
  const { path } = tDisk(k, { serviceTimeUs: 0 });
  k.device(path).pause();
  const ctx = k.io_setup(16);
  const w = await tWorker(k);
  await w.run(({ k, kaio }, { ctx, path }) => {
    const wfd = k.open(path, 'r');
    const iocbs = Array.from({ length: 5 }, (_, i) => ({ aio_lio_opcode: kaio.IOCB_CMD.PREAD, aio_fildes: wfd, aio_buf: new Uint8Array(8), aio_offset: i * 8, aio_data: BigInt(100 + i) }));
    if (k.io_submit(ctx, iocbs) !== 5) throw new Error('submit');
  }, { ctx, path });
  await w.terminate();
  k.device(path).resume();
  const evs = tReap(k, ctx, 5);
  expect(evs.map((e) => e.data).sort()).toEqual([100n, 101n, 102n, 103n, 104n]);
  expect(evs.every((e) => e.res === 8)).toBe(true);
  expect(k.ctxStat(ctx)!.freeSlots).toBe(tCapacity(k, ctx, 16));
});

test('attach refuses what is not a handle', async () => {
  const { Kernel } = await import('kaio');
  await expect(Kernel.attach({} as never)).rejects.toThrow(/handle/);
  await expect(Kernel.attach(null as never)).rejects.toThrow(/handle/);
  void IOCB_CMD;
});
