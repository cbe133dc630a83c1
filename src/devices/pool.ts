/**
 * A thread of the host-file pool (S13; the kernel side is assembly/fs/hostfile.ts).
 *
 * Each pool thread is a cpu of the kernel. It sleeps on H_POOL_DOORBELL,
 * takes work items (pool_fetch: a queued item already asked to cancel is
 * completed -ECANCELED there and never runs), does the real fs call straight
 * into the request's buffer (kernel memory: zero copy; a registered
 * SharedArrayBuffer: by id; a plain buffer: its bounce block, copied out at
 * reap), and completes it (pool_done). It also closes the host fds of
 * released host files (the kernel cannot).
 *
 * Plain files: one synchronous call (readSync/readvSync/writevSync/fsyncSync/
 * fdatasyncSync), with Linux's rw_flags: RWF_APPEND through an O_APPEND
 * descriptor, RWF_DSYNC/RWF_SYNC followed by fdatasync/fsync. It cannot be
 * interrupted: a cancel that arrives while it runs changes nothing (stage 3).
 *
 * Interruptible files (FIFOs, sockets, character devices, opened
 * O_NONBLOCK): the call is retried while it would block (EAGAIN), and between
 * tries the thread waits on the request's ki_cancel word, which the cancel
 * callback notifies. A cancel ends the request -EINTR (or with the bytes a
 * write already moved), as io-wq ends a signalled worker's wait. Data that
 * arrives while the thread waits is seen within the current back-off (from
 * 50 us, doubling to 10 ms): the price of waiting on one word, not on both the
 * fd and the word.
 */
import fs from 'node:fs';
import * as L from '../../assembly/include/layout';
import * as E from '../../assembly/include/errno';
import type { Core } from '../core';
import { BufferTable, POOL_MOVER } from '../buffers';
import { fsErrno } from '../errno';


