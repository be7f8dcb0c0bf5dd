// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_stress: the driver loop: the threads of a worker process, their
 * watchdog, and the worker process itself.
 */
#include "dmirror_stress.h"

/* ---- threads and workers ------------------------------------------------------------- */

/* Operation @op is on: in -o's list, and the location sequence with -P. */
static bool op_on(unsigned int op)
{
	return (cfg.opmask & (1ULL << op)) && (op != OP_PEER || cfg.peer);
}

static unsigned int pick_op(struct thr *t)
{
	unsigned int total = 0, op, r;

	for (op = 0; op < OP_NR; op++)
		if (op_on(op))
			total += opd[op].weight;
	r = rnd_below(t, total);
	for (op = 0; op < OP_NR; op++) {
		if (!op_on(op))
			continue;
		if (r < opd[op].weight)
			return op;
		r -= opd[op].weight;
	}
	return OP_READ;
}

/*
 * After the run's duration: an ioctl kind this process has not yet had
 * MIN_OK successes of (RELEASE: one), as the operation that issues it, or
 * OP_NR when none is missing. With -P, also a location sequence until one
 * saw pages stay on the peer. With all operations on only: so that a slow
 * machine still checks every kind, without a goal on speed.
 */
static unsigned int missing_op(void)
{
	unsigned long long ok;
	unsigned int op;

	if (cfg.opmask != ~0ULL)
		return OP_NR;
	for (op = 0; op < OP_NR_IOCTL; op++) {
		ok = __atomic_load_n(&ws->err[op][EB_OK], __ATOMIC_RELAXED);
		if (op == OP_CHECK_EXCL)
			ok += __atomic_load_n(&ws->err[op][EB_EPERM],
					      __ATOMIC_RELAXED);
		if (ok < min_ok(op))
			return op == OP_WRITE ? OP_DEV_WRITE : op;
	}
	if (cfg.peer && !__atomic_load_n(&ws->peer_stayed, __ATOMIC_RELAXED))
		return OP_PEER;
	return OP_NR;
}

/*
 * -F: thread @t runs SCHED_FIFO at the lowest priority plus its number,
 * each one above the last, and a process's watchdog (and the main
 * process) above them all. On one CPU a runnable thread then never runs
 * while a higher one does, however long that one retries in the kernel:
 * a retry loop that waits for a lower thread without sleeping is a stall,
 * which the watchdog reports.
 */
int set_fifo(unsigned int prio)
{
	struct sched_param sp = { .sched_priority = (int)prio };

	return pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
}

/* -P: the read side of peer_lock for @op, the write side for OP_PEER. */
static void peer_lock_op(unsigned int op)
{
	if (!cfg.peer)
		return;
	if (op == OP_PEER)
		pthread_rwlock_wrlock(&peer_lock);
	else
		pthread_rwlock_rdlock(&peer_lock);
}

