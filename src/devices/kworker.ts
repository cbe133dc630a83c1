/**
 * The kworker: the kernel thread that completes requests of drivers that
 * cannot complete inline, i.e. pipes (S9). Woken through H_KW_DOORBELL by
 * k.write, closes, readers and writers making progress, and cancel callbacks.
 *
 * For each request the kernel hands back (kworker_collect), it first fills
 * the reader's SharedArrayBuffer segments from the bounce block the kernel
 * copied into, then completes it, so the bytes are in place before the event
 * is visible.
 */
import * as L from '../../assembly/include/layout';
import type { Core } from '../core';
import { BufferTable } from '../buffers';

export function runKworker(core: Core): void {
  const { u8, u32, i32, x } = core;
  const table = new BufferTable(core.handle.bootId, -1);
  const bellW = L.H_KW_DOORBELL >>> 2;
  const stateW = L.H_KW_STATE >>> 2;
  Atomics.compareExchange(i32, stateW, L.DS_STARTING, L.DS_READY); // unless already told to stop
  Atomics.notify(i32, stateW);

  const fillSab = (req: number, res: number): number => {
    const op = u32[(req + L.KI_OPCODE) >>> 2];
    if (op !== L.IOCB_CMD_PREAD && op !== L.IOCB_CMD_PREADV) return res;
    const bounce = u32[(req + L.KI_BOUNCE) >>> 2];
    if (!bounce || res <= 0) return res;
    const nseg = u32[(req + L.KI_NSEG) >>> 2];
    const segs = u32[(req + L.KI_SEGS) >>> 2];
    let at = 0;
    for (let i = 0; i < nseg && at < res; i++) {
      const s = segs + i * L.SEG_SIZE;
      const len = u32[(s + L.SEG_LEN) >>> 2];
      const n = Math.min(len, res - at);
      if (u32[(s + L.SEG_KIND) >>> 2] === L.BUF_SAB) {
        const user = table.get(u32[(s + L.SEG_REF) >>> 2]);
        const off = u32[(s + L.SEG_OFF) >>> 2];
        if (!user || off + n > user.length) return -14; // EFAULT
        user.set(u8.subarray(bounce + at, bounce + at + n), off);
      }
      at += len;
    }
    return res;
  };

  for (;;) {
    const bell = Atomics.load(i32, bellW);
    if (Atomics.load(i32, stateW) === L.DS_STOP) break;
    const n = x.kworker_collect(core.cpu);
    for (let k = 0; k < n; k++) {
      const rec = core.scratch + k * L.KW_REC_SIZE;
      const req = u32[rec >>> 2];
      const res = fillSab(req, core.readI64(rec + 8));
      x.kworker_complete(core.cpu, req, BigInt(res));
    }
    if (n > 0) continue;
    Atomics.store(i32, L.H_KW_WAITING >>> 2, 1); // pairs with pipe_queue_work's load of waiting
    Atomics.wait(i32, bellW, bell);
    Atomics.store(i32, L.H_KW_WAITING >>> 2, 0);
  }
  table.close();
  Atomics.store(i32, stateW, L.DS_STOPPED);
  Atomics.notify(i32, stateW);
}
