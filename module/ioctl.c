// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror ioctl entry: copy in, validate, dispatch, copy out.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/uaccess.h>

#include "dmirror.h"

/* Flag bits HMM_DMIRROR_FLAGS accepts. */
#define DMIRROR_FLAGS_VALID	HMM_DMIRROR_FLAG_FAIL_ALLOC

static int dmirror_ioctl_flags(struct dmirror *dm, struct hmm_dmirror_cmd *cmd)
{
	if (cmd->npages & ~DMIRROR_FLAGS_VALID)
		return -EINVAL;
	WRITE_ONCE(dm->flags, cmd->npages);
	return 0;
}

static int dmirror_ioctl_release(struct dmirror *dm,
				 struct hmm_dmirror_cmd *cmd)
{
	return dmirror_devmem_release(dm->mdev, false);
}

typedef int (*dmirror_ioctl_fn)(struct dmirror *dm,
				struct hmm_dmirror_cmd *cmd);

/**
 * struct dmirror_ioctl_desc - one ioctl of the ABI
 * @cmd:     the full ioctl number, compared as a whole
 * @fn:      its handler; NULL while not implemented (then -ENOTTY)
 * @nopages: @npages is not a page count (HMM_DMIRROR_FLAGS)
 */
struct dmirror_ioctl_desc {
	unsigned int cmd;
	dmirror_ioctl_fn fn;
	bool nopages;
};

static const struct dmirror_ioctl_desc dmirror_ioctls[] = {
	{ HMM_DMIRROR_READ,		dmirror_mirror_read,	false },
	{ HMM_DMIRROR_WRITE,		dmirror_mirror_write,	false },
	{ HMM_DMIRROR_MIGRATE_TO_DEV,	dmirror_migrate_to_dev,	false },
	{ HMM_DMIRROR_MIGRATE_TO_SYS,	dmirror_migrate_to_sys,	false },
	{ HMM_DMIRROR_SNAPSHOT,		dmirror_snapshot,	false },
	{ HMM_DMIRROR_EXCLUSIVE,	dmirror_exclusive,	false },
	{ HMM_DMIRROR_CHECK_EXCLUSIVE,	dmirror_check_exclusive, false },
	{ HMM_DMIRROR_RELEASE,		dmirror_ioctl_release,	false },
	{ HMM_DMIRROR_FLAGS,		dmirror_ioctl_flags,	true },
	{ HMM_DMIRROR_READ_UNLOCKED,	dmirror_mirror_read_unlocked, false },
};

/*
 * The range rule every page-range ioctl shares: page aligned, not empty,
 * not wrapping and inside the caller's user address space.
 */
static int dmirror_check_range(const struct hmm_dmirror_cmd *cmd, bool nopages)
{
	unsigned long limit = TASK_SIZE;

	if (cmd->addr & ~PAGE_MASK)
		return -EINVAL;
	if (nopages)
		return 0;
	if (!cmd->npages || cmd->addr >= limit)
		return -EINVAL;
	if (cmd->npages > (limit - cmd->addr) >> PAGE_SHIFT)
		return -EINVAL;
	return 0;
}

/**
 * dmirror_ioctl() - entry point of every hmm_dmirror ioctl
 * @filp: the open device file
 * @cmd:  ioctl number
 * @arg:  user pointer to a struct hmm_dmirror_cmd
 *
 * Context: process context, may sleep.
 * Return: 0 or a negative errno, per uapi/hmm_dmirror.h.
 */
long dmirror_ioctl(struct file *filp, unsigned int cmd, unsigned long arg)
{
	struct dmirror *dm = filp->private_data;
	void __user *uarg = (void __user *)arg;
	const struct dmirror_ioctl_desc *desc;
	struct hmm_dmirror_cmd hcmd;
	int ret;

	if (_IOC_TYPE(cmd) != 'H' || _IOC_NR(cmd) >= ARRAY_SIZE(dmirror_ioctls))
		return -ENOTTY;
	desc = &dmirror_ioctls[_IOC_NR(cmd)];
	if (desc->cmd != cmd || !desc->fn)
		return -ENOTTY;

	if (copy_from_user(&hcmd, uarg, sizeof(hcmd)))
		return -EFAULT;
	if (current->mm != dm->mm)
		return -EPERM;
	ret = dmirror_check_range(&hcmd, desc->nopages);
	if (ret)
		return ret;

	hcmd.cpages = 0;
	hcmd.faults = 0;
	ret = desc->fn(dm, &hcmd);
	if (ret)
		return ret;
	if (copy_to_user(uarg, &hcmd, sizeof(hcmd)))
		return -EFAULT;
	return 0;
}
