// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror device memory: the page allocator (blocks, ages, page
 * records) and the release of a device's memory.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>

#include "dmirror.h"
#include "inject.h"

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

/* Attempts to empty a chunk between two warnings at unload. */
#define DMIRROR_RELEASE_TRIES	50

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

	if (dmirror_inject(DMIRROR_INJ_DEV_PAGE))
		return 0;
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
	    mdev->mtype != HMM_DMIRROR_MEMORY_DEVICE_PRIVATE ||
	    dmirror_inject(DMIRROR_INJ_DEV_LARGE))
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
