// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror device-node tests: the nodes exist as configured, open and
 * close, the ioctl entry rejects what it must.
 */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

/* The major of the "HMM_DMIRROR" region in /proc/devices, or -1. */
static int dmirror_major(void)
{
	char line[128], name[64];
	int major = -1, m;
	FILE *f;

	f = fopen("/proc/devices", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%d %63s", &m, name) == 2 &&
		    !strcmp(name, "HMM_DMIRROR"))
			major = m;
	}
	fclose(f);
	return major;
}

TEST(nodes_match_config)
{
	int coherent = dmirror_have_coherent();
	int major = dmirror_major();
	struct stat st;
	char path[64];
	int id;

	ASSERT_GE(major, 0);
	for (id = 0; id < 4; id++) {
		int expect = id < 2 || coherent;

		snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", id);
		if (!expect) {
			EXPECT_EQ(-1, stat(path, &st));
			EXPECT_EQ(ENOENT, errno);
			continue;
		}
		ASSERT_EQ(0, stat(path, &st)) TH_LOG("%s missing", path);
		EXPECT_TRUE(S_ISCHR(st.st_mode));
		EXPECT_EQ(major, (int)major(st.st_rdev));
		EXPECT_EQ(id, (int)minor(st.st_rdev));
		EXPECT_EQ(0600U, st.st_mode & 07777);
	}
	EXPECT_EQ(-1, stat("/dev/hmm_dmirror4", &st));
}

TEST(open_close_every_node)
{
	int n = dmirror_have_coherent() ? 4 : 2;
	int fd[4], again, id;

	for (id = 0; id < n; id++) {
		fd[id] = dmirror_open_dev(id);
		ASSERT_GE(fd[id], 0) TH_LOG("open hmm_dmirror%d: %s", id,
					    strerror(errno));
	}
	/* A second open of a node is independent of the first. */
	again = dmirror_open_dev(0);
	ASSERT_GE(again, 0);
	EXPECT_EQ(0, close(again));
	for (id = 0; id < n; id++)
		EXPECT_EQ(0, close(fd[id]));
}

FIXTURE(dev)
{
	int fd;
};

FIXTURE_SETUP(dev)
{
	self->fd = dmirror_open_dev(0);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(dev)
{
	EXPECT_EQ(0, close(self->fd));
}

TEST_F(dev, unknown_ioctl_is_enotty)
{
	struct hmm_dmirror_cmd cmd = { 0 };
	unsigned long bad[] = {
		_IOWR('H', 0x0a, struct hmm_dmirror_cmd),
		_IOWR('H', 0xff, struct hmm_dmirror_cmd),
		_IOWR('X', 0x00, struct hmm_dmirror_cmd),
		_IOWR('H', 0x08, __u64),	/* right number, wrong size */
		_IOR('H', 0x08, struct hmm_dmirror_cmd),	/* wrong direction */
		_IO('H', 0x08),
		0,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, bad[i], &cmd));
		EXPECT_EQ(ENOTTY, errno) TH_LOG("request %#lx", bad[i]);
	}
}

TEST_F(dev, bad_cmd_pointer_is_efault)
{
	void *noaccess;

	EXPECT_EQ(-EFAULT, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS, NULL));
	EXPECT_EQ(-EFAULT, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS,
				       (void *)1));

	noaccess = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	ASSERT_NE(MAP_FAILED, noaccess);
	EXPECT_EQ(-EFAULT, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS, noaccess));

	/* A block that ends on an unmapped page is short: -EFAULT too. */
	ASSERT_EQ(0, mprotect(noaccess, 4096, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, munmap(noaccess, 4096));
	noaccess = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, noaccess);
	ASSERT_EQ(0, munmap((char *)noaccess + 4096, 4096));
	EXPECT_EQ(-EFAULT, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS,
				       (void *)((char *)noaccess + 4096 - 16)));
	munmap(noaccess, 4096);
}

