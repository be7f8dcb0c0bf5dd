// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_exclusive_test: HMM_DMIRROR_EXCLUSIVE on private anonymous base
 * pages and what gives the access up: CPU reads and writes, device writes,
 * mprotect, fork, munmap, holes, pages in device memory.
 */
#include "dmirror_exclusive.h"

/*
 * The basic case, over more pages than one copy batch: the data comes
 * back in ptr, the device holds every page (and every single page), the
 * CPU page table has no usable entry for them, and neither a snapshot, a
 * device read nor a second EXCLUSIVE over the same pages gives the access
 * up. The page next to the range was never exclusive.
 */
TEST_F(excl, exclusive_then_check)
{
	unsigned long n = 100;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n + 1, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	fill_words(buf, 0, n + 1, 0x11);

	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ((uintptr_t)buf, cmd.addr);
	EXPECT_EQ(n, cmd.npages);
	EXPECT_EQ(-1L, find_words(out, 0, n, 0x11));

	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, n));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, 1));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf + (n - 1) * PG, 1));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, n + 1));
	EXPECT_EQ(0, check_excl(self->fd, buf + n * PG, 1));

	/* Exclusive entries are not present for the CPU side. */
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, SNAP_NONE));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, n));

	/* The device reads through its own atomic entries. */
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, find_words(out, 0, n, 0x11));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, n));

	/* Asking again for pages it holds is fine. */
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, find_words(out, 0, n, 0x11));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, n));

	/* Reading the data on the CPU gives every page back. */
	EXPECT_EQ(-1L, find_words(buf, 0, n + 1, 0x11));
	EXPECT_EQ(0, check_excl(self->fd, buf, n + 1));

	free(out);
	munmap(buf, (n + 1) * PG);
}

/*
 * A CPU read takes a page back: the device loses its access to exactly
 * the pages read, the data is intact, and the CPU maps them writable again.
 */
TEST_F(excl, exclusive_cpu_read)
{
	unsigned long n = 32, half = n / 2;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	fill_words(buf, 0, n, 0x21);

	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(-EPERM, check_excl(self->fd, buf, n));

	EXPECT_EQ(-1L, find_words(buf, 0, half, 0x21));
	EXPECT_EQ(0, check_excl(self->fd, buf, half));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf + half * PG, n - half));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, half, SNAP_SYS_RW));
	EXPECT_EQ(-1L, snap_find(self->fd, buf + half * PG, n - half,
				 SNAP_NONE));

	EXPECT_EQ(-1L, find_words(buf, 0, n, 0x21));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, SNAP_SYS_RW));

	/* The device sees the same data, through ordinary entries. */
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(-1L, find_words(out, 0, n, 0x21));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));

	free(out);
	munmap(buf, n * PG);
}

/*
 * A CPU write (without reading first) takes a page back too, and what the
 * CPU wrote is what the memory holds afterwards.
 */
TEST_F(excl, exclusive_cpu_write)
{
	unsigned long n = 32, half = n / 2;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *want;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	want = malloc(n * PG);
	ASSERT_NE(NULL, want);
	fill_words(buf, 0, n, 0x31);
	fill_words(want, 0, n, 0x32);

	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(-1L, find_words(out, 0, n, 0x31));

	memcpy(buf, want, half * PG);
	EXPECT_EQ(0, check_excl(self->fd, buf, half));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf + half * PG, n - half));

	memcpy(buf + half * PG, want + half * PG, (n - half) * PG);
	EXPECT_EQ(0, check_excl(self->fd, buf, n));
	EXPECT_EQ(0, memcmp(buf, want, n * PG));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, SNAP_SYS_RW));

	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(-1L, find_words(out, 0, n, 0x32));

	free(want);
	free(out);
	munmap(buf, n * PG);
}

/*
 * Atomic access includes write access: a device WRITE into pages it holds
 * works without a fault and keeps them exclusive; the CPU then reads what
 * the device wrote, which ends the exclusive access.
 */
TEST_F(excl, exclusive_device_write)
{
	unsigned long n = 24;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	in = malloc(n * PG);
	ASSERT_NE(NULL, in);
	fill_words(buf, 0, n, 0x41);
	fill_words(in, 0, n, 0x42);

	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);

	ASSERT_EQ(0, dev_write(self->fd, buf, in, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, n));

	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(-1L, find_words(out, 0, n, 0x42));

	EXPECT_EQ(-1L, find_words(buf, 0, n, 0x42));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));

	free(in);
	free(out);
	munmap(buf, n * PG);
}

