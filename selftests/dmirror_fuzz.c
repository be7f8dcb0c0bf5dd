// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_fuzz: random hmm_dmirror ioctls for a bounded time.
 *
 * Every call gets a random ioctl number (the ten the header defines, the
 * same numbers with a wrong size or direction, unknown numbers of our
 * type and of other types), a random command block location (valid,
 * read-only, partly unreadable, NULL, kernel, unmapped) and random fields:
 * addresses aligned or not, in an arena of private, read-only, PROT_NONE,
 * unmapped, shared, file, hugetlb and THP memory, in the fuzzer's own
 * memory, in the vDSO, at NULL, near and past the end of the user address
 * space and in the kernel; page counts of 0, 1, small, large, exactly up
 * to the end of the address space and overflowing; data pointers valid,
 * short, unaligned, read-only, unmapped, NULL and kernel.
 *
 * What must hold, per call: the result is 0 or an errno the header
 * documents for that ioctl, and exactly the one it prescribes where the
 * rules decide (-ENOTTY for an unknown number, -EFAULT for an unreadable
 * block, -EPERM from another mm, -EINVAL for a bad range); a call that
 * must copy more than the data pointer allows does not succeed; a failed
 * call leaves the block alone and a successful one returns it with the
 * page counts the header gives. Meanwhile a second thread changes part of
 * the arena and closes and reopens a descriptor the fuzzer is using, a
 * child issues commands on inherited descriptors, and descriptors of an
 * exited process are used. The fuzzing process must never die by a signal
 * (its own memory, migrated and made exclusive at random, is checked),
 * and when it is gone no device memory may be left in use. Over the run,
 * one valid call of each ioctl must succeed, -EBUSY and -ENOMEM stay rare
 * (SOFT_MAX_PCT), and -EINTR is never accepted (no signal is handled).
 * The kernel's health is judged by the runner from the console.
 *
 * The fuzzer never lets WRITE reach memory outside its arena: ranges that
 * start in the arena and go past its end cross an unmapped gap, which the
 * module rejects before writing anything.
 *
 * Usage: dmirror_fuzz [-d seconds] [-s seed] [-v]. Output: TAP.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "dmirror_test_util.h"

/* End of the user address space (x86-64): set by probe_task_end(). */
static unsigned long TASK_END = 0x7ffffffff000UL;
#define OUT_PAGES	256UL
#define MAX_MSGS	30
/* EBUSY/ENOMEM calls shown without -v (they are counted, not failures) */
#define MAX_SOFT_MSGS	10
#define CHURN_FD	200
#define SENTINEL	0x5a5a5a5a5a5a5a5aULL
#define NDEV		4
#define CANARY_WORDS	8192

enum { EB_OK, EB_EFAULT, EB_EINVAL, EB_EPERM, EB_ENOENT, EB_EBUSY,
	EB_ENOMEM, EB_EINTR, EB_EOPNOTSUPP, EB_ENOTTY, EB_EBADF, EB_OTHER,
	EB_NR };

#define B(x)	(1U << (x))

static const char * const eb_name[EB_NR] = {
	"0", "EFAULT", "EINVAL", "EPERM", "ENOENT", "EBUSY", "ENOMEM",
	"EINTR", "EOPNOTSUPP", "ENOTTY", "EBADF", "other"
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
	case EBADF: return EB_EBADF;
	}
	return EB_OTHER;
}

/* What the header allows each defined ioctl, range rules aside. */
struct known {
	const char *name;
	unsigned long req;
	unsigned int doc;
	int out;	/* 1: copies npages pages to ptr, 2: npages bytes */
	bool in;	/* copies npages pages from ptr */
};

#define COMMON	(B(EB_ENOMEM))

/*
 * -EBUSY and -ENOMEM are allowed, but only rarely: of the calls of one
 * kind that got past the argument checks (they succeeded or failed with
 * one of these two), at most SOFT_MAX_PCT percent may fail so, beyond
 * SOFT_SLACK calls (a short run under emulation makes few calls of a
 * kind). A 7.3 run sees none; a module that fails every READ with -EBUSY
 * fails. Random calls succeed too rarely to require a number of
 * successes: one valid call of each kind, which must succeed, opens the
 * run instead (sane_calls()).
 */
#define SOFT_MAX_PCT	10
#define SOFT_SLACK	2
/* Device memory is freed asynchronously: a bound that only catches a stall. */
#define FREE_STALL_S	30

