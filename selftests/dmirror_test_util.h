/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the hmm_dmirror selftests.
 */
#ifndef _DMIRROR_TEST_UTIL_H
#define _DMIRROR_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "hmm_dmirror.h"

#define DMIRROR_PARAM_DIR	"/sys/module/hmm_dmirror/parameters"

static inline int dmirror_open_dev(int id)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", id);
	return open(path, O_RDWR | O_CLOEXEC);
}

/* Read an unsigned module parameter; -1 if it cannot be read. */
static inline long long dmirror_param(const char *name)
{
	char path[128], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", DMIRROR_PARAM_DIR, name);
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

/* True when the module was loaded with both coherent windows. */
static inline int dmirror_have_coherent(void)
{
	return dmirror_param("spm_addr_dev0") > 0 &&
	       dmirror_param("spm_addr_dev1") > 0;
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

#endif /* _DMIRROR_TEST_UTIL_H */
