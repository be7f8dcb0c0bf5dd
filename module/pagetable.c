// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror device page table: one open file's table of the pages the
 * device maps, kept coherent with the CPU page tables by interval
 * notifiers (the mirror's and the watches of single requests).
 */
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched.h>
#include <linux/xarray.h>

#include "dmirror.h"
#include "inject.h"
#include "dmirror_trace.h"

/**
 * DOC: device page table
 *
 * One xarray per mirror, indexed by virtual page number. An entry is the
 * struct page the device maps at that address, tagged with the access it
 * has (DMIRROR_PT_READ, _WRITE or _ATOMIC). The table holds no page
 * references: an entry stays right because it is removed, under the
 * mirror lock, before the CPU page-table entry it was read from changes.
 * A miss is a device fault: hmm_range_fault() fills a window of pfns under
 * mmap_read_lock, and the entries are stored under the mirror lock.
 *
 * Two kinds of interval notifier keep the table right.
 *
 * The mirror's notifier (@notifier) spans the whole address space and lives
 * as long as the file. Its callback clears the entries of every invalidated
 * range under the mirror lock. It skips the MMU_NOTIFY_MIGRATE events of
 * this device's own migrations and of its peer group's, which carry the
 * same owner (migrate.c updates the tables of both devices itself, see DOC:
 * migration there, and DOC: peer groups in peer.c) and the
 * MMU_NOTIFY_EXCLUSIVE events of its own EXCLUSIVE (which keeps the page
 * where it is), and for non-blockable ranges it only tries the lock and
 * refuses the invalidation if it is busy.
 *
 * A watch (struct dmirror_watch) is a temporary interval notifier over
 * the range one request reads the CPU page tables of: a device fault's
 * window, a SNAPSHOT window, the range of an EXCLUSIVE. It is inserted
 * before the first read and removed when the request is done with the
 * range, and its sequence, not the mirror's, decides whether what was read
 * may be stored (and makes hmm_range_fault() restart). So only an
 * invalidation that overlaps the range restarts a request: the mirror's
 * notifier sees every invalidation of the mm, and a request that retried
 * on each of them would give up (-EBUSY) or spin whenever something else
 * in the process is unmapped, reclaimed or protected. A watch's callback
 * takes the mirror lock like the other one, sets the watch's sequence and
 * clears the entries of the overlap. It skips only this device's own
 * EXCLUSIVE events; this device's own migrations restart an overlapping
 * request like any other invalidation.
 *
 * Why no stale entry is stored. A fault takes seq =
 * mmu_interval_read_begin() of its watch, reads the CPU page tables, and
 * stores what it read under the mirror lock only if
 * mmu_interval_read_retry() of the watch says the sequence is unchanged.
 * Take an invalidation I that changes a CPU page-table entry of the range
 * after the fault read it. The core runs every callback of I before it
 * changes the entry. If the watch's callback for I ran before the check,
 * the check sees its sequence (both run under the mirror lock) and the
 * fault reads again. Otherwise it runs after the store and clears the
 * entry itself; that is why a watch clears entries too, since the
 * mirror's callback for I may have run before the store. If I began
 * before the watch was inserted, the core gives the watch I's sequence
 * and mmu_interval_read_begin() waits until I has ended, so the read sees
 * what I left. The own events the mirror's notifier skips change the CPU
 * page tables of other files' entries too; migrate.c drops those entries
 * itself: the pages migrate_vma_setup() selected (step 1 of DOC:
 * migration) and, after migrate_vma_pages(), the pages the core filled
 * from an empty or zero-page entry under a second event
 * (dmirror_mirror_forget_filled()).
 *
 * Stores under the mirror lock use GFP_NOWAIT (the lock is taken from
 * reclaim); when that fails the node is reserved with GFP_KERNEL outside
 * the lock and the fault round is repeated.
 *
 * Every loop whose length the request decides (batches, windows, VMAs,
 * entries) checks for a fatal signal (-EINTR) and reschedules.
 */

/* Table indices a clear erases at once, between chances to reschedule. */
#define DMIRROR_ZAP_STEP	(64UL * DMIRROR_WINDOW_PAGES)

/*
 * Drop the entries of [start, end), at a cost that follows the table's
 * nodes, not the range or the entries: from one present entry to the
 * next, DMIRROR_ZAP_STEP indices at a time (dmirror_xa_erase_range()),
 * rescheduling in between when @may_sleep (a table of millions of
 * entries takes seconds on a debug kernel).
 * Context: mirror lock held.
 */
static void dmirror_pt_zap(struct dmirror *dm, unsigned long start,
			   unsigned long end, bool may_sleep)
{
	unsigned long index = start >> PAGE_SHIFT;
	unsigned long last = (end >> PAGE_SHIFT) - 1;
	unsigned long step_last;

	lockdep_assert_held(&dm->lock);
	while (xa_find(&dm->pt, &index, last, XA_PRESENT)) {
		step_last = min(last, index + DMIRROR_ZAP_STEP - 1);
		dmirror_xa_erase_range(&dm->pt, index, step_last);
		if (step_last == last)
			break;
		index = step_last + 1;
		if (may_sleep)
			cond_resched();
	}
}

/**
 * dmirror_mirror_zap_all() - empty the device page table
 * @dm: the mirror
 *
 * Used when the mm exits and when the file goes away. Context: may sleep
 * (takes the mirror lock).
 */
void dmirror_mirror_zap_all(struct dmirror *dm)
{
	mutex_lock(&dm->lock);
	dmirror_pt_zap(dm, 0, ULONG_MAX & PAGE_MASK, true);
	mutex_unlock(&dm->lock);
}

/**
 * dmirror_mirror_lock_for_invalidate() - take the mirror lock for an
 * invalidation, without sleeping when the range is not blockable
 * @dm:    the mirror
 * @range: the invalidation
 *
 * Return: true with the mirror lock held, or false (non-blockable range,
 * lock busy) without it; the caller then refuses the invalidation.
 */
bool dmirror_mirror_lock_for_invalidate(struct dmirror *dm,
					const struct mmu_notifier_range *range)
{
	if (mmu_notifier_range_blockable(range)) {
		mutex_lock(&dm->lock);
		return true;
	}
	if (mutex_trylock(&dm->lock)) {
		dmirror_stat_add(dm, DMIRROR_STAT_NONBLOCK, 1);
		return true;
	}
	dmirror_stat_add(dm, DMIRROR_STAT_NONBLOCK_REFUSED, 1);
	dev_dbg(&dm->mdev->dev, "non-blockable invalidation refused: mirror busy\n");
	return false;
}

/*
 * The same decision for a watch. Its refusals count (the invalidation
 * fails); what it handles, the mirror's own callback counts already.
 */
static bool dmirror_watch_lock(struct dmirror *dm,
			       const struct mmu_notifier_range *range)
{
	if (mmu_notifier_range_blockable(range)) {
		mutex_lock(&dm->lock);
		return true;
	}
	if (mutex_trylock(&dm->lock))
		return true;
	dmirror_stat_add(dm, DMIRROR_STAT_NONBLOCK_REFUSED, 1);
	return false;
}

static bool dmirror_invalidate(struct mmu_interval_notifier *mni,
			       const struct mmu_notifier_range *range,
			       unsigned long cur_seq)
{
	struct dmirror *dm = container_of(mni, struct dmirror, notifier);

	/*
	 * A migration of this device or of its peer group: the migration
	 * code keeps the table right.
	 */
	if (range->event == MMU_NOTIFY_MIGRATE &&
	    range->owner == dm->mdev->owner) {
		dmirror_stat_add(dm, DMIRROR_STAT_OWN_MIGRATE, 1);
		trace_dmirror_invalidate(dm->mdev->id, range, true, true);
		return true;
	}
	/* Our own EXCLUSIVE: the page stays; exclusive.c maps it atomic. */
	if (range->event == MMU_NOTIFY_EXCLUSIVE && range->owner == dm->mdev) {
		trace_dmirror_invalidate(dm->mdev->id, range, true, true);
		return true;
	}

	if (!dmirror_mirror_lock_for_invalidate(dm, range)) {
		trace_dmirror_invalidate(dm->mdev->id, range, false, false);
		return false;
	}
	mmu_interval_set_seq(mni, cur_seq);
	dmirror_pt_zap(dm, range->start, range->end,
		       mmu_notifier_range_blockable(range));
	mutex_unlock(&dm->lock);
	dmirror_stat_add(dm, DMIRROR_STAT_INVALIDATE, 1);
	trace_dmirror_invalidate(dm->mdev->id, range, false, true);
	return true;
}

static const struct mmu_interval_notifier_ops dmirror_mni_ops = {
	.invalidate = dmirror_invalidate,
};

/**
 * dmirror_mirror_notifier_insert() - start keeping @dm's table coherent
 * @dm: a new mirror, its mm and lock set up
 *
 * Inserts the mirror's interval notifier over the whole user address
 * space (DOC: device page table).
 *
 * Context: process context; takes the mm's mmap_lock.
 * Return: 0 or a negative errno.
 */
int dmirror_mirror_notifier_insert(struct dmirror *dm)
{
	return mmu_interval_notifier_insert(&dm->notifier, dm->mm, 0,
					    ULONG_MAX & PAGE_MASK,
					    &dmirror_mni_ops);
}

static bool dmirror_watch_invalidate(struct mmu_interval_notifier *mni,
				     const struct mmu_notifier_range *range,
				     unsigned long cur_seq)
{
	struct dmirror_watch *w = container_of(mni, struct dmirror_watch, mni);
	struct dmirror *dm = w->dm;

	/* Our own EXCLUSIVE keeps the page; exclusive.c stores it. */
	if (range->event == MMU_NOTIFY_EXCLUSIVE && range->owner == dm->mdev)
		return true;
	if (!dmirror_watch_lock(dm, range))
		return false;
	mmu_interval_set_seq(mni, cur_seq);
	dmirror_pt_zap(dm, max(range->start, w->start),
		       min(range->end, w->end),
		       mmu_notifier_range_blockable(range));
	mutex_unlock(&dm->lock);
	return true;
}

static const struct mmu_interval_notifier_ops dmirror_watch_ops = {
	.invalidate = dmirror_watch_invalidate,
};

/**
 * dmirror_watch_start() - watch [@start, @end) for invalidations
 * @dm:    the mirror
 * @w:     the watch, owned by the caller until dmirror_watch_stop()
 * @start: first address, page aligned
 * @end:   end of the range, page aligned, above @start
 *
 * Read the watch's sequence with mmu_interval_read_begin(&w->mni) before
 * reading the CPU page tables of the range, and check it with
 * mmu_interval_read_retry() under the mirror lock before storing what was
 * read (DOC: device page table).
 *
 * Context: process context in @dm->mm (its mm_users held); no mmap lock.
 * Return: 0 or a negative errno.
 */
int dmirror_watch_start(struct dmirror *dm, struct dmirror_watch *w,
			unsigned long start, unsigned long end)
{
	w->dm = dm;
	w->start = start;
	w->end = end;
	return mmu_interval_notifier_insert(&w->mni, dm->mm, start, end - start,
					    &dmirror_watch_ops);
}

/**
 * dmirror_watch_stop() - remove a watch
 * @w: a watch dmirror_watch_start() inserted
 *
 * Context: process context; waits for a running invalidation of the
 * watch, so the caller holds nothing an invalidation takes (the mirror
 * lock, page locks).
 */
void dmirror_watch_stop(struct dmirror_watch *w)
{
	mmu_interval_notifier_remove(&w->mni);
}

/**
 * dmirror_mirror_store() - enter one page in the device page table
 * @w:      a watch of the mirror over a range that holds @addr
 * @addr:   its virtual address
 * @page:   the page
 * @access: DMIRROR_PT_*
 * @seq:    mmu_interval_read_begin() of @w from before the caller looked
 *          up @page
 *
 * Context: process context, mirror lock not held.
 * Return: 0, -EAGAIN if an invalidation of the watched range ran since
 * @seq (nothing stored; look the page up again), or -ENOMEM.
 */
int dmirror_mirror_store(struct dmirror_watch *w, unsigned long addr,
			 struct page *page, unsigned int access,
			 unsigned long seq)
{
	struct dmirror *dm = w->dm;
	unsigned long index = addr >> PAGE_SHIFT;
	void *old;
	int ret;

	for (;;) {
		mutex_lock(&dm->lock);
		if (mmu_interval_read_retry(&w->mni, seq)) {
			mutex_unlock(&dm->lock);
			return -EAGAIN;
		}
		old = dmirror_inject(DMIRROR_INJ_PT) ? XA_ERROR(-ENOMEM) :
		      xa_store(&dm->pt, index, dmirror_pt_entry(page, access),
			       GFP_NOWAIT | __GFP_NOWARN);
		mutex_unlock(&dm->lock);
		if (!xa_is_err(old))
			return 0;
		ret = dmirror_inject(DMIRROR_INJ_PT) ? -ENOMEM :
			xa_reserve(&dm->pt, index, GFP_KERNEL);
		if (ret)
			return ret;
	}
}

/*
 * Pages, from entry @i of the window @args, that a migration to the device
 * gave a destination although their source had no page (an empty or
 * zero-page CPU entry): 0 for any other entry.
 */
static unsigned long dmirror_filled_span(const struct migrate_vma *args,
					 unsigned long i)
{
	unsigned long npages = (args->end - args->start) >> PAGE_SHIFT;

	if (!args->dst[i] || migrate_pfn_to_page(args->src[i]))
		return 0;
	if (args->dst[i] & DMIRROR_PFN_COMPOUND)
		return min_t(unsigned long, DMIRROR_BLOCK_PAGES, npages - i);
	return 1;
}

/* Drop @dm's entries for the filled pages of @args. */
static void dmirror_forget_filled_one(struct dmirror *dm,
				      const struct migrate_vma *args)
{
	unsigned long npages = (args->end - args->start) >> PAGE_SHIFT;
	unsigned long first = args->start >> PAGE_SHIFT;
	unsigned long i, j, n;

	mutex_lock(&dm->lock);
	/* Runs of filled pages, each erased at once. */
	for (i = 0; i < npages; i = j + 1) {
		for (j = i; j < npages; j += n) {
			n = dmirror_filled_span(args, j);
			if (!n)
				break;
		}
		if (j > i)
			dmirror_xa_erase_range(&dm->pt, first + i, first + j - 1);
	}
	mutex_unlock(&dm->lock);
}

/* The mirrors of @mdev in @mm drop their entries for the filled pages. */
static void dmirror_forget_filled_dev(struct dmirror_device *mdev,
				      struct mm_struct *mm,
				      const struct migrate_vma *args)
{
	struct dmirror *dm;

	mutex_lock(&mdev->mirrors_lock);
	list_for_each_entry(dm, &mdev->mirrors, dev_link)
		if (dm->mm == mm)
			dmirror_forget_filled_one(dm, args);
	mutex_unlock(&mdev->mirrors_lock);
}

/**
 * dmirror_mirror_forget_filled() - after migrate_vma_pages() of a
 * migration to @mdev: drop what its mirrors map where the core filled an
 * empty or zero-page CPU entry
 * @mdev: the device migrated to
 * @mm:   the address space
 * @args: the window, after migrate_vma_pages() and before
 *        migrate_vma_finalize()
 *
 * For a source without a page, migrate_vma_setup() changes nothing:
 * migrate_vma_pages() installs the device page, replacing the zero page
 * if the CPU faulted it in meanwhile, under an MMU_NOTIFY_MIGRATE event of
 * its own that every mirror of @mdev (and of its peer, DOC: peer groups in
 * peer.c) skips as the device's own migration. A mirror of either in @mm
 * that entered the zero page after step 1 of DOC:
 * migration (migrate.c) would keep reading zeros where the device page
 * is written. So every such mirror drops its entries for those pages;
 * its next access faults and finds the device page. A fault under way on
 * them sees the event through its watch (DOC: device page table).
 *
 * Context: process context, mmap lock held, no mirror lock held.
 */
void dmirror_mirror_forget_filled(struct dmirror_device *mdev,
				  struct mm_struct *mm,
				  const struct migrate_vma *args)
{
	unsigned long npages = (args->end - args->start) >> PAGE_SHIFT;
	unsigned long i;

	for (i = 0; i < npages && !dmirror_filled_span(args, i); i++)
		;
	if (i == npages)
		return;
	dmirror_forget_filled_dev(mdev, mm, args);
	mdev = dmirror_peer_get(mdev);
	if (mdev)
		dmirror_forget_filled_dev(mdev, mm, args);
}
