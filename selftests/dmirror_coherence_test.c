// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror coherence tests: two files of one device in one process see
 * the same memory after a migration filled never-touched pages; requests
 * are restarted only by invalidations of their own range, not by others
 * elsewhere in the process; a process killed during a huge request dies
 * at once.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

/* See dmirror_mirror.h: a harness variable, not one of ours. */
#pragma GCC diagnostic ignored "-Wclobbered"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC		0x0001U
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB		0x0004U
#endif

#define PAGE_SZ			4096UL
#define WIN_PAGES		512UL		/* one 2 MiB window */
#define WIN_SZ			(WIN_PAGES * PAGE_SZ)
#define GIB			(1024 * MIB)

/*
 * How long a killed process may take to leave its request (and, where its
 * device page table is small, to be reaped): catches a stall only.
 */
#define REAP_BOUND_S		5.0

static int range_cmd(int fd, unsigned long req, const void *addr,
		     const void *ptr, unsigned long npages,
		     struct hmm_dmirror_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->addr = (uintptr_t)addr;
	cmd->ptr = (uintptr_t)ptr;
	cmd->npages = npages;
	return dmirror_cmd(fd, req, cmd);
}

/* Fill @npages pages with words that encode @seed and their position. */
static void fill(void *buf, unsigned long npages, unsigned long long seed)
{
	unsigned long long *w = buf;
	unsigned long i, n = npages * PAGE_SZ / sizeof(*w);

	for (i = 0; i < n; i++)
		w[i] = (seed << 40) ^ (i * 0x10001ULL);
}

/* Pages of @buf that differ from fill(@seed); the first one in *@first. */
static unsigned long bad_pages(const void *buf, unsigned long npages,
			       unsigned long long seed, long *first)
{
	const unsigned long long *w = buf;
	unsigned long per = PAGE_SZ / sizeof(*w), i, j, bad = 0;

	*first = -1;
	for (i = 0; i < npages; i++) {
		for (j = i * per; j < (i + 1) * per; j++)
			if (w[j] != ((seed << 40) ^ (j * 0x10001ULL)))
				break;
		if (j == (i + 1) * per)
			continue;
		if (!bad++)
			*first = i;
	}
	return bad;
}

/* Private anonymous memory at base pages (no THP, no huge zero page). */
static char *map_base(unsigned long npages)
{
	void *p = mmap(NULL, npages * PAGE_SZ, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, npages * PAGE_SZ, MADV_NOHUGEPAGE)) {
		munmap(p, npages * PAGE_SZ);
		return NULL;
	}
	return p;
}

/*
 * Two files of one device in one process.
 */
FIXTURE(two_files)
{
	int fda, fdb;
	bool skipped;
};

FIXTURE_VARIANT(two_files)
{
	int dev;
	bool coherent;
};

FIXTURE_VARIANT_ADD(two_files, private)
{
	.dev = 0,
	.coherent = false,
};

FIXTURE_VARIANT_ADD(two_files, coherent)
{
	.dev = 2,
	.coherent = true,
};

FIXTURE_SETUP(two_files)
{
	self->fdb = -1;
	self->fda = dmirror_fixture_open(variant->dev, variant->coherent,
					 &self->skipped);
	if (self->skipped)
		SKIP(return, DMIRROR_NO_COHERENT_WHY);
	ASSERT_GE(self->fda, 0) TH_LOG("open /dev/hmm_dmirror%d: %s",
				       variant->dev, strerror(errno));
	self->fdb = dmirror_open_dev(variant->dev);
	ASSERT_GE(self->fdb, 0);
}

FIXTURE_TEARDOWN(two_files)
{
	if (self->fda >= 0)
		close(self->fda);
	if (self->fdb >= 0)
		close(self->fdb);
}

/* A thread that READs one page after another through a file. */
struct reader {
	int fd;
	char *base;
	unsigned long nwin;
	int started;
	int stop;
	int err;
	unsigned long reads;
};

/*
 * One page of each window in turn, a different page each round, so that
 * nearly every READ is a device fault: right after the migration of a
 * window has been set up (and the file's entries of it dropped), the next
 * READ there faults the zero page in before the migration installs the
 * device page.
 */
