// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_inject_test: each failure the module handles, forced with the
 * kernel's fault-injection framework (/sys/kernel/debug/hmm_dmirror/
 * fail_*, and the kernel-wide failslab and fail_page_alloc), one at a
 * time: the ioctl returns the documented errno (or the documented
 * fallback happens), no byte the call did not own changes, no page is
 * lost, and the device is empty again at the end.
 */
#include "dmirror_thp.h"

#define INJ_DIR		DMIRROR_DEBUGFS
#define NO_INJECT	"kernel lacks CONFIG_FAULT_INJECTION_DEBUG_FS"
#define N		64

/* Write @val to @dir/@knob. Return: 0 or -errno. */
static int knob_set(const char *dir, const char *knob, const char *val)
{
	char path[256];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, knob);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

/* The number in @dir/@knob, or LLONG_MIN. */
static long long knob_get(const char *dir, const char *knob)
{
	char path[256];
	long long v;

	snprintf(path, sizeof(path), "%s/%s", dir, knob);
	v = dmirror_read_num(path);
	return v;
}

/* The directory of the module's point @name ("fail_pt"). */
static const char *point(const char *name)
{
	static char dir[4][128];
	static int i;

	i = (i + 1) % 4;
	snprintf(dir[i], sizeof(dir[i]), "%s/%s", INJ_DIR, name);
	return dir[i];
}

/*
 * Arm the fault_attr in @dir: every call fails (probability 100) until
 * @times have failed (-1: no limit), quietly, for tasks marked with
 * make-it-fail only.
 */
static int arm(const char *dir, int times)
{
	char t[16];

	snprintf(t, sizeof(t), "%d", times);
	return knob_set(dir, "verbose", "0") ?:
	       knob_set(dir, "task-filter", "Y") ?:
	       knob_set(dir, "interval", "1") ?:
	       knob_set(dir, "times", t) ?:
	       knob_set(dir, "probability", "100");
}

static int disarm(const char *dir)
{
	return knob_set(dir, "probability", "0");
}

/* Mark (1) or unmark (0) this task for the task filter. */
static int make_it_fail(int on)
{
	return knob_set("/proc/self", "make-it-fail", on ? "1" : "0");
}

static const char *const points[] = {
	"fail_chunk_add", "fail_dev_page", "fail_dev_large", "fail_sys_page",
	"fail_sys_large", "fail_pt", "fail_pin", "fail_migrate",
	"fail_migrate_fault", "fail_peer_move",
};

FIXTURE(inj) {
	int fd;
	bool skipped;
	char *buf;
	unsigned char *out;
};

FIXTURE_SETUP(inj)
{
	struct hmm_dmirror_cmd cmd;

	self->skipped = false;
	self->fd = dmirror_open_dev(0);
	ASSERT_GE(self->fd, 0);
	if (access(point("fail_pt"), F_OK)) {
		self->skipped = true;
		SKIP(return, NO_INJECT);
	}
	/* An empty device: the first migration adds a chunk. */
	ASSERT_EQ(0, range_ioctl(self->fd, HMM_DMIRROR_RELEASE, NULL, NULL, 1,
				 &cmd));
	ASSERT_EQ(0, dmirror_dev_stat(0, "chunks"));
	self->buf = map_anon(N, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, self->buf);
	pat_fill(self->buf, 0, N, 0x1e1);
	self->out = out_buf(N * PG);
	ASSERT_NE(NULL, self->out);
}

