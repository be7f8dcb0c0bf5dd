// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror and long requests: what a user sizes must neither stall the
 * machine nor outlive a SIGKILL.
 *
 * - A process killed in MIGRATE_TO_DEV (a range far larger than the
 *   device, or ranges that keep evicting each other) or in MIGRATE_TO_SYS
 *   over 16 TiB is gone within a bound that only catches a stall, and the
 *   device memory it held is free again.
 * - close() of a file whose process has a 16 TiB sparse mapping costs
 *   what its pages on the device cost, and those pages are back in system
 *   memory with their bytes.
 * - MIGRATE_TO_DEV of more pages than the device holds is -ENOMEM before
 *   anything moves; one that cannot get room because device memory is
 *   busy is -ENOMEM too, and does not throw its own earlier windows out to
 *   make room (which left them behind as -ENOENT); once the memory is no
 *   longer busy the same request succeeds.
 * - RELEASE gives up on busy memory (-EBUSY) within the bound.
 *
 * Device memory is made busy with vmsplice(): a pipe holds a reference on a
 * device-coherent page (the CPU maps those like system memory), which
 * eviction cannot move. Device-private pages cannot be referenced so.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

#pragma GCC diagnostic ignored "-Wclobbered"

#define GIB		(1024UL * 1024 * 1024)
#define TIB		(1024 * GIB)
/* Generous: only a stall (seconds to minutes before the fix) exceeds it. */
#define BOUND_MS	5000
/* How long the victim runs before it is killed. */
#define RUN_MS		1000
/* Pages a sparse mapping puts on the device, 1 TiB apart. */
#define SPARSE_PAGES	16

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Private anonymous memory that reserves nothing, at base pages. */
static char *map_sparse(unsigned long len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/* Fill page @pg (of the pattern's numbering) at @p with its pattern. */
static void page_fill(void *p, unsigned long pg, unsigned int seed)
{
	unsigned long long *w = p;
	unsigned long i;

	for (i = 0; i < PG / sizeof(*w); i++)
		w[i] = ((unsigned long long)seed << 48) ^ (pg << 16) ^ i;
}

static bool page_ok(const void *p, unsigned long pg, unsigned int seed)
{
	const unsigned long long *w = p;
	unsigned long i;

	for (i = 0; i < PG / sizeof(*w); i++)
		if (w[i] != (((unsigned long long)seed << 48) ^ (pg << 16) ^ i))
			return false;
	return true;
}

/* The snapshot byte of the page at @addr through @fd, or -1. */
static int snap_one(int fd, const void *addr)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char b = 0xee;

	if (range_ioctl(fd, HMM_DMIRROR_SNAPSHOT, addr, &b, 1, &cmd))
		return -1;
	return b;
}

/* Pages of [@addr, +@npages) whose snapshot byte is @want. */
static long snap_count(int fd, const void *addr, unsigned long npages,
		       unsigned char want)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *s = malloc(npages);
	unsigned long i;
	long n = 0;

	if (!s)
		return -1;
	if (range_ioctl(fd, HMM_DMIRROR_SNAPSHOT, addr, s, npages, &cmd)) {
		free(s);
		return -1;
	}
	for (i = 0; i < npages; i++)
		n += s[i] == want;
	free(s);
	return n;
}

/*
 * SIGKILL @pid and wait for it. Returns the milliseconds it took to be
 * reaped, or -1 if it was not within BOUND_MS (it is then still reaped,
 * however long that takes, so no process is left behind).
 */
static long long kill_and_reap(pid_t pid)
{
	long long t0 = now_ms(), t;
	int status;

	kill(pid, SIGKILL);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		t = now_ms() - t0;
		if (r == pid)
			return t <= BOUND_MS ? t : -1;
		if (r < 0 || t > BOUND_MS)
			break;
		sleep_ms(5);
	}
	waitpid(pid, &status, 0);
	return -1;
}

/* The child reports one byte, then its parent kills it. */
static int child_ready(int wfd)
{
	return write(wfd, "r", 1) == 1 ? 0 : -1;
}

FIXTURE(sig)
{
	int fd;
	bool skipped;
	long long capacity;	/* device pages */
};

FIXTURE_VARIANT(sig)
{
	int dev;
	bool coherent;
};