static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct hmm_dmirror_cmd cmd;
	unsigned long i = 0, w, p;
	char page[PAGE_SZ];
	int ret;

	__atomic_store_n(&r->started, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		w = i % r->nwin;
		p = (i / r->nwin) % WIN_PAGES;
		ret = range_cmd(r->fd, HMM_DMIRROR_READ,
				r->base + w * WIN_SZ + p * PAGE_SZ, page, 1,
				&cmd);
		if (ret && !r->err)
			r->err = ret;
		i++;
	}
	r->reads = i;
	return NULL;
}

/*
 * Issue 13, item 4. File B READs never-touched memory (faulting the zero
 * page in) while file A migrates it to the device: for a page without a
 * source page the core installs the device page only in
 * migrate_vma_pages(), under an event every mirror of the device skips as
 * its own migration. Then A WRITEs the range and B must READ what A wrote,
 * not the zeros of a zero page B entered in between. Several rounds, since
 * whether B's fault lands in that gap is a race.
 */
TEST_F_TIMEOUT(two_files, filled_pages_reach_other_file, 240)
{
	const unsigned long nwin = 16, npages = nwin * WIN_PAGES;
	const unsigned long size = npages * PAGE_SZ, rounds = 8;
	unsigned long r, bad, total_bad = 0, reads = 0;
	struct hmm_dmirror_cmd cmd;
	struct reader rd;
	char *in, *out;
	pthread_t thr;
	long first;

	if (self->skipped)
		return;
	in = malloc(size);
	out = malloc(size);
	ASSERT_NE(NULL, in);
	ASSERT_NE(NULL, out);

	for (r = 0; r < rounds; r++) {
		char *buf = map_base(npages);

		ASSERT_NE(NULL, buf);
		memset(&rd, 0, sizeof(rd));
		rd.fd = self->fdb;
		rd.base = buf;
		rd.nwin = nwin;
		ASSERT_EQ(0, pthread_create(&thr, NULL, reader_main, &rd));
		while (!__atomic_load_n(&rd.started, __ATOMIC_ACQUIRE))
			sched_yield();

		ASSERT_EQ(0, range_cmd(self->fda, HMM_DMIRROR_MIGRATE_TO_DEV,
				       buf, out, npages, &cmd))
			TH_LOG("round %lu", r);
		ASSERT_EQ(npages, cmd.cpages);

		__atomic_store_n(&rd.stop, 1, __ATOMIC_RELEASE);
		ASSERT_EQ(0, pthread_join(thr, NULL));
		ASSERT_EQ(0, rd.err) TH_LOG("READ through B: %s",
					    strerror(-rd.err));
		reads += rd.reads;

		fill(in, npages, 0x4100 + r);
		ASSERT_EQ(0, range_cmd(self->fda, HMM_DMIRROR_WRITE, buf, in,
				       npages, &cmd));
		ASSERT_EQ(0, range_cmd(self->fda, HMM_DMIRROR_READ, buf, out,
				       npages, &cmd));
		ASSERT_EQ(0UL, bad_pages(out, npages, 0x4100 + r, &first))
			TH_LOG("A reads back its own WRITE wrong at page %ld",
			       first);

		memset(out, 0xa5, size);
		ASSERT_EQ(0, range_cmd(self->fdb, HMM_DMIRROR_READ, buf, out,
				       npages, &cmd));
		bad = bad_pages(out, npages, 0x4100 + r, &first);
		if (bad)
			TH_LOG("round %lu: B reads %lu stale pages, the first at %lu (word %#llx)",
			       r, bad, first,
			       ((unsigned long long *)out)[first * PAGE_SZ / 8]);
		total_bad += bad;

		/* The CPU sees what A wrote, too. */
		ASSERT_EQ(0UL, bad_pages(buf, npages, 0x4100 + r, &first))
			TH_LOG("CPU reads page %ld wrong", first);
		ASSERT_EQ(0, munmap(buf, size));
	}
	TH_LOG("%lu READs through B during the migrations", reads);
	EXPECT_EQ(0UL, total_bad);
	free(in);
	free(out);
}

/*
 * One file, and invalidations elsewhere in the process.
 */
FIXTURE(one_file)
{
	int fd;
};

FIXTURE_SETUP(one_file)
{
	self->fd = dmirror_open_dev(0);
	ASSERT_GE(self->fd, 0) TH_LOG("open /dev/hmm_dmirror0: %s",
				      strerror(errno));
}

