/**
 * A reference model of kaio's syscall semantics (README: Semantics S1-S12,
 * "Ring capacity", "Data buffers"), written from the README and nothing else
 * of kaio's: no import of kaio here.
 *
 * It is deterministic because the fuzz runner keeps it so: ramdisks stay
 * paused except inside runDevice (resume, wait for every event, pause), and
 * after every command the runner waits until each ring holds exactly the
 * events the model says are due. What is left unspecified is the order of the
 * events one command produces (a device thread, the kworker and the submitter
 * publish concurrently): the model keeps the ring as a list of groups, one
 * per command, ordered between groups, a multiset within one, and consume()
 * accepts any order inside a group.
 */

export const E = {
  EBADF: 9, EAGAIN: 11, EFAULT: 14, EINVAL: 22, ENOSPC: 28, EINPROGRESS: 115, ECANCELED: 125,
} as const;

export const POLL = { IN: 0x1, OUT: 0x4, ERR: 0x8, HUP: 0x10, RDNORM: 0x40, WRNORM: 0x100 } as const;

export type BufKind = 'plain' | 'kbuf';

/** One entry of an io_submit batch, as the generator describes it. */
export type Entry =
  | { t: 'disk'; disk: number; write: boolean; ro: boolean; off: number; lens: number[]; vec: boolean; buf: BufKind; seed: number }
  | { t: 'null'; write: boolean; len: number }
  | { t: 'piper'; pipe: number; len: number; buf: BufKind }
  | { t: 'pipew'; pipe: number; len: number; seed: number }
  | { t: 'poll'; pipe: number; wend: boolean; events: number }
  | { t: 'polldisk'; disk: number; events: number }
  | { t: 'noop' }
  | { t: 'bad'; why: BadWhy };

export type BadWhy = 'null' | 'reserved' | 'badfd' | 'opcode' | 'roWrite' | 'nbytesBig' | 'negoff' | 'pollZero';

/** The bytes a write entry carries: a pure function of its seed. */
export function content(seed: number, n: number, from = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 7 + (from + i) * 31 + 1) & 0xff;
  return b;
}

export function linuxCapacity(nr: number, possible: number): { ring: number; capacity: number } {
  const n = (Math.max(nr, 4 * possible) * 2) >>> 0;
  const pages = Math.ceil((32 + 32 * (n + 2)) / 4096);
  const ring = Math.floor((pages * 4096 - 32) / 32);
  const batch = Math.max(1, Math.floor((ring - 1) / (4 * possible)));
  return { ring, capacity: batch * Math.floor((ring - 1) / batch) };
}

export type KeyAfter = 'set' | 'zero' | 'untouched';

export type ReqState = 'queued' | 'waiting' | 'done' | 'gone';

export interface MReq {
  serial: number;
  ctx: MCtx;
  entry: Entry;
  data: bigint;
  key: number;
  state: ReqState;
  /** a cancel has been asked (the request may still be pending) */
  cancelAsked: boolean;
  res: number;
  /** what a read delivered (res bytes), to compare with the buffer */
  bytes: Uint8Array | null;
  /** effective length on a ramdisk (cut at the end) and its bios */
  eff: number;
  nbio: number;
}

export interface MCtx {
  id: number;
  nr: number;
  capacity: number;
  ringNr: number;
  live: Set<MReq>;
  /** unreaped events: groups in order; order within a group unspecified */
  ring: MReq[][];
  keys: Set<number>;
}

interface MDisk { bytes: Uint8Array; queue: MReq[]; dispatched: number }
interface MPipe { data: number[]; readers: MReq[]; pollers: MReq[] }

export interface Observed { key: number; data: bigint; res: number; res2: number }

export class Model {
  readonly ctxs = new Map<number, MCtx>();
  readonly disks: MDisk[];
  readonly pipes: MPipe[];
  aioNr = 0;
  serial = 0;
  /** events produced by the command being run, per context */
  private group = new Map<MCtx, MReq[]>();

  constructor(readonly possible: number, readonly aioMaxNr: number, diskSize: number, nDisks: number, nPipes: number) {
    this.disks = Array.from({ length: nDisks }, () => ({ bytes: new Uint8Array(diskSize), queue: [], dispatched: 0 }));
    this.pipes = Array.from({ length: nPipes }, () => ({ data: [], readers: [], pollers: [] }));
  }