static void peer_unlock(void)
{
	if (cfg.peer)
		pthread_rwlock_unlock(&peer_lock);
}

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	unsigned long p, part;
	int err;

	cur = t;
	t->os_tid = gettid();
	/*
	 * -I: this thread's calls (and those of the children it forks) may
	 * fail by injection; not the process's first thread, which watches
	 * and makes the final check.
	 */
	if (cfg.inject) {
		err = dmirror_inject_me();
		if (err)
			fail("make-it-fail: %s", strerror(-err));
	}
	if (cfg.fifo) {
		err = set_fifo(cfg.fifo + t->id);
		if (err)
			fail("SCHED_FIFO priority %u: %s", cfg.fifo + t->id,
			     strerror(err));
	}
	/* Thread 0 fills the device first, so that it evicts early. */
	/* -P: in parts, so that a location sequence waits little. */
	part = cfg.peer ? 8 * MAX_RANGE : cfg.np;
	for (p = 0; !t->id && (cfg.opmask & (1ULL << OP_SWEEP)) && p < cfg.np;
	     p += part) {
		peer_lock_op(OP_SWEEP);
		sweep(t, fd_a, p, cfg.np - p < part ? cfg.np - p : part);
		peer_unlock();
	}
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned int op;

		if (now_s() < t_end)
			op = pick_op(t);
		else if (now_s() < t_end + EXTRA_S)
			op = missing_op();
		else
			break;
		if (op == OP_NR)
			break;
		peer_lock_op(op);
		switch (op) {
		case OP_READ:
			op_read(t, OP_READ);
			break;
		case OP_READ_UNLOCKED:
			op_read(t, OP_READ_UNLOCKED);
			break;
		case OP_TO_DEV:
			op_to_dev(t);
			break;
		case OP_TO_SYS:
			op_to_sys(t);
			break;
		case OP_SNAPSHOT:
			op_snapshot(t);
			break;
		case OP_EXCL:
			op_excl(t);
			break;
		case OP_CHECK_EXCL:
			op_check_excl(t);
			break;
		case OP_RELEASE:
			op_release(t);
			break;
		case OP_CPU_PROBE:
			op_cpu_probe(t);
			break;
		case OP_CPU_WRITE:
			op_cpu_write(t);
			break;
		case OP_CPU_VERIFY:
			op_cpu_verify(t);
			break;
		case OP_DEV_WRITE:
			op_dev_write(t);
			break;
		case OP_DONTNEED:
			op_dontneed(t);
			break;
		case OP_REMAP:
			op_remap(t);
			break;
		case OP_HOLE:
			op_hole(t);
			break;
		case OP_MPROTECT:
			op_mprotect(t);
			break;
		case OP_FORK:
			op_fork(t);
			break;
		case OP_REOPEN:
			op_reopen(t);
			break;
		case OP_EXCL_REVOKE:
			op_excl_revoke(t);
			break;
		case OP_SHARED:
			op_shared(t);
			break;
		case OP_SWEEP:
			op_sweep(t);
			break;
		case OP_FAIL_ALLOC:
			op_fail_alloc(t);
			break;
		case OP_PEER:
			op_peer(t);
			break;
		}
		peer_unlock();
	}
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Print what a stuck task is doing: state, CPU time, syscall, wchan. */
/* Where in the kernel @pid is, on kernels with CONFIG_STACKTRACE. */
static void show_stack(pid_t pid)
{
	char path[64], buf[2048], *line, *save;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stack", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		say("#   %s: %s", path, line);
}

static void show_task(pid_t pid)
{
	static const char * const what[] = { "stat", "syscall", "wchan" };
	char path[64], buf[256];
	unsigned int i;
	ssize_t n;
	int fd;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, what[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		buf[strcspn(buf, "\n")] = 0;
		say("#   %s: %s", path, buf);
	}
	show_stack(pid);
}

/*
 * Wait for the threads; an ioctl that does not return within STUCK_MS is
 * reported, and the process exits, which ends it (fatal signal).
 */
static void watch_threads(struct thr *thr)
{
	unsigned int t, done;

	do {
		usleep(200000);
		done = 0;
		for (t = 0; t < cfg.threads; t++) {
			unsigned long long b = __atomic_load_n(&thr[t].busy_ms,
							       __ATOMIC_ACQUIRE);

			done += __atomic_load_n(&thr[t].done,
						__ATOMIC_ACQUIRE);
			if (!b || now_ms() - b < STUCK_MS)
				continue;
			cur = &thr[t];
			fail("%s on pages %lu+%lu (%p) still running after %d s: stuck",
			     thr[t].busy_op == OP_FORK ? "fork child" :
			     opd[thr[t].busy_op].name, thr[t].busy_p0,
			     thr[t].busy_n, page_addr(thr[t].busy_p0),
			     STUCK_MS / 1000);
			for (done = 0; done < 2; done++) {
				show_task(thr[t].child > 0 ? thr[t].child :
					  thr[t].os_tid);
				sleep(1);
			}
			if (thr[t].child > 0)
				kill(thr[t].child, SIGKILL);
			_exit(4);
		}
	} while (done < cfg.threads);
}

/* @n pages of private anonymous memory followed by a PROT_NONE guard. */
static unsigned char *guarded(unsigned long n)
{
	unsigned char *p = mmap(NULL, (n + 1) * PG, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	mprotect(p + n * PG, PG, PROT_NONE);
	return p;
}

/* The private region, 2 MiB aligned: THP allowed in its first half. */
static char *map_region(unsigned long n)
{
	unsigned long len = n * PG, align = 2UL << 20;
	char *p = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + align - 1) & ~(align - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + len, p + align - a);
	madvise(a, len / 2, MADV_HUGEPAGE);
	madvise(a + len / 2, len - len / 2, MADV_NOHUGEPAGE);
	return a;
}

