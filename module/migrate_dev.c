// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror migration to the device: MIGRATE_TO_DEV.
 */
#include <linux/jiffies.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/rwsem.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "dmirror.h"
#include "inject.h"
#include "dmirror_trace.h"
#include "migrate.h"

/**
 * DOC: migration to the device
 *
 * MIGRATE_TO_DEV (see DOC: migration in migrate.c for the windows and
 * passes). dmirror_coherent_sem: a migration to device-coherent memory
 * holds it for reading around each pass (before the mmap lock, lock order
 * 1 in dmirror.h); EXCLUSIVE holds it for writing
 * (dmirror_coherent_exclude_begin()), so that no page of its range
 * becomes coherent meanwhile (DOC: device-exclusive access in exclusive.c).
 */

/* Passes of MIGRATE_TO_DEV over a range whose pages did not all move. */
#define DMIRROR_TO_DEV_PASSES	3
/* The pause before the next pass, for whoever held a page to let go. */
#define DMIRROR_TO_DEV_PAUSE_MS	10

/* Migrations to device-coherent memory (read) against EXCLUSIVE (write). */
static DECLARE_RWSEM(dmirror_coherent_sem);

/**
 * dmirror_coherent_exclude_begin() - no page may become device-coherent
 * until dmirror_coherent_exclude_end()
 *
 * For EXCLUSIVE (DOC: device-exclusive access in exclusive.c): waits for
 * the migrations to coherent memory that run, and holds off new ones.
 * Context: process context, before taking the mmap lock.
 */
void dmirror_coherent_exclude_begin(void)
{
	down_write(&dmirror_coherent_sem);
}

/**
 * dmirror_coherent_exclude_end() - undo dmirror_coherent_exclude_begin()
 */
void dmirror_coherent_exclude_end(void)
{
	up_write(&dmirror_coherent_sem);
}

/* A MIGRATE_TO_DEV pass met a VMA that is not anonymous. */
#define DMIRROR_PASS_NOT_ANON	BIT(2)

/*
 * Copy a system page, a page of the peer device (storage to storage), or
 * zeros for NULL into a device page.
 */
static void dmirror_copy_page_to_device(struct page *spage,
					struct page *dpage)
{
	void *dst = dmirror_devmem_page_data(dpage);
	void *src;

	if (!spage) {
		memset(dst, 0, PAGE_SIZE);
		return;
	}
	if (is_zone_device_page(spage)) {
		dmirror_copy_data(dst, dmirror_devmem_page_data(spage));
		return;
	}
	src = kmap_local_page(spage);
	dmirror_copy_data(dst, src);
	kunmap_local(src);
}

/*
 * Step 2 (see above): @dm maps the device pages its migration put in place,
 * with @access, if no invalidation ran since @seq. A page whose entry
 * cannot be stored without reclaim is left to the read-back.
 */
static void dmirror_migrate_map(struct dmirror *dm, struct migrate_vma *args,
				const u8 *access, unsigned long seq)
{
	unsigned long npages = (args->end - args->start) >> PAGE_SHIFT;
	XA_STATE(xas, &dm->pt, args->start >> PAGE_SHIFT);
	struct page *dpage = NULL;
	unsigned long i, left = 0;
	unsigned int acc = 0;

	mutex_lock(&dm->lock);
	if (mmu_interval_read_retry(&dm->notifier, seq))
		goto out;
	/* One walk along the window; nodes are allocated GFP_NOWAIT. */
	xas_lock(&xas);
	for (i = 0; i < npages; i++) {
		xas_next(&xas);
		if (!left) {
			dpage = migrate_pfn_to_page(args->dst[i]);
			if (!dpage || !(args->src[i] & MIGRATE_PFN_MIGRATE))
				continue;
			left = dmirror_migrate_span(args->dst[i]);
			acc = access[i];
		}
		xas_store(&xas, dmirror_pt_entry(dpage++, acc));
		left--;
		if (xas_error(&xas))
			break;
	}
	xas_unlock(&xas);
out:
	mutex_unlock(&dm->lock);
}

/* Copy the @nr pages of a source unit (NULL: zeros) to device pages. */
static void dmirror_copy_unit_to_device(struct page *spage,
					struct page *dpage, unsigned long nr)
{
	unsigned long j;

	for (j = 0; j < nr; j++)
		dmirror_copy_page_to_device(spage ? spage + j : NULL, dpage + j);
}

/*
 * Allocate device memory for the selected sources of one window and copy.
 * A compound source gets a large device folio; an empty unit without one
 * gets 512 base pages; a THP without one stays (DMIRROR_ALLOC_SPLIT).
 * Sources for which no device page could be had stay where they are.
 * Return: DMIRROR_ALLOC_* flags.
 */
