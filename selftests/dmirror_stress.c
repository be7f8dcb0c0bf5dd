// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_stress: several processes, each with several threads, hammer
 * one kind of hmm_dmirror device for a bounded time with random device
 * ioctls, CPU reads and writes, munmap/mmap, mprotect, MADV_DONTNEED,
 * fork, close/reopen of the device and one-shot large-allocation
 * failures (HMM_DMIRROR_FLAG_FAIL_ALLOC, so that migrations fall back to
 * base pages while the rest goes on), and check every byte against a
 * model and every ioctl result against the errno contract of
 * uapi/hmm_dmirror.h.
 *
 * The model. Each worker process has a private anonymous region cut in
 * stripes of STRIPE_PAGES pages; stripe s belongs to thread s % threads,
 * and only that thread (its owner) ever writes it, remaps it, changes its
 * protection or discards it. Each thread also owns a slice of a small
 * MAP_SHARED region. Every page carries a pattern that encodes the seed,
 * the process, the page and a generation: the owner knows the exact
 * generation each of its pages must hold (or zero after a discard), so
 * whatever it reads back from its own pages, by CPU or through any
 * device ioctl, is compared exactly. Pages of other threads are read
 * concurrently with their owner's writes and can only be checked word by
 * word: a word must be zero or belong to that very page, word and seed,
 * with a generation that was written at some point.
 *
 * Everybody migrates, snapshots, reads and takes exclusive access on any
 * range, through shared descriptors (two devices of the kind under test
 * and one of the other kind when present) and a descriptor of its own.
 * The owner of a stripe brackets each change of its mapping with a
 * sequence count, so another thread knows whether the range of an ioctl
 * stayed mapped read-write throughout: then only the errnos possible on
 * such a range are accepted, otherwise any errno the header documents for
 * that ioctl. The owner also checks the exact errno of each ioctl on its
 * own stripe while it is read-only, PROT_NONE or unmapped.
 *
 * The working set is larger than the device (capacity read from debugfs),
 * a sweep migrates everything once at start, and threads issue RELEASE
 * now and then, so eviction runs all the time.
 *
 * Output: TAP, one test per device kind. Exit status 0 when all passed.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "dmirror_test_util.h"

#define WORDS		(PG / sizeof(unsigned long long))
#define STRIPE_PAGES	16UL
#define MAX_RANGE	512UL	/* pages of one random range */
#define MAX_THREADS	16
#define MAX_PROCS	8
#define MAX_FIFO	99	/* the highest SCHED_FIFO priority */
#define MAX_PAGES	(512UL * 1024)	/* pages per process (pattern field) */
#define MAX_MSGS	20	/* failure messages printed per process */
#define SHARED_PAGES	8UL	/* MAP_SHARED pages per thread */
#define NOALT		0xffffffffU
#define GRACE_S		60	/* a worker later than this is hung */
#define STUCK_MS	30000	/* an ioctl longer than this is stuck */
#define HOT_STRIPES	4	/* stripes per thread in the hot zone */
#define HOT_SECONDS	3	/* the hot zone moves this often */

/* Mapping state of a stripe (stripe.prot). */
enum { ST_RW, ST_RO, ST_NONE, ST_HOLE };

/* errno classes, as bits of a mask */
enum {
	EB_OK, EB_EFAULT, EB_EINVAL, EB_EPERM, EB_ENOENT, EB_EBUSY,
	EB_ENOMEM, EB_EINTR, EB_EOPNOTSUPP, EB_ENOTTY, EB_OTHER, EB_NR
};

#define B(x)	(1U << (x))

static const char * const eb_name[EB_NR] = {
	"0", "EFAULT", "EINVAL", "EPERM", "ENOENT", "EBUSY", "ENOMEM",
	"EINTR", "EOPNOTSUPP", "ENOTTY", "other"
};

static unsigned int eb_of(int ret)
{
	switch (-ret) {
	case 0: return EB_OK;
	case EFAULT: return EB_EFAULT;
	case EINVAL: return EB_EINVAL;
	case EPERM: return EB_EPERM;
	case ENOENT: return EB_ENOENT;
	case EBUSY: return EB_EBUSY;
	case ENOMEM: return EB_ENOMEM;
	case EINTR: return EB_EINTR;
	case EOPNOTSUPP: return EB_EOPNOTSUPP;
	case ENOTTY: return EB_ENOTTY;
	}
	return EB_OTHER;
}

/* The operations, in the order of the table below. */
enum {
	OP_READ, OP_READ_UNLOCKED, OP_WRITE, OP_TO_DEV, OP_TO_SYS,
	OP_SNAPSHOT, OP_EXCL, OP_CHECK_EXCL, OP_RELEASE,
	OP_NR_IOCTL,
	OP_CPU_PROBE = OP_NR_IOCTL, OP_CPU_WRITE, OP_CPU_VERIFY, OP_DEV_WRITE,
	OP_DONTNEED, OP_REMAP, OP_HOLE, OP_MPROTECT, OP_FORK, OP_REOPEN,
	OP_EXCL_REVOKE, OP_SHARED, OP_SWEEP, OP_FAIL_ALLOC,
	OP_NR
};

/**
 * struct opdesc - one operation
 * @name:   its name (-o, statistics)
 * @req:    ioctl number (ioctl operations)
 * @doc:    errno classes uapi/hmm_dmirror.h allows for the ioctl on a
 *          valid command block and range of the caller's own mm
 * @stable: those possible when the range stayed mapped read-write
 * @weight: how often it is picked
 */
struct opdesc {
	const char *name;
	unsigned long req;
	unsigned int doc;
	unsigned int stable;
	unsigned int weight;
};

/*
 * Soft errnos: the header allows -EBUSY (the range kept being invalidated)
 * and -ENOMEM (the device could not make room), and this test provokes
 * both on purpose. -EINTR is not among them: the module returns it only
 * on a fatal signal, which no caller lives to see, so it is never accepted.
 */
#define SOFT	(B(EB_EBUSY) | B(EB_ENOMEM))

/*
 * A working module returns a soft errno for a small share of the calls of
 * one kind only: eviction makes room, and the retry loops outlast a few
 * invalidations. More than SOFT_MAX_PCT percent of the calls of a kind,
 * and more than SOFT_SLACK calls (a short run under emulation makes a few
 * dozen calls of some kinds), is a failure: a module that gives up on
 * every tenth call, or on all of them (which would otherwise pass: a
 * failed call skips the data check), fails.
 */
#define SOFT_MAX_PCT	10
#define SOFT_SLACK	4
/*
 * EXCLUSIVE is the exception: other threads touch the same pages with the
 * CPU all the time (the hot zone), and each touch can make a conversion
 * fail, which kernels before 6.15 report as -EBUSY (6.1 sees about a third
 * of the calls so). Half of them may; a module that fails them all still
 * fails here and on MIN_OK.
 */
#define SOFT_MAX_PCT_EXCL	50
/*
 * Each ioctl kind must succeed at least this often in each process, so
 * the data checks that follow a success did run. The test VM may emulate
 * its CPU (no KVM): a 20 s run then makes as few as 250 operations on
 * coherent devices, so a process that is short of a kind after its
 * duration issues that kind until it has them (missing_op()). RELEASE
 * runs at most every 700 ms per process and needs one success.
 */
#define MIN_OK		3
/*
 * Time a process may run beyond its duration to reach MIN_OK successes of
 * each kind; a kind still short then has failed too often. Less than
 * GRACE_S, after which the main process reports a worker as hung.
 */
#define EXTRA_S		30
/*
 * Once every process has exited, the device memory must be free again.
 * Freeing is asynchronous (SRCU callbacks, the kernel freeing the pages):
 * this is a bound that only catches a stall, not a timing goal.
 */
#define FREE_STALL_S	30

static const struct opdesc opd[OP_NR] = {
	[OP_READ] = { "read", HMM_DMIRROR_READ,
		B(EB_OK) | B(EB_EFAULT) | SOFT, B(EB_OK) | SOFT, 10 },
	[OP_READ_UNLOCKED] = { "read_unlocked", HMM_DMIRROR_READ_UNLOCKED,
		B(EB_OK) | B(EB_EFAULT) | B(EB_ENOMEM),
		B(EB_OK) | B(EB_ENOMEM), 3 },
	[OP_WRITE] = { "write", HMM_DMIRROR_WRITE,
		B(EB_OK) | B(EB_EFAULT) | B(EB_EPERM) | SOFT,
		B(EB_OK) | SOFT, 0 },
	[OP_TO_DEV] = { "migrate_to_dev", HMM_DMIRROR_MIGRATE_TO_DEV,
		B(EB_OK) | B(EB_EINVAL) | B(EB_ENOENT) | B(EB_ENOMEM),
		B(EB_OK) | B(EB_ENOENT) | B(EB_ENOMEM), 14 },
	[OP_TO_SYS] = { "migrate_to_sys", HMM_DMIRROR_MIGRATE_TO_SYS,
		B(EB_OK) | B(EB_EINVAL) | B(EB_ENOMEM),
		B(EB_OK) | B(EB_ENOMEM), 6 },
	[OP_SNAPSHOT] = { "snapshot", HMM_DMIRROR_SNAPSHOT,
		B(EB_OK) | SOFT, B(EB_OK) | SOFT, 6 },
	[OP_EXCL] = { "exclusive", HMM_DMIRROR_EXCLUSIVE,
		B(EB_OK) | B(EB_EFAULT) | B(EB_EOPNOTSUPP) | B(EB_ENOENT) |
		SOFT, B(EB_OK) | B(EB_ENOENT) | SOFT, 5 },
	[OP_CHECK_EXCL] = { "check_exclusive", HMM_DMIRROR_CHECK_EXCLUSIVE,
		B(EB_OK) | B(EB_EPERM), B(EB_OK) | B(EB_EPERM), 3 },
	[OP_RELEASE] = { "release", HMM_DMIRROR_RELEASE,
		B(EB_OK) | B(EB_EBUSY), B(EB_OK) | B(EB_EBUSY), 1 },
	[OP_CPU_PROBE] = { "cpu_probe", 0, 0, 0, 6 },
	[OP_CPU_WRITE] = { "cpu_write", 0, 0, 0, 10 },
	[OP_CPU_VERIFY] = { "cpu_verify", 0, 0, 0, 5 },
	[OP_DEV_WRITE] = { "dev_write", 0, 0, 0, 8 },
	[OP_DONTNEED] = { "dontneed", 0, 0, 0, 3 },
	[OP_REMAP] = { "remap", 0, 0, 0, 1 },
	[OP_HOLE] = { "hole", 0, 0, 0, 1 },
	[OP_MPROTECT] = { "mprotect", 0, 0, 0, 2 },
	[OP_FORK] = { "fork", 0, 0, 0, 1 },
	[OP_REOPEN] = { "reopen", 0, 0, 0, 1 },
	[OP_EXCL_REVOKE] = { "exclusive_revoke", 0, 0, 0, 3 },
	[OP_SHARED] = { "shared", 0, 0, 0, 4 },
	[OP_SWEEP] = { "sweep", 0, 0, 0, 1 },
	[OP_FAIL_ALLOC] = { "fail_alloc", 0, 0, 0, 2 },
};

