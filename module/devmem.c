// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror device memory: ZONE_DEVICE chunks, their storage, the page
 * allocator, and eviction back to system memory.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dmirror.h"
#include "dmirror_trace.h"

/**
 * DOC: device memory
 *
 * A device owns up to @max_chunks chunks, added on demand. A private chunk
 * is a free physical address range (request_free_mem_region()) turned into
 * MEMORY_DEVICE_PRIVATE struct pages by memremap_pages(), with the pgmap
 * owner set to the device; the CPU cannot address those pages, so their
 * contents live in @vram, storage the chunk allocates (vmalloc), one
 * PAGE_SIZE slot per device page. A coherent device has one chunk: its
 * reserved window (spm_addr_devN), mapped as MEMORY_DEVICE_COHERENT pages
 * that the CPU addresses directly; its capacity is the window.
 *
 * Pages are handed out from a per-chunk bitmap of free pages, grouped in
 * blocks of DMIRROR_BLOCK_PAGES. Each block remembers when a page was last
 * allocated from it; a full device evicts the block allocated longest ago
 * (least recently migrated, of any process) with migrate_device_range(),
 * which moves its pages back to system memory and invalidates every mirror
 * that maps them (the rmap walk raises ordinary invalidations).
 *
 * Large device pages: where the kernel supports compound device-private
 * migration (and thp_migration is set), a PMD-sized THP or empty 2 MiB
 * unit migrates into one large device folio, which is one whole free
 * block of a private chunk (blocks are PMD-aligned). Its contents stay in
 * @vram per pfn, so they stay right when the core splits the folio. A
 * freed large folio leaves its head page marked as a compound head until
 * the page is handed out again; the core's pfn-range walk
 * (migrate_device_range) would take that stale head for a whole block and
 * skip the block, so the base allocator hands out such a block's head
 * before any other page of it (@large_stale). Eviction moves a large folio
 * into a system THP, or, when none can be had, splits it where it is
 * mapped and evicts the base pages (DOC: splitting large device folios).
 *
 * A device page is freed by the core (the pgmap free callback) when its
 * last reference goes; it goes back to its chunk's bitmap. Chunks hold a
 * reference on their device, and device pages point at their chunk (the
 * pgmap), never at a file, so no device page outlives what it points at.
 *
 * Locking: @lock (a spinlock, taken with interrupts off because the free
 * callback may run wherever a page reference is dropped) protects the
 * bitmaps, block ages and counts; @chunk_lock (a mutex) serialises adding
 * and removing chunks. Order: chunk_lock -> lock. Eviction takes neither
 * while it migrates.
 */

/* Device memory size of the emulated devices, per device. */
static unsigned int devmem_mib = 256;
module_param(devmem_mib, uint, 0444);
MODULE_PARM_DESC(devmem_mib,
		 "Capacity of each device-private device in MiB (default 256); a full device evicts to system memory");

static unsigned int chunk_mib = 64;
module_param(chunk_mib, uint, 0444);
MODULE_PARM_DESC(chunk_mib,
		 "Device memory is added in chunks of this many MiB (default 64; a power of two, 2..devmem_mib)");

static bool thp_migration = true;
module_param(thp_migration, bool, 0444);
MODULE_PARM_DESC(thp_migration,
		 "Migrate PMD-sized THPs into device-private memory as one device folio (default Y); reads N when the kernel lacks compound device-private migration");

/**
 * dmirror_devmem_large_enabled() - whether large device pages are used
 *
 * Return: true if the kernel supports compound device-private migration
 * and the thp_migration parameter allows it.
 */
bool dmirror_devmem_large_enabled(void)
{
	return thp_migration;
}

/* Attempts to empty a chunk before giving up on removing it. */
#define DMIRROR_RELEASE_TRIES	50

/**
 * dmirror_devmem_check_params() - validate devmem_mib and chunk_mib
 *
 * Return: 0 or -EINVAL with a message.
 */
