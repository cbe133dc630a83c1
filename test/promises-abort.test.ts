// Description: the idiomatic level: promises, AbortSignal wired to io_cancel, events(), close().
// Invariant: each operation settles exactly once: with its result, with an AbortError (cause = the
// signal's reason) when the cancel took effect, or with a SystemError (code, errno, syscall).
import { getEventListeners } from 'node:events';
import { errno, POLLIN } from 'kaio';
import { tBoot, tDisk } from './helpers';

test('read and write resolve with byte counts and move the bytes', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const io = k.context();
  expect(await io.write(fd, Buffer.from('promises'), 100)).toBe(8);
  const out = Buffer.alloc(8);
  expect(await io.read(fd, out, 100)).toBe(8);
  expect(out.toString()).toBe('promises');
  expect(await io.readv(fd, [Buffer.alloc(3), Buffer.alloc(5)], 100)).toBe(8);
  await io.fsync(fd);
  await io.close();
});

test('an already-aborted signal rejects at once and submits nothing', async () => {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const io = k.context();
  const reason = new Error('changed my mind');
  await expect(io.read(fd, Buffer.alloc(8), 0, { signal: AbortSignal.abort(reason) })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
  expect(k.device(path).stats().dispatched).toBe(0);
  expect(io.pending).toBe(0);
  await io.close();
});

test('abort of a queued request: AbortError, the device never sees it, the listener is removed', async () => {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const dev = k.device(path);
  dev.pause();
  const io = k.context();
  const ac = new AbortController();
  const p = io.read(fd, Buffer.alloc(4096), 0, { signal: ac.signal });
  const other = io.read(fd, Buffer.alloc(4096), 4096);
  await new Promise((r) => setImmediate(r)); // submitted
  ac.abort('stop');
  await expect(p).rejects.toMatchObject({ name: 'AbortError', cause: 'stop' });
  expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  dev.resume();
  expect(await other).toBe(4096);
  expect(dev.stats()).toMatchObject({ dispatched: 1, cancelledQueued: 1 });
  await io.close();
});

test('abort too late (already executing on a device that cannot abort): resolves with the result', async () => {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  k.device(path).hold(); // it executes and cannot finish before the abort
  const io = k.context();
  const ac = new AbortController();
  const p = io.read(fd, Buffer.alloc(512), 0, { signal: ac.signal });
  const deadline = Date.now() + 5000;
  while (k.device(path).stats().dispatched < 1 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  ac.abort();
  k.device(path).release();
  expect(await p).toBe(512);
  await io.close();
});

test('I/O errors reject with Node-style system errors', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { sizeBytes: 4096, serviceTimeUs: 0 });
  const io = k.context();
  const err = await io.write(fd, Buffer.alloc(10), 4096).catch((e) => e);
  expect(err).toBeInstanceOf(Error);
  expect(err).toMatchObject({ code: 'ENOSPC', errno: -errno.ENOSPC, syscall: 'write' });
  expect(err.message).toBe('ENOSPC: no space left on device, write');
  await expect(io.read(9999, Buffer.alloc(1))).rejects.toMatchObject({ code: 'EBADF', syscall: 'io_submit' });
  await io.close();
});

test('more requests than the context holds are queued, not refused', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const io = k.context({ depth: 4 });
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => io.read(fd, Buffer.alloc(64), i * 64)));
  expect(results).toEqual(new Array(50).fill(64));
  await io.close();
});

test('events() yields every completion; close() ends it', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const io = k.context();
  const seen: number[] = [];
  const consumer = (async () => {
    for await (const ev of io.events()) seen.push(ev.res);
  })();
  await Promise.all([io.read(fd, Buffer.alloc(10), 0), io.read(fd, Buffer.alloc(20), 0), io.write(fd, Buffer.alloc(30), 0)]);
  await io.close();
  await consumer;
  expect(seen.sort((a, b) => a - b)).toEqual([10, 20, 30]);
});

test('close() cancels what is pending: pipe reads and queued block reads reject, quota comes back', async () => {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  k.device(path).pause();
  const [r] = k.pipe();
  const io = k.context({ depth: 8 });
  const ac = new AbortController();
  const a = io.read(r, Buffer.alloc(8));
  const b = io.read(fd, Buffer.alloc(8));
  const c = io.poll(r, POLLIN, { signal: ac.signal });
  await new Promise((res) => setImmediate(res));
  ac.abort();
  await expect(c).rejects.toMatchObject({ name: 'AbortError' });
  const checks = Promise.all([
    expect(a).rejects.toMatchObject({ code: 'ECANCELED', errno: -errno.ECANCELED, syscall: 'read' }),
    expect(b).rejects.toMatchObject({ code: 'ECANCELED' }),
  ]);
  await io.close();
  await checks;
  expect(k.aio_nr).toBe(0);
  await expect(io.read(fd, Buffer.alloc(1))).rejects.toMatchObject({ code: 'EINVAL' });
  k.device(path).resume();
});

test('close() right after an abort, many times: never stalls (one reaper per context)', async () => {
  // Regression: close() used to start a second reaper without a timeout while the first
  // could take the last events, leaving close() waiting forever.
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  for (let i = 0; i < 100; i++) {
    k.device(path).pause();
    const [r, w] = k.pipe();
    const io = k.context({ depth: 8 });
    const ac = new AbortController();
    const a = io.read(r, Buffer.alloc(8)).catch((e) => e.code);
    const b = io.read(fd, Buffer.alloc(8)).catch((e) => e.code);
    const c = io.poll(r, POLLIN, { signal: ac.signal }).catch((e) => e.name);
    await new Promise((res) => setImmediate(res));
    ac.abort();
    expect(await c).toBe('AbortError');
    await io.close();
    expect(await Promise.all([a, b])).toEqual(['ECANCELED', 'ECANCELED']);
    k.device(path).resume();
    k.close(r);
    k.close(w);
  }
  expect(k.aio_nr).toBe(0);
});
