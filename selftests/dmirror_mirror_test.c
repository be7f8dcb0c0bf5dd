// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror mirror tests: HMM_DMIRROR_READ, HMM_DMIRROR_WRITE and
 * HMM_DMIRROR_SNAPSHOT through the device page table; how the device page
 * table follows the CPU page tables (CPU writes, munmap, mprotect, fork);
 * the debugfs counters; and the argument checks of the three ioctls.
 */
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

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT		26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB		(21 << MAP_HUGE_SHIFT)
#endif
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
static int range_cmd(int fd, unsigned long req, unsigned long long addr,
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

static int dev_snap(int fd, const void *addr, unsigned char *out,
		    unsigned long npages, struct hmm_dmirror_cmd *cmd)
{
	return range_cmd(fd, HMM_DMIRROR_SNAPSHOT, (uintptr_t)addr, out,
			 npages, cmd);
}

/* A malloc'ed buffer of @len bytes, every byte SENTINEL. */
static unsigned char *sentinel_buf(size_t len)
{
	unsigned char *p = malloc(len);

	if (p)
		memset(p, SENTINEL, len);
	return p;
}

/* Fill @npages pages with words that encode @seed and their position. */
static void fill(void *buf, unsigned long npages, unsigned long long seed)
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
static long check_part(const void *base, unsigned long first,
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
static long check(const void *buf, unsigned long npages,
		  unsigned long long seed)
{
	return check_part(buf, 0, npages, seed);
}

/* Index of the first byte of @buf that is not @val, or -1. */
static long check_bytes(const void *buf, size_t len, unsigned char val)
{
	const unsigned char *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != val)
			return i;
	return -1;
}

/* 1 when @buf holds exactly the bytes of @expect. */
static int snap_is(const unsigned char *buf, const unsigned char *expect,
		   size_t n)
{
	return !memcmp(buf, expect, n);
}

/* Read a small text file into @buf; 0 on success. */
static int read_text(const char *path, char *buf, size_t len)
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

/*
 * Written the way a program made for the kernel's own test device uses the
 * ABI: the output fields hold garbage, the range is 1024 pages, the data is
 * written by the CPU first, and one READ must take exactly one fault round.
 */
TEST(compat_existing_program)
{
	unsigned long npages = 1024, size = npages * PAGE_SZ, i;
	struct hmm_dmirror_cmd cmd;
	int *buf, *out;
	int fd, ret;

	fd = open("/dev/hmm_dmirror0", O_RDWR);
	ASSERT_GE(fd, 0);
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	out = malloc(size);
	ASSERT_NE(NULL, out);
	for (i = 0; i < size / sizeof(int); i++)
		buf[i] = i;

	memset(&cmd, 0xa7, sizeof(cmd));
	cmd.addr = (uintptr_t)buf;
	cmd.ptr = (uintptr_t)out;
	cmd.npages = npages;
	ret = ioctl(fd, HMM_DMIRROR_READ, &cmd);
	ASSERT_EQ(0, ret) TH_LOG("READ: %s", strerror(errno));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ((uintptr_t)buf, cmd.addr);
	EXPECT_EQ((uintptr_t)out, cmd.ptr);
	EXPECT_EQ(npages, cmd.npages);
	for (i = 0; i < size / sizeof(int); i++)
		if (out[i] != (int)i)
			break;
	EXPECT_EQ(size / sizeof(int), i);

	/* And the other direction, into fresh memory. */
	ASSERT_EQ(0, munmap(buf, size));
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	for (i = 0; i < size / sizeof(int); i++)
		out[i] = ~i;
	memset(&cmd, 0xa7, sizeof(cmd));
	cmd.addr = (uintptr_t)buf;
	cmd.ptr = (uintptr_t)out;
	cmd.npages = npages;
	ret = ioctl(fd, HMM_DMIRROR_WRITE, &cmd);
	ASSERT_EQ(0, ret) TH_LOG("WRITE: %s", strerror(errno));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	for (i = 0; i < size / sizeof(int); i++)
		if (buf[i] != (int)~i)
			break;
	EXPECT_EQ(size / sizeof(int), i);

	free(out);
	munmap(buf, size);
	EXPECT_EQ(0, close(fd));
}

/* READ of memory the CPU wrote; a second READ needs no fault at all. */
TEST_F(mirror, anon_read_touched)
{
	unsigned long npages = 1024;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	fill(buf, npages, 0xa1);

	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, npages, 0xa1));

	memset(out, SENTINEL, npages * PAGE_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, npages, 0xa1));

	/* Reading changed nothing on the CPU side. */
	EXPECT_EQ(-1L, check(buf, npages, 0xa1));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, npages, SNAP_RW));

	free(out);
	munmap(buf, npages * PAGE_SZ);
}

/* A READ over a range whose first part is mirrored faults the rest once. */
TEST_F(mirror, anon_read_prefix_mirrored)
{
	unsigned long npages = 64;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	fill(buf, npages, 0xa2);

	ASSERT_EQ(0, dev_read(self->fd, buf, out, 16, &cmd));
	EXPECT_EQ(16ULL, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, 16, 0xa2));

	memset(out, SENTINEL, npages * PAGE_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, npages, 0xa2));

	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(0ULL, cmd.faults);

	free(out);
	munmap(buf, npages * PAGE_SZ);
}

/*
 * READ of never-touched memory maps the shared zero page: the data is zero
 * and the snapshot says "zero page, read". A WRITE then has to fault again
 * because those entries are read-only.
 */
TEST_F(mirror, anon_read_zero_page)
{
	unsigned long npages = 16;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	char *buf;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	in = malloc(npages * PAGE_SZ);
	ASSERT_NE(NULL, in);

	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, npages, SNAP_NONE));

	memset(out, SENTINEL, npages * PAGE_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check_bytes(out, npages * PAGE_SZ, 0));

	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, npages, SNAP_ZERO));
	EXPECT_EQ(-1L, check_bytes(buf, npages * PAGE_SZ, 0));

	fill(in, npages, 0xa3);
	ASSERT_EQ(0, dev_write(self->fd, buf, in, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(buf, npages, 0xa3));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, npages, SNAP_RW));

	free(in);
	free(out);
	munmap(buf, npages * PAGE_SZ);
}

/* WRITE into never-touched memory, then again and READ without faults. */
TEST_F(mirror, anon_write_untouched)
{
	unsigned long npages = 1024;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	char *buf;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	in = malloc(npages * PAGE_SZ);
	ASSERT_NE(NULL, in);

	fill(in, npages, 0xb1);
	ASSERT_EQ(0, dev_write(self->fd, buf, in, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(buf, npages, 0xb1));

	fill(in, npages, 0xb2);
	ASSERT_EQ(0, dev_write(self->fd, buf, in, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check(buf, npages, 0xb2));

	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, npages, 0xb2));

	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check_bytes(out, npages, SNAP_RW));

	free(in);
	free(out);
	munmap(buf, npages * PAGE_SZ);
}

