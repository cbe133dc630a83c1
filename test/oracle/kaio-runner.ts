/**
 * Runs a differential sequence (test/oracle/sequences/*.seq, language in
 * test/oracle/README.md) against kaio's syscall level and returns the same
 * canonical lines test/oracle/aio-oracle.c prints from Linux.
 *
 * Mapping: a `file` is a ramdisk of the same size and byte pattern (written
 * through an rw fd, then opened in the sequence's mode); a `pipe` is k.pipe();
 * a buffer is a plain Buffer (`bad` is a value that is not a byte view: kaio's
 * way of saying "not an address you may use"); `hold`/`release` pause and
 * resume the ramdisk (Linux completes file I/O inline, so they are no-ops there).
 * A `hostfile` is a real regular file on both sides (kaio: k.open of its host
 * path, so its I/O runs on the pool, S13); a `hostdir` a real directory.
 * One kernel is booted per sequence and shut down after it.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel, type Iocb, type IoEvent } from 'kaio';

const ERRNAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 4: 'EINTR', 5: 'EIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 14: 'EFAULT',
  16: 'EBUSY', 22: 'EINVAL', 27: 'EFBIG', 28: 'ENOSPC', 29: 'ESPIPE', 32: 'EPIPE', 38: 'ENOSYS',
  75: 'EOVERFLOW', 95: 'EOPNOTSUPP', 110: 'ETIMEDOUT', 125: 'ECANCELED', 115: 'EINPROGRESS',
};

/** As aio-oracle.c's rv(): the value if >= 0, else the errno's name. */
function rv(r: number): string {
  if (r >= 0) return String(r);
  const n = ERRNAMES[-r];
  return n ? `-${n}` : String(r);
}

const OPCODES = ['pread', 'pwrite', 'fsync', 'fdsync', 'op4', 'poll', 'noop', 'preadv', 'pwritev'];
const BAD_BUF = 'bad'; // not a byte view: io_submit's -EFAULT

/** 64-bit numbers as the C side parses them (strtoll/strtoull, base 0). */
function big(s: string | undefined): bigint {
  if (s === undefined || !/^-?(0x[0-9a-f]+|[0-9]+)$/i.test(s)) throw new Error(`bad number: ${s}`);
  return s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
}
function int(s: string | undefined): number {
  return Number(big(s));
}
const isNum = (s: string) => /^-?[0-9]/.test(s);

/** byte i of a file (and of a write buffer from `seed`) is (seed + i) % 251. */
function pattern(n: number, from: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) % 251;
  return b;
}

function fnv(bytes: Uint8Array, h = 2166136261): number {
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 16777619) >>> 0;
  return h >>> 0;
}
const hex8 = (h: number) => h.toString(16).padStart(8, '0');

interface Obj {
  iocb: Iocb;
  bufs: Buffer[];
  key?: number;
}

let diskSeq = 0;

/** Run one sequence; returns its canonical lines. */
export async function runKaio(text: string): Promise<string[]> {
  const k = await Kernel.boot({ memoryMiB: 64 });
  const host = mkdtempSync(join(tmpdir(), 'kaio-runner-'));
  try {
    return await interpret(k, text, host);
  } finally {
    await k.shutdown();
    rmSync(host, { recursive: true, force: true });
  }
}

