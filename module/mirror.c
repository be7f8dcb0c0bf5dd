// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror mirror: one open file, the mirror of one mm on one device.
 */
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "dmirror.h"

/**
 * DOC: mirror lifetime
 *
 * A mirror (struct dmirror) is created at open and destroyed at release
 * (chardev.c). It holds an mmgrab() reference on its mm, a reference on
 * its device and one on its dmirror_mm (mm.c), and is listed on both
 * (@mm_link under dmirror_mm.lock, @dev_link under the device's
 * mirrors_lock) from the end of create to the start of destroy. Destroy
 * unlists it first, so no migration or mm exit finds it any more, then
 * removes its interval notifier (which waits for a running invalidation)
 * and empties its table (DOC: device page table in pagetable.c) before the
 * references are dropped. The caller has moved the pages its mm put on the
 * device home before (dmirror_migrate_evict_mm()).
 */

/**
 * dmirror_mirror_create() - the mirror of the current mm on @mdev
 * @mdev: the device being opened
 *
 * Context: process context (open()).
 * Return: the new mirror or an ERR_PTR().
 */
struct dmirror *dmirror_mirror_create(struct dmirror_device *mdev)
{
	struct mm_struct *mm = current->mm;
	struct dmirror *dm;
	int ret;

	if (!mm)
		return ERR_PTR(-EINVAL);
	dm = kzalloc_obj(*dm, GFP_KERNEL);
	if (!dm)
		return ERR_PTR(-ENOMEM);
	dm->mdev = mdev;
	mutex_init(&dm->lock);
	xa_init(&dm->pt);
	mmgrab(mm);
	dm->mm = mm;

	dm->dmm = dmirror_mm_get(mm);
	if (IS_ERR(dm->dmm)) {
		ret = PTR_ERR(dm->dmm);
		goto err_mm;
	}
	ret = dmirror_mirror_notifier_insert(dm);
	if (ret)
		goto err_dmm;

	get_device(&mdev->dev);
	dmirror_mm_add_mirror(dm->dmm, dm);
	mutex_lock(&mdev->mirrors_lock);
	list_add_tail(&dm->dev_link, &mdev->mirrors);
	mutex_unlock(&mdev->mirrors_lock);
	dmirror_stat_add(dm, DMIRROR_STAT_MIRRORS, 1);
	return dm;

err_dmm:
	dmirror_mm_put(dm->dmm);
err_mm:
	mmdrop(mm);
	kfree(dm);
	return ERR_PTR(ret);
}

/**
 * dmirror_mirror_destroy() - tear down a mirror at file release
 * @dm: the mirror; the caller has evicted the pages its mm put on the
 *      device (dmirror_migrate_evict_mm())
 *
 * Context: process context; waits for running invalidations.
 */
void dmirror_mirror_destroy(struct dmirror *dm)
{
	struct dmirror_device *mdev = dm->mdev;

	dmirror_stat_add(dm, DMIRROR_STAT_MIRRORS, -1);
	mutex_lock(&mdev->mirrors_lock);
	list_del(&dm->dev_link);
	mutex_unlock(&mdev->mirrors_lock);
	dmirror_mm_del_mirror(dm->dmm, dm);
	mmu_interval_notifier_remove(&dm->notifier);
	/* Cleared step by step first: xa_destroy() never reschedules. */
	dmirror_mirror_zap_all(dm);
	xa_destroy(&dm->pt);
	dmirror_mm_put(dm->dmm);
	mmdrop(dm->mm);
	kfree(dm);
	put_device(&mdev->dev);
}
