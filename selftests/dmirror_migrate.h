/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the migration tests share (dmirror_migrate_test.c,
 * dmirror_migrate_evict_test.c): their helpers and the mig fixture.
 *
 * hmm_dmirror migration tests: private anonymous memory moved into device
 * memory and back (HMM_DMIRROR_MIGRATE_TO_DEV and MIGRATE_TO_SYS, CPU
 * access, HMM_DMIRROR_RELEASE, close), the memory that must not move, fork
 * and mprotect over pages that live on the device, a device asked for more
 * than it holds, and two devices passing pages between them. Every data
 * check covers every byte of every page, and every page carries its own
 * pattern.
 *
 * Each test runs on two kinds of device (fixture variants): device-private
 * memory (/dev/hmm_dmirror0, second device 1), which the CPU cannot
 * address, so any CPU access migrates the page back to system memory; and
 * device-coherent memory (/dev/hmm_dmirror2, second device 3), which the
 * CPU reads and writes in place, so pages stay on the device until they
 * are migrated back, evicted or copied on write.
 */
#ifndef _DMIRROR_MIGRATE_H
#define _DMIRROR_MIGRATE_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "dmirror_test_util.h"

/*
 * Some versions of the harness (6.12) assign a local of their own after
 * setjmp() inside TEST_F(); GCC may then warn with -Wclobbered about code
 * that is not ours.
 */
#pragma GCC diagnostic ignored "-Wclobbered"

#define PAGES_PER_MIB		(MIB / PG)

/* ---- ioctls ----------------------------------------------------------- */

static inline int release_dev(int fd, const void *addr,
			      struct hmm_dmirror_cmd *cmd)
{
	return range_ioctl(fd, HMM_DMIRROR_RELEASE, addr, NULL, 1, cmd);
}

/* ---- counters --------------------------------------------------------- */

/* The counters of a device that these tests look at. */
struct devstats {
	long long resident;	/* device pages in use */
	long long chunks;
	long long capacity;	/* in pages */
	long long evicted;
	long long to_dev;
	long long to_sys;
	long long cpu_faults;
	long long own_migrate;	/* invalidations of our own migrations */
};

/* Fill @s from device @dev; 0 when every counter was found. */
static inline int read_stats(int dev, struct devstats *s)
{
	s->resident = dmirror_dev_stat(dev, "resident_pages");
	s->chunks = dmirror_dev_stat(dev, "chunks");
	s->capacity = dmirror_dev_stat(dev, "capacity_pages");
	s->evicted = dmirror_dev_stat(dev, "evicted_pages");
	s->to_dev = dmirror_dev_stat(dev, "migrated_to_dev");
	s->to_sys = dmirror_dev_stat(dev, "migrated_to_sys");
	s->cpu_faults = dmirror_dev_stat(dev, "cpu_faults");
	s->own_migrate = dmirror_dev_stat(dev, "invalidate_own_migrate");
	if (s->resident < 0 || s->chunks < 0 || s->capacity < 0 ||
	    s->evicted < 0 || s->to_dev < 0 || s->to_sys < 0 ||
	    s->cpu_faults < 0 || s->own_migrate < 0)
		return -1;
	return 0;
}

/* ---- fixture ---------------------------------------------------------- */

FIXTURE(mig)
{
	int fd;		/* the device under test; -1 once a test closed it */
	bool skipped;	/* no such device: the test does nothing */
	/*
	 * Snapshot bytes, through this device, of a page in its memory
	 * (writable or read-only), and of a writable page in the memory of
	 * the second device.
	 */
	unsigned char snap_rw, snap_ro, snap_remote;
	/*
	 * Snapshot bytes of a page of this device (writable or read-only)
	 * after the CPU read or wrote it.
	 */
	unsigned char touched_rw, touched_ro;
	/* CPU access migrates a page of this device back to system memory */
	bool cpu_migrates;
};

FIXTURE_VARIANT(mig)
{
	int dev;	/* /dev/hmm_dmirror<dev>, the device under test */
	int other;	/* a second device with the same kind of memory */
	bool coherent;	/* device-coherent, not device-private, memory */
};

FIXTURE_VARIANT_ADD(mig, device_private)
{
	.dev = 0,
	.other = 1,
	.coherent = false,
};

FIXTURE_VARIANT_ADD(mig, device_coherent)
{
	.dev = 2,
	.other = 3,
	.coherent = true,
};

FIXTURE_SETUP(mig)
{
	struct devstats s;

	self->fd = dmirror_fixture_open(variant->dev, variant->coherent,
					&self->skipped);
	if (self->skipped)
		SKIP(return, DMIRROR_NO_COHERENT_WHY);
	ASSERT_GE(self->fd, 0) TH_LOG("open /dev/hmm_dmirror%d: %s",
				      variant->dev, strerror(errno));
	ASSERT_EQ(0, read_stats(variant->dev, &s))
		TH_LOG("dev%d stats lack a migration counter", variant->dev);

	if (variant->coherent) {
		self->snap_rw = SNAP_COH_RW;
		self->snap_ro = SNAP_COH_RO;
		self->snap_remote = SNAP_COH_REMOTE_RW;
		self->touched_rw = SNAP_COH_RW;
		self->touched_ro = SNAP_COH_RO;
		self->cpu_migrates = false;
	} else {
		/* Another device's private pages are not valid for us. */
		self->snap_rw = SNAP_PRIV_RW;
		self->snap_ro = SNAP_PRIV_RO;
		self->snap_remote = SNAP_NONE;
		self->touched_rw = SNAP_SYS_RW;
		self->touched_ro = SNAP_SYS_RO;
		self->cpu_migrates = true;
	}
}

FIXTURE_TEARDOWN(mig)
{
	if (self->fd >= 0)
		EXPECT_EQ(0, close(self->fd));
}

#endif /* _DMIRROR_MIGRATE_H */