export function runPool(core: Core, slot: number, replacement: boolean): void {
  const { u8, u32, i32, x } = core;
  const i64 = new BigInt64Array(core.buffer);
  const table = new BufferTable(core.handle.bootId, POOL_MOVER);
  const W = (off: number) => off >>> 2;
  // Listening now: buffers registered from here on reach this thread. A
  // replacement bumps the epoch so that registries post their buffers again.
  if (replacement) Atomics.add(i32, W(L.H_POOL_EPOCH), 1);
  Atomics.add(i32, W(L.H_POOL_READY), 1); // pairs with BufferRegistry's wait for ready pool threads
  Atomics.notify(i32, W(L.H_POOL_READY));
  const fiExit = (core.flags & L.FLAG_FI_POOL_EXIT) !== 0 && !replacement;

  const closeReleased = () => {
    let hf = x.pool_take_closes() >>> 0;
    while (hf) {
      const osfd = i32[W(hf + L.HF_OSFD)];
      const next = u32[W(hf + L.HF_NEXT)];
      try {
        fs.closeSync(osfd);
      } catch {
        // already gone (shutdown closed it): nothing to do
      }
      x.kfree(hf, L.HF_SIZE);
      hf = next;
    }
  };

  /** The request's buffer as views, or -EFAULT. */
  const views = (req: number): Uint8Array[] | number => {
    const nseg = u32[W(req + L.KI_NSEG)];
    const segs = u32[W(req + L.KI_SEGS)];
    const out: Uint8Array[] = [];
    for (let i = 0; i < nseg; i++) {
      const s = segs + i * L.SEG_SIZE;
      const len = u32[W(s + L.SEG_LEN)];
      if (len === 0) continue;
      const ref = u32[W(s + L.SEG_REF)];
      const off = u32[W(s + L.SEG_OFF)];
      if (u32[W(s + L.SEG_KIND)] === L.BUF_SAB) {
        const user = table.get(ref);
        if (!user || off + len > user.length) return -E.EFAULT;
        out.push(user.subarray(off, off + len));
      } else {
        out.push(u8.subarray(ref + off, ref + off + len));
      }
    }
    return out;
  };

  const io = (osfd: number, v: Uint8Array[], write: boolean, pos: number | null): number => {
    if (v.length === 1) return write ? fs.writeSync(osfd, v[0], 0, v[0].length, pos) : fs.readSync(osfd, v[0], 0, v[0].length, pos);
    return write ? fs.writevSync(osfd, v, pos ?? undefined) : fs.readvSync(osfd, v, pos ?? undefined);
  };

  /**
   * Positional I/O at an offset above 2^53 - 1, which no JS number holds
   * exactly (node:fs takes an unsafe number, and a bigint in writeSync and
   * the vectored calls, as "the current position": the bytes would go
   * elsewhere). Reads take the bigint, segment by segment (readSync accepts
   * one), up to the first short read. Writes are -EFBIG: what ext2/3/4 say
   * past their maximum file size (2^44 at most); file systems with larger
   * files (xfs, btrfs, tmpfs) would take the write, which Node cannot issue.
   */
  const ioHigh = (osfd: number, v: Uint8Array[], write: boolean, pos: bigint): number => {
    if (write) return -E.EFBIG;
    let done = 0;
    for (const seg of v) {
      const r = fs.readSync(osfd, seg, 0, seg.length, pos + BigInt(done));
      done += r;
      if (r < seg.length) break;
    }
    return done;
  };
  const HIGH = 0x200000; // KI_POS's upper word from which the offset is 2^53 or more

  /**
   * RWF_APPEND (IOCB_APPEND): the write goes to the end of the file whatever
   * the offset, the end and the write taken together, as under Linux's inode
   * lock. The host fd was opened without O_APPEND, so the write goes through
   * an O_APPEND descriptor of the same open file's inode (the kernel then
   * finds the end at the write itself); if that cannot be opened (the file's
   * permissions changed since it was opened), the end is read with fstat,
   * which a concurrent appender on another thread could race.
   */
  const append = (osfd: number, v: Uint8Array[]): number => {
    let afd: number;
    try {
      afd = fs.openSync(`/proc/self/fd/${osfd}`, fs.constants.O_WRONLY | fs.constants.O_APPEND);
    } catch {
      return io(osfd, v, true, fs.fstatSync(osfd).size);
    }
    try {
      return v.length === 1 ? fs.writeSync(afd, v[0], 0, v[0].length, null) : fs.writevSync(afd, v);
    } finally {
      fs.closeSync(afd);
    }
  };

  /** Run one item: [res, interrupted]. */
  const run = (req: number): [number, boolean] => {
    const op = u32[W(req + L.KI_OPCODE)];
    const hf = u32[W(req + L.KI_PRIVATE)];
    const osfd = i32[W(hf + L.HF_OSFD)];
    const interruptible = (u32[W(hf + L.HF_FLAGS)] & L.HF_INTERRUPTIBLE) !== 0;
    try {
      if (op === L.IOCB_CMD_FSYNC) { fs.fsyncSync(osfd); return [0, false]; }
      if (op === L.IOCB_CMD_FDSYNC) { fs.fdatasyncSync(osfd); return [0, false]; }
      const write = op === L.IOCB_CMD_PWRITE || op === L.IOCB_CMD_PWRITEV;
      let v = views(req);
      if (typeof v === 'number') return [v, false];
      if (v.length === 0) return [0, false];
      if (!interruptible) {
        const rwf = u32[W(req + L.KI_FLAGS)];
        const posHi = u32[W(req + L.KI_POS) + 1];
        const r = write && (rwf & L.RWF_APPEND) !== 0 ? append(osfd, v)
          : posHi >= HIGH ? ioHigh(osfd, v, write, (BigInt(posHi) << 32n) | BigInt(u32[W(req + L.KI_POS)]))
          : io(osfd, v, write, core.readU64(req + L.KI_POS));
        // generic_write_sync: RWF_SYNC syncs the file, RWF_DSYNC its data.
        if (write && r > 0 && (rwf & L.RWF_SYNC) !== 0) fs.fsyncSync(osfd);
        else if (write && r > 0 && (rwf & L.RWF_DSYNC) !== 0) fs.fdatasyncSync(osfd);
        return [r, false];
      }
      const nowait = (u32[W(req + L.KI_FLAGS)] & L.RWF_NOWAIT) !== 0;
      const cw = u32[W(req + L.KI_CW)] >>> 3;
      let done = 0;
      let backoff = 0.05;
      for (;;) {
        // Pairs with kiocb_cancel's cmpxchg and the callback's notify on this word.
        const w = Atomics.load(i64, cw);
        const st = Number(w & 0xffffffffn);
        if (st === L.KIOCB_CANCELLED || st === L.KIOCB_CANCELLING) return done > 0 ? [done, false] : [-E.EINTR, true];
        try {
          const r = io(osfd, v, write, null);
          if (!write) return [r, false];
          done += r;
          // A write to a FIFO moves everything before it completes (as a blocking write does).
          let left = r;
          while (v.length > 0 && left >= v[0].length) left -= v.shift()!.length;
          if (v.length === 0) return [done, false];
          if (left > 0) v = [v[0].subarray(left), ...v.slice(1)];
          continue;
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'EAGAIN') return [done > 0 ? done : fsErrno(err), false];
          if (nowait) return [done > 0 ? done : -E.EAGAIN, false];
        }
        Atomics.wait(i64, cw, w, backoff);
        backoff = Math.min(backoff * 2, 10);
      }
    } catch (err) {
      return [fsErrno(err), false];
    }
  };

  // A replacement first finishes what its dead predecessor held (positional
  // I/O and syncs are idempotent; the request's event is not lost).
  let req = x.pool_slot(slot) >>> 0;
  for (;;) {
    if (!req) {
      const bell = Atomics.load(i32, W(L.H_POOL_DOORBELL));
      closeReleased();
      if (Atomics.load(i32, W(L.H_POOL_STATE)) === L.DS_STOP) break;
      req = x.pool_fetch(core.cpu, slot) >>> 0;
      if (!req) {
        Atomics.add(i32, W(L.H_POOL_WAITING), 1); // pairs with pool_kick's load of waiting
        Atomics.wait(i32, W(L.H_POOL_DOORBELL), bell);
        Atomics.sub(i32, W(L.H_POOL_WAITING), 1);
        continue;
      }
    }
    if (fiExit && core.readU64(req + L.KI_DATA) === L.FI_POOL_EXIT_DATA) process.exit(70); // fault injection: die holding it
    const [res, interrupted] = run(req);
    x.pool_done(core.cpu, slot, BigInt(res), interrupted ? 1 : 0);
    req = 0;
  }
  closeReleased();
  table.close();
}
