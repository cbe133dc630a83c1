// Invariant: a binary record's buffer is accepted anywhere inside one live user block (its first byte, its middle, its last byte; blocks below and above a page) and refused (-EFAULT) when it reaches into the next block or names a freed one; the pin a request in flight takes is on the block that holds its buffer, wherever in the block the buffer starts.
import { errno, IOCB_CMD, type Kernel } from 'kaio';
import { tBoot, tDisk } from './helpers';

interface Core { x: { kmalloc_user(n: number): number; kfree_user(a: number, n: number): void } }
const coreOf = (k: Kernel): Core => (k as unknown as { core: Core }).core;

/**
 * io_submit of one binary PREAD of [addr, addr + len) on fd; the result, and
 * the event's res when it was submitted. The record arrays are allocated once,
 * before the block under test (they are user blocks too: one allocated after a
 * free would take the freed block).
 */
function submitter(k: Kernel, ctx: number, fd: number): (addr: number, len: number) => [number, number?] {
  const a = k.iocbArray(1);
  const evs = k.ioEventArray(1);
  return (addr, len) => {
    a.set(0, { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: addr, aio_nbytes: len });
    const r = k.io_submit(ctx, a, 1);
    if (r !== 1) return [r];
    expect(k.io_getevents(ctx, 1, 1, evs, 10_000)).toBe(1);
    return [r, evs.res(0)];
  };
}

// Sizes: a 64-byte class (the smallest), a sub-page class, exactly a page, and several pages.
test.each([48, 700, 4096, 40_000])('a block of %i bytes: every range inside it is accepted, a range past its end or into its freed self is -EFAULT', async (size) => {
  const k = await tBoot();
  const fd = k.open(k.nulldev('null'), 'rw');
  const ctx = k.io_setup(8);
  const submitAt = submitter(k, ctx, fd);
  const core = coreOf(k);
  const blk = core.x.kmalloc_user(size) >>> 0;
  expect(blk).toBeGreaterThan(0);
  const bsize = 2 ** Math.max(6, Math.ceil(Math.log2(size))); // its class: the block is this long
  const inside: Array<[number, number]> = [[0, 1], [0, bsize], [bsize - 1, 1], [bsize >> 1, bsize >> 1], [bsize - 64, 64], [Math.floor(bsize / 3), 17]];
  for (const [off, len] of inside) expect([off, len, submitAt(blk + off, len)]).toEqual([off, len, [1, len]]);
  // One byte too far, from anywhere in the block: into the next block (live or not), never accepted.
  for (const off of [0, bsize >> 1, bsize - 1]) expect([off, submitAt(blk + off, bsize - off + 1)]).toEqual([off, [-errno.EFAULT]]);
  core.x.kfree_user(blk, size);
  for (const [off, len] of inside) expect([off, len, submitAt(blk + off, len)]).toEqual([off, len, [-errno.EFAULT]]);
});

test.each([48, 700, 8192])('two live %i-byte blocks side by side: a range across their boundary is -EFAULT (only the second one\'s start says so), each half alone is accepted', async (size) => {
  const k = await tBoot();
  const fd = k.open(k.nulldev('null'), 'rw');
  const ctx = k.io_setup(8);
  const submitAt = submitter(k, ctx, fd);
  const core = coreOf(k);
  const bsize = 2 ** Math.max(6, Math.ceil(Math.log2(size)));
  const blocks: number[] = [];
  let pair: [number, number] | undefined;
  for (let i = 0; i < 256 && !pair; i++) {
    const b = core.x.kmalloc_user(size) >>> 0;
    const left = blocks.find((x) => x + bsize === b);
    const right = blocks.find((x) => b + bsize === x);
    if (left !== undefined) pair = [left, b];
    else if (right !== undefined) pair = [b, right];
    blocks.push(b);
  }
  expect(pair).toBeDefined();
  const [a, b] = pair!;
  expect(submitAt(b - 8, 16)).toEqual([-errno.EFAULT]);
  expect(submitAt(a, bsize + 1)).toEqual([-errno.EFAULT]);
  expect(submitAt(b - 8, 8)).toEqual([1, 8]);
  expect(submitAt(b, 8)).toEqual([1, 8]);
  for (const x of blocks) core.x.kfree_user(x, size);
});

test.each([700, 40_000])('a request whose buffer starts deep inside a %i-byte block pins that block: freed while in flight, it is not reused until the request completes', async (size) => {
  const k = await tBoot();
  const { path: p, fd } = tDisk(k, { serviceTimeUs: 0 });
  const dev = k.device(p);
  const ctx = k.io_setup(8);
  const core = coreOf(k);
  const blk = core.x.kmalloc_user(size) >>> 0;
  const bsize = 2 ** Math.ceil(Math.log2(size));
  const off = bsize - 100; // past the first page of a multi-page block; far from a sub-page block's start
  const a = k.iocbArray(1);
  a.set(0, { aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: blk + off, aio_nbytes: 64 });
  dev.hold();
  expect(k.io_submit(ctx, a, 1)).toBe(1);
  core.x.kfree_user(blk, size);
  const again: number[] = [];
  for (let i = 0; i < 8; i++) again.push(core.x.kmalloc_user(size) >>> 0);
  expect(again).not.toContain(blk);
  dev.release();
  const evs = k.ioEventArray(1);
  expect(k.io_getevents(ctx, 1, 1, evs, 10_000)).toBe(1);
  expect(evs.res(0)).toBe(64);
  // Completed: the last pin is gone and the block went back to its free list (LIFO: the next allocation).
  expect(core.x.kmalloc_user(size) >>> 0).toBe(blk);
  for (const b of again) core.x.kfree_user(b, size);
});
