/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the peer-group tests share (dmirror_peer_test.c,
 * dmirror_peer_migrate_test.c): the two devices, what the module parameter
 * peer_group makes the tests expect, and the counters.
 *
 * Two devices with one kind of memory: A (/dev/hmm_dmirror0, or 2 for
 * device-coherent memory) and B (/dev/hmm_dmirror1, or 3). With
 * peer_group=Y they share one pgmap owner: B reads and writes A's pages
 * where they are (SNAPSHOT via B: _PEER, via A: _LOCAL), MIGRATE_TO_DEV on
 * B takes them device to device, MIGRATE_TO_SYS on B leaves them alone,
 * and peer_pages_read/written, migrated_from/to_peer count it all. With
 * peer_group=N each device is its own owner, as in the kernel's test_hmm:
 * B's READ or WRITE faults A's private pages home first (coherent ones are
 * accessed in place), SNAPSHOT via B shows A's private pages as NONE and
 * its coherent ones as _REMOTE, MIGRATE_TO_DEV on B fails with -ENOENT,
 * and the four peer counters stay 0. The same tests run either way and
 * assert what the parameter says; a parameter that cannot be read fails.
 */
#ifndef _DMIRROR_PEER_H
#define _DMIRROR_PEER_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

/* See dmirror_migrate.h: harness code, not ours, trips -Wclobbered. */
#pragma GCC diagnostic ignored "-Wclobbered"

#define PEER_PARAM	DMIRROR_PARAM_DIR "/peer_group"

/* The counters of one device these tests look at. */
struct pstats {
	long long resident;
	long long to_dev;
	long long to_sys;
	long long cpu_faults;
	long long evicted;
	long long peer_read;	/* peer_pages_read */
	long long peer_written;	/* peer_pages_written */
	long long from_peer;	/* migrated_from_peer */
	long long to_peer;	/* migrated_to_peer */
};

/* Fill @s from device @dev; 0 when every counter was found. */
static inline int peer_stats(int dev, struct pstats *s)
{
	s->resident = dmirror_dev_stat(dev, "resident_pages");
	s->to_dev = dmirror_dev_stat(dev, "migrated_to_dev");
	s->to_sys = dmirror_dev_stat(dev, "migrated_to_sys");
	s->cpu_faults = dmirror_dev_stat(dev, "cpu_faults");
	s->evicted = dmirror_dev_stat(dev, "evicted_pages");
	s->peer_read = dmirror_dev_stat(dev, "peer_pages_read");
	s->peer_written = dmirror_dev_stat(dev, "peer_pages_written");
	s->from_peer = dmirror_dev_stat(dev, "migrated_from_peer");
	s->to_peer = dmirror_dev_stat(dev, "migrated_to_peer");
	if (s->resident < 0 || s->to_dev < 0 || s->to_sys < 0 ||
	    s->cpu_faults < 0 || s->evicted < 0 || s->peer_read < 0 ||
	    s->peer_written < 0 || s->from_peer < 0 || s->to_peer < 0)
		return -1;
	return 0;
}

/* The two devices of a test and what to expect of them. */
struct peer_ctx {
	int fd[2];		/* A and B; -1 once a test closed one */
	int dev[2];		/* their numbers */
	bool skipped;		/* no coherent devices: the test does nothing */
	bool group;		/* peer_group reads Y */
	bool coherent;
	/*
	 * B's READ or WRITE of A's pages faults them home (private memory
	 * without a group); else it reaches them where they are.
	 */
	bool faults_home;
	/* SNAPSHOT of a device's own pages, and of its peer's */
	unsigned char local_rw, local_ro, peer_rw, peer_ro;
	struct pstats start[2];	/* the counters when the test began */
};

/*
 * Open devices @a and @b and work out the expectations. Returns 1 when
 * the test must SKIP (coherent devices, module loaded without them).
 */
static inline int peer_init(struct __test_metadata *_metadata,
			    struct peer_ctx *c, int a, int b, bool coherent)
{
	int group, i;

