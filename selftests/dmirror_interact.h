/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fixture of the interaction tests (dmirror_interact_test.c,
 * dmirror_interact_remote_test.c, dmirror_interact_mm_test.c): a range of
 * private anonymous memory in one device state per variant, the checks
 * the tests share, and small helpers for memory cgroups.
 */
#ifndef _DMIRROR_INTERACT_H
#define _DMIRROR_INTERACT_H

#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

/* See dmirror_migrate.h: harness code, not ours, trips -Wclobbered. */
#pragma GCC diagnostic ignored "-Wclobbered"

#define HPAGE		(2UL * 1024 * 1024)
#define SEED		0x51
#define SEED_NEW	0x52
#define SEED_CHILD	0x53

/*
 * Not a snapshot byte: "the byte, with or without HMM_DMIRROR_PROT_PMD,
 * the same for every page". A device THP the CPU touched comes back as a
 * system THP, or as base pages when no THP could be had.
 */
#define ANY_PMD		0x100
enum ia_state { ST_PRIVATE, ST_THP, ST_EXCL, ST_COHERENT, ST_MIRROR };

FIXTURE(ia)
{
	int fd;
	bool skipped;		/* the test does nothing (SKIP) */
	enum ia_state state;
	bool large;		/* thp: one device THP, else 512 base pages */
	int dev;
	char *p;		/* the range; NULL once a test unmapped it */
	size_t len;		/* its length now */
	unsigned long n;	/* its pages at the start */
	unsigned char *out;	/* 2 * n pages for the device's copies */
	long long res0;		/* resident_pages of the device before */
	long long faults0;	/* cpu_faults of the device before */
	int hold[2];		/* exclusive: a pipe holding the pages */
	bool on_dev;		/* the pages are in device memory */
	bool migrates;		/* and a CPU access moves them home */
	int dev_byte;		/* SNAPSHOT byte in the state */
	int cpu_byte;		/* ... after a CPU access */
	int ro_byte;		/* ... after mprotect(PROT_READ) */
	int split_byte;		/* ... of a part left by a partial unmap */
	char cg[64];		/* a memory cgroup the test made, or "" */
};

FIXTURE_VARIANT(ia)
{
	enum ia_state state;
	int dev;
};

FIXTURE_VARIANT_ADD(ia, private) { .state = ST_PRIVATE, .dev = 0 };
FIXTURE_VARIANT_ADD(ia, thp) { .state = ST_THP, .dev = 0 };
FIXTURE_VARIANT_ADD(ia, exclusive) { .state = ST_EXCL, .dev = 0 };
FIXTURE_VARIANT_ADD(ia, coherent) { .state = ST_COHERENT, .dev = 2 };
FIXTURE_VARIANT_ADD(ia, mirrored) { .state = ST_MIRROR, .dev = 0 };

static inline int ia_ioctl(struct _test_data_ia *self, unsigned long req,
			   const void *addr, unsigned long npages,
			   struct hmm_dmirror_cmd *cmd)
{
	cmd->addr = (uintptr_t)addr;
	cmd->ptr = (uintptr_t)self->out;
	cmd->npages = npages;
	cmd->cpages = 0;
	cmd->faults = 0;
	return dmirror_cmd(self->fd, req, cmd);
}

#define dev_io ia_ioctl

/* 0 when the device READs pattern @seed at @addr; else -errno or 1. */
static inline int dev_check(struct _test_data_ia *self, const void *addr,
			    unsigned long page0, unsigned long npages,
			    unsigned int seed)
{
	struct hmm_dmirror_cmd cmd;
	int ret = ia_ioctl(self, HMM_DMIRROR_READ, addr, npages, &cmd);

	if (ret)
		return ret;
	if (cmd.cpages != npages || pat_find(self->out, page0, npages, seed) >= 0)
		return 1;
	return 0;
}

/* 0 when the device READs zeros at @addr; else -errno or 1. */
static inline int dev_zero(struct _test_data_ia *self, const void *addr,
			   unsigned long npages)
{
	struct hmm_dmirror_cmd cmd;
	int ret = ia_ioctl(self, HMM_DMIRROR_READ, addr, npages, &cmd);

	if (ret)
		return ret;
	return cmd.cpages != npages || byte_find(self->out, npages * PG, 0) >= 0;
}

