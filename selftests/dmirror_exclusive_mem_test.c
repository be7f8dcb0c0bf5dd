// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_exclusive_mem_test: HMM_DMIRROR_EXCLUSIVE on other memory
 * (shared, hugetlb, THP, not writable) and HMM_DMIRROR_CHECK_EXCLUSIVE on
 * its own.
 */
#include "dmirror_exclusive.h"

/*
 * Shared memory cannot be made exclusive: MAP_SHARED anonymous memory and
 * a MAP_SHARED file are -EOPNOTSUPP, with nothing copied. When shared
 * memory follows private memory in the range, that is found before any
 * page is converted.
 */
TEST_F(excl, exclusive_shared)
{
	char name[] = "/tmp/dmirror-excl-XXXXXX";
	unsigned long n = 8;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *shm, *map, *mixed;
	int file;

	if (self->skipped)
		return;
	out = out_buf(2 * n * PG);
	ASSERT_NE(NULL, out);

	shm = mmap(NULL, n * PG, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, shm);
	fill_words(shm, 0, n, 0x91);
	EXPECT_EQ(-EOPNOTSUPP, make_excl(self->fd, shm, out, n, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(out, 2 * n * PG, FILLER));
	EXPECT_EQ(0, check_excl(self->fd, shm, n));
	EXPECT_EQ(-1L, snap_find(self->fd, shm, n, SNAP_SYS_RW));
	EXPECT_EQ(-1L, find_words(shm, 0, n, 0x91));

	file = mkostemp(name, O_CLOEXEC);
	ASSERT_GE(file, 0) TH_LOG("mkostemp: %s", strerror(errno));
	unlink(name);
	ASSERT_EQ(0, ftruncate(file, n * PG));
	map = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
	ASSERT_NE(MAP_FAILED, map);
	fill_words(map, 0, n, 0x92);
	EXPECT_EQ(-EOPNOTSUPP, make_excl(self->fd, map, out, n, &cmd));
	EXPECT_EQ(-1L, byte_find(out, 2 * n * PG, FILLER));
	EXPECT_EQ(0, check_excl(self->fd, map, n));
	EXPECT_EQ(-1L, find_words(map, 0, n, 0x92));

	/* Private pages, then shared ones at the same place in one range. */
	mixed = map_anon(2 * n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, mixed);
	ASSERT_EQ(mixed + n * PG,
		  mmap(mixed + n * PG, n * PG, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	fill_words(mixed, 0, 2 * n, 0x93);
	EXPECT_EQ(-EOPNOTSUPP, make_excl(self->fd, mixed, out, 2 * n, &cmd));
	EXPECT_EQ(-1L, byte_find(out, 2 * n * PG, FILLER));
	EXPECT_EQ(0, check_excl(self->fd, mixed, 2 * n));
	EXPECT_EQ(-1L, snap_find(self->fd, mixed, 2 * n, SNAP_SYS_RW));
	EXPECT_EQ(-1L, find_words(mixed, 0, 2 * n, 0x93));

	/* The private half alone is fine. */
	ASSERT_EQ(0, make_excl(self->fd, mixed, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-EPERM, check_excl(self->fd, mixed, n));

	munmap(mixed, 2 * n * PG);
	munmap(map, n * PG);
	munmap(shm, n * PG);
	EXPECT_EQ(0, close(file));
	free(out);
}

/* hugetlb memory cannot be made exclusive: -EOPNOTSUPP. */
TEST_F(excl, exclusive_hugetlb)
{
	unsigned long n = HUGE_2M / PG;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf, why[160];
	int ready;

	if (self->skipped)
		return;
	ready = dmirror_huge_2m_ready(why, sizeof(why));
	if (!ready)
		SKIP(return, "%s", why);
	ASSERT_EQ(1, ready) TH_LOG("%s", why);
	buf = mmap(NULL, HUGE_2M, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB,
		   -1, 0);
	ASSERT_NE(MAP_FAILED, buf) TH_LOG("a free 2 MiB huge page: %s",
					  strerror(errno));
	out = out_buf(HUGE_2M);
	ASSERT_NE(NULL, out);
	fill_words(buf, 0, n, 0xa1);

	EXPECT_EQ(-EOPNOTSUPP, make_excl(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(out, HUGE_2M, FILLER));
	EXPECT_EQ(-EOPNOTSUPP, make_excl(self->fd, buf, out, 1, &cmd));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));
	EXPECT_EQ(-1L, find_words(buf, 0, n, 0xa1));

	free(out);
	munmap(buf, HUGE_2M);
}

/*
 * A 2 MiB-aligned transparent huge page of private anonymous memory,
 * touched with the pattern of @seed and checked to be PMD-mapped; NULL
 * with @why set if it is not. *@map is what to munmap (2 huge pages).
 */
static char *map_thp(int fd, unsigned int seed, char **map, char *why,
		     size_t len)
{
	unsigned long n = HUGE_2M / PG;
	char *buf;
	long bad;

	*map = mmap(NULL, 2 * HUGE_2M, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*map == MAP_FAILED) {
		snprintf(why, len, "mmap: %s", strerror(errno));
		*map = NULL;
		return NULL;
	}
	buf = (char *)(((uintptr_t)*map + HUGE_2M - 1) & ~(HUGE_2M - 1));
	if (madvise(buf, HUGE_2M, MADV_HUGEPAGE)) {
		snprintf(why, len, "MADV_HUGEPAGE: %s", strerror(errno));
		return NULL;
	}
	fill_words(buf, 0, n, seed);
	bad = snap_find(fd, buf, n, SNAP_SYS_RW | HMM_DMIRROR_PROT_PMD);
	if (bad != -1) {
		snprintf(why, len,
			 "the touched 2 MiB range is not one PMD-mapped huge page (%ld)",
			 bad);
		return NULL;
	}
	return buf;
}

/* Whether the kernel gives THPs to MADV_HUGEPAGE ranges; @why if not. */
static bool thp_enabled(char *why, size_t len)
{
	char mode[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f) {
		snprintf(why, len,
			 "the kernel has no transparent huge pages (no /sys/kernel/mm/transparent_hugepage/enabled)");
		return false;
	}
	if (!fgets(mode, sizeof(mode), f))
		mode[0] = '\0';
	fclose(f);
	if (strstr(mode, "[never]")) {
		snprintf(why, len, "transparent huge pages are disabled: %s",
			 mode);
		return false;
	}
	return true;
}

/*
 * A whole transparent huge page made exclusive (regression: kernels before
 * 6.15 convert a PTE-mapped large folio from its first page only, and
 * EXCLUSIVE failed with -EBUSY): the data comes back, the device holds
 * every page, a CPU write takes back exactly the page written.
 */
TEST_F(excl, exclusive_thp)
{
	unsigned long n = HUGE_2M / PG;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *map, *buf, why[160];

	if (self->skipped)
		return;
	if (!thp_enabled(why, sizeof(why)))
		SKIP(return, "%s", why);
	buf = map_thp(self->fd, 0x31, &map, why, sizeof(why));
	ASSERT_NE(NULL, buf) TH_LOG("%s", why);
	out = out_buf(HUGE_2M);
	ASSERT_NE(NULL, out);

	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, find_words(out, 0, n, 0x31));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, 1));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf + PG, 1));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf + (n - 1) * PG, 1));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, SNAP_NONE));

	/* The device reads through its atomic entries. */
	memset(out, FILLER, HUGE_2M);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, find_words(out, 0, n, 0x31));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, n));

	/* A CPU write to page 7 takes back that page, not its neighbours. */
	buf[7 * PG] ^= 1;
	EXPECT_EQ(0, check_excl(self->fd, buf + 7 * PG, 1));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf + 6 * PG, 1));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf + 8 * PG, 1));
	buf[7 * PG] ^= 1;

	/* Asking again, the page written included, is fine. */
	memset(out, FILLER, HUGE_2M);
	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, find_words(out, 0, n, 0x31));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf + 7 * PG, 1));

	/* Reading it all on the CPU gives every page back, data intact. */
	EXPECT_EQ(-1L, find_words(buf, 0, n, 0x31));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));

	free(out);
	munmap(map, 2 * HUGE_2M);
}

