// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_dmirror compat: a device fault that may drop the mmap lock and wait.
 */
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/signal.h>

#include "dmirror.h"

/**
 * DOC: unlocked faults
 *
 * Linux 7.3 exports hmm_range_fault_unlocked_timeout(): it takes the mmap
 * lock itself and lets the fault handler drop it, so a fault that has to
 * wait (userfaultfd resolved by another thread) makes progress instead of
 * failing. Older kernels lack it; there the same behaviour is built from
 * what they export: walk the range with hmm_range_fault() without
 * faulting, fault every missing page with fixup_user_fault(), whose
 * "unlocked" out-parameter allows the fault to drop and retake the lock,
 * and walk again until nothing is missing. Either way the caller gets the
 * pfns of a walk and its notifier sequence, to check under its own lock.
 */

#ifdef DMIRROR_HAVE_HMM_RANGE_FAULT_UNLOCKED

/*
 * Bounded, so that a range invalidated without end returns (-EBUSY) to
 * the caller's loop, which checks for fatal signals.
 */
static int dmirror_range_fault_unlocked(struct hmm_range *range)
{
	return hmm_range_fault_unlocked_timeout(range,
						msecs_to_jiffies(DMIRROR_BUSY_MS));
}

#else

/*
 * Fault what the last walk found missing. Return: 0 with *@again set when
 * something was faulted (walk again), or a negative errno.
 */
static int dmirror_fixup_missing(struct hmm_range *range, bool write,
				 bool *again)
{
	struct mm_struct *mm = range->notifier->mm;
	unsigned long npages = (range->end - range->start) >> PAGE_SHIFT;
	unsigned long i;

	for (i = 0; i < npages; i++) {
		unsigned long pfn = range->hmm_pfns[i];
		bool unlocked = false;
		int ret;

		if ((pfn & HMM_PFN_VALID) && (!write || (pfn & HMM_PFN_WRITE)))
			continue;
		if (pfn & HMM_PFN_ERROR)
			return -EFAULT;
		*again = true;
		ret = fixup_user_fault(mm, range->start + (i << PAGE_SHIFT),
				       write ? FAULT_FLAG_WRITE : 0, &unlocked);
		if (ret)
			return ret;
		/* The lock was dropped: what the walk saw may be stale. */
		if (unlocked)
			return 0;
	}
	return 0;
}

static int dmirror_range_fault_unlocked(struct hmm_range *range)
{
	struct mm_struct *mm = range->notifier->mm;
	unsigned long want = range->default_flags;
	bool write = want & HMM_PFN_REQ_WRITE;
	bool again;
	int ret;

	range->default_flags = 0;
	do {
		again = false;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
		range->notifier_seq = mmu_interval_read_begin(range->notifier);
		ret = mmap_read_lock_killable(mm);
		if (ret)
			break;
		ret = hmm_range_fault(range);
		if (ret == -EBUSY)
			again = true;
		else if (!ret)
			ret = dmirror_fixup_missing(range, write, &again);
		mmap_read_unlock(mm);
	} while (again && (!ret || ret == -EBUSY));
	range->default_flags = want;
	return ret;
}

#endif

/**
 * dmirror_compat_range_fault_unlocked() - fault @range, letting the fault
 * handlers drop the mmap lock and wait
 * @range: as for hmm_range_fault(); range->notifier->mm is the mm
 *
 * Context: process context; the mmap lock must not be held.
 * Return: 0 with range->hmm_pfns and range->notifier_seq from one walk,
 * -EINTR on a fatal signal, or an errno of hmm_range_fault().
 */
int dmirror_compat_range_fault_unlocked(struct hmm_range *range)
{
	return dmirror_range_fault_unlocked(range);
}
