// Description: instantiating the kernel module again (as every new thread does) over live shared
// memory changes nothing.
// Invariant: a second WebAssembly.Instance over the memory while requests are in flight leaves every
// byte of kernel state as it was, and those requests complete exactly as they would have.
import * as L from '../assembly/include/layout';
import { tBoot, tByData, tDisk, tRead, tReap } from './helpers';

test('a second instantiation while requests are in flight does not clobber shared state', async () => {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const dev = k.device(path);
  const ctx = k.io_setup(64);
  // One round trip: the device thread is up.
  expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(8))])).toBe(1);
  tReap(k, ctx, 1);
  dev.pause();
  expect(k.pwrite(fd, Buffer.alloc(4096 * 32, 0x5a), 0)).toBe(4096 * 32);
  const bufs = Array.from({ length: 32 }, () => Buffer.alloc(4096));
  expect(k.io_submit(ctx, bufs.map((b, i) => tRead(fd, b, i * 4096, BigInt(i))))).toBe(32);
  const { memory, module } = k.handle;
  const u32 = new Uint32Array(memory.buffer as SharedArrayBuffer);
  // Quiesce: the device thread (device 0) and the kworker asleep on their doorbells. Nothing
  // wakes them until resume(), so no thread writes kernel memory while we look.
  const waiting = [(L.DEV_OFF + L.D_WAITING) >> 2, L.H_KW_WAITING >> 2];
  const deadline = Date.now() + 5000;
  while (waiting.some((w) => Atomics.load(u32, w) !== 1) && Date.now() < deadline);
  expect(waiting.map((w) => Atomics.load(u32, w))).toEqual([1, 1]);
  const mem = new Uint8Array(memory.buffer as SharedArrayBuffer);
  const heapTop = u32[L.H_HEAP_TOP >> 2];
  const before = Buffer.from(mem.subarray(0, heapTop));
  const again = new WebAssembly.Instance(module, { env: { memory } });
  expect(typeof again.exports.io_submit).toBe('function');
  const after = Buffer.from(mem.subarray(0, heapTop));
  expect(after.equals(before)).toBe(true);
  dev.resume();
  const res = tByData(tReap(k, ctx, 32));
  for (let i = 0; i < 32; i++) expect(res.get(BigInt(i))).toBe(4096);
  expect(bufs.every((b) => b.every((v) => v === 0x5a))).toBe(true);
});
