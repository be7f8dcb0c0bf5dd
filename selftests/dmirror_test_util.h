/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the hmm_dmirror selftests.
 */
#ifndef _DMIRROR_TEST_UTIL_H
#define _DMIRROR_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hmm_dmirror.h"

#define DMIRROR_PARAM_DIR	"/sys/module/hmm_dmirror/parameters"

static inline int dmirror_open_dev(int id)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", id);
	return open(path, O_RDWR | O_CLOEXEC);
}

/* A number read from a file (sysfs, procfs); -1 if it cannot be read. */
static inline long long dmirror_read_num(const char *path)
{
	char buf[64];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtoll(buf, NULL, 0);
}

/* Read an unsigned module parameter; -1 if it cannot be read. */
static inline long long dmirror_param(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", DMIRROR_PARAM_DIR, name);
	return dmirror_read_num(path);
}

/* A bool module parameter: 1 for Y, 0 for N, -1 if it cannot be read. */
static inline int dmirror_param_yn(const char *name)
{
	char path[128], c;
	int fd, n;

	snprintf(path, sizeof(path), "%s/%s", DMIRROR_PARAM_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, &c, 1);
	close(fd);
	if (n != 1 || (c != 'Y' && c != 'N'))
		return -1;
	return c == 'Y';
}

/* True when the module was loaded with both coherent windows. */
static inline int dmirror_have_coherent(void)
{
	return dmirror_param("spm_addr_dev0") > 0 &&
	       dmirror_param("spm_addr_dev1") > 0;
}

/*
 * True only when the module says it was loaded without coherent windows
 * (both parameters read 0): the one reason a coherent test may skip. An
 * unreadable parameter is not that reason.
 */
static inline int dmirror_loaded_without_coherent(void)
{
	return dmirror_param("spm_addr_dev0") == 0 &&
	       dmirror_param("spm_addr_dev1") == 0;
}

#define DMIRROR_NO_COHERENT_WHY \
	"hmm_dmirror was loaded without coherent windows (spm_addr_dev0=0, spm_addr_dev1=0)"

/*
 * Open /dev/hmm_dmirror<@dev> for a fixture whose device is coherent when
 * @coherent. The coherent devices exist exactly when the module was loaded
 * with both windows: a coherent device that cannot be opened because it
 * was not sets *@skip, and the fixture then SKIPs with
 * DMIRROR_NO_COHERENT_WHY. Harnesses before 6.12 still run the test after
 * a SKIP() in the setup, so every test first looks at that flag. Any
 * other failure to open is the caller's to fail. Returns the fd or -1.
 */
static inline int dmirror_fixture_open(int dev, bool coherent, bool *skip)
{
	int fd = dmirror_open_dev(dev);

	if (fd < 0 && coherent && dmirror_loaded_without_coherent())
		*skip = true;
	return fd;
}

#define DMIRROR_HUGE_2M_DIR	"/sys/kernel/mm/hugepages/hugepages-2048kB"

/*
 * May a test take a 2 MiB hugetlb page? 1: yes. 0: the kernel has no
 * 2 MiB hugetlb pages or none is reserved (a test skips, giving @why).
 * -1: pages are reserved but none is free, which in the test VM (it
 * reserves 32, and every test returns its pages) means a leak: a test
 * fails, giving @why.
 */
static inline int dmirror_huge_2m_ready(char *why, size_t len)
{
	long long total, nfree;

	if (access(DMIRROR_HUGE_2M_DIR, F_OK)) {
		snprintf(why, len, "the kernel has no 2 MiB hugetlb pages (no %s)",
			 DMIRROR_HUGE_2M_DIR);
		return 0;
	}
	total = dmirror_read_num(DMIRROR_HUGE_2M_DIR "/nr_hugepages");
	nfree = dmirror_read_num(DMIRROR_HUGE_2M_DIR "/free_hugepages");
	if (total == 0) {
		snprintf(why, len, "no 2 MiB hugetlb page is reserved (nr_hugepages 0)");
		return 0;
	}
	if (total < 0 || nfree < 1) {
		snprintf(why, len, "%lld 2 MiB hugetlb pages reserved, %lld free: leaked?",
			 total, nfree);
		return -1;
	}
	return 1;
}

/* Issue one ioctl; return 0 or -errno, retrying on EINTR. */
static inline int dmirror_cmd(int fd, unsigned long request,
			      struct hmm_dmirror_cmd *cmd)
{
	int ret;

	do {
		ret = ioctl(fd, request, cmd);
	} while (ret && errno == EINTR);
	return ret ? -errno : 0;
}

/* ---- sizes, sentinels and snapshot bytes ------------------------------ */