	c->fd[0] = -1;
	c->fd[1] = -1;
	c->dev[0] = a;
	c->dev[1] = b;
	c->coherent = coherent;
	c->fd[0] = dmirror_fixture_open(a, coherent, &c->skipped);
	if (c->skipped)
		return 1;
	ASSERT_LE(0, c->fd[0]) TH_LOG("open /dev/hmm_dmirror%d: %s", a,
				      strerror(errno));
	c->fd[1] = dmirror_open_dev(b);
	ASSERT_LE(0, c->fd[1]) TH_LOG("open /dev/hmm_dmirror%d: %s", b,
				      strerror(errno));
	group = dmirror_param_yn("peer_group");
	ASSERT_LE(0, group) TH_LOG("%s: cannot be read, or not Y or N",
				   PEER_PARAM);
	c->group = group;
	c->faults_home = !group && !coherent;
	if (coherent) {
		c->local_rw = SNAP_COH_RW;
		c->local_ro = SNAP_COH_RO;
		c->peer_rw = (group ? HMM_DMIRROR_PROT_DEV_COHERENT_PEER :
			      HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE) |
			     HMM_DMIRROR_PROT_WRITE;
	} else {
		c->local_rw = SNAP_PRIV_RW;
		c->local_ro = SNAP_PRIV_RO;
		c->peer_rw = group ? (HMM_DMIRROR_PROT_DEV_PRIVATE_PEER |
				      HMM_DMIRROR_PROT_WRITE) : SNAP_NONE;
	}
	/* The same location, read-only (NONE stays NONE). */
	c->peer_ro = c->peer_rw ? (c->peer_rw ^ HMM_DMIRROR_PROT_WRITE) |
				  HMM_DMIRROR_PROT_READ : SNAP_NONE;
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, peer_stats(c->dev[i], &c->start[i]))
			TH_LOG("dev%d stats lack a counter (peer_pages_read?)",
			       c->dev[i]);
	}
	return 0;
}

static inline void peer_fini(struct peer_ctx *c)
{
	if (c->fd[0] >= 0)
		close(c->fd[0]);
	if (c->fd[1] >= 0)
		close(c->fd[1]);
}

/*
 * Expect the counters of device @i (0: A, 1: B) to be @s0 plus: @res
 * resident pages, @rd and @wr peer pages read and written, @from and @to
 * pages migrated from and to the peer.
 */
static inline void expect_delta(struct __test_metadata *_metadata,
				struct peer_ctx *c, int i,
				const struct pstats *s0, long long res,
				long long rd, long long wr, long long from,
				long long to)
{
	int dev = c->dev[i];
	struct pstats s;

	ASSERT_EQ(0, peer_stats(dev, &s));
	EXPECT_EQ(s0->resident + res, s.resident)
		TH_LOG("dev%d resident_pages", dev);
	EXPECT_EQ(s0->peer_read + rd, s.peer_read)
		TH_LOG("dev%d peer_pages_read", dev);
	EXPECT_EQ(s0->peer_written + wr, s.peer_written)
		TH_LOG("dev%d peer_pages_written", dev);
	EXPECT_EQ(s0->from_peer + from, s.from_peer)
		TH_LOG("dev%d migrated_from_peer", dev);
	EXPECT_EQ(s0->to_peer + to, s.to_peer)
		TH_LOG("dev%d migrated_to_peer", dev);
}

/*
 * The end of every test, after it unmapped its memory: both devices hold
 * what they held when it began, and without a group no peer counter ever
 * moved from 0.
 */
static inline void peer_end(struct __test_metadata *_metadata,
			    struct peer_ctx *c)
{
	struct pstats s;
	int i;

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, peer_stats(c->dev[i], &s));
		EXPECT_EQ(c->start[i].resident, s.resident)
			TH_LOG("dev%d resident_pages at the end", c->dev[i]);
		if (c->group)
			continue;
		EXPECT_EQ(0LL, s.peer_read)
			TH_LOG("dev%d peer_pages_read without a group", c->dev[i]);
		EXPECT_EQ(0LL, s.peer_written)
			TH_LOG("dev%d peer_pages_written without a group", c->dev[i]);
		EXPECT_EQ(0LL, s.from_peer)
			TH_LOG("dev%d migrated_from_peer without a group", c->dev[i]);
		EXPECT_EQ(0LL, s.to_peer)
			TH_LOG("dev%d migrated_to_peer without a group", c->dev[i]);
	}
}

