// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_mirror_test: READ, WRITE and SNAPSHOT of anonymous memory
 * through the device page table: touched, untouched and zero pages, CPU
 * writes, read-only and PROT_NONE mappings, snapshot values.
 */
#include "dmirror_mirror.h"

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
	EXPECT_EQ(-1L, byte_find(out, npages, SNAP_RW));

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
	EXPECT_EQ(-1L, byte_find(out, npages, SNAP_NONE));

	memset(out, SENTINEL, npages * PAGE_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, byte_find(out, npages * PAGE_SZ, 0));

	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, byte_find(out, npages, SNAP_ZERO));
	EXPECT_EQ(-1L, byte_find(buf, npages * PAGE_SZ, 0));

	fill(in, npages, 0xa3);
	ASSERT_EQ(0, dev_write(self->fd, buf, in, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, check(buf, npages, 0xa3));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, byte_find(out, npages, SNAP_RW));

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
	EXPECT_EQ(-1L, byte_find(out, npages, SNAP_RW));

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
	EXPECT_EQ(-1L, byte_find(out, npages * PAGE_SZ, 0));
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
	EXPECT_EQ(-1L, byte_find(out, npages, SNAP_RO));

	/* Mirrored read-only now; still no writing. */
	EXPECT_EQ(-EPERM, dev_write(self->fd, buf, in, npages, &cmd));
	EXPECT_EQ(-1L, check(buf, npages, 0xd1));

	/* A mapping that was read-only from the start. */
	EXPECT_EQ(-EPERM, dev_write(self->fd, fresh, in, npages, &cmd));
	memset(out, SENTINEL, npages * PAGE_SZ);
	ASSERT_EQ(0, dev_read(self->fd, fresh, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	EXPECT_EQ(-1L, byte_find(out, npages * PAGE_SZ, 0));
	ASSERT_EQ(0, dev_snap(self->fd, fresh, out, npages, &cmd));
	EXPECT_EQ(-1L, byte_find(out, npages, SNAP_ZERO));
	EXPECT_EQ(-EPERM, dev_write(self->fd, fresh, in, npages, &cmd));
	EXPECT_EQ(-1L, byte_find(fresh, npages * PAGE_SZ, 0));

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
	EXPECT_EQ(-1L, byte_find(out, npages * PAGE_SZ, SENTINEL));
	EXPECT_EQ(-EFAULT, dev_write(self->fd, buf, in, npages, &cmd));

	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, byte_find(out, npages, SNAP_ERROR));

	ASSERT_EQ(0, mprotect(buf, npages * PAGE_SZ, PROT_READ | PROT_WRITE));
	EXPECT_EQ(-1L, check(buf, npages, 0xe1));
	/* Rewrite so every PTE is writable again, whatever mprotect did. */
	fill(buf, npages, 0xe1);

	/* One PROT_NONE page in the middle spoils the whole range. */
	ASSERT_EQ(0, mprotect(buf + 4 * PAGE_SZ, PAGE_SZ, PROT_NONE));
	memset(out, SENTINEL, npages * PAGE_SZ);
	EXPECT_EQ(-EFAULT, dev_read(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, byte_find(out, npages * PAGE_SZ, SENTINEL));
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
	EXPECT_EQ(-1L, byte_find(out, npages, SNAP_NONE));

	ASSERT_EQ(0, mprotect(buf, size, PROT_NONE));
	memset(out, SENTINEL, npages);
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(npages, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(out, npages, SNAP_ERROR));

	free(out);
	munmap(buf, size);
}

TEST_HARNESS_MAIN
