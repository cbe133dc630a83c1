/**
 * The idiomatic level: I/O you can really cancel, as promises.
 *
 *   const io = k.context();                       // io_setup
 *   const n = await io.read(fd, buf, 0, { signal });
 *   for await (const ev of io.events({ count: 2 })) ...  // the next 2 completions, as they are reaped
 *   await io.close();                             // cancel what is left, wait, io_destroy
 *
 * What aborting does: the signal calls io_cancel, which asks and returns at
 * once. If the request was still queued (or waiting on a pipe) it never runs
 * and the promise rejects with an AbortError whose cause is the signal's
 * reason. If it had already reached the device (and the device cannot abort),
 * it completes and the promise resolves with its result: aborting cannot undo
 * I/O that happened. Other failures reject with a SystemError-shaped error
 * (code, errno, syscall), e.g. `ENOSPC: no space left on device, write`.
 *
 * Operations are submitted together, in one io_submit, in a microtask after
 * the call. A signal that aborts before then (or is already aborted) takes
 * the request out of the queue: it never reaches the kernel (no io_submit, no
 * io_cancel, no event) and the promise rejects with the AbortError at once.
 *
 * An AioContext owns its kernel context: do not reap it with io_getevents.
 */
import * as E from '../assembly/include/errno';
import { IOCB_CMD, type Iocb, type IoEvent, type Syscalls } from './aio';
import { abortError, invalidArg, systemError } from './errno';

export interface IoOptions {
  signal?: AbortSignal;
}

/** When AioContext.events() ends, besides the context's close. */
export interface EventsOptions {
  /** End (normally, without an error) when this signal aborts. */
  signal?: AbortSignal;
  /** End after this many events. */
  count?: number;
}

/**
 * What an Op's promise settles with: its event (submit), its result (read,
 * write, poll: res, or a rejection for a negative one), or nothing (fsync).
 */
const EVENT = 0;
const RESULT = 1;
const VOID = 2;
type OpKind = typeof EVENT | typeof RESULT | typeof VOID;

interface Op {
  iocb: Iocb;
  syscall: string;
  kind: OpKind;
  // The promise's resolve: an event, a result or undefined, by kind.
  resolve(v: IoEvent | number | undefined): void;
  reject(err: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
  submitted: boolean;
}

const SYSCALL: Record<number, string> = {
  [IOCB_CMD.PREAD]: 'read',
  [IOCB_CMD.PWRITE]: 'write',
  [IOCB_CMD.FSYNC]: 'fsync',
  [IOCB_CMD.FDSYNC]: 'fdatasync',
  [IOCB_CMD.POLL]: 'poll',
  [IOCB_CMD.NOOP]: 'noop',
  [IOCB_CMD.PREADV]: 'readv',
  [IOCB_CMD.PWRITEV]: 'writev',
};

export class AioContext {
  /** The syscall-level context id. */
  readonly id: number;
  readonly #k: Syscalls;
  #queued: Op[] = [];
  #flushScheduled = false;
  #inflight = new Map<Iocb, Op>();
  /** The one reaper loop, while it runs; it settles when nothing is in flight. */
  #reaper: Promise<void> | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #listeners = new Set<(ev: IoEvent | null) => void>();
  #seq = 0n;

  /** @internal use Kernel.context() */
  constructor(k: Syscalls, depth: number) {
    const id = k.io_setup(depth);
    if (id < 0) throw systemError(-id, 'io_setup');
    this.#k = k;
    this.id = id;
  }

  /** Read into `buffer` at `position`; resolves with the bytes read (0 at end of device or pipe EOF). */
  read(fd: number, buffer: ArrayBufferView, position = 0, opts?: IoOptions): Promise<number> {
    return this.#result({ aio_lio_opcode: IOCB_CMD.PREAD, aio_fildes: fd, aio_buf: buffer, aio_offset: position }, opts);
  }

  /** Write `buffer` at `position`; resolves with the bytes written. */
  write(fd: number, buffer: ArrayBufferView, position = 0, opts?: IoOptions): Promise<number> {
    return this.#result({ aio_lio_opcode: IOCB_CMD.PWRITE, aio_fildes: fd, aio_buf: buffer, aio_offset: position }, opts);
  }

  readv(fd: number, buffers: ArrayBufferView[], position = 0, opts?: IoOptions): Promise<number> {
    return this.#result({ aio_lio_opcode: IOCB_CMD.PREADV, aio_fildes: fd, aio_buf: buffers, aio_offset: position }, opts);
  }

  writev(fd: number, buffers: ArrayBufferView[], position = 0, opts?: IoOptions): Promise<number> {
    return this.#result({ aio_lio_opcode: IOCB_CMD.PWRITEV, aio_fildes: fd, aio_buf: buffers, aio_offset: position }, opts);
  }

  fsync(fd: number, opts?: IoOptions): Promise<void> {
    return this.#enqueue({ aio_lio_opcode: IOCB_CMD.FSYNC, aio_fildes: fd }, opts, VOID) as Promise<void>;
  }

