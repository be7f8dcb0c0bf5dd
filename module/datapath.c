// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror data path: READ, WRITE and the read-back of MIGRATE_TO_DEV
 * and EXCLUSIVE, between the pages the device maps and the user buffer.
 */
#include <linux/highmem.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/page-flags.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "dmirror.h"
#include "inject.h"
#include "dmirror_busy.h"
#include "dmirror_trace.h"

/**
 * DOC: data path
 *
 * READ, WRITE and the read-back of MIGRATE_TO_DEV and EXCLUSIVE move data
 * straight between the pages the device maps and the user buffer, a batch
 * (one window) at a time: the user pages of the batch are pinned with
 * pin_user_pages_fast(), which may fault them in, and mapped contiguously
 * with vmap() before the mirror lock is taken; the copy runs under the
 * lock; the pages are unmapped and unpinned (and marked dirty) after the
 * lock is dropped. (Under QEMU TCG, stores through such a mapping cost a
 * third of stores through the linear map.) No
 * user access (copy_to_user() and friends) happens under the mirror lock:
 * a fault on the user buffer can run the invalidate callback, which takes
 * that lock.
 *
 * When the user buffer overlaps the range itself, pinning it could change
 * the very entries being read (a write pin breaks COW or brings a migrated
 * page back to system memory), so such a request keeps the plain order
 * instead: the data of a batch goes through a bounce buffer of
 * DMIRROR_BATCH_PAGES pages, read (or written) under the lock, copied to
 * (or from) the user outside it.
 */

/**
 * struct dmirror_xfer - working memory of one ioctl that moves data
 * @pfns:   hmm_range_fault() output for one window
 * @upages: the user buffer pages behind one batch, pinned while it is
 *          copied (a batch of data that starts inside a page spans one
 *          page more)
 * @buf:    bounce buffer of DMIRROR_BATCH_PAGES pages, only when the user
 *          buffer overlaps the range (DOC: data path), else NULL
 * @uptr:   the user buffer
 * @start:  the address its first byte belongs to
 * @peer:   pages of a peer device's memory copied so far (DOC: peer groups
 *          in peer.c)
 *
 * Its size is fixed: no kernel buffer grows with the request.
 */
struct dmirror_xfer {
	unsigned long pfns[DMIRROR_WINDOW_PAGES];
	struct page *upages[DMIRROR_WINDOW_PAGES + 1];
	u8 *buf;
	u8 __user *uptr;
	unsigned long start;
	unsigned long peer;
};

/*
 * Refuse a range the device cannot access before touching anything, so a
 * failed READ leaves the user buffer and a failed WRITE the memory as they
 * were: a hole or a VMA without read access (or without struct pages) is
 * -EFAULT, a VMA without write access for a write -EPERM.
 */
static int dmirror_check_vmas(struct dmirror *dm, unsigned long start,
			      unsigned long end, bool write)
{
	struct vm_area_struct *vma;
	unsigned long addr;
	int ret = 0;

	mmap_read_lock(dm->mm);
	for (addr = start; addr < end; addr = vma->vm_end) {
		ret = dmirror_loop_check();
		if (ret)
			break;
		vma = find_vma(dm->mm, addr);
		if (!vma || vma->vm_start > addr ||
		    !(vma->vm_flags & VM_READ) ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP))) {
			ret = -EFAULT;
			break;
		}
		if (write && !(vma->vm_flags & VM_WRITE)) {
			ret = -EPERM;
			break;
		}
	}
	mmap_read_unlock(dm->mm);
	return ret;
}

/*
 * The device reads or writes a page it maps. Private pages of this device
 * hold their data in device storage; everything else the CPU can address.
 */
static void dmirror_copy_from_page(struct page *page, void *dst)
{
	void *src;

	if (is_device_private_page(page)) {
		dmirror_copy_data(dst, dmirror_devmem_page_data(page));
		return;
	}
	src = kmap_local_page(page);
	dmirror_copy_data(dst, src);
	kunmap_local(src);
}

static void dmirror_copy_to_page(struct page *page, const void *src)
{
	struct folio *folio = page_folio(page);
	void *dst;

	if (is_device_private_page(page)) {
		dmirror_copy_data(dmirror_devmem_page_data(page), src);
		return;
	}
	dst = kmap_local_page(page);

	dmirror_copy_data(dst, src);
	kunmap_local(dst);
	/* Anonymous and shmem folios need no lock to be marked dirty. */
	if (folio_test_swapbacked(folio))
		folio_mark_dirty(folio);
}

