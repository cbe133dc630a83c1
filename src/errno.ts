/**
 * Linux errno numbers and their Node-style codes and messages. The numbers
 * come from assembly/include/errno.ts (the kernel returns them negated); messages
 * follow libuv's wording, as Node's SystemError does.
 */
import * as E from '../assembly/include/errno';

/** Linux errno numbers, e.g. errno.ECANCELED === 125. Syscall-level calls return them negated. */
export const errno = Object.freeze({ ...E }) as Readonly<typeof E>;

const MESSAGES: Record<string, string> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  EINTR: 'interrupted system call',
  EIO: 'i/o error',
  EBADF: 'bad file descriptor',
  EAGAIN: 'resource temporarily unavailable',
  ENOMEM: 'not enough memory',
  EFAULT: 'bad address in system call argument',
  ENXIO: 'no such device or address',
  EACCES: 'permission denied',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  EROFS: 'read-only file system',
  ELOOP: 'too many symbolic links encountered',
  EBUSY: 'resource busy or locked',
  EEXIST: 'file already exists',
  ENODEV: 'no such device',
  EINVAL: 'invalid argument',
  ENFILE: 'file table overflow',
  EMFILE: 'too many open files',
  EFBIG: 'file too large',
  ENOSPC: 'no space left on device',
  ESPIPE: 'invalid seek',
  EPIPE: 'broken pipe',
  ERANGE: 'result too large',
  ENAMETOOLONG: 'name too long',
  ENOSYS: 'function not implemented',
  EOPNOTSUPP: 'operation not supported on socket',
  ETIMEDOUT: 'connection timed out',
  EALREADY: 'connection already in progress',
  EINPROGRESS: 'operation in progress',
  ECANCELED: 'operation canceled',
};

const NAMES = new Map<number, string>(Object.entries(E).map(([k, v]) => [v as number, k]));

/** 'ECANCELED' for 125 (or -125). */
export function errnoName(n: number): string {
  return NAMES.get(Math.abs(n)) ?? `E${Math.abs(n)}`;
}

export interface KaioSystemError extends Error {
  code: string;
  /** Negative, as in Node's SystemError (err.errno === -125 for ECANCELED). */
  errno: number;
  syscall: string;
  path?: string;
}

/** An Error shaped like Node's SystemError: `ECANCELED: operation canceled, read`. */
export function systemError(err: number, syscall: string, path?: string): KaioSystemError {
  const code = errnoName(err);
  const msg = `${code}: ${MESSAGES[code] ?? 'unknown error'}, ${syscall}${path ? ` '${path}'` : ''}`;
  const e = new Error(msg) as KaioSystemError;
  e.code = code;
  e.errno = -Math.abs(err);
  e.syscall = syscall;
  if (path !== undefined) e.path = path;
  return e;
}

/** Node's AbortError: code 'ABORT_ERR', the signal's reason as cause. */
export function abortError(cause: unknown): Error & { code: string } {
  const e = new Error('The operation was aborted', { cause }) as Error & { code: string };
  e.name = 'AbortError';
  e.code = 'ABORT_ERR';
  return e;
}

/** TypeError naming the option, as piscina/Node do ('options.sizeBytes must be ...'). */
export function invalidArg(name: string, expected: string, value: unknown): TypeError & { code: string } {
  const e = new TypeError(`${name} must be ${expected}; received ${describe(value)}`) as TypeError & { code: string };
  e.code = 'ERR_INVALID_ARG_VALUE';
  return e;
}

/** The Error every creating call of a shut-down kernel throws: code 'ERR_KAIO_SHUTDOWN'. */
export function shutdownError(call: string): Error & { code: string } {
  const e = new Error(`kaio: ${call}() on a kernel that is shut down (or detached)`) as Error & { code: string };
  e.code = 'ERR_KAIO_SHUTDOWN';
  return e;
}

/** A RangeError naming the option ('options.memoryMiB must be ...'). */
export function outOfRange(name: string, expected: string, value: unknown): RangeError & { code: string } {
  const e = new RangeError(`${name} must be ${expected}; received ${describe(value)}`) as RangeError & { code: string };
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`;
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return String(v);
  if (Array.isArray(v)) return 'an array';
  try {
    // A hostile object's constructor may be a getter that throws.
    return `an instance of ${String((v as object).constructor?.name ?? 'Object')}`;
  } catch {
    return 'an object';
  }
}

/** -errno of a failed node:fs call (its errno; -EIO if it has none). */
export function fsErrno(err: unknown): number {
  const n = (err as { errno?: unknown } | null)?.errno;
  return typeof n === 'number' && Number.isInteger(n) && n !== 0 ? -Math.abs(n) : -E.EIO;
}
