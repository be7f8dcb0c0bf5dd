// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_migrate_evict_test: device pages leaving the device: mprotect
 * and writes after fork, many round trips, HMM_DMIRROR_MIGRATE_TO_SYS,
 * HMM_DMIRROR_RELEASE, eviction when a file closes, and two devices
 * passing pages between them.
 */
#include "dmirror_migrate.h"

/*
 * mprotect(PROT_READ) over device pages: they stay on the device, mapped
 * read-only; a device WRITE is -EPERM, a device READ reads them in place,
 * a new migration takes them as they are, and a CPU read sees the data
 * intact (bringing private pages back). Read-only system pages migrate as
 * read-only device pages.
 */
TEST_F(mig, mprotect_readonly)
{
	unsigned long n = 32;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	long long moved;
	unsigned char *out, *in;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	in = malloc(n * PG);
	ASSERT_NE(NULL, in);
	pat_fill(buf, 0, n, 0xb01);
	pat_fill(in, 0, n, 0xb02);

	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, mprotect(buf, n * PG, PROT_READ));
	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_ro));

	EXPECT_EQ(-EPERM, dev_write(self->fd, buf, in, n, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);

	/* Resident on this device: migrating again is fine, moves nothing. */
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0xb01));

	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0xb01));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_ro));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.resident, s1.resident);
	EXPECT_EQ(s0.to_dev, s1.to_dev);
	EXPECT_EQ(s0.cpu_faults, s1.cpu_faults);

	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0xb01));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	moved = self->cpu_migrates ? n : 0;
	EXPECT_EQ(s0.cpu_faults + moved, s1.cpu_faults);
	EXPECT_EQ(s0.resident - moved, s1.resident);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->touched_ro));
	EXPECT_EQ(-EPERM, dev_write(self->fd, buf, in, n, &cmd));

	if (!self->cpu_migrates) {
		/* Coherent pages are still there: move them out ourselves. */
		ASSERT_EQ(0, to_sys(self->fd, buf, n, &cmd));
		EXPECT_EQ(n, cmd.cpages);
		EXPECT_EQ(-1L, snap_find(self->fd, buf, n, SNAP_SYS_RO));
	}

	/* Read-only pages migrate as read-only device pages. */
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0xb01));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_ro));
	EXPECT_EQ(-EPERM, dev_write(self->fd, buf, in, n, &cmd));
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0xb01));

	free(in);
	free(out);
	munmap(buf, n * PG);
}

/*
 * Device pages the CPU maps read-only, then writable again (mprotect
 * PROT_READ, then PROT_READ|PROT_WRITE): the device entries stay
 * read-only, so a device WRITE must get write access the way a CPU write
 * would. Private pages come back to system memory through the CPU fault
 * path first (cpu_faults moves by one per page); coherent pages are
 * written where they are. Every page holds the new data afterwards.
 */
TEST_F(mig, write_after_mprotect_rw)
{
	unsigned long n = 24;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	unsigned char *out, *in;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	in = malloc(n * PG);
	ASSERT_NE(NULL, in);
	pat_fill(buf, 0, n, 0xc01);
	pat_fill(in, 0, n, 0xc02);

	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, mprotect(buf, n * PG, PROT_READ));
	ASSERT_EQ(0, mprotect(buf, n * PG, PROT_READ | PROT_WRITE));
	/*
	 * Device-private entries stay read-only. Coherent pages are mapped
	 * like any page: 7.x makes them writable again at once.
	 */
	if (self->cpu_migrates)
		EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_ro));
	ASSERT_EQ(0, read_stats(variant->dev, &s0));

	ASSERT_EQ(0, dev_write(self->fd, buf, in, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.cpu_faults + (self->cpu_migrates ? (long long)n : 0),
		  s1.cpu_faults);

	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0xc02));
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0xc02));

	free(in);
	free(out);
	munmap(buf, n * PG);
}