FIXTURE_TEARDOWN(one_file)
{
	if (self->fd >= 0)
		close(self->fd);
}

/*
 * A thread that keeps invalidating a buffer of its own, back to back: an
 * MADV_DONTNEED raises an invalidation whether or not a page is there.
 */
struct storm {
	char *buf;
	size_t len;
	int stop;
	int err;
	unsigned long rounds;
};

static void *storm_main(void *arg)
{
	struct storm *s = arg;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		if (madvise(s->buf, s->len, MADV_DONTNEED)) {
			s->err = errno;
			break;
		}
		__atomic_add_fetch(&s->rounds, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Issue 13, item 6. While another thread unmaps an unrelated page of the
 * process (MADV_DONTNEED) as fast as it can, the device
 * faults, snapshots, makes exclusive and migrates a window of its own,
 * many times: nothing gives up with -EBUSY (or hangs), and every byte is
 * right. Each step starts from pages the device does not map yet, so each
 * one reads the CPU page tables while the other thread invalidates.
 */
TEST_F_TIMEOUT(one_file, unrelated_invalidations, 300)
{
	const unsigned long npages = WIN_PAGES, size = npages * PAGE_SZ;
	const unsigned long iters = 24, nexcl = 16;
	unsigned long i, before, after;
	struct hmm_dmirror_cmd cmd;
	unsigned char *snap;
	double t0;
	struct storm st;
	char *buf, *in, *out;
	pthread_t thr;
	long first;

	buf = map_base(npages);
	ASSERT_NE(NULL, buf);
	in = malloc(size);
	out = malloc(size);
	snap = malloc(npages);
	ASSERT_NE(NULL, in);
	ASSERT_NE(NULL, out);
	ASSERT_NE(NULL, snap);

	memset(&st, 0, sizeof(st));
	st.len = PAGE_SZ;
	st.buf = map_base(1);
	ASSERT_NE(NULL, st.buf);
	ASSERT_EQ(0, pthread_create(&thr, NULL, storm_main, &st));
	while (!__atomic_load_n(&st.rounds, __ATOMIC_RELAXED))
		sched_yield();
	before = __atomic_load_n(&st.rounds, __ATOMIC_RELAXED);
	t0 = now_s();
	usleep(500000);
	TH_LOG("alone: %.0f invalidations/s",
	       (__atomic_load_n(&st.rounds, __ATOMIC_RELAXED) - before) /
	       (now_s() - t0));
	before = __atomic_load_n(&st.rounds, __ATOMIC_RELAXED);
	t0 = now_s();

	for (i = 0; i < iters; i++) {
		unsigned long long seed = 0x6100 + 8 * i;
		unsigned long j;

		/* READ of pages the CPU just wrote. */
		ASSERT_EQ(0, madvise(buf, size, MADV_DONTNEED));
		fill(buf, npages, seed);
		ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_READ, buf, out,
				       npages, &cmd)) TH_LOG("READ, round %lu", i);
		ASSERT_EQ(0UL, bad_pages(out, npages, seed, &first))
			TH_LOG("READ: page %ld", first);

		/* WRITE into pages that are not there yet. */
		ASSERT_EQ(0, madvise(buf, size, MADV_DONTNEED));
		fill(in, npages, seed + 1);
		ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_WRITE, buf, in,
				       npages, &cmd)) TH_LOG("WRITE, round %lu", i);
		ASSERT_EQ(0UL, bad_pages(buf, npages, seed + 1, &first))
			TH_LOG("WRITE: page %ld", first);

		/* SNAPSHOT of what the WRITE faulted in. */
		memset(snap, 0xee, npages);
		ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_SNAPSHOT, buf,
				       snap, npages, &cmd))
			TH_LOG("SNAPSHOT, round %lu", i);
		for (j = 0; j < npages; j++)
			ASSERT_EQ(SNAP_SYS_RW, snap[j]) TH_LOG("page %lu", j);

		/* READ_UNLOCKED, as READ. */
		ASSERT_EQ(0, madvise(buf, size, MADV_DONTNEED));
		fill(buf, npages, seed + 2);
		ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_READ_UNLOCKED,
				       buf, out, npages, &cmd))
			TH_LOG("READ_UNLOCKED, round %lu", i);
		ASSERT_EQ(0UL, bad_pages(out, npages, seed + 2, &first))
			TH_LOG("READ_UNLOCKED: page %ld", first);

		/* EXCLUSIVE of a few pages, then the CPU takes them back. */
		ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, buf,
				       out, nexcl, &cmd))
			TH_LOG("EXCLUSIVE, round %lu", i);
		ASSERT_EQ(0UL, bad_pages(out, nexcl, seed + 2, &first))
			TH_LOG("EXCLUSIVE: page %ld", first);
		ASSERT_EQ(-EPERM, range_cmd(self->fd,
					    HMM_DMIRROR_CHECK_EXCLUSIVE, buf,
					    NULL, nexcl, &cmd));
		fill(buf, npages, seed + 3);
		ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE,
				       buf, NULL, nexcl, &cmd));

		/*
		 * A migration and its read-back, and the way back: only now
		 * and then, as each one takes seconds here (it waits for the
		 * mirror lock, which every invalidation of the other thread
		 * takes too).
		 */
		if (i % 8)
			continue;
		ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
				       buf, out, npages, &cmd))
			TH_LOG("MIGRATE_TO_DEV, round %lu", i);
		ASSERT_EQ(0UL, bad_pages(out, npages, seed + 3, &first))
			TH_LOG("MIGRATE_TO_DEV: page %ld", first);
		ASSERT_EQ(0, range_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS,
				       buf, NULL, npages, &cmd));
		ASSERT_EQ(npages, cmd.cpages);
		ASSERT_EQ(0UL, bad_pages(buf, npages, seed + 3, &first))
			TH_LOG("after MIGRATE_TO_SYS: page %ld", first);
	}

	after = __atomic_load_n(&st.rounds, __ATOMIC_RELAXED);
	__atomic_store_n(&st.stop, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(thr, NULL));
	ASSERT_EQ(0, st.err) TH_LOG("madvise: %s", strerror(st.err));
	TH_LOG("%lu unrelated invalidations meanwhile (%.0f/s)", after - before,
	       (after - before) / (now_s() - t0));
	/* The other thread kept invalidating while the requests ran. */
	ASSERT_LT(before + iters, after);
	free(in);
	free(out);
	free(snap);
	munmap(st.buf, st.len);
	munmap(buf, size);
}

