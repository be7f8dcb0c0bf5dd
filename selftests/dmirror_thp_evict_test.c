// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_thp_evict_test: a device THP and the rest of the system: fork,
 * shared mappings, a second device, MIGRATE_TO_SYS and RELEASE, and the
 * fallbacks when no system THP can be had.
 */
#include "dmirror_thp_fixture.h"

/*
 * Fork with a THP on the device (a device THP, or base device pages);
 * each side then sees its own data.
 */
TEST_F(thp, fork_cow)
{
	struct hmm_dmirror_cmd cmd;
	int status;
	pid_t pid;
	char *p;
	int ret;

	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x19);
	THP_READY(ret, return);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, self->dev_thp));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (pat_find(p, 0, HPAGE_PAGES, 0x19) != -1)
			_exit(1);
		pat_fill(p, 0, HPAGE_PAGES, 0x1a);
		_exit(pat_find(p, 0, HPAGE_PAGES, 0x1a) == -1 ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x19));
	munmap(p, HPAGE);
}

/*
 * A child that shares @p's THP (fork) and checks its copy against @seed
 * when the parent writes to @ctl[1]: exit status 0 when it holds.
 */
static pid_t fork_sharer(char *p, unsigned int seed, int ctl[2])
{
	char c;
	pid_t pid;

	if (pipe(ctl))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(ctl[0]);
		close(ctl[1]);
	}
	if (pid)
		return pid;
	close(ctl[1]);
	if (read(ctl[0], &c, 1) != 1)
		_exit(3);
	_exit(pat_find(p, 0, HPAGE_PAGES, seed) == -1 ? 0 : 4);
}

/* Let the child of fork_sharer() check its copy; its exit status. */
static int join_sharer(pid_t pid, int ctl[2])
{
	int status;

	close(ctl[0]);
	if (write(ctl[1], "x", 1) != 1)
		kill(pid, SIGKILL);
	close(ctl[1]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * Large: a device THP also mapped by a child (fork) comes back without a
 * system THP: it is split while mapped in both, both get base pages (the
 * core's split of an unmapped folio would leave the child's PMD pointing
 * at a split folio: BUG on 7.3), and both keep their data.
 */
TEST_F(thp, fail_alloc_to_sys_shared)
{
	struct hmm_dmirror_cmd cmd;
	int ctl[2];
	pid_t pid;
	char *p;
	int ret;

	if (!self->large)
		SKIP(return, NO_LARGE);
	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x1b);
	THP_READY(ret, return);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	ASSERT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, SNAP_DEV_PMD_RW));
	pid = fork_sharer(p, 0x1b, ctl);
	ASSERT_GE(pid, 0);
	ASSERT_EQ(0, fail_alloc(self->fd, p));
	ASSERT_EQ(0, to_sys(self->fd, p, HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES,
				 HMM_DMIRROR_PROT_READ));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x1b));
	EXPECT_EQ(0, join_sharer(pid, ctl));
	munmap(p, HPAGE);
}

/*
 * Large: the same towards the device: a THP shared with a child, no large
 * device folio; both sides' pages go to base device pages.
 */
TEST_F(thp, fail_alloc_to_dev_shared)
{
	struct hmm_dmirror_cmd cmd;
	int ctl[2];
	pid_t pid;
	char *p;
	int ret;

	if (!self->large)
		SKIP(return, NO_LARGE);
	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x1c);
	THP_READY(ret, return);
	pid = fork_sharer(p, 0x1c, ctl);
	ASSERT_GE(pid, 0);
	ASSERT_EQ(0, fail_alloc(self->fd, p));
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(self->out, 0, HPAGE_PAGES, 0x1c));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES,
				 HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL |
				 HMM_DMIRROR_PROT_READ));
	EXPECT_EQ(0, join_sharer(pid, ctl));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x1c));
	munmap(p, HPAGE);
}

/*
 * Two devices each hold a THP of the same process (a device THP, or base
 * device pages).
 */