/*
 * After fork, the parent's device pages are shared with the child and
 * mapped read-only in both. A device WRITE in the parent breaks the
 * sharing like a CPU write: the parent sees the new data, the child still
 * sees the old.
 */
TEST_F(mig, write_after_fork)
{
	unsigned long n = 16;
	int p2c[2], status;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out, *in;
	char *buf, c;
	pid_t pid;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	in = malloc(n * PG);
	ASSERT_NE(NULL, in);
	pat_fill(buf, 0, n, 0xd01);
	pat_fill(in, 0, n, 0xd02);
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);

	ASSERT_EQ(0, pipe(p2c));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(p2c[1]);
		if (read(p2c[0], &c, 1) != 1)
			_exit(2);
		_exit(pat_find(buf, 0, n, 0xd01) == -1L ? 0 : 1);
	}
	close(p2c[0]);

	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_ro));
	ASSERT_EQ(0, dev_write(self->fd, buf, in, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0xd02));
	ASSERT_EQ(1, write(p2c[1], "p", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("the child does not see its original data");

	close(p2c[1]);
	free(in);
	free(out);
	munmap(buf, n * PG);
}

/*
 * Many single-page round trips over a small buffer: each time the CPU
 * writes new data, the page goes to the device and comes back with
 * MIGRATE_TO_SYS, and the data is checked on both sides.
 */
TEST_F(mig, many_round_trips)
{
	unsigned long n = 8, rounds = 200, r;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0xc00);

	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	for (r = 0; r < rounds; r++) {
		unsigned long pg = r % n;
		unsigned int seed = 0xc01 + r;
		char *page = buf + pg * PG;

		pat_fill(page, pg, 1, seed);
		memset(out, FILLER, PG);
		ASSERT_EQ(0, to_dev(self->fd, page, out, 1, &cmd))
			TH_LOG("round %lu", r);
		ASSERT_EQ(1ULL, cmd.cpages) TH_LOG("round %lu", r);
		ASSERT_EQ(-1L, pat_find(out, pg, 1, seed))
			TH_LOG("round %lu", r);
		ASSERT_EQ(-1L, snap_find(self->fd, page, 1, self->snap_rw))
			TH_LOG("round %lu", r);
		ASSERT_EQ(0, to_sys(self->fd, page, 1, &cmd))
			TH_LOG("round %lu", r);
		ASSERT_EQ(1ULL, cmd.cpages) TH_LOG("round %lu", r);
		ASSERT_EQ(-1L, snap_find(self->fd, page, 1, SNAP_SYS_RW))
			TH_LOG("round %lu", r);
		ASSERT_EQ(-1L, pat_find(page, pg, 1, seed))
			TH_LOG("round %lu", r);
	}
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.to_dev + (long long)rounds, s1.to_dev);
	EXPECT_EQ(s0.to_sys + (long long)rounds, s1.to_sys);
	EXPECT_EQ(s0.cpu_faults, s1.cpu_faults);
	EXPECT_EQ(s0.resident, s1.resident);

	free(out);
	munmap(buf, n * PG);
}

/*
 * MIGRATE_TO_SYS brings back exactly this device's pages of the range,
 * counts them in cpages and migrated_to_sys, and leaves the others alone.
 */
TEST_F(mig, migrate_to_sys)
{
	unsigned long n = 64, half = n / 2;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0xd01);

	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	ASSERT_EQ(0, to_sys(self->fd, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.to_sys + (long long)n, s1.to_sys);
	EXPECT_EQ(s0.resident - (long long)n, s1.resident);
	EXPECT_EQ(s0.cpu_faults, s1.cpu_faults);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, SNAP_SYS_RW));

	/* Nothing left on the device: nothing moves. */
	ASSERT_EQ(0, to_sys(self->fd, buf, n, &cmd));
	EXPECT_EQ(0ULL, cmd.cpages);

	/* Half on the device, half in system memory. */
	ASSERT_EQ(0, to_dev(self->fd, buf + half * PG, out, n - half, &cmd));
	ASSERT_EQ(n - half, cmd.cpages);
	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	ASSERT_EQ(0, to_sys(self->fd, buf, n, &cmd));
	EXPECT_EQ(n - half, cmd.cpages);
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.to_sys + (long long)(n - half), s1.to_sys);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, SNAP_SYS_RW));

	EXPECT_EQ(0, read_stats(variant->dev, &s0));
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0xd01));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.cpu_faults, s1.cpu_faults);

	free(out);
	munmap(buf, n * PG);
}

