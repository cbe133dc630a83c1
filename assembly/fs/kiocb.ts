/**
 * kiocbs: allocation by id, the ki_cancel state machine (S10), completion.
 *
 * ki_cancel is one 64-bit word, moved only by compare-and-swap:
 *
 *     [ generation : 32 | state : 32 ]
 *
 * The generation is part of the word so that a cancel whose lookup raced with
 * the request completing and its slot being reused can never mark the new
 * request: its cmpxchg expects the old generation and fails (S3).
 *
 * The words live apart from the kiocbs, densely by id (KI_CW in layout.ts),
 * so that io_cancel's lookup touches one word and no kiocb.
 *
 * State table (rows: state now; columns: what happens; "-" cannot happen):
 *
 *   state      | submit       | io_cancel               | set_cancel_fn(cb)      | complete              | free
 *   -----------+--------------+-------------------------+------------------------+-----------------------+-----------
 *   FREE       | -> 0         | -EINVAL                 | -                      | -                     | -
 *   0          | -            | -> CANCELLED            | -> cb                  | -> CANCELLED          | -
 *              |              |    -EINPROGRESS         |                        |                       |
 *   cb         | -            | -> CANCELLING, run cb,  | -> cb' (replace)       | -> CANCELLED          | -
 *              |              |    -> CANCELLED;        |                        |                       |
 *              |              |    -EINPROGRESS         |                        |                       |
 *   CANCELLING | -            | -EINPROGRESS (no-op)    | run cb' now, no change | spin until CANCELLED  | -
 *   CANCELLED  | -            | -EINPROGRESS (no-op)    | run cb' now, no change | no change             | -> FREE, gen+1
 *
 * Reading the table:
 *  - Exactly one of {complete, cancel} decides: after completion's cmpxchg to
 *    CANCELLED, io_cancel starts no callback, and completion waits out one
 *    that io_cancel started. (A callback that set_cancel_fn runs "at once"
 *    can race with completion; callbacks therefore re-check the generation
 *    under their driver's lock.)
 *  - CANCELLED means "cancel asked (callback done), or completion decided". While
 *    any bio of the request is still queued it cannot have completed, so to the
 *    block layer CANCELLED (or CANCELLING) means exactly "please cancel".
 *  - Completion stores FREE with the next generation before it publishes the
 *    event, so once an event is visible, io_cancel of its key is -EINVAL.
 *
 * Seed bugs fixed (PATCH 18/21, kiocb_cancel and lookup_kiocb):
 *  1. kiocb_cancel computed `new = cancel ? KIOCB_CANCELLING : KIOCB_CANCELLED`
 *     but then cmpxchg'd KIOCB_CANCELLING unconditionally. A request with no
 *     callback was left CANCELLING forever: completion spun on it (hang), and
 *     kiocb_cancelled() (== CANCELLED) never saw the mark (lost cancel). Here
 *     state 0 goes straight to CANCELLED.
 *  2. lookup_kiocb rejected `key > ctx->nr_events`, letting key == nr_events
 *     index one past the id space (and the page array). Here id >= nr is
 *     rejected before any memory is touched.
 *  3. A freed kiocb stayed CANCELLED and matched by iocb pointer, so cancelling
 *     a completed request "succeeded"; and a reused slot was indistinguishable
 *     from its previous life. Here freed kiocbs are FREE and keys carry the
 *     generation.
 *  4. kiocb_set_cancel_fn cmpxchg'd over CANCELLING, and kiocb_cancel then
 *     overwrote the new callback with a plain store: a callback registered
 *     while another ran was lost. Here CANCELLING is never overwritten by
 *     set_cancel_fn; the late callback runs at once (the cancel was asked).
 *     set_cancel_fn also carries the generation, so a driver registering
 *     late can neither revive a freed kiocb nor hit its next request.
 */
