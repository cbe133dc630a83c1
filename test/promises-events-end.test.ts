// Description: AioContext.events() ends when asked, and an abort before submission never reaches
// the kernel.
// Invariant: events({ count: n }) yields exactly n events then ends; events({ signal }) ends
// (normally, no error) when the signal aborts and leaves no listener on it; close() ends every
// iteration; a request whose signal aborts before its io_submit makes no io_submit and no event.
import { getEventListeners } from 'node:events';
import type { IoEvent } from 'kaio';
import { tBoot, tDisk, tUntil } from './helpers';

test('events({ count: 2 }) yields two of three completions, then ends; the third still resolves', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const io = k.context();
  const it = io.events({ count: 2 });
  const reads = [0, 1, 2].map((i) => io.read(fd, Buffer.alloc(512), 512 * i));
  const seen: IoEvent[] = [];
  for await (const ev of it) seen.push(ev);
  expect(seen).toHaveLength(2);
  for (const ev of seen) expect(ev.res).toBe(512);
  expect(await Promise.all(reads)).toEqual([512, 512, 512]);
  expect(await it.next()).toEqual({ value: undefined, done: true });
  await io.close();
});

test('events({ count: 0 }) ends at once; a bad count is a TypeError', async () => {
  const k = await tBoot();
  const io = k.context();
  expect(await io.events({ count: 0 }).next()).toEqual({ value: undefined, done: true });
  expect(() => io.events({ count: -1 })).toThrow(TypeError);
  expect(() => io.events({ count: 1.5 })).toThrow(/options.count must be a non-negative integer/);
  await io.close();
});

test('events({ signal }) ends without an error when the signal aborts, and removes its listener', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const io = k.context();
  const ac = new AbortController();
  const seen: number[] = [];
  const loop = (async () => {
    for await (const ev of io.events({ signal: ac.signal })) {
      seen.push(ev.res);
      if (seen.length === 1) ac.abort();
    }
  })();
  expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
  expect(await io.read(fd, Buffer.alloc(100), 0)).toBe(100);
  await loop; // ends: the abort after the first event
  expect(seen).toEqual([100]);
  expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  // An already-aborted signal ends at once.
  expect(await io.events({ signal: AbortSignal.abort() }).next()).toEqual({ value: undefined, done: true });
  await io.close();
});

test('close() ends an iteration that was asked for nothing else', async () => {
  const k = await tBoot();
  const io = k.context();
  const it = io.events();
  const next = it.next();
  await io.close();
  expect(await next).toEqual({ value: undefined, done: true });
});

test('an abort before submission never reaches the kernel: no io_submit, no event, AbortError', async () => {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const io = k.context();
  const submit = k.io_submit.bind(k);
  let submits = 0;
  k.io_submit = (...args: Parameters<typeof k.io_submit>) => {
    submits++;
    return submit(...args);
  };
  const ac = new AbortController();
  const reason = new Error('not needed');
  const p = io.read(fd, Buffer.alloc(4096), 0, { signal: ac.signal });
  ac.abort(reason); // before the microtask that submits
  await expect(p).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
  expect(submits).toBe(0);
  expect(k.ctxStat(io.id)).toMatchObject({ published: 0, inflight: 0 });
  expect(k.device(path).stats().dispatched).toBe(0);
  // The context goes on working: the next read is one io_submit and one event.
  expect(await io.read(fd, Buffer.alloc(8), 0)).toBe(8);
  expect(submits).toBe(1);
  // The device thread moves the published count just after the ring's tail: the read may
  // resolve a moment before the count is up to date.
  expect(await tUntil(() => k.ctxStat(io.id)!.published, 1)).toBe(1);
  await io.close();
});
