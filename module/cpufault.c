// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror CPU faults on device-private pages: the page (or large
 * folio) goes back to system memory.
 */
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "dmirror.h"
#include "inject.h"
#include "dmirror_trace.h"
#include "migrate.h"

/**
 * DOC: CPU faults
 *
 * The core calls dmirror_migrate_to_ram() through the pgmap (chunk.c,
 * mem->ops) with the fault's locks and a reference on the device page.
 * It owns no state: it migrates with the steps of DOC: migration
 * (migrate.c) and the allocation of migrate_sys.c, and hands a large
 * folio it cannot move whole to split.c.
 */

/*
 * The page of a CPU fault stayed on the device: someone else holds it for
 * now (another thread's device copy, migration or eviction), and the CPU
 * will fault on it again. Let the holder run first: a thread that faulted
 * again at once would, on one CPU and at a higher real-time priority than
 * the holder, retry forever while the holder never runs. One tick, cut
 * short by a fatal signal.
 */
static void dmirror_fault_backoff(void)
{
	schedule_timeout_killable(1);
}

/*
 * One migration of a CPU fault: the @nr pages (1, or a whole large folio
 * as a compound unit, with @b) around vmf->address; @base_ok and @thp:
 * see dmirror_migrate_to_ram(). A large folio that stays for want of a
 * system THP is queued for a split.
 * Return: 0, VM_FAULT_OOM or VM_FAULT_SIGBUS.
 */
static vm_fault_t dmirror_migrate_fault_window(struct vm_fault *vmf,
					       struct dmirror_device *mdev,
					       unsigned long nr,
					       struct dmirror_migrate_buf *b,
					       bool base_ok, struct page **thp)
{
	unsigned long one_src = 0, one_dst = 0, moved;
	struct migrate_vma args = {
		.vma		= vmf->vma,
		.start		= ALIGN_DOWN(vmf->address, nr << PAGE_SHIFT),
		.src		= b ? b->src : &one_src,
		.dst		= b ? b->dst : &one_dst,
		.pgmap_owner	= mdev->owner,
		.flags		= MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page	= vmf->page,
	};
	unsigned int st;

	if (nr > 1)
		args.flags |= dmirror_migrate_compound(mdev);
	args.end = args.start + (nr << PAGE_SHIFT);
	if (dmirror_inject(DMIRROR_INJ_MIGRATE_FAULT) || migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	if (args.cpages)
		dmirror_migrate_forget(mdev, vmf->vma->vm_mm, &args);
	st = dmirror_migrate_alloc_sys(NULL, &args, b, base_ok, thp);
	migrate_vma_pages(&args);
	moved = dmirror_migrate_count(&args);
	atomic64_add(moved, &mdev->stats.val[DMIRROR_STAT_CPU_FAULTS]);
	trace_dmirror_migrate(mdev->id, DMIRROR_TRACE_CPU_FAULT, args.start,
			      args.end, moved);
	migrate_vma_finalize(&args);
	if (st & DMIRROR_ALLOC_SPLIT) {
		/* Split elsewhere; this fault is retried (see below). */
		dmirror_split_fault(mdev, vmf);
		return 0;
	}
	if (!st && !moved)
		dmirror_fault_backoff();
	return st ? VM_FAULT_OOM : 0;
}

/**
 * dmirror_migrate_to_ram() - the CPU touched a device page
 * @vmf: the fault; vmf->page is the device page, referenced by the core
 *       (7.3 also locks it; 6.1 and 6.12 do not)
 *
 * Migrates that one page back to system memory, or the whole large device
 * folio when the fault is on a device-private PMD (the core then leaves
 * vmf->pte NULL): into a system THP, or else into base pages, which makes
 * the core split the folio after unmapping it. That split only knows this
 * PMD, so it is used only when this PMD is the folio's one mapping (the
 * fault holds the folio lock and mmap_lock: no fork of this mm can add
 * one). A large folio also mapped elsewhere (after fork) needs a system
 * THP, allocated before anything is unmapped, or else a split while it is
 * mapped (as the ioctls do, see DOC: migration), which cannot happen here:
 * the fault's own reference makes the core's split fail. The fault queues
 * the split for a work item and returns 0, without having unmapped the
 * folio: the CPU faults again, on the PMD at once while the split is
 * pending, then on a base page (DOC: splitting large device folios). A
 * page that cannot be migrated right now (busy, racing) is left for the
 * CPU to fault on again, after a tick's pause (dmirror_fault_backoff()).
 * FAIL_ALLOC is not consulted: a device page records its device, not a
 * file.
 *
 * Return: 0, VM_FAULT_OOM or VM_FAULT_SIGBUS.
 */
vm_fault_t dmirror_migrate_to_ram(struct vm_fault *vmf)
{
	struct dmirror_device *mdev = dmirror_page_device(vmf->page);
	struct folio *folio = page_folio(vmf->page);
	struct dmirror_migrate_buf *b;
	struct page *thp = NULL;
	vm_fault_t ret;
	bool once;

	if (vmf->pte || !folio_test_large(folio))
		return dmirror_migrate_fault_window(vmf, mdev, 1, NULL, true,
						    NULL);
	/* Hold the folio as briefly as possible while its split is due. */
	if (dmirror_split_pending(mdev, folio))
		return 0;
	once = dmirror_large_mapped_once(folio);
	if (!once) {
		thp = dmirror_migrate_sys_thp(NULL, vmf->vma,
					      vmf->address & PMD_MASK,
					      NULL);
		if (!thp) {
			dmirror_split_fault(mdev, vmf);
			return 0;
		}
	}
	b = kvmalloc_obj(*b, GFP_KERNEL);
	if (b)
		ret = dmirror_migrate_fault_window(vmf, mdev,
						   folio_nr_pages(folio), b,
						   once, &thp);
	else
		ret = VM_FAULT_OOM;
	kvfree(b);
	if (thp) {
		unlock_page(thp);
		put_page(thp);
	}
	return ret;
}
