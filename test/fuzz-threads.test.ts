// Description: property-based fuzz with two worker threads attached to one kernel (issue 8):
// fast-check picks which thread runs each command (submit, cancel by key, reap), and pairs of
// commands run concurrently on the two threads.
// Invariant: every submitted request yields exactly one event, reaped by exactly one thread (none
// lost, none duplicated); res is right for its kind (NOOP 0, nulldev nbytes, pipe read 1..nbytes
// bytes); -ECANCELED only where some io_cancel returned -EINPROGRESS; the bytes the pipe reads took
// plus what is left in the pipe are exactly the bytes written, in order.
import fc from 'fast-check';
import { IOCB_CMD, errno } from 'kaio';
import { tBoot, tWorker, type TWorker } from './helpers';

const TOTAL = Number(process.env.FUZZ_RUNS ?? 10_000);
const RUNS = Math.max(1, Math.round(TOTAL * 0.05));
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

type Kind = 'noop' | 'null' | 'piper';
type TCmd =
  | { c: 'submit'; th: number; kinds: Array<{ kind: Kind; len: number }> }
  | { c: 'cancel'; th: number; i: number }
  | { c: 'reap'; th: number; nr: number }
  | { c: 'pwrite'; len: number };

const tcmd: fc.Arbitrary<TCmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ c: fc.constant('submit' as const), th: fc.nat(1), kinds: fc.array(fc.record({ kind: fc.constantFrom<Kind>('noop', 'null', 'piper', 'piper'), len: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ c: fc.constant('cancel' as const), th: fc.nat(1), i: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ c: fc.constant('reap' as const), th: fc.nat(1), nr: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('pwrite' as const), len: fc.integer({ min: 1, max: 6 }) }) },
);

interface Ev { data: bigint; res: number; key: number; buf?: number[] }

// Worker-side functions (self-contained: they run from source in the worker).
const wSubmit = ({ k, kaio }: any, a: { run: number; ctx: number; fds: { null: number; pipe: number }; reqs: Array<{ id: number; kind: Kind; len: number }> }) => {
  const C = kaio.IOCB_CMD;
  // One k.buffer() block per worker, carved anew by every run (k.buffer blocks are freed by GC,
  // which a tight loop can outpace); a run's requests are all consumed before the next starts.
  const g = globalThis as any;
  if (!g.fuzzArena) g.fuzzArena = k.buffer(1 << 16);
  if (g.fuzzRun !== a.run) { g.fuzzRun = a.run; g.fuzzAt = 0; }
  const carve = (n: number) => { const b = g.fuzzArena.subarray(g.fuzzAt, g.fuzzAt + n); g.fuzzAt += n; return b; };
  const iocbs = a.reqs.map((r) => r.kind === 'noop'
    ? { aio_lio_opcode: C.NOOP, aio_fildes: a.fds.null, aio_data: BigInt(r.id) }
    : { aio_lio_opcode: C.PREAD, aio_fildes: r.kind === 'null' ? a.fds.null : a.fds.pipe, aio_buf: carve(r.len), aio_offset: 0, aio_data: BigInt(r.id) });
  const ret = k.io_submit(a.ctx, iocbs);
  (globalThis as any).fuzzBufs ??= new Map();
  iocbs.forEach((c: any, i: number) => { if (c.aio_buf) (globalThis as any).fuzzBufs.set(a.reqs[i].id, c.aio_buf); });
  return { ret, keys: iocbs.map((c: any) => c.aio_key) };
};
const wCancel = ({ k }: any, a: { ctx: number; key: number }) => k.io_cancel(a.ctx, { aio_key: a.key });
const wReap = ({ k }: any, a: { ctx: number; min: number; nr: number; timeout: number }) => {
  const evs: any[] = [];
  const n = k.io_getevents(a.ctx, a.min, a.nr, evs, a.timeout);
  if (n < 0) return n;
  // k.buffer() memory is shared: the worker that submitted holds the view; read it there or here by id.
  return evs.map((e) => ({ data: e.data, res: e.res, key: e.obj.aio_key }));
};
const wBufs = (_env: any, ids: number[]) => ids.map((id) => Array.from((globalThis as any).fuzzBufs?.get(id) ?? []));

