// Invariant: a pipe() that fails because the fd table is full (-EMFILE) gives its pipe and its buffer back:
// failing more times than there are pipes leaves every pipe available and the heap where it was.
import { errno } from 'kaio';
import * as L from '../assembly/include/layout';
import { tBoot } from './helpers';

test('pipe() refused for want of fds, more times than there are pipes, leaks no pipe', async () => {
  const k = await tBoot({ memoryMiB: 192 }); // room for every pipe's 64 KiB buffer at once
  const dev = k.nulldev('fds');
  const fds: number[] = [];
  for (let i = 0; i < L.MAX_FDS; i++) {
    const fd = k.open(dev, 'r');
    if (fd < 0) {
      expect(fd).toBe(-errno.EMFILE);
      break;
    }
    fds.push(fd);
  }
  expect(fds.length).toBeGreaterThan(L.MAX_FDS - 8);
  expect(k.close(fds.pop()!)).toBe(0); // one fd free: a pipe needs two
  const u32 = (k as unknown as { core: { u32: Uint32Array } }).core.u32;
  expect(k.pipe()[0]).toBe(-errno.EMFILE);
  const top = u32[L.H_HEAP_TOP >>> 2]; // the first refusal's buffer went back to kmalloc's free list
  let refused = 0;
  for (let i = 0; i < L.MAX_PIPES + 16; i++) if (k.pipe()[0] === -errno.EMFILE) refused++;
  expect(refused).toBe(L.MAX_PIPES + 16);
  expect(u32[L.H_HEAP_TOP >>> 2]).toBe(top); // and each later one reused it
  for (const fd of fds) expect(k.close(fd)).toBe(0);
  // Every pipe is still there to be created, all at once.
  const ends: number[] = [];
  let last = 0;
  for (let i = 0; i <= L.MAX_PIPES && last >= 0; i++) {
    const [r, w] = k.pipe();
    last = r;
    if (r >= 0) ends.push(r, w);
  }
  expect([ends.length / 2, last]).toEqual([L.MAX_PIPES, -errno.ENFILE]);
  for (const fd of ends) expect(k.close(fd)).toBe(0);
});