TEST_F(thp, two_devices)
{
	struct hmm_dmirror_cmd cmd;
	char *p;
	int fd1;
	int ret;

	fd1 = dmirror_open_dev(1);
	ASSERT_GE(fd1, 0);
	p = map_huge(2);
	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x1b);
	THP_READY(ret, return);
	ret = populate_thp(self->fd, p + HPAGE, 0x1c);
	THP_READY(ret, goto out);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	ASSERT_EQ(0, to_dev(fd1, p + HPAGE, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(-1L, pat_find(self->out, 0, HPAGE_PAGES, 0x1c));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, self->dev_thp));
	EXPECT_EQ(-1L, snap_find(fd1, p + HPAGE, HPAGE_PAGES, self->dev_thp));
	/* Each device moves back only its own THP. */
	ASSERT_EQ(0, to_sys(self->fd, p, 2 * HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	ASSERT_EQ(0, to_sys(fd1, p, 2 * HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x1b));
	EXPECT_EQ(-1L, pat_find(p + HPAGE, 0, HPAGE_PAGES, 0x1c));
out:
	munmap(p, 2 * HPAGE);
	EXPECT_EQ(0, close(fd1));
}

/*
 * MIGRATE_TO_SYS counts 512 per THP (4 KiB pages, not device folios), and
 * so does migrated_to_dev.
 */
TEST_F(thp, to_sys_counts_pages)
{
	long long d0 = dmirror_dev_stat(0, "migrated_to_dev");
	long long s0 = dmirror_dev_stat(0, "migrated_to_sys");
	struct hmm_dmirror_cmd cmd;
	char *p;

	p = map_huge(2);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, 2 * HPAGE_PAGES, &cmd));
	EXPECT_EQ(2 * HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(d0 + 2 * (long long)HPAGE_PAGES,
		  dmirror_dev_stat(0, "migrated_to_dev"));
	EXPECT_EQ(-1L, snap_find(self->fd, p, 2 * HPAGE_PAGES, self->dev_thp));
	ASSERT_EQ(0, to_sys(self->fd, p, 2 * HPAGE_PAGES, &cmd));
	EXPECT_EQ(2 * HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(s0 + 2 * (long long)HPAGE_PAGES,
		  dmirror_dev_stat(0, "migrated_to_sys"));
	munmap(p, 2 * HPAGE);
}

/*
 * RELEASE evicts a THP on the device by device pfn range (no VMA, so the
 * core cannot split a device THP there): it comes back whole (a system
 * THP), or as 512 base pages, data intact.
 */
TEST_F(thp, release_evicts_thp)
{
	long long e0 = dmirror_dev_stat(0, "evicted_pages");
	struct hmm_dmirror_cmd cmd;
	long long res;
	char *p;
	int ret;

	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x1d);
	THP_READY(ret, return);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, self->dev_thp));
	res = dmirror_dev_stat(0, "resident_pages");
	EXPECT_LE((long long)HPAGE_PAGES, res);
	ASSERT_EQ(0, range_ioctl(self->fd, HMM_DMIRROR_RELEASE, p, NULL, 1,
				 &cmd));
	/* Everything the device held went, and only that. */
	EXPECT_EQ(e0 + res, dmirror_dev_stat(0, "evicted_pages"));
	EXPECT_EQ(0, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, self->sys_thp));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x1d));
	munmap(p, HPAGE);
}

/*
 * A THP at @p holding pattern @seed, migrated to the device as one device
 * PMD. Return: 0, 1 when the kernel hands out no THPs (SKIP), -1 on failure.
 */
static int device_thp(int fd, char *p, unsigned char *out, unsigned int seed)
{
	struct hmm_dmirror_cmd cmd;
	int ret = populate_thp(fd, p, seed);

	if (ret)
		return ret;
	if (to_dev(fd, p, out, HPAGE_PAGES, &cmd) || cmd.cpages != HPAGE_PAGES)
		return -1;
	return snap_find(fd, p, HPAGE_PAGES, SNAP_DEV_PMD_RW) == -1 ? 0 : -1;
}

/*
 * Large: RELEASE while no system THP can be had: the device THP is split
 * where it is mapped and evicted as 512 base pages, data intact (before:
 * the folio stayed, RELEASE failed with -EBUSY).
 */
TEST_F(thp, release_no_sys_thp)
{
	long long e0 = dmirror_dev_stat(0, "evicted_pages");
	struct hmm_dmirror_cmd cmd;
	char *p;
	int ret;

	if (!self->large)
		SKIP(return, NO_LARGE);
	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = device_thp(self->fd, p, self->out, 0x21);
	THP_READY(ret, return);
	ASSERT_EQ(0, fail_sys_thp(1));
	EXPECT_EQ(0, range_ioctl(self->fd, HMM_DMIRROR_RELEASE, p, NULL, 1,
				 &cmd));
	EXPECT_EQ(0, fail_sys_thp(0));
	EXPECT_LE(e0 + (long long)HPAGE_PAGES,
		  dmirror_dev_stat(0, "evicted_pages"));
	EXPECT_EQ(0, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES,
				 HMM_DMIRROR_PROT_WRITE));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x21));
	munmap(p, HPAGE);
}

