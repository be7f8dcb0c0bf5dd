// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror device memory chunks: ZONE_DEVICE pagemaps, their storage,
 * the module parameters that size them, and the pgmap callbacks.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dmirror.h"
#include "inject.h"

/**
 * DOC: device memory chunks
 *
 * The chunks of a device (DOC: device memory in devmem.c): their pgmap,
 * physical range and storage, created on demand (dmirror_devmem_grow())
 * under mem->chunk_lock, destroyed by RELEASE and unload once every page
 * is free. A device page is freed by the core through the pgmap free
 * callback here, which gives it back to its chunk's bitmap under
 * mem->lock (irq-safe: the last reference can go anywhere).
 *
 * Device memory is the lowest layer above the leaves (DOC: layers in
 * dmirror.h): it calls nothing above it. The one thing it needs from
 * above, moving a page home when the CPU touches it, is the pgmap's
 * migrate_to_ram, which the core calls, not this file: the pgmap points
 * at our trampoline, which calls mem->ops->migrate_to_ram, the table the
 * device's creator (chardev.c) passes to dmirror_devmem_init(). That is
 * sound because the pointer is set before the first chunk (so the first
 * device page) exists and never changes, and the table is constant data
 * of this module, which outlives every page (unload empties the chunks).
 * The trampoline takes no lock: the callee runs with what the core holds
 * for a fault (mmap_lock or the VMA lock, a reference on the page, on 7.3
 * its lock), as it always did. No path of this file waits for the callee:
 * eviction moves pages home itself
 * (migrate_device_range(), dmirror_copy_device_to_page()).
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

	if (dmirror_inject(DMIRROR_INJ_CHUNK_ADD))
		return ERR_PTR(-ENOMEM);
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
	chunk->pgmap.owner = mdev->owner;

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

/**
 * dmirror_chunk_destroy() - undo what adding @chunk did
 * @chunk: a chunk taken out of its device's slots, every page free
 *
 * Context: process context, may sleep; mem->chunk_lock held.
 */
void dmirror_chunk_destroy(struct dmirror_chunk *chunk)
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

/**
 * dmirror_devmem_grow() - add a chunk to @mdev's memory
 * @mdev: the device
 *
 * Context: process context, may sleep; takes mem->chunk_lock.
 * Return: 0, -ENOSPC when the capacity is reached, or another errno.
 */
int dmirror_devmem_grow(struct dmirror_device *mdev)
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
