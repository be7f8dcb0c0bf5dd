/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dmirror_stress: what its files share. dmirror_stress.c says what the
 * test does; stress_model.c holds the model, stress_ops.c and
 * stress_own.c the operations, stress_peer.c the location checks of a
 * peer group (-P), stress_worker.c the driver loop of a worker process
 * and dmirror_stress.c the main process. Each file calls only those
 * listed before it.
 */
#ifndef _DMIRROR_STRESS_H
#define _DMIRROR_STRESS_H

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "dmirror_inject.h"
#include "dmirror_test_util.h"

#define WORDS		(PG / sizeof(unsigned long long))
#define STRIPE_PAGES	16UL
#define MAX_RANGE	512UL	/* pages of one random range */
#define MAX_THREADS	16
#define MAX_PROCS	8
#define MAX_FIFO	99	/* the highest SCHED_FIFO priority */
#define MAX_PAGES	(512UL * 1024)	/* pages per process (pattern field) */
#define MAX_MSGS	20	/* failure messages printed per process */
#define SHARED_PAGES	8UL	/* MAP_SHARED pages per thread */
#define NOALT		0xffffffffU
#define GRACE_S		60	/* a worker later than this is hung */
#define STUCK_MS	30000	/* an ioctl longer than this is stuck */
#define HOT_STRIPES	4	/* stripes per thread in the hot zone */
#define HOT_SECONDS	3	/* the hot zone moves this often */

/* Mapping state of a stripe (stripe.prot). */
enum { ST_RW, ST_RO, ST_NONE, ST_HOLE };

/* errno classes, as bits of a mask */
enum {
	EB_OK, EB_EFAULT, EB_EINVAL, EB_EPERM, EB_ENOENT, EB_EBUSY,
	EB_ENOMEM, EB_EINTR, EB_EOPNOTSUPP, EB_ENOTTY, EB_OTHER, EB_NR
};

#define B(x)	(1U << (x))

extern const char * const eb_name[EB_NR];

unsigned int eb_of(int ret);

/* The operations, in the order of the table below. */
enum {
	OP_READ, OP_READ_UNLOCKED, OP_WRITE, OP_TO_DEV, OP_TO_SYS,
	OP_SNAPSHOT, OP_EXCL, OP_CHECK_EXCL, OP_RELEASE,
	OP_NR_IOCTL,
	OP_CPU_PROBE = OP_NR_IOCTL, OP_CPU_WRITE, OP_CPU_VERIFY, OP_DEV_WRITE,
	OP_DONTNEED, OP_REMAP, OP_HOLE, OP_MPROTECT, OP_FORK, OP_REOPEN,
	OP_EXCL_REVOKE, OP_SHARED, OP_SWEEP, OP_FAIL_ALLOC, OP_PEER,
	OP_NR
};

/**
 * struct opdesc - one operation
 * @name:   its name (-o, statistics)
 * @req:    ioctl number (ioctl operations)
 * @doc:    errno classes uapi/hmm_dmirror.h allows for the ioctl on a
 *          valid command block and range of the caller's own mm
 * @stable: those possible when the range stayed mapped read-write
 * @weight: how often it is picked
 * @inj:    those the module's fault injection adds (-I), wherever the
 *          ioctl is judged: a forced allocation failure is -ENOMEM, a
 *          forced migrate_vma_setup() failure of a migration -EINVAL
 * @faults: its device fault (hmm_range_fault()) brings pages of other
 *          devices home, and so under -I also returns cfg.inj_fault
 */
struct opdesc {
	const char *name;
	unsigned long req;
	unsigned int doc;
	unsigned int stable;
	unsigned int weight;
	unsigned int inj;
	bool faults;
};

/*
 * Soft errnos: the header allows -EBUSY (the range kept being invalidated)
 * and -ENOMEM (the device could not make room), and this test provokes
 * both on purpose. -EINTR is not among them: the module returns it only
 * on a fatal signal, which no caller lives to see, so it is never accepted.
 */
#define SOFT	(B(EB_EBUSY) | B(EB_ENOMEM))