/*
 * SIGKILL during one huge request. The child opens the device, prepares,
 * writes one byte to @pipefd (1 = ready, 2 = cannot run here) and issues
 * the request (again and again, should it ever end). @prepare and @request
 * run in the child.
 */
struct huge_req {
	unsigned long len;		/* bytes of the range */
	int (*prepare)(struct huge_req *h);	/* 0, 2 for SKIP, else failed */
	int (*request)(struct huge_req *h);
	int fd;
	char *range;
	char *ptr;
};

static void huge_child(struct huge_req *h, int pipefd)
{
	char c = 1;

	h->fd = dmirror_open_dev(0);
	if (h->fd < 0)
		_exit(3);
	/* Aligned to 2 MiB, so that every 2 MiB of it can be a huge page. */
	h->range = mmap(NULL, h->len + WIN_SZ, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (h->range == MAP_FAILED)
		_exit(4);
	h->range = (char *)(((uintptr_t)h->range + WIN_SZ - 1) & ~(WIN_SZ - 1));
	if (h->prepare) {
		int ret = h->prepare(h);

		if (ret) {
			c = ret;
			if (write(pipefd, &c, 1) != 1)
				_exit(5);
			_exit(0);
		}
	}
	if (write(pipefd, &c, 1) != 1)
		_exit(5);
	for (;;)
		if (h->request(h))
			_exit(6);
}

/* Pages the mirror of process @pid faulted in so far, or -1. */
static long long child_pages_faulted(pid_t pid)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/mm/%d/stats", DMIRROR_DEBUGFS,
		 (int)pid);
	return dmirror_stat_file(path, "pages_faulted");
}

/*
 * Whether process @pid has let go of its address space: the first step of
 * its exit, right after it left the ioctl, before the address space is
 * torn down (/proc/PID/statm then reads zeros).
 */
