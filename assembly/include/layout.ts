/**
 * The one file that owns kaio's shared memory layout.
 *
 * Every thread (main, device threads, the kworker, attached workers) maps the
 * same WebAssembly.Memory. This file is imported by the AssemblyScript kernel
 * AND by the TypeScript host, so it is written in the common subset: plain
 * `export const NAME: u32 = <integer expression>` (the host declares `type u32 =
 * number`, src/types.d.ts). AssemblyScript inlines these as
 * compile-time constants (the build fails if any global appears in the .wasm).
 *
 * Integer division must be written `(a / b) | 0` here: AssemblyScript divides
 * u32s as integers, JavaScript does not (test/layout-shared.test.ts checks).
 *
 * Conventions for every field below:
 *   W: who writes it.   A: which atomic (or "plain": single writer, readers
 *   tolerate staleness, or protected by the named lock).
 *
 * Memory map (byte offsets; regions are page aligned):
 *
 *   0            HDR_OFF     +-------------------------------+
 *                            | header: magic, version, knobs |  4 KiB
 *   RODATA_OFF (3 KiB)       |   ... read-only data (ops)    |  the last 1 KiB of it
 *   CPU_OFF                  +-------------------------------+
 *                            | cpu table   MAX_CPUS x 64 B   |
 *   CTX_OFF                  +-------------------------------+
 *                            | kioctx table MAX_CTX x 256 B  |  (entries never freed,
 *                            |                               |   only recycled by gen)
 *   FILE_OFF                 +-------------------------------+
 *                            | file table  MAX_FILES x 32 B  |
 *   FD_OFF                   +-------------------------------+
 *                            | fd table    MAX_FDS x 4 B     |
 *   DEV_OFF                  +-------------------------------+
 *                            | device table MAX_DEVS x 256 B |
 *   PIPE_OFF                 +-------------------------------+
 *                            | pipe table  MAX_PIPES x 128 B |
 *   SCRATCH_OFF              +-------------------------------+
 *                            | per-cpu scratch, 64 KiB each  |  (syscall arguments and
 *                            |                               |   results cross here)
 *   KPAGE_OFF                +-------------------------------+
 *                            | kiocb page table, 2^19 x u32  |  global kiocb id space
 *   CPAGE_OFF                +-------------------------------+
 *                            | cancel-word page table,       |  ki_cancel words, dense
 *                            |   2^14 x u32                  |   (see KI_CW)
 *   IDMAP_OFF                +-------------------------------+
 *                            | id-range bitmap, 2^19 bits    |  which pages a context owns
 *   CPUREF_OFF               +-------------------------------+
 *                            | per-cpu context refs          |  MAX_CPUS x MAX_CTX x u32
 *   HEAP_OFF                 +-------------------------------+
 *                            | heap: rings, tags, kiocb      |  kmalloc (lock-free
 *                            | pages, pipe buffers, media,   |  power-of-two classes)
 *                            | bounce buffers                |
 *   memory end               +-------------------------------+
 */

// ---------------------------------------------------------------------------
// Versioning. The host refuses a .wasm whose header disagrees with this file.
export const KAIO_MAGIC: u32 = 0x6b61696f; // 'kaio'
export const KAIO_VERSION: u32 = 1;

export const PAGE_SHIFT: u32 = 12;
export const PAGE_SIZE: u32 = 1 << PAGE_SHIFT;
export const WASM_PAGE: u32 = 65536;

// ---------------------------------------------------------------------------
// Fixed table sizes (compile time; they bound every index that comes from JS).
export const MAX_CPUS: u32 = 64;
export const MAX_CTX_SHIFT: u32 = 16;
export const MAX_CTX: u32 = 1 << MAX_CTX_SHIFT; // as many contexts as the default aio_max_nr
export const MAX_FILES: u32 = 4096;
export const MAX_FDS: u32 = 4096;
export const FD_FIRST: u32 = 3; // 0, 1 and 2 stay unopened, as in a process with closed stdio
export const MAX_DEVS: u32 = 64;
export const MAX_PIPES: u32 = 1024;
export const SCRATCH_SHIFT: u32 = 17;
export const SCRATCH_SIZE: u32 = 1 << SCRATCH_SHIFT;

// Kernel limits (as in Linux).
export const AIO_MAX_NR_DEFAULT: u32 = 65536;
export const AIO_NR_LIMIT: u32 = 8388608; // 0x10000000 / sizeof(struct io_event): the bound on 2 x max(nr, 4 x cpus)
export const UIO_MAXIOV: u32 = 1024;

