/*
 * aio-oracle: runs a kaio differential sequence (a .seq file of
 * test/oracle/sequences, language in test/oracle/README.md) against this machine's Linux AIO syscalls
 * and prints one canonical line per result. test/oracle/kaio-runner.ts prints
 * the same lines from kaio; test/differential.test.ts compares them.
 *
 * Plain C99, raw syscalls (no libaio): syscall(SYS_io_setup, ...) with the
 * structs of <linux/aio_abi.h>. Usage: aio-oracle SEQFILE TMPDIR
 * The process pins itself to one cpu (the count of requests a context accepts
 * depends on which cpus' per-cpu slot caches it draws from) and ends itself
 * after 20 s (a read that would block inside io_submit is a bug of the
 * sequence, not a hang of the suite).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/aio_abi.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>


/* A kernel address: access_ok() fails on it, whatever the length. */
#define BAD_ADDR 0xffff800000000000ull
/* What aio_key holds before a submit, to tell whether the kernel wrote it. */
#define KEY_SENTINEL 0xa5a5a5a5u

#define MAXSYM 256
#define MAXTOK 64
#define MAXIOV 64

enum kind { K_CTX, K_FD, K_IOCB };

struct oiocb {
	struct iocb cb;
	unsigned char *buf;     /* PREAD/PWRITE buffer, or the iovecs' backing */
	size_t buflen;
	struct iovec iov[MAXIOV];
	int niov;
	int bufkind;            /* 0 none, 1 bytes, 2 iov, 3 bad, 4 poll events */
	int haskey;             /* key= given: aio_key preset to that value */
	uint32_t key;
};

struct sym {
	char name[32];
	enum kind kind;
	aio_context_t ctx;
	long outstanding; /* submitted and not yet reaped (for getevents' min_nr "all") */
	int fd;
	struct oiocb *io;
};

static struct sym syms[MAXSYM];
static int nsyms;
static const char *tmpdir;
static int lineno;

static struct sym *find(const char *name, enum kind kind)
{
	for (int i = 0; i < nsyms; i++)
		if (syms[i].kind == kind && strcmp(syms[i].name, name) == 0)
			return &syms[i];
	return NULL;
}

static struct sym *add(const char *name, enum kind kind)
{
	struct sym *s = find(name, kind);
	if (s)
		return s;
	if (nsyms == MAXSYM) {
		fprintf(stderr, "line %d: too many names\n", lineno);
		exit(2);
	}
	s = &syms[nsyms++];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->kind = kind;
	return s;
}

static void die(const char *what, const char *tok)
{
	fprintf(stderr, "line %d: %s: %s\n", lineno, what, tok ? tok : "(missing)");
	exit(2);
}

/* Numbers: decimal or 0x hex, optionally negative, 64-bit. */
static uint64_t num(const char *s)
{
	char *end;
	uint64_t v;
	if (!s)
		die("number expected", s);
	errno = 0;
	if (s[0] == '-')
		v = (uint64_t)strtoll(s, &end, 0);
	else
		v = strtoull(s, &end, 0);
	if (*end || errno)
		die("bad number", s);
	return v;
}

static int isnum(const char *s)
{
	if (*s == '-')
		s++;
	return *s >= '0' && *s <= '9';
}

static const char *errname(long e)
{
	static char b[32];
	switch (-e) {
	case EPERM: return "-EPERM";
	case ENOENT: return "-ENOENT";
	case EINTR: return "-EINTR";
	case EIO: return "-EIO";
	case EBADF: return "-EBADF";
	case EAGAIN: return "-EAGAIN";
	case ENOMEM: return "-ENOMEM";
	case EFAULT: return "-EFAULT";
	case EBUSY: return "-EBUSY";
	case EINVAL: return "-EINVAL";
	case EFBIG: return "-EFBIG";
	case ENOSPC: return "-ENOSPC";
	case ESPIPE: return "-ESPIPE";
	case EPIPE: return "-EPIPE";
	case ENOSYS: return "-ENOSYS";
	case EOVERFLOW: return "-EOVERFLOW";
	case EOPNOTSUPP: return "-EOPNOTSUPP";
	case ETIMEDOUT: return "-ETIMEDOUT";
	case ECANCELED: return "-ECANCELED";
	case EINPROGRESS: return "-EINPROGRESS";
	}
	snprintf(b, sizeof(b), "%ld", e);
	return b;
}