static bool mm_detached(pid_t pid)
{
	char path[64];
	long size = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	if (fscanf(f, "%ld", &size) != 1)
		size = 0;
	fclose(f);
	return size == 0;
}

/* How long a killed child took to leave its ioctl, and to be reaped. */
struct kill_times {
	double detach;
	double reap;
};

/* What a prepare code other than 0 (ready) and 2 (SKIP) means. */
static const char *prepare_why(int code)
{
	switch (code) {
	case 3: return "mapping or populating its buffer failed";
	case 6: return "MADV_HUGEPAGE or MADV_POPULATE_READ failed";
	case 7: return "SNAPSHOT failed";
	case 8: return "no huge zero page although use_zero_page is on";
	case 9: return "fewer than 8 free 2 MiB hugetlb pages of the VM's 32: leaked?";
	default: return "it exited early";
	}
}

/*
 * Run @h in a child and kill it once it is inside the request: after
 * @delay seconds, or once its mirror faulted @faulted pages. Return 0
 * with the times in *@kt, 1 when the child could not prepare (SKIP), or
 * -1 (also when it did not die of the SIGKILL).
 */
static int kill_during(struct __test_metadata *_metadata, struct huge_req *h,
		       double delay, long long faulted, struct kill_times *kt)
{
	double t0, deadline;
	int pfd[2], status;
	pid_t pid;
	char c = 0;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		close(pfd[0]);
		huge_child(h, pfd[1]);
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) != 1 || c != 1) {
		close(pfd[0]);
		waitpid(pid, &status, 0);
		if (c != 2)
			TH_LOG("the child could not prepare: %s (code %d)",
			       prepare_why(c), c);
		return c == 2 ? 1 : -1;
	}
	close(pfd[0]);
	if (faulted > 0) {
		/* The fault round ends before any data is copied. */
		deadline = now_s() + 600;
		while (child_pages_faulted(pid) < faulted && now_s() < deadline)
			usleep(20000);
		usleep(200000);
	} else {
		usleep(delay * 1e6);
	}
	t0 = now_s();
	kill(pid, SIGKILL);
	while (!mm_detached(pid))
		usleep(1000);
	kt->detach = now_s() - t0;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	kt->reap = now_s() - t0;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		TH_LOG("the child ended by itself (status %#x)", status);
		return -1;
	}
	return 0;
}

static int huge_snapshot(struct huge_req *h)
{
	struct hmm_dmirror_cmd cmd;

	return range_cmd(h->fd, HMM_DMIRROR_SNAPSHOT, h->range, h->ptr,
			 h->len / PAGE_SZ, &cmd);
}

static int huge_snapshot_prepare(struct huge_req *h)
{
	h->ptr = malloc(h->len / PAGE_SZ);
	return h->ptr ? 0 : 3;
}

static int huge_read(struct huge_req *h)
{
	struct hmm_dmirror_cmd cmd;

	return range_cmd(h->fd, HMM_DMIRROR_READ, h->range, h->ptr,
			 h->len / PAGE_SZ, &cmd);
}