// ---------------------------------------------------------------------------
// Header
//
//   0  magic      8  mem_bytes   16 flags       24 aio_nr      32 heap_top
//   4  version   12  ncpus       20 aio_max_nr  28 ctx_rover   36 heap_end
//  40  next_buf_id  44 fd_lock  48 kw_doorbell  52 kw_work (pipe stack head)
//  56  kw_waiting   60 boot_id
//  64  kmalloc free-list heads: NR_CLASSES x u64 {aba:32 | ptr:32}
export const HDR_OFF: u32 = 0;
export const HDR_SIZE: u32 = PAGE_SIZE;
// Read-only data: the module's static Function objects, which carry the
// function-table indices of the ops tables' functions (a driver's cancel
// callback, a bio's end_io, a file's release, a stacked device's remap). The
// compiler places them at --memoryBase (asconfig.json); they are the module's
// only data segments (scripts/check-wasm.mjs rejects any other), never
// written by code, and every instantiation writes the same bytes, so a thread
// that instantiates late rewrites nothing another thread can see change.
export const RODATA_OFF: u32 = 3072;
export const RODATA_END: u32 = HDR_SIZE;
export const H_MAGIC: u32 = 0; //       W: kernel_init.                 A: plain, before any other thread exists
export const H_VERSION: u32 = 4; //     W: kernel_init.                 A: plain
export const H_MEM_BYTES: u32 = 8; //   W: kernel_init.                 A: plain
export const H_NCPUS: u32 = 12; //      W: kernel_init (boot maxCpus).  A: plain
export const H_FLAGS: u32 = 16; //      W: kernel_init.                 A: plain
export const H_AIO_MAX_NR: u32 = 20; // W: kernel_init.                 A: plain
export const H_AIO_NR: u32 = 24; //     W: io_setup/io_destroy.         A: cmpxchg loop / atomic sub
export const H_CTX_ROVER: u32 = 28; //  W: io_setup (next-fit hint).    A: atomic store, racy hint only
export const H_HEAP_TOP: u32 = 32; //   W: kmalloc bump.                A: cmpxchg
export const H_HEAP_END: u32 = 36; //   W: kernel_init.                 A: plain
export const H_NEXT_BUF_ID: u32 = 40; //W: any thread registering a SAB. A: atomic add
export const H_FD_LOCK: u32 = 44; //    W: open/close/pipe.             A: spinlock (cmpxchg/store)
export const H_KW_DOORBELL: u32 = 48; //W: kworker_kick.                A: atomic add, then notify; kworker waits on it
export const H_KW_WORK: u32 = 52; //    W: kworker_kick (push) / kworker (pop all). A: cmpxchg/xchg; pipe index + 1
export const H_KW_WAITING: u32 = 56; // W: kworker (host, around Atomics.wait). A: atomic store; kickers load
export const H_BOOT_ID: u32 = 60; //    W: kernel_init.                 A: plain
export const H_ID_LOCK: u32 = 320; //   W: io_setup/io_destroy (id ranges). A: spinlock
export const H_ID_HINT: u32 = 324; //   first id page that may be free. A: plain, under H_ID_LOCK
export const H_LAYOUT_SIG: u32 = 328; // W: kernel_init (LAYOUT_SIG as compiled into the .wasm). A: plain
export const H_KW_STATE: u32 = 332; // kworker thread state, DS_*. W: kworker (READY) / shutdown (STOP). A: atomic store + notify
// Kernel-wide counters (u64, atomic add; read by k.stats()):
export const H_ST_DISCARDED: u32 = 336; // events left unreaped in a ring that io_destroy freed
export const H_ST_LATE_CB: u32 = 344; //   cancel callbacks set_cancel_fn ran at once (the cancel came first)
// User memory (k.buffer()): blocks come from their own free lists and whole pages
// of their own (kmalloc_user), so a user block never shares a page with a kernel
// structure, and a bitmap says, per 64-byte granule, whether it is inside a live
// user block (ULIVE) and whether a block starts there (USTART). io_submit accepts
// a view over kernel memory only inside one live user block (user_range_ok).
export const H_ULIVE: u32 = 352; //   address of the live-granule bitmap (mem_bytes / 512 bytes). W: kernel_init. A: plain
export const H_USTART: u32 = 356; //  address of the block-start bitmap (same size). W: kernel_init. A: plain
// The user pages' table (user_block_of in O(1)): one u32 per page of memory, 0
// for a page that is not a user page; for a page carved into blocks of one
// class below a page, (class << 1) | 1; for a page of a block of a page or
// more, its first granule << 1. A page's blocks never change (user pages go
// back to their own class's free list, never to the bump allocator), so an
// entry is written once, by kmalloc_user, before the first live bit of the page.
export const H_UPAGES: u32 = 396; //  address of the table. W: kernel_init. A: plain
// Fault injection FLAG_FI_CANCEL_RACE (tests only): the state of its one hold
// (kiocb_cancel, between its load of the cancel word and its cmpxchg). 0 not
// yet, FI_HOLD_WAITING while held, then FI_HOLD_REUSED (the request's
// generation was retired meanwhile: it completed) or FI_HOLD_TIMEOUT.
// W: kiocb_cancel's hold (cmpxchg 0 -> WAITING, then atomic store). A: atomic load (tests).
export const H_FI_CANCEL_HOLD: u32 = 400;
// Fault injection FLAG_FI_CANCEL_CB_HOLD (tests only): the state of its one hold
// (kiocb_cancel, between moving a request with a callback to CANCELLING and
// running the callback). 0 not yet, FI_HOLD_WAITING while held, then
// FI_HOLD_RELEASED (stored by the test: go on) or FI_HOLD_TIMEOUT.
// W: kiocb_cancel's hold (cmpxchg 0 -> WAITING, TIMEOUT), the test (RELEASED). A: atomic load/store.
export const H_FI_CB_HOLD: u32 = 404;
// Orphaned cookies: per cpu, a bitmap of COOKIE_SPACE bits. A thread's handle for
// its iocb object (the cookie) travels with the event; when the event is consumed
// by anyone but the submitting thread (another thread's io_getevents, a user-space
// reaper moving head, io_destroy discarding it), the kernel sets the cookie's bit
// so that the submitting thread can free the handle: handles never wrap onto a live one.
export const H_ORPHANS: u32 = 360; // address of ncpus bitmaps of COOKIE_SPACE / 8 bytes. W: kernel_init. A: plain
// num_possible_cpus() of the machine kaio runs on: io_setup sizes a context's
// ring as Linux does from it (ctx.ts, linux_ring). W: kernel_init. A: plain
export const H_POSSIBLE_CPUS: u32 = 364;
// Devices whose cancelled list may hold bios (bit d: device d), u64. A cancel
// that parks bios there sets the bits (atomic or) and, once it holds no lock,
// completes them itself (blk_reap_all: xchg to 0, then each list under its
// q_lock), so the event is out when io_cancel returns and no device thread is
// woken for it. A: atomic or / xchg
export const H_CXL_DEVS: u32 = 368;
// Fault injection FLAG_FI_TAG_FREE_REUSE (tests only): the state of its one hold.
// 0 not yet, FI_HOLD_WAITING while held, then FI_HOLD_REUSED (another cpu made
// the freed id's kiocb live) or FI_HOLD_TIMEOUT (the bound passed first).
// W: tag_free's hook (cmpxchg 0 -> WAITING, then atomic store). A: atomic load (tests).
export const H_FI_TAG_HOLD: u32 = 376;
// The same fault injection's hook: the function-table index of fs/kiocb.ts's
// fi_tag_free_reuse, which lib/tags.ts's tag_free calls (lib/ cannot import fs/);
// 0 unless the flag is set. W: kernel_init. A: plain
export const H_FI_TAG_HOOK: u32 = 380;
export const FI_HOLD_WAITING: u32 = 1;
export const FI_HOLD_REUSED: u32 = 2;
export const FI_HOLD_TIMEOUT: u32 = 3;
export const FI_HOLD_RELEASED: u32 = 4; // a hold the test ends itself (H_FI_CB_HOLD)
// Pins on user blocks held by binary requests (kfree_user defers the free of a
// pinned block to its last unpin): the address of a directory of u32, one per
// UPIN_CHUNK bytes of memory, each 0 or the address of a lazily kmalloc'd leaf
// page of UPIN_PER_LEAF pin words, one per granule (the word of a block's
// first granule counts its pins). W: kernel_init (directory), user_pin (a leaf,
// once: cmpxchg 0 -> page). A: atomic load. Leaves are never freed.
export const H_UPIN: u32 = 384;
// Fault injection FLAG_FI_CW_PAGE_RACE (tests only): the state of its one hold
// (cw_page, between initialising a fresh cancel page and publishing it).
// 0 not yet, FI_HOLD_WAITING while held, then FI_HOLD_REUSED (another cpu
// published that page first, so the held cpu loses the race) or FI_HOLD_TIMEOUT.
// W: cw_page's hold (cmpxchg 0 -> WAITING, then atomic store). A: atomic load (tests).
export const H_FI_CW_HOLD: u32 = 388;
// Fault injection FLAG_FI_STEAL_RACE (tests only): the state of its one hold
// (steal_tags, between a thief's load of a full victim slot and its xchg, once
// it has already stolen an id). 0 not yet, FI_HOLD_WAITING while held, then
// FI_HOLD_REUSED (the owner emptied that slot meanwhile) or FI_HOLD_TIMEOUT.
// W: steal_tags' hold (cmpxchg 0 -> WAITING, then atomic store). A: atomic load (tests).
export const H_FI_STEAL_HOLD: u32 = 392;
// A pin word: [ pending : 1 | class - KMALLOC_MIN_SHIFT : 5 | pins : 26 ].
// user_pin adds 1, user_unpin subtracts 1; kfree_user ors in pending and the
// block's class. Whoever moves a word from {pending, class, 0 pins} to 0 (one
// cmpxchg) frees the block (lib/heap.ts, upin_settle). A: atomic add/sub/or/cmpxchg.
export const UPIN_LEAF_SHIFT: u32 = 10; // granules per leaf (one page of u32 words)
export const UPIN_PER_LEAF: u32 = 1 << UPIN_LEAF_SHIFT;
export const UPIN_CHUNK_SHIFT: u32 = UPIN_LEAF_SHIFT + 6; // bytes per directory entry: 64 KiB (granule = 64 B)
export const UPIN_PENDING: u32 = 0x80000000;
export const UPIN_CLASS_SHIFT: u32 = 26;
export const UPIN_COUNT_MASK: u32 = (1 << UPIN_CLASS_SHIFT) - 1;
// The host-file thread pool (S13, fs/hostfile.ts). The work queue and the
// cancelled list are kiocbs linked through KI_WQ_NEXT/PREV, under H_POOL_LOCK.
//  768 lock  772 queue head  776 queue tail  780 cancelled list head (for the kworker)
//  784 doorbell  788 waiting  792 threads  796 ready  800 state  804 close stack
//  808 epoch  812 queued  816 running  824 executed u64  832 cancelled_queued u64
//  840 interrupted u64  848 eventfd deferred list head  852 eventfd list lock
//  896 slots: MAX_POOL_THREADS x u32, the kiocb each pool thread runs (0: none)
export const H_POOL_LOCK: u32 = 768; //     spinlock over the queue, the cancelled list, queued/running and slots
export const H_POOL_QHEAD: u32 = 772; //    W: under H_POOL_LOCK. A: plain
export const H_POOL_QTAIL: u32 = 776;
export const H_POOL_CXL: u32 = 780; //      cancelled queued items, for the kworker to complete. W: under H_POOL_LOCK
export const H_POOL_DOORBELL: u32 = 784; // futex word pool threads sleep on. A: atomic add + notify (pool_kick)
export const H_POOL_WAITING: u32 = 788; //  pool threads asleep. W: each thread around its wait. A: atomic add/sub; kickers load
export const H_POOL_THREADS: u32 = 792; //  pool threads started (poolThreads once started). W: the booting thread. A: atomic store
export const H_POOL_READY: u32 = 796; //    pool threads listening for buffers (BufferTable made). A: atomic add + notify
export const H_POOL_STATE: u32 = 800; //    DS_*. W: shutdown (STOP). A: atomic store + notify of the doorbell
export const H_POOL_CLOSE: u32 = 804; //    stack of released host files (HF_NEXT links) whose host fd a pool thread closes. A: cmpxchg push / xchg take
export const H_POOL_EPOCH: u32 = 808; //    bumped by each replacement pool thread once it listens (src/buffers.ts re-posts). A: atomic add
export const H_POOL_QUEUED: u32 = 812; //   items in the queue. W: under H_POOL_LOCK. A: plain (stats read racily)
export const H_POOL_RUNNING: u32 = 816; //  items a thread runs. W: under H_POOL_LOCK
export const H_POOL_ST_EXECUTED: u32 = 824; //  u64 items a pool thread ran. A: atomic add
export const H_POOL_ST_CANCELLED_Q: u32 = 832; // u64 items cancelled while queued (they never ran). A: atomic add
export const H_POOL_ST_INTERRUPTED: u32 = 840; // u64 running items a cancel interrupted (-EINTR). A: atomic add
export const H_EFD_DEFERRED: u32 = 848; //  eventfd requests for the kworker to complete (KI_WQ_NEXT links). W: under H_EFD_LOCK
export const H_EFD_LOCK: u32 = 852; //      spinlock over every eventfd (fs/eventfd.ts)
export const H_POOL_SLOTS: u32 = 896;
export const MAX_POOL_THREADS: u32 = 64;
export const ULIVE_SHIFT: u32 = 6; // granule of the user bitmaps: 64 B (the smallest kmalloc class)
export const H_UFREELISTS: u32 = 512; // kmalloc_user free-list heads: NR_CLASSES x u64 {aba:32 | ptr:32}
export const H_FREELISTS: u32 = 64;
export const KMALLOC_MIN_SHIFT: u32 = 6; // 64 B
export const KMALLOC_MAX_SHIFT: u32 = 31;
export const NR_CLASSES: u32 = KMALLOC_MAX_SHIFT - KMALLOC_MIN_SHIFT + 1;