/* A result: the count/value if >= 0, else the errno's name. */
static const char *rv(long r)
{
	static char b[4][32];
	static int k;
	k = (k + 1) & 3;
	if (r >= 0) {
		snprintf(b[k], sizeof(b[k]), "%ld", r);
		return b[k];
	}
	snprintf(b[k], sizeof(b[k]), "%s", errname(r));
	return b[k];
}

static long sys(long r)
{
	return r < 0 ? -errno : r;
}

static uint32_t fnv(const unsigned char *p, size_t n, uint32_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* File contents: byte i of a file is i % 251. */
static void pattern(unsigned char *p, size_t n, uint64_t from)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((from + i) % 251);
}

static aio_context_t ctxval(const char *tok)
{
	struct sym *s = find(tok, K_CTX);
	if (s)
		return s->ctx;
	if (isnum(tok))
		return (aio_context_t)num(tok);
	return 0; /* a name never set up */
}

static int fdval(const char *tok)
{
	struct sym *s = find(tok, K_FD);
	if (s)
		return s->fd;
	if (!isnum(tok))
		die("unknown fd", tok);
	return (int)num(tok);
}

static struct oiocb *iocbval(const char *tok)
{
	struct sym *s = find(tok, K_IOCB);
	if (!s)
		die("unknown iocb", tok);
	return s->io;
}

static const char *iocbname(uint64_t obj)
{
	for (int i = 0; i < nsyms; i++)
		if (syms[i].kind == K_IOCB && (uint64_t)(uintptr_t)&syms[i].io->cb == obj)
			return syms[i].name;
	return "?";
}

static int opcode(const char *s)
{
	static const char *ops[] = {"pread", "pwrite", "fsync", "fdsync", "op4", "poll", "noop", "preadv", "pwritev"};
	for (int i = 0; i < 9; i++)
		if (strcmp(s, ops[i]) == 0)
			return i;
	return (int)num(s);
}

