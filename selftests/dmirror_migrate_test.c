// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror migration tests: private anonymous memory moved into device
 * memory and back (HMM_DMIRROR_MIGRATE_TO_DEV and MIGRATE_TO_SYS, CPU
 * access, HMM_DMIRROR_RELEASE, close), the memory that must not move, fork
 * and mprotect over pages that live on the device, a device asked for more
 * than it holds, and two devices passing pages between them. Every data
 * check covers every byte of every page, and every page carries its own
 * pattern.
 *
 * Each test runs on two kinds of device (fixture variants): device-private
 * memory (/dev/hmm_dmirror0, second device 1), which the CPU cannot
 * address, so any CPU access migrates the page back to system memory; and
 * device-coherent memory (/dev/hmm_dmirror2, second device 3), which the
 * CPU reads and writes in place, so pages stay on the device until they
 * are migrated back, evicted or copied on write.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT		26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB		(21 << MAP_HUGE_SHIFT)
#endif

/*
 * Some versions of the harness (6.12) assign a local of their own after
 * setjmp() inside TEST_F(); GCC may then warn with -Wclobbered about code
 * that is not ours.
 */
#pragma GCC diagnostic ignored "-Wclobbered"

#define PAGES_PER_MIB		(MIB / PG)

/* ---- ioctls ----------------------------------------------------------- */

static int release_dev(int fd, const void *addr,
		       struct hmm_dmirror_cmd *cmd)
{
	return range_ioctl(fd, HMM_DMIRROR_RELEASE, addr, NULL, 1, cmd);
}

/* ---- counters --------------------------------------------------------- */

/* The counters of a device that these tests look at. */
struct devstats {
	long long resident;	/* device pages in use */
	long long chunks;
	long long capacity;	/* in pages */
	long long evicted;
	long long to_dev;
	long long to_sys;
	long long cpu_faults;
	long long own_migrate;	/* invalidations of our own migrations */
};

/* Fill @s from device @dev; 0 when every counter was found. */
static int read_stats(int dev, struct devstats *s)
{
	s->resident = dmirror_dev_stat(dev, "resident_pages");
	s->chunks = dmirror_dev_stat(dev, "chunks");
	s->capacity = dmirror_dev_stat(dev, "capacity_pages");
	s->evicted = dmirror_dev_stat(dev, "evicted_pages");
	s->to_dev = dmirror_dev_stat(dev, "migrated_to_dev");
	s->to_sys = dmirror_dev_stat(dev, "migrated_to_sys");
	s->cpu_faults = dmirror_dev_stat(dev, "cpu_faults");
	s->own_migrate = dmirror_dev_stat(dev, "invalidate_own_migrate");
	if (s->resident < 0 || s->chunks < 0 || s->capacity < 0 ||
	    s->evicted < 0 || s->to_dev < 0 || s->to_sys < 0 ||
	    s->cpu_faults < 0 || s->own_migrate < 0)
		return -1;
	return 0;
}

/* ---- fixture ---------------------------------------------------------- */

FIXTURE(mig)
{
	int fd;		/* the device under test; -1 once a test closed it */
	bool skipped;	/* no such device: the test does nothing */
	/*
	 * Snapshot bytes, through this device, of a page in its memory
	 * (writable or read-only), and of a writable page in the memory of
	 * the second device.
	 */
	unsigned char snap_rw, snap_ro, snap_remote;
	/*
	 * Snapshot bytes of a page of this device (writable or read-only)
	 * after the CPU read or wrote it.
	 */
	unsigned char touched_rw, touched_ro;
	/* CPU access migrates a page of this device back to system memory */
	bool cpu_migrates;
};

FIXTURE_VARIANT(mig)
{
	int dev;	/* /dev/hmm_dmirror<dev>, the device under test */
	int other;	/* a second device with the same kind of memory */
	bool coherent;	/* device-coherent, not device-private, memory */
};

FIXTURE_VARIANT_ADD(mig, device_private)
{
	.dev = 0,
	.other = 1,
	.coherent = false,
};

FIXTURE_VARIANT_ADD(mig, device_coherent)
{
	.dev = 2,
	.other = 3,
	.coherent = true,
};

