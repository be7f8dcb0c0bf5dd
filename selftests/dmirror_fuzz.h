/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dmirror_fuzz: what its files share. dmirror_fuzz.c says what the fuzzer
 * does and holds the fuzzing process; fuzz_arena.c the arena and the
 * random fields of a call, fuzz_call.c one call and its checks and the
 * scenarios. dmirror_fuzz.c calls the other two, fuzz_call.c calls
 * fuzz_arena.c, and fuzz_arena.c calls neither.
 */
#ifndef _DMIRROR_FUZZ_H
#define _DMIRROR_FUZZ_H

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "dmirror_inject.h"
#include "dmirror_test_util.h"

#define OUT_PAGES	256UL
#define MAX_MSGS	30
/* EBUSY/ENOMEM calls shown without -v (they are counted, not failures) */
#define MAX_SOFT_MSGS	10
#define CHURN_FD	200
#define SENTINEL	0x5a5a5a5a5a5a5a5aULL
#define NDEV		4
#define CANARY_WORDS	8192

enum { EB_OK, EB_EFAULT, EB_EINVAL, EB_EPERM, EB_ENOENT, EB_EBUSY,
	EB_ENOMEM, EB_EINTR, EB_EOPNOTSUPP, EB_ENOTTY, EB_EBADF, EB_OTHER,
	EB_NR };

#define B(x)	(1U << (x))

/*
 * What the header allows each defined ioctl, range rules aside; @inj:
 * what the module's fault injection (-I) adds to a call that gets past
 * the argument checks (a forced allocation failure is -ENOMEM, a forced
 * migrate_vma_setup() failure of a migration -EINVAL).
 */
struct known {
	const char *name;
	unsigned long req;
	unsigned int doc;
	int out;	/* 1: copies npages pages to ptr, 2: npages bytes */
	bool in;	/* copies npages pages from ptr */
	unsigned int inj;
};

#define COMMON	(B(EB_ENOMEM))

/*
 * -EBUSY and -ENOMEM are allowed, but only rarely: of the calls of one
 * kind that got past the argument checks (they succeeded or failed with
 * one of these two), at most SOFT_MAX_PCT percent may fail so, beyond
 * SOFT_SLACK calls (a short run under emulation makes few calls of a
 * kind). A 7.3 run sees none; a module that fails every READ with -EBUSY
 * fails. Random calls succeed too rarely to require a number of
 * successes: one valid call of each kind, which must succeed, opens the
 * run instead (sane_calls()).
 */
#define SOFT_MAX_PCT	10
#define SOFT_SLACK	2
/* Device memory is freed asynchronously: a bound that only catches a stall. */
#define FREE_STALL_S	30

/* The ioctls the header defines: the entries of known[] (fuzz_arena.c). */
#define NKNOWN	10

/* Arena parts; each is followed by a one-page gap. */
enum { A_RW, A_RO, A_NONE, A_HOLE, A_SHARED, A_MEMFD_SH, A_MEMFD_PRIV,
	A_THP, A_HUGETLB, A_CHURN, A_NR };

struct part {
	char *start;
	unsigned long pages;
	bool present;
};

/* Results, in memory shared with the main process. */
struct res {
	unsigned long long calls;
	unsigned long long err[NKNOWN + 1][EB_NR];
	/* -ENOMEM of MIGRATE_TO_DEV for more pages than the device holds */
	unsigned long long over_cap;
	/* -I: calls past the argument checks failed with a known[].inj errno */
	unsigned long long inj_seen;
	unsigned long long failures;
	unsigned long long foreign, exited, churn_calls, churn_ops;
	unsigned int msgs, soft_msgs;
	unsigned int fail_cls[6];
};

enum { F_ERRNO, F_BLOCK, F_FOREIGN, F_EXITED, F_CHURN, F_CANARY };

/* End of the user address space (x86-64): set by probe_task_end(). */
extern unsigned long TASK_END;
extern const char * const eb_name[EB_NR];
extern const struct known known[NKNOWN];
/* Capacity of each device in pages (debugfs), read once at the start. */
extern long long dev_capacity[4];
extern struct res *res;
extern unsigned long long seed;
extern int verbose;
extern unsigned int inject;	/* -I: fault injection percentage */
extern struct part part[A_NR];
extern unsigned char *outbuf, *robuf, *blockpg, *ropg;
extern int fds[NDEV], ndevs;
extern int devid[NDEV];
extern int churn_stop;
extern unsigned long long rng;
extern unsigned long long canary[CANARY_WORDS];
extern bool in_child;

struct call {
	unsigned long req;
	int k;			/* index in known[] or -1 */
	int fd, dev;
	unsigned long long addr, ptr, npages;
	struct hmm_dmirror_cmd *blk;
	int blk_cls;		/* 0 ok, 1 read-only, 2 unreadable */
	long avail;		/* bytes usable at ptr, -1 unknown */
	char acls[32], pcls[32];
};

/* fuzz_arena.c */
unsigned long long rnd(void);
unsigned long rnd_below(unsigned long n);
void fill(void *p, unsigned long len, unsigned long long tag);
bool setup_arena(void);
void pick_req(struct call *c);
unsigned long long pick_addr(struct call *c, bool writes);
unsigned long long pick_npages(unsigned long long addr);
unsigned long long pick_ptr(struct call *c, bool in);
struct hmm_dmirror_cmd *pick_block(struct call *c,
				   struct hmm_dmirror_cmd *cmd);

/* fuzz_call.c */
unsigned int eb_of(int ret);
void fail(unsigned int cls, const char *fmt, ...);
void one_call(int fd, int dev, bool foreign, unsigned int extra,
	      unsigned int fcls);
void foreign_child(void);
void exited_owner(void);
void *churn_main(void *arg);

#endif /* _DMIRROR_FUZZ_H */
