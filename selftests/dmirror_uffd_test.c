// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror READ_UNLOCKED on userfaultfd memory: the device fault must
 * wait for a handler thread instead of failing. (A plain READ of such
 * memory fails with -EFAULT, but kernels with DEBUG_VM dump a stack for
 * every fault that cannot wait, so that case is not run here.)
 */
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

#define UFFD_PAGES	4
#define UFFD_FILL	0xAB
#define NO_UFFD_WHY	"the kernel has no userfaultfd (no /proc/sys/vm/unprivileged_userfaultfd)"

struct uffd_server {
	int uffd;
	int served;
	char *page;
};

/* Serve missing-page faults with pages of UFFD_FILL until told to stop. */
static void *uffd_serve(void *arg)
{
	struct uffd_server *srv = arg;
	struct uffd_msg msg;

	memset(srv->page, UFFD_FILL, 4096);
	for (;;) {
		struct pollfd pfd = { .fd = srv->uffd, .events = POLLIN };
		struct uffdio_copy copy = { 0 };

		if (poll(&pfd, 1, 10000) <= 0)
			return NULL;
		if (read(srv->uffd, &msg, sizeof(msg)) != sizeof(msg))
			return NULL;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		copy.dst = msg.arg.pagefault.address & ~4095ULL;
		copy.src = (uintptr_t)srv->page;
		copy.len = 4096;
		if (ioctl(srv->uffd, UFFDIO_COPY, &copy))
			return NULL;
		if (++srv->served == UFFD_PAGES)
			return NULL;
	}
}

/*
 * Whether the kernel has userfaultfd (CONFIG_USERFAULTFD): its sysctl
 * exists exactly then. Without it a test skips; with it, a userfaultfd
 * that cannot be set up is a failure.
 */
static int have_userfaultfd(void)
{
	return !access("/proc/sys/vm/unprivileged_userfaultfd", F_OK);
}

/*
 * A private anonymous area registered for missing-page faults. Returns
 * the userfaultfd, or -1 with errno set when setting it up failed.
 */
static int uffd_area(void **area)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { 0 };
	int uffd;

	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		return -1;
	if (ioctl(uffd, UFFDIO_API, &api)) {
		close(uffd);
		return -1;
	}
	*area = mmap(NULL, UFFD_PAGES * 4096, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*area == MAP_FAILED) {
		close(uffd);
		return -1;
	}
	reg.range.start = (uintptr_t)*area;
	reg.range.len = UFFD_PAGES * 4096;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		close(uffd);
		return -1;
	}
	return uffd;
}

FIXTURE(uffd)
{
	int fd;
};

