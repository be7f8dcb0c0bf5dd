// SPDX-License-Identifier: GPL-2.0
/*
 * hmmctl scenarios: each subcommand opens the device, maps its own
 * buffer, does the whole thing and checks the outcome.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hmmctl.h"

struct run {
	int fd;
	struct hc_buf b;
	unsigned char *snap;	/* one byte per page */
	unsigned char *data;	/* as large as the buffer */
	size_t len;
	struct hc_stats before;
	bool stats;
};

static __u64 addr_of(const struct run *r)
{
	return (uintptr_t)r->b.addr;
}

/* Open the device, map the buffer, take the counters; describe them. */
static int run_start(struct run *r, unsigned long def_pages)
{
	unsigned long pages = hc_opt.pages;
	char s[96];
	int ret;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->b.keep_fd = -1;
	if (!pages)
		pages = hc_opt.thp ? 512 : def_pages;
	ret = hc_open(hc_opt.dev, &r->fd);
	if (ret)
		return ret;
	r->stats = !hc_stats_dev(hc_opt.dev, &r->before);
	if (!r->stats)
		hc_fail(HC_OK, "%s", "");
	ret = hc_buf_alloc(&r->b, pages, hc_opt.thp);
	if (ret)
		return ret;
	r->len = pages * hc_page_size;
	r->snap = malloc(pages);
	r->data = malloc(r->len);
	if (!r->snap || !r->data)
		return hc_fail_errno(HC_ESYS, ENOMEM, "malloc", NULL);

	snprintf(s, sizeof(s), "/dev/hmm_dmirror%d", hc_opt.dev);
	hc_out_str("device", "device", s);
	hc_out_num("dev", NULL, hc_opt.dev);
	hc_out_group(hc_opt.dev);
	hc_out_num("pages", NULL, pages);
	hc_out_num("addr", NULL, (long long)addr_of(r));
	snprintf(s, sizeof(s), "%lu pages at %p%s", pages, r->b.addr,
		 hc_opt.thp ? ", 2 MiB aligned, huge pages advised" : "");
	hc_out_str("buffer", "buffer", s);
	hc_out_str("pattern", "pattern",
		   hc_opt.pattern ? hc_opt.pattern : "index");
	return HC_OK;
}

/* Counters moved since run_start(), then tear everything down. */
static int run_end(struct run *r, int code)
{
	struct hc_stats after;

	if (r->stats && !hc_stats_dev(hc_opt.dev, &after))
		hc_stats_delta("counters", &r->before, &after);
	hc_buf_free(&r->b);
	if (r->fd >= 0)
		close(r->fd);
	free(r->snap);
	free(r->data);
	return code;
}

static int show_snap(struct run *r, const char *key)
{
	int ret = hc_snapshot(r->fd, &r->b, r->snap);

	if (!ret)
		hc_snap_print(key, r->snap, r->b.pages, true);
	return ret;
}

/* Pages in this device's memory (private or coherent), from r->snap. */
static unsigned long on_device(const struct run *r)
{
	return hc_snap_count(r->snap, r->b.pages, 0xf0,
			     HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL) +
	       hc_snap_count(r->snap, r->b.pages, 0xf0,
			     HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL);
}

/* Check @data against the pattern (or zeros); "LABEL: yes" on success. */
static int check_data(const char *key, const char *label, const void *data,
		      unsigned long pages, bool zeros)
{
	const unsigned char *p = data;
	long off = -1;
	size_t i;

	if (zeros) {
		for (i = 0; i < pages * hc_page_size; i++)
			if (p[i]) {
				off = (long)i;
				break;
			}
	} else {
		off = hc_pattern_diff(data, 0, pages);
	}
	if (off >= 0)
		return hc_fail(HC_EDATA, "%s: no, first difference in page %lu at byte %lu",
			       label, off / hc_page_size, off % hc_page_size);
	hc_out_bool(key, label, true);
	return HC_OK;
}

static void show_cmd(const char *what, const struct hmm_dmirror_cmd *cmd)
{
	char label[64];

	snprintf(label, sizeof(label), "%s cpages", what);
	hc_out_num("cpages", label, (long long)cmd->cpages);
	snprintf(label, sizeof(label), "%s faults", what);
	hc_out_num("faults", label, (long long)cmd->faults);
}

int hc_cmd_read(void)
{
	const char *name = hc_opt.unlocked ? "READ_UNLOCKED" : "READ";
	unsigned long req = hc_opt.unlocked ? HMM_DMIRROR_READ_UNLOCKED :
					      HMM_DMIRROR_READ;
	struct hmm_dmirror_cmd cmd;
	struct run r;
	int ret;

	ret = run_start(&r, 16);
	if (!ret) {
		if (!hc_opt.untouched)
			hc_pattern_fill(r.b.addr, 0, r.b.pages);
		memset(r.data, 0xa5, r.len);
		ret = hc_ioctl(r.fd, req, name, addr_of(&r), r.data, r.b.pages,
			       &cmd);
	}
	if (!ret) {
		show_cmd(name, &cmd);
		ret = check_data("data_ok", "device read the data", r.data,
				 r.b.pages, hc_opt.untouched);
	}
	if (!ret)
		ret = show_snap(&r, "snapshot");
	return run_end(&r, ret);
}

