// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror interaction tests: pages in each device state meet the rest
 * of mm. The fixture puts 16 pages (512 for a device THP) of private
 * anonymous memory, each page with its own pattern, into one state:
 *
 *   private    moved into device-private memory (device 0), base pages
 *   thp        one PMD-mapped THP moved into device-private memory: one
 *              device THP mapped by a device-private PMD where the kernel
 *              has compound device-private migration (thp_migration
 *              reads Y), else split by the core into 512 base device
 *              pages
 *   exclusive  made device-exclusive (device 0)
 *   coherent   moved into device-coherent memory (device 2)
 *   mirrored   READ by device 0: still system memory, mirrored
 *
 * and each test does one thing the rest of mm does to memory: fork and
 * copy-on-write, mremap, mprotect, partial munmap, madvise, mlock. Every
 * test checks the bytes through the CPU and through the device, the
 * SNAPSHOT bytes, the CPU-fault counter of the device, and (in the
 * teardown) that the device holds as many pages as before the test.
 * Access from another process and /proc readers are in
 * dmirror_interact_remote_test.c.
 */
#include "dmirror_interact.h"

/* ---- fork ------------------------------------------------------------- */

/*
 * fork, then the parent writes every page while the child still maps the
 * pages: the parent gets copies in system memory, the child keeps the
 * original data (which it reads, then overwrites with its own).
 */
TEST_F(ia, fork_cow_parent_writes)
{
	int go[2], status;
	pid_t pid;

	if (self->skipped)
		return;
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char c;

		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		if (pat_find(self->p, 0, self->n, SEED) >= 0)
			_exit(3);
		pat_fill(self->p, 0, self->n, SEED_CHILD);
		_exit(pat_find(self->p, 0, self->n, SEED_CHILD) >= 0 ? 4 : 0);
	}
	close(go[0]);
	pat_fill(self->p, 0, self->n, SEED_NEW);
	ASSERT_EQ(1, write(go[1], "x", 1));
	close(go[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status) TH_LOG("child: 3 old data lost, 4 own write lost");
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, SEED_NEW));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, SNAP_SYS_RW));
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED_NEW));
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
}

/*
 * fork, then the child reads and writes every page: the parent's pages
 * stay as they were, read-only now (in device-coherent memory still, in
 * system memory for the rest), and the device reads the old data.
 */
TEST_F(ia, fork_cow_child_writes)
{
	int status, want;
	pid_t pid;

	if (self->skipped)
		return;
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (pat_find(self->p, 0, self->n, SEED) >= 0)
			_exit(3);
		pat_fill(self->p, 0, self->n, SEED_CHILD);
		_exit(pat_find(self->p, 0, self->n, SEED_CHILD) >= 0 ? 4 : 0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status) TH_LOG("child: 3 old data lost, 4 own write lost");
	want = variant->state == ST_COHERENT ? SNAP_COH_RO : SNAP_SYS_RO;
	if (self->large)
		want |= ANY_PMD;
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, want));
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED));
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, SEED));
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
}

/* ---- mremap ----------------------------------------------------------- */

/*
 * Move the pages to another (2 MiB aligned) address: they keep their
 * state there, the old address has no mapping, and the data follows.
 */
TEST_F(ia, mremap_move)
{
	char *dst, *old = self->p;

	if (self->skipped)
		return;
	dst = reserve(self->len);
	ASSERT_NE(NULL, dst);
	ASSERT_EQ(dst, mremap(old, self->len, self->len,
			      MREMAP_MAYMOVE | MREMAP_FIXED, dst));
	self->p = dst;
	EXPECT_EQ(-1L, snap_want(self, dst, self->n, self->dev_byte));
	EXPECT_EQ(-1L, snap_want(self, old, self->n, HMM_DMIRROR_PROT_ERROR));
	EXPECT_EQ(on_dev(self, self->n), resident(self));
	EXPECT_EQ(0, check_excl(self, old, self->n));
	EXPECT_EQ(0, check_excl(self, dst, self->n));
	EXPECT_EQ(-1L, pat_find(dst, 0, self->n, SEED));
	EXPECT_EQ(-1L, snap_want(self, dst, self->n, self->cpu_byte));
	EXPECT_EQ(0, dev_check(self, dst, 0, self->n, SEED));
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
}

