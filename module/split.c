// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror: splitting a large device folio that cannot move whole.
 */
#include <linux/delay.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/rbtree.h>
#include <linux/rmap.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include "dmirror.h"
#include "inject.h"

/**
 * DOC: splitting large device folios
 *
 * A large device folio (where dmirror_devmem_large_enabled()) that has to
 * leave the device while no system THP can be had must first become base
 * pages. The core splits a device-private folio safely only while it is
 * mapped: split_folio() (not exported to modules) unmaps it through the
 * rmap, splits every PMD that maps it into PTEs, splits the folio and maps
 * the base pages back everywhere. Modules reach that path through
 * migrate_vma_setup() without MIGRATE_VMA_SELECT_COMPOUND on an address
 * where the folio is mapped: the collection step splits a large folio it
 * finds there. (The core's other split, of a folio migrate_vma_setup()
 * already unmapped, converts only the migrating VMA's PMD: see DOC:
 * migration.) dmirror_split_at() does that on one page and migrates
 * nothing: it only leaves base pages behind, which every caller then moves
 * as usual. A split needs two things:
 *
 * - Where: an address space and an address that map the folio.
 *   dmirror_split_find() reads them from the folio's anon_vma, as the
 *   core's rmap walk does, with the folio locked and the anon_vma's lock
 *   only trylocked (compat.h); it keeps up to DMIRROR_SPLIT_WAYS of them,
 *   each mm with an mmgrab() reference, so that one whose mmap_lock is
 *   busy or whose mapping went away leaves others to try.
 * - When: a moment when nobody but the mappings holds a reference to the
 *   folio, or its lock: the split compares the reference count with the
 *   mapping count. Eviction (evict.c) finds the folio at the start of a
 *   block before it unmaps anything and, if no system THP can be had,
 *   drops its reference and splits it right away (dmirror_split_folio()).
 *   A CPU fault on the folio's PMD holds both for as long as
 *   dmirror_migrate_to_ram() runs, so the fault cannot split it itself:
 *   it queues a request (dmirror_split_fault(), its own mapping first) and
 *   returns 0, so that the fault is retried; while the request is pending,
 *   dmirror_split_pending() lets the retried fault return at once, holding
 *   the folio only for a moment. A work item, which holds nothing of the
 *   folio, performs the request; the next retry finds base pages and
 *   moves one.
 *
 * Both look for a system THP before they unmap the folio whole, and do
 * not unmap it when there is none: besides being useless, that would
 * leave PMD migration entries in every mapping for a while, and the 7.3
 * core zaps a PMD migration entry of a device-private folio as if it
 * were a mapping (zap_huge_pmd_folio() removes an rmap and a reference
 * the entry does not hold), so a process exiting meanwhile corrupts the
 * folio's counts.
 *
 * Locks: mmap_lock is only ever trylocked here (mmap_read_trylock()). An
 * evicting caller may hold page locks or its own mm's mmap_lock; a task
 * faulting in the kernel (GUP) may hold its mmap_lock while a writer waits,
 * so the work item must not wait for it either. A split that could not be
 * done is retried by the work item DMIRROR_SPLIT_TRIES times a millisecond
 * apart, or by the eviction's caller (RELEASE, unload, the allocator's
 * next block); after that the next fault on the folio queues it again.
 * The queue's spinlock is innermost; nothing is taken under it. The work
 * item reads the struct pages of the folio it was asked to split, so
 * dmirror_split_flush() runs before a chunk is removed (devmem.c); a
 * request for a removed chunk cannot appear, as no page of it is in use.
 */

/* Attempts of the work item at one request, a millisecond apart. */
#define DMIRROR_SPLIT_TRIES	50

/*
 * Add the mapping (@mm, @addr) to @req unless it is full or already has
 * @mm (a folio is mapped at one place per address space).
 */
static void dmirror_split_add(struct dmirror_split_req *req,
			      struct mm_struct *mm, unsigned long addr)
{
	unsigned int i;

	if (req->nr == DMIRROR_SPLIT_WAYS)
		return;
	for (i = 0; i < req->nr; i++)
		if (req->mm[i] == mm)
			return;
	mmgrab(mm);
	req->mm[req->nr] = mm;
	req->addr[req->nr++] = addr;
}

/* Drop the mm references of @req. */
static void dmirror_split_drop(struct dmirror_split_req *req)
{
	while (req->nr)
		mmdrop(req->mm[--req->nr]);
}

