// The worker of threads-cjs/main.cjs: attach to the kernel, submit 4 reads, post
// their keys, leave. Its requests complete after it detaches; their events go
// to whoever reaps the context (here the main thread).
const { workerData, parentPort } = require('node:worker_threads');
const { Kernel, IOCB_CMD } = require('kaio');

async function main() {
  const { handle, ctx, fd } = workerData;
  const k = await Kernel.attach(handle);               // same memory: same contexts, fds, devices
  const buf = k.buffer(4 * 4096);                      // kernel memory: the bytes are there for every thread
  const iocbs = [0, 1, 2, 3].map((i) => ({
    aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf.subarray(i * 4096, (i + 1) * 4096), aio_offset: i * 4096, aio_data: BigInt(i + 1),
  }));
  if (k.io_submit(ctx, iocbs) !== 4) throw new Error('io_submit refused');
  parentPort.postMessage({ keys: iocbs.map((iocb) => iocb.aio_key) });
  k.detach();                                          // or just return: the worker's exit detaches
}

main();