// H_FLAGS bits (boot options; constant afterwards)
export const FLAG_LOOKUP_LIST: u32 = 1; // lookup: 'list' baseline (ctx_lock + linked list)
export const FLAG_MARK_ONLY: u32 = 2; //   cancel: 'mark-only' baseline (block layer ignores marks)
// Fault injection (tests only, as the kernel's CONFIG_FAULT_INJECTION): a pipe
// waiter is published, then its submitter spins until the request's state
// changes (a cancel) or a bound passes, before it registers its callback. It
// holds open the window in which a cancel precedes kiocb_set_cancel_fn.
export const FLAG_FI_LATE_CANCEL_FN: u32 = 4;
// Fault injection (tests only): a callback that set_cancel_fn runs at once (the
// cancel came first) is held, bounded, until its kiocb has completed and been
// reused by a request that registered its own callback. It holds open the window
// in which a late callback meets another request in its kiocb.
export const FLAG_FI_LATE_CB_REUSE: u32 = 8;
// Fault injection (tests only): the first tag_free after boot, once the id is
// in its cpu's cache (where a thief can take it), is held, bounded, until that
// id's kiocb is live again (another cpu allocated the id and published a
// request in it). It holds open the window between freeing an id and the end of
// its caller, which for aio_complete must come after the key is retired.
export const FLAG_FI_TAG_FREE_REUSE: u32 = 16;
// Fault injection (tests only): an original pool thread (not a replacement) that
// takes a request whose aio_data is FI_POOL_EXIT_DATA exits at once, holding it,
// so that its replacement must finish that request (fs/hostfile.ts).
export const FLAG_FI_POOL_EXIT: u32 = 32;
export const FI_POOL_EXIT_DATA: u32 = 0x6b696c6c; // 'kill'
// Fault injection (tests only): the first cpu after boot to initialise a fresh
// cancel-word page (cw_page) waits, bounded, until another cpu has published
// that page, before its own cmpxchg. It holds open the window in which two cpus
// race to publish the same page, and makes the held cpu the loser.
export const FLAG_FI_CW_PAGE_RACE: u32 = 64;
// Fault injection (tests only): the first thief after boot that, having already
// stolen an id, finds another victim slot full, waits, bounded, until that slot
// is empty (its owner popped it) before its xchg. It holds open the window in
// which a thief's xchg finds empty a slot its load saw full.
export const FLAG_FI_STEAL_RACE: u32 = 128;
// Fault injection (tests only): the first io_cancel after boot that finds a
// live request waits, bounded, after its load of the cancel word and before
// its cmpxchg, until that request's generation is retired (it completed and
// was freed). It holds open the window in which completion wins the word
// between a canceller's load and its compare-and-swap.
export const FLAG_FI_CANCEL_RACE: u32 = 256;
// Fault injection (tests only): the first io_cancel after boot that moves a
// request with a callback to CANCELLING waits, bounded, before it runs the
// callback, until the test releases it (H_FI_CB_HOLD). It holds open the
// window in which the request is marked but its driver has not yet been told:
// a device thread that meets the marked bio in stage 1 must complete it.
export const FLAG_FI_CANCEL_CB_HOLD: u32 = 512;

// ---------------------------------------------------------------------------
// CPU table. A "cpu" is a thread that has instantiated the module.
//
//   0 owner u64 {tid:32 | kind:24 state:8}   12 defer (see CPU_DEFER)   16 staged
//
// The owner word is the cpu's whole identity, moved only by 64-bit cmpxchg, so
// a claim and the identity it carries appear together: there is no moment at
// which the cpu is ONLINE with a previous owner's kind and tid (cpu_reclaim
// matches the whole word). FREE is the word 0.
//   FREE -> ONLINE(kind, tid)            cpu_online (cmpxchg from 0)
//   ONLINE -> FREE                       cpu_offline, by the owner (detach), after draining
//   ONLINE(kind, tid) -> RECLAIMING(kind, tid) -> FREE
//                                        cpu_reclaim, by another thread, once the owner is gone
export const CPU_OFF: u32 = HDR_OFF + HDR_SIZE;
export const CPU_SIZE: u32 = 64;
export const CPU_OWNER: u32 = 0; // W: cpu_online / cpu_offline / cpu_reclaim. A: 64-bit cmpxchg / atomic store of 0
export const CPU_DEFER: u32 = 12; // the batch's context slot + 1 while io_submit runs on this cpu
//                                  (0 otherwise): inline completions of that context's requests are
//                                  staged (SCRATCH_STAGE) and io_submit publishes them together (a
//                                  request of another context that completes inline, an eventfd
//                                  poll woken by the batch's write, is published at once).
//                                  W/R: the owning thread; cpu_reclaim once the owner is gone. A: plain
export const CPU_STAGED: u32 = 16; // events staged so far. W/R: as CPU_DEFER. A: plain
// Requests the running io_submit has submitted so far. Its cpu's in-flight
// count (PC_INFLIGHT) moves once per batch, by CPU_SUBMITTED - CPU_STAGED (the
// inline completions are not counted in and out one by one); cpu_reclaim adds
// the same for a thread gone mid-batch. W/R: as CPU_DEFER. A: plain
export const CPU_SUBMITTED: u32 = 28;
// Ring slots the running io_submit took for the rest of its batch in one move
// (reqs_reserve) and has not used yet; its end gives back what is left (a
// request that fails after taking one gives it back here). W/R: as CPU_DEFER. A: plain
export const CPU_HELD_REQS: u32 = 32;
// An id freed by an inline completion during io_submit, kept for the batch's
// next request instead of a round trip through the tag cache (TAG_EMPTY: none).
// Its ki_cancel word is already FREE under the next generation; io_submit's end
// frees it before it publishes the batch's events. W/R: as CPU_DEFER. A: plain
export const CPU_SPARE_TAG: u32 = 36;
// The plug (Linux's blk_start_plug / blk_finish_plug around io_submit's loop):
// while CPU_DEFER is set, blk_submit records here (bit = device index, u64:
// MAX_DEVS is 64) the devices whose doorbell it owes instead of ringing it per
// bio, and the batch's end (submit_end; cpu_reclaim for a thread gone
// mid-batch) rings each once; so does the bio that fills the plug (as Linux
// flushes a plug at BLK_MAX_REQUEST_COUNT requests, so that a long batch keeps
// the device busy while it is still being submitted). W/R: as CPU_DEFER. A: plain
export const CPU_PLUG: u32 = 40;
export const CPU_PLUG_COUNT: u32 = 8; // bios in the plug. W/R: as CPU_PLUG. A: plain
export const BLK_MAX_REQUEST_COUNT: u32 = 32;
// Claim epoch: bumped by every cpu_online that claims this id, so cookies of a
// thread that left (their events may still be in a ring) never name the next
// owner's handles. W: cpu_online, after the claim. A: atomic add; orphan setters load.
export const CPU_EPOCH: u32 = 20;
// Orphaned cookies of this cpu not yet taken back (a hint: the owner scans its
// bitmap when it is non-zero). W: cookie_orphan (atomic add) / owner (atomic xchg to 0, before it scans).
export const CPU_ORPHANS: u32 = 24;
export const CPU_FREE: u32 = 0; //       owner word states (low 8 bits)
export const CPU_ONLINE: u32 = 1;
export const CPU_RECLAIMING: u32 = 2; // a reclaimer is cleaning up after a gone owner; nobody else touches the cpu
export const CPU_KIND_SHIFT: u32 = 8; // kind sits above the state in the owner word's low half
export const CPU_KIND_MAIN: u32 = 1;
export const CPU_KIND_DEVICE: u32 = 2;
export const CPU_KIND_KWORKER: u32 = 3;
export const CPU_KIND_WORKER: u32 = 4;
export const CPU_KIND_POOL: u32 = 5; // a thread of the host-file pool (fs/hostfile.ts)