/* What one worker process reports to the main process. */
struct wstats {
	unsigned long long ops[OP_NR];
	unsigned long long err[OP_NR_IOCTL][EB_NR];
	unsigned long long pages_checked;
	unsigned long long failures;
	unsigned int msgs;
	int done;
};

struct cfg {
	unsigned int duration;
	unsigned int threads;
	unsigned int procs;
	unsigned long long seed;
	int dev_a, dev_b, dev_x;
	unsigned long np;		/* private pages per process */
	unsigned long mib;		/* -m, 0 = from the capacity */
	unsigned long long opmask;
	unsigned int fifo;		/* -F: lowest SCHED_FIFO priority */
	int verbose;
};

static struct cfg cfg = {
	.duration = 30, .threads = 3, .procs = 2,
	.dev_a = -1, .dev_b = -1, .dev_x = -1,
	.opmask = ~0ULL,
};

/* Page metadata. @gmax: highest generation ever written (any thread reads
 * it). @exp, @alt: owner only, the generation the page holds (0: zeros)
 * and another one it may hold after a failed WRITE (NOALT: none).
 */
struct pmeta {
	unsigned int gmax;
	unsigned int exp;
	unsigned int alt;
};

/* @seq is odd while the owner changes the stripe's mapping. */
struct stripe {
	unsigned int seq;
	unsigned int prot;
};

/* Per worker process (set before its threads start). */
static char *priv;
static char *shr;
static struct pmeta *meta;
static struct stripe *stripes;
static unsigned long nstripes;
static unsigned long npages_all;	/* private + shared */
static int fd_a = -1, fd_b = -1, fd_x = -1;
static unsigned int proc_id;
static struct wstats *ws;
static struct wstats *ws_all;
static unsigned int *write_token;	/* shared by all workers */
static double t_end;
static unsigned long long last_release_ms;
static int stop;

struct thr {
	unsigned int id;
	unsigned long long rng;
	int fd_own;
	int dev_own;
	unsigned char *buf;	/* MAX_RANGE pages, guard after */
	unsigned char *wbuf;	/* MAX_RANGE pages, guard after */
	unsigned char snap[MAX_RANGE];
	unsigned long long next_fork_ms;
	pthread_t tid;
	/* for the watchdog: the ioctl in progress, since when */
	unsigned long long busy_ms;
	unsigned int busy_op;
	unsigned long busy_p0, busy_n;
	pid_t child;
	pid_t os_tid;
	int done;
};

static __thread struct thr *cur;
static __thread sigjmp_buf probe_jmp;
static __thread int probing;
static int in_child;
static unsigned int child_failures;

/* ---- small helpers ----------------------------------------------------- */

static unsigned long long rnd(struct thr *t)
{
	unsigned long long x = t->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static unsigned long rnd_below(struct thr *t, unsigned long n)
{
	return n ? rnd(t) % n : 0;
}

/* Count a failure; print the first MAX_MSGS of this process. */
static void fail(const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	__atomic_add_fetch(&ws->failures, 1, __ATOMIC_RELAXED);
	if (in_child)
		child_failures++;
	if (__atomic_fetch_add(&ws->msgs, 1, __ATOMIC_RELAXED) < MAX_MSGS)
		say("# FAIL [proc %u thread %d%s] %s", proc_id,
		    cur ? (int)cur->id : -1, in_child ? " child" : "", msg);
}

static void count_op(unsigned int op)
{
	__atomic_add_fetch(&ws->ops[op], 1, __ATOMIC_RELAXED);
}

static char *page_addr(unsigned long p)
{
	if (p < cfg.np)
		return priv + p * PG;
	return shr + (p - cfg.np) * PG;
}

static unsigned int page_owner(unsigned long p)
{
	if (p < cfg.np)
		return (p / STRIPE_PAGES) % cfg.threads;
	return (p - cfg.np) / SHARED_PAGES;
}

/* ---- patterns ------------------------------------------------------------ */

/*
 * Word @w of page @p at generation @gen: bit 63 set, 5 bits of seed,
 * 3 of process, 19 of page, 27 of generation, 9 of word.
 */
static unsigned long long pat(unsigned long p, unsigned int gen,
			      unsigned int w)
{
	return (1ULL << 63) | ((cfg.seed & 0x1f) << 58) |
	       ((unsigned long long)proc_id << 55) |
	       ((unsigned long long)p << 36) |
	       ((unsigned long long)(gen & 0x7ffffff) << 9) | w;
}

static void fill_page(void *dst, unsigned long p, unsigned int gen)
{
	unsigned long long *d = dst;
	unsigned int w;

	if (!gen) {
		memset(dst, 0, PG);
		return;
	}
	for (w = 0; w < WORDS; w++)
		d[w] = pat(p, gen, w);
}

/* Index of the first word of @src that differs from @gen, or -1. */
static long page_diff(const void *src, unsigned long p, unsigned int gen)
{
	const unsigned long long *s = src;
	unsigned int w;

	for (w = 0; w < WORDS; w++)
		if (s[w] != (gen ? pat(p, gen, w) : 0))
			return w;
	return -1;
}

static void describe(char *out, size_t len, unsigned long long x)
{
	if (!x) {
		snprintf(out, len, "0");
		return;
	}
	snprintf(out, len, "%#llx (seed %llu proc %llu page %llu gen %llu word %llu)",
		 x, (x >> 58) & 0x1f, (x >> 55) & 7, (x >> 36) & 0x7ffff,
		 (x >> 9) & 0x7ffffff, x & 0x1ff);
}

/*
 * Check a page of our own: it must hold exactly its expected generation
 * (or the alternative one, which then becomes the expected one).
 */
static bool check_own(const char *what, unsigned long p, const void *data)
{
	struct pmeta *m = &meta[p];
	char got[128];
	long w;

	w = page_diff(data, p, m->exp);
	if (w < 0)
		goto same;
	if (m->alt != NOALT && page_diff(data, p, m->alt) < 0) {
		m->exp = m->alt;
		goto same;
	}
	describe(got, sizeof(got), ((const unsigned long long *)data)[w]);
	fail("%s: own page %lu (%p) word %ld: got %s, want gen %u%s", what, p,
	     page_addr(p), w, got, m->exp,
	     m->alt != NOALT ? " (or the failed WRITE's)" : "");
	return false;
same:
	m->alt = NOALT;
	return true;
}

#define GEN_BITS	(0x7ffffffULL << 9)

/*
 * A word read while its owner rewrote it may be torn at any byte (copies
 * of user memory, the kernel's included, are not atomic per word): each
 * byte then comes from the old or the new value, zero or a pattern word
 * of this very page and word. So every byte must be zero or agree with
 * this page and word outside the generation bits (a mix of two
 * generations can look like any generation).
 */
static bool torn_ok(unsigned long long x, unsigned long long want)
{
	unsigned int b;

	for (b = 0; b < 64; b += 8) {
		unsigned long long m = 0xffULL << b;

		if (!(x & m))
			continue;
		if ((x ^ want) & m & ~GEN_BITS)
			return false;
	}
	return true;
}

/* Check a page of another thread, word by word. */
static bool check_other(const char *what, unsigned long p, const void *data)
{
	const unsigned long long *d = data;
	unsigned int gmax = __atomic_load_n(&meta[p].gmax, __ATOMIC_ACQUIRE);
	unsigned long long x, want;
	char got[128];
	unsigned int w;

	for (w = 0; w < WORDS; w++) {
		x = d[w];
		want = pat(p, 0, w);
		if (torn_ok(x, want))
			continue;
		describe(got, sizeof(got), x);
		fail("%s: page %lu (%p, thread %u's) word %u: got %s, not this page's (max gen %u)",
		     what, p, page_addr(p), page_owner(p), w, got, gmax);
		return false;
	}
	return true;
}

/* Check @n pages read from page @p0 on: ours exactly, others loosely. */
static bool check_pages(const char *what, unsigned long p0, unsigned long n,
			const unsigned char *data)
{
	unsigned long i;

	__atomic_add_fetch(&ws->pages_checked, n, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++) {
		bool good = page_owner(p0 + i) == cur->id ?
			check_own(what, p0 + i, data + i * PG) :
			check_other(what, p0 + i, data + i * PG);
		if (!good)
			return false;
	}
	return true;
}

/* ---- stripes --------------------------------------------------------------- */

static void stripe_begin(unsigned long s)
{
	__atomic_add_fetch(&stripes[s].seq, 1, __ATOMIC_SEQ_CST);
}

static void stripe_end(unsigned long s, unsigned int prot)
{
	__atomic_store_n(&stripes[s].prot, prot, __ATOMIC_RELEASE);
	__atomic_add_fetch(&stripes[s].seq, 1, __ATOMIC_SEQ_CST);
}

/*
 * Stability of the range [p0, p0 + n): record the stripes' sequence
 * counts before an operation, compare after. The shared region never
 * changes.
 */
struct stab {
	unsigned long s0, ns;
	unsigned int seq[MAX_RANGE / STRIPE_PAGES + 2];
	bool rw;
};

static void stab_begin(struct stab *st, unsigned long p0, unsigned long n)
{
	unsigned long i;

	st->rw = true;
	st->ns = 0;
	if (p0 >= cfg.np)
		return;
	st->s0 = p0 / STRIPE_PAGES;
	st->ns = (p0 + n - 1) / STRIPE_PAGES - st->s0 + 1;
	for (i = 0; i < st->ns; i++) {
		st->seq[i] = __atomic_load_n(&stripes[st->s0 + i].seq,
					     __ATOMIC_ACQUIRE);
		if ((st->seq[i] & 1) ||
		    __atomic_load_n(&stripes[st->s0 + i].prot,
				    __ATOMIC_ACQUIRE) != ST_RW)
			st->rw = false;
	}
}

/* True when the whole range was mapped read-write throughout. */
static bool stab_end(struct stab *st)
{
	unsigned long i;

	for (i = 0; i < st->ns; i++)
		if (__atomic_load_n(&stripes[st->s0 + i].seq,
				    __ATOMIC_ACQUIRE) != st->seq[i])
			return false;
	return st->rw;
}

/* ---- ioctls ---------------------------------------------------------------- */

static bool is_coherent(int dev)
{
	return dev >= 2;
}

static int dev_of_fd(struct thr *t, int fd)
{
	if (fd == t->fd_own)
		return t->dev_own;
	if (fd == fd_a)
		return cfg.dev_a;
	if (fd == fd_b)
		return cfg.dev_b;
	return cfg.dev_x;
}

/* A random descriptor: our own, the shared ones, now and then dev_x's. */
static int pick_fd(struct thr *t)
{
	unsigned long r = rnd_below(t, 10);

	if (r < 3)
		return t->fd_own;
	if (r < 6)
		return fd_a;
	if (r < 9 || fd_x < 0)
		return fd_b;
	return fd_x;
}

static int do_ioctl(unsigned int op, int fd, unsigned long p0,
		    unsigned long n, void *ptr, struct hmm_dmirror_cmd *cmd)
{
	int ret;

	memset(cmd, 0, sizeof(*cmd));
	cmd->addr = (uintptr_t)page_addr(p0);
	cmd->ptr = (uintptr_t)ptr;
	cmd->npages = n;
	cur->busy_op = op;
	cur->busy_p0 = p0;
	cur->busy_n = n;
	__atomic_store_n(&cur->busy_ms, now_ms(), __ATOMIC_RELEASE);
	/* No retry on EINTR: no signal this process survives can cause it. */
	ret = ioctl(fd, opd[op].req, cmd) ? -errno : 0;
	__atomic_store_n(&cur->busy_ms, 0, __ATOMIC_RELEASE);
	count_op(op);
	__atomic_add_fetch(&ws->err[op][eb_of(ret)], 1, __ATOMIC_RELAXED);
	return ret;
}

static const char *ename(int ret)
{
	return eb_name[eb_of(ret)];
}

/* Is @ret one of @allowed? Report it if not. */
static bool judge(unsigned int op, int ret, unsigned int allowed, int dev,
		  unsigned long p0, unsigned long n, const char *why)
{
	char set[160] = "";
	unsigned int e;

	if (allowed & B(eb_of(ret)))
		return true;
	for (e = 0; e < EB_NR; e++)
		if (allowed & B(e))
			snprintf(set + strlen(set), sizeof(set) - strlen(set),
				 "%s%s", set[0] ? " " : "", eb_name[e]);
	fail("%s via dev%d on pages %lu+%lu (%p, %s): returned %d (%s), allowed {%s}",
	     opd[op].name, dev, p0, n, page_addr(p0), why, ret, ename(ret),
	     set);
	return false;
}

/* Bytes a snapshot may contain at all. */
static bool snap_valid(unsigned char b)
{
	unsigned char loc = b & 0xf0, acc = b & 3, size = b & 0xc;

	if (b == HMM_DMIRROR_PROT_ERROR || b == HMM_DMIRROR_PROT_NONE)
		return true;
	if (acc != HMM_DMIRROR_PROT_READ && acc != HMM_DMIRROR_PROT_WRITE)
		return false;
	if (size == (HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_PUD))
		return false;
	switch (loc) {
	case HMM_DMIRROR_PROT_NONE:
	case HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL:
	case HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL:
	case HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE:
		return true;
	case HMM_DMIRROR_PROT_ZERO:
		return acc == HMM_DMIRROR_PROT_READ && !size;
	}
	return false;
}

/* ---- a random range ---------------------------------------------------------- */

/*
 * The hot zone: HOT_STRIPES stripes of each thread, moving every
 * HOT_SECONDS, where most operations go so that threads collide.
 */
static unsigned long hot_stripe(void)
{
	unsigned long n = HOT_STRIPES * cfg.threads, epoch, s;

	if (nstripes <= n)
		return 0;
	epoch = (unsigned long)(now_s() / HOT_SECONDS);
	s = (epoch * 2654435761UL) % (nstripes - n);
	return s - s % cfg.threads;
}

static void rand_range(struct thr *t, unsigned long *p0, unsigned long *n)
{
	unsigned long base = 0, total = cfg.np, len, r = rnd_below(t, 100);

	if (r < 50)
		len = 1 + rnd_below(t, 16);
	else if (r < 80)
		len = 17 + rnd_below(t, 112);
	else
		len = 129 + rnd_below(t, MAX_RANGE - 128);
	if (rnd_below(t, 12) == 0) {
		base = cfg.np;
		total = cfg.threads * SHARED_PAGES;
	}
	*p0 = base + rnd_below(t, total);
	if (!base && rnd_below(t, 4))
		*p0 = hot_stripe() * STRIPE_PAGES +
		      rnd_below(t, HOT_STRIPES * cfg.threads * STRIPE_PAGES);
	if (rnd_below(t, 3) == 0 && !base)
		*p0 -= *p0 % STRIPE_PAGES;
	if (len > base + total - *p0)
		len = base + total - *p0;
	*n = len;
}

/* ---- operations on any range ---------------------------------------------------- */

static void op_read(struct thr *t, unsigned int op)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p0, n;
	struct stab st;
	int fd, ret;
	bool stable;

	rand_range(t, &p0, &n);
	fd = pick_fd(t);
	stab_begin(&st, p0, n);
	ret = do_ioctl(op, fd, p0, n, t->buf, &cmd);
	stable = stab_end(&st);
	if (!judge(op, ret, stable ? opd[op].stable : opd[op].doc,
		   dev_of_fd(t, fd), p0, n, stable ? "stable" : "changing"))
		return;
	if (ret)
		return;
	if (cmd.cpages != n)
		fail("%s: cpages %llu for %lu pages", opd[op].name,
		     (unsigned long long)cmd.cpages, n);
	check_pages(opd[op].name, p0, n, t->buf);
}