/* iocb NAME OP FD key=value... */
static void op_iocb(char **t, int n)
{
	if (n < 4)
		die("iocb NAME OP FD", NULL);
	struct sym *s = add(t[1], K_IOCB);
	struct oiocb *o = s->io;
	if (o) {
		free(o->buf);
	} else {
		o = malloc(sizeof(*o));
	}
	memset(o, 0, sizeof(*o));
	s->io = o;
	o->cb.aio_lio_opcode = (uint16_t)opcode(t[2]);
	o->cb.aio_fildes = (uint32_t)fdval(t[3]);
	int is_vec = o->cb.aio_lio_opcode == IOCB_CMD_PREADV || o->cb.aio_lio_opcode == IOCB_CMD_PWRITEV;
	int nbytes_set = 0;
	uint64_t seed = 0x40;
	for (int i = 4; i < n; i++) {
		char *eq = strchr(t[i], '=');
		if (!eq)
			die("key=value expected", t[i]);
		*eq = 0;
		const char *k = t[i], *v = eq + 1;
		if (strcmp(k, "seed") == 0) {
			seed = num(v);
		} else if (strcmp(k, "buf") == 0) {
			if (strcmp(v, "none") == 0) {
				o->bufkind = 0;
			} else if (strcmp(v, "bad") == 0) {
				o->bufkind = 3;
			} else if (is_vec) {
				/* buf=LEN,LEN,...: an iovec per length */
				char *p = (char *)v;
				size_t total = 0;
				size_t lens[MAXIOV];
				o->niov = 0;
				while (*p) {
					char *c = strchr(p, ',');
					if (c)
						*c = 0;
					if (o->niov == MAXIOV)
						die("too many iovecs", v);
					lens[o->niov++] = (size_t)num(p);
					total += lens[o->niov - 1];
					if (!c)
						break;
					p = c + 1;
				}
				o->buf = calloc(1, total + 1);
				o->buflen = total;
				size_t at = 0;
				for (int j = 0; j < o->niov; j++) {
					o->iov[j].iov_base = o->buf + at;
					o->iov[j].iov_len = lens[j];
					at += lens[j];
				}
				o->bufkind = 2;
			} else {
				o->buflen = (size_t)num(v);
				o->buf = calloc(1, o->buflen + 1);
				o->bufkind = 1;
			}
		} else if (strcmp(k, "events") == 0) {
			o->cb.aio_buf = num(v);
			o->bufkind = 4;
		} else if (strcmp(k, "nbytes") == 0) {
			o->cb.aio_nbytes = num(v);
			nbytes_set = 1;
		} else if (strcmp(k, "offset") == 0) {
			o->cb.aio_offset = (int64_t)num(v);
		} else if (strcmp(k, "data") == 0) {
			o->cb.aio_data = num(v);
		} else if (strcmp(k, "flags") == 0) {
			o->cb.aio_flags = (uint32_t)num(v);
		} else if (strcmp(k, "rw_flags") == 0) {
			o->cb.aio_rw_flags = (int)num(v);
		} else if (strcmp(k, "reserved2") == 0) {
			o->cb.aio_reserved2 = num(v);
		} else if (strcmp(k, "reqprio") == 0) {
			o->cb.aio_reqprio = (int16_t)num(v);
		} else if (strcmp(k, "resfd") == 0) {
			o->cb.aio_resfd = (uint32_t)fdval(v);
		} else if (strcmp(k, "key") == 0) {
			o->haskey = 1;
			o->key = (uint32_t)num(v);
		} else {
			die("unknown iocb field", k);
		}
	}
	if (o->bufkind == 1) {
		if (o->cb.aio_lio_opcode == IOCB_CMD_PWRITE)
			pattern(o->buf, o->buflen, seed);
		o->cb.aio_buf = (uint64_t)(uintptr_t)o->buf;
		if (!nbytes_set)
			o->cb.aio_nbytes = o->buflen;
	} else if (o->bufkind == 2) {
		if (o->cb.aio_lio_opcode == IOCB_CMD_PWRITEV)
			pattern(o->buf, o->buflen, seed);
		o->cb.aio_buf = (uint64_t)(uintptr_t)o->iov;
		if (!nbytes_set)
			o->cb.aio_nbytes = (uint64_t)o->niov;
	} else if (o->bufkind == 3) {
		o->cb.aio_buf = BAD_ADDR;
		if (!nbytes_set)
			o->cb.aio_nbytes = 16;
	}
}

static void keys_reset(struct oiocb *o)
{
	o->cb.aio_key = o->haskey ? o->key : KEY_SENTINEL;
}

/* submit CTX A,B,C [nr=N]: A may be 'null' (a NULL entry). */
static void op_submit(char **t, int n)
{
	if (n < 3)
		die("submit CTX LIST", NULL);
	aio_context_t ctx = ctxval(t[1]);
	struct iocb *list[4096];
	struct oiocb *objs[4096];
	int cnt = 0;
	char names[1024];
	snprintf(names, sizeof(names), "%s", t[2]);
	if (strcmp(t[2], "-") != 0) {
		char *p = names;
		for (;;) {
			char *c = strchr(p, ',');
			if (c)
				*c = 0;
			if (strcmp(p, "null") == 0) {
				list[cnt] = NULL;
				objs[cnt] = NULL;
			} else {
				objs[cnt] = iocbval(p);
				list[cnt] = &objs[cnt]->cb;
			}
			cnt++;
			if (!c)
				break;
			*c = ',';
			p = c + 1;
		}
	}
	long nr = cnt;
	struct iocb **arg = list;
	for (int i = 3; i < n; i++) {
		if (strncmp(t[i], "nr=", 3) == 0)
			nr = (long)num(t[i] + 3);
		else if (strcmp(t[i], "array=null") == 0)
			arg = NULL;
		else if (strcmp(t[i], "array=bad") == 0)
			arg = (struct iocb **)(uintptr_t)BAD_ADDR;
		else
			die("bad submit option", t[i]);
	}
	for (int i = 0; i < cnt; i++)
		if (objs[i])
			keys_reset(objs[i]);
	long r = sys(syscall(SYS_io_submit, ctx, nr, arg));
	struct sym *cs = find(t[1], K_CTX);
	if (cs && r > 0)
		cs->outstanding += r;
	printf("submit %s %s", t[1], t[2]);
	for (int i = 3; i < n; i++)
		printf(" %s", t[i]);
	printf(" = %s keys=", rv(r));
	for (int i = 0; i < cnt; i++) {
		const char *st = "-";
		if (!objs[i])
			st = "null";
		else if (objs[i]->cb.aio_key != (objs[i]->haskey ? objs[i]->key : KEY_SENTINEL))
			st = "w";
		printf("%s%s", i ? "," : "", st);
	}
	printf("\n");
}

