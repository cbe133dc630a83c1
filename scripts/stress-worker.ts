/**
 * One stress thread: a cpu of the kernel under test. It submits reads,
 * writes, NOOPs and pipe reads to the shared contexts, cancels other threads'
 * requests by key, reaps whatever is ready (checking every event against its
 * request), writes into pipes so pipe reads complete, and now and then
 * destroys and recreates a context. It stops when told to, and reports.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Kernel, IOCB_CMD, type Iocb, type IoEvent, type KernelHandle } from 'kaio';
import {
  Shared, type StressConfig, KEY_RING, COUNTERS, C_HEARTBEAT, C_SUBMITTED, C_REAPED, C_CANCEL_CALLS,
  C_CANCEL_INPROGRESS, C_CANCELLED_EVENTS, C_EAGAIN, C_EINVAL, C_VIOLATIONS, C_DESTROYS, C_UNEXPECTED,
  C_PIPE_BYTES, C_BYTES_CHECKED, SLOTS, SLOT_SIZE, readOffset, checkReadBytes, KIND_DISK_READ, KIND_DISK_WRITE, KIND_NOOP, KIND_PIPE_READ, encodeData, decodeData, checkResult,
} from './lib/stress-shared';

const EAGAIN = -11;
const EINVAL = -22;
const EINPROGRESS = -115;

interface Init { handle: KernelHandle; sab: SharedArrayBuffer; cfg: StressConfig; thread: number; diskPath: string; diskSize: number; seed: number }
const init = workerData as Init;
const { cfg, thread } = init;
const sh = new Shared(cfg, init.sab);
const k = await Kernel.attach(init.handle);
const fd = k.open(init.diskPath, 'rw');
// Request seq uses slot seq % SLOTS, and a slot is reused only once its last
// request is over: its event was received (by any thread), or its context was
// destroyed (io_destroy returns once every request of it has completed).
const buf = k.buffer(SLOTS * SLOT_SIZE);
sh.bufBase[thread] = buf.byteOffset;
const slotSeq = new Int32Array(SLOTS).fill(-1);
const slotCtx = new Float64Array(SLOTS);
const slotCtxIdx = new Int32Array(SLOTS);
const mem = new Uint8Array(init.handle.memory.buffer); // read-only use: checking what reads returned
const slotFree = (slot: number): boolean => {
  const last = slotSeq[slot];
  return last < 0 || Shared.getBit(sh.received[thread], last) || sh.ctxIds[slotCtxIdx[slot]] !== slotCtx[slot];
};
const count = (c: number, n = 1) => Atomics.add(sh.counters, thread * COUNTERS + c, n);
const violations: string[] = [];

let rnd = init.seed >>> 0 || 1;
const rand = (n: number) => {
  rnd ^= rnd << 13;
  rnd ^= rnd >>> 17;
  rnd ^= rnd << 5;
  return (rnd >>> 0) % n;
};

function violation(msg: string): void {
  count(C_VIOLATIONS);
  if (violations.length < 20) violations.push(`thread ${thread}: ${msg}`);
}

/** Check one reaped event (any thread's request). */
function onEvent(e: IoEvent): void {
  const { thread: owner, kind, len, seq } = decodeData(e.data);
  if (owner >= cfg.threads || seq >= cfg.seqCapacity) return violation(`event with foreign data ${e.data}`);
  if (Shared.setBit(sh.received[owner], seq)) return violation(`request ${owner}:${seq} delivered twice`);
  if (!Shared.getBit(sh.submitted[owner], seq)) return violation(`event for request ${owner}:${seq} that was never submitted`);
  const why = checkResult(kind, len, e.res, Shared.getBit(sh.asked[owner], seq));
  if (why) violation(`request ${owner}:${seq}: ${why}`);
  if (e.res === -125) count(C_CANCELLED_EVENTS);
  if (kind === KIND_DISK_READ && e.res === len) {
    const bytes = checkReadBytes(sh, mem, owner, seq, len, init.diskSize);
    if (bytes === null) count(C_BYTES_CHECKED, len);
    else if (bytes !== 'reused') violation(`request ${owner}:${seq}: ${bytes}`);
  }
}

