// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_peer_migrate_test: device-to-device migration in a peer group,
 * of 4 KiB ranges, of ranges spread over system memory and both devices,
 * and of 2 MiB ranges (device THPs where the module has them), both ways;
 * MIGRATE_TO_SYS leaving the peer's pages alone. Without a group
 * MIGRATE_TO_DEV of the other device's pages fails with -ENOENT and they
 * stay. What each test expects: dmirror_peer.h.
 */
#include "dmirror_peer.h"
#include "dmirror_thp.h"

/*
 * MIGRATE_TO_DEV on device @to (0: A, 1: B) of @n pages at @buf, all of
 * them on the other device: in a group they move device to device (the
 * read-back is pattern @seed, the snapshots and counters say so, no CPU
 * fault is taken); without one -ENOENT, nothing copied, nothing moved.
 * Then the device that has the pages writes pattern @next into them, and
 * both devices must read that: the other one must not read the memory
 * the pages left.
 */
static void peer_move(struct __test_metadata *_metadata, struct peer_ctx *c,
		      int to, char *buf, unsigned long n, unsigned int seed,
		      unsigned int next)
{
	int from = !to;
	long long m = c->group ? n : 0;
	struct hmm_dmirror_cmd cmd;
	struct pstats s[2], f;
	unsigned char *out;

	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	ASSERT_EQ(0, peer_stats(c->dev[0], &s[0]));
	ASSERT_EQ(0, peer_stats(c->dev[1], &s[1]));
	if (c->group) {
		ASSERT_EQ(0, to_dev(c->fd[to], buf, out, n, &cmd));
		EXPECT_EQ(n, cmd.cpages);
		EXPECT_EQ(-1L, pat_find(out, 0, n, seed));
	} else {
		EXPECT_EQ(-ENOENT, to_dev(c->fd[to], buf, out, n, &cmd));
		EXPECT_EQ(NOT_COPIED, cmd.cpages);
		EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	}
	expect_delta(_metadata, c, to, &s[to], m, 0, 0, m, 0);
	expect_delta(_metadata, c, from, &s[from], -m, 0, 0, 0, m);
	ASSERT_EQ(0, peer_stats(c->dev[to], &f));
	EXPECT_EQ(s[to].to_dev + m, f.to_dev);
	/* Device to device: nothing went through system memory. */
	ASSERT_EQ(0, peer_stats(c->dev[from], &f));
	EXPECT_EQ(s[from].cpu_faults, f.cpu_faults);
	EXPECT_EQ(s[from].to_sys, f.to_sys);
	if (!c->group)
		to = from;
	EXPECT_EQ(-1L, snap_find(c->fd[to], buf, n, c->local_rw));
	EXPECT_EQ(-1L, snap_find(c->fd[!to], buf, n, c->peer_rw));
	EXPECT_EQ(-1L, read_find(c->fd[!to], buf, n, 0, seed));
	EXPECT_EQ(-1L, read_find(c->fd[to], buf, n, 0, seed));
	pat_fill(out, 0, n, next);
	ASSERT_EQ(0, dev_write(c->fd[to], buf, out, n, &cmd));
	EXPECT_EQ(-1L, read_find(c->fd[!to], buf, n, 0, next));
	EXPECT_EQ(-1L, read_find(c->fd[to], buf, n, 0, next));
	free(out);
}

/*
 * 4 KiB pages from A to B and back to A; every byte read back through
 * both devices and the CPU.
 */
