/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmm_dmirror tracepoints (events/hmm_dmirror/ in tracefs): migrations in
 * and out, device faults, invalidations (and whether they were skipped as
 * this device's own) and evictions of device memory. Defined in trace.c.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM hmm_dmirror

#if !defined(_HMM_DMIRROR_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _HMM_DMIRROR_TRACE_H

#include <linux/mmu_notifier.h>
#include <linux/tracepoint.h>

#ifndef _HMM_DMIRROR_TRACE_ONCE
#define _HMM_DMIRROR_TRACE_ONCE
/* Why pages moved, for the dmirror_migrate event. */
enum dmirror_trace_why {
	DMIRROR_TRACE_TO_DEV,		/* MIGRATE_TO_DEV */
	DMIRROR_TRACE_TO_SYS,		/* MIGRATE_TO_SYS */
	DMIRROR_TRACE_CPU_FAULT,	/* the CPU touched a device page */
	DMIRROR_TRACE_CLOSE,		/* a file of the mm was closed */
	DMIRROR_TRACE_EXCLUSIVE,	/* EXCLUSIVE wants system memory */
	DMIRROR_TRACE_FROM_PEER,	/* MIGRATE_TO_DEV, device to device */
	DMIRROR_TRACE_PEER_HOME,	/* MIGRATE_TO_DEV, a peer's page via RAM */
};
#endif

TRACE_DEFINE_ENUM(DMIRROR_TRACE_TO_DEV);
TRACE_DEFINE_ENUM(DMIRROR_TRACE_TO_SYS);
TRACE_DEFINE_ENUM(DMIRROR_TRACE_CPU_FAULT);
TRACE_DEFINE_ENUM(DMIRROR_TRACE_CLOSE);
TRACE_DEFINE_ENUM(DMIRROR_TRACE_EXCLUSIVE);
TRACE_DEFINE_ENUM(DMIRROR_TRACE_FROM_PEER);
TRACE_DEFINE_ENUM(DMIRROR_TRACE_PEER_HOME);
TRACE_DEFINE_ENUM(MMU_NOTIFY_UNMAP);
TRACE_DEFINE_ENUM(MMU_NOTIFY_CLEAR);
TRACE_DEFINE_ENUM(MMU_NOTIFY_PROTECTION_VMA);
TRACE_DEFINE_ENUM(MMU_NOTIFY_PROTECTION_PAGE);
TRACE_DEFINE_ENUM(MMU_NOTIFY_SOFT_DIRTY);
TRACE_DEFINE_ENUM(MMU_NOTIFY_RELEASE);
TRACE_DEFINE_ENUM(MMU_NOTIFY_MIGRATE);
TRACE_DEFINE_ENUM(MMU_NOTIFY_EXCLUSIVE);

TRACE_EVENT(dmirror_migrate,
	    TP_PROTO(unsigned int dev, unsigned int why, unsigned long start,
		     unsigned long end, unsigned long moved),
	    TP_ARGS(dev, why, start, end, moved),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned int, why)
			     __field(unsigned long, start)
			     __field(unsigned long, end)
			     __field(unsigned long, moved)
	    ),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->why = why;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->moved = moved;
	    ),
	    TP_printk("dev=%u %s range=%#lx-%#lx moved=%lu",
		      __entry->dev,
		      __print_symbolic(__entry->why,
				       { DMIRROR_TRACE_TO_DEV, "to_dev" },
				       { DMIRROR_TRACE_TO_SYS, "to_sys" },
				       { DMIRROR_TRACE_CPU_FAULT, "cpu_fault" },
				       { DMIRROR_TRACE_CLOSE, "close" },
				       { DMIRROR_TRACE_EXCLUSIVE, "exclusive" },
				       { DMIRROR_TRACE_FROM_PEER, "from_peer" },
				       { DMIRROR_TRACE_PEER_HOME, "peer_home" }),
		      __entry->start, __entry->end, __entry->moved)
);

TRACE_EVENT(dmirror_device_fault,
	    TP_PROTO(unsigned int dev, unsigned long start, unsigned long end,
		     bool write, int ret),
	    TP_ARGS(dev, start, end, write, ret),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned long, start)
			     __field(unsigned long, end)
			     __field(bool, write)
			     __field(int, ret)
	    ),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->write = write;
			   __entry->ret = ret;
	    ),
	    TP_printk("dev=%u range=%#lx-%#lx %s ret=%d", __entry->dev,
		      __entry->start, __entry->end,
		      __entry->write ? "write" : "read", __entry->ret)
);

TRACE_EVENT(dmirror_peer_access,
	    TP_PROTO(unsigned int dev, unsigned long start, unsigned long end,
		     bool write, unsigned long npages),
	    TP_ARGS(dev, start, end, write, npages),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned long, start)
			     __field(unsigned long, end)
			     __field(bool, write)
			     __field(unsigned long, npages)
	    ),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->write = write;
			   __entry->npages = npages;
	    ),
	    TP_printk("dev=%u range=%#lx-%#lx %s peer_pages=%lu", __entry->dev,
		      __entry->start, __entry->end,
		      __entry->write ? "write" : "read", __entry->npages)
);

TRACE_EVENT(dmirror_invalidate,
	    TP_PROTO(unsigned int dev, const struct mmu_notifier_range *range,
		     bool skipped, bool handled),
	    TP_ARGS(dev, range, skipped, handled),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned long, start)
			     __field(unsigned long, end)
			     __field(unsigned int, event)
			     __field(bool, blockable)
			     __field(bool, skipped)
			     __field(bool, handled)
	    ),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->start = range->start;
			   __entry->end = range->end;
			   __entry->event = range->event;
			   __entry->blockable = mmu_notifier_range_blockable(range);
			   __entry->skipped = skipped;
			   __entry->handled = handled;
	    ),
	    TP_printk("dev=%u range=%#lx-%#lx event=%s%s%s",
		      __entry->dev, __entry->start, __entry->end,
		      __print_symbolic(__entry->event,
				       { MMU_NOTIFY_UNMAP, "unmap" },
				       { MMU_NOTIFY_CLEAR, "clear" },
				       { MMU_NOTIFY_PROTECTION_VMA, "protection_vma" },
				       { MMU_NOTIFY_PROTECTION_PAGE, "protection_page" },
				       { MMU_NOTIFY_SOFT_DIRTY, "soft_dirty" },
				       { MMU_NOTIFY_RELEASE, "release" },
				       { MMU_NOTIFY_MIGRATE, "migrate" },
				       { MMU_NOTIFY_EXCLUSIVE, "exclusive" }),
		      __entry->blockable ? "" : " nonblock",
		      __entry->skipped ? " skipped_own" :
		      __entry->handled ? "" : " refused")
);

TRACE_EVENT(dmirror_evict,
	    TP_PROTO(unsigned int dev, unsigned long first_pfn,
		     unsigned long npages, unsigned long moved),
	    TP_ARGS(dev, first_pfn, npages, moved),
	    TP_STRUCT__entry(__field(unsigned int, dev)
			     __field(unsigned long, first_pfn)
			     __field(unsigned long, npages)
			     __field(unsigned long, moved)
	    ),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->first_pfn = first_pfn;
			   __entry->npages = npages;
			   __entry->moved = moved;
	    ),
	    TP_printk("dev=%u pfn=%#lx+%lu moved=%lu", __entry->dev,
		      __entry->first_pfn, __entry->npages, __entry->moved)
);

#endif /* _HMM_DMIRROR_TRACE_H */

/* This part must be outside the include guard. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE dmirror_trace
#include <trace/define_trace.h>
