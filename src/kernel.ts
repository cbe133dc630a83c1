/**
 * Kernel: boot a kaio kernel (shared memory, the module, the kworker), create
 * devices, open files, and call the syscalls (inherited from Syscalls).
 */
import { Worker, threadId, isMainThread } from 'node:worker_threads';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import * as L from '../assembly/include/layout';
import * as E from '../assembly/include/errno';
import { Core, loadModule, type KernelHandle } from './core';
import { Syscalls } from './aio';
import { AioContext } from './promises';
import { invalidArg, systemError, shutdownError, outOfRange, fsErrno } from './errno';
import { waitUntilAsync } from './wait';
import { KernelBuffer } from './buffers';
import { IocbArray, IoEventArray } from './binary';
import { takeSnapshot, type KernelSnapshot } from './snapshot';

export interface BootOptions {
  /** System-wide limit on requested events (fs.aio-max-nr). Default 65536. */
  aioMaxNr?: number;
  /** How io_cancel finds a request: 'tags' (O(1), the seeds' design) or 'list' (the pre-patch list walk under ctx_lock). */
  lookup?: 'tags' | 'list';
  /** 'effective': the block layer drops cancelled requests; 'mark-only': it dispatches them anyway (the old behaviour). */
  cancel?: 'effective' | 'mark-only';
  /** Most threads (cpus) that may use the kernel at once, kaio's own included. Default 32, at most 64. */
  maxCpus?: number;
  /** Size of the shared kernel memory (rings, kiocbs, ramdisk media...). Default 256. */
  memoryMiB?: number;
  /**
   * Fault injection, for tests: 'late-cancel-fn' makes a pipe read wait
   * (bounded) after it is queued and before it registers its cancel callback,
   * until a cancel arrives, so that the cancel always comes first (S9).
   * 'late-cancel-fn-reuse' does that and then holds the callback that
   * set_cancel_fn runs at once (bounded) until the request has completed and
   * its kiocb has been reused by a request with a callback of its own.
   * 'tag-free-reuse' holds the first tag_free after boot (bounded), with the
   * id already free, until another thread has allocated that id and made a
   * request live in its kiocb.
   * 'cw-page-race' holds the first thread after boot that initialises a fresh
   * cancel-word page (bounded) until another thread has published that page,
   * so that it loses the publication race. 'steal-race' holds the first thief
   * after boot that has stolen an id and sees another victim slot full
   * (bounded) until that slot's owner has emptied it. 'cancel-race' holds the
   * first io_cancel after boot that finds a live request (bounded), between
   * its load of the cancel word and its compare-and-swap, until the request
   * has completed and its generation is retired. 'cancel-cb-hold' holds the
   * first io_cancel after boot that moves a request with a callback to
   * CANCELLING (bounded), before it runs the callback, until the test stores
   * FI_HOLD_RELEASED in the hold word.
   */
  faultInjection?: 'late-cancel-fn' | 'late-cancel-fn-reuse' | 'tag-free-reuse' | 'pool-thread-exit' | 'cw-page-race' | 'steal-race' | 'cancel-race' | 'cancel-cb-hold';
  /**
   * Threads of the host-file pool (S13): they run reads, writes and syncs on
   * host files (k.open of an absolute path outside /dev/). 1 to 64, default 4.
   * The pool starts with the first host file opened on the booting thread, or
   * at boot when this option is given.
   */
  poolThreads?: number;
}

/** The host-file pool's counters (k.poolStats()). */
export interface PoolStats {
  /** Pool threads (poolThreads once the pool has started, else 0). */
  threads: number;
  /** Work items waiting for a thread now. */
  queued: number;
  /** Work items a thread runs now. */
  running: number;
  /** Work items a thread ran (cancelled queued items never do). */
  executed: number;
  /** Work items cancelled while queued: they completed -ECANCELED without running. */
  cancelledQueued: number;
  /** Running interruptible items (a FIFO wait) that a cancel ended -EINTR. */
  interrupted: number;
}

export interface OpenOptions {
  /** Host files: create the file if it does not exist (O_CREAT, mode 0666 & ~umask). */
  create?: boolean;
}

export interface RamdiskOptions {
  sizeBytes: number;
  /** Time the device spends on each request. Default 100. */
  serviceTimeUs?: number;
  /** Entries in the device's own queue (stage 2, NCQ). Default 32. */
  queueDepth?: number;
  /** Whether the device can abort a cancelled request in its queue (stage 2). Default false. */
  abortable?: boolean;
}

export interface DeviceStats {
  /** Requests that entered the device queue (stage 2). */
  dispatched: number;
  /** Requests the device executed. */
  completed: number;
  /** Requests dropped from the software queue (stage 1) because they were cancelled. */
  cancelledQueued: number;
  /** Requests dropped from the device queue (stage 2) by abort. */
  cancelledDevice: number;
  /** Bytes the device transferred. */
  bytes: number;
}