/*
 * Copy the mirrored pages of [addr, end) into @buf, up to the first miss.
 * Return: the address of the first page not copied.
 */
static unsigned long dmirror_read_mirrored(struct dmirror *dm,
					   struct dmirror_xfer *x, u8 *buf,
					   unsigned long addr,
					   unsigned long end)
{
	mutex_lock(&dm->lock);
	for (; addr < end; addr += PAGE_SIZE, buf += PAGE_SIZE) {
		void *entry = xa_load(&dm->pt, addr >> PAGE_SHIFT);

		if (!entry)
			break;
		x->peer += dmirror_page_is_peer(dm->mdev, dmirror_pt_page(entry));
		dmirror_copy_from_page(dmirror_pt_page(entry), buf);
	}
	mutex_unlock(&dm->lock);
	return addr;
}

/*
 * A write fault found a page of this device's private memory (or of its
 * peer's, DOC: peer groups in peer.c) that the CPU
 * maps read-only (after fork, or mprotect): hmm_range_fault() reports such
 * a page as it is, without write access. Let the CPU fault path take it
 * back to system memory (dmirror_migrate_to_ram()), after which the next
 * device fault can break COW like any write fault.
 * Return: 0 when the caller may fault again, or the CPU fault's error.
 */
static int dmirror_write_unshare(struct dmirror *dm, unsigned long addr)
{
	bool own_ro = false;
	void *entry;
	int ret;

	/*
	 * Anything else (no entry, or a read-only one a racing READ stored
	 * after fork) a new write fault resolves.
	 */
	mutex_lock(&dm->lock);
	entry = xa_load(&dm->pt, addr >> PAGE_SHIFT);
	if (entry && dmirror_pt_access(entry) == DMIRROR_PT_READ) {
		struct page *page = dmirror_pt_page(entry);

		/* In a peer group, the peer's page too. */
		own_ro = is_device_private_page(page) &&
			 dmirror_page_owner(page) == dm->mdev->owner;
	}
	mutex_unlock(&dm->lock);
	if (!own_ro)
		return 0;

	dev_dbg(&dm->mdev->dev, "write to read-only device page at %#lx\n",
		addr);
	mmap_read_lock(dm->mm);
	ret = fixup_user_fault(dm->mm, addr, FAULT_FLAG_WRITE, NULL);
	mmap_read_unlock(dm->mm);
	return ret;
}

/* Write @buf to the pages of [addr, end) mapped writable, up to a miss. */
static unsigned long dmirror_write_mirrored(struct dmirror *dm,
					    struct dmirror_xfer *x,
					    const u8 *buf, unsigned long addr,
					    unsigned long end)
{
	mutex_lock(&dm->lock);
	for (; addr < end; addr += PAGE_SIZE, buf += PAGE_SIZE) {
		void *entry = xa_load(&dm->pt, addr >> PAGE_SHIFT);

		if (!entry || dmirror_pt_access(entry) == DMIRROR_PT_READ)
			break;
		x->peer += dmirror_page_is_peer(dm->mdev, dmirror_pt_page(entry));
		dmirror_copy_to_page(dmirror_pt_page(entry), buf);
	}
	mutex_unlock(&dm->lock);
	return addr;
}

/*
 * Does the user buffer of @cmd (its data: npages pages from ptr) overlap
 * the range the command works on?
 */
static bool dmirror_user_overlaps(const struct hmm_dmirror_cmd *cmd)
{
	unsigned long len = cmd->npages << PAGE_SHIFT;
	unsigned long start = cmd->addr, end = start + len;

	if (cmd->ptr > ULONG_MAX - len)
		return true;	/* pin_user_pages_fast() refuses it anyway */
	return (cmd->ptr & PAGE_MASK) < end && start < cmd->ptr + len;
}

static struct dmirror_xfer *dmirror_xfer_alloc(const struct hmm_dmirror_cmd *cmd)
{
	struct dmirror_xfer *x = kvmalloc_obj(*x, GFP_KERNEL);

	if (!x)
		return NULL;
	x->buf = NULL;
	x->peer = 0;
	x->uptr = u64_to_user_ptr(cmd->ptr);
	x->start = cmd->addr;
	if (dmirror_user_overlaps(cmd)) {
		x->buf = kvmalloc(DMIRROR_BATCH_PAGES * PAGE_SIZE, GFP_KERNEL);
		if (!x->buf) {
			kvfree(x);
			return NULL;
		}
	}
	return x;
}