/*
 * A working module returns a soft errno for a small share of the calls of
 * one kind only: eviction makes room, and the retry loops outlast a few
 * invalidations. More than SOFT_MAX_PCT percent of the calls of a kind,
 * and more than SOFT_SLACK calls (a short run under emulation makes a few
 * dozen calls of some kinds), is a failure: a module that gives up on
 * every tenth call, or on all of them (which would otherwise pass: a
 * failed call skips the data check), fails.
 */
#define SOFT_MAX_PCT	10
#define SOFT_SLACK	4
/*
 * EXCLUSIVE is the exception: other threads touch the same pages with the
 * CPU all the time (the hot zone), and each touch can make a conversion
 * fail, which kernels before 6.15 report as -EBUSY (6.1 sees about a third
 * of the calls so). Half of them may; a module that fails them all still
 * fails here and on MIN_OK.
 */
#define SOFT_MAX_PCT_EXCL	50
/*
 * Each ioctl kind must succeed at least this often in each process, so
 * the data checks that follow a success did run. The test VM may emulate
 * its CPU (no KVM): a 20 s run then makes as few as 250 operations on
 * coherent devices, so a process that is short of a kind after its
 * duration issues that kind until it has them (missing_op()). RELEASE
 * runs at most every 700 ms per process and needs one success, none under
 * -I: a forced failure of an eviction leaves pages on the device, which
 * RELEASE reports as -EBUSY (min_ok()).
 */
#define MIN_OK		3
/*
 * Time a process may run beyond its duration to reach MIN_OK successes of
 * each kind; a kind still short then has failed too often. Less than
 * GRACE_S, after which the main process reports a worker as hung.
 */
#define EXTRA_S		30
/*
 * Once every process has exited, the device memory must be free again.
 * Freeing is asynchronous (SRCU callbacks, the kernel freeing the pages):
 * this is a bound that only catches a stall, not a timing goal.
 */
#define FREE_STALL_S	30

extern const struct opdesc opd[OP_NR];

/* What one worker process reports to the main process. */
struct wstats {
	unsigned long long ops[OP_NR];
	unsigned long long err[OP_NR_IOCTL][EB_NR];
	/* results accepted only because of -I: proof that it fired */
	unsigned long long injected[OP_NR_IOCTL];
	unsigned long long pages_checked;
	/*
	 * -P: location sequences run (op_peer()), pages seen to stay on the
	 * peer across a device access while nothing was evicted (the check
	 * was conclusive), and windows an eviction made inconclusive
	 */
	unsigned long long peer_seqs;
	unsigned long long peer_quiet;	/* looks no eviction overlapped */
	unsigned long long peer_stayed;
	unsigned long long peer_unsure;
	unsigned long long failures;
	unsigned int msgs;
	int done;
};

struct cfg {
	unsigned int duration;
	unsigned int threads;
	unsigned int procs;
	unsigned long long seed;
	int dev_a, dev_b, dev_x;
	unsigned long np;		/* private pages per process */
	unsigned long mib;		/* -m, 0 = from the capacity */
	unsigned long long opmask;
	unsigned int fifo;		/* -F: lowest SCHED_FIFO priority */
	unsigned int inject;		/* -I: fault injection percentage */
	/*
	 * -I: the errno class (as a bit) of a device fault whose page of
	 * another device cannot come home (probed, dmirror_stress.c)
	 */
	unsigned int inj_fault;
	/*
	 * -P: the module was loaded with peer_group=1: dev_a and dev_b are
	 * one peer group (stress_peer.c)
	 */
	bool peer;
	int verbose;
};

extern struct cfg cfg;

/* Page metadata. @gmax: highest generation ever written (any thread reads
 * it). @exp, @alt: owner only, the generation the page holds (0: zeros)
 * and another one it may hold after a failed WRITE (NOALT: none).
 */
struct pmeta {
	unsigned int gmax;
	unsigned int exp;
	unsigned int alt;
};

/* @seq is odd while the owner changes the stripe's mapping. */
struct stripe {
	unsigned int seq;
	unsigned int prot;
};

/* Per worker process (set before its threads start). */
extern char *priv;
extern char *shr;
extern struct pmeta *meta;
extern struct stripe *stripes;
extern unsigned long nstripes;
extern unsigned long npages_all;	/* private + shared */
extern int fd_a, fd_b, fd_x;
extern unsigned int proc_id;
extern struct wstats *ws;
extern struct wstats *ws_all;
extern unsigned int *write_token;	/* shared by all workers */
extern double t_end;
extern unsigned long long last_release_ms;
extern int stop;
/*
 * -P: every operation of a worker thread runs under the read side; a
 * location sequence (op_peer()) takes the write side, so that within its
 * process only it touches its pages (other processes can only evict).
 */
