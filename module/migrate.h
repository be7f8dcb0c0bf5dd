/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmm_dmirror migration internals, shared by migrate.c, migrate_dev.c,
 * migrate_sys.c and cpufault.c (DOC: migration in migrate.c).
 */
#ifndef _HMM_DMIRROR_MIGRATE_H
#define _HMM_DMIRROR_MIGRATE_H

#include <linux/migrate.h>
#include <linux/mm.h>

#include "dmirror.h"

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

/* What allocating destinations for a window left undone (flags). */
#define DMIRROR_ALLOC_SHORT	BIT(0)	/* a base page could not be had */
#define DMIRROR_ALLOC_SPLIT	BIT(1)	/* a large source needs a split */

/* Whether migrations of @mdev ask the core for compound units. */
static inline unsigned long
dmirror_migrate_compound(struct dmirror_device *mdev)
{
	if (mdev->mtype == HMM_DMIRROR_MEMORY_DEVICE_PRIVATE &&
	    dmirror_devmem_large_enabled())
		return DMIRROR_SELECT_COMPOUND;
	return 0;
}

/* Which device pages a migration back to system memory selects. */
static inline unsigned long
dmirror_migrate_select(struct dmirror_device *mdev)
{
	if (mdev->mtype == HMM_DMIRROR_MEMORY_DEVICE_COHERENT)
		return MIGRATE_VMA_SELECT_DEVICE_COHERENT;
	return MIGRATE_VMA_SELECT_DEVICE_PRIVATE |
	       dmirror_migrate_compound(mdev);
}

/*
 * The pages of the peer device a migration to @mdev selects besides system
 * memory: none without a peer group (DOC: peer groups in peer.c).
 */
static inline unsigned long
dmirror_migrate_select_peer(struct dmirror_device *mdev)
{
	if (mdev->owner == mdev)
		return 0;
	if (mdev->mtype == HMM_DMIRROR_MEMORY_DEVICE_COHERENT)
		return MIGRATE_VMA_SELECT_DEVICE_COHERENT;
	return MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
}

/* Pages a migrated entry covers, given its destination pfn. */
static inline unsigned long dmirror_migrate_span(unsigned long dst)
{
	return (dst & DMIRROR_PFN_COMPOUND) ? DMIRROR_BLOCK_PAGES : 1;
}

/* Consume @dm's one-shot FAIL_ALLOC flag. Return: whether it was set. */
static inline bool dmirror_migrate_fail_alloc(struct dmirror *dm)
{
	u64 old = READ_ONCE(dm->flags);

	while (old & HMM_DMIRROR_FLAG_FAIL_ALLOC)
		if (try_cmpxchg(&dm->flags, &old,
				old & ~HMM_DMIRROR_FLAG_FAIL_ALLOC))
			return true;
	return false;
}

/* End of the migration window that starts at @addr, within [.., @end). */
static inline unsigned long
dmirror_migrate_window_end(unsigned long addr, unsigned long end,
			   struct vm_area_struct *vma)
{
	return min3(end, vma->vm_end, ALIGN_DOWN(addr, PMD_SIZE) + PMD_SIZE);
}

/* Pages the source entry @src of a migration window stands for. */
static inline unsigned long dmirror_migrate_src_span(unsigned long src)
{
	return (src & DMIRROR_PFN_COMPOUND) ? DMIRROR_BLOCK_PAGES : 1;
}

/*
 * Whether a window is to be set up again without compound units: a large
 * source stayed for want of a large destination (@st, DMIRROR_ALLOC_*
 * flags) in a window that selected compound units (@flags).
 */
static inline bool dmirror_migrate_again(unsigned int st, unsigned long flags)
{
	return (st & DMIRROR_ALLOC_SPLIT) && (flags & DMIRROR_SELECT_COMPOUND);
}

/*
 * The VMA holding @addr, if migration may start there: -EINVAL for a hole
 * or a VMA without read access. Context: mmap_lock held.
 */
static inline struct vm_area_struct *
dmirror_migrate_vma(struct mm_struct *mm, unsigned long addr)
{
	struct vm_area_struct *vma = vma_lookup(mm, addr);

	if (!vma || !(vma->vm_flags & VM_READ))
		return ERR_PTR(-EINVAL);
	return vma;
}

/* migrate.c */
void dmirror_migrate_forget(struct dmirror_device *mdev, struct mm_struct *mm,
			    struct migrate_vma *args);
unsigned long dmirror_migrate_count(struct migrate_vma *args);
unsigned long dmirror_migrate_keep(struct dmirror_device *mdev,
				   struct migrate_vma *args, bool own);
unsigned long dmirror_migrate_count_peer(struct dmirror_device *mdev,
					 struct migrate_vma *args);

/* migrate_sys.c */
struct page *dmirror_migrate_sys_thp(struct dmirror *dm,
				     struct vm_area_struct *vma,
				     unsigned long addr, struct page **thp);
void dmirror_migrate_peer_home(struct dmirror_device *peer,
			       struct mm_struct *mm,
			       struct dmirror_migrate_buf *b,
			       unsigned long start, unsigned long end);
unsigned int dmirror_migrate_alloc_sys(struct dmirror *dm,
				       struct migrate_vma *args,
				       struct dmirror_migrate_buf *b,
				       bool base_ok, struct page **thp);

#endif /* _HMM_DMIRROR_MIGRATE_H */
