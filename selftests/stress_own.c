// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_stress: the operations of an owner on its own stripes, and fork.
 */
#include "dmirror_stress.h"

/* ---- operations of an owner on its own pages ------------------------------------- */

/* A random stripe of ours and a random part of it. */
void own_range(struct thr *t, unsigned long *s, unsigned long *p0,
	       unsigned long *n)
{
	unsigned long mine = (nstripes - t->id + cfg.threads - 1) / cfg.threads;
	unsigned long first, len;

	*s = t->id + cfg.threads * rnd_below(t, mine);
	if (rnd_below(t, 4) && nstripes > HOT_STRIPES * cfg.threads)
		*s = hot_stripe() + t->id +
		     cfg.threads * rnd_below(t, HOT_STRIPES);
	first = rnd_below(t, STRIPE_PAGES);
	len = 1 + rnd_below(t, STRIPE_PAGES - first);
	if (rnd_below(t, 3) == 0) {
		first = 0;
		len = STRIPE_PAGES;
	}
	*p0 = *s * STRIPE_PAGES + first;
	*n = len;
}

/* New generations for pages [p0, p0 + n), patterns into @buf. */
static void new_gens(unsigned long p0, unsigned long n, unsigned char *buf,
		     unsigned int *gens)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		gens[i] = __atomic_add_fetch(&meta[p0 + i].gmax, 1,
					     __ATOMIC_SEQ_CST);
		if (buf)
			fill_page(buf + i * PG, p0 + i, gens[i]);
	}
}

/* New generations in pages [p0, p0 + n) of ours, written by the CPU. */
void cpu_write(unsigned long p0, unsigned long n)
{
	unsigned int gens[MAX_RANGE];
	unsigned long i;

	new_gens(p0, n, NULL, gens);
	for (i = 0; i < n; i++) {
		fill_page(page_addr(p0 + i), p0 + i, gens[i]);
		meta[p0 + i].exp = gens[i];
		meta[p0 + i].alt = NOALT;
	}
}

/* Our pages [p0, p0 + n) read by the CPU must be what we wrote. */
bool cpu_verify(const char *what, unsigned long p0, unsigned long n)
{
	unsigned long i;

	__atomic_add_fetch(&ws->pages_checked, n, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++)
		if (!check_own(what, p0 + i, page_addr(p0 + i)))
			return false;
	return true;
}

/*
 * At most one device WRITE runs at a time, over all processes: should a
 * WRITE spin in the kernel, it occupies one CPU only, and the watchdog
 * still runs to report it and end it. A WRITE that cannot have the token
 * within 5 s is not issued (-EAGAIN).
 */
static bool write_token_get(void)
{
	double until = now_s() + 5;

	while (__atomic_exchange_n(write_token, 1, __ATOMIC_ACQUIRE)) {
		if (now_s() > until)
			return false;
		usleep(200);
	}
	return true;
}

static void write_token_put(void)
{
	__atomic_store_n(write_token, 0, __ATOMIC_RELEASE);
}

static int do_write(int fd, unsigned long p0, unsigned long n, void *buf,
		    struct hmm_dmirror_cmd *cmd)
{
	int ret;

	if (!write_token_get())
		return -EAGAIN;
	ret = do_ioctl(OP_WRITE, fd, p0, n, buf, cmd);
	write_token_put();
	return ret;
}

/*
 * Write new generations through a device; the owner knows the result.
 * Return: the WRITE's result (-EAGAIN: not issued).
 */
int dev_write_own(struct thr *t, int fd, unsigned long p0, unsigned long n,
		  unsigned int allowed)
{
	unsigned int gens[MAX_RANGE];
	struct hmm_dmirror_cmd cmd;
	unsigned long i;
	int ret;

	/* Settle pages a failed WRITE left uncertain first. */
	for (i = 0; i < n; i++)
		if (meta[p0 + i].alt != NOALT)
			cpu_verify("settle", p0 + i, 1);
	new_gens(p0, n, t->wbuf, gens);
	ret = do_write(fd, p0, n, t->wbuf, &cmd);
	if (ret == -EAGAIN)
		return ret;
	judge(OP_WRITE, ret, allowed, dev_of_fd(t, fd), p0, n, "own pages");
	for (i = 0; i < n; i++) {
		if (!ret) {
			meta[p0 + i].exp = gens[i];
			meta[p0 + i].alt = NOALT;
		} else {
			meta[p0 + i].alt = gens[i];
		}
	}
	if (!ret && cmd.cpages != n)
		fail("write: cpages %llu for %lu pages",
		     (unsigned long long)cmd.cpages, n);
	return ret;
}