/*
 * Child of release_live_pages: puts its own pages on device @dev, lets the
 * parent RELEASE the device, then finds them back in system memory.
 */
static int release_child(int dev, unsigned long n, int rd, int wr)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	int fd, ret = 0;
	char *buf, c;

	buf = map_anon(n, PROT_READ | PROT_WRITE);
	out = out_buf(n * PG);
	fd = dmirror_open_dev(dev);
	if (!buf || !out || fd < 0)
		return 1;
	pat_fill(buf, 0, n, 0xe02);
	if (to_dev(fd, buf, out, n, &cmd) || cmd.cpages != n)
		ret = 2;
	else if (pat_find(out, 0, n, 0xe02) != -1)
		ret = 3;
	else if (write(wr, "c", 1) != 1)
		ret = 4;
	else if (read(rd, &c, 1) != 1)
		ret = 5;
	else if (snap_find(fd, buf, n, SNAP_SYS_RW) != -1)
		ret = 6;
	else if (pat_find(buf, 0, n, 0xe02) != -1)
		ret = 7;
	if (close(fd) && !ret)
		ret = 8;
	return ret;
}

/*
 * RELEASE evicts everything the device holds, ours and another process's,
 * frees every chunk, and all the data is where it was. The device then
 * takes new pages again.
 */
TEST_F(mig, release_live_pages)
{
	unsigned long n = 64, cn = 16;
	int p2c[2], c2p[2], status;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	unsigned char *out;
	char *buf, c;
	pid_t pid;

	if (self->skipped)
		return;
	ASSERT_EQ(0, pipe(p2c));
	ASSERT_EQ(0, pipe(c2p));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(p2c[1]);
		close(c2p[0]);
		_exit(release_child(variant->dev, cn, p2c[0], c2p[1]));
	}
	close(p2c[0]);
	close(c2p[1]);
	ASSERT_EQ(1, read(c2p[0], &c, 1));

	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0xe01);
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);

	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	EXPECT_LE((long long)(n + cn), s0.resident);
	EXPECT_LE(1LL, s0.chunks);

	ASSERT_EQ(0, release_dev(self->fd, buf, &cmd));
	EXPECT_EQ(0ULL, cmd.cpages);
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(0LL, s1.resident);
	EXPECT_EQ(0LL, s1.chunks);
	EXPECT_LE(s0.evicted + s0.resident, s1.evicted);
	EXPECT_EQ(s0.cpu_faults, s1.cpu_faults);

	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, SNAP_SYS_RW));
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0xe01));
	ASSERT_EQ(1, write(p2c[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("child check %d failed",
						 WEXITSTATUS(status));

	/* The device reads the evicted pages, and takes new ones. */
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0xe01));
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0xe01));
	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	EXPECT_EQ((long long)n, s0.resident);
	EXPECT_LE(1LL, s0.chunks);
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0xe01));

	close(p2c[1]);
	close(c2p[0]);
	free(out);
	munmap(buf, n * PG);
}

/*
 * Closing the only file with pages on the device evicts them: the counter
 * drops, the pages are ordinary writable memory again, and touching them
 * needs no device fault.
 */
TEST_F(mig, close_evicts)
{
	unsigned long n = 32;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0xf01);
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);

	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.resident - (long long)n, s1.resident);
	EXPECT_LE(s0.evicted + (long long)n, s1.evicted);

	self->fd = dmirror_open_dev(variant->dev);
	ASSERT_GE(self->fd, 0);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, SNAP_SYS_RW));
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0xf01));
	pat_fill(buf, 0, n, 0xf02);
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0xf02));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.cpu_faults, s1.cpu_faults);

	free(out);
	munmap(buf, n * PG);
}

