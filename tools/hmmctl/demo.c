// SPDX-License-Identifier: GPL-2.0
/*
 * hmmctl demo: mirror, migrate, CPU fault, snapshot, narrated, with the
 * module's counters moving at every step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hmmctl.h"

struct demo {
	int fd;
	struct hc_buf b;
	unsigned char *snap;
	void *data;
	struct hc_stats before;
	bool stats;
	int step;
};

/* "\nN. WHAT", wrapped at 76 columns under a 3-column hanging indent. */
static void step_title(char *t, size_t len, int step, const char *what)
{
	size_t n = snprintf(t, len, "\n%d.", step), col = n - 1, w;

	while (*what && n + 8 < len) {
		w = strcspn(what, " ");
		if (col + 1 + w > 76) {
			n += snprintf(t + n, len - n, "\n  ");
			col = 2;
		}
		n += snprintf(t + n, len - n, " %.*s", (int)w, what);
		if (n >= len)
			break;
		col += 1 + w;
		what += w;
		what += strspn(what, " ");
	}
}

static void step_begin(struct demo *d, const char *what)
{
	char key[16], title[512];

	d->step++;
	snprintf(key, sizeof(key), "step%d", d->step);
	step_title(title, sizeof(title), d->step, what);
	hc_out_obj(key, title);
	hc_out_str("what", NULL, what);
	d->stats = !hc_stats_dev(hc_opt.dev, &d->before);
}

static void step_end(struct demo *d)
{
	struct hc_stats after;

	if (d->stats && !hc_stats_dev(hc_opt.dev, &after))
		hc_stats_delta("counters", &d->before, &after);
	hc_out_obj_end();
}

static int snap(struct demo *d)
{
	int ret = hc_snapshot(d->fd, &d->b, d->snap);

	if (!ret)
		hc_snap_print("snapshot", d->snap, d->b.pages, true);
	return ret;
}

static int demo_steps(struct demo *d)
{
	unsigned long n = d->b.pages;
	struct hmm_dmirror_cmd cmd;
	struct hc_stats mm;
	int ret;

	step_begin(d,
		   "The CPU writes the buffer. A snapshot (the device's view of the CPU page table, nothing faulted) shows ordinary system memory:");
	hc_pattern_fill(d->b.addr, 0, n);
	ret = snap(d);
	step_end(d);
	if (ret)
		return ret;

	step_begin(d,
		   "The device reads the buffer through its own page table (READ): hmm_range_fault() fills the mirror, the notifier will keep it coherent:");
	ret = hc_ioctl(d->fd, HMM_DMIRROR_READ, "READ", (uintptr_t)d->b.addr,
		       d->data, n, &cmd);
	if (!ret) {
		hc_say("%llu pages read in %llu fault round(s); data %s",
		       (unsigned long long)cmd.cpages,
		       (unsigned long long)cmd.faults,
		       hc_pattern_diff(d->data, 0, n) < 0 ? "matches" :
		       "DIFFERS");
		hc_out_num("cpages", NULL, (long long)cmd.cpages);
		if (hc_pattern_diff(d->data, 0, n) >= 0)
			ret = hc_fail(HC_EDATA, "READ: the device read other data");
	}
	step_end(d);
	if (ret)
		return ret;

	step_begin(d,
		   "MIGRATE_TO_DEV moves the pages into device memory; the CPU page table now holds device entries the CPU cannot use directly:");
	ret = hc_ioctl(d->fd, HMM_DMIRROR_MIGRATE_TO_DEV, "MIGRATE_TO_DEV",
		       (uintptr_t)d->b.addr, d->data, n, &cmd);
	if (!ret) {
		hc_say("%llu pages on the device", (unsigned long long)cmd.cpages);
		hc_out_num("cpages", NULL, (long long)cmd.cpages);
		ret = snap(d);
	}
	step_end(d);
	if (ret)
		return ret;

	step_begin(d,
		   "The CPU reads the first page: a CPU page fault, and the device's migrate_to_ram() brings that page back:");
	hc_say("first word of page 0: %#llx", (unsigned long long)
	       __atomic_load_n((__u64 *)d->b.addr, __ATOMIC_RELAXED));
	ret = snap(d);
	step_end(d);
	if (ret)
		return ret;

	step_begin(d,
		   "MIGRATE_TO_SYS brings the rest back; the CPU checks every byte:");
	ret = hc_ioctl(d->fd, HMM_DMIRROR_MIGRATE_TO_SYS, "MIGRATE_TO_SYS",
		       (uintptr_t)d->b.addr, NULL, n, &cmd);
	if (!ret) {
		hc_say("%llu pages moved back; data %s",
		       (unsigned long long)cmd.cpages,
		       hc_pattern_diff(d->b.addr, 0, n) < 0 ? "matches" :
		       "DIFFERS");
		hc_out_num("cpages", NULL, (long long)cmd.cpages);
		if (hc_pattern_diff(d->b.addr, 0, n) >= 0)
			ret = hc_fail(HC_EDATA, "the CPU reads other data");
	}
	if (!ret)
		ret = snap(d);
	step_end(d);
	if (ret)
		return ret;

	if (!hc_stats_own_mm(&mm)) {
		hc_say("%s", "");
		hc_out_obj("mm_counters",
			   "This process's address space (debugfs mm/<pid>/stats):");
		hc_stats_print("counters", &mm);
		hc_out_obj_end();
	}
	return HC_OK;
}

/**
 * hc_cmd_demo() - "hmmctl demo": the life of a buffer on an HMM device
 */
int hc_cmd_demo(void)
{
	struct demo d = { .fd = -1, .b = HC_BUF_INIT };
	unsigned long pages = hc_opt.pages ? hc_opt.pages : 8;
	struct hc_stats after;
	char s[512];
	int ret;

	if (hc_dev_coherent(hc_opt.dev))
		return hc_fail(HC_EUSAGE,
			       "demo: device %d is device-coherent; the demo needs a device-private one (0 or 1)",
			       hc_opt.dev);
	snprintf(s, sizeof(s), "/dev/hmm_dmirror%d", hc_opt.dev);
	hc_say("hmmctl demo: a process's memory seen, moved and given back by an HMM device (%s)",
	       s);
	hc_out_str("device", NULL, s);
	hc_out_group(hc_opt.dev);

	d.stats = !hc_stats_dev(hc_opt.dev, &d.before);
	ret = hc_open(hc_opt.dev, &d.fd);
	if (ret)
		return ret;
	if (!d.stats)
		hc_say("(counters unavailable: is debugfs mounted on /sys/kernel/debug?)");
	step_title(s, sizeof(s), 0,
		   "open() binds the file to this process's address space; the device mirrors it from now on. The process maps a buffer:");
	hc_out_obj("step0", s);
	ret = hc_buf_alloc(&d.b, pages, false);
	d.snap = malloc(pages);
	d.data = malloc(pages * hc_page_size);
	if (!ret && (!d.snap || !d.data))
		ret = hc_fail_errno(HC_ESYS, ENOMEM, "malloc", NULL);
	if (!ret) {
		hc_say("%lu pages at %p", pages, d.b.addr);
		hc_out_num("pages", NULL, pages);
	}
	if (d.stats && !hc_stats_dev(hc_opt.dev, &after))
		hc_stats_delta("counters", &d.before, &after);
	hc_out_obj_end();
	if (!ret)
		ret = demo_steps(&d);
	hc_buf_free(&d.b);
	free(d.snap);
	free(d.data);
	close(d.fd);
	if (!ret)
		hc_say("%s",
		       "\nclose() ends the mirror; anything still on the device would be migrated back first.");
	return ret;
}