// ---------------------------------------------------------------------------
// kioctx table entry (256 B, three cache lines by who writes them).
//
//  line 0: identity, set up by io_setup, read-mostly
//   0 state_gen u64 {gen:32 | state:32}   8 users   12 nr   16 ring_nr  20 mem
//  24 mem_size  28 ring  32 ready  36 bounce  40 tags_next  48 pcpu
//  52 pcpu_stride  56 batch  60 cache_size
//  line 1: submit side
//  64 reqs_available  68 (free)  72 tag_head u64  80 ctx_lock  84 list_head
//  88 list_tail  92 dying_wake  96 id_base  100 quota
//  line 2: completion / reap side
// 128 commit_lock  132 wake  136 prod u64  144 commit u64  152 returned u64
// 160 waiters  164 reap_lock  168 completed
export const CTX_OFF: u32 = CPU_OFF + MAX_CPUS * CPU_SIZE;
export const CTX_SIZE: u32 = 256;
export const CX_STATE_GEN: u32 = 0; //  W: io_setup/io_destroy. A: cmpxchg (64-bit); everyone else loads
export const CX_USERS: u32 = 8; //      W: syscalls entering/leaving. A: atomic add/sub; io_destroy waits for 0
export const CX_NR: u32 = 12; //        W: io_setup. A: plain, published by the state_gen cmpxchg (release)
export const CX_RING_NR: u32 = 16; //   W: io_setup. A: plain (as above)
export const CX_MEM: u32 = 20; //       W: io_setup. A: plain (as above)
export const CX_MEM_SIZE: u32 = 24;
export const CX_RING: u32 = 28;
export const CX_READY: u32 = 32; //     ready[ring_nr] markers: slot s holds low32(position + 1) once its event is written
export const CX_BOUNCE: u32 = 36; //    side[ring_nr] x SIDE_SIZE: what travels with the event in slot s besides the io_event
export const CX_TAGS_NEXT: u32 = 40; // next[nr] links of the global free-tag stack
export const CX_PCPU: u32 = 48; //      per-cpu caches, ncpus x pcpu_stride
export const CX_PCPU_STRIDE: u32 = 52;
export const CX_BATCH: u32 = 56; //     tags and reqs moved between per-cpu and global at a time
export const CX_CACHE_SIZE: u32 = 60; // per-cpu tag cache capacity (2 x batch)
export const CX_REQS: u32 = 64; //      W: get/put_reqs, refill. A: cmpxchg / atomic add
export const CX_TAG_HEAD: u32 = 72; //  W: tag pool. A: 64-bit cmpxchg {aba:32 | id+1:32}
export const CX_CTX_LOCK: u32 = 80; //  W: list baseline. A: spinlock (cmpxchg / atomic store)
export const CX_LIST_HEAD: u32 = 84; // W: list baseline, under ctx_lock. A: plain
export const CX_LIST_TAIL: u32 = 88;
export const CX_DYING_WAKE: u32 = 92; // futex word io_destroy sleeps on (inflight reaching 0). A: atomic add + notify
export const CX_ID_BASE: u32 = 96; //   first global kiocb id of this context's range. W: io_setup. A: plain
// The nr io_setup was given: what the context counts against aio_max_nr (CX_NR is
// its capacity, larger, as Linux's ring is). W: io_setup. A: plain
export const CX_QUOTA: u32 = 100;
export const CX_COMMIT_LOCK: u32 = 128; // W: ring_advance. A: trylock (cmpxchg) / atomic store; never waited on
export const CX_WAKE: u32 = 132; //     futex word reapers sleep on. A: atomic add + notify by ring_advance / io_destroy
export const CX_PROD: u32 = 136; //     u64 ticket: the ring position of the next event. A: atomic add
export const CX_COMMIT: u32 = 144; //   u64 C: events published so far. W: ring_advance under commit_lock. A: atomic
//                                 store before RING_TAIL; pairs with the atomic load in refill
export const CX_RETURNED: u32 = 152; // u64 slots credited back to reqs_available. A: cmpxchg (refill)
export const CX_WAITERS: u32 = 160; //  reapers registered to sleep. A: atomic add/sub; ring_advance loads
export const CX_REAP_LOCK: u32 = 164; // W: io_getevents. A: trylock; the host sleeps on it when contended (0/1/2 futex)
export const CX_COMPLETED: u32 = 168; // events published (u32, informative). A: plain store under commit_lock

// kioctx states (low half of state_gen)
export const CTX_FREE: u32 = 0;
export const CTX_SETUP: u32 = 1; // being built by io_setup; not usable yet
export const CTX_LIVE: u32 = 2;
export const CTX_DYING: u32 = 3; // io_destroy in progress

// Per-cpu part of a context (pcpu + cpu * pcpu_stride):
//   0 reqs (cached ring slots)  4 top (owner's stack hint)  8 inflight  16 slots[cache_size] (tag or TAG_EMPTY)
export const PC_REQS: u32 = 0; // W: owner (cmpxchg) and thieves (xchg). A: as said
export const PC_TOP: u32 = 4; //  W/R: owner only (thieves scan every slot). A: plain
// Requests submitted minus requests completed on this cpu (i32; one cpu submits,
// another may complete, so a single counter may go negative). Their sum over
// cpus is the context's in-flight count, which io_destroy waits to see at 0.
// W: owner. A: atomic add/sub; io_destroy sums with atomic loads.
export const PC_INFLIGHT: u32 = 8;
export const PC_SLOTS: u32 = 16; // W: owner stores into empty slots; owner and thieves xchg tags out
export const TAG_EMPTY: u32 = 0xffffffff; // tag stack head/next hold id + 1, so 0 ends a stack