  fdatasync(fd: number, opts?: IoOptions): Promise<void> {
    return this.#enqueue({ aio_lio_opcode: IOCB_CMD.FDSYNC, aio_fildes: fd }, opts, VOID) as Promise<void>;
  }

  /** Wait until `fd` is ready for `events` (POLLIN, POLLOUT...); resolves with the ready mask. */
  poll(fd: number, events: number, opts?: IoOptions): Promise<number> {
    return this.#result({ aio_lio_opcode: IOCB_CMD.POLL, aio_fildes: fd, aio_buf: events }, opts);
  }

  /**
   * Submit any iocb; resolves with its event whatever its result (no
   * rejection for a negative res). Rejects if io_submit refuses it.
   */
  submit(iocb: Iocb, opts?: IoOptions): Promise<IoEvent> {
    return this.#enqueue(iocb, opts, EVENT) as Promise<IoEvent>;
  }

  /**
   * Every event this context reaps from now on, as it is reaped (the promise
   * of its request settles too). Ends after `count` events, when `signal`
   * aborts, when the loop stops (break, return) or when the context is closed,
   * whichever comes first; it ends normally (`done`), never with an error.
   * Events reaped before the call are not replayed.
   */
  events(options: EventsOptions = {}): AsyncIterableIterator<IoEvent> {
    if (options === null || typeof options !== 'object') throw invalidArg('options', 'an object', options);
    const { signal, count } = options;
    if (count !== undefined && (typeof count !== 'number' || !Number.isInteger(count) || count < 0)) {
      throw invalidArg('options.count', 'a non-negative integer', count);
    }
    const buffered: Array<IoEvent | null> = [];
    let left = count ?? Infinity;
    let ended = false;
    let wake: (() => void) | undefined;
    const listener = (ev: IoEvent | null) => {
      buffered.push(ev);
      wake?.();
    };
    const onAbort = () => listener(null);
    this.#listeners.add(listener);
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): IteratorResult<IoEvent> => {
      ended = true;
      this.#listeners.delete(listener);
      signal?.removeEventListener('abort', onAbort);
      buffered.length = 0;
      return { value: undefined, done: true };
    };
    if (this.#closed || signal?.aborted) listener(null);
    const it: AsyncIterableIterator<IoEvent> = {
      next: async () => {
        if (ended || left === 0) return done();
        while (buffered.length === 0) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const ev = buffered.shift()!;
        if (ev === null) return done();
        left--;
        return { value: ev, done: false };
      },
      return: async () => done(),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /**
   * Ask every request of this context that has not settled, or only those on
   * `fd`, to cancel (io_cancel_all; io_uring's CANCEL_ALL / CANCEL_FD). Ones
   * still waiting for their io_submit are taken out at once and reject with
   * ECANCELED; the others settle with their events: rejected with ECANCELED
   * if the cancel took effect, else with their normal result. Returns how
   * many it asked. Throws a TypeError for an fd that is not an integer.
   */
  cancelAll(options: { fd?: number } = {}): number {
    if (options === null || typeof options !== 'object') throw invalidArg('options', 'an object', options);
    const fd = options.fd;
    if (fd !== undefined && (typeof fd !== 'number' || !Number.isInteger(fd))) throw invalidArg('options.fd', 'an integer', fd);
    let n = 0;
    const keep: Op[] = [];
    for (const op of this.#queued.splice(0)) {
      if (fd === undefined || op.iocb.aio_fildes === fd) {
        this.#settle(op, undefined, systemError(E.ECANCELED, op.syscall));
        n++;
      } else {
        keep.push(op);
      }
    }
    this.#queued.push(...keep);
    if (this.#closed && this.#inflight.size === 0) return n;
    const r = this.#k.io_cancel_all(this.id, fd === undefined ? undefined : { fd });
    return r > 0 ? n + r : n;
  }

  /** Requests submitted or queued and not yet settled. */
  get pending(): number {
    return this.#queued.length + this.#inflight.size;
  }

  /**
   * Cancel every request that has not completed, wait for all of them to
   * settle (cancelled ones reject with ECANCELED, or AbortError if their
   * signal fired), then destroy the kernel context. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true; // before anything awaits: no new submission from here on
    for (const op of this.#queued.splice(0)) this.#settle(op, undefined, systemError(E.ECANCELED, op.syscall));
    for (const iocb of this.#inflight.keys()) this.#k.io_cancel(this.id, iocb);
    this.#closing = (async () => {
      // Cancelled requests still complete (with -ECANCELED) through the one reaper.
      if (this.#inflight.size > 0) await this.#startReaper();
      for (const l of this.#listeners) l(null);
      await this.#k.io_destroy_async(this.id);
    })();
    return this.#closing;
  }

  #result(iocb: Iocb, opts?: IoOptions): Promise<number> {
    return this.#enqueue(iocb, opts, RESULT) as Promise<number>;
  }

  // One promise per request, settled straight from its event (#settle): no
  // async function awaiting a second promise.
  #enqueue(iocb: Iocb, opts: IoOptions | undefined, kind: OpKind): Promise<IoEvent | number | undefined> {
    const signal = opts?.signal;
    if (this.#closed) return Promise.reject(systemError(E.EINVAL, 'io_submit'));
    if (signal?.aborted) return Promise.reject(abortError(signal.reason));
    iocb.aio_data ??= ++this.#seq;
    return new Promise<IoEvent | number | undefined>((resolve, reject) => {
      const op: Op = { iocb, syscall: SYSCALL[iocb.aio_lio_opcode] ?? 'io_submit', kind, resolve, reject, signal, onAbort: undefined, submitted: false };
      if (signal) {
        op.onAbort = () => {
          if (op.submitted) {
            this.#k.io_cancel(this.id, op.iocb); // the outcome comes with its event
          } else {
            const i = this.#queued.indexOf(op);
            if (i >= 0) this.#queued.splice(i, 1);
            this.#settle(op, undefined, abortError(signal.reason));
          }
        };
        signal.addEventListener('abort', op.onAbort, { once: true });
      }
      this.#queued.push(op);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  /**
   * Settle op once: with its event (as its kind asks: a negative res of a
   * read/write/poll/fsync rejects, with an AbortError if its signal aborted
   * and the request was cancelled, else with the errno's SystemError), or
   * with err.
   */
  #settle(op: Op, ev: IoEvent | undefined, err?: unknown): void {
    if (op.onAbort !== undefined) op.signal!.removeEventListener('abort', op.onAbort);
    if (ev === undefined) return op.reject(err);
    if (op.kind === EVENT) return op.resolve(ev);
    const res = ev.res;
    if (res >= 0) return op.resolve(op.kind === RESULT ? res : undefined);
    if (res === -E.ECANCELED && op.signal?.aborted) return op.reject(abortError(op.signal.reason));
    op.reject(systemError(-res, op.syscall));
  }

  /** Submit what is queued, in one io_submit; leave what does not fit (-EAGAIN) for the reaper to retry. */
  #flush(): void {
    this.#flushScheduled = false;
    const inflight = this.#inflight;
    const take = (op: Op) => {
      op.submitted = true;
      inflight.set(op.iocb, op);
    };
    while (this.#queued.length > 0) {
      const batch = this.#queued.slice(0, 256);
      const iocbs = new Array<Iocb>(batch.length);
      for (let i = 0; i < batch.length; i++) iocbs[i] = batch[i].iocb;
      let n = this.#k.io_submit(this.id, iocbs);
      if (n > 0) {
        for (let i = 0; i < n; i++) take(batch[i]);
        this.#queued.splice(0, n);
        if (n === batch.length) continue;
        n = this.#k.io_submit(this.id, [this.#queued[0].iocb]); // learn why the next one stopped
        if (n === 1) {
          take(this.#queued.shift()!);
          continue;
        }
      }
      if (n === -E.EAGAIN) break; // ring full: slots come back as the reaper consumes events
      const bad = this.#queued.shift()!;
      this.#settle(bad, undefined, systemError(-n, 'io_submit'));
    }
    if (this.#inflight.size > 0) void this.#startReaper();
  }

  /** Start the reaper loop if it is not running; resolves when nothing is in flight. */
  #startReaper(): Promise<void> {
    if (this.#reaper === undefined && this.#inflight.size > 0) this.#reaper = this.#reapAll();
    return this.#reaper ?? Promise.resolve();
  }

  /**
   * The one reaper of this context: reap until nothing is in flight. It
   * clears #reaper in the same step as it finds nothing in flight: a request
   * that a continuation of its last settle submits either is in flight by
   * then (the loop goes on) or finds no reaper and starts one. (Clearing it a
   * tick later, in a .finally, left such a request with no reaper: `await
   * io.submit(a); await io.submit(b)` never settled b.)
   */
  async #reapAll(): Promise<void> {
    try {
      do await this.#reapOnce();
      while (this.#inflight.size > 0);
    } finally {
      this.#reaper = undefined;
    }
  }

  async #reapOnce(): Promise<void> {
    const evs = await this.#k.io_getevents_async(this.id, 1, 256, null);
    if (typeof evs === 'number') {
      // The context is gone under us: nothing can complete any more.
      for (const op of this.#inflight.values()) this.#settle(op, undefined, systemError(-evs, 'io_getevents'));
      this.#inflight.clear();
      return;
    }
    const inflight = this.#inflight;
    const listeners = this.#listeners;
    for (let i = 0; i < evs.length; i++) {
      const ev = evs[i];
      const op = inflight.get(ev.obj);
      if (op !== undefined) {
        inflight.delete(ev.obj);
        this.#settle(op, ev);
      }
      if (listeners.size !== 0) for (const l of listeners) l(ev);
    }
    if (this.#queued.length > 0 && !this.#flushScheduled) this.#flush();
  }
}