import {
  KI_CW, CPAGE_OFF, CW_PER_PAGE, CW_PER_PAGE_SHIFT, KI_CTX, KI_ID, KI_DATA, KI_FILE, KI_NBIO, KI_BIOVEC, KI_BOUNCE,
  KI_BOUNCE_SIZE, KI_LIST_PREV, KI_LIST_NEXT, KI_SEGS, KI_NSEG, KI_SEG_INLINE, KI_BIO_INLINE,
  KIOCB_SHIFT, KIOCBS_PER_PAGE, KIOCBS_PER_PAGE_SHIFT, KIOCB_FREE, KIOCB_CANCELLING,
  KIOCB_CANCELLED, KIOCB_CANCELLABLE, KIOCB_GEN_MASK, KEY_ID_BITS, PAGE_SIZE,
  CX_NR, CX_ID_BASE, KPAGE_OFF, CX_STATE_GEN, CX_DYING_WAKE, CX_CTX_LOCK, CX_LIST_HEAD,
  CX_LIST_TAIL, CTX_DYING, H_FLAGS, FLAG_LOOKUP_LIST, FLAG_MARK_ONLY, BIO_SIZE, SEG_SIZE, H_ST_LATE_CB,
  KI_COOKIE, CPU_OFF, CPU_SIZE, CPU_DEFER, CPU_STAGED, CPU_SPARE_TAG, TAG_EMPTY, SCRATCH_OFF, SCRATCH_SHIFT,
  SCRATCH_STAGE, STAGE_REC_SIZE, EV_DATA, EV_OBJ, EV_RES, EV_RES2, REAP_BOUNCE, REAP_BOUNCE_SIZE,
  REAP_COOKIE, PC_INFLIGHT, FLAG_FI_LATE_CB_REUSE, FLAG_FI_TAG_FREE_REUSE, H_FI_TAG_HOLD, FI_HOLD_WAITING,
  FI_HOLD_REUSED, FI_HOLD_TIMEOUT, FLAG_FI_CW_PAGE_RACE, H_FI_CW_HOLD, FLAG_FI_CANCEL_RACE, H_FI_CANCEL_HOLD, FLAG_FI_CANCEL_CB_HOLD, H_FI_CB_HOLD, FI_HOLD_RELEASED, KI_UPIN, SEG_KIND, SEG_REF, BUF_MEM, ULIVE_SHIFT, KI_NOTIFY, KI_RESFD, STAGE_RESFD,
} from '../include/layout';
import { EINVAL, EINPROGRESS } from '../include/errno';
import { pack, hi32, lo32, cpu_relax, spin_lock, spin_unlock } from '../include/barrier';
import { kmalloc, kfree, user_unpin } from '../lib/heap';
import { tag_free, pcpu_of } from '../lib/tags';
import { ring_publish } from './ring';
import { ctx_addr } from './ctxtab';
import { fput } from './file';

@inline function cpu_addr(cpu: u32): usize {
  return CPU_OFF + <usize>cpu * CPU_SIZE;
}

@inline export function next_gen(gen: u32): u32 {
  const g = (gen + 1) & KIOCB_GEN_MASK;
  return g == 0 ? 1 : g;
}

/** aio_key of a live kiocb: generation and id. */
@inline export function kiocb_key(gen: u32, id: u32): u64 {
  return (<u64>gen << KEY_ID_BITS) | <u64>id;
}

/** Address of the ki_cancel word of a kiocb (see KI_CW in layout.ts). */
@inline export function ki_cw(req: usize): usize {
  return <usize>load<u32>(req, KI_CW);
}

/**
 * kiocb_from_id for lookups (io_cancel): the kiocb with global id `gid` if it
 * belongs to this context's id range, else 0. The bound is exclusive, `gid -
 * base >= nr` is rejected (seed bug 2), and an id from another context's range
 * is rejected before any kiocb is read. Address arithmetic only: the kiocb
 * itself is not touched.
 */
export function kiocb_lookup(ctx: usize, gid: u32): usize {
  const local = gid - load<u32>(ctx, CX_ID_BASE); // wraps to a huge value below base
  if (local >= load<u32>(ctx, CX_NR)) return 0;
  // Pairs with the cmpxchg that publishes an initialised page in kiocb_get.
  const page = <usize>atomic.load<u32>(KPAGE_OFF + (<usize>(gid >> KIOCBS_PER_PAGE_SHIFT) << 2));
  if (page == 0) return 0;
  return page + (<usize>(gid & (KIOCBS_PER_PAGE - 1)) << KIOCB_SHIFT);
}

/**
 * The ki_cancel word of global id `gid`, found without reading its kiocb.
 * Only for a gid kiocb_lookup accepted: its cancel page exists (kiocb_get
 * publishes it before the kiocb page).
 */