static inline int check_excl(struct _test_data_ia *self, const void *addr,
			     unsigned long npages)
{
	struct hmm_dmirror_cmd cmd;

	return ia_ioctl(self, HMM_DMIRROR_CHECK_EXCLUSIVE, addr, npages, &cmd);
}

/*
 * SNAPSHOT of @npages at @addr against @want (ANY_PMD: see there).
 * Returns -1 when all match, -2 when SNAPSHOT failed, else the first page
 * that differs.
 */
static inline long snap_want(struct _test_data_ia *self, const void *addr,
			     unsigned long npages, int want)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr, .npages = npages,
	};
	unsigned char *s = malloc(npages);
	unsigned char w = want & 0xff;
	long bad = -2;

	if (!s)
		return -2;
	cmd.ptr = (uintptr_t)s;
	if (dmirror_cmd(self->fd, HMM_DMIRROR_SNAPSHOT, &cmd) ||
	    cmd.cpages != npages)
		goto out;
	if ((want & ANY_PMD) && s[0] == (w | HMM_DMIRROR_PROT_PMD))
		w = s[0];
	bad = byte_find(s, npages, w);
	if (bad >= 0) {
		unsigned long i;

		fprintf(stderr, "# snapshot: page %ld is %#x, expected %#x:",
			bad, s[bad], w);
		for (i = 0; i < npages && i < 32; i++)
			fprintf(stderr, " %02x", s[i]);
		fprintf(stderr, "\n");
	}
out:
	free(s);
	return bad;
}

/* Device pages in use now, less those before the test. */
static inline long long resident(struct _test_data_ia *self)
{
	return dmirror_dev_stat(self->dev, "resident_pages") - self->res0;
}

/* Pages the device's CPU-fault handler moved home during the test. */
static inline long long cpu_faults(struct _test_data_ia *self)
{
	return dmirror_dev_stat(self->dev, "cpu_faults") - self->faults0;
}

/* @k if the pages are in device memory (they move home), else 0. */
static inline long long on_dev(struct _test_data_ia *self, unsigned long k)
{
	return self->on_dev ? (long long)k : 0;
}

static inline long long moved(struct _test_data_ia *self, unsigned long k)
{
	return self->migrates ? (long long)k : 0;
}

/*
 * Whether the device holds the right number of pages after part of the
 * range was unmapped and @kept pages are left: those, in device memory.
 * A device THP the core split only at the page-table level stays one
 * folio, all of it in use, until its last page goes: the kernel does not
 * queue device-private folios for deferred splitting (mm/rmap.c).
 */
static inline bool resident_after_cut(struct _test_data_ia *self,
				      unsigned long kept)
{
	long long r = resident(self);

	if (self->large && r >= (long long)kept &&
	    r <= (long long)self->n)
		return true;
	if (r == on_dev(self, kept))
		return true;
	fprintf(stderr, "# %lld device pages in use, %lu pages left\n",
		r, kept);
	return false;
}

static inline bool variant_excl(struct _test_data_ia *self)
{
	return self->state == ST_EXCL;
}

/*
 * @len bytes of PROT_NONE address space, 2 MiB aligned, with the next
 * @len bytes unmapped (unless something else lands there later).
 */
static inline char *reserve(size_t len)
{
	char *p = mmap(NULL, 2 * len + HPAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + HPAGE - 1) & ~(HPAGE - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + len, p + 2 * len + HPAGE - (a + len));
	return a;
}

static inline const char *no_thp_why(void)
{
	static const char path[] = "/sys/kernel/mm/transparent_hugepage/enabled";
	char buf[128] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return "kernel lacks transparent huge pages";
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = '\0';
	close(fd);
	if (strstr(buf, "[never]"))
		return "transparent huge pages disabled (enabled: never)";
	return NULL;
}

/* ---- memory cgroups --------------------------------------------------- */

#define MEMCG_ROOT	"/sys/fs/cgroup"

