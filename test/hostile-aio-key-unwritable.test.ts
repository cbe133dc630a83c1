// Description: iocbs whose aio_key cannot be written (issue 7, contract 9; S2 "unwritable aio_key -> -EFAULT").
// Invariant: a frozen iocb, a sealed one without aio_key, a read-only or throwing aio_key, or a Proxy that
// refuses the store is -EFAULT at its entry (io_submit returns k, or -14 at entry 0) and is NOT submitted:
// no event ever comes for it and the device never sees it.
import { IOCB_CMD, errno, type Iocb, type Kernel } from 'kaio';
import { tBoot, tDisk, tReap } from './helpers';
import { hIs, hPlain } from './hostile-helpers';

/** The value of f() once it stops changing to 0 (bounded: 2000 checks, yielding between them). */
async function tSettled(f: () => number): Promise<number> {
  let v = f();
  for (let i = 0; i < 2000 && v !== 0; i++) {
    await new Promise(setImmediate);
    v = f();
  }
  return v;
}

const read = (fd: number, data: bigint): Iocb =>
  ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(512), aio_offset: 0, aio_data: data });

const KINDS: Array<[string, (fd: number) => Iocb]> = [
  ['frozen', (fd) => Object.freeze({ ...read(fd, 666n), aio_key: 12345 })],
  ['sealed without aio_key', (fd) => Object.seal(read(fd, 666n))],
  ['non-extensible without aio_key', (fd) => Object.preventExtensions(read(fd, 666n))],
  ['read-only aio_key', (fd) => Object.defineProperty(read(fd, 666n), 'aio_key', { value: 12345, writable: false, enumerable: true })],
  ['aio_key setter that throws', (fd) => Object.defineProperty(read(fd, 666n), 'aio_key', {
    get: () => 12345, set: () => { throw new Error('hostile aio_key setter'); }, enumerable: true,
  })],
  ['Proxy whose set trap returns false', (fd) => new Proxy(read(fd, 666n), { set: () => false })],
  ['aio_key getter without a setter', (fd) => Object.defineProperty(read(fd, 666n), 'aio_key', { get: () => 12345, enumerable: true })],
];

function submit(k: Kernel, ctx: number, iocbs: Iocb[]): number | string {
  try {
    return k.io_submit(ctx, iocbs);
  } catch (e) {
    return `io_submit threw: ${(e as Error).message}`;
  }
}

describe.each(KINDS)('%s', (_name, make) => {
  test('at entry 0: -EFAULT, nothing submitted, no event, not dispatched', async () => {
    const k = await tBoot();
    const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(8);
    const bad = make(fd);
    const keyBefore = (bad as { aio_key?: number }).aio_key;
    expect(submit(k, ctx, [bad])).toBe(-errno.EFAULT);
    // A later request completes; the refused one never does.
    expect(k.io_submit(ctx, [read(fd, 1n)])).toBe(1);
    const evs = tReap(k, ctx, 1); // and then polls: no other event
    expect(hPlain(evs.map((e) => e.data))).toEqual(hPlain([1n]));
    expect(k.device(path).stats().dispatched).toBe(1);
    expect(await tSettled(() => k.ctxStat(ctx)!.inflight)).toBe(0); // the completer counts down just after it publishes
    expect((bad as { aio_key?: number }).aio_key).toBe(keyBefore);
  });

  test('at entry 1: returns 1; the first completes, the refused one and the ones after it never run', async () => {
    const k = await tBoot();
    const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(8);
    const good = read(fd, 1n);
    const bad = make(fd);
    const after = read(fd, 3n);
    expect(submit(k, ctx, [good, bad, after])).toBe(1);
    const evs = tReap(k, ctx, 1);
    expect(hPlain(evs.map((e) => [e.data, e.res]))).toEqual(hPlain([[1n, 512]]));
    expect(hIs(evs[0].obj, good)).toBe('the same object');
    expect(typeof good.aio_key).toBe('number');
    expect(after.aio_key).toBeUndefined();
    expect(k.device(path).stats().dispatched).toBe(1);
    expect(await tSettled(() => k.ctxStat(ctx)!.inflight)).toBe(0); // the completer counts down just after it publishes
  });
});