/*
 * Large: the same with the device THP also mapped by a child (fork): the
 * split converts both mappings, and both keep their data.
 */
TEST_F(thp, release_no_sys_thp_shared)
{
	struct hmm_dmirror_cmd cmd;
	int ctl[2], ret;
	pid_t pid;
	char *p;

	if (!self->large)
		SKIP(return, NO_LARGE);
	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = device_thp(self->fd, p, self->out, 0x22);
	THP_READY(ret, return);
	pid = fork_sharer(p, 0x22, ctl);
	ASSERT_GE(pid, 0);
	ASSERT_EQ(0, fail_sys_thp(1));
	EXPECT_EQ(0, range_ioctl(self->fd, HMM_DMIRROR_RELEASE, p, NULL, 1,
				 &cmd));
	EXPECT_EQ(0, fail_sys_thp(0));
	EXPECT_EQ(0, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES,
				 HMM_DMIRROR_PROT_READ));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x22));
	EXPECT_EQ(0, join_sharer(pid, ctl));
	munmap(p, HPAGE);
}

/*
 * A device THP at @p shared with a child (fork_sharer()) while no system
 * THP can be had: the setup of the CPU-access tests below.
 * Return: 0, 1 to SKIP, -1 on failure.
 */
static int shared_device_thp(int fd, char *p, unsigned char *out,
			     unsigned int seed, pid_t *pid, int ctl[2])
{
	int ret = device_thp(fd, p, out, seed);

	if (ret)
		return ret;
	*pid = fork_sharer(p, seed, ctl);
	if (*pid < 0)
		return -1;
	return fail_sys_thp(1) ? -1 : 0;
}

/*
 * Large: the CPU reads a device THP that a child also maps while no
 * system THP can be had: the fault makes progress (the folio is split,
 * then base pages come back) and reads the right bytes; the child keeps
 * its copy (before: VM_FAULT_OOM forever, the test timed out).
 */
TEST_F_TIMEOUT(thp, fault_no_sys_thp_shared, 60)
{
	int ctl[2], ret;
	pid_t pid;
	char *p;

	if (!self->large)
		SKIP(return, NO_LARGE);
	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = shared_device_thp(self->fd, p, self->out, 0x23, &pid, ctl);
	THP_READY(ret, return);
	EXPECT_EQ(-1L, pat_find(p + 100 * PG, 100, 1, 0x23));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x23));
	EXPECT_EQ(0, fail_sys_thp(0));
	EXPECT_EQ(0, join_sharer(pid, ctl));
	munmap(p, HPAGE);
}

/*
 * Large: read(2) into such a THP: the kernel's copy to user memory faults
 * on the device PMD and must complete (before: -EFAULT).
 */
TEST_F_TIMEOUT(thp, read_into_no_sys_thp_shared, 60)
{
	unsigned long first = 37, n = 16;
	unsigned char *src;
	int ctl[2], pfd[2], ret;
	pid_t pid;
	char *p;

	if (!self->large)
		SKIP(return, NO_LARGE);
	p = map_huge(1);
	ASSERT_NE(NULL, p);
	src = out_buf(n * PG);
	ASSERT_NE(NULL, src);
	pat_fill(src, first, n, 0x25);
	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ((ssize_t)(n * PG), write(pfd[1], src, n * PG));
	ret = shared_device_thp(self->fd, p, self->out, 0x24, &pid, ctl);
	THP_READY(ret, return);
	EXPECT_EQ((ssize_t)(n * PG), read(pfd[0], p + first * PG, n * PG));
	EXPECT_EQ(0, fail_sys_thp(0));
	EXPECT_EQ(-1L, pat_find(p, 0, first, 0x24));
	EXPECT_EQ(-1L, pat_find(p + first * PG, first, n, 0x25));
	EXPECT_EQ(-1L, pat_find(p + (first + n) * PG, first + n,
				HPAGE_PAGES - first - n, 0x24));
	EXPECT_EQ(0, join_sharer(pid, ctl));
	close(pfd[0]);
	close(pfd[1]);
	free(src);
	munmap(p, HPAGE);
}

