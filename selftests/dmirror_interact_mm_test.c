// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror interaction tests, part three: the pages of each device
 * state (dmirror_interact.h) meet the parts of mm that work on their own
 * time: reclaim to swap under a memory cgroup limit and swap-in, the OOM
 * killer inside a memory cgroup, KSM, compaction, khugepaged and
 * MADV_COLLAPSE. Each test names the kernel facility it needs in its SKIP
 * line when the kernel lacks it; a facility the kernel has but that is not
 * set up (a swap device that is not active, a cgroup that cannot be made)
 * fails the test.
 *
 * khugepaged and MADV_COLLAPSE work on 2 MiB ranges: the thp variant's
 * range is one; the other variants get a new 2 MiB range whose first 16
 * pages are in the state and the rest system memory (grow_2m()).
 */
#include <signal.h>
#include <time.h>

#include "dmirror_interact.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

#define KSM_DIR		"/sys/kernel/mm/ksm"
#define KHUGEPAGED_DIR	"/sys/kernel/mm/transparent_hugepage/khugepaged"
#define WAIT_MS		20000

/* The first word of the file @path into @buf (for file_write() later). */
static int knob_read(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return -1;
	ok = !!fgets(buf, len, f);
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\t\n ")] = '\0';
	return 0;
}

/* Wait until the counter file @path reads at least @want. */
static bool wait_count(const char *path, long long want)
{
	long long end = now_ms() + WAIT_MS;

	while (dmirror_read_num(path) < want) {
		if (now_ms() > end)
			return false;
		usleep(20000);
	}
	return true;
}

/* "Name:  <n> kB" of the smaps block of the VMA at @addr; -1 if none. */
static long long vma_kb(const void *addr, const char *name)
{
	unsigned long start, end, a = (uintptr_t)addr;
	long long kb = -1;
	bool in = false;
	char line[256];
	size_t len = strlen(name);
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 &&
		    strchr(line, ' ') > strchr(line, '-')) {
			in = a >= start && a < end;
			continue;
		}
		if (in && !strncmp(line, name, len) && line[len] == ':')
			kb = strtoll(line + len + 1, NULL, 10);
	}
	fclose(f);
	return kb;
}

/*
 * Give the range new pages in its state, as the fixture does, but now
 * (in the memory cgroup the process entered since, say): unmap it, map
 * @len bytes at @at (the old place, or a new one) and fill every page
 * with pattern SEED (with @same every page with page 0's), then put the
 * first @self->n pages into the state (the exclusive variant's held by a
 * pipe if @hold). 0, or the step that failed.
 */
