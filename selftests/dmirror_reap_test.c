// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror and the OOM reaper: a killed process with mirrored and
 * migrated memory is reaped with process_mrelease(2), which runs the OOM
 * reaper's code on it. The reaper may not sleep, so it issues
 * non-blockable invalidations; the device must handle or refuse them
 * without sleeping, and its memory must come back.
 *
 * The OOM killer itself would do the same, but it prints a stack dump
 * (dump_header()) that the test runner rightly counts as a kernel report;
 * process_mrelease() reaches the same reaper path without one.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

#ifndef __NR_pidfd_open
#define __NR_pidfd_open		434
#endif
#ifndef __NR_process_mrelease
#define __NR_process_mrelease	448
#endif

#define VICTIM_MIB	256
#define MIGRATE_PAGES	1024
#define ATTEMPTS	5

/*
 * The victim: open the device, touch VICTIM_MIB of memory, mirror part of
 * it, put MIGRATE_PAGES of it on the device, then tell the parent and wait
 * to be killed.
 */
static void victim(int ready)
{
	struct hmm_dmirror_cmd cmd = { 0 };
	size_t size = (size_t)VICTIM_MIB << 20;
	unsigned char *buf, *out;
	int fd;

	fd = dmirror_open_dev(0);
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	out = malloc(MIGRATE_PAGES * 4096);
	if (fd < 0 || buf == MAP_FAILED || !out)
		_exit(2);
	memset(buf, 0x5c, size);

	cmd.addr = (uintptr_t)buf;
	cmd.ptr = (uintptr_t)out;
	cmd.npages = size / 4096;
	if (dmirror_cmd(fd, HMM_DMIRROR_READ, &cmd))
		_exit(3);
	cmd.npages = MIGRATE_PAGES;
	if (dmirror_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd))
		_exit(4);
	if (write(ready, "r", 1) != 1)
		_exit(5);
	for (;;)
		pause();
}

/*
 * One attempt: returns 1 if the reaper's invalidations reached the device,
 * 0 if the victim exited first (a race the test retries), -1 on error.
 */
static int reap_once(struct __test_metadata *_metadata, long long *resident)
{
	long long nb0, nr0, nb1, nr1;
	int sync[2], pidfd, status, mrelease_err;
	char c;
	pid_t pid;

	if (pipe(sync))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(sync[0]);
		victim(sync[1]);
	}
	close(sync[1]);
	if (read(sync[0], &c, 1) != 1) {
		close(sync[0]);
		waitpid(pid, &status, 0);
		TH_LOG("victim failed to set up: status %#x", status);
		return -1;
	}
	close(sync[0]);
	*resident = dmirror_dev_stat(0, "resident_pages");

	pidfd = syscall(__NR_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -1;
	nb0 = dmirror_dev_stat(0, "invalidate_nonblock");
	nr0 = dmirror_dev_stat(0, "invalidate_nonblock_refused");
	kill(pid, SIGKILL);
	/*
	 * 0 both when it reaped and when the victim's mm was already gone;
	 * ESRCH when the victim had already exited (the race above); EAGAIN
	 * when a non-blockable invalidation was refused (checked below).
	 * Anything else (EINVAL: the victim not dying) is an error.
	 */
	mrelease_err = syscall(__NR_process_mrelease, pidfd, 0) ? errno : 0;
	close(pidfd);
	if (mrelease_err && mrelease_err != EAGAIN && mrelease_err != ESRCH) {
		TH_LOG("process_mrelease: %s", strerror(mrelease_err));
		waitpid(pid, &status, 0);
		return -1;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status) ||
	    WTERMSIG(status) != SIGKILL)
		return -1;
	nb1 = dmirror_dev_stat(0, "invalidate_nonblock");
	nr1 = dmirror_dev_stat(0, "invalidate_nonblock_refused");
	TH_LOG("non-blockable invalidations: handled +%lld, refused +%lld",
	       nb1 - nb0, nr1 - nr0);
	TH_LOG("process_mrelease: %s", strerror(mrelease_err));
	if (mrelease_err == EAGAIN && nr1 == nr0) {
		TH_LOG("process_mrelease: EAGAIN, but nothing was refused");
		return -1;
	}
	return (nb1 - nb0) + (nr1 - nr0) > 0;
}

/*
 * process_mrelease() (Linux 5.15) is in every supported kernel: with a bad
 * descriptor it says EBADF. Returns the errno it gave (0 if none).
 */
static int probe_process_mrelease(void)
{
	if (syscall(__NR_process_mrelease, -1, 0) == 0)
		return 0;
	return errno;
}

TEST(reaper_invalidations_and_reclaim)
{
	struct hmm_dmirror_cmd cmd = { 0 };
	long long before, during = 0;
	unsigned char *page, out[4096];
	int i, fd, ret = 0;

	ret = probe_process_mrelease();
	ASSERT_EQ(EBADF, ret) TH_LOG("process_mrelease(-1): %s",
				     strerror(ret));
	ret = 0;
	before = dmirror_dev_stat(0, "resident_pages");
	ASSERT_GE(before, 0);
	for (i = 0; i < ATTEMPTS && ret == 0; i++)
		ret = reap_once(_metadata, &during);
	ASSERT_EQ(1, ret) TH_LOG("no non-blockable invalidation in %d tries",
				 ATTEMPTS);
	/* The victim had its pages on the device; they are all back. */
	EXPECT_GE(during - before, MIGRATE_PAGES);
	EXPECT_EQ(before, dmirror_dev_stat(0, "resident_pages"));

	/* The device still works. */
	fd = dmirror_open_dev(0);
	ASSERT_GE(fd, 0);
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	memset(page, 0x42, 4096);
	cmd.addr = (uintptr_t)page;
	cmd.ptr = (uintptr_t)out;
	cmd.npages = 1;
	EXPECT_EQ(0, dmirror_cmd(fd, HMM_DMIRROR_READ, &cmd));
	EXPECT_EQ(0, memcmp(page, out, 4096));
	EXPECT_EQ(0, close(fd));
	munmap(page, 4096);
}

TEST_HARNESS_MAIN