FIXTURE_SETUP(mig)
{
	struct devstats s;

	self->fd = dmirror_open_dev(variant->dev);
	/*
	 * The coherent devices exist exactly when the module was loaded
	 * with both windows; then failing to open one is a failure.
	 */
	if (self->fd < 0 && variant->coherent &&
	    dmirror_loaded_without_coherent()) {
		/*
		 * Harnesses before 6.12 still run the test after a SKIP()
		 * here, so every test first looks at self->skipped.
		 */
		self->skipped = true;
		SKIP(return, DMIRROR_NO_COHERENT_WHY);
	}
	ASSERT_GE(self->fd, 0) TH_LOG("open /dev/hmm_dmirror%d: %s",
				      variant->dev, strerror(errno));
	ASSERT_EQ(0, read_stats(variant->dev, &s))
		TH_LOG("dev%d stats lack a migration counter", variant->dev);

	if (variant->coherent) {
		self->snap_rw = SNAP_COH_RW;
		self->snap_ro = SNAP_COH_RO;
		self->snap_remote = SNAP_COH_REMOTE_RW;
		self->touched_rw = SNAP_COH_RW;
		self->touched_ro = SNAP_COH_RO;
		self->cpu_migrates = false;
	} else {
		/* Another device's private pages are not valid for us. */
		self->snap_rw = SNAP_PRIV_RW;
		self->snap_ro = SNAP_PRIV_RO;
		self->snap_remote = SNAP_NONE;
		self->touched_rw = SNAP_SYS_RW;
		self->touched_ro = SNAP_SYS_RO;
		self->cpu_migrates = true;
	}
}

FIXTURE_TEARDOWN(mig)
{
	if (self->fd >= 0)
		EXPECT_EQ(0, close(self->fd));
}

/* ---- tests ------------------------------------------------------------ */

/*
 * The basic case: the data comes back in ptr, the snapshot shows our own
 * device pages, the counters account for every page, the migration's own
 * invalidations are seen and skipped, and the device reads the same data
 * through its page table without faulting.
 */
TEST_F(mig, migrate_read_back)
{
	unsigned long n = 256;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	long long own_mm;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0x101);

	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	own_mm = dmirror_mm_stat("invalidate_own_migrate");
	ASSERT_GE(own_mm, 0);

	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ((uintptr_t)buf, cmd.addr);
	EXPECT_EQ((uintptr_t)out, cmd.ptr);
	EXPECT_EQ(n, cmd.npages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0x101));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_rw));

	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.to_dev + (long long)n, s1.to_dev);
	EXPECT_EQ(s0.resident + (long long)n, s1.resident);
	EXPECT_LT(s0.own_migrate, s1.own_migrate);
	EXPECT_LT(own_mm, dmirror_mm_stat("invalidate_own_migrate"));
	EXPECT_LE(1LL, s1.chunks);
	EXPECT_LE(s1.resident, s1.capacity);
	EXPECT_EQ(s0.cpu_faults, s1.cpu_faults);

	/* The device's page table already maps every page. */
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0x101));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_rw));

	/*
	 * The CPU sees the same bytes: a private page comes back on access,
	 * a coherent one is read where it is.
	 */
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0x101));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	if (self->cpu_migrates) {
		EXPECT_EQ(s0.resident, s1.resident);
	} else {
		EXPECT_EQ(s0.resident + (long long)n, s1.resident);
		EXPECT_EQ(s0.cpu_faults, s1.cpu_faults);
		EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_rw));
	}

	free(out);
	munmap(buf, n * PG);
}

/*
 * Never-touched pages and pages mapping the shared zero page migrate too,
 * as zero-filled device pages, writable when the VMA is; the device can
 * then write into them, and in a read-only VMA they come out read-only.
 */
