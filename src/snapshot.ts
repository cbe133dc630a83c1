/**
 * k.snapshot(): a read-only picture of a live kernel, for `kaio inspect` and
 * for programs that want to see what their kernel holds. It reads the shared
 * tables (layout.ts) and calls ctx_stat; it writes nothing and takes no lock,
 * so it can run on any thread at any time. Each figure is read on its own
 * (atomically where the kernel moves it with atomics): while requests move,
 * the figures are not one consistent cut, but each is exact for its moment.
 */
import * as L from '../assembly/include/layout';
import type { Syscalls } from './aio';
import type { CtxStat, DeviceStats } from './kernel';

/** A thread that is a cpu of the kernel. */
export interface CpuSnapshot {
  cpu: number;
  /** 'main': booted it; 'device': a ramdisk's thread; 'kworker': kaio's pipe worker; 'worker': a thread that attached. */
  kind: 'main' | 'device' | 'kworker' | 'worker';
  /** The worker_threads threadId of the booting thread or of an attached one; 0 for kaio's device and kworker threads (not recorded). */
  threadId: number;
  /** 'reclaiming': its thread is gone and another thread is taking its caches back. */
  state: 'online' | 'reclaiming';
}

/** A live context (io_setup) and its completion ring. */
export interface ContextSnapshot {
  id: number;
  /** Requests it accepts in flight or unreaped (what io_setup sized it for). */
  nr: number;
  /** Events the ring holds (the aio_ring header's nr). */
  ringNr: number;
  /** Requests submitted and not yet completed. */
  inflight: number;
  /** Completed events in the ring, not yet reaped: the ring's fill. */
  ringEvents: number;
  /** Free tags (kiocb ids), in the pool and in every cpu's cache: nr - freeTags are held by requests in flight. */
  freeTags: number;
  /** Ring slots free for new submissions (reqs_available). */
  freeSlots: number;
  /** Events published since io_setup. */
  published: number;
  /** Tags moved between a cpu's cache and the pool at a time. */
  batch: number;
  /** Tags cached per cpu, for every online cpu that caches any. */
  cachedTags: Array<{ cpu: number; tags: number }>;
}

/** A device and its queues. Counts are bios: a PREADV/PWRITEV makes one per buffer. */
export interface DeviceSnapshot {
  path: string;
  type: 'ramdisk' | 'null';
  queueDepth: number;
  serviceTimeUs: number;
  abortable: boolean;
  paused: boolean;
  held: boolean;
  /** Stage 1: bios in the software queue (cancellable: they never reach the device). */
  softwareQueue: number;
  /** Stage 2: bios in the device's own queue (cancellable only if abortable). */
  deviceQueue: number;
  /** Stage 3: the bio the device is executing (0 or 1: it runs one at a time). */
  executing: number;
  stats: DeviceStats;
}

export interface KernelSnapshot {
  lookup: 'tags' | 'list';
  cancel: 'effective' | 'mark-only';
  /** fs.aio-nr and fs.aio-max-nr. */
  aioNr: number;
  aioMaxNr: number;
  cpus: CpuSnapshot[];
  contexts: ContextSnapshot[];
  devices: DeviceSnapshot[];
  /** Totals over every context and device. */
  inflight: { requests: number; softwareQueue: number; deviceQueue: number; executing: number; ringEvents: number };
}

const KINDS: Record<number, CpuSnapshot['kind']> = {
  [L.CPU_KIND_MAIN]: 'main',
  [L.CPU_KIND_DEVICE]: 'device',
  [L.CPU_KIND_KWORKER]: 'kworker',
  [L.CPU_KIND_WORKER]: 'worker',
};

