// Description: calls on a kernel after shutdown (issue 7, contract 12).
// Invariant: after `await k.shutdown()` every syscall returns -EINVAL and does nothing; every call that
// would create something (pipe, buffer, ramdisk, nulldev, context) throws an Error with code
// 'ERR_KAIO_SHUTDOWN'; no thread comes online.
import { IOCB_CMD, errno, Kernel } from 'kaio';
import { tBoot, tDisk } from './helpers';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return 'returned';
}

async function downKernel() {
  const k = await tBoot();
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  const [r, w] = k.pipe();
  const ctx = k.io_setup(8);
  const nfd = k.open(k.nulldev(`hs${process.pid}`), 'rw');
  const iocb = { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: nfd, aio_data: 1n };
  expect(k.io_submit(ctx, [iocb])).toBe(1);
  await k.shutdown();
  return { k, path, fd, r, w, ctx, nfd, iocb, cpus: k.stats().cpusOnline };
}

test('after shutdown, the syscalls return -EINVAL', async () => {
  const { k, path, fd, r, w, ctx, nfd, iocb } = await downKernel();
  const calls: Array<[string, () => unknown]> = [
    ['io_setup', () => k.io_setup(1)],
    ['io_submit', () => k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: nfd }])],
    ['io_getevents', () => k.io_getevents(ctx, 0, 1, [], 0)],
    ['io_cancel', () => k.io_cancel(ctx, iocb)],
    ['io_destroy', () => k.io_destroy(ctx)],
    ['open', () => k.open(path, 'r')],
    ['close', () => k.close(fd)],
    ['read', () => k.read(r, Buffer.alloc(4))],
    ['write', () => k.write(w, Buffer.from('x'))],
    ['pread', () => k.pread(fd, Buffer.alloc(4), 0)],
    ['pwrite', () => k.pwrite(fd, Buffer.alloc(4), 0)],
  ];
  const got = calls.map(([name, f]) => {
    try {
      return [name, f()];
    } catch (e) {
      return [name, `threw ${(e as Error).message}`];
    }
  });
  expect(got).toEqual(calls.map(([name]) => [name, -errno.EINVAL]));
  // A context made after shutdown would be one more thing to leak: io_setup made none.
  expect(k.aio_nr).toBe(0);
  expect(await k.io_getevents_async(ctx, 0, 1, 0)).toBe(-errno.EINVAL);
});

test('after shutdown, calls that create something throw ERR_KAIO_SHUTDOWN and start no thread', async () => {
  const { k, cpus } = await downKernel();
  const makers: Array<[string, (k: Kernel) => unknown]> = [
    ['pipe', (k) => k.pipe()],
    ['buffer', (k) => k.buffer(64)],
    ['ramdisk', (k) => k.ramdisk(`hs${process.pid}_late`, { sizeBytes: 4096 })],
    ['nulldev', (k) => k.nulldev(`hs${process.pid}_late2`)],
    ['context', (k) => k.context()],
  ];
  const got = makers.map(([name, f]) => {
    const e = thrown(() => f(k));
    return [name, e instanceof Error ? (e as Error & { code?: string }).code : e];
  });
  expect(got).toEqual(makers.map(([name]) => [name, 'ERR_KAIO_SHUTDOWN']));
  expect(k.stats().cpusOnline).toBe(cpus);
  // Joining it from another thread (here: this one) is refused the same way.
  await expect(Kernel.attach(k.handle)).rejects.toMatchObject({ code: 'ERR_KAIO_SHUTDOWN' });
  expect(() => k.device('/dev/anything')).toThrow(expect.objectContaining({ code: 'ERR_KAIO_SHUTDOWN' }));
  // Shutdown stays idempotent.
  await expect(k.shutdown()).resolves.toBeUndefined();
});