TEST_F(mig, migrate_untouched_and_zero)
{
	unsigned long n = 24, third = 8, i;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	unsigned char *out, *in;
	char *buf, *ro;
	int sum = 0;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	ro = map_anon(n, PROT_READ);
	ASSERT_NE(NULL, ro);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	in = malloc(n * PG);
	ASSERT_NE(NULL, in);

	/* [0, 8) untouched, [8, 16) zero page, [16, 24) data. */
	for (i = third; i < 2 * third; i++)
		sum += buf[i * PG];
	ASSERT_EQ(0, sum);
	EXPECT_EQ(-1L, snap_find(self->fd, buf + third * PG, third,
				 HMM_DMIRROR_PROT_ZERO | SNAP_SYS_RO));
	pat_fill(buf + 2 * third * PG, 2 * third, third, 0x111);

	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(out, 2 * third * PG, 0));
	EXPECT_EQ(-1L, pat_find(out + 2 * third * PG, 2 * third, third,
				0x111));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_rw));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.resident + (long long)n, s1.resident);

	/* The device writes into the pages it holds. */
	pat_fill(in, 0, n, 0x112);
	ASSERT_EQ(0, dev_write(self->fd, buf, in, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0x112));

	/* A read-only VMA: read-only device pages that read as zero. */
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, to_dev(self->fd, ro, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(out, n * PG, 0));
	EXPECT_EQ(-1L, snap_find(self->fd, ro, n, self->snap_ro));
	EXPECT_EQ(-EPERM, dev_write(self->fd, ro, in, n, &cmd));
	EXPECT_EQ(-1L, byte_find(ro, n * PG, 0));

	free(in);
	free(out);
	munmap(buf, n * PG);
	munmap(ro, n * PG);
}

/*
 * CPU reads and writes pull private device pages back one at a time, with
 * the data intact and the writability kept; cpu_faults counts each page.
 * Coherent pages are read and written in place: nothing moves, nothing is
 * counted, and the device sees what the CPU wrote.
 */
TEST_F(mig, cpu_read_then_write)
{
	unsigned long n = 32, half = n / 2;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	long long moved;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0x201);

	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, read_stats(variant->dev, &s0));

	/* The CPU reads the first half. */
	EXPECT_EQ(-1L, pat_find(buf, 0, half, 0x201));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	moved = self->cpu_migrates ? half : 0;
	EXPECT_EQ(s0.cpu_faults + moved, s1.cpu_faults);
	EXPECT_EQ(s0.resident - moved, s1.resident);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, half, self->touched_rw));
	EXPECT_EQ(-1L, snap_find(self->fd, buf + half * PG, n - half,
				 self->snap_rw));

	/* The CPU writes the second half without reading it first. */
	pat_fill(buf + half * PG, half, n - half, 0x202);
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	moved = self->cpu_migrates ? n : 0;
	EXPECT_EQ(s0.cpu_faults + moved, s1.cpu_faults);
	EXPECT_EQ(s0.resident - moved, s1.resident);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->touched_rw));
	EXPECT_EQ(-1L, pat_find(buf, 0, half, 0x201));
	EXPECT_EQ(-1L, pat_find(buf + half * PG, half, n - half, 0x202));

	/* The device sees what the CPU now has. */
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(-1L, pat_find(out, 0, half, 0x201));
	EXPECT_EQ(-1L, pat_find(out + half * PG, half, n - half, 0x202));

	free(out);
	munmap(buf, n * PG);
}

/* A second migration of resident pages succeeds and moves nothing. */
TEST_F(mig, migrate_twice)
{
	unsigned long n = 64;
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
	pat_fill(buf, 0, n, 0x301);

	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, read_stats(variant->dev, &s0));

	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0x301));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.to_dev, s1.to_dev);
	EXPECT_EQ(s0.resident, s1.resident);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_rw));
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0x301));

	free(out);
	munmap(buf, n * PG);
}

/*
 * The CPU reads half the range (private pages come back; coherent ones
 * stay); migrating all of it again moves what came back and keeps the
 * device's entries for the rest (the migration's own invalidations must
 * not drop them).
 */
TEST_F(mig, migrate_after_partial_fault)
{
	unsigned long n = 64, half = n / 2;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	long long moved;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0x401);

	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(buf, 0, half, 0x401));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, half, self->touched_rw));
	moved = self->cpu_migrates ? half : 0;

	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0x401));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.to_dev + moved, s1.to_dev);
	EXPECT_EQ(s0.resident + moved, s1.resident);
	EXPECT_LT(s0.own_migrate, s1.own_migrate);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_rw));

	/* Still mapped by the device: no fault needed to read it. */
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, dev_read(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(0ULL, cmd.faults);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0x401));
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0x401));

	free(out);
	munmap(buf, n * PG);
}

/*
 * A hole in the middle of the range: -EINVAL, the block and ptr are left
 * alone, and nothing past the hole moved. A range that starts in the hole
 * is -EINVAL too; the parts on either side migrate on their own.
 */
