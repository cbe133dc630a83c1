/**
 * Runs one generated command sequence against kaio and against the model
 * (test/fuzz/model.ts) and compares every return value, every event (data,
 * res, res2, which iocb) and every byte read. Throws at the first difference.
 *
 * Determinism: ramdisks are paused except inside a 'run' command; after every
 * command the runner waits (bounded, on the ring's head/tail in shared memory,
 * not a sleep) until each ring holds exactly the events the model says are due.
 */
import fc from 'fast-check';
import { IOCB_CMD, type Iocb, type IoEvent, type Kernel } from 'kaio';
import { E, Model, content, type BadWhy, type BufKind, type Entry, type MReq, type Observed } from './model';

export const DISK_SIZE = 8192;
export const AIO_MAX_NR = 64;
const FILL = 0xee;
const SETTLE_MS = 10_000;

// --- commands -------------------------------------------------------------------

export type CtxRef = { k: 'live'; i: number } | { k: 'dead'; i: number } | { k: 'bogus'; v: number };
export type ReqRef = { k: 'req'; i: number; asObj: boolean } | { k: 'same' } | { k: 'forged'; v: number } | { k: 'null' } | { k: 'nokey' };
export type GenEntry = { e: Entry; data: bigint };

export type Cmd =
  | { c: 'setup'; nr: number }
  | { c: 'submit'; ctx: CtxRef; entries: GenEntry[]; nr: 'all' | 'less' | 'neg' }
  | { c: 'fill'; ctx: CtxRef; n: number }
  | { c: 'cancel'; ctx: CtxRef; refs: ReqRef[] }
  | { c: 'getevents'; ctx: CtxRef; min: number; nr: number; timeout: 0 | null | 1000 }
  | { c: 'ring'; ctx: CtxRef; n: number }
  | { c: 'destroy'; ctx: CtxRef }
  | { c: 'run'; disk: number; ctx: CtxRef }
  | { c: 'pwrite'; pipe: number; len: number; seed: number };

const NDISKS = 2;
const NPIPES = 2;

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const ctxRef: fc.Arbitrary<CtxRef> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ k: fc.constant('live' as const), i: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dead' as const), i: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('bogus' as const), v: fc.constantFrom(0, -1, 12345, 1.5) }) },
);
const bufKind = fc.constantFrom<BufKind>('plain', 'plain', 'kbuf');
const seed = fc.nat(255);
const diskEntry: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({
    t: fc.constant('disk' as const), disk: fc.nat(NDISKS - 1), write: fc.boolean(), ro: fc.boolean(),
    off: fc.oneof(fc.nat(DISK_SIZE + 64), fc.constantFrom(0, DISK_SIZE - 1, DISK_SIZE, DISK_SIZE - 100)),
    lens: fc.array(fc.nat(600), { minLength: 1, maxLength: 1 }), vec: fc.constant(false), buf: bufKind, seed,
  }),
  fc.record({
    t: fc.constant('disk' as const), disk: fc.nat(NDISKS - 1), write: fc.boolean(), ro: fc.boolean(),
    off: fc.nat(DISK_SIZE + 64), lens: fc.array(fc.nat(300), { minLength: 1, maxLength: 3 }), vec: fc.constant(true), buf: bufKind, seed,
  }),
).map((e) => (e.t === 'disk' && e.write ? { ...e, ro: false } : e));
const entry: fc.Arbitrary<Entry> = fc.oneof(
  { weight: 6, arbitrary: diskEntry },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('null' as const), write: fc.boolean(), len: fc.nat(64) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('piper' as const), pipe: fc.nat(NPIPES - 1), len: fc.nat(24), buf: bufKind }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('pipew' as const), pipe: fc.nat(NPIPES - 1), len: fc.nat(24), seed }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('poll' as const), pipe: fc.nat(NPIPES - 1), wend: fc.boolean(), events: fc.constantFrom(0x1, 0x40, 0x41, 0x4, 0x100, 0x104, 0x5, 0) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('polldisk' as const), disk: fc.nat(NDISKS - 1), events: fc.constantFrom(0x1, 0x4, 0x40, 0x100, 0x45) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'noop' as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('bad' as const), why: fc.constantFrom<BadWhy>('null', 'reserved', 'badfd', 'opcode', 'roWrite', 'nbytesBig', 'negoff', 'pollZero') }) },
);
const reqRef: fc.Arbitrary<ReqRef> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ k: fc.constant('req' as const), i: fc.nat(40), asObj: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ k: 'same' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('forged' as const), v: fc.oneof(fc.nat(), fc.constantFrom(0, 1, 2 ** 23, 2 ** 23 + 1)) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'null' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'nokey' as const }) },
);

