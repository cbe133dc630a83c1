/**
 * Block devices: the table entry that the kernel (blk.ts) and the device's own
 * thread (src/devices) share. Creation is serialised on H_FD_LOCK; an entry is
 * published by the final atomic store of its type.
 */
import {
  DEV_OFF, DEV_SIZE, MAX_DEVS, D_TYPE, D_FLAGS, D_SIZE, D_MEDIA, D_SERVICE_US, D_QUEUE_DEPTH,
  D_CPU, D_STATE, D_NAME, D_NAME_MAX, DT_NONE, DT_RAMDISK, DT_NULL, DS_STARTING, DS_READY, H_FD_LOCK,
  D_REMAP, D_CHUNK, D_NMEMB, D_MEMB, MAX_MEMB, DT_RAID5,
} from '../include/layout';
import { EEXIST, ENOMEM, ENOSPC, EINVAL } from '../include/errno';
import { spin_lock, spin_unlock } from '../include/barrier';
import { kmalloc_pages } from '../lib/heap';

@inline function dev_entry(i: u32): usize {
  return DEV_OFF + <usize>i * DEV_SIZE;
}

function name_eq(d: usize, name: usize, len: u32): bool {
  for (let i: u32 = 0; i < D_NAME_MAX; i++) {
    const a = load<u8>(d + D_NAME + i);
    const b: u8 = i < len ? load<u8>(name + i) : 0;
    if (a != b) return false;
    if (a == 0) return true;
  }
  return true;
}

/**
 * Create a device named by the `len` bytes at `name`. Returns its index, or
 * -EEXIST (name taken), -ENOSPC (table full), -ENOMEM (no room for the media).
 */
export function device_create(type: u32, size: u32, service_us: u32, depth: u32, flags: u32, name: usize, len: u32): i32 {
  if (type != DT_RAMDISK && type != DT_NULL) return -EINVAL;
  return device_add(type, <u64>size, service_us, depth, flags, name, len, 0, 0, 0, 0);
}

/**
 * Add a device: a leaf (ramdisk, null), or a stacked one (drivers/md) with its
 * remap op, chunk size and `nmemb` member indices (u8 each at `memb`), all
 * written before the entry is published.
 */
export function device_add(type: u32, size: u64, service_us: u32, depth: u32, flags: u32, name: usize, len: u32,
  remap: u32, chunk: u32, memb: usize, nmemb: u32): i32 {
  if (len == 0 || len >= D_NAME_MAX || depth == 0 || nmemb > MAX_MEMB) return -EINVAL;
  spin_lock(H_FD_LOCK);
  let free: i32 = -1;
  for (let i: u32 = 0; i < MAX_DEVS; i++) {
    const d = dev_entry(i);
    if (atomic.load<u32>(d + D_TYPE) == DT_NONE) {
      if (free < 0) free = <i32>i;
      continue;
    }
    if (name_eq(d, name, len)) {
      spin_unlock(H_FD_LOCK);
      return -EEXIST;
    }
  }
  if (free < 0) {
    spin_unlock(H_FD_LOCK);
    return -ENOSPC;
  }
  const d = dev_entry(<u32>free);
  let media: usize = 0;
  if (type == DT_RAMDISK && size > 0) {
    media = kmalloc_pages(<u32>size);
    if (media == 0) {
      spin_unlock(H_FD_LOCK);
      return -ENOMEM;
    }
  }
  memory.fill(d, 0, DEV_SIZE);
  store<u32>(d, flags, D_FLAGS);
  store<u64>(d, size, D_SIZE);
  store<u32>(d, remap, D_REMAP);
  store<u32>(d, chunk, D_CHUNK);
  store<u32>(d, nmemb, D_NMEMB);
  for (let i: u32 = 0; i < nmemb; i++) store<u8>(d + D_MEMB + i, load<u8>(memb + i));
  store<u32>(d, <u32>media, D_MEDIA);
  store<u32>(d, service_us, D_SERVICE_US);
  store<u32>(d, depth, D_QUEUE_DEPTH);
  store<u32>(d, 0xffffffff, D_CPU);
  // A null or stacked device has no thread: it is ready as soon as it exists.
  store<u32>(d, type == DT_RAMDISK || type == DT_RAID5 ? DS_STARTING : DS_READY, D_STATE);
  memory.copy(d + D_NAME, name, len);
  // Release: the entry before its type; pairs with the loads in blk/open.
  atomic.store<u32>(d + D_TYPE, type);
  spin_unlock(H_FD_LOCK);
  return free;
}

/** Index of the device named by `len` bytes at `name`, or -1. */
export function device_find(name: usize, len: u32): i32 {
  if (len == 0 || len >= D_NAME_MAX) return -1;
  for (let i: u32 = 0; i < MAX_DEVS; i++) {
    const d = dev_entry(i);
    if (atomic.load<u32>(d + D_TYPE) != DT_NONE && name_eq(d, name, len)) return <i32>i;
  }
  return -1;
}
