// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_stress: the ioctls and their errno contract, random ranges, and
 * the operations any thread does on any range.
 */
#include "dmirror_stress.h"

/* ---- ioctls ---------------------------------------------------------------- */

bool is_coherent(int dev)
{
	return dev >= 2;
}

int dev_of_fd(struct thr *t, int fd)
{
	if (fd == t->fd_own)
		return t->dev_own;
	if (fd == fd_a)
		return cfg.dev_a;
	if (fd == fd_b)
		return cfg.dev_b;
	return cfg.dev_x;
}

/* A random descriptor: our own, the shared ones, now and then dev_x's. */
int pick_fd(struct thr *t)
{
	unsigned long r = rnd_below(t, 10);

	if (r < 3)
		return t->fd_own;
	if (r < 6)
		return fd_a;
	if (r < 9 || fd_x < 0)
		return fd_b;
	return fd_x;
}

int do_ioctl(unsigned int op, int fd, unsigned long p0,
	     unsigned long n, void *ptr, struct hmm_dmirror_cmd *cmd)
{
	int ret;

	memset(cmd, 0, sizeof(*cmd));
	cmd->addr = (uintptr_t)page_addr(p0);
	cmd->ptr = (uintptr_t)ptr;
	cmd->npages = n;
	cur->busy_op = op;
	cur->busy_p0 = p0;
	cur->busy_n = n;
	__atomic_store_n(&cur->busy_ms, now_ms(), __ATOMIC_RELEASE);
	/* No retry on EINTR: no signal this process survives can cause it. */
	ret = ioctl(fd, opd[op].req, cmd) ? -errno : 0;
	__atomic_store_n(&cur->busy_ms, 0, __ATOMIC_RELEASE);
	count_op(op);
	__atomic_add_fetch(&ws->err[op][eb_of(ret)], 1, __ATOMIC_RELAXED);
	return ret;
}

static const char *ename(int ret)
{
	return eb_name[eb_of(ret)];
}

/*
 * Is @ret one of @allowed, or (-I) one the fault injection adds to every
 * call of @op? Report it if not; count it if only the injection allows it.
 */
bool judge(unsigned int op, int ret, unsigned int allowed, int dev,
	   unsigned long p0, unsigned long n, const char *why)
{
	char set[160] = "";
	unsigned int e;

	if (allowed & B(eb_of(ret)))
		return true;
	if (cfg.inject && (inj_set(op) & B(eb_of(ret)))) {
		__atomic_add_fetch(&ws->injected[op], 1, __ATOMIC_RELAXED);
		return true;
	}
	if (cfg.inject)
		allowed |= inj_set(op);
	for (e = 0; e < EB_NR; e++)
		if (allowed & B(e))
			snprintf(set + strlen(set), sizeof(set) - strlen(set),
				 "%s%s", set[0] ? " " : "", eb_name[e]);
	fail("%s via dev%d on pages %lu+%lu (%p, %s): returned %d (%s), allowed {%s}",
	     opd[op].name, dev, p0, n, page_addr(p0), why, ret, ename(ret),
	     set);
	return false;
}

/*
 * Bytes a snapshot through device @dev may contain at all. A device-private
 * device never sees coherent memory as its own, nor a coherent one private
 * memory (another device's private pages are NONE to it). A peer's pages
 * are _PEER exactly in a peer group (-P): there the two devices of the
 * kind under test are one group, so a coherent device sees the other
 * coherent device's pages as _PEER, never as _REMOTE; a private device
 * sees the coherent ones as _REMOTE either way.
 */
bool snap_valid(unsigned char b, int dev)
{
	unsigned char loc = b & 0xf0, acc = b & 3, size = b & 0xc;
	bool coh = is_coherent(dev);

	if (b == HMM_DMIRROR_PROT_ERROR || b == HMM_DMIRROR_PROT_NONE)
		return true;
	if (acc != HMM_DMIRROR_PROT_READ && acc != HMM_DMIRROR_PROT_WRITE)
		return false;
	if (size == (HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_PUD))
		return false;
	switch (loc) {
	case HMM_DMIRROR_PROT_NONE:
		return true;
	case HMM_DMIRROR_PROT_ZERO:
		return acc == HMM_DMIRROR_PROT_READ && !size;
	case HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL:
		return !coh;
	case HMM_DMIRROR_PROT_DEV_PRIVATE_PEER:
		return !coh && cfg.peer;
	case HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL:
		return coh;
	case HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE:
		return !coh || !cfg.peer;
	case HMM_DMIRROR_PROT_DEV_COHERENT_PEER:
		return coh && cfg.peer;
	}
	return false;
}