TEST_F(mig, hole_in_range)
{
	unsigned long part = 16, n = 3 * part;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, 0x501);
	ASSERT_EQ(0, munmap(buf + part * PG, part * PG));

	EXPECT_EQ(-EINVAL, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(NOT_COPIED, cmd.faults);
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	EXPECT_EQ(-1L, snap_find(self->fd, buf + 2 * part * PG, part,
				 SNAP_SYS_RW));

	EXPECT_EQ(-EINVAL, to_dev(self->fd, buf + part * PG, out, part, &cmd));
	EXPECT_EQ(-EINVAL, to_dev(self->fd, buf + part * PG, out, 2 * part,
				  &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));

	ASSERT_EQ(0, to_dev(self->fd, buf + 2 * part * PG, out, part, &cmd));
	EXPECT_EQ(part, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 2 * part, part, 0x501));
	ASSERT_EQ(0, to_dev(self->fd, buf, out, part, &cmd));
	EXPECT_EQ(part, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, part, 0x501));

	EXPECT_EQ(-1L, pat_find(buf, 0, part, 0x501));
	EXPECT_EQ(-1L, pat_find(buf + 2 * part * PG, 2 * part, part, 0x501));

	free(out);
	munmap(buf, part * PG);
	munmap(buf + 2 * part * PG, part * PG);
}

/*
 * A PROT_NONE page at the start: -EINVAL with nothing moved; the rest of
 * the range migrates when asked for alone, and all data survives.
 */
TEST_F(mig, prot_none_at_start)
{
	unsigned long n = 16;
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
	pat_fill(buf, 0, n, 0x601);
	ASSERT_EQ(0, mprotect(buf, PG, PROT_NONE));

	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	EXPECT_EQ(-EINVAL, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.resident, s1.resident);
	EXPECT_EQ(s0.to_dev, s1.to_dev);
	EXPECT_EQ(-1L, snap_find(self->fd, buf + PG, n - 1, SNAP_SYS_RW));

	ASSERT_EQ(0, to_dev(self->fd, buf + PG, out, n - 1, &cmd));
	EXPECT_EQ(n - 1, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 1, n - 1, 0x601));
	EXPECT_EQ(-1L, snap_find(self->fd, buf + PG, n - 1, self->snap_rw));

	ASSERT_EQ(0, mprotect(buf, PG, PROT_READ | PROT_WRITE));
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0x601));

	free(out);
	munmap(buf, n * PG);
}

/* Start and end of the mapping named @name in /proc/self/maps; 0 if none. */
static int find_mapping(const char *name, unsigned long *start,
			unsigned long *end)
{
	char line[256], path[128];
	int found = 0;
	FILE *f;

	f = fopen("/proc/self/maps", "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		path[0] = '\0';
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %127s", start, end,
			   path) >= 2 && !strcmp(path, name))
			found = 1;
	}
	fclose(f);
	return found;
}

/*
 * VMAs migration cannot handle: a hugetlb page, and a special mapping (the
 * vDSO data, [vvar]: VM_IO | VM_PFNMAP or VM_MIXEDMAP, by kernel). Both
 * are -EINVAL, with nothing copied and nothing put on the device.
 */
TEST_F(mig, hugetlb_and_special_einval)
{
	unsigned long n = 512, vvar, vvar_end;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	unsigned char *out;
	char *buf, why[160];
	int ready;

	if (self->skipped)
		return;
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	ASSERT_EQ(0, read_stats(variant->dev, &s0));

	ASSERT_TRUE(find_mapping("[vvar]", &vvar, &vvar_end));
	EXPECT_EQ(-EINVAL, to_dev(self->fd, (void *)vvar, out, 1, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);

	ready = dmirror_huge_2m_ready(why, sizeof(why));
	if (ready == 1) {
		buf = mmap(NULL, n * PG, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
			   MAP_HUGE_2MB, -1, 0);
		ASSERT_NE(MAP_FAILED, buf) TH_LOG("a free 2 MiB huge page: %s",
						  strerror(errno));
		pat_fill(buf, 0, n, 0x611);
		EXPECT_EQ(-EINVAL, to_dev(self->fd, buf, out, n, &cmd));
		EXPECT_EQ(NOT_COPIED, cmd.cpages);
		EXPECT_EQ(-1L, pat_find(buf, 0, n, 0x611));
		munmap(buf, n * PG);
	}
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.resident, s1.resident);
	EXPECT_EQ(s0.to_dev, s1.to_dev);
	free(out);
	if (!ready)
		SKIP(return, "hugetlb part: %s", why);
	ASSERT_EQ(1, ready) TH_LOG("%s", why);
}