@inline export function cw_lookup(gid: u32): usize {
  // Pairs with the cmpxchg that publishes an initialised cancel page in kiocb_get.
  const page = <usize>atomic.load<u32>(CPAGE_OFF + (<usize>(gid >> CW_PER_PAGE_SHIFT) << 2));
  return page + (<usize>(gid & (CW_PER_PAGE - 1)) << 3);
}

/** The cancel page holding gid's word, allocated and set FREE (generation 1) on first use. 0 when out of memory. */
function cw_page(gid: u32): usize {
  const pp = CPAGE_OFF + (<usize>(gid >> CW_PER_PAGE_SHIFT) << 2);
  const page = <usize>atomic.load<u32>(pp);
  if (page != 0) return page;
  const p = kmalloc(PAGE_SIZE);
  if (p == 0) return 0;
  for (let i: u32 = 0; i < CW_PER_PAGE; i++) store<u64>(p + (<usize>i << 3), pack(1, KIOCB_FREE));
  fi_cw_page_race(pp);
  // Release: the words are initialised before the page is visible; pairs with
  // the atomic loads of the page pointer in cw_lookup and here.
  const seen = <usize>atomic.cmpxchg<u32>(pp, 0, <u32>p);
  if (seen == 0) return p;
  kfree(p, PAGE_SIZE);
  return seen;
}

/**
 * Fault injection (FLAG_FI_CW_PAGE_RACE), called by cw_page between initialising
 * its private copy of a fresh page and publishing it: the first call after boot
 * waits, bounded, until another cpu has published the page at `pp`, so that this
 * cpu's cmpxchg loses. Records the outcome in H_FI_CW_HOLD.
 */
function fi_cw_page_race(pp: usize): void {
  if ((load<u32>(H_FLAGS) & FLAG_FI_CW_PAGE_RACE) == 0) return;
  if (atomic.cmpxchg<u32>(H_FI_CW_HOLD, 0, FI_HOLD_WAITING) != 0) return; // one hold per boot
  for (let i = 0; i < 1_000_000_000; i++) {
    // Pairs with the winner's publishing cmpxchg in cw_page.
    if (atomic.load<u32>(pp) != 0) {
      atomic.store<u32>(H_FI_CW_HOLD, FI_HOLD_REUSED);
      return;
    }
  }
  atomic.store<u32>(H_FI_CW_HOLD, FI_HOLD_TIMEOUT);
}

/**
 * kiocb_from_id for a freshly allocated local id: allocates its page on first
 * use (the seed's lazily allocated array of pages). Pages are never freed, so a
 * kiocb's generation keeps counting when a later context reuses the id. 0 when
 * out of memory.
 */
export function kiocb_get(ctx: usize, local: u32): usize {
  const gid = load<u32>(ctx, CX_ID_BASE) + local;
  const pp = KPAGE_OFF + (<usize>(gid >> KIOCBS_PER_PAGE_SHIFT) << 2);
  let page = <usize>atomic.load<u32>(pp);
  if (page == 0) {
    // The cancel words first: a published kiocb page points into them.
    const first = gid & ~(KIOCBS_PER_PAGE - 1);
    const cwp = cw_page(first);
    if (cwp == 0) return 0;
    const p = kmalloc(PAGE_SIZE);
    if (p == 0) return 0;
    for (let i: u32 = 0; i < KIOCBS_PER_PAGE; i++) {
      store<u32>(p + (<usize>i << KIOCB_SHIFT), <u32>(cwp + (<usize>((first + i) & (CW_PER_PAGE - 1)) << 3)), KI_CW);
    }
    // Release: the kiocbs are initialised before the page is visible; pairs with
    // the atomic loads of the page pointer in kiocb_lookup and here.
    const seen = <usize>atomic.cmpxchg<u32>(pp, 0, <u32>p);
    if (seen != 0) {
      kfree(p, PAGE_SIZE);
      page = seen;
    } else {
      page = p;
    }
  }
  return page + (<usize>(gid & (KIOCBS_PER_PAGE - 1)) << KIOCB_SHIFT);
}

