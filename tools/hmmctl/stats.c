// SPDX-License-Identifier: GPL-2.0
/*
 * hmmctl counters: the module's debugfs stats files ("name value" lines)
 * and the stats subcommand.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hmmctl.h"

#define HC_DEBUGFS	"/sys/kernel/debug/hmm_dmirror"

int hc_stats_read(const char *path, struct hc_stats *s)
{
	char line[128];
	FILE *f;

	s->n = 0;
	f = fopen(path, "re");
	if (!f)
		return hc_fail_errno(HC_ESYS, errno, path,
				     "is debugfs mounted on /sys/kernel/debug and hmm_dmirror loaded?");
	while (s->n < HC_MAX_STATS && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%39s %lld", s->name[s->n], &s->val[s->n]) == 2)
			s->n++;
	}
	fclose(f);
	return HC_OK;
}

int hc_stats_dev(int dev, struct hc_stats *s)
{
	char path[96];

	snprintf(path, sizeof(path), HC_DEBUGFS "/dev%d/stats", dev);
	return hc_stats_read(path, s);
}

/*
 * The directory of this process's mm: mm/<tgid>, or mm/<tgid>.<n> when
 * the name was taken by an earlier mm of the same process.
 */
static int own_mm_dir(char *name, size_t len)
{
	char pid[24];
	struct dirent *e;
	size_t plen;
	DIR *d;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	plen = strlen(pid);
	d = opendir(HC_DEBUGFS "/mm");
	if (!d)
		return -1;
	name[0] = '\0';
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, pid, plen) ||
		    (e->d_name[plen] && e->d_name[plen] != '.'))
			continue;
		snprintf(name, len, "%s", e->d_name);
		if (!e->d_name[plen])
			break;
	}
	closedir(d);
	return name[0] ? 0 : -1;
}

/* Counters of this process's address space (it must have a device open). */
int hc_stats_own_mm(struct hc_stats *s)
{
	char name[NAME_MAX + 1], path[PATH_MAX];

	if (own_mm_dir(name, sizeof(name)))
		return hc_fail(HC_ESYS, "no %s/mm/%d: is debugfs mounted?",
			       HC_DEBUGFS, (int)getpid());
	snprintf(path, sizeof(path), HC_DEBUGFS "/mm/%s/stats", name);
	return hc_stats_read(path, s);
}

/* The value of counter @name, -1 if absent. */
long long hc_stat(const struct hc_stats *s, const char *name)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], name))
			return s->val[i];
	return -1;
}

void hc_stats_print(const char *key, const struct hc_stats *s)
{
	int i;

	hc_out_obj(key, NULL);
	for (i = 0; i < s->n; i++)
		hc_out_num(s->name[i], s->name[i], s->val[i]);
	hc_out_obj_end();
}

/*
 * The counters that moved between @before and @after: in text one line
 * "counters moved: name +n, ...", in JSON an object of the differences.
 */
void hc_stats_delta(const char *key, const struct hc_stats *before,
		    const struct hc_stats *after)
{
	char line[1024];
	size_t len = 0;
	long long d;
	int i;

	hc_out_obj(key, NULL);
	for (i = 0; i < after->n; i++) {
		d = after->val[i] - hc_stat(before, after->name[i]);
		if (!d || hc_stat(before, after->name[i]) < 0)
			continue;
		hc_out_num(after->name[i], NULL, d);
		if (len < sizeof(line))
			len += snprintf(line + len, sizeof(line) - len,
					"%s%s %+lld", len ? ", " : "",
					after->name[i], d);
	}
	hc_out_obj_end();
	hc_say("counters moved: %s", len ? line : "none");
}

/* Device numbers with a debugfs directory, ascending; their count. */
static int stats_devices(int *devs, int max)
{
	struct dirent *e;
	int n = 0, v, i, j;
	DIR *d;

	d = opendir(HC_DEBUGFS);
	if (!d)
		return -1;
	while ((e = readdir(d)) && n < max)
		if (sscanf(e->d_name, "dev%d", &v) == 1)
			devs[n++] = v;
	closedir(d);
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && devs[j - 1] > devs[j]; j--) {
			v = devs[j];
			devs[j] = devs[j - 1];
			devs[j - 1] = v;
		}
	return n;
}

static void comm_of(const char *mmdir, char *comm, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", atoi(mmdir));
	comm[0] = '\0';
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(comm, len, f))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
}

/**
 * hc_cmd_stats() - "hmmctl stats": counters of one or every device, and of
 * every address space that has a device open. Opens no device itself.
 */
int hc_cmd_stats(void)
{
	char path[PATH_MAX], key[80], title[PATH_MAX + 64], comm[32];
	struct hc_stats s;
	struct dirent *e;
	struct stat st;
	int devs[64], n, i, ret;
	DIR *d;

	if (hc_opt.all) {
		n = stats_devices(devs, 64);
		if (n < 0)
			return hc_fail_errno(HC_ESYS, errno, HC_DEBUGFS,
					     "is debugfs mounted on /sys/kernel/debug and hmm_dmirror loaded?");
	} else {
		snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", hc_opt.dev);
		if (stat(path, &st))
			return hc_fail_errno(HC_EOPEN, errno, path,
					     "is hmm_dmirror loaded?");
		devs[0] = hc_opt.dev;
		n = 1;
	}
	hc_out_obj("devices", NULL);
	for (i = 0; i < n; i++) {
		ret = hc_stats_dev(devs[i], &s);
		if (ret)
			return ret;
		snprintf(key, sizeof(key), "dev%d", devs[i]);
		snprintf(title, sizeof(title), "%s/dev%d/stats (%s)", HC_DEBUGFS,
			 devs[i], hc_dev_coherent(devs[i]) ?
			 "device-coherent" : "device-private");
		hc_out_obj(key, title);
		hc_out_group(devs[i]);
		hc_stats_print("counters", &s);
		hc_out_obj_end();
	}
	hc_out_obj_end();

	hc_out_obj("mm", NULL);
	d = opendir(HC_DEBUGFS "/mm");
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), HC_DEBUGFS "/mm/%s/stats",
			 e->d_name);
		if (hc_stats_read(path, &s))
			continue;
		comm_of(e->d_name, comm, sizeof(comm));
		snprintf(title, sizeof(title), "%s/mm/%s/stats (%s)",
			 HC_DEBUGFS, e->d_name, comm[0] ? comm : "exited");
		hc_out_obj(e->d_name, title);
		hc_out_str("comm", NULL, comm);
		hc_stats_print("counters", &s);
		hc_out_obj_end();
	}
	if (d)
		closedir(d);
	hc_out_obj_end();
	return HC_OK;
}
