// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_thp_test: a THP or an empty 2 MiB unit moved to the device and
 * back, split by faults, partial munmap and mremap, and the FAIL_ALLOC
 * fallback to base pages.
 */
#include "dmirror_thp_fixture.h"

/*
 * Every kernel: a THP source migrates (as one device folio, or as 512 base
 * pages where the kernel splits it), every byte intact, and comes back.
 */
TEST_F(thp, thp_source_migrates)
{
	struct hmm_dmirror_cmd cmd;
	char *p = map_huge(1);
	int ret;

	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x11);
	THP_READY(ret, return);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(self->out, 0, HPAGE_PAGES, 0x11));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, self->dev_thp));
	ASSERT_EQ(0, to_sys(self->fd, p, HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x11));
	munmap(p, HPAGE);
}

/*
 * A populated THP lives on the device (one device PMD, or 512 base device
 * pages) and comes back (a system THP, or base pages).
 */
TEST_F(thp, populated_to_dev_and_back)
{
	struct hmm_dmirror_cmd cmd;
	long long res0 = dmirror_dev_stat(0, "resident_pages");
	char *p;
	int ret;

	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x12);
	THP_READY(ret, return);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(self->out, 0, HPAGE_PAGES, 0x12));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, self->dev_thp));
	EXPECT_EQ(res0 + (long long)HPAGE_PAGES,
		  dmirror_dev_stat(0, "resident_pages"));
	ASSERT_EQ(0, to_sys(self->fd, p, HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(res0, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, self->sys_thp));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x12));
	munmap(p, HPAGE);
}

/*
 * An untouched 2 MiB unit becomes one zero-filled device THP (or 512
 * zero-filled base device pages), and comes back.
 */
TEST_F(thp, empty_to_dev_and_back)
{
	struct hmm_dmirror_cmd cmd;
	char *p;

	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(self->out, HPAGE, 0));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, self->dev_thp));
	ASSERT_EQ(0, to_sys(self->fd, p, HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, self->sys_thp));
	EXPECT_EQ(-1L, byte_find(p, HPAGE, 0));
	munmap(p, HPAGE);
}

/*
 * A THP of zeros, and a read-touched unit (the huge zero page where the
 * kernel uses it), both become device THPs of zeros (or base device pages
 * of zeros), and come back.
 */
TEST_F(thp, zero_to_dev_and_back)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long sum = 0;
	char *p;
	long i;

	p = map_huge(2);
	ASSERT_NE(NULL, p);
	memset(p, 0, HPAGE);
	for (i = 0; i < (long)HPAGE; i += PG)
		sum += p[HPAGE + i];
	EXPECT_EQ(0UL, sum);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, 2 * HPAGE_PAGES, &cmd));
	EXPECT_EQ(2 * HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(self->out, 2 * HPAGE, 0));
	EXPECT_EQ(-1L, snap_find(self->fd, p, 2 * HPAGE_PAGES, self->dev_thp));
	ASSERT_EQ(0, to_sys(self->fd, p, 2 * HPAGE_PAGES, &cmd));
	EXPECT_EQ(2 * HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, snap_find(self->fd, p, 2 * HPAGE_PAGES, self->sys_thp));
	EXPECT_EQ(-1L, byte_find(p, 2 * HPAGE, 0));
	munmap(p, 2 * HPAGE);
}

/*
 * A CPU read of one page of a THP on the device brings the data back: the
 * whole device folio (into a system THP), or that one base page.
 */
TEST_F(thp, fault_one_page)
{
	long long f0 = dmirror_dev_stat(0, "cpu_faults");
	struct hmm_dmirror_cmd cmd;
	char *p;
	int ret;

	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x13);
	THP_READY(ret, return);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, self->dev_thp));
	EXPECT_EQ(-1L, pat_find(p + 7 * PG, 7, 1, 0x13));
	if (self->large) {
		EXPECT_EQ(f0 + (long long)HPAGE_PAGES,
			  dmirror_dev_stat(0, "cpu_faults"));
		EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES,
					 SNAP_SYS_PMD_RW));
	} else {
		EXPECT_EQ(f0 + 1, dmirror_dev_stat(0, "cpu_faults"));
		EXPECT_EQ(SNAP_DEV_RW, snap_byte(self->fd, p, HPAGE_PAGES, 6));
		EXPECT_EQ(HMM_DMIRROR_PROT_WRITE,
			  snap_byte(self->fd, p, HPAGE_PAGES, 7));
		EXPECT_EQ(SNAP_DEV_RW, snap_byte(self->fd, p, HPAGE_PAGES, 8));
	}
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x13));
	EXPECT_EQ(f0 + (long long)HPAGE_PAGES,
		  dmirror_dev_stat(0, "cpu_faults"));
	munmap(p, HPAGE);
}

/*
 * A device READ through another file that starts inside a THP on the
 * device (a device-private PMD where the kernel has them) gets the pages
 * it asked for, not the ones at the start of the PMD. Every kernel.
 */
TEST_F(thp, read_from_inside_device_thp)
{
	unsigned long first = 201, n = HPAGE_PAGES - first;
	struct hmm_dmirror_cmd cmd;
	int fd2;
	char *p;
	int ret;

	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x1a);
	THP_READY(ret, return);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	ASSERT_EQ(HPAGE_PAGES, cmd.cpages);
	fd2 = dmirror_open_dev(0);
	ASSERT_GE(fd2, 0);
	memset(self->out, FILLER, n * PG);
	ASSERT_EQ(0, range_ioctl(fd2, HMM_DMIRROR_READ, p + first * PG,
				 self->out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(self->out, first, n, 0x1a));
	EXPECT_EQ(0, close(fd2));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x1a));
	munmap(p, HPAGE);
}

