// Invariant: an aio write of 0 bytes to a pipe completes 0; an RWF_NOWAIT aio write to a full pipe completes -EAGAIN and writes nothing; a plain one waits and completes, all its bytes written, once a read makes room (pipe_write, the kworker's writer pass).
import { errno, IOCB_CMD, RWF_NOWAIT, type IoEvent } from 'kaio';
import { tBoot } from './helpers';

test('pipe aio writes: 0 bytes completes 0; RWF_NOWAIT on a full pipe -EAGAIN; a plain one completes once a read makes room', async () => {
  const k = await tBoot();
  const [r, w] = k.pipe();
  const ctx = k.io_setup(4);
  const reap = (): IoEvent => {
    const evs: IoEvent[] = [];
    expect(k.io_getevents(ctx, 1, 1, evs, 5000)).toBe(1);
    return evs[0];
  };
  // 0 bytes, room in the pipe and nobody waiting: completes at once with 0.
  expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: w, aio_buf: Buffer.alloc(0), aio_data: 1n }])).toBe(1);
  expect(reap()).toMatchObject({ data: 1n, res: 0 });
  // Fill the pipe through the synchronous, non-blocking write.
  let filled = 0;
  for (let i = 0; i < 10_000; i++) {
    const n = k.write(w, Buffer.alloc(4096, 0x61));
    if (n <= 0) break;
    filled += n;
  }
  expect(filled).toBeGreaterThan(0);
  expect(k.write(w, Buffer.alloc(1))).toBe(-errno.EAGAIN);
  // Full, RWF_NOWAIT: -EAGAIN, nothing written.
  expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: w, aio_buf: Buffer.alloc(16, 0x62), aio_rw_flags: RWF_NOWAIT, aio_data: 2n }])).toBe(1);
  expect(reap()).toMatchObject({ data: 2n, res: -errno.EAGAIN });
  // Full, no flag: the write waits; one read makes room and the kworker completes it.
  expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: w, aio_buf: Buffer.alloc(16, 0x63), aio_data: 3n }])).toBe(1);
  expect(k.io_getevents(ctx, 0, 1, [], 0)).toBe(0);
  const first = Buffer.alloc(4096);
  expect(k.read(r, first)).toBe(4096);
  expect(first.every((b) => b === 0x61)).toBe(true); // no 'b' from the refused write
  expect(reap()).toMatchObject({ data: 3n, res: 16 });
  let drained = 4096;
  const rest: Buffer[] = [];
  for (let i = 0; i < 10_000; i++) {
    const buf = Buffer.alloc(4096);
    const n = k.read(r, buf);
    if (n <= 0) break;
    rest.push(buf.subarray(0, n));
    drained += n;
  }
  expect(drained).toBe(filled + 16);
  const tail = Buffer.concat(rest);
  expect(tail.subarray(0, tail.length - 16).every((b) => b === 0x61)).toBe(true);
  expect(tail.subarray(tail.length - 16).every((b) => b === 0x63)).toBe(true);
  expect(k.io_getevents(ctx, 0, 1, [], 0)).toBe(0);
});
