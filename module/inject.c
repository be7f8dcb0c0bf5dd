// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror fault injection: one fault_attr per failure the module
 * handles, and one for the steps of module load.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dcache.h>
#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/fault-inject.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "compat.h"
#include "inject.h"

/**
 * DOC: fault injection
 *
 * Built only where the kernel has CONFIG_FAULT_INJECTION_DEBUG_FS. Each
 * point is a fault_attr of the kernel's framework, set up once at load
 * and read by should_fail() from any context (it takes no lock of ours):
 * its debugfs directory /sys/kernel/debug/hmm_dmirror/fail_<name> has the
 * standard knobs (probability, interval, times, space, verbose,
 * task-filter, ...), and /proc/<pid>/make-it-fail selects the tasks when
 * task-filter is on. They start off (probability 0) and quiet (verbose
 * 0: a forced failure prints nothing, so that it is never mistaken for a
 * kernel report; set verbose to see each one).
 *
 * Module load has no debugfs yet: the module parameter fail_load takes
 * the kernel's boot-option form "<interval>,<probability>,<space>,<times>"
 * (as failslab= does). Each step of dmirror_init() asks it once, in
 * order, so "3,100,0,1" fails the third step. A forced step fails with
 * -ENOMEM, logged with the step's name, and load unwinds from there.
 */

static const char *const dmirror_inject_names[DMIRROR_INJ_NR] = {
	[DMIRROR_INJ_CHUNK_ADD] = "fail_chunk_add",
	[DMIRROR_INJ_DEV_PAGE] = "fail_dev_page",
	[DMIRROR_INJ_DEV_LARGE] = "fail_dev_large",
	[DMIRROR_INJ_SYS_PAGE] = "fail_sys_page",
	[DMIRROR_INJ_SYS_LARGE] = "fail_sys_large",
	[DMIRROR_INJ_PT] = "fail_pt",
	[DMIRROR_INJ_PIN] = "fail_pin",
	[DMIRROR_INJ_MIGRATE] = "fail_migrate",
	[DMIRROR_INJ_MIGRATE_FAULT] = "fail_migrate_fault",
	[DMIRROR_INJ_PEER_MOVE] = "fail_peer_move",
};

static struct fault_attr dmirror_inject_attrs[DMIRROR_INJ_NR] = {
	[0 ... DMIRROR_INJ_NR - 1] = FAULT_ATTR_INITIALIZER,
};

static struct fault_attr dmirror_inject_load = FAULT_ATTR_INITIALIZER;

static char *fail_load;
module_param(fail_load, charp, 0444);
MODULE_PARM_DESC(fail_load,
		 "Fail steps of module load: <interval>,<probability>,<space>,<times> as for failslab= (fault injection; README)");

/**
 * dmirror_inject() - whether the failure at @point is to be forced now
 * @point: the point
 *
 * Context: any.
 */
bool dmirror_inject(enum dmirror_inject_point point)
{
	return should_fail(&dmirror_inject_attrs[point], 1);
}

/**
 * dmirror_inject_load_step() - ask whether load step @step fails
 * @step: the step's name, for the log
 *
 * Context: module load.
 * Return: 0, or -ENOMEM when fail_load forces this step to fail.
 */
int dmirror_inject_load_step(const char *step)
{
	if (!should_fail(&dmirror_inject_load, 1))
		return 0;
	pr_err("load step %s: injected failure (fail_load)\n", step);
	return -ENOMEM;
}

/**
 * dmirror_inject_init() - set the points up, read fail_load
 *
 * Context: module load, before any step asks.
 * Return: 0, or -EINVAL for a fail_load the framework cannot parse.
 */
int dmirror_inject_init(void)
{
	char *s;
	int i;

	for (i = 0; i < DMIRROR_INJ_NR; i++) {
		dmirror_inject_attrs[i].verbose = 0;
		atomic_set(&dmirror_inject_attrs[i].times, -1);
	}
	dmirror_inject_load.verbose = 0;
	if (!fail_load || !*fail_load)
		return 0;
	/* setup_fault_attr() parses in place; the parameter stays readable. */
	s = kstrdup(fail_load, GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	i = setup_fault_attr(&dmirror_inject_load, s);
	kfree(s);
	if (!i) {
		pr_err("fail_load=%s: want <interval>,<probability>,<space>,<times>\n",
		       fail_load);
		return -EINVAL;
	}
	dmirror_inject_load.verbose = 0;
	return 0;
}

/**
 * dmirror_inject_debugfs() - create the fail_<name> directories
 * @root: the module's debugfs directory
 *
 * A point whose directory cannot be made stays off. Context: module load.
 */
void dmirror_inject_debugfs(struct dentry *root)
{
	int i;

	for (i = 0; i < DMIRROR_INJ_NR; i++)
		fault_create_debugfs_attr(dmirror_inject_names[i], root,
					  &dmirror_inject_attrs[i]);
}

/**
 * dmirror_inject_debugfs_exit() - forget the fail_<name> directories
 *
 * Context: module unload or a failed load, after the module's debugfs
 * directory is removed.
 */
void dmirror_inject_debugfs_exit(void)
{
	int i;

	for (i = 0; i < DMIRROR_INJ_NR; i++)
		dmirror_fault_attr_forget(&dmirror_inject_attrs[i]);
}