  /** Close the current command: its events become one group of each ring. */
  endCommand(): void {
    for (const [ctx, g] of this.group) if (g.length > 0 && this.ctxs.get(ctx.id) === ctx) ctx.ring.push(g);
    this.group = new Map();
  }

  ringCount(ctx: MCtx): number {
    let n = 0;
    for (const g of ctx.ring) n += g.length;
    return n + (this.group.get(ctx)?.length ?? 0);
  }

  private complete(r: MReq, res: number, bytes: Uint8Array | null = null): void {
    r.state = 'done';
    r.res = res;
    r.bytes = bytes;
    let g = this.group.get(r.ctx);
    if (!g) this.group.set(r.ctx, (g = []));
    g.push(r);
  }

  // --- S1 -------------------------------------------------------------------

  /** io_setup: -errno, or 0 meaning "a new id" (then bind it with addCtx). */
  setup(nr: number): number {
    if (!Number.isInteger(nr) || nr < -(2 ** 31) || nr > 2 ** 32 - 1) return -E.EINVAL;
    const v = nr >>> 0;
    const n = (Math.max(v, 4 * this.possible) * 2) % 2 ** 32;
    if (v === 0 || n > 8388608) return -E.EINVAL;
    if (n === 0 || v > this.aioMaxNr || this.aioNr + v > this.aioMaxNr) return -E.EAGAIN;
    return 0;
  }

  addCtx(id: number, nr: number): MCtx {
    const { ring, capacity } = linuxCapacity(nr, this.possible);
    const ctx: MCtx = { id, nr, capacity, ringNr: ring, live: new Set(), ring: [], keys: new Set() };
    this.ctxs.set(id, ctx);
    this.aioNr += nr;
    return ctx;
  }

  // --- S2 -------------------------------------------------------------------

  /**
   * io_submit. Returns the count or -errno, the new requests (key to be
   * bound), and for each entry what its aio_key must be afterwards: 'set'
   * (submitted), 'zero' (failed after Linux's put_user), 'untouched'.
   */
  submit(ctxId: number, entries: Entry[], data: bigint[], nr: number): { ret: number; reqs: MReq[]; keys: KeyAfter[] } {
    const keys = entries.map((): KeyAfter => 'untouched');
    const out = { ret: 0, reqs: [] as MReq[], keys };
    const ctx = this.ctxs.get(ctxId);
    if (nr < 0 || !ctx) return { ...out, ret: -E.EINVAL };
    let i = 0;
    for (; i < nr; i++) {
      const e = entries[i];
      const err = this.entryError(ctx, e);
      if (err < 0) {
        keys[i] = err !== -E.EAGAIN && this.afterPutUser(e) ? 'zero' : 'untouched';
        return { ...out, ret: i > 0 ? i : err };
      }
      const r: MReq = { serial: this.serial++, ctx, entry: e, data: data[i], key: -1, state: 'queued', cancelAsked: false, res: 0, bytes: null, eff: 0, nbio: 0 };
      ctx.live.add(r);
      keys[i] = 'set';
      out.reqs.push(r);
      this.dispatch(r);
    }
    return { ...out, ret: i };
  }

  private afterPutUser(e: Entry): boolean {
    return e.t === 'bad' && !(e.why === 'null' || e.why === 'reserved' || e.why === 'badfd');
  }

  /** 0, or the entry's -errno in Linux's order (README S2). */
  private entryError(ctx: MCtx, e: Entry): number {
    if (e.t === 'bad' && e.why === 'null') return -E.EFAULT;
    if (e.t === 'bad' && e.why === 'reserved') return -E.EINVAL;
    if (ctx.live.size >= ctx.capacity) return -E.EAGAIN;
    if (e.t !== 'bad') return 0;
    switch (e.why) {
      case 'badfd': case 'roWrite': return -E.EBADF;
      case 'opcode': case 'negoff': case 'pollZero': return -E.EINVAL;
      case 'nbytesBig': return -E.EFAULT;
    }
    return 0; // 'null' and 'reserved' were handled above
  }

