// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror mmap() of the device file: zeroed system pages, all mapped
 * when mmap() returns.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>

#include "dmirror.h"

/**
 * DOC: mmap of the device file
 *
 * Programs written for the kernel's HMM test device map the device file to
 * get memory that is neither anonymous nor a page-cache page: a normal
 * struct page mapped by a VM_MIXEDMAP VMA. dmirror_mmap() fills every page
 * of the new VMA before mmap() returns, so a SNAPSHOT sees the pages
 * without faulting. The file offset is ignored; the pages have no link to
 * the mirror, the device or its memory.
 *
 * Protection is the VMA's: a MAP_PRIVATE mapping gets read-only PTEs even
 * with PROT_WRITE, and a CPU (or device) write copies the page into an
 * anonymous one; a MAP_SHARED writable mapping gets writable PTEs. The VMA
 * is VM_DONTEXPAND: mremap() cannot grow it, so no page of it is ever
 * left unpopulated by us (a page zapped later, by MADV_DONTNEED, is not
 * refilled: touching it raises SIGBUS, as the VMA has no fault handler).
 *
 * Page lifetime: each page is allocated zeroed with one reference, charged
 * to the caller's memory cgroup (GFP_KERNEL_ACCOUNT). vm_insert_page()
 * takes a reference of its own for the PTE; the allocation's reference is
 * dropped right after, so the page tables hold the only references and
 * the page is freed when its last mapping goes (munmap, exit, or copy on
 * write replacing it in every process that mapped it).
 *
 * Bounds: one mapping may have at most mmap_max_mib MiB (module
 * parameter); a larger one fails with -ENOMEM before anything is
 * allocated. Filling checks for a fatal signal (-EINTR) and reschedules
 * every page.
 *
 * Errors: on any error the core unmaps the VMA (unmap_region()), which
 * drops the references of the pages inserted so far; the page whose
 * insertion failed is freed here.
 *
 * Locking: called by the core with the caller's mmap_lock held for
 * writing; takes no lock of this module.
 *
 * The VMA holds a reference on the file, so the file's release (eviction
 * of its mm's device pages, the end of its mirror) runs when the last
 * mapping goes as well as the last descriptor, from the core's deferred
 * fput(), never under mmap_lock.
 */

/* Largest value mmap_max_mib accepts (16 GiB). */
#define DMIRROR_MMAP_MAX_MIB_LIMIT	16384U

static unsigned int mmap_max_mib = 64;

static int dmirror_mmap_max_mib_set(const char *val,
				    const struct kernel_param *kp)
{
	unsigned int mib;
	int ret;

	ret = kstrtouint(val, 0, &mib);
	if (ret)
		return ret;
	if (!mib || mib > DMIRROR_MMAP_MAX_MIB_LIMIT) {
		pr_err("mmap_max_mib=%u must be 1..%u\n", mib,
		       DMIRROR_MMAP_MAX_MIB_LIMIT);
		return -EINVAL;
	}
	*(unsigned int *)kp->arg = mib;
	return 0;
}

static const struct kernel_param_ops dmirror_mmap_max_mib_ops = {
	.set	= dmirror_mmap_max_mib_set,
	.get	= param_get_uint,
};

module_param_cb(mmap_max_mib, &dmirror_mmap_max_mib_ops, &mmap_max_mib, 0444);
MODULE_PARM_DESC(mmap_max_mib,
		 "Largest mmap() of a device file in MiB (default 64, at most 16384); larger ones fail with ENOMEM");

/**
 * dmirror_mmap() - f_op->mmap of /dev/hmm_dmirrorN
 * @filp: the device file (unused: the pages do not belong to the mirror)
 * @vma:  the new VMA
 *
 * Maps a freshly zeroed system page at every page of @vma (see the DOC
 * block above).
 *
 * Context: process context, mmap_lock held for writing.
 * Return: 0; -ENOMEM if @vma is larger than mmap_max_mib or a page cannot
 * be allocated; -EINTR on a fatal signal; or vm_insert_page()'s error.
 */
int dmirror_mmap(struct file *filp, struct vm_area_struct *vma)
{
	unsigned long max_pages = (unsigned long)mmap_max_mib <<
				  (20 - PAGE_SHIFT);
	unsigned long addr;
	int ret;

	if (vma_pages(vma) > max_pages)
		return -ENOMEM;
	dmirror_vm_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND);
	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
		struct page *page;

		if (fatal_signal_pending(current))
			return -EINTR;
		page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!page)
			return -ENOMEM;
		ret = vm_insert_page(vma, addr, page);
		/* The PTE holds its own reference; drop the allocation's. */
		put_page(page);
		if (ret)
			return ret;
		cond_resched();
	}
	return 0;
}