static const struct known known[] = {
	{ "READ", HMM_DMIRROR_READ,
	  B(EB_OK) | B(EB_EFAULT) | B(EB_EBUSY) | COMMON, 1, false },
	{ "WRITE", HMM_DMIRROR_WRITE,
	  B(EB_OK) | B(EB_EFAULT) | B(EB_EPERM) | B(EB_EBUSY) | COMMON, 0,
	  true },
	{ "MIGRATE_TO_DEV", HMM_DMIRROR_MIGRATE_TO_DEV,
	  B(EB_OK) | B(EB_EINVAL) | B(EB_ENOENT) | B(EB_EFAULT) | COMMON, 1,
	  false },
	{ "MIGRATE_TO_SYS", HMM_DMIRROR_MIGRATE_TO_SYS,
	  B(EB_OK) | B(EB_EINVAL) | COMMON, 0, false },
	{ "SNAPSHOT", HMM_DMIRROR_SNAPSHOT,
	  B(EB_OK) | B(EB_EFAULT) | B(EB_EBUSY) | COMMON, 2, false },
	{ "EXCLUSIVE", HMM_DMIRROR_EXCLUSIVE,
	  B(EB_OK) | B(EB_EFAULT) | B(EB_EOPNOTSUPP) | B(EB_EBUSY) |
	  B(EB_ENOENT) | COMMON, 1, false },
	{ "CHECK_EXCLUSIVE", HMM_DMIRROR_CHECK_EXCLUSIVE,
	  B(EB_OK) | B(EB_EPERM), 0, false },
	{ "RELEASE", HMM_DMIRROR_RELEASE, B(EB_OK) | B(EB_EBUSY), 0, false },
	{ "FLAGS", HMM_DMIRROR_FLAGS, B(EB_OK) | B(EB_EINVAL), 0, false },
	{ "READ_UNLOCKED", HMM_DMIRROR_READ_UNLOCKED,
	  B(EB_OK) | B(EB_EFAULT) | COMMON, 1, false },
};

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif
#define NKNOWN	ARRAY_SIZE(known)

/* Arena parts; each is followed by a one-page gap. */
enum { A_RW, A_RO, A_NONE, A_HOLE, A_SHARED, A_MEMFD_SH, A_MEMFD_PRIV,
	A_THP, A_HUGETLB, A_CHURN, A_NR };

static const char * const a_name[A_NR] = {
	"rw", "ro", "none", "hole", "shared", "memfd-shared", "memfd-private",
	"thp", "hugetlb", "churn"
};

static const unsigned long a_pages[A_NR] = {
	64, 16, 16, 16, 16, 16, 16, 1024, 512, 64
};

struct part {
	char *start;
	unsigned long pages;
	bool present;
};

/* Capacity of each device in pages (debugfs), read once at the start. */
static long long dev_capacity[4];

/*
 * Whether @npages is more than device @dev holds; for a descriptor whose
 * device is not known (-1, the churned one), more than any device holds.
 */
static bool over_capacity(int dev, unsigned long long npages)
{
	bool known_cap = false;
	int i;

	if (dev >= 0 && dev < 4)
		return dev_capacity[dev] > 0 &&
		       npages > (unsigned long long)dev_capacity[dev];
	for (i = 0; i < 4; i++) {
		if (dev_capacity[i] <= 0)
			continue;
		if (npages <= (unsigned long long)dev_capacity[i])
			return false;
		known_cap = true;
	}
	return known_cap;
}

/* Results, in memory shared with the main process. */
struct res {
	unsigned long long calls;
	unsigned long long err[NKNOWN + 1][EB_NR];
	/* -ENOMEM of MIGRATE_TO_DEV for more pages than the device holds */
	unsigned long long over_cap;
	unsigned long long failures;
	unsigned long long foreign, exited, churn_calls, churn_ops;
	unsigned int msgs, soft_msgs;
	unsigned int fail_cls[6];
};

enum { F_ERRNO, F_BLOCK, F_FOREIGN, F_EXITED, F_CHURN, F_CANARY };

static const char * const f_name[6] = {
	"every result documented, and exact where the rules decide",
	"command block copied back only on success, with page counts",
	"descriptors inherited by a child: ENOTTY, EFAULT or EPERM only",
	"descriptors of an exited process: ENOTTY, EFAULT or EPERM only",
	"ioctls racing close(), munmap() and mprotect() of their range",
	"the fuzzer's own memory intact after it was migrated at random",
};

static struct res *res;
static unsigned int duration = 10;
static unsigned long long seed;
static int verbose;
static struct part part[A_NR];
static char *arena, *arena_end;
static unsigned char *outbuf, *robuf, *blockpg, *ropg;
static int fds[NDEV], ndevs;
static int devid[NDEV];
static int churn_stop;
static unsigned long long rng;
static unsigned long long canary[CANARY_WORDS];
static unsigned long long canary_sum;
static bool in_child;

static unsigned long long rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static unsigned long rnd_below(unsigned long n)
{
	return n ? rnd() % n : 0;
}

static void fail(unsigned int cls, const char *fmt, ...)
{
	char msg[480];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	__atomic_add_fetch(&res->failures, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&res->fail_cls[cls], 1, __ATOMIC_RELAXED);
	if (__atomic_fetch_add(&res->msgs, 1, __ATOMIC_RELAXED) < MAX_MSGS)
		say("# FAIL%s: %s", in_child ? " (child)" : "", msg);
}

static bool mapped(const void *addr, unsigned long len)
{
	unsigned char vec[64];
	uintptr_t a = (uintptr_t)addr & ~(PG - 1);

	len = ((uintptr_t)addr + len - a + PG - 1) / PG;
	while (len) {
		unsigned long n = len < 64 ? len : 64;

		if (mincore((void *)a, n * PG, vec))
			return false;
		a += n * PG;
		len -= n;
	}
	return true;
}

/* ---- the arena --------------------------------------------------------- */

static void fill(void *p, unsigned long len, unsigned long long tag)
{
	unsigned long long *w = p;
	unsigned long i;

	for (i = 0; i < len / sizeof(*w); i++)
		w[i] = tag ^ (i * 0x9e3779b97f4a7c15ULL);
}