/*
 * More than the device holds: (capacity + 64 MiB) in 32 MiB steps. Every
 * step must migrate completely (the oldest device memory is evicted to
 * make room), the last step is still on the device at the end, the pages
 * that are not were evicted, and every byte of the buffer is right. The
 * capacity of a private device is the devmem_mib parameter; that of a
 * coherent device is its reserved window, 256 MiB (README: spm_addr_devN).
 * Both come from outside the counter under test, capacity_pages.
 */
#define COHERENT_WINDOW_MIB	256
TEST_F_TIMEOUT(mig, oversubscribe, 300)
{
	unsigned long step = 32 * PAGES_PER_MIB, cap_mib, nsteps, total, i;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	unsigned char *out;
	long long mib, cap;
	char *buf;

	if (self->skipped)
		return;
	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	if (variant->coherent) {
		mib = COHERENT_WINDOW_MIB;
	} else {
		mib = dmirror_param("devmem_mib");
		ASSERT_GT(mib, 0) TH_LOG("devmem_mib unreadable");
	}
	if (mib < 64 || mib > 1024)
		SKIP(return, "capacity %lld MiB: outside what this test sizes",
		     mib);
	cap_mib = mib;
	nsteps = (cap_mib + 64 + 31) / 32;
	total = nsteps * step;
	cap = (long long)(cap_mib * PAGES_PER_MIB);
	ASSERT_EQ(cap, s0.capacity)
		TH_LOG("capacity_pages is not the configured %lu MiB", cap_mib);

	buf = map_anon(total, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = malloc(step * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, total, 0x1001);

	for (i = 0; i < nsteps; i++) {
		char *part = buf + i * step * PG;

		ASSERT_EQ(0, to_dev(self->fd, part, out, step, &cmd))
			TH_LOG("step %lu of %lu", i, nsteps);
		ASSERT_EQ(step, cmd.cpages) TH_LOG("step %lu", i);
		ASSERT_EQ(-1L, pat_find(out, i * step, step, 0x1001))
			TH_LOG("step %lu", i);
	}

	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_LE(s1.resident, cap);
	EXPECT_LT(s0.evicted, s1.evicted);
	EXPECT_LE((long long)total - cap, s1.evicted - s0.evicted);
	EXPECT_EQ(s0.to_dev + (long long)total, s1.to_dev);
	EXPECT_EQ(-1L, snap_find(self->fd, buf + (nsteps - 1) * step * PG,
				 step, self->snap_rw));

	/*
	 * Bring back what is still on the device in one go; with what was
	 * evicted that is every page of the buffer.
	 */
	ASSERT_EQ(0, to_sys(self->fd, buf, total, &cmd));
	EXPECT_LE(step, cmd.cpages);
	EXPECT_LE(cmd.cpages, (unsigned long long)cap);
	EXPECT_LE((long long)total, s1.evicted - s0.evicted +
		  (long long)cmd.cpages);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, total, SNAP_SYS_RW));
	EXPECT_EQ(-1L, pat_find(buf, 0, total, 0x1001));

	free(out);
	munmap(buf, total * PG);
}

/*
 * Two devices of the same kind, A (the one under test) and B. Pages on A
 * are A's own in its snapshot, and in B's nothing (private) or another
 * device's coherent pages; B cannot migrate them (-ENOENT, they stay) nor
 * move them with MIGRATE_TO_SYS. B's READ fetches private pages back
 * through A's CPU-fault path and reads coherent ones in place. Then B
 * takes the pages (coherent ones once A has given them back), and A reads
 * them back the same way.
 */