FIXTURE_SETUP(uffd)
{
	self->fd = dmirror_open_dev(0);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(uffd)
{
	EXPECT_EQ(0, close(self->fd));
}

TEST_F(uffd, read_unlocked_waits_for_handler)
{
	struct hmm_dmirror_cmd cmd = { 0 };
	static struct uffd_server srv;
	unsigned char *out;
	pthread_t thread;
	void *area;
	int i;

	if (!have_userfaultfd())
		SKIP(return, NO_UFFD_WHY);
	srv.uffd = uffd_area(&area);
	ASSERT_LE(0, srv.uffd) TH_LOG("userfaultfd set-up: %s",
				      strerror(errno));
	srv.served = 0;
	srv.page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, srv.page);
	out = malloc(UFFD_PAGES * 4096);
	ASSERT_NE(NULL, out);
	memset(out, 0, UFFD_PAGES * 4096);
	ASSERT_EQ(0, pthread_create(&thread, NULL, uffd_serve, &srv));

	cmd.addr = (uintptr_t)area;
	cmd.ptr = (uintptr_t)out;
	cmd.npages = UFFD_PAGES;
	ASSERT_EQ(0, dmirror_cmd(self->fd, HMM_DMIRROR_READ_UNLOCKED, &cmd));
	EXPECT_EQ((__u64)UFFD_PAGES, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	EXPECT_EQ(UFFD_PAGES, srv.served);
	for (i = 0; i < UFFD_PAGES * 4096; i++)
		ASSERT_EQ(UFFD_FILL, out[i]) TH_LOG("byte %d", i);
	/* The CPU sees the pages the handler installed, every byte. */
	for (i = 0; i < UFFD_PAGES * 4096; i++)
		ASSERT_EQ(UFFD_FILL, ((unsigned char *)area)[i])
			TH_LOG("CPU byte %d", i);
	close(srv.uffd);
	munmap(srv.page, 4096);
	munmap(area, UFFD_PAGES * 4096);
	free(out);
}

TEST_F(uffd, read_unlocked_on_plain_memory)
{
	struct hmm_dmirror_cmd cmd = { 0 };
	unsigned char *buf, *out;
	int i;

	buf = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	out = malloc(16 * 4096);
	ASSERT_NE(NULL, out);
	for (i = 0; i < 16 * 4096; i++)
		buf[i] = i * 7;

	cmd.addr = (uintptr_t)buf;
	cmd.ptr = (uintptr_t)out;
	cmd.npages = 16;
	ASSERT_EQ(0, dmirror_cmd(self->fd, HMM_DMIRROR_READ_UNLOCKED, &cmd));
	EXPECT_EQ(16ULL, cmd.cpages);
	EXPECT_EQ(1ULL, cmd.faults);
	ASSERT_EQ(0, memcmp(buf, out, 16 * 4096));

	/* Mirrored now: no fault the second time, the same data. */
	memset(out, 0x11, 16 * 4096);
	ASSERT_EQ(0, dmirror_cmd(self->fd, HMM_DMIRROR_READ_UNLOCKED, &cmd));
	EXPECT_EQ(0ULL, cmd.faults);
	ASSERT_EQ(0, memcmp(buf, out, 16 * 4096));

	/* A hole is refused before anything is copied: all of out intact. */
	ASSERT_EQ(0, munmap(buf + 8 * 4096, 4096));
	memset(out, 0x33, 16 * 4096);
	EXPECT_EQ(-EFAULT,
		  dmirror_cmd(self->fd, HMM_DMIRROR_READ_UNLOCKED, &cmd));
	for (i = 0; i < 16 * 4096; i++)
		ASSERT_EQ(0x33, out[i]) TH_LOG("byte %d of out changed", i);
	munmap(buf, 16 * 4096);
	free(out);
}

/* How long a killed process may take to go: a bound that catches a hang. */
#define KILL_STALL_S	30

/*
 * READ_UNLOCKED waiting for a userfaultfd handler that never answers ends
 * on a fatal signal (the -EINTR path of the header): a child blocked so is
 * killed and must be gone within KILL_STALL_S, not stay in the ioctl.
 */
/*
 * A child blocked in READ_UNLOCKED on userfaultfd memory nobody serves.
 * Returns its pid once it is about to issue the ioctl, -1 when setting up
 * failed.
 */
static pid_t blocked_reader(void)
{
	int ready[2], status;
	pid_t pid;
	char c;

	if (pipe(ready))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct hmm_dmirror_cmd cmd = { 0 };
		static unsigned char out[UFFD_PAGES * 4096];
		int fd = dmirror_open_dev(0), uffd;
		void *area;

		uffd = uffd_area(&area);
		if (fd < 0 || uffd < 0)
			_exit(2);
		cmd.addr = (uintptr_t)area;
		cmd.ptr = (uintptr_t)out;
		cmd.npages = UFFD_PAGES;
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		/* Nobody serves the fault: this waits until killed. */
		ioctl(fd, HMM_DMIRROR_READ_UNLOCKED, &cmd);
		_exit(4);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		waitpid(pid, &status, 0);
		return -1;
	}
	close(ready[0]);
	return pid;
}

/*
 * READ_UNLOCKED waiting for a userfaultfd handler that never answers ends
 * on a fatal signal (the -EINTR path of the header): a child blocked so is
 * killed and must be gone within KILL_STALL_S, not stay in the ioctl.
 */
TEST_F(uffd, read_unlocked_killable)
{
	struct timespec t0, t1;
	pid_t pid, w;
	int status;

	if (!have_userfaultfd())
		SKIP(return, NO_UFFD_WHY);
	pid = blocked_reader();
	ASSERT_LT(0, pid) TH_LOG("setting up the blocked reader failed");
	/* Let it enter the ioctl and block in the fault. */
	usleep(200000);
	ASSERT_EQ(0, waitpid(pid, &status, WNOHANG))
		TH_LOG("READ_UNLOCKED returned without a handler: status %#x",
		       status);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	do {
		w = waitpid(pid, &status, WNOHANG);
		if (w)
			break;
		usleep(10000);
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (t1.tv_sec - t0.tv_sec < KILL_STALL_S);
	ASSERT_EQ(pid, w) TH_LOG("a killed READ_UNLOCKED still runs after %d s",
				 KILL_STALL_S);
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGKILL, WTERMSIG(status));
}

TEST_HARNESS_MAIN
