// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror device-exclusive tests: HMM_DMIRROR_EXCLUSIVE, which gives
 * the device atomic access to private anonymous pages by taking them away
 * from the CPU, and HMM_DMIRROR_CHECK_EXCLUSIVE, which tells whether the
 * device still holds that access. Every way the CPU side can take a page
 * back (a read, a write, mprotect, fork, munmap) must revoke it; memory
 * that cannot be made exclusive must be refused with the documented errno.
 *
 * Each test runs on a device-private device (/dev/hmm_dmirror0) and on a
 * device-coherent one (/dev/hmm_dmirror2): exclusive access works on
 * system pages whatever kind of memory the device has.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

/*
 * Some versions of the harness (6.12) assign a local of their own after
 * setjmp() inside TEST_F(); GCC may then warn with -Wclobbered about code
 * that is not ours.
 */
#pragma GCC diagnostic ignored "-Wclobbered"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT		26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB		(21 << MAP_HUGE_SHIFT)
#endif

#define HUGE_2M			(2UL << 20)
#define WORDS_PER_PAGE		(PG / sizeof(unsigned int))

/* The device-private device that owns pages in exclusive_device_page. */
#define PRIVATE_DEV		0

/* ---- data ------------------------------------------------------------- */

/*
 * Int @i of page @page under @seed: (seed << 24) plus the index of the
 * int counted from the start of the buffer, so that an int in the wrong
 * place or from another seed is caught. With seed 0 it is just that index,
 * which exclusive_fork uses (buffers stay below 2^24 ints).
 */
static unsigned int word(unsigned int seed, unsigned long page,
			 unsigned long i)
{
	return (seed << 24) + (unsigned int)(page * WORDS_PER_PAGE + i);
}

/* Write the pattern of pages [@page0, @page0 + @npages) at @p. */
static void fill_words(void *p, unsigned long page0, unsigned long npages,
		       unsigned int seed)
{
	unsigned int *w = p;
	unsigned long i;

	for (i = 0; i < npages * WORDS_PER_PAGE; i++)
		w[i] = word(seed, page0, i);
}

/*
 * Compare @p with the pattern of pages [@page0, @page0 + @npages).
 * Returns -1 when it matches, else the index of the first int that
 * differs.
 */
static long find_words(const void *p, unsigned long page0,
		       unsigned long npages, unsigned int seed)
{
	const unsigned int *w = p;
	unsigned long i;

	for (i = 0; i < npages * WORDS_PER_PAGE; i++)
		if (w[i] != word(seed, page0, i))
			return i;
	return -1;
}

/* ---- ioctls ----------------------------------------------------------- */

/* HMM_DMIRROR_EXCLUSIVE of @npages at @addr; the data goes to @out. */
static int make_excl(int fd, const void *addr, void *out,
		     unsigned long npages, struct hmm_dmirror_cmd *cmd)
{
	return range_ioctl(fd, HMM_DMIRROR_EXCLUSIVE, addr, out, npages, cmd);
}

/* HMM_DMIRROR_CHECK_EXCLUSIVE: -EPERM while the device holds a page. */
static int check_excl(int fd, const void *addr, unsigned long npages)
{
	struct hmm_dmirror_cmd cmd;

	return range_ioctl(fd, HMM_DMIRROR_CHECK_EXCLUSIVE, addr, NULL,
			   npages, &cmd);
}

/* ---- fixture ---------------------------------------------------------- */

FIXTURE(excl)
{
	int fd;		/* the device under test */
	bool skipped;	/* no such device: the test does nothing */
};

FIXTURE_VARIANT(excl)
{
	int dev;	/* /dev/hmm_dmirror<dev> */
	bool coherent;
};

FIXTURE_VARIANT_ADD(excl, device_private)
{
	.dev = 0,
	.coherent = false,
};

FIXTURE_VARIANT_ADD(excl, device_coherent)
{
	.dev = 2,
	.coherent = true,
};

FIXTURE_SETUP(excl)
{
	self->fd = dmirror_open_dev(variant->dev);
	/*
	 * The coherent devices exist exactly when the module was loaded
	 * with both windows; then failing to open one is a failure.
	 */
	if (self->fd < 0 && variant->coherent &&
	    dmirror_loaded_without_coherent()) {
		/*
		 * Harnesses before 6.12 still run the test after a SKIP()
		 * here, so every test first looks at self->skipped.
		 */
		self->skipped = true;
		SKIP(return, DMIRROR_NO_COHERENT_WHY);
	}
	ASSERT_GE(self->fd, 0) TH_LOG("open /dev/hmm_dmirror%d: %s",
				      variant->dev, strerror(errno));
}

FIXTURE_TEARDOWN(excl)
{
	if (self->fd >= 0)
		EXPECT_EQ(0, close(self->fd));
}

/* ---- tests ------------------------------------------------------------ */

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