// ---------------------------------------------------------------------------
// aio_ring: the kernel's ABI (include/linux/aio_abi.h + fs/aio.c), in shared memory.
//
//   0 id  4 nr  8 head  12 tail  16 magic  20 compat_features  24 incompat_features
//  28 header_length   32 io_events[nr], 32 B each
export const AIO_RING_MAGIC: u32 = 0xa10a10a1;
export const AIO_RING_COMPAT_FEATURES: u32 = 1;
export const AIO_RING_INCOMPAT_FEATURES: u32 = 0;
export const RING_ID: u32 = 0; //    W: io_setup. A: plain
export const RING_NR: u32 = 4; //    W: io_setup. A: plain
export const RING_HEAD: u32 = 8; //  W: reapers (io_getevents under reap_lock, or user code). A: atomic store/load; clamped % nr
export const RING_TAIL: u32 = 12; // W: ring_advance under commit_lock. A: atomic store (release), after CX_COMMIT
export const RING_MAGIC: u32 = 16;
export const RING_COMPAT: u32 = 20;
export const RING_INCOMPAT: u32 = 24;
export const RING_HEADER_LENGTH: u32 = 28;
export const RING_HDR_SIZE: u32 = 32;
export const IO_EVENT_SIZE: u32 = 32;
export const EV_DATA: u32 = 0; // u64 aio_data
export const EV_OBJ: u32 = 8; //  u64: kaio puts the request's aio_key here (the kernel puts the iocb pointer)
export const EV_RES: u32 = 16; // i64
export const EV_RES2: u32 = 24; // i64
// Ring side array: per slot, what the event carries beyond the kernel's ABI.
//   0 bounce u64 {size:32 | addr:32} (ownership moves by xchg)  8 cookie (packed, see
//   COOKIE_*; ownership moves by xchg, COOKIE_NONE when taken)  12 (reserved)
// kaio's counterpart of io_event.obj being the user's iocb pointer: the submitting
// thread finds its iocb object from the cookie without a search.
export const SIDE_SIZE: u32 = 16;
export const SIDE_BOUNCE: u32 = 0;
export const SIDE_COOKIE: u32 = 8;
// A cookie, packed: [ cpu : 6 | cpu claim epoch : 8 | index : 18 ]. The index
// is the submitting thread's handle (src/aio.ts), below COOKIE_SPACE - 1.
export const COOKIE_BITS: u32 = 18;
export const COOKIE_SPACE: u32 = 1 << COOKIE_BITS;
export const COOKIE_INDEX_MASK: u32 = COOKIE_SPACE - 1;
export const COOKIE_EPOCH_BITS: u32 = 8;
export const COOKIE_CPU_SHIFT: u32 = COOKIE_BITS + COOKIE_EPOCH_BITS;
export const COOKIE_NONE: u32 = 0xffffffff;

// ---------------------------------------------------------------------------
// kiocb (256 B), allocated in pages of KIOCBS_PER_PAGE, indexed by tag id.
//
//   0 cw (address of ki_cancel)  4 upin  8 ctx  12 id  16 data u64  24 pos u64
//  32 nbytes 36 opcode 40 file 44 flags 48 bios_left 52 nbio 56 biovec 60 (free)
//  64 cookie  68 notify  72 resfd  76 fd entry  80 bounce 84 bounce_size 88 list prev 92 list next
//  96 wq next 100 wq prev 104 wq which 108 private 112 done 116 cpu 120 buf
// 124 nseg 128.. segment table (inline, up to KI_INLINE_SEGS)
// 192 inline bio (64 B)
export const KIOCB_SHIFT: u32 = 8;
export const KIOCB_SIZE: u32 = 1 << KIOCB_SHIFT;
export const KIOCBS_PER_PAGE_SHIFT: u32 = PAGE_SHIFT - KIOCB_SHIFT;
export const KIOCBS_PER_PAGE: u32 = 1 << KIOCBS_PER_PAGE_SHIFT;
// The kiocb id space is global: 2^KEY_ID_BITS ids in pages of KIOCBS_PER_PAGE.
// io_setup gives each context a range of whole pages, disjoint from every other
// live context's, so an aio_key names at most one context's request; kiocb pages
// are never freed, so a generation keeps counting across contexts that reuse ids.
export const ID_PAGES: u32 = (1 << 23) >> KIOCBS_PER_PAGE_SHIFT;
// ki_cancel, the u64 {gen:32 | state:32} word of the state machine (kiocb.ts),
// is not in the kiocb but in a dense array of them indexed by global id:
// io_cancel reads and swaps only that word, and 64K in-flight requests' words
// take 512 KiB (they stay in cache) where their kiocbs take 16 MiB (they do
// not). W: submit/cancel/complete/set_cancel_fn. A: 64-bit cmpxchg.
export const CW_PER_PAGE_SHIFT: u32 = PAGE_SHIFT - 3;
export const CW_PER_PAGE: u32 = 1 << CW_PER_PAGE_SHIFT;
export const CW_PAGES: u32 = (1 << 23) >> CW_PER_PAGE_SHIFT;
export const KI_CW: u32 = 0; //      address of this kiocb's ki_cancel word. W: once, when its page is set up. A: plain
export const KI_CTX: u32 = 8; //     W: submitter before publishing state 0. A: plain (published by the release store)
export const KI_ID: u32 = 12; //     the context-local tag id (global id = CX_ID_BASE + KI_ID)
export const KI_DATA: u32 = 16;
export const KI_POS: u32 = 24;
export const KI_NBYTES: u32 = 32;
export const KI_OPCODE: u32 = 36;
export const KI_FILE: u32 = 40;
export const KI_FLAGS: u32 = 44;
export const KI_BIOS_LEFT: u32 = 48; // W: bio_endio. A: atomic sub; the thread that reaches 0 completes the kiocb
export const KI_NBIO: u32 = 52;
export const KI_BIOVEC: u32 = 56; //  address of the bio array (the inline bio, or kmalloc'd)
// 60: free (was the device to kick on a cancel; the block cancel callback finds the bios itself)
export const KI_COOKIE: u32 = 64; //  the submitting thread's handle for its iocb object (see SIDE_*). W: submitter. A: plain
// 1 if the request's BUF_MEM segments hold pins on user blocks (a binary iocb:
// lib/heap.ts, user_pin), which aio_complete drops. W: submitter. A: plain
export const KI_UPIN: u32 = 4;
// Completion notification (IOCB_FLAG_RESFD): the function-table index of a
// `(cpu: u32, fh: u32) => void` that aio_complete calls once the event is
// published (fs/eventfd.ts's eventfd_notify), or 0; and its argument, the
// eventfd's file reference (held from submit). W: submitter. A: plain
export const KI_NOTIFY: u32 = 68;
export const KI_RESFD: u32 = 72;
export const KI_FDENT: u32 = 76; //   the fd table entry the request was submitted on (io_cancel_all's {fd}). W: submitter. A: plain
export const KI_BOUNCE: u32 = 80; //  bounce block (plain Uint8Array), handed to the ring slot at completion
export const KI_BOUNCE_SIZE: u32 = 84;
export const KI_LIST_PREV: u32 = 88; // list baseline, under ctx_lock
export const KI_LIST_NEXT: u32 = 92;
export const KI_WQ_NEXT: u32 = 96; //  driver wait queue link, under the driver's lock (pipe lock)
export const KI_WQ_PREV: u32 = 100;
export const KI_WQ_WHICH: u32 = 104; // which wait queue holds it (WQ_*), under the driver's lock
export const KI_PRIVATE: u32 = 108; // driver private (pipe index)
export const KI_DONE: u32 = 112; //   bytes transferred so far (pipe writers), under the pipe lock
export const KI_CPU: u32 = 116; //    submitting cpu (echoed with the event, with KI_COOKIE)
export const KI_SEGS: u32 = 120; //   segment table address (inline at KI_SEG_INLINE or kmalloc'd)
export const KI_NSEG: u32 = 124;
export const KI_SEG_INLINE: u32 = 128;
export const KI_INLINE_SEGS: u32 = 4;
export const KI_BIO_INLINE: u32 = 192;

// ki_cancel states (low half). See the state table at the top of assembly/fs/kiocb.ts.
// Between CANCELLABLE and FREE: live, with a driver cancel callback registered;
// the value is the callback's function-table index (see RODATA_OFF).
export const KIOCB_CANCELLABLE: u32 = 0; // live, no callback
export const KIOCB_FREE: u32 = 0xfffffffd; // not live: never submitted, or completed and freed
export const KIOCB_CANCELLING: u32 = 0xfffffffe; // a callback is running
export const KIOCB_CANCELLED: u32 = 0xffffffff; // cancel requested (callback done), or completion decided
export const KIOCB_GEN_MASK: u32 = 0x3fffffff; // generations wrap in 30 bits (aio_key < 2^53)