/* Whether a line of the file @path starts with @word. */
static inline bool file_has_line(const char *path, const char *word)
{
	char line[256];
	bool found = false;
	size_t len = strlen(word);
	FILE *f = fopen(path, "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, word, len);
	fclose(f);
	return found;
}

/*
 * Why the kernel cannot run a workload in a memory-limited cgroup, or
 * NULL when it can. The memory controller is listed in the root's
 * cgroup.controllers (newer kernels, 7.3 among them, list in
 * /proc/cgroups only controllers that cgroup v1 can have; older kernels
 * list it there too, and there it is read when cgroup2 is not mounted on
 * MEMCG_ROOT). A kernel that
 * has both but where they are not set up (cgroup v2 not mounted on
 * MEMCG_ROOT, +memory not in its subtree_control) is not skipped:
 * memcg_create() fails.
 */
static inline const char *no_memcg_why(void)
{
	char line[256] = "";
	FILE *f;

	if (!file_has_line("/proc/filesystems", "nodev\tcgroup2\n"))
		return "kernel lacks cgroup v2 (CONFIG_CGROUPS)";
	f = fopen(MEMCG_ROOT "/cgroup.controllers", "re");
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
		if (!strstr(line, "memory"))
			return "kernel lacks the memory controller (CONFIG_MEMCG)";
		return NULL;
	}
	if (!file_has_line("/proc/cgroups", "memory\t"))
		return "kernel lacks the memory controller (CONFIG_MEMCG)";
	return NULL;
}

/* Write @val to the file @path (a cgroup or sysfs file). 0 or -errno. */
static inline int file_write(const char *path, const char *val)
{
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		n = -errno;
	close(fd);
	return n < 0 ? (int)n : 0;
}

/* Write @val to @file of cgroup @cg (a directory). 0 or -errno. */
static inline int memcg_write(const char *cg, const char *file, const char *val)
{
	char path[200];

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	return file_write(path, val);
}

/*
 * The number after @key in @file of cgroup @cg ("oom_kill 1" in
 * memory.events), or the file's first number when @key is NULL; -1 when
 * there is none.
 */
static inline long long memcg_read(const char *cg, const char *file,
				   const char *key)
{
	char path[200], line[128], name[64], *end;
	long long val, found = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f)) {
		val = strtoll(line, &end, 10);
		if (!key && end != line)
			found = val;
		else if (key && sscanf(line, "%63s %lld", name, &val) == 2 &&
			 !strcmp(name, key))
			found = val;
	}
	fclose(f);
	return found;
}

/*
 * Make the child cgroup MEMCG_ROOT/dmirror-<pid> (its path in @cg) with
 * memory.max @max. Returns 0, or -errno with @cg empty.
 */
static inline int memcg_create(char *cg, size_t len, const char *max)
{
	int ret;

	snprintf(cg, len, "%s/dmirror-%d", MEMCG_ROOT, (int)getpid());
	if (mkdir(cg, 0755) && errno != EEXIST) {
		ret = -errno;
		cg[0] = '\0';
		return ret;
	}
	ret = memcg_write(cg, "memory.max", max);
	if (ret) {
		rmdir(cg);
		cg[0] = '\0';
	}
	return ret;
}

/* Move the calling process into cgroup @cg. 0 or -errno. */
static inline int memcg_enter(const char *cg)
{
	return memcg_write(cg, "cgroup.procs", "0");
}

/*
 * Move the calling process back to the root cgroup and remove @cg (a
 * process that was killed in it may take a moment to leave it). Empties
 * @cg. 0 or -errno.
 */
static inline int memcg_remove(char *cg)
{
	int ret, tries = 200;

	memcg_write(MEMCG_ROOT, "cgroup.procs", "0");
	while ((ret = rmdir(cg) ? -errno : 0) == -EBUSY && --tries)
		usleep(10000);
	cg[0] = '\0';
	return ret;
}

/* Why the kernel cannot swap (no /proc/swaps), or NULL when it can. */
static inline const char *no_swap_why(void)
{
	return access("/proc/swaps", F_OK) ?
	       "kernel lacks swap (CONFIG_SWAP)" : NULL;
}

/* The range, filled with its pattern, moved into @self->state. */
static inline int ia_enter(struct _test_data_ia *self)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long req = HMM_DMIRROR_MIGRATE_TO_DEV;

	if (self->state == ST_EXCL)
		req = HMM_DMIRROR_EXCLUSIVE;
	else if (self->state == ST_MIRROR)
		req = HMM_DMIRROR_READ;
	if (ia_ioctl(self, req, self->p, self->n, &cmd) ||
	    cmd.cpages != self->n || pat_find(self->out, 0, self->n, SEED) >= 0)
		return -1;
	return 0;
}