/** @internal The snapshot of the kernel `k` is a thread of (k.snapshot() calls this). */
export function takeSnapshot(k: Syscalls & { ctxStat(ctx: number, cpu?: number): CtxStat | undefined }): KernelSnapshot {
  const core = k.core;
  const { u32, i32, u64, u8 } = core;
  const ncpus = u32[L.H_NCPUS >>> 2];
  const flags = core.flags;

  const cpus: CpuSnapshot[] = [];
  for (let cpu = 0; cpu < ncpus; cpu++) {
    // The owner word {tid:32 | kind:24 state:8}, moved by 64-bit cmpxchg: one atomic load sees a whole identity.
    const owner = Atomics.load(u64, (L.CPU_OFF + cpu * L.CPU_SIZE + L.CPU_OWNER) >>> 3);
    const lo = Number(owner & 0xffffffffn);
    const state = lo & 0xff;
    if (state !== L.CPU_ONLINE && state !== L.CPU_RECLAIMING) continue;
    cpus.push({ cpu, kind: KINDS[lo >>> L.CPU_KIND_SHIFT] ?? 'worker', threadId: Number(owner >> 32n), state: state === L.CPU_ONLINE ? 'online' : 'reclaiming' });
  }

  const contexts: ContextSnapshot[] = [];
  for (let slot = 0; slot < L.MAX_CTX; slot++) {
    const a = L.CTX_OFF + slot * L.CTX_SIZE;
    const sg = Atomics.load(u64, (a + L.CX_STATE_GEN) >>> 3); // pairs with io_setup's publishing cmpxchg
    if (Number(sg & 0xffffffffn) !== L.CTX_LIVE) continue;
    const id = Number(sg >> 32n) * L.MAX_CTX + slot;
    const st = k.ctxStat(id, cpus[0]?.cpu ?? 0);
    if (!st) continue; // destroyed since
    const cachedTags: ContextSnapshot['cachedTags'] = [];
    for (const c of cpus) {
      const tags = k.ctxStat(id, c.cpu)?.cachedHere ?? 0;
      if (tags > 0) cachedTags.push({ cpu: c.cpu, tags });
    }
    contexts.push({
      id, nr: st.nr, ringNr: st.ringNr, inflight: st.inflight, ringEvents: st.inRing, freeTags: st.freeTags,
      freeSlots: st.freeSlots, published: st.published, batch: st.batch, cachedTags,
    });
  }

  const devices: DeviceSnapshot[] = [];
  for (let dev = 0; dev < L.MAX_DEVS; dev++) {
    const d = L.DEV_OFF + dev * L.DEV_SIZE;
    const type = Atomics.load(u32, (d + L.D_TYPE) >>> 2); // pairs with device_create's publishing store
    if (type !== L.DT_RAMDISK && type !== L.DT_NULL) continue;
    const name = u8.subarray(d + L.D_NAME, d + L.D_NAME + L.D_NAME_MAX); // NUL padded
    const nul = name.indexOf(0);
    const st = (off: number) => Number(Atomics.load(u64, (d + off) >>> 3));
    const stats: DeviceStats = {
      dispatched: st(L.D_ST_DISPATCHED), completed: st(L.D_ST_COMPLETED), cancelledQueued: st(L.D_ST_CANCELLED_Q),
      cancelledDevice: st(L.D_ST_CANCELLED_D), bytes: st(L.D_ST_BYTES),
    };
    // Bios that entered the device and have not left it; the device starts the
    // head of its queue whenever it is idle, so one of them is executing.
    const inDevice = Math.max(0, stats.dispatched - stats.completed - stats.cancelledDevice);
    const executing = type === L.DT_RAMDISK && inDevice > 0 ? 1 : 0;
    devices.push({
      path: `/dev/${Buffer.from(name.subarray(0, nul < 0 ? name.length : nul)).toString('utf8')}`,
      type: type === L.DT_RAMDISK ? 'ramdisk' : 'null',
      queueDepth: u32[(d + L.D_QUEUE_DEPTH) >>> 2],
      serviceTimeUs: u32[(d + L.D_SERVICE_US) >>> 2],
      abortable: (u32[(d + L.D_FLAGS) >>> 2] & L.DEVF_ABORTABLE) !== 0,
      paused: Atomics.load(i32, (d + L.D_PAUSED) >>> 2) !== 0,
      held: Atomics.load(i32, (d + L.D_HELD) >>> 2) !== 0,
      softwareQueue: Atomics.load(u32, (d + L.D_Q_COUNT) >>> 2),
      deviceQueue: inDevice - executing,
      executing,
      stats,
    });
  }

  const sum = <T>(xs: T[], f: (x: T) => number) => xs.reduce((n, x) => n + f(x), 0);
  return {
    lookup: flags & L.FLAG_LOOKUP_LIST ? 'list' : 'tags',
    cancel: flags & L.FLAG_MARK_ONLY ? 'mark-only' : 'effective',
    aioNr: Atomics.load(u32, L.H_AIO_NR >>> 2),
    aioMaxNr: u32[L.H_AIO_MAX_NR >>> 2],
    cpus,
    contexts,
    devices,
    inflight: {
      requests: sum(contexts, (c) => c.inflight),
      softwareQueue: sum(devices, (d) => d.softwareQueue),
      deviceQueue: sum(devices, (d) => d.deviceQueue),
      executing: sum(devices, (d) => d.executing),
      ringEvents: sum(contexts, (c) => c.ringEvents),
    },
  };
}