int dmirror_devmem_check_params(void)
{
	if (!is_power_of_2(chunk_mib) ||
	    chunk_mib < (DMIRROR_BLOCK_PAGES * PAGE_SIZE) >> 20) {
		pr_err("chunk_mib=%u must be a power of two of at least %lu\n",
		       chunk_mib, (DMIRROR_BLOCK_PAGES * PAGE_SIZE) >> 20);
		return -EINVAL;
	}
	if (!devmem_mib || devmem_mib % chunk_mib ||
	    devmem_mib / chunk_mib > DMIRROR_MAX_CHUNKS) {
		pr_err("devmem_mib=%u must be a non-zero multiple of chunk_mib=%u, at most %u chunks\n",
		       devmem_mib, chunk_mib, DMIRROR_MAX_CHUNKS);
		return -EINVAL;
	}
	if (thp_migration &&
	    !dmirror_compat_large_supported(DMIRROR_BLOCK_PAGES)) {
		/* Reported in the load message (main.c). */
		thp_migration = false;
	}
	return 0;
}

static struct dmirror_chunk *dmirror_page_chunk(struct page *page)
{
	return container_of(dmirror_page_pgmap(page), struct dmirror_chunk,
			    pgmap);
}

/**
 * dmirror_devmem_page_data() - kernel address of a device page's contents
 * @page: a device page (private or coherent) of one of our devices
 *
 * Return: the page's PAGE_SIZE slot in its chunk's storage (private), or
 * the page itself in the kernel's mapping (coherent).
 */
void *dmirror_devmem_page_data(struct page *page)
{
	struct dmirror_chunk *chunk = dmirror_page_chunk(page);

	return chunk->vram + ((page_to_pfn(page) - chunk->base_pfn) << PAGE_SHIFT);
}

/*
 * The core dropped the last reference: give the @nr pages from @page back
 * (one base page, or a whole block for a large folio).
 */
static void dmirror_devmem_free_pages(struct page *page, unsigned long nr)
{
	struct dmirror_chunk *chunk = dmirror_page_chunk(page);
	struct dmirror_devmem *mem = &chunk->mdev->mem;
	unsigned long idx = page_to_pfn(page) - chunk->base_pfn;
	unsigned long block = idx / DMIRROR_BLOCK_PAGES;
	unsigned long flags;

	spin_lock_irqsave(&mem->lock, flags);
	bitmap_set(chunk->free, idx, nr);
	chunk->nr_free += nr;
	chunk->block_used[block] -= nr;
	if (nr > 1)
		__set_bit(block, chunk->large_stale);
	spin_unlock_irqrestore(&mem->lock, flags);
	atomic64_sub(nr, &chunk->mdev->stats.val[DMIRROR_STAT_RESIDENT]);
}

DMIRROR_DEFINE_PGMAP_FREE(dmirror_pgmap_free, dmirror_devmem_free_pages)

static const struct dev_pagemap_ops dmirror_devmem_ops = {
	.DMIRROR_PGMAP_FREE_OP	= dmirror_pgmap_free,
	.migrate_to_ram		= dmirror_migrate_to_ram,
};

static void dmirror_chunk_free(struct dmirror_chunk *chunk)
{
	vfree(chunk->vram);
	bitmap_free(chunk->free);
	bitmap_free(chunk->large_stale);
	kfree(chunk->block_stamp);
	kfree(chunk->block_used);
	kfree(chunk);
}

/*
 * Create one chunk. A private chunk is a free physical range plus storage
 * for its contents; the coherent chunk is the device's reserved window,
 * whose pages hold their own contents.
 * Context: mem->chunk_lock held; may sleep.
 */
static struct dmirror_chunk *dmirror_chunk_create(struct dmirror_device *mdev)
{
	bool coherent = mdev->mtype == HMM_DMIRROR_MEMORY_DEVICE_COHERENT;
	unsigned long size = coherent ? DMIRROR_SPM_SIZE :
					(unsigned long)chunk_mib << 20;
	unsigned long npages = size >> PAGE_SHIFT;
	unsigned long nblocks = npages / DMIRROR_BLOCK_PAGES;
	struct dmirror_chunk *chunk;
	struct resource *res;
	void *addr;