/*
 * Grow in place to twice the size: the old pages stay as they are, the
 * new ones are empty and read as zeros.
 */
TEST_F(ia, mremap_grow)
{
	unsigned long n = self->n;

	if (self->skipped)
		return;
	/* The fixture leaves the next self->len bytes unmapped. */
	ASSERT_EQ(self->p, mremap(self->p, self->len, 2 * self->len, 0));
	self->len *= 2;
	EXPECT_EQ(-1L, snap_want(self, self->p, n, self->dev_byte));
	EXPECT_EQ(-1L, snap_want(self, self->p + n * PG, n,
				 HMM_DMIRROR_PROT_NONE));
	EXPECT_EQ(-1L, pat_find(self->p, 0, n, SEED));
	EXPECT_EQ(-1L, byte_find(self->p + n * PG, n * PG, 0));
	EXPECT_EQ(0, dev_check(self, self->p, 0, n, SEED));
	EXPECT_EQ(moved(self, n), cpu_faults(self));
}

/*
 * Shrink to half: the pages cut off leave the device, the rest keep
 * their state (a device THP is split: its half is base pages now).
 */
TEST_F(ia, mremap_shrink)
{
	unsigned long half = self->n / 2;

	if (self->skipped)
		return;
	ASSERT_EQ(self->p, mremap(self->p, self->len, self->len / 2, 0));
	self->len /= 2;
	EXPECT_TRUE(resident_after_cut(self, half));
	EXPECT_EQ(-1L, snap_want(self, self->p, half, self->split_byte));
	EXPECT_EQ(-1L, snap_want(self, self->p + half * PG, half,
				 HMM_DMIRROR_PROT_ERROR));
	EXPECT_EQ(0, check_excl(self, self->p + half * PG, half));
	EXPECT_EQ(-1L, pat_find(self->p, 0, half, SEED));
	EXPECT_EQ(0, dev_check(self, self->p, 0, half, SEED));
	EXPECT_EQ(moved(self, half), cpu_faults(self));
}

/* ---- mprotect --------------------------------------------------------- */

/*
 * PROT_NONE: nothing is visible to the device, and the pages stay where
 * they are. PROT_READ: the device reads but cannot write; device pages
 * are mapped read-only. Back to read-write: a device WRITE moves
 * device-private pages home first, and the data is the device's.
 *
 * mprotect() leaves device-exclusive entries in place (6.1 makes them
 * read-only ones): only a fault (here the device READ) maps the pages
 * again, read-only. (So would a migration: see hold_pages().)
 */
TEST_F(ia, mprotect_none_ro_rw)
{
	struct hmm_dmirror_cmd cmd;

	if (self->skipped)
		return;
	ASSERT_EQ(0, mprotect(self->p, self->len, PROT_NONE));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n,
				 HMM_DMIRROR_PROT_ERROR));
	EXPECT_EQ(-EFAULT, dev_io(self, HMM_DMIRROR_READ, self->p, self->n,
				  &cmd));
	EXPECT_EQ(on_dev(self, self->n), resident(self));
	EXPECT_EQ(0, check_excl(self, self->p, self->n));

	ASSERT_EQ(0, mprotect(self->p, self->len, PROT_READ));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->ro_byte));
	EXPECT_EQ(-EPERM, dev_io(self, HMM_DMIRROR_WRITE, self->p, self->n,
				 &cmd));
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, variant_excl(self) ?
				 SNAP_SYS_RO : self->ro_byte));
	EXPECT_EQ(0, cpu_faults(self));

	ASSERT_EQ(0, mprotect(self->p, self->len, PROT_READ | PROT_WRITE));
	pat_fill(self->out, 0, self->n, SEED_NEW);
	ASSERT_EQ(0, dev_io(self, HMM_DMIRROR_WRITE, self->p, self->n, &cmd));
	EXPECT_EQ(self->n, cmd.cpages);
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->cpu_byte));
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, SEED_NEW));
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED_NEW));
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
}

