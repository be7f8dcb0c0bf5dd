// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror mirror: the device page table of one open file, kept coherent
 * with the CPU page tables by an interval notifier, and the READ and WRITE
 * ioctls that go through it.
 */
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/page-flags.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "dmirror.h"
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
 * The mirror's notifier (@notifier) spans the whole address space and
 * lives as long as the file. Its callback clears the entries of every
 * invalidated range under the mirror lock. It skips the MMU_NOTIFY_MIGRATE
 * events of this device's own migrations (migrate.c updates the tables
 * itself, see DOC: migration there) and the MMU_NOTIFY_EXCLUSIVE events
 * of its own EXCLUSIVE (which keeps the page where it is), and for
 * non-blockable ranges it only tries the lock and refuses the
 * invalidation if it is busy.
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

/**
 * DOC: data path
 *
 * READ, WRITE and the read-back of MIGRATE_TO_DEV and EXCLUSIVE move data
 * straight between the pages the device maps and the user buffer, a batch
 * (one window) at a time: the user pages of the batch are pinned with
 * pin_user_pages_fast(), which may fault them in, and mapped contiguously
 * with vmap() before the mirror lock is taken; the copy runs under the
 * lock; the pages are unmapped and unpinned (and marked dirty) after the
 * lock is dropped. (Under QEMU TCG, stores through such a mapping cost a
 * third of stores through the linear map.) No
 * user access (copy_to_user() and friends) happens under the mirror lock:
 * a fault on the user buffer can run the invalidate callback, which takes
 * that lock.
 *
 * When the user buffer overlaps the range itself, pinning it could change
 * the very entries being read (a write pin breaks COW or brings a migrated
 * page back to system memory), so such a request keeps the plain order
 * instead: the data of a batch goes through a bounce buffer of
 * DMIRROR_BATCH_PAGES pages, read (or written) under the lock, copied to
 * (or from) the user outside it.
 */

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

static struct page *dmirror_pt_page(void *entry)
{
	return xa_untag_pointer(entry);
}

