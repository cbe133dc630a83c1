// Description: an iocb that throws while io_submit reads it (issue 7, contract 8).
// Invariant: a throwing getter (or index, or Proxy trap) at entry k makes io_submit return k (k > 0) or
// -EFAULT (k = 0), never throw; the entries before it are submitted and complete; nothing leaks, so
// repeating it far past the kernel's memory never runs out (-ENOMEM).
import { IOCB_CMD, errno, type Iocb } from 'kaio';
import { tBoot, tDisk, tReap } from './helpers';
import { hPattern, hPlain } from './hostile-helpers';

const MiB = 1 << 20;

const throwing = (fd: number, field: string): Iocb => {
  const o = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(16), aio_data: 99n } as Record<string, unknown>;
  Object.defineProperty(o, field, { enumerable: true, get() { throw new Error(`hostile ${field}`); } });
  return o as unknown as Iocb;
};

/** Call io_submit, turning a throw into a failure message that says so. */
function submit(k: Parameters<typeof tReap>[0], ctx: number, iocbs: unknown): number | string {
  try {
    return k.io_submit(ctx, iocbs as Iocb[]);
  } catch (e) {
    return `io_submit threw: ${(e as Error).message}`;
  }
}

test('a getter that throws at entry 0 is -EFAULT, for every field io_submit reads', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(8);
  // The fields Linux reads from every PREAD iocb (aio_resfd only with IOCB_FLAG_RESFD, aio_reqprio only with IOPRIO).
  const fields = ['aio_lio_opcode', 'aio_fildes', 'aio_buf', 'aio_nbytes', 'aio_offset', 'aio_data', 'aio_flags', 'aio_rw_flags', 'aio_reserved2'];
  const got = fields.map((f) => [f, submit(k, ctx, [throwing(fd, f)])]);
  expect(got).toEqual(fields.map((f) => [f, -errno.EFAULT]));
  const proxy = new Proxy({}, { get() { throw new Error('hostile get trap'); }, has() { throw new Error('hostile has trap'); } });
  expect(submit(k, ctx, [proxy])).toBe(-errno.EFAULT);
  const arr: Iocb[] = [];
  Object.defineProperty(arr, '0', { get() { throw new Error('hostile index'); } });
  expect(submit(k, ctx, arr)).toBe(-errno.EFAULT);
  expect(k.io_getevents(ctx, 0, 8, [], 0)).toBe(0); // nothing was submitted
});

test('a getter that throws at entry k > 0 returns k; the entries before it complete', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(8);
  const data = hPattern(4096, 2);
  expect(k.pwrite(fd, data, 0)).toBe(4096);
  const a = Buffer.alloc(4096);
  const b = Buffer.alloc(100);
  const first: Iocb[] = [
    { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: a, aio_offset: 0, aio_data: 1n },
    { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: b, aio_offset: 10, aio_data: 2n },
  ];
  expect(submit(k, ctx, [...first, throwing(fd, 'aio_nbytes'), first[0]])).toBe(2);
  const evs = tReap(k, ctx, 2);
  expect(hPlain(new Map(evs.map((e) => [e.data, e.res])))).toEqual(hPlain(new Map([[1n, 4096], [2n, 100]])));
  expect(a.equals(data)).toBe(true);
  expect(b.equals(data.subarray(10, 110))).toBe(true);
  const arr = [...first];
  Object.defineProperty(arr, '2', { get() { throw new Error('hostile index'); } });
  expect(submit(k, ctx, arr)).toBe(2);
  expect(tReap(k, ctx, 2).length).toBe(2);
});

test('200 batches of 1 MiB bounced writes ending in a throwing entry, on a 64 MiB kernel: no leak, no -ENOMEM', async () => {
  const k = await tBoot({ memoryMiB: 64 });
  const { fd } = tDisk(k, { sizeBytes: 2 * MiB, serviceTimeUs: 0 });
  const ctx = k.io_setup(8);
  const big = hPattern(MiB, 7); // a plain Buffer: bounced through kernel memory
  const results = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const field = i % 2 ? 'aio_buf' : 'aio_offset';
    const r = submit(k, ctx, [
      { aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: fd, aio_buf: big, aio_offset: 0, aio_data: BigInt(i) },
      throwing(fd, field),
    ]);
    // Every round runs, whatever the last did, so a leak shows as -ENOMEM (-12) in the later rounds.
    const key = typeof r === 'string' ? 'io_submit threw' : String(r);
    results.set(key, (results.get(key) ?? 0) + 1);
    if (r !== 1) continue;
    const [ev] = tReap(k, ctx, 1);
    if (ev.res !== MiB) results.set(`res ${ev.res}`, (results.get(`res ${ev.res}`) ?? 0) + 1);
  }
  expect([...results]).toEqual([['1', 200]]);
  // And reads (bounced at reap): the same.
  const out = Buffer.alloc(MiB);
  for (let i = 0; i < 200; i++) {
    const r = submit(k, ctx, [{ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: out, aio_offset: 0, aio_data: 1n }, throwing(fd, 'aio_data')]);
    if (r !== 1) {
      expect(`read batch ${i}: ${r}`).toBe(`read batch ${i}: 1`);
      break;
    }
    expect(tReap(k, ctx, 1)[0].res).toBe(MiB);
  }
  expect(out.equals(big)).toBe(true);
});