/* ---- munmap ----------------------------------------------------------- */

/* Unmap the middle half: it leaves the device, the rest is intact. */
TEST_F(ia, munmap_middle)
{
	unsigned long q = self->n / 4;
	char *p = self->p;

	if (self->skipped)
		return;
	ASSERT_EQ(0, munmap(p + q * PG, 2 * q * PG));
	EXPECT_TRUE(resident_after_cut(self, 2 * q));
	EXPECT_EQ(-1L, snap_want(self, p, q, self->split_byte));
	EXPECT_EQ(-1L, snap_want(self, p + q * PG, 2 * q,
				 HMM_DMIRROR_PROT_ERROR));
	EXPECT_EQ(-1L, snap_want(self, p + 3 * q * PG, q, self->split_byte));
	EXPECT_EQ(0, check_excl(self, p + q * PG, 2 * q));
	EXPECT_EQ(0, dev_check(self, p, 0, q, SEED));
	EXPECT_EQ(0, dev_check(self, p + 3 * q * PG, 3 * q, q, SEED));
	EXPECT_EQ(-1L, pat_find(p, 0, q, SEED));
	EXPECT_EQ(-1L, pat_find(p + 3 * q * PG, 3 * q, q, SEED));
	EXPECT_EQ(moved(self, 2 * q), cpu_faults(self));
	ASSERT_EQ(0, munmap(p + 3 * q * PG, q * PG));
	self->len = q * PG;
}

/* ---- madvise ---------------------------------------------------------- */

/* DONTNEED on the first half: it is gone (zeros), the rest intact. */
TEST_F(ia, madvise_dontneed)
{
	unsigned long half = self->n / 2;

	if (self->skipped)
		return;
	ASSERT_EQ(0, madv(self, self->p, half * PG, MADV_DONTNEED));
	EXPECT_TRUE(resident_after_cut(self, half));
	EXPECT_EQ(-1L, snap_want(self, self->p, half, HMM_DMIRROR_PROT_NONE));
	EXPECT_EQ(-1L, snap_want(self, self->p + half * PG, half,
				 self->split_byte));
	EXPECT_EQ(0, check_excl(self, self->p, half));
	EXPECT_EQ(0, dev_zero(self, self->p, half));
	EXPECT_EQ(-1L, byte_find(self->p, half * PG, 0));
	EXPECT_EQ(0, dev_check(self, self->p + half * PG, half, half, SEED));
	EXPECT_EQ(-1L, pat_find(self->p + half * PG, half, half, SEED));
	EXPECT_EQ(moved(self, half), cpu_faults(self));
}

/*
 * MADV_FREE: without memory pressure nothing is reclaimed, but the kernel
 * may drop the contents at any time until the next write: every page
 * reads either its data or zeros, and a write keeps it. Pages on the
 * device are not lazily freed memory (not on an LRU): they stay.
 */
TEST_F(ia, madvise_free)
{
	unsigned long i;

	if (self->skipped)
		return;
	ASSERT_EQ(0, madv(self, self->p, self->len, MADV_FREE));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->dev_byte));
	EXPECT_EQ(on_dev(self, self->n), resident(self));
	for (i = 0; i < self->n; i++) {
		char *pg = self->p + i * PG;

		EXPECT_TRUE(pat_find(pg, i, 1, SEED) < 0 ||
			    byte_find(pg, PG, 0) < 0) TH_LOG("page %lu", i);
	}
	pat_fill(self->p, 0, self->n, SEED_NEW);
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED_NEW));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->cpu_byte));
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
}

/*
 * Advice that must not change where pages are or what they hold (no swap
 * device: PAGEOUT cannot write anonymous pages anywhere; with swap, a
 * system page may be swapped out and reads back all the same).
 */
static void advise_keeps(struct __test_metadata *_metadata,
			 struct _test_data_ia *self, int advice)
{
	int ret = madv(self, self->p, self->len, advice);
	int byte = self->dev_byte;
	bool swapped = false;