static void final_check(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p, n, i;
	int ret;

	/* Every page, through the device, then by CPU (threads are gone). */
	for (p = 0; p < npages_all; p += n) {
		n = npages_all - p < MAX_RANGE ? npages_all - p : MAX_RANGE;
		if (p < cfg.np && p + n > cfg.np)
			n = cfg.np - p;
		ret = do_ioctl(OP_READ, fd_a, p, n, t->buf, &cmd);
		if (!judge(OP_READ, ret, opd[OP_READ].stable, cfg.dev_a, p, n,
			   "final, quiet"))
			continue;
		if (ret)
			continue;
		for (i = 0; i < n; i++)
			check_own("final read", p + i, t->buf + i * PG);
	}
	for (p = 0; p < npages_all; p++)
		check_own("final cpu verify", p, page_addr(p));
	__atomic_add_fetch(&ws->pages_checked, 2 * npages_all,
			   __ATOMIC_RELAXED);
}

static int open_or_fail(int dev)
{
	int fd;

	if (dev < 0)
		return -1;
	fd = dmirror_open_dev(dev);
	if (fd < 0)
		fail("open of /dev/hmm_dmirror%d: %s", dev, strerror(errno));
	return fd;
}

int worker(unsigned int id)
{
	struct thr thr[MAX_THREADS];
	struct sigaction sa = { 0 };
	unsigned long p, i;
	unsigned int t;

	proc_id = id;
	ws = &ws_all[id];
	if (cfg.peer) {
		pthread_rwlockattr_t attr;

		/* A sequence must not wait for the readers forever. */
		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setkind_np(&attr,
					      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&peer_lock, &attr);
		pthread_rwlockattr_destroy(&attr);
	}
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	nstripes = cfg.np / STRIPE_PAGES;
	npages_all = cfg.np + cfg.threads * SHARED_PAGES;
	priv = map_region(cfg.np);
	shr = mmap(NULL, cfg.threads * SHARED_PAGES * PG,
		   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	meta = mmap(NULL, npages_all * sizeof(*meta), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	stripes = mmap(NULL, nstripes * sizeof(*stripes),
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (!priv || shr == MAP_FAILED || meta == MAP_FAILED ||
	    stripes == MAP_FAILED) {
		fail("cannot map %lu pages", npages_all);
		return 1;
	}
	/* Generation 1 everywhere. */
	for (p = 0; p < npages_all; p++) {
		fill_page(page_addr(p), p, 1);
		meta[p].gmax = 1;
		meta[p].exp = 1;
		meta[p].alt = NOALT;
	}

	fd_a = open_or_fail(cfg.dev_a);
	fd_b = open_or_fail(cfg.dev_b);
	fd_x = cfg.dev_x >= 0 ? dmirror_open_dev(cfg.dev_x) : -1;
	if (fd_a < 0 || fd_b < 0)
		return 1;

	memset(thr, 0, sizeof(thr));
	for (t = 0; t < cfg.threads; t++) {
		thr[t].id = t;
		thr[t].rng = (cfg.seed ^ (0x9e3779b97f4a7c15ULL * (id * MAX_THREADS + t + 1))) | 1;
		thr[t].dev_own = cfg.dev_a;
		thr[t].fd_own = open_or_fail(cfg.dev_a);
		thr[t].buf = guarded(MAX_RANGE);
		thr[t].wbuf = guarded(MAX_RANGE);
		if (thr[t].fd_own < 0 || !thr[t].buf || !thr[t].wbuf) {
			fail("thread %u setup", t);
			return 1;
		}
	}
	cur = &thr[0];
	for (t = 0; t < cfg.threads; t++)
		if (pthread_create(&thr[t].tid, NULL, thread_main, &thr[t])) {
			fail("pthread_create");
			__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
			cfg.threads = t;
			break;
		}
	watch_threads(thr);
	for (t = 0; t < cfg.threads; t++)
		pthread_join(thr[t].tid, NULL);

	cur = &thr[0];
	final_check(&thr[0]);
	for (t = 0; t < cfg.threads; t++)
		close(thr[t].fd_own);
	close(fd_a);
	close(fd_b);
	if (fd_x >= 0)
		close(fd_x);
	for (i = 0; i < nstripes; i++)
		if (stripes[i].prot != ST_RW)
			fail("stripe %lu left in state %u", i, stripes[i].prot);
	return ws->failures ? 1 : 0;
}