/* mmap() flags older C libraries lack. */
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT		26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB		(21 << MAP_HUGE_SHIFT)
#endif

#define PG			4096UL
#define MIB			(1024UL * 1024)

/* cpages and faults go in as this; still there = block not copied back */
#define NOT_COPIED		0xa5a5a5a5a5a5a5a5ULL
/* Output buffers start out as this byte so that a stray copy shows. */
#define FILLER			0x3c

/* Snapshot bytes: where a page is and how it is mapped. */
#define SNAP_NONE		HMM_DMIRROR_PROT_NONE
#define SNAP_SYS_RW		HMM_DMIRROR_PROT_WRITE
#define SNAP_SYS_RO		HMM_DMIRROR_PROT_READ
#define SNAP_PRIV_RW		(HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | \
				 HMM_DMIRROR_PROT_WRITE)
#define SNAP_PRIV_RO		(HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | \
				 HMM_DMIRROR_PROT_READ)
#define SNAP_COH_RW		(HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | \
				 HMM_DMIRROR_PROT_WRITE)
#define SNAP_COH_RO		(HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | \
				 HMM_DMIRROR_PROT_READ)
#define SNAP_COH_REMOTE_RW	(HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | \
				 HMM_DMIRROR_PROT_WRITE)

/* ---- clocks ----------------------------------------------------------- */

/* CLOCK_MONOTONIC in seconds. */
static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CLOCK_MONOTONIC in milliseconds. */
static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ---- data patterns ---------------------------------------------------- */

/*
 * Word @w of page @page under @seed. Seed, page number and word number sit
 * in separate bit fields, so no two words of one run (nor of two seeds)
 * are equal, and a page that landed in the wrong place is caught.
 */
static inline unsigned long long pat_word(unsigned int seed,
					  unsigned long page, unsigned long w)
{
	return (((unsigned long long)seed << 48) |
		((unsigned long long)page << 12) | w) ^ 0x6b8e1d3c00000000ULL;
}

/* Write the pattern of pages [@page0, @page0 + @npages) at @p. */
static inline void pat_fill(void *p, unsigned long page0,
			    unsigned long npages, unsigned int seed)
{
	unsigned long long *w = p;
	unsigned long pg, i, per = PG / sizeof(*w);

	for (pg = 0; pg < npages; pg++)
		for (i = 0; i < per; i++)
			w[pg * per + i] = pat_word(seed, page0 + pg, i);
}

/*
 * Compare @p with the pattern of pages [@page0, @page0 + @npages).
 * Returns -1 when it matches, else the byte offset (from @p) of the first
 * word that differs.
 */
static inline long pat_find(const void *p, unsigned long page0,
			    unsigned long npages, unsigned int seed)
{
	const unsigned long long *w = p;
	unsigned long pg, i, per = PG / sizeof(*w);

	for (pg = 0; pg < npages; pg++)
		for (i = 0; i < per; i++)
			if (w[pg * per + i] != pat_word(seed, page0 + pg, i))
				return (pg * per + i) * sizeof(*w);
	return -1;
}

/* Offset of the first byte of @p that is not @val, or -1. */
static inline long byte_find(const void *p, size_t len, unsigned char val)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != val)
			return i;
	return -1;
}

/* ---- memory ----------------------------------------------------------- */

/* A heap buffer of @len bytes set to FILLER. */
static inline unsigned char *out_buf(size_t len)
{
	unsigned char *p = malloc(len);

	if (p)
		memset(p, FILLER, len);
	return p;
}

/*
 * Private anonymous memory kept at base pages, so page counts in the
 * counters are exact.
 */
static inline char *map_anon(unsigned long npages, int prot)
{
	void *p = mmap(NULL, npages * PG, prot, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Fails only without THP support, where it is not needed. */
	madvise(p, npages * PG, MADV_NOHUGEPAGE);
	return p;
}

/* ---- range ioctls ----------------------------------------------------- */

/*
 * Issue range command @req on @npages pages at @addr with buffer @ptr.
 * cpages and faults go in as NOT_COPIED, so a block the driver did not
 * copy back shows. Returns 0 or -errno.
 */
static inline int range_ioctl(int fd, unsigned long req, const void *addr,
			      void *ptr, unsigned long npages,
			      struct hmm_dmirror_cmd *cmd)
{
	cmd->addr = (uintptr_t)addr;
	cmd->ptr = (uintptr_t)ptr;
	cmd->npages = npages;
	cmd->cpages = NOT_COPIED;
	cmd->faults = NOT_COPIED;
	return dmirror_cmd(fd, req, cmd);
}

/* HMM_DMIRROR_READ of @npages at @addr into @out. */
static inline int dev_read(int fd, const void *addr, void *out,
			   unsigned long npages, struct hmm_dmirror_cmd *cmd)
{
	return range_ioctl(fd, HMM_DMIRROR_READ, addr, out, npages, cmd);
}

/* HMM_DMIRROR_WRITE of @npages at @addr from @in. */
static inline int dev_write(int fd, const void *addr, const void *in,
			    unsigned long npages, struct hmm_dmirror_cmd *cmd)
{
	return range_ioctl(fd, HMM_DMIRROR_WRITE, addr, (void *)in, npages,
			   cmd);
}

/* HMM_DMIRROR_MIGRATE_TO_DEV of @npages at @addr; the data goes to @out. */
static inline int to_dev(int fd, const void *addr, void *out,
			 unsigned long npages, struct hmm_dmirror_cmd *cmd)
{
	return range_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, addr, out, npages,
			   cmd);
}

