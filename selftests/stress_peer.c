// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_stress -P: where the pages are in a peer group.
 *
 * The random operations of the other files cannot say where a page is
 * (other threads move it any time); they check bytes and errnos, and
 * snapshot bytes for what a device may see at all (snap_valid()). A
 * location sequence (op_peer()) checks the places: its thread holds
 * peer_lock for writing, so no other thread of its process runs an
 * operation, and only it can move its pages, except eviction, which any
 * process causes (a full device, RELEASE) and which only ever moves pages
 * to system memory. The sequence takes one stripe of its own through
 * system memory, device X, a READ and a WRITE through X's peer Y, the
 * migrations in both directions and back home, and after each step
 * snapshots the range through both devices:
 *
 * - both snapshots must agree on each page (a page on X is _LOCAL to X
 *   and _PEER to Y), unless an eviction took it home in between;
 * - a page is where the step leaves it: MIGRATE_TO_DEV moves every page
 *   (the peer's too) to its device; READ, WRITE and MIGRATE_TO_SYS through
 *   Y leave X's pages on X; MIGRATE_TO_SYS through X moves nothing when X
 *   holds none (cpages 0). Only a device page may instead be found in
 *   system memory, and only when the devices' evicted_pages moved since
 *   the last look (the window is not quiet): else it is a failure;
 * - a page found on a device where the step cannot have put it is always
 *   a failure: nothing else moves this process's pages to a device.
 *
 * Pages seen on X after an access through Y prove that the access left
 * them there; each process must see some (wstats.peer_stayed). Each of
 * them was on X throughout the access (nothing puts it back), so Y's
 * peer_pages_read (peer_pages_written) must have grown by at least their
 * number: other processes only add to it.
 */
#include "dmirror_stress.h"

enum { IN_SYS, IN_X, IN_Y, IN_BAD };

struct pseq {
	struct thr *t;
	unsigned long p0, n;
	int fx, fy, dx, dy;
	int exp[STRIPE_PAGES];	/* where each page must be */
	bool left_ok;		/* IN_Y allowed for IN_SYS (MIGRATE_TO_SYS) */
	bool peer_access;	/* the step accessed X's pages through Y */
	unsigned long stayed;	/* pages the last look saw stay on X */
	long long ev;		/* evictions before the last look */
	const char *step;
};

static long long evictions(void)
{
	long long a = dmirror_dev_stat(cfg.dev_a, "evicted_pages");
	long long b = dmirror_dev_stat(cfg.dev_b, "evicted_pages");

	return a < 0 || b < 0 ? -1 : a + b;
}

/* Where a snapshot byte through X (@via_x) or Y says the page is. */
static int place(unsigned char b, bool via_x)
{
	bool coh = is_coherent(cfg.dev_a);
	unsigned char loc = b & 0xf0;

	if (b == HMM_DMIRROR_PROT_ERROR || !(b & 3))
		return IN_BAD;
	if (loc == HMM_DMIRROR_PROT_NONE)
		return IN_SYS;
	if (loc == (coh ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL :
		    HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL))
		return via_x ? IN_X : IN_Y;
	if (loc == (coh ? HMM_DMIRROR_PROT_DEV_COHERENT_PEER :
		    HMM_DMIRROR_PROT_DEV_PRIVATE_PEER))
		return via_x ? IN_Y : IN_X;
	return IN_BAD;
}

static const char *where(const struct pseq *q, int in, char *buf,
			 size_t len)
{
	if (in == IN_SYS)
		return "system memory";
	if (in == IN_BAD)
		return "nowhere valid";
	snprintf(buf, len, "dev%d", in == IN_X ? q->dx : q->dy);
	return buf;
}

static void unsure(void)
{
	__atomic_add_fetch(&ws->peer_unsure, 1, __ATOMIC_RELAXED);
}

static bool snap(struct pseq *q, int fd, int dev, unsigned char *out)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	ret = do_ioctl(OP_SNAPSHOT, fd, q->p0, q->n, out, &cmd);
	if (!judge(OP_SNAPSHOT, ret, opd[OP_SNAPSHOT].stable, dev, q->p0,
		   q->n, q->step))
		return false;
	if (!ret && cmd.cpages != q->n) {
		fail("peer, %s: snapshot cpages %llu for %lu pages", q->step,
		     (unsigned long long)cmd.cpages, q->n);
		return false;
	}
	if (ret)
		unsure();
	return !ret;
}

