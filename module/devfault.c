// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror device faults: hmm_range_fault() of a window under a
 * watch, and what it found entered in the device page table.
 */
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/signal.h>
#include <linux/xarray.h>

#include "dmirror.h"
#include "inject.h"
#include "dmirror_busy.h"
#include "dmirror_trace.h"

/**
 * DOC: fault passes
 *
 * READ and WRITE report in cmd->faults the fault passes of the request:
 * 0 when the device mapped every page already, 1 otherwise, whatever
 * happens after the first pass. A pass (dmirror_fault()) faults
 * everything from the first miss to the end of the range, window after
 * window, before anything more is copied, so every later miss is a page
 * the request already faulted and lost again: to an invalidation of an
 * earlier window while later ones were faulted (a THP split by a COW
 * break further on, reclaim, compaction, another device's migration) or
 * of a page between its store and its copy, or (WRITE) to a page of this
 * device that the CPU maps read-only (dmirror_write_unshare()).
 * Faulting such pages again finishes the same pass; counting it would
 * make the count depend on what else the system did meanwhile. The
 * coherence rules above are unchanged: every miss is faulted again. The
 * statistic DMIRROR_STAT_FAULT_ROUNDS counts every dmirror_fault() call.
 */

/* Is @page in this device's own memory (not a peer's)? */
static bool dmirror_is_own_page(struct dmirror *dm, struct page *page)
{
	return (is_device_private_page(page) ||
		is_device_coherent_page(page)) &&
	       dmirror_page_owner(page) == dm->mdev->owner &&
	       dmirror_page_device(page) == dm->mdev;
}

/*
 * Does the device map every page of [start, end)?
 * Context: mirror lock held.
 */
static bool dmirror_pt_complete(struct dmirror *dm, unsigned long start,
				unsigned long end)
{
	unsigned long first = start >> PAGE_SHIFT;
	unsigned long n = (end - start) >> PAGE_SHIFT, seen = 0;
	XA_STATE(xas, &dm->pt, first);
	void *entry;

	lockdep_assert_held(&dm->lock);
	rcu_read_lock();
	xas_for_each(&xas, entry, first + n - 1) {
		/* Also skips reserved (zero) entries: a gap. */
		if (xas_retry(&xas, entry))
			continue;
		if (xas.xa_index != first + seen)
			break;
		seen++;
	}
	rcu_read_unlock();
	return seen == n;
}

/*
 * Enter what hmm_range_fault() found into the table; with @own_only, only
 * pages in this device's memory, after which every page of the window must
 * have an entry (-ENOENT otherwise).
 * Context: mirror lock held, sequence checked.
 * Return: 0, -ENOENT, or -ENOMEM with *@failed set to the index that
 * needs a node.
 */
static int dmirror_pt_update(struct dmirror *dm, struct hmm_range *range,
			     bool own_only, unsigned long *failed)
{
	unsigned long npages = (range->end - range->start) >> PAGE_SHIFT;
	unsigned long first = range->start >> PAGE_SHIFT;
	XA_STATE(xas, &dm->pt, first);
	unsigned long i, done = 0;
	int ret;

	lockdep_assert_held(&dm->lock);
	/* A forced failure of the first node allocation, as if out of memory. */
	if (dmirror_inject(DMIRROR_INJ_PT)) {
		*failed = first;
		return -ENOMEM;
	}
	/* One walk along the window; nodes are allocated GFP_NOWAIT. */
	xas_lock(&xas);
	for (i = 0; i < npages; i++) {
		unsigned long pfn = range->hmm_pfns[i];
		struct page *page;
		unsigned int access;

		xas_next(&xas);
		if (!(pfn & HMM_PFN_VALID))
			continue;
		page = dmirror_hmm_pfn_page(pfn, range->start +
					    (i << PAGE_SHIFT));
		if (own_only && !dmirror_is_own_page(dm, page))
			continue;
		access = (pfn & HMM_PFN_WRITE) ? DMIRROR_PT_WRITE :
						 DMIRROR_PT_READ;
		xas_store(&xas, dmirror_pt_entry(page, access));
		if (xas_error(&xas)) {
			*failed = first + i;
			break;
		}
		done++;
	}
	xas_unlock(&xas);
	ret = xas_error(&xas);
	if (ret)
		return ret;
	if (!own_only)
		dmirror_stat_add(dm, DMIRROR_STAT_PAGES_FAULTED, done);
	if (own_only && !dmirror_pt_complete(dm, range->start, range->end))
		return -ENOENT;
	return 0;
}

/*
 * The fault loop of one window, under the watch @w of the window (DOC:
 * device page table in pagetable.c). A device fault that keeps racing invalidations of its window
 * gives up (-EBUSY, struct dmirror_busy); one that may wait
 * (READ_UNLOCKED) and the read-back of a migration (which has no -EBUSY)
 * retry until stable or a fatal signal.
 */
