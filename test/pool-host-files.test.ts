// Description: host files on the thread pool (S13): real reads, writes and syncs, cancellation not tied to threads.
// Invariant: a queued item that is cancelled completes -ECANCELED at once, even with every pool thread
// busy, and never runs (executed does not count it); a FIFO wait ends -EINTR on cancel and frees its
// thread; plain-file I/O moves the exact bytes into every kind of buffer; every request yields one event.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { errno, IOCB_CMD, type Iocb, type Kernel } from 'kaio';
import { tBoot, tByData, tReap } from './helpers';

let dir = '';
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kaio-pool-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const rd = (fd: number, buf: ArrayBufferView, off: number, data: bigint): Iocb => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf, aio_offset: off, aio_data: data });
let seq = 0;
function file(bytes: Buffer | string): string {
  const f = path.join(dir, `f${seq++}`);
  fs.writeFileSync(f, bytes);
  return f;
}
function fifo(): string {
  const f = path.join(dir, `fifo${seq++}`);
  execFileSync('mkfifo', [f]);
  return f;
}
/** Wait (bounded, by condition, not by time) until the pool shows `n` running items. */
async function tRunning(k: Kernel, n: number): Promise<void> {
  const end = Date.now() + 10_000;
  while (k.poolStats().running !== n) {
    if (Date.now() > end) throw new Error(`pool running ${k.poolStats().running}, want ${n}`);
    await new Promise((r) => setImmediate(r));
  }
}

test('open: host paths are opened for real; errors are the real open\'s', async () => {
  const k = await tBoot({ poolThreads: 1 });
  const f = file('x');
  expect(k.open(path.join(dir, 'missing'), 'r')).toBe(-errno.ENOENT);
  expect(k.open(dir, 'w')).toBe(-errno.EISDIR);
  expect(k.open(`${f}/below`, 'r')).toBe(-errno.ENOTDIR);
  expect(k.open('relative/path', 'r')).toBe(-errno.ENOENT);
  expect(k.open(f, 'r', { create: 1 as unknown as boolean })).toBe(-errno.EINVAL);
  expect(k.open(f, 'x' as 'r')).toBe(-errno.EINVAL);
  const created = path.join(dir, 'created');
  const fd = k.open(created, 'w', { create: true });
  expect(fd).toBeGreaterThanOrEqual(3);
  expect(fs.existsSync(created)).toBe(true);
  expect(k.close(fd)).toBe(0);
  // A directory opens read-only; reading it is -EINVAL at submit (no read_iter), as on Linux.
  const dfd = k.open(dir, 'r');
  expect(dfd).toBeGreaterThanOrEqual(3);
  const dctx = k.io_setup(4);
  expect(k.io_submit(dctx, [rd(dfd, Buffer.alloc(8), 0, 1n)])).toBe(-errno.EINVAL);
  expect(k.close(dfd)).toBe(0);
  // One component under /dev/ is kaio's device namespace; a deeper path there is a host file.
  expect(k.open('/dev/no-such-kaio-device', 'r')).toBe(-errno.ENOENT);
  expect(k.open('/dev/shm/no/such/file', 'r')).toBe(-errno.ENOENT);
  if (fs.existsSync('/dev/shm')) {
    const shm = fs.mkdtempSync('/dev/shm/kaio-pool-');
    try {
      fs.writeFileSync(path.join(shm, 'f'), 'shm!');
      const sfd = k.open(path.join(shm, 'f'), 'r');
      expect(sfd).toBeGreaterThanOrEqual(3);
      const b = Buffer.alloc(8);
      expect(k.pread(sfd, b, 0)).toBe(4);
      expect(b.subarray(0, 4).toString()).toBe('shm!');
      expect(k.close(sfd)).toBe(0);
    } finally {
      fs.rmSync(shm, { recursive: true, force: true });
    }
  }
});

const asRoot = process.getuid?.() === 0;
if (asRoot) console.warn('\n*** pool-host-files: the -EACCES test SKIPPED: running as root, which may open any file ***\n');
(asRoot ? test.skip : test)(`open: -EACCES for a file without permission${asRoot ? ' SKIPPED: running as root, which may open any file' : ''}`, async () => {
  const k = await tBoot({ poolThreads: 1 });
  const f = file('secret');
  fs.chmodSync(f, 0o000);
  expect(k.open(f, 'r')).toBe(-errno.EACCES);
});

