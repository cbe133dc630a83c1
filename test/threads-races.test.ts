// Description: the kernel's races, run for real by several threads (issue 3, targeted tests).
// Invariant: cancel and completion of one request never both take effect and never neither:
// exactly one event, -ECANCELED exactly when the device never ran it (and then its buffer is
// untouched); a cancelled pipe read consumed nothing; a cancel that precedes the callback's
// registration still completes the read; io_destroy amid submitters and reapers loses nothing.
import { errno, IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import { tBoot, tDisk, tWorker } from './helpers';

const UNTOUCHED = 0xaa;
const ON_DISK = 0x55;

test('cancel vs completion on the same request from two threads, 20000 times', async () => {
  const N = 20_000;
  const SZ = 256;
  const k = await tBoot({ memoryMiB: 64 });
  const { path, fd } = tDisk(k, { sizeBytes: N * SZ, serviceTimeUs: 0, queueDepth: 4, abortable: true });
  expect(k.pwrite(fd, Buffer.alloc(N * SZ, ON_DISK), 0)).toBe(N * SZ);
  const ctx = k.io_setup(1024);
  // Shared: keys as they are submitted, a count, and what each io_cancel returned.
  const shared = new SharedArrayBuffer(N * 8 + 8 + N * 4);
  const keys = new Float64Array(shared, 0, N);
  const count = new Int32Array(shared, N * 8, 2);
  const cancelRet = new Int32Array(shared, N * 8 + 8, N);
  const canceller = await tWorker(k, { shared });
  const cancelling = canceller.run(({ k, shared }, { ctx, N }) => {
    const keys = new Float64Array(shared!, 0, N);
    const count = new Int32Array(shared!, N * 8, 2);
    const ret = new Int32Array(shared!, N * 8 + 8, N);
    let i = 0;
    while (i < N) {
      const avail = Atomics.load(count, 0); // pairs with the submitter's store after writing keys
      for (; i < avail; i++) ret[i] = k.io_cancel(ctx, { aio_key: keys[i] });
      if (i < N) Atomics.wait(count, 0, avail, 50);
    }
  }, { ctx, N });
  const bufs = new Uint8Array(new SharedArrayBuffer(N * SZ)).fill(UNTOUCHED);
  const events: IoEvent[] = [];
  let submitted = 0;
  while (submitted < N) {
    const batch = Array.from({ length: Math.min(64, N - submitted) }, (_, j): Iocb => {
      const i = submitted + j;
      return { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: bufs.subarray(i * SZ, (i + 1) * SZ), aio_offset: i * SZ, aio_data: BigInt(i) };
    });
    const n = k.io_submit(ctx, batch);
    if (n < 0) {
      expect(n).toBe(-errno.EAGAIN); // ring full: reap, then retry
    } else {
      for (let j = 0; j < n; j++) keys[submitted + j] = batch[j].aio_key!;
      submitted += n;
      Atomics.store(count, 0, submitted);
      Atomics.notify(count, 0);
    }
    const tmp: IoEvent[] = [];
    expect(k.io_getevents(ctx, 0, 1024, tmp, 0)).toBeGreaterThanOrEqual(0);
    events.push(...tmp);
  }
  await cancelling;
  while (events.length < N) {
    const tmp: IoEvent[] = [];
    const n = k.io_getevents(ctx, 1, N - events.length, tmp, 10_000);
    expect(n).toBeGreaterThan(0);
    events.push(...tmp);
  }
  expect(k.io_getevents(ctx, 0, 16, [], 50)).toBe(0);
  const seen = new Uint8Array(N);
  let cancelledEvents = 0;
  for (const e of events) {
    const i = Number(e.data);
    expect(seen[i]).toBe(0); // never twice
    seen[i] = 1;
    const region = bufs.subarray(i * SZ, (i + 1) * SZ);
    if (e.res === -errno.ECANCELED) {
      cancelledEvents++;
      expect(cancelRet[i]).toBe(-errno.EINPROGRESS); // it was found in flight
      expect(region.every((b) => b === UNTOUCHED)).toBe(true); // and never executed
    } else {
      expect(e.res).toBe(SZ);
      expect(region.every((b) => b === ON_DISK)).toBe(true);
      expect([-errno.EINPROGRESS, -errno.EINVAL]).toContain(cancelRet[i]); // too late, or already done
    }
  }
  expect(seen.every((s) => s === 1)).toBe(true); // never neither
  const st = k.device(path).stats();
  expect(st.completed + st.cancelledQueued + st.cancelledDevice).toBe(N);
  expect(cancelledEvents).toBe(st.cancelledQueued + st.cancelledDevice);
  expect(st.dispatched).toBe(st.completed + st.cancelledDevice);
  // Both outcomes really happened (this is a race test, not a one-sided run).
  expect(cancelledEvents).toBeGreaterThan(0);
  expect(cancelledEvents).toBeLessThan(N);
});

test('pipe reads cancelled while another thread writes: no byte lost, none read twice, cancelled reads consume nothing', async () => {
  const M = 3000;
  const SZ = 64;
  const TOTAL = M * 40;
  const k = await tBoot({ memoryMiB: 64 });
  const [rfd, wfd] = k.pipe();
  const ctx = k.io_setup(4096);
  const shared = new SharedArrayBuffer(M * 8 + 8);
  const keys = new Float64Array(shared, 0, M);
  const count = new Int32Array(shared, M * 8, 2);
  const writer = await tWorker(k);
  const canceller = await tWorker(k, { shared });
  const writing = writer.run(({ k }, { wfd, TOTAL }) => {
    let sent = 0;
    const chunk = new Uint8Array(37).fill(0x11);
    while (sent < TOTAL) {
      const n = k.write(wfd, chunk.subarray(0, Math.min(37, TOTAL - sent)));
      if (n > 0) sent += n;
      else if (n !== -11) throw new Error(`write ${n}`); // -EAGAIN: the pipe is full, go on
    }
    return sent;
  }, { wfd, TOTAL });
  const cancelling = canceller.run(({ k, shared }, { ctx, M }) => {
    const keys = new Float64Array(shared!, 0, M);
    const count = new Int32Array(shared!, M * 8, 2);
    let i = 0;
    while (i < M) {
      const avail = Atomics.load(count, 0);
      for (; i < avail; i++) if (i % 2 === 0) k.io_cancel(ctx, { aio_key: keys[i] });
      if (i < M) Atomics.wait(count, 0, avail, 50);
    }
  }, { ctx, M });
  const bufs = new Uint8Array(new SharedArrayBuffer(M * SZ)).fill(UNTOUCHED);
  for (let i = 0; i < M; i += 100) {
    const batch = Array.from({ length: Math.min(100, M - i) }, (_, j): Iocb => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: rfd, aio_buf: bufs.subarray((i + j) * SZ, (i + j + 1) * SZ), aio_data: BigInt(i + j) }));
    expect(k.io_submit(ctx, batch)).toBe(batch.length);
    batch.forEach((b, j) => (keys[i + j] = b.aio_key!));
    Atomics.store(count, 0, i + batch.length);
    Atomics.notify(count, 0);
  }
  expect(await writing).toBe(TOTAL);
  await cancelling;
  // Reads still waiting for data will never get any: cancel them, then collect every event.
  const left = k.io_outstanding(ctx) as Array<{ aio_key: number }>;
  for (const o of left) k.io_cancel(ctx, o);
  const evs: IoEvent[] = [];
  while (evs.length < M) {
    const tmp: IoEvent[] = [];
    expect(k.io_getevents(ctx, 1, M, tmp, 10_000)).toBeGreaterThan(0);
    evs.push(...tmp);
  }
  let readBytes = 0;
  for (const e of evs) {
    const i = Number(e.data);
    const region = bufs.subarray(i * SZ, (i + 1) * SZ);
    if (e.res === -errno.ECANCELED) {
      expect(region.every((b) => b === UNTOUCHED)).toBe(true);
    } else {
      expect(e.res).toBeGreaterThan(0);
      expect(e.res).toBeLessThanOrEqual(SZ);
      expect(region.subarray(0, e.res).every((b) => b === 0x11)).toBe(true);
      expect(region.subarray(e.res).every((b) => b === UNTOUCHED)).toBe(true);
      readBytes += e.res;
    }
  }
  let rest = 0;
  const sink = Buffer.alloc(1 << 16);
  for (;;) {
    const n = k.read(rfd, sink);
    if (n <= 0) break;
    rest += n;
  }
  expect(readBytes + rest).toBe(TOTAL);
  expect(new Set(evs.map((e) => e.data)).size).toBe(M);
});