static void op_to_dev(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p0, n;
	struct stab st;
	int fd, ret;
	bool stable;

	rand_range(t, &p0, &n);
	fd = pick_fd(t);
	stab_begin(&st, p0, n);
	ret = do_ioctl(OP_TO_DEV, fd, p0, n, t->buf, &cmd);
	stable = stab_end(&st);
	if (!judge(OP_TO_DEV, ret,
		   stable ? opd[OP_TO_DEV].stable : opd[OP_TO_DEV].doc,
		   dev_of_fd(t, fd), p0, n, stable ? "stable" : "changing"))
		return;
	if (ret)
		return;
	if (cmd.cpages != n)
		fail("migrate_to_dev: cpages %llu for %lu pages",
		     (unsigned long long)cmd.cpages, n);
	check_pages("migrate_to_dev read-back", p0, n, t->buf);
}

static void op_to_sys(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p0, n;
	struct stab st;
	int fd, ret;
	bool stable;

	rand_range(t, &p0, &n);
	fd = pick_fd(t);
	stab_begin(&st, p0, n);
	ret = do_ioctl(OP_TO_SYS, fd, p0, n, NULL, &cmd);
	stable = stab_end(&st);
	if (!judge(OP_TO_SYS, ret,
		   stable ? opd[OP_TO_SYS].stable : opd[OP_TO_SYS].doc,
		   dev_of_fd(t, fd), p0, n, stable ? "stable" : "changing"))
		return;
	if (!ret && cmd.cpages > n)
		fail("migrate_to_sys: cpages %llu for %lu pages",
		     (unsigned long long)cmd.cpages, n);
}

static void op_snapshot(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p0, n, i;
	struct stab st;
	int fd, ret;
	bool stable;

	rand_range(t, &p0, &n);
	fd = pick_fd(t);
	stab_begin(&st, p0, n);
	ret = do_ioctl(OP_SNAPSHOT, fd, p0, n, t->snap, &cmd);
	stable = stab_end(&st);
	if (!judge(OP_SNAPSHOT, ret,
		   stable ? opd[OP_SNAPSHOT].stable : opd[OP_SNAPSHOT].doc,
		   dev_of_fd(t, fd), p0, n, stable ? "stable" : "changing"))
		return;
	if (ret)
		return;
	if (cmd.cpages != n)
		fail("snapshot: cpages %llu for %lu pages",
		     (unsigned long long)cmd.cpages, n);
	for (i = 0; i < n; i++) {
		unsigned char b = t->snap[i];

		/*
		 * 0xff is possible on a mapped range too: another device's
		 * private THP (a core quirk of Linux 7.3).
		 */
		if (!snap_valid(b)) {
			fail("snapshot via dev%d: page %lu (%p) byte %#x is not a valid encoding",
			     dev_of_fd(t, fd), p0 + i, page_addr(p0 + i), b);
			return;
		}
	}
}

static void op_excl(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p0, n;
	struct stab st;
	int fd, ret;
	bool stable;

	rand_range(t, &p0, &n);
	fd = pick_fd(t);
	stab_begin(&st, p0, n);
	ret = do_ioctl(OP_EXCL, fd, p0, n, t->buf, &cmd);
	stable = stab_end(&st);
	if (p0 >= cfg.np) {
		/* The shared region: never exclusive. */
		judge(OP_EXCL, ret, B(EB_EOPNOTSUPP), dev_of_fd(t, fd), p0,
		      n, "MAP_SHARED");
		return;
	}
	if (!judge(OP_EXCL, ret,
		   stable ? opd[OP_EXCL].stable : opd[OP_EXCL].doc,
		   dev_of_fd(t, fd), p0, n, stable ? "stable" : "changing"))
		return;
	if (ret)
		return;
	if (cmd.cpages != n)
		fail("exclusive: cpages %llu for %lu pages",
		     (unsigned long long)cmd.cpages, n);
	check_pages("exclusive read-back", p0, n, t->buf);
}

