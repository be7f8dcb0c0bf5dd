// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_peer_test: a device reading and writing its peer's pages, the
 * snapshot of a range spread over system memory and both devices, the
 * peer's memory evicted (RELEASE, close, a full device) while the device
 * maps it, and fork of memory the device maps in its peer. What each test
 * expects with and without a group: dmirror_peer.h.
 */
#include "dmirror_peer.h"

/*
 * B reads A's pages, then writes them. In a group nothing moves: B reads
 * A's bytes, B's WRITE lands in A's memory (A's READ and the CPU see it),
 * and both snapshots say where the pages are. Without one, private pages
 * come home on B's READ (A counts CPU faults), coherent ones are read and
 * written in place.
 */
TEST_F(peer, read_write)
{
	struct peer_ctx *c = &self->c;
	unsigned long n = 32;
	long long moved, peer;
	struct hmm_dmirror_cmd cmd;
	struct pstats a0, b0, s;
	unsigned char *out;
	char *buf, *in;

	if (c->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	in = malloc(n * PG);
	ASSERT_NE(NULL, out);
	ASSERT_NE(NULL, in);
	pat_fill(buf, 0, n, 0x1901);
	ASSERT_EQ(0, to_dev(c->fd[0], buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, snap_find(c->fd[0], buf, n, c->local_rw));
	EXPECT_EQ(-1L, snap_find(c->fd[1], buf, n, c->peer_rw));
	ASSERT_EQ(0, peer_stats(c->dev[0], &a0));
	ASSERT_EQ(0, peer_stats(c->dev[1], &b0));
	moved = c->faults_home ? n : 0;
	peer = c->group ? n : 0;

	/* B reads. */
	ASSERT_EQ(0, dev_read(c->fd[1], buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0x1901));
	expect_delta(_metadata, c, 0, &a0, -moved, 0, 0, 0, 0);
	expect_delta(_metadata, c, 1, &b0, 0, peer, 0, 0, 0);
	ASSERT_EQ(0, peer_stats(c->dev[0], &s));
	EXPECT_EQ(a0.cpu_faults + moved, s.cpu_faults);
	EXPECT_EQ(-1L, snap_find(c->fd[0], buf, n,
				 moved ? SNAP_SYS_RW : c->local_rw));
	EXPECT_EQ(-1L, snap_find(c->fd[1], buf, n,
				 moved ? SNAP_SYS_RW : c->peer_rw));

	/* B writes: in a group into A's memory. */
	pat_fill(in, 0, n, 0x1902);
	ASSERT_EQ(0, dev_write(c->fd[1], buf, in, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	expect_delta(_metadata, c, 0, &a0, -moved, 0, 0, 0, 0);
	expect_delta(_metadata, c, 1, &b0, 0, peer, peer, 0, 0);
	EXPECT_EQ(-1L, snap_find(c->fd[0], buf, n,
				 moved ? SNAP_SYS_RW : c->local_rw));
	EXPECT_EQ(-1L, snap_find(c->fd[1], buf, n,
				 moved ? SNAP_SYS_RW : c->peer_rw));
	EXPECT_EQ(-1L, read_find(c->fd[1], buf, n, 0, 0x1902));
	EXPECT_EQ(-1L, read_find(c->fd[0], buf, n, 0, 0x1902));
	expect_delta(_metadata, c, 0, &a0, -moved, 0, 0, 0, 0);

	/* The CPU sees B's bytes (private pages come home now). */
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0x1902));
	expect_delta(_metadata, c, 0, &a0, c->coherent ? 0 : -(long long)n,
		     0, 0, 0, 0);
	EXPECT_EQ(-1L, read_find(c->fd[1], buf, n, 0, 0x1902));

	/* New CPU bytes: neither device kept the memory the pages left. */
	pat_fill(buf, 0, n, 0x1903);
	EXPECT_EQ(-1L, read_find(c->fd[1], buf, n, 0, 0x1903));
	EXPECT_EQ(-1L, read_find(c->fd[0], buf, n, 0, 0x1903));

	free(in);
	free(out);
	munmap(buf, n * PG);
	peer_end(_metadata, c);
}

/*
 * One range, four parts: system memory, A's memory, B's memory, never
 * touched. Each device's snapshot names every page's place, each device
 * reads every byte, and only without a group do private pages move.
 */
TEST_F(peer, snapshot_mixed)
{
	struct peer_ctx *c = &self->c;
	unsigned long q = 8, n = 4 * q;
	unsigned char want_a[4], want_b[4];
	struct hmm_dmirror_cmd cmd;
	long long moved, peer;
	struct pstats a0, b0;
	unsigned char *out;
	char *buf;

	if (c->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	ASSERT_EQ(0, peer_mixed(c, buf, out, q, 0x1911));
	ASSERT_EQ(0, peer_stats(c->dev[0], &a0));
	ASSERT_EQ(0, peer_stats(c->dev[1], &b0));
	moved = c->faults_home ? q : 0;
	peer = c->group ? q : 0;

	want_a[0] = SNAP_SYS_RW;
	want_a[1] = c->local_rw;
	want_a[2] = c->peer_rw;
	want_a[3] = SNAP_NONE;
	memcpy(want_b, want_a, sizeof(want_b));
	want_b[1] = c->peer_rw;
	want_b[2] = c->local_rw;
	EXPECT_EQ(-1L, snap_parts(c->fd[0], buf, 4, q, want_a));
	EXPECT_EQ(-1L, snap_parts(c->fd[1], buf, 4, q, want_b));

	/* A reads it all; never-touched pages become the zero page. */
	ASSERT_EQ(0, dev_read(c->fd[0], buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, 3 * q, 0x1911));
	EXPECT_EQ(-1L, byte_find(out + 3 * q * PG, q * PG, 0));
	expect_delta(_metadata, c, 0, &a0, 0, peer, 0, 0, 0);
	expect_delta(_metadata, c, 1, &b0, -moved, 0, 0, 0, 0);
	want_a[3] = HMM_DMIRROR_PROT_ZERO | SNAP_SYS_RO;
	want_b[3] = want_a[3];
	if (moved) {
		want_a[2] = SNAP_SYS_RW;
		want_b[2] = SNAP_SYS_RW;
	}
	EXPECT_EQ(-1L, snap_parts(c->fd[0], buf, 4, q, want_a));
	EXPECT_EQ(-1L, snap_parts(c->fd[1], buf, 4, q, want_b));

	/* B reads it all. */
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, dev_read(c->fd[1], buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, 3 * q, 0x1911));
	EXPECT_EQ(-1L, byte_find(out + 3 * q * PG, q * PG, 0));
	expect_delta(_metadata, c, 0, &a0, -moved, peer, 0, 0, 0);
	expect_delta(_metadata, c, 1, &b0, -moved, peer, 0, 0, 0);
	if (moved) {
		want_a[1] = SNAP_SYS_RW;
		want_b[1] = SNAP_SYS_RW;
	}
	EXPECT_EQ(-1L, snap_parts(c->fd[0], buf, 4, q, want_a));
	EXPECT_EQ(-1L, snap_parts(c->fd[1], buf, 4, q, want_b));

	EXPECT_EQ(-1L, pat_find(buf, 0, 3 * q, 0x1911));
	EXPECT_EQ(-1L, byte_find(buf + 3 * q * PG, q * PG, 0));
	free(out);
	munmap(buf, n * PG);
	peer_end(_metadata, c);
}

enum evict_how { EV_RELEASE, EV_CLOSE, EV_FULL };

/*
 * Fill all of A's memory with one migration of never-touched pages: A
 * evicts everything else it holds to make room. Its counters are then
 * read into @s, and the pages are freed again.
 */
static void fill_dev(struct __test_metadata *_metadata, struct peer_ctx *c,
		     struct pstats *s)
{
	long long cap = dmirror_dev_stat(c->dev[0], "capacity_pages");
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *big;

	ASSERT_LT(0LL, cap);
	big = map_anon(cap, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, big);
	out = malloc(cap * PG);
	ASSERT_NE(NULL, out);
	ASSERT_EQ(0, to_dev(c->fd[0], big, out, cap, &cmd));
	EXPECT_EQ((unsigned long long)cap, cmd.cpages);
	ASSERT_EQ(0, peer_stats(c->dev[0], s));
	EXPECT_EQ(cap, s->resident);
	free(out);
	munmap(big, cap * PG);
}

/*
 * B maps A's pages (READ), then A's memory goes: RELEASE on A (all of
 * it), the close of A's file (what this process put there), or A needs
 * the room for other pages (device full). B must hold nothing stale: the
 * CPU writes new bytes into the pages (now system memory) and B reads
 * those, also after A has taken new pages, which may reuse the device
 * memory B read before.
 */
static void evict_while_mapped(struct __test_metadata *_metadata,
			       struct peer_ctx *c, enum evict_how how)
{
	unsigned long n = 32;
	struct hmm_dmirror_cmd cmd;
	struct pstats a0, b0, s;
	unsigned char *out;
	char *buf, *other;

	buf = map_anon(n, PROT_READ | PROT_WRITE);
	other = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, other);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0x1921);
	ASSERT_EQ(0, to_dev(c->fd[0], buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, read_find(c->fd[1], buf, n, 0, 0x1921));
	EXPECT_EQ(-1L, snap_find(c->fd[1], buf, n,
				 c->faults_home ? SNAP_SYS_RW : c->peer_rw));
	ASSERT_EQ(0, peer_stats(c->dev[0], &a0));
	ASSERT_EQ(0, peer_stats(c->dev[1], &b0));

	if (how == EV_RELEASE) {
		ASSERT_EQ(0, range_ioctl(c->fd[0], HMM_DMIRROR_RELEASE, buf,
					 NULL, 1, &cmd));
		ASSERT_EQ(0, peer_stats(c->dev[0], &s));
		EXPECT_EQ(0LL, s.resident);
	} else if (how == EV_FULL) {
		fill_dev(_metadata, c, &s);
	} else {
		ASSERT_EQ(0, close(c->fd[0]));
		c->fd[0] = -1;
		ASSERT_EQ(0, peer_stats(c->dev[0], &s));
		EXPECT_EQ(c->start[0].resident, s.resident);
	}
	/* RELEASE and a full A evict what A held when the test began, too. */
	if (how != EV_CLOSE)
		c->start[0].resident = 0;
	if (!c->faults_home)
		EXPECT_LE(a0.evicted + (long long)n, s.evicted);
	EXPECT_EQ(a0.cpu_faults, s.cpu_faults);
	if (c->fd[0] < 0) {
		c->fd[0] = dmirror_open_dev(c->dev[0]);
		ASSERT_LE(0, c->fd[0]);
	}
	EXPECT_EQ(-1L, snap_find(c->fd[0], buf, n, SNAP_SYS_RW));
	EXPECT_EQ(-1L, snap_find(c->fd[1], buf, n, SNAP_SYS_RW));

	/* The pages are home: the CPU needs no device to read them. */
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0x1921));
	pat_fill(buf, 0, n, 0x1922);
	ASSERT_EQ(0, peer_stats(c->dev[0], &s));
	EXPECT_EQ(a0.cpu_faults, s.cpu_faults);
	EXPECT_EQ(-1L, read_find(c->fd[1], buf, n, 0, 0x1922));

	/* A takes new pages; B still reads buf's. */
	pat_fill(other, 0, n, 0x1923);
	ASSERT_EQ(0, to_dev(c->fd[0], other, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, read_find(c->fd[1], buf, n, 0, 0x1922));
	EXPECT_EQ(-1L, read_find(c->fd[0], buf, n, 0, 0x1922));
	expect_delta(_metadata, c, 1, &b0, 0, 0, 0, 0, 0);
	EXPECT_EQ(-1L, read_find(c->fd[1], other, n, 0, 0x1923));
	EXPECT_EQ(-1L, pat_find(other, 0, n, 0x1923));

	free(out);
	munmap(buf, n * PG);
	munmap(other, n * PG);
	peer_end(_metadata, c);
}

