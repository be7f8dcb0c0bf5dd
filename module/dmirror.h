/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmm_dmirror private structures.
 */
#ifndef _HMM_DMIRROR_DMIRROR_H
#define _HMM_DMIRROR_DMIRROR_H

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/mm_types.h>
#include <linux/types.h>

#include "hmm_dmirror.h"

/**
 * DOC: objects and lifetimes
 *
 * struct dmirror_device - one emulated device, /dev/hmm_dmirrorN. Created at
 * module load, destroyed at unload. Its lifetime is that of its embedded
 * struct device: every open file holds a reference (get_device()), so the
 * structure outlives any file that still points at it.
 *
 * struct dmirror_file - one open file description: the binding of one mm to
 * one device. It holds an mmgrab() reference on the opener's mm, so the
 * mm_struct pointer stays valid (for comparison) until release, even after
 * the process exited. Only a caller running in that very mm may use it.
 *
 * Lock order (outermost first): none yet; each later subsystem documents
 * its place in this list in its own file.
 */

/* Number of device nodes the module can create: 2 private + 2 coherent. */
#define DMIRROR_NDEVICES	4
#define DMIRROR_NPRIVATE	2

/* Size of a device-coherent window given by spm_addr_devN. */
#define DMIRROR_SPM_SIZE	(256UL << 20)

/**
 * struct dmirror_device - one emulated HMM device
 * @dev:      device model object; owns the lifetime of this structure
 * @cdev:     character device behind /dev/hmm_dmirror@id
 * @id:       device number (the minor)
 * @mtype:    HMM_DMIRROR_MEMORY_DEVICE_PRIVATE or _COHERENT
 * @spm_base: physical base of the coherent window (coherent devices only)
 */
struct dmirror_device {
	struct device dev;
	struct cdev cdev;
	unsigned int id;
	enum hmm_dmirror_memory_type mtype;
	phys_addr_t spm_base;
};

/**
 * struct dmirror_file - per open file state
 * @mdev:  the device this file was opened on (reference held)
 * @mm:    the mm the file is bound to (mmgrab() reference held)
 * @flags: HMM_DMIRROR_FLAG_* word set by HMM_DMIRROR_FLAGS
 */
struct dmirror_file {
	struct dmirror_device *mdev;
	struct mm_struct *mm;
	u64 flags;
};

/* chardev.c */
int dmirror_chardev_init(void);
void dmirror_chardev_exit(void);
int dmirror_chardev_add(unsigned int id, enum hmm_dmirror_memory_type mtype,
			phys_addr_t spm_base);

/* ioctl.c */
long dmirror_ioctl(struct file *filp, unsigned int cmd, unsigned long arg);

#endif /* _HMM_DMIRROR_DMIRROR_H */