/*
 * Add to @req the mappings of @folio, read from its anon_vma (every VMA
 * linked to it is looked at: as many as the processes that forked from
 * its owner, each VMA at most once).
 * Context: @folio locked and referenced; may sleep.
 */
static void dmirror_split_find(struct folio *folio,
			       struct dmirror_split_req *req)
{
	/* An anonymous folio's index is its linear page offset. */
	pgoff_t first = folio->index;
	pgoff_t last = first + folio_nr_pages(folio) - 1;
	struct anon_vma *anon_vma;
	struct rb_node *node;

	anon_vma = dmirror_folio_anon_vma_trylock(folio);
	if (!anon_vma)
		return;
	for (node = rb_first_cached(&anon_vma->rb_root);
	     node && req->nr < DMIRROR_SPLIT_WAYS; node = rb_next(node)) {
		struct anon_vma_chain *avc = rb_entry(node,
						      struct anon_vma_chain, rb);
		struct vm_area_struct *vma = avc->vma;
		pgoff_t lo = max(first, vma->vm_pgoff);
		pgoff_t hi = min(last, vma->vm_pgoff + vma_pages(vma) - 1);

		if (lo <= hi)
			dmirror_split_add(req, vma->vm_mm, vma->vm_start +
					  ((lo - vma->vm_pgoff) << PAGE_SHIFT));
		cond_resched();
	}
	dmirror_anon_vma_unlock(anon_vma);
}

/*
 * Split the large device folio of @mdev at @pfn where @mm maps it at
 * @addr: migrate_vma_setup() without compound units on that one page
 * splits a large folio it finds there, and collects the base page, which
 * migrate_vma_finalize() puts back where it was.
 * Return: true if the page at @addr is now a base page of that folio.
 */
static bool dmirror_split_at(struct dmirror_device *mdev, unsigned long pfn,
			     struct mm_struct *mm, unsigned long addr)
{
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.start		= addr & PAGE_MASK,
		.end		= (addr & PAGE_MASK) + PAGE_SIZE,
		.src		= &src,
		.dst		= &dst,
		.pgmap_owner	= mdev->owner,
		.flags		= MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
	};
	struct page *page;
	bool split = false;

	if (!mmget_not_zero(mm))
		return false;
	if (mmap_read_trylock(mm)) {
		args.vma = vma_lookup(mm, args.start);
		if (args.vma && !dmirror_inject(DMIRROR_INJ_MIGRATE) &&
		    !migrate_vma_setup(&args)) {
			page = migrate_pfn_to_page(src);
			split = page && page_to_pfn(page) - pfn < DMIRROR_BLOCK_PAGES &&
				!folio_test_large(page_folio(page));
			migrate_vma_finalize(&args);
		}
		mmap_read_unlock(mm);
	}
	mmput(mm);
	return split;
}

/*
 * One attempt at @req. Return: true once the folio is split or freed
 * (a freed large folio's first page stays a compound head, with no
 * reference, until it is handed out again: devmem.c).
 */
static bool dmirror_split_try(struct dmirror_device *mdev,
			      struct dmirror_split_req *req)
{
	struct page *head = pfn_to_page(req->pfn);
	unsigned int i;

	for (i = 0; i < req->nr; i++)
		if (dmirror_split_at(mdev, req->pfn, req->mm[i], req->addr[i]))
			return true;
	return !PageHead(head) || !page_ref_count(head);
}

/**
 * dmirror_split_folio() - split a large device folio for eviction
 * @mdev:  its device
 * @folio: the folio, referenced by the caller; this reference is dropped
 *
 * Context: process context, may sleep; the caller holds no lock of
 * @folio (it may hold other page locks and an mmap_lock).
 * Return: true if the folio was split (or freed): its pages can be
 * evicted now.
 */
bool dmirror_split_folio(struct dmirror_device *mdev, struct folio *folio)
{
	struct dmirror_split_req req = { .pfn = folio_pfn(folio) };
	bool done = false;

	if (folio_trylock(folio)) {
		dmirror_split_find(folio, &req);
		folio_unlock(folio);
	}
	folio_put(folio);
	if (req.nr)
		done = dmirror_split_try(mdev, &req);
	dmirror_split_drop(&req);
	return done;
}

