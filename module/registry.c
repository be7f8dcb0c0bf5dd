// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror registry: the devices by number.
 */
#include "dmirror.h"

/**
 * DOC: device registry
 *
 * The devices by number, for those that must find every device, not only
 * the one of their file (EXCLUSIVE moves the pages of every coherent
 * device home). A leaf (DOC: layers in dmirror.h): it stores pointers and
 * calls nothing. The table is written only at load (chardev.c, once a
 * device's node exists) and unload (before the device goes away). At
 * unload no file is open; at load a file of a device created earlier may
 * be, and may look a later device up (a coherent device, a peer): a
 * device is entered with release semantics once it is complete, and read
 * with acquire semantics, so a reader sees it whole or not at all.
 */

static struct dmirror_device *dmirror_devices[DMIRROR_NDEVICES];

/**
 * dmirror_registry_set() - enter or remove the device with number @id
 * @id:   device number, below DMIRROR_NDEVICES
 * @mdev: the device, or NULL to remove it
 *
 * Context: module load or unload only.
 */
void dmirror_registry_set(unsigned int id, struct dmirror_device *mdev)
{
	/* Published whole: a file of an earlier device may look it up. */
	smp_store_release(&dmirror_devices[id], mdev);
}

/**
 * dmirror_registry_get() - the device with number @id
 * @id: device number
 *
 * Context: while a file of this module is open (the table cannot change),
 * or at load and unload.
 * Return: the device, or NULL if there is none with that number.
 */
struct dmirror_device *dmirror_registry_get(unsigned int id)
{
	if (id >= DMIRROR_NDEVICES)
		return NULL;
	/* Pairs with the release in dmirror_registry_set(). */
	return smp_load_acquire(&dmirror_devices[id]);
}
