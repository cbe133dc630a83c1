// Description: md RAID5 (S8): k.raid5 over ramdisks, left-symmetric layout, XOR parity,
// degraded mode, rebuild, and the pinned cancel rule for writes.
// Invariant: parity holds on every stripe after any mix of writes, cancels, pauses and
// failures; a write whose event says it completed is on the media in full, one that says
// -ECANCELED left data and parity untouched; reads are cancellable like any bio.
import { errno, type Kernel, type IoEvent } from 'kaio';
import { tBoot, tDisk, tRead, tReap, tWrite } from './helpers';

let seq = 0;
const name = (p: string) => `${p}${process.pid}_${seq++}`;
const CHUNK = 4096;

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17 + (i >> 9) + 1) & 0xff;
  return b;
}

function rw(k: Kernel, path: string, write: boolean, off: number, data: Buffer): number {
  const fd = k.open(path, 'rw');
  const ctx = k.io_setup(4);
  expect(k.io_submit(ctx, [write ? tWrite(fd, data, off) : tRead(fd, data, off)])).toBe(1);
  const res = tReap(k, ctx, 1)[0].res;
  expect(k.io_destroy(ctx)).toBe(0);
  expect(k.close(fd)).toBe(0);
  return res;
}

function until(read: () => number, n: number): void {
  const deadline = Date.now() + 10_000;
  while (read() < n && Date.now() < deadline);
  expect(read()).toBe(n);
}

interface Array5 { k: Kernel; raid: string; members: string[]; stripes: number; n: number }

async function array(n = 3, memberBytes = 16 * CHUNK): Promise<Array5> {
  const k = await tBoot();
  const members = Array.from({ length: n }, () => tDisk(k, { sizeBytes: memberBytes, serviceTimeUs: 0 }).path);
  const raid = k.raid5(name('md'), members, { chunkBytes: CHUNK });
  await k.device(raid).ready();
  return { k, raid, members, stripes: memberBytes / CHUNK, n };
}

/** Every member read directly; parity (XOR of the n chunks of each stripe) is 0 everywhere. */
function checkParity(a: Array5): Buffer[] {
  const media = a.members.map((m) => {
    const b = Buffer.alloc(a.stripes * CHUNK);
    expect(rw(a.k, m, false, 0, b)).toBe(b.length);
    return b;
  });
  for (let s = 0; s < a.stripes; s++) {
    const x = Buffer.alloc(CHUNK);
    for (const m of media) for (let i = 0; i < CHUNK; i++) x[i] ^= m[s * CHUNK + i];
    expect([s, x.every((v) => v === 0)]).toEqual([s, true]);
  }
  return media;
}

/** Logical chunk c of the array, read from the members as md lays it out. */
function logicalChunk(a: Array5, media: Buffer[], c: number): Buffer {
  const s = Math.floor(c / (a.n - 1));
  const parity = a.n - 1 - (s % a.n);
  const member = (parity + 1 + (c % (a.n - 1))) % a.n;
  return media[member].subarray(s * CHUNK, (s + 1) * CHUNK);
}