/* One page of a look; false on a failure. */
static bool look_page(struct pseq *q, unsigned long i, unsigned char bx,
		      unsigned char by, bool quiet)
{
	int px = place(bx, true), py = place(by, false), e = q->exp[i];
	char w0[16], w1[16], w2[16];
	const char *why = NULL;

	if (px == IN_BAD || py == IN_BAD)
		why = "a byte that is no place here";
	else if (px != py && (quiet || py != IN_SYS))
		why = quiet ? "the two snapshots disagree and nothing was evicted" :
			      "the two snapshots disagree";
	else if (px == IN_SYS && e != IN_SYS && quiet)
		why = "in system memory, and nothing was evicted";
	else if (px != IN_SYS && px != e && !(q->left_ok && px == IN_Y))
		why = "on a device nothing put it on";
	if (why) {
		fail("peer, %s: page %lu (%p) wants %s: %s via dev%d, %s via dev%d (%#x %#x): %s",
		     q->step, q->p0 + i, page_addr(q->p0 + i),
		     where(q, e, w0, sizeof(w0)), where(q, px, w1, sizeof(w1)),
		     q->dx, where(q, py, w2, sizeof(w2)), q->dy, bx, by, why);
		return false;
	}
	if (px == IN_SYS && e != IN_SYS)
		unsure();
	if (q->peer_access && e == IN_X && px == IN_X) {
		__atomic_add_fetch(&ws->peer_stayed, 1, __ATOMIC_RELAXED);
		q->stayed++;
	}
	/* From now on the page is where the later snapshot saw it. */
	q->exp[i] = py;
	return true;
}

/* Does either snapshot show a page as NONE (0)? */
static bool any_none(const unsigned char *sx, const unsigned char *sy,
		     unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++)
		if (!sx[i] || !sy[i])
			return true;
	return false;
}

/*
 * Snapshot through X and Y and check every page's place. A page that
 * another process's eviction is migrating at that moment is a migration
 * entry, which SNAPSHOT reports as NONE (0): such a look is taken again
 * after a millisecond, for up to a second; a page that stays NONE fails.
 */
static bool look(struct pseq *q)
{
	unsigned char sx[STRIPE_PAGES], sy[STRIPE_PAGES];
	long long ev0 = q->ev, ev1;
	unsigned int tries = 0;
	unsigned long i;
	bool quiet;

	q->ev = evictions();
	q->stayed = 0;
	do {
		if (tries)
			usleep(1000);
		if (!snap(q, q->fx, q->dx, sx) || !snap(q, q->fy, q->dy, sy))
			return false;
	} while (any_none(sx, sy, q->n) && ++tries < 1000);
	ev1 = evictions();
	quiet = ev0 >= 0 && ev1 == ev0;
	if (quiet)
		__atomic_add_fetch(&ws->peer_quiet, 1, __ATOMIC_RELAXED);
	for (i = 0; i < q->n; i++)
		if (!look_page(q, i, sx[i], sy[i], quiet))
			return false;
	q->left_ok = false;
	q->peer_access = false;
	return true;
}

/*
 * One ioctl @op of a sequence on its stripe through @fd (device @dev):
 * judged like any other, a soft errno leaves the sequence unsure, and with
 * @whole cpages must be every page. Return: true when it did its work.
 */
static bool seq_ioctl(struct pseq *q, unsigned int op, int fd, int dev,
		      void *ptr, struct hmm_dmirror_cmd *cmd, bool whole)
{
	int ret = do_ioctl(op, fd, q->p0, q->n, ptr, cmd);

	if (!judge(op, ret, opd[op].stable, dev, q->p0, q->n, q->step))
		return false;
	if (ret) {
		unsure();
		return false;
	}
	if (whole && cmd->cpages != q->n) {
		fail("peer, %s: cpages %llu for %lu pages", q->step,
		     (unsigned long long)cmd->cpages, q->n);
		return false;
	}
	return true;
}

/* MIGRATE_TO_DEV of the range through @fd: every page to that device. */
static bool seq_to_dev(struct pseq *q, int fd, int dev, int in)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long i;

	if (!seq_ioctl(q, OP_TO_DEV, fd, dev, q->t->buf, &cmd, true))
		return false;
	if (!check_pages(q->step, q->p0, q->n, q->t->buf))
		return false;
	for (i = 0; i < q->n; i++)
		q->exp[i] = in;
	return true;
}

/*
 * MIGRATE_TO_SYS of the range through @fd. @none: the device holds none
 * of the pages, so cpages must be 0; else its pages come home.
 */
static bool seq_to_sys(struct pseq *q, int fd, int dev, int in, bool none)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long i;

	if (!seq_ioctl(q, OP_TO_SYS, fd, dev, NULL, &cmd, false))
		return false;
	if (cmd.cpages > (none ? 0 : q->n)) {
		fail("peer, %s: cpages %llu for %lu pages, %s", q->step,
		     (unsigned long long)cmd.cpages, q->n,
		     none ? "none of them on that device" : "too many");
		return false;
	}
	for (i = 0; i < q->n; i++)
		if (q->exp[i] == in)
			q->exp[i] = IN_SYS;
	/* A page no system memory could be had for stays (not counted). */
	q->left_ok = in == IN_Y && cmd.cpages < q->n;
	return true;
}

