// SPDX-License-Identifier: GPL-2.0
/*
 * hmmctl buffers: anonymous memory to mirror and migrate, and the data
 * patterns written into it and checked on the way back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hmmctl.h"

#define HC_PMD_SIZE	(2UL << 20)

/*
 * The pattern: "index" (default: every 64-bit word holds its index in the
 * buffer plus one, so no word is zero and every page differs), "zero",
 * "ones" (0xff bytes) or a byte value such as 0x5a.
 */
static int pattern_byte = -1;	/* -1: index */

int hc_pattern_check_name(const char *name)
{
	char *end;
	unsigned long v;

	if (!name || !strcmp(name, "index")) {
		pattern_byte = -1;
		return 0;
	}
	if (!strcmp(name, "zero")) {
		pattern_byte = 0;
		return 0;
	}
	if (!strcmp(name, "ones")) {
		pattern_byte = 0xff;
		return 0;
	}
	errno = 0;
	v = strtoul(name, &end, 0);
	if (errno || end == name || *end || v > 0xff)
		return -1;
	pattern_byte = v;
	return 0;
}

/* The pattern's word at word index @i of the buffer. */
static __u64 pattern_word(__u64 i)
{
	if (pattern_byte >= 0)
		return 0x0101010101010101ULL * (__u64)pattern_byte;
	return i + 1;
}

/* Write the pattern of pages [first, first + pages) of the buffer to @dst. */
void hc_pattern_fill(void *dst, unsigned long first, unsigned long pages)
{
	__u64 words = pages * hc_page_size / 8;
	__u64 base = first * hc_page_size / 8;
	__u64 *w = dst;
	__u64 i;

	for (i = 0; i < words; i++)
		w[i] = pattern_word(base + i);
}

/*
 * Compare @data with the pattern of pages [first, first + pages).
 * Return: the byte offset of the first difference, -1 when equal.
 */
long hc_pattern_diff(const void *data, unsigned long first,
		     unsigned long pages)
{
	__u64 words = pages * hc_page_size / 8;
	__u64 base = first * hc_page_size / 8;
	const __u64 *w = data;
	__u64 i;

	for (i = 0; i < words; i++)
		if (w[i] != pattern_word(base + i))
			return (long)(i * 8);
	return -1;
}

/* Read one byte of every page (maps the zero page where nothing was). */
void hc_touch_read(const void *addr, unsigned long pages)
{
	const unsigned char *p = addr;
	unsigned long i;

	for (i = 0; i < pages; i++)
		(void)__atomic_load_n(p + i * hc_page_size, __ATOMIC_RELAXED);
}

/**
 * hc_buf_alloc() - map @pages of private anonymous memory, not populated
 * @b:     the buffer
 * @pages: its length in pages
 * @thp:   align it to 2 MiB and ask for transparent huge pages
 *
 * Return: HC_OK or HC_ESYS.
 */
int hc_buf_alloc(struct hc_buf *b, unsigned long pages, bool thp)
{
	size_t len = pages * hc_page_size;
	uintptr_t a;

	memset(b, 0, sizeof(*b));
	b->keep_fd = -1;
	b->pages = pages;
	b->map_len = len + (thp ? HC_PMD_SIZE : 0);
	b->map = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		return hc_fail_errno(HC_ESYS, errno, "mmap", NULL);
	}
	a = (uintptr_t)b->map;
	if (thp)
		a = (a + HC_PMD_SIZE - 1) & ~(HC_PMD_SIZE - 1);
	b->addr = (unsigned char *)a;
	if (thp && madvise(b->addr, len, MADV_HUGEPAGE))
		return hc_fail_errno(HC_ESYS, errno, "madvise(MADV_HUGEPAGE)",
				     "is CONFIG_TRANSPARENT_HUGEPAGE set?");
	return HC_OK;
}

void hc_buf_free(struct hc_buf *b)
{
	if (b->map)
		munmap(b->map, b->map_len);
	b->map = NULL;
	if (b->keep_fd >= 0)
		close(b->keep_fd);
	b->keep_fd = -1;
}
