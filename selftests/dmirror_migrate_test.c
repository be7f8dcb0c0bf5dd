// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_migrate_test: ranges of private anonymous memory moved to the
 * device and back by CPU access: read-back, untouched and zero pages,
 * holes, PROT_NONE, the memory that must not move (hugetlb, special,
 * shared, file), munmap and fork of device pages.
 */
#include "dmirror_migrate.h"

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

TEST_HARNESS_MAIN