/* HMM_DMIRROR_MIGRATE_TO_SYS of @npages at @addr. */
static inline int to_sys(int fd, const void *addr, unsigned long npages,
			 struct hmm_dmirror_cmd *cmd)
{
	/* ptr is unused by MIGRATE_TO_SYS: pass nothing there. */
	return range_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_SYS, addr, NULL, npages,
			   cmd);
}

/*
 * Take a snapshot of @npages pages at @addr through @fd and compare every
 * byte with @want. Returns -1 when all match, -2 when the snapshot itself
 * failed, else the first page that differs (reported on stderr).
 */
static inline long snap_find(int fd, const void *addr, unsigned long npages,
			     unsigned char want)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *s = out_buf(npages);
	long bad;

	if (!s)
		return -2;
	if (range_ioctl(fd, HMM_DMIRROR_SNAPSHOT, addr, s, npages, &cmd) ||
	    cmd.cpages != npages) {
		free(s);
		return -2;
	}
	bad = byte_find(s, npages, want);
	if (bad >= 0)
		fprintf(stderr, "# snapshot: page %ld is %#x, expected %#x\n",
			bad, s[bad], want);
	free(s);
	return bad;
}

/* ---- descriptors ------------------------------------------------------ */

/* Pass @fd over the unix socket @sock. Return: 0 or -1. */
static inline int send_fd(int sock, int fd)
{
	char c = 0, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr msg = { 0 };
	struct cmsghdr *cm;

	memset(ctl, 0, sizeof(ctl));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl;
	msg.msg_controllen = sizeof(ctl);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

/* Receive a descriptor sent by send_fd(). Return: it, or -1. */
static inline int recv_fd(int sock)
{
	char c, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr msg = { 0 };
	struct cmsghdr *cm;
	int fd;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl;
	msg.msg_controllen = sizeof(ctl);
	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

#define DMIRROR_DEBUGFS		"/sys/kernel/debug/hmm_dmirror"

/*
 * Look up counter @name in a debugfs stats file made of "name value" lines.
 * Returns the value, or -1 when the file or the line does not exist.
 */
static inline long long dmirror_stat_file(const char *path, const char *name)
{
	char line[128], key[64];
	long long val, found = -1;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lld", key, &val) == 2 &&
		    !strcmp(key, name)) {
			found = val;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Counter @name of device @id (/sys/kernel/debug/hmm_dmirror/dev<id>). */
static inline long long dmirror_dev_stat(int id, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/dev%d/stats", DMIRROR_DEBUGFS, id);
	return dmirror_stat_file(path, name);
}

/* Counter @name of the calling process's mm. */
static inline long long dmirror_mm_stat(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/mm/%d/stats", DMIRROR_DEBUGFS,
		 (int)getpid());
	return dmirror_stat_file(path, name);
}

/*
 * Print one line (at most 599 bytes) with one write(2), so that the lines
 * of several processes or threads do not mix (the stress test, the fuzzer).
 */
static inline void say(const char *fmt, ...)
{
	char line[600];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDOUT_FILENO, line, n) < 0)
		return;
}

/*
 * Known kernel bugs, reported the way LTP reports them. A test that sees
 * a kernel misbehave exactly as a bug of README.md's "Known kernel bugs"
 * describes ends with a SKIP line naming the bug and its upstream fix
 * ("none yet" when there is none) instead of a failure; any other
 * misbehaviour still fails, and on a kernel without the bug the test runs
 * as a normal one. A bug goes on that list only when the kernel's own
 * test device (test_hmm) hits it the same way. The SKIP's format, for
 * the bug's id, what goes wrong and the fix:
 *	SKIP(return, DMIRROR_KNOWN_BUG_SKIP, "KB1", what, fix);
 */
#define DMIRROR_KNOWN_BUG_SKIP \
	"known kernel bug %s: %s; upstream fix: %s"

#endif /* _DMIRROR_TEST_UTIL_H */
