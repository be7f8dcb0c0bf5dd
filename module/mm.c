// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror per-mm state, shared through mmu_notifier_get()/_put().
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/mmu_notifier.h>
#include <linux/slab.h>

#include "dmirror.h"

/**
 * DOC: per-mm state
 *
 * Per mm (struct dmirror_mm): the list of the mm's mirrors on every device,
 * mm-wide counters and the reaction to the mm's exit. Per file (struct
 * dmirror): the device page table, its interval notifier and lock, and the
 * file's flags.
 *
 * Opening a device calls dmirror_mm_get(): mmu_notifier_get() returns our
 * existing subscription on the mm or allocates one (alloc_notifier).
 * Closing calls dmirror_mm_put(): mmu_notifier_put() drops it, and the core
 * calls free_notifier from an SRCU callback once the last user is gone.
 * free_notifier can run in softirq context, so everything that may sleep
 * (the debugfs directory) is undone before the last put.
 *
 * @nr_files counts the files using the state and decides when its debugfs
 * directory exists: the get that raises it from 0 creates the directory,
 * the put that brings it to 0 removes it. dmirror_mm_mutex covers only that
 * count and the directory (and so serialises the choice of directory
 * names); it is never held across mmu_notifier_get(), which takes the mm's
 * mmap_lock for writing and can wait as long as a migration in that mm
 * runs, nor across mmu_notifier_put(). Opens and closes in other address
 * spaces therefore never wait for this one. The count is raised only after
 * mmu_notifier_get() and lowered before mmu_notifier_put(), so the core's
 * count of users is never below @nr_files: the put that frees the state
 * comes after the one that brought @nr_files to 0 and removed the
 * directory, and a get that finds the state still listed (the core's
 * count not yet 0) may create the directory again.
 *
 * When the mm exits while files are still open, the release callback
 * empties every mirror's device page table: the device must not touch the
 * pages of a dying address space. Nothing can fill them again, since only
 * a caller running in that mm may issue ioctls. The files stay usable only
 * for close (ioctls fail with -EPERM).
 */

static DEFINE_MUTEX(dmirror_mm_mutex);

static struct mmu_notifier *dmirror_mm_alloc(struct mm_struct *mm)
{
	struct dmirror_mm *dmm;

	dmm = kzalloc_obj(*dmm, GFP_KERNEL);
	if (!dmm)
		return ERR_PTR(-ENOMEM);
	mutex_init(&dmm->lock);
	INIT_LIST_HEAD(&dmm->mirrors);
	return &dmm->mn;
}

static void dmirror_mm_free(struct mmu_notifier *mn)
{
	kfree(container_of(mn, struct dmirror_mm, mn));
}

static void dmirror_mm_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct dmirror_mm *dmm = container_of(mn, struct dmirror_mm, mn);
	struct dmirror *dm;

	mutex_lock(&dmm->lock);
	list_for_each_entry(dm, &dmm->mirrors, mm_link)
		dmirror_mirror_zap_all(dm);
	mutex_unlock(&dmm->lock);
}

static const struct mmu_notifier_ops dmirror_mm_ops = {
	.release	= dmirror_mm_release,
	.alloc_notifier	= dmirror_mm_alloc,
	.free_notifier	= dmirror_mm_free,
};

/**
 * dmirror_mm_nonblock_selftest() - check the non-blockable invalidation
 * decision on every mirror of the mm
 * @dmm: per-mm state
 *
 * Non-blockable invalidations come from the OOM reaper, which a test cannot
 * always provoke. This asks each mirror's own decision function what it
 * would do with a non-blockable range, once with its lock free (it must
 * take the lock) and once with the lock held (it must refuse at once
 * instead of sleeping). The counters move as for real events.
 *
 * Return: 0, or -EIO if a decision was wrong.
 */