export interface DeviceControl {
  readonly path: string;
  /** Stop moving requests into the device queue (stage 1 keeps them; cancels still complete promptly). */
  pause(): void;
  resume(): void;
  /**
   * For tests that must not depend on timing: the device keeps taking requests
   * into its queue (stage 2) and keeps aborting (if abortable), and starts
   * executing one (stage 3), but that one does not finish (so no other starts)
   * until release(); then it takes its service time.
   */
  hold(): void;
  release(): void;
  /** A failed ramdisk answers every request -EIO and leaves its media alone (for RAID5's degraded mode). */
  fail(): void;
  /** Undo fail(). A RAID5 device over it rebuilds it from the other members before its next request. */
  recover(): void;
  /**
   * RAID5 only (else []): the members (by index in the list given to raid5())
   * it treats as faulty: failed, or recovered and not yet rebuilt.
   */
  faultyMembers(): number[];
  stats(): DeviceStats;
  /**
   * Resolves once the device's thread is up and taking requests (until then
   * they wait in the software queue). For measurements that should not count
   * a thread's start-up; nothing else needs to wait for it. Rejects with
   * ETIMEDOUT if the thread has not started within 30 s.
   */
  ready(): Promise<void>;
}

const FMODES: Record<string, number> = { r: L.FMODE_READ, w: L.FMODE_WRITE, rw: L.FMODE_READ | L.FMODE_WRITE };

function intOption(name: string, v: unknown, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidArg(name, `an integer from ${min} to ${max}`, v);
  }
  return v;
}

let bootSeq = 0;

/**
 * num_possible_cpus() of this machine, as Linux sizes an io_setup ring from
 * it: /sys/devices/system/cpu/possible ("0-1" is 2), else the cpus Node sees.
 */
function possibleCpus(): number {
  try {
    let n = 0;
    for (const part of fs.readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b - a + 1;
    }
    if (Number.isInteger(n) && n > 0 && n <= 8192) return n;
  } catch {
    // not Linux, or no sysfs
  }
  return Math.min(Math.max(os.cpus().length, 1), 8192);
}

/** The largest kernel memory: 65520 WebAssembly pages, under wasm32's 4 GiB. */
const MAX_MEMORY_MIB = 4095;
/** PATH_MAX and NAME_MAX, as Linux. */
const PATH_MAX = 4096;
const NAME_MAX = 255;

// Workers that exit without detaching (terminate(), a crash) leave their cpu
// claimed. A thread sees only the workers it started exit (its process
// 'worker' event, then the worker's 'exit'), so every thread that uses a kernel,
// booted or attached, watches its own workers and takes their cpus back
// (cpu_reclaim: exact, so a second watcher or a worker that used none is a no-op).
// Their cached tags and slots are drained then; until then other cpus steal them.
const booted = new Set<WeakRef<Kernel>>();
let watchingWorkers = false;
function watchWorkers(k: Kernel): void {
  booted.add(new WeakRef(k));
  if (watchingWorkers) return;
  watchingWorkers = true;
  process.on('worker', (w: Worker) => {
    const tid = w.threadId;
    w.once('exit', () => {
      for (const ref of booted) {
        const kernel = ref.deref();
        if (kernel === undefined) booted.delete(ref);
        else kernel.reclaimThread(tid);
      }
    });
  });
}

export interface KernelStats {
  /** Events io_destroy found unreaped and dropped with their ring. */
  eventsDiscarded: number;
  /** Cancel callbacks registered after their cancel, and so run at once (S9). */
  lateCallbacks: number;
  /** Threads using the kernel now (kaio's own included). */
  cpusOnline: number;
}

export class Kernel extends Syscalls {
  #workers: Worker[] = [];
  #devices = new Map<string, number>();
  #down: Promise<void> | undefined;
  #attached = false;
  #detached = false;
  #poolThreads = 0;
  #pool: Worker[] | undefined;
  #buffers = new FinalizationRegistry<[number, number]>(([addr, size]) => this.core.x.kfree_user(addr, size));

  private constructor(core: Core) {
    super(core);
  }

