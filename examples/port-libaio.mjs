// Porting a libaio test: harness/cases/4.t ("read/write on fds without
// permission, negative offsets"), with the harness's helpers carried over
// nearly line for line. libaio's io_submit/io_getevents return -errno, and
// so do kaio's: the expectations stay the same numbers.
import { Kernel, IOCB_CMD, errno } from 'kaio';

const { EBADF, EINVAL } = errno;
const SIZE = 512;
const READ = 'r';
const WRITE = 'w';

const k = await Kernel.boot();
k.ramdisk('testdir', { sizeBytes: 4096, serviceTimeUs: 0 });
const io_ctx = k.io_setup(128);                      // harness main.c: io_setup(..., &io_ctx)

// harness/common.h sync_submit(): submit one iocb, wait for its event, return its res.
function sync_submit(iocb) {
  const res = k.io_submit(io_ctx, [iocb]);
  if (res !== 1) return res;
  const events = [];
  const n = k.io_getevents(io_ctx, 1, 1, events, null);
  return n === 1 ? events[0].res : n;
}

// harness/common.h attempt_rw(), with io_prep_pread/io_prep_pwrite inlined.
function attempt_rw(fd, buf, count, pos, rw, expect) {
  const iocb = { aio_lio_opcode: rw === READ ? IOCB_CMD.PREAD : IOCB_CMD.PWRITE, aio_fildes: fd, aio_buf: buf, aio_nbytes: count, aio_offset: pos };
  const res = sync_submit(iocb);
  console.log(`expect ${String(expect).padStart(3)}: (${rw}), res = ${String(res).padStart(3)}${res !== expect ? ' -- FAILED' : ''}`);
  return res !== expect ? 1 : 0;
}

// cases/4.t test_main()
const buf = Buffer.alloc(SIZE);
let status = 0;
const rofd = k.open('/dev/testdir', 'r');
status |= attempt_rw(rofd, buf, SIZE, 0, WRITE, -EBADF);
status |= attempt_rw(rofd, buf, SIZE, 0, READ, SIZE);
const wofd = k.open('/dev/testdir', 'w');
status |= attempt_rw(wofd, buf, SIZE, 0, READ, -EBADF);
status |= attempt_rw(wofd, buf, SIZE, 0, WRITE, SIZE);
const rwfd = k.open('/dev/testdir', 'rw');
status |= attempt_rw(rwfd, buf, SIZE, 0, WRITE, SIZE);
status |= attempt_rw(rwfd, buf, SIZE, 0, READ, SIZE);
status |= attempt_rw(rwfd, buf, SIZE, -1, READ, -EINVAL);
status |= attempt_rw(rwfd, buf, SIZE, -1, WRITE, -EINVAL);

k.io_destroy(io_ctx);
await k.shutdown();
console.log(status ? 'test cases/4.t completed FAILED.' : 'test cases/4.t completed PASSED.');
process.exitCode = status;