static void dmirror_xfer_free(struct dmirror_xfer *x)
{
	kvfree(x->buf);
	kvfree(x);
}

/* Pages of data a batch moves at most. */
static unsigned long dmirror_xfer_batch_bytes(const struct dmirror_xfer *x)
{
	return (x->buf ? DMIRROR_BATCH_PAGES : DMIRROR_WINDOW_PAGES) << PAGE_SHIFT;
}

/*
 * The device reads (@to_user) or writes the page @page it maps, from or to
 * @u, the kernel mapping of its place in the user buffer. Private pages of
 * this device hold their data in device storage; everything else the CPU
 * can address. Context: mirror lock held.
 */
static void dmirror_user_page(struct page *page, u8 *u, bool to_user)
{
	struct folio *folio;
	u8 *data;

	if (is_device_private_page(page)) {
		data = dmirror_devmem_page_data(page);
		if (to_user)
			dmirror_copy_data(u, data);
		else
			dmirror_copy_data(data, u);
		return;
	}
	data = kmap_local_page(page);
	if (to_user)
		dmirror_copy_data(u, data);
	else
		dmirror_copy_data(data, u);
	kunmap_local(data);
	folio = page_folio(page);
	/* Anonymous and shmem folios need no lock to be marked dirty. */
	if (!to_user && folio_test_swapbacked(folio))
		folio_mark_dirty(folio);
}

/*
 * Move the data of the pages of [addr, end) (at most DMIRROR_WINDOW_PAGES)
 * straight between the pages the device maps and the user buffer, up to
 * the first page the device does not map (@to_user) or does not map
 * writable. The user pages are pinned (and faulted in if need be) and
 * mapped contiguously in the kernel (vmap(), so a page of data that
 * straddles two user pages is one copy) before the mirror lock is taken,
 * and unmapped and unpinned after it is dropped.
 * Return: 0 with *@next the first address not done, -EFAULT when the user
 * buffer cannot take (or give) the data, or -ENOMEM.
 */
static int dmirror_xfer_pinned(struct dmirror *dm, struct dmirror_xfer *x,
			       unsigned long addr, unsigned long end,
			       bool to_user, unsigned long *next)
{
	unsigned long uaddr = (unsigned long)x->uptr + (addr - x->start);
	unsigned int off = offset_in_page(uaddr);
	unsigned long n = (end - addr) >> PAGE_SHIFT, i, done;
	int nr = n + (off ? 1 : 0), pinned;
	int ret = 0;
	u8 *ubuf;

	if (dmirror_inject(DMIRROR_INJ_PIN))
		return -ENOMEM;
	pinned = pin_user_pages_fast(uaddr & PAGE_MASK, nr,
				     to_user ? FOLL_WRITE : 0, x->upages);
	if (pinned <= 0)
		return pinned ? pinned : -EFAULT;
	if (pinned < nr) {
		/* Only the data the pinned pages can hold, then -EFAULT. */
		n = pinned - (off ? 1 : 0);
		ret = -EFAULT;
	}
	/* fail_pin asks twice: the pin above, this mapping (interval 2). */
	ubuf = n && !dmirror_inject(DMIRROR_INJ_PIN) ?
	       vmap(x->upages, pinned, VM_MAP, PAGE_KERNEL) : NULL;
	if (!ubuf) {
		unpin_user_pages(x->upages, pinned);
		return n ? -ENOMEM : ret;
	}
	if (!to_user)
		invalidate_kernel_vmap_range(ubuf, pinned << PAGE_SHIFT);

	mutex_lock(&dm->lock);
	for (i = 0; i < n; i++) {
		void *entry = xa_load(&dm->pt, (addr >> PAGE_SHIFT) + i);

		if (!entry ||
		    (!to_user && dmirror_pt_access(entry) == DMIRROR_PT_READ))
			break;
		x->peer += dmirror_page_is_peer(dm->mdev, dmirror_pt_page(entry));
		dmirror_user_page(dmirror_pt_page(entry),
				  ubuf + off + (i << PAGE_SHIFT), to_user);
	}
	mutex_unlock(&dm->lock);

	if (to_user)
		flush_kernel_vmap_range(ubuf, pinned << PAGE_SHIFT);
	vunmap(ubuf);
	/* The user pages written to: those of the i pages of data. */
	done = (to_user && i) ? i + (off ? 1 : 0) : 0;
	unpin_user_pages_dirty_lock(x->upages, done, true);
	unpin_user_pages(x->upages + done, pinned - done);
	if (i < n)
		ret = 0;	/* the device misses a page first */
	*next = addr + (i << PAGE_SHIFT);
	return ret;
}

