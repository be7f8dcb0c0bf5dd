// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror mmap() of the device file: every page is a zeroed system
 * page, present when mmap() returns; private mappings copy on write;
 * the size of one mapping is capped (module parameter mmap_max_mib);
 * munmap() gives the memory back.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

/* See dmirror_mirror.h: a harness quirk, not this file's. */
#pragma GCC diagnostic ignored "-Wclobbered"

#define PAGE_SZ		4096UL
#define MIB_PAGES	((1UL << 20) / PAGE_SZ)

#define SNAP_RO		HMM_DMIRROR_PROT_READ
#define SNAP_RW		HMM_DMIRROR_PROT_WRITE

static int range_cmd(int fd, unsigned long req, const void *addr, void *ptr,
		     unsigned long npages, struct hmm_dmirror_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->addr = (uintptr_t)addr;
	cmd->ptr = (uintptr_t)ptr;
	cmd->npages = npages;
	return dmirror_cmd(fd, req, cmd);
}

/* SNAPSHOT of @npages at @addr into @out; 0 or -errno. */
static int snap(int fd, const void *addr, unsigned char *out,
		unsigned long npages)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	ret = range_cmd(fd, HMM_DMIRROR_SNAPSHOT, addr, out, npages, &cmd);
	if (!ret && cmd.cpages != npages)
		return -EIO;
	return ret;
}

/* Index of the first byte of @buf[0..n) that is not @val, or -1. */
static long first_not(const unsigned char *buf, unsigned long n, int val)
{
	unsigned long i;

	for (i = 0; i < n; i++)
		if (buf[i] != (unsigned char)val)
			return i;
	return -1;
}

/* The cap on one mapping, in pages (module parameter mmap_max_mib). */
static unsigned long cap_pages(void)
{
	long long mib = dmirror_param("mmap_max_mib");

	return mib > 0 ? mib * MIB_PAGES : 0;
}

/*
 * Free memory in KiB: the free pages of every zone plus those waiting in
 * the per-cpu lists (/proc/zoneinfo), which MemFree leaves out and which
 * grow and shrink with the allocation pattern. -1 if unreadable.
 */
static long long free_kib(void)
{
	long long pages = 0, val;
	char line[256];
	int seen = 0;
	FILE *f = fopen("/proc/zoneinfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " pages free %lld", &val) == 1) {
			pages += val;
			seen = 1;
		} else if (sscanf(line, " count: %lld", &val) == 1) {
			pages += val;
		}
	}
	fclose(f);
	return seen ? pages * (long long)(PAGE_SZ / 1024) : -1;
}

FIXTURE(map)
{
	int fd;
	bool skipped;
};

FIXTURE_VARIANT(map)
{
	int dev;
	bool coherent;
};

FIXTURE_VARIANT_ADD(map, device_private)
{
	.dev = 0,
	.coherent = false,
};

FIXTURE_VARIANT_ADD(map, device_coherent)
{
	.dev = 2,
	.coherent = true,
};

FIXTURE_SETUP(map)
{
	self->fd = dmirror_fixture_open(variant->dev, variant->coherent,
					&self->skipped);
	if (self->skipped)
		SKIP(return, DMIRROR_NO_COHERENT_WHY);
	ASSERT_GE(self->fd, 0) TH_LOG("open /dev/hmm_dmirror%d: %s",
				      variant->dev, strerror(errno));
}

FIXTURE_TEARDOWN(map)
{
	if (self->fd >= 0)
		EXPECT_EQ(0, close(self->fd));
}

/*
 * MAP_PRIVATE, read/write, of several sizes: every page is present at
 * once and mapped read-only (copy on write), reads as zeros by the CPU
 * and through the device. A CPU write copies that page only, and the
 * device then sees the data and a writable page.
 */
