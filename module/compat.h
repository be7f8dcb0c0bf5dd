/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmm_dmirror compat layer: every difference between the kernels we
 * support (6.1 .. 7.3) is hidden here behind one name per meaning. The
 * facts come from dmirror_conftest.h, generated at build time by
 * scripts/conftest.sh from the target kernel's headers. No other file
 * tests a kernel version or a probe result.
 */
#ifndef _HMM_DMIRROR_COMPAT_H
#define _HMM_DMIRROR_COMPAT_H

#include <linux/err.h>
#include <linux/gfp.h>
#include <linux/hmm.h>
#include <linux/huge_mm.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/rmap.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "dmirror_conftest.h"

/* The pagemap of a ZONE_DEVICE page. */
static inline struct dev_pagemap *dmirror_page_pgmap(const struct page *page)
{
#ifdef DMIRROR_HAVE_PAGE_PGMAP
	return page_pgmap(page);
#else
	return page->pgmap;
#endif
}

/* The pgmap owner of a ZONE_DEVICE page. */
static inline void *dmirror_page_owner(const struct page *page)
{
	return dmirror_page_pgmap(page)->owner;
}

/*
 * Typed allocation helpers (7.0): allocate one object of the type of
 * their first argument. Older kernels get the plain equivalent.
 */
#ifndef kzalloc_obj
#define kzalloc_obj(P, gfp)	kzalloc(sizeof(P), gfp)
#endif
#ifndef kmalloc_obj
#define kmalloc_obj(P, gfp)	kmalloc(sizeof(P), gfp)
#endif
#ifndef kvmalloc_obj
#define kvmalloc_obj(P, gfp)	kvmalloc(sizeof(P), gfp)
#endif

/* Hand out a free device page: reference count 1, pgmap ref, locked. */
static inline void dmirror_zone_device_page_init(struct page *page)
{
#ifdef DMIRROR_HAVE_ZONE_DEVICE_PAGE_INIT_ORDER
	zone_device_page_init(page, page_pgmap(page), 0);
#else
	zone_device_page_init(page);
#endif
}

/*
 * The pgmap callback that returns freed device memory: page_free(page)
 * until 6.18, folio_free(folio) since. DMIRROR_DEFINE_PGMAP_FREE(name, fn)
 * defines callback @name calling fn(struct page *first, unsigned long nr)
 * once for the nr contiguous pages that were freed (a large folio frees
 * all its pages at once); DMIRROR_PGMAP_FREE_OP names the dev_pagemap_ops
 * field.
 */
#ifdef DMIRROR_HAVE_PGMAP_FOLIO_FREE
#define DMIRROR_PGMAP_FREE_OP	folio_free
#define DMIRROR_DEFINE_PGMAP_FREE(name, fn)				\
static void name(struct folio *folio)					\
{									\
	fn(folio_page(folio, 0), folio_nr_pages(folio));		\
}
#else
#define DMIRROR_PGMAP_FREE_OP	page_free
#define DMIRROR_DEFINE_PGMAP_FREE(name, fn)				\
static void name(struct page *page)					\
{									\
	fn(page, 1);							\
}
#endif

/*
 * Compound device-private migration (6.19): a PMD-sized THP, or an empty
 * 2 MiB unit, migrates as one large device folio and back. It needs the
 * migrate_vma compound selection, large zone-device folios
 * (zone_device_folio_init), the folio-based free callback, and a core
 * that splits device-private folios itself (the folio_split op exists;
 * its default, used when a driver sets none, gives each new folio the
 * pgmap, which is all this module needs: contents are stored per pfn).
 *
 * It also needs CONFIG_TRANSPARENT_HUGEPAGE: without it HPAGE_PMD_ORDER
 * is a BUILD_BUG() and there are no system THPs to move to or from.
 *
 * Without it DMIRROR_PFN_COMPOUND and DMIRROR_SELECT_COMPOUND are 0, so
 * logic that tests or requests them is inert, and the large allocators
 * are never reached.
 */
#if defined(CONFIG_TRANSPARENT_HUGEPAGE) &&				\
	defined(DMIRROR_HAVE_MIGRATE_COMPOUND) &&			\
	defined(DMIRROR_HAVE_PGMAP_FOLIO_SPLIT) &&			\
	defined(DMIRROR_HAVE_ZONE_DEVICE_FOLIO_INIT) &&			\
	defined(DMIRROR_HAVE_PGMAP_FOLIO_FREE)
