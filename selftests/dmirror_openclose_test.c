// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror open and close are independent between processes: what one
 * address space is busy with never delays another process's open() or
 * close().
 */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

/*
 * The long migration: what the device holds by default (devmem_mib=256; a
 * larger request is refused before anything moves), in base pages with
 * data, so that it copies 65536 pages with the mmap_lock held.
 */
#define BUSY_SIZE	(256UL * 1024 * 1024)
/* open()+close() of an unrelated process must be done within this. */
#define BOUND_MS	2000

/*
 * The busy process's two threads. Both are created before the migration
 * starts: creating a thread maps its stack, which needs the mmap_lock the
 * migration holds.
 */
struct busy {
	int fd;
	char *buf;
	int go[2];		/* written once: the opener may open */
	int ret;		/* of the migration */
	int started;		/* the migration thread is about to call */
	long long mig_done;	/* when the migration returned */
	long long open_done;	/* when the opener's open() returned */
	int opened;
};

/* One MIGRATE_TO_DEV of the whole range: mmap_lock held (read) long. */
static void *busy_migrate(void *arg)
{
	struct hmm_dmirror_cmd cmd = { 0 };
	struct busy *b = arg;

	cmd.addr = (uintptr_t)b->buf;
	cmd.ptr = (uintptr_t)b->buf;
	cmd.npages = BUSY_SIZE / 4096;
	__atomic_store_n(&b->started, 1, __ATOMIC_RELEASE);
	b->ret = dmirror_cmd(b->fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd);
	b->mig_done = now_ms();
	return NULL;
}

/* Opens a device when told: that waits for the mm's mmap_lock (write). */
static void *busy_open(void *arg)
{
	struct busy *b = arg;
	char c;
	int fd;

	if (read(b->go[0], &c, 1) != 1)
		return NULL;
	fd = dmirror_open_dev(1);
	b->open_done = now_ms();
	b->opened = fd >= 0;
	if (fd >= 0)
		close(fd);
	return NULL;
}

/*
 * Open and close device @id when told to on @go; report on @res when it
 * started and ended. Forked before the busy process starts (fork takes
 * the parent's mmap_lock for writing, which the migration holds).
 */
static void unrelated_child(int go, int res, int id)
{
	long long t[2];
	char c;
	int fd;

	if (read(go, &c, 1) != 1)
		_exit(2);
	t[0] = now_ms();
	fd = dmirror_open_dev(id);
	if (fd < 0)
		_exit(3);
	close(fd);
	t[1] = now_ms();
	if (write(res, t, sizeof(t)) != sizeof(t))
		_exit(4);
	_exit(0);
}

FIXTURE(busy_mm)
{
};

FIXTURE_SETUP(busy_mm)
{
}

FIXTURE_TEARDOWN(busy_mm)
{
}

/*
 * One thread migrates 256 MiB to device 0 (seconds in the test VM, with the
 * mm's mmap_lock held for reading), another thread of the same process
 * opens a device, which waits for that mm's mmap_lock for writing.
 * Meanwhile two unrelated processes open and close device 0 and device 1:
 * neither may wait for any of that. The test then waits for the migration
 * to end (44 s on the 7.3 debug kernel: a longer timeout).
 */
TEST_F_TIMEOUT(busy_mm, open_close_not_blocked, 300)
{
	int go[2], res[2], status, id;
	long long t[2], t0, last_end = 0;
	struct busy b = { 0 };
	pthread_t mig, opener;
	pid_t kids[2];

	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(res));
	ASSERT_EQ(0, pipe(b.go));
	for (id = 0; id < 2; id++) {
		kids[id] = fork();
		ASSERT_GE(kids[id], 0);
		if (kids[id] == 0)
			unrelated_child(go[0], res[1], id);
	}

	b.fd = dmirror_open_dev(0);
	ASSERT_GE(b.fd, 0);
	b.buf = mmap(NULL, BUSY_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, b.buf);
	ASSERT_EQ(0, madvise(b.buf, BUSY_SIZE, MADV_NOHUGEPAGE));
	memset(b.buf, 0x5a, BUSY_SIZE);
	ASSERT_EQ(0, pthread_create(&opener, NULL, busy_open, &b));
	t0 = now_ms();
	ASSERT_EQ(0, pthread_create(&mig, NULL, busy_migrate, &b));
	while (!__atomic_load_n(&b.started, __ATOMIC_ACQUIRE))
		usleep(1000);
	usleep(100 * 1000);		/* inside the ioctl by now */
	ASSERT_EQ(1, write(b.go[1], "x", 1));
	usleep(100 * 1000);		/* waiting for the mmap_lock by now */

	/* Both children at once; each reports its own times. */
	ASSERT_EQ(2, write(go[1], "xx", 2));
	for (id = 0; id < 2; id++) {
		struct pollfd p = { .fd = res[0], .events = POLLIN };

		/* Generous: only a stall ends here without an answer. */
		ASSERT_EQ(1, poll(&p, 1, 60 * 1000))
			TH_LOG("no answer from the unrelated process in 60 s");
		ASSERT_EQ((ssize_t)sizeof(t), read(res[0], t, sizeof(t)));
		TH_LOG("an unrelated open+close took %lld ms", t[1] - t[0]);
		EXPECT_LT(t[1] - t[0], BOUND_MS);
		if (t[1] > last_end)
			last_end = t[1];
	}
	for (id = 0; id < 2; id++) {
		ASSERT_EQ(kids[id], waitpid(kids[id], &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	}

	ASSERT_EQ(0, pthread_join(mig, NULL));
	ASSERT_EQ(0, pthread_join(opener, NULL));
	TH_LOG("ms from start: migration %lld (ret %d), busy open %lld, unrelated %lld",
	       b.mig_done - t0, b.ret, b.open_done - t0, last_end - t0);
	EXPECT_TRUE(b.opened);
	EXPECT_EQ(0, b.ret);
	/*
	 * What makes this a test: the busy process was still waiting for
	 * its own mm while the unrelated processes ran.
	 */
	EXPECT_GT(b.open_done, last_end)
		TH_LOG("the busy process's open ended first: nothing was tested");
	munmap(b.buf, BUSY_SIZE);
	close(b.fd);
	close(go[0]);
	close(go[1]);
	close(res[0]);
	close(res[1]);
	close(b.go[0]);
	close(b.go[1]);
}

TEST_HARNESS_MAIN