TEST_F(mig, two_devices)
{
	unsigned long n = 32, half = n / 2;
	struct devstats a0, a1, b0, b1;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	long long moved;
	char *buf;
	int fd1;

	if (self->skipped)
		return;
	fd1 = dmirror_open_dev(variant->other);
	ASSERT_GE(fd1, 0) TH_LOG("open /dev/hmm_dmirror%d: %s",
				 variant->other, strerror(errno));
	ASSERT_EQ(0, read_stats(variant->other, &b0));
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0x1101);

	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_rw));
	EXPECT_EQ(-1L, snap_find(fd1, buf, n, self->snap_remote));

	/* B does not take A's pages. */
	ASSERT_EQ(0, read_stats(variant->dev, &a0));
	memset(out, FILLER, n * PG);
	EXPECT_EQ(-ENOENT, to_dev(fd1, buf, out, n, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	ASSERT_EQ(0, to_sys(fd1, buf, n, &cmd));
	EXPECT_EQ(0ULL, cmd.cpages);
	ASSERT_EQ(0, read_stats(variant->dev, &a1));
	ASSERT_EQ(0, read_stats(variant->other, &b1));
	EXPECT_EQ(a0.resident, a1.resident);
	EXPECT_EQ(a0.cpu_faults, a1.cpu_faults);
	EXPECT_EQ(b0.resident, b1.resident);
	EXPECT_EQ(b0.to_dev, b1.to_dev);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_rw));

	/* A READ on B: private pages come back through A, coherent stay. */
	ASSERT_EQ(0, dev_read(fd1, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0x1101));
	ASSERT_EQ(0, read_stats(variant->dev, &a1));
	moved = self->cpu_migrates ? n : 0;
	EXPECT_EQ(a0.cpu_faults + moved, a1.cpu_faults);
	EXPECT_EQ(a0.resident - moved, a1.resident);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->touched_rw));

	if (!self->cpu_migrates) {
		/*
		 * B would count the coherent pages it has just read as
		 * mirrored without taking them: A gives them back first.
		 */
		ASSERT_EQ(0, to_sys(self->fd, buf, n, &cmd));
		EXPECT_EQ(n, cmd.cpages);
	}

	/* Now B takes them, and A sees nothing it owns. */
	ASSERT_EQ(0, read_stats(variant->other, &b0));
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, to_dev(fd1, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0x1101));
	EXPECT_EQ(-1L, snap_find(fd1, buf, n, self->snap_rw));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_remote));
	ASSERT_EQ(0, read_stats(variant->other, &b1));
	EXPECT_EQ(b0.resident + (long long)n, b1.resident);

	/* A mixed range: half on B, half back in system memory. */
	if (self->cpu_migrates) {
		EXPECT_EQ(-1L, pat_find(buf, 0, half, 0x1101));
	} else {
		ASSERT_EQ(0, to_sys(fd1, buf, half, &cmd));
		EXPECT_EQ(half, cmd.cpages);
	}
	ASSERT_EQ(0, read_stats(variant->dev, &a0));
	memset(out, FILLER, n * PG);
	EXPECT_EQ(-ENOENT, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	ASSERT_EQ(0, read_stats(variant->dev, &a1));
	EXPECT_EQ(a0.resident + (long long)half, a1.resident);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, half, self->snap_rw));
	EXPECT_EQ(-1L, snap_find(self->fd, buf + half * PG, n - half,
				 self->snap_remote));
	EXPECT_EQ(-1L, snap_find(fd1, buf, half, self->snap_remote));
	EXPECT_EQ(-1L, snap_find(fd1, buf + half * PG, n - half,
				 self->snap_rw));

	/* A reads all of it: its own half in place, the rest B's way. */
	ASSERT_EQ(0, read_stats(variant->other, &b0));
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0x1101));
	ASSERT_EQ(0, read_stats(variant->other, &b1));
	moved = self->cpu_migrates ? n - half : 0;
	EXPECT_EQ(b0.cpu_faults + moved, b1.cpu_faults);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, half, self->snap_rw));

	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0x1101));
	EXPECT_EQ(0, close(fd1));
	free(out);
	munmap(buf, n * PG);
}

TEST_HARNESS_MAIN