/* Read own pages through a device and compare. */
static void dev_read_own(struct thr *t, int fd, unsigned long p0,
			 unsigned long n, unsigned int allowed,
			 const char *why)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	ret = do_ioctl(OP_READ, fd, p0, n, t->buf, &cmd);
	if (!judge(OP_READ, ret, allowed, dev_of_fd(t, fd), p0, n, why))
		return;
	if (!ret)
		check_pages(why, p0, n, t->buf);
}

void op_cpu_write(struct thr *t)
{
	unsigned long s, p0, n;

	own_range(t, &s, &p0, &n);
	count_op(OP_CPU_WRITE);
	cpu_write(p0, n);
	if (!rnd_below(t, 4))
		dev_read_own(t, pick_fd(t), p0, n, opd[OP_READ].stable,
			     "read after cpu write");
}

void op_cpu_verify(struct thr *t)
{
	unsigned long s, p0, n;

	own_range(t, &s, &p0, &n);
	count_op(OP_CPU_VERIFY);
	cpu_verify("cpu verify", p0, n);
}

void op_dev_write(struct thr *t)
{
	unsigned long s, p0, n;
	int fd = pick_fd(t);

	own_range(t, &s, &p0, &n);
	count_op(OP_DEV_WRITE);
	dev_write_own(t, fd, p0, n, opd[OP_WRITE].stable);
	if (rnd_below(t, 2))
		dev_read_own(t, pick_fd(t), p0, n, opd[OP_READ].stable,
			     "read after write");
	else
		cpu_verify("cpu verify after write", p0, n);
}

