/*
 * Native anchors for bench:throughput (scripts/bench-throughput.ts): the real
 * kernel's cost per request, measured on this machine in the same run as kaio.
 *
 *   nop-anchors <uring|aio> <batch> <requests> <rounds> <file>
 *
 * uring: io_uring NOPs through raw syscalls (io_uring_setup, mmap'd rings,
 *        one io_uring_enter per batch that submits and waits for all), CQEs
 *        reaped from the mapped ring. No liburing.
 * aio:   Linux AIO: io_submit(batch) of 64-byte buffered PREADs of <file>
 *        (page-cached: they complete inline, in io_submit) then
 *        io_getevents(batch, batch).
 * Prints the best (lowest) ns per request over the rounds.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int uring(int batch, long n, int rounds, double *best) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  int fd = (int)syscall(__NR_io_uring_setup, 256, &p);
  if (fd < 0) return -1;
  size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  char *sq = mmap(0, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  char *cq = (p.features & IORING_FEAT_SINGLE_MMAP) ? sq : mmap(0, cq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
  if (p.features & IORING_FEAT_SINGLE_MMAP && cq_sz > sq_sz) {
    munmap(sq, sq_sz);
    sq = cq = mmap(0, cq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  }
  struct io_uring_sqe *sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) return -1;
  unsigned *sq_tail = (unsigned *)(sq + p.sq_off.tail), *sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  unsigned *sq_array = (unsigned *)(sq + p.sq_off.array);
  unsigned *cq_head = (unsigned *)(cq + p.cq_off.head), *cq_tail = (unsigned *)(cq + p.cq_off.tail);
  unsigned *cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  long iters = n / batch;
  *best = 1e18;
  for (int r = 0; r <= rounds; r++) { /* round 0 warms up */
    double t0 = now_ns();
    for (long it = 0; it < iters; it++) {
      unsigned tail = *sq_tail;
      for (int i = 0; i < batch; i++) {
        unsigned idx = (tail + i) & *sq_mask;
        struct io_uring_sqe *e = &sqes[idx];
        memset(e, 0, sizeof *e);
        e->opcode = IORING_OP_NOP;
        e->user_data = (uint64_t)i;
        sq_array[idx] = idx;
      }
      __atomic_store_n(sq_tail, tail + batch, __ATOMIC_RELEASE);
      if (syscall(__NR_io_uring_enter, fd, batch, batch, IORING_ENTER_GETEVENTS, NULL, 0) != batch) return -1;
      unsigned head = *cq_head;
      unsigned ctail = __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE);
      int got = 0;
      while (head != ctail) {
        if (cqes[head & *cq_mask].res != 0) return -1;
        head++;
        got++;
      }
      __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
      if (got != batch) return -1;
    }
    double ns = (now_ns() - t0) / (double)(iters * batch);
    if (r > 0 && ns < *best) *best = ns;
  }
  close(fd);
  return 0;
}

static int aio(int batch, long n, int rounds, const char *path, double *best) {
  aio_context_t ctx = 0;
  if (syscall(__NR_io_setup, 256, &ctx) < 0) return -1;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  static char bufs[64][64];
  struct iocb cbs[64], *ptrs[64];
  struct io_event evs[64];
  for (int i = 0; i < batch; i++) {
    memset(&cbs[i], 0, sizeof cbs[i]);
    cbs[i].aio_lio_opcode = IOCB_CMD_PREAD;
    cbs[i].aio_fildes = fd;
    cbs[i].aio_buf = (uint64_t)(uintptr_t)bufs[i];
    cbs[i].aio_nbytes = 64;
    cbs[i].aio_data = i;
    ptrs[i] = &cbs[i];
  }
  long iters = n / batch;
  *best = 1e18;
  for (int r = 0; r <= rounds; r++) {
    double t0 = now_ns();
    for (long it = 0; it < iters; it++) {
      if (syscall(__NR_io_submit, ctx, batch, ptrs) != batch) return -1;
      if (syscall(__NR_io_getevents, ctx, batch, batch, evs, NULL) != batch) return -1;
    }
    double ns = (now_ns() - t0) / (double)(iters * batch);
    if (r > 0 && ns < *best) *best = ns;
  }
  syscall(__NR_io_destroy, ctx);
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s <uring|aio> <batch 1..64> <requests> <rounds> <file>\n", argv[0]);
    return 2;
  }
  int batch = atoi(argv[2]);
  long n = atol(argv[3]);
  int rounds = atoi(argv[4]);
  if (batch < 1 || batch > 64 || n < batch || rounds < 1) return 2;
  double best;
  int r = strcmp(argv[1], "uring") == 0 ? uring(batch, n, rounds, &best) : aio(batch, n, rounds, argv[5], &best);
  if (r < 0) {
    perror(argv[1]);
    return 1;
  }
  printf("%.1f\n", best);
  return 0;
}
