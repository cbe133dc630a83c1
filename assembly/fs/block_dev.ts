/**
 * Block-device files: the fs side of a read, write or flush on a block device
 * (Linux's block/fops.c: blkdev_direct_IO, blkdev_bio_end_io). It turns a
 * request into bios, registers the request's cancel callback with the kiocb
 * core, and completes the request when its last bio ends.
 *
 * Result of a request with several bios (S7): bios cover consecutive byte
 * ranges, and the result is the length of the longest prefix of the request
 * that was transferred, i.e. bytes done by the leading bios up to and
 * including the first one that did not transfer all of its range. If that
 * prefix is empty, the result is the status of the first bio that has one
 * (-ECANCELED if it was cancelled), else 0. So a cancelled request that moved
 * no data at its start reports -ECANCELED, and a partly cancelled one reports
 * the bytes that are valid from the start of the buffer, as a short read does.
 */
import {
  KI_BIOS_LEFT, KI_NBIO, KI_BIOVEC, KI_BOUNCE, KI_BOUNCE_SIZE, KI_SEGS, KI_NSEG, KI_BIO_INLINE,
  BIO_SIZE, SEG_SIZE, SEG_KIND, SEG_REF, SEG_OFF, SEG_LEN, D_TYPE, D_SIZE, D_REMAP, DT_NULL, DT_RAMDISK,
  BIO_READ, BIO_WRITE, BIO_FLUSH, BI_LEN, BI_DONE, BI_STATUS, BI_KIOCB,
} from '../include/layout';
import { ENOSPC, ENOMEM } from '../include/errno';
import { hi32 } from '../include/barrier';
import { kmalloc, kfree } from '../lib/heap';
import { bio_init, blk_submit, blk_map, blk_cancel_bios, blk_effective, dev_addr } from '../block/blk';
import { aio_complete, ki_cw, kiocb_set_cancel_fn } from './kiocb';

/** Result of a request from its bios (the prefix rule in the header comment). */
function bios_result(req: usize): i64 {
  const n = load<u32>(req, KI_NBIO);
  const vec = <usize>load<u32>(req, KI_BIOVEC);
  let total: i64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const b = vec + <usize>i * BIO_SIZE;
    const done = load<u32>(b, BI_DONE);
    total += <i64>done;
    if (done < load<u32>(b, BI_LEN) || load<i32>(b, BI_STATUS) != 0) {
      if (total > 0) return total;
      for (let j: u32 = i; j < n; j++) {
        const st = load<i32>(vec + <usize>j * BIO_SIZE, BI_STATUS);
        if (st != 0) return <i64>st;
      }
      return 0;
    }
  }
  return total;
}

/** Every bio of a block request ends here (its BI_END_IO). The last one completes the request. */
function blkdev_bio_end_io(cpu: u32, bio: usize): void {
  const req = <usize>load<u32>(bio, BI_KIOCB);
  // Release our bio's result; the thread that takes bios_left to 0 reads every
  // bio's result (acquire) and completes the request.
  if (atomic.sub<u32>(req + KI_BIOS_LEFT, 1) == 1) aio_complete(cpu, req, bios_result(req), 0);
}

/**
 * The block request's ki_cancel (kiocb_set_cancel_fn). It runs while the
 * request cannot complete: from kiocb_cancel in state CANCELLING (completion
 * waits for it), or at once from set_cancel_fn in blkdev_submit before any bio
 * is queued. So its bios and their vector are the request's own: it takes the
 * queued ones out of stage 1 (O(bios of the request)).
 */
function blkdev_cancel(req: usize, gen: u32): void {
  // Pairs with aio_complete's store of the next generation (a late run after reuse does nothing).
  if (hi32(atomic.load<u64>(ki_cw(req))) != gen) return;
  blk_cancel_bios(<usize>load<u32>(req, KI_BIOVEC), load<u32>(req, KI_NBIO));
}

/** Start the request's bios: register the cancel callback, then queue them. */
function blkdev_start(cpu: u32, req: usize, vec: usize, nbio: u32): void {
  store<u32>(req, nbio, KI_NBIO);
  store<u32>(req, <u32>vec, KI_BIOVEC);
  store<u32>(req, nbio, KI_BIOS_LEFT);
  // Before any bio is queued, so that a cancel from here on finds the bios
  // through the callback; one that came earlier runs it now (nothing queued
  // yet), and blk_submit then sees the mark.
  // The generation is the submitter's own (kiocb_publish stored it); set_cancel_fn's cmpxchg pairs with kiocb_cancel's.
  if (blk_effective()) kiocb_set_cancel_fn(req, hi32(atomic.load<u64>(ki_cw(req))), blkdev_cancel.index);
  // The request cannot complete before its last bio is queued; after that it
  // may be gone, so nothing below touches it.
  for (let k: u32 = 0; k < nbio; k++) blk_submit(cpu, vec + <usize>k * BIO_SIZE);
}