	chunk = kzalloc_obj(*chunk, GFP_KERNEL);
	if (!chunk)
		return ERR_PTR(-ENOMEM);
	chunk->mdev = mdev;
	chunk->npages = npages;
	chunk->coherent = coherent;
	chunk->free = bitmap_zalloc(npages, GFP_KERNEL);
	chunk->block_stamp = kcalloc(nblocks, sizeof(u64), GFP_KERNEL);
	chunk->block_used = kcalloc(nblocks, sizeof(unsigned int), GFP_KERNEL);
	chunk->large_stale = bitmap_zalloc(nblocks, GFP_KERNEL);
	if (!coherent)
		chunk->vram = vmalloc(size);
	if (!chunk->free || !chunk->block_stamp || !chunk->block_used ||
	    !chunk->large_stale ||
	    (!coherent && !chunk->vram)) {
		dmirror_chunk_free(chunk);
		return ERR_PTR(-ENOMEM);
	}

	if (coherent) {
		chunk->pgmap.type = MEMORY_DEVICE_COHERENT;
		chunk->pgmap.range.start = mdev->spm_base;
		chunk->pgmap.range.end = mdev->spm_base + size - 1;
	} else {
		res = request_free_mem_region(&iomem_resource, size,
					      "hmm_dmirror");
		if (IS_ERR(res)) {
			dmirror_chunk_free(chunk);
			return ERR_CAST(res);
		}
		chunk->res = res;
		chunk->pgmap.type = MEMORY_DEVICE_PRIVATE;
		chunk->pgmap.range.start = res->start;
		chunk->pgmap.range.end = res->end;
	}
	chunk->pgmap.nr_range = 1;
	chunk->pgmap.ops = &dmirror_devmem_ops;
	chunk->pgmap.owner = mdev;

	addr = memremap_pages(&chunk->pgmap, numa_node_id());
	if (IS_ERR(addr)) {
		if (chunk->res)
			release_mem_region(res->start, resource_size(res));
		dmirror_chunk_free(chunk);
		return ERR_CAST(addr);
	}
	if (coherent)
		chunk->vram = addr;
	chunk->base_pfn = PHYS_PFN(chunk->pgmap.range.start);
	chunk->large_ok = !coherent && dmirror_devmem_large_enabled() &&
			  IS_ALIGNED(chunk->base_pfn, DMIRROR_BLOCK_PAGES);
	bitmap_fill(chunk->free, npages);
	chunk->nr_free = npages;
	get_device(&mdev->dev);
	return chunk;
}

/* Undo dmirror_chunk_create(); every page must be free. */
static void dmirror_chunk_destroy(struct dmirror_chunk *chunk)
{
	struct dmirror_device *mdev = chunk->mdev;

	memunmap_pages(&chunk->pgmap);
	if (chunk->res)
		release_mem_region(chunk->res->start,
				   resource_size(chunk->res));
	if (chunk->coherent)
		chunk->vram = NULL;
	dmirror_chunk_free(chunk);
	put_device(&mdev->dev);
}

/* Allocate up to @n free pages from @chunk. Context: mem->lock held. */
static unsigned int dmirror_chunk_take(struct dmirror_devmem *mem,
				       struct dmirror_chunk *chunk,
				       struct page **pages, unsigned int n)
{
	unsigned long idx = chunk->hint;
	unsigned int got = 0;

	unsigned long block, pick;

	while (got < n && chunk->nr_free) {
		idx = find_next_bit(chunk->free, chunk->npages, idx);
		if (idx >= chunk->npages) {
			idx = 0;
			continue;
		}
		/* A freed large folio's block: its head page goes first. */
		block = idx / DMIRROR_BLOCK_PAGES;
		pick = idx;
		if (test_bit(block, chunk->large_stale)) {
			__clear_bit(block, chunk->large_stale);
			if (test_bit(block * DMIRROR_BLOCK_PAGES, chunk->free))
				pick = block * DMIRROR_BLOCK_PAGES;
		}
		__clear_bit(pick, chunk->free);
		chunk->nr_free--;
		chunk->block_used[block]++;
		chunk->block_stamp[block] = ++mem->stamp;
		pages[got++] = pfn_to_page(chunk->base_pfn + pick);
	}
	chunk->hint = idx;
	return got;
}