int hc_cmd_write(void)
{
	struct hmm_dmirror_cmd cmd;
	struct run r;
	int ret;

	ret = run_start(&r, 16);
	if (!ret) {
		if (!hc_opt.untouched)
			memset(r.b.addr, 0, r.len);
		hc_pattern_fill(r.data, 0, r.b.pages);
		ret = hc_ioctl(r.fd, HMM_DMIRROR_WRITE, "WRITE", addr_of(&r),
			       r.data, r.b.pages, &cmd);
	}
	if (!ret) {
		show_cmd("WRITE", &cmd);
		ret = check_data("data_ok", "CPU sees the data", r.b.addr,
				 r.b.pages, false);
	}
	if (!ret)
		ret = show_snap(&r, "snapshot");
	return run_end(&r, ret);
}

/* Fill, migrate to the device, check its copy and where the pages are. */
static int migrate_in(struct run *r)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long n;
	int ret;

	hc_pattern_fill(r->b.addr, 0, r->b.pages);
	ret = hc_ioctl(r->fd, HMM_DMIRROR_MIGRATE_TO_DEV, "MIGRATE_TO_DEV",
		       addr_of(r), r->data, r->b.pages, &cmd);
	if (ret)
		return ret;
	show_cmd("MIGRATE_TO_DEV", &cmd);
	ret = check_data("device_data_ok", "device copy matches", r->data,
			 r->b.pages, false);
	if (!ret)
		ret = show_snap(r, "after_migrate");
	if (ret)
		return ret;
	n = on_device(r);
	hc_out_num("on_device", "pages on the device", n);
	if (n != r->b.pages)
		return hc_fail(HC_ESTATE,
			       "MIGRATE_TO_DEV: only %lu of %lu pages are in this device's memory",
			       n, r->b.pages);
	return HC_OK;
}

/* After migrate_in(): the CPU reads everything back (faulting if needed). */
static int cpu_access(struct run *r)
{
	int ret;

	hc_say("the CPU reads the buffer (device-private pages fault back)");
	ret = check_data("cpu_data_ok", "CPU reads the data", r->b.addr,
			 r->b.pages, false);
	if (!ret)
		ret = show_snap(r, "after_cpu_access");
	return ret;
}

/* The device holds nothing of the buffer any more; the CPU sees the data. */
static int check_back(struct run *r, const char *what, const char *key)
{
	unsigned long n;
	int ret;

	ret = show_snap(r, key);
	if (ret)
		return ret;
	n = on_device(r);
	hc_out_num("left_on_device", "pages left on the device", n);
	if (n)
		return hc_fail(HC_ESTATE, "%s: %lu pages still in this device's memory",
			       what, n);
	return check_data("cpu_data_ok", "CPU reads the data", r->b.addr,
			  r->b.pages, false);
}

int hc_cmd_migrate(void)
{
	struct run r;
	int ret;

	ret = run_start(&r, 16);
	if (!ret)
		ret = migrate_in(&r);
	if (!ret && !hc_opt.no_fault)
		ret = cpu_access(&r);
	return run_end(&r, ret);
}

int hc_cmd_migrate_back(void)
{
	struct hmm_dmirror_cmd cmd;
	struct run r;
	int ret;

	ret = run_start(&r, 16);
	if (!ret)
		ret = migrate_in(&r);
	if (!ret) {
		hc_out_obj("migrate_back", NULL);
		ret = hc_ioctl(r.fd, HMM_DMIRROR_MIGRATE_TO_SYS,
			       "MIGRATE_TO_SYS", addr_of(&r), NULL, r.b.pages,
			       &cmd);
		if (!ret) {
			show_cmd("MIGRATE_TO_SYS", &cmd);
			ret = check_back(&r, "MIGRATE_TO_SYS",
					 "after_migrate_back");
		}
		hc_out_obj_end();
	}
	return run_end(&r, ret);
}

int hc_cmd_release(void)
{
	struct run r;
	int ret;

	ret = run_start(&r, 16);
	if (!ret)
		ret = migrate_in(&r);
	if (!ret) {
		hc_out_obj("release", NULL);
		ret = hc_ioctl(r.fd, HMM_DMIRROR_RELEASE, "RELEASE",
			       addr_of(&r), NULL, r.b.pages, NULL);
		if (!ret) {
			hc_say("RELEASE: the device's memory was emptied");
			ret = check_back(&r, "RELEASE", "after_release");
		}
		hc_out_obj_end();
	}
	return run_end(&r, ret);
}

