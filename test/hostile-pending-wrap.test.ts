// Description: a long-waiting request outlives the submitting thread's table of pending iocbs (issue 7, memory safety 6).
// Invariant: however many other requests this thread submits and reaps meanwhile, the event of a pipe read
// that waited all along carries the original iocb as obj, and its plain buffer is filled with the bytes.
import { IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import { tBoot, tReap } from './helpers';
import { hIs, hPlain } from './hostile-helpers';

test.each([
  ['NOOPs', 70_000],
  ['nulldev reads', 140_000],
])('a pipe read waiting across %s (%i submissions) still reaps as its own iocb, buffer filled', async (kind, total) => {
  const k = await tBoot();
  const [r, w] = k.pipe();
  const nfd = k.open(k.nulldev(`hw${process.pid}_${total}`), 'r');
  expect(nfd).toBeGreaterThanOrEqual(0);
  const ctx = k.io_setup(1024);
  const buf = Buffer.alloc(32);
  const waiting: Iocb = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: r, aio_buf: buf, aio_data: 0xfeed00000000n };
  expect(k.io_submit(ctx, [waiting])).toBe(1);

  const small = Buffer.alloc(8);
  const make = (i: number): Iocb => kind === 'NOOPs'
    ? { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: nfd, aio_data: BigInt(i) }
    : { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: nfd, aio_buf: small, aio_data: BigInt(i) };
  const BATCH = 256;
  const evs: IoEvent[] = [];
  let done = 0;
  for (let round = 0; done < total && round < 10 * (total / BATCH); round++) {
    const batch = Array.from({ length: BATCH }, (_, j) => make(done + j));
    const n = k.io_submit(ctx, batch);
    expect(n).toBe(BATCH);
    expect(k.io_getevents(ctx, BATCH, BATCH, evs, 5000)).toBe(BATCH);
    const early = evs.find((e) => e.data === 0xfeed00000000n);
    if (early) throw new Error(`the pipe read's event came after ${done} submissions: res ${early.res}`);
    done += n;
  }
  expect(done).toBeGreaterThan(65_536);

  expect(k.write(w, Buffer.from('after the wrap'))).toBe(14);
  const [ev] = tReap(k, ctx, 1);
  expect(hPlain(ev.data)).toBe(hPlain(0xfeed00000000n));
  expect(ev.res).toBe(14);
  expect(hIs(ev.obj, waiting)).toBe('the same object');
  expect(buf.subarray(0, 14).toString()).toBe('after the wrap');
});