/* Take one whole free block of @chunk. Context: mem->lock held. */
static struct page *dmirror_chunk_take_block(struct dmirror_devmem *mem,
					     struct dmirror_chunk *chunk)
{
	unsigned long b, idx;

	if (!chunk->large_ok || chunk->nr_free < DMIRROR_BLOCK_PAGES)
		return NULL;
	for (b = 0; b < chunk->npages / DMIRROR_BLOCK_PAGES; b++) {
		if (chunk->block_used[b])
			continue;
		idx = b * DMIRROR_BLOCK_PAGES;
		bitmap_clear(chunk->free, idx, DMIRROR_BLOCK_PAGES);
		chunk->nr_free -= DMIRROR_BLOCK_PAGES;
		chunk->block_used[b] = DMIRROR_BLOCK_PAGES;
		chunk->block_stamp[b] = ++mem->stamp;
		__clear_bit(b, chunk->large_stale);
		return pfn_to_page(chunk->base_pfn + idx);
	}
	return NULL;
}

/* Take free pages from the chunks we have. */
static unsigned int dmirror_devmem_take(struct dmirror_devmem *mem,
					struct page **pages, unsigned int n)
{
	unsigned int i, got = 0;
	unsigned long flags;

	spin_lock_irqsave(&mem->lock, flags);
	for (i = 0; i < DMIRROR_MAX_CHUNKS && got < n; i++) {
		struct dmirror_chunk *chunk = mem->chunks[i];

		if (chunk && !chunk->dying)
			got += dmirror_chunk_take(mem, chunk, pages + got,
						  n - got);
	}
	spin_unlock_irqrestore(&mem->lock, flags);
	return got;
}

/* Take one whole free block from the chunks we have. */
static struct page *dmirror_devmem_take_block(struct dmirror_devmem *mem)
{
	struct page *page = NULL;
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&mem->lock, flags);
	for (i = 0; i < DMIRROR_MAX_CHUNKS && !page; i++) {
		struct dmirror_chunk *chunk = mem->chunks[i];

		if (chunk && !chunk->dying)
			page = dmirror_chunk_take_block(mem, chunk);
	}
	spin_unlock_irqrestore(&mem->lock, flags);
	return page;
}

/* Add a chunk if the capacity allows. Return: 0, -ENOSPC or an errno. */
static int dmirror_devmem_grow(struct dmirror_device *mdev)
{
	struct dmirror_devmem *mem = &mdev->mem;
	struct dmirror_chunk *chunk;
	unsigned long flags;
	unsigned int i;
	int ret = -ENOSPC;

	mutex_lock(&mem->chunk_lock);
	for (i = 0; i < mem->max_chunks; i++)
		if (!mem->chunks[i])
			break;
	if (i < mem->max_chunks) {
		chunk = dmirror_chunk_create(mdev);
		if (IS_ERR(chunk)) {
			ret = PTR_ERR(chunk);
			dev_warn(&mdev->dev, "cannot add device memory: %d\n",
				 ret);
		} else {
			spin_lock_irqsave(&mem->lock, flags);
			mem->chunks[i] = chunk;
			spin_unlock_irqrestore(&mem->lock, flags);
			atomic64_inc(&mdev->stats.val[DMIRROR_STAT_CHUNKS]);
			dev_dbg(&mdev->dev, "chunk %u added: pfn %#lx, %lu pages\n",
				i, chunk->base_pfn, chunk->npages);
			ret = 0;
		}
	}
	mutex_unlock(&mem->chunk_lock);
	return ret;
}