struct ev {
	uint64_t data;
	const char *obj;
	int64_t res, res2;
};

static int evcmp(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	if (x->data != y->data)
		return x->data < y->data ? -1 : 1;
	return strcmp(x->obj, y->obj);
}

/* getevents CTX MIN|all NR TIMEOUT_MS|none [sorted|quiet] */
static void op_getevents(char **t, int n)
{
	if (n < 5)
		die("getevents CTX MIN NR TIMEOUT", NULL);
	aio_context_t ctx = ctxval(t[1]);
	struct sym *cs = find(t[1], K_CTX);
	/* min_nr "all": every request submitted on this ctx and not yet reaped */
	long min = strcmp(t[2], "all") == 0 ? (cs ? cs->outstanding : 0) : (long)num(t[2]);
	long nr = (long)num(t[3]);
	struct timespec ts, *tsp = NULL;
	if (strcmp(t[4], "none") != 0) {
		int64_t ms = (int64_t)num(t[4]);
		int64_t sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
		ts.tv_sec = (time_t)sec;
		ts.tv_nsec = (long)((ms - sec * 1000) * 1000000);
		tsp = &ts;
	}
	int sorted = n > 5 && strcmp(t[5], "sorted") == 0;
	int quiet = n > 5 && strcmp(t[5], "quiet") == 0; /* the count only */
	size_t cap = nr <= 0 ? 1 : nr < (1L << 20) ? (size_t)nr : (size_t)1 << 20; /* nr beyond what any sequence has ready */
	struct io_event *evs = calloc(cap, sizeof(*evs));
	long r = sys(syscall(SYS_io_getevents, ctx, min, nr, evs, tsp));
	if (cs && r > 0)
		cs->outstanding -= r;
	printf("getevents %s %s %s %s = %s\n", t[1], t[2], t[3], t[4], rv(r));
	if (r > 0 && !quiet) {
		struct ev *e = calloc((size_t)r, sizeof(*e));
		for (long i = 0; i < r; i++) {
			e[i].data = evs[i].data;
			e[i].obj = iocbname(evs[i].obj);
			e[i].res = evs[i].res;
			e[i].res2 = evs[i].res2;
		}
		if (sorted)
			qsort(e, (size_t)r, sizeof(*e), evcmp);
		for (long i = 0; i < r; i++)
			printf("  ev %s data=%" PRIu64 " res=%s res2=%s\n", e[i].obj, e[i].data, rv((long)e[i].res), rv((long)e[i].res2));
		free(e);
	}
	free(evs);
}

/* cancel CTX IOCB|null [key=K] */
static void op_cancel(char **t, int n)
{
	if (n < 3)
		die("cancel CTX IOCB", NULL);
	aio_context_t ctx = ctxval(t[1]);
	struct io_event result;
	struct iocb *cb = NULL;
	struct oiocb *o = NULL;
	uint32_t saved = 0;
	if (strcmp(t[2], "null") != 0) {
		o = iocbval(t[2]);
		cb = &o->cb;
		saved = cb->aio_key;
	}
	for (int i = 3; i < n; i++) {
		if (strncmp(t[i], "key=", 4) == 0 && cb)
			cb->aio_key = (uint32_t)num(t[i] + 4);
		else
			die("bad cancel option", t[i]);
	}
	long r = sys(syscall(SYS_io_cancel, ctx, cb, &result));
	if (cb)
		cb->aio_key = saved;
	printf("cancel %s %s", t[1], t[2]);
	for (int i = 3; i < n; i++)
		printf(" %s", t[i]);
	printf(" = %s\n", rv(r));
}

