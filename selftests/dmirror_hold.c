// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_hold NPAGES [thp]: leave NPAGES on /dev/hmm_dmirror0 with no file
 * open; with "thp", in PMD-aligned THPs (NPAGES a multiple of 512).
 *
 * The parent migrates a patterned buffer to the device and forks; the child
 * closes its copy of the descriptor and waits. The parent exits, so its
 * file is released after its address space is gone: nothing evicts the
 * pages, which the child still maps. The child prints "ready", waits for a
 * line on stdin (the module is unloaded meanwhile, which must evict the
 * pages), then checks every byte and prints "intact" or "corrupt".
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "dmirror_test_util.h"

static unsigned char pattern(unsigned long i)
{
	return (unsigned char)(i * 31 + 7);
}

/* @size bytes of anonymous memory, PMD-aligned and THP-backed if possible. */
static unsigned char *map_thp(unsigned long size)
{
	unsigned long pmd = 2UL << 20, a;
	unsigned char *p;

	p = mmap(NULL, size + pmd, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return p;
	a = ((uintptr_t)p + pmd - 1) & ~(pmd - 1);
	madvise((void *)a, size, MADV_HUGEPAGE);
	return (unsigned char *)a;
}

int main(int argc, char **argv)
{
	unsigned long npages, i, size;
	struct hmm_dmirror_cmd cmd = { 0 };
	unsigned char *buf, *out;
	int fd, sync[2];
	char c;
	pid_t pid;

	if (argc != 2 && (argc != 3 || strcmp(argv[2], "thp")))
		return 2;
	npages = strtoul(argv[1], NULL, 0);
	size = npages * 4096;
	fd = dmirror_open_dev(0);
	if (argc == 3)
		buf = map_thp(size);
	else
		buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	out = malloc(size);
	if (fd < 0 || buf == MAP_FAILED || !out || pipe(sync))
		return 2;
	for (i = 0; i < size; i++)
		buf[i] = pattern(i);
	cmd.addr = (uintptr_t)buf;
	cmd.ptr = (uintptr_t)out;
	cmd.npages = npages;
	if (dmirror_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd))
		return 3;

	pid = fork();
	if (pid < 0)
		return 2;
	if (pid > 0) {
		/* Exit only once the child holds no descriptor of ours. */
		close(sync[1]);
		if (read(sync[0], &c, 1) != 1)
			return 4;
		return 0;
	}
	close(fd);
	close(sync[0]);
	if (write(sync[1], "x", 1) != 1)
		return 4;
	close(sync[1]);
	printf("ready\n");
	fflush(stdout);
	if (read(0, &c, 1) != 1)
		return 5;
	for (i = 0; i < size; i++) {
		if (buf[i] != pattern(i)) {
			printf("corrupt at byte %lu\n", i);
			return 1;
		}
	}
	printf("intact\n");
	return 0;
}