TEST_F(map, private_rw_sizes)
{
	static const unsigned long sizes[] = { 1, 2, 7, 512, 513, 2048 };
	unsigned char *snapbuf, *data;
	struct hmm_dmirror_cmd cmd;
	unsigned long s, n, i;
	char *p;

	if (self->skipped)
		return;
	for (s = 0; s < ARRAY_SIZE(sizes); s++) {
		unsigned long touched[3];

		n = sizes[s];
		snapbuf = malloc(n);
		data = malloc(n * PAGE_SZ);
		ASSERT_NE(NULL, snapbuf);
		ASSERT_NE(NULL, data);
		p = mmap(NULL, n * PAGE_SZ, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE, self->fd, 0);
		ASSERT_NE(MAP_FAILED, p) TH_LOG("%lu pages: %s", n,
						strerror(errno));

		/* Present without any fault: SNAPSHOT never faults. */
		ASSERT_EQ(0, snap(self->fd, p, snapbuf, n));
		EXPECT_EQ(-1, first_not(snapbuf, n, SNAP_RO))
			TH_LOG("%lu pages: byte %ld is %#x", n,
			       first_not(snapbuf, n, SNAP_RO),
			       snapbuf[first_not(snapbuf, n, SNAP_RO)]);

		memset(data, 0xa5, n * PAGE_SZ);
		ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_READ, p, data, n,
				       &cmd));
		EXPECT_EQ(n, cmd.cpages);
		EXPECT_EQ(-1, first_not(data, n * PAGE_SZ, 0));
		EXPECT_EQ(-1, first_not((unsigned char *)p, n * PAGE_SZ, 0));

		/* CPU writes to the first, a middle and the last page. */
		touched[0] = 0;
		touched[1] = n / 2;
		touched[2] = n - 1;
		for (i = 0; i < 3; i++)
			memset(p + touched[i] * PAGE_SZ, 0x10 + (int)i, PAGE_SZ);
		ASSERT_EQ(0, snap(self->fd, p, snapbuf, n));
		for (i = 0; i < n; i++) {
			int want = (i == touched[0] || i == touched[1] ||
				    i == touched[2]) ? SNAP_RW : SNAP_RO;

			ASSERT_EQ(want, snapbuf[i]) TH_LOG("%lu pages: page %lu",
							   n, i);
		}
		ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_READ, p, data, n,
				       &cmd));
		for (i = 0; i < n; i++) {
			int want = 0;

			if (i == touched[2])
				want = 0x12;
			else if (i == touched[1])
				want = 0x11;
			else if (i == touched[0])
				want = 0x10;
			ASSERT_EQ(-1, first_not(data + i * PAGE_SZ, PAGE_SZ,
						want))
				TH_LOG("%lu pages: page %lu", n, i);
		}
		EXPECT_EQ(0, munmap(p, n * PAGE_SZ));
		free(snapbuf);
		free(data);
	}
}

/*
 * A device WRITE to a private mapping breaks copy on write like a CPU
 * write: the CPU reads the device's data afterwards.
 */
TEST_F(map, private_device_write)
{
	unsigned long n = 16, i;
	struct hmm_dmirror_cmd cmd;
	unsigned char snapbuf[16];
	unsigned char *data;
	char *p;

	if (self->skipped)
		return;
	data = malloc(n * PAGE_SZ);
	ASSERT_NE(NULL, data);
	for (i = 0; i < n * PAGE_SZ; i++)
		data[i] = (unsigned char)(i * 7 + 3);
	p = mmap(NULL, n * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_WRITE, p, data, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(0, memcmp(p, data, n * PAGE_SZ));
	ASSERT_EQ(0, snap(self->fd, p, snapbuf, n));
	EXPECT_EQ(-1, first_not(snapbuf, n, SNAP_RW));
	munmap(p, n * PAGE_SZ);
	free(data);
}

/*
 * MAP_SHARED read/write: the pages are mapped writable at once (no copy
 * on write); CPU and device see each other's writes. Read-only mappings,
 * shared or private, are mapped read-only.
 */
TEST_F(map, shared_and_readonly)
{
	unsigned long n = 64, i;
	unsigned char snapbuf[64];
	struct hmm_dmirror_cmd cmd;
	unsigned char *data;
	char *p, *ro;

	if (self->skipped)
		return;
	data = malloc(n * PAGE_SZ);
	ASSERT_NE(NULL, data);
	p = mmap(NULL, n * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, snap(self->fd, p, snapbuf, n));
	EXPECT_EQ(-1, first_not(snapbuf, n, SNAP_RW));
	EXPECT_EQ(-1, first_not((unsigned char *)p, n * PAGE_SZ, 0));

	memset(p, 0x5c, PAGE_SZ);
	ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_READ, p, data, n, &cmd));
	EXPECT_EQ(-1, first_not(data, PAGE_SZ, 0x5c));
	EXPECT_EQ(-1, first_not(data + PAGE_SZ, (n - 1) * PAGE_SZ, 0));

	for (i = 0; i < n * PAGE_SZ; i++)
		data[i] = (unsigned char)(i % 251);
	ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_WRITE, p, data, n, &cmd));
	EXPECT_EQ(0, memcmp(p, data, n * PAGE_SZ));
	ASSERT_EQ(0, snap(self->fd, p, snapbuf, n));
	EXPECT_EQ(-1, first_not(snapbuf, n, SNAP_RW));
	munmap(p, n * PAGE_SZ);

	ro = mmap(NULL, n * PAGE_SZ, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_EQ(0, snap(self->fd, ro, snapbuf, n));
	EXPECT_EQ(-1, first_not(snapbuf, n, SNAP_RO));
	munmap(ro, n * PAGE_SZ);

	ro = mmap(NULL, n * PAGE_SZ, PROT_READ, MAP_PRIVATE, self->fd, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_EQ(0, snap(self->fd, ro, snapbuf, n));
	EXPECT_EQ(-1, first_not(snapbuf, n, SNAP_RO));
	EXPECT_EQ(-1, first_not((unsigned char *)ro, n * PAGE_SZ, 0));
	munmap(ro, n * PAGE_SZ);
	free(data);
}

/* The file offset is ignored: any offset maps fresh zeroed pages. */
TEST_F(map, offset_ignored)
{
	unsigned char snapbuf[4];
	char *p;

	if (self->skipped)
		return;
	p = mmap(NULL, 4 * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 1UL << 30);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, snap(self->fd, p, snapbuf, 4));
	EXPECT_EQ(-1, first_not(snapbuf, 4, SNAP_RW));
	EXPECT_EQ(-1, first_not((unsigned char *)p, 4 * PAGE_SZ, 0));
	munmap(p, 4 * PAGE_SZ);
}

