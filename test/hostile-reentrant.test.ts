// Description: user code that calls back into the kernel from inside a syscall (issue 7, memory safety 5).
// Invariant: an iocb getter or an events-array setter that calls io_submit / io_getevents / io_cancel
// on the same kernel loses nothing and duplicates nothing: every submitted request yields exactly one
// event (across the inner and the outer calls), with its own data, res and bytes, and the outer call
// returns the right count.
import { IOCB_CMD, errno, type Iocb, type IoEvent, type Kernel } from 'kaio';
import { tBoot, tDisk } from './helpers';
import { hPattern, hIs, hPlain } from './hostile-helpers';

let seq = 0;
function nullFd(k: Kernel): number {
  const fd = k.open(k.nulldev(`h${process.pid}_${seq++}`), 'rw');
  if (fd < 0) throw new Error(`open nulldev: ${fd}`);
  return fd;
}
const rd = (fd: number, n: number, data: bigint, offset = 0): Iocb =>
  ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(n), aio_offset: offset, aio_data: data });
const noop = (fd: number, data: bigint): Iocb => ({ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: data });

/** Events by aio_data; throws on a duplicate (the thing under test). */
class Seen {
  readonly by = new Map<bigint, IoEvent>();
  readonly dups: bigint[] = [];
  add(evs: ArrayLike<IoEvent | undefined>, n: number): void {
    for (let i = 0; i < n; i++) {
      const e = evs[i];
      if (e === undefined) throw new Error(`event ${i} of ${n} not filled`);
      if (this.by.has(e.data)) this.dups.push(e.data);
      else this.by.set(e.data, e);
    }
  }
  /** Reap until `want` events are known (or 5 s pass), then poll once more for extras. */
  drain(k: Kernel, ctx: number, want: number): void {
    const deadline = Date.now() + 5000;
    while (this.by.size + this.dups.length < want && Date.now() < deadline) {
      const evs: IoEvent[] = [];
      const n = k.io_getevents(ctx, 1, 64, evs, 100);
      if (n < 0) throw new Error(`io_getevents: ${n}`);
      this.add(evs, n);
    }
    const extra: IoEvent[] = [];
    const n = k.io_getevents(ctx, 0, 64, extra, 0);
    if (n < 0) throw new Error(`io_getevents: ${n}`);
    this.add(extra, n);
  }
  results(): Map<bigint, number> {
    return new Map([...this.by].map(([d, e]) => [d, e.res]));
  }
}