/** Make a submitted kiocb live and cancellable (state 0) under generation `gen`. */
@inline export function kiocb_publish(req: usize, gen: u32): void {
  // Release: every field io_cancel, the drivers or completion read is written
  // before the request can be found; pairs with the 64-bit loads/cmpxchg below.
  atomic.store<u64>(ki_cw(req), pack(gen, KIOCB_CANCELLABLE));
}

/**
 * Run a driver cancel callback for the request of generation `gen`. Callbacks
 * wake or dequeue; they never complete. They get the generation because one
 * run by set_cancel_fn may arrive after the request completed and its kiocb
 * was reused: under its own lock, a callback acts only if the generation
 * still matches.
 */
@inline function run_cancel_cb(cb: u32, req: usize, gen: u32): void {
  // The driver's ki_cancel: `cb` is its function's index in the module's table
  // (drivers pass `their_cancel_fn.index`), as fs/aio.c calls req->ki_cancel(req).
  call_indirect<void>(cb, req, gen);
}

/**
 * io_cancel's core: ask a live request of generation `gen` to cancel. Never
 * blocks. Returns -EINPROGRESS if the request was live (the outcome arrives
 * as its event), -EINVAL if it is free or of another generation. `cw` is the
 * request's ki_cancel word (io_cancel finds it by id, without reading `req`).
 */
export function kiocb_cancel(req: usize, cw: usize, gen: u32): i32 {
  let old = atomic.load<u64>(cw);
  let st: u32 = 0;
  while (true) {
    st = lo32(old);
    if (hi32(old) != gen || st == KIOCB_FREE) return -EINVAL;
    if (st == KIOCB_CANCELLING || st == KIOCB_CANCELLED) return -EINPROGRESS;
    const nw: u32 = st == KIOCB_CANCELLABLE ? KIOCB_CANCELLED : KIOCB_CANCELLING;
    fi_cancel_race(cw, gen);
    // Pairs with completion's and set_cancel_fn's cmpxchg: one transition wins.
    const seen = atomic.cmpxchg<u64>(cw, old, pack(gen, nw));
    if (seen == old) break;
    old = seen;
  }
  if (st != KIOCB_CANCELLABLE) {
    fi_cancel_cb_hold();
    run_cancel_cb(st, req, gen);
    // Release: the callback's effects before CANCELLED; pairs with completion's
    // atomic load spinning on CANCELLING.
    atomic.store<u64>(cw, pack(gen, KIOCB_CANCELLED));
  }
  return -EINPROGRESS;
}

/**
 * Fault injection (FLAG_FI_CANCEL_RACE), called by kiocb_cancel between its
 * load of the cancel word and its cmpxchg: the first call after boot waits,
 * bounded, until the request's generation is retired (it completed and was
 * freed), so that the cmpxchg fails and the loop must see the new word.
 * Records the outcome in H_FI_CANCEL_HOLD.
 */
function fi_cancel_race(cw: usize, gen: u32): void {
  if ((load<u32>(H_FLAGS) & FLAG_FI_CANCEL_RACE) == 0) return;
  if (atomic.cmpxchg<u32>(H_FI_CANCEL_HOLD, 0, FI_HOLD_WAITING) != 0) return; // one hold per boot
  for (let i = 0; i < 1_000_000_000; i++) {
    // Pairs with completion's store of FREE at the next generation.
    if (hi32(atomic.load<u64>(cw)) != gen) {
      atomic.store<u32>(H_FI_CANCEL_HOLD, FI_HOLD_REUSED);
      return;
    }
  }
  atomic.store<u32>(H_FI_CANCEL_HOLD, FI_HOLD_TIMEOUT);
}

/**
 * Fault injection (FLAG_FI_CANCEL_CB_HOLD), called by kiocb_cancel between its
 * move to CANCELLING and the callback: the first call after boot waits,
 * bounded, until the test stores FI_HOLD_RELEASED in H_FI_CB_HOLD.
 */
function fi_cancel_cb_hold(): void {
  if ((load<u32>(H_FLAGS) & FLAG_FI_CANCEL_CB_HOLD) == 0) return;
  if (atomic.cmpxchg<u32>(H_FI_CB_HOLD, 0, FI_HOLD_WAITING) != 0) return; // one hold per boot
  for (let i = 0; i < 1_000_000_000; i++) {
    // Pairs with the test's atomic store of RELEASED.
    if (atomic.load<u32>(H_FI_CB_HOLD) == FI_HOLD_RELEASED) return;
  }
  atomic.store<u32>(H_FI_CB_HOLD, FI_HOLD_TIMEOUT);
}

