// Description: stacked block devices, dm-linear and dm-stripe (S7): k.linear, k.striped.
// Invariant: a request is split at member and chunk boundaries into bios that land at the
// mapped member offsets, all sharing the request's one cancel mark; its result is the
// transferred prefix (-ECANCELED if empty), and the bytes are exactly where the mapping says.
import { errno, type Kernel, type IoEvent } from 'kaio';
import { STRATEGIES, tBoot, tByData, tDisk, tRead, tReap, tWrite } from './helpers';

let seq = 0;
const name = (p: string) => `${p}${process.pid}_${seq++}`;

/** Bytes i of a pattern that differs per position and per seed. */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed * 13 + (i >> 8)) & 0xff;
  return b;
}

/** Synchronous pread of a whole range of a device, through the AIO path. */
function readAll(k: Kernel, path: string, off: number, n: number): Buffer {
  const fd = k.open(path, 'r');
  const ctx = k.io_setup(4);
  const buf = Buffer.alloc(n);
  expect(k.io_submit(ctx, [tRead(fd, buf, off)])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(n);
  expect(k.io_destroy(ctx)).toBe(0);
  expect(k.close(fd)).toBe(0);
  return buf;
}

function writeAll(k: Kernel, path: string, off: number, data: Buffer): void {
  const fd = k.open(path, 'w');
  const ctx = k.io_setup(4);
  expect(k.io_submit(ctx, [tWrite(fd, data, off)])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(data.length);
  expect(k.io_destroy(ctx)).toBe(0);
  expect(k.close(fd)).toBe(0);
}

/** Spin (bounded) until a device's counter reaches n: synchronisation on state, not time. */
function until(read: () => number, n: number): void {
  const deadline = Date.now() + 10_000;
  while (read() < n && Date.now() < deadline);
  expect(read()).toBe(n);
}

describe('dm-linear', () => {
  test('members are concatenated: a write across a boundary lands at the end of one and the start of the next', async () => {
    const k = await tBoot();
    const a = tDisk(k, { sizeBytes: 64 << 10, serviceTimeUs: 0 });
    const b = tDisk(k, { sizeBytes: 128 << 10, serviceTimeUs: 0 });
    const lin = k.linear(name('lin'), [a.path, b.path]);
    expect(lin).toMatch(/^\/dev\/lin/);
    const data = pattern(8192, 1);
    writeAll(k, lin, (64 << 10) - 4096, data); // 4 KiB on a, 4 KiB on b
    expect(readAll(k, a.path, (64 << 10) - 4096, 4096).equals(data.subarray(0, 4096))).toBe(true);
    expect(readAll(k, b.path, 0, 4096).equals(data.subarray(4096))).toBe(true);
    expect(readAll(k, lin, (64 << 10) - 4096, 8192).equals(data)).toBe(true);
    // Two bios per request through the linear device: one write and one read.
    expect(k.device(lin).stats().dispatched).toBe(4);
    // Its size is the sum: a read at the end is short, one past it is 0 (EOF).
    const fd = k.open(lin, 'r');
    const ctx = k.io_setup(4);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(8192), (192 << 10) - 1024, 1n), tRead(fd, Buffer.alloc(512), 192 << 10, 2n)])).toBe(2);
    expect(tByData(tReap(k, ctx, 2))).toEqual(new Map([[1n, 1024], [2n, 0]]));
  });

  test('bad members: unknown path ENOENT, a null device or an empty list EINVAL / ERR_INVALID_ARG_VALUE, a taken name EEXIST', async () => {
    const k = await tBoot();
    const a = tDisk(k, { sizeBytes: 4096 });
    expect(() => k.linear(name('l'), ['/dev/nope'])).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const nul = k.nulldev(name('n'));
    expect(() => k.linear(name('l'), [a.path, nul])).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => k.linear(name('l'), [])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => k.linear(name('l'), 'x' as unknown as string[])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const n = name('l');
    k.linear(n, [a.path]);
    expect(() => k.linear(n, [a.path])).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });
});