/*
 * READ @npages at @addr through @fd and compare them with the pattern of
 * pages [@page0, +@npages) under @seed (@seed 0: zeros). Returns -1 when
 * all match, -2 when the READ failed, else the first byte that differs.
 */
static inline long read_find(int fd, const void *addr, unsigned long npages,
			     unsigned long page0, unsigned int seed)
{
	unsigned char *out = out_buf(npages * PG);
	struct hmm_dmirror_cmd cmd;
	long bad = -2;
	int ret;

	if (!out)
		return -2;
	ret = dev_read(fd, addr, out, npages, &cmd);
	if (ret || cmd.cpages != npages)
		fprintf(stderr, "# READ of %lu pages: %d (%s), cpages %llu\n",
			npages, ret, strerror(-ret),
			(unsigned long long)cmd.cpages);
	else if (seed)
		bad = pat_find(out, page0, npages, seed);
	else
		bad = byte_find(out, npages * PG, 0);
	free(out);
	return bad;
}

/*
 * One SNAPSHOT of @nparts parts of @part pages each at @addr through @fd:
 * every byte of part i must be @want[i]. Returns -1 when all are, -2
 * when the snapshot failed, else the first page that is not (reported).
 */
static inline long snap_parts(int fd, const void *addr, unsigned long nparts,
			      unsigned long part, const unsigned char *want)
{
	unsigned long n = nparts * part, i;
	struct hmm_dmirror_cmd cmd;
	unsigned char *s = out_buf(n);
	long bad = -1;

	if (!s)
		return -2;
	if (range_ioctl(fd, HMM_DMIRROR_SNAPSHOT, addr, s, n, &cmd) ||
	    cmd.cpages != n) {
		free(s);
		return -2;
	}
	for (i = 0; i < n; i++) {
		if (s[i] != want[i / part]) {
			fprintf(stderr, "# snapshot: page %lu is %#x, expected %#x\n",
				i, s[i], want[i / part]);
			bad = i;
			break;
		}
	}
	free(s);
	return bad;
}

/*
 * The mixed range of four @q-page parts at @buf: system memory (written
 * with @seed, as are the next two), A's memory, B's memory, never touched.
 * @out takes the migrations' read-backs. Return: 0, or -1 when a
 * migration did not move its part whole.
 */
static inline int peer_mixed(struct peer_ctx *c, char *buf,
			     unsigned char *out, unsigned long q,
			     unsigned int seed)
{
	struct hmm_dmirror_cmd cmd;

	pat_fill(buf, 0, 3 * q, seed);
	if (to_dev(c->fd[0], buf + q * PG, out, q, &cmd) || cmd.cpages != q)
		return -1;
	if (to_dev(c->fd[1], buf + 2 * q * PG, out, q, &cmd) ||
	    cmd.cpages != q)
		return -1;
	return 0;
}

/*
 * The fixture both programs use: a private pair (0, 1) and a coherent
 * one (2, 3), each set up and checked by peer_init() and peer_fini().
 */
FIXTURE(peer)
{
	struct peer_ctx c;
};

FIXTURE_VARIANT(peer)
{
	int a, b;	/* /dev/hmm_dmirror<a> and <b> */
	bool coherent;
};

FIXTURE_VARIANT_ADD(peer, private)
{
	.a = 0,
	.b = 1,
	.coherent = false,
};

FIXTURE_VARIANT_ADD(peer, coherent)
{
	.a = 2,
	.b = 3,
	.coherent = true,
};

FIXTURE_SETUP(peer)
{
	if (peer_init(_metadata, &self->c, variant->a, variant->b,
		      variant->coherent))
		SKIP(return, DMIRROR_NO_COHERENT_WHY);
}

FIXTURE_TEARDOWN(peer)
{
	peer_fini(&self->c);
}

#endif /* _DMIRROR_PEER_H */
