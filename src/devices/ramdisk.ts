/**
 * The ramdisk's device model, run by its own thread (one "CPU").
 *
 * Stage 1 (the software queue) is the kernel's (assembly/block/blk.ts). This thread
 * is the hardware: it takes bios from stage 1 into its device queue (stage 2,
 * NCQ, `queueDepth` entries) while not paused, and executes them one at a time
 * (stage 3), each taking `serviceTimeUs`. Completion times follow a schedule:
 * a request starts when the previous one ends or when it entered the device
 * queue, whichever is later. So the thread waking up late (timer slack) does
 * not slow the device down; it completes what is due in a burst.
 *
 * On a cancel kick it completes the bios that cancels took out of stage 1
 * (the kernel's cancelled list: O(1) each, no walk of the queue) and, if
 * `abortable`, drops marked bios from stage 2 (the device's abort command).
 * A bio in stage 3 always completes normally.
 */
import * as L from '../../assembly/include/layout';
import type { Core } from '../core';
import { BufferTable } from '../buffers';

export function runRamdisk(core: Core, dev: number): void {
  const { u8, u32, i32, x } = core;
  const d = L.DEV_OFF + dev * L.DEV_SIZE;
  const W = (off: number) => (d + off) >>> 2;
  const media = u32[W(L.D_MEDIA)];
  const depth = u32[W(L.D_QUEUE_DEPTH)];
  const serviceMs = u32[W(L.D_SERVICE_US)] / 1000;
  const abortable = (u32[W(L.D_FLAGS)] & L.DEVF_ABORTABLE) !== 0 && (core.flags & L.FLAG_MARK_ONLY) === 0;
  const table = new BufferTable(core.handle.bootId, dev);
  u32[W(L.D_CPU)] = core.cpu;

  // Stage 2: a ring of bio addresses, with when each entered it.
  const q = new Uint32Array(depth);
  const arrived = new Float64Array(depth);
  let qHead = 0;
  let qLen = 0;
  let executing = 0;
  let deadline = 0;

  // STARTING -> READY, unless shutdown already asked us to stop.
  Atomics.compareExchange(i32, W(L.D_STATE), L.DS_STARTING, L.DS_READY);
  Atomics.notify(i32, W(L.D_STATE));

  const transfer = (bio: number): [number, number] => {
    // A failed device (k.device().fail()) answers -EIO and leaves its media alone.
    if (Atomics.load(i32, W(L.D_FAILED)) !== 0) return [-5 /* EIO */, 0]; // pairs with fail/recover's store
    const op = u32[(bio + L.BI_OP) >>> 2];
    const len = u32[(bio + L.BI_LEN) >>> 2];
    if (op === L.BIO_FLUSH || len === 0) return [0, 0];
    const m = media + core.readU64(bio + L.BI_POS);
    const user = table.bioBytes(u8, u32, bio, len);
    if (!user) return [-14 /* EFAULT */, 0];
    // (Kernel memory on both sides: set() copies as memmove does.)
    if (op === L.BIO_READ) user.set(u8.subarray(m, m + len));
    else u8.set(user, m);
    return [0, len];
  };

  for (;;) {
    const bell = Atomics.load(i32, W(L.D_DOORBELL));
    if (Atomics.load(i32, W(L.D_STATE)) === L.DS_STOP) break;

    // A cancel was asked for a request queued here: complete what it took out
    // of stage 1, and abort what sits in the device queue.
    if (Atomics.load(i32, W(L.D_CANCEL_PENDING)) !== 0) {
      Atomics.exchange(i32, W(L.D_CANCEL_PENDING), 0); // pairs with blk_cancel_kick's add
      x.blk_reap_cancelled(core.cpu, dev);
      if (abortable && qLen > 0) {
        let kept = 0;
        for (let k = 0; k < qLen; k++) {
          const at = (qHead + k) % depth;
          const bio = q[at];
          if (x.bio_marked(bio)) {
            x.dev_abort(core.cpu, bio);
          } else {
            arrived[(qHead + kept) % depth] = arrived[at];
            q[(qHead + kept++) % depth] = bio;
          }
        }
        qLen = kept;
      }
    }

    const now = performance.now();
    // Held: the executing request does not finish, so no other starts; its
    // deadline moves with the hold, so a release does not complete it at once.
    const held = Atomics.load(i32, W(L.D_HELD)) !== 0; // pairs with hold/release's atomic store
    if (held && executing) deadline = Math.max(deadline, now + serviceMs);
    if (executing && !held && now >= deadline) {
      const [status, done] = transfer(executing);
      x.dev_complete(core.cpu, executing, status, done);
      executing = 0;
    }

    if (Atomics.load(i32, W(L.D_PAUSED)) === 0) {
      while (qLen < depth) {
        const bio = x.blk_fetch(core.cpu, dev) >>> 0;
        if (!bio) break;
        q[(qHead + qLen) % depth] = bio;
        arrived[(qHead + qLen) % depth] = performance.now();
        qLen++;
      }
    }

    if (!executing && qLen > 0) {
      const bio = q[qHead];
      const arrival = arrived[qHead];
      qHead = (qHead + 1) % depth;
      qLen--;
      if (abortable && x.bio_marked(bio)) {
        x.dev_abort(core.cpu, bio);
        continue;
      }
      executing = bio;
      deadline = Math.max(deadline, arrival) + serviceMs;
      continue;
    }
    if (executing && !held && performance.now() >= deadline) continue;

    // Nothing to do before the deadline (or at all, or held): sleep on the doorbell.
    Atomics.store(i32, W(L.D_WAITING), 1); // pairs with device_kick's load of waiting
    const left = executing && !held ? deadline - performance.now() : undefined;
    if (left === undefined || left > 0) Atomics.wait(i32, W(L.D_DOORBELL), bell, left);
    Atomics.store(i32, W(L.D_WAITING), 0);
  }

  table.close();
  Atomics.store(i32, W(L.D_STATE), L.DS_STOPPED);
  Atomics.notify(i32, W(L.D_STATE));
}