/* ---- a random range ---------------------------------------------------------- */

/*
 * The hot zone: HOT_STRIPES stripes of each thread, moving every
 * HOT_SECONDS, where most operations go so that threads collide.
 */
unsigned long hot_stripe(void)
{
	unsigned long n = HOT_STRIPES * cfg.threads, epoch, s;

	if (nstripes <= n)
		return 0;
	epoch = (unsigned long)(now_s() / HOT_SECONDS);
	s = (epoch * 2654435761UL) % (nstripes - n);
	return s - s % cfg.threads;
}

static void rand_range(struct thr *t, unsigned long *p0, unsigned long *n)
{
	unsigned long base = 0, total = cfg.np, len, r = rnd_below(t, 100);

	if (r < 50)
		len = 1 + rnd_below(t, 16);
	else if (r < 80)
		len = 17 + rnd_below(t, 112);
	else
		len = 129 + rnd_below(t, MAX_RANGE - 128);
	if (rnd_below(t, 12) == 0) {
		base = cfg.np;
		total = cfg.threads * SHARED_PAGES;
	}
	*p0 = base + rnd_below(t, total);
	if (!base && rnd_below(t, 4))
		*p0 = hot_stripe() * STRIPE_PAGES +
		      rnd_below(t, HOT_STRIPES * cfg.threads * STRIPE_PAGES);
	if (rnd_below(t, 3) == 0 && !base)
		*p0 -= *p0 % STRIPE_PAGES;
	if (len > base + total - *p0)
		len = base + total - *p0;
	*n = len;
}

/* ---- operations on any range ---------------------------------------------------- */

void op_read(struct thr *t, unsigned int op)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p0, n;
	struct stab st;
	int fd, ret;
	bool stable;

	rand_range(t, &p0, &n);
	fd = pick_fd(t);
	stab_begin(&st, p0, n);
	ret = do_ioctl(op, fd, p0, n, t->buf, &cmd);
	stable = stab_end(&st);
	if (!judge(op, ret, stable ? opd[op].stable : opd[op].doc,
		   dev_of_fd(t, fd), p0, n, stable ? "stable" : "changing"))
		return;
	if (ret)
		return;
	if (cmd.cpages != n)
		fail("%s: cpages %llu for %lu pages", opd[op].name,
		     (unsigned long long)cmd.cpages, n);
	check_pages(opd[op].name, p0, n, t->buf);
}

void op_to_dev(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p0, n;
	struct stab st;
	int fd, ret;
	bool stable;

	rand_range(t, &p0, &n);
	fd = pick_fd(t);
	stab_begin(&st, p0, n);
	ret = do_ioctl(OP_TO_DEV, fd, p0, n, t->buf, &cmd);
	stable = stab_end(&st);
	if (!judge(OP_TO_DEV, ret,
		   stable ? opd[OP_TO_DEV].stable : opd[OP_TO_DEV].doc,
		   dev_of_fd(t, fd), p0, n, stable ? "stable" : "changing"))
		return;
	if (ret)
		return;
	if (cmd.cpages != n)
		fail("migrate_to_dev: cpages %llu for %lu pages",
		     (unsigned long long)cmd.cpages, n);
	check_pages("migrate_to_dev read-back", p0, n, t->buf);
}

void op_to_sys(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p0, n;
	struct stab st;
	int fd, ret;
	bool stable;

	rand_range(t, &p0, &n);
	fd = pick_fd(t);
	stab_begin(&st, p0, n);
	ret = do_ioctl(OP_TO_SYS, fd, p0, n, NULL, &cmd);
	stable = stab_end(&st);
	if (!judge(OP_TO_SYS, ret,
		   stable ? opd[OP_TO_SYS].stable : opd[OP_TO_SYS].doc,
		   dev_of_fd(t, fd), p0, n, stable ? "stable" : "changing"))
		return;
	if (!ret && cmd.cpages > n)
		fail("migrate_to_sys: cpages %llu for %lu pages",
		     (unsigned long long)cmd.cpages, n);
}