// aio_key = gen * 2^KEY_ID_BITS + id. ids < AIO_NR_LIMIT = 2^23.
export const KEY_ID_BITS: u32 = 23;
export const KEY_ID_MASK: u32 = (1 << KEY_ID_BITS) - 1;


// Segment (one contiguous piece of user memory): 16 B
//   0 kind  4 ref (MEM address or SAB registry id)  8 off  12 len
export const SEG_SIZE: u32 = 16;
export const SEG_KIND: u32 = 0;
export const SEG_REF: u32 = 4;
export const SEG_OFF: u32 = 8;
export const SEG_LEN: u32 = 12;
export const BUF_MEM: u32 = 1; // bytes in this memory: a k.buffer() view, or a bounce block
export const BUF_SAB: u32 = 2; // a SharedArrayBuffer registered with the device thread by id

// ---------------------------------------------------------------------------
// bio (64 B): one contiguous device transfer. The first lives inside its kiocb.
//
//   0 next  4 prev (stage-1 queue links, under q_lock)  8 cancel (address of the
//   kiocb's ki_cancel word, or 0: not cancellable)  12 kiocb  16 op  20 dev
//  24 pos u64  32 kind  36 ref  40 off  44 len  48 done  52 status  56 flags  60 end_io
export const BIO_SIZE: u32 = 64;
export const BI_NEXT: u32 = 0;
export const BI_PREV: u32 = 4;
export const BI_CANCEL: u32 = 8; // the seeds' `bool *cancelled`, widened to the kiocb's state word
export const BI_KIOCB: u32 = 12;
export const BI_OP: u32 = 16;
export const BI_DEV: u32 = 20;
export const BI_POS: u32 = 24;
export const BI_KIND: u32 = 32;
export const BI_REF: u32 = 36;
export const BI_OFF: u32 = 40;
export const BI_LEN: u32 = 44;
export const BI_DONE: u32 = 48; //   W: the device thread. A: plain, published by bio_endio's atomic sub
export const BI_STATUS: u32 = 52; // W: bio_endio. A: plain, published as above
export const BI_FLAGS: u32 = 56; // BIO_QUEUED. W: under the bio's device's q_lock. A: plain, read under it
// bi_end_io: the function-table index of the `(cpu: u32, bio: usize) => void` that
// bio_endio calls once BI_DONE and BI_STATUS are set (the submitter's, e.g.
// fs/block_dev.ts's blkdev_bio_end_io). W: bio_init. A: plain, before blk_submit
export const BI_END_IO: u32 = 60;
export const BIO_QUEUED: u32 = 1; // in its device's stage-1 queue (or on its cancelled list)
// An md child bio (a RAID5 member read or write) has ended: set by md_child_end_io
// after BI_DONE/BI_STATUS. W: the member's thread. A: atomic store; the RAID5 thread loads
export const BIO_CHILD_DONE: u32 = 2;
export const BIO_READ: u32 = 0;
export const BIO_WRITE: u32 = 1;
export const BIO_FLUSH: u32 = 2;

// ---------------------------------------------------------------------------
// File table entry (32 B) and fd table (u32: file index + 1, 0 = closed).
//
//   0 refgen u64 {gen:32 | refs:32}  8 type  12 mode  16 obj  20 release  24 pos u64 (sync read/write)
export const FILE_OFF: u32 = CTX_OFF + MAX_CTX * CTX_SIZE;
export const FILE_SIZE: u32 = 32;
export const F_REFGEN: u32 = 0; // A: 64-bit cmpxchg (fget = inc-not-zero with gen check)
export const F_TYPE: u32 = 8; //  W: open, before the fd is published. A: plain
export const F_MODE: u32 = 12;
export const F_OBJ: u32 = 16; //  device index or pipe index
// The type's release op (f_op->release): the function-table index of a
// `(obj: u32, type: u32) => void` run by the last fput, or 0 (none).
// W: open, before the fd is published. A: plain
export const F_RELEASE: u32 = 20;
export const F_POS: u32 = 24; //  u64 file position for k.write/k.read. A: plain, last writer wins (as unlocked f_pos)
export const FT_NONE: u32 = 0;
export const FT_BLOCK: u32 = 1;
export const FT_PIPE_R: u32 = 2;
export const FT_PIPE_W: u32 = 3;
export const FT_HOST: u32 = 4; //    a host file (fs/hostfile.ts): obj is its hostfile struct's address
export const FT_EVENTFD: u32 = 5; // an eventfd (fs/eventfd.ts): obj is its struct's address
export const FMODE_READ: u32 = 1;
export const FMODE_WRITE: u32 = 2;
export const FD_OFF: u32 = FILE_OFF + MAX_FILES * FILE_SIZE;

// ---------------------------------------------------------------------------
// Device table entry (256 B).
//
//   0 type  4 flags  8 size u64  16 media  20 service_us  24 queue_depth  28 cpu
//  32 doorbell  36 cancel_pending  40 paused  44 state  48 q_lock  52 q_head
//  56 q_tail  60 q_count  64 stats: dispatched, completed, cancelled_queued,
//  cancelled_device, bytes (u64 each)  104 waiting  108 held  112 remap  116 nmemb
//  120 chunk  124 cancelled list  128 name (48 B, UTF-8, NUL padded)  176 members (u8 each)
export const DEV_OFF: u32 = FD_OFF + MAX_FDS * 4;
export const DEV_SIZE: u32 = 256;
export const D_TYPE: u32 = 0; //    W: device_create. A: atomic store last (publishes the entry)
export const D_FLAGS: u32 = 4; //   DEVF_* (abortable). W: device_create. A: plain
export const D_SIZE: u32 = 8; //    u64 bytes
export const D_MEDIA: u32 = 16; //  address of the byte store
export const D_SERVICE_US: u32 = 20;
export const D_QUEUE_DEPTH: u32 = 24;
export const D_CPU: u32 = 28; //    cpu of the device thread
export const D_DOORBELL: u32 = 32; // futex word the device thread sleeps on. A: atomic add + notify
export const D_CANCEL_PENDING: u32 = 36; // cancels since the device last scanned. A: atomic add / xchg
export const D_PAUSED: u32 = 40; //  W: k.device().pause/resume. A: atomic store; device thread and blk_fetch (under q_lock) load
export const D_STATE: u32 = 44; //   DS_*: W: device thread (READY) / shutdown (STOP). A: atomic store + notify
export const D_Q_LOCK: u32 = 48; //  stage-1 queue spinlock
export const D_Q_HEAD: u32 = 52; //  W: under q_lock
export const D_Q_TAIL: u32 = 56;
export const D_Q_COUNT: u32 = 60;
export const D_ST_DISPATCHED: u32 = 64; //  W: device thread. A: atomic add (u64); anyone loads
export const D_ST_COMPLETED: u32 = 72;
export const D_ST_CANCELLED_Q: u32 = 80; // W: whoever drops it from stage 1 (device thread). A: atomic add
export const D_ST_CANCELLED_D: u32 = 88;
export const D_ST_BYTES: u32 = 96;
export const D_WAITING: u32 = 104; // W: device thread around its sleep. A: atomic store; kickers load
// 1 while the device is held (k.device().hold(), for tests that must not depend on
// timing): it keeps taking requests into its queue and keeps aborting, but the
// request it executes does not finish and none starts. W: hold/release. A: atomic store; device thread loads
export const D_HELD: u32 = 108;
// Stacked devices (drivers/md): the driver's remap op, the function-table index
// of a `(bio: usize) => u32` that moves a bio one level down (BI_DEV to a member,
// BI_POS into it), clips BI_LEN at the member's (or chunk's) boundary and
// returns the new length; 0 for a device with a queue of its own (a leaf).
// W: the driver's create, before D_TYPE is published. A: plain
export const D_REMAP: u32 = 112;
export const D_NMEMB: u32 = 116; //  members of a stacked device. W: create. A: plain
export const D_CHUNK: u32 = 120; //  stripe chunk bytes (striped). W: create. A: plain
// Bios a cancel took out of stage 1, linked by BI_NEXT, for the device thread
// to complete -ECANCELED (blk_reap_cancelled). W/A: under q_lock
export const D_CXL_HEAD: u32 = 124;
export const D_MEMB: u32 = 176; //   member device indices, u8 each. W: create. A: plain
export const MAX_MEMB: u32 = 32;
// 1 while the device is failed (k.device().fail()): a ramdisk answers every bio
// -EIO without touching its media. W: fail/recover. A: atomic store; device thread loads
export const D_FAILED: u32 = 208;
// md RAID5: the members it treats as faulty (bit i: member i), from when it
// first sees one failed until it has rebuilt it after recover(). W: the RAID5
// device thread. A: atomic store; anyone loads
export const D_R5_FAULTY: u32 = 212;
export const D_NAME: u32 = 128;
export const D_NAME_MAX: u32 = 48;
export const DT_NONE: u32 = 0;
export const DT_RAMDISK: u32 = 1;
export const DT_NULL: u32 = 2;
export const DT_LINEAR: u32 = 3; //  drivers/md/linear.ts (dm-linear): members concatenated
export const DT_STRIPED: u32 = 4; // drivers/md/raid0.ts (dm-stripe, RAID0): chunks round-robin
export const DT_RAID5: u32 = 5; //   drivers/md/raid5.ts + src/devices/raid5.ts (md RAID5, left-symmetric)
export const DEVF_ABORTABLE: u32 = 1;
export const DS_STARTING: u32 = 0;
export const DS_READY: u32 = 1;
export const DS_STOP: u32 = 2;
export const DS_STOPPED: u32 = 3;