FIXTURE_VARIANT_ADD(sig, device_private)
{
	.dev = 0,
	.coherent = false,
};

FIXTURE_VARIANT_ADD(sig, device_coherent)
{
	.dev = 2,
	.coherent = true,
};

FIXTURE_SETUP(sig)
{
	self->fd = dmirror_fixture_open(variant->dev, variant->coherent,
					&self->skipped);
	if (self->skipped)
		SKIP(return, DMIRROR_NO_COHERENT_WHY);
	ASSERT_GE(self->fd, 0) TH_LOG("open /dev/hmm_dmirror%d: %s",
				      variant->dev, strerror(errno));
	self->capacity = dmirror_dev_stat(variant->dev, "capacity_pages");
	ASSERT_GT(self->capacity, 0);
}

FIXTURE_TEARDOWN(sig)
{
	if (self->fd >= 0)
		EXPECT_EQ(0, close(self->fd));
}

/*
 * Run @victim in a child (it reports readiness on the pipe, then enters
 * its long request), kill it RUN_MS later and check that it is reaped in
 * time and that the device holds what it held before.
 */
static void kill_victim(struct __test_metadata *_metadata, int dev,
			int (*victim)(int dev, int wfd))
{
	long long before, reaped;
	int pfd[2], status;
	char c;
	pid_t pid;

	before = dmirror_dev_stat(dev, "resident_pages");
	ASSERT_GE(before, 0);
	ASSERT_EQ(0, pipe(pfd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		_exit(victim(dev, pfd[1]));
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) != 1) {
		waitpid(pid, &status, 0);
		ASSERT_TRUE(0) TH_LOG("victim failed to set up: status %#x",
				      status);
	}
	close(pfd[0]);
	sleep_ms(RUN_MS);
	reaped = kill_and_reap(pid);
	EXPECT_LE(0, reaped) TH_LOG("not reaped within %d ms of SIGKILL",
				    BOUND_MS);
	TH_LOG("reaped %lld ms after SIGKILL", reaped);
	EXPECT_EQ(before, dmirror_dev_stat(dev, "resident_pages"));
}

/* MIGRATE_TO_DEV of 64 GiB that reserves nothing. */
static int victim_huge_to_dev(int dev, int wfd)
{
	unsigned long len = 64 * GIB;
	struct hmm_dmirror_cmd cmd;
	char *buf, *out;
	int fd;

	fd = dmirror_open_dev(dev);
	buf = map_sparse(len);
	out = map_sparse(len);
	if (fd < 0 || !buf || !out || child_ready(wfd))
		return 2;
	range_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, out, len / PG, &cmd);
	for (;;)
		pause();
}

/*
 * The case: killed a second into MIGRATE_TO_DEV of 64 GiB (which
 * evicted and migrated window after window for 20 s and more).
 */
TEST_F_TIMEOUT(sig, huge_to_dev_killed, 120)
{
	if (self->skipped)
		return;
	kill_victim(_metadata, variant->dev, victim_huge_to_dev);
}

/*
 * Two buffers of the device's size, migrated in turn: each migration
 * evicts the other buffer, so the victim is in MIGRATE_TO_DEV all the time.
 */
static int victim_busy_to_dev(int dev, int wfd)
{
	long long cap = dmirror_dev_stat(dev, "capacity_pages");
	struct hmm_dmirror_cmd cmd;
	char *a, *b, *out;
	int fd, i;

	fd = dmirror_open_dev(dev);
	if (fd < 0 || cap <= 0)
		return 2;
	a = map_sparse(cap * PG);
	b = map_sparse(cap * PG);
	out = map_sparse(cap * PG);
	if (!a || !b || !out)
		return 3;
	memset(a, 0x5a, cap * PG);
	memset(b, 0xa5, cap * PG);
	if (child_ready(wfd))
		return 4;
	for (i = 0; ; i++)
		range_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, i & 1 ? b : a, out,
			    cap, &cmd);
}

TEST_F_TIMEOUT(sig, busy_to_dev_killed, 120)
{
	if (self->skipped)
		return;
	kill_victim(_metadata, variant->dev, victim_busy_to_dev);
}

