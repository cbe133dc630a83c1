// Description: JS-level garbage at the syscall level and bad options at the API level.
// Invariant: garbage gets -EINVAL/-EBADF/-EFAULT or a TypeError naming the option, never a
// success, a crash or a hang; kernel errors are returned, never thrown.
import { Kernel, errno } from 'kaio';
import { tBoot, tDisk, tRead } from './helpers';

test('boot options are checked with TypeErrors that name the option', async () => {
  await expect(Kernel.boot({ aioMaxNr: 0 })).rejects.toThrow(/options\.aioMaxNr/);
  await expect(Kernel.boot({ lookup: 'hash' as 'tags' })).rejects.toThrow(/options\.lookup/);
  await expect(Kernel.boot({ cancel: 'maybe' as 'effective' })).rejects.toThrow(/options\.cancel/);
  await expect(Kernel.boot({ maxCpus: 1000 })).rejects.toThrow(/options\.maxCpus/);
  await expect(Kernel.boot(null as unknown as object)).rejects.toThrow(TypeError);
});

test('devices: bad options throw; unknown paths are ENOENT', async () => {
  const k = await tBoot();
  expect(() => k.ramdisk('', { sizeBytes: 10 })).toThrow(/name/);
  expect(() => k.ramdisk('a/b', { sizeBytes: 10 })).toThrow(/name/);
  expect(() => k.ramdisk('x', { sizeBytes: -1 })).toThrow(/options\.sizeBytes/);
  expect(() => k.ramdisk('x', { sizeBytes: 4096, queueDepth: 0 })).toThrow(/options\.queueDepth/);
  expect(() => k.ramdisk('x', { sizeBytes: 4096, abortable: 'yes' as unknown as boolean })).toThrow(/options\.abortable/);
  expect(() => k.ramdisk('huge', { sizeBytes: 0xfff00000 })).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
  const { path } = tDisk(k);
  expect(() => k.ramdisk(path.slice(5), { sizeBytes: 4096 })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  expect(() => k.device('/dev/none')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  expect(() => k.device(42 as unknown as string)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  expect(k.open('/dev/none', 'r')).toBe(-errno.ENOENT);
  expect(k.open('relative', 'r')).toBe(-errno.ENOENT);
  expect(k.open(path, 'x' as 'r')).toBe(-errno.EINVAL);
});

test('garbage in iocb fields never submits', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k);
  const ctx = k.io_setup(8);
  const junk: unknown[] = [
    { ...tRead(fd, Buffer.alloc(8)), aio_fildes: 'x' },
    { ...tRead(fd, Buffer.alloc(8)), aio_fildes: 3.5 },
    { ...tRead(fd, Buffer.alloc(8)), aio_offset: '0' },
    { ...tRead(fd, Buffer.alloc(8)), aio_offset: NaN },
    { ...tRead(fd, Buffer.alloc(8)), aio_offset: -1n },
    { ...tRead(fd, Buffer.alloc(8)), aio_nbytes: '8' },
    { ...tRead(fd, Buffer.alloc(8)), aio_data: 'id' },
    { ...tRead(fd, Buffer.alloc(8)), aio_data: 1.5 },
    { ...tRead(fd, Buffer.alloc(8)), aio_flags: -1 },
    { ...tRead(fd, Buffer.alloc(8)), aio_buf: {} },
    { ...tRead(fd, Buffer.alloc(8)), aio_buf: [1, 2, 3] },
    Object.freeze(tRead(fd, Buffer.alloc(8))),
    [],
    'iocb',
  ];
  for (const j of junk) {
    const r = k.io_submit(ctx, [j as never]);
    expect(r).toBeLessThan(0);
    expect([-errno.EINVAL, -errno.EBADF, -errno.EFAULT]).toContain(r);
  }
  expect(k.ctxStat(ctx)!.inflight).toBe(0);
  expect(k.io_submit(ctx, 'not an array' as never, 1)).toBe(-errno.EFAULT);
  expect(k.close('3' as unknown as number)).toBe(-errno.EBADF);
});
