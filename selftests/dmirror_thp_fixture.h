/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fixture of the THP tests (dmirror_thp_test, dmirror_thp_evict_test);
 * the helpers are in dmirror_thp.h, which other tests use alone.
 */
#ifndef _DMIRROR_THP_FIXTURE_H
#define _DMIRROR_THP_FIXTURE_H

#include "dmirror_thp.h"

FIXTURE(thp)
{
	int fd;
	int large;		/* thp_migration reads Y */
	int dev_thp;		/* SNAPSHOT of a THP migrated to the device */
	int sys_thp;		/* ... and of it migrated back */
	unsigned char *out;
};

FIXTURE_SETUP(thp)
{
	self->fd = dmirror_open_dev(0);
	ASSERT_GE(self->fd, 0) TH_LOG("open /dev/hmm_dmirror0: %s",
				      strerror(errno));
	self->large = dmirror_param_yn("thp_migration");
	ASSERT_LE(0, self->large) TH_LOG("%s: cannot be read, or not Y or N",
					 THP_PARAM);
	self->dev_thp = self->large ? SNAP_DEV_PMD_RW : SNAP_DEV_RW;
	self->sys_thp = self->large ? SNAP_SYS_PMD_RW : HMM_DMIRROR_PROT_WRITE;
	self->out = out_buf(2 * HPAGE);
	ASSERT_NE(NULL, self->out);
	/* A test killed on its timeout leaves the hook set. */
	fail_sys_thp(0);
}

FIXTURE_TEARDOWN(thp)
{
	fail_sys_thp(0);
	free(self->out);
	EXPECT_EQ(0, close(self->fd));
}

#endif /* _DMIRROR_THP_FIXTURE_H */
