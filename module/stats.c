// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror counters and their debugfs files.
 */
#include <linux/debugfs.h>
#include <linux/sched.h>
#include <linux/seq_file.h>

#include "dmirror.h"

/**
 * DOC: debugfs layout
 *
 * /sys/kernel/debug/hmm_dmirror/
 *   dev<N>/stats                  counters of device N, including its
 *                                 device memory
 *   mm/<tgid>/stats               counters of one address space, named
 *                                 after the process that first opened a
 *                                 device in it ("<tgid>.<n>" if taken)
 *   mm/<tgid>/nonblock_selftest   write 1: check the non-blockable
 *                                 invalidation path on the mm's mirrors
 *                                 (created by mm.c)
 *   fail_sys_thp                  test hook (root only): while Y, every
 *                                 system THP the module asks for is
 *                                 refused, as if none could be allocated
 *
 * A stats file has one "name value" line per counter. The files point at
 * counters embedded in the device or dmirror_mm; each directory is removed
 * (debugfs_remove() waits for readers) before its owner is freed.
 */

static const char * const dmirror_stat_names[DMIRROR_NR_STATS] = {
	[DMIRROR_STAT_INVALIDATE]	= "invalidate",
	[DMIRROR_STAT_OWN_MIGRATE]	= "invalidate_own_migrate",
	[DMIRROR_STAT_NONBLOCK]		= "invalidate_nonblock",
	[DMIRROR_STAT_NONBLOCK_REFUSED]	= "invalidate_nonblock_refused",
	[DMIRROR_STAT_FAULT_ROUNDS]	= "fault_rounds",
	[DMIRROR_STAT_PAGES_FAULTED]	= "pages_faulted",
	[DMIRROR_STAT_MIRRORS]		= "mirrors",
	[DMIRROR_STAT_PEER_READ]	= "peer_pages_read",
	[DMIRROR_STAT_PEER_WRITTEN]	= "peer_pages_written",
	[DMIRROR_STAT_RESIDENT]		= "resident_pages",
	[DMIRROR_STAT_CHUNKS]		= "chunks",
	[DMIRROR_STAT_CAPACITY]		= "capacity_pages",
	[DMIRROR_STAT_EVICTED]		= "evicted_pages",
	[DMIRROR_STAT_MIGRATED_TO_DEV]	= "migrated_to_dev",
	[DMIRROR_STAT_MIGRATED_TO_SYS]	= "migrated_to_sys",
	[DMIRROR_STAT_CPU_FAULTS]	= "cpu_faults",
	[DMIRROR_STAT_FROM_PEER]	= "migrated_from_peer",
	[DMIRROR_STAT_TO_PEER]		= "migrated_to_peer",
};

static struct dentry *dmirror_debugfs_root;
static struct dentry *dmirror_debugfs_mm_dir;
static atomic_t dmirror_mm_seq = ATOMIC_INIT(0);
static bool dmirror_fail_sys_thp;

/**
 * dmirror_debugfs_fail_sys_thp() - whether the fail_sys_thp test hook is set
 *
 * Context: any.
 * Return: true while system THP allocations are to fail.
 */
bool dmirror_debugfs_fail_sys_thp(void)
{
	return READ_ONCE(dmirror_fail_sys_thp);
}

/**
 * dmirror_stat_add() - count @n events against @dm's device and mm
 * @dm:   the mirror the event happened on
 * @stat: which counter
 * @n:    how many (negative for gauges going down)
 *
 * Context: any, including the non-blockable invalidate path.
 */
void dmirror_stat_add(struct dmirror *dm, enum dmirror_stat stat, s64 n)
{
	atomic64_add(n, &dm->mdev->stats.val[stat]);
	if (stat < DMIRROR_NR_MM_STATS)
		atomic64_add(n, &dm->dmm->stats.val[stat]);
}

static void dmirror_stats_print(struct seq_file *m, int nr)
{
	struct dmirror_stats *stats = m->private;
	int i;

	for (i = 0; i < nr; i++)
		seq_printf(m, "%s %lld\n", dmirror_stat_names[i],
			   (long long)atomic64_read(&stats->val[i]));
}

static int dmirror_dev_stats_show(struct seq_file *m, void *v)
{
	dmirror_stats_print(m, DMIRROR_NR_STATS);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(dmirror_dev_stats);

static int dmirror_mm_stats_show(struct seq_file *m, void *v)
{
	dmirror_stats_print(m, DMIRROR_NR_MM_STATS);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(dmirror_mm_stats);

/**
 * dmirror_debugfs_add_device() - create dev<N>/stats for @mdev
 * @mdev: the device; its directory is removed with debugfs_remove()
 *        before the device is freed
 *
 * debugfs failures are not errors: the device works without its files.
 */
void dmirror_debugfs_add_device(struct dmirror_device *mdev)
{
	char name[16];

	snprintf(name, sizeof(name), "dev%u", mdev->id);
	mdev->debugfs = debugfs_create_dir(name, dmirror_debugfs_root);
	debugfs_create_file("stats", 0444, mdev->debugfs, &mdev->stats,
			    &dmirror_dev_stats_fops);
}

/**
 * dmirror_debugfs_add_mm() - create mm/<tgid>/ for @dmm
 * @dmm: the new per-mm state, created by the current process
 *
 * Context: under dmirror_mm_mutex, which serialises the name choice.
 */
void dmirror_debugfs_add_mm(struct dmirror_mm *dmm)
{
	struct dentry *old;
	char name[32];

	snprintf(name, sizeof(name), "%d", task_tgid_nr(current));
	old = debugfs_lookup(name, dmirror_debugfs_mm_dir);
	if (old) {
		/* An exec'd process can keep files of its old mm open. */
		dput(old);
		snprintf(name, sizeof(name), "%d.%d", task_tgid_nr(current),
			 atomic_inc_return(&dmirror_mm_seq));
	}
	dmm->debugfs = debugfs_create_dir(name, dmirror_debugfs_mm_dir);
	debugfs_create_file("stats", 0444, dmm->debugfs, &dmm->stats,
			    &dmirror_mm_stats_fops);
}

/* The module's debugfs directory (an error pointer without debugfs). */
struct dentry *dmirror_debugfs_dir(void)
{
	return dmirror_debugfs_root;
}

/**
 * dmirror_debugfs_init() - create /sys/kernel/debug/hmm_dmirror
 *
 * Return: 0; a kernel without debugfs leaves the module working without
 * its counters files.
 */
int dmirror_debugfs_init(void)
{
	dmirror_debugfs_root = debugfs_create_dir("hmm_dmirror", NULL);
	dmirror_debugfs_mm_dir = debugfs_create_dir("mm", dmirror_debugfs_root);
	debugfs_create_bool("fail_sys_thp", 0600, dmirror_debugfs_root,
			    &dmirror_fail_sys_thp);
	return 0;
}

/**
 * dmirror_debugfs_exit() - remove everything under hmm_dmirror/
 */
void dmirror_debugfs_exit(void)
{
	debugfs_remove(dmirror_debugfs_root);
}