/*
 * Such a mapping is not anonymous memory: both migrations refuse it
 * with -EINVAL, also after copy on write put anonymous pages in it, and
 * the pages stay where they were.
 */
TEST_F(map, migrate_is_einval)
{
	unsigned long n = 8;
	unsigned char snapbuf[8];
	struct hmm_dmirror_cmd cmd;
	unsigned char *data;
	char *priv, *shared;

	if (self->skipped)
		return;
	data = malloc(n * PAGE_SZ);
	ASSERT_NE(NULL, data);
	priv = mmap(NULL, n * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		    self->fd, 0);
	shared = mmap(NULL, n * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED,
		      self->fd, 0);
	ASSERT_NE(MAP_FAILED, priv);
	ASSERT_NE(MAP_FAILED, shared);
	memset(priv, 0x77, PAGE_SZ);	/* one anonymous page */

	EXPECT_EQ(-EINVAL, range_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
				     priv, data, n, &cmd));
	EXPECT_EQ(-EINVAL, range_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS,
				     priv, data, n, &cmd));
	EXPECT_EQ(-EINVAL, range_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
				     shared, data, n, &cmd));
	EXPECT_EQ(-EINVAL, range_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS,
				     shared, data, n, &cmd));

	ASSERT_EQ(0, snap(self->fd, priv, snapbuf, n));
	EXPECT_EQ(SNAP_RW, snapbuf[0]);
	EXPECT_EQ(-1, first_not(snapbuf + 1, n - 1, SNAP_RO));
	ASSERT_EQ(0, snap(self->fd, shared, snapbuf, n));
	EXPECT_EQ(-1, first_not(snapbuf, n, SNAP_RW));
	EXPECT_EQ(-1, first_not((unsigned char *)priv, PAGE_SZ, 0x77));
	munmap(priv, n * PAGE_SZ);
	munmap(shared, n * PAGE_SZ);
	free(data);
}

/*
 * The cap: a mapping of exactly mmap_max_mib works and is populated to
 * its last page; one page more is -ENOMEM and leaves nothing mapped.
 */