/* READ of the range through @fd: exactly our data; no page moves. */
static bool seq_read(struct pseq *q, int fd, int dev)
{
	struct hmm_dmirror_cmd cmd;

	if (!seq_ioctl(q, OP_READ, fd, dev, q->t->buf, &cmd, true))
		return false;
	return check_pages(q->step, q->p0, q->n, q->t->buf);
}

/*
 * Y's counter @name must have grown since @before by the pages the last
 * look saw stay on X across the access through Y.
 */
static bool peer_counted(struct pseq *q, const char *name, long long before)
{
	long long now = dmirror_dev_stat(q->dy, name);

	if (before >= 0 && now >= 0 && now - before >= (long long)q->stayed)
		return true;
	if (before < 0 || now < 0)
		fail("peer, %s: %s of dev%d cannot be read", q->step, name,
		     q->dy);
	else
		fail("peer, %s: %s of dev%d grew by %lld, but %lu pages stayed on dev%d across it",
		     q->step, name, q->dy, now - before, q->stayed, q->dx);
	return false;
}

/* The steps, each followed by a look; false ends the sequence. */
static bool steps(struct pseq *q)
{
	char s[8][80];
	long long c0;
	int ret;

	snprintf(s[0], 80, "MIGRATE_TO_DEV via dev%d", q->dx);
	snprintf(s[1], 80, "READ via dev%d of dev%d's pages", q->dy, q->dx);
	snprintf(s[2], 80, "WRITE via dev%d of dev%d's pages", q->dy, q->dx);
	snprintf(s[3], 80, "READ via dev%d of what dev%d wrote", q->dx, q->dy);
	snprintf(s[4], 80, "MIGRATE_TO_SYS via dev%d (pages on dev%d)", q->dy,
		 q->dx);
	snprintf(s[5], 80, "MIGRATE_TO_DEV via dev%d from dev%d", q->dy,
		 q->dx);
	snprintf(s[6], 80, "MIGRATE_TO_SYS via dev%d (pages on dev%d)", q->dx,
		 q->dy);
	snprintf(s[7], 80, "MIGRATE_TO_SYS via dev%d", q->dy);

	q->step = s[0];
	q->ev = evictions();
	if (!seq_to_dev(q, q->fx, q->dx, IN_X) || !look(q))
		return false;
	q->step = s[1];
	q->peer_access = true;
	c0 = dmirror_dev_stat(q->dy, "peer_pages_read");
	if (!seq_read(q, q->fy, q->dy) || !look(q) ||
	    !peer_counted(q, "peer_pages_read", c0))
		return false;
	q->step = s[2];
	q->peer_access = true;
	c0 = dmirror_dev_stat(q->dy, "peer_pages_written");
	ret = dev_write_own(q->t, q->fy, q->p0, q->n, opd[OP_WRITE].stable);
	if (ret) {
		unsure();
		return false;
	}
	if (!look(q) || !peer_counted(q, "peer_pages_written", c0))
		return false;
	q->step = s[3];
	if (!seq_read(q, q->fx, q->dx) || !look(q))
		return false;
	q->step = s[4];
	if (!seq_to_sys(q, q->fy, q->dy, IN_Y, true) || !look(q))
		return false;
	q->step = s[5];
	if (!seq_to_dev(q, q->fy, q->dy, IN_Y) || !look(q))
		return false;
	q->step = s[6];
	if (!seq_to_sys(q, q->fx, q->dx, IN_X, true) || !look(q))
		return false;
	q->step = s[7];
	return seq_to_sys(q, q->fy, q->dy, IN_Y, false) && look(q);
}

/*
 * A location sequence on a stripe of ours (the caller holds peer_lock for
 * writing): fresh data in system memory first (a CPU write, and pages of
 * the device of the other kind sent home), then steps().
 */
void op_peer(struct thr *t)
{
	struct hmm_dmirror_cmd cmd;
	struct pseq q = { .t = t };
	unsigned long s, i;
	int ret;

	own_range(t, &s, &q.p0, &q.n);
	count_op(OP_PEER);
	__atomic_add_fetch(&ws->peer_seqs, 1, __ATOMIC_RELAXED);
	q.fx = rnd_below(t, 2) ? fd_a : fd_b;
	q.fy = q.fx == fd_a ? fd_b : fd_a;
	q.dx = dev_of_fd(t, q.fx);
	q.dy = dev_of_fd(t, q.fy);
	for (i = 0; i < q.n; i++)
		if (meta[q.p0 + i].alt != NOALT)
			cpu_verify("peer: settle", q.p0 + i, 1);
	cpu_write(q.p0, q.n);
	if (fd_x >= 0) {
		ret = do_ioctl(OP_TO_SYS, fd_x, q.p0, q.n, NULL, &cmd);
		if (!judge(OP_TO_SYS, ret, opd[OP_TO_SYS].stable, cfg.dev_x,
			   q.p0, q.n, "peer: the other kind's pages home"))
			return;
	}
	steps(&q);
	cpu_verify("peer: cpu verify after the sequence", q.p0, q.n);
}