/*
 * mprotect(PROT_READ) over exclusive pages revokes the access; the device
 * can no longer write them (-EPERM) and the data is intact.
 */
TEST_F(excl, exclusive_mprotect)
{
	unsigned long n = 16;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	in = malloc(n * PG);
	ASSERT_NE(NULL, in);
	fill_words(buf, 0, n, 0x51);
	fill_words(in, 0, n, 0x52);

	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(-EPERM, check_excl(self->fd, buf, n));

	ASSERT_EQ(0, mprotect(buf, n * PG, PROT_READ));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));
	EXPECT_EQ(-EPERM, dev_write(self->fd, buf, in, n, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(0, check_excl(self->fd, buf, n));
	EXPECT_EQ(-1L, find_words(buf, 0, n, 0x51));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, SNAP_SYS_RO));

	/* Not writable, so it cannot be made exclusive again. */
	memset(out, FILLER, n * PG);
	EXPECT_EQ(-EFAULT, make_excl(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));

	free(in);
	free(out);
	munmap(buf, n * PG);
}

/*
 * Add one to every int of @npages at @buf, which hold their own index,
 * and check that each now holds its index + 1. Returns 0 when they do.
 */
static int bump_and_check(char *buf, unsigned long npages)
{
	unsigned int *w = (unsigned int *)buf;
	unsigned long i;

	if (find_words(buf, 0, npages, 0) != -1)
		return 1;
	for (i = 0; i < npages * WORDS_PER_PAGE; i++)
		w[i]++;
	for (i = 0; i < npages * WORDS_PER_PAGE; i++)
		if (w[i] != i + 1)
			return 2;
	return 0;
}

/*
 * fork over exclusive pages: fork takes them back (the parent's device
 * loses its access at once), then parent and child each get their own
 * copy: both add one to every int and see i + 1, neither sees the other's
 * additions.
 */
TEST_F(excl, exclusive_fork)
{
	unsigned long n = 16;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	int status;
	char *buf;
	pid_t pid;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	fill_words(buf, 0, n, 0);

	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(-1L, find_words(out, 0, n, 0));
	ASSERT_EQ(-EPERM, check_excl(self->fd, buf, n));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(bump_and_check(buf, n));

	EXPECT_EQ(0, check_excl(self->fd, buf, n));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("child check %d failed",
						 WEXITSTATUS(status));

	/* The child's additions are its own: ours start from i again. */
	EXPECT_EQ(0, bump_and_check(buf, n));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));

	free(out);
	munmap(buf, n * PG);
}

/* munmap of exclusive pages ends the device's access to them. */
TEST_F(excl, exclusive_munmap)
{
	unsigned long n = 16, half = n / 2;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	fill_words(buf, 0, n, 0x61);

	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);

	ASSERT_EQ(0, munmap(buf, half * PG));
	EXPECT_EQ(0, check_excl(self->fd, buf, half));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf + half * PG, n - half));
	ASSERT_EQ(0, munmap(buf + half * PG, (n - half) * PG));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));

	free(out);
}

/*
 * A hole in the range: -EFAULT, the block and ptr are left alone, and
 * (uapi/hmm_dmirror.h: checked before any page is converted) no page on
 * either side of the hole was made exclusive.
 */
TEST_F(excl, exclusive_hole)
{
	unsigned long part = 8, n = 3 * part;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf, *tail;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	fill_words(buf, 0, n, 0x71);
	ASSERT_EQ(0, munmap(buf + part * PG, part * PG));
	tail = buf + 2 * part * PG;

	EXPECT_EQ(-EFAULT, make_excl(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(NOT_COPIED, cmd.faults);
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	EXPECT_EQ(0, check_excl(self->fd, buf, part));
	EXPECT_EQ(0, check_excl(self->fd, tail, part));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, part, SNAP_SYS_RW));
	EXPECT_EQ(-1L, snap_find(self->fd, tail, part, SNAP_SYS_RW));

	/* A range that starts in the hole fails the same way. */
	EXPECT_EQ(-EFAULT, make_excl(self->fd, buf + part * PG, out,
				     2 * part, &cmd));
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	EXPECT_EQ(0, check_excl(self->fd, tail, part));

	/* Each side of the hole is fine on its own. */
	ASSERT_EQ(0, make_excl(self->fd, tail, out, part, &cmd));
	EXPECT_EQ(part, cmd.cpages);
	EXPECT_EQ(-1L, find_words(out, 2 * part, part, 0x71));
	EXPECT_EQ(-EPERM, check_excl(self->fd, tail, part));
	EXPECT_EQ(0, check_excl(self->fd, buf, part));
	ASSERT_EQ(0, make_excl(self->fd, buf, out, part, &cmd));
	EXPECT_EQ(part, cmd.cpages);
	EXPECT_EQ(-1L, find_words(out, 0, part, 0x71));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, part));

	/* The CPU gets everything back with its data. */
	EXPECT_EQ(-1L, find_words(buf, 0, part, 0x71));
	EXPECT_EQ(-1L, find_words(tail, 2 * part, part, 0x71));
	EXPECT_EQ(0, check_excl(self->fd, buf, part));
	EXPECT_EQ(0, check_excl(self->fd, tail, part));

	free(out);
	munmap(buf, part * PG);
	munmap(tail, part * PG);
}

