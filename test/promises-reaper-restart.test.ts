// Description: the AioContext's one reaper loop stops when nothing is in flight, and starts again for the next request.
// Invariant: a request submitted from the continuation of another's settle (await one, then submit the next) is reaped:
// the reaper never leaves in-flight requests behind, whatever the microtask order.
import { IOCB_CMD } from 'kaio';
import { tBoot, tDisk } from './helpers';

test('awaiting each request before submitting the next settles every one (submit, read, fsync, .then chains)', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k, { serviceTimeUs: 0 });
  const io = k.context();
  // io.submit's promise settles straight from the reaper: its continuation runs before the loop looks again.
  for (let i = 0; i < 50; i++) expect((await io.submit({ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd })).res).toBe(0);
  const buf = Buffer.alloc(16);
  for (let i = 0; i < 50; i++) expect(await io.read(fd, buf, i * 16)).toBe(16);
  for (let i = 0; i < 5; i++) await io.fsync(fd);
  // Chained in reactions of every depth: each starts a request as the previous one settles.
  let n = 0;
  const chain = (left: number): Promise<void> => io.submit({ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd }).then(() => {
    n++;
    return left > 0 ? chain(left - 1) : undefined;
  });
  await Promise.all([chain(30), Promise.resolve().then(() => chain(30)), Promise.resolve().then(() => Promise.resolve()).then(() => chain(30))]);
  expect(n).toBe(93);
  expect(io.pending).toBe(0);
  await io.close();
});
