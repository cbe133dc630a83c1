// Many threads, one kernel, in CommonJS (an app without "type": "module").
// The main thread boots the kernel and makes
// the device, context and fd; a worker attaches with k.handle and submits;
// the main thread cancels two of the worker's requests by key and reaps all.
// What reaches the worker: workerData carries the handle, the ctx id and the
// fd (plain numbers: they mean the same on every thread). What comes back: the
// aio_keys io_submit wrote, posted as numbers.
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { once } = require('node:events');
const { Kernel, errno } = require('kaio'); // require(esm): Node >= 20.19

async function main() {
  const k = await Kernel.boot();
  const disk = k.ramdisk('rd0', { sizeBytes: 1 << 20 });
  const fd = k.open(disk, 'r');
  const ctx = k.io_setup(64);
  k.device(disk).pause();                              // the reads wait in the queue, so the cancels take effect

  const worker = new Worker(path.join(__dirname, 'worker.cjs'), { workerData: { handle: k.handle, ctx, fd } });
  const exited = once(worker, 'exit');              // listen now: it may exit before we look
  const [{ keys }] = await once(worker, 'message');    // the worker submitted 4 reads
  assert.equal(k.io_cancel(ctx, { aio_key: keys[2] }), -errno.EINPROGRESS);
  assert.equal(k.io_cancel(ctx, { aio_key: keys[3] }), -errno.EINPROGRESS);
  k.device(disk).resume();

  const events = await k.io_getevents_async(ctx, 4, 4, 10_000); // waits without blocking the event loop
  const byData = events.map((ev) => [ev.data, ev.res]).sort((a, b) => Number(a[0] - b[0]));
  assert.deepEqual(byData, [[1n, 4096], [2n, 4096], [3n, -errno.ECANCELED], [4n, -errno.ECANCELED]]);
  assert.equal(events[0].obj.aio_key !== undefined, true); // submitted elsewhere: obj is { aio_key, aio_data }

  await exited;
  k.io_destroy(ctx);
  await k.shutdown();
  console.log(`threads (cjs): 4 reads from the worker, 2 cancelled by key from main: ${byData.map(([d, r]) => `${d}:${r}`).join(' ')}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