/**
 * Register a driver cancel callback (S9) for the live request of generation
 * `gen`. If it was already asked to cancel, the callback runs at once and the
 * state is left as it is. If the request has completed meanwhile (another
 * generation), nothing happens: it needs no cancelling.
 */
export function kiocb_set_cancel_fn(req: usize, gen: u32, cb: u32): void {
  const cw = ki_cw(req);
  let old = atomic.load<u64>(cw);
  while (true) {
    if (hi32(old) != gen || lo32(old) == KIOCB_FREE) return;
    const st = lo32(old);
    if (st == KIOCB_CANCELLING || st == KIOCB_CANCELLED) {
      atomic.add<u64>(H_ST_LATE_CB, 1);
      fi_late_cb_reuse(cw, gen);
      run_cancel_cb(cb, req, gen);
      return;
    }
    // Pairs with kiocb_cancel's cmpxchg.
    const seen = atomic.cmpxchg<u64>(cw, old, pack(gen, cb));
    if (seen == old) return;
    old = seen;
  }
}

/**
 * Fault injection (FLAG_FI_LATE_CB_REUSE): hold a late callback, bounded, until
 * its kiocb is live again under another generation with a callback registered.
 */
function fi_late_cb_reuse(cw: usize, gen: u32): void {
  if ((load<u32>(H_FLAGS) & FLAG_FI_LATE_CB_REUSE) == 0) return;
  for (let i = 0; i < 1_000_000_000; i++) {
    const w = atomic.load<u64>(cw);
    if (hi32(w) != gen && lo32(w) != KIOCB_FREE && lo32(w) != KIOCB_CANCELLABLE) return;
  }
}

/**
 * Fault injection (FLAG_FI_TAG_FREE_REUSE), called by tag_free once `id` is in
 * a cache: the first call after boot waits, bounded, until the id's kiocb is
 * live again (neither FREE nor the CANCELLED of a decided completion), i.e.
 * another cpu allocated the id, read the generation and published. Records
 * the outcome in H_FI_TAG_HOLD. Inside aio_complete this holds the gap between
 * tag_free and the publication of the old request's event.
 */
export function fi_tag_free_reuse(ctx: usize, id: u32): void {
  if ((load<u32>(H_FLAGS) & FLAG_FI_TAG_FREE_REUSE) == 0) return;
  if (atomic.cmpxchg<u32>(H_FI_TAG_HOLD, 0, FI_HOLD_WAITING) != 0) return; // one hold per boot
  const cw = cw_lookup(load<u32>(ctx, CX_ID_BASE) + id);
  for (let i = 0; i < 1_000_000_000; i++) {
    // Pairs with kiocb_publish's release store of the new occupant.
    const st = lo32(atomic.load<u64>(cw));
    if (st != KIOCB_FREE && st != KIOCB_CANCELLED) {
      atomic.store<u32>(H_FI_TAG_HOLD, FI_HOLD_REUSED);
      return;
    }
  }
  atomic.store<u32>(H_FI_TAG_HOLD, FI_HOLD_TIMEOUT);
}

/** True once the request has been asked to cancel (the seeds' kiocb_cancelled()). */
@inline export function kiocb_cancel_asked(req: usize): bool {
  const st = lo32(atomic.load<u64>(ki_cw(req)));
  return st == KIOCB_CANCELLED || st == KIOCB_CANCELLING;
}

// --- list baseline ('list' lookup: the pre-patch design) --------------------

@inline export function lookup_is_list(): bool {
  return (load<u32>(H_FLAGS) & FLAG_LOOKUP_LIST) != 0;
}

/** Add to the context's active list under ctx_lock (every submit, in list mode). */
export function list_add(ctx: usize, req: usize): void {
  spin_lock(ctx + CX_CTX_LOCK);
  const tail = load<u32>(ctx, CX_LIST_TAIL);
  store<u32>(req, tail, KI_LIST_PREV);
  store<u32>(req, 0, KI_LIST_NEXT);
  if (tail != 0) store<u32>(<usize>tail, <u32>req, KI_LIST_NEXT);
  else store<u32>(ctx, <u32>req, CX_LIST_HEAD);
  store<u32>(ctx, <u32>req, CX_LIST_TAIL);
  spin_unlock(ctx + CX_CTX_LOCK);
}

