/**
 * Files and file descriptors.
 *
 * fd table: u32 per fd, 0 = closed, else {file gen low 16 bits : 16 | file index + 1 : 16}.
 * file:     refgen u64 {gen:32 | refs:32}. The fd table holds one reference;
 *           every in-flight request holds one (taken at submit, dropped at
 *           completion), so closing an fd never frees a file a request still uses.
 *
 * fget is inc-not-zero with a generation check in one 64-bit cmpxchg, so an fd
 * entry read just before a concurrent close + reuse can never take a reference
 * on the file's next life. open/close/pipe serialise on H_FD_LOCK (rare paths).
 */
import {
  FILE_OFF, FILE_SIZE, MAX_FILES, FD_OFF, MAX_FDS, FD_FIRST, H_FD_LOCK, F_REFGEN, F_TYPE, F_RELEASE,
  F_MODE, F_OBJ, F_POS, FT_NONE, FT_BLOCK, FT_PIPE_R, FT_PIPE_W,
} from '../include/layout';
import { EBADF, EINVAL, EMFILE, ENFILE } from '../include/errno';
import { pack, hi32, lo32, spin_lock, spin_unlock } from '../include/barrier';

@inline export function file_addr(idx: u32): usize {
  return FILE_OFF + <usize>idx * FILE_SIZE;
}

/** Take a reference on the file open at `fd`. Returns file index + 1, or 0 (EBADF). */
export function fget(fd: i32): u32 {
  if (fd < 0 || <u32>fd >= MAX_FDS) return 0;
  // Pairs with fd_install's and fd_close's atomic stores.
  const e = atomic.load<u32>(FD_OFF + (<usize>fd << 2));
  if (e == 0) return 0;
  const idx = (e & 0xffff) - 1;
  const egen = e >>> 16;
  const f = file_addr(idx);
  let rg = atomic.load<u64>(f + F_REFGEN);
  while (true) {
    if (lo32(rg) == 0 || (hi32(rg) & 0xffff) != egen) return 0;
    // Pairs with fput's cmpxchg: inc-not-zero on the same generation.
    const seen = atomic.cmpxchg<u64>(f + F_REFGEN, rg, rg + 1);
    if (seen == rg) return idx + 1;
    rg = seen;
  }
}

/**
 * Look up the file open at `fd` without taking a reference (the lockless
 * fdget of files whose object outlives them: block devices are never freed).
 * Returns {obj:32 | mode:8 | type:8 | file index + 1:16}, or 0 (EBADF). The
 * fields are a consistent snapshot: they are written before a file's reference
 * is published, and a reuse of the slot changes the generation we re-check.
 */
export function file_peek(fd: i32): u64 {
  if (fd < 0 || <u32>fd >= MAX_FDS) return 0;
  // Pairs with fd_install's and fd_close's atomic stores.
  const e = atomic.load<u32>(FD_OFF + (<usize>fd << 2));
  if (e == 0) return 0;
  const idx = (e & 0xffff) - 1;
  const f = file_addr(idx);
  // Pairs with file_alloc's release store of refgen, after the fields.
  const rg = atomic.load<u64>(f + F_REFGEN);
  if (lo32(rg) == 0 || (hi32(rg) & 0xffff) != e >>> 16) return 0;
  const type = load<u32>(f, F_TYPE);
  const mode = load<u32>(f, F_MODE);
  const obj = load<u32>(f, F_OBJ);
  const rg2 = atomic.load<u64>(f + F_REFGEN);
  if (hi32(rg2) != hi32(rg) || lo32(rg2) == 0) return 0;
  return (<u64>obj << 32) | (<u64>(mode & 0xff) << 24) | (<u64>(type & 0xff) << 16) | <u64>(idx + 1);
}

/** Drop a reference from fget (or the fd table's). The last one releases the file. */
export function fput(fh: u32): void {
  if (fh == 0) return;
  const f = file_addr(fh - 1);
  let rg = atomic.load<u64>(f + F_REFGEN);
  while (true) {
    const last = lo32(rg) == 1;
    const nw = last ? pack(hi32(rg) + 1, 0) : rg - 1;
    const seen = atomic.cmpxchg<u64>(f + F_REFGEN, rg, nw);
    if (seen == rg) {
      if (last) file_release(f);
      return;
    }
    rg = seen;
  }
}

function file_release(f: usize): void {
  // The file type's release op (f_op->release): a function-table index, or 0.
  const release = load<u32>(f, F_RELEASE);
  if (release != 0) call_indirect<void>(release, load<u32>(f, F_OBJ), load<u32>(f, F_TYPE));
  atomic.store<u32>(f + F_TYPE, FT_NONE);
}