/*
 * MAP_SHARED anonymous memory (shmem) never moves, touched or not:
 * -ENOENT, nothing copied to ptr, nothing put on the device.
 */
TEST_F(mig, shared_anon_enoent)
{
	unsigned long n = 16;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	unsigned char *out;
	char *buf;

	if (self->skipped)
		return;
	buf = mmap(NULL, n * PG, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);

	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	EXPECT_EQ(-ENOENT, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(NOT_COPIED, cmd.cpages);
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.resident, s1.resident);
	EXPECT_EQ(s0.to_dev, s1.to_dev);

	pat_fill(buf, 0, n, 0x701);
	EXPECT_EQ(-ENOENT, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.resident, s1.resident);
	EXPECT_EQ(s0.to_dev, s1.to_dev);
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, SNAP_SYS_RW));
	EXPECT_EQ(-1L, pat_find(buf, 0, n, 0x701));

	free(out);
	munmap(buf, n * PG);
}

/*
 * A private file mapping: once every page was written (copied on write
 * into anonymous pages) the range migrates, and the file keeps its own
 * data. Untouched pages of such a mapping are page cache: -ENOENT.
 */
TEST_F(mig, file_private_written)
{
	char name[] = "/tmp/dmirror-migrate-XXXXXX";
	unsigned long n = 16;
	struct hmm_dmirror_cmd cmd;
	struct devstats s0, s1;
	unsigned char *out;
	char *map, *fresh;
	int file;

	if (self->skipped)
		return;
	file = mkostemp(name, O_CLOEXEC);
	ASSERT_GE(file, 0) TH_LOG("mkostemp: %s", strerror(errno));
	unlink(name);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(out, 0, n, 0x801);
	ASSERT_EQ((ssize_t)(n * PG), pwrite(file, out, n * PG, 0));

	map = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, file, 0);
	ASSERT_NE(MAP_FAILED, map);
	fresh = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, file,
		     0);
	ASSERT_NE(MAP_FAILED, fresh);
	pat_fill(map, 0, n, 0x802);

	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	ASSERT_EQ(0, to_dev(self->fd, map, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0x802));
	EXPECT_EQ(-1L, snap_find(self->fd, map, n, self->snap_rw));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.resident + (long long)n, s1.resident);

	/* The other mapping of the same file has nothing that can move. */
	memset(out, FILLER, n * PG);
	EXPECT_EQ(-ENOENT, to_dev(self->fd, fresh, out, n, &cmd));
	EXPECT_EQ(-1L, byte_find(out, n * PG, FILLER));
	EXPECT_EQ(-1L, pat_find(fresh, 0, n, 0x801));

	EXPECT_EQ(-1L, pat_find(map, 0, n, 0x802));
	ASSERT_EQ((ssize_t)(n * PG), pread(file, out, n * PG, 0));
	EXPECT_EQ(-1L, pat_find(out, 0, n, 0x801));

	free(out);
	munmap(map, n * PG);
	munmap(fresh, n * PG);
	EXPECT_EQ(0, close(file));
}

/* munmap frees the device pages: first half the range, then the rest. */
TEST_F(mig, munmap_frees_device_pages)
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
	pat_fill(buf, 0, n, 0x901);

	ASSERT_EQ(0, read_stats(variant->dev, &s0));
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.resident + (long long)n, s1.resident);

	ASSERT_EQ(0, munmap(buf, half * PG));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.resident + (long long)(n - half), s1.resident);
	EXPECT_EQ(s0.cpu_faults, s1.cpu_faults);
	EXPECT_EQ(s0.evicted, s1.evicted);

	/* The rest is untouched by that. */
	EXPECT_EQ(-1L, snap_find(self->fd, buf + half * PG, n - half,
				 self->snap_rw));
	ASSERT_EQ(0, munmap(buf + half * PG, (n - half) * PG));
	ASSERT_EQ(0, read_stats(variant->dev, &s1));
	EXPECT_EQ(s0.resident, s1.resident);
	EXPECT_EQ(s0.cpu_faults, s1.cpu_faults);

	free(out);
}