static int refill(struct _test_data_ia *self, char *at, size_t len, bool same,
		  bool hold)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long i, req = HMM_DMIRROR_MIGRATE_TO_DEV;
	int ret;

	unhold_pages(self);
	munmap(self->p, self->len);
	self->p = at;
	self->len = len;
	if (mmap(at, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != at)
		return 1;
	madvise(at, len, self->state == ST_THP ?
		MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (i = 0; i < len / PG; i++)
		pat_fill(at + i * PG, same ? 0 : i, 1, SEED);
	if (self->state == ST_EXCL) {
		/* The pipe holds the pages in the state only. */
		self->len = self->n * PG;
		ret = hold ? hold_pages(self) : 0;
		self->len = len;
		if (ret)
			return 2;
		req = HMM_DMIRROR_EXCLUSIVE;
	} else if (self->state == ST_MIRROR) {
		req = HMM_DMIRROR_READ;
	}
	if (ia_ioctl(self, req, at, self->n, &cmd) || cmd.cpages != self->n)
		return 3;
	return snap_want(self, at, self->n, self->dev_byte) == -1 ? 0 : 4;
}

/* ---- swap under a memory cgroup limit --------------------------------- */

/*
 * In a memory cgroup, the range gets new pages in its state; the group is
 * told to reclaim all it can (memory.reclaim; a lower memory.max where
 * the kernel lacks that file). Pages in device memory are not on an LRU:
 * they stay. Mirrored pages go to swap (smaps Swap:, the group's
 * memory.swap.current) and the mirror lets go of them. Device-exclusive
 * pages (here not held by a pipe: see hold_pages()) either stay
 * as they are, all of them (6.1, 6.12: the rmap walk of reclaim does not
 * find device-exclusive entries, so the pages stay mapped, though they
 * may be written to swap), or go to swap like the mirrored ones, all of
 * them (7.3: device-exclusive entries are mappings to the rmap walk).
 * Then the device reads the pages back in, the CPU reads and writes them.
 */
TEST_F_TIMEOUT(ia, memcg_swap_out_in, 120)
{
	long long swapped, kb = self->len / 1024;
	struct hmm_dmirror_cmd cmd;
	const char *why = no_swap_why();
	bool out;
	int i, step;

	if (self->skipped)
		return;
	if (!why)
		why = no_memcg_why();
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	ASSERT_TRUE(swap_active()) TH_LOG("swap configured, but none active");
	ASSERT_EQ(0, memcg_create(self->cg, sizeof(self->cg), "256M"));
	ASSERT_EQ(0, memcg_enter(self->cg));
	step = refill(self, self->p, self->len, false, false);
	ASSERT_EQ(0, step) TH_LOG("refill: step %d", step);
	ASSERT_EQ(on_dev(self, self->n), resident(self));

	for (i = 0; i < 5 && vma_kb(self->p, "Swap") < kb; i++) {
		if (memcg_write(self->cg, "memory.reclaim", "256M") == -ENOENT)
			memcg_write(self->cg, "memory.max", "64K");
	}
	swapped = vma_kb(self->p, "Swap");
	out = self->state == ST_MIRROR || (variant_excl(self) && swapped);
	if (variant_excl(self))
		TH_LOG("device-exclusive pages: %s", out ? "swapped" : "kept");
	EXPECT_EQ(on_dev(self, self->n), resident(self));
	EXPECT_EQ(out ? kb : 0, swapped);
	if (out) {
		EXPECT_LE((long long)self->len,
			  memcg_read(self->cg, "memory.swap.current", NULL));
		EXPECT_EQ(-1L, snap_want(self, self->p, self->n,
					 HMM_DMIRROR_PROT_NONE));
		EXPECT_EQ(0, check_excl(self, self->p, self->n));
	} else {
		EXPECT_EQ(-1L, snap_want(self, self->p, self->n,
					 self->dev_byte));
		EXPECT_EQ(variant_excl(self) ? -EPERM : 0,
			  check_excl(self, self->p, self->n));
	}

	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED));
	EXPECT_EQ(0, cpu_faults(self));
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, SEED));
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
	EXPECT_EQ(0, vma_kb(self->p, "Swap"));
	pat_fill(self->out, 0, self->n, SEED_NEW);
	ASSERT_EQ(0, dev_io(self, HMM_DMIRROR_WRITE, self->p, self->n, &cmd));
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, SEED_NEW));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->cpu_byte));
}

/* ---- OOM kill inside a memory cgroup ---------------------------------- */

/*
 * The fork child: in cgroup @cg, its own range in the state, then (once
 * the parent says so) allocate until the OOM killer ends it. Returns an
 * exit status when it is not killed: the step that failed, or 9.
 */
static int oom_child(struct _test_data_ia *self, const char *cg, int ready,
		     int go)
{
	size_t chunk = 1UL << 20;
	unsigned long i;
	char c;

	if (memcg_enter(cg))
		return 2;
	self->fd = dmirror_open_dev(self->dev);
	if (self->fd < 0)
		return 3;
	if (refill(self, self->p, self->len, false, true))
		return 4;
	if (write(ready, "r", 1) != 1 || read(go, &c, 1) != 1)
		return 5;
	for (i = 0; i < 1024; i++) {
		char *m = mmap(NULL, chunk, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			return 6;
		memset(m, 0x5a, chunk);
	}
	return 9;
}

/*
 * A fork child puts its own range in the state inside a small memory
 * cgroup without swap, then allocates until the OOM killer kills it. The
 * device gets the child's pages back, and the parent's range is as it was
 * (the parent's range is MADV_DONTFORK: fork does not touch it).
 */
TEST_F_TIMEOUT(ia, memcg_oom_kill, 120)
{
	const char *why = no_memcg_why();
	int ready[2], go[2], status;
	long long end;
	pid_t pid;
	char c;

	if (self->skipped)
		return;
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	ASSERT_EQ(0, madv(self, self->p, self->len, MADV_DONTFORK));
	ASSERT_EQ(0, memcg_create(self->cg, sizeof(self->cg), "32M"));
	if (!no_swap_why())
		ASSERT_EQ(0, memcg_write(self->cg, "memory.swap.max", "0"));
	ASSERT_EQ(0, memcg_read(self->cg, "memory.events", "oom_kill"));
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(oom_child(self, self->cg, ready[1], go[0]));
	close(ready[1]);
	close(go[0]);
	EXPECT_EQ(1, read(ready[0], &c, 1));
	EXPECT_EQ(2 * on_dev(self, self->n), resident(self));
	EXPECT_EQ(1, write(go[1], "g", 1));
	close(ready[0]);
	close(go[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("child status %#x (exit: 2 enter, 3 open, 4 refill, %s)",
		       status, "5 pipe, 6 mmap, 9 not killed");
	EXPECT_EQ(1, memcg_read(self->cg, "memory.events", "oom_kill"));
	end = now_ms() + WAIT_MS;
	while (resident(self) != on_dev(self, self->n) && now_ms() < end)
		usleep(20000);
	EXPECT_EQ(on_dev(self, self->n), resident(self));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->dev_byte));
	EXPECT_EQ(variant_excl(self) ? -EPERM : 0,
		  check_excl(self, self->p, self->n));
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED));
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, SEED));
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
}

