/**
 * Linux errno numbers (include/uapi/asm-generic/errno-base.h, errno.h).
 * Shared by the kernel (which returns -errno) and the host (which exports them
 * as `errno` and names them in Node-style errors).
 */
export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const EFBIG = 27;
export const ENOSPC = 28;
export const ESPIPE = 29;
export const EROFS = 30;
export const EPIPE = 32;
export const ERANGE = 34;
export const ENAMETOOLONG = 36;
export const ENOSYS = 38;
export const ELOOP = 40;
export const EOPNOTSUPP = 95;
export const ETIMEDOUT = 110;
export const EALREADY = 114;
export const EINPROGRESS = 115;
export const ECANCELED = 125;
