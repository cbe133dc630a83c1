// Description: binary iocbs and io_events (issue 12): libaio's layout, the object path's errno
// rules and order, 32-bit keys, buffers only inside live user blocks and pinned while in flight.
// Invariant: a binary record submits, fails and completes exactly as the same iocb given as an object.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errno, IOCB_CMD, IOCB_FIELD, IO_EVENT_FIELD, type Iocb, type IoEvent, type Kernel, type IocbArray } from 'kaio';
import { STRATEGIES, tBoot, tCancelled, tDisk } from './helpers';

interface Core { x: { kmalloc_user(n: number): number; kfree_user(a: number, n: number): void }; u8: Uint8Array }
const coreOf = (k: Kernel): Core => (k as unknown as { core: Core }).core;

function cc(): string | undefined {
  for (const c of ['cc', 'gcc', 'clang']) {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore' });
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}
const compiler = fs.existsSync('/usr/include/linux/aio_abi.h') ? cc() : undefined;

describe('binary record layout', () => {
  (compiler ? test : test.skip)('struct iocb and struct io_event offsets are linux/aio_abi.h\'s (compiled with cc)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kaio-abi-'));
    const src = path.join(dir, 'abi.c');
    const fields = Object.keys(IOCB_FIELD);
    fs.writeFileSync(src, `#include <stddef.h>\n#include <stdio.h>\n#include <linux/aio_abi.h>\nint main(void) {\n` +
      `printf("%zu %zu\\n", sizeof(struct iocb), sizeof(struct io_event));\n` +
      fields.map((f) => `printf("%zu\\n", offsetof(struct iocb, ${f}));\n`).join('') +
      Object.keys(IO_EVENT_FIELD).map((f) => `printf("%zu\\n", offsetof(struct io_event, ${f}));\n`).join('') + 'return 0; }\n');
    try {
      execFileSync(compiler!, ['-o', path.join(dir, 'abi'), src]);
      const out = execFileSync(path.join(dir, 'abi'), { encoding: 'utf8' }).trim().split('\n');
      expect(out[0]).toBe('64 32');
      expect(out.slice(1).map(Number)).toEqual([...fields.map((f) => IOCB_FIELD[f]), ...Object.values(IO_EVENT_FIELD)]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the offsets as linux/aio_abi.h gives them on little-endian 64-bit', () => {
    expect(IOCB_FIELD).toEqual({ aio_data: 0, aio_key: 8, aio_rw_flags: 12, aio_lio_opcode: 16, aio_reqprio: 18, aio_fildes: 20, aio_buf: 24, aio_nbytes: 32, aio_offset: 40, aio_reserved2: 48, aio_flags: 56, aio_resfd: 60 });
    expect(IO_EVENT_FIELD).toEqual({ data: 0, obj: 8, res: 16, res2: 24 });
  });
});

/** Write an object iocb's fields as a raw record (what a C program would put there). */
function raw(a: IocbArray, i: number, o: Record<string, unknown>, bufAddr: number): void {
  const v = a.view;
  const at = i * 64;
  for (let b = 0; b < 64; b += 8) v.setBigUint64(at + b, 0n, true);
  const n = (x: unknown) => (typeof x === 'number' ? x : 0);
  v.setBigUint64(at + 0, BigInt(o.aio_data as bigint ?? 0n), true);
  v.setUint32(at + 12, n(o.aio_rw_flags) >>> 0, true);
  v.setUint16(at + 16, n(o.aio_lio_opcode) & 0xffff, true);
  v.setInt32(at + 20, n(o.aio_fildes) | 0, true);
  v.setBigUint64(at + 24, BigInt(bufAddr), true);
  v.setBigInt64(at + 32, BigInt(n(o.aio_nbytes)), true);
  v.setBigInt64(at + 40, BigInt(n(o.aio_offset)), true);
  v.setBigUint64(at + 48, BigInt(n(o.aio_reserved2)), true);
  v.setUint32(at + 56, n(o.aio_flags) >>> 0, true);
  v.setInt32(at + 60, n(o.aio_resfd) | 0, true);
}

