/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the exclusive-access tests share (dmirror_exclusive_test.c,
 * dmirror_exclusive_mem_test.c): their helpers and the excl fixture.
 *
 * hmm_dmirror device-exclusive tests: HMM_DMIRROR_EXCLUSIVE, which gives
 * the device atomic access to private anonymous pages by taking them away
 * from the CPU, and HMM_DMIRROR_CHECK_EXCLUSIVE, which tells whether the
 * device still holds that access. Every way the CPU side can take a page
 * back (a read, a write, mprotect, fork, munmap) must revoke it; memory
 * that cannot be made exclusive must be refused with the documented errno.
 *
 * Each test runs on a device-private device (/dev/hmm_dmirror0) and on a
 * device-coherent one (/dev/hmm_dmirror2): exclusive access works on
 * system pages whatever kind of memory the device has.
 */
#ifndef _DMIRROR_EXCLUSIVE_H
#define _DMIRROR_EXCLUSIVE_H
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

#define HUGE_2M			(2UL << 20)
#define WORDS_PER_PAGE		(PG / sizeof(unsigned int))

/* The device-private device that owns pages in exclusive_device_page. */
#define PRIVATE_DEV		0

/* ---- data ------------------------------------------------------------- */

/*
 * Int @i of page @page under @seed: (seed << 24) plus the index of the
 * int counted from the start of the buffer, so that an int in the wrong
 * place or from another seed is caught. With seed 0 it is just that index,
 * which exclusive_fork uses (buffers stay below 2^24 ints).
 */
static inline unsigned int word(unsigned int seed, unsigned long page,
				unsigned long i)
{
	return (seed << 24) + (unsigned int)(page * WORDS_PER_PAGE + i);
}

/* Write the pattern of pages [@page0, @page0 + @npages) at @p. */
static inline void fill_words(void *p, unsigned long page0, unsigned long npages,
			      unsigned int seed)
{
	unsigned int *w = p;
	unsigned long i;

	for (i = 0; i < npages * WORDS_PER_PAGE; i++)
		w[i] = word(seed, page0, i);
}

/*
 * Compare @p with the pattern of pages [@page0, @page0 + @npages).
 * Returns -1 when it matches, else the index of the first int that
 * differs.
 */
static inline long find_words(const void *p, unsigned long page0,
			      unsigned long npages, unsigned int seed)
{
	const unsigned int *w = p;
	unsigned long i;

	for (i = 0; i < npages * WORDS_PER_PAGE; i++)
		if (w[i] != word(seed, page0, i))
			return i;
	return -1;
}

/* ---- ioctls ----------------------------------------------------------- */

/* HMM_DMIRROR_EXCLUSIVE of @npages at @addr; the data goes to @out. */
static inline int make_excl(int fd, const void *addr, void *out,
			    unsigned long npages, struct hmm_dmirror_cmd *cmd)
{
	return range_ioctl(fd, HMM_DMIRROR_EXCLUSIVE, addr, out, npages, cmd);
}

/* HMM_DMIRROR_CHECK_EXCLUSIVE: -EPERM while the device holds a page. */
static inline int check_excl(int fd, const void *addr, unsigned long npages)
{
	struct hmm_dmirror_cmd cmd;

	return range_ioctl(fd, HMM_DMIRROR_CHECK_EXCLUSIVE, addr, NULL,
			   npages, &cmd);
}

/* ---- fixture ---------------------------------------------------------- */

FIXTURE(excl)
{
	int fd;		/* the device under test */
	bool skipped;	/* no such device: the test does nothing */
};

FIXTURE_VARIANT(excl)
{
	int dev;	/* /dev/hmm_dmirror<dev> */
	bool coherent;
};

FIXTURE_VARIANT_ADD(excl, device_private)
{
	.dev = 0,
	.coherent = false,
};

FIXTURE_VARIANT_ADD(excl, device_coherent)
{
	.dev = 2,
	.coherent = true,
};

FIXTURE_SETUP(excl)
{
	self->fd = dmirror_fixture_open(variant->dev, variant->coherent,
					&self->skipped);
	if (self->skipped)
		SKIP(return, DMIRROR_NO_COHERENT_WHY);
	ASSERT_GE(self->fd, 0) TH_LOG("open /dev/hmm_dmirror%d: %s",
				      variant->dev, strerror(errno));
}

FIXTURE_TEARDOWN(excl)
{
	if (self->fd >= 0)
		EXPECT_EQ(0, close(self->fd));
}

#endif /* _DMIRROR_EXCLUSIVE_H */
