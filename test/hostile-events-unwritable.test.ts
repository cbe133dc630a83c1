// Description: io_getevents into an events array it cannot write (issue 7, contract 10).
// Invariant: a frozen events array makes io_getevents return -EFAULT without consuming anything (the
// events stay in the ring); a setter that throws gets -EFAULT if nothing was written, else the count
// written, and the events it refused come first from this thread's next io_getevents. Either way a
// later io_getevents with an ordinary array gets every event exactly once, with its bytes.
import { IOCB_CMD, errno, type Iocb, type IoEvent, type Kernel } from 'kaio';
import { tBoot, tDisk } from './helpers';
import { hPattern, hIs, hPlain } from './hostile-helpers';

function getevents(k: Kernel, ctx: number, min: number, nr: number, events: IoEvent[], t: number | null): number | string {
  try {
    return k.io_getevents(ctx, min, nr, events, t);
  } catch (e) {
    return `io_getevents threw: ${(e as Error).message}`;
  }
}

/** Four ramdisk reads into plain buffers (bounced), all completed into the ring. */
async function fourInRing() {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const disk = hPattern(16384, 3);
  expect(k.pwrite(fd, disk, 0)).toBe(16384);
  const ctx = k.io_setup(8);
  const iocbs: Iocb[] = [0, 1, 2, 3].map((i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(1000), aio_offset: i * 4096, aio_data: BigInt(i + 1) }));
  expect(k.io_submit(ctx, iocbs)).toBe(4);
  const deadline = Date.now() + 5000;
  while (k.ctxStat(ctx)!.inRing < 4 && Date.now() < deadline);
  expect(k.ctxStat(ctx)!.inRing).toBe(4);
  /** The later, ordinary reap: all four (but those already delivered), once each, with their bytes. */
  const reapAll = (before: IoEvent[] = []) => {
    const evs: IoEvent[] = [];
    const want = 4 - before.length;
    expect(k.io_getevents(ctx, want, 8, evs, 2000)).toBe(want);
    expect(k.io_getevents(ctx, 0, 8, [], 0)).toBe(0);
    evs.push(...before);
    expect(hPlain(new Map(evs.map((e) => [e.data, e.res])))).toEqual(hPlain(new Map([[1n, 1000], [2n, 1000], [3n, 1000], [4n, 1000]])));
    for (const e of evs) expect(hIs(e.obj, iocbs[Number(e.data) - 1])).toBe('the same object');
    for (const [i, c] of iocbs.entries()) expect((c.aio_buf as Buffer).equals(disk.subarray(i * 4096, i * 4096 + 1000))).toBe(true);
  };
  return { k, ctx, reapAll };
}

test('a frozen events array: -EFAULT, and every event is still there for the next reap', async () => {
  const { k, ctx, reapAll } = await fourInRing();
  expect(getevents(k, ctx, 1, 4, Object.freeze([]) as unknown as IoEvent[], 0)).toBe(-errno.EFAULT);
  expect(getevents(k, ctx, 1, 4, Object.freeze([]) as unknown as IoEvent[], 100)).toBe(-errno.EFAULT);
  expect(k.ctxStat(ctx)!.inRing).toBe(4);
  reapAll();
});

test('an events array whose index 0 setter throws: -EFAULT, and the next reap gets all four', async () => {
  const { k, ctx, reapAll } = await fourInRing();
  const evs: IoEvent[] = [];
  Object.defineProperty(evs, '0', { set() { throw new Error('hostile setter'); } });
  expect(getevents(k, ctx, 1, 4, evs, 0)).toBe(-errno.EFAULT);
  reapAll();
});

test('a Proxy events array whose set trap throws at index 2: the two written count, the next reap gets the other two', async () => {
  const { k, ctx, reapAll } = await fourInRing();
  const evs = new Proxy<IoEvent[]>([], {
    set(t, p, v) {
      if (p === '2') throw new Error('hostile set trap');
      (t as unknown as Record<string | symbol, unknown>)[p] = v;
      return true;
    },
  });
  expect(getevents(k, ctx, 4, 4, evs, 0)).toBe(2);
  reapAll([evs[0], evs[1]]);
});