/* The in-use block allocated longest ago, skipping @skip of them. */
static bool dmirror_devmem_oldest_block(struct dmirror_devmem *mem,
					unsigned int skip,
					unsigned long *first_pfn)
{
	struct dmirror_chunk *best_chunk = NULL;
	unsigned long flags, b, best = 0;
	unsigned int i;
	u64 floor = 0;

	spin_lock_irqsave(&mem->lock, flags);
	do {
		u64 best_stamp = U64_MAX;

		best_chunk = NULL;
		for (i = 0; i < DMIRROR_MAX_CHUNKS; i++) {
			struct dmirror_chunk *chunk = mem->chunks[i];

			if (!chunk || chunk->dying)
				continue;
			for (b = 0; b < chunk->npages / DMIRROR_BLOCK_PAGES; b++) {
				if (!chunk->block_used[b] ||
				    chunk->block_stamp[b] <= floor ||
				    chunk->block_stamp[b] >= best_stamp)
					continue;
				best_stamp = chunk->block_stamp[b];
				best_chunk = chunk;
				best = b;
			}
		}
		floor = best_stamp;
	} while (best_chunk && skip--);
	if (best_chunk)
		*first_pfn = best_chunk->base_pfn + best * DMIRROR_BLOCK_PAGES;
	spin_unlock_irqrestore(&mem->lock, flags);
	return best_chunk;
}

/**
 * dmirror_devmem_alloc() - allocate device pages for a migration
 * @mdev:  the device
 * @pages: filled with up to @n pages, each referenced and locked
 * @n:     pages wanted
 *
 * Adds chunks up to the capacity; beyond it evicts the least recently
 * migrated blocks. Context: process context, may sleep; the caller must
 * not hold a mirror lock.
 *
 * Return: the number of pages allocated; fewer than @n when nothing more
 * could be evicted.
 */
unsigned int dmirror_devmem_alloc(struct dmirror_device *mdev,
				  struct page **pages, unsigned int n)
{
	struct dmirror_devmem *mem = &mdev->mem;
	unsigned int got = 0, i, skip = 0;
	unsigned long first;

	while (got < n) {
		got += dmirror_devmem_take(mem, pages + got, n - got);
		if (got == n)
			break;
		if (!dmirror_devmem_grow(mdev))
			continue;
		/* Full: evict the oldest block that gives something back. */
		if (!dmirror_devmem_oldest_block(mem, skip, &first))
			break;
		if (dmirror_devmem_evict_range(mdev, first,
					       DMIRROR_BLOCK_PAGES))
			skip = 0;
		else
			skip++;
	}
	for (i = 0; i < got; i++)
		dmirror_zone_device_page_init(pages[i]);
	atomic64_add(got, &mdev->stats.val[DMIRROR_STAT_RESIDENT]);
	return got;
}

/**
 * dmirror_devmem_alloc_large() - allocate one PMD-sized device folio
 * @mdev: a device-private device
 *
 * Takes a whole free block, adding a chunk if none is free and the
 * capacity allows; never evicts (the caller falls back to base pages).
 * Context: process context, may sleep; no mirror lock held.
 *
 * Return: the folio's head page, referenced and locked, or NULL.
 */
struct page *dmirror_devmem_alloc_large(struct dmirror_device *mdev)
{
	struct dmirror_devmem *mem = &mdev->mem;
	struct page *page;

	if (!dmirror_devmem_large_enabled() ||
	    mdev->mtype != HMM_DMIRROR_MEMORY_DEVICE_PRIVATE)
		return NULL;
	page = dmirror_devmem_take_block(mem);
	if (!page && !dmirror_devmem_grow(mdev))
		page = dmirror_devmem_take_block(mem);
	if (!page)
		return NULL;
	dmirror_zone_device_large_init(page);
	atomic64_add(DMIRROR_BLOCK_PAGES,
		     &mdev->stats.val[DMIRROR_STAT_RESIDENT]);
	return page;
}

/*
 * The large folio that starts at @pfn and fits in the @npages from there,
 * referenced, or NULL. Large folios start on block boundaries, so the
 * page at @pfn is either such a folio's head or not part of one.
 */
static struct folio *dmirror_devmem_large_at(unsigned long pfn,
					     unsigned long npages)
{
	struct folio *folio = page_folio(pfn_to_page(pfn));

	if (folio_pfn(folio) != pfn || !folio_try_get(folio))
		return NULL;
	if (!folio_test_large(folio) || folio_nr_pages(folio) > npages) {
		folio_put(folio);
		return NULL;
	}
	return folio;
}