/* ---- KSM -------------------------------------------------------------- */

/* ksmd's settings before the test, restored by ksm_restore(). */
struct ksm_saved {
	char run[16], scan[16], sleep[16];
};

static const char *const ksm_knobs[] = {
	KSM_DIR "/run", KSM_DIR "/pages_to_scan", KSM_DIR "/sleep_millisecs",
};

/* Unmerge everything, then ksmd's settings as they were. */
static void ksm_restore(struct ksm_saved *s)
{
	file_write(KSM_DIR "/run", "2");
	file_write(ksm_knobs[1], s->scan);
	file_write(ksm_knobs[2], s->sleep);
	file_write(ksm_knobs[0], s->run);
}

/* 0 when page @i of the range holds the pattern of page 0. */
static int page_same(const void *p, unsigned long i)
{
	return pat_find((const char *)p + i * PG, 0, 1, SEED) >= 0;
}

/*
 * Every page of the range holds the same bytes; it is MADV_MERGEABLE and
 * ksmd scans it twice. Pages in device memory, and device-exclusive ones
 * (not held by a pipe here), are not mapped as normal pages: KSM leaves
 * them (a merged device-exclusive page would be exclusive no more, which
 * SNAPSHOT and CHECK_EXCLUSIVE would show). Mirrored pages are merged
 * into one KSM page (/proc/self/ksm_merging_pages), which the mirror reads
 * the same. A device WRITE to one page and a CPU write to another copy
 * just those: their neighbours keep the shared bytes.
 */
TEST_F_TIMEOUT(ia, ksm_merge, 120)
{
	long long scans, merged, want;
	struct hmm_dmirror_cmd cmd;
	struct ksm_saved saved;
	unsigned long i;
	int step;

	if (self->skipped)
		return;
	if (access(KSM_DIR "/run", F_OK)) {
		self->skipped = true;
		SKIP(return, "kernel lacks KSM (CONFIG_KSM)");
	}
	step = refill(self, self->p, self->len, true, false);
	ASSERT_EQ(0, step) TH_LOG("refill: step %d", step);
	ASSERT_EQ(0, knob_read(ksm_knobs[0], saved.run, sizeof(saved.run)));
	ASSERT_EQ(0, knob_read(ksm_knobs[1], saved.scan, sizeof(saved.scan)));
	ASSERT_EQ(0, knob_read(ksm_knobs[2], saved.sleep, sizeof(saved.sleep)));
	ASSERT_EQ(0, madv(self, self->p, self->len, MADV_MERGEABLE));
	scans = dmirror_read_num(KSM_DIR "/full_scans");
	EXPECT_EQ(0, file_write(ksm_knobs[1], "10000"));
	EXPECT_EQ(0, file_write(ksm_knobs[2], "10"));
	EXPECT_EQ(0, file_write(ksm_knobs[0], "1"));
	EXPECT_TRUE(wait_count(KSM_DIR "/full_scans", scans + 2));
	merged = dmirror_read_num("/proc/self/ksm_merging_pages");
	want = self->state == ST_MIRROR ? (long long)self->n : 0;
	EXPECT_EQ(want, merged);
	EXPECT_EQ(on_dev(self, self->n), resident(self));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, want ?
				 SNAP_SYS_RO : self->dev_byte));
	EXPECT_EQ(variant_excl(self) ? -EPERM : 0,
		  check_excl(self, self->p, self->n));

	EXPECT_EQ(0, ia_ioctl(self, HMM_DMIRROR_READ, self->p, self->n, &cmd));
	for (i = 0; i < self->n; i++)
		EXPECT_EQ(0, page_same(self->out, i)) TH_LOG("device: page %lu", i);
	pat_fill(self->out, 0, 1, SEED_NEW);
	EXPECT_EQ(0, ia_ioctl(self, HMM_DMIRROR_WRITE, self->p, 1, &cmd));
	pat_fill(self->p + 2 * PG, 2, 1, SEED_NEW);
	EXPECT_EQ(0, dev_check(self, self->p, 0, 1, SEED_NEW));
	EXPECT_EQ(0, dev_check(self, self->p + 2 * PG, 2, 1, SEED_NEW));
	EXPECT_EQ(-1L, pat_find(self->p, 0, 1, SEED_NEW));
	EXPECT_EQ(-1L, pat_find(self->p + 2 * PG, 2, 1, SEED_NEW));
	for (i = 1; i < self->n; i++)
		if (i != 2)
			EXPECT_EQ(0, page_same(self->p, i))
				TH_LOG("cpu: page %lu", i);
	if (want) {
		/* ksmd counts the two pages out when it next scans them. */
		scans = dmirror_read_num(KSM_DIR "/full_scans");
		EXPECT_TRUE(wait_count(KSM_DIR "/full_scans", scans + 2));
		EXPECT_EQ(want - 2,
			  dmirror_read_num("/proc/self/ksm_merging_pages"));
	}
	ksm_restore(&saved);
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
}