extern pthread_rwlock_t peer_lock;

struct thr {
	unsigned int id;
	unsigned long long rng;
	int fd_own;
	int dev_own;
	unsigned char *buf;	/* MAX_RANGE pages, guard after */
	unsigned char *wbuf;	/* MAX_RANGE pages, guard after */
	unsigned char snap[MAX_RANGE];
	unsigned long long next_fork_ms;
	pthread_t tid;
	/* for the watchdog: the ioctl in progress, since when */
	unsigned long long busy_ms;
	unsigned int busy_op;
	unsigned long busy_p0, busy_n;
	pid_t child;
	pid_t os_tid;
	int done;
};

extern __thread struct thr *cur;
extern __thread sigjmp_buf probe_jmp;
extern __thread int probing;
extern int in_child;
extern unsigned int child_failures;

/*
 * Stability of the range [p0, p0 + n): record the stripes' sequence
 * counts before an operation, compare after. The shared region never
 * changes.
 */
struct stab {
	unsigned long s0, ns;
	unsigned int seq[MAX_RANGE / STRIPE_PAGES + 2];
	bool rw;
};

/* stress_model.c */
unsigned long rnd_below(struct thr *t, unsigned long n);
void fail(const char *fmt, ...);
void count_op(unsigned int op);
unsigned int min_ok(unsigned int op);
unsigned int inj_set(unsigned int op);
char *page_addr(unsigned long p);
void fill_page(void *dst, unsigned long p, unsigned int gen);
bool check_own(const char *what, unsigned long p, const void *data);
bool check_pages(const char *what, unsigned long p0, unsigned long n,
		 const unsigned char *data);
void stripe_begin(unsigned long s);
void stripe_end(unsigned long s, unsigned int prot);
void stab_begin(struct stab *st, unsigned long p0, unsigned long n);
bool stab_end(struct stab *st);

/* stress_ops.c */
bool is_coherent(int dev);
int dev_of_fd(struct thr *t, int fd);
int pick_fd(struct thr *t);
int do_ioctl(unsigned int op, int fd, unsigned long p0,
	     unsigned long n, void *ptr, struct hmm_dmirror_cmd *cmd);
bool judge(unsigned int op, int ret, unsigned int allowed, int dev,
	   unsigned long p0, unsigned long n, const char *why);
bool snap_valid(unsigned char b, int dev);
unsigned long hot_stripe(void);
void op_read(struct thr *t, unsigned int op);
void op_to_dev(struct thr *t);
void op_to_sys(struct thr *t);
void op_snapshot(struct thr *t);
void op_excl(struct thr *t);
void op_check_excl(struct thr *t);
void op_release(struct thr *t);
void on_fault(int sig, siginfo_t *si, void *uc);
void op_cpu_probe(struct thr *t);

/* stress_own.c */
void own_range(struct thr *t, unsigned long *s, unsigned long *p0,
	       unsigned long *n);
void cpu_write(unsigned long p0, unsigned long n);
bool cpu_verify(const char *what, unsigned long p0, unsigned long n);
int dev_write_own(struct thr *t, int fd, unsigned long p0, unsigned long n,
		  unsigned int allowed);
void op_cpu_write(struct thr *t);
void op_cpu_verify(struct thr *t);
void op_dev_write(struct thr *t);
void op_dontneed(struct thr *t);
void op_remap(struct thr *t);
void op_hole(struct thr *t);
void op_mprotect(struct thr *t);
void op_excl_revoke(struct thr *t);
void op_reopen(struct thr *t);
void op_fail_alloc(struct thr *t);
void op_shared(struct thr *t);
void sweep(struct thr *t, int fd, unsigned long p0, unsigned long n);
void op_sweep(struct thr *t);
void op_fork(struct thr *t);

/* stress_peer.c */
void op_peer(struct thr *t);

/* stress_worker.c */
int set_fifo(unsigned int prio);
int worker(unsigned int id);

#endif /* _DMIRROR_STRESS_H */