describe('two threads on one kernel, against the invariants', () => {
  let k: Awaited<ReturnType<typeof tBoot>>;
  let ws: TWorker[];
  let nullFd: number;
  let runs = 0;
  beforeAll(async () => {
    k = await tBoot({ lookup: 'tags' });
    nullFd = k.open(k.nulldev(`fzt${process.pid}`), 'rw');
    ws = [await tWorker(k), await tWorker(k)];
  });

  test(`${RUNS} random two-thread sequences`, async () => {
    await fc.assert(fc.asyncProperty(fc.array(tcmd, { minLength: 1, maxLength: 14 }), async (cmds) => {
      const runNo = ++runs;
      const ctx = k.io_setup(128);
      expect(ctx).toBeGreaterThan(0);
      const [r, w] = k.pipe();
      const reqs: Array<{ id: number; kind: Kind; len: number; key: number; th: number; cancelled: boolean }> = [];
      const events = new Map<bigint, Ev & { th: number }>();
      let written = 0;
      const reaped = (th: number, evs: Ev[] | number) => {
        expect(typeof evs).toBe('object');
        for (const ev of evs as Ev[]) {
          if (events.has(ev.data)) throw new Error(`request ${ev.data} reaped twice (threads ${events.get(ev.data)!.th} and ${th})`);
          events.set(ev.data, { ...ev, th });
        }
      };
      const one = async (cmd: TCmd): Promise<void> => {
        switch (cmd.c) {
          case 'submit': {
            const base = reqs.length;
            const mine = cmd.kinds.map((x, i) => ({ id: base + i, kind: x.kind, len: x.len, key: -1, th: cmd.th, cancelled: false }));
            reqs.push(...mine);
            const out = await ws[cmd.th].run(wSubmit, { run: runNo, ctx, fds: { null: nullFd, pipe: r }, reqs: mine.map(({ id, kind, len }) => ({ id, kind, len })) });
            expect(out.ret).toBe(mine.length);
            mine.forEach((m, i) => { m.key = out.keys[i]; });
            return;
          }
          case 'cancel': {
            const target = reqs.filter((x) => x.key >= 0);
            if (target.length === 0) return;
            const t = target[cmd.i % target.length];
            const got = await ws[cmd.th].run(wCancel, { ctx, key: t.key });
            expect([-errno.EINPROGRESS, -errno.EINVAL]).toContain(got);
            if (got === -errno.EINPROGRESS) t.cancelled = true;
            return;
          }
          case 'reap':
            return reaped(cmd.th, await ws[cmd.th].run(wReap, { ctx, min: 0, nr: cmd.nr, timeout: 0 }));
          case 'pwrite': {
            const data = new Uint8Array(cmd.len).map((_, i) => (written + i) & 0xff);
            expect(k.write(w, data)).toBe(cmd.len);
            written += cmd.len;
            return;
          }
        }
      };
      try {
        // Pairs of commands run concurrently, one per thread when they differ.
        for (let i = 0; i < cmds.length; i += 2) await Promise.all(cmds.slice(i, i + 2).map(one));
        // Feed every read still waiting, then reap everything, alternately on both threads (bounded).
        // (the stream stays under 256 bytes, so its bytes are its positions)
        const feed = reqs.filter((x) => x.kind === 'piper').reduce((a, x) => a + x.len, 0);
        const tail = new Uint8Array(feed).map((_, i) => (written + i) & 0xff);
        if (feed > 0) expect(k.write(w, tail)).toBe(feed);
        written += feed;
        for (let round = 0; events.size < reqs.length && round < 200; round++) {
          reaped(round & 1, await ws[round & 1].run(wReap, { ctx, min: 1, nr: 64, timeout: 50 }));
        }
        expect(events.size).toBe(reqs.length); // none lost
        expect(k.io_getevents(ctx, 0, 64, [], 0)).toBe(0); // none extra
        // Results, and the pipe's bytes in order.
        const pipeReads: Array<{ id: number; n: number; th: number }> = [];
        for (const q of reqs) {
          const ev = events.get(BigInt(q.id))!;
          expect(ev.key).toBe(q.key);
          if (ev.res === -errno.ECANCELED) { expect([q.id, q.cancelled]).toEqual([q.id, true]); continue; }
          if (q.kind === 'noop') expect(ev.res).toBe(0);
          else if (q.kind === 'null') expect(ev.res).toBe(q.len);
          else { expect(ev.res).toBeGreaterThanOrEqual(1); expect(ev.res).toBeLessThanOrEqual(q.len); pipeReads.push({ id: q.id, n: ev.res, th: q.th }); }
        }
        const bytes: number[] = [];
        const bufs = new Map<number, number[]>();
        for (const th of [0, 1]) {
          const ids = pipeReads.filter((p) => p.th === th).map((p) => p.id);
          const got = await ws[th].run(wBufs, ids);
          ids.forEach((id, i) => bufs.set(id, got[i] as number[]));
        }
        // Readers are served in the order they queued, which the threads' interleaving decides:
        // each read's bytes must be one contiguous run of the stream, and the runs must tile it.
        const runs = pipeReads.map((p) => bufs.get(p.id)!.slice(0, p.n)).sort((a, b) => a[0] - b[0]);
        for (const run of runs) bytes.push(...run);
        const left = new Uint8Array(written + 1);
        const n = k.read(r, left);
        const total = bytes.length + (n > 0 ? n : 0);
        expect(total).toBe(written);
        const stream = [...bytes, ...(n > 0 ? left.subarray(0, n) : [])];
        expect(written).toBeLessThan(256);
        expect(stream).toEqual(Array.from({ length: written }, (_, i) => i & 0xff));
      } finally {
        expect(k.io_destroy(ctx)).toBe(0);
        k.close(r);
        k.close(w);
      }
    }), { numRuns: RUNS, seed });
  }, 3_600_000);
});