static void op_check_excl(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p0, n;
	int fd, ret;

	rand_range(t, &p0, &n);
	fd = pick_fd(t);
	ret = do_ioctl(OP_CHECK_EXCL, fd, p0, n, NULL, &cmd);
	judge(OP_CHECK_EXCL, ret, opd[OP_CHECK_EXCL].doc, dev_of_fd(t, fd),
	      p0, n, "any");
}

static void op_release(struct thr *t)
{
	unsigned long long last, now = now_ms();
	struct hmm_dmirror_cmd cmd;
	int fd, ret;

	/* At most one RELEASE per process every 700 ms. */
	last = __atomic_load_n(&last_release_ms, __ATOMIC_RELAXED);
	if (now - last < 700 ||
	    !__atomic_compare_exchange_n(&last_release_ms, &last, now, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	fd = pick_fd(t);
	ret = do_ioctl(OP_RELEASE, fd, 0, 1, NULL, &cmd);
	judge(OP_RELEASE, ret, opd[OP_RELEASE].doc, dev_of_fd(t, fd), 0, 1,
	      "any");
}

/* SIGSEGV/SIGBUS: expected only inside a CPU probe. */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	char msg[160];
	int n;

	if (probing)
		siglongjmp(probe_jmp, sig);
	n = snprintf(msg, sizeof(msg),
		     "# FAIL [proc %u%s] signal %d (code %d) at %p outside a probe\n",
		     proc_id, in_child ? " child" : "", sig, si->si_code,
		     si->si_addr);
	if (write(STDOUT_FILENO, msg, n) < 0)
		_exit(3);
	_exit(3);
}

/*
 * Read pages of other threads with the CPU. The owner may have made them
 * inaccessible meanwhile; a fault is a failure only if the stripe stayed
 * mapped read-write throughout.
 */
static void op_cpu_probe(struct thr *t)
{
	unsigned long p0, n, i;
	struct stab st;
	int sig;

	rand_range(t, &p0, &n);
	if (n > 64)
		n = 64;
	count_op(OP_CPU_PROBE);
	stab_begin(&st, p0, n);
	probing = 1;
	sig = sigsetjmp(probe_jmp, 1);
	if (!sig)
		memcpy(t->buf, page_addr(p0), n * PG);
	probing = 0;
	if (sig) {
		if (stab_end(&st))
			fail("cpu read of pages %lu+%lu (%p): signal %d on a stable range",
			     p0, n, page_addr(p0), sig);
		return;
	}
	/* Torn pages of our own cannot be: we are not writing them. */
	for (i = 0; i < n; i++)
		if (!check_pages("cpu read", p0 + i, 1, t->buf + i * PG))
			return;
}

/* ---- operations of an owner on its own pages ------------------------------------- */

/* A random stripe of ours and a random part of it. */
static void own_range(struct thr *t, unsigned long *s, unsigned long *p0,
		      unsigned long *n)
{
	unsigned long mine = (nstripes - t->id + cfg.threads - 1) / cfg.threads;
	unsigned long first, len;

	*s = t->id + cfg.threads * rnd_below(t, mine);
	if (rnd_below(t, 4) && nstripes > HOT_STRIPES * cfg.threads)
		*s = hot_stripe() + t->id +
		     cfg.threads * rnd_below(t, HOT_STRIPES);
	first = rnd_below(t, STRIPE_PAGES);
	len = 1 + rnd_below(t, STRIPE_PAGES - first);
	if (rnd_below(t, 3) == 0) {
		first = 0;
		len = STRIPE_PAGES;
	}
	*p0 = *s * STRIPE_PAGES + first;
	*n = len;
}

/* New generations for pages [p0, p0 + n), patterns into @buf. */
static void new_gens(unsigned long p0, unsigned long n, unsigned char *buf,
		     unsigned int *gens)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		gens[i] = __atomic_add_fetch(&meta[p0 + i].gmax, 1,
					     __ATOMIC_SEQ_CST);
		if (buf)
			fill_page(buf + i * PG, p0 + i, gens[i]);
	}
}

static void cpu_write(unsigned long p0, unsigned long n)
{
	unsigned int gens[MAX_RANGE];
	unsigned long i;

	new_gens(p0, n, NULL, gens);
	for (i = 0; i < n; i++) {
		fill_page(page_addr(p0 + i), p0 + i, gens[i]);
		meta[p0 + i].exp = gens[i];
		meta[p0 + i].alt = NOALT;
	}
}

static bool cpu_verify(const char *what, unsigned long p0, unsigned long n)
{
	unsigned long i;

	__atomic_add_fetch(&ws->pages_checked, n, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++)
		if (!check_own(what, p0 + i, page_addr(p0 + i)))
			return false;
	return true;
}

/*
 * At most one device WRITE runs at a time, over all processes: should a
 * WRITE spin in the kernel, it occupies one CPU only, and the watchdog
 * still runs to report it and end it. A WRITE that cannot have the token
 * within 5 s is not issued (-EAGAIN).
 */
static bool write_token_get(void)
{
	double until = now_s() + 5;

	while (__atomic_exchange_n(write_token, 1, __ATOMIC_ACQUIRE)) {
		if (now_s() > until)
			return false;
		usleep(200);
	}
	return true;
}

static void write_token_put(void)
{
	__atomic_store_n(write_token, 0, __ATOMIC_RELEASE);
}

static int do_write(int fd, unsigned long p0, unsigned long n, void *buf,
		    struct hmm_dmirror_cmd *cmd)
{
	int ret;

	if (!write_token_get())
		return -EAGAIN;
	ret = do_ioctl(OP_WRITE, fd, p0, n, buf, cmd);
	write_token_put();
	return ret;
}

/* Write new generations through a device; the owner knows the result. */
static void dev_write_own(struct thr *t, int fd, unsigned long p0,
			  unsigned long n, unsigned int allowed)
{
	unsigned int gens[MAX_RANGE];
	struct hmm_dmirror_cmd cmd;
	unsigned long i;
	int ret;

	/* Settle pages a failed WRITE left uncertain first. */
	for (i = 0; i < n; i++)
		if (meta[p0 + i].alt != NOALT)
			cpu_verify("settle", p0 + i, 1);
	new_gens(p0, n, t->wbuf, gens);
	ret = do_write(fd, p0, n, t->wbuf, &cmd);
	if (ret == -EAGAIN)
		return;
	judge(OP_WRITE, ret, allowed, dev_of_fd(t, fd), p0, n, "own pages");
	for (i = 0; i < n; i++) {
		if (!ret) {
			meta[p0 + i].exp = gens[i];
			meta[p0 + i].alt = NOALT;
		} else {
			meta[p0 + i].alt = gens[i];
		}
	}
	if (!ret && cmd.cpages != n)
		fail("write: cpages %llu for %lu pages",
		     (unsigned long long)cmd.cpages, n);
}

/* Read own pages through a device and compare. */
static void dev_read_own(struct thr *t, int fd, unsigned long p0,
			 unsigned long n, unsigned int allowed,
			 const char *why)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	ret = do_ioctl(OP_READ, fd, p0, n, t->buf, &cmd);
	if (!judge(OP_READ, ret, allowed, dev_of_fd(t, fd), p0, n, why))
		return;
	if (!ret)
		check_pages(why, p0, n, t->buf);
}

static void op_cpu_write(struct thr *t)
{
	unsigned long s, p0, n;

	own_range(t, &s, &p0, &n);
	count_op(OP_CPU_WRITE);
	cpu_write(p0, n);
	if (!rnd_below(t, 4))
		dev_read_own(t, pick_fd(t), p0, n, opd[OP_READ].stable,
			     "read after cpu write");
}

static void op_cpu_verify(struct thr *t)
{
	unsigned long s, p0, n;

	own_range(t, &s, &p0, &n);
	count_op(OP_CPU_VERIFY);
	cpu_verify("cpu verify", p0, n);
}

static void op_dev_write(struct thr *t)
{
	unsigned long s, p0, n;
	int fd = pick_fd(t);

	own_range(t, &s, &p0, &n);
	count_op(OP_DEV_WRITE);
	dev_write_own(t, fd, p0, n, opd[OP_WRITE].stable);
	if (rnd_below(t, 2))
		dev_read_own(t, pick_fd(t), p0, n, opd[OP_READ].stable,
			     "read after write");
	else
		cpu_verify("cpu verify after write", p0, n);
}

