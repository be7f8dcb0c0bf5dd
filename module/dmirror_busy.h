/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmm_dmirror: when a request that keeps racing invalidations gives up.
 */
#ifndef _DMIRROR_BUSY_H
#define _DMIRROR_BUSY_H

#include <linux/jiffies.h>

#include "dmirror.h"

/*
 * When a request that keeps racing invalidations gives up (-EBUSY): once
 * DMIRROR_BUSY_MS have passed since dmirror_busy_start() *and* it made
 * DMIRROR_BUSY_TRIES attempts (dmirror_busy_expired() counts one per
 * call). Time alone would fail a task that was merely kept off the CPU
 * for a second (one CPU, busier tasks of higher priority) after one or
 * two attempts.
 */
struct dmirror_busy {
	unsigned long until;
	unsigned int tries;
};

static inline void dmirror_busy_start(struct dmirror_busy *b)
{
	b->until = jiffies + msecs_to_jiffies(DMIRROR_BUSY_MS);
	b->tries = 0;
}

static inline bool dmirror_busy_expired(struct dmirror_busy *b)
{
	return ++b->tries > DMIRROR_BUSY_TRIES && time_after(jiffies, b->until);
}

#endif /* _DMIRROR_BUSY_H */