FIXTURE_TEARDOWN(inj)
{
	struct hmm_dmirror_cmd cmd;
	unsigned int i;

	if (self->skipped) {
		close(self->fd);
		return;
	}
	make_it_fail(0);
	for (i = 0; i < ARRAY_SIZE(points); i++)
		disarm(point(points[i]));
	/* Nothing lost: the device empties and the data is the CPU's. */
	EXPECT_EQ(0, range_ioctl(self->fd, HMM_DMIRROR_RELEASE, NULL, NULL, 1,
				 &cmd));
	EXPECT_EQ(0, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(0, dmirror_dev_stat(0, "chunks"));
	EXPECT_EQ(-1L, pat_find(self->buf, 0, N, 0x1e1));
	close(self->fd);
}

/* Run @call with the point @name armed for @times failures. */
#define FORCED(name, times, call) ({				\
	const char *forced_dir_ = point(name);			\
	int forced_ret_;					\
								\
	ASSERT_EQ(0, arm(forced_dir_, (times)));		\
	ASSERT_EQ(0, make_it_fail(1));				\
	forced_ret_ = (call);					\
	ASSERT_EQ(0, make_it_fail(0));				\
	ASSERT_EQ(0, disarm(forced_dir_));			\
	forced_ret_;						\
})

/* Migrate @n pages at @buf to the device, no injection; @out the copy. */
static int to_device(int fd, char *buf, unsigned char *out)
{
	struct hmm_dmirror_cmd cmd;

	if (to_dev(fd, buf, out, N, &cmd) || cmd.cpages != N)
		return -1;
	return snap_find(fd, buf, N, SNAP_PRIV_RW) == -1 ? 0 : -1;
}

/*
 * No chunk can be added: MIGRATE_TO_DEV on an empty device is -ENOMEM,
 * nothing moved, nothing copied to @ptr; once the point is off it works.
 */
TEST_F(inj, chunk_add)
{
	struct hmm_dmirror_cmd cmd;

	if (self->skipped)
		return;
	EXPECT_EQ(-ENOMEM, FORCED("fail_chunk_add", 1000,
				  to_dev(self->fd, self->buf, self->out, N,
					 &cmd)));
	EXPECT_GT(1000, knob_get(point("fail_chunk_add"), "times"));
	EXPECT_EQ(0, dmirror_dev_stat(0, "chunks"));
	EXPECT_EQ(0, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(-1L, byte_find(self->out, N * PG, FILLER));
	EXPECT_EQ(-1L, snap_find(self->fd, self->buf, N, SNAP_SYS_RW));
	ASSERT_EQ(0, to_device(self->fd, self->buf, self->out));
	EXPECT_EQ(1, dmirror_dev_stat(0, "chunks"));
	EXPECT_EQ(-1L, pat_find(self->out, 0, N, 0x1e1));
}

/* One failed chunk add: the migration's next pass gets the chunk. */
TEST_F(inj, chunk_add_once)
{
	struct hmm_dmirror_cmd cmd;

	if (self->skipped)
		return;
	EXPECT_EQ(0, FORCED("fail_chunk_add", 1,
			    to_dev(self->fd, self->buf, self->out, N, &cmd)));
	EXPECT_EQ(0, knob_get(point("fail_chunk_add"), "times"));
	EXPECT_EQ((__u64)N, cmd.cpages);
	EXPECT_EQ(N, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(-1L, pat_find(self->out, 0, N, 0x1e1));
	EXPECT_EQ(-1L, snap_find(self->fd, self->buf, N, SNAP_PRIV_RW));
}

/* No device page: -ENOMEM, the pages stay in system memory. */
TEST_F(inj, dev_page)
{
	struct hmm_dmirror_cmd cmd;
	long long moved;

	if (self->skipped)
		return;
	moved = dmirror_dev_stat(0, "migrated_to_dev");
	EXPECT_EQ(-ENOMEM, FORCED("fail_dev_page", 1000,
				  to_dev(self->fd, self->buf, self->out, N,
					 &cmd)));
	EXPECT_GT(1000, knob_get(point("fail_dev_page"), "times"));
	EXPECT_EQ(0, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(moved, dmirror_dev_stat(0, "migrated_to_dev"));
	EXPECT_EQ(-1L, snap_find(self->fd, self->buf, N, SNAP_SYS_RW));
	ASSERT_EQ(0, to_device(self->fd, self->buf, self->out));
}

/* No large device page: a THP moves as 512 base pages, no error. */
TEST_F(inj, dev_large)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *p;

	if (self->skipped)
		return;
	if (dmirror_param_yn("thp_migration") != 1)
		SKIP(return, NO_LARGE);
	p = map_huge(1);
	ASSERT_NE(NULL, p);
	THP_READY(populate_thp(self->fd, p, 0x1e2), return);
	out = out_buf(HPAGE);
	ASSERT_NE(NULL, out);
	EXPECT_EQ(0, FORCED("fail_dev_large", -1,
			    to_dev(self->fd, p, out, HPAGE_PAGES, &cmd)));
	EXPECT_EQ((__u64)HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, HPAGE_PAGES, 0x1e2));
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, SNAP_DEV_RW));
	EXPECT_EQ((long long)HPAGE_PAGES, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x1e2));
	free(out);
	munmap(p, HPAGE);
}

