// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror migration: MIGRATE_TO_DEV, MIGRATE_TO_SYS, CPU faults on
 * device pages, and eviction of a closing file's pages.
 */
#include <linux/highmem.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/rwsem.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dmirror.h"
#include "dmirror_trace.h"

/**
 * DOC: migration
 *
 * Device pages are private (the CPU faults on them and
 * dmirror_migrate_to_ram() brings them back) or coherent (the CPU maps
 * them directly; they leave only by MIGRATE_TO_SYS, eviction, COW or the
 * core's migration of long-term pinned pages).
 *
 * Every migration works one window at a time (at most DMIRROR_WINDOW_PAGES,
 * never across a VMA end or a PMD boundary, so that a window covers whole
 * PMDs whenever the range does) with migrate_vma_setup(), _pages() and
 * _finalize(), under mmap_read_lock, with fixed-size pfn arrays.
 *
 * Large pages (where dmirror_devmem_large_enabled()): a private device
 * asks the core for compound units. To the device, a PMD-mapped THP or an
 * empty 2 MiB unit gets one large device folio; back to system memory, a
 * large device folio gets a system THP. When there is none (or the file's
 * FAIL_ALLOC fires), an empty unit gets 512 base pages, and a unit with a
 * folio is left alone and its window is set up again without compound
 * units: the core then splits the folio while it is still mapped and the
 * window moves base pages. A large source is never given base
 * destinations here: the core would split the folio after unmapping it,
 * converting only the migrating VMA's PMD, and a folio also mapped after
 * fork would keep the other PMD migration entries pointing at a split
 * folio (7.3: BUG in remove_migration_pte() or page_ref_unfreeze()). CPU
 * faults: see dmirror_migrate_to_ram().
 * A base page that cannot be allocated stays where it is. Counts are
 * always in 4 KiB pages. A compound unit is one pfn-array entry, at the
 * index of its first page; the entries after it stay empty.
 *
 * Our own migrations raise MMU_NOTIFY_MIGRATE with the device as owner,
 * which this device's mirrors skip (mirror.c), so the device page tables of
 * this device in this mm are updated here instead, in two steps:
 *
 * 1. Right after migrate_vma_setup(), before any data is copied, every
 *    mirror of this device in this mm drops its entries for the selected
 *    pages, under its mirror lock. The pages are unmapped and locked by
 *    then, so no device write through another file can land in the old
 *    page after the copy, and no device fault that read the old mapping
 *    can store it afterwards (its watch saw the migration: mirror.c).
 * 2. After migrate_vma_pages(), while the old pages are still held, the
 *    file that migrated to the device maps the new device pages, unless an
 *    invalidation ran since before migrate_vma_setup() (e.g. MADV_DONTNEED
 *    racing the migration, which may have unmapped the new pages): the
 *    read-back then finds what is really mapped.
 *
 * Mirrors of other devices, and mappings of the pages in other processes,
 * see ordinary invalidations from the core.
 *
 * The window loops of the ioctls stop at a fatal signal (-EINTR; what
 * moved stays moved) and reschedule between windows. MIGRATE_TO_DEV never
 * asks for more pages than the device holds (-ENOMEM before anything
 * moves), and never makes room by evicting device pages of its own range
 * (dmirror_devmem_alloc()): its earlier windows stay, and when nothing
 * else can go it is -ENOMEM. A page the core could not take at that
 * moment (locked, isolated or referenced by someone else, a THP it could
 * not split), or device memory that was busy when room was needed, leaves
 * the read-back short; where every VMA of the range is anonymous, so that
 * such a page is the likely reason, the range is set up again after a
 * short pause, DMIRROR_TO_DEV_PASSES times at most, before -ENOENT (or
 * -ENOMEM) is returned. Each pass only moves what is still missing.
 *
 * Device pages record the mm and address they were migrated for
 * (dmirror_devmem_set_addr()). A closing file evicts its mm's pages by
 * those records (dmirror_devmem_evict_mm()), not by walking the mm.
 */

/* Passes of MIGRATE_TO_DEV over a range whose pages did not all move. */
#define DMIRROR_TO_DEV_PASSES	3
/* The pause before the next pass, for whoever held a page to let go. */
#define DMIRROR_TO_DEV_PAUSE_MS	10

/*
 * Migrations to device-coherent memory (read) against EXCLUSIVE (write):
 * see DOC: device-exclusive access in exclusive.c.
 */
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

/* Whether migrations of @mdev ask the core for compound units. */
static unsigned long dmirror_migrate_compound(struct dmirror_device *mdev)
{
	if (mdev->mtype == HMM_DMIRROR_MEMORY_DEVICE_PRIVATE &&
	    dmirror_devmem_large_enabled())
		return DMIRROR_SELECT_COMPOUND;
	return 0;
}

/* Which device pages a migration back to system memory selects. */
static unsigned long dmirror_migrate_select(struct dmirror_device *mdev)
{
	if (mdev->mtype == HMM_DMIRROR_MEMORY_DEVICE_COHERENT)
		return MIGRATE_VMA_SELECT_DEVICE_COHERENT;
	return MIGRATE_VMA_SELECT_DEVICE_PRIVATE |
	       dmirror_migrate_compound(mdev);
}