static void op_dontneed(struct thr *t)
{
	unsigned long s, p0, n, i;

	own_range(t, &s, &p0, &n);
	count_op(OP_DONTNEED);
	if (madvise(page_addr(p0), n * PG, MADV_DONTNEED)) {
		fail("madvise(DONTNEED) pages %lu+%lu: %s", p0, n,
		     strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		meta[p0 + i].exp = 0;
		meta[p0 + i].alt = NOALT;
	}
	/* No descriptor may still see what was discarded. */
	dev_read_own(t, fd_a, p0, n, opd[OP_READ].stable,
		     "read after dontneed");
	dev_read_own(t, fd_b, p0, n, opd[OP_READ].stable,
		     "read after dontneed");
	dev_read_own(t, t->fd_own, p0, n, opd[OP_READ].stable,
		     "read after dontneed");
}

/* Replace a whole stripe by a new mapping in one step (no hole). */
static void op_remap(struct thr *t)
{
	unsigned long s, p0, n, i;
	void *p;

	own_range(t, &s, &p0, &n);
	count_op(OP_REMAP);
	p0 = s * STRIPE_PAGES;
	p = mmap(page_addr(p0), STRIPE_PAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p != page_addr(p0)) {
		fail("mmap(MAP_FIXED) over stripe %lu: %s", s,
		     strerror(errno));
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
		return;
	}
	for (i = 0; i < STRIPE_PAGES; i++) {
		meta[p0 + i].exp = 0;
		meta[p0 + i].alt = NOALT;
	}
	if (rnd_below(t, 2))
		cpu_write(p0, STRIPE_PAGES);
}

/*
 * Exact errnos on a stripe of our own that is unmapped (ST_HOLE),
 * PROT_NONE (ST_NONE) or read-only (ST_RO).
 */
static void own_state_checks(struct thr *t, unsigned long s,
			     unsigned int state)
{
	unsigned long p0 = s * STRIPE_PAGES, n = STRIPE_PAGES, i;
	bool gone = state != ST_RO;
	struct hmm_dmirror_cmd cmd;
	const char *why = state == ST_HOLE ? "unmapped" :
			  state == ST_NONE ? "PROT_NONE" : "read-only";
	int fd = pick_fd(t), dev = dev_of_fd(t, fd), ret;

	ret = do_ioctl(OP_READ, fd, p0, n, t->buf, &cmd);
	if (judge(OP_READ, ret, gone ? B(EB_EFAULT) : opd[OP_READ].stable,
		  dev, p0, n, why) && !ret)
		check_pages("read of a read-only stripe", p0, n, t->buf);
	ret = do_ioctl(OP_READ_UNLOCKED, fd, p0, n, t->buf, &cmd);
	judge(OP_READ_UNLOCKED, ret,
	      gone ? B(EB_EFAULT) : opd[OP_READ_UNLOCKED].stable, dev, p0, n,
	      why);
	fill_page(t->wbuf, p0, 0);
	ret = do_ioctl(OP_WRITE, fd, p0, 1, t->wbuf, &cmd);
	judge(OP_WRITE, ret, gone ? B(EB_EFAULT) : B(EB_EPERM), dev, p0, 1,
	      why);
	ret = do_ioctl(OP_EXCL, fd, p0, n, t->buf, &cmd);
	judge(OP_EXCL, ret, B(EB_EFAULT), dev, p0, n, why);
	ret = do_ioctl(OP_TO_DEV, fd, p0, n, t->buf, &cmd);
	if (judge(OP_TO_DEV, ret,
		  gone ? B(EB_EINVAL) : opd[OP_TO_DEV].stable, dev, p0, n,
		  why) && !ret)
		check_pages("migrate of a read-only stripe", p0, n, t->buf);
	ret = do_ioctl(OP_TO_SYS, fd, p0, n, NULL, &cmd);
	judge(OP_TO_SYS, ret, gone ? B(EB_EINVAL) : opd[OP_TO_SYS].stable,
	      dev, p0, n, why);
	ret = do_ioctl(OP_SNAPSHOT, fd, p0, n, t->snap, &cmd);
	if (judge(OP_SNAPSHOT, ret, opd[OP_SNAPSHOT].stable, dev, p0, n,
		  why) && !ret) {
		for (i = 0; i < n; i++) {
			unsigned char b = t->snap[i];
			bool good = gone ? b == HMM_DMIRROR_PROT_ERROR :
				snap_valid(b) && b != HMM_DMIRROR_PROT_ERROR &&
				!(b & HMM_DMIRROR_PROT_WRITE);

			if (!good) {
				fail("snapshot via dev%d of %s page %lu (%p): byte %#x",
				     dev, why, p0 + i, page_addr(p0 + i), b);
				break;
			}
		}
	}
	if (gone) {
		/* No device may keep atomic access to unmapped memory. */
		ret = do_ioctl(OP_CHECK_EXCL, t->fd_own, p0, n, NULL, &cmd);
		judge(OP_CHECK_EXCL, ret, B(EB_OK), t->dev_own, p0, n, why);
	}
}

/* Unmap a stripe, check what the devices say about the hole, map again. */
static void op_hole(struct thr *t)
{
	unsigned long s, p0, n, i;
	void *p;

	own_range(t, &s, &p0, &n);
	count_op(OP_HOLE);
	p0 = s * STRIPE_PAGES;
	stripe_begin(s);
	if (munmap(page_addr(p0), STRIPE_PAGES * PG)) {
		fail("munmap of stripe %lu: %s", s, strerror(errno));
		stripe_end(s, ST_RW);
		return;
	}
	stripe_end(s, ST_HOLE);
	own_state_checks(t, s, ST_HOLE);
	stripe_begin(s);
	p = mmap(page_addr(p0), STRIPE_PAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != page_addr(p0)) {
		fail("mapping stripe %lu again: %s (something took the hole)",
		     s, p == MAP_FAILED ? strerror(errno) : "elsewhere");
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
		stripe_end(s, ST_HOLE);
		return;
	}
	for (i = 0; i < STRIPE_PAGES; i++) {
		meta[p0 + i].exp = 0;
		meta[p0 + i].alt = NOALT;
	}
	stripe_end(s, ST_RW);
}

/* Make a stripe read-only or PROT_NONE for a while. */
static void op_mprotect(struct thr *t)
{
	unsigned int state = rnd_below(t, 2) ? ST_RO : ST_NONE;
	unsigned long s, p0, n;

	own_range(t, &s, &p0, &n);
	count_op(OP_MPROTECT);
	p0 = s * STRIPE_PAGES;
	stripe_begin(s);
	if (mprotect(page_addr(p0), STRIPE_PAGES * PG,
		     state == ST_RO ? PROT_READ : PROT_NONE)) {
		fail("mprotect of stripe %lu: %s", s, strerror(errno));
		stripe_end(s, ST_RW);
		return;
	}
	stripe_end(s, state);
	own_state_checks(t, s, state);
	if (state == ST_RO)
		cpu_verify("cpu verify of a read-only stripe", p0,
			   STRIPE_PAGES);
	stripe_begin(s);
	if (mprotect(page_addr(p0), STRIPE_PAGES * PG,
		     PROT_READ | PROT_WRITE)) {
		fail("mprotect of stripe %lu back: %s", s, strerror(errno));
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
		stripe_end(s, state);
		return;
	}
	stripe_end(s, ST_RW);
	cpu_verify("cpu verify after mprotect", p0, STRIPE_PAGES);
}

/*
 * Take exclusive access through our own descriptor, touch every page with
 * the CPU, and check that no atomic access is left in our mirror.
 */
static void op_excl_revoke(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long s, p0, n, i;
	unsigned long long sum = 0;
	int ret;

	own_range(t, &s, &p0, &n);
	count_op(OP_EXCL_REVOKE);
	ret = do_ioctl(OP_EXCL, t->fd_own, p0, n, t->buf, &cmd);
	if (!judge(OP_EXCL, ret, opd[OP_EXCL].stable, t->dev_own, p0, n,
		   "own pages"))
		return;
	if (!ret)
		check_pages("exclusive read-back (own)", p0, n, t->buf);
	ret = do_ioctl(OP_CHECK_EXCL, t->fd_own, p0, n, NULL, &cmd);
	judge(OP_CHECK_EXCL, ret, opd[OP_CHECK_EXCL].doc, t->dev_own, p0, n,
	      "after exclusive");
	for (i = 0; i < n; i++)
		sum += __atomic_load_n((unsigned long long *)page_addr(p0 + i),
					__ATOMIC_RELAXED);
	ret = do_ioctl(OP_CHECK_EXCL, t->fd_own, p0, n, NULL, &cmd);
	judge(OP_CHECK_EXCL, ret, B(EB_OK), t->dev_own, p0, n,
	      "every page touched by the CPU since");
	if (sum == 1)
		say("# (unlikely sum)");
}

/* Close our own descriptor and open one again, on either device. */
static void op_reopen(struct thr *t)
{
	int dev = rnd_below(t, 2) ? cfg.dev_a : cfg.dev_b;

	count_op(OP_REOPEN);
	if (close(t->fd_own))
		fail("close of own descriptor: %s", strerror(errno));
	t->fd_own = dmirror_open_dev(dev);
	t->dev_own = dev;
	if (t->fd_own < 0) {
		fail("open of /dev/hmm_dmirror%d: %s", dev, strerror(errno));
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	}
}

/*
 * Make the next PMD-sized allocation of a descriptor fail: its next large
 * migration, in either direction, goes to base pages instead.
 */
static void op_fail_alloc(struct thr *t)
{
	struct hmm_dmirror_cmd cmd = {
		.npages = HMM_DMIRROR_FLAG_FAIL_ALLOC,
	};
	int ret;

	count_op(OP_FAIL_ALLOC);
	ret = dmirror_cmd(pick_fd(t), HMM_DMIRROR_FLAGS, &cmd);
	if (ret)
		fail("FLAGS FAIL_ALLOC: %s", strerror(-ret));
}

/* Our slice of the MAP_SHARED region. */
static void op_shared(struct thr *t)
{
	unsigned long base = cfg.np + t->id * SHARED_PAGES;
	unsigned long first = rnd_below(t, SHARED_PAGES);
	unsigned long n = 1 + rnd_below(t, SHARED_PAGES - first);
	unsigned long p0 = base + first;
	struct hmm_dmirror_cmd cmd;
	int fd = pick_fd(t), ret;

	count_op(OP_SHARED);
	switch (rnd_below(t, 6)) {
	case 0:
		cpu_write(p0, n);
		break;
	case 1:
		dev_write_own(t, fd, p0, n, opd[OP_WRITE].stable);
		break;
	case 2:
		cpu_verify("cpu verify (shared)", p0, n);
		break;
	case 3:
		dev_read_own(t, fd, p0, n, opd[OP_READ].stable,
			     "read (shared)");
		break;
	case 4:
		/* Shared memory does not migrate; mirrored pages count. */
		ret = do_ioctl(OP_TO_DEV, fd, p0, n, t->buf, &cmd);
		if (judge(OP_TO_DEV, ret, opd[OP_TO_DEV].stable,
			  dev_of_fd(t, fd), p0, n, "MAP_SHARED") && !ret)
			check_pages("migrate read-back (shared)", p0, n,
				    t->buf);
		break;
	default:
		ret = do_ioctl(OP_EXCL, fd, p0, n, t->buf, &cmd);
		judge(OP_EXCL, ret, B(EB_EOPNOTSUPP), dev_of_fd(t, fd), p0, n,
		      "MAP_SHARED");
		break;
	}
}

/* Migrate a large part of the region, window after window. */
static void sweep(struct thr *t, int fd, unsigned long p0, unsigned long n)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p, len;
	struct stab st;
	bool stable;
	int ret;

	for (p = p0; p < p0 + n && !__atomic_load_n(&stop, __ATOMIC_RELAXED) &&
	     now_s() < t_end; p += len) {
		len = MAX_RANGE;
		if (len > p0 + n - p)
			len = p0 + n - p;
		stab_begin(&st, p, len);
		ret = do_ioctl(OP_TO_DEV, fd, p, len, t->buf, &cmd);
		stable = stab_end(&st);
		if (!judge(OP_TO_DEV, ret, stable ? opd[OP_TO_DEV].stable :
			   opd[OP_TO_DEV].doc, dev_of_fd(t, fd), p, len,
			   stable ? "stable, whole region" :
			   "changing, whole region"))
			return;
		if (!ret)
			check_pages("whole-region read-back", p, len, t->buf);
	}
}