/*
 * No system page on the way back: MIGRATE_TO_SYS leaves the pages on the
 * device (not counted), their data readable there; then they come back.
 */
TEST_F(inj, sys_page_to_sys)
{
	struct hmm_dmirror_cmd cmd;
	long long to_sys0;

	if (self->skipped)
		return;
	ASSERT_EQ(0, to_device(self->fd, self->buf, self->out));
	to_sys0 = dmirror_dev_stat(0, "migrated_to_sys");
	EXPECT_EQ(0, FORCED("fail_sys_page", -1,
			    to_sys(self->fd, self->buf, N, &cmd)));
	EXPECT_EQ(0ULL, cmd.cpages);
	EXPECT_EQ(N, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(to_sys0, dmirror_dev_stat(0, "migrated_to_sys"));
	EXPECT_EQ(-1L, snap_find(self->fd, self->buf, N, SNAP_PRIV_RW));
	memset(self->out, FILLER, N * PG);
	ASSERT_EQ(0, dev_read(self->fd, self->buf, self->out, N, &cmd));
	EXPECT_EQ(-1L, pat_find(self->out, 0, N, 0x1e1));
	ASSERT_EQ(0, to_sys(self->fd, self->buf, N, &cmd));
	EXPECT_EQ((__u64)N, cmd.cpages);
	EXPECT_EQ(-1L, snap_find(self->fd, self->buf, N, SNAP_SYS_RW));
}

/* A CPU fault whose system page fails once is retried by the kernel. */
TEST_F(inj, sys_page_cpu_fault)
{
	long long faults;

	if (self->skipped)
		return;
	ASSERT_EQ(0, to_device(self->fd, self->buf, self->out));
	faults = dmirror_dev_stat(0, "cpu_faults");
	/* The CPU reads the first page. */
	EXPECT_EQ(-1L, FORCED("fail_sys_page", 1,
			      pat_find(self->buf, 0, 1, 0x1e1)));
	EXPECT_EQ(0, knob_get(point("fail_sys_page"), "times"));
	EXPECT_LE(faults + 1, dmirror_dev_stat(0, "cpu_faults"));
	EXPECT_EQ(-1L, pat_find(self->buf, 0, N, 0x1e1));
}

/*
 * Eviction without system pages: RELEASE keeps the busy chunk (-EBUSY
 * after its wait), the pages stay on the device with their data.
 */
TEST_F(inj, sys_page_release)
{
	struct hmm_dmirror_cmd cmd;

	if (self->skipped)
		return;
	ASSERT_EQ(0, to_device(self->fd, self->buf, self->out));
	EXPECT_EQ(-EBUSY, FORCED("fail_sys_page", -1,
				 range_ioctl(self->fd, HMM_DMIRROR_RELEASE,
					     NULL, NULL, 1, &cmd)));
	EXPECT_EQ(N, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(1, dmirror_dev_stat(0, "chunks"));
	EXPECT_EQ(-1L, snap_find(self->fd, self->buf, N, SNAP_PRIV_RW));
}

/* No system THP: a device THP comes back as base pages, no error. */
TEST_F(inj, sys_large)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *p;

	if (self->skipped)
		return;
	if (dmirror_param_yn("thp_migration") != 1)
		SKIP(return, NO_LARGE);
	p = map_huge(1);
	ASSERT_NE(NULL, p);
	THP_READY(populate_thp(self->fd, p, 0x1e3), return);
	out = out_buf(HPAGE);
	ASSERT_NE(NULL, out);
	ASSERT_EQ(0, to_dev(self->fd, p, out, HPAGE_PAGES, &cmd));
	ASSERT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, SNAP_DEV_PMD_RW));
	EXPECT_EQ(0, FORCED("fail_sys_large", -1,
			    to_sys(self->fd, p, HPAGE_PAGES, &cmd)));
	EXPECT_EQ((__u64)HPAGE_PAGES, cmd.cpages);
	EXPECT_EQ(-1L, snap_find(self->fd, p, HPAGE_PAGES, SNAP_SYS_RW));
	EXPECT_EQ(0, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x1e3));
	free(out);
	munmap(p, HPAGE);
}