TEST_F(peer, release_while_mapped)
{
	if (!self->c.skipped)
		evict_while_mapped(_metadata, &self->c, EV_RELEASE);
}

TEST_F(peer, close_while_mapped)
{
	if (!self->c.skipped)
		evict_while_mapped(_metadata, &self->c, EV_CLOSE);
}

TEST_F(peer, full_while_mapped)
{
	if (!self->c.skipped)
		evict_while_mapped(_metadata, &self->c, EV_FULL);
}

#define COW_N		16
#define COW_HALF	8

/*
 * The fork child: it sees the pages as they were at the fork, whatever
 * the parent wrote through B since, and writes its own copy of the second
 * half with the CPU. Returns 0 or the number of the check that failed.
 */
static int cow_child(struct peer_ctx *c, char *buf, int rd)
{
	unsigned long h = COW_HALF, n = COW_N;
	unsigned char want[2];
	char go;
	int fd;

	if (read(rd, &go, 1) != 1)
		return 1;
	fd = dmirror_open_dev(c->dev[1]);
	if (fd < 0)
		return 2;
	/* First half: the parent's write gave the child the old page. */
	want[0] = c->coherent ? c->peer_ro : SNAP_SYS_RO;
	want[1] = c->faults_home ? SNAP_SYS_RO : c->peer_ro;
	if (snap_parts(fd, buf, 2, h, want) != -1)
		return 3;
	if (read_find(fd, buf, n, 0, 0x1931) != -1)
		return 4;
	pat_fill(buf + h * PG, h, n - h, 0x1933);
	if (pat_find(buf, 0, h, 0x1931) != -1)
		return 5;
	if (read_find(fd, buf, h, 0, 0x1931) != -1)
		return 6;
	if (read_find(fd, buf + h * PG, n - h, h, 0x1933) != -1)
		return 7;
	return close(fd) ? 8 : 0;
}