/* Count and trace the pages of a peer's memory a READ or WRITE copied. */
static void dmirror_xfer_peer_done(struct dmirror *dm,
				   const struct dmirror_xfer *x,
				   const struct hmm_dmirror_cmd *cmd, bool write)
{
	if (!x->peer)
		return;
	dmirror_stat_add(dm, write ? DMIRROR_STAT_PEER_WRITTEN :
				     DMIRROR_STAT_PEER_READ, x->peer);
	trace_dmirror_peer_access(dm->mdev->id, cmd->addr,
				  cmd->addr + (cmd->npages << PAGE_SHIFT), write,
				  x->peer);
}

/*
 * The device's view of the pages of one batch of [addr, end), to the user
 * buffer, up to the first page the device does not map.
 * Return: 0 with *@next the first address not copied, or -EFAULT.
 */
static int dmirror_xfer_to_user(struct dmirror *dm, struct dmirror_xfer *x,
				unsigned long addr, unsigned long end,
				unsigned long *next)
{
	end = min(end, addr + dmirror_xfer_batch_bytes(x));
	if (!x->buf)
		return dmirror_xfer_pinned(dm, x, addr, end, true, next);
	/* Overlapping buffer: read the device's view first, then copy. */
	*next = dmirror_read_mirrored(dm, x, x->buf, addr, end);
	if (*next > addr && copy_to_user(x->uptr + (addr - x->start), x->buf,
					 *next - addr))
		return -EFAULT;
	return 0;
}

/*
 * READ and READ_UNLOCKED: batch by batch, copy what the device maps, fault
 * the rest of the range on a miss, and hand each batch to the user buffer.
 * @unlocked: faults may drop the mmap lock and wait.
 */
static int dmirror_read_common(struct dmirror *dm, struct hmm_dmirror_cmd *cmd,
			       bool unlocked)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long addr = start, next;
	struct dmirror_xfer *x;
	int ret;

	ret = dmirror_check_vmas(dm, start, end, false);
	if (ret)
		return ret;
	x = dmirror_xfer_alloc(cmd);
	if (!x)
		return -ENOMEM;

	while (addr < end) {
		ret = dmirror_loop_check();
		if (ret)
			break;
		ret = dmirror_xfer_to_user(dm, x, addr, end, &next);
		if (ret)
			break;
		cmd->cpages += (next - addr) >> PAGE_SHIFT;
		if (next > addr) {
			addr = next;
			continue;
		}
		ret = dmirror_devfault(dm, x->pfns, addr, end, false, unlocked);
		if (ret)
			break;
		/* A request makes one fault pass: see DOC: fault passes. */
		cmd->faults = 1;
	}
	dmirror_xfer_peer_done(dm, x, cmd, false);
	dmirror_xfer_free(x);
	return ret;
}

/**
 * dmirror_mirror_read() - HMM_DMIRROR_READ
 * @dm:  the mirror
 * @cmd: validated command; cpages and faults are filled in
 *
 * Context: process context in @dm->mm.
 * Return: 0 or a negative errno (uapi/hmm_dmirror.h).
 */
int dmirror_mirror_read(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	return dmirror_read_common(dm, cmd, false);
}

/**
 * dmirror_mirror_read_unlocked() - HMM_DMIRROR_READ_UNLOCKED
 * @dm:  the mirror
 * @cmd: validated command; cpages and faults are filled in
 *
 * Like READ, but a fault may drop the mmap lock and wait (userfaultfd
 * memory served by another thread); no -EBUSY deadline.
 *
 * Context: process context in @dm->mm.
 * Return: 0 or a negative errno; -EINTR on a fatal signal.
 */
int dmirror_mirror_read_unlocked(struct dmirror *dm,
				 struct hmm_dmirror_cmd *cmd)
{
	return dmirror_read_common(dm, cmd, true);
}

/**
 * dmirror_mirror_write() - HMM_DMIRROR_WRITE
 * @dm:  the mirror
 * @cmd: validated command; cpages and faults are filled in
 *
 * Batch by batch: take the data from the user buffer, write it through the
 * device's writable entries, fault the rest of the range for writing on a
 * miss. Pages written before an error stay written.
 *
 * Context: process context in @dm->mm.
 * Return: 0 or a negative errno (uapi/hmm_dmirror.h).
 */