/*
 * No device page-table node: READ is -ENOMEM and copies nothing; one
 * failure is absorbed (the node is allocated where it may sleep).
 */
TEST_F(inj, pt)
{
	struct hmm_dmirror_cmd cmd;

	if (self->skipped)
		return;
	EXPECT_EQ(-ENOMEM, FORCED("fail_pt", -1,
				  dev_read(self->fd, self->buf, self->out, N,
					   &cmd)));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(self->out, N * PG, FILLER));
	EXPECT_EQ(0, FORCED("fail_pt", 1,
			    dev_read(self->fd, self->buf, self->out, N, &cmd)));
	EXPECT_EQ(0, knob_get(point("fail_pt"), "times"));
	EXPECT_EQ(-1L, pat_find(self->out, 0, N, 0x1e1));
}

/*
 * The user buffer cannot be pinned: READ and WRITE are -ENOMEM; WRITE
 * changes no byte.
 */
TEST_F(inj, pin)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *in = malloc(N * PG);

	if (self->skipped)
		return;
	ASSERT_NE(NULL, in);
	pat_fill(in, 0, N, 0x1e4);
	EXPECT_EQ(-ENOMEM, FORCED("fail_pin", -1,
				  dev_read(self->fd, self->buf, self->out, N,
					   &cmd)));
	EXPECT_EQ(-1L, byte_find(self->out, N * PG, FILLER));
	EXPECT_EQ(-ENOMEM, FORCED("fail_pin", -1,
				  dev_write(self->fd, self->buf, in, N,
					    &cmd)));
	EXPECT_EQ(-1L, pat_find(self->buf, 0, N, 0x1e1));
	free(in);
}

/*
 * The pinned buffer cannot be mapped (the point's second question: the
 * pin passes, the vmap() fails): READ is -ENOMEM, the pages are unpinned
 * (the buffer can be written and freed), the next READ works.
 */
TEST_F(inj, pin_map)
{
	const char *d = point("fail_pin");
	struct hmm_dmirror_cmd cmd;
	int ret;

	if (self->skipped)
		return;
	ASSERT_EQ(0, arm(d, 1));
	ASSERT_EQ(0, knob_set(d, "interval", "2"));
	ASSERT_EQ(0, make_it_fail(1));
	ret = dev_read(self->fd, self->buf, self->out, N, &cmd);
	ASSERT_EQ(0, make_it_fail(0));
	ASSERT_EQ(0, disarm(d));
	ASSERT_EQ(0, knob_set(d, "interval", "1"));
	EXPECT_EQ(-ENOMEM, ret);
	EXPECT_EQ(0, knob_get(d, "times"));
	EXPECT_EQ(-1L, byte_find(self->out, N * PG, FILLER));
	memset(self->out, 0, N * PG);
	ASSERT_EQ(0, dev_read(self->fd, self->buf, self->out, N, &cmd));
	EXPECT_EQ(-1L, pat_find(self->out, 0, N, 0x1e1));
}

/*
 * migrate_vma_setup() fails: MIGRATE_TO_DEV and MIGRATE_TO_SYS are
 * -EINVAL (the core's error), nothing moves.
 */
