// Description: over-long paths (issue 7, memory safety 3).
// Invariant: a path of PATH_MAX (4096) bytes or more, or with a component over NAME_MAX (255) bytes,
// is -ENAMETOOLONG from k.open and an Error with code 'ENAMETOOLONG' from k.device, and it writes
// nothing outside this thread's scratch: other cpus' memory is unchanged and the kernel keeps working.
import { errno } from 'kaio';
import * as L from '../assembly/include/layout';
import { tBoot, tDisk, tReap, tRead } from './helpers';

test('a 5000-byte path is -ENAMETOOLONG from open and ENAMETOOLONG from device()', async () => {
  const k = await tBoot();
  const long = '/dev/' + 'x'.repeat(5000);
  expect(k.open(long, 'r')).toBe(-errno.ENAMETOOLONG);
  expect(() => k.device(long)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
  expect(k.open('/dev/' + 'x'.repeat(4091), 'r')).toBe(-errno.ENAMETOOLONG); // 4096 bytes: no room for the NUL
  // Below PATH_MAX with short components: an ordinary lookup (no such device).
  expect(k.open('/dev/' + 'x/'.repeat(2000) + 'x', 'r')).toBe(-errno.ENOENT);
});

test('a component over 255 bytes is -ENAMETOOLONG; 255 bytes is an ordinary lookup', async () => {
  const k = await tBoot();
  expect(k.open('/dev/' + 'y'.repeat(256), 'rw')).toBe(-errno.ENAMETOOLONG);
  expect(k.open('/dev/' + 'y'.repeat(300), 'r')).toBe(-errno.ENAMETOOLONG);
  expect(k.open('/dev/' + '\u00e9'.repeat(128), 'r')).toBe(-errno.ENAMETOOLONG); // 128 chars, 256 bytes
  expect(() => k.device('/dev/' + 'y'.repeat(256))).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
  expect(k.open('/dev/' + 'y'.repeat(255), 'r')).toBe(-errno.ENOENT);
  expect(k.open('/dev/' + 'y'.repeat(100), 'r')).toBe(-errno.ENOENT);
});

test('a path larger than the scratch area writes nothing into other cpus\' memory; the kernel keeps working', async () => {
  const k = await tBoot();
  const mem = k.buffer(64).buffer as SharedArrayBuffer;
  const long = '/dev/' + 'z'.repeat(3 * L.SCRATCH_SIZE);
  const mine = L.SCRATCH_OFF + k.cpu * L.SCRATCH_SIZE;
  // Everything after this cpu's scratch that a copy of the path would cover.
  const after = new Uint8Array(mem, mine + L.SCRATCH_SIZE, long.length);
  const before = Buffer.from(after);
  const r = k.open(long, 'r');
  let thrown: unknown;
  try {
    k.device(long);
  } catch (e) {
    thrown = e;
  }
  const changed = after.findIndex((b, i) => b !== before[i]);
  expect(changed).toBe(-1); // first byte past this cpu's scratch that the call overwrote, or -1
  expect(r).toBe(-errno.ENAMETOOLONG);
  expect(thrown).toEqual(expect.objectContaining({ code: 'ENAMETOOLONG' }));
  // The kernel works: a real disk opens, reads and writes.
  const { path, fd } = tDisk(k, { serviceTimeUs: 0 });
  expect(k.pwrite(fd, Buffer.from('still fine'), 0)).toBe(10);
  const fd2 = k.open(path, 'r');
  expect(fd2).toBeGreaterThanOrEqual(0);
  const ctx = k.io_setup(4);
  const out = Buffer.alloc(10);
  expect(k.io_submit(ctx, [tRead(fd2, out, 0, 1n)])).toBe(1);
  expect(tReap(k, ctx, 1)[0].res).toBe(10);
  expect(out.toString()).toBe('still fine');
});
