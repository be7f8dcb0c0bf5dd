// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_mirror_input_test: non-blockable invalidations, the argument
 * checks of the ioctls (bad ranges, bad pointers, holes, another mm,
 * unknown commands), and file mappings (tmpfile, memfd).
 */
#include "dmirror_mirror.h"

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
	EXPECT_EQ(-1L, byte_find(out, npages * PAGE_SZ, SENTINEL));
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
	EXPECT_EQ(-1L, byte_find(out, npages * PAGE_SZ, SENTINEL));

	EXPECT_EQ(-EFAULT, dev_write(self->fd, buf, in, 12, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, check(buf, 4, 0x14));
	EXPECT_EQ(-1L, check_part(buf, 8, 4, 0x14));

	/* Mirror the first part; the range with the hole still fails. */
	ASSERT_EQ(0, dev_read(self->fd, buf, out, 4, &cmd));
	memset(out, SENTINEL, npages * PAGE_SZ);
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, out, 12, &cmd));
	EXPECT_EQ(-1L, byte_find(out, npages * PAGE_SZ, SENTINEL));

	/* Starting in the hole, and running into the hole at the end. */
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf + 4 * PAGE_SZ, out, 8,
				    &cmd));
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf + 8 * PAGE_SZ, out, 8,
				    &cmd));
	EXPECT_EQ(-EFAULT, dev_write(self->fd, buf + 8 * PAGE_SZ, in, 8,
				     &cmd));
	EXPECT_EQ(-1L, byte_find(out, npages * PAGE_SZ, SENTINEL));
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
	EXPECT_EQ(-1L, byte_find(out, PAGE_SZ, SENTINEL));

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
	    byte_find(io, npages * PAGE_SZ, SENTINEL) != -1)
		return 3;
	if (dev_snap(fd, buf, io, npages, &cmd) != -EPERM)
		return 4;
	if (byte_find(io, npages * PAGE_SZ, SENTINEL) != -1)
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
	EXPECT_EQ(-1L, byte_find(io, FILE_PAGES, SNAP_RO));

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
	EXPECT_EQ(-1L, byte_find(io, FILE_PAGES, SNAP_RO));

	fill(io, FILE_PAGES, 0x85);
	ASSERT_EQ(0, dev_write(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(FILE_PAGES, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(map, FILE_PAGES, 0x85));
	EXPECT_TRUE(file_holds(self->file, 0x81));
	ASSERT_EQ(0, dev_snap(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(-1L, byte_find(io, FILE_PAGES, SNAP_RW));

	memset(io, SENTINEL, len);
	ASSERT_EQ(0, dev_read(self->dev, map, io, FILE_PAGES, &cmd));
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check(io, FILE_PAGES, 0x85));

	free(io);
	munmap(map, len);
}

TEST_HARNESS_MAIN