/* fill CTX IOCB MAX: submit IOCB alone, again and again, until a submit fails or MAX succeeded. */
static void op_fill(char **t, int n)
{
	if (n < 4)
		die("fill CTX IOCB MAX", NULL);
	aio_context_t ctx = ctxval(t[1]);
	struct oiocb *o = iocbval(t[2]);
	long max = (long)num(t[3]), k = 0, r = 0;
	struct iocb *list[1] = {&o->cb};
	while (k < max) {
		r = sys(syscall(SYS_io_submit, ctx, 1L, list));
		if (r != 1)
			break;
		k++;
	}
	printf("fill %s %s %s = %ld then %s\n", t[1], t[2], t[3], k, k < max ? rv(r) : "-");
}

/* saturate CTX IOCB: as fill, but print only the error that stopped it (the count is the capacity sequences' business). */
static void op_saturate(char **t, int n)
{
	if (n < 3)
		die("saturate CTX IOCB", NULL);
	aio_context_t ctx = ctxval(t[1]);
	struct oiocb *o = iocbval(t[2]);
	struct iocb *list[1] = {&o->cb};
	long r = 1;
	for (long k = 0; k < 1000000 && r == 1; k++)
		r = sys(syscall(SYS_io_submit, ctx, 1L, list));
	printf("saturate %s %s = %s\n", t[1], t[2], rv(r));
}

/* bytes IOCB: a hash of the iocb's buffer (all of it, iovecs concatenated). */
static void op_bytes(char **t, int n)
{
	if (n < 2)
		die("bytes IOCB", NULL);
	struct oiocb *o = iocbval(t[1]);
	printf("bytes %s = %08x\n", t[1], fnv(o->buf, o->buflen, 2166136261u));
}

/* readback FD OFF LEN: pread(2) and a hash of what came back. */
static void op_readback(char **t, int n)
{
	if (n < 4)
		die("readback FD OFF LEN", NULL);
	int fd = fdval(t[1]);
	size_t len = (size_t)num(t[3]);
	unsigned char *b = calloc(1, len + 1);
	long r = sys(pread(fd, b, len, (off_t)num(t[2])));
	printf("readback %s %s %s = %s %08x\n", t[1], t[2], t[3], rv(r), fnv(b, r > 0 ? (size_t)r : 0, 2166136261u));
	free(b);
}

static void op_file(char **t, int n)
{
	if (n < 4)
		die("file NAME SIZE MODE", NULL);
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, t[1]);
	size_t size = (size_t)num(t[2]);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("cannot create", path);
	unsigned char *b = malloc(size + 1);
	pattern(b, size, 0);
	if (write(fd, b, size) != (ssize_t)size)
		die("cannot write", path);
	free(b);
	close(fd);
	int flags = strcmp(t[3], "r") == 0 ? O_RDONLY : strcmp(t[3], "w") == 0 ? O_WRONLY : O_RDWR;
	add(t[1], K_FD)->fd = open(path, flags);
	printf("%s %s %s %s\n", t[0], t[1], t[2], t[3]);
}

/* hostdir NAME MODE: a directory, opened in MODE (kaio: k.open of its host path). */
static void op_hostdir(char **t, int n)
{
	if (n < 3)
		die("hostdir NAME MODE", NULL);
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, t[1]);
	if (mkdir(path, 0700) != 0)
		die("cannot mkdir", path);
	int flags = strcmp(t[2], "r") == 0 ? O_RDONLY : strcmp(t[2], "w") == 0 ? O_WRONLY : O_RDWR;
	long fd = sys(open(path, flags));
	if (fd >= 0)
		add(t[1], K_FD)->fd = (int)fd;
	printf("hostdir %s %s = %s\n", t[1], t[2], rv(fd >= 0 ? 0 : fd));
}