static unsigned int dmirror_migrate_alloc_and_copy(struct dmirror *dm,
						   struct migrate_vma *args,
						   struct dmirror_migrate_buf *b)
{
	unsigned long npages = (args->end - args->start) >> PAGE_SHIFT;
	bool writable = args->vma->vm_flags & VM_WRITE;
	unsigned int want = 0, got, used = 0, status = 0;
	unsigned long i, j, nr;

	/* Large units first; empty ones without are wanted as base pages. */
	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage = NULL;

		args->dst[i] = 0;
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		b->access[i] = ((args->src[i] & MIGRATE_PFN_WRITE) ||
				(!spage && writable)) ?
			DMIRROR_PT_WRITE : DMIRROR_PT_READ;
		if (!(args->src[i] & DMIRROR_PFN_COMPOUND)) {
			want++;
			continue;
		}
		if (!dmirror_migrate_fail_alloc(dm))
			dpage = dmirror_devmem_alloc_large(dm->mdev, dm->mm);
		if (!dpage && spage) {
			status |= DMIRROR_ALLOC_SPLIT;
			continue;
		}
		if (!dpage) {
			want += DMIRROR_BLOCK_PAGES;
			continue;
		}
		dmirror_devmem_set_addr(dpage, args->start + (i << PAGE_SHIFT),
					DMIRROR_BLOCK_PAGES);
		dmirror_copy_unit_to_device(spage, dpage, DMIRROR_BLOCK_PAGES);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage)) |
			       DMIRROR_PFN_COMPOUND;
	}
	got = dmirror_devmem_alloc(dm->mdev, b->pages,
				   min_t(unsigned int, want, DMIRROR_WINDOW_PAGES),
				   &b->req);

	for (i = 0; i < npages; i += nr) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);

		nr = 1;
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE) || args->dst[i])
			continue;
		if (args->src[i] & DMIRROR_PFN_COMPOUND) {
			nr = DMIRROR_BLOCK_PAGES;
			if (spage)
				continue;
		}
		/* An empty unit filled with base pages needs all of them. */
		if (got - used < nr)
			continue;
		for (j = 0; j < nr; j++) {
			struct page *dpage = b->pages[used++];

			dmirror_copy_unit_to_device(spage ? spage + j : NULL,
						    dpage, 1);
			dmirror_devmem_set_addr(dpage, args->start +
						((i + j) << PAGE_SHIFT), 1);
			args->dst[i + j] = migrate_pfn(page_to_pfn(dpage));
			b->access[i + j] = b->access[i];
		}
	}
	/* Base pages an empty unit could not use go back. */
	while (used < got) {
		unlock_page(b->pages[used]);
		put_page(b->pages[used++]);
	}
	if (got < want)
		status |= DMIRROR_ALLOC_SHORT;
	return status;
}

/*
 * One pass of MIGRATE_TO_DEV over [@start, @end), window by window.
 * Adds the pages moved to *@moved_out and DMIRROR_ALLOC_* and
 * DMIRROR_PASS_* flags to *@status_out.
 * Context: mmap_read_lock held. Return: 0 or a negative errno.
 */
static int dmirror_migrate_dev_pass(struct dmirror *dm,
				    struct dmirror_migrate_buf *b,
				    unsigned long start, unsigned long end,
				    unsigned int *status_out,
				    unsigned long *moved_out)
{
	struct migrate_vma args = {
		.src		= b->src,
		.dst		= b->dst,
		.pgmap_owner	= dm->mdev->owner,
	};
	unsigned long addr, next, seq, moved = 0, peer = 0, peer_sel;
	unsigned int status = 0, st;
	bool again = false;
	int ret = 0;

	for (addr = start; addr < end; addr = next) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
		args.vma = dmirror_migrate_vma(dm->mm, addr);
		if (IS_ERR(args.vma)) {
			ret = PTR_ERR(args.vma);
			break;
		}
		if (!vma_is_anonymous(args.vma))
			status |= DMIRROR_PASS_NOT_ANON;
		args.start = addr;
		args.end = dmirror_migrate_window_end(addr, end, args.vma);
		/*
		 * No large device page where user space asked for none, nor
		 * when the window is set up again for a split.
		 */
		args.flags = MIGRATE_VMA_SELECT_SYSTEM |
			     dmirror_migrate_select_peer(dm->mdev);
		if (!(args.vma->vm_flags & VM_NOHUGEPAGE) && !again)
			args.flags |= dmirror_migrate_compound(dm->mdev);
		again = false;
		seq = mmu_interval_read_begin(&dm->notifier);
		/* The core's only failure, -EINVAL, when forced. */
		ret = dmirror_inject(DMIRROR_INJ_MIGRATE) ? -EINVAL :
			migrate_vma_setup(&args);
		if (ret)
			break;
		next = args.end;
		if (!args.cpages) {
			migrate_vma_finalize(&args);
			continue;
		}
		/* Pages already here stay (they were selected in a group). */
		peer_sel = dmirror_migrate_keep(dm->mdev, &args, false);
		dmirror_migrate_forget(dm->mdev, dm->mm, &args);
		/*
		 * A forced failure refuses the peer's pages as a core that
		 * cannot move them device to device would (after step 1, as
		 * there): they stay, and the next pass takes them through
		 * system memory.
		 */
		if (peer_sel && dmirror_inject(DMIRROR_INJ_PEER_MOVE))
			dmirror_migrate_keep(dm->mdev, &args, true);
		st = dmirror_migrate_alloc_and_copy(dm, &args, b);
		migrate_vma_pages(&args);
		dmirror_mirror_forget_filled(dm->mdev, dm->mm, &args);
		dmirror_migrate_map(dm, &args, b->access, seq);
		moved += dmirror_migrate_count(&args);
		peer += dmirror_migrate_count_peer(dm->mdev, &args);
		migrate_vma_finalize(&args);
		status |= st;
		/* Once more, with base pages, for what needs a split. */
		again = dmirror_migrate_again(st, args.flags);
		if (again)
			next = addr;
	}
	*status_out |= status;
	*moved_out += moved;
	if (peer)
		trace_dmirror_migrate(dm->mdev->id, DMIRROR_TRACE_FROM_PEER,
				      start, end, peer);
	return ret;
}

