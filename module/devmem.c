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
#include <linux/sched/signal.h>
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
 * Each page records where it came from (@rec: the address space whose
 * migration put it there, and the virtual address). Two things use it:
 *
 * - Making room for a migration evicts the pages of a block except those
 *   of the migration's own range: those are what it moved already, or had
 *   moved before, and evicting them would leave the range short again.
 *   When nothing else can go, the migration gets fewer pages (-ENOMEM).
 * - Closing a file evicts the pages its address space put on the device,
 *   whatever the CPU or device page tables look like by then, at the cost
 *   of the device's size, not of the address space's.
 *
 * A record is a hint, never dereferenced: the address goes stale when
 * mremap() moves the page, and @mm is a plain pointer. Every open file of
 * an mm holds an mmgrab() reference, so while one is open no other mm has
 * that address; a page can outlive its mm (a forked child still maps it),
 * and if a later mm gets the same address, its close evicts that page too.
 * Either way at worst a page moves, with its data.
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
 * Device memory is the lowest layer but one (DOC: layers in dmirror.h):
 * it calls nothing above it. The one thing it needs from above, moving a
 * page home when the CPU touches it, is the pgmap's migrate_to_ram, which
 * the core calls, not this file: the pgmap points at our trampoline, which
 * calls @ops->migrate_to_ram, the table the device's creator (chardev.c)
 * passes to dmirror_devmem_init(). That is sound because the pointer is
 * set before the first chunk (so the first device page) exists and never
 * changes, and the table is constant data of this module, which outlives
 * every page (unload empties the chunks). The trampoline takes no lock: the
 * callee runs with what the core holds for a fault (mmap_lock or the VMA
 * lock, a reference on the page, on 7.3 its lock), as it always did. No
 * path of this file waits for the callee: eviction moves pages home itself
 * (migrate_device_range(), dmirror_copy_device_to_page()).
 *
 * Locking: @lock (a spinlock, taken with interrupts off because the free
 * callback may run wherever a page reference is dropped) protects the
 * bitmaps, block ages, page records and counts; @chunk_lock (a mutex)
 * serialises adding and removing chunks, and every eviction holds it while
 * it migrates, so that the chunk cannot be removed under it (migration
 * only trylocks device pages, so this nests inside the page locks and
 * mmap_lock of a migration that needs room). Order: chunk_lock -> lock.
 *
 * Loops a user sizes (eviction for an ioctl or a close, RELEASE's waits)
 * stop on a fatal signal and reschedule; RELEASE gives up on busy memory
 * after DMIRROR_BUSY_MS in all, however many chunks are busy.
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

/* Attempts to empty a chunk between two warnings at unload. */
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

/**
 * dmirror_copy_device_to_page() - copy a device page's contents into a
 * system page
 * @spage: the device page (private or coherent) of one of our devices
 * @dpage: the system page
 */
void dmirror_copy_device_to_page(struct page *spage, struct page *dpage)
{
	void *dst = kmap_local_page(dpage);

	dmirror_copy_data(dst, dmirror_devmem_page_data(spage));
	kunmap_local(dst);
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

/*
 * A CPU fault on a device-private page: the layer above moves it home
 * (mem->ops, see DOC: device memory).
 */
static vm_fault_t dmirror_devmem_migrate_to_ram(struct vm_fault *vmf)
{
	struct dmirror_device *mdev = dmirror_page_chunk(vmf->page)->mdev;

	return mdev->mem.ops->migrate_to_ram(vmf);
}

static const struct dev_pagemap_ops dmirror_devmem_ops = {
	.DMIRROR_PGMAP_FREE_OP	= dmirror_pgmap_free,
	.migrate_to_ram		= dmirror_devmem_migrate_to_ram,
};

static void dmirror_chunk_free(struct dmirror_chunk *chunk)
{
	vfree(chunk->vram);
	kvfree(chunk->rec);
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
	chunk->rec = kvcalloc(npages, sizeof(*chunk->rec), GFP_KERNEL);
	if (!coherent)
		chunk->vram = vmalloc(size);
	if (!chunk->free || !chunk->block_stamp || !chunk->block_used ||
	    !chunk->large_stale || !chunk->rec ||
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

/* Record page @idx of @chunk as @mm's, address not known yet. */
static void dmirror_chunk_rec_init(struct dmirror_chunk *chunk,
				   unsigned long idx, const struct mm_struct *mm)
{
	chunk->rec[idx].mm = mm;
	WRITE_ONCE(chunk->rec[idx].addr, 0);
}

/*
 * Allocate up to @n free pages from @chunk for @mm.
 * Context: mem->lock held.
 */
static unsigned int dmirror_chunk_take(struct dmirror_devmem *mem,
				       struct dmirror_chunk *chunk,
				       struct page **pages, unsigned int n,
				       const struct mm_struct *mm)
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
		dmirror_chunk_rec_init(chunk, pick, mm);
		chunk->nr_free--;
		chunk->block_used[block]++;
		chunk->block_stamp[block] = ++mem->stamp;
		pages[got++] = pfn_to_page(chunk->base_pfn + pick);
	}
	chunk->hint = idx;
	return got;
}

/* Take one whole free block of @chunk for @mm. Context: mem->lock held. */
static struct page *dmirror_chunk_take_block(struct dmirror_devmem *mem,
					     struct dmirror_chunk *chunk,
					     const struct mm_struct *mm)
{
	unsigned long b, idx, i;

	if (!chunk->large_ok || chunk->nr_free < DMIRROR_BLOCK_PAGES)
		return NULL;
	for (b = 0; b < chunk->npages / DMIRROR_BLOCK_PAGES; b++) {
		if (chunk->block_used[b])
			continue;
		idx = b * DMIRROR_BLOCK_PAGES;
		bitmap_clear(chunk->free, idx, DMIRROR_BLOCK_PAGES);
		for (i = idx; i < idx + DMIRROR_BLOCK_PAGES; i++)
			dmirror_chunk_rec_init(chunk, i, mm);
		chunk->nr_free -= DMIRROR_BLOCK_PAGES;
		chunk->block_used[b] = DMIRROR_BLOCK_PAGES;
		chunk->block_stamp[b] = ++mem->stamp;
		__clear_bit(b, chunk->large_stale);
		return pfn_to_page(chunk->base_pfn + idx);
	}
	return NULL;
}

/* Take free pages for @mm from the chunks we have. */
static unsigned int dmirror_devmem_take(struct dmirror_devmem *mem,
					struct page **pages, unsigned int n,
					const struct mm_struct *mm)
{
	unsigned int i, got = 0;
	unsigned long flags;

	spin_lock_irqsave(&mem->lock, flags);
	for (i = 0; i < DMIRROR_MAX_CHUNKS && got < n; i++) {
		struct dmirror_chunk *chunk = mem->chunks[i];

		if (chunk && !chunk->dying)
			got += dmirror_chunk_take(mem, chunk, pages + got,
						  n - got, mm);
	}
	spin_unlock_irqrestore(&mem->lock, flags);
	return got;
}

/* Take one whole free block for @mm from the chunks we have. */
static struct page *dmirror_devmem_take_block(struct dmirror_devmem *mem,
					      const struct mm_struct *mm)
{
	struct page *page = NULL;
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&mem->lock, flags);
	for (i = 0; i < DMIRROR_MAX_CHUNKS && !page; i++) {
		struct dmirror_chunk *chunk = mem->chunks[i];

		if (chunk && !chunk->dying)
			page = dmirror_chunk_take_block(mem, chunk, mm);
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

/*
 * The in-use block allocated longest ago after the one stamped @floor
 * (0: any): its chunk, its first page's index there, and its stamp.
 */
static struct dmirror_chunk *
dmirror_devmem_oldest_block(struct dmirror_devmem *mem, u64 floor,
			    unsigned long *idx, u64 *stamp)
{
	struct dmirror_chunk *best_chunk = NULL;
	unsigned long flags, b, best = 0;
	u64 best_stamp = U64_MAX;
	unsigned int i;

	spin_lock_irqsave(&mem->lock, flags);
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
	if (best_chunk) {
		*idx = best * DMIRROR_BLOCK_PAGES;
		*stamp = best_stamp;
	}
	spin_unlock_irqrestore(&mem->lock, flags);
	return best_chunk;
}

/* Is page @idx of @chunk one of @span's (by its record)? */
static bool dmirror_chunk_in_span(struct dmirror_chunk *chunk,
				  unsigned long idx,
				  const struct dmirror_span *span)
{
	unsigned long addr = READ_ONCE(chunk->rec[idx].addr);

	return chunk->rec[idx].mm == span->mm && addr >= span->start &&
	       addr < span->end;
}

/*
 * The first run in [*@idx, @end) of @chunk of in-use pages that are
 * (@in true) or are not (@in false) @span's: returned in *@idx and *@n.
 * Context: mem->lock held.
 */
static bool dmirror_chunk_run(struct dmirror_chunk *chunk,
			      const struct dmirror_span *span, bool in,
			      unsigned long *idx, unsigned long end,
			      unsigned long *n)
{
	unsigned long i = *idx, first;

	while (i < end && (test_bit(i, chunk->free) ||
			   dmirror_chunk_in_span(chunk, i, span) != in))
		i++;
	if (i == end)
		return false;
	first = i;
	while (i < end && !test_bit(i, chunk->free) &&
	       dmirror_chunk_in_span(chunk, i, span) == in)
		i++;
	*idx = first;
	*n = i - first;
	return true;
}

/*
 * Evict the in-use pages of one block of @chunk (the one that holds page
 * @idx, from @idx on) that are (@in) or are not (!@in) @span's, run by
 * run, until the block ends or a fatal signal.
 * Context: mem->chunk_lock held. Return: pages moved.
 */
static unsigned long dmirror_chunk_evict_runs(struct dmirror_chunk *chunk,
					      unsigned long idx,
					      const struct dmirror_span *span,
					      bool in)
{
	struct dmirror_devmem *mem = &chunk->mdev->mem;
	unsigned long end = ALIGN_DOWN(idx, DMIRROR_BLOCK_PAGES) +
			    DMIRROR_BLOCK_PAGES;
	unsigned long flags, n, moved = 0;
	bool found;

	while (idx < end && !fatal_signal_pending(current)) {
		spin_lock_irqsave(&mem->lock, flags);
		found = chunk->block_used[idx / DMIRROR_BLOCK_PAGES] &&
			dmirror_chunk_run(chunk, span, in, &idx, end, &n);
		spin_unlock_irqrestore(&mem->lock, flags);
		if (!found)
			break;
		moved += dmirror_devmem_evict_range(chunk->mdev,
						    chunk->base_pfn + idx, n);
		idx += n;
	}
	return moved;
}

/*
 * Make room for @req: evict what is not @req's own from the oldest block
 * after the one stamped *@floor, which then becomes that block's stamp.
 * Return: whether there was such a block.
 */
static bool dmirror_devmem_evict_oldest(struct dmirror_device *mdev,
					const struct dmirror_span *req,
					u64 *floor)
{
	struct dmirror_devmem *mem = &mdev->mem;
	struct dmirror_chunk *chunk;
	unsigned long idx;

	mutex_lock(&mem->chunk_lock);
	chunk = dmirror_devmem_oldest_block(mem, *floor, &idx, floor);
	if (chunk)
		dmirror_chunk_evict_runs(chunk, idx, req, false);
	mutex_unlock(&mem->chunk_lock);
	return chunk;
}

/**
 * dmirror_devmem_alloc() - allocate device pages for a migration
 * @mdev:  the device
 * @pages: filled with up to @n pages, each referenced and locked
 * @n:     pages wanted
 * @req:   the migration: its mm and range. The pages are recorded as
 *         @req->mm's (their addresses: dmirror_devmem_set_addr()), and
 *         pages of @req's range are not evicted to make room
 *
 * Adds chunks up to the capacity; beyond it evicts the least recently
 * migrated blocks (what of them is not @req's). Context: process context,
 * may sleep; the caller must not hold a mirror lock.
 *
 * Return: the number of pages allocated; fewer than @n when nothing more
 * could be evicted, or on a fatal signal.
 */
unsigned int dmirror_devmem_alloc(struct dmirror_device *mdev,
				  struct page **pages, unsigned int n,
				  const struct dmirror_span *req)
{
	struct dmirror_devmem *mem = &mdev->mem;
	unsigned int got = 0, i;
	u64 floor = 0;

	while (got < n) {
		got += dmirror_devmem_take(mem, pages + got, n - got, req->mm);
		if (got == n)
			break;
		if (!dmirror_devmem_grow(mdev))
			continue;
		if (fatal_signal_pending(current))
			break;
		cond_resched();
		/*
		 * Full: evict the oldest block that gives something back,
		 * trying each block at most once in this call.
		 */
		if (!dmirror_devmem_evict_oldest(mdev, req, &floor))
			break;
	}
	for (i = 0; i < got; i++)
		dmirror_zone_device_page_init(pages[i]);
	atomic64_add(got, &mdev->stats.val[DMIRROR_STAT_RESIDENT]);
	return got;
}

/**
 * dmirror_devmem_set_addr() - record the virtual address of device pages
 * @page: the first of @nr pages a migration filled, in one chunk
 * @addr: the virtual address @page is migrated to
 * @nr:   pages; the others follow @page and @addr
 *
 * Context: the pages were allocated by this migration and not yet mapped.
 */
void dmirror_devmem_set_addr(struct page *page, unsigned long addr,
			     unsigned long nr)
{
	struct dmirror_chunk *chunk = dmirror_page_chunk(page);
	unsigned long idx = page_to_pfn(page) - chunk->base_pfn, i;

	for (i = 0; i < nr; i++)
		WRITE_ONCE(chunk->rec[idx + i].addr, addr + (i << PAGE_SHIFT));
}

/**
 * dmirror_devmem_alloc_large() - allocate one PMD-sized device folio
 * @mdev:  a device-private device
 * @mm:    the address space it is for (recorded, see DOC; the caller
 *         records the address with dmirror_devmem_set_addr())
 *
 * Takes a whole free block, adding a chunk if none is free and the
 * capacity allows; never evicts (the caller falls back to base pages).
 * Context: process context, may sleep; no mirror lock held.
 *
 * Return: the folio's head page, referenced and locked, or NULL.
 */
struct page *dmirror_devmem_alloc_large(struct dmirror_device *mdev,
					const struct mm_struct *mm)
{
	struct dmirror_devmem *mem = &mdev->mem;
	struct page *page;

	if (!dmirror_devmem_large_enabled() ||
	    mdev->mtype != HMM_DMIRROR_MEMORY_DEVICE_PRIVATE)
		return NULL;
	page = dmirror_devmem_take_block(mem, mm);
	if (!page && !dmirror_devmem_grow(mdev))
		page = dmirror_devmem_take_block(mem, mm);
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
 * Context: process context, may sleep; mem->chunk_lock held (the chunk
 * stays), no mirror lock held.
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

/**
 * dmirror_devmem_evict_mm() - move an address space's device pages back
 * @mdev: the device
 * @mm:   the address space (see DOC: device memory)
 *
 * Evicts every page of @mdev that @mm's migrations put there, however it
 * is mapped by now, walking the device's blocks (not the address space:
 * the cost is that of the device's size). Best effort as any eviction;
 * chunk_lock is held one block at a time.
 *
 * Context: process context, may sleep; no mirror lock held.
 * Return: pages moved, or -EINTR on a fatal signal (what moved stays).
 */
long dmirror_devmem_evict_mm(struct dmirror_device *mdev,
			     const struct mm_struct *mm)
{
	struct dmirror_span all = { .mm = mm, .start = 0, .end = ULONG_MAX };
	struct dmirror_devmem *mem = &mdev->mem;
	unsigned long idx, moved = 0;
	struct dmirror_chunk *chunk;
	unsigned int i;

	for (i = 0; i < DMIRROR_MAX_CHUNKS; i++) {
		for (idx = 0; ; idx += DMIRROR_BLOCK_PAGES) {
			if (fatal_signal_pending(current))
				return -EINTR;
			cond_resched();
			mutex_lock(&mem->chunk_lock);
			chunk = mem->chunks[i];
			if (!chunk || idx >= chunk->npages) {
				mutex_unlock(&mem->chunk_lock);
				break;
			}
			moved += dmirror_chunk_evict_runs(chunk, idx, &all, true);
			mutex_unlock(&mem->chunk_lock);
		}
	}
	return moved;
}

/*
 * Evict a whole chunk; if @killable, stop at a fatal signal.
 * Return: true once none of its pages is in use.
 */
static bool dmirror_chunk_empty(struct dmirror_chunk *chunk, bool killable)
{
	struct dmirror_devmem *mem = &chunk->mdev->mem;
	unsigned long pfn, flags;
	bool empty;

	for (pfn = 0; pfn < chunk->npages; pfn += DMIRROR_WINDOW_PAGES) {
		if (killable && fatal_signal_pending(current))
			return false;
		cond_resched();
		dmirror_devmem_evict_range(chunk->mdev, chunk->base_pfn + pfn,
					   DMIRROR_WINDOW_PAGES);
	}
	spin_lock_irqsave(&mem->lock, flags);
	empty = chunk->nr_free == chunk->npages;
	spin_unlock_irqrestore(&mem->lock, flags);
	return empty;
}

/**
 * dmirror_devmem_release() - evict everything and free every chunk
 * @mdev: the device
 * @wait: keep trying until every chunk is empty (module unload); otherwise
 *        (RELEASE) busy memory is waited for DMIRROR_BUSY_MS in all, from
 *        the first chunk found busy, and a chunk whose pages are still busy
 *        (locked or referenced) then is kept, so RELEASE cannot hang; a
 *        fatal signal stops it at once
 *
 * Used by HMM_DMIRROR_RELEASE and at unload.
 *
 * Context: process context, may sleep.
 * Return: 0, -EBUSY if a chunk had to be kept, or -EINTR (RELEASE only;
 * the chunks not emptied by then are kept).
 */
int dmirror_devmem_release(struct dmirror_device *mdev, bool wait)
{
	struct dmirror_devmem *mem = &mdev->mem;
	unsigned long flags, deadline = 0;
	bool waiting = false;
	unsigned int i, try;
	int ret = 0;

	mutex_lock(&mem->chunk_lock);
	for (i = 0; i < DMIRROR_MAX_CHUNKS && ret != -EINTR; i++) {
		struct dmirror_chunk *chunk = mem->chunks[i];
		bool empty = false;

		if (!chunk)
			continue;
		spin_lock_irqsave(&mem->lock, flags);
		chunk->dying = true;
		spin_unlock_irqrestore(&mem->lock, flags);

		for (try = 1; !empty; try++) {
			empty = dmirror_chunk_empty(chunk, !wait);
			if (empty)
				break;
			if (!wait && fatal_signal_pending(current)) {
				ret = -EINTR;
				break;
			}
			if (!waiting) {
				deadline = jiffies +
					   msecs_to_jiffies(DMIRROR_BUSY_MS);
				waiting = true;
			}
			if (!wait && time_after(jiffies, deadline))
				break;
			if (wait && try % DMIRROR_RELEASE_TRIES == 0)
				dev_warn(&mdev->dev, "device memory still busy, retrying\n");
			msleep(20);
		}
		if (!empty) {
			if (ret != -EINTR) {
				dev_warn(&mdev->dev, "device memory busy, chunk %u kept\n",
					 i);
				ret = -EBUSY;
			}
			spin_lock_irqsave(&mem->lock, flags);
			chunk->dying = false;
			spin_unlock_irqrestore(&mem->lock, flags);
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
 * @ops:  what a CPU fault on one of its pages calls (see DOC: device
 *        memory); static data of the module, set before any page exists
 *
 * A private device starts empty and grows on demand. A coherent device's
 * capacity is its reserved window, mapped now so that a window the kernel
 * cannot use fails the module load.
 *
 * Return: 0 or a negative errno.
 */
int dmirror_devmem_init(struct dmirror_device *mdev,
			const struct dmirror_devmem_ops *ops)
{
	struct dmirror_devmem *mem = &mdev->mem;
	u64 capacity = (u64)devmem_mib << 20;
	int ret;

	mem->ops = ops;
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
