// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror migration to system memory: MIGRATE_TO_SYS, coherent pages
 * going home for EXCLUSIVE, and eviction of a closing file's pages.
 */
#include <linux/highmem.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dmirror.h"
#include "inject.h"
#include "dmirror_trace.h"
#include "migrate.h"

/**
 * DOC: migration to system memory
 *
 * MIGRATE_TO_SYS, the coherent pages EXCLUSIVE sends home, and the pages a
 * closing file's mm put on its device (by the device's page records,
 * dmirror_devmem_evict_mm()). No state of its own: the windows, the two
 * steps and the locking are those of DOC: migration in migrate.c.
 */

/*
 * Copy @n device pages to system pages. Several go through one contiguous
 * kernel mapping of the system pages (under QEMU TCG, stores through it
 * cost a third of stores through the linear map); one, or when vmap()
 * fails, page by page.
 */
static void dmirror_copy_to_sys(struct page **spages, struct page **dpages,
				unsigned long n)
{
	u8 *va = n > 1 ? vmap(dpages, n, VM_MAP, PAGE_KERNEL) : NULL;
	unsigned long k;

	for (k = 0; k < n; k++) {
		if (va)
			dmirror_copy_data(va + (k << PAGE_SHIFT),
					  dmirror_devmem_page_data(spages[k]));
		else
			dmirror_copy_device_to_page(spages[k], dpages[k]);
	}
	if (va) {
		flush_kernel_vmap_range(va, n << PAGE_SHIFT);
		vunmap(va);
	}
}

/*
 * Base system pages for the selected base-page sources of a window, in one
 * call of the bulk allocator, into @b->bulk: only where the node does not
 * matter (one online node); elsewhere alloc_page_vma() places each page by
 * the VMA's policy. Return: how many, from the start of @b->bulk.
 */
static unsigned long dmirror_migrate_bulk_sys(struct migrate_vma *args,
					      struct dmirror_migrate_buf *b)
{
	unsigned long npages = (args->end - args->start) >> PAGE_SHIFT;
	unsigned long i, n = 0;

	if (num_online_nodes() > 1 || dmirror_inject(DMIRROR_INJ_SYS_PAGE))
		return 0;
	for (i = 0; i < npages; i++)
		if (migrate_pfn_to_page(args->src[i]) &&
		    (args->src[i] & MIGRATE_PFN_MIGRATE) &&
		    !(args->src[i] & DMIRROR_PFN_COMPOUND))
			b->bulk[n++] = NULL;
	return n ? dmirror_alloc_pages_bulk(GFP_HIGHUSER_MOVABLE, n, b->bulk) : 0;
}

/**
 * dmirror_migrate_sys_thp() - a locked system THP for a large source
 * @dm:   the file whose FAIL_ALLOC applies (consumed), or NULL
 * @vma:  the VMA of the source
 * @addr: its address in @vma
 * @thp:  a THP the caller allocated, or NULL; taken, *@thp becomes NULL
 *
 * *@thp if given, else a new one unless FAIL_ALLOC or the fail_sys_thp
 * hook refuses it.
 *
 * Return: its head page, or NULL.
 */
struct page *dmirror_migrate_sys_thp(struct dmirror *dm,
				     struct vm_area_struct *vma,
				     unsigned long addr, struct page **thp)
{
	struct page *page = thp ? *thp : NULL;

	if (page) {
		*thp = NULL;
		return page;
	}
	if ((dm && dmirror_migrate_fail_alloc(dm)) ||
	    dmirror_debugfs_fail_sys_thp() ||
	    dmirror_inject(DMIRROR_INJ_SYS_LARGE))
		return NULL;
	return dmirror_alloc_sys_large(vma, addr);
}

/**
 * dmirror_migrate_alloc_sys() - system memory for the selected device
 * pages of one window, and the copy
 * @dm:      the file whose FAIL_ALLOC applies, NULL for eviction and CPU
 *           faults
 * @args:    the window, after migrate_vma_setup()
 * @b:       the page lists of a window (NULL: a window of one page)
 * @base_ok: a large device folio without a system THP gets base pages
 * @thp:     see dmirror_migrate_sys_thp()
 *
 * A large device folio gets *@thp if given, else a new system THP;
 * without one it gets base pages if @base_ok, else it stays
 * (DMIRROR_ALLOC_SPLIT).
 *
 * Return: DMIRROR_ALLOC_* flags.
 */