/*
 * Keep compaction away from the pages of the exclusive variant: from
 * 6.15 the core migrates a device-exclusive page like a mapped one, and
 * the migration entry it puts in place is not writable, so the page comes
 * back mapped read-only (SNAPSHOT: HMM_DMIRROR_PROT_READ), whether the
 * migration succeeded or not, at any time. Compaction does not isolate an
 * anonymous page that has more references than mappings
 * (mm/compaction.c): a pipe holds one to each page (vmsplice()).
 * Returns 0 or -1.
 */
static inline int hold_pages(struct _test_data_ia *self)
{
	struct iovec iov = { .iov_base = self->p, .iov_len = self->len };

	if (pipe(self->hold))
		return -1;
	if (fcntl(self->hold[1], F_SETPIPE_SZ, (int)self->len) <
	    (int)self->len)
		return -1;
	return vmsplice(self->hold[1], &iov, 1, 0) == (ssize_t)self->len ?
	       0 : -1;
}

/* Drop the pipe's references: the pages can migrate again. */
static inline void unhold_pages(struct _test_data_ia *self)
{
	if (self->hold[0] < 0)
		return;
	close(self->hold[0]);
	close(self->hold[1]);
	self->hold[0] = -1;
	self->hold[1] = -1;
}

static inline void ia_bytes(struct _test_data_ia *self)
{
	enum { ST_THP_SPLIT = ST_MIRROR + 1 };
	static const int b[][4] = {
		/* dev_byte, cpu_byte, ro_byte, split_byte */
		[ST_PRIVATE] = { SNAP_PRIV_RW, SNAP_SYS_RW, SNAP_PRIV_RO,
				 SNAP_PRIV_RW },
		[ST_THP] = { SNAP_PRIV_RW | HMM_DMIRROR_PROT_PMD,
			     SNAP_SYS_RW | ANY_PMD,
			     SNAP_PRIV_RO | HMM_DMIRROR_PROT_PMD,
			     SNAP_PRIV_RW },
		/*
		 * Where the kernel lacks compound device-private migration
		 * (thp_migration reads N), the core splits the THP when it
		 * migrates it: 512 base device pages, which come home as
		 * base pages.
		 */
		[ST_THP_SPLIT] = { SNAP_PRIV_RW, SNAP_SYS_RW, SNAP_PRIV_RO,
				   SNAP_PRIV_RW },
		/*
		 * mprotect() keeps device-exclusive entries (6.1 makes them
		 * read-only ones); a migration would not (hold_pages()).
		 */
		[ST_EXCL] = { HMM_DMIRROR_PROT_NONE, SNAP_SYS_RW,
			      HMM_DMIRROR_PROT_NONE, HMM_DMIRROR_PROT_NONE },
		[ST_COHERENT] = { SNAP_COH_RW, SNAP_COH_RW, SNAP_COH_RO,
				  SNAP_COH_RW },
		[ST_MIRROR] = { SNAP_SYS_RW, SNAP_SYS_RW, SNAP_SYS_RO,
				SNAP_SYS_RW },
	};

	int row = self->state == ST_THP && !self->large ? ST_THP_SPLIT :
		  self->state;

	self->dev_byte = b[row][0];
	self->cpu_byte = b[row][1];
	self->ro_byte = b[row][2];
	self->split_byte = b[row][3];
	self->on_dev = self->state == ST_PRIVATE || self->state == ST_THP ||
		       self->state == ST_COHERENT;
	self->migrates = self->state == ST_PRIVATE || self->state == ST_THP;
}