/* ---- compaction ------------------------------------------------------- */

/*
 * Compact all memory: pages in device memory are not movable by it,
 * mirrored pages may move (the mirror follows), the exclusive variant's
 * pages are held (hold_pages()).
 */
TEST_F(ia, compact_memory)
{
	if (self->skipped)
		return;
	if (access("/proc/sys/vm/compact_memory", F_OK)) {
		self->skipped = true;
		SKIP(return, "kernel lacks compaction (CONFIG_COMPACTION)");
	}
	ASSERT_EQ(0, file_write("/proc/sys/vm/compact_memory", "1"));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->dev_byte));
	EXPECT_EQ(on_dev(self, self->n), resident(self));
	EXPECT_EQ(variant_excl(self) ? -EPERM : 0,
		  check_excl(self, self->p, self->n));
	EXPECT_EQ(0, dev_check(self, self->p, 0, self->n, SEED));
	EXPECT_EQ(0, cpu_faults(self));
	EXPECT_EQ(-1L, pat_find(self->p, 0, self->n, SEED));
	EXPECT_EQ(-1L, snap_want(self, self->p, self->n, self->cpu_byte));
	EXPECT_EQ(moved(self, self->n), cpu_faults(self));
}

/* ---- khugepaged and MADV_COLLAPSE ------------------------------------- */

/*
 * Make the range 2 MiB, one VMA, MADV_HUGEPAGE: new pages at a new
 * place (refill()), its first 16 pages in the state, the rest system
 * memory, all with pattern SEED; a device buffer for all of it. (The
 * fixture's range cannot grow in place, and moved there by mremap it
 * would stay a VMA of its own.) Returns the pages of the range, or 0.
 */
static unsigned long grow_2m(struct _test_data_ia *self)
{
	char *at = self->p;

	if (self->len < HPAGE) {
		free(self->out);
		self->out = malloc(2 * HPAGE);
		at = reserve(HPAGE);
		if (!self->out || !at || refill(self, at, HPAGE, false, true))
			return 0;
	}
	if (madvise(self->p, HPAGE, MADV_HUGEPAGE))
		return 0;
	return HPAGE / PG;
}

/*
 * Whether this kernel's collapse wants a writable PTE in the range: a
 * range without one is SCAN_PAGE_RO (EINVAL), also to MADV_COLLAPSE
 * (mm/khugepaged.c of 6.1 and 6.12; 7.3 dropped that rule). Probed with
 * 2 MiB of present pages made read-only. 1, 0, or -1 (the probe failed).
 */