static void op_sweep(struct thr *t)
{
	unsigned long p0 = rnd_below(t, cfg.np);

	count_op(OP_SWEEP);
	p0 -= p0 % MAX_RANGE;
	sweep(t, rnd_below(t, 3) ? fd_a : fd_b, p0,
	      cfg.np - p0 < 8 * MAX_RANGE ? cfg.np - p0 : 8 * MAX_RANGE);
}

/* ---- fork ------------------------------------------------------------------------ */

/*
 * In the child: the forking thread's stripe must read as it was, through
 * the CPU and a device of the child's own; the child writes it (its own
 * copy) and our slice of the shared region (the parent's memory too).
 */
static int fork_child(struct thr *t, unsigned long s, const unsigned int *gc,
		      const unsigned int *gs)
{
	unsigned long p0 = s * STRIPE_PAGES, sh = cfg.np + t->id * SHARED_PAGES;
	unsigned long half = STRIPE_PAGES / 2, i;
	struct hmm_dmirror_cmd cmd;
	int fd, ret;

	in_child = 1;
	cpu_verify("child: cpu verify of the parent's data", p0, STRIPE_PAGES);
	/* The parent's descriptors act on the parent's mm only. */
	ret = do_ioctl(OP_READ, fd_a, p0, 1, t->buf, &cmd);
	judge(OP_READ, ret, B(EB_EPERM), cfg.dev_a, p0, 1,
	      "inherited descriptor");
	fd = dmirror_open_dev(cfg.dev_a);
	if (fd < 0) {
		fail("child: open of /dev/hmm_dmirror%d: %s", cfg.dev_a,
		     strerror(errno));
		return 1;
	}
	t->fd_own = fd;
	t->dev_own = cfg.dev_a;
	dev_read_own(t, fd, p0, STRIPE_PAGES, opd[OP_READ].stable,
		     "child: read of the parent's data");
	ret = do_ioctl(OP_TO_DEV, fd, p0, STRIPE_PAGES, t->buf, &cmd);
	if (judge(OP_TO_DEV, ret, opd[OP_TO_DEV].stable, cfg.dev_a, p0,
		  STRIPE_PAGES, "child, COW-shared pages") && !ret)
		check_pages("child: migrate read-back", p0, STRIPE_PAGES,
			    t->buf);

	/* Our copy: half by CPU, half through the device. */
	for (i = 0; i < STRIPE_PAGES; i++) {
		if (i < half) {
			fill_page(page_addr(p0 + i), p0 + i, gc[i]);
			meta[p0 + i].exp = gc[i];
			meta[p0 + i].alt = NOALT;
		} else {
			fill_page(t->wbuf + (i - half) * PG, p0 + i, gc[i]);
		}
	}
	ret = do_write(fd, p0 + half, STRIPE_PAGES - half, t->wbuf, &cmd);
	if (ret != -EAGAIN)
		judge(OP_WRITE, ret, B(EB_OK), cfg.dev_a, p0 + half,
		      STRIPE_PAGES - half, "child, COW-shared pages");
	for (i = half; i < STRIPE_PAGES; i++) {
		if (ret)
			fill_page(page_addr(p0 + i), p0 + i, gc[i]);
		meta[p0 + i].exp = gc[i];
		meta[p0 + i].alt = NOALT;
	}
	dev_read_own(t, fd, p0, STRIPE_PAGES, opd[OP_READ].stable,
		     "child: read of its own writes");
	cpu_verify("child: cpu verify of its own writes", p0, STRIPE_PAGES);

	/* The shared slice: through the device, then by CPU. */
	for (i = 0; i < SHARED_PAGES / 2; i++)
		fill_page(t->wbuf + i * PG, sh + i, gs[i]);
	ret = do_write(fd, sh, SHARED_PAGES / 2, t->wbuf, &cmd);
	if (ret != -EAGAIN)
		judge(OP_WRITE, ret, B(EB_OK), cfg.dev_a, sh,
		      SHARED_PAGES / 2, "child, MAP_SHARED");
	for (i = 0; i < SHARED_PAGES; i++) {
		if (ret || i >= SHARED_PAGES / 2)
			fill_page(page_addr(sh + i), sh + i, gs[i]);
		meta[sh + i].exp = gs[i];
		meta[sh + i].alt = NOALT;
	}
	cpu_verify("child: cpu verify of the shared slice", sh, SHARED_PAGES);
	close(fd);
	return child_failures ? 1 : 0;
}

static void op_fork(struct thr *t)
{
	unsigned int gc[STRIPE_PAGES], gs[SHARED_PAGES];
	unsigned long s, p0, n, i, sh = cfg.np + t->id * SHARED_PAGES;
	int status;
	pid_t pid;

	if ((unsigned long long)now_ms() < t->next_fork_ms)
		return;
	t->next_fork_ms = now_ms() + 500;
	own_range(t, &s, &p0, &n);
	count_op(OP_FORK);
	p0 = s * STRIPE_PAGES;
	/* Exact expectations in the child: no uncertain page. */
	for (i = 0; i < STRIPE_PAGES; i++)
		if (meta[p0 + i].alt != NOALT)
			cpu_verify("settle", p0 + i, 1);
	for (i = 0; i < SHARED_PAGES; i++)
		if (meta[sh + i].alt != NOALT)
			cpu_verify("settle", sh + i, 1);
	new_gens(p0, STRIPE_PAGES, NULL, gc);
	new_gens(sh, SHARED_PAGES, NULL, gs);
	pid = fork();
	if (pid < 0) {
		fail("fork: %s", strerror(errno));
		return;
	}
	if (!pid)
		_exit(fork_child(t, s, gc, gs));
	/* The watchdog covers the child too. */
	t->busy_op = OP_FORK;
	t->busy_p0 = p0;
	t->busy_n = STRIPE_PAGES;
	t->child = pid;
	__atomic_store_n(&t->busy_ms, now_ms(), __ATOMIC_RELEASE);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	__atomic_store_n(&t->busy_ms, 0, __ATOMIC_RELEASE);
	t->child = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail("fork child %d: %s %d", pid,
		     WIFEXITED(status) ? "exit status" : "killed by signal",
		     WIFEXITED(status) ? WEXITSTATUS(status) :
		     WTERMSIG(status));
	for (i = 0; i < SHARED_PAGES; i++) {
		meta[sh + i].exp = gs[i];
		meta[sh + i].alt = NOALT;
	}
	cpu_verify("parent: cpu verify after the child wrote its copy", p0,
		   STRIPE_PAGES);
	dev_read_own(t, pick_fd(t), p0, STRIPE_PAGES, opd[OP_READ].stable,
		     "parent: read after the child wrote its copy");
	cpu_verify("parent: cpu verify of the shared slice the child wrote",
		   sh, SHARED_PAGES);
}

/* ---- threads and workers ------------------------------------------------------------- */

static unsigned int pick_op(struct thr *t)
{
	unsigned int total = 0, op, r;

	for (op = 0; op < OP_NR; op++)
		if (cfg.opmask & (1ULL << op))
			total += opd[op].weight;
	r = rnd_below(t, total);
	for (op = 0; op < OP_NR; op++) {
		if (!(cfg.opmask & (1ULL << op)))
			continue;
		if (r < opd[op].weight)
			return op;
		r -= opd[op].weight;
	}
	return OP_READ;
}

/*
 * After the run's duration: an ioctl kind this process has not yet had
 * MIN_OK successes of (RELEASE: one), as the operation that issues it, or
 * OP_NR when none is missing. With all operations on only: so that a slow
 * machine still checks every kind, without a goal on speed.
 */
static unsigned int missing_op(void)
{
	unsigned long long ok;
	unsigned int op;

	if (cfg.opmask != ~0ULL)
		return OP_NR;
	for (op = 0; op < OP_NR_IOCTL; op++) {
		ok = __atomic_load_n(&ws->err[op][EB_OK], __ATOMIC_RELAXED);
		if (op == OP_CHECK_EXCL)
			ok += __atomic_load_n(&ws->err[op][EB_EPERM],
					      __ATOMIC_RELAXED);
		if (ok < (op == OP_RELEASE ? 1 : MIN_OK))
			return op == OP_WRITE ? OP_DEV_WRITE : op;
	}
	return OP_NR;
}

/*
 * -F: thread @t runs SCHED_FIFO at the lowest priority plus its number,
 * each one above the last, and a process's watchdog (and the main
 * process) above them all. On one CPU a runnable thread then never runs
 * while a higher one does, however long that one retries in the kernel:
 * a retry loop that waits for a lower thread without sleeping is a stall,
 * which the watchdog reports.
 */
static int set_fifo(unsigned int prio)
{
	struct sched_param sp = { .sched_priority = (int)prio };

	return pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
}

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	int err;

	cur = t;
	t->os_tid = gettid();
	if (cfg.fifo) {
		err = set_fifo(cfg.fifo + t->id);
		if (err)
			fail("SCHED_FIFO priority %u: %s", cfg.fifo + t->id,
			     strerror(err));
	}
	/* Thread 0 fills the device first, so that it evicts early. */
	if (!t->id && (cfg.opmask & (1ULL << OP_SWEEP)))
		sweep(t, fd_a, 0, cfg.np);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned int op;

		if (now_s() < t_end)
			op = pick_op(t);
		else if (now_s() < t_end + EXTRA_S)
			op = missing_op();
		else
			break;
		if (op == OP_NR)
			break;
		switch (op) {
		case OP_READ:
			op_read(t, OP_READ);
			break;
		case OP_READ_UNLOCKED:
			op_read(t, OP_READ_UNLOCKED);
			break;
		case OP_TO_DEV:
			op_to_dev(t);
			break;
		case OP_TO_SYS:
			op_to_sys(t);
			break;
		case OP_SNAPSHOT:
			op_snapshot(t);
			break;
		case OP_EXCL:
			op_excl(t);
			break;
		case OP_CHECK_EXCL:
			op_check_excl(t);
			break;
		case OP_RELEASE:
			op_release(t);
			break;
		case OP_CPU_PROBE:
			op_cpu_probe(t);
			break;
		case OP_CPU_WRITE:
			op_cpu_write(t);
			break;
		case OP_CPU_VERIFY:
			op_cpu_verify(t);
			break;
		case OP_DEV_WRITE:
			op_dev_write(t);
			break;
		case OP_DONTNEED:
			op_dontneed(t);
			break;
		case OP_REMAP:
			op_remap(t);
			break;
		case OP_HOLE:
			op_hole(t);
			break;
		case OP_MPROTECT:
			op_mprotect(t);
			break;
		case OP_FORK:
			op_fork(t);
			break;
		case OP_REOPEN:
			op_reopen(t);
			break;
		case OP_EXCL_REVOKE:
			op_excl_revoke(t);
			break;
		case OP_SHARED:
			op_shared(t);
			break;
		case OP_SWEEP:
			op_sweep(t);
			break;
		case OP_FAIL_ALLOC:
			op_fail_alloc(t);
			break;
		}
	}
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Print what a stuck task is doing: state, CPU time, syscall, wchan. */
/* Where in the kernel @pid is, on kernels with CONFIG_STACKTRACE. */
static void show_stack(pid_t pid)
{
	char path[64], buf[2048], *line, *save;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stack", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		say("#   %s: %s", path, line);
}

