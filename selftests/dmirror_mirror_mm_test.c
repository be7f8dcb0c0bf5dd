// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_mirror_mm_test: how the device page table follows the CPU page
 * tables: THP and hugetlb mappings, fork and COW, munmap, mprotect; and
 * the debugfs counters.
 */
#include "dmirror_mirror.h"

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
	EXPECT_EQ(-1L, byte_find(out, PMD_PAGES, SNAP_PMD_RW));

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
	EXPECT_EQ(-1L, byte_find(out, PMD_PAGES, SNAP_PMD_RW));

	ASSERT_EQ(0, mprotect(buf, PMD_SZ, PROT_READ));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, PMD_PAGES, &cmd));
	EXPECT_EQ(-1L, byte_find(out, PMD_PAGES, SNAP_PMD_RO));
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
	EXPECT_EQ(-1L, byte_find(out, PMD_PAGES, SNAP_PMD_RW));

	memset(out, SENTINEL, PMD_SZ);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, PMD_PAGES, &cmd));
	EXPECT_EQ(PMD_PAGES, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, check(out, PMD_PAGES, 0x91));

	ASSERT_EQ(0, mprotect(buf, PMD_SZ, PROT_READ));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, PMD_PAGES, &cmd));
	EXPECT_EQ(-1L, byte_find(out, PMD_PAGES, SNAP_PMD_RO));
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
	EXPECT_EQ(-1L, byte_find(out, npages * PAGE_SZ, SENTINEL));
	ASSERT_EQ(0, dev_snap(self->fd, buf, out, npages, &cmd));
	EXPECT_EQ(-1L, byte_find(out, npages, SNAP_ERROR));

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
	EXPECT_EQ(-1L, byte_find(out, npages * PAGE_SZ, SENTINEL));

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
	EXPECT_EQ(-1L, byte_find(out, npages, SNAP_RO));

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

TEST_HARNESS_MAIN