void op_dontneed(struct thr *t)
{
	unsigned long s, p0, n, i;

	own_range(t, &s, &p0, &n);
	count_op(OP_DONTNEED);
	if (madvise(page_addr(p0), n * PG, MADV_DONTNEED)) {
		fail("madvise(DONTNEED) pages %lu+%lu: %s", p0, n,
		     strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		meta[p0 + i].exp = 0;
		meta[p0 + i].alt = NOALT;
	}
	/* No descriptor may still see what was discarded. */
	dev_read_own(t, fd_a, p0, n, opd[OP_READ].stable,
		     "read after dontneed");
	dev_read_own(t, fd_b, p0, n, opd[OP_READ].stable,
		     "read after dontneed");
	dev_read_own(t, t->fd_own, p0, n, opd[OP_READ].stable,
		     "read after dontneed");
}

/* Replace a whole stripe by a new mapping in one step (no hole). */
void op_remap(struct thr *t)
{
	unsigned long s, p0, n, i;
	void *p;

	own_range(t, &s, &p0, &n);
	count_op(OP_REMAP);
	p0 = s * STRIPE_PAGES;
	p = mmap(page_addr(p0), STRIPE_PAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p != page_addr(p0)) {
		fail("mmap(MAP_FIXED) over stripe %lu: %s", s,
		     strerror(errno));
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
		return;
	}
	for (i = 0; i < STRIPE_PAGES; i++) {
		meta[p0 + i].exp = 0;
		meta[p0 + i].alt = NOALT;
	}
	if (rnd_below(t, 2))
		cpu_write(p0, STRIPE_PAGES);
}

/*
 * Exact errnos on a stripe of our own that is unmapped (ST_HOLE),
 * PROT_NONE (ST_NONE) or read-only (ST_RO).
 */
static void own_state_checks(struct thr *t, unsigned long s,
			     unsigned int state)
{
	unsigned long p0 = s * STRIPE_PAGES, n = STRIPE_PAGES, i;
	bool gone = state != ST_RO;
	struct hmm_dmirror_cmd cmd;
	const char *why = state == ST_HOLE ? "unmapped" :
			  state == ST_NONE ? "PROT_NONE" : "read-only";
	int fd = pick_fd(t), dev = dev_of_fd(t, fd), ret;

	ret = do_ioctl(OP_READ, fd, p0, n, t->buf, &cmd);
	if (judge(OP_READ, ret, gone ? B(EB_EFAULT) : opd[OP_READ].stable,
		  dev, p0, n, why) && !ret)
		check_pages("read of a read-only stripe", p0, n, t->buf);
	ret = do_ioctl(OP_READ_UNLOCKED, fd, p0, n, t->buf, &cmd);
	judge(OP_READ_UNLOCKED, ret,
	      gone ? B(EB_EFAULT) : opd[OP_READ_UNLOCKED].stable, dev, p0, n,
	      why);
	fill_page(t->wbuf, p0, 0);
	ret = do_ioctl(OP_WRITE, fd, p0, 1, t->wbuf, &cmd);
	judge(OP_WRITE, ret, gone ? B(EB_EFAULT) : B(EB_EPERM), dev, p0, 1,
	      why);
	ret = do_ioctl(OP_EXCL, fd, p0, n, t->buf, &cmd);
	judge(OP_EXCL, ret, B(EB_EFAULT), dev, p0, n, why);
	ret = do_ioctl(OP_TO_DEV, fd, p0, n, t->buf, &cmd);
	if (judge(OP_TO_DEV, ret,
		  gone ? B(EB_EINVAL) : opd[OP_TO_DEV].stable, dev, p0, n,
		  why) && !ret)
		check_pages("migrate of a read-only stripe", p0, n, t->buf);
	ret = do_ioctl(OP_TO_SYS, fd, p0, n, NULL, &cmd);
	judge(OP_TO_SYS, ret, gone ? B(EB_EINVAL) : opd[OP_TO_SYS].stable,
	      dev, p0, n, why);
	ret = do_ioctl(OP_SNAPSHOT, fd, p0, n, t->snap, &cmd);
	if (judge(OP_SNAPSHOT, ret, opd[OP_SNAPSHOT].stable, dev, p0, n,
		  why) && !ret) {
		for (i = 0; i < n; i++) {
			unsigned char b = t->snap[i];
			bool good = gone ? b == HMM_DMIRROR_PROT_ERROR :
				snap_valid(b, dev) && b != HMM_DMIRROR_PROT_ERROR &&
				!(b & HMM_DMIRROR_PROT_WRITE);

			if (!good) {
				fail("snapshot via dev%d of %s page %lu (%p): byte %#x",
				     dev, why, p0 + i, page_addr(p0 + i), b);
				break;
			}
		}
	}
	if (gone) {
		/* No device may keep atomic access to unmapped memory. */
		ret = do_ioctl(OP_CHECK_EXCL, t->fd_own, p0, n, NULL, &cmd);
		judge(OP_CHECK_EXCL, ret, B(EB_OK), t->dev_own, p0, n, why);
	}
}

/* Unmap a stripe, check what the devices say about the hole, map again. */
void op_hole(struct thr *t)
{
	unsigned long s, p0, n, i;
	void *p;

	own_range(t, &s, &p0, &n);
	count_op(OP_HOLE);
	p0 = s * STRIPE_PAGES;
	stripe_begin(s);
	if (munmap(page_addr(p0), STRIPE_PAGES * PG)) {
		fail("munmap of stripe %lu: %s", s, strerror(errno));
		stripe_end(s, ST_RW);
		return;
	}
	stripe_end(s, ST_HOLE);
	own_state_checks(t, s, ST_HOLE);
	stripe_begin(s);
	p = mmap(page_addr(p0), STRIPE_PAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != page_addr(p0)) {
		fail("mapping stripe %lu again: %s (something took the hole)",
		     s, p == MAP_FAILED ? strerror(errno) : "elsewhere");
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
		stripe_end(s, ST_HOLE);
		return;
	}
	for (i = 0; i < STRIPE_PAGES; i++) {
		meta[p0 + i].exp = 0;
		meta[p0 + i].alt = NOALT;
	}
	stripe_end(s, ST_RW);
}

/* Make a stripe read-only or PROT_NONE for a while. */
void op_mprotect(struct thr *t)
{
	unsigned int state = rnd_below(t, 2) ? ST_RO : ST_NONE;
	unsigned long s, p0, n;

	own_range(t, &s, &p0, &n);
	count_op(OP_MPROTECT);
	p0 = s * STRIPE_PAGES;
	stripe_begin(s);
	if (mprotect(page_addr(p0), STRIPE_PAGES * PG,
		     state == ST_RO ? PROT_READ : PROT_NONE)) {
		fail("mprotect of stripe %lu: %s", s, strerror(errno));
		stripe_end(s, ST_RW);
		return;
	}
	stripe_end(s, state);
	own_state_checks(t, s, state);
	if (state == ST_RO)
		cpu_verify("cpu verify of a read-only stripe", p0,
			   STRIPE_PAGES);
	stripe_begin(s);
	if (mprotect(page_addr(p0), STRIPE_PAGES * PG,
		     PROT_READ | PROT_WRITE)) {
		fail("mprotect of stripe %lu back: %s", s, strerror(errno));
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
		stripe_end(s, state);
		return;
	}
	stripe_end(s, ST_RW);
	cpu_verify("cpu verify after mprotect", p0, STRIPE_PAGES);
}

/*
 * Take exclusive access through our own descriptor, touch every page with
 * the CPU, and check that no atomic access is left in our mirror.
 */
void op_excl_revoke(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long s, p0, n, i;
	unsigned long long sum = 0;
	int ret;

	own_range(t, &s, &p0, &n);
	count_op(OP_EXCL_REVOKE);
	ret = do_ioctl(OP_EXCL, t->fd_own, p0, n, t->buf, &cmd);
	if (!judge(OP_EXCL, ret, opd[OP_EXCL].stable, t->dev_own, p0, n,
		   "own pages"))
		return;
	if (!ret)
		check_pages("exclusive read-back (own)", p0, n, t->buf);
	ret = do_ioctl(OP_CHECK_EXCL, t->fd_own, p0, n, NULL, &cmd);
	judge(OP_CHECK_EXCL, ret, opd[OP_CHECK_EXCL].doc, t->dev_own, p0, n,
	      "after exclusive");
	for (i = 0; i < n; i++)
		sum += __atomic_load_n((unsigned long long *)page_addr(p0 + i),
					__ATOMIC_RELAXED);
	ret = do_ioctl(OP_CHECK_EXCL, t->fd_own, p0, n, NULL, &cmd);
	judge(OP_CHECK_EXCL, ret, B(EB_OK), t->dev_own, p0, n,
	      "every page touched by the CPU since");
	if (sum == 1)
		say("# (unlikely sum)");
}

/* Close our own descriptor and open one again, on either device. */
void op_reopen(struct thr *t)
{
	int dev = rnd_below(t, 2) ? cfg.dev_a : cfg.dev_b;

	count_op(OP_REOPEN);
	if (close(t->fd_own))
		fail("close of own descriptor: %s", strerror(errno));
	t->fd_own = dmirror_open_dev(dev);
	t->dev_own = dev;
	if (t->fd_own < 0) {
		fail("open of /dev/hmm_dmirror%d: %s", dev, strerror(errno));
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	}
}

/*
 * Make the next PMD-sized allocation of a descriptor fail: its next large
 * migration, in either direction, goes to base pages instead.
 */
void op_fail_alloc(struct thr *t)
{
	struct hmm_dmirror_cmd cmd = {
		.npages = HMM_DMIRROR_FLAG_FAIL_ALLOC,
	};
	int ret;

	count_op(OP_FAIL_ALLOC);
	ret = dmirror_cmd(pick_fd(t), HMM_DMIRROR_FLAGS, &cmd);
	if (ret)
		fail("FLAGS FAIL_ALLOC: %s", strerror(-ret));
}

/* Our slice of the MAP_SHARED region. */
void op_shared(struct thr *t)
{
	unsigned long base = cfg.np + t->id * SHARED_PAGES;
	unsigned long first = rnd_below(t, SHARED_PAGES);
	unsigned long n = 1 + rnd_below(t, SHARED_PAGES - first);
	unsigned long p0 = base + first;
	struct hmm_dmirror_cmd cmd;
	int fd = pick_fd(t), ret;

	count_op(OP_SHARED);
	switch (rnd_below(t, 6)) {
	case 0:
		cpu_write(p0, n);
		break;
	case 1:
		dev_write_own(t, fd, p0, n, opd[OP_WRITE].stable);
		break;
	case 2:
		cpu_verify("cpu verify (shared)", p0, n);
		break;
	case 3:
		dev_read_own(t, fd, p0, n, opd[OP_READ].stable,
			     "read (shared)");
		break;
	case 4:
		/* Shared memory does not migrate; mirrored pages count. */
		ret = do_ioctl(OP_TO_DEV, fd, p0, n, t->buf, &cmd);
		if (judge(OP_TO_DEV, ret, opd[OP_TO_DEV].stable,
			  dev_of_fd(t, fd), p0, n, "MAP_SHARED") && !ret)
			check_pages("migrate read-back (shared)", p0, n,
				    t->buf);
		break;
	default:
		ret = do_ioctl(OP_EXCL, fd, p0, n, t->buf, &cmd);
		judge(OP_EXCL, ret, B(EB_EOPNOTSUPP), dev_of_fd(t, fd), p0, n,
		      "MAP_SHARED");
		break;
	}
}

/* Migrate a large part of the region, window after window. */
void sweep(struct thr *t, int fd, unsigned long p0, unsigned long n)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long p, len;
	struct stab st;
	bool stable;
	int ret;

	for (p = p0; p < p0 + n && !__atomic_load_n(&stop, __ATOMIC_RELAXED) &&
	     now_s() < t_end; p += len) {
		len = MAX_RANGE;
		if (len > p0 + n - p)
			len = p0 + n - p;
		stab_begin(&st, p, len);
		ret = do_ioctl(OP_TO_DEV, fd, p, len, t->buf, &cmd);
		stable = stab_end(&st);
		if (!judge(OP_TO_DEV, ret, stable ? opd[OP_TO_DEV].stable :
			   opd[OP_TO_DEV].doc, dev_of_fd(t, fd), p, len,
			   stable ? "stable, whole region" :
			   "changing, whole region"))
			return;
		if (!ret)
			check_pages("whole-region read-back", p, len, t->buf);
	}
}