TEST_F(dev, flags_set_clear_and_reject)
{
	struct hmm_dmirror_cmd cmd = { 0 };

	cmd.npages = HMM_DMIRROR_FLAG_FAIL_ALLOC;
	cmd.cpages = 123;
	cmd.faults = 456;
	ASSERT_EQ(0, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS, &cmd));
	/* Copied back with the outputs reset, the inputs unchanged. */
	EXPECT_EQ(0ULL, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(HMM_DMIRROR_FLAG_FAIL_ALLOC, cmd.npages);

	cmd.npages = 0;
	EXPECT_EQ(0, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS, &cmd));

	cmd.npages = 1ULL << 1;
	cmd.cpages = 77;
	EXPECT_EQ(-EINVAL, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS, &cmd));
	/* Not copied back on failure. */
	EXPECT_EQ(77ULL, cmd.cpages);

	cmd.npages = ~0ULL;
	EXPECT_EQ(-EINVAL, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS, &cmd));

	cmd.npages = 0;
	cmd.addr = 4096 + 1;
	EXPECT_EQ(-EINVAL, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS, &cmd));
}

/*
 * Migrate the empty, PMD-aligned 2 MiB unit at @unit to the device and
 * return its first snapshot byte (or a negative errno).
 */
static int migrate_unit(int fd, char *unit, unsigned char *out)
{
	struct hmm_dmirror_cmd cmd = { 0 };
	unsigned char snap[512];
	int ret;

	cmd.addr = (uintptr_t)unit;
	cmd.ptr = (uintptr_t)out;
	cmd.npages = 512;
	ret = dmirror_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd);
	if (ret)
		return ret;
	cmd.ptr = (uintptr_t)snap;
	ret = dmirror_cmd(fd, HMM_DMIRROR_SNAPSHOT, &cmd);
	return ret ? ret : snap[0];
}

/*
 * FLAGS 0 really clears FAIL_ALLOC: with the flag set, an empty 2 MiB unit
 * migrates as base pages; set and cleared again, the next one migrates as
 * one large device page. Only where the module uses large device pages.
 */
TEST_F(dev, flags_zero_clears_fail_alloc)
{
	const unsigned char pmd = HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL |
				  HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD;
	struct hmm_dmirror_cmd cmd = { 0 };
	unsigned long len = 6UL << 20;
	unsigned char *out;
	char *map, *a;
	int thp;

	thp = dmirror_param_yn("thp_migration");
	ASSERT_GE(thp, 0) TH_LOG("thp_migration unreadable");
	if (!thp)
		SKIP(return, "%s",
		     "thp_migration=N: the kernel has no compound device-private migration, so FAIL_ALLOC has no effect");
	map = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	a = (char *)(((uintptr_t)map + (2UL << 20) - 1) & ~((2UL << 20) - 1));
	madvise(a, 4UL << 20, MADV_HUGEPAGE);
	out = malloc(2UL << 20);
	ASSERT_NE(NULL, out);
	/* Empty the device, so that free 2 MiB blocks exist. */
	cmd.npages = 1;
	cmd.addr = (uintptr_t)a;
	ASSERT_EQ(0, dmirror_cmd(self->fd, HMM_DMIRROR_RELEASE, &cmd));
	cmd.addr = 0;

	/* The flag set: base pages (this shows the check below can fail). */
	cmd.npages = HMM_DMIRROR_FLAG_FAIL_ALLOC;
	ASSERT_EQ(0, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS, &cmd));
	EXPECT_EQ(pmd & ~HMM_DMIRROR_PROT_PMD,
		  migrate_unit(self->fd, a, out));

	/* Set, then cleared: one large page. */
	cmd.npages = HMM_DMIRROR_FLAG_FAIL_ALLOC;
	ASSERT_EQ(0, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS, &cmd));
	cmd.npages = 0;
	ASSERT_EQ(0, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS, &cmd));
	EXPECT_EQ(pmd, migrate_unit(self->fd, a + (2UL << 20), out));

	free(out);
	munmap(map, len);
}

TEST_F(dev, foreign_mm_is_eperm)
{
	struct hmm_dmirror_cmd cmd = { 0 };
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* The inherited fd belongs to the parent's address space. */
		_exit(dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS, &cmd) == -EPERM ?
		      0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));

	/* The parent still may. */
	EXPECT_EQ(0, dmirror_cmd(self->fd, HMM_DMIRROR_FLAGS, &cmd));
}

/*
 * A child opens the device, passes the file to the parent over a socket
 * and exits. The file outlives the mm it is bound to: ioctls on it give
 * -EPERM, and closing it works.
 */
