/**
 * A bench:scaling thread. Until told to stop: submit a batch of null-device
 * reads to the shared context (or its own, `own`) and reap whatever is ready. In the 'cancel'
 * workload it also keeps `depth` reads waiting on its own empty pipe, and each
 * round cancels one of them at random and submits a replacement, so the
 * context always holds threads x depth requests in flight.
 */
import { workerData } from 'node:worker_threads';
import { Kernel, IOCB_CMD, errno, type Iocb, type IoEvent, type KernelHandle } from 'kaio';
import { xorshift } from './lib/bench';

interface Params { handle: KernelHandle; ctx: number; path: string; sab: SharedArrayBuffer; index: number; batch: number; depth: number; own: boolean }
const { handle, ctx: shared, path, sab, index, batch: B, depth, own } = workerData as Params;
const ctl = new Int32Array(sab); // [0] go, [1] stop, [2] ready count, [8 + index] reaped count, [24 + index] error
const k = await Kernel.attach(handle);
const ctx = own ? k.io_setup(1024) : shared;
if (ctx < 0) fail(ctx);
const fd = k.open(path, 'rw');
const buf = k.buffer(B * 4096 + depth * 64);
const batch: Iocb[] = Array.from({ length: B }, (_, i) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf.subarray(i * 4096, (i + 1) * 4096), aio_offset: 0 }));
const evs: IoEvent[] = [];
const rand = xorshift(0x9e3779b9 ^ (index + 1));

let reaped = 0;
let pipeRead = -1;
let pipeWrite = -1;
const waiting: Iocb[] = [];
const pipeIocb = (i: number): Iocb => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: pipeRead, aio_buf: buf.subarray(B * 4096 + i * 64, B * 4096 + (i + 1) * 64), aio_offset: 0 });
function fail(code: number): never {
  Atomics.store(ctl, 24 + index, code);
  throw new Error(`bench:scaling worker ${index}: ${code}`);
}
if (depth > 0) {
  [pipeRead, pipeWrite] = k.pipe();
  for (let i = 0; i < depth; i++) waiting.push(pipeIocb(i));
  submitAll(waiting);
}

/**
 * Submit all of `iocbs`. -EAGAIN (or a short count) means every ring slot is
 * taken by events not yet reaped or not yet visible: a producer preempted
 * mid-publication holds back the events after it (oversubscribed runs). Do
 * what a libaio user does: wait for an event, then go on.
 */
function submitAll(iocbs: Iocb[]): void {
  let done = 0;
  while (done < iocbs.length) {
    const s = k.io_submit(ctx, done === 0 ? iocbs : iocbs.slice(done));
    if (s > 0) done += s;
    else if (s !== -errno.EAGAIN) fail(s);
    if (done < iocbs.length) {
      const n = k.io_getevents(ctx, 1, 64, evs, 1);
      if (n < 0) fail(n);
      reaped += n;
    }
  }
}

Atomics.add(ctl, 2, 1);
Atomics.notify(ctl, 2);
while (Atomics.load(ctl, 0) === 0) Atomics.wait(ctl, 0, 0, 100);
while (Atomics.load(ctl, 1) === 0) {
  submitAll(batch);
  if (depth > 0) {
    const i = rand(depth);
    const c = k.io_cancel(ctx, waiting[i]);
    if (c !== -errno.EINPROGRESS) fail(c); // the -ECANCELED event follows
    waiting[i] = pipeIocb(i);
    submitAll([waiting[i]]);
  }
  const n = k.io_getevents(ctx, 0, 64, evs, 0);
  if (n < 0) fail(n);
  reaped += n;
}
if (depth > 0) {
  for (const iocb of waiting) k.io_cancel(ctx, iocb);
  k.close(pipeRead);
  k.close(pipeWrite);
}
Atomics.store(ctl, 8 + index, reaped);
if (own) k.io_destroy(ctx);
k.detach();