void op_sweep(struct thr *t)
{
	unsigned long p0 = rnd_below(t, cfg.np);

	count_op(OP_SWEEP);
	p0 -= p0 % MAX_RANGE;
	sweep(t, rnd_below(t, 3) ? fd_a : fd_b, p0,
	      cfg.np - p0 < 8 * MAX_RANGE ? cfg.np - p0 : 8 * MAX_RANGE);
}

/* ---- fork ------------------------------------------------------------------------ */

/*
 * In the child: the forking thread's stripe must read as it was, through
 * the CPU and a device of the child's own; the child writes it (its own
 * copy) and our slice of the shared region (the parent's memory too).
 */
static int fork_child(struct thr *t, unsigned long s, const unsigned int *gc,
		      const unsigned int *gs)
{
	unsigned long p0 = s * STRIPE_PAGES, sh = cfg.np + t->id * SHARED_PAGES;
	unsigned long half = STRIPE_PAGES / 2, i;
	struct hmm_dmirror_cmd cmd;
	int fd, ret;

	in_child = 1;
	cpu_verify("child: cpu verify of the parent's data", p0, STRIPE_PAGES);
	/* The parent's descriptors act on the parent's mm only. */
	ret = do_ioctl(OP_READ, fd_a, p0, 1, t->buf, &cmd);
	judge(OP_READ, ret, B(EB_EPERM), cfg.dev_a, p0, 1,
	      "inherited descriptor");
	fd = dmirror_open_dev(cfg.dev_a);
	if (fd < 0) {
		fail("child: open of /dev/hmm_dmirror%d: %s", cfg.dev_a,
		     strerror(errno));
		return 1;
	}
	t->fd_own = fd;
	t->dev_own = cfg.dev_a;
	dev_read_own(t, fd, p0, STRIPE_PAGES, opd[OP_READ].stable,
		     "child: read of the parent's data");
	ret = do_ioctl(OP_TO_DEV, fd, p0, STRIPE_PAGES, t->buf, &cmd);
	if (judge(OP_TO_DEV, ret, opd[OP_TO_DEV].stable, cfg.dev_a, p0,
		  STRIPE_PAGES, "child, COW-shared pages") && !ret)
		check_pages("child: migrate read-back", p0, STRIPE_PAGES,
			    t->buf);

	/* Our copy: half by CPU, half through the device. */
	for (i = 0; i < STRIPE_PAGES; i++) {
		if (i < half) {
			fill_page(page_addr(p0 + i), p0 + i, gc[i]);
			meta[p0 + i].exp = gc[i];
			meta[p0 + i].alt = NOALT;
		} else {
			fill_page(t->wbuf + (i - half) * PG, p0 + i, gc[i]);
		}
	}
	/*
	 * The pages are shared with the parent, whose threads keep migrating
	 * and evicting them; each such move unmaps them here too, so this
	 * write can find its range invalidated for a second like any other
	 * (seen on one vCPU): -EBUSY, counted against the soft-errno cap.
	 */
	ret = do_write(fd, p0 + half, STRIPE_PAGES - half, t->wbuf, &cmd);
	if (ret != -EAGAIN)
		judge(OP_WRITE, ret, B(EB_OK) | B(EB_EBUSY), cfg.dev_a,
		      p0 + half, STRIPE_PAGES - half, "child, COW-shared pages");
	for (i = half; i < STRIPE_PAGES; i++) {
		if (ret)
			fill_page(page_addr(p0 + i), p0 + i, gc[i]);
		meta[p0 + i].exp = gc[i];
		meta[p0 + i].alt = NOALT;
	}
	dev_read_own(t, fd, p0, STRIPE_PAGES, opd[OP_READ].stable,
		     "child: read of its own writes");
	cpu_verify("child: cpu verify of its own writes", p0, STRIPE_PAGES);

	/* The shared slice: through the device, then by CPU. */
	for (i = 0; i < SHARED_PAGES / 2; i++)
		fill_page(t->wbuf + i * PG, sh + i, gs[i]);
	ret = do_write(fd, sh, SHARED_PAGES / 2, t->wbuf, &cmd);
	if (ret != -EAGAIN)
		judge(OP_WRITE, ret, B(EB_OK), cfg.dev_a, sh,
		      SHARED_PAGES / 2, "child, MAP_SHARED");
	for (i = 0; i < SHARED_PAGES; i++) {
		if (ret || i >= SHARED_PAGES / 2)
			fill_page(page_addr(sh + i), sh + i, gs[i]);
		meta[sh + i].exp = gs[i];
		meta[sh + i].alt = NOALT;
	}
	cpu_verify("child: cpu verify of the shared slice", sh, SHARED_PAGES);
	close(fd);
	return child_failures ? 1 : 0;
}

