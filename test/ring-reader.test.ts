// Description: k.ringReader(ctx), the typed user-space reaper of the aio_ring (issue 12): peek, read in place, advance.
// Invariant: every event is consumed exactly once, by the reader or by io_getevents, whichever threads reap;
// an advance moves head only past events nobody else consumed since its peek, and frees their slots.
import { IOCB_CMD, errno, type IoEvent } from 'kaio';
import { tBoot, tCapacity, tDisk, tRead, tReap, tWorker } from './helpers';

test('peek shows exactly the completed events, in ring order, with their fields; advance(m) consumes m and io_getevents gets the rest', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  expect(k.pwrite(fd, Buffer.alloc(4096, 7), 0)).toBe(4096);
  const ctx = k.io_setup(16);
  const r = k.ringReader(ctx);
  expect(r.ctx).toBe(ctx);
  expect(r.peek()).toBe(0);
  const iocbs = k.iocbArray(10);
  const bufs = Array.from({ length: 10 }, () => k.buffer(512));
  for (let i = 0; i < 10; i++) iocbs.set(i, { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: bufs[i], aio_nbytes: 100 + i, aio_data: 1000n + BigInt(i) });
  expect(k.io_submit(ctx, iocbs, 10)).toBe(10);
  const deadline = Date.now() + 5000;
  while (r.peek() < 10 && Date.now() < deadline);
  expect(r.count).toBe(10);
  const seen = new Map<bigint, { key: number; res: number }>();
  for (let i = 0; i < 10; i++) {
    seen.set(r.data(i), { key: r.key(i), res: r.res(i) });
    expect(r.res2(i)).toBe(0);
    expect(r.obj(i) % 2 ** 32).toBe(r.key(i));
    expect(r.event(i)).toEqual({ data: r.data(i), obj: r.obj(i), res: r.res(i), res2: 0 });
  }
  for (let i = 0; i < 10; i++) expect(seen.get(1000n + BigInt(i))).toEqual({ key: iocbs.key(i), res: 100 + i });
  const first4 = [0, 1, 2, 3].map((i) => r.data(i));
  const fifth = r.data(4);
  expect(r.advance(4)).toBe(true);
  expect(r.count).toBe(6); // the snapshot keeps the rest, index 0 the next one
  expect(r.data(0)).toBe(fifth);
  const rest = k.ioEventArray(16);
  expect(k.io_getevents(ctx, 0, 16, rest, 0)).toBe(6);
  const got = [...first4, ...Array.from({ length: 6 }, (_, i) => rest.data(i))].sort();
  expect(got).toEqual(Array.from({ length: 10 }, (_, i) => 1000n + BigInt(i)));
  expect(r.peek()).toBe(0);
  expect(r.next()).toBeNull();
  expect(bufs[0][0]).toBe(7); // a k.buffer() read is filled in place: nothing to copy at reap
});

test('events consumed through the reader free their slots: submitting several times what the ring holds never sees -EAGAIN once each round is reaped', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(8);
  const cap = tCapacity(k, ctx, 8);
  const nr = k.ring(ctx).getUint32(4, true);
  const r = k.ringReader(ctx);
  const iocbs = k.iocbArray(cap);
  const rounds = Math.ceil((3 * nr) / cap) + 1; // head wraps the ring at least 3 times
  let data = 0n;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < cap; i++) iocbs.set(i, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: ++data });
    expect([round, k.io_submit(ctx, iocbs, cap)]).toEqual([round, cap]);
    expect(k.io_submit(ctx, iocbs, 1)).toBe(-errno.EAGAIN); // full until consumed
    const out: bigint[] = [];
    for (let ev = r.next(); ev !== null; ev = r.next()) out.push(ev.data);
    expect(out).toEqual(Array.from({ length: cap }, (_, i) => data - BigInt(cap) + 1n + BigInt(i)));
  }
  expect(k.io_getevents(ctx, 0, 8, [], 0)).toBe(0);
});

