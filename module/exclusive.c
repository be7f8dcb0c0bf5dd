// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror device-exclusive access (for device atomics): EXCLUSIVE and
 * CHECK_EXCLUSIVE.
 */
#include <linux/jiffies.h>
#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "dmirror.h"
#include "dmirror_busy.h"

/**
 * DOC: device-exclusive access
 *
 * EXCLUSIVE replaces each page's CPU mapping with a device-exclusive entry
 * (make_device_exclusive(), or the range variant before 6.15, through
 * compat.h), which the core turns back into the normal mapping on the
 * next CPU access, after an invalidation. The atomic entry is stored with
 * the interval-notifier protocol: mmu_interval_read_begin() before the
 * conversion, the store under the mirror lock only if no invalidation ran
 * since (the page lock the core hands us keeps the CPU from restoring the
 * mapping, but not MADV_DONTNEED or munmap from zapping it); otherwise the
 * page is converted again. The sequence is that of a watch over the
 * range of the request (DOC: device page table in pagetable.c), inserted
 * before the mmap lock is taken, so only invalidations of the range make
 * a page convert again. The conversion's own MMU_NOTIFY_EXCLUSIVE
 * event is skipped by this device's mirrors (pagetable.c); a page that is
 * already exclusive is first given back to the CPU by a write fault, since
 * the conversion would do that inside the checked window. Any later
 * invalidation of the page (the CPU restoring its mapping, fork, mprotect,
 * someone else's exclusive access) removes the entry like any other, and
 * with it the atomic access.
 *
 * Before 6.15 (compat.h: dmirror_exclusive_whole_folio()) the core
 * converts a large folio only as a whole (a PMD-mapped THP is split into
 * PTEs first), and only from its first page: it refuses the other pages,
 * and converting them one by one would give the previous one back to the
 * CPU each time. There the pages of the range that map one folio in order
 * are looked up together with hmm_range_fault() (a write fault, under the
 * same sequence), the folio is converted once through the address of its
 * first page (which may lie before the range), and all of them are
 * stored while the folio lock the core hands us is held; the folio's
 * reference and lock keep it from splitting while it is checked to be
 * the one looked up. Its pages outside the range become device-exclusive
 * without device access (the next CPU access gives them back), and those
 * an earlier request left device-exclusive are first given back with read
 * faults, since the conversion stops at the first entry of the folio that
 * is not present. A folio whose first page is not mapped where its layout
 * puts it (partly unmapped, or moved by mremap) cannot be converted there:
 * -EBUSY, like every failure of the conversion before 6.15.
 *
 * Device-exclusive entries are for system memory only: pages of a coherent
 * device are first migrated back (private device pages come back by
 * themselves, through the fault the conversion makes), and a page that
 * stays coherent is refused (-EBUSY), never converted. Kernels before 6.15
 * do not count a device-exclusive entry as a mapping, so a coherent page
 * under one can be neither evicted nor safely freed (RELEASE would fail,
 * then walk a stale anon_vma). Only MIGRATE_TO_DEV to a coherent device
 * makes coherent pages, and it holds dmirror_coherent_sem (migrate_dev.c) for
 * reading; EXCLUSIVE holds it for writing (dmirror_coherent_exclude_begin()),
 * so no page of its range can become
 * coherent between the check and the conversion (mremap, the other way
 * in, needs the mmap lock for writing).
 *
 * Only private, non-hugetlb memory can be made exclusive: shared memory
 * and hugetlb are refused (-EOPNOTSUPP) before anything is converted, on
 * every kernel; memory the device could not write (no VMA, PROT_NONE,
 * read-only) is -EFAULT.
 */

/*
 * Whether the page mapped at @addr is in device-coherent memory, from a
 * walk of the CPU page table that faults nothing.
 * Context: mmap_lock held (read). Return: 1, 0, -EAGAIN if the walk raced
 * an invalidation, or another negative errno.
 */
static int dmirror_exclusive_is_coherent(struct dmirror_watch *w,
					 unsigned long addr)
{
	unsigned long pfn = 0;
	struct hmm_range range = {
		.notifier	= &w->mni,
		.start		= addr,
		.end		= addr + PAGE_SIZE,
		.hmm_pfns	= &pfn,
	};
	int ret;

	range.notifier_seq = mmu_interval_read_begin(&w->mni);
	ret = hmm_range_fault(&range);
	if (ret)
		return ret == -EBUSY ? -EAGAIN : ret;
	return (pfn & HMM_PFN_VALID) &&
	       is_device_coherent_page(hmm_pfn_to_page(pfn));
}