void op_fork(struct thr *t)
{
	unsigned int gc[STRIPE_PAGES], gs[SHARED_PAGES];
	unsigned long s, p0, n, i, sh = cfg.np + t->id * SHARED_PAGES;
	int status;
	pid_t pid;

	if ((unsigned long long)now_ms() < t->next_fork_ms)
		return;
	t->next_fork_ms = now_ms() + 500;
	own_range(t, &s, &p0, &n);
	count_op(OP_FORK);
	p0 = s * STRIPE_PAGES;
	/* Exact expectations in the child: no uncertain page. */
	for (i = 0; i < STRIPE_PAGES; i++)
		if (meta[p0 + i].alt != NOALT)
			cpu_verify("settle", p0 + i, 1);
	for (i = 0; i < SHARED_PAGES; i++)
		if (meta[sh + i].alt != NOALT)
			cpu_verify("settle", sh + i, 1);
	new_gens(p0, STRIPE_PAGES, NULL, gc);
	new_gens(sh, SHARED_PAGES, NULL, gs);
	pid = fork();
	if (pid < 0) {
		fail("fork: %s", strerror(errno));
		return;
	}
	if (!pid)
		_exit(fork_child(t, s, gc, gs));
	/* The watchdog covers the child too. */
	t->busy_op = OP_FORK;
	t->busy_p0 = p0;
	t->busy_n = STRIPE_PAGES;
	t->child = pid;
	__atomic_store_n(&t->busy_ms, now_ms(), __ATOMIC_RELEASE);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	__atomic_store_n(&t->busy_ms, 0, __ATOMIC_RELEASE);
	t->child = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail("fork child %d: %s %d", pid,
		     WIFEXITED(status) ? "exit status" : "killed by signal",
		     WIFEXITED(status) ? WEXITSTATUS(status) :
		     WTERMSIG(status));
	for (i = 0; i < SHARED_PAGES; i++) {
		meta[sh + i].exp = gs[i];
		meta[sh + i].alt = NOALT;
	}
	cpu_verify("parent: cpu verify after the child wrote its copy", p0,
		   STRIPE_PAGES);
	dev_read_own(t, pick_fd(t), p0, STRIPE_PAGES, opd[OP_READ].stable,
		     "parent: read after the child wrote its copy");
	cpu_verify("parent: cpu verify of the shared slice the child wrote",
		   sh, SHARED_PAGES);
}