#define DMIRROR_PFN_COMPOUND		MIGRATE_PFN_COMPOUND
#define DMIRROR_SELECT_COMPOUND		MIGRATE_VMA_SELECT_COMPOUND

/* True when large device folios of @nr pages can be migrated. */
static inline bool dmirror_compat_large_supported(unsigned long nr)
{
	return thp_migration_supported() && HPAGE_PMD_NR == nr;
}

/* Hand out a free PMD-sized device folio: ref 1, pgmap refs, locked. */
static inline void dmirror_zone_device_large_init(struct page *page)
{
	zone_device_folio_init(page_folio(page), page_pgmap(page),
			       HPAGE_PMD_ORDER);
}

/* Whether large device folio @folio has exactly one mapping. */
static inline bool dmirror_large_mapped_once(struct folio *folio)
{
	return folio_mapcount(folio) == 1;
}

/*
 * A locked system THP for @addr of @vma (@vma NULL: any node), or NULL.
 */
static inline struct page *dmirror_alloc_sys_large(struct vm_area_struct *vma,
						   unsigned long addr)
{
	gfp_t gfp = GFP_TRANSHUGE | __GFP_NOWARN;
	struct folio *folio;

	if (vma)
		folio = vma_alloc_folio(gfp, HPAGE_PMD_ORDER, vma, addr);
	else
		folio = folio_alloc(gfp, HPAGE_PMD_ORDER);
	if (!folio)
		return NULL;
	folio_lock(folio);
	return folio_page(folio, 0);
}

/*
 * Read-lock the anon_vma of @folio (locked, anonymous) while the folio is
 * mapped, without sleeping: what the core's rmap walk does before it
 * visits a folio's mappings, in its trylock form. Holding the root's lock
 * with the folio still mapped keeps the anon_vma alive. Return: the
 * anon_vma, to give to dmirror_anon_vma_unlock(), or NULL (not mapped,
 * not anonymous, or the lock is busy).
 */
static inline struct anon_vma *dmirror_folio_anon_vma_trylock(struct folio *folio)
{
	unsigned long mapping;
	struct anon_vma *anon_vma = NULL, *root;

	rcu_read_lock();
	mapping = (unsigned long)READ_ONCE(folio->mapping);
	if ((mapping & FOLIO_MAPPING_FLAGS) != FOLIO_MAPPING_ANON ||
	    !folio_mapped(folio))
		goto out;
	anon_vma = (struct anon_vma *)(mapping - FOLIO_MAPPING_ANON);
	root = READ_ONCE(anon_vma->root);
	if (!down_read_trylock(&root->rwsem)) {
		anon_vma = NULL;
	} else if (!folio_mapped(folio)) {
		up_read(&root->rwsem);
		anon_vma = NULL;
	}
out:
	rcu_read_unlock();
	return anon_vma;
}
#else
#define DMIRROR_PFN_COMPOUND		0UL
#define DMIRROR_SELECT_COMPOUND		0

static inline bool dmirror_compat_large_supported(unsigned long nr)
{
	return false;
}

static inline void dmirror_zone_device_large_init(struct page *page)
{
	WARN_ON_ONCE(1);
}

/* No large device folios here (and folio_mapcount() is not exported). */
static inline bool dmirror_large_mapped_once(struct folio *folio)
{
	return false;
}

static inline struct page *dmirror_alloc_sys_large(struct vm_area_struct *vma,
						   unsigned long addr)
{
	return NULL;
}

/* Only large device folios are ever looked up by their mappings. */
static inline struct anon_vma *dmirror_folio_anon_vma_trylock(struct folio *folio)
{
	return NULL;
}
#endif

/* Undo a successful dmirror_folio_anon_vma_trylock(). */
static inline void dmirror_anon_vma_unlock(struct anon_vma *anon_vma)
{
	up_read(&anon_vma->root->rwsem);
}

/*
 * The page hmm_range_fault() reports for the address @addr of its range.
 * A PMD-sized mapping is reported with its order; its folio is then mapped
 * naturally aligned, so the subpage follows from the address. This is
 * computed rather than trusted because 7.x's walk of a device-private PMD
 * starts every walk at the folio's first page, also when the range begins
 * inside the PMD.
 */