/* CHECK_EXCLUSIVE must give @want (0 or -EPERM). */
static int check_exclusive(struct run *r, int want, const char *key,
			   const char *label)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = addr_of(r),
		.npages = r->b.pages,
	};
	int got = hc_cmd_raw(r->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, &cmd);

	if (got != want && (got == 0 || got == -EPERM))
		return hc_fail(HC_ESTATE, "CHECK_EXCLUSIVE: %s when %s was expected",
			       got ? "EPERM (atomic access still held)" : "0 (no atomic access)",
			       want ? "EPERM" : "0");
	if (got != want)
		return hc_explain(-got, "CHECK_EXCLUSIVE", NULL);
	hc_out_bool(key, label, true);
	return HC_OK;
}

int hc_cmd_exclusive(void)
{
	struct hmm_dmirror_cmd cmd;
	struct run r;
	int ret;

	ret = run_start(&r, 16);
	if (!ret) {
		hc_pattern_fill(r.b.addr, 0, r.b.pages);
		ret = hc_ioctl(r.fd, HMM_DMIRROR_EXCLUSIVE, "EXCLUSIVE",
			       addr_of(&r), r.data, r.b.pages, &cmd);
	}
	if (!ret) {
		show_cmd("EXCLUSIVE", &cmd);
		ret = check_data("device_data_ok", "device copy matches",
				 r.data, r.b.pages, false);
	}
	if (!ret)
		ret = check_exclusive(&r, -EPERM, "atomic_held",
				      "device holds atomic access");
	if (!ret)
		ret = show_snap(&r, "while_exclusive");
	if (!ret) {
		hc_say("the CPU writes every page (revokes the atomic access)");
		hc_pattern_fill(r.b.addr, 0, r.b.pages);
		ret = check_exclusive(&r, 0, "atomic_revoked",
				      "CPU access revoked it");
	}
	if (!ret)
		ret = check_data("cpu_data_ok", "CPU reads the data", r.b.addr,
				 r.b.pages, false);
	return run_end(&r, ret);
}

int hc_cmd_flags(void)
{
	struct hmm_dmirror_cmd cmd = { .npages = hc_opt.value };
	char label[64];
	struct run r;
	int ret, err;

	ret = run_start(&r, 16);
	if (!ret) {
		err = -hc_cmd_raw(r.fd, HMM_DMIRROR_FLAGS, &cmd);
		if (err)
			ret = hc_explain(err, "FLAGS", err != EINVAL ? NULL :
					 "the word has bits this module does not define");
	}
	if (!ret) {
		snprintf(label, sizeof(label), "%#llx%s",
			 (unsigned long long)hc_opt.value,
			 hc_opt.value == HMM_DMIRROR_FLAG_FAIL_ALLOC ?
			 " (FAIL_ALLOC)" : "");
		hc_out_num("flags", NULL, (long long)hc_opt.value);
		hc_out_str("flags_set", "flag word set", label);
		ret = migrate_in(&r);
	}
	return run_end(&r, ret);
}

/**
 * hc_cmd_snapshot() - lay out a buffer per --layout, then snapshot it
 */
int hc_cmd_snapshot(void)
{
	struct hc_buf b = HC_BUF_INIT;
	unsigned char *bytes = NULL;
	char spec[32], s[96];
	const char *layout = hc_opt.layout;
	int fd = -1, ret, other;

	other = hc_opt.other >= 0 ? hc_opt.other :
				    hc_default_other(hc_opt.dev);
	if (!layout) {
		snprintf(spec, sizeof(spec), "%luS",
			 hc_opt.pages ? hc_opt.pages :
			 hc_opt.thp ? 512UL : 16UL);
		layout = spec;
	}
	ret = hc_open(hc_opt.dev, &fd);
	if (!ret)
		ret = hc_layout_build(layout, fd, other, hc_opt.thp, &b);
	if (!ret) {
		bytes = malloc(b.pages);
		if (!bytes)
			ret = hc_fail_errno(HC_ESYS, ENOMEM, "malloc", NULL);
	}
	if (!ret) {
		snprintf(s, sizeof(s), "/dev/hmm_dmirror%d", hc_opt.dev);
		hc_out_str("device", "device", s);
		hc_out_num("dev", NULL, hc_opt.dev);
		hc_out_group(hc_opt.dev);
		hc_out_str("layout", "layout", layout);
		ret = hc_snapshot(fd, &b, bytes);
	}
	if (!ret)
		hc_snap_print("snapshot", bytes, b.pages, true);
	free(bytes);
	hc_buf_free(&b);
	if (fd >= 0)
		close(fd);
	return ret;
}