  private dispatch(r: MReq): void {
    const e = r.entry;
    switch (e.t) {
      case 'noop': return this.complete(r, 0);
      case 'null': return this.complete(r, e.len); // completes at once, moving no data
      case 'polldisk': return this.complete(r, (POLL.IN | POLL.OUT | POLL.RDNORM | POLL.WRNORM) & (e.events | POLL.ERR | POLL.HUP));
      case 'disk': {
        const d = this.disks[e.disk];
        const total = e.lens.reduce((a, b) => a + b, 0);
        if (total === 0) return this.complete(r, 0);
        if (e.off >= d.bytes.length) return this.complete(r, e.write ? -E.ENOSPC : 0);
        r.eff = Math.min(total, d.bytes.length - e.off);
        let acc = 0;
        for (const l of e.lens) {
          if (acc >= r.eff) break;
          if (l === 0) continue;
          acc += l;
          r.nbio++;
        }
        r.state = 'queued';
        d.queue.push(r); // the device is paused: stage 1
        return;
      }
      case 'piper': {
        const p = this.pipes[e.pipe];
        if (p.readers.length === 0 && (e.len === 0 || p.data.length > 0)) {
          const m = Math.min(e.len, p.data.length);
          this.complete(r, m, Uint8Array.from(p.data.splice(0, m)));
        } else {
          r.state = 'waiting';
          p.readers.push(r);
        }
        return this.service(e.pipe, false);
      }
      case 'pipew': {
        const p = this.pipes[e.pipe];
        p.data.push(...content(e.seed, e.len)); // the tests never fill a pipe
        this.complete(r, e.len);
        return this.service(e.pipe, e.len > 0);
      }
      case 'poll': {
        const mask = this.pipeMask(e.pipe, e.wend) & (e.events | POLL.ERR | POLL.HUP);
        if (mask !== 0) return this.complete(r, mask);
        r.state = 'waiting';
        this.pipes[e.pipe].pollers.push(r);
        return;
      }
      case 'bad': throw new Error('unreachable');
    }
  }

  private pipeMask(pipe: number, wend: boolean): number {
    // Both ends stay open and the pipe never fills in these tests.
    return wend ? POLL.OUT | POLL.WRNORM : this.pipes[pipe].data.length > 0 ? POLL.IN | POLL.RDNORM : 0;
  }

  /** The kworker's service of a pipe: readers in order, then ready pollers (woken by data: the key, 65). */
  private service(pipe: number, wrote: boolean): void {
    const p = this.pipes[pipe];
    while (p.readers.length > 0 && p.data.length > 0) {
      const r = p.readers.shift()!;
      const e = r.entry as Extract<Entry, { t: 'piper' }>;
      const m = Math.min(e.len, p.data.length);
      this.complete(r, m, Uint8Array.from(p.data.splice(0, m)));
    }
    // A write wakes the read end's waiters with its key (aio_poll_wake), even when
    // the readers served first took every byte; others complete only if ready.
    p.pollers = p.pollers.filter((r) => {
      const e = r.entry as Extract<Entry, { t: 'poll' }>;
      const want = e.events | POLL.ERR | POLL.HUP;
      const key = wrote && !e.wend ? POLL.IN | POLL.RDNORM : 0;
      if ((key & want) !== 0) {
        this.complete(r, key);
        return false;
      }
      const mask = this.pipeMask(pipe, e.wend) & want;
      if (mask === 0) return true;
      this.complete(r, mask);
      return false;
    });
  }

  /** k.write on a pipe's write end. */
  pipeWrite(pipe: number, len: number, seed: number): number {
    this.pipes[pipe].data.push(...content(seed, len));
    this.service(pipe, len > 0);
    return len;
  }

  // --- S5, S6, S9 -------------------------------------------------------------

  cancel(ctxId: number, key: number | undefined): number {
    const ctx = this.ctxs.get(ctxId);
    if (!ctx || key === undefined) return -E.EINVAL;
    let r: MReq | undefined;
    for (const x of ctx.live) if (x.key === key) r = x;
    if (!r || r.state === 'done') return -E.EINVAL;
    r.cancelAsked = true;
    this.cancelNow(r);
    return -E.EINPROGRESS;
  }

