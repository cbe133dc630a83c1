// The syscall level: io_setup, io_submit, io_cancel, io_getevents, io_destroy,
// returning -errno as libaio does. A read cancelled while it waits in a
// congested device's queue completes -ECANCELED and never reaches the device.
import assert from 'node:assert/strict';
import { Kernel, IOCB_CMD, errno } from 'kaio';

const k = await Kernel.boot();                       // options (all optional): aioMaxNr, lookup, cancel, maxCpus, memoryMiB
const disk = k.ramdisk('rd0', { sizeBytes: 1 << 20, serviceTimeUs: 100 });
const fd = k.open(disk, 'rw');
const ctx = k.io_setup(128);

k.device(disk).pause();                              // congest it: requests wait in the software queue
const iocb = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: Buffer.alloc(4096), aio_offset: 0, aio_data: 7n };
assert.equal(k.io_submit(ctx, [iocb]), 1);           // 1 submitted; io_submit wrote iocb.aio_key
assert.equal(k.io_cancel(ctx, iocb), -errno.EINPROGRESS); // asked, not waited for
const events = [];
assert.equal(k.io_getevents(ctx, 1, 1, events, null), 1);
assert.equal(events[0].data, 7n);
assert.equal(events[0].res, -errno.ECANCELED);       // the cancel took effect...
assert.equal(k.device(disk).stats().dispatched, 0);  // ...and the device never saw the read

assert.equal(k.io_destroy(ctx), 0);
await k.shutdown();
console.log('syscalls: the cancelled read completed -ECANCELED and never reached the device');