/** Remove from the active list under ctx_lock (every completion, in list mode). */
export function list_del(ctx: usize, req: usize): void {
  spin_lock(ctx + CX_CTX_LOCK);
  const prev = load<u32>(req, KI_LIST_PREV);
  const next = load<u32>(req, KI_LIST_NEXT);
  if (prev != 0) store<u32>(<usize>prev, next, KI_LIST_NEXT);
  else store<u32>(ctx, next, CX_LIST_HEAD);
  if (next != 0) store<u32>(<usize>next, prev, KI_LIST_PREV);
  else store<u32>(ctx, prev, CX_LIST_TAIL);
  spin_unlock(ctx + CX_CTX_LOCK);
}

/** io_cancel by walking the active list under ctx_lock (fs/aio.c before the patch). */
export function list_cancel(ctx: usize, gid: u32, gen: u32): i32 {
  const id = gid - load<u32>(ctx, CX_ID_BASE);
  spin_lock(ctx + CX_CTX_LOCK);
  let req = <usize>load<u32>(ctx, CX_LIST_HEAD);
  let ret: i32 = -EINVAL;
  while (req != 0) {
    // The id first: the walk reads one line per kiocb, as fs/aio.c's did.
    if (load<u32>(req, KI_ID) == id) {
      const cw = ki_cw(req);
      // Pairs with aio_complete's store of the next generation; kiocb_cancel's
      // cmpxchg decides if that store lands after this load.
      if (hi32(atomic.load<u64>(cw)) == gen) {
        ret = kiocb_cancel(req, cw, gen);
        break;
      }
    }
    req = <usize>load<u32>(req, KI_LIST_NEXT);
  }
  spin_unlock(ctx + CX_CTX_LOCK);
  return ret;
}

// --- completion ---------------------------------------------------------------

/**
 * Stage an event in the cpu's scratch (CPU_DEFER: inside io_submit to the
 * event's context); io_submit's end publishes the staged events together and
 * then signals `resfd` (0: no eventfd). The owning thread only: plain stores.
 */
@inline export function stage_event(cpu: u32, data: u64, key: u64, res: i64, res2: i64, bounce: u32, bounce_size: u32, cookie: u32, resfd: u32): void {
  const ca = cpu_addr(cpu);
  const n = load<u32>(ca, CPU_STAGED);
  const rec = SCRATCH_OFF + (<usize>cpu << SCRATCH_SHIFT) + SCRATCH_STAGE + <usize>n * STAGE_REC_SIZE;
  store<u64>(rec, data, EV_DATA);
  store<u64>(rec, key, EV_OBJ);
  store<i64>(rec, res, EV_RES);
  store<i64>(rec, res2, EV_RES2);
  store<u32>(rec, bounce, REAP_BOUNCE);
  store<u32>(rec, bounce_size, REAP_BOUNCE_SIZE);
  store<u32>(rec, cookie, REAP_COOKIE);
  store<u32>(rec, resfd, STAGE_RESFD);
  store<u32>(ca, n + 1, CPU_STAGED);
}

/**
 * aio_complete: deliver the request's one event and free it. Called by whoever
 * finishes the request (a device thread, the kworker, or the submitter for
 * inline completions), never by a cancel callback.
 */