test('a cancel that comes before the pipe read registers its callback still completes it (S9)', async () => {
  const M = 100;
  const k = await tBoot({ faultInjection: 'late-cancel-fn' });
  const [rfd] = k.pipe();
  const ctx = k.io_setup(M);
  const shared = new SharedArrayBuffer(8);
  const stop = new Int32Array(shared);
  const canceller = await tWorker(k, { shared });
  // Cancel whatever is in flight, found by enumeration: it sees each read in the window
  // between its publication and its callback's registration (held open by the fault injection).
  const cancelling = canceller.run(({ k, shared }, { ctx }) => {
    const stop = new Int32Array(shared!);
    let n = 0;
    while (Atomics.load(stop, 0) === 0) {
      const out = k.io_outstanding(ctx);
      if (typeof out === 'number') break;
      for (const o of out) if (k.io_cancel(ctx, o) === -115) n++;
    }
    return n;
  }, { ctx });
  const late0 = k.stats().lateCallbacks;
  for (let i = 0; i < M; i++) {
    expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: rfd, aio_buf: Buffer.alloc(8), aio_data: BigInt(i) }])).toBe(1);
  }
  const evs: IoEvent[] = [];
  while (evs.length < M) {
    const tmp: IoEvent[] = [];
    const n = k.io_getevents(ctx, 1, M, tmp, 10_000);
    expect(n).toBeGreaterThan(0); // none is left waiting for data that never comes
    evs.push(...tmp);
  }
  Atomics.store(stop, 0, 1);
  expect(await cancelling).toBeGreaterThanOrEqual(M);
  expect(evs.every((e) => e.res === -errno.ECANCELED)).toBe(true);
  expect(k.stats().lateCallbacks - late0).toBe(M); // every callback was registered after its cancel
});