/* WRITE over data the CPU wrote first replaces it. */
TEST_F(mirror, anon_write_touched)
{
	unsigned long npages = 64;
	struct hmm_dmirror_cmd cmd;
	unsigned char *in;
	char *buf;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	in = malloc(npages * PAGE_SZ);
	ASSERT_NE(NULL, in);
	fill(buf, npages, 0xb3);
	fill(in, npages, 0xb4);

	ASSERT_EQ(0, dev_write(self->fd, buf, in, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(buf, npages, 0xb4));

	free(in);
	munmap(buf, npages * PAGE_SZ);
}

/*
 * The device sees what the CPU writes: through the very same pages when
 * the CPU page table does not change, and after a fault when it does (the
 * zero page being replaced by a private page).
 */
TEST_F(mirror, cpu_writes_seen_by_device)
{
	unsigned long npages = 16;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf;

	buf = map_anon(2 * npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);

	/* First half: present pages, rewritten in place. */
	fill(buf, npages, 0xc1);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, npages, 0xc1));
	fill(buf, npages, 0xc2);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, npages, 0xc2));

	/* Second half: zero page first, then the CPU writes. */
	ASSERT_EQ(0, dev_read(self->fd, buf + npages * PAGE_SZ, out, npages,
			      &cmd));
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check_bytes(out, npages * PAGE_SZ, 0));
	fill(buf + npages * PAGE_SZ, npages, 0xc3);
	ASSERT_EQ(0, dev_read(self->fd, buf + npages * PAGE_SZ, out, npages,
			      &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, npages, 0xc3));

	free(out);
	munmap(buf, 2 * npages * PAGE_SZ);
}

/*
 * Read-only mappings: READ works, WRITE is -EPERM and leaves the memory
 * and the command block alone, before and after the range was mirrored.
 */
TEST_F(mirror, readonly_mapping)
{
	unsigned long npages = 16;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	char *buf, *fresh;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	fresh = map_anon(npages, PROT_READ);
	ASSERT_NE(NULL, fresh);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	in = malloc(npages * PAGE_SZ);
	ASSERT_NE(NULL, in);
	fill(buf, npages, 0xd1);
	fill(in, npages, 0xd2);
	ASSERT_EQ(0, mprotect(buf, npages * PAGE_SZ, PROT_READ));

	EXPECT_EQ(-EPERM, dev_write(self->fd, buf, in, npages, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(NOT_COPIED, cmd.faults);
	EXPECT_EQ(-1L, check(buf, npages, 0xd1));

	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, npages, 0xd1));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, npages, SNAP_RO));

	/* Mirrored read-only now; still no writing. */
	EXPECT_EQ(-EPERM, dev_write(self->fd, buf, in, npages, &cmd));
	EXPECT_EQ(-1L, check(buf, npages, 0xd1));

	/* A mapping that was read-only from the start. */
	EXPECT_EQ(-EPERM, dev_write(self->fd, fresh, in, npages, &cmd));
	memset(out, SENTINEL, npages * PAGE_SZ);
	ASSERT_EQ(0, dev_read(self->fd, fresh, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check_bytes(out, npages * PAGE_SZ, 0));
	ASSERT_EQ(0, dev_snap(self->fd, fresh, out, npages, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, npages, SNAP_ZERO));
	EXPECT_EQ(-EPERM, dev_write(self->fd, fresh, in, npages, &cmd));
	EXPECT_EQ(-1L, check_bytes(fresh, npages * PAGE_SZ, 0));

	free(in);
	free(out);
	munmap(buf, npages * PAGE_SZ);
	munmap(fresh, npages * PAGE_SZ);
}

/* A WRITE whose range ends in a read-only VMA writes nothing at all. */
TEST_F(mirror, readonly_part_of_range)
{
	unsigned long npages = 16;
	struct hmm_dmirror_cmd cmd;
	unsigned char *in;
	char *buf;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	in = malloc(npages * PAGE_SZ);
	ASSERT_NE(NULL, in);
	fill(buf, npages, 0xd3);
	fill(in, npages, 0xd4);
	ASSERT_EQ(0, mprotect(buf + 8 * PAGE_SZ, 8 * PAGE_SZ, PROT_READ));

	EXPECT_EQ(-EPERM, dev_write(self->fd, buf, in, npages, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, check(buf, npages, 0xd3));

	/* The writable half alone is fine. */
	ASSERT_EQ(0, dev_write(self->fd, buf, in, 8, &cmd));
	EXPECT_EQ(8ULL, cmd.cpages);
	EXPECT_EQ(-1L, check(buf, 8, 0xd4));
	EXPECT_EQ(-1L, check_part(buf, 8, 8, 0xd3));

	free(in);
	munmap(buf, npages * PAGE_SZ);
}

/*
 * PROT_NONE: READ and WRITE fail with -EFAULT without touching the output
 * buffer or the memory; the snapshot reports an error for each page.
 */
TEST_F(mirror, prot_none)
{
	unsigned long npages = 8, i;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	unsigned char expect[8];
	char *buf;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	in = malloc(npages * PAGE_SZ);
	ASSERT_NE(NULL, in);
	fill(buf, npages, 0xe1);
	fill(in, npages, 0xe2);
	ASSERT_EQ(0, mprotect(buf, npages * PAGE_SZ, PROT_NONE));

	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(NOT_COPIED, cmd.faults);
	EXPECT_EQ(-1L, check_bytes(out, npages * PAGE_SZ, SENTINEL));
	EXPECT_EQ(-EFAULT, dev_write(self->fd, buf, in, npages, &cmd));

	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check_bytes(out, npages, SNAP_ERROR));

	ASSERT_EQ(0, mprotect(buf, npages * PAGE_SZ, PROT_READ | PROT_WRITE));
	EXPECT_EQ(-1L, check(buf, npages, 0xe1));
	/* Rewrite so every PTE is writable again, whatever mprotect did. */
	fill(buf, npages, 0xe1);

	/* One PROT_NONE page in the middle spoils the whole range. */
	ASSERT_EQ(0, mprotect(buf + 4 * PAGE_SZ, PAGE_SZ, PROT_NONE));
	memset(out, SENTINEL, npages * PAGE_SZ);
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, npages * PAGE_SZ, SENTINEL));
	EXPECT_EQ(-EFAULT, dev_write(self->fd, buf, in, npages, &cmd));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	for (i = 0; i < npages; i++)
		expect[i] = i == 4 ? SNAP_ERROR : SNAP_RW;
	EXPECT_TRUE(snap_is(out, expect, npages));
	ASSERT_EQ(0, mprotect(buf + 4 * PAGE_SZ, PAGE_SZ,
			      PROT_READ | PROT_WRITE));
	EXPECT_EQ(-1L, check(buf, npages, 0xe1));

	free(in);
	free(out);
	munmap(buf, npages * PAGE_SZ);
}

/*
 * One snapshot over every kind of base page: untouched, zero page,
 * read-only, writable, PROT_NONE, unmapped. Taking it faults nothing in.
 */
