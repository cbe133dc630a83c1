/**
 * `kaio inspect`: boot a kernel, put a short workload in it that leaves
 * something in every stage, and take k.snapshot() while it is live.
 *
 * The workload, with R requests and a device queue of depth D (8):
 *   - context A: R 4 KiB reads of /dev/rd0, a ramdisk that is held (it takes
 *     D + 1 bios, starts one and does not finish it): 1 executing (stage 3),
 *     D in the device queue (stage 2), the rest in the software queue
 *     (stage 1); then the last C = floor((R - D - 1) / 2) of them are
 *     cancelled, so they complete -ECANCELED without reaching the device and
 *     wait unreaped in A's ring;
 *   - context B: 16 reads of /dev/null0 (they complete at submit) left
 *     unreaped in its ring, and one read of an empty pipe, in flight with no
 *     device;
 * so the figures are known in advance: `kaio inspect` prints them, and the
 * CLI test checks them.
 */
import { Kernel, IOCB_CMD, type Iocb, type KernelSnapshot } from 'kaio';

export interface InspectOptions {
  lookup: 'tags' | 'list';
  cancel: 'effective' | 'mark-only';
  requests: number;
}

export const QUEUE_DEPTH = 8;
export const NULL_READS = 16;

/** Wait (bounded; the device thread moves at its own pace) until `done()`. */
async function until(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  const t0 = performance.now();
  while (!done()) {
    if (performance.now() - t0 > ms) throw new Error(`inspect: timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

export async function inspectWorkload(o: InspectOptions): Promise<KernelSnapshot> {
  const k = await Kernel.boot({ lookup: o.lookup, cancel: o.cancel, memoryMiB: 64 });
  const disk = k.ramdisk('rd0', { sizeBytes: 1 << 20, queueDepth: QUEUE_DEPTH });
  const dev = k.device(disk);
  try {
    const nul = k.nulldev('null0');
    await dev.ready();
    dev.hold();
    const fd = k.open(disk, 'r');
    const a = k.io_setup(128);
    const buf = k.buffer(4096 * o.requests);
    const reads: Iocb[] = Array.from({ length: o.requests }, (_, i) => ({
      aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buf.subarray(4096 * i, 4096 * (i + 1)), aio_offset: 4096 * i, aio_data: BigInt(i),
    }));
    if (k.io_submit(a, reads) !== o.requests) throw new Error('inspect: io_submit refused the reads');
    const taken = Math.min(o.requests, QUEUE_DEPTH + 1);
    await until('the device to take its queue', () => dev.stats().dispatched === taken);
    const cancelled = Math.floor((o.requests - taken) / 2);
    for (const iocb of reads.slice(o.requests - cancelled)) k.io_cancel(a, iocb);
    await until('the cancelled reads to complete', () => (k.ctxStat(a)?.inRing ?? -1) === cancelled);

    const b = k.io_setup(64);
    const nfd = k.open(nul, 'r');
    const small = new Uint8Array(512);
    k.io_submit(b, Array.from({ length: NULL_READS }, () => ({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: nfd, aio_buf: small })));
    const [rfd] = k.pipe();
    k.io_submit(b, [{ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: rfd, aio_buf: new Uint8Array(64) }]);

    return k.snapshot();
  } finally {
    dev.release();
    await k.shutdown();
  }
}

const pad = (s: string | number, n: number) => String(s).padStart(n);

function table(columns: string[], rows: Array<Array<string | number>>): string[] {
  const cells = rows.map((r) => r.map(String));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  return [columns, ...cells].map((r) => `  ${r.map((c, i) => pad(c, widths[i])).join('  ')}`);
}

/** The snapshot as tables (lines for stdout). */
export function formatSnapshot(s: KernelSnapshot): string[] {
  const out: string[] = [];
  out.push(`kernel: lookup '${s.lookup}', cancel '${s.cancel}', aio_nr ${s.aioNr} of ${s.aioMaxNr}`, '');
  out.push(`cpus (${s.cpus.length} online)`);
  out.push(...table(['cpu', 'kind', 'thread', 'state'], s.cpus.map((c) => [c.cpu, c.kind, c.kind === 'device' || c.kind === 'kworker' ? '-' : c.threadId, c.state])), '');
  out.push(`contexts (${s.contexts.length} live)`);
  out.push(...table(
    ['id', 'nr', 'ring', 'in flight', 'ring fill', 'free tags', 'free slots', 'published', 'tag caches (cpu:tags)'],
    s.contexts.map((c) => [c.id, c.nr, c.ringNr, c.inflight, `${c.ringEvents}/${c.ringNr}`, c.freeTags, c.freeSlots, c.published,
      c.cachedTags.map((t) => `${t.cpu}:${t.tags}`).join(' ') || '-']),
  ), '');
  out.push(`devices (${s.devices.length}; bios by stage: 1 software queue, 2 device queue, 3 executing)`);
  out.push(...table(
    ['path', 'type', 'depth', 'paused', 'held', 'stage 1', 'stage 2', 'stage 3', 'dispatched', 'completed', 'cancelled q/dev'],
    s.devices.map((d) => [d.path, d.type, d.queueDepth, d.paused ? 'yes' : 'no', d.held ? 'yes' : 'no', d.softwareQueue, d.deviceQueue, d.executing,
      d.stats.dispatched, d.stats.completed, `${d.stats.cancelledQueued}/${d.stats.cancelledDevice}`]),
  ), '');
  const f = s.inflight;
  out.push(`in flight: ${f.requests} requests; bios: ${f.softwareQueue} in software queues, ${f.deviceQueue} in device queues, ${f.executing} executing; ${f.ringEvents} events unreaped`);
  return out;
}
