// Description: numbers just outside the ranges the kernel's types hold (issue 7, contract 13).
// Invariant: an fd beyond 32 bits names no file (close is -EBADF and closes nothing); an offset whose
// pos + count overflows loff_t is -EINVAL at io_submit (Linux's rw_verify_area, checked on this
// machine's kernel); an aio_data that is not a __u64 is -EINVAL; a ramdisk needs its sizeBytes.
import { IOCB_CMD, errno, type Iocb } from 'kaio';
import { tBoot, tDisk, tReap } from './helpers';
import { hPlain } from './hostile-helpers';

test('close(2**32 + fd) is -EBADF and the fd stays open', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  expect(k.pwrite(fd, Buffer.from('open'), 0)).toBe(4);
  expect(k.close(2 ** 32 + fd)).toBe(-errno.EBADF);
  expect(k.close(-(2 ** 32) + fd)).toBe(-errno.EBADF);
  expect(k.close(2 ** 53 + fd)).toBe(-errno.EBADF);
  const out = Buffer.alloc(4);
  expect(k.pread(fd, out, 0)).toBe(4); // still open
  expect(out.toString()).toBe('open');
  expect(k.close(fd)).toBe(0);
  expect(k.close(fd)).toBe(-errno.EBADF);
});

test('an offset whose pos + count overflows loff_t is -EINVAL at io_submit, as Linux', async () => {
  // Measured on this machine (Linux 6.18, io_submit of a PREAD on a regular file):
  //   offset 0x7ffffffffffff000, 4096 bytes -> -EINVAL; 0x7fffffffffffffff, 1 byte -> -EINVAL;
  //   PWRITE at 0x7ffffffffffff000, 4096 bytes -> -EINVAL; offset 0x7fffffffffffe000, 4096 bytes and
  //   0x7fffffffffffffff, 0 bytes -> submitted, res 0 (past the end). Offsets of 2^63 and more are negative loff_t.
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(8);
  const io = (op: number, off: number | bigint, n: number, data: bigint): Iocb =>
    ({ aio_lio_opcode: op, aio_fildes: fd, aio_buf: Buffer.alloc(n), aio_offset: off, aio_data: data });
  const bad: Array<[string, Iocb]> = [
    ['PREAD 0x7ffffffffffff000n + 4096', io(IOCB_CMD.PREAD, 0x7ffffffffffff000n, 4096, 1n)],
    ['PREAD 2^63-1 + 1', io(IOCB_CMD.PREAD, 2n ** 63n - 1n, 1, 2n)],
    ['PWRITE 0x7ffffffffffff000n + 4096', io(IOCB_CMD.PWRITE, 0x7ffffffffffff000n, 4096, 3n)],
    ['PREAD 2^63 (number)', io(IOCB_CMD.PREAD, 2 ** 63, 1, 4n)],
    ['PREAD 2^63 (bigint)', io(IOCB_CMD.PREAD, 2n ** 63n, 1, 5n)],
  ];
  expect(hPlain(bad.map(([name, c]) => [name, k.io_submit(ctx, [c])]))).toEqual(hPlain(bad.map(([name]) => [name, -errno.EINVAL])));
  // Right at the edge, no overflow: submitted; past the device's end, so 0 bytes (and -ENOSPC for a write).
  expect(k.io_submit(ctx, [io(IOCB_CMD.PREAD, 0x7fffffffffffe000n, 4096, 6n), io(IOCB_CMD.PREAD, 2n ** 63n - 1n, 0, 7n)])).toBe(2);
  expect(hPlain(new Map(tReap(k, ctx, 2).map((e) => [e.data, e.res])))).toEqual(hPlain(new Map([[6n, 0], [7n, 0]])));
  expect(k.device(path).stats().bytes).toBe(0);
});

test('aio_data outside 64 bits is -EINVAL at io_submit; the 64-bit extremes are exact', async () => {
  const k = await tBoot();
  const nfd = k.open(k.nulldev(`hd${process.pid}`), 'r');
  const ctx = k.io_setup(8);
  const noop = (d: unknown): Iocb => ({ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: nfd, aio_data: d as bigint });
  const bad: unknown[] = [-1n, 2n ** 64n, -(2n ** 63n), 2n ** 64n + 5n];
  expect(hPlain(bad.map((d) => k.io_submit(ctx, [noop(d)])))).toEqual(hPlain(bad.map(() => -errno.EINVAL)));
  expect(k.io_getevents(ctx, 0, 8, [], 0)).toBe(0);
  expect(k.io_submit(ctx, [noop(0n), noop(2n ** 64n - 1n)])).toBe(2);
  expect(hPlain(new Set(tReap(k, ctx, 2).map((e) => e.data)))).toEqual(hPlain(new Set([0n, 2n ** 64n - 1n])));
  // A bad one at entry 1: the first is submitted, not the bad one.
  expect(k.io_submit(ctx, [noop(1n), noop(-1n)])).toBe(1);
  expect(hPlain(tReap(k, ctx, 1)[0].data)).toBe(hPlain(1n));
});

test('a ramdisk without sizeBytes is an error naming sizeBytes, not a 0-byte disk', async () => {
  const k = await tBoot();
  let e: unknown;
  try {
    const p = k.ramdisk(`hz${process.pid}`, {} as { sizeBytes: number });
    e = `created ${p}, ${k.open(p, 'r') >= 0 ? 'which opens' : 'which does not open'}`;
  } catch (err) {
    e = err;
  }
  expect(e instanceof TypeError || e instanceof RangeError ? 'a TypeError or RangeError' : e).toBe('a TypeError or RangeError');
  expect((e as Error).message).toMatch(/sizeBytes/);
  expect(() => k.ramdisk(`hz${process.pid}b`, { sizeBytes: undefined } as unknown as { sizeBytes: number })).toThrow(/sizeBytes/);
});