TEST_F(inj, migrate)
{
	struct hmm_dmirror_cmd cmd;

	if (self->skipped)
		return;
	EXPECT_EQ(-EINVAL, FORCED("fail_migrate", -1,
				  to_dev(self->fd, self->buf, self->out, N,
					 &cmd)));
	EXPECT_EQ(0, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(-1L, snap_find(self->fd, self->buf, N, SNAP_SYS_RW));
	ASSERT_EQ(0, to_device(self->fd, self->buf, self->out));
	EXPECT_EQ(-EINVAL, FORCED("fail_migrate", -1,
				  to_sys(self->fd, self->buf, N, &cmd)));
	EXPECT_EQ(N, dmirror_dev_stat(0, "resident_pages"));
	EXPECT_EQ(-1L, snap_find(self->fd, self->buf, N, SNAP_PRIV_RW));
}

/*
 * The CPU fault's migration fails: the access gets SIGBUS (a child reads
 * the page it shares with us after fork), once; the page stays on the
 * device, and the access after works.
 */
TEST_F(inj, migrate_fault)
{
	int status;
	pid_t pid;

	if (self->skipped)
		return;
	ASSERT_EQ(0, to_device(self->fd, self->buf, self->out));
	ASSERT_EQ(0, arm(point("fail_migrate_fault"), 1));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* Marked here only: the parent's own accesses stay safe. */
		if (make_it_fail(1))
			_exit(2);
		_exit(pat_find(self->buf, 0, 1, 0x1e1) == -1 ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, disarm(point("fail_migrate_fault")));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS)
		TH_LOG("child status %#x", status);
	EXPECT_EQ(0, knob_get(point("fail_migrate_fault"), "times"));
	/* Still ours, read-only since the fork. */
	EXPECT_EQ(-1L, snap_find(self->fd, self->buf, N, SNAP_PRIV_RO));
	EXPECT_EQ(-1L, pat_find(self->buf, 0, N, 0x1e1));
}

/*
 * The kernel-wide failslab, on the task: SNAPSHOT's buffer fails. Every
 * slab allocation of the task fails while it is marked (debug kernels
 * allocate for their checkers on the way, e.g. the debug-objects pool on
 * close()), so the mark is set and cleared through a descriptor opened
 * before, with nothing but the ioctl in between.
 */
TEST_F(inj, failslab)
{
	const char *d = "/sys/kernel/debug/failslab";
	struct hmm_dmirror_cmd cmd;
	unsigned char *s = out_buf(N);
	int ret, mark;

	if (self->skipped)
		return;
	ASSERT_NE(NULL, s);
	if (access(d, F_OK))
		SKIP(return, "kernel lacks CONFIG_FAILSLAB");
	mark = open("/proc/self/make-it-fail", O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, mark);
	ASSERT_EQ(0, knob_set(d, "ignore-gfp-wait", "N"));
	ASSERT_EQ(0, arm(d, -1));
	ASSERT_EQ(1, pwrite(mark, "1", 1, 0));
	ret = range_ioctl(self->fd, HMM_DMIRROR_SNAPSHOT, self->buf, s, N,
			  &cmd);
	ASSERT_EQ(1, pwrite(mark, "0", 1, 0));
	close(mark);
	ASSERT_EQ(0, disarm(d));
	EXPECT_EQ(-ENOMEM, ret);
	EXPECT_EQ(-1L, byte_find(s, N, FILLER));
	EXPECT_EQ(-1L, snap_find(self->fd, self->buf, N, SNAP_SYS_RW));
	free(s);
}

/*
 * The kernel-wide fail_page_alloc, on the task, while device pages come
 * back: MIGRATE_TO_SYS either fails with -ENOMEM (its buffer) or moves
 * what it could (a page whose system page failed stays on the device);
 * no page is lost, no data changes.
 */