/*
 * Part of a transparent huge page, starting and ending inside it: exactly
 * the pages asked for are the device's, with their data.
 */
TEST_F(excl, exclusive_thp_part)
{
	unsigned long first = 100, n = 200;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *map, *buf, why[160];

	if (self->skipped)
		return;
	if (!thp_enabled(why, sizeof(why)))
		SKIP(return, "%s", why);
	buf = map_thp(self->fd, 0x32, &map, why, sizeof(why));
	ASSERT_NE(NULL, buf) TH_LOG("%s", why);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);

	ASSERT_EQ(0, make_excl(self->fd, buf + first * PG, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, find_words(out, first, n, 0x32));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf + first * PG, n));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf + first * PG, 1));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf + (first + n - 1) * PG, 1));
	EXPECT_EQ(0, check_excl(self->fd, buf, first));
	EXPECT_EQ(0, check_excl(self->fd, buf + (first + n) * PG,
				HUGE_2M / PG - first - n));

	EXPECT_EQ(-1L, find_words(buf, 0, HUGE_2M / PG, 0x32));
	EXPECT_EQ(0, check_excl(self->fd, buf, HUGE_2M / PG));

	free(out);
	munmap(map, 2 * HUGE_2M);
}

/*
 * Memory the device could not write is -EFAULT: a read-only mapping
 * (touched or not) and a PROT_NONE one. Nothing becomes exclusive, not
 * even the writable pages in front of a read-only part of the range.
 */