unsigned int dmirror_migrate_alloc_sys(struct dmirror *dm,
				       struct migrate_vma *args,
				       struct dmirror_migrate_buf *b,
				       bool base_ok, struct page **thp)
{
	unsigned long npages = (args->end - args->start) >> PAGE_SHIFT;
	struct page *one_src, *one_dst;
	struct page **sp = b ? b->spages : &one_src;
	struct page **dp = b ? b->pages : &one_dst;
	unsigned long i, j, nr, k = 0, nbulk = 0, used = 0;
	unsigned int status = 0;

	if (!b && npages > 1)
		return DMIRROR_ALLOC_SHORT;
	for (i = 0; i < npages; i++)
		args->dst[i] = 0;
	if (b)
		nbulk = dmirror_migrate_bulk_sys(args, b);
	for (i = 0; i < npages; i += nr) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		unsigned long addr = args->start + (i << PAGE_SHIFT);
		struct page *dpage = NULL;

		nr = 1;
		if (!spage || !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (args->src[i] & DMIRROR_PFN_COMPOUND) {
			nr = min_t(unsigned long, npages - i,
				   folio_nr_pages(page_folio(spage)));
			dpage = dmirror_migrate_sys_thp(dm, args->vma, addr, thp);
			if (dpage) {
				for (j = 0; j < nr; j++) {
					sp[k] = spage + j;
					dp[k++] = dpage + j;
				}
				args->dst[i] = migrate_pfn(page_to_pfn(dpage)) |
					       DMIRROR_PFN_COMPOUND;
				continue;
			}
			if (!base_ok) {
				status |= DMIRROR_ALLOC_SPLIT;
				continue;
			}
		}
		for (j = 0; j < nr; j++) {
			if (nr == 1 && used < nbulk)
				dpage = b->bulk[used++];
			else if (dmirror_inject(DMIRROR_INJ_SYS_PAGE))
				dpage = NULL;
			else
				dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE,
						       args->vma,
						       addr + (j << PAGE_SHIFT));
			if (!dpage) {
				status |= DMIRROR_ALLOC_SHORT;
				continue;
			}
			lock_page(dpage);
			sp[k] = spage + j;
			dp[k++] = dpage;
			args->dst[i + j] = migrate_pfn(page_to_pfn(dpage));
		}
	}
	while (used < nbulk)
		__free_page(b->bulk[used++]);
	dmirror_copy_to_sys(sp, dp, k);
	return status;
}

/*
 * Migrate this device's pages of [start, end) back to system memory.
 * @dm: the file asking (its FAIL_ALLOC applies), NULL for eviction.
 * @strict: a hole or unreadable VMA is -EINVAL (the ioctl); otherwise
 * such parts are skipped (coherent pages going home for EXCLUSIVE).
 * Context: mmap_read_lock held. Return: 0 or a negative errno (-EINTR on
 * a fatal signal).
 */
static int dmirror_migrate_range_to_sys(struct dmirror_device *mdev,
					struct dmirror *dm,
					struct mm_struct *mm,
					struct dmirror_migrate_buf *b,
					unsigned long start, unsigned long end,
					bool strict, unsigned long *moved)
{
	struct migrate_vma args = {
		.src		= b->src,
		.dst		= b->dst,
		.pgmap_owner	= mdev->owner,
	};
	unsigned long addr, next;
	bool again = false;
	unsigned int st;
	int ret;

	for (addr = start; addr < end; addr = next) {
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
		args.vma = dmirror_migrate_vma(mm, addr);
		if (IS_ERR(args.vma))
			return PTR_ERR(args.vma);
		args.start = addr;
		args.end = dmirror_migrate_window_end(addr, end, args.vma);
		next = args.end;
		args.flags = dmirror_migrate_select(mdev);
		/* Set up again for a split: no compound units. */
		if (again)
			args.flags &= ~DMIRROR_SELECT_COMPOUND;
		again = false;
		ret = dmirror_inject(DMIRROR_INJ_MIGRATE) ? -EINVAL :
			migrate_vma_setup(&args);
		if (ret) {
			if (strict)
				return ret;
			continue;
		}
		/* A peer's pages, selected in a group, stay. */
		dmirror_migrate_keep(mdev, &args, true);
		if (args.cpages)
			dmirror_migrate_forget(mdev, mm, &args);
		st = dmirror_migrate_alloc_sys(dm, &args, b, false, NULL);
		migrate_vma_pages(&args);
		*moved += dmirror_migrate_count(&args);
		migrate_vma_finalize(&args);
		again = dmirror_migrate_again(st, args.flags);
		if (again)
			next = addr;
	}
	return 0;
}

/**
 * dmirror_migrate_to_sys() - HMM_DMIRROR_MIGRATE_TO_SYS
 * @dm:  the mirror
 * @cmd: validated command; cpages = 4 KiB pages moved
 *
 * Context: process context in @dm->mm.
 * Return: 0 or a negative errno.
 */
