/**
 * md RAID5's thread (md's raid5d), one "CPU" of the kernel. The layout and the
 * child bios are the kernel's (assembly/drivers/md/raid5.ts); this thread
 * takes whole requests from the RAID5 device's stage 1 (blk_fetch: a request
 * cancelled while queued there never gets here), does their member I/O one
 * request at a time (so two writes never race on a stripe's parity), and
 * computes parity.
 *
 *  - Read: one child read per chunk piece from its data member, carrying the
 *    request's cancel word. Degraded (that member faulty): the same range of
 *    every other member, XORed. A child cancelled in its member's queue ends
 *    the request with the prefix read so far, or -ECANCELED.
 *  - Write (reconstruct-write, per stripe): read the stripe's data chunks (a
 *    faulty member's chunk reconstructed from parity), lay the new bytes over
 *    them, XOR the parity, write the touched data chunks and the parity. The
 *    children carry no cancel word; the request is dropped (-ECANCELED, nothing
 *    written) if it is marked before its first member write is dispatched, and
 *    after that it completes in full.
 *  - Two faulty members: -EIO. A member becomes faulty when this thread sees it
 *    failed; after recover() it is rebuilt from the others, stripe by stripe,
 *    before the next request, and is then in service again.
 */
import * as L from '../../assembly/include/layout';
import type { Core } from '../core';
import { BufferTable } from '../buffers';

const EIO = 5;
const ECANCELED = 125;
const EFAULT = 14;

interface Child { member: number; op: number; pos: number; buf: number; len: number; read: boolean }

/** Raised when shutdown asks the thread to stop while it waits for children. */
class Stop extends Error {}