/* The slot of a request for the folio at @pfn, or -1. Context: q->lock. */
static int dmirror_split_slot(struct dmirror_split_queue *q, unsigned long pfn)
{
	int i;

	for (i = 0; i < DMIRROR_SPLIT_SLOTS; i++)
		if (q->req[i].pfn == pfn)
			return i;
	return -1;
}

/**
 * dmirror_split_pending() - whether a split of @folio is queued or running
 * @mdev:  its device
 * @folio: a large device folio of @mdev
 *
 * Context: any process context.
 * Return: true while a request for @folio is pending.
 */
bool dmirror_split_pending(struct dmirror_device *mdev, struct folio *folio)
{
	struct dmirror_split_queue *q = &mdev->mem.split;
	bool pending;

	spin_lock(&q->lock);
	pending = dmirror_split_slot(q, folio_pfn(folio)) >= 0;
	spin_unlock(&q->lock);
	return pending;
}

/**
 * dmirror_split_fault() - ask for a split of the folio a CPU fault is on
 * @mdev: the folio's device
 * @vmf:  a fault on a PMD-mapped large device folio of @mdev, which the
 *        fault holds locked and referenced
 *
 * Queues a request with the faulting address first, unless one for the
 * folio is pending or every slot is taken (the fault then comes back).
 * Context: the CPU fault handler, mmap_lock held.
 */
void dmirror_split_fault(struct dmirror_device *mdev, struct vm_fault *vmf)
{
	struct dmirror_split_queue *q = &mdev->mem.split;
	struct folio *folio = page_folio(vmf->page);
	struct dmirror_split_req req = { .pfn = folio_pfn(folio) };
	bool queued = false;
	int i;

	dmirror_split_add(&req, vmf->vma->vm_mm, vmf->address);
	dmirror_split_find(folio, &req);
	spin_lock(&q->lock);
	i = dmirror_split_slot(q, 0);
	if (i >= 0 && dmirror_split_slot(q, req.pfn) < 0) {
		/* The slot takes over the mm references. */
		q->req[i] = req;
		req.nr = 0;
		queued = true;
	}
	spin_unlock(&q->lock);
	if (queued)
		queue_work(system_unbound_wq, &q->work);
	dmirror_split_drop(&req);
}

/* Take a request not yet being performed into @req. Return: its slot or -1. */
static int dmirror_split_take(struct dmirror_split_queue *q,
			      struct dmirror_split_req *req)
{
	int i;

	spin_lock(&q->lock);
	for (i = 0; i < DMIRROR_SPLIT_SLOTS; i++) {
		if (q->req[i].pfn && !q->req[i].busy) {
			q->req[i].busy = true;
			*req = q->req[i];
			break;
		}
	}
	spin_unlock(&q->lock);
	return i < DMIRROR_SPLIT_SLOTS ? i : -1;
}

/* The work item: perform every request, then free its slot. */
static void dmirror_split_work(struct work_struct *work)
{
	struct dmirror_split_queue *q = container_of(work,
						     struct dmirror_split_queue,
						     work);
	struct dmirror_device *mdev = container_of(q, struct dmirror_device,
						   mem.split);
	struct dmirror_split_req req;
	unsigned int try;
	int i;

	while ((i = dmirror_split_take(q, &req)) >= 0) {
		for (try = 0; try < DMIRROR_SPLIT_TRIES; try++) {
			if (try)
				usleep_range(1000, 2000);
			if (dmirror_split_try(mdev, &req))
				break;
		}
		if (try == DMIRROR_SPLIT_TRIES)
			dev_dbg(&mdev->dev, "cannot split the folio at pfn %#lx yet\n",
				req.pfn);
		spin_lock(&q->lock);
		q->req[i].pfn = 0;
		q->req[i].busy = false;
		q->req[i].nr = 0;
		spin_unlock(&q->lock);
		dmirror_split_drop(&req);
	}
}

/**
 * dmirror_split_init() - set up @mdev's queue of split requests
 * @mdev: a device being created
 */
void dmirror_split_init(struct dmirror_device *mdev)
{
	struct dmirror_split_queue *q = &mdev->mem.split;

	spin_lock_init(&q->lock);
	INIT_WORK(&q->work, dmirror_split_work);
}

/**
 * dmirror_split_flush() - wait until no split request of @mdev is left
 * @mdev: the device
 *
 * Context: process context, may sleep; nothing the work item takes held.
 */
void dmirror_split_flush(struct dmirror_device *mdev)
{
	flush_work(&mdev->mem.split.work);
}