static inline struct page *dmirror_hmm_pfn_page(unsigned long hmm_pfn,
						unsigned long addr)
{
	struct page *page = hmm_pfn_to_page(hmm_pfn);
	unsigned int order = hmm_pfn_to_map_order(hmm_pfn);
	struct folio *folio;

	if (!order)
		return page;
	folio = page_folio(page);
	if (folio_order(folio) != order)
		return page;
	return folio_page(folio, (addr >> PAGE_SHIFT) & (folio_nr_pages(folio) - 1));
}

/*
 * Fill the first @nr slots of @pages (NULL on entry) with base pages from
 * the local node in one call; return how many were allocated (from the
 * start). The bulk allocator is alloc_pages_bulk() since 6.14,
 * alloc_pages_bulk_array() before.
 */
static inline unsigned long dmirror_alloc_pages_bulk(gfp_t gfp,
						     unsigned long nr,
						     struct page **pages)
{
#ifdef alloc_pages_bulk
	return alloc_pages_bulk(gfp, nr, pages);
#else
	return alloc_pages_bulk_array(gfp, nr, pages);
#endif
}

/*
 * Erase the entries [@first, @last] of @xa at once, without allocating:
 * a range store of NULL where the kernel has multi-index entries
 * (CONFIG_XARRAY_MULTI, which THP selects), else one by one.
 */
static inline void dmirror_xa_erase_range(struct xarray *xa,
					  unsigned long first,
					  unsigned long last)
{
#ifdef CONFIG_XARRAY_MULTI
	xa_store_range(xa, first, last, NULL, GFP_NOWAIT);
#else
	unsigned long index;
	void *entry;

	xa_for_each_range(xa, index, entry, first, last)
		xa_erase(xa, index);
#endif
}

/*
 * Whether making one page of a large folio device-exclusive converts the
 * whole folio: before 6.15 the range variant converts every mapping of a
 * PTE-mapped large folio from its first page and refuses its other
 * pages; make_device_exclusive() converts one PTE of any folio.
 */
static inline bool dmirror_exclusive_whole_folio(void)
{
#ifdef DMIRROR_HAVE_MAKE_DEVICE_EXCLUSIVE
	return false;
#else
	return true;
#endif
}

/*
 * Make the page mapped at @addr device-exclusive for @owner. Return it
 * locked and referenced, or an ERR_PTR(). Where the whole folio is
 * converted (above), @addr must map its first page. Context: mmap_lock
 * held (read).
 */
static inline struct page *dmirror_make_device_exclusive(struct mm_struct *mm,
							 unsigned long addr,
							 void *owner)
{
#ifdef DMIRROR_HAVE_MAKE_DEVICE_EXCLUSIVE
	struct folio *folio;

	return make_device_exclusive(mm, addr, owner, &folio);
#else
	struct page *page = NULL;
	int ret;

	ret = make_device_exclusive_range(mm, addr, addr + PAGE_SIZE, &page,
					  owner);
	if (ret < 0)
		return ERR_PTR(ret);
	if (ret != 1 || !page)
		return ERR_PTR(-EBUSY);
	return page;
#endif
}

/*
 * Set @flags on @vma from f_op->mmap (mmap_lock held for writing):
 * vm_flags_set() since 6.3, a plain field before.
 */
static inline void dmirror_vm_flags_set(struct vm_area_struct *vma,
					vm_flags_t flags)
{
#ifdef DMIRROR_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

/*
 * fault_create_debugfs_attr() keeps a reference on the directory it makes,
 * in attr->dname, on kernels before the one that stores the name there
 * instead; nothing drops it, so a module that removes its directories
 * drops it itself (else each load leaks their dentries and inodes). A
 * macro: struct fault_attr has no members without CONFIG_FAULT_INJECTION.
 */
#ifdef DMIRROR_HAVE_FAULT_ATTR_DNAME_STR
#define dmirror_fault_attr_forget(attr)	((void)(attr))
#else
#define dmirror_fault_attr_forget(attr)	dput((attr)->dname)
#endif

#endif /* _HMM_DMIRROR_COMPAT_H */