static int huge_read_prepare(struct huge_req *h)
{
	h->ptr = mmap(NULL, h->len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return h->ptr == MAP_FAILED ? 3 : 0;
}

/*
 * SNAPSHOT of 64 GiB of never-touched MAP_NORESERVE memory, killed after
 * a second.
 */
TEST_F_TIMEOUT(one_file, sigkill_huge_snapshot, 60)
{
	struct huge_req h = {
		.len = 64 * GIB,
		.prepare = huge_snapshot_prepare,
		.request = huge_snapshot,
	};
	struct kill_times kt;

	ASSERT_EQ(0, kill_during(_metadata, &h, 1.0, 0, &kt));
	TH_LOG("out of the ioctl %.3f s after SIGKILL, reaped after %.3f s",
	       kt.detach, kt.reap);
	EXPECT_LT(kt.reap, REAP_BOUND_S);
}

/*
 * READ of 64 GiB of never-touched MAP_NORESERVE memory (the device
 * faults the zero page in, window after window), killed after a second.
 */
TEST_F_TIMEOUT(one_file, sigkill_huge_read, 60)
{
	struct huge_req h = {
		.len = 64 * GIB,
		.prepare = huge_read_prepare,
		.request = huge_read,
	};
	struct kill_times kt;

	ASSERT_EQ(0, kill_during(_metadata, &h, 1.0, 0, &kt));
	TH_LOG("out of the ioctl %.3f s after SIGKILL, reaped after %.3f s",
	       kt.detach, kt.reap);
	EXPECT_LT(kt.reap, REAP_BOUND_S);
}

/* The memfd of 2 MiB huge pages behind every alias of READ's buffer. */
#define ALIAS_SZ		(16 * MIB)
#define THP_DIR			"/sys/kernel/mm/transparent_hugepage"

/*
 * 32 GiB mapped by huge zero pages (a page table each 1 GiB, no memory),
 * and an output buffer as large made of aliases of one 16 MiB memfd of
 * huge pages, all mapped in advance: the device copies to it without
 * using memory, and without a page fault (which would see the signal).
 */
static int huge_copy_prepare(struct huge_req *h)
{
	unsigned long off;
	unsigned char byte;
	struct hmm_dmirror_cmd cmd;
	char mode[256] = "", why[128];
	int mfd, tfd;
	ssize_t n;

	tfd = open(THP_DIR "/enabled", O_RDONLY);
	if (tfd < 0)
		return 2;
	n = read(tfd, mode, sizeof(mode) - 1);
	close(tfd);
	if (n <= 0 || (!strstr(mode, "[always]") && !strstr(mode, "[madvise]")))
		return 2;
	if (madvise(h->range, h->len, MADV_HUGEPAGE) ||
	    madvise(h->range, h->len, MADV_POPULATE_READ))
		return 6;
	/* A huge zero page is mapped by a PMD, unless it is turned off. */
	if (range_cmd(h->fd, HMM_DMIRROR_SNAPSHOT, h->range + h->len - PAGE_SZ,
		      &byte, 1, &cmd))
		return 7;
	if (!(byte & HMM_DMIRROR_PROT_PMD))
		return dmirror_read_num(THP_DIR "/use_zero_page") == 0 ? 2 : 8;

	/* The VM reserves 32 huge pages: fewer than 8 free is a leak. */
	if (dmirror_huge_2m_ready(why, sizeof(why)) == 0)
		return 2;
	if (dmirror_read_num(DMIRROR_HUGE_2M_DIR "/free_hugepages") <
	    (long long)(ALIAS_SZ >> 21))
		return 9;
	mfd = memfd_create("dmirror_alias", MFD_CLOEXEC | MFD_HUGETLB);
	if (mfd < 0 || ftruncate(mfd, ALIAS_SZ))
		return 3;
	h->ptr = mmap(NULL, h->len + WIN_SZ, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (h->ptr == MAP_FAILED)
		return 3;
	h->ptr = (char *)(((uintptr_t)h->ptr + WIN_SZ - 1) & ~(WIN_SZ - 1));
	for (off = 0; off < h->len; off += ALIAS_SZ)
		if (mmap(h->ptr + off, ALIAS_SZ, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, mfd, 0) == MAP_FAILED)
			return 3;
	if (madvise(h->ptr, h->len, MADV_POPULATE_WRITE))
		return 3;
	return 0;
}

/*
 * READ of 32 GiB that the device has all faulted in (huge zero pages), so
 * that it spends its time copying to the user buffer: killed once the
 * fault round is over, inside the copy, it must leave the ioctl at once.
 * Tearing its address space down afterwards frees a device page table of
 * 8 Mi entries, which takes its own time (under a second here, half a
 * minute on a debug kernel) and is only logged.
 */
TEST_F_TIMEOUT(one_file, sigkill_huge_read_copy, 900)
{
	struct huge_req h = {
		.len = 32 * GIB,
		.prepare = huge_copy_prepare,
		.request = huge_read,
	};
	struct kill_times kt;
	int ret;

	ret = kill_during(_metadata, &h, 0, h.len / PAGE_SZ, &kt);
	if (ret == 1)
		SKIP(return, "THP, its huge zero page or 2 MiB hugetlb pages are turned off");
	ASSERT_EQ(0, ret);
	TH_LOG("out of the ioctl %.3f s after SIGKILL, reaped after %.3f s",
	       kt.detach, kt.reap);
	EXPECT_LT(kt.detach, REAP_BOUND_S);
}

TEST_HARNESS_MAIN
