// Invariant: a completing request's key is retired (FREE, next generation) before its id goes back to the allocator, so a request that reuses the id at once gets a new key and keeps it.
//
// The race (aio_complete steps 3 and 4): once tag_free has put the id in the
// completing cpu's cache, another cpu can steal it, read the kiocb's generation
// and publish a new request there. If the old request's key were retired only
// after tag_free, that thief would read the old generation (so both requests
// would have the same key), and the late store of FREE would then wipe the new
// request's state (its key would stop working). Fault injection
// 'tag-free-reuse' holds the first tag_free after boot (bounded) until the
// freed id's kiocb is live again, so the thief always runs inside that gap.
//
// Set-up: the test holds every id but one through the kernel's tag hooks, the
// first read takes that one; a worker then submits reads until one succeeds
// (it can only get the first read's id, stolen from the completing cpu's cache).
import { errno, IOCB_CMD, type Iocb, type IoEvent } from 'kaio';
import * as L from '../assembly/include/layout';
import { tBoot, tCapacity, tWorker } from './helpers';

const KEY_ID_MASK = (1 << 23) - 1;
const split = (ctx: number): [number, number] => [ctx % 65536, Math.floor(ctx / 65536)];
interface Hooks { tag_test_alloc(s: number, g: number, cpu: number): number }

test('an id reused while its completion is still running gets the next generation, and its key keeps working', async () => {
  const k = await tBoot({ maxCpus: 4, faultInjection: 'tag-free-reuse' });
  const core = (k as unknown as { core: { x: Hooks; u32: Uint32Array } }).core;
  const [r1, w1] = k.pipe();
  const [r2] = k.pipe();
  const ctx = k.io_setup(4);
  const cap = tCapacity(k, ctx, 4);
  const [s, g] = split(ctx);

  // 1. The first read waits on an empty pipe; the test then holds every other id.
  const buf1 = new Uint8Array(new SharedArrayBuffer(4));
  const a: Iocb = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: r1, aio_buf: buf1, aio_data: 1n };
  expect(k.io_submit(ctx, [a])).toBe(1);
  const key1 = a.aio_key!;
  const held: number[] = [];
  for (let i = 0; i <= cap; i++) {
    const id = core.x.tag_test_alloc(s, g, k.cpu);
    if (id < 0) break;
    held.push(id);
  }
  expect(held.length).toBe(cap - 1);
  expect(held).not.toContain(key1 & KEY_ID_MASK);
  expect(Atomics.load(core.u32, L.H_FI_TAG_HOLD >>> 2)).toBe(0);

  // 2. A worker submits reads on the other pipe until one gets an id (-EAGAIN
  //    while none is free; the only id that can become free is the first read's).
  const worker = await tWorker(k);
  const thief = worker.run(({ k, kaio }, { ctx, r2 }) => {
    for (let i = 0; i < 2000; i++) {
      const iocb: Iocb = { aio_lio_opcode: kaio.IOCB_CMD.PREAD, aio_fildes: r2, aio_buf: Buffer.alloc(8), aio_data: 2n };
      const n = k.io_submit(ctx, [iocb]);
      if (n === 1) return { key2: iocb.aio_key!, tries: i + 1 };
      if (n !== -11) return { error: `io_submit ${n}` }; // -EAGAIN: no id free yet
    }
    return { error: 'no id became free' };
  }, { ctx, r2 });

  // 3. Complete the first read: its tag_free is held until the worker's read is live in the same kiocb.
  expect(k.write(w1, Buffer.from('abcd'))).toBe(4);
  const t = await thief as { error?: string; key2: number; tries: number };
  expect(t.error).toBeUndefined();
  let hold = 0;
  for (let i = 0; i < 100_000_000 && (hold === 0 || hold === L.FI_HOLD_WAITING); i++) hold = Atomics.load(core.u32, L.H_FI_TAG_HOLD >>> 2);
  expect(hold).toBe(L.FI_HOLD_REUSED); // the reuse happened inside the hold, not after a timeout

  // The worker's read is in the first read's kiocb, under the next generation.
  expect(t.key2 & KEY_ID_MASK).toBe(key1 & KEY_ID_MASK);
  expect(t.key2).not.toBe(key1);
  // Its key works: the cancel finds it live, and it completes -ECANCELED.
  expect(k.io_cancel(ctx, { aio_key: t.key2 })).toBe(-errno.EINPROGRESS);
  const evs: IoEvent[] = [];
  for (let i = 0; i < 100 && evs.length < 2; i++) {
    const tmp: IoEvent[] = [];
    expect(k.io_getevents(ctx, 1, 2, tmp, 10_000)).toBeGreaterThan(0);
    evs.push(...tmp);
  }
  // Each request's event exactly once, under its own key.
  expect(evs.map((e) => ({ data: String(e.data), key: e.obj.aio_key, res: e.res })).sort((x, y) => x.data.localeCompare(y.data))).toEqual([
    { data: '1', key: key1, res: 4 },
    { data: '2', key: t.key2, res: -errno.ECANCELED },
  ]);
  expect(Buffer.from(buf1).toString()).toBe('abcd');
  expect(k.io_getevents(ctx, 0, 1, [], 0)).toBe(0);
  expect(k.io_cancel(ctx, { aio_key: t.key2 })).toBe(-errno.EINVAL); // retired now
});