static int dmirror_exclusive_check_vmas(struct mm_struct *mm,
					unsigned long start, unsigned long end)
{
	struct vm_area_struct *vma;
	unsigned long addr;

	for (addr = start; addr < end; addr = vma->vm_end) {
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
		vma = vma_lookup(mm, addr);
		if (!vma || !(vma->vm_flags & VM_READ) ||
		    !(vma->vm_flags & VM_WRITE) ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP)))
			return -EFAULT;
		if ((vma->vm_flags & VM_SHARED) || is_vm_hugetlb_page(vma))
			return -EOPNOTSUPP;
	}
	return 0;
}

/*
 * Give the CPU back the pages of [@start, @end) (outside the range of @w)
 * that are device-exclusive, with read faults: the conversion of a whole
 * folio stops at the first entry of it that is not present. Failures are
 * left to the conversion to report.
 */
static void dmirror_exclusive_restore(struct dmirror_watch *w,
				      unsigned long start, unsigned long end,
				      unsigned long *pfns)
{
	struct hmm_range range = {
		.notifier	= &w->mni,
		.start		= start,
		.end		= min(end, start + PTRS_PER_PMD * PAGE_SIZE),
		.hmm_pfns	= pfns,
		.default_flags	= HMM_PFN_REQ_FAULT,
	};

	if (start >= end)
		return;
	range.notifier_seq = mmu_interval_read_begin(&w->mni);
	hmm_range_fault(&range);
}

/*
 * Where the conversion takes a whole large folio (kernels before 6.15, see
 * compat.h): fault in [@addr, @end) for writing, at most a PMD's worth,
 * under @seq, and find the folio of the page at @addr. *@head is the
 * address its first page is mapped at if the folio is mapped linearly,
 * *@idx the index of @addr's page in it, *@nr how many pages from @addr
 * are its consecutive pages, *@pfn the pfn at @addr. The pages of the
 * folio around them in @addr's VMA are given back to the CPU if they are
 * device-exclusive. The folio is read without a reference; the caller
 * checks it again once the conversion holds it locked, and @seq covers
 * the mappings in the range. Return: 0, -EAGAIN (an invalidation ran
 * since @seq, or the folio was changing) or another negative errno.
 */
static int dmirror_exclusive_span(struct dmirror_watch *w, unsigned long addr,
				  unsigned long end, unsigned long seq,
				  unsigned long *pfns, unsigned long *head,
				  unsigned long *idx, unsigned long *nr,
				  unsigned long *pfn)
{
	struct hmm_range range = {
		.notifier	= &w->mni,
		.notifier_seq	= seq,
		.start		= addr,
		.end		= min(end, addr + PTRS_PER_PMD * PAGE_SIZE),
		.hmm_pfns	= pfns,
		.default_flags	= HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
	};
	unsigned long n, i, folio_pages, folio_end;
	struct vm_area_struct *vma;
	struct folio *folio;
	struct page *page;
	int ret;

	ret = hmm_range_fault(&range);
	if (ret)
		return ret == -EBUSY ? -EAGAIN : ret;
	page = hmm_pfn_to_page(pfns[0]);
	*pfn = page_to_pfn(page);
	folio = page_folio(page);
	folio_pages = folio_nr_pages(folio);
	*idx = folio_page_idx(folio, page);
	if (*idx >= folio_pages || *idx >= PTRS_PER_PMD)
		return -EAGAIN;
	n = min(folio_pages - *idx, (range.end - addr) >> PAGE_SHIFT);
	for (i = 1; i < n; i++)
		if (page_to_pfn(hmm_pfn_to_page(pfns[i])) != *pfn + i)
			break;
	*nr = i;
	*head = addr - *idx * PAGE_SIZE;
	if (folio_pages == 1)
		return 0;
	vma = vma_lookup(w->dm->mm, addr);
	if (!vma)
		return -EAGAIN;
	folio_end = *head + folio_pages * PAGE_SIZE;
	dmirror_exclusive_restore(w, max(*head, vma->vm_start), addr, pfns);
	dmirror_exclusive_restore(w, addr + i * PAGE_SIZE,
				  min(folio_end, vma->vm_end), pfns);
	return 0;
}

/*
 * Make the page at @addr exclusive and map it atomic; @w watches it. Where
 * the conversion takes the whole folio, also the following pages of
 * [@addr, @end) that map the rest of it (@pfns: PTRS_PER_PMD entries).
 * Return: how many pages were made exclusive (at least 1), or a negative
 * errno.
 */