static int collapse_needs_writable(void)
{
	char *p = reserve(HPAGE);
	int ret;

	if (!p || mmap(p, HPAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
		return -1;
	madvise(p, HPAGE, MADV_NOHUGEPAGE);
	memset(p, 1, HPAGE);
	ret = madvise(p, HPAGE, MADV_HUGEPAGE) ||
	      mprotect(p, HPAGE, PROT_READ) ? -1 :
	      madvise(p, HPAGE, MADV_COLLAPSE) ? (errno == EINVAL) : 0;
	munmap(p, HPAGE);
	return ret;
}

/*
 * What a collapse of the 2 MiB range does to each state. Pages behind a
 * non-present entry (device-private, device-exclusive) count as swapped
 * out: the collapse "swaps them in" with the fault handler first
 * (MADV_COLLAPSE any number; khugepaged at most max_ptes_swap, 64 by
 * default, of 512). Device-private pages move home, exclusive entries
 * are given back, and then the collapse goes on: done, but for the
 * exclusive variant's pages, which the pipe holds (SCAN_PAGE_COUNT:
 * EAGAIN). A device-private PMD is not a page table to collapse
 * (SCAN_NO_PTE_TABLE: EINVAL), and device-coherent pages are zone device
 * pages that collapse refuses (SCAN_PAGE_NULL: EINVAL). A device THP the
 * kernel split into 512 device-private PTEs has no writable PTE: see
 * collapse_needs_writable() (@needs_w).
 */
struct collapse_want {
	int err;		/* MADV_COLLAPSE */
	bool collapsed;		/* the range is one system THP after it */
};

static struct collapse_want collapse_want(struct _test_data_ia *self,
					  bool khugepaged, int needs_w)
{
	struct collapse_want w = { 0, true };

	if (self->state == ST_EXCL)
		w = (struct collapse_want){ -EAGAIN, false };
	else if (self->state == ST_COHERENT || self->large)
		w = (struct collapse_want){ -EINVAL, false };
	else if (self->state == ST_THP && needs_w)
		w = (struct collapse_want){ -EINVAL, false };
	else if (khugepaged && self->state == ST_THP)
		w.collapsed = false;	/* 512 swap-like entries */
	return w;
}

/* The checks after a collapse (or not) of the range, @pages pages. */
static void after_collapse(struct __test_metadata *_metadata,
			   struct _test_data_ia *self, unsigned long pages,
			   struct collapse_want w)
{
	unsigned long n = self->n;

	if (w.collapsed) {
		EXPECT_EQ(-1L, snap_want(self, self->p, pages,
					 SNAP_SYS_RW | HMM_DMIRROR_PROT_PMD));
		EXPECT_EQ(0, resident(self));
		EXPECT_EQ(moved(self, n), cpu_faults(self));
	} else {
		/* Exclusive entries were given back before the pipe said no. */
		EXPECT_EQ(-1L, snap_want(self, self->p, n, variant_excl(self) ?
					 self->cpu_byte : self->dev_byte));
		EXPECT_EQ(on_dev(self, n), resident(self));
		EXPECT_EQ(0, cpu_faults(self));
	}
	EXPECT_EQ(0, check_excl(self, self->p, n));
	EXPECT_EQ(0, dev_check(self, self->p, 0, pages, SEED));
	EXPECT_EQ(-1L, pat_find(self->p, 0, pages, SEED));
	EXPECT_EQ(moved(self, n), cpu_faults(self));
}

/*
 * khugepaged scans the range twice, fast. What it does with each state:
 * collapse_want().
 */
TEST_F_TIMEOUT(ia, khugepaged, 120)
{
	static const char scans_path[] = KHUGEPAGED_DIR "/full_scans";
	static const char sleep_path[] = KHUGEPAGED_DIR "/scan_sleep_millisecs";
	char saved[32];
	unsigned long pages;
	long long scans;
	const char *why = no_thp_why();

	if (self->skipped)
		return;
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	pages = grow_2m(self);
	ASSERT_NE(0UL, pages);
	ASSERT_EQ(0, knob_read(sleep_path, saved, sizeof(saved)));
	scans = dmirror_read_num(scans_path);
	EXPECT_EQ(0, file_write(sleep_path, "10"));
	EXPECT_TRUE(wait_count(scans_path, scans + 2));
	EXPECT_EQ(0, file_write(sleep_path, saved));
	after_collapse(_metadata, self, pages, collapse_want(self, true, 0));
}

/* MADV_COLLAPSE of the range: collapse_want() says what it returns. */
TEST_F(ia, madvise_collapse)
{
	struct collapse_want w;
	unsigned long pages;
	const char *why = no_thp_why();
	int ret, needs_w;

	if (self->skipped)
		return;
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	needs_w = collapse_needs_writable();
	ASSERT_LE(0, needs_w);
	if (self->state == ST_THP)
		TH_LOG("collapse wants a writable PTE: %s",
		       needs_w ? "yes" : "no");
	pages = grow_2m(self);
	ASSERT_NE(0UL, pages);
	w = collapse_want(self, false, needs_w);
	ret = madv(self, self->p, HPAGE, MADV_COLLAPSE);
	EXPECT_EQ(w.err, ret);
	after_collapse(_metadata, self, pages, w);
}

TEST_HARNESS_MAIN
