// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror interaction tests, part two: another process reads and
 * writes the pages while they are in each device state
 * (process_vm_readv/writev, /proc/pid/mem, ptrace PEEKDATA/POKEDATA),
 * and /proc/self/pagemap and smaps are read while the pages are there.
 * The fixture and its states: dmirror_interact.h.
 *
 * The other process is a fork child; the range is MADV_DONTFORK first,
 * so that fork itself does not touch the pages (dmirror_interact_test.c
 * checks that it does not).
 */
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "dmirror_interact.h"

enum access { PVM_READ, PVM_WRITE, MEM_READ, MEM_WRITE, PEEK, POKE };

/* No cross-memory attach: the exit status of the child that found so. */
#define NO_CMA		99
/* errno of a system call the kernel does not have (ENOSYS) */
#define NO_SYSCALL	38

/* In the child: process_vm_readv/writev of the whole range of @pid. */
static int by_pvm(struct _test_data_ia *self, pid_t pid, bool wr, char *buf)
{
	struct iovec local = { .iov_base = buf, .iov_len = self->len };
	struct iovec remote = { .iov_base = self->p, .iov_len = self->len };
	ssize_t n;

	if (wr)
		n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	else
		n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n < 0 && errno == NO_SYSCALL)
		return NO_CMA;
	return n == (ssize_t)self->len ? 0 : 10;
}

/* In the child: pread/pwrite of /proc/<pid>/mem over the whole range. */
static int by_mem(struct _test_data_ia *self, pid_t pid, bool wr, char *buf)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, wr ? O_RDWR : O_RDONLY);
	if (fd < 0)
		return 11;
	if (wr)
		n = pwrite(fd, buf, self->len, (uintptr_t)self->p);
	else
		n = pread(fd, buf, self->len, (uintptr_t)self->p);
	close(fd);
	return n == (ssize_t)self->len ? 0 : 12;
}

/* In the child: PTRACE_PEEKDATA/POKEDATA of every word of the range. */
static int by_ptrace(struct _test_data_ia *self, pid_t pid, bool wr, char *buf)
{
	long *w = (long *)buf;
	size_t i, words = self->len / sizeof(long);
	int st, ret = 0;

	if (ptrace(PTRACE_ATTACH, pid, 0, 0))
		return 13;
	if (waitpid(pid, &st, __WALL) != pid || !WIFSTOPPED(st))
		return 14;
	for (i = 0; i < words && !ret; i++) {
		void *a = self->p + i * sizeof(long);

		if (wr) {
			if (ptrace(PTRACE_POKEDATA, pid, a, (void *)w[i]))
				ret = 15;
			continue;
		}
		errno = 0;
		w[i] = ptrace(PTRACE_PEEKDATA, pid, a, 0);
		if (errno)
			ret = 16;
	}
	if (ptrace(PTRACE_DETACH, pid, 0, 0))
		ret = 17;
	return ret;
}

/*
 * In the child: access the parent's range the way @how says; a read must
 * find pattern SEED, a write writes SEED_NEW. Returns an exit status.
 */
static int child_access(struct _test_data_ia *self, enum access how)
{
	pid_t pid = getppid();
	bool wr = how == PVM_WRITE || how == MEM_WRITE || how == POKE;
	char *buf = malloc(self->len);
	int ret;

	if (!buf)
		return 2;
	if (wr)
		pat_fill(buf, 0, self->n, SEED_NEW);
	if (how == PVM_READ || how == PVM_WRITE)
		ret = by_pvm(self, pid, wr, buf);
	else if (how == MEM_READ || how == MEM_WRITE)
		ret = by_mem(self, pid, wr, buf);
	else
		ret = by_ptrace(self, pid, wr, buf);
	if (!ret && !wr && pat_find(buf, 0, self->n, SEED) >= 0)
		ret = 3;
	return ret;
}

/*
 * Another process reads or writes every page: device-private pages come
 * home (the device's CPU-fault handler moves them, read or write),
 * device-coherent pages are accessed in place, exclusive pages are given
 * back; the data read is the data, the data written is there, for the
 * CPU and for the device.
 */
static void remote(struct __test_metadata *_metadata, struct _test_data_ia *self,
		   enum access how)
{
	bool wr = how == PVM_WRITE || how == MEM_WRITE || how == POKE;
	unsigned int seed = wr ? SEED_NEW : SEED;
	int status;
	pid_t pid;

	ASSERT_EQ(0, madv(self, self->p, self->len, MADV_DONTFORK));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(child_access(self, how));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status) == NO_CMA) {
		self->skipped = true;
		SKIP(return, "%s (no process_vm_%s system call)",
		     "kernel lacks CONFIG_CROSS_MEMORY_ATTACH",
		     wr ? "writev" : "readv");
	}
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child: 3 wrong data, 10-12 short, 13-17 ptrace");
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->cpu_byte));
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
	EXPECT_EQ(self->state == ST_COHERENT ? (long long)self->n : 0LL,
		  resident(self));
	EXPECT_EQ(0, check_excl(self, self->p, self->n));
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, seed));
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, seed));
}

