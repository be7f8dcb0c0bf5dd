// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror peer groups: devices that share one pgmap owner.
 */
#include <linux/moduleparam.h>

#include "dmirror.h"

/**
 * DOC: peer groups
 *
 * With the module parameter peer_group, the two device-private devices
 * (hmm_dmirror0 and 1) share one pgmap owner, and the two device-coherent
 * ones (2 and 3) another, as devices behind one interconnect do (a DRM
 * pagemap shared by several GPUs). The owner is what the core compares:
 * hmm_range_fault() with that owner as dev_private_owner reports a peer's
 * private pages where they are instead of faulting them home, so a device
 * maps and accesses its peer's memory; migrate_vma_setup() with it selects
 * the peer's pages as sources, so MIGRATE_TO_DEV moves them device to
 * device; and the MMU_NOTIFY_MIGRATE events of either device's migrations
 * carry it, so the mirrors of both devices skip them and the migrating
 * device drops the entries of both devices' mirrors itself (DOC: migration
 * in migrate.c).
 *
 * Without the parameter each device is its own owner, as in the kernel's
 * test device. The owner of a device is decided before its memory exists
 * and never changes (struct dmirror_device, @owner).
 *
 * A leaf (DOC: layers in dmirror.h): it reads the parameter and the device
 * registry. The peer of a device is found by number in the registry, so it
 * is there from when it was created until module unload, which releases
 * every device's memory before any device goes away (chardev.c): a CPU
 * fault, the only user of a device whose file is closed, cannot meet a
 * peer that is gone.
 */

static bool peer_group;
module_param(peer_group, bool, 0444);
MODULE_PARM_DESC(peer_group,
		 "Put hmm_dmirror0 and 1 (device-private) in one peer group, and 2 and 3 (device-coherent) in another: a device maps its peer's memory and migrates from it directly (default N)");

/**
 * struct dmirror_peer_group - the pgmap owner of a group's memory
 * @first: number of the group's first device; the other is @first + 1
 */
struct dmirror_peer_group {
	unsigned int first;
};

static struct dmirror_peer_group dmirror_peer_groups[DMIRROR_NDEVICES / 2] = {
	{ .first = 0 },
	{ .first = 2 },
};

/**
 * dmirror_peer_owner() - the pgmap owner for a new device's memory
 * @mdev: the device, its @id set
 *
 * Return: its peer group with the parameter, else the device itself.
 */
void *dmirror_peer_owner(struct dmirror_device *mdev)
{
	if (!peer_group)
		return mdev;
	return &dmirror_peer_groups[mdev->id / 2];
}

/**
 * dmirror_peer_get() - the other device of @mdev's peer group
 * @mdev: a device
 *
 * Return: the peer, or NULL without a group or before the peer exists.
 * Context: see DOC: peer groups for how long the peer stays.
 */
struct dmirror_device *dmirror_peer_get(struct dmirror_device *mdev)
{
	struct dmirror_device *peer;

	if (mdev->owner == mdev)
		return NULL;
	peer = dmirror_registry_get(mdev->id ^ 1);
	return peer && peer->owner == mdev->owner ? peer : NULL;
}