/* A locked system THP for eviction, unless fail_sys_thp refuses it. */
static struct page *dmirror_devmem_sys_thp(void)
{
	if (dmirror_debugfs_fail_sys_thp())
		return NULL;
	return dmirror_alloc_sys_large(NULL, 0);
}

/**
 * dmirror_devmem_evict_range() - move device pages back to system memory
 * @mdev:      the device owning the pages
 * @first_pfn: first pfn of the range, inside one chunk
 * @npages:    length, at most DMIRROR_WINDOW_PAGES
 *
 * Free pages, and pages that are locked or have no reference at this
 * moment, are skipped. A page whose system page cannot be allocated stays.
 * A large device folio moves whole into a system THP, allocated before
 * the folio is unmapped. When none can be had, the folio is split first,
 * where it is mapped (the core cannot split it on this path, which has no
 * VMA: DOC: splitting large device folios), and its base pages are
 * evicted. A folio that cannot be split right now (a lock it needs is
 * busy) stays this time, whole, mapped and intact; callers that must
 * empty the range retry (RELEASE, unload).
 *
 * Context: process context, may sleep; no mirror lock held.
 * Return: pages moved.
 */
unsigned long dmirror_devmem_evict_range(struct dmirror_device *mdev,
					 unsigned long first_pfn,
					 unsigned long npages)
{
	unsigned long *src = NULL, *dst = NULL, i, moved = 0;
	struct page *thp = NULL;
	struct folio *large;

	large = dmirror_devmem_large_at(first_pfn, npages);
	if (large) {
		thp = dmirror_devmem_sys_thp();
		if (thp)
			folio_put(large);
		else if (!dmirror_split_folio(mdev, large))
			goto out;
	}
	src = kcalloc(npages, sizeof(*src), GFP_KERNEL);
	dst = kcalloc(npages, sizeof(*dst), GFP_KERNEL);
	if (!src || !dst)
		goto out;

	if (migrate_device_range(src, first_pfn, npages))
		goto out;
	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;
		unsigned long j, nr = 1;

		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (src[i] & DMIRROR_PFN_COMPOUND) {
			nr = folio_nr_pages(page_folio(spage));
			/* The one allocated above, else a new one. */
			dpage = thp ?: dmirror_devmem_sys_thp();
			thp = NULL;
		} else {
			dpage = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOWARN);
			if (dpage)
				lock_page(dpage);
		}
		if (!dpage)
			continue;
		for (j = 0; j < nr; j++)
			dmirror_copy_device_to_page(spage + j, dpage + j);
		dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (nr > 1)
			dst[i] |= DMIRROR_PFN_COMPOUND;
	}
	migrate_device_pages(src, dst, npages);
	for (i = 0; i < npages; i++)
		if (dst[i] && (src[i] & MIGRATE_PFN_MIGRATE))
			moved += (dst[i] & DMIRROR_PFN_COMPOUND) ?
				 DMIRROR_BLOCK_PAGES : 1;
	migrate_device_finalize(src, dst, npages);
	atomic64_add(moved, &mdev->stats.val[DMIRROR_STAT_EVICTED]);
	trace_dmirror_evict(mdev->id, first_pfn, npages, moved);
	dev_dbg(&mdev->dev, "evicted %lu of pfns %#lx+%lu\n", moved, first_pfn,
		npages);
out:
	if (thp) {
		unlock_page(thp);
		put_page(thp);
	}
	kfree(src);
	kfree(dst);
	return moved;
}

/* Evict a whole chunk. Return: true once none of its pages is in use. */
static bool dmirror_chunk_empty(struct dmirror_chunk *chunk)
{
	struct dmirror_devmem *mem = &chunk->mdev->mem;
	unsigned long pfn, flags;
	bool empty;

	for (pfn = 0; pfn < chunk->npages; pfn += DMIRROR_WINDOW_PAGES)
		dmirror_devmem_evict_range(chunk->mdev, chunk->base_pfn + pfn,
					   DMIRROR_WINDOW_PAGES);
	spin_lock_irqsave(&mem->lock, flags);
	empty = chunk->nr_free == chunk->npages;
	spin_unlock_irqrestore(&mem->lock, flags);
	return empty;
}