/* Put SPARSE_PAGES pattern pages, 1 TiB apart, of @buf on the device. */
static int sparse_to_dev(int fd, char *buf, unsigned int seed)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char out[PG];
	unsigned long i;
	int ret;

	for (i = 0; i < SPARSE_PAGES; i++) {
		char *p = buf + i * TIB + i * PG;

		page_fill(p, i, seed);
		ret = range_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, out, 1,
				  &cmd);
		if (ret)
			return ret;
		if (!page_ok(out, i, seed))
			return -EIO;
	}
	return 0;
}

/* MIGRATE_TO_SYS over 16 TiB that hold 16 device pages. */
static int victim_huge_to_sys(int dev, int wfd)
{
	unsigned long len = SPARSE_PAGES * TIB;
	struct hmm_dmirror_cmd cmd;
	char *buf;
	int fd;

	fd = dmirror_open_dev(dev);
	buf = map_sparse(len);
	if (fd < 0 || !buf || sparse_to_dev(fd, buf, 0x51) || child_ready(wfd))
		return 2;
	range_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, NULL, len / PG, &cmd);
	for (;;)
		pause();
}

TEST_F_TIMEOUT(sig, huge_to_sys_killed, 120)
{
	if (self->skipped)
		return;
	kill_victim(_metadata, variant->dev, victim_huge_to_sys);
}

/*
 * close() with a 16 TiB sparse mapping (an AddressSanitizer shadow) that
 * has 16 pages on the device: quick, and the pages are back in system
 * memory with their bytes, with no CPU fault needed to read them.
 */
TEST_F_TIMEOUT(sig, close_sparse_16t, 300)
{
	unsigned long len = SPARSE_PAGES * TIB, i;
	long long r0, r1, e0, e1, f0, f1, t;
	char *buf;

	if (self->skipped)
		return;
	buf = map_sparse(len);
	ASSERT_NE(NULL, buf);
	r0 = dmirror_dev_stat(variant->dev, "resident_pages");
	e0 = dmirror_dev_stat(variant->dev, "evicted_pages");
	ASSERT_EQ(0, sparse_to_dev(self->fd, buf, 0xc1));
	r1 = dmirror_dev_stat(variant->dev, "resident_pages");
	ASSERT_EQ(r0 + SPARSE_PAGES, r1);
	for (i = 0; i < SPARSE_PAGES; i++)
		ASSERT_EQ(variant->coherent ? SNAP_COH_RW :
			  (HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL |
			   HMM_DMIRROR_PROT_WRITE),
			  snap_one(self->fd, buf + i * TIB + i * PG));

	t = now_ms();
	ASSERT_EQ(0, close(self->fd));
	t = now_ms() - t;
	self->fd = -1;
	TH_LOG("close took %lld ms", t);
	EXPECT_LE(t, BOUND_MS);

	r1 = dmirror_dev_stat(variant->dev, "resident_pages");
	e1 = dmirror_dev_stat(variant->dev, "evicted_pages");
	EXPECT_EQ(r0, r1);
	EXPECT_LE(e0 + SPARSE_PAGES, e1);

	/* System memory again: the snapshot says so, reading needs no fault. */
	self->fd = dmirror_open_dev(variant->dev);
	ASSERT_GE(self->fd, 0);
	f0 = dmirror_dev_stat(variant->dev, "cpu_faults");
	for (i = 0; i < SPARSE_PAGES; i++) {
		char *p = buf + i * TIB + i * PG;

		EXPECT_EQ(SNAP_SYS_RW, snap_one(self->fd, p)) TH_LOG("page %lu", i);
		EXPECT_TRUE(page_ok(p, i, 0xc1)) TH_LOG("page %lu", i);
	}
	f1 = dmirror_dev_stat(variant->dev, "cpu_faults");
	EXPECT_EQ(f0, f1);
	munmap(buf, len);
}

/*
 * More pages than the device holds: -ENOMEM before anything moves. The
 * pages already on the device stay there (nothing was evicted for it),
 * and the range's bytes are untouched.
 */