/**
 * Drop what would race inside one batch: an AIO write to a pipe kicks the kworker to serve
 * the pipe's waiting readers, so a later POLL of the read end, or a second write, in the same
 * batch may or may not see the pipe before the kworker has served it (a poll sees the bytes or
 * not; a waiting reader takes one write's bytes or both; a zero-length read completes inline,
 * or queues behind a reader and then waits for more data; a read may take the bytes before the
 * kworker wakes a poller): so nothing else touches that pipe after it in the batch.
 */
function deterministic(es: GenEntry[]): GenEntry[] {
  const written = new Set<number>();
  return es.filter(({ e }) => {
    const racy = (e.t === 'pipew' || e.t === 'poll' || e.t === 'piper') && written.has(e.pipe);
    if (e.t === 'pipew') written.add(e.pipe);
    return !racy;
  });
}

export const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ c: fc.constant('setup' as const), nr: fc.constantFrom(1, 2, 8, 32, 1, 8, 0, -1, 2 ** 31, 4194305, 65, 1.5) }) },
  { weight: 8, arbitrary: fc.record({ c: fc.constant('submit' as const), ctx: ctxRef, entries: fc.array(fc.record({ e: entry, data: u64 }), { minLength: 0, maxLength: 5 }).map(deterministic), nr: fc.constantFrom<'all' | 'less' | 'neg'>('all', 'all', 'all', 'all', 'less', 'neg') }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('fill' as const), ctx: ctxRef, n: fc.integer({ min: 100, max: 124 }) }) },
  { weight: 4, arbitrary: fc.record({ c: fc.constant('cancel' as const), ctx: ctxRef, refs: fc.array(reqRef, { minLength: 1, maxLength: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ c: fc.constant('getevents' as const), ctx: ctxRef, min: fc.integer({ min: -1, max: 4 }), nr: fc.oneof(fc.integer({ min: -1, max: 5 }), fc.constant(200)), timeout: fc.constantFrom<0 | null | 1000>(0, 0, null, 1000) }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('ring' as const), ctx: ctxRef, n: fc.integer({ min: 0, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('destroy' as const), ctx: ctxRef }) },
  { weight: 3, arbitrary: fc.record({ c: fc.constant('run' as const), disk: fc.nat(NDISKS - 1), ctx: ctxRef }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('pwrite' as const), pipe: fc.nat(NPIPES - 1), len: fc.nat(24), seed }) },
);

/** A sequence: an io_setup first (so most sequences do something), then commands. */
export const seqArb = (maxLength: number) =>
  fc.tuple(fc.constantFrom(1, 8, 32), fc.array(cmdArb, { minLength: 0, maxLength }))
    .map(([nr, cmds]): Cmd[] => [{ c: 'setup', nr }, ...cmds]);

// --- the kaio side ----------------------------------------------------------------

export interface Rig {
  k: Kernel;
  possible: number;
  disks: Array<{ path: string; rw: number; ro: number }>;
  nullFd: number;
  arena?: Uint8Array;
}

interface Live { iocb: Iocb; bufs: Uint8Array[] | null; kind: BufKind; read: boolean; nullRead: boolean }

/** What the runs exercised (printed with FUZZ_STATS=1): outcomes by label. */
export const coverage = new Map<string, number>();
const hit = (label: string) => coverage.set(label, (coverage.get(label) ?? 0) + 1);

export function runSequence(rig: Rig, cmds: Cmd[]): void {
  const { k } = rig;
  const model = new Model(rig.possible, AIO_MAX_NR, DISK_SIZE, NDISKS, NPIPES);
  const pipes: Array<[number, number]> = [];
  const created: number[] = [];
  const dead: number[] = [];
  const rings = new Map<number, DataView>();
  const reqs: MReq[] = [];
  const live = new Map<number, Live>(); // by model serial
  const dispatched0 = rig.disks.map((d) => Number(k.device(d.path).stats().dispatched));
  const discarded0 = k.stats().eventsDiscarded;
  let discarded = 0;
  const fail = (msg: string): never => { throw new Error(msg); };
  const eq = (what: string, got: unknown, want: unknown) => {
    if (got !== want) fail(`${what}: kaio ${String(got)}, model ${String(want)}`);
    hit(`${what.replace(/\(.*$/, '').replace(/ \d+.*$/, '')} = ${typeof want === 'number' && want < 0 ? want : typeof want === 'number' && want > 0 ? '>0' : String(want)}`);
  };

  for (const d of rig.disks) eq('zero the disk', k.pwrite(d.rw, new Uint8Array(DISK_SIZE), 0), DISK_SIZE);
  for (let i = 0; i < NPIPES; i++) {
    const p = k.pipe();
    if (p[0] < 0 || p[1] < 0) fail(`pipe: ${p}`);
    pipes.push(p);
  }

  const liveIds = () => [...model.ctxs.keys()];
  const resolve = (r: CtxRef): number => {
    if (r.k === 'bogus') return r.v;
    const ids = r.k === 'live' ? liveIds() : dead;
    return ids.length === 0 ? 0 : ids[r.i % ids.length];
  };

  const ringOf = (id: number) => {
    let dv = rings.get(id);
    if (!dv) rings.set(id, (dv = k.ring(id)));
    return dv;
  };
  const pending = (id: number) => {
    const dv = ringOf(id);
    const nr = dv.getUint32(4, true);
    return (dv.getUint32(12, true) - dv.getUint32(8, true) + nr) % nr;
  };

  /** Wait (bounded) until every ring holds what the model says is due; then it must be exactly that. */
  const settle = () => {
    for (const [id, ctx] of model.ctxs) {
      const want = model.ringCount(ctx);
      const deadline = Date.now() + SETTLE_MS;
      const dv = ringOf(id);
      const tail = new Int32Array(dv.buffer, dv.byteOffset + 12, 1);
      // Spin briefly, then wait on the ring's tail word (woken by a change or after 1 ms, then
      // re-checked): the device thread and the kworker need the cpu more than this thread does.
      for (let spins = 0; pending(id) < want && Date.now() < deadline; spins++) {
        if (spins > 200) Atomics.wait(tail, 0, Atomics.load(tail, 0), 1);
      }
      eq(`events in the ring of ctx ${id}`, pending(id), want);
    }
    eq('aio_nr', k.aio_nr, model.aioNr);
  };

  /** The bytes a read's buffers must hold once its event is consumed `via`. */
  const checkBufs = (r: MReq, via: 'getevents' | 'ring' | 'destroy-done' | 'destroy-cancelled') => {
    const l = live.get(r.serial)!;
    live.delete(r.serial);
    if (!l.read || !l.bufs) return;
    let delivered = r.res > 0 && r.bytes ? r.bytes : new Uint8Array(0);
    if (l.nullRead || via === 'destroy-cancelled' || (via === 'ring' && l.kind === 'plain')) delivered = new Uint8Array(0);
    const total = l.bufs.reduce((a, b) => a + b.length, 0);
    const want = new Uint8Array(total).fill(FILL);
    want.set(delivered.subarray(0, total));
    const got = new Uint8Array(total);
    let at = 0;
    for (const b of l.bufs) { got.set(b, at); at += b.length; }
    for (let i = 0; i < total; i++) {
      if (got[i] !== want[i]) fail(`buffer of ${JSON.stringify(r.entry)} (res ${r.res}, ${l.kind}, via ${via}) byte ${i}: ${got[i]}, model ${want[i]}`);
    }
  };

  // k.buffer() blocks are freed by the garbage collector, which a tight loop of small runs can
  // outpace (ENOMEM after ~166k blocks in 64 MiB): carve them from one block per rig instead,
  // reused from the start by every run (each run consumes all its requests before it ends).
  rig.arena ??= k.buffer(1 << 20);
  let arenaAt = 0;
  const kbuf = (n: number): Uint8Array => {
    if (arenaAt + n > rig.arena!.length) return k.buffer(n);
    const b = rig.arena!.subarray(arenaAt, arenaAt + n);
    arenaAt += (n + 7) & ~7;
    return b;
  };
  const buf = (kind: BufKind, n: number, fill?: Uint8Array): Uint8Array => {
    const b = kind === 'kbuf' && n > 0 ? kbuf(n) : new Uint8Array(n);
    if (fill) b.set(fill);
    else b.fill(FILL);
    return b;
  };

  const build = (e: Entry, data: bigint): { iocb: Iocb | null; l: Omit<Live, 'iocb'> } => {
    const none = { bufs: null, kind: 'plain' as BufKind, read: false, nullRead: false };
    const d0 = rig.disks[0];
    switch (e.t) {
      case 'disk': {
        const d = rig.disks[e.disk];
        const total = e.lens.reduce((a, b) => a + b, 0);
        const data8 = e.write ? content(e.seed, total) : undefined;
        let at = 0;
        const bufs = e.lens.map((n) => { const b = buf(e.buf, n, data8?.subarray(at, at + n)); at += n; return b; });
        const op = e.vec ? (e.write ? IOCB_CMD.PWRITEV : IOCB_CMD.PREADV) : e.write ? IOCB_CMD.PWRITE : IOCB_CMD.PREAD;
        const iocb: Iocb = { aio_lio_opcode: op, aio_fildes: e.ro ? d.ro : d.rw, aio_buf: e.vec ? bufs : bufs[0], aio_offset: e.off, aio_data: data };
        if (e.vec) iocb.aio_nbytes = bufs.length;
        return { iocb, l: { bufs, kind: e.buf, read: !e.write, nullRead: false } };
      }
      case 'null': {
        // Plain buffers too: a null-device read must leave them untouched (divergence 1 in
        // docs/FUZZ.md, fixed; test/fuzz-divergences.test.ts keeps it fixed).
        const kind: BufKind = 'plain';
        const b = buf(kind, e.len);
        return { iocb: { aio_lio_opcode: e.write ? IOCB_CMD.PWRITE : IOCB_CMD.PREAD, aio_fildes: rig.nullFd, aio_buf: b, aio_offset: 0, aio_data: data }, l: { bufs: [b], kind, read: !e.write, nullRead: true } };
      }
      case 'piper': {
        const b = buf(e.buf, e.len);
        return { iocb: { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: pipes[e.pipe][0], aio_buf: b, aio_data: data }, l: { bufs: [b], kind: e.len > 0 ? e.buf : 'plain', read: true, nullRead: false } };
      }
      case 'pipew':
        return { iocb: { aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: pipes[e.pipe][1], aio_buf: buf('plain', e.len, content(e.seed, e.len)), aio_data: data }, l: none };
      case 'poll':
        return { iocb: { aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: pipes[e.pipe][e.wend ? 1 : 0], aio_buf: e.events as never, aio_data: data }, l: none };
      case 'polldisk':
        return { iocb: { aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: rig.disks[e.disk].rw, aio_buf: e.events as never, aio_data: data }, l: none };
      case 'noop':
        return { iocb: { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: rig.nullFd, aio_data: data }, l: none };
      case 'bad': {
        const base: Iocb = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: d0.rw, aio_buf: new Uint8Array(16), aio_offset: 0, aio_data: data };
        switch (e.why) {
          case 'null': return { iocb: null, l: none };
          case 'reserved': return { iocb: { ...base, aio_reserved2: 1 } as Iocb, l: none };
          case 'badfd': return { iocb: { ...base, aio_fildes: 999 }, l: none };
          case 'opcode': return { iocb: { ...base, aio_lio_opcode: 99 }, l: none };
          case 'roWrite': return { iocb: { ...base, aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: d0.ro }, l: none };
          case 'nbytesBig': return { iocb: { ...base, aio_nbytes: 17 }, l: none };
          case 'negoff': return { iocb: { ...base, aio_offset: -512 }, l: none };
          case 'pollZero': return { iocb: { aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: d0.rw, aio_buf: 0 as never, aio_data: data }, l: none };
        }
      }
    }
  };

  const observedOf = (evs: IoEvent[]): Observed[] => evs.map((ev) => ({ key: (ev.obj as Iocb).aio_key!, data: ev.data, res: ev.res, res2: ev.res2 }));

  const consumeEvents = (id: number, evs: IoEvent[]) => {
    const got = model.consume(id, observedOf(evs));
    for (const r of got) hit(`event ${r.entry.t} res ${r.res < 0 ? r.res : r.res > 0 ? '>0' : 0}`);
    got.forEach((r, i) => {
      if (evs[i].obj !== live.get(r.serial)!.iocb) fail(`event ${i}: obj is not the submitted iocb`);
      checkBufs(r, 'getevents');
    });
  };

  const exec = (cmd: Cmd) => {
    switch (cmd.c) {
      case 'setup': {
        const want = model.setup(cmd.nr);
        const got = k.io_setup(cmd.nr);
        if (want < 0) return eq(`io_setup(${cmd.nr})`, got, want);
        if (!(got > 0) || model.ctxs.has(got)) fail(`io_setup(${cmd.nr}): kaio ${got}, model a new id`);
        const ctx = model.addCtx(got, cmd.nr);
        created.push(got);
        const st = k.ctxStat(got)!;
        eq(`capacity of io_setup(${cmd.nr})`, st.nr, ctx.capacity);
        eq(`ring of io_setup(${cmd.nr})`, st.ringNr, ctx.ringNr);
        return;
      }
      case 'submit':
      case 'fill': {
        const id = resolve(cmd.ctx);
        const gen: GenEntry[] = cmd.c === 'fill' ? Array.from({ length: cmd.n }, (_, i) => ({ e: { t: 'noop' }, data: BigInt(i) })) : cmd.entries;
        const built = gen.map((g) => build(g.e, g.data));
        const iocbs = built.map((b) => b.iocb);
        const nr = cmd.c === 'fill' || cmd.nr === 'all' ? iocbs.length : cmd.nr === 'neg' ? -1 : Math.max(0, iocbs.length - 1);
        const want = model.submit(id, gen.map((g) => g.e), gen.map((g) => g.data), nr);
        const got = k.io_submit(id, iocbs as Iocb[], nr);
        eq(`io_submit(${id}, [${gen.map((g) => g.e.t === 'bad' ? g.e.why : g.e.t).join(',')}], ${nr})`, got, want.ret);
        const keys = new Set<number>();
        want.keys.forEach((kw, i) => {
          const iocb = iocbs[i];
          if (!iocb) return;
          const key = iocb.aio_key;
          if (kw === 'untouched' && key !== undefined) fail(`aio_key of entry ${i}: ${key}, model untouched`);
          if (kw === 'zero' && key !== 0) fail(`aio_key of entry ${i}: ${key}, model 0 (failed after put_user)`);
          if (kw === 'set' && (!Number.isInteger(key) || key! < 0 || keys.has(key!))) fail(`aio_key of entry ${i}: ${key}, model a fresh key`);
          if (kw === 'set') keys.add(key!);
        });
        let j = 0;
        want.keys.forEach((kw, i) => {
          if (kw !== 'set') return;
          const r = want.reqs[j++];
          r.key = iocbs[i]!.aio_key!;
          if (r.ctx.keys.has(r.key)) fail(`aio_key ${r.key} issued twice on ctx ${id} (S3)`);
          r.ctx.keys.add(r.key);
          reqs.push(r);
          live.set(r.serial, { iocb: iocbs[i]!, ...built[i].l });
        });
        return;
      }
      case 'cancel': {
        const id = resolve(cmd.ctx);
        let prev: MReq | undefined;
        const asked = new Set<MReq>();
        for (const ref of cmd.refs) {
          let arg: unknown;
          let key: number | undefined;
          let r: MReq | undefined;
          if (ref.k === 'req' || ref.k === 'same') {
            r = ref.k === 'same' ? prev : reqs.length > 0 ? reqs[ref.i % reqs.length] : undefined;
            if (!r) continue;
            key = r.key;
            const l = live.get(r.serial);
            arg = ref.k === 'req' && ref.asObj && l ? l.iocb : { aio_key: key };
          } else if (ref.k === 'forged') {
            key = ref.v;
            arg = { aio_key: key };
          } else if (ref.k === 'nokey') arg = {};
          else arg = null;
          const got = k.io_cancel(id, arg as Iocb);
          if (ref.k === 'null') { eq('io_cancel(null)', got, -E.EFAULT); continue; }
          // The ctx's own request of that key (a key names a request only on its context).
          const ctx = model.ctxs.get(id);
          const target = ctx ? [...ctx.live].find((x) => x.key === key) : undefined;
          if (target && asked.has(target) && target.state === 'done') {
            // A second cancel in the same breath: -EINPROGRESS until the event is published (S5), then -EINVAL.
            if (got !== -E.EINPROGRESS && got !== -E.EINVAL) fail(`second io_cancel: ${got}`);
          } else {
            const want = model.cancel(id, key);
            eq(`io_cancel(${id}, key ${key})`, got, want);
            if (want === -E.EINPROGRESS) asked.add(target!);
          }
          prev = r;
        }
        return;
      }
      case 'getevents': {
        const id = resolve(cmd.ctx);
        const want = model.getevents(id, cmd.min, cmd.nr);
        const ctx = model.ctxs.get(id);
        // Never wait for what cannot arrive: everything due is already in the ring.
        const timeout = ctx && cmd.min > model.ringCount(ctx) ? 0 : cmd.timeout;
        const evs: IoEvent[] = [];
        const got = k.io_getevents(id, cmd.min, cmd.nr, evs, timeout);
        eq(`io_getevents(${id}, ${cmd.min}, ${cmd.nr}, ${timeout})`, got, want);
        if (got > 0) eq('events filled', evs.length, got);
        if (got > 0) consumeEvents(id, evs);
        return;
      }
      case 'ring': {
        const id = resolve(cmd.ctx);
        const ctx = model.ctxs.get(id);
        if (!ctx) {
          let code: unknown;
          try { k.ring(id); } catch (e) { code = (e as { code?: string }).code; }
          return eq(`k.ring(${id})`, code, 'EINVAL');
        }
        const dv = ringOf(id);
        eq('ring magic', dv.getUint32(16, true), 0xa10a10a1);
        eq('ring nr', dv.getUint32(4, true), ctx.ringNr);
        const nr = ctx.ringNr;
        let head = dv.getUint32(8, true);
        const n = Math.min(cmd.n, pending(id));
        eq('ring: events available', n, Math.min(cmd.n, model.ringCount(ctx)));
        const obs: Observed[] = [];
        for (let i = 0; i < n; i++) {
          const o = 32 + head * 32;
          obs.push({ data: dv.getBigUint64(o, true), key: Number(dv.getBigUint64(o + 8, true)), res: Number(dv.getBigInt64(o + 16, true)), res2: Number(dv.getBigInt64(o + 24, true)) });
          head = (head + 1) % nr;
        }
        dv.setUint32(8, head, true);
        for (const r of model.consume(id, obs)) checkBufs(r, 'ring');
        return;
      }
      case 'destroy': {
        const id = resolve(cmd.ctx);
        const want = model.destroy(id);
        const got = k.io_destroy(id);
        eq(`io_destroy(${id})`, got, want.ret);
        if (got === 0) {
          dead.push(id);
          rings.delete(id);
          for (const r of want.discarded) checkBufs(r, 'destroy-done');
          for (const r of want.cancelled) checkBufs(r, 'destroy-cancelled');
          discarded += want.discarded.length + want.cancelled.length;
        }
        return;
      }
      case 'run': {
        const id = resolve(cmd.ctx);
        const ctx = model.ctxs.get(id);
        const w = ctx ? model.ringCount(ctx) + model.queuedOn(cmd.disk, ctx) : 0;
        model.runDevice(cmd.disk);
        model.endCommand();
        const dev = k.device(rig.disks[cmd.disk].path);
        dev.resume();
        try {
          if (w > 0) {
            // A wait that must be satisfied: exactly w events are due on this context.
            const evs: IoEvent[] = [];
            eq(`io_getevents(${id}, ${w}, ${w}, 10000) after resume`, k.io_getevents(id, w, w, evs, 10_000), w);
            consumeEvents(id, evs);
          }
          settle();
        } finally {
          dev.pause();
        }
        return;
      }
      case 'pwrite': {
        const want = model.pipeWrite(cmd.pipe, cmd.len, cmd.seed);
        eq(`k.write(pipe ${cmd.pipe}, ${cmd.len})`, k.write(pipes[cmd.pipe][1], content(cmd.seed, cmd.len)), want);
        return;
      }
    }
  };

  try {
    cmds.forEach((cmd, i) => {
      try {
        exec(cmd);
        model.endCommand();
        settle();
      } catch (e) {
        (e as Error).message = `command ${i} ${JSON.stringify(cmd, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}: ${(e as Error).message}`;
        throw e;
      }
    });
    // Tear down through the model too: destroy every live context, then compare what is left.
    for (const id of liveIds()) exec({ c: 'destroy', ctx: { k: 'bogus', v: id } });
    eq('aio_nr at the end', k.aio_nr, 0);
    eq('events io_destroy discarded', k.stats().eventsDiscarded - discarded0, discarded);
    rig.disks.forEach((d, i) => {
      eq(`device ${i} dispatched`, Number(k.device(d.path).stats().dispatched) - dispatched0[i], model.disks[i].dispatched);
      const b = new Uint8Array(DISK_SIZE);
      eq(`pread of disk ${i}`, k.pread(d.rw, b, 0), DISK_SIZE);
      const m = model.disks[i].bytes;
      for (let j = 0; j < DISK_SIZE; j++) if (b[j] !== m[j]) fail(`disk ${i} byte ${j}: ${b[j]}, model ${m[j]}`);
    });
    pipes.forEach(([r], i) => {
      const want = model.pipes[i].data;
      const b = new Uint8Array(want.length + 1);
      const got = k.read(r, b);
      eq(`pipe ${i} contents`, got, want.length === 0 ? -E.EAGAIN : want.length);
      for (let j = 0; j < want.length; j++) if (b[j] !== want[j]) fail(`pipe ${i} byte ${j}: ${b[j]}, model ${want[j]}`);
    });
  } finally {
    for (const id of new Set(created)) k.io_destroy(id); // -EINVAL for those already destroyed
    for (const [r, w] of pipes) { k.close(r); k.close(w); }
    for (const d of rig.disks) k.device(d.path).pause();
  }
}