// ---------------------------------------------------------------------------
// Pipe table entry (128 B). Data is a byte ring in the heap.
//
//   0 state  4 lock  8 buf  12 cap  16 rpos  20 wpos  24 readers  28 writers
//  32 rq head/tail  40 wq head/tail  48 pq head/tail  56 cq head/tail
//  64 queued (on the kworker's list)  68 kw_next
export const PIPE_OFF: u32 = DEV_OFF + MAX_DEVS * DEV_SIZE;
export const PIPE_SIZE: u32 = 128;
export const P_STATE: u32 = 0; //   W: pipe_create / last close. A: atomic store
export const P_LOCK: u32 = 4; //    spinlock over everything below
export const P_BUF: u32 = 8;
export const P_CAP: u32 = 12;
export const P_RPOS: u32 = 16; //   monotonic byte counters, under lock
export const P_WPOS: u32 = 20;
export const P_READERS: u32 = 24; // open read-end files, under lock
export const P_WRITERS: u32 = 28;
export const P_RQ: u32 = 32; //     waiting readers (head, tail), under lock
export const P_WQ: u32 = 40; //     waiting writers
export const P_PQ: u32 = 48; //     waiting pollers
export const P_CQ: u32 = 56; //     cancelled waiters, to be completed by the kworker
export const P_QUEUED: u32 = 64; // 1 while on the kworker's work stack. A: cmpxchg / atomic store
export const P_KW_NEXT: u32 = 68; // work stack link (pipe index + 1)
// Wake counts, under lock: P_WAKE_RD counts the times bytes went in (Linux wakes
// rd_wait with EPOLLIN | EPOLLRDNORM), P_WAKE_WR the times bytes came out (wr_wait,
// EPOLLOUT | EPOLLWRNORM). A poller notes the count of its end when it queues
// (in KI_POS); one whose count moved was woken by that key and completes with the
// key itself, as aio_poll_wake does, even if a reader took the bytes since;
// otherwise (a close wakes without a key) with the ready mask.
export const P_WAKE_RD: u32 = 72;
export const P_WAKE_WR: u32 = 76;
export const PIPE_CAP_DEFAULT: u32 = 65536;
export const PS_FREE: u32 = 0;
export const PS_LIVE: u32 = 1;
export const WQ_NONE: u32 = 0;
export const WQ_READ: u32 = 1;
export const WQ_WRITE: u32 = 2;
export const WQ_POLL: u32 = 3;
export const WQ_CANCELLED: u32 = 4;
export const WQ_POOL: u32 = 5; //    in the host-file pool's queue
export const WQ_RUNNING: u32 = 6; // taken by a pool thread

// ---------------------------------------------------------------------------
// Host file (fs/hostfile.ts), kmalloc'd, one per open: the file's F_OBJ.
//   0 host fd  4 flags (HF_*)  8 close-stack link
export const HF_SIZE: u32 = 64;
export const HF_OSFD: u32 = 0; //  W: hostfile_open. A: plain, before the fd is published
export const HF_FLAGS: u32 = 4;
export const HF_NEXT: u32 = 8; //  H_POOL_CLOSE link. W: the releasing fput. A: plain, before the cmpxchg push
export const HF_INTERRUPTIBLE: u32 = 1; // a FIFO, socket or character device: reads and writes may wait without bound
export const HF_DIR: u32 = 2; //           a directory: no read_iter/write_iter (aio_read's -EINVAL), no poll method
// eventfd (fs/eventfd.ts), kmalloc'd, one per eventfd: the file's F_OBJ.
//   8 count u64  16 poll queue head/tail (every field under H_EFD_LOCK)
export const EFD_SIZE: u32 = 64;
export const EFD_COUNT: u32 = 8; // W: under H_EFD_LOCK. A: plain (k.read/write, signal, PREAD, POLL all lock)
export const EFD_PQ: u32 = 16; //   waiting pollers (head, tail), under H_EFD_LOCK

// ---------------------------------------------------------------------------
// Per-cpu scratch (SCRATCH_SIZE each): where syscall arguments and results cross
// between JS and WASM without allocation. Owned by its cpu; no atomics.
//
// io_submit: SUB_REC_SIZE-byte records from 0, segments from SCRATCH_SEGS.
//   0 opcode  4 fd  8 nbytes  12 flags  16 offset f64  24 data u64  32 resfd
//  36 rw_flags  40 nseg  44 seg_first  48 out_id  52 out_gen  56 bounce  60 bounce_size  64 cookie
//  68 err_prep  72 err_late  76 err_key
// Inline completions during io_submit: STAGE_REC_SIZE-byte records from SCRATCH_STAGE (REAP_* offsets).
export const SCRATCH_OFF: u32 = PIPE_OFF + MAX_PIPES * PIPE_SIZE;
export const SUB_REC_SIZE: u32 = 80;
export const SUB_OPCODE: u32 = 0;
export const SUB_FD: u32 = 4;
export const SUB_NBYTES: u32 = 8;
export const SUB_FLAGS: u32 = 12;
export const SUB_OFFSET: u32 = 16; // f64, an exact integer < 2^53
export const SUB_DATA: u32 = 24;
export const SUB_RESFD: u32 = 32;
export const SUB_RW_FLAGS: u32 = 36;
export const SUB_NSEG: u32 = 40;
export const SUB_SEG_FIRST: u32 = 44;
export const SUB_OUT_ID: u32 = 48;
export const SUB_OUT_GEN: u32 = 52;
export const SUB_BOUNCE: u32 = 56;
export const SUB_BOUNCE_SIZE: u32 = 60;
export const SUB_COOKIE: u32 = 64; // the submitter's handle (cookie index) for its iocb object, echoed with the event
// Errors the host judged from the iocb alone but that Linux reports later than
// the fd checks (0 = none): err_prep where aio_prep_rw fails (ioprio, rw_flags:
// before the open-mode check), err_late after it (buffer import, rw_verify_area).
export const SUB_ERR_PREP: u32 = 68;
export const SUB_ERR_LATE: u32 = 72;
// -EFAULT if the host could not write the iocb's aio_key (Linux's put_user, after
// fget and the eventfd, before the opcode), else 0.
export const SUB_ERR_KEY: u32 = 76;
export const SCRATCH_SEGS: u32 = 32768; // segment table for the batch
export const SUB_MAX_BATCH: u32 = (SCRATCH_SEGS / SUB_REC_SIZE) | 0; // 409 records per WASM call
export const SCRATCH_STAGE: u32 = 65536; // events completed inline during io_submit, published together
export const SUB_MAX_SEGS: u32 = (SCRATCH_STAGE - SCRATCH_SEGS) / SEG_SIZE; // 2048 segments per call
// A staged event: the io_event, then what its ring side entry gets.
export const STAGE_REC_SIZE: u32 = 48;
// io_getevents: REAP_REC_SIZE-byte records: the io_event, then its slot's side entry.
export const REAP_REC_SIZE: u32 = 48;
export const REAP_BOUNCE: u32 = 32;
export const REAP_BOUNCE_SIZE: u32 = 36;
export const REAP_COOKIE: u32 = 40;
export const STAGE_RESFD: u32 = 44; // a staged event's KI_RESFD: io_submit signals it after publishing (0: none)
export const REAP_MAX: u32 = 1024; // events per WASM call (48 KiB)
// kworker: completion list records (kiocb address, result) for the host to finish.
export const KW_REC_SIZE: u32 = 16;
export const KW_MAX: u32 = SCRATCH_SIZE / KW_REC_SIZE;