TEST_F(map, size_cap)
{
	unsigned long cap = cap_pages();
	unsigned char *snapbuf;
	char *p, *hint;

	if (self->skipped)
		return;
	ASSERT_GT(cap, 0UL) TH_LOG("module parameter mmap_max_mib unreadable");
	snapbuf = malloc(cap);
	ASSERT_NE(NULL, snapbuf);

	p = mmap(NULL, cap * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("%lu pages: %s", cap, strerror(errno));
	ASSERT_EQ(0, snap(self->fd, p, snapbuf, cap));
	EXPECT_EQ(-1, first_not(snapbuf, cap, SNAP_RO));
	p[(cap - 1) * PAGE_SZ] = 1;
	EXPECT_EQ(0, munmap(p, cap * PAGE_SZ));

	/* One page more, at an address known to be free afterwards. */
	hint = mmap(NULL, (cap + 1) * PAGE_SZ, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, hint);
	ASSERT_EQ(0, munmap(hint, (cap + 1) * PAGE_SZ));
	errno = 0;
	p = mmap(hint, (cap + 1) * PAGE_SZ, PROT_READ | PROT_WRITE,
		 MAP_SHARED, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENOMEM, errno);
	if (p != MAP_FAILED)
		munmap(p, (cap + 1) * PAGE_SZ);
	/* Nothing of it stayed mapped: the range is a hole (SNAPSHOT 0xff). */
	ASSERT_EQ(0, snap(self->fd, hint, snapbuf, 1));
	EXPECT_EQ(HMM_DMIRROR_PROT_ERROR, snapbuf[0]);
	free(snapbuf);
}

/*
 * The mapping cannot grow (mremap): every page of it stays populated.
 * Shrinking and moving work.
 */
TEST_F(map, mremap_cannot_grow)
{
	unsigned char snapbuf[4];
	char *p, *q;

	if (self->skipped)
		return;
	p = mmap(NULL, 4 * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 42;
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mremap(p, 4 * PAGE_SZ, 8 * PAGE_SZ,
				     MREMAP_MAYMOVE));
	EXPECT_EQ(EFAULT, errno);
	q = mremap(p, 4 * PAGE_SZ, 2 * PAGE_SZ, MREMAP_MAYMOVE);
	ASSERT_EQ(p, q);
	EXPECT_EQ(42, q[0]);
	ASSERT_EQ(0, snap(self->fd, q, snapbuf, 2));
	EXPECT_EQ(SNAP_RW, snapbuf[0]);
	EXPECT_EQ(SNAP_RW, snapbuf[1]);
	munmap(q, 2 * PAGE_SZ);
}

/*
 * The mapping keeps the file open: after close() it still works, and
 * munmap() then releases the file (a new mirror counts from scratch).
 */
TEST_F(map, outlives_close)
{
	unsigned long n = 4;
	char *p;
	int fd;

	if (self->skipped)
		return;
	fd = dmirror_open_dev(variant->dev);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, n * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
		 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, close(fd));
	memset(p, 0x33, n * PAGE_SZ);
	EXPECT_EQ(-1, first_not((unsigned char *)p, n * PAGE_SZ, 0x33));
	EXPECT_EQ(0, munmap(p, n * PAGE_SZ));
}

/*
 * munmap() frees the pages. Holding 320 MiB in mappings of 32 MiB (or of
 * the cap, if smaller) lowers the free memory by most of that; after they
 * and 640 MiB more of map/unmap cycles (private with copies, and shared)
 * are gone, it is back within 32 MiB of where it was. (Allocating and
 * zeroing that much takes a while on a debug kernel: a longer timeout.)
 */
TEST_F_TIMEOUT(map, munmap_frees, 300)
{
	unsigned long n = 32 * MIB_PAGES;
	long long before, during, after, size_kib;
	int cycle, nheld, ncycles;
	char **held;
	char *p;

	if (self->skipped)
		return;
	ASSERT_GT(cap_pages(), 0UL);
	if (n > cap_pages())
		n = cap_pages();
	size_kib = n * PAGE_SZ / 1024;
	nheld = 320 * 1024 / size_kib;
	ncycles = 2 * nheld;
	held = calloc(nheld, sizeof(*held));
	ASSERT_NE(NULL, held);

	before = free_kib();
	ASSERT_GT(before, 0LL);
	for (cycle = 0; cycle < nheld; cycle++) {
		held[cycle] = mmap(NULL, n * PAGE_SZ, PROT_READ | PROT_WRITE,
				   MAP_SHARED, self->fd, 0);
		ASSERT_NE(MAP_FAILED, held[cycle]);
	}
	during = free_kib();
	for (cycle = 0; cycle < nheld; cycle++)
		ASSERT_EQ(0, munmap(held[cycle], n * PAGE_SZ));
	/* The measure sees the pages: most of them at least. */
	EXPECT_GT(before - during, nheld * size_kib * 3 / 4)
		TH_LOG("free %lld -> %lld KiB while %lld KiB mapped",
		       before, during, nheld * size_kib);

	for (cycle = 0; cycle < ncycles; cycle++) {
		int flags = cycle % 2 ? MAP_SHARED : MAP_PRIVATE;
		unsigned long i;

		p = mmap(NULL, n * PAGE_SZ, PROT_READ | PROT_WRITE, flags,
			 self->fd, 0);
		ASSERT_NE(MAP_FAILED, p) TH_LOG("cycle %d: %s", cycle,
						strerror(errno));
		/* Copies (private) or writes in place (shared). */
		for (i = 0; i < n; i += 64)
			p[i * PAGE_SZ] = (char)cycle;
		ASSERT_EQ(0, munmap(p, n * PAGE_SZ));
	}
	after = free_kib();
	TH_LOG("free KiB: %lld; %lld with %d mappings of %lld KiB; %lld after %d more",
	       before, during, nheld, size_kib, after, ncycles);
	EXPECT_LT(before - after, 32 * 1024LL);
	free(held);
}

