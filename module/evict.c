// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror eviction: device pages back to system memory, by block age,
 * by address space, or by pfn range.
 */
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "dmirror.h"
#include "dmirror_trace.h"
#include "inject.h"

/**
 * DOC: eviction
 *
 * Eviction owns no state: it moves device pages home with
 * migrate_device_range() and dmirror_copy_device_to_page(), by block age
 * (room for a migration, devmem.c), by the mm a page was recorded for (a
 * closing file) or by pfn range (RELEASE and unload). It holds
 * mem->chunk_lock while it migrates, so the chunk it works on stays, and
 * mem->lock only to read the bitmaps and records (DOC: device memory in
 * devmem.c). Device pages are only trylocked, so it may run under the
 * page locks and mmap_lock of a migration that needs room; a page it
 * cannot take now stays, with its data.
 *
 * Every system page a range may need is allocated before the range is
 * unmapped: between migrate_device_range() and migrate_device_finalize()
 * nothing sleeps on an allocation. The core keeps no reference on the
 * anon_vma of the pages it unmaps on this path (it has no VMA and no
 * mmap_lock), so a munmap or exit that completes inside that window frees
 * the anon_vma that migrate_device_finalize() then locks (README, "Known
 * kernel bugs"). Allocating first keeps the window to the copies.
 */

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

/**
 * dmirror_devmem_evict_oldest() - make room for a migration
 * @mdev:  the device
 * @req:   the migration (see dmirror_devmem_alloc())
 * @floor: stamp of the last block tried (0: none); the block evicted now
 *         stamps it
 *
 * Evicts what is not @req's own from the oldest block after the one
 * stamped *@floor.
 *
 * Context: process context, may sleep; takes mem->chunk_lock.
 * Return: whether there was such a block.
 */
bool dmirror_devmem_evict_oldest(struct dmirror_device *mdev,
				 const struct dmirror_span *req, u64 *floor)
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
	if (dmirror_debugfs_fail_sys_thp() ||
	    dmirror_inject(DMIRROR_INJ_SYS_LARGE))
		return NULL;
	return dmirror_alloc_sys_large(NULL, 0);
}

/* Pages of [@pfn, @pfn + @n) in use now, inside one chunk. */
static unsigned long dmirror_evict_in_use(unsigned long pfn, unsigned long n)
{
	struct dmirror_chunk *chunk = dmirror_page_chunk(pfn_to_page(pfn));
	struct dmirror_devmem *mem = &chunk->mdev->mem;
	unsigned long flags, idx = pfn - chunk->base_pfn, nr_free = 0, i;

	spin_lock_irqsave(&mem->lock, flags);
	for (i = idx; i < idx + n; i++)
		nr_free += test_bit(i, chunk->free);
	spin_unlock_irqrestore(&mem->lock, flags);
	return n - nr_free;
}

/* Up to @n unlocked system pages into @pool, as many as can be had. */
static void dmirror_evict_pool_fill(struct page **pool, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		if (dmirror_inject(DMIRROR_INJ_SYS_PAGE))
			break;
		pool[i] = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOWARN);
		if (!pool[i])
			break;
	}
}

/* Free the pages of @pool that were not used. */
static void dmirror_evict_pool_drain(struct page **pool, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n && pool[i]; i++)
		put_page(pool[i]);
}

/*
 * The system page for entry @i of an unmapped range (@src): the THP
 * allocated before (*@thp) for a large folio, a page of @pool (taken from
 * it) for a base page; locked. NULL if there is none: the page stays.
 */
static struct page *dmirror_evict_dst(unsigned long src, struct page **thp,
				      struct page **pool, unsigned long *used)
{
	struct page *dpage;

	if (src & DMIRROR_PFN_COMPOUND) {
		dpage = *thp;
		*thp = NULL;
		return dpage;
	}
	dpage = pool[*used];
	if (!dpage)
		return NULL;
	pool[(*used)++] = NULL;
	/* A page nobody else knows yet: lock_page() cannot sleep. */
	lock_page(dpage);
	return dpage;
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
	unsigned long *src = NULL, *dst = NULL, i, used = 0, moved = 0;
	struct page *thp = NULL, **pool = NULL;
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
	pool = kcalloc(npages + 1, sizeof(*pool), GFP_KERNEL);
	if (!src || !dst || !pool)
		goto out;
	/* A THP covers the whole range: no base page is needed then. */
	if (!thp)
		dmirror_evict_pool_fill(pool,
					dmirror_evict_in_use(first_pfn, npages));
	/* Nothing to move to: do not unmap the range only to restore it. */
	if (!thp && !pool[0])
		goto out;

	if (dmirror_inject(DMIRROR_INJ_MIGRATE) ||
	    migrate_device_range(src, first_pfn, npages))
		goto out;
	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;
		unsigned long j, nr = 1;

		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (src[i] & DMIRROR_PFN_COMPOUND)
			nr = folio_nr_pages(page_folio(spage));
		dpage = dmirror_evict_dst(src[i], &thp, pool, &used);
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
	if (pool)
		dmirror_evict_pool_drain(pool + used, npages - used);
	kfree(pool);
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
			/* RELEASE may hold it for a second: stay killable. */
			if (mutex_lock_killable(&mem->chunk_lock))
				return -EINTR;
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
