// Description: io_submit when the kernel heap is exhausted (the lazily allocated kiocb and cancel pages).
// Invariant: a submission that needs a new page the heap cannot give fails with -ENOMEM, takes no
// slot or tag, and writes nothing: the shared header and the context stay intact.
import { IOCB_CMD, errno, type KernelBuffer } from 'kaio';
import { tBoot, tDisk } from './helpers';

test('no memory for a new kiocb page: -ENOMEM, nothing taken, nothing overwritten', async () => {
  const k = await tBoot({ memoryMiB: 64 });
  const { fd } = tDisk(k, { sizeBytes: 4096, serviceTimeUs: 0 });
  const ctx = k.io_setup(8); // its ring exists; its kiocb and cancel pages come with its first request
  const before = k.ctxStat(ctx)!;
  // Exhaust the heap from above: blocks of every size class down to the smallest.
  const held: KernelBuffer[] = [];
  for (let size = 1 << 24; size >= 64; size >>= 1) {
    for (;;) {
      try {
        held.push(k.buffer(size));
      } catch (e) {
        expect((e as { code?: string }).code).toBe('ENOMEM');
        break;
      }
    }
  }
  expect(held.length).toBeGreaterThan(0);
  const header = new Uint32Array(k.handle.memory.buffer, 0, 4);
  const magic = header[0];
  expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: 1n }])).toBe(-errno.ENOMEM);
  expect(header[0]).toBe(magic); // 'kaio': the kernel's header was not written over
  expect(magic).toBe(0x6b61696f);
  const after = k.ctxStat(ctx)!;
  expect([after.freeTags, after.freeSlots, after.inflight]).toEqual([before.freeTags, before.freeSlots, 0]);
  expect(k.io_getevents(ctx, 0, 8, [], 0)).toBe(0);
  expect(k.io_destroy(ctx)).toBe(0);
});