void op_snapshot(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p0, n, i;
	struct stab st;
	int fd, ret;
	bool stable;

	rand_range(t, &p0, &n);
	fd = pick_fd(t);
	stab_begin(&st, p0, n);
	ret = do_ioctl(OP_SNAPSHOT, fd, p0, n, t->snap, &cmd);
	stable = stab_end(&st);
	if (!judge(OP_SNAPSHOT, ret,
		   stable ? opd[OP_SNAPSHOT].stable : opd[OP_SNAPSHOT].doc,
		   dev_of_fd(t, fd), p0, n, stable ? "stable" : "changing"))
		return;
	if (ret)
		return;
	if (cmd.cpages != n)
		fail("snapshot: cpages %llu for %lu pages",
		     (unsigned long long)cmd.cpages, n);
	for (i = 0; i < n; i++) {
		unsigned char b = t->snap[i];

		/*
		 * 0xff is possible on a mapped range too: another device's
		 * private THP (a core quirk of Linux 7.3).
		 */
		if (!snap_valid(b, dev_of_fd(t, fd))) {
			fail("snapshot via dev%d: page %lu (%p) byte %#x is no encoding here",
			     dev_of_fd(t, fd), p0 + i, page_addr(p0 + i), b);
			return;
		}
	}
}

void op_excl(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p0, n;
	struct stab st;
	int fd, ret;
	bool stable;

	rand_range(t, &p0, &n);
	fd = pick_fd(t);
	stab_begin(&st, p0, n);
	ret = do_ioctl(OP_EXCL, fd, p0, n, t->buf, &cmd);
	stable = stab_end(&st);
	if (p0 >= cfg.np) {
		/* The shared region: never exclusive. */
		judge(OP_EXCL, ret, B(EB_EOPNOTSUPP), dev_of_fd(t, fd), p0,
		      n, "MAP_SHARED");
		return;
	}
	if (!judge(OP_EXCL, ret,
		   stable ? opd[OP_EXCL].stable : opd[OP_EXCL].doc,
		   dev_of_fd(t, fd), p0, n, stable ? "stable" : "changing"))
		return;
	if (ret)
		return;
	if (cmd.cpages != n)
		fail("exclusive: cpages %llu for %lu pages",
		     (unsigned long long)cmd.cpages, n);
	check_pages("exclusive read-back", p0, n, t->buf);
}

void op_check_excl(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p0, n;
	int fd, ret;

	rand_range(t, &p0, &n);
	fd = pick_fd(t);
	ret = do_ioctl(OP_CHECK_EXCL, fd, p0, n, NULL, &cmd);
	judge(OP_CHECK_EXCL, ret, opd[OP_CHECK_EXCL].doc, dev_of_fd(t, fd),
	      p0, n, "any");
}

void op_release(struct thr *t)
{
	unsigned long long last, now = now_ms();
	struct hmm_dmirror_cmd cmd;
	int fd, ret;

	/* At most one RELEASE per process every 700 ms. */
	last = __atomic_load_n(&last_release_ms, __ATOMIC_RELAXED);
	if (now - last < 700 ||
	    !__atomic_compare_exchange_n(&last_release_ms, &last, now, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	fd = pick_fd(t);
	ret = do_ioctl(OP_RELEASE, fd, 0, 1, NULL, &cmd);
	judge(OP_RELEASE, ret, opd[OP_RELEASE].doc, dev_of_fd(t, fd), 0, 1,
	      "any");
}

/* SIGSEGV/SIGBUS: expected only inside a CPU probe. */
void on_fault(int sig, siginfo_t *si, void *uc)
{
	char msg[160];
	int n;

	if (probing)
		siglongjmp(probe_jmp, sig);
	n = snprintf(msg, sizeof(msg),
		     "# FAIL [proc %u%s] signal %d (code %d) at %p outside a probe\n",
		     proc_id, in_child ? " child" : "", sig, si->si_code,
		     si->si_addr);
	if (write(STDOUT_FILENO, msg, n) < 0)
		_exit(3);
	_exit(3);
}

/*
 * Read pages of other threads with the CPU. The owner may have made them
 * inaccessible meanwhile; a fault is a failure only if the stripe stayed
 * mapped read-write throughout.
 */
void op_cpu_probe(struct thr *t)
{
	unsigned long p0, n, i;
	struct stab st;
	int sig;

	rand_range(t, &p0, &n);
	if (n > 64)
		n = 64;
	count_op(OP_CPU_PROBE);
	stab_begin(&st, p0, n);
	probing = 1;
	sig = sigsetjmp(probe_jmp, 1);
	if (!sig)
		memcpy(t->buf, page_addr(p0), n * PG);
	probing = 0;
	if (sig) {
		if (stab_end(&st))
			fail("cpu read of pages %lu+%lu (%p): signal %d on a stable range",
			     p0, n, page_addr(p0), sig);
		return;
	}
	/* Torn pages of our own cannot be: we are not writing them. */
	for (i = 0; i < n; i++)
		if (!check_pages("cpu read", p0 + i, 1, t->buf + i * PG))
			return;
}
