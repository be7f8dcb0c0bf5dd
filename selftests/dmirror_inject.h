/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fault injection for dmirror_stress and dmirror_fuzz (-I PCT): the
 * module's fault_attr points in debugfs (module/inject.c, kernels with
 * CONFIG_FAULT_INJECTION_DEBUG_FS), switched on for the tasks whose
 * /proc/<pid>/make-it-fail is 1 (task-filter), and off again at exit.
 */
#ifndef _DMIRROR_INJECT_H
#define _DMIRROR_INJECT_H

#include <signal.h>

#include "dmirror_test_util.h"

/* The kselftest exit status of a skipped program. */
#define KSFT_SKIP_CODE	4

/*
 * The points a run turns on. Not fail_migrate_fault: it makes a CPU
 * fault SIGBUS, and neither program's model can take a signal there.
 */
#define DMIRROR_INJECT_NPOINTS	8
/* The index of fail_sys_page among them. */
#define DMIRROR_INJECT_SYS_PAGE	3

static inline const char *dmirror_inject_point(unsigned int i)
{
	static const char * const names[DMIRROR_INJECT_NPOINTS] = {
		"fail_chunk_add", "fail_dev_page", "fail_dev_large",
		"fail_sys_page", "fail_sys_large", "fail_pt", "fail_pin",
		"fail_migrate",
	};

	return names[i];
}

/* Write @val to @path; 0 or -errno. */
static inline int dmirror_inject_put(const char *path, const char *val)
{
	size_t len = strlen(val);
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, len) != (ssize_t)len)
		ret = -errno;
	close(fd);
	return ret;
}

/* Write @val to knob @knob of point @i; 0 or -errno. */
static inline int dmirror_inject_knob(unsigned int i, const char *knob,
				      const char *val)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s/%s", DMIRROR_DEBUGFS,
		 dmirror_inject_point(i), knob);
	return dmirror_inject_put(path, val);
}

/*
 * NULL when every point is there, else the directory that is missing
 * (the kernel has no CONFIG_FAULT_INJECTION_DEBUG_FS).
 */
static inline const char *dmirror_inject_missing(void)
{
	static char path[160];
	unsigned int i;

	for (i = 0; i < DMIRROR_INJECT_NPOINTS; i++) {
		snprintf(path, sizeof(path), "%s/%s/probability",
			 DMIRROR_DEBUGFS, dmirror_inject_point(i));
		if (access(path, W_OK))
			return path;
	}
	return NULL;
}

/*
 * Every point off (probability 0). Async-signal-safe, for an exit
 * handler and a signal handler alike.
 */
static inline void dmirror_inject_stop(void)
{
	unsigned int i;

	for (i = 0; i < DMIRROR_INJECT_NPOINTS; i++)
		dmirror_inject_knob(i, "probability", "0");
}

/*
 * A point's "times" counts down once per forced failure (unless it is
 * -1, which would mean without end): started at DMIRROR_INJECT_TIMES,
 * which no run reaches, it tells how many failures were forced.
 */
#define DMIRROR_INJECT_TIMES	2000000000LL

/*
 * Every point on at @pct percent, for every call, quiet, and only for
 * tasks with make-it-fail set. 0 or -errno (then all are off).
 */
static inline int dmirror_inject_start(unsigned int pct)
{
	static const char * const knobs[] = {
		"interval", "space", "verbose", "task-filter",
	};
	static const char * const vals[] = { "1", "0", "0", "Y" };
	char p[16], times[24];
	unsigned int i, k;
	int ret = 0;

	snprintf(p, sizeof(p), "%u", pct);
	snprintf(times, sizeof(times), "%lld", DMIRROR_INJECT_TIMES);
	for (i = 0; i < DMIRROR_INJECT_NPOINTS && !ret; i++) {
		for (k = 0; k < 4 && !ret; k++)
			ret = dmirror_inject_knob(i, knobs[k], vals[k]);
		if (!ret)
			ret = dmirror_inject_knob(i, "times", times);
		if (!ret)
			ret = dmirror_inject_knob(i, "probability", p);
	}
	if (ret)
		dmirror_inject_stop();
	return ret;
}

/* Failures point @i forced since dmirror_inject_start(); -1 unknown. */
static inline long long dmirror_inject_forced(unsigned int i)
{
	char path[160];
	long long left;

	snprintf(path, sizeof(path), "%s/%s/times", DMIRROR_DEBUGFS,
		 dmirror_inject_point(i));
	left = dmirror_read_num(path);
	return left < 0 ? -1 : DMIRROR_INJECT_TIMES - left;
}

/*
 * Print the failures each point forced since @before (NULL: since the
 * start) as one line; return their sum (-1 when one cannot be read).
 */
static inline long long dmirror_inject_report(const long long *before)
{
	long long n, sum = 0;
	char line[500];
	unsigned int i;
	size_t len;

	len = snprintf(line, sizeof(line), "# forced failures:");
	for (i = 0; i < DMIRROR_INJECT_NPOINTS; i++) {
		n = dmirror_inject_forced(i);
		if (n >= 0 && before)
			n = before[i] < 0 ? -1 : n - before[i];
		if (n < 0 || sum < 0)
			sum = -1;
		else
			sum += n;
		len += snprintf(line + len, sizeof(line) - len, " %s %lld",
				dmirror_inject_point(i) + 5, n);
	}
	say("%s; total %lld", line, sum);
	return sum;
}

/* Make the calling thread (and what it forks or creates) a target. */
static inline int dmirror_inject_me(void)
{
	return dmirror_inject_put("/proc/thread-self/make-it-fail", "1");
}

/* The process that turned the points on: only it turns them off. */
static inline pid_t *dmirror_inject_owner(void)
{
	static pid_t owner;

	return &owner;
}

static inline void dmirror_inject_off_at_exit(void)
{
	if (getpid() == *dmirror_inject_owner())
		dmirror_inject_stop();
}

/* Off again however the owner ends, short of SIGKILL. */
static inline void dmirror_inject_off_on_signal(int sig)
{
	dmirror_inject_off_at_exit();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Before -I turns the points on: bail out without the module's debugfs
 * directory, SKIP (exit status 4) on a kernel without fault injection,
 * and make this process turn them off again when it ends.
 */
static inline void dmirror_inject_prepare(void)
{
	const char *missing = dmirror_inject_missing();

	if (access(DMIRROR_DEBUGFS, F_OK)) {
		say("Bail out! no %s: hmm_dmirror not loaded, or debugfs not mounted",
		    DMIRROR_DEBUGFS);
		exit(1);
	}
	if (missing) {
		say("1..0 # SKIP kernel has no CONFIG_FAULT_INJECTION_DEBUG_FS (no %s)",
		    missing);
		exit(KSFT_SKIP_CODE);
	}
	*dmirror_inject_owner() = getpid();
	atexit(dmirror_inject_off_at_exit);
	signal(SIGINT, dmirror_inject_off_on_signal);
	signal(SIGTERM, dmirror_inject_off_on_signal);
	signal(SIGHUP, dmirror_inject_off_on_signal);
}

#endif /* _DMIRROR_INJECT_H */