static bool setup_arena(void)
{
	unsigned long total = 0, off, i;
	int mfd;

	for (i = 0; i < A_NR; i++)
		total += a_pages[i] + 1;
	/* 2 MiB alignment for THP and hugetlb parts. */
	total += 1024;
	arena = mmap(NULL, total * PG, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (arena == MAP_FAILED)
		return false;
	arena_end = arena + total * PG;
	mfd = memfd_create("dmirror_fuzz", 0);
	if (mfd < 0 || ftruncate(mfd, 64 * PG))
		return false;

	off = 0;
	for (i = 0; i < A_NR; i++) {
		char *want, *p;
		int prot = PROT_READ | PROT_WRITE;
		int flags = MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS;
		int fd = -1;
		off_t foff = 0;

		want = arena + off * PG;
		if (i == A_THP || i == A_HUGETLB)
			want = (char *)(((uintptr_t)want + (2UL << 20) - 1) &
					~((2UL << 20) - 1));
		part[i].start = want;
		part[i].pages = a_pages[i];
		off = (want - arena) / PG + a_pages[i] + 1;
		switch (i) {
		case A_RO:
			prot = PROT_READ;
			break;
		case A_NONE:
			prot = PROT_NONE;
			break;
		case A_HOLE:
			munmap(want, a_pages[i] * PG);
			continue;
		case A_SHARED:
			flags = MAP_FIXED | MAP_SHARED | MAP_ANONYMOUS;
			break;
		case A_MEMFD_SH:
			flags = MAP_FIXED | MAP_SHARED;
			fd = mfd;
			break;
		case A_MEMFD_PRIV:
			flags = MAP_FIXED | MAP_PRIVATE;
			fd = mfd;
			foff = 32 * PG;
			break;
		case A_HUGETLB:
			flags |= MAP_HUGETLB;
			break;
		}
		p = mmap(want, a_pages[i] * PG, prot, flags, fd, foff);
		if (p != want) {
			if (i == A_HUGETLB) {
				/* No huge page: leave it PROT_NONE. */
				continue;
			}
			return false;
		}
		part[i].present = true;
		if (i == A_THP)
			madvise(p, a_pages[i] * PG, MADV_HUGEPAGE);
		if (prot & PROT_WRITE)
			fill(p, a_pages[i] * PG / 2, i);
		/* The gap after the part, unmapped for good. */
		munmap(want + a_pages[i] * PG, PG);
	}
	/* Unmap what is left of the reservation between parts. */
	close(mfd);
	return true;
}

/* ---- random fields ------------------------------------------------------ */

struct call {
	unsigned long req;
	int k;			/* index in known[] or -1 */
	int fd, dev;
	unsigned long long addr, ptr, npages;
	struct hmm_dmirror_cmd *blk;
	int blk_cls;		/* 0 ok, 1 read-only, 2 unreadable */
	long avail;		/* bytes usable at ptr, -1 unknown */
	char acls[32], pcls[32];
};

/* Types the VFS handles itself before the driver sees the call. */
static bool vfs_type(unsigned int type)
{
	return type == 'T' || type == 'X' || type == 'f' || type == 0x94 ||
	       type == 0x15 || type == 0;
}

static void pick_req(struct call *c)
{
	unsigned int r = rnd_below(100), dir, type, nr, size;

	c->k = -1;
	if (r < 75) {
		c->k = rnd_below(NKNOWN);
		c->req = known[c->k].req;
		return;
	}
	dir = rnd_below(4);
	type = 'H';
	nr = rnd_below(NKNOWN);
	size = sizeof(struct hmm_dmirror_cmd);
	if (r < 85) {
		/* Right number, wrong size or direction. */
		do {
			dir = rnd_below(4);
			size = rnd_below(3) ? rnd_below(0x4000) :
			       sizeof(struct hmm_dmirror_cmd) +
			       rnd_below(3) - 1;
		} while (dir == (_IOC_READ | _IOC_WRITE) &&
			 size == sizeof(struct hmm_dmirror_cmd));
	} else if (r < 92) {
		nr = NKNOWN + rnd_below(256 - NKNOWN);
		dir = _IOC_READ | _IOC_WRITE;
	} else {
		do {
			type = rnd_below(256);
		} while (vfs_type(type) || type == 'H');
		nr = rnd_below(256);
		size = rnd_below(0x4000);
	}
	c->req = _IOC(dir, type, nr, size);
}

/* An address class; sets the usable length for WRITE targets. */
static unsigned long long pick_addr(struct call *c, bool writes)
{
	unsigned int r = rnd_below(100);
	struct part *p;
	unsigned long long a;
	const char *name;

	if (r < 55) {
		p = &part[rnd_below(A_NR)];
		a = (uintptr_t)p->start + rnd_below(p->pages + 1) * PG;
		name = a_name[p - part];
		if (rnd_below(10) == 0)
			a += 1 + rnd_below(PG - 1);
	} else if (r < 60) {
		a = 0;
		name = "NULL";
	} else if (r < 65) {
		a = rnd_below(16) * PG;
		name = "low";
	} else if (r < 72) {
		a = TASK_END - rnd_below(4) * PG;
		name = "top";
	} else if (r < 74) {
		a = 0x7ffffffff000UL + PG * rnd_below(3);
		name = "2^47";
	} else if (r < 76) {
		a = TASK_END + PG * rnd_below(3);
		name = "past top";
	} else if (r < 80) {
		a = rnd_below(2) ? 0xffff888000000000ULL :
		    0xffffffff81000000ULL;
		name = "kernel";
	} else if (r < 84) {
		a = getauxval(AT_SYSINFO_EHDR) - rnd_below(5) * PG;
		name = "vdso";
	} else if (r < 92 && !writes) {
		/* Our own memory: stack, data, heap, text. */
		switch (rnd_below(4)) {
		case 0:
			a = (uintptr_t)&r & ~(PG - 1);
			break;
		case 1:
			a = (uintptr_t)canary & ~(PG - 1);
			break;
		case 2:
			a = (uintptr_t)res & ~(PG - 1);
			break;
		default:
			a = (uintptr_t)pick_addr & ~(PG - 1);
			break;
		}
		a += (rnd_below(33) - 16) * PG;
		name = "self";
	} else {
		a = rnd() & 0x7ffffffff000ULL;
		if (writes && mapped((void *)(uintptr_t)a, PG))
			a = 0;
		name = "random";
	}
	snprintf(c->acls, sizeof(c->acls), "%s", name);
	return a;
}

static unsigned long long pick_npages(unsigned long long addr)
{
	unsigned int r = rnd_below(100);
	unsigned long long room;

	room = addr < TASK_END ? (TASK_END - (addr & ~(PG - 1))) / PG : 0;
	if (r < 8)
		return 0;
	if (r < 30)
		return 1;
	if (r < 60)
		return 1 + rnd_below(64);
	if (r < 70)
		return 1 + rnd_below(2048);
	if (r < 75)
		return room;
	if (r < 80)
		return room + 1;
	if (r < 85)
		return 1ULL << (40 + rnd_below(24));
	if (r < 90)
		return ~0ULL - rnd_below(4);
	if (r < 95)
		return (~0ULL >> 12) + rnd_below(3);
	return rnd();
}

/* The data pointer: sets c->avail, bytes usable from it. */
static unsigned long long pick_ptr(struct call *c, bool in)
{
	unsigned int r = rnd_below(100);
	unsigned long long ptr;
	unsigned long off;

	if (r < 50) {
		off = rnd_below(4) ? 0 : rnd_below(OUT_PAGES * PG);
		c->avail = OUT_PAGES * PG - off;
		snprintf(c->pcls, sizeof(c->pcls), "out+%lu", off);
		return (uintptr_t)outbuf + off;
	}
	if (r < 60) {
		c->avail = in ? (long)(16 * PG) : 0;
		snprintf(c->pcls, sizeof(c->pcls), "read-only");
		return (uintptr_t)robuf;
	}
	c->avail = 0;
	if (r < 70) {
		snprintf(c->pcls, sizeof(c->pcls), "NULL");
		return 0;
	}
	if (r < 78) {
		snprintf(c->pcls, sizeof(c->pcls), "kernel");
		return 0xffff888000000000ULL + rnd_below(1 << 20) * 8;
	}
	if (r < 86) {
		snprintf(c->pcls, sizeof(c->pcls), "unmapped");
		return (uintptr_t)part[A_HOLE].start + rnd_below(PG);
	}
	if (r < 93 && !in) {
		snprintf(c->pcls, sizeof(c->pcls), "arena");
		c->avail = -1;
		return (uintptr_t)part[A_RW].start + rnd_below(PG);
	}
	snprintf(c->pcls, sizeof(c->pcls), "random");
	c->avail = -1;
	ptr = rnd();
	/* Never let a call write our own memory by chance. */
	if (mapped((void *)(uintptr_t)ptr, 1))
		ptr = 0;
	return ptr;
}

/*
 * Where the command block lives: a valid one (class 0), one in a
 * read-only page (1), or one the kernel cannot read in full (2).
 */
static struct hmm_dmirror_cmd *pick_block(struct call *c,
					  struct hmm_dmirror_cmd *cmd)
{
	unsigned int r = rnd_below(100);
	unsigned long off;

	c->blk_cls = 0;
	if (r < 80) {
		off = rnd_below(PG - sizeof(*cmd));
		c->blk = (struct hmm_dmirror_cmd *)(blockpg + off);
		memcpy(c->blk, cmd, sizeof(*cmd));
		return c->blk;
	}
	if (r < 88) {
		c->blk_cls = 1;
		off = rnd_below(PG - sizeof(*cmd));
		mprotect(ropg, PG, PROT_READ | PROT_WRITE);
		memcpy(ropg + off, cmd, sizeof(*cmd));
		mprotect(ropg, PG, PROT_READ);
		c->blk = (struct hmm_dmirror_cmd *)(ropg + off);
		return c->blk;
	}
	c->blk_cls = 2;
	switch (rnd_below(4)) {
	case 0:
		c->blk = NULL;
		break;
	case 1:
		c->blk = (struct hmm_dmirror_cmd *)0xffff888000001000ULL;
		break;
	case 2:
		c->blk = (struct hmm_dmirror_cmd *)part[A_HOLE].start;
		break;
	default:
		/* Straddles the end of the block page into its guard. */
		off = PG - 1 - rnd_below(sizeof(*cmd) - 1);
		memcpy(blockpg + off, cmd, PG - off);
		c->blk = (struct hmm_dmirror_cmd *)(blockpg + off);
		break;
	}
	return c->blk;
}

/* ---- one call ------------------------------------------------------------- */

static bool range_ok(unsigned long long addr, unsigned long long npages)
{
	if (addr & (PG - 1))
		return false;
	if (!npages || addr >= TASK_END)
		return false;
	return npages <= (TASK_END - addr) / PG;
}

/*
 * The errnos the call may return. @foreign: issued from an mm the file
 * is not bound to.
 */
static unsigned int allowed(const struct call *c, bool foreign,
			    unsigned int *cls)
{
	const struct known *k;
	unsigned long long need;
	unsigned int set;

	*cls = F_ERRNO;
	if (c->k < 0)
		return B(EB_ENOTTY);
	if (c->blk_cls == 2)
		return B(EB_EFAULT);
	if (foreign)
		return B(EB_EPERM);
	k = &known[c->k];
	if (k->req == HMM_DMIRROR_FLAGS) {
		if (c->addr & (PG - 1))
			return B(EB_EINVAL);
		if (c->npages & ~HMM_DMIRROR_FLAG_FAIL_ALLOC)
			return B(EB_EINVAL);
		/*
		 * Whether the range rule applies to FLAGS, whose npages is
		 * not a page count, the header leaves open: accept both.
		 */
		set = c->blk_cls ? B(EB_EFAULT) : B(EB_OK);
		if (!range_ok(c->addr, 1))
			set |= B(EB_EINVAL);
		return set;
	}
	if (!range_ok(c->addr, c->npages))
		return B(EB_EINVAL);
	set = k->doc;
	/* A block the kernel cannot write back: never success. */
	if (c->blk_cls == 1)
		set = (set & ~B(EB_OK)) | B(EB_EFAULT);
	/* More to copy than the pointer allows: never success. */
	if (c->avail >= 0) {
		need = k->out == 2 ? c->npages :
		       (k->out || k->in) ? c->npages * PG : 0;
		if ((k->out || k->in) &&
		    (c->npages > (1ULL << 40) || need > (unsigned long long)c->avail))
			set &= ~B(EB_OK);
	}
	return set;
}

static void explain(char *buf, size_t len, const struct call *c)
{
	snprintf(buf, len,
		 "%s (%#lx) dev%d addr %#llx [%s] npages %#llx ptr %#llx [%s] block %p [%s]",
		 c->k >= 0 ? known[c->k].name : "unknown", c->req, c->dev,
		 c->addr, c->acls, c->npages, c->ptr, c->pcls, (void *)c->blk,
		 c->blk_cls == 0 ? "ok" : c->blk_cls == 1 ? "read-only" :
		 "unreadable");
}

static void set_name(char *buf, unsigned int set)
{
	unsigned int e;

	buf[0] = 0;
	for (e = 0; e < EB_NR; e++)
		if (set & B(e))
			sprintf(buf + strlen(buf), "%s%s", buf[0] ? " " : "",
				eb_name[e]);
}

/*
 * Make and issue one random call on @fd; check the result. @extra:
 * errnos also allowed (EBADF for the descriptor being closed).
 */
static void one_call(int fd, int dev, bool foreign, unsigned int extra,
		     unsigned int fcls)
{
	struct hmm_dmirror_cmd cmd, after;
	char what[400], set[160];
	unsigned int ok, cls;
	struct call c = { 0 };
	bool writes;
	int ret;

	pick_req(&c);
	c.fd = fd;
	c.dev = dev;
	writes = c.k >= 0 && known[c.k].req == HMM_DMIRROR_WRITE;
	c.addr = pick_addr(&c, writes);
	c.npages = pick_npages(c.addr);
	if (c.k >= 0 && known[c.k].req == HMM_DMIRROR_FLAGS && rnd_below(2))
		c.npages = rnd_below(4);
	c.ptr = pick_ptr(&c, writes);
	cmd.addr = c.addr;
	cmd.ptr = c.ptr;
	cmd.npages = c.npages;
	cmd.cpages = SENTINEL;
	cmd.faults = SENTINEL;
	pick_block(&c, &cmd);

	ret = ioctl(fd, c.req, c.blk) ? -errno : 0;
	__atomic_add_fetch(&res->calls, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&res->err[c.k >= 0 ? c.k : (int)NKNOWN][eb_of(ret)], 1,
			   __ATOMIC_RELAXED);
	/* The documented answer to a request larger than the device. */
	if (ret == -ENOMEM && c.k >= 0 &&
	    known[c.k].req == HMM_DMIRROR_MIGRATE_TO_DEV &&
	    over_capacity(c.dev, c.npages))
		__atomic_add_fetch(&res->over_cap, 1, __ATOMIC_RELAXED);
	else if ((ret == -EBUSY || ret == -ENOMEM) && c.k >= 0 &&
		 (verbose || __atomic_fetch_add(&res->soft_msgs, 1,
						__ATOMIC_RELAXED) < MAX_SOFT_MSGS)) {
		explain(what, sizeof(what), &c);
		say("# soft %s: %s", ret == -EBUSY ? "EBUSY" : "ENOMEM", what);
	}
	/*
	 * No -EINTR: the module returns it only on a fatal signal, and this
	 * process handles no signal at all, so none is accepted.
	 */
	ok = allowed(&c, foreign, &cls) | extra;
	if (!(ok & B(eb_of(ret)))) {
		explain(what, sizeof(what), &c);
		set_name(set, ok);
		fail(fcls == F_ERRNO ? cls : fcls,
		     "%s: returned %d (%s), allowed {%s}",
		     what, ret, eb_name[eb_of(ret)], set);
		return;
	}
	if (c.blk_cls)
		return;
	memcpy(&after, c.blk, sizeof(after));
	if (ret) {
		if (after.addr != c.addr || after.ptr != c.ptr ||
		    after.npages != c.npages || after.cpages != SENTINEL ||
		    after.faults != SENTINEL) {
			explain(what, sizeof(what), &c);
			fail(F_BLOCK, "%s: failed (%d), block changed: cpages %#llx faults %#llx",
			     what, ret, (unsigned long long)after.cpages,
			     (unsigned long long)after.faults);
		}
		return;
	}
	if (c.k < 0 || after.addr != c.addr || after.ptr != c.ptr ||
	    after.npages != c.npages)
		goto bad;
	switch (known[c.k].req) {
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		if (after.cpages > c.npages || after.faults)
			goto bad;
		break;
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
	case HMM_DMIRROR_RELEASE:
	case HMM_DMIRROR_FLAGS:
		if (after.cpages || after.faults)
			goto bad;
		break;
	default:
		if (after.cpages != c.npages)
			goto bad;
		break;
	}
	return;
bad:
	explain(what, sizeof(what), &c);
	fail(F_BLOCK, "%s: success, block %#llx %#llx %#llx cpages %#llx faults %#llx",
	     what, (unsigned long long)after.addr,
	     (unsigned long long)after.ptr, (unsigned long long)after.npages,
	     (unsigned long long)after.cpages,
	     (unsigned long long)after.faults);
}

/* ---- scenarios -------------------------------------------------------------- */

/* A child uses the descriptors it inherited: nothing but -EPERM & co. */
static void foreign_child(void)
{
	int status, i;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return;
	if (!pid) {
		in_child = true;
		rng ^= 0xc0ffee;
		for (i = 0; i < 200; i++) {
			int d = rnd_below(ndevs);

			one_call(fds[d], devid[d], true, 0, F_FOREIGN);
		}
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	__atomic_add_fetch(&res->foreign, 1, __ATOMIC_RELAXED);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail(F_FOREIGN, "foreign child: status %#x", status);
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))], data;
	struct iovec iov = { &data, 1 };
	struct msghdr msg = { 0 };
	struct cmsghdr *cm;
	int fd;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
	return fd;
}

