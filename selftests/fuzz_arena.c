// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_fuzz: the arena of mappings the calls point into, and the random
 * fields of a call.
 */
#include "dmirror_fuzz.h"

unsigned long TASK_END = 0x7ffffffff000UL;

const struct known known[] = {
	{ "READ", HMM_DMIRROR_READ,
	  B(EB_OK) | B(EB_EFAULT) | B(EB_EBUSY) | COMMON, 1, false,
	  B(EB_ENOMEM) },
	{ "WRITE", HMM_DMIRROR_WRITE,
	  B(EB_OK) | B(EB_EFAULT) | B(EB_EPERM) | B(EB_EBUSY) | COMMON, 0,
	  true, B(EB_ENOMEM) },
	{ "MIGRATE_TO_DEV", HMM_DMIRROR_MIGRATE_TO_DEV,
	  B(EB_OK) | B(EB_EINVAL) | B(EB_ENOENT) | B(EB_EFAULT) | COMMON, 1,
	  false, B(EB_ENOMEM) | B(EB_EINVAL) },
	{ "MIGRATE_TO_SYS", HMM_DMIRROR_MIGRATE_TO_SYS,
	  B(EB_OK) | B(EB_EINVAL) | COMMON, 0, false, B(EB_EINVAL) },
	{ "SNAPSHOT", HMM_DMIRROR_SNAPSHOT,
	  B(EB_OK) | B(EB_EFAULT) | B(EB_EBUSY) | COMMON, 2, false,
	  B(EB_ENOMEM) },
	{ "EXCLUSIVE", HMM_DMIRROR_EXCLUSIVE,
	  B(EB_OK) | B(EB_EFAULT) | B(EB_EOPNOTSUPP) | B(EB_EBUSY) |
	  B(EB_ENOENT) | COMMON, 1, false, B(EB_ENOMEM) },
	{ "CHECK_EXCLUSIVE", HMM_DMIRROR_CHECK_EXCLUSIVE,
	  B(EB_OK) | B(EB_EPERM), 0, false, 0 },
	{ "RELEASE", HMM_DMIRROR_RELEASE,
	  B(EB_OK) | B(EB_EBUSY), 0, false, 0 },
	{ "FLAGS", HMM_DMIRROR_FLAGS, B(EB_OK) | B(EB_EINVAL), 0, false, 0 },
	{ "READ_UNLOCKED", HMM_DMIRROR_READ_UNLOCKED,
	  B(EB_OK) | B(EB_EFAULT) | COMMON, 1, false, B(EB_ENOMEM) },
};

static const char * const a_name[A_NR] = {
	"rw", "ro", "none", "hole", "shared", "memfd-shared", "memfd-private",
	"thp", "hugetlb", "churn"
};

static const unsigned long a_pages[A_NR] = {
	64, 16, 16, 16, 16, 16, 16, 1024, 512, 64
};

struct res *res;
struct part part[A_NR];
static char *arena, *arena_end;

unsigned char *outbuf, *robuf, *blockpg, *ropg;
unsigned long long rng;
unsigned long long canary[CANARY_WORDS];
unsigned long long rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

unsigned long rnd_below(unsigned long n)
{
	return n ? rnd() % n : 0;
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

void fill(void *p, unsigned long len, unsigned long long tag)
{
	unsigned long long *w = p;
	unsigned long i;

	for (i = 0; i < len / sizeof(*w); i++)
		w[i] = tag ^ (i * 0x9e3779b97f4a7c15ULL);
}

bool setup_arena(void)
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

/* Types the VFS handles itself before the driver sees the call. */
static bool vfs_type(unsigned int type)
{
	return type == 'T' || type == 'X' || type == 'f' || type == 0x94 ||
	       type == 0x15 || type == 0;
}

void pick_req(struct call *c)
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
unsigned long long pick_addr(struct call *c, bool writes)
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

unsigned long long pick_npages(unsigned long long addr)
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
unsigned long long pick_ptr(struct call *c, bool in)
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
struct hmm_dmirror_cmd *pick_block(struct call *c,
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
