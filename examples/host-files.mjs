// Real files you can really cancel: reads of a host file run on kaio's thread pool (S13).
// A read still queued behind busy threads is cancelled by its AbortSignal and never runs;
// an eventfd counts completions (IOCB_FLAG_RESFD); io.cancelAll({ fd }) cancels what is left on a file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Kernel, IOCB_CMD, IOCB_FLAG_RESFD } from 'kaio';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kaio-example-'));
const k = await Kernel.boot({ poolThreads: 1 });
try {
  const file = path.join(dir, 'greeting');
  fs.writeFileSync(file, 'hello from a real file');
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const fd = k.open(file, 'r');
  const ffd = k.open(fifo, 'r');
  const writer = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);

  const io = k.context();
  // The pool's one thread waits on the FIFO; two file reads queue behind it.
  const waiting = io.read(ffd, Buffer.alloc(4));
  while (k.poolStats().running !== 1) await new Promise((r) => setImmediate(r));
  const ac = new AbortController();
  const doomed = io.read(fd, Buffer.alloc(5), 0, { signal: ac.signal });
  const buf = Buffer.alloc(5);
  const kept = io.read(fd, buf, 0);
  await new Promise((r) => setImmediate(r)); // submitted
  ac.abort();
  await assert.rejects(doomed, { name: 'AbortError' });
  fs.writeSync(writer, 'ping');
  assert.equal(await waiting, 4);
  assert.equal(await kept, 5);
  assert.equal(buf.toString(), 'hello');
  assert.equal(k.poolStats().executed, 2); // the aborted read never ran

  // eventfd: each completion with IOCB_FLAG_RESFD adds 1, once its event is in the ring.
  // As with libaio: wait for the eventfd (a POLL on it), read how many completed, reap that many.
  const efd = k.eventfd();
  const ctx = k.io_setup(4);
  const waiter = k.io_setup(1);
  const iocbs = [0, 6].map((off) => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(4), aio_offset: off, aio_flags: IOCB_FLAG_RESFD, aio_resfd: efd }));
  assert.equal(k.io_submit(ctx, iocbs), 2);
  const count = Buffer.alloc(8);
  let counted = 0n;
  while (counted < 2n) {
    assert.equal(k.io_submit(waiter, [{ aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: efd, aio_buf: 0x1 /* POLLIN */ }]), 1);
    assert.equal(k.io_getevents(waiter, 1, 1, [], 10_000), 1); // the counter is not 0
    assert.equal(k.read(efd, count), 8); // takes the counter and resets it
    counted += count.readBigUInt64LE();
  }
  assert.equal(counted, 2n);
  assert.equal(k.io_getevents(ctx, 2, 2, [], 0), 2); // both events were in the ring before the eventfd counted them

  // Bulk cancel: everything still in flight on the FIFO.
  const more = [io.read(ffd, Buffer.alloc(4)), io.read(ffd, Buffer.alloc(4))];
  await new Promise((r) => setImmediate(r));
  assert.equal(io.cancelAll({ fd: ffd }), 2);
  const settled = await Promise.allSettled(more);
  assert.deepEqual(settled.map((s) => s.status), ['rejected', 'rejected']);
  await io.close();
  fs.closeSync(writer);
  console.log(`host-files: read "${buf}", the aborted read never ran, eventfd counted ${counted}, cancelAll took 2`);
} finally {
  await k.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
}