/* Pages a migrated entry covers, given its destination pfn. */
static unsigned long dmirror_migrate_span(unsigned long dst)
{
	return (dst & DMIRROR_PFN_COMPOUND) ? DMIRROR_BLOCK_PAGES : 1;
}

/* Consume @dm's one-shot FAIL_ALLOC flag. Return: whether it was set. */
static bool dmirror_migrate_fail_alloc(struct dmirror *dm)
{
	u64 old = READ_ONCE(dm->flags);

	while (old & HMM_DMIRROR_FLAG_FAIL_ALLOC)
		if (try_cmpxchg(&dm->flags, &old,
				old & ~HMM_DMIRROR_FLAG_FAIL_ALLOC))
			return true;
	return false;
}

/* End of the migration window that starts at @addr, within [.., @end). */
static unsigned long dmirror_migrate_window_end(unsigned long addr,
						unsigned long end,
						struct vm_area_struct *vma)
{
	return min3(end, vma->vm_end, ALIGN_DOWN(addr, PMD_SIZE) + PMD_SIZE);
}

/* Copy a system page (or zeros for NULL) into a device page. */
static void dmirror_copy_page_to_device(struct page *spage,
					struct page *dpage)
{
	void *dst = dmirror_devmem_page_data(dpage);
	void *src;

	if (!spage) {
		memset(dst, 0, PAGE_SIZE);
		return;
	}
	src = kmap_local_page(spage);
	dmirror_copy_data(dst, src);
	kunmap_local(src);
}

/* Pages the source entry @src of a migration window stands for. */
static unsigned long dmirror_migrate_src_span(unsigned long src)
{
	return (src & DMIRROR_PFN_COMPOUND) ? DMIRROR_BLOCK_PAGES : 1;
}

/*
 * Step 1 (see above): every mirror of @mdev in @mm forgets the pages
 * migrate_vma_setup() selected in @args. Context: the pages are locked.
 */
static void dmirror_migrate_forget(struct dmirror_device *mdev,
				   struct mm_struct *mm,
				   struct migrate_vma *args)
{
	unsigned long npages = (args->end - args->start) >> PAGE_SHIFT;
	unsigned long first = args->start >> PAGE_SHIFT;
	struct dmirror *dm;
	unsigned long i, j;

	mutex_lock(&mdev->mirrors_lock);
	list_for_each_entry(dm, &mdev->mirrors, dev_link) {
		if (dm->mm != mm)
			continue;
		mutex_lock(&dm->lock);
		/* Runs of selected pages, each erased at once. */
		for (i = 0; i < npages; i = j) {
			j = i;
			while (j < npages && (args->src[j] & MIGRATE_PFN_MIGRATE))
				j += dmirror_migrate_src_span(args->src[j]);
			j = min(j, npages);
			if (j > i)
				dmirror_xa_erase_range(&dm->pt, first + i,
						       first + j - 1);
			else
				j++;
		}
		mutex_unlock(&dm->lock);
	}
	mutex_unlock(&mdev->mirrors_lock);
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

/**
 * struct dmirror_migrate_buf - working memory of one migration ioctl
 * @req:    the mm and range of MIGRATE_TO_DEV (see dmirror_devmem_alloc())
 * @src:    source pfns of one window
 * @dst:    destination pfns
 * @pages:  device pages allocated for the window (to the device), or the
 *          system pages to copy to (back)
 * @spages: the device pages to copy from (back)
 * @bulk:   base system pages allocated at once (back)
 * @access: device page-table access for each migrated page
 */
struct dmirror_migrate_buf {
	struct dmirror_span req;
	unsigned long src[DMIRROR_WINDOW_PAGES];
	unsigned long dst[DMIRROR_WINDOW_PAGES];
	struct page *pages[DMIRROR_WINDOW_PAGES];
	struct page *spages[DMIRROR_WINDOW_PAGES];
	struct page *bulk[DMIRROR_WINDOW_PAGES];
	u8 access[DMIRROR_WINDOW_PAGES];
};

/* Copy the @nr pages of a source unit (NULL: zeros) to device pages. */
static void dmirror_copy_unit_to_device(struct page *spage,
					struct page *dpage, unsigned long nr)
{
	unsigned long j;