/**
 * Reads and writes on a block device: bios over the range that fits the
 * device, split at segment boundaries and, on stacked devices, at member and
 * chunk boundaries (blk_map).
 */
export function blkdev_rw_submit(cpu: u32, req: usize, devidx: u32, write: bool, pos: u64, nbytes: u32): void {
  const d = dev_addr(devidx);
  if (atomic.load<u32>(d + D_TYPE) == DT_NULL) {
    // Completes without transferring data: a bounce block would hand the caller
    // whatever it held before (another request's bytes), so it goes now.
    const b = load<u32>(req, KI_BOUNCE);
    if (b != 0) {
      kfree(b, load<u32>(req, KI_BOUNCE_SIZE));
      store<u32>(req, 0, KI_BOUNCE);
    }
    aio_complete(cpu, req, <i64>nbytes, 0);
    return;
  }
  const size = load<u64>(d, D_SIZE);
  if (nbytes == 0) { aio_complete(cpu, req, 0, 0); return; }
  if (pos >= size) { aio_complete(cpu, req, write ? -ENOSPC : 0, 0); return; }
  const eff: u32 = <u64>nbytes < size - pos ? nbytes : <u32>(size - pos);
  const nseg = load<u32>(req, KI_NSEG);
  const segs = <usize>load<u32>(req, KI_SEGS);
  const op = write ? BIO_WRITE : BIO_READ;
  const cw = ki_cw(req);
  const end_io = blkdev_bio_end_io.index;
  // On a stacked device, pass 0 counts the bios, mapping each through the
  // stack in the inline bio; pass 1 builds them where they live. On a leaf
  // each segment is one bio, so the count needs no mapping.
  let nbio: u32 = 0;
  let first = 0;
  if (load<u32>(d, D_REMAP) == 0) {
    let acc: u32 = 0;
    for (let i: u32 = 0; i < nseg && acc < eff; i++) {
      const len = load<u32>(segs + <usize>i * SEG_SIZE, SEG_LEN);
      if (len == 0) continue;
      acc += len;
      nbio++;
    }
    first = 1;
  }
  for (let pass = first; pass < 2; pass++) {
    const vec: usize = pass == 0 || nbio == 1 ? req + KI_BIO_INLINE : kmalloc(nbio * BIO_SIZE);
    if (vec == 0) { aio_complete(cpu, req, -ENOMEM, 0); return; }
    let p = pos;
    let left = eff;
    let b: u32 = 0;
    for (let i: u32 = 0; i < nseg && left > 0; i++) {
      const s = segs + <usize>i * SEG_SIZE;
      const len = load<u32>(s, SEG_LEN);
      if (len == 0) continue;
      let l = len < left ? len : left;
      left -= l;
      let off = load<u32>(s, SEG_OFF);
      while (l > 0) {
        const bio = pass == 0 ? vec : vec + <usize>b * BIO_SIZE;
        bio_init(bio, req, cw, op, devidx, p, load<u32>(s, SEG_KIND), load<u32>(s, SEG_REF), off, l, end_io);
        const m = blk_map(bio, pass == 1);
        p += <u64>m;
        off += m;
        l -= m;
        b++;
      }
    }
    if (pass == 0) nbio = b;
    else {
      blkdev_start(cpu, req, vec, nbio);
    }
  }
}

/** FSYNC / FDSYNC on a block device: a flush bio on a ramdisk; nothing to flush elsewhere. */
export function blkdev_fsync_submit(cpu: u32, req: usize, devidx: u32): void {
  const d = dev_addr(devidx);
  if (atomic.load<u32>(d + D_TYPE) != DT_RAMDISK || load<u32>(d, D_REMAP) != 0) {
    aio_complete(cpu, req, 0, 0);
    return;
  }
  const bio = req + KI_BIO_INLINE;
  bio_init(bio, req, ki_cw(req), BIO_FLUSH, devidx, 0, 0, 0, 0, 0, blkdev_bio_end_io.index);
  blkdev_start(cpu, req, bio, 1);
}