int dmirror_mirror_write(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long addr = start;
	struct dmirror_busy stuck;
	struct dmirror_xfer *x;
	bool faulted = false;
	int ret;

	ret = dmirror_check_vmas(dm, start, end, true);
	if (ret)
		return ret;
	x = dmirror_xfer_alloc(cmd);
	if (!x)
		return -ENOMEM;

	dmirror_busy_start(&stuck);
	while (addr < end) {
		unsigned long bstart = addr;
		unsigned long bend = min(end, addr + dmirror_xfer_batch_bytes(x));

		ret = dmirror_loop_check();
		if (ret)
			break;
		/* Overlapping buffer: take the whole batch first. */
		if (x->buf && copy_from_user(x->buf, x->uptr + (addr - start),
					     bend - addr)) {
			ret = -EFAULT;
			break;
		}
		while (addr < bend) {
			unsigned long next;

			if (x->buf)
				next = dmirror_write_mirrored(dm, x, x->buf +
							      (addr - bstart),
							      addr, bend);
			else
				ret = dmirror_xfer_pinned(dm, x, addr, bend,
							  false, &next);
			if (ret)
				goto out;
			cmd->cpages += (next - addr) >> PAGE_SHIFT;
			if (next > addr)
				dmirror_busy_start(&stuck);
			else if (dmirror_busy_expired(&stuck))
				ret = -EBUSY;
			else if (faulted)
				ret = dmirror_write_unshare(dm, addr);
			if (ret)
				goto out;
			addr = next;
			if (addr == bend)
				break;
			ret = dmirror_devfault(dm, x->pfns, addr, end, true,
					       false);
			if (ret)
				goto out;
			/* One fault pass per request (DOC: fault passes). */
			cmd->faults = 1;
			faulted = true;
		}
	}
out:
	dmirror_xfer_peer_done(dm, x, cmd, true);
	dmirror_xfer_free(x);
	return ret;
}

/* Every page of @cmd's range that the device maps, to the user buffer. */
static int dmirror_copy_out(struct dmirror *dm, struct hmm_dmirror_cmd *cmd,
			    struct dmirror_xfer *x)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long addr, next;
	int ret = 0;

	for (addr = start; addr < end && !ret; addr = next) {
		ret = dmirror_loop_check();
		if (ret)
			break;
		ret = dmirror_xfer_to_user(dm, x, addr, end, &next);
		if (!ret && next == addr)
			ret = -ENOENT;
	}
	if (!ret)
		cmd->cpages = cmd->npages;
	return ret;
}

/**
 * dmirror_mirror_readback() - the device's view of a range after migration
 * @dm:  the mirror
 * @cmd: the MIGRATE_TO_DEV command; cpages = npages on success
 *
 * Every page resident in this device's memory is entered in the device page
 * table (dmirror_devfault_own()). Then every page of
 * the range must have an entry (resident, or mirrored earlier), else
 * -ENOENT and nothing is copied. The data goes to the user buffer batch by
 * batch (dmirror_mirror_copy_out()).
 *
 * Context: process context in @dm->mm, no lock held.
 * Return: 0, -ENOENT or another negative errno.
 */
int dmirror_mirror_readback(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	struct dmirror_xfer *x;
	int ret;

	x = dmirror_xfer_alloc(cmd);
	if (!x)
		return -ENOMEM;
	ret = dmirror_devfault_own(dm, x->pfns, start, end);
	if (!ret)
		ret = dmirror_copy_out(dm, cmd, x);
	dmirror_xfer_free(x);
	return ret;
}

/**
 * dmirror_mirror_copy_out() - copy the device's view of a range to the user
 * @dm:  the mirror
 * @cmd: command whose range every page of which the device should map;
 *       cpages = npages on success
 *
 * Used after MIGRATE_TO_DEV and EXCLUSIVE: no faulting, a page without an
 * entry is -ENOENT. Batch by batch, so an entry lost in between (the CPU
 * took the page back) can leave earlier batches copied.
 *
 * Context: process context, no lock held.
 * Return: 0, -ENOENT, -EFAULT or -ENOMEM.
 */
int dmirror_mirror_copy_out(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	struct dmirror_xfer *x;
	int ret;

	x = dmirror_xfer_alloc(cmd);
	if (!x)
		return -ENOMEM;
	ret = dmirror_copy_out(dm, cmd, x);
	dmirror_xfer_free(x);
	return ret;
}