TEST_F(mirror, snapshot_page_states)
{
	static const unsigned char expect[6] = {
		SNAP_NONE, SNAP_ZERO, SNAP_RO, SNAP_RW, SNAP_ERROR, SNAP_ERROR,
	};
	struct hmm_dmirror_cmd cmd;
	long long rounds;
	unsigned char out[6];
	char *buf;

	buf = map_anon(6, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	/* A CPU read fault maps the zero page. */
	EXPECT_EQ(0, buf[1 * PAGE_SZ]);
	buf[2 * PAGE_SZ] = 1;
	ASSERT_EQ(0, mprotect(buf + 2 * PAGE_SZ, PAGE_SZ, PROT_READ));
	buf[3 * PAGE_SZ] = 1;
	ASSERT_EQ(0, mprotect(buf + 4 * PAGE_SZ, PAGE_SZ, PROT_NONE));
	ASSERT_EQ(0, munmap(buf + 5 * PAGE_SZ, PAGE_SZ));

	rounds = dmirror_mm_stat("fault_rounds");
	ASSERT_GE(rounds, 0);
	memset(out, SENTINEL, sizeof(out));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, 6, &cmd));
	EXPECT_EQ(6ULL, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_TRUE(snap_is(out, expect, 6))
		TH_LOG("got %02x %02x %02x %02x %02x %02x", out[0], out[1],
		       out[2], out[3], out[4], out[5]);

	/* Unchanged the second time: the first one populated nothing. */
	memset(out, SENTINEL, sizeof(out));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, 6, &cmd));
	EXPECT_TRUE(snap_is(out, expect, 6));
	EXPECT_EQ(rounds, dmirror_mm_stat("fault_rounds"));

	munmap(buf, 5 * PAGE_SZ);
}

/*
 * A snapshot of 1 GiB that was never touched: 262144 bytes of "nothing
 * mapped", produced batch by batch. The same range PROT_NONE: all errors.
 */
TEST_F(mirror, snapshot_large_untouched)
{
	unsigned long size = 1UL << 30, npages = size / PAGE_SZ;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	void *buf;

	buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	out = sentinel_buf(npages);
	ASSERT_NE(NULL, out);

	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check_bytes(out, npages, SNAP_NONE));

	ASSERT_EQ(0, mprotect(buf, size, PROT_NONE));
	memset(out, SENTINEL, npages);
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(-1L, check_bytes(out, npages, SNAP_ERROR));

	free(out);
	munmap(buf, size);
}

/*
 * A transparent huge page: the snapshot shows the PMD mapping, READ and
 * WRITE go through its 4 KiB parts, and the device WRITE does not split it.
 */
TEST_F(mirror, thp_pmd)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	char *map, *buf;
	char mode[256];

	if (read_text("/sys/kernel/mm/transparent_hugepage/enabled", mode,
		      sizeof(mode)))
		SKIP(return, "no transparent huge page support");
	if (!strstr(mode, "[always]") && !strstr(mode, "[madvise]"))
		SKIP(return, "transparent huge pages disabled: %s", mode);

	map = mmap(NULL, 2 * PMD_SZ, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	buf = (char *)(((uintptr_t)map + PMD_SZ - 1) & ~(PMD_SZ - 1));
	ASSERT_EQ(0, madvise(buf, PMD_SZ, MADV_HUGEPAGE));
	out = sentinel_buf(PMD_SZ);
	ASSERT_NE(NULL, out);
	in = malloc(PMD_SZ);
	ASSERT_NE(NULL, in);
	fill(buf, PMD_PAGES, 0xf1);

	ASSERT_EQ(0, dev_snap(self->fd, buf, out, PMD_PAGES, &cmd));
	if (!(out[0] & HMM_DMIRROR_PROT_PMD)) {
		munmap(map, 2 * PMD_SZ);
		SKIP(return, "the range did not get a huge page (byte %#x)",
		     out[0]);
	}
	EXPECT_EQ(-1L, check_bytes(out, PMD_PAGES, SNAP_PMD_RW));

	memset(out, SENTINEL, PMD_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, PMD_PAGES, &cmd));
	EXPECT_EQ(PMD_PAGES, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, PMD_PAGES, 0xf1));

	fill(in, PMD_PAGES, 0xf2);
	ASSERT_EQ(0, dev_write(self->fd, buf, in, PMD_PAGES, &cmd));
	EXPECT_EQ(PMD_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, check(buf, PMD_PAGES, 0xf2));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, PMD_PAGES, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, PMD_PAGES, SNAP_PMD_RW));

	ASSERT_EQ(0, mprotect(buf, PMD_SZ, PROT_READ));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, PMD_PAGES, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, PMD_PAGES, SNAP_PMD_RO));
	fill(in, PMD_PAGES, 0xf3);
	EXPECT_EQ(-EPERM, dev_write(self->fd, buf, in, PMD_PAGES, &cmd));
	EXPECT_EQ(-1L, check(buf, PMD_PAGES, 0xf2));
	memset(out, SENTINEL, PMD_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, PMD_PAGES, &cmd));
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, PMD_PAGES, 0xf2));

	free(in);
	free(out);
	munmap(map, 2 * PMD_SZ);
}

/* A 2 MiB hugetlbfs page, written by the device first, then read-only. */
TEST_F(mirror, hugetlb_2m)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	char *buf, why[160];
	int ready;

	ready = dmirror_huge_2m_ready(why, sizeof(why));
	if (!ready)
		SKIP(return, "%s", why);
	ASSERT_EQ(1, ready) TH_LOG("%s", why);
	buf = mmap(NULL, PMD_SZ, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB,
		   -1, 0);
	ASSERT_NE(MAP_FAILED, buf) TH_LOG("a free 2 MiB huge page: %s",
					  strerror(errno));
	out = sentinel_buf(PMD_SZ);
	ASSERT_NE(NULL, out);
	in = malloc(PMD_SZ);
	ASSERT_NE(NULL, in);

	fill(in, PMD_PAGES, 0x91);
	ASSERT_EQ(0, dev_write(self->fd, buf, in, PMD_PAGES, &cmd));
	EXPECT_EQ(PMD_PAGES, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(buf, PMD_PAGES, 0x91));

	ASSERT_EQ(0, dev_snap(self->fd, buf, out, PMD_PAGES, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, PMD_PAGES, SNAP_PMD_RW));

	memset(out, SENTINEL, PMD_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, PMD_PAGES, &cmd));
	EXPECT_EQ(PMD_PAGES, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, PMD_PAGES, 0x91));

	ASSERT_EQ(0, mprotect(buf, PMD_SZ, PROT_READ));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, PMD_PAGES, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, PMD_PAGES, SNAP_PMD_RO));
	fill(in, PMD_PAGES, 0x92);
	EXPECT_EQ(-EPERM, dev_write(self->fd, buf, in, PMD_PAGES, &cmd));
	EXPECT_EQ(-1L, check(buf, PMD_PAGES, 0x91));
	memset(out, SENTINEL, PMD_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, PMD_PAGES, &cmd));
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, PMD_PAGES, 0x91));

	free(in);
	free(out);
	munmap(buf, PMD_SZ);
}

/*
 * Child side of fork_cow_private. Exit status 0 when everything held,
 * otherwise the number of the first check that failed.
 */