describe.each(STRATEGIES)('binary io_submit (%s)', (_name, opts) => {
  test('each error case gives the object path\'s -errno on entry 0, and k on entry k', async () => {
    const k = await tBoot(opts);
    const { path: p, fd } = tDisk(k, { serviceTimeUs: 0 });
    const ro = k.open(p, 'r');
    const wo = k.open(p, 'w');
    const ctx = k.io_setup(16);
    const buf = k.buffer(16);
    const addr = buf.byteOffset;
    const rd = { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_nbytes: 16 };
    const cases: Array<[string, Record<string, unknown>, number, number]> = [
      ['reserved field set', { ...rd, aio_reserved2: 1 }, addr, -errno.EINVAL],
      ['negative nbytes', { ...rd, aio_nbytes: -1 }, addr, -errno.EINVAL],
      ['negative offset', { ...rd, aio_offset: -512 }, addr, -errno.EINVAL],
      ['nbytes past the block', { ...rd, aio_nbytes: 4096 }, addr, -errno.EFAULT],
      ['buffer in kernel memory', rd, 4096, -errno.EFAULT],
      ['buffer beyond memory', rd, 0xfffffff0, -errno.EFAULT],
      ['bad fd', { ...rd, aio_fildes: 12345 }, addr, -errno.EBADF],
      ['write on a read-only fd', { ...rd, aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: ro }, addr, -errno.EBADF],
      ['read on a write-only fd', { ...rd, aio_fildes: wo }, addr, -errno.EBADF],
      ['unknown opcode', { ...rd, aio_lio_opcode: 99 }, addr, -errno.EINVAL],
      ['fsync with a buffer', { aio_lio_opcode: IOCB_CMD.FSYNC, aio_fildes: fd }, addr, -errno.EINVAL],
      ['poll with an offset', { aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: fd, aio_offset: 8 }, 1, -errno.EINVAL],
      ['poll mask above 16 bits', { aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: fd }, 0x10000, -errno.EINVAL],
      ['unknown rw flags', { ...rd, aio_rw_flags: 1 << 20 }, addr, -errno.EOPNOTSUPP],
      ['resfd without eventfd support', { ...rd, aio_flags: 1, aio_resfd: fd }, addr, -errno.EINVAL],
      ['resfd that is not open', { ...rd, aio_flags: 1, aio_resfd: 999 }, addr, -errno.EBADF],
      // Order: rw flags (aio_prep_rw) before the open mode; the buffer before the offset.
      ['rw flags and wrong mode', { ...rd, aio_fildes: wo, aio_rw_flags: 1 << 20 }, addr, -errno.EOPNOTSUPP],
      ['bad buffer and negative offset', { ...rd, aio_offset: -1 }, 4096, -errno.EFAULT],
      ['bad fd before a bad buffer', { ...rd, aio_fildes: 999 }, 4096, -errno.EBADF],
    ];
    const a = k.iocbArray(2);
    for (const [what, iocb, bufAddr, want] of cases) {
      // The object path agrees (where it can say it: a raw address has no object form).
      if (bufAddr === addr) {
        const o = { ...iocb, aio_buf: iocb.aio_lio_opcode === IOCB_CMD.POLL ? bufAddr : buf, aio_nbytes: iocb.aio_nbytes } as unknown as Iocb;
        if (iocb.aio_lio_opcode === IOCB_CMD.FSYNC) (o as { aio_nbytes?: number }).aio_nbytes = undefined;
        expect([what, 'object', k.io_submit(ctx, [o])]).toEqual([what, 'object', want]);
      }
      raw(a, 0, iocb, bufAddr);
      expect([what, k.io_submit(ctx, a, 1)]).toEqual([what, want]);
      // Entry 1: one submitted, then the error stops the batch.
      a.set(0, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd });
      raw(a, 1, iocb, bufAddr);
      expect([what, k.io_submit(ctx, a, 2)]).toEqual([what, 1]);
      const evs = k.ioEventArray(4);
      expect(k.io_getevents(ctx, 1, 4, evs, 1000)).toBe(1);
      expect(k.io_getevents(ctx, 0, 4, evs, 0)).toBe(0);
    }
    expect(k.ctxStat(ctx)!.inflight).toBe(0);
  });

  test('nr: more than the array holds is -EFAULT past it; nr < 0 and bad ctx are -EINVAL; nr 0 is 0', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(16);
    const a = k.iocbArray(2);
    a.set(0, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd }).set(1, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd });
    expect(k.io_submit(12345, a, 0)).toBe(-errno.EINVAL);
    expect(k.io_submit(ctx, a, -1)).toBe(-errno.EINVAL);
    expect(k.io_submit(ctx, a, 0)).toBe(0);
    expect(k.io_submit(ctx, a, 3)).toBe(2);
    expect(k.io_submit(ctx, a)).toBe(2);
    const evs = k.ioEventArray(4);
    expect(k.io_getevents(ctx, 4, 4, evs, 1000)).toBe(4);
    expect(k.io_getevents(ctx, 0, 5, evs, 0)).toBe(-errno.EFAULT); // more than the array holds
    expect(k.io_getevents(ctx, 2, 1, evs, 0)).toBe(-errno.EINVAL);
  });

  test('bytes move both ways, aio_key is the event obj\'s low 32 bits, data is exact', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(16);
    const w = k.buffer(4096);
    for (let i = 0; i < 4096; i++) w[i] = (i * 7) & 0xff;
    const r = k.buffer(8192);
    const a = k.iocbArray(2);
    a.set(0, { aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: fd, aio_buf: w, aio_offset: 4096, aio_data: 0xffffffffffffffffn });
    expect(k.io_submit(ctx, a, 1)).toBe(1);
    const evs = k.ioEventArray(2);
    expect(k.io_getevents(ctx, 1, 2, evs, 10_000)).toBe(1);
    expect([evs.res(0), evs.data(0), evs.key(0), evs.obj(0) % 2 ** 32]).toEqual([4096, 0xffffffffffffffffn, a.key(0), a.key(0)]);
    // Into the middle of a block (an address, not a view), 1000 bytes.
    a.set(1, { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: r.byteOffset + 100, aio_nbytes: 1000, aio_offset: 4096 + 5 });
    expect(k.io_submit(ctx, a.setOffset(0, 0), 2)).toBe(2); // the write again, at 0, and the read
    const got: number[] = [];
    while (got.length < 2) {
      const n = k.io_getevents(ctx, 1, 2, evs, 10_000);
      for (let i = 0; i < n; i++) got.push(evs.res(i));
    }
    expect(got.sort((x, y) => x - y)).toEqual([1000, 4096]);
    expect(Buffer.from(r.subarray(100, 1100))).toEqual(Buffer.from(w.subarray(5, 1005)));
    expect(r[99]).toBe(0);
    expect(r[1100]).toBe(0);
  });

  test('PREADV/PWRITEV take iovecs from user memory; a bad iovec is -EFAULT, too many -EINVAL', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(16);
    const b1 = k.buffer(100).fill(1);
    const b2 = k.buffer(300).fill(2);
    const iov = k.buffer(64);
    const dv = new DataView(iov.buffer, iov.byteOffset, 64);
    dv.setBigUint64(0, BigInt(b1.byteOffset), true);
    dv.setBigUint64(8, 100n, true);
    dv.setBigUint64(16, BigInt(b2.byteOffset), true);
    dv.setBigUint64(24, 300n, true);
    const a = k.iocbArray(1);
    const evs = k.ioEventArray(1);
    a.set(0, { aio_lio_opcode: IOCB_CMD.PWRITEV, aio_fildes: fd, aio_buf: iov.byteOffset, aio_nbytes: 2 });
    expect(k.io_submit(ctx, a)).toBe(1);
    expect(k.io_getevents(ctx, 1, 1, evs, 10_000)).toBe(1);
    expect(evs.res(0)).toBe(400);
    const back = Buffer.alloc(400);
    expect(k.pread(fd, back, 0)).toBe(400);
    expect([back[0], back[99], back[100], back[399]]).toEqual([1, 1, 2, 2]);
    dv.setBigUint64(16, 4096n, true); // kernel memory
    expect(k.io_submit(ctx, a)).toBe(-errno.EFAULT);
    dv.setBigUint64(16, BigInt(b2.byteOffset), true);
    dv.setBigInt64(24, -1n, true);
    expect(k.io_submit(ctx, a)).toBe(-errno.EINVAL);
    a.set(0, { aio_lio_opcode: IOCB_CMD.PREADV, aio_fildes: fd, aio_buf: iov.byteOffset, aio_nbytes: 1025 });
    expect(k.io_submit(ctx, a)).toBe(-errno.EINVAL);
    a.set(0, { aio_lio_opcode: IOCB_CMD.PREADV, aio_fildes: fd, aio_buf: iov.byteOffset, aio_nbytes: 5 }); // 80 bytes of iovecs in a 64-byte block
    expect(k.io_submit(ctx, a)).toBe(-errno.EFAULT);
  });

  test('io_cancel by a record\'s 32-bit key: -EINPROGRESS, one event, then the key is stale (-EINVAL)', async () => {
    const k = await tBoot(opts);
    // One request executes (held), one waits in the device queue (depth 1), the third in stage 1.
    const { path: p, fd } = tDisk(k, { serviceTimeUs: 0, queueDepth: 1 });
    const dev = k.device(p);
    const ctx = k.io_setup(16);
    const a = k.iocbArray(3);
    const bufs = [k.buffer(512), k.buffer(512), k.buffer(512)];
    for (let i = 0; i < 3; i++) a.set(i, { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: bufs[i], aio_data: BigInt(i) });
    dev.hold();
    expect(k.io_submit(ctx, a)).toBe(3);
    const deadline = Date.now() + 5000;
    while (dev.stats().dispatched < 2 && Date.now() < deadline);
    expect(dev.stats().dispatched).toBe(2);
    expect(k.io_cancel(ctx, a, 2)).toBe(-errno.EINPROGRESS);
    expect(k.io_cancel(ctx, a, 3)).toBe(-errno.EFAULT); // outside the array
    expect(k.io_cancel(ctx, a, -1)).toBe(-errno.EFAULT);
    expect(k.io_cancel(k.io_setup(4), a, 0)).toBe(-errno.EINVAL); // another context's key
    const evs = k.ioEventArray(4);
    if (opts.cancel !== 'mark-only') {
      expect(k.io_getevents(ctx, 1, 4, evs, 10_000)).toBe(1); // before the device finished anything
      expect([evs.data(0), evs.res(0), evs.key(0)]).toEqual([2n, -errno.ECANCELED, a.key(2)]);
      expect(k.io_cancel(ctx, a, 2)).toBe(-errno.EINVAL);
    }
    dev.release();
    const res = new Map<bigint, number>();
    while (res.size < (opts.cancel === 'mark-only' ? 3 : 2)) {
      const n = k.io_getevents(ctx, 1, 4, evs, 10_000);
      for (let i = 0; i < n; i++) res.set(evs.data(i), evs.res(i));
    }
    expect(k.io_getevents(ctx, 0, 4, evs, 0)).toBe(0);
    expect(res.get(0n)).toBe(512);
    expect(res.get(1n)).toBe(512);
    if (opts.cancel === 'mark-only') expect(res.get(2n)).toBe(tCancelled(opts, 512));
    for (let i = 0; i < 3; i++) expect(k.io_cancel(ctx, a, i)).toBe(-errno.EINVAL);
  });

  test('a buffer freed while its request is in flight is not reused until the request completes', async () => {
    const k = await tBoot(opts);
    const { path: p, fd } = tDisk(k, { serviceTimeUs: 0 });
    const dev = k.device(p);
    const ctx = k.io_setup(16);
    const core = coreOf(k);
    const size = 1024;
    const blk = core.x.kmalloc_user(size) >>> 0;
    const a = k.iocbArray(1);
    a.set(0, { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: blk, aio_nbytes: size });
    dev.hold();
    expect(k.io_submit(ctx, a)).toBe(1);
    core.x.kfree_user(blk, size); // what the FinalizationRegistry does when the view is garbage
    const again: number[] = [];
    for (let i = 0; i < 8; i++) again.push(core.x.kmalloc_user(size) >>> 0);
    expect(again).not.toContain(blk);
    // The freed block cannot be named by a new request meanwhile.
    expect(k.io_submit(ctx, a)).toBe(-errno.EFAULT);
    dev.release();
    const evs = k.ioEventArray(1);
    expect(k.io_getevents(ctx, 1, 1, evs, 10_000)).toBe(1);
    expect(evs.res(0)).toBe(size);
    // Completed: the block went back to its free list now (LIFO: the next allocation).
    expect(core.x.kmalloc_user(size) >>> 0).toBe(blk);
    for (const b of again) core.x.kfree_user(b, size);
  });

  test('the object API and binary records share a context: either reaper gets every event once', async () => {
    const k = await tBoot(opts);
    const { fd } = tDisk(k, { serviceTimeUs: 0 });
    const ctx = k.io_setup(64);
    const a = k.iocbArray(8);
    for (let i = 0; i < 8; i++) a.set(i, { aio_lio_opcode: IOCB_CMD.NOOP, aio_fildes: fd, aio_data: BigInt(i) });
    const plain = Buffer.alloc(64);
    const objs: Iocb[] = [{ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: plain, aio_data: 100n }];
    expect(k.pwrite(fd, Buffer.alloc(64, 9), 0)).toBe(64);
    expect(k.io_submit(ctx, a)).toBe(8);
    expect(k.io_submit(ctx, objs)).toBe(1);
    const evs = k.ioEventArray(16);
    const seen: bigint[] = [];
    while (seen.length < 9) {
      const n = k.io_getevents(ctx, 1, 16, evs, 10_000);
      for (let i = 0; i < n; i++) seen.push(evs.data(i));
    }
    expect(seen.sort((x, y) => Number(x - y))).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 100n]);
    expect(plain[63]).toBe(9); // the plain buffer's bounce was copied by this thread's binary reap
    expect(k.io_submit(ctx, a, 4)).toBe(4);
    const oev: IoEvent[] = [];
    expect(k.io_getevents(ctx, 4, 4, oev, 10_000)).toBe(4);
    expect(oev.map((e) => e.obj.aio_key! % 2 ** 32)).toEqual([a.key(0), a.key(1), a.key(2), a.key(3)]);
  });
});