TEST_F(excl, exclusive_not_writable)
{
	unsigned long n = 8, half = n / 2;
	struct hmm_dmirror_cmd cmd;
	char *ro, *none, *mixed;
	unsigned char *out;
	int sum = 0;

	if (self->skipped)
		return;
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	ro = map_anon(n, PROT_READ);
	ASSERT_NE(NULL, ro);
	none = map_anon(n, PROT_NONE);
	ASSERT_NE(NULL, none);
	mixed = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, mixed);

	EXPECT_EQ(-EFAULT, make_excl(self->fd, ro, out, n, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	EXPECT_EQ(0, check_excl(self->fd, ro, n));

	/* Pages mapped (the zero page) make no difference. */
	sum += ro[0] + ro[(n - 1) * PG];
	EXPECT_EQ(0, sum);
	EXPECT_EQ(-EFAULT, make_excl(self->fd, ro, out, n, &cmd));
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	EXPECT_EQ(0, check_excl(self->fd, ro, n));

	EXPECT_EQ(-EFAULT, make_excl(self->fd, none, out, n, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	EXPECT_EQ(0, check_excl(self->fd, none, n));

	fill_words(mixed, 0, n, 0xa2);
	ASSERT_EQ(0, mprotect(mixed + half * PG, (n - half) * PG, PROT_READ));
	EXPECT_EQ(-EFAULT, make_excl(self->fd, mixed, out, n, &cmd));
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	EXPECT_EQ(0, check_excl(self->fd, mixed, n));
	EXPECT_EQ(-1L, snap_find(self->fd, mixed, half, SNAP_SYS_RW));
	EXPECT_EQ(-1L, find_words(mixed, 0, n, 0xa2));

	munmap(mixed, n * PG);
	munmap(none, n * PG);
	munmap(ro, n * PG);
	free(out);
}

/*
 * CHECK_EXCLUSIVE looks only for atomic entries: a range never made
 * exclusive is 0 before and after the device read it, wrote it and
 * migrated it, and so is a range with nothing mapped at all.
 */
TEST_F(excl, check_never_exclusive)
{
	unsigned long n = 16;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	char *buf, *gone;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	in = malloc(n * PG);
	ASSERT_NE(NULL, in);
	fill_words(in, 0, n, 0xb1);

	EXPECT_EQ(0, check_excl(self->fd, buf, n));
	ASSERT_EQ(0, dev_write(self->fd, buf, in, n, &cmd));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(-1L, find_words(out, 0, n, 0xb1));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(0, check_excl(self->fd, buf, n));
	EXPECT_EQ(-1L, find_words(buf, 0, n, 0xb1));

	gone = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, gone);
	ASSERT_EQ(0, munmap(gone, n * PG));
	EXPECT_EQ(0, check_excl(self->fd, gone, n));

	free(in);
	free(out);
	munmap(buf, n * PG);
}

/*
 * The device page table belongs to the open file: a second file of the
 * same process and device holds nothing of what the first one made
 * exclusive. When the second file then takes the pages for itself, the
 * first loses them.
 */
TEST_F(excl, check_per_file)
{
	unsigned long n = 8;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf;
	int fd2;

	if (self->skipped)
		return;
	fd2 = dmirror_open_dev(variant->dev);
	ASSERT_GE(fd2, 0);
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	fill_words(buf, 0, n, 0xc1);

	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, n));
	EXPECT_EQ(0, check_excl(fd2, buf, n));

	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, make_excl(fd2, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, find_words(out, 0, n, 0xc1));
	EXPECT_EQ(-EPERM, check_excl(fd2, buf, n));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));

	EXPECT_EQ(-1L, find_words(buf, 0, n, 0xc1));
	EXPECT_EQ(0, check_excl(fd2, buf, n));

	EXPECT_EQ(0, close(fd2));
	free(out);
	munmap(buf, n * PG);
}

TEST_HARNESS_MAIN