static int cow_child(char *buf, unsigned long npages, int go)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *io;
	char c;
	int fd;

	if (read(go, &c, 1) != 1)
		return 1;
	/* The parent's device WRITE after fork must not show up here. */
	if (check(buf, npages, 0x72) != -1)
		return 2;
	io = malloc(npages * PAGE_SZ);
	if (!io)
		return 3;
	fd = dmirror_open_dev(0);
	if (fd < 0)
		return 4;
	fill(io, npages, 0x74);
	if (dev_write(fd, buf, io, npages, &cmd))
		return 5;
	if (cmd.cpages != npages || cmd.faults != 1)
		return 6;
	if (check(buf, npages, 0x74) != -1)
		return 7;
	memset(io, 0, npages * PAGE_SZ);
	if (dev_read(fd, buf, io, npages, &cmd) || cmd.faults != 0)
		return 8;
	if (check(io, npages, 0x74) != -1)
		return 9;
	if (close(fd))
		return 10;
	return 0;
}

/*
 * fork() write-protects the parent's private pages, which must drop the
 * parent's device entries: a device WRITE by the parent afterwards has to
 * fault (breaking COW) instead of writing into pages the child shares. The
 * child, with its own file, writes its own copy; the parent keeps its data.
 */
TEST_F(mirror, fork_cow_private)
{
	unsigned long npages = 16;
	struct hmm_dmirror_cmd cmd;
	long long inval;
	unsigned char *io;
	int go[2], status;
	char *buf;
	pid_t pid;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	io = malloc(npages * PAGE_SZ);
	ASSERT_NE(NULL, io);
	fill(buf, npages, 0x71);
	fill(io, npages, 0x72);
	ASSERT_EQ(0, dev_write(self->fd, buf, io, npages, &cmd));
	EXPECT_EQ(1ULL, cmd.faults);
	ASSERT_EQ(-1L, check(buf, npages, 0x72));
	inval = dmirror_mm_stat("invalidate");
	ASSERT_GE(inval, 0);

	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(go[1]);
		_exit(cow_child(buf, npages, go[0]));
	}
	close(go[0]);

	EXPECT_LT(inval, dmirror_mm_stat("invalidate"));
	fill(io, npages, 0x73);
	ASSERT_EQ(0, dev_write(self->fd, buf, io, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(buf, npages, 0x73));

	ASSERT_EQ(1, write(go[1], "g", 1));
	close(go[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("child check %d failed",
						 WEXITSTATUS(status));

	/* The child's writes stayed in the child. */
	EXPECT_EQ(-1L, check(buf, npages, 0x73));
	memset(io, 0, npages * PAGE_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, io, npages, &cmd));
	EXPECT_EQ(-1L, check(io, npages, 0x73));

	free(io);
	munmap(buf, npages * PAGE_SZ);
}

/* MAP_SHARED anonymous memory has no COW: the child's WRITE is shared. */
TEST_F(mirror, fork_shared_anon)
{
	unsigned long npages = 16;
	struct hmm_dmirror_cmd cmd;
	unsigned char *io;
	int status;
	char *buf;
	pid_t pid;

	buf = mmap(NULL, npages * PAGE_SZ, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	io = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, io);
	fill(buf, npages, 0x61);
	ASSERT_EQ(0, dev_read(self->fd, buf, io, npages, &cmd));
	EXPECT_EQ(-1L, check(io, npages, 0x61));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int fd = dmirror_open_dev(0);

		fill(io, npages, 0x62);
		if (fd < 0 || dev_write(fd, buf, io, npages, &cmd))
			_exit(1);
		_exit(cmd.cpages == npages && !close(fd) ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));

	EXPECT_EQ(-1L, check(buf, npages, 0x62));
	memset(io, SENTINEL, npages * PAGE_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, io, npages, &cmd));
	EXPECT_EQ(-1L, check(io, npages, 0x62));

	free(io);
	munmap(buf, npages * PAGE_SZ);
}

/*
 * The child of cow_pass_child_write(): WRITE @npages pages of @seed data
 * through its own file into @buf, which it shares COW with its parent.
 * Return: 0, 1..9 for a failed step, or 10 + the number of fault passes
 * when it is not 1.
 */
static int cow_pass_child(char *buf, unsigned long npages,
			  unsigned long long seed)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *in;
	int fd, ret = 0;

	in = malloc(npages * PAGE_SZ);
	if (!in)
		return 1;
	fill(in, npages, seed);
	fd = dmirror_open_dev(0);
	if (fd < 0)
		return 2;
	if (dev_write(fd, buf, in, npages, &cmd))
		ret = 3;
	else if (cmd.cpages != npages)
		ret = 4;
	else if (cmd.faults != 1)
		ret = 10 + (int)(cmd.faults < 200 ? cmd.faults : 200);
	else if (check(buf, npages, seed) != -1)
		ret = 5;
	if (close(fd) && !ret)
		ret = 6;
	free(in);
	return ret;
}

/*
 * A fork child's WRITE through its own file into memory it shares COW
 * with the parent makes one fault pass (cmd.faults == 1), however many
 * times the request has to fault pages again: its own write faults break
 * COW inside the range, and pages in this device's memory, which the
 * child maps read-only, must go back to system memory before the device
 * may write them. Every other round puts the pages on the device before
 * the fork; the parent keeps its data. Several rounds, as races with the
 * COW breaks once made the count vary.
 */
TEST_F(mirror, cow_pass_child_write)
{
	unsigned long npages = 3 * 32 + 5;
	struct hmm_dmirror_cmd cmd;
	int round, status, code;
	unsigned char *io;
	char *buf;
	pid_t pid;

	io = malloc(npages * PAGE_SZ);
	ASSERT_NE(NULL, io);
	for (round = 0; round < 8; round++) {
		int on_device = round & 1;

		buf = map_anon(npages, PROT_READ | PROT_WRITE);
		ASSERT_NE(NULL, buf);
		fill(buf, npages, 0x90 + round);
		if (on_device) {
			ASSERT_EQ(0, range_cmd(self->fd,
					       HMM_DMIRROR_MIGRATE_TO_DEV,
					       (uintptr_t)buf, io, npages,
					       &cmd));
			ASSERT_EQ(npages, cmd.cpages);
		}

		pid = fork();
		ASSERT_GE(pid, 0);
		if (pid == 0)
			_exit(cow_pass_child(buf, npages, 0xa0 + round));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status));
		code = WEXITSTATUS(status);
		EXPECT_EQ(0, code) TH_LOG("round %d (%s): child %s %d", round,
					  on_device ? "device" : "system",
					  code >= 10 ? "fault passes" : "step",
					  code >= 10 ? code - 10 : code);
		EXPECT_EQ(-1L, check(buf, npages, 0x90 + round));
		munmap(buf, npages * PAGE_SZ);
	}
	free(io);
}

/*
 * munmap of a mirrored range clears the device entries (the invalidate
 * counters of the device and of the mm move); READ of the hole fails
 * without output; memory mapped anew at the same place is read afresh.
 */
