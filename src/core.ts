/**
 * Loader and per-thread core: one WebAssembly.Instance of the kernel over the
 * shared memory, typed views of that memory, and this thread's cpu id.
 *
 * Why a small typed loader and not @assemblyscript/loader or asc's bindings:
 * the kernel uses the stub runtime and exports only functions of numbers, so
 * there is nothing to lift or lower; asc's `--bindings esm` instantiates at
 * import time and cannot take an imported memory; and the instance must be
 * created in every worker over the same memory. `new WebAssembly.Instance`
 * with `{ env: { memory } }` is all it takes.
 */
import fs from 'node:fs';
import * as L from '../assembly/include/layout';

/** @internal The kernel's exports (assembly/index.ts). i64 results arrive as bigint. */
export interface KaioExports {
  kernel_init(memBytes: number, ncpus: number, flags: number, aioMaxNr: number, bootId: number, possibleCpus: number): number;
  layout_sig(): number;
  cpu_online(kind: number, tid: number): number;
  cpu_offline(cpu: number): void;
  cpu_drain(cpu: number): void;
  cpus_online(): number;
  cpu_reclaim(kind: number, tid: number): number;
  kmalloc(size: number): number;
  kfree(addr: number, size: number): void;
  kmalloc_user(size: number): number;
  kfree_user(addr: number, size: number): void;
  user_range_ok(addr: number, len: number): number;
  cookies_orphaned(cpu: number, max: number): number;
  io_reap_dying(cpu: number, slot: number, max: number): number;
  io_setup(nr: number): number;
  ctx_gen(slot: number): number;
  ctx_kill(slot: number, gen: number): number;
  ctx_users(slot: number): number;
  ctx_inflight(slot: number): number;
  ctx_cancel_all(slot: number): number;
  ctx_free(slot: number): void;
  ctx_enumerate(slot: number, gen: number, out: number, max: number): number;
  ctx_stat(slot: number, gen: number, cpu: number, out: number): number;
  kiocb_peek(slot: number, gen: number, gid: number): bigint;
  tag_test_alloc(slot: number, gen: number, cpu: number): number;
  tag_test_free(slot: number, gen: number, cpu: number, id: number): number;
  io_submit(cpu: number, slot: number, gen: number, n: number): number;
  io_cancel(cpu: number, slot: number, gen: number, gid: number, kgen: number): number;
  io_submit_bin(cpu: number, slot: number, gen: number, iocbs: number, n: number): number;
  io_reap_bin(cpu: number, slot: number, gen: number, out: number, max: number, contended: number): number;
  io_cancel_key32(cpu: number, slot: number, gen: number, key: number): number;
  io_ring_advance(cpu: number, slot: number, gen: number, from: number, n: number, contended: number): number;
  io_reap(cpu: number, slot: number, gen: number, max: number, contended: number): number;
  sys_rw(cpu: number, fd: number, n: number, pos: number, write: number): number;
  fd_type(fd: number): number;
  file_open(type: number, mode: number, obj: number): number;
  fd_close(fd: number): number;
  pipe_create(out: number): number;
  device_create(type: number, size: number, serviceUs: number, depth: number, flags: number, name: number, len: number): number;
  device_find(name: number, len: number): number;
  blk_fetch(cpu: number, dev: number): number;
  blk_reap_cancelled(cpu: number, dev: number): number;
  linear_create(name: number, len: number, memb: number, n: number): number;
  striped_create(name: number, len: number, memb: number, n: number, chunk: number): number;
  raid5_create(name: number, len: number, memb: number, n: number, chunk: number): number;
  md_child_submit(cpu: number, raid: number, bio: number, member: number, op: number, pos: bigint, buf: number, len: number, cancelWord: number): number;
  blk_cancel_bios(vec: number, n: number): number;
  blk_reap_all(cpu: number): number;
  dev_abort(cpu: number, bio: number): void;
  dev_complete(cpu: number, bio: number, status: number, done: number): void;
  bio_marked(bio: number): number;
  kworker_collect(cpu: number): number;
  kworker_complete(cpu: number, req: number, res: bigint): void;
  io_cancel_all(cpu: number, slot: number, gen: number, fd: number): number;
  host_fd(fd: number): number;
  hostfile_open(osfd: number, mode: number, flags: number): number;
  pool_fetch(cpu: number, slot: number): number;
  pool_slot(slot: number): number;
  pool_done(cpu: number, slot: number, res: bigint, interrupted: number): void;
  pool_take_closes(): number;
  eventfd_create(initval: number): number;
}

/**
 * What a thread needs to join a kernel. Structured-clonable (postMessage,
 * workerData); pass it to Kernel.attach() as it came, and treat it as opaque.
 */
export interface KernelHandle {
  /** @internal */
  readonly memory: WebAssembly.Memory;
  /** @internal */
  readonly module: WebAssembly.Module;
  readonly bootId: number;
  readonly memBytes: number;
}

let cachedModule: WebAssembly.Module | undefined;

/** The compiled kernel module (compiled once per thread, from dist/kaio.wasm). */
export async function loadModule(): Promise<WebAssembly.Module> {
  if (!cachedModule) {
    const bytes = await fs.promises.readFile(new URL('./kaio.wasm', import.meta.url));
    cachedModule = await WebAssembly.compile(bytes);
  }
  return cachedModule;
}

const isSAB = (b: unknown): b is SharedArrayBuffer =>
  Object.prototype.toString.call(b) === '[object SharedArrayBuffer]';

/**
 * One thread's view of the kernel. Views are made once: the memory never
 * grows (initial = maximum), so they stay valid.
 * @internal
 */