	for (j = 0; j < nr; j++)
		dmirror_copy_page_to_device(spage ? spage + j : NULL, dpage + j);
}

/* What allocating destinations for a window left undone (flags). */
#define DMIRROR_ALLOC_SHORT	BIT(0)	/* a base page could not be had */
#define DMIRROR_ALLOC_SPLIT	BIT(1)	/* a large source needs a split */
/* A MIGRATE_TO_DEV pass met a VMA that is not anonymous. */
#define DMIRROR_PASS_NOT_ANON	BIT(2)

/*
 * Whether a window is to be set up again without compound units: a large
 * source stayed for want of a large destination (@st, DMIRROR_ALLOC_*
 * flags) in a window that selected compound units (@flags).
 */
static bool dmirror_migrate_again(unsigned int st, unsigned long flags)
{
	return (st & DMIRROR_ALLOC_SPLIT) && (flags & DMIRROR_SELECT_COMPOUND);
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

static unsigned long dmirror_migrate_count(struct migrate_vma *args)
{
	unsigned long npages = (args->end - args->start) >> PAGE_SHIFT;
	unsigned long i, n = 0;

	for (i = 0; i < npages; i++)
		if (args->dst[i] && (args->src[i] & MIGRATE_PFN_MIGRATE))
			n += dmirror_migrate_span(args->dst[i]);
	return n;
}

/*
 * The VMA holding @addr, if migration may start there: -EINVAL for a hole
 * or a VMA without read access. Context: mmap_lock held.
 */
static struct vm_area_struct *dmirror_migrate_vma(struct mm_struct *mm,
						  unsigned long addr)
{
	struct vm_area_struct *vma = vma_lookup(mm, addr);

	if (!vma || !(vma->vm_flags & VM_READ))
		return ERR_PTR(-EINVAL);
	return vma;
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
		.pgmap_owner	= dm->mdev,
	};
	unsigned long addr, next, seq, moved = 0;
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
		args.flags = MIGRATE_VMA_SELECT_SYSTEM;
		if (!(args.vma->vm_flags & VM_NOHUGEPAGE) && !again)
			args.flags |= dmirror_migrate_compound(dm->mdev);
		again = false;
		seq = mmu_interval_read_begin(&dm->notifier);
		ret = migrate_vma_setup(&args);
		if (ret)
			break;
		next = args.end;
		if (!args.cpages) {
			migrate_vma_finalize(&args);
			continue;
		}
		dmirror_migrate_forget(dm->mdev, dm->mm, &args);
		st = dmirror_migrate_alloc_and_copy(dm, &args, b);
		migrate_vma_pages(&args);
		dmirror_mirror_forget_filled(dm->mdev, dm->mm, &args);
		dmirror_migrate_map(dm, &args, b->access, seq);
		moved += dmirror_migrate_count(&args);
		migrate_vma_finalize(&args);
		status |= st;
		/* Once more, with base pages, for what needs a split. */
		again = dmirror_migrate_again(st, args.flags);
		if (again)
			next = addr;
	}
	*status_out |= status;
	*moved_out += moved;
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

	if (num_online_nodes() > 1)
		return 0;
	for (i = 0; i < npages; i++)
		if (migrate_pfn_to_page(args->src[i]) &&
		    (args->src[i] & MIGRATE_PFN_MIGRATE) &&
		    !(args->src[i] & DMIRROR_PFN_COMPOUND))
			b->bulk[n++] = NULL;
	return n ? dmirror_alloc_pages_bulk(GFP_HIGHUSER_MOVABLE, n, b->bulk) : 0;
}

/*
 * A locked system THP for a large source at @addr of @vma: *@thp if the
 * caller allocated one (@thp may be NULL; taken, *@thp becomes NULL),
 * else a new one unless @dm's FAIL_ALLOC (consumed) or the fail_sys_thp
 * hook refuses it. Return: its head page, or NULL.
 */
static struct page *dmirror_migrate_sys_thp(struct dmirror *dm,
					    struct vm_area_struct *vma,
					    unsigned long addr,
					    struct page **thp)
{
	struct page *page = thp ? *thp : NULL;

	if (page) {
		*thp = NULL;
		return page;
	}
	if ((dm && dmirror_migrate_fail_alloc(dm)) ||
	    dmirror_debugfs_fail_sys_thp())
		return NULL;
	return dmirror_alloc_sys_large(vma, addr);
}

/*
 * Allocate system memory for the selected device pages of one window and
 * copy. @dm (NULL for eviction) is the file whose FAIL_ALLOC applies; @b
 * holds the page lists of a window (NULL: a window of one page). A large
 * device folio gets *@thp if given (see dmirror_migrate_sys_thp()), else
 * a new system THP; without one it gets base pages if @base_ok, else it
 * stays (DMIRROR_ALLOC_SPLIT).
 * Return: DMIRROR_ALLOC_* flags.
 */
static unsigned int dmirror_migrate_alloc_sys(struct dmirror *dm,
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
		.pgmap_owner	= mdev,
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
		ret = migrate_vma_setup(&args);
		if (ret) {
			if (strict)
				return ret;
			continue;
		}
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
		.pgmap_owner	= mdev,
		.flags		= MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page	= vmf->page,
	};
	unsigned int st;

	if (nr > 1)
		args.flags |= dmirror_migrate_compound(mdev);
	args.end = args.start + (nr << PAGE_SHIFT);
	if (migrate_vma_setup(&args))
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
 * CPU to fault on again. FAIL_ALLOC is not consulted: a device page
 * records its device, not a file.
 *
 * Return: 0, VM_FAULT_OOM or VM_FAULT_SIGBUS.
 */
vm_fault_t dmirror_migrate_to_ram(struct vm_fault *vmf)
{
	struct dmirror_device *mdev = dmirror_page_owner(vmf->page);
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