TEST_F(mirror, munmap_invalidates)
{
	unsigned long npages = 16;
	long long inval_mm, inval_dev;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf, *again;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	fill(buf, npages, 0x51);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check(out, npages, 0x51));

	inval_mm = dmirror_mm_stat("invalidate");
	inval_dev = dmirror_dev_stat(0, "invalidate");
	ASSERT_GE(inval_mm, 0);
	ASSERT_GE(inval_dev, 0);
	ASSERT_EQ(0, munmap(buf, npages * PAGE_SZ));
	EXPECT_LT(inval_mm, dmirror_mm_stat("invalidate"));
	EXPECT_LT(inval_dev, dmirror_dev_stat(0, "invalidate"));

	memset(out, SENTINEL, npages * PAGE_SZ);
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, check_bytes(out, npages * PAGE_SZ, SENTINEL));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, npages, SNAP_ERROR));

	again = mmap(buf, npages * PAGE_SZ, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ(buf, again);
	ASSERT_EQ(0, madvise(again, npages * PAGE_SZ, MADV_NOHUGEPAGE));
	fill(again, npages, 0x52);
	ASSERT_EQ(0, dev_read(self->fd, again, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, npages, 0x52));

	free(out);
	munmap(again, npages * PAGE_SZ);
}

/* munmap of a middle part keeps the entries on both sides. */
TEST_F(mirror, munmap_partial_keeps_rest)
{
	unsigned long npages = 16;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	fill(buf, npages, 0x53);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(1ULL, cmd.faults);

	ASSERT_EQ(0, munmap(buf + 4 * PAGE_SZ, 4 * PAGE_SZ));

	memset(out, SENTINEL, npages * PAGE_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, 4, &cmd));
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, 4, 0x53));
	ASSERT_EQ(0, dev_read(self->fd, buf + 8 * PAGE_SZ, out, 8, &cmd));
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check_part(buf, 8, 8, 0x53));
	EXPECT_EQ(0, memcmp(out, buf + 8 * PAGE_SZ, 8 * PAGE_SZ));

	memset(out, SENTINEL, npages * PAGE_SZ);
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, npages * PAGE_SZ, SENTINEL));

	free(out);
	munmap(buf, 4 * PAGE_SZ);
	munmap(buf + 8 * PAGE_SZ, 8 * PAGE_SZ);
}

/*
 * mprotect(PROT_READ) after a device WRITE drops the writable entries:
 * the next WRITE is -EPERM with memory unchanged, READ faults again, and
 * after mprotect back to read-write a WRITE takes one fault round.
 */
TEST_F(mirror, mprotect_readonly_after_write)
{
	unsigned long npages = 16;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	long long inval;
	char *buf;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	in = malloc(npages * PAGE_SZ);
	ASSERT_NE(NULL, in);

	fill(in, npages, 0x41);
	ASSERT_EQ(0, dev_write(self->fd, buf, in, npages, &cmd));
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(buf, npages, 0x41));

	inval = dmirror_mm_stat("invalidate");
	ASSERT_GE(inval, 0);
	ASSERT_EQ(0, mprotect(buf, npages * PAGE_SZ, PROT_READ));
	EXPECT_LT(inval, dmirror_mm_stat("invalidate"));

	fill(in, npages, 0x42);
	EXPECT_EQ(-EPERM, dev_write(self->fd, buf, in, npages, &cmd));
	EXPECT_EQ(-1L, check(buf, npages, 0x41));
	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, npages, 0x41));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, npages, SNAP_RO));

	ASSERT_EQ(0, mprotect(buf, npages * PAGE_SZ, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, dev_write(self->fd, buf, in, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(buf, npages, 0x42));

	free(in);
	free(out);
	munmap(buf, npages * PAGE_SZ);
}

/* Every counter exists in the device files and in this mm's file. */
TEST_F(mirror, counters_present)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(stat_names); i++) {
		EXPECT_LE(0LL, dmirror_dev_stat(0, stat_names[i]))
			TH_LOG("dev0 %s", stat_names[i]);
		EXPECT_LE(0LL, dmirror_dev_stat(1, stat_names[i]))
			TH_LOG("dev1 %s", stat_names[i]);
		EXPECT_LE(0LL, dmirror_mm_stat(stat_names[i]))
			TH_LOG("mm %s", stat_names[i]);
	}
	EXPECT_EQ(1LL, dmirror_mm_stat("mirrors"));
	EXPECT_LE(1LL, dmirror_dev_stat(0, "mirrors"));
}

/*
 * fault_rounds and pages_faulted follow cmd.faults and the pages brought
 * in, in the device and in the mm; nothing of ours is an own migration.
 */
TEST_F(mirror, counters_track_faults)
{
	long long rounds_mm, pages_mm, rounds_dev, pages_dev;
	unsigned long npages = 32;
	struct hmm_dmirror_cmd cmd;
	unsigned char *io;
	char *buf;

	buf = map_anon(2 * npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	io = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, io);

	rounds_mm = dmirror_mm_stat("fault_rounds");
	pages_mm = dmirror_mm_stat("pages_faulted");
	rounds_dev = dmirror_dev_stat(0, "fault_rounds");
	pages_dev = dmirror_dev_stat(0, "pages_faulted");
	ASSERT_GE(rounds_mm, 0);
	ASSERT_GE(pages_mm, 0);
	ASSERT_GE(rounds_dev, 0);
	ASSERT_GE(pages_dev, 0);

	ASSERT_EQ(0, dev_read(self->fd, buf, io, npages, &cmd));
	ASSERT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(rounds_mm + 1, dmirror_mm_stat("fault_rounds"));
	EXPECT_EQ(pages_mm + (long long)npages,
		  dmirror_mm_stat("pages_faulted"));
	EXPECT_EQ(rounds_dev + 1, dmirror_dev_stat(0, "fault_rounds"));
	EXPECT_EQ(pages_dev + (long long)npages,
		  dmirror_dev_stat(0, "pages_faulted"));

	/* Already mirrored: nothing is counted. */
	ASSERT_EQ(0, dev_read(self->fd, buf, io, npages, &cmd));
	ASSERT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(rounds_mm + 1, dmirror_mm_stat("fault_rounds"));
	EXPECT_EQ(pages_mm + (long long)npages,
		  dmirror_mm_stat("pages_faulted"));

	/* A WRITE into the untouched second half is one more round. */
	fill(io, npages, 0x31);
	ASSERT_EQ(0, dev_write(self->fd, buf + npages * PAGE_SZ, io, npages,
			       &cmd));
	ASSERT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(rounds_mm + 2, dmirror_mm_stat("fault_rounds"));
	EXPECT_EQ(pages_mm + 2 * (long long)npages,
		  dmirror_mm_stat("pages_faulted"));
	EXPECT_EQ(rounds_dev + 2, dmirror_dev_stat(0, "fault_rounds"));

	/* Invalidations happen, but none is a migration of our own. */
	ASSERT_EQ(0, munmap(buf, 2 * npages * PAGE_SZ));
	EXPECT_EQ(0LL, dmirror_mm_stat("invalidate_own_migrate"));

	free(io);
}