test('PREAD into plain, kernel and shared buffers; PWRITEV, PREADV, FSYNC and FDSYNC on a real file', async () => {
  const k = await tBoot({ poolThreads: 2 });
  const f = file('0123456789abcdef');
  const fd = k.open(f, 'rw');
  const ctx = k.io_setup(16);
  const plain = Buffer.alloc(4);
  const kb = k.buffer(4);
  const sab = new Uint8Array(new SharedArrayBuffer(4));
  expect(k.io_submit(ctx, [rd(fd, plain, 0, 1n), rd(fd, kb, 4, 2n), rd(fd, sab, 8, 3n), rd(fd, Buffer.alloc(8), 14, 4n)])).toBe(4);
  expect(tByData(tReap(k, ctx, 4))).toEqual(new Map([[1n, 4], [2n, 4], [3n, 4], [4n, 2]]));
  expect([plain.toString(), Buffer.from(kb).toString(), Buffer.from(sab).toString()]).toEqual(['0123', '4567', '89ab']);
  // Vectored write, then the syncs, then a vectored read of what is on the file.
  const w: Iocb = { aio_lio_opcode: IOCB_CMD.PWRITEV, aio_fildes: fd, aio_buf: [Buffer.from('AB'), Buffer.from('CDE')], aio_offset: 20, aio_data: 5n };
  expect(k.io_submit(ctx, [w])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(5);
  expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.FSYNC, aio_fildes: fd, aio_data: 6n }, { aio_lio_opcode: IOCB_CMD.FDSYNC, aio_fildes: fd, aio_data: 7n }])).toBe(2);
  expect(tByData(tReap(k, ctx, 2))).toEqual(new Map([[6n, 0], [7n, 0]]));
  expect(fs.readFileSync(f, 'latin1')).toBe('0123456789abcdef\0\0\0\0ABCDE');
  const a = Buffer.alloc(3);
  const b = new Uint8Array(new SharedArrayBuffer(4));
  expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.PREADV, aio_fildes: fd, aio_buf: [a, b], aio_offset: 18, aio_data: 8n }])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(7);
  expect([a.toString('latin1'), Buffer.from(b).toString()]).toEqual(['\0\0A', 'BCDE']);
  // Open mode: a read-only host file refuses writes at submit, as Linux (-EBADF).
  const ro = k.open(f, 'r');
  expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: ro, aio_buf: Buffer.from('z'), aio_offset: 0 }])).toBe(-errno.EBADF);
  // k.pread/k.pwrite do the real call on this thread.
  expect(k.pwrite(fd, Buffer.from('Q'), 0)).toBe(1);
  const one = Buffer.alloc(2);
  expect(k.pread(fd, one, 0)).toBe(2);
  expect(one.toString()).toBe('Q1');
  expect(k.poolStats().executed).toBe(8);
});