describe('iocb getters that call the kernel', () => {
  test('io_submit from an aio_nbytes getter (nulldev): one event per request, the outer count right', async () => {
    const k = await tBoot();
    const fd = nullFd(k);
    const ctx = k.io_setup(32);
    const inner = rd(fd, 8, 100n);
    let innerRet: number | undefined;
    const hostile = {
      aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(16), aio_offset: 0, aio_data: 2n,
      get aio_nbytes() {
        innerRet ??= k.io_submit(ctx, [inner]);
        return 16;
      },
    };
    const outer = [rd(fd, 8, 1n), hostile, rd(fd, 32, 3n)];
    expect(k.io_submit(ctx, outer)).toBe(3);
    expect(innerRet).toBe(1);
    const seen = new Seen();
    seen.drain(k, ctx, 4);
    expect(hPlain(seen.dups)).toEqual(hPlain([]));
    expect(hPlain(seen.results())).toEqual(hPlain(new Map([[1n, 8], [2n, 16], [3n, 32], [100n, 8]])));
    for (const [d, iocb] of [[1n, outer[0]], [2n, hostile], [3n, outer[2]], [100n, inner]] as const) expect(hIs(seen.by.get(d)!.obj, iocb)).toBe('the same object');
  });

  test('io_submit from an aio_buf getter (ramdisk, plain buffers): every buffer gets its own bytes', async () => {
    const k = await tBoot();
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const disk = hPattern(1 << 16, 5);
    expect(k.pwrite(fd, disk, 0)).toBe(1 << 16);
    const ctx = k.io_setup(64);
    const inners = [rd(fd, 512, 100n, 8192), rd(fd, 512, 101n, 12288)];
    let innerRet: number | undefined;
    const hostileBuf = Buffer.alloc(1024);
    const hostile = {
      aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_offset: 4096, aio_data: 2n,
      get aio_buf() {
        innerRet ??= k.io_submit(ctx, inners);
        return hostileBuf;
      },
    } as Iocb;
    const outer = [rd(fd, 256, 1n, 0), rd(fd, 256, 10n, 256), hostile, rd(fd, 2048, 3n, 16384)];
    expect(k.io_submit(ctx, outer)).toBe(4);
    expect(innerRet).toBe(2);
    const seen = new Seen();
    seen.drain(k, ctx, 6);
    expect(hPlain(seen.dups)).toEqual(hPlain([]));
    expect(hPlain(seen.results())).toEqual(hPlain(new Map([[1n, 256], [10n, 256], [2n, 1024], [3n, 2048], [100n, 512], [101n, 512]])));
    const at = (iocb: Iocb) => disk.subarray(Number(iocb.aio_offset), Number(iocb.aio_offset) + (iocb.aio_buf as Buffer).length);
    for (const iocb of [outer[0], outer[1], outer[3], ...inners]) expect((iocb.aio_buf as Buffer).equals(at(iocb))).toBe(true);
    expect(hostileBuf.equals(disk.subarray(4096, 5120))).toBe(true);
  });

  test('io_getevents from an aio_nbytes getter: the inner reap and the outer submit both stay whole', async () => {
    const k = await tBoot();
    const fd = nullFd(k);
    const ctx = k.io_setup(32);
    expect(k.io_submit(ctx, [noop(fd, 50n), noop(fd, 51n), rd(fd, 4, 52n)])).toBe(3); // in the ring now
    const seen = new Seen();
    let innerRet: number | undefined;
    const hostile = {
      aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(16), aio_data: 2n,
      get aio_nbytes() {
        if (innerRet === undefined) {
          const evs: IoEvent[] = [];
          innerRet = k.io_getevents(ctx, 0, 8, evs, 0);
          if (innerRet > 0) seen.add(evs, innerRet);
        }
        return 16;
      },
    };
    expect(k.io_submit(ctx, [rd(fd, 8, 1n), rd(fd, 24, 4n), hostile, rd(fd, 32, 3n)])).toBe(4);
    expect(innerRet).toBe(3);
    seen.drain(k, ctx, 7);
    expect(hPlain(seen.dups)).toEqual(hPlain([]));
    expect(hPlain(seen.results())).toEqual(hPlain(new Map([[50n, 0], [51n, 0], [52n, 4], [1n, 8], [4n, 24], [2n, 16], [3n, 32]])));
  });

  test('io_cancel from a getter: the cancelled pipe read ends -ECANCELED once; the batch is whole', async () => {
    const k = await tBoot();
    const fd = nullFd(k);
    const [r] = k.pipe();
    const ctx = k.io_setup(32);
    const waiting = rd(r, 8, 60n);
    expect(k.io_submit(ctx, [waiting])).toBe(1);
    let cancelRet: number | undefined;
    const hostile = {
      aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(16), aio_data: 2n,
      get aio_nbytes() {
        cancelRet ??= k.io_cancel(ctx, waiting);
        return 16;
      },
    };
    expect(k.io_submit(ctx, [rd(fd, 8, 1n), hostile, rd(fd, 32, 3n)])).toBe(3);
    expect(cancelRet).toBe(-errno.EINPROGRESS);
    const seen = new Seen();
    seen.drain(k, ctx, 4);
    expect(hPlain(seen.dups)).toEqual(hPlain([]));
    expect(hPlain(seen.results())).toEqual(hPlain(new Map([[60n, -errno.ECANCELED], [1n, 8], [2n, 16], [3n, 32]])));
    expect(hIs(seen.by.get(60n)!.obj, waiting)).toBe('the same object');
  });
});

