/**
 * dm-linear: a device whose members are concatenated in order (S7). A bio is
 * remapped to the member that holds its start and clipped at that member's
 * end; blk_map calls remap again for the rest, so a request that crosses a
 * boundary becomes one bio per member, all sharing the request's cancel word.
 */
import { D_NMEMB, D_MEMB, D_SIZE, DT_LINEAR, BI_DEV, BI_POS, BI_LEN } from '../../include/layout';
import { EINVAL } from '../../include/errno';
import { dev_addr } from '../../block/blk';
import { device_add } from '../../block/genhd';
import { md_members_ok } from './md';

/** The linear device's remap op (D_REMAP). */
function linear_remap(bio: usize): u32 {
  const d = dev_addr(load<u32>(bio, BI_DEV));
  const n = load<u32>(d, D_NMEMB);
  let pos = load<u64>(bio, BI_POS);
  let len = load<u32>(bio, BI_LEN);
  for (let i: u32 = 0; i < n; i++) {
    const m = <u32>load<u8>(d + D_MEMB + i);
    const sz = load<u64>(dev_addr(m), D_SIZE);
    if (pos < sz || i == n - 1) {
      // blkdev_rw_submit clipped the request to the device's size, the sum of the members'.
      if (<u64>len > sz - pos) len = <u32>(sz - pos);
      store<u32>(bio, m, BI_DEV);
      store<u64>(bio, pos, BI_POS);
      store<u32>(bio, len, BI_LEN);
      return len;
    }
    pos -= sz;
  }
  return len;
}

/**
 * Create a linear device named by `len` bytes at `name` over `n` members (u8
 * device indices at `memb`). Returns its index, or -EINVAL (bad member list,
 * or a size over 2^32 - 1 bytes), -EEXIST, -ENOSPC.
 */
export function linear_create(name: usize, len: u32, memb: usize, n: u32): i32 {
  if (md_members_ok(memb, n, 1) == 0) return -EINVAL;
  let size: u64 = 0;
  for (let i: u32 = 0; i < n; i++) size += load<u64>(dev_addr(<u32>load<u8>(memb + i)), D_SIZE);
  if (size > 0xffffffff) return -EINVAL;
  return device_add(DT_LINEAR, size, 0, 1, 0, name, len, linear_remap.index, 0, memb, n);
}
