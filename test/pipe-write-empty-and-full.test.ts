// Invariant: an aio write of 0 bytes to a pipe completes 0; an RWF_NOWAIT aio write to a full pipe completes -EAGAIN and writes nothing (pipe_write).
import { errno, IOCB_CMD, RWF_NOWAIT, type IoEvent } from 'kaio';
import { tBoot } from './helpers';

test('pipe aio writes: 0 bytes completes 0; RWF_NOWAIT on a full pipe completes -EAGAIN', async () => {
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
  let drained = 0;
  for (let i = 0; i < 10_000; i++) {
    const buf = Buffer.alloc(4096);
    const n = k.read(r, buf);
    if (n <= 0) break;
    expect(buf.subarray(0, n).every((b) => b === 0x61)).toBe(true); // no 'b' from the refused write
    drained += n;
  }
  expect(drained).toBe(filled);
  expect(k.io_getevents(ctx, 0, 1, [], 0)).toBe(0);
});