export function runRaid5(core: Core, dev: number): void {
  const { u8, u32, i32, x } = core;
  const d = L.DEV_OFF + dev * L.DEV_SIZE;
  const W = (off: number) => (d + off) >>> 2;
  const n = u32[W(L.D_NMEMB)];
  const chunk = u32[W(L.D_CHUNK)];
  const members = Array.from({ length: n }, (_, i) => u8[d + L.D_MEMB + i]);
  const memberAddr = members.map((m) => L.DEV_OFF + m * L.DEV_SIZE);
  const stripes = Math.floor(u32[W(L.D_SIZE)] / (chunk * (n - 1)));
  const table = new BufferTable(core.handle.bootId, dev);
  // 2n chunk buffers (a stripe, and scratch to reconstruct a faulty member's
  // chunk) and n child bios, in kernel memory.
  const stripe = x.kmalloc(2 * n * chunk) >>> 0;
  const kids = x.kmalloc(n * L.BIO_SIZE) >>> 0;
  if (!stripe || !kids) throw new Error('kaio: raid5: no kernel memory for stripe buffers');
  u32[W(L.D_CPU)] = core.cpu;

  Atomics.compareExchange(i32, W(L.D_STATE), L.DS_STARTING, L.DS_READY);
  Atomics.notify(i32, W(L.D_STATE));

  const faulty = () => Atomics.load(u32, W(L.D_R5_FAULTY));
  // 'mark-only' (the baseline): cancels do not reach the block layer, so this
  // thread runs marked requests as if they were not.
  const effective = (core.flags & L.FLAG_MARK_ONLY) === 0;
  const marked = (bio: number) => effective && x.bio_marked(bio) !== 0;
  const isFailed = (i: number) => Atomics.load(i32, (memberAddr[i] + L.D_FAILED) >>> 2) !== 0;
  const parityOf = (s: number) => n - 1 - (s % n);
  const dataMember = (s: number, k: number) => (parityOf(s) + 1 + k) % n;
  const buf = (slot: number) => stripe + slot * chunk;
  const scratch = (slot: number) => stripe + (n + slot) * chunk;

  /** Handle cancels of queued requests while we are busy (they are on our cancelled list). */
  const serviceCancels = (): boolean => {
    if (Atomics.load(i32, W(L.D_CANCEL_PENDING)) === 0) return false;
    Atomics.exchange(i32, W(L.D_CANCEL_PENDING), 0); // pairs with blk_cancel_kick's add
    x.blk_reap_cancelled(core.cpu, dev);
    return true;
  };

  /**
   * Submit the children and wait for all of them. If `parent` is a read and is
   * marked meanwhile, cancel the children still queued. Returns each child's
   * [status, done].
   */
  const io = (children: Child[], parent: number): Array<[number, number]> => {
    const cancelWord = parent ? u32[(parent + L.BI_CANCEL) >>> 2] : 0;
    children.forEach((c, i) => {
      const r = x.md_child_submit(core.cpu, dev, kids + i * L.BIO_SIZE, c.member, c.op, BigInt(c.pos), c.buf, c.len, c.read ? cancelWord : 0);
      if (r !== 0) throw new Error(`kaio: raid5: md_child_submit ${r}`);
    });
    let cancelled = false;
    const done = (i: number) => Atomics.load(u32, (kids + i * L.BIO_SIZE + L.BI_FLAGS) >>> 2) === L.BIO_CHILD_DONE;
    for (;;) {
      const bell = Atomics.load(i32, W(L.D_DOORBELL));
      if (children.every((_, i) => done(i))) break;
      if (Atomics.load(i32, W(L.D_STATE)) === L.DS_STOP) throw new Stop();
      if (serviceCancels() && parent && !cancelled && cancelWord && marked(parent)) {
        cancelled = true;
        x.blk_cancel_bios(kids, children.length); // our read children still in their members' queues
        x.blk_reap_all(core.cpu);
      }
      Atomics.store(i32, W(L.D_WAITING), 1); // pairs with device_kick's load of waiting
      Atomics.wait(i32, W(L.D_DOORBELL), bell);
      Atomics.store(i32, W(L.D_WAITING), 0);
    }
    return children.map((_, i) => [i32[(kids + i * L.BIO_SIZE + L.BI_STATUS) >>> 2], u32[(kids + i * L.BIO_SIZE + L.BI_DONE) >>> 2]]);
  };

  const xorInto = (dst: number, src: number, len: number) => {
    for (let i = 0; i < len; i++) u8[dst + i] ^= u8[src + i];
  };

  /** The request's bytes, in kernel memory or a registered SharedArrayBuffer. */
  /** Member i's chunk of stripe s, [within, within + len), into `at` (reconstructed if i is faulty). */
  const readChunk = (s: number, i: number, within: number, len: number, at: number, parent: number): number => {
    const f = faulty();
    if (!(f & (1 << i))) {
      const [st, got] = io([{ member: i, op: L.BIO_READ, pos: s * chunk + within, buf: at, len, read: parent !== 0 }], parent)[0];
      return st !== 0 ? st : got === len ? 0 : -EIO;
    }
    const others = members.map((_, j) => j).filter((j) => j !== i);
    if (others.some((j) => f & (1 << j))) return -EIO;
    const res = io(others.map((j, q) => ({ member: j, op: L.BIO_READ, pos: s * chunk + within, buf: scratch(q), len, read: parent !== 0 })), parent);
    const bad = res.find(([st, got]) => st !== 0 || got !== len);
    if (bad) return bad[0] !== 0 ? bad[0] : -EIO;
    u8.fill(0, at, at + len);
    others.forEach((_, q) => xorInto(at, scratch(q), len));
    return 0;
  };

  const doRead = (bio: number, pos: number, len: number, user: Uint8Array): [number, number] => {
    const tmp = buf(0);
    let done = 0;
    while (done < len) {
      const p = pos + done;
      const c = Math.floor(p / chunk);
      const s = Math.floor(c / (n - 1));
      const within = p % chunk;
      const l = Math.min(chunk - within, len - done);
      if (marked(bio)) return [-ECANCELED, done];
      const st = readChunk(s, dataMember(s, c % (n - 1)), within, l, tmp, bio);
      if (st !== 0) return [st, done];
      user.set(u8.subarray(tmp, tmp + l), done);
      done += l;
    }
    return [0, len];
  };

  const doWrite = (bio: number, pos: number, len: number, user: Uint8Array): [number, number] => {
    let started = false;
    let done = 0;
    while (done < len) {
      const s = Math.floor((pos + done) / (chunk * (n - 1)));
      const sStart = s * chunk * (n - 1);
      const sEnd = Math.min(sStart + chunk * (n - 1), pos + len);
      const par = parityOf(s);
      // Slots 0 .. n - 2: the stripe's data chunks in order; slot n - 1: parity.
      // Until the first member write, the reads carry the request's cancel word:
      // a write cancelled then has written nothing.
      for (let k = 0; k < n - 1; k++) {
        const st = readChunk(s, dataMember(s, k), 0, chunk, buf(k), started ? 0 : bio);
        if (st !== 0) return [st, 0];
      }
      const from = pos + done;
      user.subarray(done, done + (sEnd - from)).forEach((v, i) => { u8[stripe + (from - sStart) + i] = v; });
      u8.fill(0, buf(n - 1), buf(n - 1) + chunk);
      for (let k = 0; k < n - 1; k++) xorInto(buf(n - 1), buf(k), chunk);
      // The last moment a write can be cancelled: nothing of it is on a member yet.
      if (!started && marked(bio)) return [-ECANCELED, 0];
      started = true;
      const f = faulty();
      const writes: Child[] = [];
      for (let k = 0; k < n - 1; k++) {
        const lo = sStart + k * chunk;
        if (lo + chunk <= from || lo >= sEnd) continue; // chunk untouched
        const m = dataMember(s, k);
        if (!(f & (1 << m))) writes.push({ member: m, op: L.BIO_WRITE, pos: s * chunk, buf: buf(k), len: chunk, read: false });
      }
      if (!(f & (1 << par))) writes.push({ member: par, op: L.BIO_WRITE, pos: s * chunk, buf: buf(n - 1), len: chunk, read: false });
      const res = io(writes, 0);
      if (res.some(([st, got]) => st !== 0 || got !== chunk)) return [-EIO, 0];
      done = sEnd - pos;
    }
    return [0, len];
  };

  /** Rebuild member i (recovered) from the others, stripe by stripe, then put it back in service. */
  const rebuild = (i: number) => {
    const others = members.map((_, j) => j).filter((j) => j !== i);
    for (let s = 0; s < stripes; s++) {
      const res = io(others.map((j, q) => ({ member: j, op: L.BIO_READ, pos: s * chunk, buf: scratch(q), len: chunk, read: false })), 0);
      if (res.some(([st]) => st !== 0)) return; // another member failed meanwhile: stay degraded
      const out = buf(0);
      u8.fill(0, out, out + chunk);
      others.forEach((_, q) => xorInto(out, scratch(q), chunk));
      const [st] = io([{ member: i, op: L.BIO_WRITE, pos: s * chunk, buf: out, len: chunk, read: false }], 0)[0];
      if (st !== 0) return; // failed again
    }
    Atomics.and(u32, W(L.D_R5_FAULTY), ~(1 << i)); // pairs with faultyMembers()' atomic load (src/kernel.ts)
  };

  const serve = (bio: number) => {
    const op = u32[(bio + L.BI_OP) >>> 2];
    const len = u32[(bio + L.BI_LEN) >>> 2];
    const pos = core.readU64(bio + L.BI_POS);
    if (op === L.BIO_FLUSH || len === 0) { x.dev_complete(core.cpu, bio, 0, 0); return; }
    const user = table.bioBytes(u8, u32, bio, len);
    if (!user) { x.dev_complete(core.cpu, bio, -EFAULT, 0); return; }
    const [st, done] = op === L.BIO_READ ? doRead(bio, pos, len, user) : doWrite(bio, pos, len, user);
    if (st === -ECANCELED && done === 0) x.dev_abort(core.cpu, bio);
    else x.dev_complete(core.cpu, bio, st, done);
  };

  try {
    for (;;) {
      const bell = Atomics.load(i32, W(L.D_DOORBELL));
      if (Atomics.load(i32, W(L.D_STATE)) === L.DS_STOP) break;
      serviceCancels();
      // md learns of a failed member and keeps it out until it is rebuilt.
      for (let i = 0; i < n; i++) if (isFailed(i)) Atomics.or(u32, W(L.D_R5_FAULTY), 1 << i); // as above; isFailed pairs with fail()'s store
      for (let i = 0; i < n; i++) if (faulty() & (1 << i) && !isFailed(i)) rebuild(i);
      if (Atomics.load(i32, W(L.D_PAUSED)) === 0) {
        const bio = x.blk_fetch(core.cpu, dev) >>> 0;
        if (bio) {
          serve(bio);
          continue;
        }
      }
      Atomics.store(i32, W(L.D_WAITING), 1); // pairs with device_kick's load of waiting
      Atomics.wait(i32, W(L.D_DOORBELL), bell);
      Atomics.store(i32, W(L.D_WAITING), 0);
    }
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
  } finally {
    table.close();
    Atomics.store(i32, W(L.D_STATE), L.DS_STOPPED);
    Atomics.notify(i32, W(L.D_STATE));
  }
}