test('an advance after another reaper consumed since the peek moves nothing, even when head came round the ring to the same index (no ABA)', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(8);
  const cap = tCapacity(k, ctx, 8);
  const ring = k.ring(ctx);
  const nr = ring.getUint32(4, true);
  const r = k.ringReader(ctx);
  const noops = (n: number, from: number) => {
    const a = k.iocbArray(n);
    for (let i = 0; i < n; i++) a.set(i, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: BigInt(from + i) });
    expect(k.io_submit(ctx, a, n)).toBe(n);
  };
  noops(3, 0);
  expect(r.peek()).toBe(3);
  const head = ring.getUint32(8, true);
  // io_getevents consumes exactly nr events while producers refill: head is back where the peek saw it,
  // with 3 events at it again, now others.
  let consumed = 0;
  let next = 3; // events submitted so far; event p's aio_data is p
  const evs = k.ioEventArray(cap);
  while (consumed < nr) {
    const room = cap - (next - consumed); // NOOPs complete inline: a slot is taken until reaped
    if (room > 0) {
      noops(room, next);
      next += room;
    }
    const want = Math.min(next - consumed, nr - consumed);
    expect(k.io_getevents(ctx, want, want, evs, 1000)).toBe(want);
    consumed += want;
  }
  if (next === consumed) noops(1, next++);
  expect(ring.getUint32(8, true)).toBe(head);
  expect((ring.getUint32(12, true) - head + nr) % nr).toBeGreaterThan(0);
  expect(r.advance(3)).toBe(false);
  expect(r.count).toBe(0);
  expect(ring.getUint32(8, true)).toBe(head);
  // A new peek shows the events now at head, and consumes them.
  const n = r.peek();
  expect(n).toBeGreaterThan(0);
  expect(r.data(0)).toBe(BigInt(nr));
  expect(r.advance()).toBe(true);
  expect(k.io_getevents(ctx, 0, cap, [], 0)).toBe(0);
});

test('a reader and io_getevents on another thread reap one context at once: each of 100000 events is taken exactly once', async () => {
  const N = 100_000;
  const k = await tBoot();
  const { path } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(64);
  // [0] events taken by the reader, [1] by io_getevents, [2] failed advances, [3] done, [4] bad result;
  // then one count per event (by aio_data).
  const shared = new SharedArrayBuffer(4 * (8 + N));
  const [pw, rw] = await Promise.all([tWorker(k, { shared }), tWorker(k, { shared })]);
  // The reaper: io_getevents, polling, until every event is taken (bounded).
  const reaping = rw.run(({ k, shared }, { ctx, N }) => {
    const s = new Int32Array(shared!);
    const evs = k.ioEventArray(64);
    for (let spins = 0; spins < 50_000_000 && Atomics.load(s, 0) + Atomics.load(s, 1) < N; spins++) {
      const got = k.io_getevents(ctx, 0, 64, evs, 0);
      if (got < 0) Atomics.store(s, 4, got);
      for (let i = 0; i < got; i++) Atomics.add(s, 8 + Number(evs.data(i)), 1);
      if (got > 0) Atomics.add(s, 1, got);
    }
  }, { ctx, N });
  // The producer reaps through the reader: NOOPs complete inline, so it submits what fits, then reaps.
  const producing = pw.run(({ k, kaio, shared }, { ctx, N, path }) => {
    const s = new Int32Array(shared!);
    const fd = k.open(path, 'r');
    const r = k.ringReader(ctx);
    const B = 16;
    const iocbs = k.iocbArray(B);
    let sent = 0;
    for (let spins = 0; spins < 50_000_000 && Atomics.load(s, 0) + Atomics.load(s, 1) < N; spins++) {
      if (sent < N) {
        const b = Math.min(B, N - sent);
        for (let i = 0; i < b; i++) iocbs.set(i, { aio_lio_opcode: kaio.IOCB_CMD.NOOP, aio_fildes: fd, aio_data: sent + i });
        const n = k.io_submit(ctx, iocbs, b);
        if (n > 0) sent += n;
        else if (n !== -11) Atomics.store(s, 4, n);
      }
      const m = r.peek();
      if (m === 0) continue;
      const d: number[] = [];
      for (let i = 0; i < m; i++) d.push(Number(r.data(i)));
      if (!r.advance(m)) {
        Atomics.add(s, 2, 1);
        continue; // another reaper was first: what was read is not ours
      }
      for (const x of d) Atomics.add(s, 8 + x, 1);
      Atomics.add(s, 0, m);
    }
    return sent;
  }, { ctx, N, path });
  const [sent] = await Promise.all([producing, reaping]);
  const s = new Int32Array(shared);
  expect(s[4]).toBe(0);
  expect(sent).toBe(N);
  expect(s[0] + s[1]).toBe(N);
  const wrong: number[] = [];
  for (let i = 0; i < N && wrong.length < 5; i++) if (s[8 + i] !== 1) wrong.push(i, s[8 + i]);
  expect(wrong).toEqual([]);
  expect(s[0]).toBeGreaterThan(0); // both reapers took events
  expect(s[1]).toBeGreaterThan(0);
  expect(k.io_getevents(ctx, 0, 64, [], 0)).toBe(0);
  // Every slot is back: the context takes its whole capacity again.
  const cap = k.ctxStat(ctx)!.nr;
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  expect(k.io_submit(ctx, Array.from({ length: cap }, () => tRead(fd, k.buffer(8))))).toBe(cap);
  tReap(k, ctx, cap);
}, 120_000);