static void show_task(pid_t pid)
{
	static const char * const what[] = { "stat", "syscall", "wchan" };
	char path[64], buf[256];
	unsigned int i;
	ssize_t n;
	int fd;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, what[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		buf[strcspn(buf, "\n")] = 0;
		say("#   %s: %s", path, buf);
	}
	show_stack(pid);
}

/*
 * Wait for the threads; an ioctl that does not return within STUCK_MS is
 * reported, and the process exits, which ends it (fatal signal).
 */
static void watch_threads(struct thr *thr)
{
	unsigned int t, done;

	do {
		usleep(200000);
		done = 0;
		for (t = 0; t < cfg.threads; t++) {
			unsigned long long b = __atomic_load_n(&thr[t].busy_ms,
							       __ATOMIC_ACQUIRE);

			done += __atomic_load_n(&thr[t].done,
						__ATOMIC_ACQUIRE);
			if (!b || now_ms() - b < STUCK_MS)
				continue;
			cur = &thr[t];
			fail("%s on pages %lu+%lu (%p) still running after %d s: stuck",
			     thr[t].busy_op == OP_FORK ? "fork child" :
			     opd[thr[t].busy_op].name, thr[t].busy_p0,
			     thr[t].busy_n, page_addr(thr[t].busy_p0),
			     STUCK_MS / 1000);
			for (done = 0; done < 2; done++) {
				show_task(thr[t].child > 0 ? thr[t].child :
					  thr[t].os_tid);
				sleep(1);
			}
			if (thr[t].child > 0)
				kill(thr[t].child, SIGKILL);
			_exit(4);
		}
	} while (done < cfg.threads);
}

/* @n pages of private anonymous memory followed by a PROT_NONE guard. */
static unsigned char *guarded(unsigned long n)
{
	unsigned char *p = mmap(NULL, (n + 1) * PG, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	mprotect(p + n * PG, PG, PROT_NONE);
	return p;
}

/* The private region, 2 MiB aligned: THP allowed in its first half. */
static char *map_region(unsigned long n)
{
	unsigned long len = n * PG, align = 2UL << 20;
	char *p = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + align - 1) & ~(align - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + len, p + align - a);
	madvise(a, len / 2, MADV_HUGEPAGE);
	madvise(a + len / 2, len - len / 2, MADV_NOHUGEPAGE);
	return a;
}

static void final_check(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p, n, i;
	int ret;

	/* Every page, through the device, then by CPU (threads are gone). */
	for (p = 0; p < npages_all; p += n) {
		n = npages_all - p < MAX_RANGE ? npages_all - p : MAX_RANGE;
		if (p < cfg.np && p + n > cfg.np)
			n = cfg.np - p;
		ret = do_ioctl(OP_READ, fd_a, p, n, t->buf, &cmd);
		if (!judge(OP_READ, ret, opd[OP_READ].stable, cfg.dev_a, p, n,
			   "final, quiet"))
			continue;
		if (ret)
			continue;
		for (i = 0; i < n; i++)
			check_own("final read", p + i, t->buf + i * PG);
	}
	for (p = 0; p < npages_all; p++)
		check_own("final cpu verify", p, page_addr(p));
	__atomic_add_fetch(&ws->pages_checked, 2 * npages_all,
			   __ATOMIC_RELAXED);
}

static int open_or_fail(int dev)
{
	int fd;

	if (dev < 0)
		return -1;
	fd = dmirror_open_dev(dev);
	if (fd < 0)
		fail("open of /dev/hmm_dmirror%d: %s", dev, strerror(errno));
	return fd;
}

