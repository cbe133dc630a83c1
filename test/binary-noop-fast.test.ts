// Description: binary NOOP records on a block device take io_submit's fast path (fs/aio.ts
// submit_noop: no kiocb filled, the id handed to the batch's next request, slots taken per batch).
// Invariant: the same outcome as the full path: errors in Linux's order with aio_key untouched
// before put_user, one event per NOOP whose obj's low half is the record's aio_key, every key
// distinct and never cancellable, and every ring slot and id back once the events are reaped.
import { errno, IOCB_CMD, IOCB_FIELD, IOCB_FLAG_RESFD, type IocbArray } from 'kaio';
import { STRATEGIES, tBoot } from './helpers';

const SENTINEL = 0xdeadbeef;
const keyed = (a: IocbArray, i: number) => a.view.setUint32(i * 64 + IOCB_FIELD.aio_key, SENTINEL, true);

describe.each(STRATEGIES)('binary NOOPs (%s)', (_name, opts) => {
  test('errors stop the batch where the full path does, aio_key untouched', async () => {
    const k = await tBoot(opts);
    const fd = k.open(k.nulldev(`nf${process.pid}`), 'rw');
    const ctx = k.io_setup(8);
    const a = k.iocbArray(4);
    const evs = k.ioEventArray(8);
    const cases: Array<[string, object, number]> = [
      ['bad fd', { aio_fildes: 999 }, -errno.EBADF],
      ['closed fd', { aio_fildes: -1 }, -errno.EBADF],
      ['reserved2', { aio_fildes: fd, aio_reserved2: 1 }, -errno.EINVAL],
      ['negative nbytes', { aio_fildes: fd, aio_nbytes: 2n ** 63n }, -errno.EINVAL],
    ];
    for (const [what, f, want] of cases) {
      a.set(0, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: 1n });
      a.set(1, { aio_lio_opcode: IOCB_CMD.NOOP, ...f });
      keyed(a, 1);
      expect([what, k.io_submit(ctx, a, 2)]).toEqual([what, 1]);
      expect([what, a.view.getUint32(64 + IOCB_FIELD.aio_key, true)]).toEqual([what, SENTINEL]);
      expect([what, k.io_submit(ctx, a.set(0, { aio_lio_opcode: IOCB_CMD.NOOP, ...f }), 1)]).toEqual([what, want]);
      expect(k.io_getevents(ctx, 1, 8, evs, 1000)).toBe(1);
    }
    // Ring full: -EAGAIN at the first NOOP that finds no slot, its key untouched.
    const nr = k.ctxStat(ctx)!.nr; // io_setup rounds up, as Linux's
    const b = k.iocbArray(nr + 2);
    const all = k.ioEventArray(nr);
    for (let i = 0; i < nr + 2; i++) b.set(i, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: BigInt(i) });
    keyed(b, nr);
    expect(k.io_submit(ctx, b, nr + 2)).toBe(nr);
    expect(b.view.getUint32(nr * 64 + IOCB_FIELD.aio_key, true)).toBe(SENTINEL);
    expect(k.io_submit(ctx, b, 1)).toBe(-errno.EAGAIN);
    expect(k.io_getevents(ctx, nr, nr, all, 1000)).toBe(nr);
    expect(k.ctxStat(ctx)!.inflight).toBe(0);
  });

  test('keys: distinct, the events\' obj low halves, stale once reaped; nothing leaks over many batches', async () => {
    const k = await tBoot(opts);
    const fd = k.open(k.nulldev(`nk${process.pid}`), 'rw');
    const ctx = k.io_setup(32);
    const nr = k.ctxStat(ctx)!.nr;
    const a = k.iocbArray(nr);
    for (let i = 0; i < nr; i++) a.set(i, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: BigInt(1000 + i) });
    const evs = k.ioEventArray(nr);
    const keys = new Set<number>();
    for (let round = 0; round < 200; round++) {
      expect(k.io_submit(ctx, a, nr)).toBe(nr);
      for (let i = 0; i < nr; i++) {
        // 9 generation bits in aio_key: 512 submissions in a row never repeat a key.
        if ((round + 1) * nr <= 512) {
          expect(keys.has(a.key(i))).toBe(false);
          keys.add(a.key(i));
        }
        expect(k.io_cancel(ctx, a, i)).toBe(-errno.EINVAL); // a NOOP is never cancellable
      }
      expect(k.io_getevents(ctx, nr, nr, evs, 1000)).toBe(nr);
      for (let i = 0; i < nr; i++) {
        expect(evs.data(i)).toBe(BigInt(1000 + i));
        expect(evs.key(i)).toBe(a.key(i));
        expect(evs.res(i)).toBe(0);
      }
    }
    const st = k.ctxStat(ctx)!;
    expect([st.inflight, st.inRing, st.freeTags, st.freeSlots]).toEqual([0, 0, nr, nr]);
  });

  test('RESFD, other files and mixed batches take the full path', async () => {
    const k = await tBoot(opts);
    const fd = k.open(k.nulldev(`nm${process.pid}`), 'rw');
    const efd = k.eventfd(0);
    const ctx = k.io_setup(16);
    const a = k.iocbArray(4);
    const buf = k.buffer(512);
    a.set(0, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: 1n, aio_flags: IOCB_FLAG_RESFD, aio_resfd: efd });
    a.set(1, { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf, aio_data: 2n });
    a.set(2, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: efd, aio_data: 3n }); // an eventfd: no fast path
    a.set(3, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: 4n });
    expect(k.io_submit(ctx, a, 4)).toBe(4);
    const evs = k.ioEventArray(4);
    expect(k.io_getevents(ctx, 4, 4, evs, 1000)).toBe(4);
    expect([0, 1, 2, 3].map((i) => [evs.data(i), evs.key(i) === a.key(i)])).toEqual([[1n, true], [2n, true], [3n, true], [4n, true]]);
    const c = Buffer.alloc(8);
    expect(k.read(efd, c)).toBe(8);
    expect(c.readBigUInt64LE()).toBe(1n);
    expect(k.ctxStat(ctx)!.inflight).toBe(0);
  });
});
