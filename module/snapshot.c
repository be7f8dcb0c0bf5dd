// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror SNAPSHOT: what hmm_range_fault() sees, one byte per page.
 *
 * Each window is sampled under a watch of that window (DOC: device page
 * table in pagetable.c), so only invalidations of the window itself make it
 * sample again, and give up (-EBUSY) as struct dmirror_busy says.
 */
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "dmirror.h"
#include "dmirror_busy.h"

/*
 * Where a device page is, seen from @mdev: its own memory (@local), its
 * peer's (@peer), or another device's (@remote).
 */
static u8 dmirror_snapshot_where(struct dmirror_device *mdev,
				 struct page *page, u8 local, u8 peer,
				 u8 remote)
{
	if (dmirror_page_owner(page) != mdev->owner)
		return remote;
	if (dmirror_page_device(page) == mdev)
		return local;
	return peer;
}

/* Describe one hmm_range_fault() output entry as a snapshot byte. */
static u8 dmirror_snapshot_byte(struct dmirror *dm, unsigned long hpfn)
{
	struct page *page;
	u8 byte;

	if (hpfn & HMM_PFN_ERROR)
		return HMM_DMIRROR_PROT_ERROR;
	if (!(hpfn & HMM_PFN_VALID))
		return HMM_DMIRROR_PROT_NONE;

	page = hmm_pfn_to_page(hpfn);
	if (is_zero_pfn(page_to_pfn(page)))
		byte = HMM_DMIRROR_PROT_ZERO;
	else if (is_device_private_page(page))
		byte = dmirror_snapshot_where(dm->mdev, page,
					      HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
					      HMM_DMIRROR_PROT_DEV_PRIVATE_PEER,
					      HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE);
	else if (is_device_coherent_page(page))
		byte = dmirror_snapshot_where(dm->mdev, page,
					      HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
					      HMM_DMIRROR_PROT_DEV_COHERENT_PEER,
					      HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE);
	else
		byte = HMM_DMIRROR_PROT_NONE;

	byte |= (hpfn & HMM_PFN_WRITE) ? HMM_DMIRROR_PROT_WRITE :
					 HMM_DMIRROR_PROT_READ;
	switch (hmm_pfn_to_map_order(hpfn)) {
	case PMD_SHIFT - PAGE_SHIFT:
		byte |= HMM_DMIRROR_PROT_PMD;
		break;
	case PUD_SHIFT - PAGE_SHIFT:
		byte |= HMM_DMIRROR_PROT_PUD;
		break;
	}
	return byte;
}

/* Sample a window without faulting while @w watches it. */
static int dmirror_snapshot_watched(struct dmirror *dm,
				    struct dmirror_watch *w,
				    struct hmm_range *range)
{
	struct dmirror_busy busy;
	int ret;

	dmirror_busy_start(&busy);
	for (;;) {
		if (fatal_signal_pending(current))
			return -EINTR;
		if (dmirror_busy_expired(&busy))
			return -EBUSY;
		cond_resched();

		range->notifier_seq = mmu_interval_read_begin(&w->mni);
		mmap_read_lock(dm->mm);
		ret = hmm_range_fault(range);
		mmap_read_unlock(dm->mm);
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;
		if (!mmu_interval_read_retry(&w->mni, range->notifier_seq))
			return 0;
	}
}

/* Sample one window, retrying while the window is invalidated. */
static int dmirror_snapshot_window(struct dmirror *dm, struct hmm_range *range)
{
	struct dmirror_watch w;
	int ret;

	ret = dmirror_watch_start(dm, &w, range->start, range->end);
	if (ret)
		return ret;
	range->notifier = &w.mni;
	ret = dmirror_snapshot_watched(dm, &w, range);
	range->notifier = NULL;
	dmirror_watch_stop(&w);
	return ret;
}

/**
 * struct dmirror_snap - working memory of one SNAPSHOT ioctl
 * @pfns:  hmm_range_fault() output for one window
 * @bytes: the snapshot bytes of that window
 */
struct dmirror_snap {
	unsigned long pfns[DMIRROR_WINDOW_PAGES];
	u8 bytes[DMIRROR_WINDOW_PAGES];
};

/**
 * dmirror_snapshot() - HMM_DMIRROR_SNAPSHOT
 * @dm:  the mirror
 * @cmd: validated command; cpages is set to the bytes produced
 *
 * Nothing is faulted, migrated or entered in the device page table. Each
 * window's bytes reach the user buffer before the next window is sampled.
 *
 * Context: process context in @dm->mm.
 * Return: 0 or a negative errno (-EINTR on a fatal signal).
 */
int dmirror_snapshot(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	u8 __user *uptr = u64_to_user_ptr(cmd->ptr);
	struct dmirror_snap *s;
	struct hmm_range range = {
		.default_flags		= 0,
		.dev_private_owner	= dm->mdev->owner,
	};
	unsigned long addr, i, n;
	int ret = 0;

	s = kmalloc_obj(*s, GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	range.hmm_pfns = s->pfns;

	for (addr = start; addr < end; addr = range.end) {
		range.start = addr;
		range.end = min(end, addr + DMIRROR_WINDOW_PAGES * PAGE_SIZE);
		n = (range.end - range.start) >> PAGE_SHIFT;
		ret = dmirror_snapshot_window(dm, &range);
		if (ret)
			break;
		for (i = 0; i < n; i++)
			s->bytes[i] = dmirror_snapshot_byte(dm, s->pfns[i]);
		if (copy_to_user(uptr + ((addr - start) >> PAGE_SHIFT),
				 s->bytes, n)) {
			ret = -EFAULT;
			break;
		}
		cmd->cpages += n;
	}
	kfree(s);
	return ret;
}