export function aio_complete(cpu: u32, req: usize, res: i64, res2: i64): void {
  // 1. Decide. After this no cancel callback can start; wait out a running one.
  const cw = ki_cw(req);
  let old = atomic.load<u64>(cw);
  const gen = hi32(old);
  while (true) {
    const st = lo32(old);
    if (st == KIOCB_CANCELLING) {
      cpu_relax();
      // Pairs with kiocb_cancel's release store of CANCELLED after the callback.
      old = atomic.load<u64>(cw);
      continue;
    }
    // FREE: never published (a NOOP, aio.ts submit_one): nothing can race with us.
    if (st == KIOCB_CANCELLED || st == KIOCB_FREE) break;
    // Pairs with kiocb_cancel's and set_cancel_fn's cmpxchg.
    const seen = atomic.cmpxchg<u64>(cw, old, pack(gen, KIOCB_CANCELLED));
    if (seen == old) break;
    old = seen;
  }
  const slot = load<u32>(req, KI_CTX);
  const ctx = ctx_addr(slot);
  if (lookup_is_list()) list_del(ctx, req);

  // 2. Release what the request holds.
  const id = load<u32>(req, KI_ID);
  const data = load<u64>(req, KI_DATA);
  const bounce = load<u32>(req, KI_BOUNCE);
  const bounce_size = load<u32>(req, KI_BOUNCE_SIZE);
  const nbio = load<u32>(req, KI_NBIO);
  const biovec = <usize>load<u32>(req, KI_BIOVEC);
  if (nbio > 1 && biovec != req + KI_BIO_INLINE) kfree(biovec, nbio * BIO_SIZE);
  const nseg = load<u32>(req, KI_NSEG);
  const segs = <usize>load<u32>(req, KI_SEGS);
  // A binary request's pins on its buffers' user blocks: the device is done with them.
  if (load<u32>(req, KI_UPIN) != 0) {
    for (let i: u32 = 0; i < nseg; i++) {
      const sg = segs + <usize>i * SEG_SIZE;
      if (load<u32>(sg, SEG_KIND) == BUF_MEM) user_unpin(<u32>(load<u32>(sg, SEG_REF) >> ULIVE_SHIFT));
    }
  }
  if (segs != 0 && segs != req + KI_SEG_INLINE) kfree(segs, nseg * SEG_SIZE);
  fput(load<u32>(req, KI_FILE));

  const cookie = load<u32>(req, KI_COOKIE);
  // IOCB_FLAG_RESFD: the eventfd's notify op and reference, run once the event is published.
  const notify = load<u32>(req, KI_NOTIFY);
  const resfd = load<u32>(req, KI_RESFD);

  // 3. Retire the key before the event is visible: cancel of it is -EINVAL from here on.
  atomic.store<u64>(cw, pack(next_gen(gen), KIOCB_FREE));
  const key = kiocb_key(gen, load<u32>(ctx, CX_ID_BASE) + id);

  // 4. The id goes back before the event is visible, so a reaper that sees the
  //    event and submits again finds both its ring slot and an id free. The
  //    kiocb may be reused from here on: nothing below reads it. Inside
  //    io_submit to this request's context on this cpu, the batch's next
  //    request takes it (CPU_SPARE_TAG) and io_submit's end frees what is
  //    left, before it publishes.
  const ca = cpu_addr(cpu);
  const staging = load<u32>(ca, CPU_DEFER) == slot + 1;
  if (staging && load<u32>(ca, CPU_SPARE_TAG) == TAG_EMPTY) store<u32>(ca, id, CPU_SPARE_TAG);
  else tag_free(ctx, cpu, id);

  // 5. Publish. The slot was reserved at submit; the bounce block moves to the
  //    slot. Inside io_submit to this request's context on this cpu the event
  //    is staged instead, and io_submit publishes the batch's events together
  //    (it holds a context reference until then, so io_destroy cannot free the
  //    ring under them). A request of another context (an eventfd poll the
  //    batch's write woke) is published now, into its own ring.
  if (staging) {
    stage_event(cpu, data, key, res, res2, bounce, bounce_size, cookie, notify != 0 ? resfd : 0);
    // In flight: io_submit counts the batch once (CPU_SUBMITTED - CPU_STAGED),
    // and holds its context reference until then (io_destroy is not waiting yet).
    return;
  }
  ring_publish(ctx, data, key, res, res2, bounce, bounce_size, cookie, true);
  // After the event is visible, as fs/aio.c's eventfd_signal after the ring's tail moves.
  if (notify != 0) call_indirect<void>(notify, cpu, resfd);

  // 6. Last touch of context memory: this cpu's in-flight count (io_destroy
  //    sums them and sleeps until the sum is 0; wake it while it may be waiting).
  atomic.sub<i32>(pcpu_of(ctx, cpu) + PC_INFLIGHT, 1);
  if (lo32(atomic.load<u64>(ctx + CX_STATE_GEN)) == CTX_DYING) {
    atomic.add<u32>(ctx + CX_DYING_WAKE, 1);
    atomic.notify(ctx + CX_DYING_WAKE, -1);
  }
}