export const KPAGE_OFF: u32 = SCRATCH_OFF + MAX_CPUS * SCRATCH_SIZE;
// Pages of CW_PER_PAGE ki_cancel words, by global id >> CW_PER_PAGE_SHIFT.
// W: kiocb_get, once (cmpxchg 0 -> page). A: atomic load. Never freed.
export const CPAGE_OFF: u32 = KPAGE_OFF + ID_PAGES * 4;
export const IDMAP_OFF: u32 = CPAGE_OFF + CW_PAGES * 4; // W: under H_ID_LOCK. A: plain
// Per-cpu syscall references on contexts (percpu_ref): u32 [cpu][slot], cpu-major
// so that no two cpus share a cache line. A hot syscall (io_submit, io_getevents,
// io_cancel) counts itself here, on its own cpu; io_destroy waits for the sum
// over cpus (plus CX_USERS, used by the rare paths) to be 0. Outside the
// context's heap block, so a late reference never writes into freed memory.
// W: the owning cpu (also cpu_drain, on the cpu it drains); cpu_reclaim stores 0
// for a cpu whose thread is gone. A: atomic add/sub/store; io_destroy sums with atomic loads.
export const CPUREF_OFF: u32 = IDMAP_OFF + (ID_PAGES >> 3);
export const HEAP_OFF: u32 = CPUREF_OFF + MAX_CPUS * MAX_CTX * 4;

// IOCB flags (include/uapi/linux/aio_abi.h)
export const IOCB_FLAG_RESFD: u32 = 1;
export const IOCB_FLAG_IOPRIO: u32 = 2;
export const RWF_HIPRI: u32 = 1;
export const RWF_DSYNC: u32 = 2;
export const RWF_SYNC: u32 = 4;
export const RWF_NOWAIT: u32 = 8;
export const RWF_APPEND: u32 = 16;
export const RWF_NOAPPEND: u32 = 32;
export const RWF_ATOMIC: u32 = 64;
export const RWF_DONTCACHE: u32 = 128;
export const RWF_NOSIGNAL: u32 = 256;
// The flags Linux 6.18's kiocb_set_rw_flags knows (RWF_SUPPORTED, 0x1ff); others are -EOPNOTSUPP.
export const RWF_SUPPORTED: u32 = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND | RWF_NOAPPEND | RWF_ATOMIC |
  RWF_DONTCACHE | RWF_NOSIGNAL;

// IOCB_CMD_*
export const IOCB_CMD_PREAD: u32 = 0;
export const IOCB_CMD_PWRITE: u32 = 1;
export const IOCB_CMD_FSYNC: u32 = 2;
export const IOCB_CMD_FDSYNC: u32 = 3;
export const IOCB_CMD_POLL: u32 = 5;
export const IOCB_CMD_NOOP: u32 = 6;
export const IOCB_CMD_PREADV: u32 = 7;
export const IOCB_CMD_PWRITEV: u32 = 8;

// poll bits (include/uapi/asm-generic/poll.h)
export const POLLIN: u32 = 0x001;
export const POLLOUT: u32 = 0x004;
export const POLLERR: u32 = 0x008;
export const POLLHUP: u32 = 0x010;
export const POLLRDNORM: u32 = 0x040;
export const POLLWRNORM: u32 = 0x100;

// ---------------------------------------------------------------------------
// Binary iocbs and io_events in user memory (k.iocbArray(), k.ioEventArray();
// fs/binary.ts): libaio's struct iocb and struct io_event, byte for byte
// (include/uapi/linux/aio_abi.h, little-endian, 64-bit). The user writes them
// (any field, any time: the kernel reads each field of a record once, into
// locals, and judges only those); the kernel writes aio_key and the events.
//
//   struct iocb (64 B):
//    0 aio_data u64   8 aio_key u32   12 aio_rw_flags u32   16 aio_lio_opcode u16
//   18 aio_reqprio s16   20 aio_fildes u32   24 aio_buf u64   32 aio_nbytes u64
//   40 aio_offset s64   48 aio_reserved2 u64   56 aio_flags u32   60 aio_resfd u32
//   struct iovec (16 B, PREADV/PWRITEV: aio_buf points at aio_nbytes of them):
//    0 iov_base u64   8 iov_len u64
//   struct io_event (32 B): as the ring's (EV_*); obj is the request's full aio_key.
export const IOCB_SIZE: u32 = 64;
export const IOCB_DATA: u32 = 0;
export const IOCB_KEY: u32 = 8;
export const IOCB_RW_FLAGS: u32 = 12;
export const IOCB_LIO_OPCODE: u32 = 16;
export const IOCB_REQPRIO: u32 = 18;
export const IOCB_FILDES: u32 = 20;
export const IOCB_BUF: u32 = 24;
export const IOCB_NBYTES: u32 = 32;
export const IOCB_OFFSET: u32 = 40;
export const IOCB_RESERVED2: u32 = 48;
export const IOCB_FLAGS: u32 = 56;
export const IOCB_RESFD: u32 = 60;
export const IOVEC_SIZE: u32 = 16;
export const IOVEC_BASE: u32 = 0;
export const IOVEC_LEN: u32 = 8;
// A binary record's aio_key is 32 bits, as Linux's: the low 32 bits of the full
// key (gen * 2^KEY_ID_BITS + id), that is the id and the generation's low
// KEY32_GEN_BITS bits. The event's 64-bit obj carries the full key, so its low
// half equals the record's aio_key. io_cancel of a 32-bit key matches the
// generation modulo 2^KEY32_GEN_BITS (a stale key can only name a later
// request after its slot was reused a multiple of 512 times).
export const KEY32_GEN_BITS: u32 = 32 - KEY_ID_BITS;
export const KEY32_GEN_MASK: u32 = (1 << KEY32_GEN_BITS) - 1;
// Binary io_submit's results in the cpu's scratch, past the one SUB record it
// builds per iocb: the error that stopped the batch (0 if none).
export const BIN_OUT_ERR: u32 = SCRATCH_SEGS - 16;
// Binary reap: its count carries BIN_REAP_SIDE if an event it copied had a side
// entry for the host (a bounce block or a cookie of this cpu: an object-API
// request); its REAP records are then in scratch as io_reap leaves them.
export const BIN_REAP_SIDE: u32 = 0x40000000;

// ---------------------------------------------------------------------------
// A signature of this layout, compiled into both the .wasm and the host. The
// host refuses to run a module whose signature differs (built from another
// version of this file).
export const LAYOUT_SIG: u32 =
  (HEAP_OFF ^ (KIOCB_SIZE << 20) ^ (CTX_SIZE << 12) ^ (BIO_SIZE << 24) ^ (DEV_SIZE << 4) ^
    (PIPE_SIZE << 8) ^ (SUB_REC_SIZE << 16) ^ (REAP_REC_SIZE << 2) ^ (CX_COMPLETED << 18) ^ (SIDE_SIZE << 6) ^ (SUB_ERR_LATE << 22) ^ (H_UFREELISTS << 3) ^
    (KI_BIO_INLINE << 10) ^ (D_NAME << 14) ^ (CW_PAGES << 1) ^ KAIO_VERSION) & 0x7fffffff;
