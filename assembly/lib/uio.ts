/**
 * Moving bytes between kernel memory and a request's buffer, for drivers that
 * copy inside the kernel (pipes). A request's buffer is either a bounce block
 * (KI_BOUNCE, linear) or a list of BUF_MEM segments. The host guarantees one of
 * the two: requests on pipes whose user buffers are not in this memory get a
 * bounce block at submit (src/buffers.ts).
 */
import { KI_BOUNCE, KI_SEGS, KI_NSEG, SEG_SIZE, SEG_KIND, SEG_REF, SEG_OFF, SEG_LEN, BUF_SAB } from '../include/layout';

/** True if some segment is a registered SharedArrayBuffer (filled by the host, not here). */
export function req_has_sab(req: usize): bool {
  const n = load<u32>(req, KI_NSEG);
  const segs = <usize>load<u32>(req, KI_SEGS);
  for (let i: u32 = 0; i < n; i++) if (load<u32>(segs + <usize>i * SEG_SIZE, SEG_KIND) == BUF_SAB) return true;
  return false;
}

/**
 * Copy `n` bytes between kernel address `k` and the request buffer at byte
 * offset `at`. to_req: kernel -> request (a read); else request -> kernel.
 */
export function req_copy(req: usize, k: usize, n: u32, at: u32, to_req: bool): void {
  const bounce = <usize>load<u32>(req, KI_BOUNCE);
  if (bounce != 0) {
    if (to_req) memory.copy(bounce + at, k, n);
    else memory.copy(k, bounce + at, n);
    return;
  }
  const nseg = load<u32>(req, KI_NSEG);
  const segs = <usize>load<u32>(req, KI_SEGS);
  let skip = at;
  let left = n;
  for (let i: u32 = 0; i < nseg && left > 0; i++) {
    const s = segs + <usize>i * SEG_SIZE;
    const len = load<u32>(s, SEG_LEN);
    if (skip >= len) {
      skip -= len;
      continue;
    }
    const m = len - skip < left ? len - skip : left;
    const addr = <usize>load<u32>(s, SEG_REF) + load<u32>(s, SEG_OFF) + skip;
    if (to_req) memory.copy(addr, k, m);
    else memory.copy(k, addr, m);
    k += m;
    left -= m;
    skip = 0;
  }
}