static int worker(unsigned int id)
{
	struct thr thr[MAX_THREADS];
	struct sigaction sa = { 0 };
	unsigned long p, i;
	unsigned int t;

	proc_id = id;
	ws = &ws_all[id];
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	nstripes = cfg.np / STRIPE_PAGES;
	npages_all = cfg.np + cfg.threads * SHARED_PAGES;
	priv = map_region(cfg.np);
	shr = mmap(NULL, cfg.threads * SHARED_PAGES * PG,
		   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	meta = mmap(NULL, npages_all * sizeof(*meta), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	stripes = mmap(NULL, nstripes * sizeof(*stripes),
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (!priv || shr == MAP_FAILED || meta == MAP_FAILED ||
	    stripes == MAP_FAILED) {
		fail("cannot map %lu pages", npages_all);
		return 1;
	}
	/* Generation 1 everywhere. */
	for (p = 0; p < npages_all; p++) {
		fill_page(page_addr(p), p, 1);
		meta[p].gmax = 1;
		meta[p].exp = 1;
		meta[p].alt = NOALT;
	}

	fd_a = open_or_fail(cfg.dev_a);
	fd_b = open_or_fail(cfg.dev_b);
	fd_x = cfg.dev_x >= 0 ? dmirror_open_dev(cfg.dev_x) : -1;
	if (fd_a < 0 || fd_b < 0)
		return 1;

	memset(thr, 0, sizeof(thr));
	for (t = 0; t < cfg.threads; t++) {
		thr[t].id = t;
		thr[t].rng = (cfg.seed ^ (0x9e3779b97f4a7c15ULL * (id * MAX_THREADS + t + 1))) | 1;
		thr[t].dev_own = cfg.dev_a;
		thr[t].fd_own = open_or_fail(cfg.dev_a);
		thr[t].buf = guarded(MAX_RANGE);
		thr[t].wbuf = guarded(MAX_RANGE);
		if (thr[t].fd_own < 0 || !thr[t].buf || !thr[t].wbuf) {
			fail("thread %u setup", t);
			return 1;
		}
	}
	cur = &thr[0];
	for (t = 0; t < cfg.threads; t++)
		if (pthread_create(&thr[t].tid, NULL, thread_main, &thr[t])) {
			fail("pthread_create");
			__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
			cfg.threads = t;
			break;
		}
	watch_threads(thr);
	for (t = 0; t < cfg.threads; t++)
		pthread_join(thr[t].tid, NULL);

	cur = &thr[0];
	final_check(&thr[0]);
	for (t = 0; t < cfg.threads; t++)
		close(thr[t].fd_own);
	close(fd_a);
	close(fd_b);
	if (fd_x >= 0)
		close(fd_x);
	for (i = 0; i < nstripes; i++)
		if (stripes[i].prot != ST_RW)
			fail("stripe %lu left in state %u", i, stripes[i].prot);
	return ws->failures ? 1 : 0;
}

/* ---- the main process -------------------------------------------------------------------- */

static long long dev_stat(int dev, const char *name)
{
	return dev < 0 ? 0 : dmirror_dev_stat(dev, name);
}

static void print_stats(struct wstats *sum)
{
	char line[400];
	unsigned int op, e;
	size_t len;

	for (op = 0; op < OP_NR; op++) {
		if (!sum->ops[op])
			continue;
		len = snprintf(line, sizeof(line), "#   %-17s %8llu", opd[op].name,
			       sum->ops[op]);
		for (e = 1; op < OP_NR_IOCTL && e < EB_NR; e++)
			if (sum->err[op][e])
				len += snprintf(line + len, sizeof(line) - len,
						" %s %llu", eb_name[e],
						sum->err[op][e]);
		say("%s", line);
	}
}

/* Run the workers on device @dev (and its sibling); one TAP test. */
/*
 * Judge the errno counts of a run: a soft errno for at most SOFT_MAX_PCT
 * percent of the calls of each kind, and at least MIN_OK successes of each
 * kind the run issued (with all operations on, every kind must be issued).
 */
static bool check_counts(const struct wstats *sum)
{
	unsigned long long calls, soft, ok, need;
	bool all = cfg.opmask == ~0ULL, good = true;
	unsigned int op, pct;

	for (op = 0; op < OP_NR_IOCTL; op++) {
		calls = sum->ops[op];
		ok = sum->err[op][EB_OK];
		soft = sum->err[op][EB_EBUSY] + sum->err[op][EB_ENOMEM];
		if (!calls && !all)
			continue;
		pct = op == OP_EXCL ? SOFT_MAX_PCT_EXCL : SOFT_MAX_PCT;
		if (soft > SOFT_SLACK && soft * 100 > calls * pct) {
			say("# FAIL %s: %llu of %llu calls failed with EBUSY or ENOMEM (%u%% may)",
			    opd[op].name, soft, calls, pct);
			good = false;
		}
		/* With all operations on, each process had to reach it. */
		need = (op == OP_RELEASE ? 1 : MIN_OK) * (all ? cfg.procs : 1);
		/* CHECK_EXCLUSIVE answers with 0 or -EPERM: both count. */
		if (op == OP_CHECK_EXCL)
			ok += sum->err[op][EB_EPERM];
		if (ok < need) {
			say("# FAIL %s: %llu successful calls of %llu, at least %llu required",
			    opd[op].name, ok, calls, need);
			good = false;
		}
	}
	if (!sum->pages_checked) {
		say("# FAIL no page was checked at all");
		good = false;
	}
	return good;
}

static bool run_kind(int num, int dev)
{
	long long cap, ev0, ev1, mig0, mig1, res;
	struct wstats sum = { 0 };
	unsigned long long total = 0;
	unsigned int w, op, e, done = 0;
	pid_t pids[MAX_PROCS];
	double deadline;
	bool good = true, hung = false;
	int status;

	cfg.dev_a = dev;
	cfg.dev_b = dev + 1;
	cfg.dev_x = is_coherent(dev) ? 0 : (dmirror_have_coherent() ? 2 : -1);
	cap = dmirror_dev_stat(dev, "capacity_pages");
	if (cap <= 0) {
		say("# FAIL cannot read capacity_pages of dev%d (%lld)", dev,
		    cap);
		good = false;
	}
	if (cfg.mib) {
		cfg.np = cfg.mib * 256;
	} else if (cap > 0) {
		/* Together a quarter more than the device holds. */
		cfg.np = (unsigned long)cap * 5 / 4 / cfg.procs;
	} else {
		cfg.np = 65536 * 5 / 4 / cfg.procs;
	}
	cfg.np -= cfg.np % (2 * MAX_RANGE);
	if (cfg.np < 2 * MAX_RANGE)
		cfg.np = 2 * MAX_RANGE;
	if (cfg.np + cfg.threads * SHARED_PAGES > MAX_PAGES)
		cfg.np = MAX_PAGES - 2 * MAX_RANGE;

	say("# dev%d (%s) with dev%d and %s, %u s",
	    dev, is_coherent(dev) ? "device-coherent" : "device-private",
	    cfg.dev_b, cfg.dev_x < 0 ? "no other kind" :
	    cfg.dev_x ? "dev2" : "dev0", cfg.duration);
	say("# %u processes x %u threads, %lu pages (%lu MiB) each; device capacity %lld pages",
	    cfg.procs, cfg.threads, cfg.np, cfg.np / 256, cap);
	ev0 = dev_stat(dev, "evicted_pages") + dev_stat(dev + 1, "evicted_pages");
	mig0 = dev_stat(dev, "migrated_to_dev");

	memset(ws_all, 0, MAX_PROCS * sizeof(*ws_all));
	*write_token = 0;
	t_end = now_s() + cfg.duration;
	for (w = 0; w < cfg.procs; w++) {
		pids[w] = fork();
		if (pids[w] < 0) {
			say("# fork: %s", strerror(errno));
			return false;
		}
		if (!pids[w])
			_exit(worker(w));
	}
	deadline = t_end + GRACE_S;
	while (done < cfg.procs) {
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid > 0) {
			for (w = 0; w < cfg.procs; w++)
				if (pids[w] == pid)
					break;
			done++;
			if (w < cfg.procs)
				pids[w] = 0;
			if (!WIFEXITED(status) || WEXITSTATUS(status)) {
				good = false;
				say("# worker %u: %s %d", w,
				    WIFEXITED(status) ? "exit status" :
				    "killed by signal",
				    WIFEXITED(status) ? WEXITSTATUS(status) :
				    WTERMSIG(status));
			}
			continue;
		}
		if (pid < 0 && errno != EINTR)
			break;
		if (now_s() > deadline) {
			for (w = 0; w < cfg.procs; w++) {
				if (!pids[w])
					continue;
				say("# worker %u (pid %d) still running %d s after the end: hung",
				    w, pids[w], GRACE_S);
				kill(pids[w], SIGKILL);
			}
			hung = true;
			good = false;
			break;
		}
		usleep(50000);
	}

	for (w = 0; w < cfg.procs; w++) {
		for (op = 0; op < OP_NR; op++) {
			sum.ops[op] += ws_all[w].ops[op];
			for (e = 0; op < OP_NR_IOCTL && e < EB_NR; e++)
				sum.err[op][e] += ws_all[w].err[op][e];
		}
		sum.pages_checked += ws_all[w].pages_checked;
		sum.failures += ws_all[w].failures;
	}
	if (!hung && !check_counts(&sum))
		good = false;
	if (cfg.verbose || sum.failures || !good)
		print_stats(&sum);
	ev1 = dev_stat(dev, "evicted_pages") + dev_stat(dev + 1, "evicted_pages");
	mig1 = dev_stat(dev, "migrated_to_dev");
	for (op = 0; op < OP_NR; op++)
		total += sum.ops[op];
	say("# %llu operations, %llu pages checked, %lld pages migrated to dev%d, %lld evicted",
	    total, sum.pages_checked, mig1 - mig0, dev, ev1 - ev0);

	/*
	 * Each process's first thread sweeps all of its memory into dev at
	 * the start, and together that is more than dev holds: dev must
	 * have evicted.
	 */
	if (!hung && (cfg.opmask & (1ULL << OP_SWEEP)) && cap > 0 &&
	    (long long)(cfg.np * cfg.procs) > cap && ev1 <= ev0) {
		say("# FAIL %lu pages against %lld per device, %lld to dev%d: no eviction",
		    cfg.np * cfg.procs, cap, mig1 - mig0, dev);
		good = false;
	}

	/* Every process has exited: no device page may be left in use. */
	if (!hung) {
		for (w = 0; w < FREE_STALL_S * 20; w++) {
			long long r0 = dev_stat(dev, "resident_pages");
			long long r1 = dev_stat(dev + 1, "resident_pages");
			long long rx = dev_stat(cfg.dev_x, "resident_pages");

			/* An unreadable counter (-1) counts as in use. */
			res = r0 + r1 + rx;
			if (r0 < 0 || r1 < 0 || rx < 0)
				res = 1;
			if (!res)
				break;
			usleep(50000);
		}
		if (res) {
			say("# FAIL device memory still in use %d s after all exited",
			    FREE_STALL_S);
			say("# pages in use after all exited: dev%d %lld, dev%d %lld, dev%d %lld",
			    dev, dev_stat(dev, "resident_pages"), dev + 1,
			    dev_stat(dev + 1, "resident_pages"), cfg.dev_x,
			    dev_stat(cfg.dev_x, "resident_pages"));
			good = false;
		}
	}
	if (sum.failures)
		good = false;
	say("%sok %d stress dev%d (%s)%s", good ? "" : "not ", num, dev,
	    is_coherent(dev) ? "device-coherent" : "device-private",
	    hung ? " # hung" : "");
	return good;
}

static unsigned long long parse_ops(const char *list)
{
	unsigned long long mask = 0;
	char buf[512], *tok, *save;
	unsigned int op;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (op = 0; op < OP_NR; op++)
			if (!strcmp(tok, opd[op].name))
				break;
		if (op == OP_NR) {
			fprintf(stderr, "unknown operation '%s'\n", tok);
			exit(2);
		}
		mask |= 1ULL << op;
	}
	return mask;
}

static void help(const char *prog)
{
	unsigned int op;

	fprintf(stderr,
		"usage: %s [-d seconds] [-t threads] [-p processes] [-D dev] [-s seed]\n"
		"          [-m MiB per process] [-o op,op,...] [-F prio] [-v]\n"
		"  -D 0|2   device-private (0, with 1) or device-coherent (2, with 3);\n"
		"           default: both kinds present\n"
		"  -m       private memory per process; default: the processes together\n"
		"           use a quarter more than the device holds\n"
		"  -F       SCHED_FIFO: thread i at priority prio + i, the watchdogs\n"
		"           above them (prio + threads at most %d)\n"
		"  -o       only these operations:", prog, MAX_FIFO);
	for (op = 0; op < OP_NR; op++)
		fprintf(stderr, " %s", opd[op].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int opt, dev = -1, devs[2], ndev = 0, i;
	bool seeded = false, good = true;

	while ((opt = getopt(argc, argv, "d:t:p:D:s:m:o:F:vh")) != -1) {
		switch (opt) {
		case 'd':
			cfg.duration = strtoul(optarg, NULL, 0);
			break;
		case 't':
			cfg.threads = strtoul(optarg, NULL, 0);
			break;
		case 'p':
			cfg.procs = strtoul(optarg, NULL, 0);
			break;
		case 'D':
			dev = strtol(optarg, NULL, 0);
			break;
		case 's':
			cfg.seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		case 'm':
			cfg.mib = strtoul(optarg, NULL, 0);
			break;
		case 'o':
			cfg.opmask = parse_ops(optarg);
			break;
		case 'F':
			cfg.fifo = strtoul(optarg, NULL, 0);
			break;
		case 'v':
			cfg.verbose = 1;
			break;
		default:
			help(argv[0]);
		}
	}
	if (!cfg.threads || cfg.threads > MAX_THREADS || !cfg.procs ||
	    cfg.procs > MAX_PROCS || (dev != -1 && dev != 0 && dev != 2) ||
	    cfg.fifo + cfg.threads > MAX_FIFO)
		help(argv[0]);
	if (!seeded)
		cfg.seed = (unsigned long long)time(NULL) ^
			   ((unsigned long long)getpid() << 32);

	if (dev >= 0) {
		devs[ndev++] = dev;
	} else {
		devs[ndev++] = 0;
		if (dmirror_have_coherent())
			devs[ndev++] = 2;
	}
	ws_all = mmap(NULL, MAX_PROCS * sizeof(*ws_all),
		      PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	write_token = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ws_all == MAP_FAILED || write_token == MAP_FAILED)
		return 1;
	setvbuf(stdout, NULL, _IONBF, 0);
	i = cfg.fifo ? set_fifo(cfg.fifo + cfg.threads) : 0;
	if (i) {
		/* Root may; without the privilege, this mode cannot run. */
		printf("SCHED_FIFO priority %u: %s\n", cfg.fifo + cfg.threads,
		       strerror(i));
		return 1;
	}
	say("TAP version 13");
	say("1..%d", ndev);
	say("# dmirror_stress -d %u -t %u -p %u -F %u -s %#llx%s (replay with this seed)",
	    cfg.duration, cfg.threads, cfg.procs, cfg.fifo, cfg.seed,
	    cfg.opmask != ~0ULL ? " -o ..." : "");
	for (i = 0; i < ndev; i++) {
		int fd = dmirror_open_dev(devs[i]);

		if (fd < 0) {
			/* The module made the device: it must open. */
			say("not ok %d stress dev%d # cannot open /dev/hmm_dmirror%d: %s",
			    i + 1, devs[i], devs[i], strerror(errno));
			good = false;
			continue;
		}
		close(fd);
		if (!run_kind(i + 1, devs[i]))
			good = false;
	}
	return good ? 0 : 1;
}