/*
 * B maps A's pages; fork. Both processes then see A's pages read-only.
 * The parent writes the first half through B, the child the second half
 * with the CPU: neither sees the other's bytes, through the CPU, A or B.
 */
TEST_F(peer, fork_cow)
{
	struct peer_ctx *c = &self->c;
	unsigned long h = COW_HALF, n = COW_N;
	unsigned char want[2];
	struct hmm_dmirror_cmd cmd;
	struct pstats b0;
	int p2c[2], status;
	unsigned char *out;
	char *buf;
	pid_t pid;

	if (c->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0x1931);
	ASSERT_EQ(0, to_dev(c->fd[0], buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, peer_stats(c->dev[1], &b0));
	EXPECT_EQ(-1L, read_find(c->fd[1], buf, n, 0, 0x1931));
	expect_delta(_metadata, c, 1, &b0, 0, c->group ? n : 0, 0, 0, 0);

	ASSERT_EQ(0, pipe(p2c));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(p2c[1]);
		_exit(cow_child(c, buf, p2c[0]));
	}
	close(p2c[0]);

	/* After fork both see the pages read-only. */
	EXPECT_EQ(-1L, snap_find(c->fd[1], buf, n,
				 c->faults_home ? SNAP_SYS_RO : c->peer_ro));
	EXPECT_EQ(-1L, snap_find(c->fd[0], buf, n,
				 c->faults_home ? SNAP_SYS_RO : c->local_ro));

	/* The parent writes the first half through B. */
	pat_fill(out, 0, h, 0x1932);
	ASSERT_EQ(0, dev_write(c->fd[1], buf, out, h, &cmd));
	EXPECT_EQ(h, cmd.cpages);
	EXPECT_EQ(-1L, read_find(c->fd[1], buf, h, 0, 0x1932));
	EXPECT_EQ(-1L, read_find(c->fd[1], buf + h * PG, n - h, h, 0x1931));
	want[0] = SNAP_SYS_RW;
	want[1] = c->faults_home ? SNAP_SYS_RO : c->local_ro;
	EXPECT_EQ(-1L, snap_parts(c->fd[0], buf, 2, h, want));

	ASSERT_EQ(1, write(p2c[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	close(p2c[1]);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child: 3 snapshot, 4-7 bytes, 1-2 and 8 setup");

	/* The child's writes stayed in the child. */
	EXPECT_EQ(-1L, read_find(c->fd[1], buf, h, 0, 0x1932));
	EXPECT_EQ(-1L, read_find(c->fd[1], buf + h * PG, n - h, h, 0x1931));
	EXPECT_EQ(-1L, read_find(c->fd[0], buf + h * PG, n - h, h, 0x1931));
	EXPECT_EQ(-1L, pat_find(buf, 0, h, 0x1932));
	EXPECT_EQ(-1L, pat_find(buf + h * PG, h, n - h, 0x1931));

	free(out);
	munmap(buf, n * PG);
	peer_end(_metadata, c);
}

TEST_HARNESS_MAIN