test('io_destroy while other threads submit, reap and cancel: it returns, and every request is accounted for', async () => {
  const k = await tBoot({ memoryMiB: 64 });
  const { path } = tDisk(k, { serviceTimeUs: 10, queueDepth: 8 });
  const ctx = k.io_setup(64);
  const shared = new SharedArrayBuffer(8);
  const progress = new Int32Array(shared);
  const ws = await Promise.all([0, 1, 2].map(() => tWorker(k, { shared })));
  const discarded0 = k.stats().eventsDiscarded;
  const runs = ws.map((w, wi) => w.run(({ k, kaio, shared }, { ctx, path, wi }) => {
    const progress = new Int32Array(shared!);
    const fd = k.open(path, 'r');
    const buf = new Uint8Array(new SharedArrayBuffer(64 * 512));
    let submitted = 0, reaped = 0, cancelled = 0, einval = 0;
    const unexpected: number[] = [];
    const keys: number[] = [];
    for (let round = 0; einval < 3; round++) {
      const iocbs = Array.from({ length: 4 }, (_, j): Iocb => ({ aio_lio_opcode: kaio.IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf.subarray(j * 512, (j + 1) * 512), aio_offset: j * 512, aio_data: BigInt(wi * 1e9 + round * 4 + j) }));
      const n = k.io_submit(ctx, iocbs);
      if (n > 0) {
        submitted += n;
        for (let j = 0; j < n; j++) keys.push(iocbs[j].aio_key!);
        Atomics.add(progress, 0, n);
      } else if (n === -22) einval++;
      else if (n !== -11) unexpected.push(n);
      if (keys.length > 0 && round % 3 === 0) {
        const r = k.io_cancel(ctx, { aio_key: keys[(round * 7) % keys.length] });
        if (r === -115) cancelled++;
        else if (r !== -22) unexpected.push(r);
      }
      const evs: unknown[] = [];
      const g = k.io_getevents(ctx, 0, 64, evs as never, 1);
      if (g > 0) reaped += g;
      else if (g < 0 && g !== -22) unexpected.push(g);
    }
    return { submitted, reaped, cancelled, unexpected };
  }, { ctx, path, wi }));
  // Let them get going (a count, not a sleep), then destroy under their feet.
  while (Atomics.load(progress, 0) < 2000) await new Promise((r) => setTimeout(r, 1));
  expect(k.io_destroy(ctx)).toBe(0);
  const results = await Promise.all(runs);
  for (const r of results) expect(r.unexpected).toEqual([]);
  const submitted = results.reduce((a, r) => a + r.submitted, 0);
  const reaped = results.reduce((a, r) => a + r.reaped, 0);
  expect(submitted).toBeGreaterThanOrEqual(2000);
  // Every request's event was either reaped or dropped with the ring by io_destroy.
  expect(reaped + (k.stats().eventsDiscarded - discarded0)).toBe(submitted);
  expect(k.aio_nr).toBe(0);
  const again = k.io_setup(64);
  expect(again).toBeGreaterThan(0);
  k.io_destroy(again);
});