let seq = 0;
function submit(ctxIdx: number): void {
  const ctx = sh.ctxIds[ctxIdx];
  const n = 1 + rand(8);
  const iocbs: Iocb[] = [];
  const half = init.diskSize / 2;
  for (let j = 0; j < n && seq + j < cfg.seqCapacity; j++) {
    const s = seq + j;
    const slot = s % SLOTS;
    const r = rand(100);
    // A slot still in use by an earlier request: this one moves no data.
    const kind = !slotFree(slot) ? KIND_NOOP : r < 40 ? KIND_DISK_READ : r < 70 ? KIND_DISK_WRITE : r < 85 ? KIND_PIPE_READ : KIND_NOOP;
    const len = kind === KIND_NOOP ? 0 : 1 + rand(4096);
    const data = encodeData(thread, kind, len, s);
    const view = buf.subarray(slot * SLOT_SIZE, slot * SLOT_SIZE + len);
    if (kind !== KIND_NOOP) {
      slotSeq[slot] = s;
      slotCtx[slot] = ctx;
      slotCtxIdx[slot] = ctxIdx;
      Atomics.store(sh.slotSeq, thread * SLOTS + slot, s); // before the submit: pairs with onEvent's load
    }
    if (kind === KIND_NOOP) iocbs.push({ aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: data });
    else if (kind === KIND_PIPE_READ) iocbs.push({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: sh.pipeFds[2 * rand(cfg.pipes)], aio_buf: view, aio_data: data });
    else if (kind === KIND_DISK_READ) iocbs.push({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: view, aio_offset: readOffset(thread, s, init.diskSize), aio_data: data });
    else iocbs.push({ aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: fd, aio_buf: view, aio_offset: half + rand(half - 4096), aio_data: data });
  }
  if (iocbs.length === 0) return; // this thread's bitmaps are full
  // Mark before submitting: the event can be reaped by another thread at once.
  for (let j = 0; j < iocbs.length; j++) Shared.setBit(sh.submitted[thread], seq + j);
  const r = k.io_submit(ctx, iocbs);
  const ok = r > 0 ? r : 0;
  for (let j = 0; j < ok; j++) sh.pushKey(ctx, iocbs[j].aio_key!, thread, seq + j);
  for (let j = ok; j < iocbs.length; j++) {
    Atomics.and(sh.submitted[thread], (seq + j) >>> 5, ~(1 << ((seq + j) & 31)));
    if (slotSeq[(seq + j) % SLOTS] === seq + j) slotSeq[(seq + j) % SLOTS] = -1; // not submitted: its slot is free
  }
  seq += ok;
  count(C_SUBMITTED, ok);
  if (r === EAGAIN) count(C_EAGAIN);
  else if (r === EINVAL) count(C_EINVAL);
  else if (r < 0) {
    count(C_UNEXPECTED);
    violation(`io_submit returned ${r}`);
  }
}

function cancelSomeone(): void {
  const e = sh.readKey(rand(KEY_RING));
  if (!e) return;
  // Mark first: the -ECANCELED event may be reaped before io_cancel returns.
  Shared.setBit(sh.asked[e.owner], e.seq);
  const r = k.io_cancel(e.ctx, { aio_key: e.key });
  count(C_CANCEL_CALLS);
  if (r === EINPROGRESS) count(C_CANCEL_INPROGRESS);
  else if (r !== EINVAL) {
    count(C_UNEXPECTED);
    violation(`io_cancel returned ${r}`);
  }
}

const evs: IoEvent[] = [];
function reap(ctxIdx: number): void {
  evs.length = 0;
  const r = k.io_getevents(sh.ctxIds[ctxIdx], 0, 64, evs, 0);
  if (r > 0) {
    for (let i = 0; i < r; i++) onEvent(evs[i]);
    count(C_REAPED, r);
  } else if (r === EINVAL) {
    count(C_EINVAL);
  } else if (r < 0) {
    count(C_UNEXPECTED);
    violation(`io_getevents returned ${r}`);
  }
}

/** Block briefly for events (exercises the sleeping reaper path). */
function reapWait(ctxIdx: number): void {
  evs.length = 0;
  const r = k.io_getevents(sh.ctxIds[ctxIdx], 1, 64, evs, 2);
  if (r > 0) {
    for (let i = 0; i < r; i++) onEvent(evs[i]);
    count(C_REAPED, r);
  }
}

const chunk = new Uint8Array(512).fill(0x5a);
function feedPipe(): void {
  const w = sh.pipeFds[2 * rand(cfg.pipes) + 1];
  const n = k.write(w, chunk.subarray(0, 1 + rand(512)));
  if (n > 0) count(C_PIPE_BYTES, n);
  else if (n !== EAGAIN) violation(`write to pipe returned ${n}`);
}

function recreate(ctxIdx: number): void {
  if (Atomics.compareExchange(sh.ctxState, ctxIdx, 0, 1) !== 0) return;
  const old = sh.ctxIds[ctxIdx];
  const r = k.io_destroy(old);
  if (r !== 0) violation(`io_destroy returned ${r}`);
  const id = k.io_setup(cfg.depth);
  if (id <= 0) violation(`io_setup returned ${id}`);
  else sh.ctxIds[ctxIdx] = id;
  count(C_DESTROYS);
  Atomics.store(sh.ctxState, ctxIdx, 0);
}

const cancelWeight = Math.round(cfg.cancelRatio * 10);
while (Atomics.load(sh.control, 0) === 0) {
  count(C_HEARTBEAT);
  const c = rand(cfg.contexts);
  const a = rand(20 + cancelWeight);
  if (a < 8) submit(c);
  else if (a < 14) reap(c);
  else if (a < 15) reapWait(c);
  else if (a < 19) feedPipe();
  else if (a < 20) {
    if (rand(4000) === 0) recreate(c);
  } else cancelSomeone();
}

k.detach();
parentPort!.postMessage({ thread, violations, submittedSeq: seq });
