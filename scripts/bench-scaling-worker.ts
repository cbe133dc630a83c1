/** A bench:scaling thread: submit batches to the shared context and reap whatever is ready, until told to stop. */
import { workerData } from 'node:worker_threads';
import { Kernel, IOCB_CMD, type Iocb, type IoEvent, type KernelHandle } from 'kaio';

const { handle, ctx, path, sab, index } = workerData as { handle: KernelHandle; ctx: number; path: string; sab: SharedArrayBuffer; index: number };
const ctl = new Int32Array(sab); // [0] go, [1] stop, [2] ready count, [8 + index] reaped count
const k = await Kernel.attach(handle);
const fd = k.open(path, 'rw');
const buf = k.buffer(8 * 4096);
const batch: Iocb[] = Array.from({ length: 8 }, (_, i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf.subarray(i * 4096, (i + 1) * 4096), aio_offset: 0 }));
const evs: IoEvent[] = [];
Atomics.add(ctl, 2, 1);
Atomics.notify(ctl, 2);
while (Atomics.load(ctl, 0) === 0) Atomics.wait(ctl, 0, 0, 100);
let reaped = 0;
while (Atomics.load(ctl, 1) === 0) {
  k.io_submit(ctx, batch);
  const n = k.io_getevents(ctx, 0, 64, evs, 0);
  if (n > 0) reaped += n;
}
Atomics.store(ctl, 8 + index, reaped);
k.detach();