export class Core {
  readonly x: KaioExports;
  readonly memory: WebAssembly.Memory;
  readonly buffer: SharedArrayBuffer;
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  readonly u64: BigUint64Array;
  readonly i64: BigInt64Array;
  readonly handle: KernelHandle;
  cpu = -1;
  /** Byte address of this cpu's scratch area. */
  scratch = 0;

  constructor(handle: KernelHandle) {
    this.handle = handle;
    this.memory = handle.memory;
    const inst = new WebAssembly.Instance(handle.module, { env: { memory: handle.memory } });
    this.x = inst.exports as unknown as KaioExports;
    const buf = handle.memory.buffer;
    if (!isSAB(buf)) throw new Error('kaio: kernel memory must be shared');
    this.buffer = buf;
    this.u8 = new Uint8Array(buf);
    this.i32 = new Int32Array(buf);
    this.u32 = new Uint32Array(buf);
    this.f64 = new Float64Array(buf);
    this.u64 = new BigUint64Array(buf);
    this.i64 = new BigInt64Array(buf);
    if (this.x.layout_sig() !== L.LAYOUT_SIG) {
      throw new Error(`kaio: kaio.wasm was built from another layout (signature ${this.x.layout_sig()} != ${L.LAYOUT_SIG}); rebuild`);
    }
  }

  private readonly aliases = new WeakMap<object, boolean>();

  /**
   * Whether `b` is the kernel's memory: this thread's SharedArrayBuffer for
   * it, or another object for the same memory (a view posted from another
   * thread arrives over a new SharedArrayBuffer object). Decided once per
   * object, by writing a probe into this cpu's scratch through one and reading
   * it through the other.
   */
  isKernelMemory(b: ArrayBufferLike): boolean {
    if (b === this.buffer) return true;
    if (b.byteLength !== this.buffer.byteLength || !isSAB(b) || this.scratch === 0) return false;
    let known = this.aliases.get(b);
    if (known === undefined) {
      const at = this.scratch >>> 2;
      const probe = new Int32Array(b as SharedArrayBuffer);
      const was = this.i32[at];
      this.i32[at] = 0x6b61696f;
      // Same thread writes then reads: no other thread uses this cpu's scratch, so
      // these loads pair only with the two stores just above (through the other object).
      const seen1 = Atomics.load(probe, at);
      this.i32[at] = ~0x6b61696f;
      const seen2 = Atomics.load(probe, at);
      this.i32[at] = was;
      known = seen1 === 0x6b61696f && seen2 === ~0x6b61696f;
      this.aliases.set(b, known);
    }
    return known;
  }

  /** Check the header that kernel_init wrote (magic, version, layout). */
  checkHeader(): void {
    const m = this.u32[L.H_MAGIC >>> 2];
    const v = this.u32[L.H_VERSION >>> 2];
    const s = this.u32[L.H_LAYOUT_SIG >>> 2];
    if (m !== L.KAIO_MAGIC || v !== L.KAIO_VERSION || s !== L.LAYOUT_SIG) {
      throw new Error(`kaio: shared memory header mismatch (magic ${m.toString(16)}, version ${v}, layout ${s})`);
    }
  }

  /** Claim a cpu id for this thread. */
  online(kind: number, tid: number): void {
    const cpu = this.x.cpu_online(kind, tid);
    if (cpu < 0) {
      throw Object.assign(new Error(`kaio: all ${this.u32[L.H_NCPUS >>> 2]} cpus are taken (boot with a larger maxCpus)`), { code: 'ERR_KAIO_NO_CPU' });
    }
    this.cpu = cpu;
    this.scratch = L.SCRATCH_OFF + cpu * L.SCRATCH_SIZE;
  }

  offline(): void {
    if (this.cpu >= 0) this.x.cpu_offline(this.cpu);
    this.cpu = -1;
  }

  get flags(): number {
    return this.u32[L.H_FLAGS >>> 2];
  }

  /** Read a u64 as a number (exact below 2^53). */
  readU64(addr: number): number {
    return this.u32[addr >>> 2] + this.u32[(addr >>> 2) + 1] * 0x100000000;
  }

  /** Read an i64 as a number. */
  readI64(addr: number): number {
    return this.u32[addr >>> 2] + this.i32[(addr >>> 2) + 1] * 0x100000000;
  }

  /**
   * Write a UTF-8 string into scratch; returns its byte length, or -1 if it is
   * longer than `max` bytes (nothing is written then: every copy into kernel
   * memory is bounded before it starts).
   */
  /**
   * The leaf devices (those with a queue and a thread) under device `dev`:
   * itself, or for a stacked device every device its bios can reach.
   */
  leafDevices(dev: number): number[] {
    const out: number[] = [];
    const walk = (i: number, depth: number) => {
      const e = L.DEV_OFF + i * L.DEV_SIZE;
      if (this.u32[(e + L.D_REMAP) >>> 2] === 0 || depth > L.MAX_DEVS) {
        if (!out.includes(i)) out.push(i);
        return;
      }
      const n = this.u32[(e + L.D_NMEMB) >>> 2];
      for (let k = 0; k < n; k++) walk(this.u8[e + L.D_MEMB + k], depth + 1);
    };
    walk(dev, 0);
    return out;
  }

  putString(s: string, max: number): number {
    const bytes = Buffer.from(s, 'utf8');
    if (bytes.length > max || bytes.length > L.SCRATCH_SIZE) return -1;
    this.u8.set(bytes, this.scratch);
    return bytes.length;
  }
}

export { isSAB };