/* "mirrors" counts the open files of the mm and of each device. */
TEST_F(mirror, counters_mirrors)
{
	long long dev0, dev1;
	int fd0, fd1;

	EXPECT_EQ(1LL, dmirror_mm_stat("mirrors"));
	dev0 = dmirror_dev_stat(0, "mirrors");
	dev1 = dmirror_dev_stat(1, "mirrors");
	ASSERT_GE(dev0, 1);
	ASSERT_GE(dev1, 0);

	fd0 = dmirror_open_dev(0);
	ASSERT_GE(fd0, 0);
	fd1 = dmirror_open_dev(1);
	ASSERT_GE(fd1, 0);
	EXPECT_EQ(3LL, dmirror_mm_stat("mirrors"));
	EXPECT_EQ(dev0 + 1, dmirror_dev_stat(0, "mirrors"));
	EXPECT_EQ(dev1 + 1, dmirror_dev_stat(1, "mirrors"));

	EXPECT_EQ(0, close(fd0));
	EXPECT_EQ(2LL, dmirror_mm_stat("mirrors"));
	EXPECT_EQ(dev0, dmirror_dev_stat(0, "mirrors"));
	EXPECT_EQ(dev1 + 1, dmirror_dev_stat(1, "mirrors"));

	EXPECT_EQ(0, close(fd1));
	EXPECT_EQ(1LL, dmirror_mm_stat("mirrors"));
	EXPECT_EQ(dev1, dmirror_dev_stat(1, "mirrors"));
}

/*
 * The non-blockable invalidation path. A real one (OOM reaper,
 * process_mrelease()) races with the exit of the victim, so the test asks
 * the module to run its decision on each of our mirrors: once with the
 * mirror lock free (handled), once with it held (refused). Both counters
 * grow by one per mirror, the device ones by one per mirror on that device,
 * and the mirrors keep working afterwards (no lock left held).
 */
TEST_F(mirror, nonblock_selftest)
{
	long long nb, nbr, nb0, nbr0, nb1, nbr1;
	unsigned long npages = 8;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char path[128];
	int fd1, ctl, round;
	char *buf;

	fd1 = dmirror_open_dev(1);
	ASSERT_GE(fd1, 0);
	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	fill(buf, npages, 0x21);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	ASSERT_EQ(0, dev_read(fd1, buf, out, npages, &cmd));

	snprintf(path, sizeof(path), "%s/mm/%d/nonblock_selftest",
		 DMIRROR_DEBUGFS, (int)getpid());
	for (round = 0; round < 2; round++) {
		nb = dmirror_mm_stat("invalidate_nonblock");
		nbr = dmirror_mm_stat("invalidate_nonblock_refused");
		nb0 = dmirror_dev_stat(0, "invalidate_nonblock");
		nbr0 = dmirror_dev_stat(0, "invalidate_nonblock_refused");
		nb1 = dmirror_dev_stat(1, "invalidate_nonblock");
		nbr1 = dmirror_dev_stat(1, "invalidate_nonblock_refused");
		ASSERT_GE(nb, 0);
		ASSERT_GE(nbr, 0);

		ctl = open(path, O_WRONLY | O_CLOEXEC);
		ASSERT_GE(ctl, 0) TH_LOG("%s: %s", path, strerror(errno));
		EXPECT_EQ(1, write(ctl, "1", 1)) TH_LOG("write: %s",
							strerror(errno));
		close(ctl);

		EXPECT_EQ(nb + 2, dmirror_mm_stat("invalidate_nonblock"));
		EXPECT_EQ(nbr + 2,
			  dmirror_mm_stat("invalidate_nonblock_refused"));
		EXPECT_EQ(nb0 + 1, dmirror_dev_stat(0, "invalidate_nonblock"));
		EXPECT_EQ(nbr0 + 1,
			  dmirror_dev_stat(0, "invalidate_nonblock_refused"));
		EXPECT_EQ(nb1 + 1, dmirror_dev_stat(1, "invalidate_nonblock"));
		EXPECT_EQ(nbr1 + 1,
			  dmirror_dev_stat(1, "invalidate_nonblock_refused"));
	}

	memset(out, SENTINEL, npages * PAGE_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check(out, npages, 0x21));
	memset(out, SENTINEL, npages * PAGE_SZ);
	ASSERT_EQ(0, dev_read(fd1, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check(out, npages, 0x21));
	fill(out, npages, 0x22);
	ASSERT_EQ(0, dev_write(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check(buf, npages, 0x22));

	EXPECT_EQ(0, close(fd1));
	free(out);
	munmap(buf, npages * PAGE_SZ);
}

/* First address past the user address space (x86-64: 4 or 5 levels). */
static unsigned long long user_va_end(void)
{
	void *p;

	p = mmap((void *)(1ULL << 48), PAGE_SZ, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return 1ULL << 47;
	munmap(p, PAGE_SZ);
	return 1ULL << 56;
}

/*
 * Ranges that are not ranges: -EINVAL from every ioctl that takes a range
 * (all but FLAGS), the block not copied back, no output and no memory
 * change.
 */
TEST_F(mirror, bad_range_einval)
{
	static const unsigned long reqs[] = {
		HMM_DMIRROR_READ, HMM_DMIRROR_WRITE, HMM_DMIRROR_SNAPSHOT,
		HMM_DMIRROR_MIGRATE_TO_DEV, HMM_DMIRROR_MIGRATE_TO_SYS,
		HMM_DMIRROR_EXCLUSIVE, HMM_DMIRROR_CHECK_EXCLUSIVE,
		HMM_DMIRROR_RELEASE, HMM_DMIRROR_READ_UNLOCKED,
	};
	unsigned long long base, end = user_va_end();
	struct {
		unsigned long long addr, npages;
	} bad[] = {
		{ 0, 1 },		/* base + 1: unaligned */
		{ 0, 0 },		/* empty */
		{ 0, ~0ULL },		/* wraps */
		{ 0, 1ULL << 52 },	/* npages * 4096 wraps to 0 */
		{ 0, (1ULL << 52) - 1 },/* wraps to just below addr */
		{ end, 1 },		/* past the user address space */
		{ end - 2 * PAGE_SZ, 4 },	/* ends past it */
		{ 0xffff800000000000ULL, 1 },	/* kernel half */
		{ 1ULL << 57, 1 },	/* beyond any user address space */
	};
	unsigned long npages = 4;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	unsigned int i, r;
	char *buf;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	in = malloc(npages * PAGE_SZ);
	ASSERT_NE(NULL, in);
	fill(buf, npages, 0x11);
	fill(in, npages, 0x12);
	base = (uintptr_t)buf;
	bad[0].addr = base + 1;
	bad[1].addr = base;
	bad[2].addr = base;
	bad[3].addr = base;
	bad[4].addr = base;

	for (r = 0; r < ARRAY_SIZE(reqs); r++) {
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			const void *ptr = reqs[r] == HMM_DMIRROR_WRITE ?
					  (void *)in : (void *)out;
			int ret;

			ret = range_cmd(self->fd, reqs[r], bad[i].addr, ptr,
					bad[i].npages, &cmd);
			EXPECT_EQ(-EINVAL, ret)
				TH_LOG("req %#lx addr %#llx npages %#llx",
				       reqs[r], bad[i].addr, bad[i].npages);
			EXPECT_EQ(NOT_COPIED, cmd.cpages);
			EXPECT_EQ(NOT_COPIED, cmd.faults);
		}
	}
	EXPECT_EQ(-1L, check_bytes(out, npages * PAGE_SZ, SENTINEL));
	EXPECT_EQ(-1L, check(buf, npages, 0x11));

	/* A page just below the end is a valid range. */
	EXPECT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_SNAPSHOT,
			       end - 2 * PAGE_SZ, out, 1, &cmd));

	free(in);
	free(out);
	munmap(buf, npages * PAGE_SZ);
}

