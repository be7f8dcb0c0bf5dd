// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror: an HMM test device. Module load and unload, parameters.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ioport.h>
#include <linux/kobject.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>

#include "dmirror.h"
#include "inject.h"

static unsigned long spm_addr_dev0;
module_param(spm_addr_dev0, ulong, 0444);
MODULE_PARM_DESC(spm_addr_dev0,
		 "Physical base of 256 MiB of reserved memory backing /dev/hmm_dmirror2 (device-coherent); needs spm_addr_dev1 too");

static unsigned long spm_addr_dev1;
module_param(spm_addr_dev1, ulong, 0444);
MODULE_PARM_DESC(spm_addr_dev1,
		 "Physical base of 256 MiB of reserved memory backing /dev/hmm_dmirror3 (device-coherent); needs spm_addr_dev0 too");

/* Memory hotplug works in sections; a coherent window must be made of them. */
#define DMIRROR_SPM_ALIGN	BIT(SECTION_SIZE_BITS)

static int dmirror_check_spm(const char *name, unsigned long base)
{
	if (!IS_ALIGNED(base, DMIRROR_SPM_ALIGN)) {
		pr_err("%s=%#lx is not aligned to %lu MiB (a memory section)\n",
		       name, base, DMIRROR_SPM_ALIGN >> 20);
		return -EINVAL;
	}
	if (base + DMIRROR_SPM_SIZE - 1 < base) {
		pr_err("%s=%#lx: the 256 MiB window wraps\n", name, base);
		return -EINVAL;
	}
	if (region_intersects(base, DMIRROR_SPM_SIZE, IORESOURCE_SYSTEM_RAM,
			      IORES_DESC_NONE) != REGION_DISJOINT) {
		pr_err("%s=%#lx: the 256 MiB window overlaps System RAM; reserve it first (e.g. memmap=256M$%#lx)\n",
		       name, base, base);
		return -EINVAL;
	}
	return 0;
}

static int dmirror_check_params(void)
{
	int ret;

	if (!spm_addr_dev0 && !spm_addr_dev1)
		return 0;
	if (!spm_addr_dev0 || !spm_addr_dev1) {
		pr_err("spm_addr_dev0 and spm_addr_dev1 must be given together (got %#lx and %#lx)\n",
		       spm_addr_dev0, spm_addr_dev1);
		return -EINVAL;
	}
	ret = dmirror_check_spm("spm_addr_dev0", spm_addr_dev0);
	if (ret)
		return ret;
	ret = dmirror_check_spm("spm_addr_dev1", spm_addr_dev1);
	if (ret)
		return ret;
	if (spm_addr_dev0 < spm_addr_dev1 + DMIRROR_SPM_SIZE &&
	    spm_addr_dev1 < spm_addr_dev0 + DMIRROR_SPM_SIZE) {
		pr_err("spm_addr_dev0=%#lx and spm_addr_dev1=%#lx overlap\n",
		       spm_addr_dev0, spm_addr_dev1);
		return -EINVAL;
	}
	return 0;
}

/*
 * The kernel's own test module (test_hmm) creates the same /dev/hmm_dmirrorN
 * names. Refuse to load beside it rather than shadow its nodes. Our module
 * object is already in the module kset when init runs, so look there.
 */
static int dmirror_check_conflict(void)
{
	struct kobject *kobj;

	kobj = kset_find_obj(THIS_MODULE->mkobj.kobj.kset, "test_hmm");
	if (!kobj)
		return 0;
	kobject_put(kobj);
	pr_err("the kernel's test_hmm module is loaded and owns /dev/hmm_dmirror*; unload it first (rmmod test_hmm)\n");
	return -EBUSY;
}

static int __init dmirror_init(void)
{
	int ret;

	ret = dmirror_inject_init();
	if (ret)
		return ret;
	ret = dmirror_check_params();
	if (ret)
		return ret;
	ret = dmirror_devmem_check_params();
	if (ret)
		return ret;
	ret = dmirror_check_conflict();
	if (ret)
		return ret;

	ret = dmirror_inject_load_step("debugfs") ?: dmirror_debugfs_init();
	if (ret)
		return ret;
	dmirror_inject_debugfs(dmirror_debugfs_dir());
	ret = dmirror_chardev_init();
	if (ret)
		goto err_debugfs;

	ret = dmirror_chardev_add(0, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE, 0);
	if (!ret)
		ret = dmirror_chardev_add(1, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE, 0);
	if (!ret && spm_addr_dev0)
		ret = dmirror_chardev_add(2, HMM_DMIRROR_MEMORY_DEVICE_COHERENT,
					  spm_addr_dev0);
	if (!ret && spm_addr_dev1)
		ret = dmirror_chardev_add(3, HMM_DMIRROR_MEMORY_DEVICE_COHERENT,
					  spm_addr_dev1);
	if (ret)
		goto err_chardev;
	pr_info("loaded: %u device-private and %u device-coherent devices, THP migration %s\n",
		DMIRROR_NPRIVATE, spm_addr_dev0 ? 2U : 0U,
		dmirror_devmem_large_enabled() ? "on" :
		"off (THPs migrate as base pages)");
	return 0;

err_chardev:
	dmirror_chardev_exit();
err_debugfs:
	dmirror_debugfs_exit();
	dmirror_inject_debugfs_exit();
	return ret;
}

static void __exit dmirror_exit(void)
{
	dmirror_chardev_exit();
	/* Wait for the SRCU callbacks that free our per-mm state. */
	mmu_notifier_synchronize();
	dmirror_debugfs_exit();
	dmirror_inject_debugfs_exit();
}

module_init(dmirror_init);
module_exit(dmirror_exit);

MODULE_DESCRIPTION("HMM test device: mirrors, migrates and snapshots process memory");
MODULE_AUTHOR("hmm-dmirror developers");
MODULE_LICENSE("GPL");
MODULE_VERSION("0.1");