static int dmirror_mm_nonblock_selftest(struct dmirror_mm *dmm)
{
	struct mmu_notifier_range range = {
		.start	= 0,
		.end	= PAGE_SIZE,
		.event	= MMU_NOTIFY_UNMAP,
		.flags	= 0,	/* not MMU_NOTIFIER_RANGE_BLOCKABLE */
	};
	struct dmirror *dm;
	int ret = 0;

	mutex_lock(&dmm->lock);
	list_for_each_entry(dm, &dmm->mirrors, mm_link) {
		range.mm = dm->mm;
		if (dmirror_mirror_lock_for_invalidate(dm, &range))
			mutex_unlock(&dm->lock);
		else
			ret = -EIO;

		mutex_lock(&dm->lock);
		if (dmirror_mirror_lock_for_invalidate(dm, &range)) {
			/* Impossible for a mutex; undo the nested "lock". */
			ret = -EIO;
		}
		mutex_unlock(&dm->lock);
	}
	mutex_unlock(&dmm->lock);
	return ret;
}

static ssize_t dmirror_nonblock_write(struct file *file,
				      const char __user *buf, size_t len,
				      loff_t *ppos)
{
	struct dmirror_mm *dmm = file->private_data;
	bool run;
	int ret;

	ret = kstrtobool_from_user(buf, len, &run);
	if (ret)
		return ret;
	if (run) {
		ret = dmirror_mm_nonblock_selftest(dmm);
		if (ret)
			return ret;
	}
	return len;
}

static const struct file_operations dmirror_nonblock_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= dmirror_nonblock_write,
	.llseek	= default_llseek,
};

/**
 * dmirror_mm_get() - get the per-mm state of @mm, creating it if needed
 * @mm: the caller's mm (current->mm)
 *
 * Context: process context, no lock held; takes @mm's mmap_lock for
 * writing (in mmu_notifier_get()), then dmirror_mm_mutex briefly.
 * Return: the state, or an ERR_PTR().
 */
struct dmirror_mm *dmirror_mm_get(struct mm_struct *mm)
{
	struct mmu_notifier *mn;
	struct dmirror_mm *dmm;

	/* No lock of ours here: this may wait as long as @mm is busy. */
	mn = mmu_notifier_get(&dmirror_mm_ops, mm);
	if (IS_ERR(mn))
		return ERR_CAST(mn);
	dmm = container_of(mn, struct dmirror_mm, mn);
	mutex_lock(&dmirror_mm_mutex);
	if (dmm->nr_files++ == 0) {
		dmirror_debugfs_add_mm(dmm);
		debugfs_create_file("nonblock_selftest", 0200, dmm->debugfs,
				    dmm, &dmirror_nonblock_fops);
	}
	mutex_unlock(&dmirror_mm_mutex);
	return dmm;
}

/**
 * dmirror_mm_put() - drop a reference taken by dmirror_mm_get()
 * @dmm: the per-mm state; its mirror list must not hold the caller's mirror
 *
 * Context: process context; may sleep (dmirror_mm_mutex, debugfs removal).
 */
void dmirror_mm_put(struct dmirror_mm *dmm)
{
	mutex_lock(&dmirror_mm_mutex);
	if (--dmm->nr_files == 0) {
		debugfs_remove(dmm->debugfs);
		dmm->debugfs = NULL;
	}
	mutex_unlock(&dmirror_mm_mutex);
	/* May be the last reference: @dmm is freed after an SRCU period. */
	mmu_notifier_put(&dmm->mn);
}

/**
 * dmirror_mm_add_mirror() - list a new mirror of the mm
 * @dmm: per-mm state
 * @dm:  the mirror
 */
void dmirror_mm_add_mirror(struct dmirror_mm *dmm, struct dmirror *dm)
{
	mutex_lock(&dmm->lock);
	list_add_tail(&dm->mm_link, &dmm->mirrors);
	mutex_unlock(&dmm->lock);
}

/**
 * dmirror_mm_del_mirror() - unlist a mirror that is going away
 * @dmm: per-mm state
 * @dm:  the mirror
 */
void dmirror_mm_del_mirror(struct dmirror_mm *dmm, struct dmirror *dm)
{
	mutex_lock(&dmm->lock);
	list_del(&dm->mm_link);
	mutex_unlock(&dmm->lock);
}