/*
 * Output or input buffers the kernel cannot use: -EFAULT, the block not
 * copied back, the memory unchanged, and the file still usable after.
 */
TEST_F(mirror, bad_ptr_efault)
{
	void *kernel_ptr = (void *)0xffff800000000000ULL;
	unsigned long npages = 4;
	struct hmm_dmirror_cmd cmd;
	char *buf, *ro, *none, *half;
	unsigned char *out;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	ro = map_anon(npages, PROT_READ);
	ASSERT_NE(NULL, ro);
	none = map_anon(npages, PROT_NONE);
	ASSERT_NE(NULL, none);
	half = map_anon(2, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, half);
	ASSERT_EQ(0, munmap(half + PAGE_SZ, PAGE_SZ));
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	fill(buf, npages, 0x13);

	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, NULL, npages, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, ro, npages, &cmd));
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, none, npages, &cmd));
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, kernel_ptr, npages, &cmd));
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, half, 2, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);

	EXPECT_EQ(-EFAULT, dev_write(self->fd, buf, NULL, npages, &cmd));
	EXPECT_EQ(-EFAULT, dev_write(self->fd, buf, none, npages, &cmd));
	EXPECT_EQ(-EFAULT, dev_write(self->fd, buf, kernel_ptr, npages,
				     &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, check(buf, npages, 0x13));

	EXPECT_EQ(-EFAULT, dev_snap(self->fd, buf, NULL, npages, &cmd));
	EXPECT_EQ(-EFAULT, dev_snap(self->fd, buf, (unsigned char *)ro,
				    npages, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);

	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(-1L, check(out, npages, 0x13));

	free(out);
	munmap(half, PAGE_SZ);
	munmap(none, npages * PAGE_SZ);
	munmap(ro, npages * PAGE_SZ);
	munmap(buf, npages * PAGE_SZ);
}

/*
 * A hole in the range: READ is -EFAULT and copies nothing, even when the
 * part before the hole is mirrored; WRITE is -EFAULT and writes nothing.
 * Layout: 0-3 data, 4-7 hole, 8-11 data, 12-15 hole.
 */
TEST_F(mirror, hole_in_range_efault)
{
	unsigned long npages = 16, i;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	unsigned char expect[16];
	char *buf;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	in = malloc(npages * PAGE_SZ);
	ASSERT_NE(NULL, in);
	fill(buf, npages, 0x14);
	fill(in, npages, 0x15);
	ASSERT_EQ(0, munmap(buf + 4 * PAGE_SZ, 4 * PAGE_SZ));
	ASSERT_EQ(0, munmap(buf + 12 * PAGE_SZ, 4 * PAGE_SZ));

	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, out, 12, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(NOT_COPIED, cmd.faults);
	EXPECT_EQ(-1L, check_bytes(out, npages * PAGE_SZ, SENTINEL));

	EXPECT_EQ(-EFAULT, dev_write(self->fd, buf, in, 12, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, check(buf, 4, 0x14));
	EXPECT_EQ(-1L, check_part(buf, 8, 4, 0x14));

	/* Mirror the first part; the range with the hole still fails. */
	ASSERT_EQ(0, dev_read(self->fd, buf, out, 4, &cmd));
	memset(out, SENTINEL, npages * PAGE_SZ);
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, out, 12, &cmd));
	EXPECT_EQ(-1L, check_bytes(out, npages * PAGE_SZ, SENTINEL));

	/* Starting in the hole, and running into the hole at the end. */
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf + 4 * PAGE_SZ, out, 8,
				    &cmd));
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf + 8 * PAGE_SZ, out, 8,
				    &cmd));
	EXPECT_EQ(-EFAULT, dev_write(self->fd, buf + 8 * PAGE_SZ, in, 8,
				     &cmd));
	EXPECT_EQ(-1L, check_bytes(out, npages * PAGE_SZ, SENTINEL));
	EXPECT_EQ(-1L, check_part(buf, 8, 4, 0x14));

	/* The snapshot of the whole range reports the holes. */
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	for (i = 0; i < npages; i++)
		expect[i] = (i / 4) % 2 ? SNAP_ERROR : SNAP_RW;
	EXPECT_TRUE(snap_is(out, expect, npages));

	free(in);
	free(out);
	munmap(buf, 4 * PAGE_SZ);
	munmap(buf + 8 * PAGE_SZ, 4 * PAGE_SZ);
}

/*
 * A 64 GiB request over one mapped page and a 64 GiB hole fails with
 * -EFAULT (not -ENOMEM from a buffer sized after the request), leaves the
 * output alone and writes nothing.
 */
TEST_F(mirror, huge_request_mostly_unmapped)
{
	unsigned long long size = 64ULL << 30, npages = size / PAGE_SZ;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *area;

	area = mmap(NULL, size + PAGE_SZ, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	ASSERT_EQ(0, munmap(area + PAGE_SZ, size));
	ASSERT_EQ(0, mprotect(area, PAGE_SZ, PROT_READ | PROT_WRITE));
	fill(area, 1, 0x16);
	out = sentinel_buf(PAGE_SZ);
	ASSERT_NE(NULL, out);

	EXPECT_EQ(-EFAULT, dev_read(self->fd, area, out, npages, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, check_bytes(out, PAGE_SZ, SENTINEL));

	memset(out, 0x99, PAGE_SZ);
	EXPECT_EQ(-EFAULT, dev_write(self->fd, area, out, npages, &cmd));
	EXPECT_EQ(-1L, check(area, 1, 0x16));

	memset(out, SENTINEL, PAGE_SZ);
	ASSERT_EQ(0, dev_read(self->fd, area, out, 1, &cmd));
	EXPECT_EQ(-1L, check(out, 1, 0x16));

	free(out);
	munmap(area, PAGE_SZ);
}

/*
 * A child using the parent's file gets -EPERM from READ, WRITE and
 * SNAPSHOT: its buffers stay untouched, the parent's memory unchanged, and
 * no per-mm state appears for the child. Exit status: failed check or 0.
 */
static int foreign_child(int fd, char *buf, unsigned long npages)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *io;
	char path[128];

	io = sentinel_buf(npages * PAGE_SZ);
	if (!io)
		return 1;
	if (dev_read(fd, buf, io, npages, &cmd) != -EPERM)
		return 2;
	if (cmd.cpages != NOT_COPIED ||
	    check_bytes(io, npages * PAGE_SZ, SENTINEL) != -1)
		return 3;
	if (dev_snap(fd, buf, io, npages, &cmd) != -EPERM)
		return 4;
	if (check_bytes(io, npages * PAGE_SZ, SENTINEL) != -1)
		return 5;
	fill(io, npages, 0x18);
	if (dev_write(fd, buf, io, npages, &cmd) != -EPERM)
		return 6;
	if (check(buf, npages, 0x17) != -1)
		return 7;
	snprintf(path, sizeof(path), "%s/mm/%d", DMIRROR_DEBUGFS,
		 (int)getpid());
	if (!access(path, F_OK))
		return 8;
	return 0;
}

TEST_F(mirror, foreign_mm_eperm)
{
	unsigned long npages = 4;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	int status;
	char *buf;
	pid_t pid;

	buf = map_anon(npages, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	fill(buf, npages, 0x17);

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(foreign_child(self->fd, buf, npages));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("child check %d failed",
						 WEXITSTATUS(status));

	/* The parent's memory and file are as before. */
	EXPECT_EQ(-1L, check(buf, npages, 0x17));
	out = sentinel_buf(npages * PAGE_SZ);
	ASSERT_NE(NULL, out);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, check(out, npages, 0x17));

	free(out);
	munmap(buf, npages * PAGE_SZ);
}

/* Numbers near the mirror ioctls that are not ioctls of the ABI. */
TEST_F(mirror, unknown_ioctl_enotty)
{
	unsigned long bad[] = {
		_IOWR('H', 0x0b, struct hmm_dmirror_cmd),
		_IOR('H', 0x00, struct hmm_dmirror_cmd),
		_IOW('H', 0x01, struct hmm_dmirror_cmd),
		_IOWR('H', 0x04, __u64),
		_IOWR('h', 0x00, struct hmm_dmirror_cmd),
	};
	struct hmm_dmirror_cmd cmd;
	unsigned int i;
	char *buf;

	buf = map_anon(1, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	fill(buf, 1, 0x19);
	memset(&cmd, 0, sizeof(cmd));
	cmd.addr = (uintptr_t)buf;
	cmd.ptr = (uintptr_t)buf;
	cmd.npages = 1;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, bad[i], &cmd));
		EXPECT_EQ(ENOTTY, errno) TH_LOG("request %#lx", bad[i]);
	}
	EXPECT_EQ(-1L, check(buf, 1, 0x19));
	munmap(buf, PAGE_SZ);
}