TEST_F(ia, process_vm_readv)
{
	if (!self->skipped)
		remote(_metadata, self, PVM_READ);
}

TEST_F(ia, process_vm_writev)
{
	if (!self->skipped)
		remote(_metadata, self, PVM_WRITE);
}

TEST_F(ia, proc_mem_read)
{
	if (!self->skipped)
		remote(_metadata, self, MEM_READ);
}

TEST_F(ia, proc_mem_write)
{
	if (!self->skipped)
		remote(_metadata, self, MEM_WRITE);
}

TEST_F(ia, ptrace_peekdata)
{
	if (!self->skipped)
		remote(_metadata, self, PEEK);
}

TEST_F(ia, ptrace_pokedata)
{
	if (!self->skipped)
		remote(_metadata, self, POKE);
}

/* ---- /proc readers ---------------------------------------------------- */

#define PM_PRESENT	0x8000000000000000ULL
#define PM_SWAP		0x4000000000000000ULL
#define PM_PFN		((1ULL << 55) - 1)

/*
 * /proc/self/pagemap while the pages are in their state: pages in
 * device-private memory and exclusive pages are non-present swap-type
 * entries; coherent and mirrored pages are present, with a page frame.
 * Reading it moves nothing and revokes nothing.
 */
TEST_F(ia, pagemap_read)
{
	unsigned long long *pm;
	unsigned long i;
	int fd;

	if (self->skipped)
		return;
	pm = calloc(self->n, sizeof(*pm));
	ASSERT_NE(NULL, pm);
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		free(pm);
		self->skipped = true;
		SKIP(return, "kernel lacks CONFIG_PROC_PAGE_MONITOR (no pagemap)");
	}
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(self->n * sizeof(*pm)),
		  pread(fd, pm, self->n * sizeof(*pm),
			(uintptr_t)self->p / PG * sizeof(*pm)));
	close(fd);
	for (i = 0; i < self->n; i++) {
		if (self->on_dev && self->state != ST_COHERENT) {
			EXPECT_EQ(PM_SWAP, pm[i] & (PM_PRESENT | PM_SWAP))
				TH_LOG("page %lu: %#llx", i,
				       (unsigned long long)pm[i]);
		} else if (self->state == ST_EXCL) {
			EXPECT_EQ(PM_SWAP, pm[i] & (PM_PRESENT | PM_SWAP))
				TH_LOG("page %lu: %#llx", i,
				       (unsigned long long)pm[i]);
		} else {
			EXPECT_EQ(PM_PRESENT, pm[i] & (PM_PRESENT | PM_SWAP))
				TH_LOG("page %lu: %#llx", i,
				       (unsigned long long)pm[i]);
			EXPECT_NE(0ULL, pm[i] & PM_PFN);
		}
	}
	free(pm);
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->dev_byte));
	EXPECT_EQ(on_dev(self, self->n), resident(self));
	EXPECT_EQ(variant_excl(self) ? -EPERM : 0,
		  check_excl(self, self->p, self->n));
	EXPECT_EQ(0, cpu_faults(self));
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED));
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, SEED));
}

/* "Name:  <n> kB" of the smaps block of the VMA at @addr; -1 if none. */
static long long smaps_kb(const void *addr, const char *name)
{
	char line[256], head[32];
	long long val = -1, v;
	bool in = false;
	size_t nl = strlen(name);
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return -1;
	snprintf(head, sizeof(head), "%lx-", (unsigned long)(uintptr_t)addr);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') &&
		    line[0] != ' ' && strchr(line, '-') < strchr(line, ' '))
			in = !strncmp(line, head, strlen(head));
		if (in && !strncmp(line, name, nl) && line[nl] == ':' &&
		    sscanf(line + nl + 1, "%lld", &v) == 1) {
			val = v;
			break;
		}
	}
	fclose(f);
	return val;
}

/*
 * /proc/self/smaps counts the pages as resident anonymous memory in every
 * state (device-private pages too: they are the process's memory, not
 * swap), and reading it moves nothing.
 */
TEST_F(ia, smaps_read)
{
	long long kb = self->len / 1024;

	if (self->skipped)
		return;
	EXPECT_EQ(kb, smaps_kb(self->p, "Rss"));
	EXPECT_EQ(kb, smaps_kb(self->p, "Anonymous"));
	EXPECT_EQ(0, smaps_kb(self->p, "Swap"));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->dev_byte));
	EXPECT_EQ(on_dev(self, self->n), resident(self));
	EXPECT_EQ(variant_excl(self) ? -EPERM : 0,
		  check_excl(self, self->p, self->n));
	EXPECT_EQ(0, cpu_faults(self));
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED));
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, SEED));
}

TEST_HARNESS_MAIN
