// Description: the completion ring is the kernel's aio_ring in shared memory (S12).
// Invariant: a reader that takes events straight from the ring (libaio style) and advances head
// has consumed them: io_getevents agrees (returns only the rest), and their slots come back.
import { AIO_RING_MAGIC, errno, type IoEvent } from 'kaio';
import { STRATEGIES, tBoot, tByData, tCapacity, tDisk, tLinuxCapacity, tRead, tReap } from './helpers';

describe.each(STRATEGIES)('aio_ring (%s)', (_name, opts) => {
  test('the header has the kernel\'s fields', async () => {
    const k = await tBoot(opts);
    const first = k.io_setup(10); // so that ctx is not in table slot 0 (a zeroed id would pass)
    const ctx = k.io_setup(10);
    expect(ctx % 65536).not.toBe(0);
    const { ring: nr } = tLinuxCapacity(10); // 127 with 2 possible cpus: a page of events
    tCapacity(k, ctx, 10);
    const ring = k.ring(ctx);
    const u = (o: number) => ring.getUint32(o, true);
    expect(u(0)).toBe(ctx % 65536); // id: the context's table slot (Linux: its index in the mm's ioctx table)
    expect(u(4)).toBe(nr); // nr: Linux's ring size for io_setup(10)
    expect(u(8)).toBe(0); // head
    expect(u(12)).toBe(0); // tail
    expect(u(16)).toBe(AIO_RING_MAGIC);
    expect(u(16)).toBe(0xa10a10a1);
    expect(u(20)).toBe(1); // compat_features
    expect(u(24)).toBe(0); // incompat_features
    expect(u(28)).toBe(32); // header_length
    expect(ring.byteLength).toBe(32 + nr * 32);
    expect(() => k.ring(ctx + 1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(k.ring(first).getUint32(0, true)).toBe(first % 65536);
  });

  test('reap some events from the ring, the rest with io_getevents; slots come back', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(8);
    const cap = tCapacity(k, ctx, 8); // 120 with 2 possible cpus
    const iocbs = Array.from({ length: cap }, (_, i) => tRead(fd, Buffer.alloc(64), i * 64, BigInt(100 + i)));
    expect(k.io_submit(ctx, iocbs)).toBe(cap);
    const ring = k.ring(ctx);
    const nr = ring.getUint32(4, true);
    expect(nr).toBe(tLinuxCapacity(8).ring);
    const deadline = Date.now() + 5000;
    const pending = () => (ring.getUint32(12, true) - ring.getUint32(8, true) + nr) % nr;
    while (pending() < cap && Date.now() < deadline);
    expect(pending()).toBe(cap);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(8))])).toBe(-errno.EAGAIN); // full until consumed
    // Take 5 events the way libaio's user-space reaper does.
    const direct = new Map<bigint, number>();
    let head = ring.getUint32(8, true);
    for (let i = 0; i < 5; i++) {
      const ev = 32 + head * 32;
      const data = ring.getBigUint64(ev, true);
      const key = Number(ring.getBigUint64(ev + 8, true));
      const res = Number(ring.getBigInt64(ev + 16, true));
      direct.set(data, res);
      expect(key).toBe(iocbs[Number(data) - 100].aio_key); // obj holds the aio_key
      head = (head + 1) % nr;
    }
    ring.setUint32(8, head, true);
    const rest: IoEvent[] = [];
    expect(k.io_getevents(ctx, 0, cap, rest, 0)).toBe(cap - 5);
    const all = new Map([...direct, ...tByData(rest)]);
    expect([...all.keys()].sort()).toEqual(iocbs.map((_, i) => BigInt(100 + i)));
    expect([...all.values()].every((r) => r === 64)).toBe(true);
    // The 5 slots consumed from user space are free again, as are the others.
    expect(k.io_submit(ctx, iocbs.map((_, i) => tRead(fd, Buffer.alloc(8), i * 8)))).toBe(cap);
    expect(k.io_submit(ctx, [tRead(fd, Buffer.alloc(8))])).toBe(-errno.EAGAIN);
    tReap(k, ctx, cap);
  });

  test('a SharedArrayBuffer read is filled before its event appears in the ring', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    expect(k.pwrite(fd, Buffer.from('in place'), 4096)).toBe(8);
    const ctx = k.io_setup(2);
    const sab = new Uint8Array(new SharedArrayBuffer(8));
    expect(k.io_submit(ctx, [tRead(fd, sab, 4096, 1n)])).toBe(1);
    const ring = k.ring(ctx);
    const deadline = Date.now() + 5000;
    while (ring.getUint32(12, true) === ring.getUint32(8, true) && Date.now() < deadline);
    expect(Number(ring.getBigInt64(32 + 16, true))).toBe(8);
    expect(Buffer.from(sab).toString()).toBe('in place');
    ring.setUint32(8, 1, true);
    expect(k.io_getevents(ctx, 0, 2, [], 0)).toBe(0);
  });
});