/*
 * Unmap half of a THP on the device (the core splits a device THP; base
 * device pages go at once), fault the rest back.
 */
TEST_F(thp, partial_munmap_then_fault)
{
	long long res0 = dmirror_dev_stat(0, "resident_pages");
	unsigned long half = HPAGE_PAGES / 2;
	struct hmm_dmirror_cmd cmd;
	char *p;
	int ret;

	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x14);
	THP_READY(ret, return);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, self->dev_thp));
	ASSERT_EQ(0, munmap(p + half * PG, half * PG));
	EXPECT_EQ(-1L, snap_find(self->fd, p, half, SNAP_DEV_RW));
	if (self->large) {
		/* The core may keep the whole folio until it splits it. */
		EXPECT_LE(res0 + (long long)half,
			  dmirror_dev_stat(0, "resident_pages"));
		EXPECT_GE(res0 + (long long)HPAGE_PAGES,
			  dmirror_dev_stat(0, "resident_pages"));
	} else {
		EXPECT_EQ(res0 + (long long)half,
			  dmirror_dev_stat(0, "resident_pages"));
	}
	EXPECT_EQ(-1L, pat_find(p, 0, half, 0x14));
	EXPECT_EQ(res0, dmirror_dev_stat(0, "resident_pages"));
	munmap(p, half * PG);
}

/*
 * Move a THP on the device to an address that is not PMD-aligned (a
 * device PMD is split into base entries there), fault it back.
 */
TEST_F(thp, mremap_then_fault)
{
	struct hmm_dmirror_cmd cmd;
	char *p, *area, *q;
	int ret;

	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x15);
	THP_READY(ret, return);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, self->dev_thp));

	area = map_huge(2);
	ASSERT_NE(NULL, area);
	q = mremap(p, HPAGE, HPAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
		   area + 16 * PG);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(-1L, snap_find(self->fd, q, HPAGE_PAGES, SNAP_DEV_RW));
	EXPECT_EQ(-1L, pat_find(q, 0, HPAGE_PAGES, 0x15));
	munmap(area, 2 * HPAGE);
}

/*
 * Large: FAIL_ALLOC makes the device THP allocation fail once; the unit
 * migrates as 512 base device pages instead, data intact, and the next
 * THP gets a device THP again.
 */
TEST_F(thp, fail_alloc_populated)
{
	struct hmm_dmirror_cmd cmd;
	char *p;
	int ret;

	if (!self->large)
		SKIP(return, NO_LARGE);
	p = map_huge(2);
	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x16);
	THP_READY(ret, return);
	ret = populate_thp(self->fd, p + HPAGE, 0x17);
	THP_READY(ret, goto out);
	ASSERT_EQ(0, fail_alloc(self->fd, p));
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(self->out, 0, HPAGE_PAGES, 0x16));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, SNAP_DEV_RW));
	ASSERT_EQ(0, to_dev(self->fd, p + HPAGE, self->out, HPAGE_PAGES,
			    &cmd));
	EXPECT_EQ(-1L, snap_find(self->fd, p + HPAGE, HPAGE_PAGES,
				 SNAP_DEV_PMD_RW));
	ASSERT_EQ(0, to_sys(self->fd, p, 2 * HPAGE_PAGES, &cmd));
	EXPECT_EQ(2 * HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x16));
	EXPECT_EQ(-1L, pat_find(p + HPAGE, 0, HPAGE_PAGES, 0x17));
out:
	munmap(p, 2 * HPAGE);
}

/* Large: FAIL_ALLOC on an empty unit: 512 zero-filled base device pages. */
TEST_F(thp, fail_alloc_zero)
{
	struct hmm_dmirror_cmd cmd;
	char *p;

	if (!self->large)
		SKIP(return, NO_LARGE);
	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, fail_alloc(self->fd, p));
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(self->out, HPAGE, 0));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, SNAP_DEV_RW));
	EXPECT_EQ(-1L, byte_find(p, HPAGE, 0));
	munmap(p, HPAGE);
}

/*
 * Large: FAIL_ALLOC on the way back: no system THP, the device folio is
 * split and comes back as 512 base pages, still counted in 4 KiB pages.
 */
TEST_F(thp, fail_alloc_to_sys)
{
	struct hmm_dmirror_cmd cmd;
	char *p;
	int ret;

	if (!self->large)
		SKIP(return, NO_LARGE);
	p = map_huge(1);
	ASSERT_NE(NULL, p);
	ret = populate_thp(self->fd, p, 0x18);
	THP_READY(ret, return);
	ASSERT_EQ(0, to_dev(self->fd, p, self->out, HPAGE_PAGES, &cmd));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, SNAP_DEV_PMD_RW));
	ASSERT_EQ(0, fail_alloc(self->fd, p));
	ASSERT_EQ(0, to_sys(self->fd, p, HPAGE_PAGES, &cmd));
	EXPECT_EQ(HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES,
				 HMM_DMIRROR_PROT_WRITE));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x18));
	munmap(p, HPAGE);
}

TEST_HARNESS_MAIN
