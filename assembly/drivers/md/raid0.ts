/**
 * dm-stripe / md RAID0: chunks of `chunk` bytes go round-robin over the
 * members (chunk c on member c % n, at (c / n) * chunk). A bio is remapped to
 * the member of its first chunk and clipped at the chunk's end (S7).
 */
import { D_NMEMB, D_MEMB, D_CHUNK, DT_STRIPED, BI_DEV, BI_POS, BI_LEN } from '../../include/layout';
import { EINVAL } from '../../include/errno';
import { dev_addr } from '../../block/blk';
import { device_add } from '../../block/genhd';
import { md_members_ok } from './md';

/** The striped device's remap op (D_REMAP). */
function stripe_remap(bio: usize): u32 {
  const d = dev_addr(load<u32>(bio, BI_DEV));
  const n = <u64>load<u32>(d, D_NMEMB);
  const chunk = <u64>load<u32>(d, D_CHUNK);
  const pos = load<u64>(bio, BI_POS);
  const c = pos / chunk;
  const within = pos % chunk;
  let len = load<u32>(bio, BI_LEN);
  if (<u64>len > chunk - within) len = <u32>(chunk - within);
  store<u32>(bio, <u32>load<u8>(d + D_MEMB + <usize>(c % n)), BI_DEV);
  store<u64>(bio, (c / n) * chunk + within, BI_POS);
  store<u32>(bio, len, BI_LEN);
  return len;
}

/**
 * Create a striped device over `n` >= 2 members with `chunk`-byte chunks (a
 * power of two, at least 512). Its size is n whole chunks per stripe times
 * the stripes the smallest member holds. Returns its index, or -EINVAL,
 * -EEXIST, -ENOSPC.
 */
export function striped_create(name: usize, len: u32, memb: usize, n: u32, chunk: u32): i32 {
  if (chunk < 512 || (chunk & (chunk - 1)) != 0) return -EINVAL;
  const min = md_members_ok(memb, n, 2);
  if (min == 0) return -EINVAL;
  const size = (min / <u64>chunk) * <u64>chunk * <u64>n;
  if (size == 0 || size > 0xffffffff) return -EINVAL;
  return device_add(DT_STRIPED, size, 0, 1, 0, name, len, stripe_remap.index, chunk, memb, n);
}