test('a congested pool: cancelled queued reads complete -ECANCELED at once and never run', async () => {
  const k = await tBoot({ poolThreads: 2 });
  const ctx = k.io_setup(64);
  // Both pool threads wait on FIFOs whose writers we hold and do not write yet.
  const fifos = [fifo(), fifo()];
  const rfds = fifos.map((p) => k.open(p, 'r'));
  const wfds = fifos.map((p) => fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
  const fbufs = [Buffer.alloc(8), Buffer.alloc(8)];
  expect(k.io_submit(ctx, rfds.map((fd, i) => rd(fd, fbufs[i], 0, 100n + BigInt(i))))).toBe(2);
  await tRunning(k, 2);
  // 20 reads of a real file queue behind them; cancel every other one.
  const data = Buffer.alloc(20 * 16);
  for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
  const fd = k.open(file(data), 'r');
  const bufs = Array.from({ length: 20 }, () => Buffer.alloc(16));
  const iocbs = bufs.map((b, i) => rd(fd, b, i * 16, BigInt(i)));
  expect(k.io_submit(ctx, iocbs)).toBe(20);
  expect(k.poolStats()).toMatchObject({ queued: 20, running: 2 });
  for (let i = 0; i < 20; i += 2) expect(k.io_cancel(ctx, iocbs[i])).toBe(-errno.EINPROGRESS);
  // Their events arrive while both threads are still busy.
  const cancelled = tReap(k, ctx, 10);
  expect(cancelled.map((e) => e.res)).toEqual(Array(10).fill(-errno.ECANCELED));
  expect(new Set(cancelled.map((e) => Number(e.data) % 2))).toEqual(new Set([0]));
  expect(k.poolStats()).toMatchObject({ queued: 10, running: 2, executed: 0, cancelledQueued: 10 });
  // Now let the FIFO reads finish: the rest run, with their bytes.
  fs.writeSync(wfds[0], 'fifo-one');
  fs.writeSync(wfds[1], 'fifo-two');
  const rest = tByData(tReap(k, ctx, 12));
  expect(rest.get(100n)).toBe(8);
  expect(rest.get(101n)).toBe(8);
  for (let i = 1; i < 20; i += 2) {
    expect(rest.get(BigInt(i))).toBe(16);
    expect(bufs[i]).toEqual(data.subarray(i * 16, i * 16 + 16));
  }
  for (let i = 0; i < 20; i += 2) expect(bufs[i]).toEqual(Buffer.alloc(16));
  expect(fbufs.map((b) => b.toString())).toEqual(['fifo-one', 'fifo-two']);
  expect(k.poolStats()).toMatchObject({ queued: 0, running: 0, executed: 12, cancelledQueued: 10, interrupted: 0 });
  wfds.forEach((w) => fs.closeSync(w));
});

test('a FIFO read waiting for data is interrupted by a cancel (-EINTR) and its thread runs the next item', async () => {
  const k = await tBoot({ poolThreads: 1 });
  const ctx = k.io_setup(8);
  const p = fifo();
  const rfd = k.open(p, 'r');
  const wfd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK); // a writer that never writes
  const buf = Buffer.alloc(8);
  const iocb = rd(rfd, buf, 0, 1n);
  expect(k.io_submit(ctx, [iocb])).toBe(1);
  await tRunning(k, 1);
  const next = Buffer.alloc(3);
  expect(k.io_submit(ctx, [rd(k.open(file('abc'), 'r'), next, 0, 2n)])).toBe(1);
  expect(k.io_cancel(ctx, iocb)).toBe(-errno.EINPROGRESS);
  // No second io_cancel here: the pool thread may already have ended the read -EINTR, and
  // then the request is completed (-EINVAL), so its result would race. A second cancel of a
  // request that is surely still pending is pinned on a paused device (cancel-semantics).
  expect(tByData(tReap(k, ctx, 2))).toEqual(new Map([[1n, -errno.EINTR], [2n, 3]]));
  expect(next.toString()).toBe('abc');
  expect(k.poolStats()).toMatchObject({ executed: 2, interrupted: 1, cancelledQueued: 0 });
  // The FIFO is still usable: nothing was consumed.
  fs.writeSync(wfd, 'late');
  expect(k.io_submit(ctx, [rd(rfd, buf, 0, 3n)])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(4);
  expect(buf.subarray(0, 4).toString()).toBe('late');
  fs.closeSync(wfd);
  // With no writer left, a FIFO read is end of file (0), as Linux after a non-blocking open.
  expect(k.io_submit(ctx, [rd(rfd, buf, 0, 4n)])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(0);
});

test('io_destroy cancels queued items and interrupts a FIFO wait, in bounded time', async () => {
  const k = await tBoot({ poolThreads: 1 });
  // The FIFO wait (holding the only pool thread) and the queued items are on two contexts. On
  // one, the destroy may interrupt the wait before it reaches the queued items, and the freed
  // thread may take one of them first (it then runs): the counts would race.
  const waitCtx = k.io_setup(8);
  const ctx = k.io_setup(8);
  const p = fifo();
  const rfd = k.open(p, 'r');
  const wfd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  const fd = k.open(file('data'), 'r');
  expect(k.io_submit(waitCtx, [rd(rfd, Buffer.alloc(4), 0, 1n)])).toBe(1);
  await tRunning(k, 1);
  expect(k.io_submit(ctx, [rd(fd, Buffer.alloc(4), 0, 2n), rd(fd, Buffer.alloc(4), 0, 3n)])).toBe(2);
  const before = k.poolStats();
  expect(before).toMatchObject({ queued: 2, running: 1 });
  // The queued items complete -ECANCELED without running, while the thread still waits.
  expect(await k.io_destroy_async(ctx)).toBe(0);
  expect(k.poolStats()).toMatchObject({ executed: before.executed, interrupted: before.interrupted, cancelledQueued: before.cancelledQueued + 2, queued: 0, running: 1 });
  // The FIFO wait ends -EINTR.
  expect(await k.io_destroy_async(waitCtx)).toBe(0);
  expect(k.poolStats()).toMatchObject({ executed: before.executed + 1, interrupted: before.interrupted + 1, cancelledQueued: before.cancelledQueued + 2, queued: 0, running: 0 });
  fs.closeSync(wfd);
});

test('a pool thread that dies holding a request is replaced, and the request still yields its event', async () => {
  const k = await tBoot({ poolThreads: 1, faultInjection: 'pool-thread-exit' });
  const ctx = k.io_setup(8);
  const fd = k.open(file('survives'), 'r');
  const kb = k.buffer(8);
  expect(k.io_submit(ctx, [rd(fd, kb, 0, 0x6b696c6cn)])).toBe(1);
  // Asynchronously: the replacement is started from this thread's event loop.
  const evs = await k.io_getevents_async(ctx, 1, 1, 10_000);
  if (typeof evs === 'number') throw new Error(`io_getevents_async: ${evs}`);
  expect(evs.length).toBe(1);
  const [ev] = evs;
  expect(ev.res).toBe(8);
  expect(Buffer.from(kb).toString()).toBe('survives');
  expect(k.poolStats()).toMatchObject({ threads: 1, executed: 1 });
  // The replacement keeps serving.
  const b = Buffer.alloc(3);
  expect(k.io_submit(ctx, [rd(fd, b, 0, 2n)])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(3);
  expect(b.toString()).toBe('sur');
});

test('RWF_APPEND writes at the end whatever the offset, also from several pool threads at once', async () => {
  // Invariant: n appends submitted together each land whole at the end, none over another (IOCB_APPEND).
  const k = await tBoot({ poolThreads: 4 });
  const f = file('head');
  const fd = k.open(f, 'rw');
  const ctx = k.io_setup(16);
  const n = 8;
  const parts = Array.from({ length: n }, (_, i) => Buffer.alloc(4096, 0x41 + i));
  const ios: Iocb[] = parts.map((b, i) => ({ aio_lio_opcode: i % 2 ? IOCB_CMD.PWRITE : IOCB_CMD.PWRITEV, aio_fildes: fd,
    aio_buf: i % 2 ? b : [b.subarray(0, 1000), b.subarray(1000)], aio_offset: 0, aio_rw_flags: 0x10, aio_data: BigInt(i) }));
  expect(k.io_submit(ctx, ios)).toBe(n);
  expect([...tByData(tReap(k, ctx, n)).values()]).toEqual(Array(n).fill(4096));
  const out = fs.readFileSync(f);
  expect(out.length).toBe(4 + n * 4096);
  expect(out.subarray(0, 4).toString()).toBe('head');
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const chunk = out.subarray(4 + i * 4096, 4 + (i + 1) * 4096);
    expect(chunk.every((c) => c === chunk[0])).toBe(true);
    seen.add(chunk[0]);
  }
  expect(seen.size).toBe(n);
  // RWF_APPEND with RWF_NOAPPEND is -EINVAL at submit (kiocb_set_rw_flags).
  expect(k.io_submit(ctx, [{ ...ios[1], aio_rw_flags: 0x30 }])).toBe(-errno.EINVAL);
});

test('POLL on a host FIFO is -EINVAL (kaio cannot wait on a host fd), on a regular file it is ready at once', async () => {
  // Invariant: a POLL never reports a readiness that kaio has not seen.
  const k = await tBoot({ poolThreads: 1 });
  const ctx = k.io_setup(8);
  const p = fifo();
  const keep = fs.openSync(p, fs.constants.O_RDWR); // the other end, so the FIFO has both
  const ffd = k.open(p, 'r');
  const rfd = k.open(file('x'), 'r');
  const poll = (fd: number, events: number, data: bigint): Iocb => ({ aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: fd, aio_buf: events, aio_data: data });
  expect(k.io_submit(ctx, [poll(ffd, 1, 1n)])).toBe(-errno.EINVAL);
  expect(k.io_submit(ctx, [poll(rfd, 1, 2n), poll(rfd, 0x145, 3n)])).toBe(2);
  expect(k.io_submit(ctx, [poll(rfd, 2, 4n)])).toBe(-errno.EINVAL); // POLLPRI only: nothing of DEFAULT_POLLMASK
  expect(tByData(tReap(k, ctx, 2))).toEqual(new Map([[2n, 1], [3n, 0x145]]));
  fs.closeSync(keep);
});

test('offsets at 2^53 and above: reads are end of file, writes -EFBIG, and no byte of the file moves', async () => {
  // Invariant: an offset no JS number holds exactly never becomes node:fs's "current position" (bytes at offset 0).
  const k = await tBoot({ poolThreads: 2 });
  const f = file(Buffer.alloc(4096, 0x5a));
  const fd = k.open(f, 'rw');
  const ctx = k.io_setup(8);
  const at = (op: number, off: bigint, buf: Buffer | Buffer[], data: bigint): Iocb => ({ aio_lio_opcode: op, aio_fildes: fd, aio_buf: buf, aio_offset: off, aio_data: data });
  const ios = [
    at(IOCB_CMD.PWRITE, 2n ** 62n, Buffer.alloc(512, 1), 1n),
    at(IOCB_CMD.PWRITEV, 2n ** 53n + 1n, [Buffer.alloc(256, 2), Buffer.alloc(256, 3)], 2n),
    at(IOCB_CMD.PREAD, 2n ** 53n, Buffer.alloc(512), 3n),
    at(IOCB_CMD.PREADV, 2n ** 62n, [Buffer.alloc(256), Buffer.alloc(256)], 4n),
  ];
  expect(k.io_submit(ctx, ios)).toBe(4);
  expect(tByData(tReap(k, ctx, 4))).toEqual(new Map([[1n, -errno.EFBIG], [2n, -errno.EFBIG], [3n, 0], [4n, 0]]));
  expect(fs.readFileSync(f).equals(Buffer.alloc(4096, 0x5a))).toBe(true);
});