test('two readers on two threads share one context with no event lost or taken twice', async () => {
  const N = 50_000;
  const k = await tBoot();
  const { path } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(64);
  const shared = new SharedArrayBuffer(4 * (8 + N));
  const ws = await Promise.all([tWorker(k, { shared }), tWorker(k, { shared })]);
  const runs = ws.map((w, me) => w.run(({ k, kaio, shared }, { ctx, N, path, me }) => {
    const s = new Int32Array(shared!);
    const fd = k.open(path, 'r');
    const r = k.ringReader(ctx);
    const iocbs = k.iocbArray(8);
    let sent = 0;
    const mine = N / 2;
    for (let spins = 0; spins < 50_000_000 && Atomics.load(s, 0) < N; spins++) {
      if (sent < mine) {
        const b = Math.min(8, mine - sent);
        for (let i = 0; i < b; i++) iocbs.set(i, { aio_lio_opcode: kaio.IOCB_CMD.NOOP, aio_fildes: fd, aio_data: me * mine + sent + i });
        const n = k.io_submit(ctx, iocbs, b);
        if (n > 0) sent += n;
      }
      // One at a time through next(): it retries a lost race itself.
      const ev = r.next();
      if (ev === null) continue;
      Atomics.add(s, 8 + Number(ev.data), 1);
      Atomics.add(s, 0, 1);
      Atomics.add(s, 1 + me, 1);
    }
    return sent;
  }, { ctx, N, path, me }));
  expect(await Promise.all(runs)).toEqual([N / 2, N / 2]);
  const s = new Int32Array(shared);
  expect(s[0]).toBe(N);
  const wrong: number[] = [];
  for (let i = 0; i < N && wrong.length < 5; i++) if (s[8 + i] !== 1) wrong.push(i, s[8 + i]);
  expect(wrong).toEqual([]);
}, 120_000);

test('a reader of a destroyed or never-live context, or of a shut-down kernel, throws EINVAL as a SystemError', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const einval = expect.objectContaining({ code: 'EINVAL', errno: -errno.EINVAL });
  expect(() => k.ringReader(12345)).toThrow(einval);
  expect(() => k.ringReader(NaN)).toThrow(einval);
  expect(() => k.ringReader('1' as unknown as number)).toThrow(einval);
  const ctx = k.io_setup(4);
  const r = k.ringReader(ctx);
  const iocbs = k.iocbArray(2);
  iocbs.set(0, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd }).set(1, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd });
  expect(k.io_submit(ctx, iocbs, 2)).toBe(2);
  expect(r.peek()).toBe(2);
  expect(k.io_destroy(ctx)).toBe(0);
  expect(() => r.advance(1)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'ring_advance' }));
  expect(r.count).toBe(0);
  expect(() => r.peek()).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'ring_peek' }));
  expect(() => k.ringReader(ctx)).toThrow(einval);
  const ctx2 = k.io_setup(4);
  expect(() => r.peek()).toThrow(einval);
  const r2 = k.ringReader(ctx2);
  expect(r2.peek()).toBe(0);
  await k.shutdown();
  expect(() => r2.peek()).toThrow(einval);
  expect(() => k.ringReader(ctx2)).toThrow(einval);
});

test('hostile arguments: advance by a non-integer, a negative count, or more than the snapshot shows, and reads outside it, throw ERR_OUT_OF_RANGE and move nothing', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(4);
  const r = k.ringReader(ctx);
  const ring = k.ring(ctx);
  const range = expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' });
  expect(() => r.advance(1)).toThrow(range); // nothing peeked
  expect(r.advance(0)).toBe(true);
  const iocbs = k.iocbArray(3);
  for (let i = 0; i < 3; i++) iocbs.set(i, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: i });
  expect(k.io_submit(ctx, iocbs, 3)).toBe(3);
  expect(r.peek()).toBe(3);
  for (const bad of [1.5, -1, 4, NaN, Infinity, '1', null, 2n, {}]) expect(() => r.advance(bad as number)).toThrow(range);
  for (const bad of [3, -1, 0.5, '0', NaN]) expect(() => r.data(bad as number)).toThrow(range);
  expect(() => r.res(3)).toThrow(range);
  expect(() => r.event(-1)).toThrow(range);
  expect(ring.getUint32(8, true)).toBe(0); // head did not move
  expect(r.count).toBe(3);
  expect(r.advance(2)).toBe(true);
  expect(ring.getUint32(8, true)).toBe(2);
  expect(() => r.advance(2)).toThrow(range); // one left in the snapshot
  expect(r.advance()).toBe(true);
  expect(ring.getUint32(8, true)).toBe(3);
  expect(r.count).toBe(0);
  const evs: IoEvent[] = [];
  expect(k.io_getevents(ctx, 0, 4, evs, 0)).toBe(0);
});