/*
 * fork(): a private mapping is copied on write in each process (the
 * untouched pages stay shared, read-only, in both); a shared mapping is
 * the same memory in both.
 */
TEST_F(map, fork)
{
	unsigned long n = 4;
	int status, ok;
	char *priv, *shared;
	pid_t pid;

	if (self->skipped)
		return;
	priv = mmap(NULL, n * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		    self->fd, 0);
	shared = mmap(NULL, n * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED,
		      self->fd, 0);
	ASSERT_NE(MAP_FAILED, priv);
	ASSERT_NE(MAP_FAILED, shared);
	priv[0] = 'P';
	shared[0] = 'P';

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		unsigned char snapbuf[4];
		int fd = dmirror_open_dev(variant->dev);

		/* The copied page tables: present without a fault. */
		ok = fd >= 0 && !snap(fd, priv, snapbuf, n) &&
		     snapbuf[0] == SNAP_RO && snapbuf[1] == SNAP_RO &&
		     !snap(fd, shared, snapbuf, n) && snapbuf[1] == SNAP_RW;
		ok = ok && priv[0] == 'P' && priv[PAGE_SZ] == 0 &&
		     shared[0] == 'P';
		priv[PAGE_SZ] = 'C';
		shared[PAGE_SZ] = 'C';
		_exit(ok ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ('P', priv[0]);
	EXPECT_EQ(0, priv[PAGE_SZ]);	/* the child's copy, not ours */
	EXPECT_EQ('C', shared[PAGE_SZ]);	/* the same page */
	munmap(priv, n * PAGE_SZ);
	munmap(shared, n * PAGE_SZ);
}

/*
 * EXCLUSIVE on a private writable mapping first copies the pages into
 * anonymous ones, then makes them exclusive; a CPU access ends it.
 */
TEST_F(map, private_exclusive)
{
	unsigned long n = 4;
	struct hmm_dmirror_cmd cmd;
	unsigned char *data;
	char *p;

	if (self->skipped)
		return;
	data = malloc(n * PAGE_SZ);
	ASSERT_NE(NULL, data);
	p = mmap(NULL, n * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(data, 0xee, n * PAGE_SZ);
	ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, data, n,
			       &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, first_not(data, n * PAGE_SZ, 0));
	EXPECT_EQ(-EPERM, range_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p,
				    NULL, n, &cmd));
	memset(p, 1, n * PAGE_SZ);
	EXPECT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, NULL,
			       n, &cmd));
	munmap(p, n * PAGE_SZ);
	free(data);
}

/* EXCLUSIVE refuses a shared mapping of the device file. */
TEST_F(map, shared_exclusive_refused)
{
	unsigned long n = 4;
	struct hmm_dmirror_cmd cmd;
	unsigned char data[4 * 4096];
	char *p;

	if (self->skipped)
		return;
	p = mmap(NULL, n * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-EOPNOTSUPP, range_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p,
					 data, n, &cmd));
	EXPECT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, NULL,
			       n, &cmd));
	munmap(p, n * PAGE_SZ);
}

/*
 * A page taken out of the mapping (MADV_DONTNEED) is not mapped again:
 * touching it raises SIGBUS. The other pages are unaffected.
 */
TEST_F(map, dontneed_then_sigbus)
{
	int status;
	pid_t pid;
	char *p;

	if (self->skipped)
		return;
	p = mmap(NULL, 2 * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[PAGE_SZ] = 9;
	ASSERT_EQ(0, madvise(p, PAGE_SZ, MADV_DONTNEED));
	EXPECT_EQ(9, p[PAGE_SZ]);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		__atomic_store_n(p, 1, __ATOMIC_RELAXED);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS)
		TH_LOG("status %#x", status);
	munmap(p, 2 * PAGE_SZ);
}

TEST_HARNESS_MAIN