describe('dm-stripe', () => {
  test('chunk c goes to member c % n at (c / n) * chunk, and reads back through the stripe', async () => {
    const k = await tBoot();
    const m = [0, 1, 2].map(() => tDisk(k, { sizeBytes: 64 << 10, serviceTimeUs: 0 }));
    const chunk = 4096;
    const st = k.striped(name('st'), m.map((d) => d.path), { chunkBytes: chunk });
    const data = pattern(7 * chunk + 1000, 2);
    writeAll(k, st, 512, data); // unaligned start: the first and last bios are partial chunks
    for (let c = 0; c * chunk < 512 + data.length; c++) {
      const lo = Math.max(c * chunk, 512);
      const hi = Math.min((c + 1) * chunk, 512 + data.length);
      const got = readAll(k, m[c % 3].path, Math.floor(c / 3) * chunk + (lo - c * chunk), hi - lo);
      expect([c, got.equals(data.subarray(lo - 512, hi - 512))]).toEqual([c, true]);
    }
    expect(readAll(k, st, 512, data.length).equals(data)).toBe(true);
    expect(k.device(st).stats().dispatched).toBe(2 * 8); // 8 chunks touched, written and read
  });

  test('SharedArrayBuffer views are filled in place by every member that serves a part of the request', async () => {
    const k = await tBoot();
    const m = [0, 1].map(() => tDisk(k, { sizeBytes: 32768, serviceTimeUs: 0 }));
    const st = k.striped(name('st'), m.map((d) => d.path), { chunkBytes: 4096 });
    const lin = k.linear(name('l'), [st, tDisk(k, { sizeBytes: 8192, serviceTimeUs: 0 }).path]);
    const data = pattern(4 * 4096 + 8192, 5);
    const src = new Uint8Array(new SharedArrayBuffer(data.length));
    src.set(data);
    const fd = k.open(lin, 'rw');
    const ctx = k.io_setup(4);
    // 49152 .. 73728: the stripe's last four chunks (two on each member), then all of the ramdisk after it.
    const off = 65536 - 4 * 4096;
    expect(k.io_submit(ctx, [tWrite(fd, src, off, 1n)])).toBe(1);
    expect(tReap(k, ctx, 1)[0].res).toBe(data.length);
    const dst = new Uint8Array(new SharedArrayBuffer(data.length));
    expect(k.io_submit(ctx, [tRead(fd, dst, off, 2n)])).toBe(1);
    expect(tReap(k, ctx, 1)[0].res).toBe(data.length);
    expect(Buffer.from(dst).equals(data)).toBe(true);
  });

  test('size is whole stripes of the smallest member; chunkBytes must be a power of two from 512', async () => {
    const k = await tBoot();
    const a = tDisk(k, { sizeBytes: 20000 });
    const b = tDisk(k, { sizeBytes: 65536 });
    const st = k.striped(name('st'), [a.path, b.path], { chunkBytes: 4096 });
    // 20000 holds 4 whole chunks: 2 members x 4 x 4096 = 32768.
    const fd = k.open(st, 'r');
    const ctx = k.io_setup(4);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(4096), 32768 - 512, 1n), tRead(fd, Buffer.alloc(512), 32768, 2n)])).toBe(2);
    expect(tByData(tReap(k, ctx, 2))).toEqual(new Map([[1n, 512], [2n, 0]]));
    expect(() => k.striped(name('s'), [a.path, b.path], { chunkBytes: 1000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => k.striped(name('s'), [a.path, b.path], { chunkBytes: 256 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => k.striped(name('s'), [a.path], { chunkBytes: 4096 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  test('a linear device over two striped devices maps through both levels', async () => {
    const k = await tBoot();
    const m = [0, 1, 2, 3].map(() => tDisk(k, { sizeBytes: 16384, serviceTimeUs: 0 }));
    const s1 = k.striped(name('s'), [m[0].path, m[1].path], { chunkBytes: 4096 });
    const s2 = k.striped(name('s'), [m[2].path, m[3].path], { chunkBytes: 4096 });
    const lin = k.linear(name('l'), [s1, s2]);
    const data = pattern(32768 * 2, 3);
    writeAll(k, lin, 0, data);
    // Byte x of s2 (linear offset 32768 + x): chunk c = x / 4096 on m[2 + c % 2] at (c >> 1) * 4096.
    for (let c = 0; c < 8; c++) {
      const got = readAll(k, m[2 + (c % 2)].path, (c >> 1) * 4096, 4096);
      expect([c, got.equals(data.subarray(32768 + c * 4096, 32768 + (c + 1) * 4096))]).toEqual([c, true]);
    }
    expect(readAll(k, lin, 0, data.length).equals(data)).toBe(true);
    // Written (16384), its four chunks read back one by one (16384), then the whole read (16384).
    expect(k.device(m[3].path).stats().bytes).toBe(16384 * 3);
  });
});

describe.each(STRATEGIES)('one cancel reaches every bio of a split request (%s)', (_n, opts) => {
  const markOnly = opts.cancel === 'mark-only';

  test('both bios in their members\' stage 1: one io_cancel, -ECANCELED, nothing dispatched', async () => {
    const k = await tBoot(opts);
    const a = tDisk(k, { sizeBytes: 8192, serviceTimeUs: 0 });
    const b = tDisk(k, { sizeBytes: 8192, serviceTimeUs: 0 });
    const lin = k.linear(name('l'), [a.path, b.path]);
    const dev = k.device(lin);
    dev.pause(); // pauses both members
    const fd = k.open(lin, 'r');
    const ctx = k.io_setup(4);
    const io = tRead(fd, Buffer.alloc(8192), 4096, 7n);
    expect(k.io_submit(ctx, [io])).toBe(1);
    expect(k.io_cancel(ctx, io)).toBe(-errno.EINPROGRESS);
    if (markOnly) {
      dev.resume();
      expect(tReap(k, ctx, 1)[0].res).toBe(8192);
      return;
    }
    const ev = tReap(k, ctx, 1);
    expect([ev[0].data, ev[0].res]).toEqual([7n, -errno.ECANCELED]);
    expect(k.device(a.path).stats()).toMatchObject({ dispatched: 0, cancelledQueued: 1 });
    expect(k.device(b.path).stats()).toMatchObject({ dispatched: 0, cancelledQueued: 1 });
  });

  test('first bio ran, second cancelled in stage 1: the event is the first bio\'s bytes, and they are in the buffer', async () => {
    const k = await tBoot(opts);
    const a = tDisk(k, { sizeBytes: 8192, serviceTimeUs: 0 });
    const b = tDisk(k, { sizeBytes: 8192, serviceTimeUs: 0 });
    const lin = k.linear(name('l'), [a.path, b.path]);
    writeAll(k, lin, 0, pattern(16384, 4));
    k.device(b.path).pause();
    const fd = k.open(lin, 'r');
    const ctx = k.io_setup(4);
    const buf = Buffer.alloc(6144);
    const io = tRead(fd, buf, 8192 - 2048, 1n); // 2048 on a, 4096 on b
    const doneBefore = k.device(a.path).stats().completed;
    expect(k.io_submit(ctx, [io])).toBe(1);
    until(() => k.device(a.path).stats().completed, doneBefore + 1);
    expect(k.io_cancel(ctx, io)).toBe(-errno.EINPROGRESS);
    if (markOnly) k.device(b.path).resume();
    const ev = tReap(k, ctx, 1);
    expect(ev[0].res).toBe(markOnly ? 6144 : 2048);
    expect(buf.subarray(0, 2048).equals(pattern(16384, 4).subarray(8192 - 2048, 8192))).toBe(true);
  });

  test('first bio cancelled in stage 1, second ran: nothing valid from the start, -ECANCELED', async () => {
    const k = await tBoot(opts);
    const a = tDisk(k, { sizeBytes: 8192, serviceTimeUs: 0 });
    const b = tDisk(k, { sizeBytes: 8192, serviceTimeUs: 0 });
    const lin = k.linear(name('l'), [a.path, b.path]);
    k.device(a.path).pause();
    const fd = k.open(lin, 'r');
    const ctx = k.io_setup(4);
    const io = tRead(fd, Buffer.alloc(6144), 8192 - 2048, 1n);
    const doneBefore = k.device(b.path).stats().completed;
    expect(k.io_submit(ctx, [io])).toBe(1);
    until(() => k.device(b.path).stats().completed, doneBefore + 1);
    expect(k.io_cancel(ctx, io)).toBe(-errno.EINPROGRESS);
    if (markOnly) k.device(a.path).resume();
    const evs: IoEvent[] = tReap(k, ctx, 1);
    expect(evs[0].res).toBe(markOnly ? 6144 : -errno.ECANCELED);
    expect(k.device(b.path).stats().bytes).toBe(4096); // the second bio did run
  });

  test('a striped request with bios in stage 1, 2 (abortable) and 3 of different members: one cancel, each stage\'s rule', async () => {
    const k = await tBoot(opts);
    // m0 executes its bio (held: it cannot finish), m1 has it in its device queue (abortable),
    // m2 is paused (stage 1).
    const m0 = tDisk(k, { sizeBytes: 8192, serviceTimeUs: 0 });
    const m1 = tDisk(k, { sizeBytes: 8192, serviceTimeUs: 0, abortable: true });
    const m2 = tDisk(k, { sizeBytes: 8192, serviceTimeUs: 0 });
    const st = k.striped(name('s'), [m0.path, m1.path, m2.path], { chunkBytes: 4096 });
    k.device(m0.path).hold();
    k.device(m1.path).hold();
    k.device(m2.path).pause();
    // m1's first request executes (held); ours waits behind it in m1's device queue.
    const f1 = k.open(m1.path, 'r');
    const fs = k.open(st, 'r');
    const ctx = k.io_setup(8);
    expect(k.io_submit(ctx, [tRead(f1, Buffer.alloc(512), 0, 9n)])).toBe(1);
    until(() => k.device(m1.path).stats().dispatched, 1);
    const io = tRead(fs, Buffer.alloc(3 * 4096), 0, 1n);
    expect(k.io_submit(ctx, [io])).toBe(1);
    until(() => k.device(m0.path).stats().dispatched, 1);
    until(() => k.device(m1.path).stats().dispatched, 2);
    expect(k.io_cancel(ctx, io)).toBe(-errno.EINPROGRESS);
    if (!markOnly) {
      until(() => k.device(m2.path).stats().cancelledQueued, 1); // stage 1: at once, m2 still paused
      until(() => k.device(m1.path).stats().cancelledDevice, 1); // stage 2: aborted
    }
    k.device(m2.path).resume();
    k.device(m1.path).release();
    k.device(m0.path).release(); // stage 3: m0's bio completes normally
    const res = tByData(tReap(k, ctx, 2));
    expect(res.get(9n)).toBe(512);
    // The prefix: m0's 4096 bytes ran; the next bio did not (cancelled) or did (mark-only).
    expect(res.get(1n)).toBe(markOnly ? 3 * 4096 : 4096);
    expect(k.device(m0.path).stats().completed).toBe(1);
  });
});