int dmirror_migrate_to_sys(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	struct dmirror_migrate_buf *b;
	unsigned long moved = 0;
	int ret;

	b = kvmalloc_obj(*b, GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	mmap_read_lock(dm->mm);
	ret = dmirror_migrate_range_to_sys(dm->mdev, dm, dm->mm, b, start, end,
					   true, &moved);
	mmap_read_unlock(dm->mm);
	kvfree(b);
	cmd->cpages = moved;
	atomic64_add(moved, &dm->mdev->stats.val[DMIRROR_STAT_MIGRATED_TO_SYS]);
	trace_dmirror_migrate(dm->mdev->id, DMIRROR_TRACE_TO_SYS, start, end,
			      moved);
	return ret;
}

/**
 * dmirror_migrate_peer_home() - move @peer's pages of a range to system
 * memory, for a migration to the other device of its group that could not
 * take them device to device
 * @peer:  the device the pages are on
 * @mm:    the address space, mmap_lock held (read)
 * @b:     working memory
 * @start: start of the range
 * @end:   its end
 *
 * Best effort, like the coherent pages EXCLUSIVE sends home: holes and
 * VMAs migration cannot handle are skipped, a busy page stays.
 *
 * Context: process context, mmap_lock held (read).
 */
void dmirror_migrate_peer_home(struct dmirror_device *peer,
			       struct mm_struct *mm,
			       struct dmirror_migrate_buf *b,
			       unsigned long start, unsigned long end)
{
	unsigned long moved = 0;

	dmirror_migrate_range_to_sys(peer, NULL, mm, b, start, end, false,
				     &moved);
	atomic64_add(moved, &peer->stats.val[DMIRROR_STAT_MIGRATED_TO_SYS]);
	trace_dmirror_migrate(peer->id, DMIRROR_TRACE_PEER_HOME, start, end,
			      moved);
}

/**
 * dmirror_migrate_coherent_home() - move device-coherent pages of a range
 * to system memory
 * @mm:    the address space, mmap_lock held (read)
 * @start: start of the range
 * @end:   its end
 *
 * For EXCLUSIVE: device-exclusive entries are for system memory. Pages of
 * any coherent device in the range move back (best effort: a page that
 * cannot move now stays, and EXCLUSIVE checks each page again before it
 * converts it); private device pages need nothing, the exclusive fault
 * brings them back.
 *
 * Context: process context, mmap_lock held (read).
 */
void dmirror_migrate_coherent_home(struct mm_struct *mm, unsigned long start,
				   unsigned long end)
{
	struct dmirror_migrate_buf *b = NULL;
	unsigned long moved = 0;
	unsigned int id;

	for (id = DMIRROR_NPRIVATE; id < DMIRROR_NDEVICES; id++) {
		struct dmirror_device *mdev = dmirror_registry_get(id);

		if (!mdev || !atomic64_read(&mdev->stats.val[DMIRROR_STAT_RESIDENT]))
			continue;
		if (!b)
			b = kvmalloc_obj(*b, GFP_KERNEL);
		if (!b)
			return;
		moved = 0;
		dmirror_migrate_range_to_sys(mdev, NULL, mm, b, start, end,
					     false, &moved);
		atomic64_add(moved, &mdev->stats.val[DMIRROR_STAT_MIGRATED_TO_SYS]);
		trace_dmirror_migrate(mdev->id, DMIRROR_TRACE_EXCLUSIVE, start,
				      end, moved);
	}
	kvfree(b);
}

/**
 * dmirror_migrate_evict_mm() - move the pages @dm's mm put on its device
 * back to system memory
 * @dm: a mirror whose file is being closed
 *
 * By the device's records of which mm put each page there, so the cost is
 * that of the pages on the device, not of the mm's mappings, and nothing
 * for an mm that never migrated to this device. Best effort
 * (a busy page stays), and a fatal signal stops it: the pages left then go
 * when the mm exits, or by eviction.
 *
 * Context: process context; the mm may be any or already gone.
 */
void dmirror_migrate_evict_mm(struct dmirror *dm)
{
	struct dmirror_device *mdev = dm->mdev;
	long moved;

	/*
	 * Nothing to look for: the device is empty, or this mm never
	 * migrated to it (an unrelated close does not walk a busy device).
	 */
	if (!atomic64_read(&mdev->stats.val[DMIRROR_STAT_RESIDENT]) ||
	    !test_bit(mdev->id, &dm->dmm->devices_used))
		return;
	/* An mm that has exited has freed its pages. */
	if (!mmget_not_zero(dm->mm))
		return;
	moved = dmirror_devmem_evict_mm(mdev, dm->mm);
	mmput(dm->mm);
	if (moved < 0) {
		dev_dbg(&mdev->dev, "close eviction interrupted: %ld\n", moved);
		return;
	}
	trace_dmirror_migrate(mdev->id, DMIRROR_TRACE_CLOSE, 0, TASK_SIZE,
			      moved);
	dev_dbg(&mdev->dev, "close evicted %ld pages\n", moved);
}
