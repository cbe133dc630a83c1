// Description: an eventfd PWRITE submitted to one context wakes, inline, a POLL waiting in another.
// Invariant: an event goes to the ring of its own request's context, never to the ring of the
// io_submit batch that happened to complete it; both contexts' in-flight counts return to 0, so
// io_destroy of either returns (before: the poll's event was staged into the writer's batch and
// published into its ring, and io_destroy of the poller's context waited forever).
import { IOCB_CMD, type IoEvent } from 'kaio';
import { tBoot } from './helpers';

test('a POLL woken by another context\'s PWRITE is delivered to its own context', async () => {
  const k = await tBoot();
  const efd = k.eventfd(0);
  const a = k.io_setup(8);
  const b = k.io_setup(8);
  expect(k.io_submit(b, [{ aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: efd, aio_buf: 1 /* POLLIN */, aio_data: 2n }])).toBe(1);
  const buf = k.buffer(8);
  new DataView(buf.buffer, buf.byteOffset, 8).setBigUint64(0, 1n, true);
  expect(k.io_submit(a, [{ aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: efd, aio_buf: buf, aio_offset: 0, aio_data: 1n }])).toBe(1);
  const ea: IoEvent[] = [];
  const eb: IoEvent[] = [];
  expect(k.io_getevents(a, 0, 8, ea, 0)).toBe(1);
  expect(ea.map((e) => [e.data, e.res])).toEqual([[1n, 8]]);
  expect(k.io_getevents(b, 0, 8, eb, 0)).toBe(1);
  expect(eb.map((e) => [e.data, e.res])).toEqual([[2n, 1]]);
  expect(k.io_destroy(a)).toBe(0);
  expect(k.io_destroy(b)).toBe(0);
});
