// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror character devices: /dev/hmm_dmirrorN and their file operations.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/compat.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "dmirror.h"
#include "inject.h"

/**
 * DOC: device nodes
 *
 * One character-device region named "HMM_DMIRROR" with a dynamic major and
 * minors 0..3 (the name lets scripts written for the kernel's own test
 * device find the major in /proc/devices). Minor N is /dev/hmm_dmirrorN.
 * The devices belong to a class of our own, so they live under
 * /sys/class/hmm_dmirror/ and never collide in sysfs with anything else.
 * Nodes are created by devtmpfs with its default mode, 0600 root.
 *
 * The table of devices by number is registry.c's.
 */

static struct class dmirror_class = {
	.name = "hmm_dmirror",
};

static dev_t dmirror_devt;

static int dmirror_open(struct inode *inode, struct file *filp)
{
	struct dmirror_device *mdev =
		container_of(inode->i_cdev, struct dmirror_device, cdev);
	struct dmirror *dm;

	dm = dmirror_mirror_create(mdev);
	if (IS_ERR(dm))
		return PTR_ERR(dm);
	filp->private_data = dm;
	return nonseekable_open(inode, filp);
}

static int dmirror_release(struct inode *inode, struct file *filp)
{
	struct dmirror *dm = filp->private_data;

	/* The pages this file's mm put on the device go back first. */
	dmirror_migrate_evict_mm(dm);
	dmirror_mirror_destroy(dm);
	return 0;
}

static const struct file_operations dmirror_fops = {
	.owner		= THIS_MODULE,
	.open		= dmirror_open,
	.release	= dmirror_release,
	.unlocked_ioctl	= dmirror_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= dmirror_mmap,
};

/* What device memory calls up for (DOC: device memory in devmem.c). */
static const struct dmirror_devmem_ops dmirror_chardev_devmem_ops = {
	.migrate_to_ram	= dmirror_migrate_to_ram,
};

static void dmirror_device_release(struct device *dev)
{
	kfree(container_of(dev, struct dmirror_device, dev));
}

/**
 * dmirror_chardev_add() - create /dev/hmm_dmirror@id
 * @id:       device number, below DMIRROR_NDEVICES
 * @mtype:    kind of memory the device has
 * @spm_base: physical base of the coherent window, 0 for private devices
 *
 * Called from module init only, after dmirror_chardev_init().
 *
 * Return: 0 or a negative errno; on error nothing of this device remains.
 */
int dmirror_chardev_add(unsigned int id, enum hmm_dmirror_memory_type mtype,
			phys_addr_t spm_base)
{
	struct dmirror_device *mdev;
	int ret;

	if (dmirror_inject_load_step("device allocation"))
		return -ENOMEM;
	mdev = kzalloc_obj(*mdev, GFP_KERNEL);
	if (!mdev)
		return -ENOMEM;
	mdev->id = id;
	mdev->mtype = mtype;
	mdev->spm_base = spm_base;
	mdev->owner = dmirror_peer_owner(mdev);
	mutex_init(&mdev->mirrors_lock);
	INIT_LIST_HEAD(&mdev->mirrors);

	device_initialize(&mdev->dev);
	mdev->dev.class = &dmirror_class;
	mdev->dev.devt = MKDEV(MAJOR(dmirror_devt), id);
	mdev->dev.release = dmirror_device_release;
	ret = dmirror_inject_load_step("device name") ?:
	      dev_set_name(&mdev->dev, "hmm_dmirror%u", id);
	if (ret)
		goto err_put;
	ret = dmirror_inject_load_step("device memory") ?:
	      dmirror_devmem_init(mdev, &dmirror_chardev_devmem_ops);
	if (ret)
		goto err_put;

	cdev_init(&mdev->cdev, &dmirror_fops);
	mdev->cdev.owner = THIS_MODULE;
	ret = dmirror_inject_load_step("character device") ?:
	      cdev_device_add(&mdev->cdev, &mdev->dev);
	if (ret)
		goto err_devmem;

	dmirror_registry_set(id, mdev);
	dmirror_debugfs_add_device(mdev);
	return 0;

err_devmem:
	dmirror_devmem_release(mdev, true);
err_put:
	pr_err("cannot create hmm_dmirror%u: %d\n", id, ret);
	put_device(&mdev->dev);
	return ret;
}

/**
 * dmirror_chardev_init() - register the class and the device number region
 *
 * Return: 0 or a negative errno; on error nothing is registered.
 */
int dmirror_chardev_init(void)
{
	int ret;

	ret = dmirror_inject_load_step("class") ?:
	      class_register(&dmirror_class);
	if (ret)
		return ret;
	ret = dmirror_inject_load_step("device numbers") ?:
	      alloc_chrdev_region(&dmirror_devt, 0, DMIRROR_NDEVICES,
				  "HMM_DMIRROR");
	if (ret) {
		class_unregister(&dmirror_class);
		return ret;
	}
	return 0;
}

/**
 * dmirror_chardev_exit() - remove every device created so far and undo
 * dmirror_chardev_init()
 *
 * Safe after a partial dmirror_chardev_add() sequence.
 */
void dmirror_chardev_exit(void)
{
	unsigned int id;

	/*
	 * No file is open; pages may still be mapped by processes. Every
	 * device's memory goes before any device: a CPU fault on a page of
	 * one may look up its peer (DOC: peer groups in peer.c).
	 */
	for (id = 0; id < DMIRROR_NDEVICES; id++) {
		struct dmirror_device *mdev = dmirror_registry_get(id);

		if (mdev)
			dmirror_devmem_release(mdev, true);
	}
	for (id = 0; id < DMIRROR_NDEVICES; id++) {
		struct dmirror_device *mdev = dmirror_registry_get(id);

		if (!mdev)
			continue;
		dmirror_registry_set(id, NULL);
		debugfs_remove(mdev->debugfs);
		cdev_device_del(&mdev->cdev, &mdev->dev);
		put_device(&mdev->dev);
	}
	unregister_chrdev_region(dmirror_devt, DMIRROR_NDEVICES);
	class_unregister(&dmirror_class);
}