TEST(file_outlives_opener_mm)
{
	struct hmm_dmirror_cmd cmd = { 0 };
	int sv[2], status, fd;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int cfd = dmirror_open_dev(1);

		_exit(cfd >= 0 && !send_fd(sv[1], cfd) ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	fd = recv_fd(sv[0]);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-EPERM, dmirror_cmd(fd, HMM_DMIRROR_FLAGS, &cmd));
	EXPECT_EQ(0, close(fd));
	close(sv[0]);
	close(sv[1]);
}

/* A thread that issues ioctls on a descriptor until it stops working. */
struct close_race {
	int fd;
	unsigned char *buf;
	unsigned char *out;
	int calls;
	int bad;	/* returns outside {0, -EBADF} */
	/* when close() began and returned (CLOCK_MONOTONIC ns, 0: not yet) */
	unsigned long long close_begin, close_end;
	int overlapped;	/* a call began before close() and ended after */
};

static unsigned long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void *close_race_ioctls(void *arg)
{
	static const unsigned long cmds[] = {
		HMM_DMIRROR_READ, HMM_DMIRROR_WRITE, HMM_DMIRROR_SNAPSHOT,
		HMM_DMIRROR_MIGRATE_TO_DEV, HMM_DMIRROR_MIGRATE_TO_SYS,
	};
	struct close_race *r = arg;
	int ret;

	do {
		struct hmm_dmirror_cmd cmd = { 0 };

		cmd.addr = (uintptr_t)r->buf;
		cmd.ptr = (uintptr_t)r->out;
		unsigned long long begin, end, cb, ce;

		cmd.npages = 64;
		begin = mono_ns();
		ret = dmirror_cmd(r->fd, cmds[r->calls % ARRAY_SIZE(cmds)], &cmd);
		end = mono_ns();
		cb = __atomic_load_n(&r->close_begin, __ATOMIC_SEQ_CST);
		ce = __atomic_load_n(&r->close_end, __ATOMIC_SEQ_CST);
		if (cb && ce && begin < cb && end > ce)
			r->overlapped = 1;
		if (ret && ret != -EBADF)
			r->bad++;
		r->calls++;
	} while (ret != -EBADF && r->calls < 1000000);
	return NULL;
}

/*
 * ioctls racing with close() of their descriptor: each one either runs to
 * its normal end or finds the descriptor gone (-EBADF), and the memory the
 * device touched is intact afterwards.
 */
TEST(ioctl_races_close)
{
	struct close_race r = { 0 };
	int round, i, overlaps = 0;
	pthread_t thread;

	r.buf = mmap(NULL, 64 * 4096, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r.out = malloc(64 * 4096);
	ASSERT_NE(MAP_FAILED, r.buf);
	ASSERT_NE(NULL, r.out);
	for (round = 0; round < 20; round++) {
		for (i = 0; i < 64 * 4096; i++)
			r.buf[i] = (unsigned char)(i + round);
		memcpy(r.out, r.buf, 64 * 4096);
		r.fd = dmirror_open_dev(round % 2);
		ASSERT_GE(r.fd, 0);
		r.calls = 0;
		r.overlapped = 0;
		r.close_begin = 0;
		r.close_end = 0;
		ASSERT_EQ(0, pthread_create(&thread, NULL, close_race_ioctls,
					    &r));
		usleep(1000 * (round % 5));
		__atomic_store_n(&r.close_begin, mono_ns(), __ATOMIC_SEQ_CST);
		EXPECT_EQ(0, close(r.fd));
		__atomic_store_n(&r.close_end, mono_ns(), __ATOMIC_SEQ_CST);
		ASSERT_EQ(0, pthread_join(thread, NULL));
		overlaps += r.overlapped;
		/* WRITE puts back what is already there: data unchanged. */
		for (i = 0; i < 64 * 4096; i++)
			ASSERT_EQ((unsigned char)(i + round), r.buf[i])
				TH_LOG("round %d byte %d", round, i);
	}
	EXPECT_EQ(0, r.bad);
	/*
	 * The race happened: in some round an ioctl was running all through
	 * close() (the thread issues them back to back; most rounds do).
	 */
	EXPECT_LT(0, overlaps) TH_LOG("no ioctl overlapped close() in 20 rounds");
	TH_LOG("%d of 20 rounds had an ioctl running through close()",
	       overlaps);
	munmap(r.buf, 64 * 4096);
	free(r.out);
}

TEST_HARNESS_MAIN