describe('events arrays whose setters call the kernel', () => {
  /** A Proxy over an array: the first store into it runs `hook` once. */
  function hooked(hook: () => void): IoEvent[] {
    let fired = false;
    return new Proxy<IoEvent[]>([], {
      set(target, prop, value) {
        (target as unknown as Record<string | symbol, unknown>)[prop] = value;
        if (!fired && prop === '0') {
          fired = true;
          hook();
        }
        return true;
      },
    });
  }

  test('io_getevents from a Proxy set trap: no event is returned twice or lost', async () => {
    const k = await tBoot();
    const fd = nullFd(k);
    const ctx = k.io_setup(32);
    const iocbs = Array.from({ length: 8 }, (_, i) => rd(fd, 8 + i, BigInt(i + 1)));
    expect(k.io_submit(ctx, iocbs)).toBe(8); // all eight are in the ring
    const seen = new Seen();
    let innerRet: number | undefined;
    const events = hooked(() => {
      const inner: IoEvent[] = [];
      innerRet = k.io_getevents(ctx, 0, 8, inner, 0);
      if (innerRet > 0) seen.add(inner, innerRet);
    });
    const n = k.io_getevents(ctx, 4, 4, events, 1000);
    expect(n).toBe(4);
    seen.add(events, n);
    expect(innerRet).toBe(4);
    seen.drain(k, ctx, 8);
    expect(hPlain(seen.dups)).toEqual(hPlain([]));
    expect(hPlain(seen.results())).toEqual(hPlain(new Map(iocbs.map((c, i) => [c.aio_data!, 8 + i]))));
    for (const c of iocbs) expect(hIs(seen.by.get(c.aio_data!)!.obj, c)).toBe('the same object');
  });

  test('io_getevents from an index setter (defineProperty), ramdisk reads with plain buffers: bytes and counts exact', async () => {
    const k = await tBoot();
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const disk = hPattern(1 << 16, 9);
    expect(k.pwrite(fd, disk, 0)).toBe(1 << 16);
    const ctx = k.io_setup(32);
    const iocbs = Array.from({ length: 8 }, (_, i) => rd(fd, 1024, BigInt(i + 1), i * 4096));
    expect(k.io_submit(ctx, iocbs)).toBe(8);
    const deadline = Date.now() + 5000; // let all eight complete into the ring before reaping
    while (k.ctxStat(ctx)!.inRing < 8 && Date.now() < deadline);
    expect(k.ctxStat(ctx)!.inRing).toBe(8);
    const seen = new Seen();
    let innerRet: number | undefined;
    let slot0: IoEvent | undefined;
    const events: IoEvent[] = [];
    Object.defineProperty(events, '0', {
      configurable: true,
      enumerable: true,
      get: () => slot0,
      set: (v: IoEvent) => {
        slot0 = v;
        if (innerRet === undefined) {
          const inner: IoEvent[] = [];
          innerRet = k.io_getevents(ctx, 0, 8, inner, 0);
          if (innerRet > 0) seen.add(inner, innerRet);
        }
      },
    });
    const n = k.io_getevents(ctx, 3, 3, events, 1000);
    expect(n).toBe(3);
    seen.add(events, n);
    expect(innerRet).toBe(5);
    seen.drain(k, ctx, 8);
    expect(hPlain(seen.dups)).toEqual(hPlain([]));
    expect(hPlain(seen.results())).toEqual(hPlain(new Map(iocbs.map((c) => [c.aio_data!, 1024]))));
    for (const c of iocbs) {
      const off = Number(c.aio_offset);
      expect((c.aio_buf as Buffer).equals(disk.subarray(off, off + 1024))).toBe(true);
    }
  });

  test('io_submit from a Proxy set trap: the reaped events stay whole, the new requests complete once', async () => {
    const k = await tBoot();
    const fd = nullFd(k);
    const ctx = k.io_setup(32);
    const first = Array.from({ length: 4 }, (_, i) => rd(fd, 8 + i, BigInt(i + 1)));
    expect(k.io_submit(ctx, first)).toBe(4);
    const later = [rd(fd, 100, 10n), rd(fd, 200, 11n), noop(fd, 12n)];
    let innerRet: number | undefined;
    const events = hooked(() => {
      innerRet = k.io_submit(ctx, later);
    });
    const n = k.io_getevents(ctx, 4, 4, events, 1000);
    expect(n).toBe(4);
    expect(innerRet).toBe(3);
    const seen = new Seen();
    seen.add(events, n);
    expect(hPlain(seen.dups)).toEqual(hPlain([]));
    expect(hPlain(seen.results())).toEqual(hPlain(new Map(first.map((c, i) => [c.aio_data!, 8 + i]))));
    seen.drain(k, ctx, 7);
    expect(hPlain(seen.dups)).toEqual(hPlain([]));
    expect(hPlain(seen.results())).toEqual(hPlain(new Map([...first.map((c, i) => [c.aio_data!, 8 + i] as [bigint, number]), [10n, 100], [11n, 200], [12n, 0]])));
  });
});

test('a getter that destroys the context: io_submit returns -EINVAL (nothing went in), not a stale count', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  // A first call leaves records (and positive keys) in this cpu's scratch.
  const warm = k.io_setup(8);
  expect(k.io_submit(warm, [{ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(8), aio_offset: 0, aio_data: 1n }])).toBe(1);
  expect(k.io_getevents(warm, 1, 1, [], 5000)).toBe(1);
  const ctx = k.io_setup(8);
  const evil = {
    aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(8), aio_offset: 0, aio_data: 2n,
    get aio_nbytes() { k.io_destroy(ctx); return 8; },
  };
  expect(k.io_submit(ctx, [evil as never])).toBe(-errno.EINVAL);
  expect((evil as { aio_key?: number }).aio_key).toBeUndefined(); // as before the call
  expect(k.io_submit(ctx, [], 0)).toBe(-errno.EINVAL);
  expect(k.io_getevents(warm, 0, 8, [], 0)).toBe(0);
});