	if (ret == -EINVAL) {
		self->skipped = true;
		SKIP(return, "kernel rejects madvise %s (EINVAL)",
		     advice_name(advice));
	}
	ASSERT_EQ(0, ret);
	if (advice == MADV_PAGEOUT && swap_active() &&
	    !self->on_dev && snap_want(self, self->p, self->n, byte) >= 0) {
		byte = HMM_DMIRROR_PROT_NONE;
		swapped = true;
	}
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, byte));
	EXPECT_EQ(on_dev(self, self->n), resident(self));
	if (!swapped)
		EXPECT_EQ(variant_excl(self) ? -EPERM : 0,
			  check_excl(self, self->p, self->n));
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED));
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, SEED));
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
}

TEST_F(ia, madvise_cold)
{
	if (!self->skipped)
		advise_keeps(_metadata, self, MADV_COLD);
}

TEST_F(ia, madvise_pageout)
{
	if (!self->skipped)
		advise_keeps(_metadata, self, MADV_PAGEOUT);
}

TEST_F(ia, madvise_hugepage)
{
	if (!self->skipped)
		advise_keeps(_metadata, self, MADV_HUGEPAGE);
}

TEST_F(ia, madvise_nohugepage)
{
	if (!self->skipped)
		advise_keeps(_metadata, self, MADV_NOHUGEPAGE);
}

/*
 * DONTFORK: the child has no such mapping (its own device sees a hole),
 * and fork leaves the parent's pages alone (still writable on the device,
 * still exclusive). WIPEONFORK: the child sees empty memory.
 */
static void fork_advice(struct __test_metadata *_metadata,
			struct _test_data_ia *self, int advice)
{
	unsigned char want = advice == MADV_DONTFORK ?
		HMM_DMIRROR_PROT_ERROR : HMM_DMIRROR_PROT_NONE;
	int ret, status;
	pid_t pid;

	ret = madv(self, self->p, self->len, advice);
	if (ret == -EINVAL) {
		self->skipped = true;
		SKIP(return, "kernel rejects madvise %s (EINVAL)",
		     advice_name(advice));
	}
	ASSERT_EQ(0, ret);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(child_sees(self, want, advice == MADV_WIPEONFORK));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status)
		TH_LOG("child: 2 open, 3 snapshot, 4 bytes, 5 device read");
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->dev_byte));
	EXPECT_EQ(variant_excl(self) ? -EPERM : 0,
		  check_excl(self, self->p, self->n));
	EXPECT_EQ(on_dev(self, self->n), resident(self));
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED));
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, SEED));
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
}

TEST_F(ia, madvise_dontfork)
{
	if (!self->skipped)
		fork_advice(_metadata, self, MADV_DONTFORK);
}

TEST_F(ia, madvise_wipeonfork)
{
	if (!self->skipped)
		fork_advice(_metadata, self, MADV_WIPEONFORK);
}

/* ---- mlock ------------------------------------------------------------ */

/*
 * mlock populates the range for writing: device-private pages come home,
 * exclusive pages are given back, device-coherent pages stay. munlock
 * changes nothing, and the pages can go to the device again (the
 * exclusive variant's pages once the pipe lets go of them).
 */
TEST_F(ia, mlock_munlock)
{
	struct hmm_dmirror_cmd cmd;

	if (self->skipped)
		return;
	ASSERT_EQ(0, mlock(self->p, self->len));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->cpu_byte));
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
	EXPECT_EQ(0, check_excl(self, self->p, self->n));
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED));
	EXPECT_EQ(0, munlock(self->p, self->len));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->cpu_byte));
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, SEED));
	unhold_pages(self);
	ASSERT_EQ(0, dev_io(self, HMM_DMIRROR_MIGRATE_TO_DEV, self->p,
			    self->n, &cmd));
	EXPECT_EQ(self->n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(self->out, 0, self->n, SEED));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n,
				 variant->state == ST_COHERENT ? SNAP_COH_RW :
				 self->large ?
				 SNAP_PRIV_RW | ANY_PMD : SNAP_PRIV_RW));
}

TEST_HARNESS_MAIN