static unsigned int dmirror_pt_access(void *entry)
{
	return xa_pointer_tag(entry);
}

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

	/* Our own migration: the migration code keeps the table right. */
	if (range->event == MMU_NOTIFY_MIGRATE && range->owner == dm->mdev) {
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

/* Is @page in this device's own memory? */
static bool dmirror_is_own_page(struct dmirror *dm, struct page *page)
{
	return (is_device_private_page(page) ||
		is_device_coherent_page(page)) &&
	       dmirror_page_owner(page) == dm->mdev;
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
 * The fault loop of one window, under the watch @w of the window (see the
 * DOC above). A device fault that keeps racing invalidations of its window
 * gives up after DMIRROR_BUSY_MS (-EBUSY); one that may wait
 * (READ_UNLOCKED) and the read-back of a migration (which has no -EBUSY)
 * retry until stable or a fatal signal.
 */
static int dmirror_fault_watched(struct dmirror *dm, struct dmirror_watch *w,
				 struct hmm_range *range, bool own_only,
				 bool unlocked)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(DMIRROR_BUSY_MS);
	unsigned long failed;
	int ret;

	for (;;) {
		if (fatal_signal_pending(current))
			return -EINTR;
		if (!unlocked && !own_only && time_after(jiffies, timeout))
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
		ret = xa_reserve(&dm->pt, failed, GFP_KERNEL);
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
 * struct dmirror_xfer - working memory of one ioctl that moves data
 * @pfns:   hmm_range_fault() output for one window
 * @upages: the user buffer pages behind one batch, pinned while it is
 *          copied (a batch of data that starts inside a page spans one
 *          page more)
 * @buf:    bounce buffer of DMIRROR_BATCH_PAGES pages, only when the user
 *          buffer overlaps the range (see the DOC above), else NULL
 * @uptr:   the user buffer
 * @start:  the address its first byte belongs to
 *
 * Its size is fixed: no kernel buffer grows with the request.
 */
struct dmirror_xfer {
	unsigned long pfns[DMIRROR_WINDOW_PAGES];
	struct page *upages[DMIRROR_WINDOW_PAGES + 1];
	u8 *buf;
	u8 __user *uptr;
	unsigned long start;
};

/*
 * One device fault: make [start, end) present in the device page table,
 * window by window. Counted as one round however many windows it takes.
 */
static int dmirror_fault(struct dmirror *dm, struct dmirror_xfer *x,
			 unsigned long start, unsigned long end, bool write,
			 bool unlocked)
{
	struct hmm_range range = {
		.hmm_pfns		= x->pfns,
		.default_flags		= HMM_PFN_REQ_FAULT |
					  (write ? HMM_PFN_REQ_WRITE : 0),
		.dev_private_owner	= dm->mdev,
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

/*
 * Between two steps of a loop whose length the request decides: give the
 * CPU away, and stop for a fatal signal. Return: 0 or -EINTR.
 */
static int dmirror_loop_check(void)
{
	if (fatal_signal_pending(current))
		return -EINTR;
	cond_resched();
	return 0;
}

/*
 * Refuse a range the device cannot access before touching anything, so a
 * failed READ leaves the user buffer and a failed WRITE the memory as they
 * were: a hole or a VMA without read access (or without struct pages) is
 * -EFAULT, a VMA without write access for a write -EPERM.
 */
static int dmirror_check_vmas(struct dmirror *dm, unsigned long start,
			      unsigned long end, bool write)
{
	struct vm_area_struct *vma;
	unsigned long addr;
	int ret = 0;

	mmap_read_lock(dm->mm);
	for (addr = start; addr < end; addr = vma->vm_end) {
		ret = dmirror_loop_check();
		if (ret)
			break;
		vma = find_vma(dm->mm, addr);
		if (!vma || vma->vm_start > addr ||
		    !(vma->vm_flags & VM_READ) ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP))) {
			ret = -EFAULT;
			break;
		}
		if (write && !(vma->vm_flags & VM_WRITE)) {
			ret = -EPERM;
			break;
		}
	}
	mmap_read_unlock(dm->mm);
	return ret;
}

/*
 * The device reads or writes a page it maps. Private pages of this device
 * hold their data in device storage; everything else the CPU can address.
 */
static void dmirror_copy_from_page(struct page *page, void *dst)
{
	void *src;

	if (is_device_private_page(page)) {
		dmirror_copy_data(dst, dmirror_devmem_page_data(page));
		return;
	}
	src = kmap_local_page(page);
	dmirror_copy_data(dst, src);
	kunmap_local(src);
}

static void dmirror_copy_to_page(struct page *page, const void *src)
{
	struct folio *folio = page_folio(page);
	void *dst;

	if (is_device_private_page(page)) {
		dmirror_copy_data(dmirror_devmem_page_data(page), src);
		return;
	}
	dst = kmap_local_page(page);

	dmirror_copy_data(dst, src);
	kunmap_local(dst);
	/* Anonymous and shmem folios need no lock to be marked dirty. */
	if (folio_test_swapbacked(folio))
		folio_mark_dirty(folio);
}

/*
 * Copy the mirrored pages of [addr, end) into @buf, up to the first miss.
 * Return: the address of the first page not copied.
 */
static unsigned long dmirror_read_mirrored(struct dmirror *dm, u8 *buf,
					   unsigned long addr,
					   unsigned long end)
{
	mutex_lock(&dm->lock);
	for (; addr < end; addr += PAGE_SIZE, buf += PAGE_SIZE) {
		void *entry = xa_load(&dm->pt, addr >> PAGE_SHIFT);

		if (!entry)
			break;
		dmirror_copy_from_page(dmirror_pt_page(entry), buf);
	}
	mutex_unlock(&dm->lock);
	return addr;
}

/*
 * A write fault found a page of this device's private memory that the CPU
 * maps read-only (after fork, or mprotect): hmm_range_fault() reports such
 * a page as it is, without write access. Let the CPU fault path take it
 * back to system memory (dmirror_migrate_to_ram()), after which the next
 * device fault can break COW like any write fault.
 * Return: 0 when the caller may fault again, or the CPU fault's error.
 */
static int dmirror_write_unshare(struct dmirror *dm, unsigned long addr)
{
	bool own_ro = false;
	void *entry;
	int ret;

	/*
	 * Anything else (no entry, or a read-only one a racing READ stored
	 * after fork) a new write fault resolves.
	 */
	mutex_lock(&dm->lock);
	entry = xa_load(&dm->pt, addr >> PAGE_SHIFT);
	if (entry && dmirror_pt_access(entry) == DMIRROR_PT_READ) {
		struct page *page = dmirror_pt_page(entry);

		own_ro = is_device_private_page(page) &&
			 dmirror_page_owner(page) == dm->mdev;
	}
	mutex_unlock(&dm->lock);
	if (!own_ro)
		return 0;

	dev_dbg(&dm->mdev->dev, "write to read-only device page at %#lx\n",
		addr);
	mmap_read_lock(dm->mm);
	ret = fixup_user_fault(dm->mm, addr, FAULT_FLAG_WRITE, NULL);
	mmap_read_unlock(dm->mm);
	return ret;
}

/* Write @buf to the pages of [addr, end) mapped writable, up to a miss. */
static unsigned long dmirror_write_mirrored(struct dmirror *dm, const u8 *buf,
					    unsigned long addr,
					    unsigned long end)
{
	mutex_lock(&dm->lock);
	for (; addr < end; addr += PAGE_SIZE, buf += PAGE_SIZE) {
		void *entry = xa_load(&dm->pt, addr >> PAGE_SHIFT);

		if (!entry || dmirror_pt_access(entry) == DMIRROR_PT_READ)
			break;
		dmirror_copy_to_page(dmirror_pt_page(entry), buf);
	}
	mutex_unlock(&dm->lock);
	return addr;
}

/*
 * Does the user buffer of @cmd (its data: npages pages from ptr) overlap
 * the range the command works on?
 */
static bool dmirror_user_overlaps(const struct hmm_dmirror_cmd *cmd)
{
	unsigned long len = cmd->npages << PAGE_SHIFT;
	unsigned long start = cmd->addr, end = start + len;

	if (cmd->ptr > ULONG_MAX - len)
		return true;	/* pin_user_pages_fast() refuses it anyway */
	return (cmd->ptr & PAGE_MASK) < end && start < cmd->ptr + len;
}

static struct dmirror_xfer *dmirror_xfer_alloc(const struct hmm_dmirror_cmd *cmd)
{
	struct dmirror_xfer *x = kvmalloc_obj(*x, GFP_KERNEL);

	if (!x)
		return NULL;
	x->buf = NULL;
	x->uptr = u64_to_user_ptr(cmd->ptr);
	x->start = cmd->addr;
	if (dmirror_user_overlaps(cmd)) {
		x->buf = kvmalloc(DMIRROR_BATCH_PAGES * PAGE_SIZE, GFP_KERNEL);
		if (!x->buf) {
			kvfree(x);
			return NULL;
		}
	}
	return x;
}

static void dmirror_xfer_free(struct dmirror_xfer *x)
{
	kvfree(x->buf);
	kvfree(x);
}

/* Pages of data a batch moves at most. */
static unsigned long dmirror_xfer_batch_bytes(const struct dmirror_xfer *x)
{
	return (x->buf ? DMIRROR_BATCH_PAGES : DMIRROR_WINDOW_PAGES) << PAGE_SHIFT;
}

/*
 * The device reads (@to_user) or writes the page @page it maps, from or to
 * @u, the kernel mapping of its place in the user buffer. Private pages of
 * this device hold their data in device storage; everything else the CPU
 * can address. Context: mirror lock held.
 */
static void dmirror_user_page(struct page *page, u8 *u, bool to_user)
{
	struct folio *folio;
	u8 *data;

	if (is_device_private_page(page)) {
		data = dmirror_devmem_page_data(page);
		if (to_user)
			dmirror_copy_data(u, data);
		else
			dmirror_copy_data(data, u);
		return;
	}
	data = kmap_local_page(page);
	if (to_user)
		dmirror_copy_data(u, data);
	else
		dmirror_copy_data(data, u);
	kunmap_local(data);
	folio = page_folio(page);
	/* Anonymous and shmem folios need no lock to be marked dirty. */
	if (!to_user && folio_test_swapbacked(folio))
		folio_mark_dirty(folio);
}

/*
 * Move the data of the pages of [addr, end) (at most DMIRROR_WINDOW_PAGES)
 * straight between the pages the device maps and the user buffer, up to
 * the first page the device does not map (@to_user) or does not map
 * writable. The user pages are pinned (and faulted in if need be) and
 * mapped contiguously in the kernel (vmap(), so a page of data that
 * straddles two user pages is one copy) before the mirror lock is taken,
 * and unmapped and unpinned after it is dropped.
 * Return: 0 with *@next the first address not done, -EFAULT when the user
 * buffer cannot take (or give) the data, or -ENOMEM.
 */
static int dmirror_xfer_pinned(struct dmirror *dm, struct dmirror_xfer *x,
			       unsigned long addr, unsigned long end,
			       bool to_user, unsigned long *next)
{
	unsigned long uaddr = (unsigned long)x->uptr + (addr - x->start);
	unsigned int off = offset_in_page(uaddr);
	unsigned long n = (end - addr) >> PAGE_SHIFT, i, done;
	int nr = n + (off ? 1 : 0), pinned;
	int ret = 0;
	u8 *ubuf;

	pinned = pin_user_pages_fast(uaddr & PAGE_MASK, nr,
				     to_user ? FOLL_WRITE : 0, x->upages);
	if (pinned <= 0)
		return pinned ? pinned : -EFAULT;
	if (pinned < nr) {
		/* Only the data the pinned pages can hold, then -EFAULT. */
		n = pinned - (off ? 1 : 0);
		ret = -EFAULT;
	}
	ubuf = n ? vmap(x->upages, pinned, VM_MAP, PAGE_KERNEL) : NULL;
	if (!ubuf) {
		unpin_user_pages(x->upages, pinned);
		return n ? -ENOMEM : ret;
	}
	if (!to_user)
		invalidate_kernel_vmap_range(ubuf, pinned << PAGE_SHIFT);

	mutex_lock(&dm->lock);
	for (i = 0; i < n; i++) {
		void *entry = xa_load(&dm->pt, (addr >> PAGE_SHIFT) + i);

		if (!entry ||
		    (!to_user && dmirror_pt_access(entry) == DMIRROR_PT_READ))
			break;
		dmirror_user_page(dmirror_pt_page(entry),
				  ubuf + off + (i << PAGE_SHIFT), to_user);
	}
	mutex_unlock(&dm->lock);

	if (to_user)
		flush_kernel_vmap_range(ubuf, pinned << PAGE_SHIFT);
	vunmap(ubuf);
	/* The user pages written to: those of the i pages of data. */
	done = (to_user && i) ? i + (off ? 1 : 0) : 0;
	unpin_user_pages_dirty_lock(x->upages, done, true);
	unpin_user_pages(x->upages + done, pinned - done);
	if (i < n)
		ret = 0;	/* the device misses a page first */
	*next = addr + (i << PAGE_SHIFT);
	return ret;
}

/*
 * The device's view of the pages of one batch of [addr, end), to the user
 * buffer, up to the first page the device does not map.
 * Return: 0 with *@next the first address not copied, or -EFAULT.
 */
static int dmirror_xfer_to_user(struct dmirror *dm, struct dmirror_xfer *x,
				unsigned long addr, unsigned long end,
				unsigned long *next)
{
	end = min(end, addr + dmirror_xfer_batch_bytes(x));
	if (!x->buf)
		return dmirror_xfer_pinned(dm, x, addr, end, true, next);
	/* Overlapping buffer: read the device's view first, then copy. */
	*next = dmirror_read_mirrored(dm, x->buf, addr, end);
	if (*next > addr && copy_to_user(x->uptr + (addr - x->start), x->buf,
					 *next - addr))
		return -EFAULT;
	return 0;
}

/*
 * READ and READ_UNLOCKED: batch by batch, copy what the device maps, fault
 * the rest of the range on a miss, and hand each batch to the user buffer.
 * @unlocked: faults may drop the mmap lock and wait.
 */
static int dmirror_read_common(struct dmirror *dm, struct hmm_dmirror_cmd *cmd,
			       bool unlocked)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long addr = start, next;
	struct dmirror_xfer *x;
	int ret;

	ret = dmirror_check_vmas(dm, start, end, false);
	if (ret)
		return ret;
	x = dmirror_xfer_alloc(cmd);
	if (!x)
		return -ENOMEM;

	while (addr < end) {
		ret = dmirror_loop_check();
		if (ret)
			break;
		ret = dmirror_xfer_to_user(dm, x, addr, end, &next);
		if (ret)
			break;
		cmd->cpages += (next - addr) >> PAGE_SHIFT;
		if (next > addr) {
			addr = next;
			continue;
		}
		ret = dmirror_fault(dm, x, addr, end, false, unlocked);
		if (ret)
			break;
		/* A request makes one fault pass: see DOC: fault passes. */
		cmd->faults = 1;
	}
	dmirror_xfer_free(x);
	return ret;
}

/**
 * dmirror_mirror_read() - HMM_DMIRROR_READ
 * @dm:  the mirror
 * @cmd: validated command; cpages and faults are filled in
 *
 * Context: process context in @dm->mm.
 * Return: 0 or a negative errno (uapi/hmm_dmirror.h).
 */
int dmirror_mirror_read(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	return dmirror_read_common(dm, cmd, false);
}

/**
 * dmirror_mirror_read_unlocked() - HMM_DMIRROR_READ_UNLOCKED
 * @dm:  the mirror
 * @cmd: validated command; cpages and faults are filled in
 *
 * Like READ, but a fault may drop the mmap lock and wait (userfaultfd
 * memory served by another thread); no -EBUSY deadline.
 *
 * Context: process context in @dm->mm.
 * Return: 0 or a negative errno; -EINTR on a fatal signal.
 */
int dmirror_mirror_read_unlocked(struct dmirror *dm,
				 struct hmm_dmirror_cmd *cmd)
{
	return dmirror_read_common(dm, cmd, true);
}

/**
 * dmirror_mirror_write() - HMM_DMIRROR_WRITE
 * @dm:  the mirror
 * @cmd: validated command; cpages and faults are filled in
 *
 * Batch by batch: take the data from the user buffer, write it through the
 * device's writable entries, fault the rest of the range for writing on a
 * miss. Pages written before an error stay written.
 *
 * Context: process context in @dm->mm.
 * Return: 0 or a negative errno (uapi/hmm_dmirror.h).
 */
int dmirror_mirror_write(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long stuck = jiffies + msecs_to_jiffies(DMIRROR_BUSY_MS);
	unsigned long addr = start;
	struct dmirror_xfer *x;
	bool faulted = false;
	int ret;

	ret = dmirror_check_vmas(dm, start, end, true);
	if (ret)
		return ret;
	x = dmirror_xfer_alloc(cmd);
	if (!x)
		return -ENOMEM;

	while (addr < end) {
		unsigned long bstart = addr;
		unsigned long bend = min(end, addr + dmirror_xfer_batch_bytes(x));

		ret = dmirror_loop_check();
		if (ret)
			break;
		/* Overlapping buffer: take the whole batch first. */
		if (x->buf && copy_from_user(x->buf, x->uptr + (addr - start),
					     bend - addr)) {
			ret = -EFAULT;
			break;
		}
		while (addr < bend) {
			unsigned long next;

			if (x->buf)
				next = dmirror_write_mirrored(dm, x->buf +
							      (addr - bstart),
							      addr, bend);
			else
				ret = dmirror_xfer_pinned(dm, x, addr, bend,
							  false, &next);
			if (ret)
				goto out;
			cmd->cpages += (next - addr) >> PAGE_SHIFT;
			if (next > addr)
				stuck = jiffies + msecs_to_jiffies(DMIRROR_BUSY_MS);
			else if (time_after(jiffies, stuck))
				ret = -EBUSY;
			else if (faulted)
				ret = dmirror_write_unshare(dm, addr);
			if (ret)
				goto out;
			addr = next;
			if (addr == bend)
				break;
			ret = dmirror_fault(dm, x, addr, end, true, false);
			if (ret)
				goto out;
			/* One fault pass per request (DOC: fault passes). */
			cmd->faults = 1;
			faulted = true;
		}
	}
out:
	dmirror_xfer_free(x);
	return ret;
}

/* Every page of @cmd's range that the device maps, to the user buffer. */
static int dmirror_copy_out(struct dmirror *dm, struct hmm_dmirror_cmd *cmd,
			    struct dmirror_xfer *x)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long addr, next;
	int ret = 0;

	for (addr = start; addr < end && !ret; addr = next) {
		ret = dmirror_loop_check();
		if (ret)
			break;
		ret = dmirror_xfer_to_user(dm, x, addr, end, &next);
		if (!ret && next == addr)
			ret = -ENOENT;
	}
	if (!ret)
		cmd->cpages = cmd->npages;
	return ret;
}

/**
 * dmirror_mirror_readback() - the device's view of a range after migration
 * @dm:  the mirror
 * @cmd: the MIGRATE_TO_DEV command; cpages = npages on success
 *
 * Every page resident in this device's memory is entered in the device page
 * table: a window whose every page has an entry already (the migration
 * maps what it moved) needs no look at the CPU page tables, the others
 * are walked with hmm_range_fault(), without faulting. Then every page of
 * the range must have an entry (resident, or mirrored earlier), else
 * -ENOENT and nothing is copied. The data goes to the user buffer batch by
 * batch (dmirror_mirror_copy_out()).
 *
 * Context: process context in @dm->mm, no lock held.
 * Return: 0, -ENOENT or another negative errno.
 */
int dmirror_mirror_readback(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	struct hmm_range range = {
		.default_flags		= 0,
		.dev_private_owner	= dm->mdev,
	};
	struct dmirror_xfer *x;
	unsigned long addr;
	bool complete;
	int ret = 0;

	x = dmirror_xfer_alloc(cmd);
	if (!x)
		return -ENOMEM;
	range.hmm_pfns = x->pfns;
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
	if (!ret)
		ret = dmirror_copy_out(dm, cmd, x);
	dmirror_xfer_free(x);
	return ret;
}

/**
 * dmirror_mirror_copy_out() - copy the device's view of a range to the user
 * @dm:  the mirror
 * @cmd: command whose range every page of which the device should map;
 *       cpages = npages on success
 *
 * Used after MIGRATE_TO_DEV and EXCLUSIVE: no faulting, a page without an
 * entry is -ENOENT. Batch by batch, so an entry lost in between (the CPU
 * took the page back) can leave earlier batches copied.
 *
 * Context: process context, no lock held.
 * Return: 0, -ENOENT, -EFAULT or -ENOMEM.
 */
int dmirror_mirror_copy_out(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	struct dmirror_xfer *x;
	int ret;

	x = dmirror_xfer_alloc(cmd);
	if (!x)
		return -ENOMEM;
	ret = dmirror_copy_out(dm, cmd, x);
	dmirror_xfer_free(x);
	return ret;
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
		old = xa_store(&dm->pt, index, dmirror_pt_entry(page, access),
			       GFP_NOWAIT | __GFP_NOWARN);
		mutex_unlock(&dm->lock);
		if (!xa_is_err(old))
			return 0;
		ret = xa_reserve(&dm->pt, index, GFP_KERNEL);
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
 * its own that every mirror of @mdev skips as the device's own migration.
 * A mirror of @mdev in @mm that entered the zero page after step 1 of DOC:
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
	struct dmirror *dm;
	unsigned long i;

	for (i = 0; i < npages && !dmirror_filled_span(args, i); i++)
		;
	if (i == npages)
		return;
	mutex_lock(&mdev->mirrors_lock);
	list_for_each_entry(dm, &mdev->mirrors, dev_link)
		if (dm->mm == mm)
			dmirror_forget_filled_one(dm, args);
	mutex_unlock(&mdev->mirrors_lock);
}

/**
 * dmirror_mirror_create() - the mirror of the current mm on @mdev
 * @mdev: the device being opened
 *
 * Context: process context (open()).
 * Return: the new mirror or an ERR_PTR().
 */
struct dmirror *dmirror_mirror_create(struct dmirror_device *mdev)
{
	struct mm_struct *mm = current->mm;
	struct dmirror *dm;
	int ret;

	if (!mm)
		return ERR_PTR(-EINVAL);
	dm = kzalloc_obj(*dm, GFP_KERNEL);
	if (!dm)
		return ERR_PTR(-ENOMEM);
	dm->mdev = mdev;
	mutex_init(&dm->lock);
	xa_init(&dm->pt);
	mmgrab(mm);
	dm->mm = mm;

	dm->dmm = dmirror_mm_get(mm);
	if (IS_ERR(dm->dmm)) {
		ret = PTR_ERR(dm->dmm);
		goto err_mm;
	}
	ret = mmu_interval_notifier_insert(&dm->notifier, mm, 0,
					   ULONG_MAX & PAGE_MASK,
					   &dmirror_mni_ops);
	if (ret)
		goto err_dmm;

	get_device(&mdev->dev);
	dmirror_mm_add_mirror(dm->dmm, dm);
	mutex_lock(&mdev->mirrors_lock);
	list_add_tail(&dm->dev_link, &mdev->mirrors);
	mutex_unlock(&mdev->mirrors_lock);
	dmirror_stat_add(dm, DMIRROR_STAT_MIRRORS, 1);
	return dm;

err_dmm:
	dmirror_mm_put(dm->dmm);
err_mm:
	mmdrop(mm);
	kfree(dm);
	return ERR_PTR(ret);
}

/**
 * dmirror_mirror_destroy() - tear down a mirror at file release
 * @dm: the mirror
 *
 * This device's pages in the mirror's mm (if it still lives) are evicted
 * to system memory first.
 *
 * Context: process context; waits for running invalidations.
 */
void dmirror_mirror_destroy(struct dmirror *dm)
{
	struct dmirror_device *mdev = dm->mdev;

	/* The pages this file's mm put on the device go back first. */
	dmirror_migrate_evict_mm(dm);
	dmirror_stat_add(dm, DMIRROR_STAT_MIRRORS, -1);
	mutex_lock(&mdev->mirrors_lock);
	list_del(&dm->dev_link);
	mutex_unlock(&mdev->mirrors_lock);
	dmirror_mm_del_mirror(dm->dmm, dm);
	mmu_interval_notifier_remove(&dm->notifier);
	/* Cleared step by step first: xa_destroy() never reschedules. */
	dmirror_mirror_zap_all(dm);
	xa_destroy(&dm->pt);
	dmirror_mm_put(dm->dmm);
	mmdrop(dm->mm);
	kfree(dm);
	put_device(&mdev->dev);
}