static int dmirror_fault_watched(struct dmirror *dm, struct dmirror_watch *w,
				 struct hmm_range *range, bool own_only,
				 bool unlocked)
{
	struct dmirror_busy busy;
	unsigned long failed;
	int ret;

	dmirror_busy_start(&busy);
	for (;;) {
		if (fatal_signal_pending(current))
			return -EINTR;
		if (!unlocked && !own_only && dmirror_busy_expired(&busy))
			return -EBUSY;
		cond_resched();

		if (unlocked) {
			ret = dmirror_compat_range_fault_unlocked(range);
		} else {
			range->notifier_seq = mmu_interval_read_begin(&w->mni);
			mmap_read_lock(dm->mm);
			ret = hmm_range_fault(range);
			mmap_read_unlock(dm->mm);
		}
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;

		mutex_lock(&dm->lock);
		if (mmu_interval_read_retry(&w->mni, range->notifier_seq)) {
			mutex_unlock(&dm->lock);
			continue;
		}
		ret = dmirror_pt_update(dm, range, own_only, &failed);
		mutex_unlock(&dm->lock);
		if (ret != -ENOMEM)
			return ret;
		/* Allocate the missing node where reclaim is allowed. */
		ret = dmirror_inject(DMIRROR_INJ_PT) ? -ENOMEM :
			xa_reserve(&dm->pt, failed, GFP_KERNEL);
		if (ret)
			return ret;
	}
}

/*
 * Fault one window into the device page table, under a watch of that
 * window. Context: mm users held, no lock held.
 */
static int dmirror_fault_window(struct dmirror *dm, struct hmm_range *range,
				bool own_only, bool unlocked)
{
	struct dmirror_watch w;
	int ret;

	ret = dmirror_watch_start(dm, &w, range->start, range->end);
	if (ret)
		return ret;
	range->notifier = &w.mni;
	ret = dmirror_fault_watched(dm, &w, range, own_only, unlocked);
	range->notifier = NULL;
	dmirror_watch_stop(&w);
	return ret;
}

/**
 * dmirror_devfault() - one device fault: make [@start, @end) present in
 * the device page table, window by window
 * @dm:       the mirror
 * @pfns:     room for DMIRROR_WINDOW_PAGES hmm_range_fault() results
 * @start:    first address, page aligned
 * @end:      end of the range, page aligned, above @start
 * @write:    fault for writing
 * @unlocked: the fault may drop the mmap lock and wait (READ_UNLOCKED)
 *
 * Counted as one round (DMIRROR_STAT_FAULT_ROUNDS) however many windows
 * it takes (DOC: fault passes).
 *
 * Context: process context in @dm->mm, no lock held.
 * Return: 0 or a negative errno (-EBUSY, -EINTR, hmm_range_fault()'s).
 */
int dmirror_devfault(struct dmirror *dm, unsigned long *pfns,
		     unsigned long start, unsigned long end, bool write,
		     bool unlocked)
{
	struct hmm_range range = {
		.hmm_pfns		= pfns,
		.default_flags		= HMM_PFN_REQ_FAULT |
					  (write ? HMM_PFN_REQ_WRITE : 0),
		.dev_private_owner	= dm->mdev->owner,
	};
	unsigned long addr;
	int ret = 0;

	dmirror_stat_add(dm, DMIRROR_STAT_FAULT_ROUNDS, 1);
	for (addr = start; addr < end && !ret; addr = range.end) {
		range.start = addr;
		range.end = min(end, addr + DMIRROR_WINDOW_PAGES * PAGE_SIZE);
		ret = dmirror_fault_window(dm, &range, false, unlocked);
	}
	trace_dmirror_device_fault(dm->mdev->id, start, end, write, ret);
	return ret;
}

/**
 * dmirror_devfault_own() - enter every page of [@start, @end) that is in
 * this device's memory in the device page table, without faulting
 * @dm:    the mirror
 * @pfns:  room for DMIRROR_WINDOW_PAGES hmm_range_fault() results
 * @start: first address, page aligned
 * @end:   end of the range, page aligned, above @start
 *
 * For the read-back of a migration: a window whose every page has an
 * entry already (the migration maps what it moved) needs no look at the
 * CPU page tables, the others are walked with hmm_range_fault(), without
 * faulting. Then every page of the window must have an entry.
 *
 * Context: process context in @dm->mm, no lock held.
 * Return: 0, -ENOENT (a page has no entry), -EINTR or another errno.
 */
int dmirror_devfault_own(struct dmirror *dm, unsigned long *pfns,
			 unsigned long start, unsigned long end)
{
	struct hmm_range range = {
		.hmm_pfns		= pfns,
		.default_flags		= 0,
		.dev_private_owner	= dm->mdev->owner,
	};
	unsigned long addr;
	bool complete;
	int ret = 0;

	for (addr = start; addr < end && !ret; addr = range.end) {
		range.start = addr;
		range.end = min(end, addr + DMIRROR_WINDOW_PAGES * PAGE_SIZE);
		ret = dmirror_loop_check();
		if (ret)
			break;
		mutex_lock(&dm->lock);
		complete = dmirror_pt_complete(dm, range.start, range.end);
		mutex_unlock(&dm->lock);
		if (!complete)
			ret = dmirror_fault_window(dm, &range, true, false);
	}
	return ret;
}
