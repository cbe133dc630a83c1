// Description: io_getevents while another reaper holds the context's reap lock (issue 7, contract 11).
// Invariant: io_getevents with a finite timeout returns (a count >= 0) within about that timeout even if
// another reaper holds the reap lock for longer: timeout 0 polls once and never waits on the lock.
// The call runs in an attached worker, so a hang is caught by a bound here (the lock is then released).
import { IOCB_CMD, type Kernel } from 'kaio';
import * as L from '../assembly/include/layout';
import { tBoot, tReap, tWorker } from './helpers';
import { hWithin, hPlain } from './hostile-helpers';

function reapLock(k: Kernel, ctx: number): { i32: Int32Array; at: number } {
  const i32 = new Int32Array(k.buffer(64).buffer as SharedArrayBuffer);
  const slot = ctx % L.MAX_CTX;
  return { i32, at: (L.CTX_OFF + slot * L.CTX_SIZE + L.CX_REAP_LOCK) >> 2 };
}

test.each([
  ['timeout 0', 0],
  ['timeout 50 ms', 50],
])('io_getevents(%s) returns while the reap lock is held by someone else', async (_name, timeoutMs) => {
  const k = await tBoot();
  const nfd = k.open(k.nulldev(`hl${process.pid}_${timeoutMs}`), 'r');
  const ctx = k.io_setup(8);
  expect(k.io_submit(ctx, [{ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: nfd, aio_data: 7n }])).toBe(1); // one event waits
  const w = await tWorker(k);
  const lock = reapLock(k, ctx);
  expect(Atomics.compareExchange(lock.i32, lock.at, 0, 1)).toBe(0); // "another reaper" (this thread) takes it
  const release = () => {
    Atomics.store(lock.i32, lock.at, 0);
    Atomics.notify(lock.i32, lock.at);
  };
  let got: number;
  try {
    got = await hWithin(
      w.run(({ k }, { ctx, timeoutMs }) => k.io_getevents(ctx, timeoutMs === 0 ? 0 : 1, 1, [], timeoutMs), { ctx, timeoutMs }),
      timeoutMs + 2000,
      release,
      `io_getevents(ctx, ${timeoutMs === 0 ? 0 : 1}, 1, ev, ${timeoutMs}) did not return within ${timeoutMs + 2000} ms while the reap lock was held`,
    );
  } finally {
    release();
  }
  expect(got).toBe(0); // it could not take the ring, so it has nothing; and no error
  // The lock released, the event is still there, once.
  const [ev] = tReap(k, ctx, 1);
  expect(hPlain(ev.data)).toBe(hPlain(7n));
}, 15_000);