/* Seeds of fork_cow. */
#define SEED_ORIG	0xa01
#define SEED_CHILD	0xa02
#define SEED_PARENT	0xa03

/*
 * Child of fork_cow, on device @dev. The parent read pages [0, half)
 * first; the child is the first to touch [half, n). Returns 0, or the
 * number of the check that failed.
 */
static int fork_cow_child(int dev, char *buf, unsigned long n, int rd,
			  int wr)
{
	unsigned long half = n / 2;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	int fd, ret = 0;
	char c;

	if (read(rd, &c, 1) != 1)
		return 1;
	if (pat_find(buf + half * PG, half, n - half, SEED_ORIG) != -1)
		return 2;
	if (pat_find(buf, 0, half, SEED_ORIG) != -1)
		return 3;
	pat_fill(buf, 0, n, SEED_CHILD);

	/* The inherited fd belongs to the parent: use one of our own. */
	out = out_buf(n * PG);
	if (!out)
		return 4;
	fd = dmirror_open_dev(dev);
	if (fd < 0)
		return 5;
	/* Writing gave the child system memory copies of its own. */
	if (snap_find(fd, buf, n, SNAP_SYS_RW) != -1)
		ret = 12;
	else if (to_dev(fd, buf, out, n, &cmd) || cmd.cpages != n)
		ret = 6;
	else if (pat_find(out, 0, n, SEED_CHILD) != -1)
		ret = 7;
	else if (write(wr, "c", 1) != 1)
		ret = 8;
	else if (read(rd, &c, 1) != 1)
		ret = 9;
	/* The parent has written and migrated its own copy meanwhile. */
	else if (pat_find(buf, 0, n, SEED_CHILD) != -1)
		ret = 10;
	if (close(fd) && !ret)
		ret = 11;
	free(out);
	return ret;
}

/*
 * fork with every page on the device: both processes first see the
 * original data (private pages: some fetched by the parent first, some by
 * the child; coherent pages: read in place by both), then each writes and
 * migrates its own copy, and neither sees the other's.
 */
TEST_F(mig, fork_cow)
{
	unsigned long n = 16, half = n / 2;
	int p2c[2], c2p[2], status;
	struct hmm_dmirror_cmd cmd;
	unsigned char *out;
	char *buf, c;
	pid_t pid;

	if (self->skipped)
		return;
	buf = map_anon(n, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, buf);
	out = out_buf(n * PG);
	ASSERT_NE(NULL, out);
	pat_fill(buf, 0, n, SEED_ORIG);
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_rw));

	ASSERT_EQ(0, pipe(p2c));
	ASSERT_EQ(0, pipe(c2p));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(p2c[1]);
		close(c2p[0]);
		_exit(fork_cow_child(variant->dev, buf, n, p2c[0], c2p[1]));
	}
	close(p2c[0]);
	close(c2p[1]);

	/* fork made the mappings read-only in both processes. */
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_ro));
	EXPECT_EQ(-1L, pat_find(buf, 0, half, SEED_ORIG));
	ASSERT_EQ(1, write(p2c[1], "p", 1));

	/*
	 * The child has read everything, written and migrated its copy. We
	 * still map the original read-only: private pages were brought back
	 * to system memory by the reads, coherent ones are still on the
	 * device.
	 */
	ASSERT_EQ(1, read(c2p[0], &c, 1));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->touched_ro));
	EXPECT_EQ(-1L, pat_find(buf, 0, n, SEED_ORIG));
	pat_fill(buf, 0, n, SEED_PARENT);
	memset(out, FILLER, n * PG);
	ASSERT_EQ(0, to_dev(self->fd, buf, out, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1L, pat_find(out, 0, n, SEED_PARENT));
	EXPECT_EQ(-1L, snap_find(self->fd, buf, n, self->snap_rw));
	ASSERT_EQ(1, write(p2c[1], "p", 1));

	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("child check %d failed",
						 WEXITSTATUS(status));
	EXPECT_EQ(-1L, pat_find(buf, 0, n, SEED_PARENT));

	close(p2c[1]);
	close(c2p[0]);
	free(out);
	munmap(buf, n * PG);
}

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
