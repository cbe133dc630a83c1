// Invariant: an event completed inside io_submit (staged, then published with the batch) carries its own aio_data, key and result in the ring, as one completed by another thread does.
import { IOCB_CMD, type Iocb } from 'kaio';
import { tBoot, tDisk } from './helpers';

test('NOOPs completed inside io_submit: each ring entry has that request\'s data, key and res', async () => {
  const k = await tBoot();
  const { fd } = tDisk(k);
  const ctx = k.io_setup(8);
  const ring = k.ring(ctx);
  const nr = ring.getUint32(4, true);
  for (const batch of [[0x1111n], [0x2222n, 0x3333n], [0x4444n]]) {
    const iocbs: Iocb[] = batch.map((d) => ({ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: d }));
    const head = ring.getUint32(8, true);
    expect(k.io_submit(ctx, iocbs)).toBe(batch.length);
    expect((ring.getUint32(12, true) - head + nr) % nr).toBe(batch.length); // published when io_submit returns
    iocbs.forEach((iocb, i) => {
      const ev = 32 + ((head + i) % nr) * 32;
      expect({ data: ring.getBigUint64(ev, true), obj: Number(ring.getBigUint64(ev + 8, true)), res: ring.getBigInt64(ev + 16, true), res2: ring.getBigInt64(ev + 24, true) })
        .toEqual({ data: batch[i], obj: iocb.aio_key, res: 0n, res2: 0n });
    });
    ring.setUint32(8, (head + batch.length) % nr, true);
  }
});
