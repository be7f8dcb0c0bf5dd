// SPDX-License-Identifier: GPL-2.0
/* Write a buffer, migrate it to device 0, check the data and the snapshot. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <hmm_dmirror.h>

#define NPAGES 4
#define ON_DEVICE (HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE)

static int fail(const char *what, int err)
{
	fprintf(stderr, "%s: %s\n", what, err ? strerror(err) : "no");
	return 1;
}

int main(void)
{
	size_t i, len = NPAGES * sysconf(_SC_PAGESIZE);
	unsigned char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *copy = malloc(len), snap[NPAGES];
	int fd = open("/dev/hmm_dmirror0", O_RDWR);
	struct hmm_dmirror_cmd cmd = {
		.addr = (unsigned long)buf,
		.ptr = (unsigned long)copy,	/* receives the device's copy */
		.npages = NPAGES,
	};

	if (fd < 0 || buf == MAP_FAILED || !copy)
		return fail("setup", errno);
	memset(buf, 0x5a, len);			/* the CPU writes the buffer */
	if (ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd))
		return fail("HMM_DMIRROR_MIGRATE_TO_DEV", errno);
	cmd.ptr = (unsigned long)snap;		/* one byte per page */
	if (ioctl(fd, HMM_DMIRROR_SNAPSHOT, &cmd))
		return fail("HMM_DMIRROR_SNAPSHOT", errno);
	for (i = 0; i < NPAGES; i++)
		if (snap[i] != ON_DEVICE)
			return fail("every page on the device", 0);
	for (i = 0; i < len; i++)		/* reading buf[i] faults it back */
		if (copy[i] != 0x5a || buf[i] != 0x5a)
			return fail("data intact", 0);
	printf("%d pages migrated to /dev/hmm_dmirror0 and back: ok\n", NPAGES);
	return 0;
}