FIXTURE_SETUP(ia)
{
	const char *why;
	int large;

	self->fd = -1;
	self->hold[0] = -1;
	self->hold[1] = -1;
	self->state = variant->state;
	self->dev = variant->dev;
	self->n = variant->state == ST_THP ? HPAGE / PG : 16;
	self->len = self->n * PG;
	if (variant->state == ST_THP) {
		large = dmirror_param_yn("thp_migration");
		ASSERT_LE(0, large) TH_LOG("thp_migration cannot be read");
		self->large = large;
	}
	ia_bytes(self);
	if (variant->state == ST_THP) {
		why = no_thp_why();
		if (why) {
			/* Harnesses before 6.12 run the test after SKIP(). */
			self->skipped = true;
			SKIP(return, "%s", why);
		}
	}
	self->fd = dmirror_fixture_open(variant->dev,
					variant->state == ST_COHERENT,
					&self->skipped);
	if (self->skipped)
		SKIP(return, DMIRROR_NO_COHERENT_WHY);
	ASSERT_LE(0, self->fd) TH_LOG("open /dev/hmm_dmirror%d: %s",
				      variant->dev, strerror(errno));
	self->res0 = dmirror_dev_stat(variant->dev, "resident_pages");
	self->faults0 = dmirror_dev_stat(variant->dev, "cpu_faults");
	ASSERT_LE(0, self->res0);
	ASSERT_LE(0, self->faults0);
	self->out = malloc(2 * self->len);
	ASSERT_NE(NULL, self->out);

	self->p = reserve(self->len);
	ASSERT_NE(NULL, self->p);
	ASSERT_EQ(self->p, mmap(self->p, self->len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				-1, 0));
	/* Base pages, but one THP for the thp variant. */
	madvise(self->p, self->len, variant->state == ST_THP ?
		MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	pat_fill(self->p, 0, self->n, SEED);
	if (variant->state == ST_THP)
		ASSERT_EQ(-1L, snap_want(self, self->p, self->n,
					 SNAP_SYS_RW | HMM_DMIRROR_PROT_PMD))
			TH_LOG("no THP, though the kernel has them");
	if (variant->state == ST_EXCL)
		ASSERT_EQ(0, hold_pages(self));
	ASSERT_EQ(0, ia_enter(self));
	ASSERT_EQ(-1L, snap_want(self, self->p, self->n, self->dev_byte));
	ASSERT_EQ(on_dev(self, self->n), resident(self));
	ASSERT_EQ(variant->state == ST_EXCL ? -EPERM : 0,
		  check_excl(self, self->p, self->n));
}

FIXTURE_TEARDOWN(ia)
{
	if (self->p)
		munmap(self->p, self->len);
	if (!self->skipped && self->fd >= 0)
		EXPECT_EQ(0, resident(self))
			TH_LOG("device pages left after munmap");
	if (self->fd >= 0)
		EXPECT_EQ(0, close(self->fd));
	free(self->out);
	unhold_pages(self);
	if (self->cg[0])
		EXPECT_EQ(0, memcg_remove(self->cg));
}

/* 0 or -errno. */
static inline int madv(struct _test_data_ia *self, void *addr, size_t len, int advice)
{
	return madvise(addr, len, advice) ? -errno : 0;
}

static inline const char *advice_name(int advice)
{
	switch (advice) {
	case MADV_COLD: return "MADV_COLD";
	case MADV_PAGEOUT: return "MADV_PAGEOUT";
	case MADV_HUGEPAGE: return "MADV_HUGEPAGE";
	case MADV_NOHUGEPAGE: return "MADV_NOHUGEPAGE";
	case MADV_DONTFORK: return "MADV_DONTFORK";
	case MADV_WIPEONFORK: return "MADV_WIPEONFORK";
	default: return "?";
	}
}

/* True when /proc/swaps lists a swap area. */
static inline bool swap_active(void)
{
	char line[256];
	int lines = 0;
	FILE *f = fopen("/proc/swaps", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		lines++;
	fclose(f);
	return lines > 1;
}

/*
 * In a fork child: the child's own device sees SNAPSHOT byte @want over
 * the range, and with @zeros the CPU and the device read zeros. Returns
 * an exit status: 0, or the step that failed.
 */
static inline int child_sees(struct _test_data_ia *self, unsigned char want, bool zeros)
{
	int fd = dmirror_open_dev(0);

	if (fd < 0)
		return 2;
	self->fd = fd;
	if (snap_want(self, self->p, self->n, want) != -1)
		return 3;
	if (zeros && byte_find(self->p, self->len, 0) >= 0)
		return 4;
	if (zeros && dev_zero(self, self->p, self->n))
		return 5;
	return 0;
}

#endif /* _DMIRROR_INTERACT_H */