/*
 * Whether MIGRATE_TO_DEV sets the range up again after pass @pass ended
 * in @ret with @status: only for pages that may have been busy.
 */
static bool dmirror_migrate_dev_again(int ret, unsigned int status,
				      unsigned int pass)
{
	return ret == -ENOENT && pass < DMIRROR_TO_DEV_PASSES &&
	       !(status & DMIRROR_PASS_NOT_ANON);
}

/**
 * dmirror_migrate_to_dev() - HMM_DMIRROR_MIGRATE_TO_DEV
 * @dm:  the mirror
 * @cmd: validated command
 *
 * Migrates what can be migrated, then reads the device's view of the whole
 * range back to the user (-ENOENT if a page is neither on the device nor
 * mapped by it; see DOC: migration for when the range is set up again).
 * A range of more pages than the device holds is -ENOMEM at once.
 *
 * Context: process context in @dm->mm.
 * Return: 0 or a negative errno (-EINTR on a fatal signal).
 */
int dmirror_migrate_to_dev(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	struct dmirror_device *mdev = dm->mdev;
	struct dmirror_device *peer = dmirror_peer_get(mdev);
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	bool coherent = mdev->mtype == HMM_DMIRROR_MEMORY_DEVICE_COHERENT;
	struct dmirror_migrate_buf *b;
	unsigned int status, pass;
	unsigned long moved = 0;
	int ret;

	if (cmd->npages >
	    atomic64_read(&mdev->stats.val[DMIRROR_STAT_CAPACITY])) {
		dev_dbg(&mdev->dev, "%llu pages: more than the device holds\n",
			cmd->npages);
		return -ENOMEM;
	}
	/* Before any page is recorded as this mm's: see dmirror_mm. */
	set_bit(mdev->id, &dm->dmm->devices_used);
	b = kvmalloc_obj(*b, GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	b->req.mm = dm->mm;
	b->req.start = start;
	b->req.end = end;
	for (pass = 1; ; pass++) {
		status = 0;
		if (coherent)
			down_read(&dmirror_coherent_sem);
		mmap_read_lock(dm->mm);
		/*
		 * What did not come device to device, through system memory
		 * (the core refused it, or it was busy): DOC: peer groups.
		 */
		if (pass > 1 && peer)
			dmirror_migrate_peer_home(peer, dm->mm, b, start, end);
		ret = dmirror_migrate_dev_pass(dm, b, start, end, &status,
					       &moved);
		mmap_read_unlock(dm->mm);
		if (coherent)
			up_read(&dmirror_coherent_sem);
		if (!ret)
			ret = dmirror_mirror_readback(dm, cmd);
		if (!dmirror_migrate_dev_again(ret, status, pass))
			break;
		dev_dbg(&mdev->dev, "pass %u left pages behind, again\n", pass);
		/* A fatal signal cuts it short; the next pass sees it. */
		schedule_timeout_killable(msecs_to_jiffies(DMIRROR_TO_DEV_PAUSE_MS));
	}
	kvfree(b);
	atomic64_add(moved, &mdev->stats.val[DMIRROR_STAT_MIGRATED_TO_DEV]);
	trace_dmirror_migrate(mdev->id, DMIRROR_TRACE_TO_DEV, start, end,
			      moved);
	if (ret == -ENOENT && (status & DMIRROR_ALLOC_SHORT)) {
		dev_dbg(&mdev->dev, "device memory exhausted\n");
		return -ENOMEM;
	}
	return ret;
}
