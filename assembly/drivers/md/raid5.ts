/**
 * md RAID5 (S8): n >= 3 ramdisk members, `chunk`-byte chunks, XOR parity,
 * left-symmetric layout (md's default, ALGORITHM_LEFT_SYMMETRIC): in stripe s
 * the parity chunk is on member (n - 1) - (s % n) and data chunk k on member
 * (parity + 1 + k) % n.
 *
 * The device has a queue and a thread of its own (src/devices/raid5.ts, md's
 * raid5d): it takes whole requests from its stage 1 and does their member I/O
 * through child bios that this file submits and completes. The thread computes
 * parity and decides when a request can still be cancelled:
 *  - reads: children carry the request's cancel word, so a cancel reaches them
 *    in their members' queues like any bio;
 *  - writes: children carry no cancel word. A write is cancellable only until
 *    its first member write is dispatched; after that every member write of
 *    the request completes and the event carries the full byte count (so a
 *    stripe is never left with new data and old parity by a cancel).
 * The device is marked abortable so that a cancel of the request it is
 * executing kicks its thread (blk_cancel_bios), which then cancels its read
 * children (blk_cancel_bios on their vector) or, for a write not yet started,
 * drops the request.
 */
import {
  MAX_DEVS, D_TYPE, D_SIZE, D_REMAP, D_NMEMB, D_MEMB, DT_RAMDISK, DT_RAID5, DEVF_ABORTABLE, BI_FLAGS, BI_KIOCB,
  BIO_CHILD_DONE, BUF_MEM, MAX_MEMB, H_MEM_BYTES, H_NCPUS, BIO_SIZE,
} from '../../include/layout';
import { EINVAL } from '../../include/errno';
import { bio_init, blk_submit, device_kick, dev_addr } from '../../block/blk';
import { device_add } from '../../block/genhd';

/** A child's end_io: record that it ended and wake the RAID5 thread. */
function md_child_end_io(cpu: u32, bio: usize): void {
  // Release: BI_DONE/BI_STATUS (stored by bio_endio) before the flag; pairs
  // with the RAID5 thread's atomic load of BI_FLAGS.
  atomic.store<u32>(bio + BI_FLAGS, BIO_CHILD_DONE);
  device_kick(dev_addr(load<u32>(bio, BI_KIOCB)));
}

/**
 * RAID5 thread: submit one member read or write of `len` bytes at member
 * offset `pos`, to or from kernel memory at `buf`, as the child bio at `bio`
 * (BIO_SIZE bytes the thread owns). `cancel_word` is the request's (reads) or
 * 0 (writes). Returns 0, or -EINVAL if an argument is out of range.
 */
export function md_child_submit(cpu: u32, raid: u32, bio: usize, member_i: u32, op: u32, pos: u64, buf: usize,
  len: u32, cancel_word: usize): i32 {
  if (raid >= MAX_DEVS || cpu >= load<u32>(H_NCPUS)) return -EINVAL;
  const d = dev_addr(raid);
  if (atomic.load<u32>(d + D_TYPE) != DT_RAID5 || member_i >= load<u32>(d, D_NMEMB)) return -EINVAL;
  const mem = <u64>load<u32>(H_MEM_BYTES);
  if (<u64>bio + <u64>BIO_SIZE > mem || <u64>buf + <u64>len > mem || len == 0) return -EINVAL;
  const member = <u32>load<u8>(d + D_MEMB + member_i);
  if (pos + <u64>len > load<u64>(dev_addr(member), D_SIZE)) return -EINVAL;
  bio_init(bio, raid, cancel_word, op, member, pos, BUF_MEM, <u32>buf, 0, len, md_child_end_io.index);
  blk_submit(cpu, bio);
  return 0;
}

/**
 * Create a RAID5 device over `n` ramdisks (u8 indices at `memb`), 3 <= n <=
 * MAX_MEMB, with `chunk`-byte chunks (a power of two, >= 512). Its size is
 * n - 1 data chunks per stripe times the stripes the smallest member holds.
 * Returns its index, or -EINVAL, -EEXIST, -ENOSPC.
 */
export function raid5_create(name: usize, len: u32, memb: usize, n: u32, chunk: u32): i32 {
  if (n < 3 || n > MAX_MEMB || chunk < 512 || (chunk & (chunk - 1)) != 0) return -EINVAL;
  let min: u64 = <u64>-1;
  for (let i: u32 = 0; i < n; i++) {
    const m = <u32>load<u8>(memb + i);
    if (m >= MAX_DEVS) return -EINVAL;
    const md = dev_addr(m);
    if (atomic.load<u32>(md + D_TYPE) != DT_RAMDISK || load<u32>(md, D_REMAP) != 0) return -EINVAL;
    for (let j: u32 = 0; j < i; j++) if (<u32>load<u8>(memb + j) == m) return -EINVAL; // a member twice
    const sz = load<u64>(md, D_SIZE);
    if (sz < min) min = sz;
  }
  const size = (min / <u64>chunk) * <u64>chunk * <u64>(n - 1);
  if (size == 0 || size > 0xffffffff) return -EINVAL;
  return device_add(DT_RAID5, size, 0, 1, DEVF_ABORTABLE, name, len, 0, chunk, memb, n);
}