/* open NAME FILE MODE: another fd on an existing file. */
static void op_open(char **t, int n)
{
	if (n < 4)
		die("open NAME FILE MODE", NULL);
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, t[2]);
	int flags = strcmp(t[3], "r") == 0 ? O_RDONLY : strcmp(t[3], "w") == 0 ? O_WRONLY : O_RDWR;
	add(t[1], K_FD)->fd = open(path, flags);
	printf("open %s %s %s\n", t[1], t[2], t[3]);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: aio-oracle SEQFILE TMPDIR\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	tmpdir = argv[2];
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);
	alarm(20);
	signal(SIGPIPE, SIG_IGN); /* a write to a pipe without readers is -EPIPE, not death */
	setvbuf(stdout, NULL, _IOLBF, 0);
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *t[MAXTOK];
		int n = 0;
		for (char *p = strtok(line, " \t\r\n"); p && n < MAXTOK; p = strtok(NULL, " \t\r\n"))
			t[n++] = p;
		if (n == 0)
			continue;
		const char *op = t[0];
		if (strcmp(op, "setup") == 0) {
			if (n < 3)
				die("setup NAME NR", NULL);
			aio_context_t ctx = 0;
			long r = sys(syscall(SYS_io_setup, (unsigned)num(t[2]), &ctx));
			if (r == 0) {
				struct sym *cs = add(t[1], K_CTX);
				cs->ctx = ctx;
				cs->outstanding = 0;
			}
			printf("setup %s %s = %s\n", t[1], t[2], rv(r));
		} else if (strcmp(op, "destroy") == 0) {
			if (n < 2)
				die("destroy CTX", NULL);
			printf("destroy %s = %s\n", t[1], rv(sys(syscall(SYS_io_destroy, ctxval(t[1])))));
		} else if (strcmp(op, "file") == 0) {
			op_file(t, n);
		} else if (strcmp(op, "hostfile") == 0) {
			/* a regular file, as "file" (kaio runs it on the pool, not a ramdisk) */
			op_file(t, n);
		} else if (strcmp(op, "hostdir") == 0) {
			op_hostdir(t, n);
		} else if (strcmp(op, "open") == 0) {
			op_open(t, n);
		} else if (strcmp(op, "pipe") == 0) {
			int p[2];
			if (n < 3 || pipe(p) != 0)
				die("pipe R W", NULL);
			add(t[1], K_FD)->fd = p[0];
			add(t[2], K_FD)->fd = p[1];
			printf("pipe %s %s\n", t[1], t[2]);
		} else if (strcmp(op, "close") == 0) {
			if (n < 2)
				die("close FD", NULL);
			printf("close %s = %s\n", t[1], rv(sys(close(fdval(t[1])))));
		} else if (strcmp(op, "write") == 0) {
			/* write FD N: N pattern bytes, never blocking (a full pipe gives -EAGAIN) */
			if (n < 3)
				die("write FD N", NULL);
			int fd = fdval(t[1]);
			size_t len = (size_t)num(t[2]);
			unsigned char *b = malloc(len + 1);
			pattern(b, len, 0x80);
			int fl = fcntl(fd, F_GETFL);
			fcntl(fd, F_SETFL, fl | O_NONBLOCK);
			long r = sys(write(fd, b, len));
			fcntl(fd, F_SETFL, fl);
			free(b);
			printf("write %s %s = %s\n", t[1], t[2], rv(r));
		} else if (strcmp(op, "hold") == 0 || strcmp(op, "release") == 0) {
			/* kaio: pause/resume the ramdisk. Linux completes file I/O inline: nothing to do. */
		} else if (strcmp(op, "iocb") == 0) {
			op_iocb(t, n);
		} else if (strcmp(op, "submit") == 0) {
			op_submit(t, n);
		} else if (strcmp(op, "getevents") == 0) {
			op_getevents(t, n);
		} else if (strcmp(op, "cancel") == 0) {
			op_cancel(t, n);
		} else if (strcmp(op, "fill") == 0) {
			op_fill(t, n);
		} else if (strcmp(op, "saturate") == 0) {
			op_saturate(t, n);
		} else if (strcmp(op, "bytes") == 0) {
			op_bytes(t, n);
		} else if (strcmp(op, "readback") == 0) {
			op_readback(t, n);
		} else {
			die("unknown op", op);
		}
	}
	fclose(f);
	return 0;
}
