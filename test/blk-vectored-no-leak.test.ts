// Invariant: a vectored block request's bio array (kmalloc'd when it has more than one bio) is freed at completion: repeating the same requests does not grow the kernel heap.
import * as L from '../assembly/include/layout';
import { IOCB_CMD, type IoEvent } from 'kaio';
import { tBoot, tDisk } from './helpers';

test('1000 PREADVs of 8 segments after a warm-up: the heap\'s bump pointer does not move', async () => {
  const k = await tBoot();
  const core = (k as unknown as { core: { u32: Uint32Array } }).core;
  const top = () => Atomics.load(core.u32, L.H_HEAP_TOP >>> 2);
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const ctx = k.io_setup(4);
  const segs = Array.from({ length: 8 }, () => new Uint8Array(new SharedArrayBuffer(512)));
  const round = () => {
    expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.PREADV, aio_fildes: fd, aio_buf: segs, aio_offset: 0, aio_data: 7n }])).toBe(1);
    const evs: IoEvent[] = [];
    expect(k.io_getevents(ctx, 1, 1, evs, 5000)).toBe(1);
    expect(evs[0].res).toBe(8 * 512);
  };
  for (let i = 0; i < 50; i++) round();
  const before = top();
  for (let i = 0; i < 1000; i++) round();
  expect(top()).toBe(before);
});