/* The GUP test interface of CONFIG_GUP_TEST (mm/gup_test.h). */
struct gup_test_args {
	__u64 get_delta_usec;
	__u64 put_delta_usec;
	__u64 addr;
	__u64 size;
	__u32 nr_pages_per_call;
	__u32 gup_flags;
	__u32 test_flags;
	__u32 which_pages[8];
};

#define GUP_TEST_PATH	"/sys/kernel/debug/gup_test"
#define GUP_BASIC_TEST	_IOWR('g', 4, struct gup_test_args)

/*
 * Large: get_user_pages() on such a THP (through the kernel's GUP test
 * device) faults every page home and gets all of them (before: -ENOMEM
 * at the first page).
 */
TEST_F_TIMEOUT(thp, gup_no_sys_thp_shared, 60)
{
	struct gup_test_args gup = { 0 };
	int ctl[2], gfd, ret;
	pid_t pid;
	char *p;

	if (!self->large)
		SKIP(return, NO_LARGE);
	gfd = open(GUP_TEST_PATH, O_RDWR | O_CLOEXEC);
	if (gfd < 0)
		SKIP(return, "kernel lacks CONFIG_GUP_TEST");
	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = shared_device_thp(self->fd, p, self->out, 0x26, &pid, ctl);
	THP_READY(ret, goto out);
	gup.addr = (uintptr_t)p;
	gup.size = HPAGE;
	gup.nr_pages_per_call = 1;
	EXPECT_EQ(0, ioctl(gfd, GUP_BASIC_TEST, &gup));
	EXPECT_EQ(HPAGE, gup.size);
	EXPECT_EQ(0, fail_sys_thp(0));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES,
				 HMM_DMIRROR_PROT_READ));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x26));
	EXPECT_EQ(0, join_sharer(pid, ctl));
	munmap(p, HPAGE);
out:
	close(gfd);
}

/*
 * Large: a device full of device THPs while no system THP can be had:
 * a migration to it still gets room, the oldest THP being split and
 * evicted as base pages (before: no block could be reclaimed, -ENOMEM).
 */
TEST_F_TIMEOUT(thp, oversubscribe_no_sys_thp, 300)
{
	long long e0 = dmirror_dev_stat(0, "evicted_pages");
	long long mib = dmirror_param("devmem_mib");
	struct hmm_dmirror_cmd cmd;
	unsigned long n, i;
	char *p, *q;
	int ret;

	if (!self->large)
		SKIP(return, NO_LARGE);
	if (mib < 64 || mib > 1024)
		SKIP(return, "devmem_mib %lld: outside what this test sizes",
		     mib);
	n = mib / 2;
	p = map_huge(n);
	ASSERT_NE(NULL, p);
	q = map_huge(1);
	ASSERT_NE(NULL, q);
	/* The oldest block must be a device THP. */
	ret = device_thp(self->fd, p, self->out, 0x30);
	THP_READY(ret, goto out);
	for (i = 1; i < n; i++) {
		pat_fill(p + i * HPAGE, 0, HPAGE_PAGES, 0x30 + i);
		ASSERT_EQ(0, to_dev(self->fd, p + i * HPAGE, self->out,
				    HPAGE_PAGES, &cmd)) TH_LOG("THP %lu", i);
	}
	ASSERT_EQ(e0, dmirror_dev_stat(0, "evicted_pages"));
	pat_fill(q, 0, HPAGE_PAGES, 0x2f);
	ASSERT_EQ(0, fail_sys_thp(1));
	EXPECT_EQ(0, to_dev(self->fd, q, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(self->out, 0, HPAGE_PAGES, 0x2f));
	EXPECT_EQ(0, fail_sys_thp(0));
	EXPECT_LE(e0 + (long long)HPAGE_PAGES,
		  dmirror_dev_stat(0, "evicted_pages"));
	ASSERT_EQ(0, to_sys(self->fd, p, n * HPAGE_PAGES, &cmd));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x30));
	for (i = 1; i < n; i++)
		EXPECT_EQ(-1L, pat_find(p + i * HPAGE, 0, HPAGE_PAGES,
					0x30 + i)) TH_LOG("THP %lu", i);
	EXPECT_EQ(-1L, pat_find(q, 0, HPAGE_PAGES, 0x2f));
out:
	munmap(q, HPAGE);
	munmap(p, n * HPAGE);
}

TEST_HARNESS_MAIN