/* File-backed memory on tmpfs: a file in /tmp, or a memfd. */
FIXTURE(file)
{
	int dev;
	int file;
};

FIXTURE_VARIANT(file)
{
	int memfd;
};

FIXTURE_VARIANT_ADD(file, tmpfile)
{
	.memfd = 0,
};

FIXTURE_VARIANT_ADD(file, memfd)
{
	.memfd = 1,
};

#define FILE_PAGES	16UL

FIXTURE_SETUP(file)
{
	char name[] = "/tmp/dmirror-XXXXXX";
	unsigned char *data;

	self->dev = dmirror_open_dev(0);
	ASSERT_GE(self->dev, 0);
	if (variant->memfd) {
		self->file = memfd_create("dmirror", MFD_CLOEXEC);
	} else {
		self->file = mkostemp(name, O_CLOEXEC);
		if (self->file >= 0)
			unlink(name);
	}
	ASSERT_GE(self->file, 0) TH_LOG("file: %s", strerror(errno));
	data = malloc(FILE_PAGES * PAGE_SZ);
	ASSERT_NE(NULL, data);
	fill(data, FILE_PAGES, 0x81);
	ASSERT_EQ((ssize_t)(FILE_PAGES * PAGE_SZ),
		  pwrite(self->file, data, FILE_PAGES * PAGE_SZ, 0));
	free(data);
}

FIXTURE_TEARDOWN(file)
{
	EXPECT_EQ(0, close(self->file));
	EXPECT_EQ(0, close(self->dev));
}

/* 1 when the file holds fill(@seed). */
static int file_holds(int fd, unsigned long long seed)
{
	size_t len = FILE_PAGES * PAGE_SZ;
	unsigned char *data = malloc(len);
	int ok;

	if (!data)
		return 0;
	ok = pread(fd, data, len, 0) == (ssize_t)len &&
	     check(data, FILE_PAGES, seed) == -1;
	free(data);
	return ok;
}

/* Shared mapping: READ gets the file data, WRITE lands in the file. */
TEST_F(file, shared_read_write)
{
	size_t len = FILE_PAGES * PAGE_SZ;
	struct hmm_dmirror_cmd cmd;
	unsigned char *io;
	char *map;

	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->file, 0);
	ASSERT_NE(MAP_FAILED, map);
	io = sentinel_buf(len);
	ASSERT_NE(NULL, io);

	ASSERT_EQ(0, dev_read(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(FILE_PAGES, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(io, FILE_PAGES, 0x81));

	fill(io, FILE_PAGES, 0x82);
	ASSERT_EQ(0, dev_write(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(FILE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, check(map, FILE_PAGES, 0x82));
	EXPECT_TRUE(file_holds(self->file, 0x82));

	memset(io, SENTINEL, len);
	ASSERT_EQ(0, dev_read(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check(io, FILE_PAGES, 0x82));

	/* A change through the file is seen by the device. */
	fill(io, FILE_PAGES, 0x83);
	ASSERT_EQ((ssize_t)len, pwrite(self->file, io, len, 0));
	memset(io, SENTINEL, len);
	ASSERT_EQ(0, dev_read(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(-1L, check(io, FILE_PAGES, 0x83));

	free(io);
	munmap(map, len);
}

/* Read-only shared mapping: READ works, WRITE is -EPERM, file unchanged. */
TEST_F(file, shared_readonly)
{
	size_t len = FILE_PAGES * PAGE_SZ;
	struct hmm_dmirror_cmd cmd;
	unsigned char *io;
	char *map;

	map = mmap(NULL, len, PROT_READ, MAP_SHARED, self->file, 0);
	ASSERT_NE(MAP_FAILED, map);
	io = sentinel_buf(len);
	ASSERT_NE(NULL, io);

	ASSERT_EQ(0, dev_read(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(FILE_PAGES, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(io, FILE_PAGES, 0x81));
	ASSERT_EQ(0, dev_snap(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(-1L, check_bytes(io, FILE_PAGES, SNAP_RO));

	fill(io, FILE_PAGES, 0x84);
	EXPECT_EQ(-EPERM, dev_write(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, check(map, FILE_PAGES, 0x81));
	EXPECT_TRUE(file_holds(self->file, 0x81));

	free(io);
	munmap(map, len);
}

/*
 * Private mapping: the device WRITE breaks COW, so the mapping shows the
 * new data and the file keeps the old.
 */
TEST_F(file, private_cow)
{
	size_t len = FILE_PAGES * PAGE_SZ;
	struct hmm_dmirror_cmd cmd;
	unsigned char *io;
	char *map;

	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		   self->file, 0);
	ASSERT_NE(MAP_FAILED, map);
	io = sentinel_buf(len);
	ASSERT_NE(NULL, io);

	ASSERT_EQ(0, dev_read(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(io, FILE_PAGES, 0x81));
	ASSERT_EQ(0, dev_snap(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(-1L, check_bytes(io, FILE_PAGES, SNAP_RO));

	fill(io, FILE_PAGES, 0x85);
	ASSERT_EQ(0, dev_write(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(FILE_PAGES, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(map, FILE_PAGES, 0x85));
	EXPECT_TRUE(file_holds(self->file, 0x81));
	ASSERT_EQ(0, dev_snap(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(-1L, check_bytes(io, FILE_PAGES, SNAP_RW));

	memset(io, SENTINEL, len);
	ASSERT_EQ(0, dev_read(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check(io, FILE_PAGES, 0x85));

	free(io);
	munmap(map, len);
}

TEST_HARNESS_MAIN