async function interpret(k: Kernel, text: string, host: string): Promise<string[]> {
  const out: string[] = [];
  const ctxs = new Map<string, number>();
  /** Per ctx name: requests submitted and not yet reaped (getevents' min_nr "all"). */
  const outstanding = new Map<string, number>();
  const fds = new Map<string, number>();
  const disks = new Map<string, string>();
  const iocbs = new Map<string, Obj>();
  const ctxval = (t: string) => ctxs.get(t) ?? (isNum(t) ? int(t) : 0);
  const fdval = (t: string) => {
    const fd = fds.get(t);
    if (fd !== undefined) return fd;
    if (!isNum(t)) throw new Error(`unknown fd ${t}`);
    return int(t);
  };
  const iocbval = (t: string) => {
    const o = iocbs.get(t);
    if (!o) throw new Error(`unknown iocb ${t}`);
    return o;
  };
  const nameOf = (obj: unknown) => {
    for (const [n, o] of iocbs) if (o.iocb === obj) return n;
    return '?';
  };
  const modeOf = (m: string): 'r' | 'w' | 'rw' => {
    if (m !== 'r' && m !== 'w' && m !== 'rw') throw new Error(`bad mode ${m}`);
    return m;
  };
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const t = lines[ln].replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    if (t.length === 0) continue;
    const where = `line ${ln + 1}: ${lines[ln]}`;
    try {
      switch (t[0]) {
        case 'setup': {
          const r = k.io_setup(int(t[2]));
          if (r > 0) {
            ctxs.set(t[1], r);
            outstanding.set(t[1], 0);
          }
          out.push(`setup ${t[1]} ${t[2]} = ${rv(r > 0 ? 0 : r)}`);
          break;
        }
        case 'destroy':
          out.push(`destroy ${t[1]} = ${rv(k.io_destroy(ctxval(t[1])))}`);
          break;
        case 'file': {
          const size = int(t[2]);
          const path = k.ramdisk(`orc${process.pid}_${diskSeq++}`, { sizeBytes: size, serviceTimeUs: 10 });
          await k.device(path).ready();
          const rw = k.open(path, 'rw');
          if (k.pwrite(rw, pattern(size, 0), 0) !== size) throw new Error('cannot write the pattern');
          k.close(rw);
          disks.set(t[1], path);
          fds.set(t[1], k.open(path, modeOf(t[3])));
          out.push(`file ${t[1]} ${t[2]} ${t[3]}`);
          break;
        }
        case 'hostfile': {
          const size = int(t[2]);
          const path = join(host, t[1]);
          writeFileSync(path, pattern(size, 0));
          disks.set(t[1], path);
          const fd = k.open(path, modeOf(t[3]));
          if (fd < 0) throw new Error(`k.open ${path}: ${rv(fd)}`);
          fds.set(t[1], fd);
          out.push(`hostfile ${t[1]} ${t[2]} ${t[3]}`);
          break;
        }
        case 'hostdir': {
          const path = join(host, t[1]);
          mkdirSync(path);
          const fd = k.open(path, modeOf(t[2]));
          if (fd >= 0) fds.set(t[1], fd);
          out.push(`hostdir ${t[1]} ${t[2]} = ${rv(fd >= 0 ? 0 : fd)}`);
          break;
        }
        case 'open': {
          const path = disks.get(t[2]);
          if (!path) throw new Error(`unknown file ${t[2]}`);
          fds.set(t[1], k.open(path, modeOf(t[3])));
          out.push(`open ${t[1]} ${t[2]} ${t[3]}`);
          break;
        }
        case 'pipe': {
          const [r, w] = k.pipe();
          fds.set(t[1], r);
          fds.set(t[2], w);
          out.push(`pipe ${t[1]} ${t[2]}`);
          break;
        }
        case 'close':
          out.push(`close ${t[1]} = ${rv(k.close(fdval(t[1])))}`);
          break;
        case 'write':
          out.push(`write ${t[1]} ${t[2]} = ${rv(k.write(fdval(t[1]), pattern(int(t[2]), 0x80)))}`);
          break;
        case 'hold':
        case 'release': {
          const path = disks.get(t[1]);
          if (!path) throw new Error(`unknown file ${t[1]}`);
          if (t[0] === 'hold') k.device(path).pause();
          else k.device(path).resume();
          break;
        }
        case 'iocb':
          iocbs.set(t[1], makeIocb(t, fdval));
          break;
        case 'submit': {
          const names = t[2] === '-' ? [] : t[2].split(',');
          const objs = names.map((n) => (n === 'null' ? null : iocbval(n)));
          let nr: number | undefined;
          let arr: Array<Iocb | null> | null = objs.map((o) => (o ? o.iocb : null));
          for (const opt of t.slice(3)) {
            if (opt.startsWith('nr=')) nr = int(opt.slice(3));
            else if (opt === 'array=null' || opt === 'array=bad') arr = null;
            else throw new Error(`bad submit option ${opt}`);
          }
          const before = objs.map((o) => {
            if (!o) return undefined;
            o.iocb.aio_key = o.key;
            return o.key;
          });
          const r = k.io_submit(ctxval(t[1]), arr, nr ?? names.length);
          if (r > 0 && ctxs.has(t[1])) outstanding.set(t[1], (outstanding.get(t[1]) ?? 0) + r);
          const keys = objs.map((o, i) => (o === null ? 'null' : o.iocb.aio_key !== before[i] ? 'w' : '-'));
          out.push(`${t.join(' ')} = ${rv(r)} keys=${keys.join(',')}`);
          break;
        }
        case 'getevents': {
          const timeout = t[4] === 'none' ? null : int(t[4]);
          const evs: IoEvent[] = [];
          const min = t[2] === 'all' ? outstanding.get(t[1]) ?? 0 : int(t[2]);
          const r = k.io_getevents(ctxval(t[1]), min, int(t[3]), evs, timeout);
          if (r > 0 && ctxs.has(t[1])) outstanding.set(t[1], (outstanding.get(t[1]) ?? 0) - r);
          out.push(`getevents ${t[1]} ${t[2]} ${t[3]} ${t[4]} = ${rv(r)}`);
          if (r > 0 && t[5] !== 'quiet') {
            const list = evs.slice(0, r).map((e) => ({ data: BigInt.asUintN(64, e.data), obj: nameOf(e.obj), res: e.res, res2: e.res2 }));
            if (t[5] === 'sorted') list.sort((a, b) => (a.data !== b.data ? (a.data < b.data ? -1 : 1) : a.obj < b.obj ? -1 : a.obj > b.obj ? 1 : 0));
            for (const e of list) out.push(`  ev ${e.obj} data=${e.data} res=${rv(e.res)} res2=${rv(e.res2)}`);
          }
          break;
        }
        case 'cancel': {
          let target: Iocb | { aio_key: number } | null = null;
          if (t[2] !== 'null') target = iocbval(t[2]).iocb;
          for (const opt of t.slice(3)) {
            if (opt.startsWith('key=') && target) target = { aio_key: int(opt.slice(4)) };
            else throw new Error(`bad cancel option ${opt}`);
          }
          out.push(`${t.join(' ')} = ${rv(k.io_cancel(ctxval(t[1]), target))}`);
          break;
        }
        case 'fill': {
          const o = iocbval(t[2]);
          const max = int(t[3]);
          let n = 0;
          let r = 0;
          while (n < max) {
            o.iocb.aio_key = o.key;
            r = k.io_submit(ctxval(t[1]), [o.iocb]);
            if (r !== 1) break;
            n++;
          }
          out.push(`fill ${t[1]} ${t[2]} ${t[3]} = ${n} then ${n < max ? rv(r) : '-'}`);
          break;
        }
        case 'saturate': {
          const o = iocbval(t[2]);
          let r = 1;
          for (let n = 0; n < 1_000_000 && r === 1; n++) {
            o.iocb.aio_key = o.key;
            r = k.io_submit(ctxval(t[1]), [o.iocb]);
          }
          out.push(`saturate ${t[1]} ${t[2]} = ${rv(r)}`);
          break;
        }
        case 'bytes': {
          const o = iocbval(t[1]);
          let h = 2166136261;
          for (const b of o.bufs) h = fnv(b, h);
          out.push(`bytes ${t[1]} = ${hex8(h)}`);
          break;
        }
        case 'readback': {
          const len = int(t[3]);
          const b = Buffer.alloc(len);
          const r = k.pread(fdval(t[1]), b, int(t[2]));
          out.push(`readback ${t[1]} ${t[2]} ${t[3]} = ${rv(r)} ${hex8(fnv(b.subarray(0, r > 0 ? r : 0)))}`);
          break;
        }
        default:
          throw new Error(`unknown op ${t[0]}`);
      }
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** iocb NAME OP FD key=value... */
function makeIocb(t: string[], fdval: (t: string) => number): Obj {
  const op = OPCODES.indexOf(t[2]);
  const opcode = op >= 0 ? op : int(t[2]);
  const iocb: Iocb = { aio_lio_opcode: opcode, aio_fildes: fdval(t[3]) };
  const vec = opcode === 7 || opcode === 8;
  let bufs: Buffer[] = [];
  let seed = 0x40;
  let bufSpec: string | undefined;
  let key: number | undefined;
  for (const kv of t.slice(4)) {
    const eq = kv.indexOf('=');
    if (eq < 0) throw new Error(`key=value expected: ${kv}`);
    const f = kv.slice(0, eq);
    const v = kv.slice(eq + 1);
    switch (f) {
      case 'seed': seed = int(v); break;
      case 'buf': bufSpec = v; break;
      case 'events': iocb.aio_buf = int(v); break;
      case 'nbytes': iocb.aio_nbytes = int(v); break;
      case 'offset': {
        const o = big(v);
        iocb.aio_offset = o >= BigInt(Number.MIN_SAFE_INTEGER) && o <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(o) : o;
        break;
      }
      case 'data': iocb.aio_data = BigInt.asUintN(64, big(v)); break;
      case 'flags': iocb.aio_flags = int(v); break;
      case 'rw_flags': iocb.aio_rw_flags = int(v); break;
      case 'reserved2': iocb.aio_reserved2 = int(v); break;
      case 'reqprio': iocb.aio_reqprio = int(v); break;
      case 'resfd': iocb.aio_resfd = fdval(v); break;
      case 'key': key = int(v); break;
      default: throw new Error(`unknown iocb field ${f}`);
    }
  }
  if (bufSpec === 'bad') {
    (iocb as { aio_buf: unknown }).aio_buf = BAD_BUF;
    if (iocb.aio_nbytes === undefined) iocb.aio_nbytes = vec ? 1 : 16;
  } else if (bufSpec !== undefined && bufSpec !== 'none') {
    const write = opcode === 1 || opcode === 8;
    const lens = vec ? bufSpec.split(',').map(int) : [int(bufSpec)];
    let at = 0;
    bufs = lens.map((n) => {
      const b = write ? pattern(n, seed + at) : Buffer.alloc(n);
      at += n;
      return b;
    });
    iocb.aio_buf = vec ? bufs : bufs[0];
  }
  return { iocb, bufs, key };
}