static void send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))], data = 'x';
	struct iovec iov = { &data, 1 };
	struct msghdr msg = { 0 };
	struct cmsghdr *cm;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	if (sendmsg(sock, &msg, 0) != 1)
		_exit(1);
}

/*
 * A child opens a device, puts some of its memory on it, hands the
 * descriptor over and exits; its file must refuse everything and close.
 */
static void exited_owner(void)
{
	int sv[2], status, fd, d = rnd_below(ndevs), i;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (!pid) {
		struct hmm_dmirror_cmd cmd = { 0 };
		char *mem = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		fd = dmirror_open_dev(devid[d]);
		if (fd < 0 || mem == MAP_FAILED)
			_exit(1);
		fill(mem, 32 * PG, 7);
		cmd.addr = (uintptr_t)mem;
		cmd.ptr = (uintptr_t)outbuf;
		cmd.npages = 64;
		dmirror_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd);
		cmd.npages = 16;
		dmirror_cmd(fd, HMM_DMIRROR_EXCLUSIVE, &cmd);
		send_fd(sv[1], fd);
		_exit(0);
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	close(sv[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (fd < 0) {
		fail(F_EXITED, "no descriptor from the child (status %#x)",
		     status);
		return;
	}
	__atomic_add_fetch(&res->exited, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 50; i++)
		one_call(fd, devid[d], true, 0, F_EXITED);
	if (close(fd))
		fail(F_EXITED, "close of an exited process's file: %s",
		     strerror(errno));
}

/*
 * The second thread: replaces or closes CHURN_FD and changes the churn
 * part of the arena, while the fuzzer uses both.
 */
static void *churn_main(void *arg)
{
	unsigned long long r = seed ^ 0x5eed;
	struct part *p = &part[A_CHURN];
	int fd;

	while (!__atomic_load_n(&churn_stop, __ATOMIC_RELAXED)) {
		unsigned long off, len;

		r ^= r >> 12;
		r ^= r << 25;
		r ^= r >> 27;
		off = (r >> 8) % p->pages;
		len = 1 + (r >> 20) % (p->pages - off);
		__atomic_add_fetch(&res->churn_ops, 1, __ATOMIC_RELAXED);
		switch ((r >> 40) % 8) {
		case 0:
			fd = dmirror_open_dev(devid[(r >> 44) % ndevs]);
			if (fd >= 0) {
				dup2(fd, CHURN_FD);
				close(fd);
			}
			break;
		case 1:
			close(CHURN_FD);
			usleep(200);
			fd = dmirror_open_dev(devid[0]);
			if (fd >= 0) {
				dup2(fd, CHURN_FD);
				close(fd);
			}
			break;
		case 2:
			munmap(p->start + off * PG, len * PG);
			usleep(100);
			mmap(p->start + off * PG, len * PG,
			     PROT_READ | PROT_WRITE,
			     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			break;
		case 3:
			mprotect(p->start + off * PG, len * PG,
				 (r >> 50) % 2 ? PROT_READ : PROT_NONE);
			usleep(100);
			mprotect(p->start + off * PG, len * PG,
				 PROT_READ | PROT_WRITE);
			break;
		case 4:
			madvise(p->start + off * PG, len * PG, MADV_DONTNEED);
			break;
		default:
			fill(p->start + off * PG, len * PG, r);
			break;
		}
		usleep(500);
	}
	return NULL;
}

/* ---- the fuzzing process ----------------------------------------------------- */

static unsigned long long canary_check(void)
{
	unsigned long long s = 0;
	unsigned int i;

	for (i = 0; i < CANARY_WORDS; i++)
		s = s * 31 + canary[i];
	return s;
}

/*
 * With 5-level paging the user address space ends at 2^56 - 4096, not
 * 2^47 - 4096: a fixed mapping above 2^47 tells which.
 */
static void probe_task_end(void)
{
	void *hint = (void *)(1UL << 48);
	void *p = mmap(hint, PG, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == hint) {
		TASK_END = (1UL << 56) - PG;
		munmap(p, PG);
	}
}

/*
 * One valid call of each defined ioctl on 8 pages of the private part of
 * the arena, through the device fds[0]: each must succeed (RELEASE may
 * find memory busy), with the page counts the header gives.
 */
static void sane_calls(void)
{
	char *mem = part[A_RW].start;
	unsigned long long want;
	unsigned int i, pg;

	for (i = 0; i < NKNOWN; i++) {
		struct hmm_dmirror_cmd cmd = { 0 };
		unsigned long req = known[i].req;
		int ret;

		cmd.addr = (uintptr_t)mem;
		cmd.ptr = (uintptr_t)outbuf;
		cmd.npages = req == HMM_DMIRROR_FLAGS ? 0 : 8;
		ret = ioctl(fds[0], req, &cmd) ? -errno : 0;
		__atomic_add_fetch(&res->calls, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&res->err[i][eb_of(ret)], 1,
				   __ATOMIC_RELAXED);
		if (ret == -EBUSY && req == HMM_DMIRROR_RELEASE)
			continue;
		want = req == HMM_DMIRROR_FLAGS ||
		       req == HMM_DMIRROR_CHECK_EXCLUSIVE ||
		       req == HMM_DMIRROR_RELEASE ? 0 : 8;
		if (ret || (req != HMM_DMIRROR_MIGRATE_TO_SYS &&
			    cmd.cpages != want))
			fail(F_ERRNO,
			     "%s of 8 private pages of dev%d: returned %d (%s), cpages %llu",
			     known[i].name, devid[0], ret, eb_name[eb_of(ret)],
			     (unsigned long long)cmd.cpages);
		/* The CPU takes exclusive pages back, for CHECK_EXCLUSIVE. */
		if (req == HMM_DMIRROR_EXCLUSIVE)
			for (pg = 0; pg < 8; pg++)
				(void)__atomic_load_n(&mem[pg * PG],
						      __ATOMIC_RELAXED);
	}
}

static int fuzz(void)
{
	double end = now_s() + duration, next_scen = 0;
	pthread_t churn;
	unsigned long iter = 0;
	int d, i;

	outbuf = mmap(NULL, (OUT_PAGES + 1) * PG, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* 16 readable pages, then a guard: nothing readable follows. */
	robuf = mmap(NULL, 17 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	blockpg = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ropg = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (outbuf == MAP_FAILED || robuf == MAP_FAILED ||
	    blockpg == MAP_FAILED || ropg == MAP_FAILED || !setup_arena()) {
		say("# cannot set up the fuzzer's memory: %s", strerror(errno));
		return 1;
	}
	mprotect(outbuf + OUT_PAGES * PG, PG, PROT_NONE);
	mprotect(robuf + 16 * PG, PG, PROT_NONE);
	mprotect(blockpg + PG, PG, PROT_NONE);
	for (i = 0; i < CANARY_WORDS; i++)
		canary[i] = seed ^ (i * 0x9e3779b97f4a7c15ULL);
	canary_sum = canary_check();

	ndevs = 0;
	for (d = 0; d < NDEV; d++) {
		int fd = dmirror_open_dev(d);

		if (fd >= 0) {
			devid[ndevs] = d;
			fds[ndevs++] = fd;
		}
	}
	if (!ndevs) {
		say("# no device can be opened");
		return 1;
	}
	sane_calls();
	d = dmirror_open_dev(devid[0]);
	if (d < 0 || dup2(d, CHURN_FD) < 0)
		return 1;
	close(d);
	if (pthread_create(&churn, NULL, churn_main, NULL))
		return 1;

	while (now_s() < end) {
		iter++;
		if (now_s() > next_scen) {
			next_scen = now_s() + 1;
			foreign_child();
			exited_owner();
		}
		if (rnd_below(8) == 0) {
			__atomic_add_fetch(&res->churn_calls, 1,
					   __ATOMIC_RELAXED);
			one_call(CHURN_FD, -1, false, B(EB_EBADF), F_CHURN);
		} else {
			d = rnd_below(ndevs);
			one_call(fds[d], devid[d], false, 0, F_ERRNO);
		}
		if (iter % 64 == 0 && canary_check() != canary_sum) {
			fail(F_CANARY, "the canary in .bss changed");
			canary_sum = canary_check();
		}
	}
	__atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
	pthread_join(churn, NULL);
	if (canary_check() != canary_sum)
		fail(F_CANARY, "the canary in .bss changed");
	close(CHURN_FD);
	for (d = 0; d < ndevs; d++)
		if (close(fds[d]))
			fail(F_ERRNO, "close of dev%d: %s", devid[d],
			     strerror(errno));
	return 0;
}

static const char *dev_path(int id)
{
	static char path[32];

	snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", id);
	return path;
}

/*
 * Per defined ioctl: some success, and -EBUSY or -ENOMEM on at most
 * SOFT_MAX_PCT percent of the calls that got past the argument checks.
 * Not judged when the fuzzer did not run to its end.
 */
static bool counts_ok(bool died)
{
	unsigned long long ok, soft;
	bool good = true;
	unsigned int i;

	if (died)
		return false;
	for (i = 0; i < NKNOWN; i++) {
		ok = res->err[i][EB_OK];
		soft = res->err[i][EB_EBUSY] + res->err[i][EB_ENOMEM];
		if (known[i].req == HMM_DMIRROR_MIGRATE_TO_DEV)
			soft -= res->over_cap;
		if (!ok) {
			say("# %s never succeeded", known[i].name);
			good = false;
		}
		if (soft > SOFT_SLACK &&
		    soft * 100 > (ok + soft) * SOFT_MAX_PCT) {
			say("# %s: %llu calls failed with EBUSY or ENOMEM, %llu succeeded",
			    known[i].name, soft, ok);
			good = false;
		}
	}
	return good;
}

static void help(const char *prog)
{
	fprintf(stderr, "usage: %s [-d seconds] [-s seed] [-v]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	bool seeded = false, died = false, soft_ok;
	long long left = 0;
	unsigned int i, e, n = 1;
	int opt, status;
	double deadline;
	pid_t pid;

	while ((opt = getopt(argc, argv, "d:s:vh")) != -1) {
		switch (opt) {
		case 'd':
			duration = strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			help(argv[0]);
		}
	}
	if (!seeded)
		seed = (unsigned long long)time(NULL) ^
		       ((unsigned long long)getpid() << 32);
	rng = seed | 1;
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		return 1;
	setvbuf(stdout, NULL, _IONBF, 0);
	say("TAP version 13");
	say("1..9");
	probe_task_end();
	for (i = 0; i < 4; i++)
		dev_capacity[i] = dmirror_dev_stat(i, "capacity_pages");
	say("# dmirror_fuzz -d %u -s %#llx (replay with this seed); user space ends at %#lx",
	    duration, seed, TASK_END);

	pid = fork();
	if (pid < 0)
		return 1;
	if (!pid)
		_exit(fuzz());
	deadline = now_s() + duration + 120;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (now_s() > deadline) {
			say("# the fuzzer is still running 120 s after its end: hung");
			kill(pid, SIGKILL);
			say("not ok 1 the fuzzer finished # hung");
			return 1;
		}
		usleep(50000);
	}
	if (WIFSIGNALED(status)) {
		died = true;
		say("# the fuzzer died by signal %d", WTERMSIG(status));
	} else if (WEXITSTATUS(status)) {
		died = true;
		say("# the fuzzer could not run (exit status %d)",
		    WEXITSTATUS(status));
	}
	say("# %llu calls, %llu of them on a descriptor being closed",
	    res->calls, res->churn_calls);
	say("# %llu changes by the second thread, %u foreign children, %u exited owners",
	    res->churn_ops, (unsigned int)res->foreign,
	    (unsigned int)res->exited);
	for (i = 0; verbose && i <= NKNOWN; i++) {
		char line[300];
		size_t len;

		len = snprintf(line, sizeof(line), "#   %-16s",
			       i < NKNOWN ? known[i].name : "unknown");
		for (e = 0; e < EB_NR; e++)
			if (res->err[i][e])
				len += snprintf(line + len, sizeof(line) - len,
						" %s %llu", eb_name[e],
						res->err[i][e]);
		say("%s", line);
	}
	say("%sok %u the fuzzer ran and was never killed by a signal",
	    died ? "not " : "", n++);
	for (i = 0; i < 6; i++)
		say("%sok %u %s", res->fail_cls[i] ? "not " : "", n++,
		    f_name[i]);
	soft_ok = counts_ok(died);
	say("%sok %u every ioctl succeeded; %s on at most %d%% of the rest",
	    soft_ok ? "" : "not ", n++, "EBUSY and ENOMEM", SOFT_MAX_PCT);
	for (i = 0; i < FREE_STALL_S * 20; i++) {
		left = 0;
		for (e = 0; e < NDEV; e++) {
			long long r = dmirror_dev_stat(e, "resident_pages");

			/* A device that exists must have the counter. */
			if (r < 0 && !access(dev_path(e), F_OK))
				r = 1;
			if (r > 0)
				left += r;
		}
		if (!left)
			break;
		usleep(50000);
	}
	if (left)
		say("# %lld device pages still in use", left);
	say("%sok %u no device memory left in use afterwards",
	    left ? "not " : "", n);
	return died || res->failures || left || !soft_ok ? 1 : 0;
}
