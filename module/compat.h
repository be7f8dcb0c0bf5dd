/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmm_dmirror compat layer: every difference between the kernels we
 * support (6.1 .. 7.3) is hidden here behind one name per meaning. The
 * facts come from dmirror_conftest.h, generated at build time by
 * scripts/conftest.sh from the target kernel's headers. No other file
 * tests a kernel version or a probe result.
 */
#ifndef _HMM_DMIRROR_COMPAT_H
#define _HMM_DMIRROR_COMPAT_H

#include <linux/memremap.h>
#include <linux/mm.h>

#include "dmirror_conftest.h"

/* The pgmap owner of a ZONE_DEVICE page. */
static inline void *dmirror_page_owner(const struct page *page)
{
#ifdef DMIRROR_HAVE_PAGE_PGMAP
	return page_pgmap(page)->owner;
#else
	return page->pgmap->owner;
#endif
}

#endif /* _HMM_DMIRROR_COMPAT_H */