TEST_F(peer, migrate_both_ways)
{
	struct peer_ctx *c = &self->c;
	unsigned long n = 64;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf;

	if (c->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0x1941);
	ASSERT_EQ(0, to_dev(c->fd[0], buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);

	peer_move(_metadata, c, 1, buf, n, 0x1941, 0x1942);
	if (c->group)
		peer_move(_metadata, c, 0, buf, n, 0x1942, 0x1943);
	EXPECT_EQ(-1L, pat_find(buf, 0, n, c->group ? 0x1943 : 0x1942));

	free(out);
	munmap(buf, n * PG);
	peer_end(_metadata, c);
}

/*
 * A range in four parts: system memory, A's memory, B's memory, never
 * touched. MIGRATE_TO_DEV on B: in a group all of it ends on B (A's part
 * device to device); then all of it goes back to A the same way. Without
 * a group: -ENOENT, A's part stays on A, the rest moves to B.
 */
TEST_F(peer, migrate_mixed)
{
	struct peer_ctx *c = &self->c;
	unsigned long q = 8, n = 4 * q;
	struct hmm_dmirror_cmd cmd;
	unsigned int seed = 0x1951;
	struct pstats a0, b0, s;
	unsigned char want[4];
	unsigned char *out;
	char *buf;
	int p;

	if (c->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	ASSERT_EQ(0, peer_mixed(c, buf, out, q, 0x1951));
	ASSERT_EQ(0, peer_stats(c->dev[0], &a0));
	ASSERT_EQ(0, peer_stats(c->dev[1], &b0));

	memset(out, FILLER, n * PG);
	if (c->group) {
		ASSERT_EQ(0, to_dev(c->fd[1], buf, out, n, &cmd));
		EXPECT_EQ(n, cmd.cpages);
		EXPECT_EQ(-1L, pat_find(out, 0, 3 * q, 0x1951));
		EXPECT_EQ(-1L, byte_find(out + 3 * q * PG, q * PG, 0));
		expect_delta(_metadata, c, 1, &b0, 3 * q, 0, 0, q, 0);
		expect_delta(_metadata, c, 0, &a0, -(long long)q, 0, 0, 0, q);
		ASSERT_EQ(0, peer_stats(c->dev[0], &s));
		EXPECT_EQ(a0.to_sys, s.to_sys);
		EXPECT_EQ(a0.cpu_faults, s.cpu_faults);
		ASSERT_EQ(0, peer_stats(c->dev[1], &s));
		EXPECT_EQ(b0.to_dev + 3 * (long long)q, s.to_dev);
		EXPECT_EQ(-1L, snap_find(c->fd[1], buf, n, c->local_rw));
		EXPECT_EQ(-1L, snap_find(c->fd[0], buf, n, c->peer_rw));
		/* All of it back to A, device to device. */
		peer_move(_metadata, c, 0, buf, 3 * q, 0x1951, 0x1952);
		seed = 0x1952;
		ASSERT_EQ(0, to_dev(c->fd[0], buf + 3 * q * PG, out, q, &cmd));
		EXPECT_EQ(q, cmd.cpages);
		EXPECT_EQ(-1L, byte_find(out, q * PG, 0));
		expect_delta(_metadata, c, 0, &a0, 3 * q, 0, 0, 4 * q, q);
		/* peer_move() read A's 3q pages through B, twice. */
		expect_delta(_metadata, c, 1, &b0, -(long long)q, 6 * q, 0, q,
			     4 * q);
	} else {
		EXPECT_EQ(-ENOENT, to_dev(c->fd[1], buf, out, n, &cmd));
		EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
		expect_delta(_metadata, c, 0, &a0, 0, 0, 0, 0, 0);
		expect_delta(_metadata, c, 1, &b0, 2 * q, 0, 0, 0, 0);
		want[0] = c->peer_rw;
		want[1] = c->local_rw;
		want[2] = c->peer_rw;
		want[3] = c->peer_rw;
		EXPECT_EQ(-1L, snap_parts(c->fd[0], buf, 4, q, want));
		want[0] = c->local_rw;
		want[1] = c->peer_rw;
		want[2] = c->local_rw;
		want[3] = c->local_rw;
		EXPECT_EQ(-1L, snap_parts(c->fd[1], buf, 4, q, want));
	}
	for (p = 0; p < 2; p++) {
		EXPECT_EQ(-1L, read_find(c->fd[p], buf, 3 * q, 0, seed));
		EXPECT_EQ(-1L, read_find(c->fd[p], buf + 3 * q * PG, q, 0, 0));
	}
	EXPECT_EQ(-1L, pat_find(buf, 0, 3 * q, seed));
	EXPECT_EQ(-1L, byte_find(buf + 3 * q * PG, q * PG, 0));

	free(out);
	munmap(buf, n * PG);
	peer_end(_metadata, c);
}

/*
 * Half on A, half on B: MIGRATE_TO_SYS on B brings home B's half only;
 * A's half stays on A, and B still reads it. Then A's own comes home.
 */
TEST_F(peer, to_sys_leaves_peer)
{
	struct peer_ctx *c = &self->c;
	unsigned long q = 16, n = 2 * q;
	struct hmm_dmirror_cmd cmd;
	unsigned char want[2];
	struct pstats a0, b0;
	unsigned char *out;
	char *buf;

	if (c->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0x1961);
	ASSERT_EQ(0, to_dev(c->fd[0], buf, out, q, &cmd));
	ASSERT_EQ(q, cmd.cpages);
	ASSERT_EQ(0, to_dev(c->fd[1], buf + q * PG, out, q, &cmd));
	ASSERT_EQ(q, cmd.cpages);
	ASSERT_EQ(0, peer_stats(c->dev[0], &a0));
	ASSERT_EQ(0, peer_stats(c->dev[1], &b0));

	ASSERT_EQ(0, to_sys(c->fd[1], buf, n, &cmd));
	EXPECT_EQ(q, cmd.cpages);
	expect_delta(_metadata, c, 0, &a0, 0, 0, 0, 0, 0);
	expect_delta(_metadata, c, 1, &b0, -(long long)q, 0, 0, 0, 0);
	want[0] = c->local_rw;
	want[1] = SNAP_SYS_RW;
	EXPECT_EQ(-1L, snap_parts(c->fd[0], buf, 2, q, want));
	want[0] = c->peer_rw;
	EXPECT_EQ(-1L, snap_parts(c->fd[1], buf, 2, q, want));

	/* B reads A's half where it is (in a group). */
	EXPECT_EQ(-1L, read_find(c->fd[1], buf, n, 0, 0x1961));
	expect_delta(_metadata, c, 0, &a0, c->faults_home ? -(long long)q : 0,
		     0, 0, 0, 0);
	expect_delta(_metadata, c, 1, &b0, -(long long)q, c->group ? q : 0,
		     0, 0, 0);
	EXPECT_EQ(-1L, read_find(c->fd[0], buf, n, 0, 0x1961));
	ASSERT_EQ(0, to_sys(c->fd[0], buf, n, &cmd));
	EXPECT_EQ(c->faults_home ? 0 : q, cmd.cpages);
	expect_delta(_metadata, c, 0, &a0, -(long long)q, 0, 0, 0, 0);
	EXPECT_EQ(-1L, snap_find(c->fd[0], buf, n, SNAP_SYS_RW));
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0x1961));
	/* Neither device kept the device memory the pages left. */
	pat_fill(buf, 0, n, 0x1962);
	EXPECT_EQ(-1L, read_find(c->fd[1], buf, n, 0, 0x1962));
	EXPECT_EQ(-1L, read_find(c->fd[0], buf, n, 0, 0x1962));

	free(out);
	munmap(buf, n * PG);
	peer_end(_metadata, c);
}

