// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_stress: the model: the state of a worker process, random
 * numbers, page patterns and their checks, and the stripes' mapping
 * sequence counts.
 */
#include "dmirror_stress.h"

/* ---- state and tables ------------------------------------------------- */

const char * const eb_name[EB_NR] = {
	"0", "EFAULT", "EINVAL", "EPERM", "ENOENT", "EBUSY", "ENOMEM",
	"EINTR", "EOPNOTSUPP", "ENOTTY", "other"
};

/* The errno class of an ioctl return value. */
unsigned int eb_of(int ret)
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

const struct opdesc opd[OP_NR] = {
	[OP_READ] = { "read", HMM_DMIRROR_READ,
		B(EB_OK) | B(EB_EFAULT) | SOFT, B(EB_OK) | SOFT, 10,
		B(EB_ENOMEM), true },
	[OP_READ_UNLOCKED] = { "read_unlocked", HMM_DMIRROR_READ_UNLOCKED,
		B(EB_OK) | B(EB_EFAULT) | B(EB_ENOMEM),
		B(EB_OK) | B(EB_ENOMEM), 3, B(EB_ENOMEM), true },
	[OP_WRITE] = { "write", HMM_DMIRROR_WRITE,
		B(EB_OK) | B(EB_EFAULT) | B(EB_EPERM) | SOFT,
		B(EB_OK) | SOFT, 0, B(EB_ENOMEM), true },
	[OP_TO_DEV] = { "migrate_to_dev", HMM_DMIRROR_MIGRATE_TO_DEV,
		B(EB_OK) | B(EB_EINVAL) | B(EB_ENOENT) | B(EB_ENOMEM),
		B(EB_OK) | B(EB_ENOENT) | B(EB_ENOMEM), 14,
		B(EB_ENOMEM) | B(EB_EINVAL) },
	[OP_TO_SYS] = { "migrate_to_sys", HMM_DMIRROR_MIGRATE_TO_SYS,
		B(EB_OK) | B(EB_EINVAL) | B(EB_ENOMEM),
		B(EB_OK) | B(EB_ENOMEM), 6, B(EB_EINVAL) },
	[OP_SNAPSHOT] = { "snapshot", HMM_DMIRROR_SNAPSHOT,
		B(EB_OK) | SOFT, B(EB_OK) | SOFT, 6, B(EB_ENOMEM) },
	[OP_EXCL] = { "exclusive", HMM_DMIRROR_EXCLUSIVE,
		B(EB_OK) | B(EB_EFAULT) | B(EB_EOPNOTSUPP) | B(EB_ENOENT) |
		SOFT, B(EB_OK) | B(EB_ENOENT) | SOFT, 5, B(EB_ENOMEM), true },
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
	[OP_PEER] = { "peer", 0, 0, 0, 2 },	/* -P only */
};

struct cfg cfg = {
	.duration = 30, .threads = 3, .procs = 2,
	.dev_a = -1, .dev_b = -1, .dev_x = -1,
	.opmask = ~0ULL,
};

/* Per worker process (set before its threads start). */
char *priv;
char *shr;
struct pmeta *meta;
struct stripe *stripes;
unsigned long nstripes;
unsigned long npages_all;	/* private + shared */
int fd_a = -1, fd_b = -1, fd_x = -1;
unsigned int proc_id;
struct wstats *ws;
struct wstats *ws_all;
unsigned int *write_token;	/* shared by all workers */
double t_end;
unsigned long long last_release_ms;
int stop;
pthread_rwlock_t peer_lock;
__thread struct thr *cur;
__thread sigjmp_buf probe_jmp;
__thread int probing;
int in_child;
unsigned int child_failures;

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

unsigned long rnd_below(struct thr *t, unsigned long n)
{
	return n ? rnd(t) % n : 0;
}

/* Count a failure; print the first MAX_MSGS of this process. */
void fail(const char *fmt, ...)
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

void count_op(unsigned int op)
{
	__atomic_add_fetch(&ws->ops[op], 1, __ATOMIC_RELAXED);
}

/* The errno classes -I adds to @op wherever it is judged. */
unsigned int inj_set(unsigned int op)
{
	return opd[op].inj | (opd[op].faults ? cfg.inj_fault : 0);
}

/* Successes of ioctl @op each process needs (MIN_OK). */
unsigned int min_ok(unsigned int op)
{
	if (op != OP_RELEASE)
		return MIN_OK;
	return cfg.inject ? 0 : 1;
}

char *page_addr(unsigned long p)
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

void fill_page(void *dst, unsigned long p, unsigned int gen)
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
bool check_own(const char *what, unsigned long p, const void *data)
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
bool check_pages(const char *what, unsigned long p0, unsigned long n,
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

void stripe_begin(unsigned long s)
{
	__atomic_add_fetch(&stripes[s].seq, 1, __ATOMIC_SEQ_CST);
}

void stripe_end(unsigned long s, unsigned int prot)
{
	__atomic_store_n(&stripes[s].prot, prot, __ATOMIC_RELEASE);
	__atomic_add_fetch(&stripes[s].seq, 1, __ATOMIC_SEQ_CST);
}

void stab_begin(struct stab *st, unsigned long p0, unsigned long n)
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
bool stab_end(struct stab *st)
{
	unsigned long i;

	for (i = 0; i < st->ns; i++)
		if (__atomic_load_n(&stripes[st->s0 + i].seq,
				    __ATOMIC_ACQUIRE) != st->seq[i])
			return false;
	return st->rw;
}