/*
 * A page in device-private memory is brought back to system memory first
 * (through its device's CPU-fault path) and then made exclusive, with its
 * data.
 */
TEST_F(excl, exclusive_device_page)
{
	unsigned long n = 16;
	long long faults0, resident0;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	int pfd;
	char *buf;

	if (self->skipped)
		return;
	pfd = variant->dev == PRIVATE_DEV ? self->fd :
					    dmirror_open_dev(PRIVATE_DEV);
	ASSERT_GE(pfd, 0) TH_LOG("open /dev/hmm_dmirror%d: %s", PRIVATE_DEV,
				 strerror(errno));
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	fill_words(buf, 0, n, 0x81);

	ASSERT_EQ(0, to_dev(pfd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(-1L, snap_find(pfd, buf, n, SNAP_PRIV_RW));
	faults0 = dmirror_dev_stat(PRIVATE_DEV, "cpu_faults");
	resident0 = dmirror_dev_stat(PRIVATE_DEV, "resident_pages");
	ASSERT_GE(faults0, 0);
	ASSERT_GE(resident0, (long long)n);

	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, find_words(out, 0, n, 0x81));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, n));
	EXPECT_EQ(faults0 + (long long)n,
		  dmirror_dev_stat(PRIVATE_DEV, "cpu_faults"));
	EXPECT_EQ(resident0 - (long long)n,
		  dmirror_dev_stat(PRIVATE_DEV, "resident_pages"));
	EXPECT_EQ(-1L, snap_find(pfd, buf, n, SNAP_NONE));

	EXPECT_EQ(-1L, find_words(buf, 0, n, 0x81));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));
	EXPECT_EQ(faults0 + (long long)n,
		  dmirror_dev_stat(PRIVATE_DEV, "cpu_faults"));

	if (pfd != self->fd)
		EXPECT_EQ(0, close(pfd));
	free(out);
	munmap(buf, n * PG);
}

/*
 * A page in the memory of the device under test itself (private or
 * coherent) is moved back to system memory, then made exclusive with its
 * data; nothing stays behind on the device, so RELEASE has nothing left to
 * fight over, and the CPU gets the data back.
 */
TEST_F(excl, exclusive_own_device_page)
{
	unsigned long n = 16;
	long long resident0, to_sys0;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	fill_words(buf, 0, n, 0x85);

	resident0 = dmirror_dev_stat(variant->dev, "resident_pages");
	ASSERT_GE(resident0, 0);
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	EXPECT_EQ(resident0 + (long long)n,
		  dmirror_dev_stat(variant->dev, "resident_pages"));
	to_sys0 = dmirror_dev_stat(variant->dev, "migrated_to_sys");
	ASSERT_GE(to_sys0, 0);

	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, make_excl(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, find_words(out, 0, n, 0x85));
	EXPECT_EQ(-EPERM, check_excl(self->fd, buf, n));
	EXPECT_EQ(resident0, dmirror_dev_stat(variant->dev, "resident_pages"));
	/* Coherent pages come home by migration, and are counted so. */
	if (variant->coherent)
		EXPECT_EQ(to_sys0 + (long long)n,
			  dmirror_dev_stat(variant->dev, "migrated_to_sys"));

	EXPECT_EQ(0, range_ioctl(self->fd, HMM_DMIRROR_RELEASE, buf, NULL, 1,
				 &cmd));
	EXPECT_EQ(-1L, find_words(buf, 0, n, 0x85));
	EXPECT_EQ(0, check_excl(self->fd, buf, n));

	free(out);
	munmap(buf, n * PG);
}

TEST_HARNESS_MAIN