static long dmirror_exclusive_one(struct dmirror_watch *w, unsigned long addr,
				  unsigned long end, unsigned long *pfns)
{
	struct dmirror *dm = w->dm;
	unsigned long head, idx, nr, seq, pfn, i;
	struct dmirror_busy busy;
	struct page *page;
	int ret;

	dmirror_busy_start(&busy);
	do {
		if (fatal_signal_pending(current))
			return -EINTR;
		if (dmirror_busy_expired(&busy))
			return -EBUSY;
		/*
		 * A page that is already device-exclusive (for this device
		 * or another) would be given back to the CPU inside the
		 * conversion, an invalidation that would always fail the
		 * check below: give it back first, with a write fault like
		 * the one the conversion itself makes.
		 */
		ret = fixup_user_fault(dm->mm, addr, FAULT_FLAG_WRITE, NULL);
		if (ret)
			return ret;
		ret = dmirror_exclusive_is_coherent(w, addr);
		if (ret == -EAGAIN)
			continue;
		if (ret < 0)
			return ret;
		if (ret) {
			dmirror_migrate_coherent_home(dm->mm, addr,
						      addr + PAGE_SIZE);
			ret = -EAGAIN;
			continue;
		}
		seq = mmu_interval_read_begin(&w->mni);
		head = addr;
		idx = 0;
		nr = 1;
		if (dmirror_exclusive_whole_folio()) {
			ret = dmirror_exclusive_span(w, addr, end, seq, pfns,
						     &head, &idx, &nr, &pfn);
			if (ret == -EAGAIN)
				continue;
			if (ret)
				return ret;
		}
		page = dmirror_make_device_exclusive(dm->mm, head, dm->mdev);
		if (IS_ERR(page)) {
			ret = PTR_ERR(page);
			dev_dbg(&dm->mdev->dev, "exclusive access at %#lx: %d\n",
				head, ret);
			/* A folio that changed under us: look again. */
			if (head != addr &&
			    mmu_interval_read_retry(&w->mni, seq)) {
				ret = -EAGAIN;
				continue;
			}
			return head != addr ? -EBUSY : ret;
		}
		/*
		 * Locked and referenced, the folio can no longer split: it
		 * must be the one the span was measured on, and @seq says
		 * the pages are still mapped where they were.
		 */
		if (idx + nr > folio_nr_pages(page_folio(page)) ||
		    (idx && page_to_pfn(page) + idx != pfn)) {
			ret = -EAGAIN;
			nr = 0;
		}
		for (i = 0; i < nr && !ret; i++)
			ret = dmirror_mirror_store(w, addr + i * PAGE_SIZE,
						   pfn_to_page(page_to_pfn(page) +
							       idx + i),
						   DMIRROR_PT_ATOMIC, seq);
		unlock_page(page);
		put_page(page);
	} while (ret == -EAGAIN);
	return ret ? ret : nr;
}

/**
 * dmirror_exclusive() - HMM_DMIRROR_EXCLUSIVE
 * @dm:  the mirror
 * @cmd: validated command; cpages = npages on success
 *
 * Pages made exclusive before an error stay exclusive.
 *
 * Context: process context in @dm->mm.
 * Return: 0 or a negative errno (-ENOENT if the CPU took a page back
 * before the data was read).
 */
int dmirror_exclusive(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long *pfns = NULL;
	struct dmirror_watch w;
	unsigned long addr;
	long ret;

	if (dmirror_exclusive_whole_folio()) {
		pfns = kvmalloc_array(PTRS_PER_PMD, sizeof(*pfns), GFP_KERNEL);
		if (!pfns)
			return -ENOMEM;
	}
	ret = dmirror_watch_start(dm, &w, start, end);
	if (ret)
		goto out_free;
	dmirror_coherent_exclude_begin();
	mmap_read_lock(dm->mm);
	ret = dmirror_exclusive_check_vmas(dm->mm, start, end);
	if (!ret)
		dmirror_migrate_coherent_home(dm->mm, start, end);
	for (addr = start; addr < end && ret >= 0; addr += ret * PAGE_SIZE) {
		cond_resched();
		ret = dmirror_exclusive_one(&w, addr, end, pfns);
	}
	mmap_read_unlock(dm->mm);
	dmirror_coherent_exclude_end();
	dmirror_watch_stop(&w);
	if (ret >= 0)
		ret = dmirror_mirror_copy_out(dm, cmd);
out_free:
	kvfree(pfns);
	return ret;
}

/**
 * dmirror_check_exclusive() - HMM_DMIRROR_CHECK_EXCLUSIVE
 * @dm:  the mirror
 * @cmd: validated command
 *
 * Looks only at the device page table.
 *
 * Return: -EPERM while a page of the range still has atomic access, else 0
 * (-EINTR on a fatal signal).
 */
int dmirror_check_exclusive(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	unsigned long first = cmd->addr >> PAGE_SHIFT;
	unsigned long last = first + cmd->npages - 1;
	unsigned long index;
	void *entry;
	int ret = 0;

	mutex_lock(&dm->lock);
	xa_for_each_range(&dm->pt, index, entry, first, last) {
		if (xa_pointer_tag(entry) == DMIRROR_PT_ATOMIC) {
			ret = -EPERM;
			break;
		}
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	mutex_unlock(&dm->lock);
	return ret;
}
