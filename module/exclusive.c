// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror device-exclusive access (for device atomics): EXCLUSIVE and
 * CHECK_EXCLUSIVE.
 */
#include <linux/mm.h>
#include <linux/pagemap.h>

#include "dmirror.h"

/**
 * DOC: device-exclusive access
 *
 * EXCLUSIVE replaces each page's CPU mapping with a device-exclusive entry
 * (make_device_exclusive(), or the range variant before 6.15, through
 * compat.h), which the core turns back into the normal mapping on the
 * next CPU access, after an invalidation. While the core hands us the
 * page locked, nobody can restore the CPU mapping, so the atomic entry is
 * entered in the device page table then, under the mirror lock; only after
 * that is the page unlocked. Any later invalidation of the page (the CPU
 * restoring its mapping, fork, mprotect, someone else's exclusive access)
 * removes the entry like any other, and with it the atomic access.
 *
 * Only private, non-hugetlb memory can be made exclusive: shared memory
 * and hugetlb are refused (-EOPNOTSUPP) before anything is converted, on
 * every kernel; memory the device could not write (no VMA, PROT_NONE,
 * read-only) is -EFAULT.
 */

static int dmirror_exclusive_check_vmas(struct mm_struct *mm,
					unsigned long start, unsigned long end)
{
	struct vm_area_struct *vma;
	unsigned long addr;

	for (addr = start; addr < end; addr = vma->vm_end) {
		vma = vma_lookup(mm, addr);
		if (!vma || !(vma->vm_flags & VM_READ) ||
		    !(vma->vm_flags & VM_WRITE) ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP)))
			return -EFAULT;
		if ((vma->vm_flags & VM_SHARED) || is_vm_hugetlb_page(vma))
			return -EOPNOTSUPP;
	}
	return 0;
}

/**
 * dmirror_exclusive() - HMM_DMIRROR_EXCLUSIVE
 * @dm:  the mirror
 * @cmd: validated command; cpages = npages on success
 *
 * Pages made exclusive before an error stay exclusive.
 *
 * Context: process context in @dm->mm.
 * Return: 0 or a negative errno (-ENOENT if the CPU took a page back
 * before the data was read).
 */
int dmirror_exclusive(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long addr;
	int ret;

	mmap_read_lock(dm->mm);
	ret = dmirror_exclusive_check_vmas(dm->mm, start, end);
	for (addr = start; addr < end && !ret; addr += PAGE_SIZE) {
		struct page *page;

		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		page = dmirror_make_device_exclusive(dm->mm, addr, dm->mdev);
		if (IS_ERR(page)) {
			ret = PTR_ERR(page);
			dev_dbg(&dm->mdev->dev, "exclusive access at %#lx: %d\n",
				addr, ret);
			break;
		}
		ret = dmirror_mirror_store(dm, addr, page, DMIRROR_PT_ATOMIC);
		unlock_page(page);
		put_page(page);
	}
	mmap_read_unlock(dm->mm);
	if (ret)
		return ret;
	return dmirror_mirror_copy_out(dm, cmd);
}

/**
 * dmirror_check_exclusive() - HMM_DMIRROR_CHECK_EXCLUSIVE
 * @dm:  the mirror
 * @cmd: validated command
 *
 * Looks only at the device page table.
 *
 * Return: -EPERM while a page of the range still has atomic access, else 0.
 */
int dmirror_check_exclusive(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	unsigned long first = cmd->addr >> PAGE_SHIFT;
	unsigned long last = first + cmd->npages - 1;
	unsigned long index;
	void *entry;
	int ret = 0;

	mutex_lock(&dm->lock);
	xa_for_each_range(&dm->pt, index, entry, first, last) {
		if (xa_pointer_tag(entry) == DMIRROR_PT_ATOMIC) {
			ret = -EPERM;
			break;
		}
	}
	mutex_unlock(&dm->lock);
	return ret;
}
