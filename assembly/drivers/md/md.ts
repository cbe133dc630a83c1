/**
 * What the stacked drivers share (Linux's drivers/md/md.c, much reduced):
 * checking a member list that arrives from the host.
 */
import { MAX_DEVS, MAX_MEMB, D_TYPE, D_SIZE, DT_NONE, DT_NULL } from '../../include/layout';
import { dev_addr } from '../../block/blk';

/**
 * The `n` member indices (u8 each at `memb`) name existing devices that can
 * hold data: ramdisks or stacked devices (a null device has no media and no
 * queue). Returns the smallest member's size, or 0 if the list is invalid.
 */
export function md_members_ok(memb: usize, n: u32, min_n: u32): u64 {
  if (n < min_n || n > MAX_MEMB) return 0;
  let min: u64 = <u64>-1;
  for (let i: u32 = 0; i < n; i++) {
    const m = <u32>load<u8>(memb + i);
    if (m >= MAX_DEVS) return 0;
    const t = atomic.load<u32>(dev_addr(m) + D_TYPE);
    if (t == DT_NONE || t == DT_NULL) return 0;
    const sz = load<u64>(dev_addr(m), D_SIZE);
    if (sz == 0) return 0;
    if (sz < min) min = sz;
  }
  return min;
}