/*
 * Two 2 MiB units (a THP, and one never touched) from A to B and back:
 * one device PMD each where thp_migration reads Y (the PMD bit in both
 * devices' snapshots, local and peer), 512 base pages each where it reads
 * N. Private devices only: the compound migration is device-private.
 */
FIXTURE(peer_thp)
{
	struct peer_ctx c;
	int large;
};

FIXTURE_SETUP(peer_thp)
{
	peer_init(_metadata, &self->c, 0, 1, false);
	self->large = dmirror_param_yn("thp_migration");
	ASSERT_LE(0, self->large) TH_LOG("%s: cannot be read, or not Y or N",
					 THP_PARAM);
}

FIXTURE_TEARDOWN(peer_thp)
{
	peer_fini(&self->c);
}

TEST_F(peer_thp, thp_both_ways)
{
	struct peer_ctx *c = &self->c;
	unsigned long n = 2 * HPAGE_PAGES;
	unsigned char pmd = self->large ? HMM_DMIRROR_PROT_PMD : 0;
	struct hmm_dmirror_cmd cmd;
	unsigned char want[2];
	struct pstats a0, s;
	unsigned char *out;
	char *p;
	int i;

	p = map_huge(2);
	ASSERT_NE(NULL, p);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	THP_READY(populate_thp(c->fd[0], p, 0x1971), return);
	ASSERT_EQ(0, to_dev(c->fd[0], p, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, HPAGE_PAGES, 0x1971));
	EXPECT_EQ(-1L, byte_find(out + HPAGE, HPAGE, 0));
	EXPECT_EQ(-1L, snap_find(c->fd[0], p, n, c->local_rw | pmd));
	/*
	 * Without a group the core's walk reports another owner's device
	 * PMD as an error when it is not to fault it (mm/hmm.c), and its
	 * base pages as nothing.
	 */
	if (c->group)
		want[0] = c->peer_rw | pmd;
	else
		want[0] = pmd ? HMM_DMIRROR_PROT_ERROR : SNAP_NONE;
	EXPECT_EQ(-1L, snap_find(c->fd[1], p, n, want[0]));

	if (!c->group) {
		/* B cannot take them; its READ brings them home. */
		ASSERT_EQ(0, peer_stats(c->dev[0], &a0));
		EXPECT_EQ(-ENOENT, to_dev(c->fd[1], p, out, n, &cmd));
		expect_delta(_metadata, c, 0, &a0, 0, 0, 0, 0, 0);
		EXPECT_EQ(-1L, read_find(c->fd[1], p, HPAGE_PAGES, 0, 0x1971));
		EXPECT_EQ(-1L, read_find(c->fd[1], p + HPAGE, HPAGE_PAGES,
					 0, 0));
		expect_delta(_metadata, c, 0, &a0, -(long long)n, 0, 0, 0, 0);
	}
	for (i = 0; c->group && i < 2; i++) {
		int to = !(i & 1);

		ASSERT_EQ(0, peer_stats(c->dev[!to], &a0));
		ASSERT_EQ(0, to_dev(c->fd[to], p, out, n, &cmd));
		EXPECT_EQ(n, cmd.cpages);
		EXPECT_EQ(-1L, pat_find(out, 0, HPAGE_PAGES, 0x1971));
		EXPECT_EQ(-1L, byte_find(out + HPAGE, HPAGE, 0));
		expect_delta(_metadata, c, !to, &a0, -(long long)n, 0, 0, 0,
			     n);
		ASSERT_EQ(0, peer_stats(c->dev[!to], &s));
		EXPECT_EQ(a0.to_sys, s.to_sys);
		EXPECT_EQ(a0.cpu_faults, s.cpu_faults);
		EXPECT_EQ(-1L, snap_find(c->fd[to], p, n, c->local_rw | pmd));
		EXPECT_EQ(-1L, snap_find(c->fd[!to], p, n, c->peer_rw | pmd));
		/* The peer reads both units where they are. */
		EXPECT_EQ(-1L, read_find(c->fd[!to], p, HPAGE_PAGES, 0,
					 0x1971));
		EXPECT_EQ(-1L, read_find(c->fd[!to], p + HPAGE, HPAGE_PAGES,
					 0, 0));
		expect_delta(_metadata, c, !to, &a0, -(long long)n, n, 0, 0,
			     n);
		EXPECT_EQ(-1L, read_find(c->fd[to], p, HPAGE_PAGES, 0,
					 0x1971));
	}
	if (c->group) {
		ASSERT_EQ(0, to_sys(c->fd[0], p, n, &cmd));
		EXPECT_EQ(n, cmd.cpages);
	}
	want[0] = self->large ? SNAP_SYS_PMD_RW : SNAP_SYS_RW;
	want[1] = want[0];
	if (c->group)
		EXPECT_EQ(-1L, snap_parts(c->fd[1], p, 2, HPAGE_PAGES, want));
	EXPECT_EQ(-1L, pat_find(p, 0, HPAGE_PAGES, 0x1971));
	EXPECT_EQ(-1L, byte_find(p + HPAGE, HPAGE, 0));
	/* Neither device kept the device memory the pages left. */
	pat_fill(p, 0, n, 0x1972);
	EXPECT_EQ(-1L, read_find(c->fd[1], p, n, 0, 0x1972));
	EXPECT_EQ(-1L, read_find(c->fd[0], p, n, 0, 0x1972));

	free(out);
	munmap(p, 2 * HPAGE);
	peer_end(_metadata, &self->c);
}

TEST_HARNESS_MAIN
