/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the mirror tests share (dmirror_mirror_test.c, dmirror_mirror_mm_test.c,
 * dmirror_mirror_input_test.c): their helpers and the mirror fixture. They
 * test HMM_DMIRROR_READ, HMM_DMIRROR_WRITE and HMM_DMIRROR_SNAPSHOT through
 * the device page table; how the device page table follows the CPU page
 * tables (CPU writes, munmap, mprotect, fork); the debugfs counters; and the
 * argument checks of the three ioctls.
 */
#ifndef _DMIRROR_MIRROR_H
#define _DMIRROR_MIRROR_H

#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

/*
 * The TEST_F() wrapper of some harness versions (6.12) assigns a local
 * after setjmp(), and depending on what GCC inlines, -Wclobbered reports
 * it inside the harness macro. That variable lives in the harness, not
 * in these tests, so the warning says nothing about this file.
 */
#pragma GCC diagnostic ignored "-Wclobbered"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif

#define PAGE_SZ			4096UL
#define PMD_SZ			(2UL << 20)
#define PMD_PAGES		(PMD_SZ / PAGE_SZ)

/* Fill byte of output buffers that a failing ioctl must leave alone. */
#define SENTINEL		0xc3

/* Snapshot bytes used below, spelled out from the PROT_* values. */
#define SNAP_ERROR		HMM_DMIRROR_PROT_ERROR
#define SNAP_RO			HMM_DMIRROR_PROT_READ
#define SNAP_RW			HMM_DMIRROR_PROT_WRITE
#define SNAP_ZERO		(HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ)
#define SNAP_PMD_RO		(HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_READ)
#define SNAP_PMD_RW		(HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_WRITE)

/* Counter names of the debugfs stats files. */
static const char * const stat_names[] = {
	"invalidate",
	"invalidate_own_migrate",
	"invalidate_nonblock",
	"invalidate_nonblock_refused",
	"fault_rounds",
	"pages_faulted",
	"mirrors",
};

/*
 * Issue a range ioctl. cpages and faults go in as NOT_COPIED so the caller
 * can tell whether the block was copied back.
 */
static inline int range_cmd(int fd, unsigned long req, unsigned long long addr,
			    const void *ptr, unsigned long long npages,
			    struct hmm_dmirror_cmd *cmd)
{
	cmd->addr = addr;
	cmd->ptr = (uintptr_t)ptr;
	cmd->npages = npages;
	cmd->cpages = NOT_COPIED;
	cmd->faults = NOT_COPIED;
	return dmirror_cmd(fd, req, cmd);
}

static inline int dev_snap(int fd, const void *addr, unsigned char *out,
			   unsigned long npages, struct hmm_dmirror_cmd *cmd)
{
	return range_cmd(fd, HMM_DMIRROR_SNAPSHOT, (uintptr_t)addr, out,
			 npages, cmd);
}

/* A malloc'ed buffer of @len bytes, every byte SENTINEL. */
static inline unsigned char *sentinel_buf(size_t len)
{
	unsigned char *p = malloc(len);

	if (p)
		memset(p, SENTINEL, len);
	return p;
}

/* Fill @npages pages with words that encode @seed and their position. */
static inline void fill(void *buf, unsigned long npages, unsigned long long seed)
{
	unsigned long long *w = buf;
	unsigned long i, n = npages * PAGE_SZ / sizeof(*w);

	for (i = 0; i < n; i++)
		w[i] = (seed << 40) ^ (i * 0x10001ULL);
}

/*
 * Check pages [@first, @first + @npages) of a region that fill(@base, ...,
 * @seed) would have produced. Returns the index (from @first) of the first
 * word that differs, or -1.
 */
static inline long check_part(const void *base, unsigned long first,
			      unsigned long npages, unsigned long long seed)
{
	const unsigned long long *w = base;
	unsigned long i = first * PAGE_SZ / sizeof(*w);
	unsigned long end = i + npages * PAGE_SZ / sizeof(*w);

	for (; i < end; i++)
		if (w[i] != ((seed << 40) ^ (i * 0x10001ULL)))
			return i - first * PAGE_SZ / sizeof(*w);
	return -1;
}

/* Index of the first word of @buf that differs from fill(@seed), or -1. */
static inline long check(const void *buf, unsigned long npages,
			 unsigned long long seed)
{
	return check_part(buf, 0, npages, seed);
}

/* 1 when @buf holds exactly the bytes of @expect. */
static inline int snap_is(const unsigned char *buf, const unsigned char *expect,
			  size_t n)
{
	return !memcmp(buf, expect, n);
}

/* Read a small text file into @buf; 0 on success. */
static inline int read_text(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

FIXTURE(mirror)
{
	int fd;
};

FIXTURE_SETUP(mirror)
{
	self->fd = dmirror_open_dev(0);
	ASSERT_GE(self->fd, 0) TH_LOG("open /dev/hmm_dmirror0: %s",
				      strerror(errno));
}

FIXTURE_TEARDOWN(mirror)
{
	EXPECT_EQ(0, close(self->fd));
}

#endif /* _DMIRROR_MIRROR_H */