/** Allocate a file with one reference. Caller holds H_FD_LOCK. Index, or -ENFILE. */
function file_alloc(type: u32, mode: u32, obj: u32, release: u32): i32 {
  for (let i: u32 = 0; i < MAX_FILES; i++) {
    const f = file_addr(i);
    if (atomic.load<u32>(f + F_TYPE) != FT_NONE) continue;
    const rg = atomic.load<u64>(f + F_REFGEN);
    if (lo32(rg) != 0) continue;
    store<u32>(f, type, F_TYPE);
    store<u32>(f, mode, F_MODE);
    store<u32>(f, obj, F_OBJ);
    store<u32>(f, release, F_RELEASE);
    store<u64>(f, 0, F_POS);
    // Release: fields before the reference that makes the file reachable.
    atomic.store<u64>(f + F_REFGEN, pack(hi32(rg), 1));
    return <i32>i;
  }
  return -ENFILE;
}

/** Lowest closed fd >= FD_FIRST. Caller holds H_FD_LOCK. */
function fd_alloc(): i32 {
  for (let fd = <i32>FD_FIRST; fd < <i32>MAX_FDS; fd++) if (atomic.load<u32>(FD_OFF + (<usize>fd << 2)) == 0) return fd;
  return -EMFILE;
}

@inline function fd_entry(idx: u32): u32 {
  return ((hi32(atomic.load<u64>(file_addr(idx) + F_REFGEN)) & 0xffff) << 16) | (idx + 1);
}

/** Open a file of `type` on object `obj`. Returns the fd, or -errno. */
export function file_open(type: u32, mode: u32, obj: u32): i32 {
  // From the host: only block devices are opened this way (other types have
  // objects the host cannot name, and their own constructors).
  if (type != FT_BLOCK) return -EINVAL;
  return file_open_ops(type, mode, obj, 0);
}

/** Open a file of `type` on object `obj` with release op `release` (0: none). The fd, or -errno. */
export function file_open_ops(type: u32, mode: u32, obj: u32, release: u32): i32 {
  spin_lock(H_FD_LOCK);
  const fd = fd_alloc();
  if (fd < 0) {
    spin_unlock(H_FD_LOCK);
    return fd;
  }
  const idx = file_alloc(type, mode, obj, release);
  if (idx < 0) {
    spin_unlock(H_FD_LOCK);
    return idx;
  }
  atomic.store<u32>(FD_OFF + (<usize>fd << 2), fd_entry(<u32>idx));
  spin_unlock(H_FD_LOCK);
  return fd;
}

/** Open both ends of a pipe: fds written to out[0], out[1]. 0, or -errno. */
export function file_open_pair(obj: u32, out: usize, rtype: u32, wtype: u32, rmode: u32, wmode: u32, release: u32): i32 {
  spin_lock(H_FD_LOCK);
  const rfd = fd_alloc();
  if (rfd < 0) { spin_unlock(H_FD_LOCK); return rfd; }
  const ridx = file_alloc(rtype, rmode, obj, release);
  if (ridx < 0) { spin_unlock(H_FD_LOCK); return ridx; }
  atomic.store<u32>(FD_OFF + (<usize>rfd << 2), fd_entry(<u32>ridx));
  const wfd = fd_alloc();
  const widx = wfd < 0 ? -1 : file_alloc(wtype, wmode, obj, release);
  if (wfd < 0 || widx < 0) {
    atomic.store<u32>(FD_OFF + (<usize>rfd << 2), 0);
    spin_unlock(H_FD_LOCK);
    fput(<u32>ridx + 1);
    return wfd < 0 ? wfd : widx;
  }
  atomic.store<u32>(FD_OFF + (<usize>wfd << 2), fd_entry(<u32>widx));
  spin_unlock(H_FD_LOCK);
  store<i32>(out, rfd);
  store<i32>(out, wfd, 4);
  return 0;
}

/** close(fd): 0, or -EBADF. */
export function fd_close(fd: i32): i32 {
  if (fd < 0 || <u32>fd >= MAX_FDS) return -EBADF;
  spin_lock(H_FD_LOCK);
  const slot = FD_OFF + (<usize>fd << 2);
  const e = atomic.load<u32>(slot);
  if (e == 0) {
    spin_unlock(H_FD_LOCK);
    return -EBADF;
  }
  atomic.store<u32>(slot, 0);
  spin_unlock(H_FD_LOCK);
  fput((e & 0xffff));
  return 0;
}

/** File type/mode/obj of an fget reference. */
@inline export function file_type(fh: u32): u32 { return load<u32>(file_addr(fh - 1), F_TYPE); }
@inline export function file_mode(fh: u32): u32 { return load<u32>(file_addr(fh - 1), F_MODE); }
@inline export function file_obj(fh: u32): u32 { return load<u32>(file_addr(fh - 1), F_OBJ); }
