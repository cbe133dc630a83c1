// Invariant: an aio write of 0 bytes to a pipe completes 0; an RWF_NOWAIT aio write to a full pipe completes -EAGAIN and writes nothing; a plain one waits and completes, all its bytes written, once a read makes room (pipe_write, the kworker's writer pass).
import { errno, IOCB_CMD, RWF_NOWAIT, type Iocb, type IoEvent } from 'kaio';
import * as L from '../assembly/include/layout';
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

test('a waiting aio write larger than the room a read makes: moved in part, the kworker stops at the full pipe, the rest follows', async () => {
  // Invariant: the kworker's writer pass stops at a full pipe (no room, no progress), and the next read resumes the write.
  const k = await tBoot();
  const u32 = (k as unknown as { core: { u32: Uint32Array } }).core.u32;
  const [r, w] = k.pipe();
  const ctx = k.io_setup(4);
  let filled = 0;
  for (let i = 0; i < 10_000; i++) {
    const n = k.write(w, Buffer.alloc(4096, 0x61));
    if (n <= 0) break;
    filled += n;
  }
  expect(k.write(w, Buffer.alloc(1))).toBe(-errno.EAGAIN);
  const iocb: Iocb = { aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: w, aio_buf: Buffer.alloc(3 * 4096, 0x63), aio_data: 4n };
  expect(k.io_submit(ctx, [iocb])).toBe(1);
  const gid = iocb.aio_key! % 2 ** L.KEY_ID_BITS;
  const kiocb = u32[(L.KPAGE_OFF >>> 2) + Math.floor(gid / L.KIOCBS_PER_PAGE)] + (gid % L.KIOCBS_PER_PAGE) * L.KIOCB_SIZE;
  // One read makes room for a third of the write: the kworker moves that much (KI_DONE), finds the pipe
  // full again, and goes back to sleep (H_KW_WAITING) with the write still waiting.
  const first = Buffer.alloc(4096);
  expect(k.read(r, first)).toBe(4096);
  let slept = false;
  for (let i = 0; i < 200_000 && !slept; i++) {
    slept = Atomics.load(u32, (kiocb + L.KI_DONE) >>> 2) === 4096 && Atomics.load(u32, L.H_KW_WAITING >>> 2) === 1;
    if (!slept) await new Promise((res) => setImmediate(res));
  }
  expect(slept).toBe(true);
  expect(k.io_getevents(ctx, 0, 1, [], 0)).toBe(0);
  // The rest: each read makes room, the kworker moves the next part.
  const out: Buffer[] = [first];
  let got = 4096;
  for (let i = 0; i < 10_000 && got < filled + 3 * 4096; i++) {
    const buf = Buffer.alloc(4096);
    let n = k.read(r, buf);
    // Empty for now: the kworker (another thread) has not moved the next part yet.
    for (let tries = 0; n === -errno.EAGAIN && tries < 100_000; tries++) {
      await new Promise((res) => setImmediate(res));
      n = k.read(r, buf);
    }
    expect(n).toBeGreaterThan(0);
    out.push(buf.subarray(0, n));
    got += n;
  }
  const all = Buffer.concat(out);
  expect(all.length).toBe(filled + 3 * 4096);
  expect(all.subarray(0, filled).every((b) => b === 0x61)).toBe(true);
  expect(all.subarray(filled).every((b) => b === 0x63)).toBe(true);
  const evs: IoEvent[] = [];
  expect(k.io_getevents(ctx, 1, 1, evs, 5000)).toBe(1);
  expect(evs[0]).toMatchObject({ data: 4n, res: 3 * 4096 });
});