describe('md RAID5', () => {
  test('left-symmetric layout: data chunk k of stripe s on member (p + 1 + k) % n, parity p = n - 1 - s % n', async () => {
    const a = await array(4);
    const size = a.stripes * (a.n - 1) * CHUNK;
    const data = pattern(size, 1);
    expect(rw(a.k, a.raid, true, 0, data)).toBe(size);
    const media = checkParity(a);
    for (let c = 0; c < a.stripes * (a.n - 1); c++) {
      expect([c, logicalChunk(a, media, c).equals(data.subarray(c * CHUNK, (c + 1) * CHUNK))]).toEqual([c, true]);
    }
    const back = Buffer.alloc(size);
    expect(rw(a.k, a.raid, false, 0, back)).toBe(size);
    expect(back.equals(data)).toBe(true);
    // Its size: whole stripes of n - 1 data chunks; past it, a read is 0 and a write -ENOSPC.
    expect(rw(a.k, a.raid, false, size, Buffer.alloc(512))).toBe(0);
    expect(rw(a.k, a.raid, true, size, Buffer.alloc(512))).toBe(-errno.ENOSPC);
  });

  test('small unaligned writes (read-modify-write of part of a chunk, across chunk and stripe ends) keep parity', async () => {
    const a = await array(3);
    const image = Buffer.alloc(a.stripes * (a.n - 1) * CHUNK);
    const writes: Array<[number, number]> = [[100, 1000], [CHUNK - 10, 30], [2 * CHUNK - 700, 1500], [5 * CHUNK + 1, 3 * CHUNK]];
    writes.forEach(([off, len], i) => {
      const d = pattern(len, 10 + i);
      expect(rw(a.k, a.raid, true, off, d)).toBe(len);
      d.copy(image, off);
    });
    const media = checkParity(a);
    for (let c = 0; c < image.length / CHUNK; c++) expect([c, logicalChunk(a, media, c).equals(image.subarray(c * CHUNK, (c + 1) * CHUNK))]).toEqual([c, true]);
  });

  test('degraded: one member failed, reads reconstruct and writes keep parity; recover() rebuilds it', async () => {
    const a = await array(3);
    const size = a.stripes * (a.n - 1) * CHUNK;
    const image = pattern(size, 2);
    expect(rw(a.k, a.raid, true, 0, image)).toBe(size);
    const dev = a.k.device(a.raid);
    a.k.device(a.members[1]).fail();
    expect(rw(a.k, a.members[1], false, 0, Buffer.alloc(512))).toBe(-errno.EIO); // the member itself answers -EIO
    until(() => dev.faultyMembers().length, 1);
    expect(dev.faultyMembers()).toEqual([1]);
    const back = Buffer.alloc(size);
    expect(rw(a.k, a.raid, false, 0, back)).toBe(size);
    expect(back.equals(image)).toBe(true);
    // A degraded write, over chunks whose data member is the failed one and others.
    const d = pattern(3 * CHUNK + 123, 3);
    expect(rw(a.k, a.raid, true, CHUNK + 7, d)).toBe(d.length);
    d.copy(image, CHUNK + 7);
    expect(rw(a.k, a.raid, false, 0, back)).toBe(size);
    expect(back.equals(image)).toBe(true);
    a.k.device(a.members[1]).recover();
    const deadline = Date.now() + 10_000;
    while (dev.faultyMembers().length > 0 && Date.now() < deadline);
    expect(dev.faultyMembers()).toEqual([]);
    const media = checkParity(a);
    for (let c = 0; c < size / CHUNK; c++) expect([c, logicalChunk(a, media, c).equals(image.subarray(c * CHUNK, (c + 1) * CHUNK))]).toEqual([c, true]);
  });

  test('two members failed: reads and writes are -EIO', async () => {
    const a = await array(4);
    a.k.device(a.members[0]).fail();
    a.k.device(a.members[2]).fail();
    until(() => a.k.device(a.raid).faultyMembers().length, 2);
    expect(rw(a.k, a.raid, false, 0, Buffer.alloc(3 * CHUNK))).toBe(-errno.EIO);
    expect(rw(a.k, a.raid, true, 0, Buffer.alloc(3 * CHUNK))).toBe(-errno.EIO);
  });

  test('a write cancelled before any member write: -ECANCELED, data and parity untouched', async () => {
    const a = await array(3);
    const dev = a.k.device(a.raid);
    for (const m of a.members) a.k.device(m).pause(); // its pre-reads wait in the members' queues
    const fd = a.k.open(a.raid, 'rw');
    const ctx = a.k.io_setup(4);
    const io = tWrite(fd, pattern(CHUNK, 4), 0, 1n);
    expect(a.k.io_submit(ctx, [io])).toBe(1);
    until(() => dev.stats().dispatched, 1); // taken by the RAID5 thread
    expect(a.k.io_cancel(ctx, io)).toBe(-errno.EINPROGRESS);
    const ev = tReap(a.k, ctx, 1); // promptly, the members still paused
    expect(ev[0].res).toBe(-errno.ECANCELED);
    for (const m of a.members) a.k.device(m).resume();
    const media = checkParity(a);
    expect(media.every((m) => m.every((v) => v === 0))).toBe(true);
  });

  test('a write cancelled after its first member write: completes in full, on the media', async () => {
    const a = await array(3);
    // Stripe 0's parity is on member 2: hold it, so its parity write cannot finish.
    const par = a.k.device(a.members[2]);
    par.hold();
    const fd = a.k.open(a.raid, 'rw');
    const ctx = a.k.io_setup(4);
    const data = pattern(2 * CHUNK, 5); // the whole of stripe 0
    const io = tWrite(fd, data, 0, 1n);
    expect(a.k.io_submit(ctx, [io])).toBe(1);
    until(() => par.stats().dispatched, 1); // the parity write has reached member 2
    expect(a.k.io_cancel(ctx, io)).toBe(-errno.EINPROGRESS);
    par.release();
    expect(tReap(a.k, ctx, 1)[0].res).toBe(2 * CHUNK);
    const media = checkParity(a);
    expect(Buffer.concat([logicalChunk(a, media, 0), logicalChunk(a, media, 1)]).equals(data)).toBe(true);
  });

  test('a read whose member is paused is cancelled in that member\'s queue: -ECANCELED at once', async () => {
    const a = await array(3);
    // Logical chunk 0: stripe 0, parity on member 2, data on member 0.
    a.k.device(a.members[0]).pause();
    const fd = a.k.open(a.raid, 'r');
    const ctx = a.k.io_setup(4);
    const io = tRead(fd, Buffer.alloc(CHUNK), 0, 1n);
    expect(a.k.io_submit(ctx, [io])).toBe(1);
    until(() => a.k.device(a.raid).stats().dispatched, 1);
    // Taken by the RAID5 thread; cancel once its child read waits in member 0's stage 1. (A cancel
    // before the thread queued the child ends the read in the thread: member 0 never sees it.)
    until(() => a.k.snapshot().devices.find((d) => d.path === a.members[0])!.softwareQueue, 1);
    expect(a.k.io_cancel(ctx, io)).toBe(-errno.EINPROGRESS);
    expect(tReap(a.k, ctx, 1)[0].res).toBe(-errno.ECANCELED);
    expect(a.k.device(a.members[0]).stats()).toMatchObject({ dispatched: 0, cancelledQueued: 1 });
  });

  test('cancel storm under load: random cancels, members paused and resumed at random; parity holds, events tell the truth', async () => {
    const a = await array(4, 32 * CHUNK);
    const fd = a.k.open(a.raid, 'rw');
    const chunks = a.stripes * (a.n - 1);
    const ctx = a.k.io_setup(chunks + 8);
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    // One write per logical chunk, to distinct places: each one's fate is readable on the media.
    const ios = Array.from({ length: chunks }, (_, c) => tWrite(fd, pattern(CHUNK, 100 + c), c * CHUNK, BigInt(c)));
    const evs: IoEvent[] = [];
    const results = new Map<bigint, number>();
    // One of each outcome whatever the scheduling: the first write is cancelled while the paused
    // RAID5 device still holds it in its stage 1, and the last one is never a cancel target, so it
    // completes once the members are resumed. The storm decides the others.
    const raidDev = a.k.device(a.raid);
    raidDev.pause();
    expect(a.k.io_submit(ctx, [ios[0]])).toBe(1);
    expect(a.k.io_cancel(ctx, ios[0])).toBe(-errno.EINPROGRESS);
    raidDev.resume();
    let next = 1;
    for (let round = 0; round < 400 && (next < chunks || results.size < chunks); round++) {
      const m = a.k.device(a.members[Math.floor(rnd() * a.n)]);
      if (rnd() < 0.5) m.pause(); else m.resume();
      if (next < chunks) {
        const batch = ios.slice(next, next + 1 + Math.floor(rnd() * 4));
        expect(a.k.io_submit(ctx, batch)).toBe(batch.length);
        next += batch.length;
      }
      for (let j = 0; j < 3 && next > 0; j++) {
        const t = Math.floor(rnd() * next);
        if (t === chunks - 1) continue; // the write that must complete
        const r = a.k.io_cancel(ctx, ios[t]);
        expect([-errno.EINPROGRESS, -errno.EINVAL]).toContain(r);
      }
      const got = a.k.io_getevents(ctx, 0, chunks, evs, 0);
      for (let i = 0; i < got; i++) results.set(evs[i].data, evs[i].res);
      if (next === chunks && round > 300) for (const p of a.members) a.k.device(p).resume();
    }
    for (const p of a.members) a.k.device(p).resume();
    while (results.size < chunks) {
      const got = a.k.io_getevents(ctx, 1, chunks, evs, 10_000);
      expect(got).toBeGreaterThan(0);
      for (let i = 0; i < got; i++) {
        expect(results.has(evs[i].data)).toBe(false); // each event once
        results.set(evs[i].data, evs[i].res);
      }
    }
    expect(a.k.io_getevents(ctx, 0, chunks, evs, 0)).toBe(0);
    const media = checkParity(a);
    let cancelled = 0;
    for (let c = 0; c < chunks; c++) {
      const res = results.get(BigInt(c));
      expect([CHUNK, -errno.ECANCELED]).toContain(res);
      const on = logicalChunk(a, media, c);
      if (res === CHUNK) expect([c, on.equals(pattern(CHUNK, 100 + c))]).toEqual([c, true]);
      else { cancelled++; expect([c, on.every((v) => v === 0)]).toEqual([c, true]); }
    }
    // Both outcomes happened (the first and last writes make sure): the test checks each rule, not one of them.
    expect(results.get(0n)).toBe(-errno.ECANCELED);
    expect(results.get(BigInt(chunks - 1))).toBe(CHUNK);
    expect(cancelled).toBeGreaterThan(0);
    expect(cancelled).toBeLessThan(chunks);
  });

  test('bad arrays: fewer than 3 members, a member twice, a stacked or null member; chunkBytes a power of two', async () => {
    const k = await tBoot();
    const m = [0, 1, 2].map(() => tDisk(k, { sizeBytes: 8 * CHUNK }).path);
    expect(() => k.raid5(name('md'), m.slice(0, 2), { chunkBytes: CHUNK })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => k.raid5(name('md'), [m[0], m[1], m[0]], { chunkBytes: CHUNK })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => k.raid5(name('md'), [m[0], m[1], k.linear(name('l'), [m[2]])], { chunkBytes: CHUNK })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => k.raid5(name('md'), [m[0], m[1], k.nulldev(name('n'))], { chunkBytes: CHUNK })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => k.raid5(name('md'), m, { chunkBytes: 3000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});