TEST_F(inj, fail_page_alloc)
{
	const char *d = "/sys/kernel/debug/fail_page_alloc";
	struct hmm_dmirror_cmd cmd;
	int ret;

	if (self->skipped)
		return;
	if (access(d, F_OK))
		SKIP(return, "kernel lacks CONFIG_FAIL_PAGE_ALLOC");
	ASSERT_EQ(0, to_device(self->fd, self->buf, self->out));
	ASSERT_EQ(0, knob_set(d, "ignore-gfp-wait", "N"));
	ASSERT_EQ(0, knob_set(d, "ignore-gfp-highmem", "N"));
	ASSERT_EQ(0, knob_set(d, "min-order", "0"));
	ASSERT_EQ(0, arm(d, 1));
	ASSERT_EQ(0, make_it_fail(1));
	ret = to_sys(self->fd, self->buf, N, &cmd);
	make_it_fail(0);
	disarm(d);
	EXPECT_EQ(0, knob_get(d, "times"));
	if (ret) {
		EXPECT_EQ(-ENOMEM, ret);
		EXPECT_EQ(N, dmirror_dev_stat(0, "resident_pages"));
	} else {
		/* A page that stayed is still on the device: none is lost. */
		EXPECT_EQ((long long)N, (long long)cmd.cpages +
			  dmirror_dev_stat(0, "resident_pages"));
	}
	EXPECT_EQ(-1L, pat_find(self->buf, 0, N, 0x1e1));
	EXPECT_EQ(0, dmirror_dev_stat(0, "resident_pages"));
}

/*
 * fail_peer_move refuses a window's device-to-device moves. In a peer
 * group (peer_group=Y) MIGRATE_TO_DEV on device 1 of pages on device 0
 * then takes them through system memory: it succeeds, the pages end on
 * device 1, none counts as moved from the peer, device 0 counts them as
 * gone home (which proves the point fired). Without a group device 1
 * cannot take device 0's pages (-ENOENT) and they stay.
 */
TEST_F(inj, peer_move)
{
	long long to_sys0, from_peer1, to_dev1;
	struct hmm_dmirror_cmd cmd;
	int group = dmirror_param_yn("peer_group");
	int fd1, ret;

	ASSERT_LE(0, group);
	fd1 = dmirror_open_dev(1);
	ASSERT_GE(fd1, 0);
	ASSERT_EQ(0, to_device(self->fd, self->buf, self->out));
	to_sys0 = dmirror_dev_stat(0, "migrated_to_sys");
	from_peer1 = dmirror_dev_stat(1, "migrated_from_peer");
	to_dev1 = dmirror_dev_stat(1, "migrated_to_dev");

	/* Every window refused: the range spans more than one. */
	ret = FORCED("fail_peer_move", -1,
		     to_dev(fd1, self->buf, self->out, N, &cmd));
	if (group) {
		ASSERT_EQ(0, ret);
		EXPECT_EQ(-1L, snap_find(fd1, self->buf, N, SNAP_PRIV_RW));
		EXPECT_EQ(0, dmirror_dev_stat(0, "resident_pages"));
		EXPECT_EQ(N, dmirror_dev_stat(1, "resident_pages"));
		EXPECT_EQ(to_sys0 + N, dmirror_dev_stat(0, "migrated_to_sys"));
		EXPECT_EQ(from_peer1,
			  dmirror_dev_stat(1, "migrated_from_peer"));
		EXPECT_EQ(to_dev1 + N, dmirror_dev_stat(1, "migrated_to_dev"));
		EXPECT_EQ(-1L, pat_find(self->out, 0, N, 0x1e1));
	} else {
		ASSERT_EQ(-ENOENT, ret);
		EXPECT_EQ(-1L, snap_find(self->fd, self->buf, N, SNAP_PRIV_RW));
		EXPECT_EQ(N, dmirror_dev_stat(0, "resident_pages"));
		EXPECT_EQ(0, dmirror_dev_stat(1, "resident_pages"));
	}
	if (!group)
		EXPECT_EQ(0, dmirror_dev_stat(1, "migrated_from_peer"));
	EXPECT_EQ(0, range_ioctl(fd1, HMM_DMIRROR_RELEASE, NULL, NULL, 1, &cmd));
	EXPECT_EQ(0, dmirror_dev_stat(1, "resident_pages"));
	close(fd1);
}

TEST_HARNESS_MAIN
