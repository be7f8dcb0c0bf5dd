// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror THP tests: PMD-sized transparent huge pages migrated into
 * device-private memory and back, split by faults, partial munmap, mremap
 * and fork, the FAIL_ALLOC fallback to base pages, and counts in 4 KiB
 * pages.
 *
 * Where the kernel has compound device-private migration (7.3), a THP or
 * an empty 2 MiB unit moves as one large device folio, mapped by a device
 * PMD; elsewhere (6.1, 6.12, or a module loaded with thp_migration=0) the
 * core splits it and it moves as 512 base device pages. The module says
 * which in the read-only parameter
 * /sys/module/hmm_dmirror/parameters/thp_migration (Y/N): a parameter that
 * cannot be read fails every test, and module_load.sh checks that it reads
 * what the test kernel's tree says (scripts/prepare.sh writes that down).
 *
 * Most tests run on every kernel: the same scenario, asserting that
 * kernel's exact outcome (SNAPSHOT flags with HMM_DMIRROR_PROT_PMD for a
 * large folio, without it for base pages; counters; bytes). Tests marked
 * "large" test the large folio's own fallbacks (FAIL_ALLOC, no system
 * THP) and SKIP where thp_migration reads N. Without THPs at all (the
 * kernel has none, or they are disabled) the tests that need a populated
 * THP SKIP and say so; any other unit that is not a THP fails.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/types.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

/* See dmirror_migrate.h: harness code, not ours, trips -Wclobbered. */
#pragma GCC diagnostic ignored "-Wclobbered"

#define HPAGE		(2UL * 1024 * 1024)
#define HPAGE_PAGES	(HPAGE / PG)

#define SNAP_SYS_PMD_RW	(HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD)
#define SNAP_DEV_RW	(HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | \
			 HMM_DMIRROR_PROT_WRITE)
#define SNAP_DEV_PMD_RW	(SNAP_DEV_RW | HMM_DMIRROR_PROT_PMD)

#define NO_LARGE	"kernel lacks compound device-private migration"

/* The module's test hook: while 1, no system THP can be had. */
#define FAIL_SYS_THP	DMIRROR_DEBUGFS "/fail_sys_thp"

/* Set the fail_sys_thp hook to @on; 0 or -errno. */
static int fail_sys_thp(int on)
{
	int fd, ret = 0;

	fd = open(FAIL_SYS_THP, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, on ? "1" : "0", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}

#define THP_PARAM	DMIRROR_PARAM_DIR "/thp_migration"

/* @n PMD-aligned huge pages of private anonymous memory, THP allowed. */
static char *map_huge(unsigned long n)
{
	size_t len = n * HPAGE;
	uintptr_t a, start;
	char *p;

	p = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	start = (uintptr_t)p;
	a = (start + HPAGE - 1) & ~(HPAGE - 1);
	if (a > start)
		munmap(p, a - start);
	if (a + len < start + len + HPAGE)
		munmap((void *)(a + len), start + len + HPAGE - (a + len));
	madvise((void *)a, len, MADV_HUGEPAGE);
	return (char *)a;
}

/* Arm FAIL_ALLOC on @fd. */
static int fail_alloc(int fd, const void *addr)
{
	struct hmm_dmirror_cmd cmd;

	return range_ioctl(fd, HMM_DMIRROR_FLAGS, addr, NULL,
			   HMM_DMIRROR_FLAG_FAIL_ALLOC, &cmd);
}

/* The snapshot byte of page @i of [@addr, +@npages) through @fd; -1 on error. */
static int snap_byte(int fd, const void *addr, unsigned long npages,
		     unsigned long i)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *s = out_buf(npages);
	int b = -1;

	if (!s)
		return -1;
	if (!range_ioctl(fd, HMM_DMIRROR_SNAPSHOT, addr, s, npages, &cmd) &&
	    cmd.cpages == npages)
		b = s[i];
	free(s);
	return b;
}

FIXTURE(thp)
{
	int fd;
	int large;		/* thp_migration reads Y */
	int dev_thp;		/* SNAPSHOT of a THP migrated to the device */
	int sys_thp;		/* ... and of it migrated back */
	unsigned char *out;
};

FIXTURE_SETUP(thp)
{
	self->fd = dmirror_open_dev(0);
	ASSERT_GE(self->fd, 0) TH_LOG("open /dev/hmm_dmirror0: %s",
				      strerror(errno));
	self->large = dmirror_param_yn("thp_migration");
	ASSERT_LE(0, self->large) TH_LOG("%s: cannot be read, or not Y or N",
					 THP_PARAM);
	self->dev_thp = self->large ? SNAP_DEV_PMD_RW : SNAP_DEV_RW;
	self->sys_thp = self->large ? SNAP_SYS_PMD_RW : HMM_DMIRROR_PROT_WRITE;
	self->out = out_buf(2 * HPAGE);
	ASSERT_NE(NULL, self->out);
	/* A test killed on its timeout leaves the hook set. */
	fail_sys_thp(0);
}

FIXTURE_TEARDOWN(thp)
{
	fail_sys_thp(0);
	free(self->out);
	EXPECT_EQ(0, close(self->fd));
}

#define THP_ENABLED	"/sys/kernel/mm/transparent_hugepage/enabled"

/* NULL when the kernel hands out THPs (madvised), else why not. */
static const char *no_thp_why(void)
{
	char buf[128] = "";
	ssize_t n;
	int fd;

	fd = open(THP_ENABLED, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return "kernel lacks transparent huge pages (no " THP_ENABLED ")";
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0 && strstr(buf, "[never]"))
		return "transparent huge pages disabled (" THP_ENABLED ": never)";
	return NULL;
}

/*
 * Fill the THP at @p with pattern @seed and check with SNAPSHOT that it is
 * one PMD-mapped THP. Return: 0 when it is; 1 when the kernel hands out no
 * THPs (SKIP, no_thp_why() says why); -1 when SNAPSHOT failed, or the
 * kernel has THPs and this is none (a failure: the guest has the memory).
 */
static int populate_thp(int fd, char *p, unsigned int seed)
{
	int b;

	pat_fill(p, 0, HPAGE_PAGES, seed);
	b = snap_byte(fd, p, HPAGE_PAGES, 0);
	if (b == SNAP_SYS_PMD_RW)
		return 0;
	if (b < 0) {
		fprintf(stderr, "# SNAPSHOT of a populated THP failed\n");
		return -1;
	}
	if (no_thp_why())
		return 1;
	fprintf(stderr, "# a populated THP snapshots as %#x, not %#x\n",
		b, SNAP_SYS_PMD_RW);
	return -1;
}

/* After populate_thp() or device_thp(): SKIP without THPs, fail on -1. */
#define THP_READY(ret, statement) do {				\
	int thp_ready_ = (ret);					\
								\
	if (thp_ready_ > 0)					\
		SKIP(statement, "%s", no_thp_why());		\
	ASSERT_EQ(0, thp_ready_);				\
} while (0)

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