TEST_F_TIMEOUT(sig, to_dev_larger_than_device, 120)
{
	unsigned long n = self->capacity + 1, small = 64, i;
	long long r0, e0, d0;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf, *mine;

	if (self->skipped)
		return;
	mine = map_sparse(small * PG);
	buf = map_sparse(n * PG);
	out = malloc(small * PG);
	ASSERT_NE(NULL, mine);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, out);
	for (i = 0; i < small; i++)
		page_fill(mine + i * PG, i, 0xd1);
	ASSERT_EQ(0, range_ioctl(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, mine,
				 out, small, &cmd));
	for (i = 0; i < n; i += 97)
		page_fill(buf + i * PG, i, 0xd2);

	r0 = dmirror_dev_stat(variant->dev, "resident_pages");
	e0 = dmirror_dev_stat(variant->dev, "evicted_pages");
	d0 = dmirror_dev_stat(variant->dev, "migrated_to_dev");
	EXPECT_EQ(-ENOMEM, range_ioctl(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
				       buf, buf, n, &cmd));
	EXPECT_EQ(r0, dmirror_dev_stat(variant->dev, "resident_pages"));
	EXPECT_EQ(e0, dmirror_dev_stat(variant->dev, "evicted_pages"));
	EXPECT_EQ(d0, dmirror_dev_stat(variant->dev, "migrated_to_dev"));
	EXPECT_EQ((long)small, snap_count(self->fd, mine, small,
					  variant->coherent ? SNAP_COH_RW :
					  (HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL |
					   HMM_DMIRROR_PROT_WRITE)));
	for (i = 0; i < n; i += 97)
		ASSERT_TRUE(page_ok(buf + i * PG, i, 0xd2)) TH_LOG("page %lu", i);
	for (i = 0; i < small; i++)
		ASSERT_TRUE(page_ok(mine + i * PG, i, 0xd1)) TH_LOG("page %lu", i);
	free(out);
	munmap(buf, n * PG);
	munmap(mine, small * PG);
}

/* ---- busy device memory (device-coherent only) ------------------------ */

#define COHERENT_DEV	2

/*
 * A page of @fd's device-coherent memory that a pipe holds a reference to:
 * migrate one page there, then vmsplice() it into @pfd. Returns the page.
 */
static char *pin_device_page(int fd, int pfd[2])
{
	struct hmm_dmirror_cmd cmd;
	unsigned char out[PG];
	struct iovec iov;
	char *p;

	p = map_sparse(PG);
	if (!p)
		return NULL;
	page_fill(p, 0, 0xe1);
	if (range_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, out, 1, &cmd) ||
	    snap_one(fd, p) != SNAP_COH_RW)
		return NULL;
	if (pipe(pfd))
		return NULL;
	iov.iov_base = p;
	iov.iov_len = PG;
	if (vmsplice(pfd[1], &iov, 1, 0) != (ssize_t)PG)
		return NULL;
	/* Still on the device: the pipe refers to the page itself. */
	if (snap_one(fd, p) != SNAP_COH_RW)
		return NULL;
	return p;
}

/* Drop the pipe's reference (and the pipe). */
static void unpin(int pfd[2])
{
	char sink[PG];

	if (pfd[0] < 0)
		return;
	if (read(pfd[0], sink, sizeof(sink)) < 0)
		return;
	close(pfd[0]);
	close(pfd[1]);
	pfd[0] = -1;
	pfd[1] = -1;
}

/* A coherent device with one page of its memory referenced by a pipe. */
FIXTURE(busy)
{
	int fd;
	bool skipped;
	int pfd[2];
	char *pinned;
	long long capacity;
};

FIXTURE_SETUP(busy)
{
	self->pfd[0] = -1;
	self->pfd[1] = -1;
	self->fd = dmirror_fixture_open(COHERENT_DEV, true, &self->skipped);
	if (self->skipped)
		SKIP(return, DMIRROR_NO_COHERENT_WHY);
	ASSERT_GE(self->fd, 0) TH_LOG("open /dev/hmm_dmirror%d: %s",
				      COHERENT_DEV, strerror(errno));
	self->capacity = dmirror_dev_stat(COHERENT_DEV, "capacity_pages");
	ASSERT_GT(self->capacity, 0);
	self->pinned = pin_device_page(self->fd, self->pfd);
	ASSERT_NE(NULL, self->pinned);
}

