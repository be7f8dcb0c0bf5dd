/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmmctl: drive an hmm_dmirror device from the command line.
 * Declarations shared by the hmmctl source files.
 */
#ifndef _HMMCTL_H
#define _HMMCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hmm_dmirror.h"

/* The Makefile defines __printf as the format attribute; else nothing. */
#ifndef __printf
#define __printf(a, b)
#endif

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Exit codes: what failed. Documented by "hmmctl --help". */
enum hc_exit {
	HC_OK		= 0,	/* the scenario ran as expected */
	HC_ESYS		= 1,	/* a system call outside the device failed */
	HC_EUSAGE	= 2,	/* bad command line */
	HC_EOPEN	= 3,	/* the device could not be opened */
	HC_EIOCTL	= 4,	/* an ioctl failed */
	HC_EUNSUPP	= 5,	/* ioctl not provided by this build or device */
	HC_EDATA	= 6,	/* data read back differs from what was written */
	HC_ESTATE	= 7,	/* pages not in the state the scenario expects */
};

/* Options, parsed once by main.c. */
struct hc_opts {
	int dev;		/* --dev */
	int other;		/* --other, -1: derived from dev */
	unsigned long pages;	/* --pages, 0: the command's default */
	const char *pattern;	/* --pattern */
	const char *layout;	/* --layout */
	__u64 value;		/* --value */
	bool thp;		/* --thp */
	bool untouched;		/* --untouched */
	bool unlocked;		/* --unlocked */
	bool no_fault;		/* --no-fault */
	bool all;		/* --all */
	bool json;		/* --json */
};

extern struct hc_opts hc_opt;
extern size_t hc_page_size;

/* Errors (device.c): record why the command failed and return the code. */
__printf(2, 3) int hc_fail(int code, const char *fmt, ...);
int hc_fail_errno(int code, int err, const char *what, const char *hint);
const char *hc_errname(int err);
const char *hc_failure(void);

/* Devices (device.c). */
int hc_open(int dev, int *fd);
int hc_cmd_raw(int fd, unsigned long req, struct hmm_dmirror_cmd *cmd);
int hc_explain(int err, const char *name, const char *hint);
int hc_ioctl(int fd, unsigned long req, const char *name,
	     __u64 addr, void *ptr, __u64 npages,
	     struct hmm_dmirror_cmd *out);
bool hc_dev_coherent(int dev);
int hc_default_other(int dev);

#define HC_PEER_GROUP_PARAM	"/sys/module/hmm_dmirror/parameters/peer_group"

int hc_peer_group(void);
int hc_peer_of(int dev);
void hc_out_group(int dev);

/* Buffers (buffer.c). */
struct hc_buf {
	unsigned char *addr;	/* first page */
	unsigned long pages;
	void *map;		/* what to munmap */
	size_t map_len;
	int keep_fd;		/* device file holding some of its pages */
};

#define HC_BUF_INIT	{ .keep_fd = -1 }

int hc_buf_alloc(struct hc_buf *b, unsigned long pages, bool thp);
void hc_buf_free(struct hc_buf *b);
int hc_pattern_check_name(const char *name);
void hc_pattern_fill(void *dst, unsigned long first_page, unsigned long pages);
long hc_pattern_diff(const void *data, unsigned long first_page,
		     unsigned long pages);
void hc_touch_read(const void *addr, unsigned long pages);

/* Snapshots (snapshot.c). */
char hc_snap_char(unsigned char byte);
int hc_snapshot(int fd, const struct hc_buf *b, unsigned char *bytes);
void hc_snap_print(const char *key, const unsigned char *bytes,
		   unsigned long n, bool legend);
unsigned long hc_snap_count(const unsigned char *bytes, unsigned long n,
			    unsigned char loc_mask, unsigned char loc);
int hc_layout_build(const char *spec, int fd, int other, bool thp,
		    struct hc_buf *b);

/* Counters (stats.c). */
#define HC_MAX_STATS	32

struct hc_stats {
	int n;
	char name[HC_MAX_STATS][40];
	long long val[HC_MAX_STATS];
};

int hc_stats_read(const char *path, struct hc_stats *s);
int hc_stats_dev(int dev, struct hc_stats *s);
int hc_stats_own_mm(struct hc_stats *s);
void hc_stats_print(const char *key, const struct hc_stats *s);
void hc_stats_delta(const char *key, const struct hc_stats *before,
		    const struct hc_stats *after);
long long hc_stat(const struct hc_stats *s, const char *name);
int hc_cmd_stats(void);

/* Output (output.c): text or one JSON object, same calls. */
void hc_out_begin(const char *command);
int hc_out_end(int code);
void hc_out_obj(const char *key, const char *title);
void hc_out_obj_end(void);
void hc_out_str(const char *key, const char *label, const char *val);
void hc_out_num(const char *key, const char *label, long long val);
void hc_out_bool(const char *key, const char *label, bool val);
void hc_out_raw(const char *key, const char *json, const char *text);
__printf(1, 2) void hc_say(const char *fmt, ...);
void hc_json_string(FILE *f, const char *s);

/* Scenarios (commands.c, demo.c). */
int hc_cmd_read(void);
int hc_cmd_write(void);
int hc_cmd_migrate(void);
int hc_cmd_migrate_back(void);
int hc_cmd_snapshot(void);
int hc_cmd_exclusive(void);
int hc_cmd_release(void);
int hc_cmd_flags(void);
int hc_cmd_demo(void);

#endif /* _HMMCTL_H */
