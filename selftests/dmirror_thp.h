/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the THP tests share (dmirror_thp_test.c, dmirror_thp_evict_test.c):
 * their helpers and the thp fixture.
 *
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
#ifndef _DMIRROR_THP_H
#define _DMIRROR_THP_H
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
static inline int fail_sys_thp(int on)
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
static inline char *map_huge(unsigned long n)
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
static inline int fail_alloc(int fd, const void *addr)
{
	struct hmm_dmirror_cmd cmd;

	return range_ioctl(fd, HMM_DMIRROR_FLAGS, addr, NULL,
			   HMM_DMIRROR_FLAG_FAIL_ALLOC, &cmd);
}

/* The snapshot byte of page @i of [@addr, +@npages) through @fd; -1 on error. */
static inline int snap_byte(int fd, const void *addr, unsigned long npages,
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
static inline int populate_thp(int fd, char *p, unsigned int seed)
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

#endif /* _DMIRROR_THP_H */