/**
 * dmirror_devmem_release() - evict everything and free every chunk
 * @mdev: the device
 * @wait: keep trying until every chunk is empty (module unload); otherwise
 *        a chunk whose pages stay busy (locked for the whole time) is kept,
 *        so RELEASE cannot hang
 *
 * Used by HMM_DMIRROR_RELEASE and at unload.
 *
 * Context: process context, may sleep.
 * Return: 0, or -EBUSY if a chunk had to be kept.
 */
int dmirror_devmem_release(struct dmirror_device *mdev, bool wait)
{
	struct dmirror_devmem *mem = &mdev->mem;
	unsigned long flags;
	unsigned int i, try;
	int ret = 0;

	mutex_lock(&mem->chunk_lock);
	for (i = 0; i < DMIRROR_MAX_CHUNKS; i++) {
		struct dmirror_chunk *chunk = mem->chunks[i];
		bool empty = false;

		if (!chunk)
			continue;
		spin_lock_irqsave(&mem->lock, flags);
		chunk->dying = true;
		spin_unlock_irqrestore(&mem->lock, flags);

		for (try = 1; !empty; try++) {
			empty = dmirror_chunk_empty(chunk);
			if (empty || (!wait && try >= DMIRROR_RELEASE_TRIES))
				break;
			if (try % DMIRROR_RELEASE_TRIES == 0)
				dev_warn(&mdev->dev, "device memory still busy, retrying\n");
			msleep(20);
		}
		if (!empty) {
			dev_warn(&mdev->dev, "device memory busy, chunk %u kept\n",
				 i);
			spin_lock_irqsave(&mem->lock, flags);
			chunk->dying = false;
			spin_unlock_irqrestore(&mem->lock, flags);
			ret = -EBUSY;
			continue;
		}
		spin_lock_irqsave(&mem->lock, flags);
		mem->chunks[i] = NULL;
		spin_unlock_irqrestore(&mem->lock, flags);
		/* A split request may still look at the chunk's pages. */
		dmirror_split_flush(mdev);
		dmirror_chunk_destroy(chunk);
		atomic64_dec(&mdev->stats.val[DMIRROR_STAT_CHUNKS]);
		dev_dbg(&mdev->dev, "chunk %u released\n", i);
	}
	mutex_unlock(&mem->chunk_lock);
	return ret;
}

/**
 * dmirror_devmem_init() - set up the device memory of @mdev
 * @mdev: a device being created
 *
 * A private device starts empty and grows on demand. A coherent device's
 * capacity is its reserved window, mapped now so that a window the kernel
 * cannot use fails the module load.
 *
 * Return: 0 or a negative errno.
 */
int dmirror_devmem_init(struct dmirror_device *mdev)
{
	struct dmirror_devmem *mem = &mdev->mem;
	u64 capacity = (u64)devmem_mib << 20;
	int ret;

	spin_lock_init(&mem->lock);
	dmirror_split_init(mdev);
	mutex_init(&mem->chunk_lock);
	mem->max_chunks = devmem_mib / chunk_mib;
	if (mdev->mtype == HMM_DMIRROR_MEMORY_DEVICE_COHERENT) {
		mem->max_chunks = 1;
		capacity = DMIRROR_SPM_SIZE;
	}
	atomic64_set(&mdev->stats.val[DMIRROR_STAT_CAPACITY],
		     capacity >> PAGE_SHIFT);
	if (mdev->mtype != HMM_DMIRROR_MEMORY_DEVICE_COHERENT)
		return 0;
	ret = dmirror_devmem_grow(mdev);
	if (ret)
		dev_err(&mdev->dev, "cannot map the coherent window at %pa: %d\n",
			&mdev->spm_base, ret);
	return ret;
}