FIXTURE_TEARDOWN(busy)
{
	unpin(self->pfd);
	if (self->fd >= 0)
		EXPECT_EQ(0, close(self->fd));
}

/*
 * A request of exactly the device's size while one of its pages is busy:
 * it cannot fit. Before, it made room by evicting its own first windows
 * and ended in -ENOENT with them gone; now it is -ENOMEM, its moved pages
 * stay on the device, and once the page is no longer referenced the same
 * request evicts it and succeeds, without evicting its own pages.
 */
TEST_F_TIMEOUT(busy, full_device, 300)
{
	unsigned long cap = self->capacity, i;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = map_sparse(cap * PG);
	out = malloc(cap * PG);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, out);
	for (i = 0; i < cap; i++)
		page_fill(buf + i * PG, i, 0xe2);

	EXPECT_EQ(-ENOMEM, range_ioctl(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
				       buf, out, cap, &cmd));
	/* All but the page that found no room stay on the device. */
	EXPECT_EQ((long)cap - 1, snap_count(self->fd, buf, cap, SNAP_COH_RW));
	EXPECT_EQ((long long)cap,
		  dmirror_dev_stat(COHERENT_DEV, "resident_pages"));
	EXPECT_EQ(SNAP_COH_RW, snap_one(self->fd, self->pinned));

	unpin(self->pfd);
	memset(out, 0, cap * PG);
	ASSERT_EQ(0, range_ioctl(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf,
				 out, cap, &cmd));
	EXPECT_EQ(cap, cmd.cpages);
	EXPECT_EQ((long)cap, snap_count(self->fd, buf, cap, SNAP_COH_RW));
	EXPECT_EQ(SNAP_SYS_RW, snap_one(self->fd, self->pinned));
	for (i = 0; i < cap; i++) {
		ASSERT_TRUE(page_ok(out + i * PG, i, 0xe2)) TH_LOG("page %lu", i);
		ASSERT_TRUE(page_ok(buf + i * PG, i, 0xe2)) TH_LOG("page %lu", i);
	}
	ASSERT_TRUE(page_ok(self->pinned, 0, 0xe1));
	free(out);
	munmap(buf, cap * PG);
}

/*
 * RELEASE with a page that stays busy gives up within the bound (-EBUSY),
 * keeps the page and its bytes, and works once the page is free.
 */
TEST_F_TIMEOUT(busy, release, 120)
{
	struct hmm_dmirror_cmd cmd;
	long long t;

	if (self->skipped)
		return;
	t = now_ms();
	EXPECT_EQ(-EBUSY, range_ioctl(self->fd, HMM_DMIRROR_RELEASE,
				      self->pinned, NULL, 1, &cmd));
	t = now_ms() - t;
	TH_LOG("RELEASE gave up after %lld ms", t);
	EXPECT_LE(t, BOUND_MS);
	EXPECT_EQ(SNAP_COH_RW, snap_one(self->fd, self->pinned));
	EXPECT_TRUE(page_ok(self->pinned, 0, 0xe1));

	unpin(self->pfd);
	EXPECT_EQ(0, range_ioctl(self->fd, HMM_DMIRROR_RELEASE, self->pinned,
				 NULL, 1, &cmd));
	EXPECT_EQ(SNAP_SYS_RW, snap_one(self->fd, self->pinned));
	EXPECT_TRUE(page_ok(self->pinned, 0, 0xe1));
	EXPECT_EQ(0LL, dmirror_dev_stat(COHERENT_DEV, "resident_pages"));
}

/* A process killed while RELEASE waits for busy memory goes at once. */
static int victim_release(int dev, int wfd)
{
	struct hmm_dmirror_cmd cmd;
	int fd, pfd[2];
	char *p;

	fd = dmirror_open_dev(dev);
	if (fd < 0)
		return 2;
	p = pin_device_page(fd, pfd);
	if (!p || child_ready(wfd))
		return 3;
	for (;;)
		range_ioctl(fd, HMM_DMIRROR_RELEASE, p, NULL, 1, &cmd);
}

TEST_F_TIMEOUT(busy, release_killed, 120)
{
	if (self->skipped)
		return;
	kill_victim(_metadata, COHERENT_DEV, victim_release);
}

TEST_HARNESS_MAIN