  /** Boot a kernel: allocate its shared memory and start its kworker thread. */
  static async boot(options: BootOptions = {}): Promise<Kernel> {
    if (options === null || typeof options !== 'object') throw invalidArg('options', 'an object', options);
    const aioMaxNr = intOption('options.aioMaxNr', options.aioMaxNr, L.AIO_MAX_NR_DEFAULT, 1, 0xffffffff);
    const maxCpus = intOption('options.maxCpus', options.maxCpus, 32, 2, L.MAX_CPUS);
    const mib = options.memoryMiB;
    if (mib !== undefined && (typeof mib !== 'number' || !Number.isInteger(mib))) throw invalidArg('options.memoryMiB', 'an integer from 64 to 4095', mib);
    if (mib !== undefined && (mib < 64 || mib > MAX_MEMORY_MIB)) throw outOfRange('options.memoryMiB', `from 64 to ${MAX_MEMORY_MIB} (a WebAssembly memory is at most 4 GiB)`, mib);
    const memoryMiB = mib ?? 256;
    const lookup = options.lookup ?? 'tags';
    if (lookup !== 'tags' && lookup !== 'list') throw invalidArg('options.lookup', "'tags' or 'list'", lookup);
    const cancel = options.cancel ?? 'effective';
    if (cancel !== 'effective' && cancel !== 'mark-only') throw invalidArg('options.cancel', "'effective' or 'mark-only'", cancel);
    const fi = options.faultInjection;
    if (fi !== undefined && fi !== 'late-cancel-fn' && fi !== 'late-cancel-fn-reuse' && fi !== 'tag-free-reuse' &&
      fi !== 'pool-thread-exit' && fi !== 'cw-page-race' && fi !== 'steal-race' && fi !== 'cancel-race' && fi !== 'cancel-cb-hold') {
      throw invalidArg('options.faultInjection', "'late-cancel-fn', 'late-cancel-fn-reuse', 'tag-free-reuse', 'pool-thread-exit', 'cw-page-race', 'steal-race', 'cancel-race' or 'cancel-cb-hold'", fi);
    }
    const poolThreads = intOption('options.poolThreads', options.poolThreads, 4, 1, L.MAX_POOL_THREADS);
    const flags = (lookup === 'list' ? L.FLAG_LOOKUP_LIST : 0) | (cancel === 'mark-only' ? L.FLAG_MARK_ONLY : 0) |
      (fi === 'late-cancel-fn' || fi === 'late-cancel-fn-reuse' ? L.FLAG_FI_LATE_CANCEL_FN : 0) |
      (fi === 'late-cancel-fn-reuse' ? L.FLAG_FI_LATE_CB_REUSE : 0) | (fi === 'tag-free-reuse' ? L.FLAG_FI_TAG_FREE_REUSE : 0) |
      (fi === 'pool-thread-exit' ? L.FLAG_FI_POOL_EXIT : 0) |
      (fi === 'cw-page-race' ? L.FLAG_FI_CW_PAGE_RACE : 0) | (fi === 'steal-race' ? L.FLAG_FI_STEAL_RACE : 0) |
      (fi === 'cancel-race' ? L.FLAG_FI_CANCEL_RACE : 0) | (fi === 'cancel-cb-hold' ? L.FLAG_FI_CANCEL_CB_HOLD : 0);

    const module = await loadModule();
    const memBytes = memoryMiB * 1024 * 1024;
    const pages = memBytes / L.WASM_PAGE;
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    } catch (err) {
      throw Object.assign(outOfRange('options.memoryMiB', `a size this process can allocate (${String((err as Error).message)})`, memoryMiB), { cause: err });
    }
    const bootId = (randomInt(0, 0x7fff0000) + bootSeq++) >>> 0;
    const handle: KernelHandle = { memory, module, bootId, memBytes };
    const core = new Core(handle);
    const r = core.x.kernel_init(memBytes, maxCpus, flags, aioMaxNr, bootId, possibleCpus());
    if (r < 0) throw systemError(-r, 'boot');
    core.checkHeader();
    core.online(L.CPU_KIND_MAIN, threadId);
    const k = new Kernel(core);
    k.#poolThreads = poolThreads;
    await k.#startKworker();
    if (options.poolThreads !== undefined) k.#startPool();
    watchWorkers(k);
    return k;
  }

  /**
   * Join a kernel booted elsewhere, typically in a worker_thread given
   * `k.handle`. The result has the same syscall API over the same memory: the
   * same contexts, fds and devices. This thread becomes a cpu of its own.
   * Detach with k.detach() (or k.shutdown(), which detaches an attached
   * kernel); a worker that exits detaches by itself.
   */
  static async attach(handle: KernelHandle): Promise<Kernel> {
    if (handle === null || typeof handle !== 'object' || !(handle.memory instanceof WebAssembly.Memory) || !(handle.module instanceof WebAssembly.Module)) {
      throw invalidArg('handle', 'a kernel handle (k.handle)', handle);
    }
    const core = new Core(handle);
    core.checkHeader();
    if (Atomics.load(core.i32, L.H_KW_STATE >>> 2) !== L.DS_READY) throw shutdownError('attach');
    core.online(L.CPU_KIND_WORKER, threadId);
    const k = new Kernel(core);
    k.#attached = true;
    if (!isMainThread) process.once('exit', () => k.detach());
    watchWorkers(k); // workers this thread starts (nested workers) are reclaimed here
    return k;
  }

  /**
   * Leave the kernel (attached kernels): this thread's cached tags and ring
   * slots go back to every context, and its cpu id is freed. In-flight
   * requests it submitted still complete; their events go to whoever reaps.
   * The object cannot be used afterwards. Idempotent.
   */
  detach(): void {
    if (!this.#attached || this.#detached) return;
    this.#detached = true;
    this.dead = true;
    this.buffers.close();
    this.core.offline();
  }

  /** @internal A worker this thread started exited: take back the cpus it kept (any number, or none). */
  reclaimThread(tid: number): void {
    if (this.#down === undefined) this.core.x.cpu_reclaim(L.CPU_KIND_WORKER, tid);
  }

  /** Kernel-wide counters. */
  stats(): KernelStats {
    const u64 = this.core.u64;
    return {
      eventsDiscarded: Number(Atomics.load(u64, L.H_ST_DISCARDED >>> 3)),
      lateCallbacks: Number(Atomics.load(u64, L.H_ST_LATE_CB >>> 3)),
      cpusOnline: this.core.x.cpus_online(),
    };
  }

  /**
   * What the kernel holds now: its cpus, live contexts (in flight, ring fill,
   * per-cpu tag caches) and devices (bios in each stage). Read-only: it changes
   * nothing and takes no lock; works on any thread, booted or attached. What
   * `kaio inspect` prints.
   */
  snapshot(): KernelSnapshot {
    return takeSnapshot(this);
  }

  /** A structured-clonable handle: pass it to a worker to share this kernel. */
  get handle(): KernelHandle {
    return this.core.handle;
  }

  /** This thread's cpu id. */
  get cpu(): number {
    return this.core.cpu;
  }

  get lookup(): 'tags' | 'list' {
    return this.core.flags & L.FLAG_LOOKUP_LIST ? 'list' : 'tags';
  }

  get cancelMode(): 'effective' | 'mark-only' {
    return this.core.flags & L.FLAG_MARK_ONLY ? 'mark-only' : 'effective';
  }

  /** fs.aio-nr: events requested by live contexts. */
  get aio_nr(): number {
    return Atomics.load(this.core.u32, L.H_AIO_NR >>> 2);
  }

  /** fs.aio-max-nr. */
  get aio_max_nr(): number {
    return this.core.u32[L.H_AIO_MAX_NR >>> 2];
  }

  #spawn(role: 'ramdisk' | 'raid5' | 'kworker' | 'pool', dev: number, replacement = false): Worker {
    // Pool threads close host fds the booting thread opened: they must not track fds as their own.
    const w = new Worker(new URL('./kthread.js', import.meta.url), { workerData: { handle: this.core.handle, role, dev, replacement }, trackUnmanagedFds: role !== 'pool' });
    w.unref();
    w.on('error', (err) => {
      process.emitWarning(`kaio: ${role} thread failed: ${err instanceof Error ? err.stack : String(err)}`);
    });
    this.#workers.push(w);
    // A thread that is gone is not waited for at shutdown.
    w.once('exit', () => {
      const i = this.#workers.indexOf(w);
      if (i >= 0) this.#workers.splice(i, 1);
    });
    return w;
  }

  /**
   * Start the host-file pool: poolThreads threads, each a cpu. A thread that
   * exits while the kernel runs (it crashed, or was terminated) is reclaimed
   * and replaced in its slot; the replacement finishes the item it held.
   */
  #startPool(): void {
    if (this.#pool !== undefined) return;
    const core = this.core;
    this.#pool = [];
    // Before any thread starts: submissions queue from now on (hostfile_submit).
    Atomics.store(core.i32, L.H_POOL_THREADS >>> 2, this.#poolThreads);
    const start = (slot: number, replacement: boolean) => {
      const w = this.#spawn('pool', slot, replacement);
      this.#pool![slot] = w;
      const tid = w.threadId;
      w.once('exit', () => {
        if (this.#down !== undefined) return;
        core.x.cpu_reclaim(L.CPU_KIND_POOL, tid);
        start(slot, true);
      });
    };
    for (let i = 0; i < this.#poolThreads; i++) start(i, false);
  }

  /** The host-file pool's counters (all 0 before the pool starts). */
  poolStats(): PoolStats {
    const { u32, u64 } = this.core;
    return {
      threads: Atomics.load(u32, L.H_POOL_THREADS >>> 2),
      queued: Atomics.load(u32, L.H_POOL_QUEUED >>> 2),
      running: Atomics.load(u32, L.H_POOL_RUNNING >>> 2),
      executed: Number(Atomics.load(u64, L.H_POOL_ST_EXECUTED >>> 3)),
      cancelledQueued: Number(Atomics.load(u64, L.H_POOL_ST_CANCELLED_Q >>> 3)),
      interrupted: Number(Atomics.load(u64, L.H_POOL_ST_INTERRUPTED >>> 3)),
    };
  }

  /**
   * eventfd(initval, EFD_NONBLOCK): an fd whose 8-byte counter requests with
   * IOCB_FLAG_RESFD add 1 to when their event is published. -EINVAL for an
   * initval that is not an integer from 0 to 2^32 - 1; -EMFILE, -ENFILE, -ENOMEM.
   */
  eventfd(initval: number = 0): number {
    if (this.dead) return -E.EINVAL;
    if (typeof initval !== 'number' || !Number.isInteger(initval) || initval < 0 || initval > 0xffffffff) return -E.EINVAL;
    return this.core.x.eventfd_create(initval >>> 0);
  }

  /** open(2) of a host file: the real open, then a kaio file on it. */
  #openHost(path: string, fmode: number, create: boolean): number {
    if (path.includes('\0')) return -E.EINVAL;
    if (this.#pool === undefined) {
      if (this.#attached) {
        // Only the booting thread starts the pool.
        if (Atomics.load(this.core.i32, L.H_POOL_THREADS >>> 2) === 0) return -E.ENODEV;
      } else {
        this.#startPool();
      }
    }
    const C = fs.constants;
    const acc = fmode === L.FMODE_READ ? C.O_RDONLY : fmode === L.FMODE_WRITE ? C.O_WRONLY : C.O_RDWR;
    let osfd: number;
    try {
      // O_NONBLOCK: a FIFO opens without waiting for its other end, and its
      // reads and writes never block a pool thread (regular files ignore it).
      osfd = fs.openSync(path, acc | C.O_NONBLOCK | (create ? C.O_CREAT : 0), 0o666);
    } catch (err) {
      return fsErrno(err);
    }
    let flags = 0;
    try {
      const st = fs.fstatSync(osfd);
      if (st.isFIFO() || st.isSocket() || st.isCharacterDevice()) flags |= L.HF_INTERRUPTIBLE;
      else if (st.isDirectory()) flags |= L.HF_DIR;
    } catch (err) {
      fs.closeSync(osfd);
      return fsErrno(err);
    }
    const fd = this.core.x.hostfile_open(osfd, fmode, flags);
    if (fd < 0) fs.closeSync(osfd);
    return fd;
  }

  async #startKworker(): Promise<void> {
    this.#spawn('kworker', -1);
    const i32 = this.core.i32;
    const w = L.H_KW_STATE >>> 2;
    if (!(await waitUntilAsync(i32, w, () => Atomics.load(i32, w) !== L.DS_STARTING, 30_000))) {
      throw new Error('kaio: the kworker thread did not start');
    }
  }

  /**
   * Create a RAM disk served by its own device thread. Returns its path,
   * '/dev/<name>'. Throws on bad options or if the name is taken.
   */
  ramdisk(name: string, options: RamdiskOptions): string {
    if (this.dead) throw shutdownError('ramdisk');
    if (this.#attached) throw new Error('kaio: create devices on the thread that booted the kernel');
    if (typeof name !== 'string' || name.length === 0 || name.includes('/') || Buffer.byteLength(name) >= L.D_NAME_MAX) {
      throw invalidArg('name', `a non-empty string of fewer than ${L.D_NAME_MAX} bytes without '/'`, name);
    }
    if (options === null || typeof options !== 'object') throw invalidArg('options', 'an object', options);
    if (options.sizeBytes === undefined) throw invalidArg('options.sizeBytes', 'an integer from 1 to 4294901760 (required)', undefined);
    const size = intOption('options.sizeBytes', options.sizeBytes, 0, 1, 0xffff0000);
    const service = intOption('options.serviceTimeUs', options.serviceTimeUs, 100, 0, 60_000_000);
    const depth = intOption('options.queueDepth', options.queueDepth, 32, 1, 65536);
    const abortable = options.abortable ?? false;
    if (typeof abortable !== 'boolean') throw invalidArg('options.abortable', 'a boolean', abortable);
    const core = this.core;
    const len = core.putString(name, L.D_NAME_MAX - 1);
    const dev = core.x.device_create(L.DT_RAMDISK, size, service, depth, abortable ? L.DEVF_ABORTABLE : 0, core.scratch, len);
    if (dev < 0) {
      const err = systemError(-dev, 'ramdisk', `/dev/${name}`);
      if (dev === -E.ENOMEM) err.message += ` (sizeBytes ${size} does not fit: boot with a larger memoryMiB)`;
      throw err;
    }
    this.#devices.set(name, dev);
    this.#spawn('ramdisk', dev);
    return `/dev/${name}`;
  }

  /**
   * Create a null device: reads and writes complete at once, in the submitting
   * thread, with res = nbytes and no data moved; fsync completes with 0. It has
   * no thread and keeps no statistics. For measuring the kernel path alone.
   */
  nulldev(name: string): string {
    if (this.dead) throw shutdownError('nulldev');
    if (this.#attached) throw new Error('kaio: create devices on the thread that booted the kernel');
    if (typeof name !== 'string' || name.length === 0 || name.includes('/') || Buffer.byteLength(name) >= L.D_NAME_MAX) {
      throw invalidArg('name', `a non-empty string of fewer than ${L.D_NAME_MAX} bytes without '/'`, name);
    }
    const core = this.core;
    const len = core.putString(name, L.D_NAME_MAX - 1);
    const dev = core.x.device_create(L.DT_NULL, 0, 0, 1, 0, core.scratch, len);
    if (dev < 0) throw systemError(-dev, 'nulldev', `/dev/${name}`);
    this.#devices.set(name, dev);
    return `/dev/${name}`;
  }

  /**
   * Create a linear device (dm-linear): its members' bytes concatenated in
   * order. Members are ramdisks or other stacked devices, by path. A request
   * that crosses a member boundary is split into one bio per member; all share
   * the request's cancel mark. Returns '/dev/<name>'.
   */
  linear(name: string, members: string[]): string {
    return this.#stacked('linear', name, members, 0);
  }

  /**
   * Create a striped device (dm-stripe, RAID0): `chunkBytes` chunks (a power
   * of two, at least 512) round-robin over two or more members. Its size is
   * whole stripes of the smallest member. Returns '/dev/<name>'.
   */
  striped(name: string, members: string[], options: { chunkBytes: number }): string {
    if (options === null || typeof options !== 'object') throw invalidArg('options', 'an object', options);
    const chunk = intOption('options.chunkBytes', options.chunkBytes, 0, 512, 0x40000000);
    if ((chunk & (chunk - 1)) !== 0) throw invalidArg('options.chunkBytes', 'a power of two from 512', chunk);
    return this.#stacked('striped', name, members, chunk);
  }

  /**
   * Create an md RAID5 device over three or more ramdisks (by path), with
   * `chunkBytes` chunks (a power of two, at least 512), XOR parity in md's
   * left-symmetric layout. Its own thread does the member I/O: reads are
   * cancellable like any bio; a write is cancellable only until its first
   * member write is dispatched, then completes in full (never a partial stripe
   * write). With one member failed (k.device(member).fail()) it runs degraded;
   * with two, requests fail -EIO. After recover(), the member is rebuilt.
   * Returns '/dev/<name>'.
   */
  raid5(name: string, members: string[], options: { chunkBytes: number }): string {
    if (options === null || typeof options !== 'object') throw invalidArg('options', 'an object', options);
    const chunk = intOption('options.chunkBytes', options.chunkBytes, 0, 512, 1 << 20);
    if ((chunk & (chunk - 1)) !== 0) throw invalidArg('options.chunkBytes', 'a power of two from 512', chunk);
    const path = this.#stacked('raid5', name, members, chunk);
    this.#spawn('raid5', this.#devices.get(name)!);
    return path;
  }

  #stacked(kind: 'linear' | 'striped' | 'raid5', name: string, members: string[], chunk: number): string {
    if (this.dead) throw shutdownError(kind);
    if (this.#attached) throw new Error('kaio: create devices on the thread that booted the kernel');
    if (typeof name !== 'string' || name.length === 0 || name.includes('/') || Buffer.byteLength(name) >= L.D_NAME_MAX) {
      throw invalidArg('name', `a non-empty string of fewer than ${L.D_NAME_MAX} bytes without '/'`, name);
    }
    const min = kind === 'striped' ? 2 : kind === 'raid5' ? 3 : 1;
    if (!Array.isArray(members) || members.length < min || members.length > L.MAX_MEMB) {
      throw invalidArg('members', `an array of ${min} to ${L.MAX_MEMB} device paths`, members);
    }
    const idx: number[] = [];
    for (const m of Array.from(members)) {
      const dev = this.#findDevice(m);
      if (dev < 0) throw systemError(-dev, kind, String(m));
      idx.push(dev);
    }
    const core = this.core;
    const len = core.putString(name, L.D_NAME_MAX - 1);
    const memb = core.scratch + 64;
    idx.forEach((d, i) => { core.u8[memb + i] = d; });
    const dev = kind === 'linear'
      ? core.x.linear_create(core.scratch, len, memb, idx.length)
      : kind === 'striped'
        ? core.x.striped_create(core.scratch, len, memb, idx.length, chunk)
        : core.x.raid5_create(core.scratch, len, memb, idx.length, chunk);
    if (dev < 0) {
      const err = systemError(-dev, kind, `/dev/${name}`);
      if (dev === -E.EINVAL) err.message += kind === 'raid5' ? ' (members must be distinct ramdisks, and the size must fit in 4 GiB)' : ' (members must be ramdisks or stacked devices, and the size must fit in 4 GiB)';
      throw err;
    }
    this.#devices.set(name, dev);
    return `/dev/${name}`;
  }

  /**
   * The device at `path`, or -errno: -ENAMETOOLONG (PATH_MAX bytes or more, or
   * a component over NAME_MAX, judged before anything is copied), -ENOENT.
   */
  #findDevice(path: unknown): number {
    if (typeof path !== 'string') return -E.ENOENT;
    const bytes = Buffer.byteLength(path);
    if (bytes >= PATH_MAX) return -E.ENAMETOOLONG;
    for (const part of path.split('/')) if (Buffer.byteLength(part) > NAME_MAX) return -E.ENAMETOOLONG;
    if (!path.startsWith('/dev/')) return -E.ENOENT;
    const name = path.slice(5);
    const known = this.#devices.get(name);
    if (known !== undefined) return known;
    const len = this.core.putString(name, L.D_NAME_MAX - 1);
    if (len < 0) return -E.ENOENT; // longer than any device name
    const dev = this.core.x.device_find(this.core.scratch, len);
    return dev < 0 ? -E.ENOENT : dev;
  }

  /**
   * open(2). '/dev/<name>' (one component under /dev/) is a kaio device; any
   * other absolute path, /dev/shm/<file> included, is a host file, opened for
   * real (its reads, writes and syncs run on the pool). An
   * fd, or -errno: -ENOENT (no such device or file; a relative path),
   * -ENAMETOOLONG, -EINVAL (bad mode or options), -EMFILE / -ENFILE, and for
   * host files whatever the real open says (-EACCES, -EISDIR, -ENXIO for a
   * FIFO with no reader opened 'w', ...).
   */
  open(path: string, mode: 'r' | 'w' | 'rw', options?: OpenOptions): number {
    if (this.dead) return -E.EINVAL;
    const fmode = typeof mode === 'string' && Object.hasOwn(FMODES, mode) ? FMODES[mode] : undefined;
    if (fmode === undefined) return -E.EINVAL;
    let create: unknown = false;
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') return -E.EINVAL;
      try {
        create = options.create ?? false;
      } catch {
        return -E.EFAULT;
      }
      if (typeof create !== 'boolean') return -E.EINVAL;
    }
    if (typeof path === 'string' && path.startsWith('/') && !/^\/dev\/[^/]*$/.test(path)) {
      const bytes = Buffer.byteLength(path);
      if (bytes >= PATH_MAX) return -E.ENAMETOOLONG;
      for (const part of path.split('/')) if (Buffer.byteLength(part) > NAME_MAX) return -E.ENAMETOOLONG;
      return this.#openHost(path, fmode, create as boolean);
    }
    const dev = this.#findDevice(path);
    if (dev < 0) return dev;
    return this.core.x.file_open(L.FT_BLOCK, fmode, dev);
  }

  /** Control and statistics of a device. Throws an Error with code 'ENOENT' (or 'ENAMETOOLONG') if there is none at `path`. */
  device(path: string): DeviceControl {
    if (this.dead) throw shutdownError('device');
    const dev = this.#findDevice(path);
    if (dev < 0) throw systemError(-dev, 'device', typeof path === 'string' && path.length > 200 ? `${path.slice(0, 200)}...` : String(path));
    const core = this.core;
    const d = L.DEV_OFF + dev * L.DEV_SIZE;
    // A stacked device (linear, striped) has no queue of its own: pause, hold
    // and their undoing act on every leaf device under it, as dm's suspend holds
    // its members' I/O.
    const leaves = core.leafDevices(dev).map((i) => L.DEV_OFF + i * L.DEV_SIZE);
    const kick = (e: number) => {
      Atomics.add(core.i32, (e + L.D_DOORBELL) >>> 2, 1);
      Atomics.notify(core.i32, (e + L.D_DOORBELL) >>> 2);
    };
    const set = (off: number, v: number) => {
      for (const e of leaves) {
        Atomics.store(core.i32, (e + off) >>> 2, v); // pairs with the device thread's atomic load of D_PAUSED / D_HELD
        if (v === 0 || off === L.D_HELD) kick(e);
      }
    };
    const st = (off: number) => Number(Atomics.load(core.u64, (d + off) >>> 3));
    // Wake the device and every RAID5 thread, so that one over this member
    // marks it faulty (fail) or rebuilds it (recover) now.
    const failed = (v: number) => {
      Atomics.store(core.i32, (d + L.D_FAILED) >>> 2, v); // pairs with the ramdisk's transfer() and RAID5's isFailed loads
      kick(d);
      for (let i = 0; i < L.MAX_DEVS; i++) {
        const e = L.DEV_OFF + i * L.DEV_SIZE;
        if (core.u32[(e + L.D_TYPE) >>> 2] === L.DT_RAID5) kick(e);
      }
    };
    return {
      path,
      pause: () => set(L.D_PAUSED, 1),
      resume: () => set(L.D_PAUSED, 0),
      hold: () => set(L.D_HELD, 1),
      release: () => set(L.D_HELD, 0),
      fail: () => failed(1),
      recover: () => failed(0),
      faultyMembers: () => {
        if (core.u32[(d + L.D_TYPE) >>> 2] !== L.DT_RAID5) return [];
        const f = Atomics.load(core.u32, (d + L.D_R5_FAULTY) >>> 2);
        return Array.from({ length: core.u32[(d + L.D_NMEMB) >>> 2] }, (_, i) => i).filter((i) => f & (1 << i));
      },
      stats: () => ({
        dispatched: st(L.D_ST_DISPATCHED),
        completed: st(L.D_ST_COMPLETED),
        cancelledQueued: st(L.D_ST_CANCELLED_Q),
        cancelledDevice: st(L.D_ST_CANCELLED_D),
        bytes: st(L.D_ST_BYTES),
      }),
      ready: async () => {
        for (const e of leaves) {
          const w = (e + L.D_STATE) >>> 2;
          // Pairs with the device thread's cmpxchg STARTING -> READY and its notify.
          if (!(await waitUntilAsync(core.i32, w, () => Atomics.load(core.i32, w) !== L.DS_STARTING, 30_000))) {
            throw systemError(E.ETIMEDOUT, 'device', path);
          }
        }
      },
    };
  }

  /**
   * A buffer in the kernel's own memory: I/O into it is zero-copy and visible
   * to every thread when the event is published. Freed when it and every view
   * cut from it with subarray() are garbage collected (see KernelBuffer).
   */
  buffer(size: number): KernelBuffer {
    if (this.dead) throw shutdownError('buffer');
    if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0 || size > 0x7fffffff) throw invalidArg('size', 'a positive integer', size);
    const addr = this.core.x.kmalloc_user(size) >>> 0;
    if (!addr) throw systemError(E.ENOMEM, 'buffer');
    const view = KernelBuffer.adopt(new KernelBuffer(this.core.buffer, addr, size), this.core, addr, size);
    this.#buffers.register(view, [addr, size]);
    return view;
  }

  /**
   * `n` binary iocbs (libaio's struct iocb, 64 B each, zeroed) in the kernel's
   * user memory, for io_submit without a JS object per request (src/binary.ts).
   * Freed when the array is garbage collected.
   */
  iocbArray(n: number): IocbArray {
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0 || n > 0x7fffffff / L.IOCB_SIZE) throw invalidArg('n', 'a positive integer', n);
    return new IocbArray(this.core, this.buffer(n * L.IOCB_SIZE), n);
  }

  /** `n` binary io_events (32 B each, zeroed), for io_getevents without a JS object per event. */
  ioEventArray(n: number): IoEventArray {
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0 || n > 0x7fffffff / L.IO_EVENT_SIZE) throw invalidArg('n', 'a positive integer', n);
    return new IoEventArray(this.core, this.buffer(n * L.IO_EVENT_SIZE), n);
  }

  /**
   * An I/O context for promise-style, cancellable I/O (see AioContext).
   * `depth` is its io_setup nr (default 128). Throws a SystemError if
   * io_setup fails (EAGAIN over aio_max_nr).
   */
  context(options: { depth?: number } = {}): AioContext {
    if (this.dead) throw shutdownError('context');
    const depth = intOption('options.depth', options.depth, 128, 1, L.AIO_NR_LIMIT);
    return new AioContext(this, depth);
  }

  /**
   * Statistics of a live context (for tests and tools), or undefined.
   * `cachedHere` counts the tags cached by `cpu` (default: this thread's).
   */
  ctxStat(ctx: number, cpu = this.core.cpu): CtxStat | undefined {
    const c = this.ctxLocal(ctx);
    if (!c) return undefined;
    const core = this.core;
    if (core.x.ctx_stat(c.slot, c.gen, cpu, core.scratch) < 0) return undefined;
    const u = (i: number) => core.u32[(core.scratch >>> 2) + i];
    return {
      nr: u(0), ringNr: u(1), freeTags: u(2), freeSlots: u(3), inflight: u(4), inRing: u(5),
      batch: u(6), cacheSize: u(7), idBase: u(8), published: u(9), cachedHere: u(10),
    };
  }

  /**
   * Stop the kernel: destroy every live context (cancelling what is in flight
   * and waiting for it), then stop the device threads and the kworker.
   * Idempotent. The kernel cannot be used afterwards. On an attached kernel
   * this only detaches the calling thread. It always ends: a
   * context whose requests do not complete within 10 s is abandoned, and a
   * thread that does not stop within 5 s is terminated.
   */
  shutdown(): Promise<void> {
    if (this.#attached) {
      this.detach();
      return Promise.resolve();
    }
    this.dead = true; // from now on every call fails (-EINVAL, or ERR_KAIO_SHUTDOWN)
    this.#down ??= this.#shutdown();
    return this.#down;
  }

  /** After the pool stopped: close the host fds of released host files and of host files still open. */
  #closeHostFiles(): void {
    const { x, u32, i32 } = this.core;
    const close = (osfd: number) => {
      try {
        fs.closeSync(osfd);
      } catch {
        // closed already
      }
    };
    for (let hf = x.pool_take_closes() >>> 0; hf;) {
      const next = u32[(hf + L.HF_NEXT) >>> 2];
      close(i32[(hf + L.HF_OSFD) >>> 2]);
      x.kfree(hf, L.HF_SIZE);
      hf = next;
    }
    for (let i = 0; i < L.MAX_FILES; i++) {
      const f = L.FILE_OFF + i * L.FILE_SIZE;
      if (u32[(f + L.F_TYPE) >>> 2] === L.FT_HOST && u32[(f + L.F_REFGEN) >>> 2] !== 0) close(i32[(u32[(f + L.F_OBJ) >>> 2] + L.HF_OSFD) >>> 2]);
    }
  }

  async #shutdown(): Promise<void> {
    const core = this.core;
    for (let slot = 0; slot < L.MAX_CTX; slot++) {
      const a = L.CTX_OFF + slot * L.CTX_SIZE;
      if (core.u32[(a + L.CX_STATE_GEN) >>> 2] === L.CTX_LIVE) {
        const r = await this.destroyAsync(core.u32[(a + L.CX_STATE_GEN + 4) >>> 2] * L.MAX_CTX + slot, 10_000);
        if (r === -E.ETIMEDOUT) process.emitWarning(`kaio: shutdown abandoned a context whose requests did not complete`);
      }
    }
    // The threads are unref'd so a forgotten kernel does not keep a process
    // alive; while we wait for them to stop, they must.
    const exits = this.#workers.map((w) => {
      w.ref();
      return new Promise<void>((res) => {
        const t = setTimeout(() => void w.terminate(), 5000);
        w.once('exit', () => {
          clearTimeout(t);
          res();
        });
      });
    });
    for (let dev = 0; dev < L.MAX_DEVS; dev++) {
      const d = L.DEV_OFF + dev * L.DEV_SIZE;
      const type = core.u32[(d + L.D_TYPE) >>> 2];
      if (type !== L.DT_RAMDISK && type !== L.DT_RAID5) continue;
      Atomics.store(core.i32, (d + L.D_STATE) >>> 2, L.DS_STOP);
      Atomics.add(core.i32, (d + L.D_DOORBELL) >>> 2, 1);
      Atomics.notify(core.i32, (d + L.D_DOORBELL) >>> 2);
    }
    Atomics.store(core.i32, L.H_KW_STATE >>> 2, L.DS_STOP);
    Atomics.add(core.i32, L.H_KW_DOORBELL >>> 2, 1);
    Atomics.notify(core.i32, L.H_KW_DOORBELL >>> 2);
    // The pool: no new items from here on (hostfile_submit: -ENODEV); the
    // threads finish what they hold (the contexts are gone, so nothing is queued).
    Atomics.store(core.i32, L.H_POOL_THREADS >>> 2, 0);
    Atomics.store(core.i32, L.H_POOL_STATE >>> 2, L.DS_STOP);
    Atomics.add(core.i32, L.H_POOL_DOORBELL >>> 2, 1);
    Atomics.notify(core.i32, L.H_POOL_DOORBELL >>> 2);
    await Promise.all(exits);
    this.#closeHostFiles();
    this.buffers.close();
    core.offline();
  }
}

export interface CtxStat {
  nr: number;
  ringNr: number;
  freeTags: number;
  freeSlots: number;
  inflight: number;
  inRing: number;
  batch: number;
  cacheSize: number;
  idBase: number;
  published: number;
  cachedHere: number;
}