  /** A cancelled request leaves its queue and completes -ECANCELED, having moved nothing. */
  private cancelNow(r: MReq, complete = true): void {
    const e = r.entry;
    if (e.t === 'disk') {
      const d = this.disks[e.disk];
      d.queue.splice(d.queue.indexOf(r), 1);
    } else if (e.t === 'piper' || e.t === 'poll') {
      const p = this.pipes[e.pipe];
      p.readers = p.readers.filter((x) => x !== r);
      p.pollers = p.pollers.filter((x) => x !== r);
    } else {
      throw new Error(`model: cancel of a ${e.t} that is pending`);
    }
    if (complete) this.complete(r, -E.ECANCELED);
    else r.state = 'gone';
  }

  /** Requests whose event is due but the second cancel may race with: still pending? */
  isPending(r: MReq): boolean {
    return r.state === 'queued' || r.state === 'waiting';
  }

  // --- S4, S12 ----------------------------------------------------------------

  /** io_getevents / ring reap argument checks: -errno, or how many events it returns. */
  getevents(ctxId: number, min: number, nr: number): number {
    const ctx = this.ctxs.get(ctxId);
    if (!ctx || !(Number.isInteger(min) && Number.isInteger(nr) && min >= 0 && min <= nr)) return -E.EINVAL;
    return Math.min(nr, this.ringCount(ctx));
  }

  /**
   * Match events taken from the ring, in the order taken, against the model's
   * groups; remove them. Returns the requests, or throws with what differs.
   */
  consume(ctxId: number, evs: Observed[]): MReq[] {
    const ctx = this.ctxs.get(ctxId)!;
    const out: MReq[] = [];
    for (const ev of evs) {
      while (ctx.ring.length > 0 && ctx.ring[0].length === 0) ctx.ring.shift();
      const g = ctx.ring[0];
      const at = g ? g.findIndex((r) => r.key === ev.key) : -1;
      if (at < 0) {
        const want = g ? g.map((r) => `{key ${r.key} data ${r.data} res ${r.res}}`).join(' ') : 'none';
        throw new Error(`event {key ${ev.key} data ${ev.data} res ${ev.res}} on ctx ${ctxId}: the model expects one of ${want}`);
      }
      const r = g[at];
      if (ev.data !== r.data || ev.res !== r.res || ev.res2 !== 0) {
        throw new Error(`event of key ${ev.key}: data ${ev.data} res ${ev.res} res2 ${ev.res2}; model: data ${r.data} res ${r.res} res2 0 (entry ${JSON.stringify(r.entry)})`);
      }
      g.splice(at, 1);
      r.state = 'gone';
      ctx.live.delete(r);
      out.push(r);
    }
    while (ctx.ring.length > 0 && ctx.ring[0].length === 0) ctx.ring.shift();
    return out;
  }

  // --- S11 --------------------------------------------------------------------

  /** io_destroy: -EINVAL, or 0 with what it cancelled and what it discarded. */
  destroy(ctxId: number): { ret: number; cancelled: MReq[]; discarded: MReq[] } {
    const ctx = this.ctxs.get(ctxId);
    if (!ctx) return { ret: -E.EINVAL, cancelled: [], discarded: [] };
    const cancelled: MReq[] = [];
    const discarded: MReq[] = [];
    for (const r of ctx.live) {
      if (r.state === 'done') discarded.push(r);
      else {
        this.cancelNow(r, false);
        cancelled.push(r);
      }
      r.state = 'gone';
    }
    ctx.live.clear();
    ctx.ring = [];
    this.group.delete(ctx);
    this.ctxs.delete(ctxId);
    this.aioNr -= ctx.nr;
    return { ret: 0, cancelled, discarded };
  }

  // --- the device ---------------------------------------------------------------

  /** Run a ramdisk's software queue, in order (one device thread, FIFO). */
  runDevice(disk: number): MReq[] {
    const d = this.disks[disk];
    const ran = d.queue.splice(0);
    for (const r of ran) {
      const e = r.entry as Extract<Entry, { t: 'disk' }>;
      d.dispatched += r.nbio;
      if (e.write) {
        d.bytes.set(content(e.seed, r.eff), e.off);
        this.complete(r, r.eff);
      } else {
        this.complete(r, r.eff, d.bytes.slice(e.off, e.off + r.eff));
      }
    }
    return ran;
  }

  /** Queued requests of ctx on a disk (what a wait for that disk's run can count on). */
  queuedOn(disk: number, ctx: MCtx): number {
    return this.disks[disk].queue.filter((r) => r.ctx === ctx).length;
  }
}
