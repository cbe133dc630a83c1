/** A bench:wake reaper: block in io_getevents for one event, stamp the moment it returns, repeat. */
import { workerData } from 'node:worker_threads';
import { Kernel, type IoEvent, type KernelHandle } from 'kaio';

const { handle, ctx, sab, samples, spinUs } = workerData as { handle: KernelHandle; ctx: number; sab: SharedArrayBuffer; samples: number; spinUs: number };
const ctl = new Int32Array(sab, 0, 4); // [0] armed (samples started), [1] done (samples finished)
const woke = new Float64Array(sab, 16, samples);
const k = await Kernel.attach(handle);
k.reapSpinUs = spinUs;
const evs: IoEvent[] = [];
for (let i = 0; i < samples; i++) {
  Atomics.store(ctl, 0, i + 1); // the main thread spins on these two: no notify (a futex
  //                               call here would overlap the measured interval)
  if (k.io_getevents(ctx, 1, 1, evs, null) !== 1) throw new Error('io_getevents');
  woke[i] = Number(process.hrtime.bigint());
  Atomics.store(ctl, 1, i + 1);
}
k.detach();
