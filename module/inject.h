/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmm_dmirror fault injection: the failures the module handles, forced on
 * demand (inject.c, DOC: fault injection).
 */
#ifndef DMIRROR_INJECT_H
#define DMIRROR_INJECT_H

#include <linux/types.h>

struct dentry;

/*
 * The points, each a fault_attr in debugfs as hmm_dmirror/fail_<name>
 * (the names are in inject.c; README "Fault injection" says what each
 * failure does).
 */
enum dmirror_inject_point {
	DMIRROR_INJ_CHUNK_ADD,		/* adding a chunk of device memory */
	DMIRROR_INJ_DEV_PAGE,		/* base device pages for a window */
	DMIRROR_INJ_DEV_LARGE,		/* a large device page */
	DMIRROR_INJ_SYS_PAGE,		/* base system pages on the way back */
	DMIRROR_INJ_SYS_LARGE,		/* a system THP on the way back */
	DMIRROR_INJ_PT,			/* a device page-table node */
	DMIRROR_INJ_PIN,		/* pinning and mapping user pages */
	DMIRROR_INJ_MIGRATE,		/* migrate_vma_setup(), ioctls, eviction */
	DMIRROR_INJ_MIGRATE_FAULT,	/* migrate_vma_setup(), CPU faults */
	DMIRROR_INJ_PEER_MOVE,		/* a window's device-to-device moves */
	DMIRROR_INJ_NR
};

/*
 * Kernels without CONFIG_FAULT_INJECTION_DEBUG_FS get no points: every
 * check below is a constant false and the compiler drops it.
 */
#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
bool dmirror_inject(enum dmirror_inject_point point);
int dmirror_inject_load_step(const char *step);
int dmirror_inject_init(void);
void dmirror_inject_debugfs(struct dentry *root);
void dmirror_inject_debugfs_exit(void);
#else
static inline bool dmirror_inject(enum dmirror_inject_point point)
{
	return false;
}

static inline int dmirror_inject_load_step(const char *step)
{
	return 0;
}

static inline int dmirror_inject_init(void)
{
	return 0;
}

static inline void dmirror_inject_debugfs(struct dentry *root)
{
}

static inline void dmirror_inject_debugfs_exit(void)
{
}
#endif

#endif /* DMIRROR_INJECT_H */
