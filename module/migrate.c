// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror migration, what every direction shares: the device page
 * tables of the migrating device kept right (DOC: migration).
 */
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mutex.h>

#include "dmirror.h"
#include "migrate.h"

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
 * Our own migrations raise MMU_NOTIFY_MIGRATE with the device's pgmap owner
 * (the device, or its peer group: DOC: peer groups in peer.c), which the
 * mirrors of every device with that owner skip (pagetable.c), so the device
 * page tables of those devices in this mm are updated here instead, in two
 * steps:
 *
 * 1. Right after migrate_vma_setup(), before any data is copied, every
 *    mirror of this device (and of its peer) in this mm drops its entries for the selected
 *    pages, under its mirror lock. The pages are unmapped and locked by
 *    then, so no device write through another file can land in the old
 *    page after the copy, and no device fault that read the old mapping
 *    can store it afterwards (its watch saw the migration: pagetable.c).
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

/* Every mirror of @mdev in @mm forgets the pages selected in @args. */
static void dmirror_migrate_forget_dev(struct dmirror_device *mdev,
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

/**
 * dmirror_migrate_forget() - step 1 of DOC: migration
 * @mdev: the device whose migration this is
 * @mm:   the address space
 * @args: the window, after migrate_vma_setup()
 *
 * Every mirror of @mdev in @mm, and of its peer (whose mirrors skip this
 * migration's events too, DOC: peer groups in peer.c), forgets the pages
 * migrate_vma_setup() selected in @args.
 *
 * Context: the pages are locked; takes each device's mirrors_lock in turn,
 * then each mirror lock.
 */
void dmirror_migrate_forget(struct dmirror_device *mdev, struct mm_struct *mm,
			    struct migrate_vma *args)
{
	struct dmirror_device *peer = dmirror_peer_get(mdev);

	dmirror_migrate_forget_dev(mdev, mm, args);
	if (peer)
		dmirror_migrate_forget_dev(peer, mm, args);
}

/**
 * dmirror_migrate_keep() - leave pages of a window where they are
 * @mdev: the migrating device
 * @args: the window, after migrate_vma_setup()
 * @own:  true: keep the pages of other devices (a migration of @mdev's
 *        pages home); false: keep @mdev's own pages (a migration to @mdev)
 *
 * With a peer group the core selects the pages of both devices of the
 * group (DOC: peer groups in peer.c); the pages that are not this
 * migration's are given back unmoved (no MIGRATE_PFN_MIGRATE), before
 * step 1 drops anything.
 *
 * Return: how many selected entries are left that are in a peer's memory.
 */
unsigned long dmirror_migrate_keep(struct dmirror_device *mdev,
				   struct migrate_vma *args, bool own)
{
	unsigned long npages = (args->end - args->start) >> PAGE_SHIFT;
	unsigned long i, peer = 0;

	if (mdev->owner == mdev)
		return 0;
	for (i = 0; i < npages; i++) {
		struct page *page = migrate_pfn_to_page(args->src[i]);

		if (!page || !is_zone_device_page(page) ||
		    !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if ((dmirror_page_device(page) == mdev) != own)
			args->src[i] &= ~MIGRATE_PFN_MIGRATE;
		else if (!own)
			peer++;
	}
	return peer;
}

/**
 * dmirror_migrate_count_peer() - pages a window moved device to device
 * @mdev: the device migrated to
 * @args: the window, after migrate_vma_pages()
 *
 * Counts them for both devices (DMIRROR_STAT_FROM_PEER, _TO_PEER).
 * Return: the 4 KiB pages that came from the peer's memory.
 */
unsigned long dmirror_migrate_count_peer(struct dmirror_device *mdev,
					 struct migrate_vma *args)
{
	unsigned long npages = (args->end - args->start) >> PAGE_SHIFT;
	struct dmirror_device *peer = dmirror_peer_get(mdev);
	unsigned long i, n = 0;

	if (!peer)
		return 0;
	for (i = 0; i < npages; i++) {
		struct page *page = migrate_pfn_to_page(args->src[i]);

		if (page && args->dst[i] &&
		    (args->src[i] & MIGRATE_PFN_MIGRATE) &&
		    is_zone_device_page(page))
			n += dmirror_migrate_span(args->dst[i]);
	}
	atomic64_add(n, &mdev->stats.val[DMIRROR_STAT_FROM_PEER]);
	atomic64_add(n, &peer->stats.val[DMIRROR_STAT_TO_PEER]);
	return n;
}

/**
 * dmirror_migrate_count() - pages a window moved
 * @args: the window, after migrate_vma_pages()
 *
 * Return: the 4 KiB pages that migrated (a compound unit counts whole).
 */
unsigned long dmirror_migrate_count(struct migrate_vma *args)
{
	unsigned long npages = (args->end - args->start) >> PAGE_SHIFT;
	unsigned long i, n = 0;

	for (i = 0; i < npages; i++)
		if (args->dst[i] && (args->src[i] & MIGRATE_PFN_MIGRATE))
			n += dmirror_migrate_span(args->dst[i]);
	return n;
}
