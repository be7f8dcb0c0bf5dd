// SPDX-License-Identifier: GPL-2.0
/*
 * hmmctl snapshots: one character per page, run-length compressed, with a
 * legend; and buffers laid out page by page to be snapshotted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hmmctl.h"

#define LOC(b)		((b) & 0xf0)
#define ACCESS(b)	((b) & (HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_WRITE))
#define SIZE(b)		((b) & (HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_PUD))

/*
 * The alphabet. Lower case is read-only, upper case writable. Device
 * memory has one letter per kind whatever the mapping size (the JSON
 * output keeps the exact bytes).
 */
static const struct {
	char c;
	const char *what;
} hc_alphabet[] = {
	{ '.', "not mapped" },
	{ '!', "error: no VMA, PROT_NONE or no struct page" },
	{ 's', "system memory, read-only" },
	{ 'S', "system memory, writable" },
	{ 'h', "system memory, PMD-mapped (huge), read-only" },
	{ 'H', "system memory, PMD-mapped (huge), writable" },
	{ 'g', "system memory, PUD-mapped, read-only" },
	{ 'G', "system memory, PUD-mapped, writable" },
	{ 'z', "the zero page" },
	{ 'y', "the huge zero page (PMD)" },
	{ 'd', "this device's private memory, read-only" },
	{ 'D', "this device's private memory, writable" },
	{ 'o', "another device's private memory, read-only" },
	{ 'O', "another device's private memory, writable" },
	{ 'c', "this device's coherent memory, read-only" },
	{ 'C', "this device's coherent memory, writable" },
	{ 'k', "another device's coherent memory, read-only" },
	{ 'K', "another device's coherent memory, writable" },
	{ 'p', "private memory of the peer%s, read-only" },
	{ 'P', "private memory of the peer%s, writable" },
	{ 'q', "coherent memory of the peer%s, read-only" },
	{ 'Q', "coherent memory of the peer%s, writable" },
	{ '?', "a byte outside the ABI" },
};

/*
 * The meaning of character @c, in @buf. A peer's pages are seen through
 * --dev (every snapshot hmmctl prints is): the peer is named when the
 * group is known.
 */
static const char *snap_what(char c, char *buf, size_t len)
{
	int peer = hc_peer_of(hc_opt.dev);
	char name[24] = "";
	size_t i;

	if (peer >= 0)
		snprintf(name, sizeof(name), " (dev%d)", peer);
	for (i = 0; i < ARRAY_SIZE(hc_alphabet); i++)
		if (hc_alphabet[i].c == c) {
			snprintf(buf, len, hc_alphabet[i].what, name);
			return buf;
		}
	return "?";
}

/* The character of one HMM_DMIRROR_SNAPSHOT byte. */
char hc_snap_char(unsigned char b)
{
	static const char dev[6][2] = {
		{ 'd', 'D' }, { 'o', 'O' }, { 'c', 'C' }, { 'k', 'K' },
		{ 'p', 'P' }, { 'q', 'Q' },
	};
	bool w = ACCESS(b) == HMM_DMIRROR_PROT_WRITE;

	if (b == HMM_DMIRROR_PROT_ERROR)
		return '!';
	if (b == HMM_DMIRROR_PROT_NONE)
		return '.';
	if (ACCESS(b) != HMM_DMIRROR_PROT_READ && !w)
		return '?';
	if (SIZE(b) == (HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_PUD))
		return '?';
	switch (LOC(b)) {
	case HMM_DMIRROR_PROT_NONE:
		if (SIZE(b) == HMM_DMIRROR_PROT_PMD)
			return w ? 'H' : 'h';
		if (SIZE(b) == HMM_DMIRROR_PROT_PUD)
			return w ? 'G' : 'g';
		return w ? 'S' : 's';
	case HMM_DMIRROR_PROT_ZERO:
		if (w || SIZE(b) == HMM_DMIRROR_PROT_PUD)
			return '?';
		return SIZE(b) ? 'y' : 'z';
	case HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL:
	case HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE:
	case HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL:
	case HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE:
	case HMM_DMIRROR_PROT_DEV_PRIVATE_PEER:
	case HMM_DMIRROR_PROT_DEV_COHERENT_PEER:
		return dev[(LOC(b) - HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL) >> 4][w];
	}
	return '?';
}

/* Pages whose byte has location @loc (bits 4-7), errors excluded. */
unsigned long hc_snap_count(const unsigned char *bytes, unsigned long n,
			    unsigned char loc_mask, unsigned char loc)
{
	unsigned long i, k = 0;

	for (i = 0; i < n; i++)
		if (bytes[i] != HMM_DMIRROR_PROT_ERROR &&
		    (bytes[i] & loc_mask) == loc)
			k++;
	return k;
}

/* HMM_DMIRROR_SNAPSHOT of the whole of @b into @bytes. */
int hc_snapshot(int fd, const struct hc_buf *b, unsigned char *bytes)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	ret = hc_ioctl(fd, HMM_DMIRROR_SNAPSHOT, "SNAPSHOT",
		       (uintptr_t)b->addr, bytes, b->pages, &cmd);
	if (ret)
		return ret;
	if (cmd.cpages != b->pages)
		return hc_fail(HC_ESTATE, "SNAPSHOT: %llu of %lu pages described",
			       (unsigned long long)cmd.cpages, b->pages);
	return HC_OK;
}

/* Append the run-length form of @chars to @f, wrapping text lines. */
static void snap_rle(FILE *f, const char *chars, unsigned long n, bool wrap)
{
	unsigned long i, j, col = 0;
	int len;

	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && chars[j] == chars[i]; j++)
			;
		if (i && wrap && col > 60) {
			fputs("\n    ", f);
			col = 4;
		} else if (i) {
			fputc(' ', f);
			col++;
		}
		if (j - i == 1)
			len = fprintf(f, "%c", chars[i]);
		else
			len = fprintf(f, "%c*%lu", chars[i], j - i);
		col += len;
	}
}

/**
 * hc_snap_print() - output a snapshot
 * @key:    its name in the output
 * @bytes:  the snapshot bytes
 * @n:      their number
 * @legend: add the meaning of every character that occurs (text output)
 *
 * JSON: {"pages":N,"rle":"S*4 D*4","chars":"SSSSDDDD",
 * "runs":[{"char":"S","byte":2,"count":4},...]}.
 */
void hc_snap_print(const char *key, const unsigned char *bytes,
		   unsigned long n, bool legend)
{
	char *chars, *json = NULL, *text = NULL, label[64], what[96];
	bool seen[256] = { false };
	size_t jlen, tlen;
	unsigned long i, j;
	FILE *f;
	int b;

	chars = calloc(n + 1, 1);
	if (!chars)
		return;
	for (i = 0; i < n; i++) {
		chars[i] = hc_snap_char(bytes[i]);
		seen[bytes[i]] = true;
	}

	f = open_memstream(&json, &jlen);
	if (!f)
		goto out;
	fprintf(f, "{\"pages\":%lu,\"rle\":\"", n);
	snap_rle(f, chars, n, false);
	fputs("\",\"chars\":", f);
	hc_json_string(f, chars);
	fputs(",\"runs\":[", f);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && bytes[j] == bytes[i]; j++)
			;
		fprintf(f, "%s{\"char\":\"%c\",\"byte\":%u,\"count\":%lu}",
			i ? "," : "", chars[i], bytes[i], j - i);
	}
	fputs("]}", f);
	fclose(f);

	f = open_memstream(&text, &tlen);
	if (!f)
		goto out;
	snprintf(label, sizeof(label), "%s", key);
	for (i = 0; label[i]; i++)
		if (label[i] == '_')
			label[i] = ' ';
	fprintf(f, "%s (%lu pages): ", label, n);
	snap_rle(f, chars, n, true);
	for (i = 0; legend && i < n; i++) {
		if (memchr(chars, chars[i], i))
			continue;
		fprintf(f, "\n  %c  %-44s", chars[i],
			snap_what(chars[i], what, sizeof(what)));
		for (b = 0; b < 256; b++)
			if (seen[b] && hc_snap_char(b) == chars[i])
				fprintf(f, " 0x%02x", b);
	}
	fclose(f);
	hc_out_raw(key, json, text);
out:
	free(json);
	free(text);
	free(chars);
}

/* Layout letters: the snapshot alphabet, read as "make it so". */
enum seg_kind { SEG_FILL, SEG_RO, SEG_ZERO, SEG_NONE, SEG_PROTNONE,
		SEG_DEV, SEG_OTHER };

static int seg_kind(char c)
{
	switch (c) {
	case 'S':
	case 'w':
		return SEG_FILL;
	case 's':
	case 'r':
		return SEG_RO;
	case 'z':
		return SEG_ZERO;
	case '.':
	case 'n':
		return SEG_NONE;
	case '!':
	case 'x':
		return SEG_PROTNONE;
	case 'D':
	case 'C':
		return SEG_DEV;
	case 'O':
	case 'K':
		return SEG_OTHER;
	}
	return -1;
}

#define HC_MAX_SEGS	64

struct seg {
	int kind;
	unsigned long first, pages;
};

static int parse_count(const char **p, unsigned long *n)
{
	char *end;

	errno = 0;
	*n = strtoul(*p, &end, 10);
	if (errno || end == *p || *n == 0 || *n > (1UL << 20))
		return -1;
	*p = end;
	return 0;
}

static int layout_parse(const char *spec, struct seg *segs, int *nsegs,
			unsigned long *total)
{
	const char *p = spec;
	unsigned long n;
	int k;

	*nsegs = 0;
	*total = 0;
	while (*p) {
		if (*p == ',' || *p == ' ') {
			p++;
			continue;
		}
		n = 1;
		if (*p >= '0' && *p <= '9' && parse_count(&p, &n))
			goto bad;
		k = seg_kind(*p);
		if (k < 0)
			return hc_fail(HC_EUSAGE,
				       "--layout: '%c' is not a layout letter (S s z . ! D O)",
				       *p);
		p++;
		if (*p == '*') {
			p++;
			if (parse_count(&p, &n))
				goto bad;
		}
		if (*nsegs == HC_MAX_SEGS || *total + n > (1UL << 20))
			return hc_fail(HC_EUSAGE,
				       "--layout: at most %d runs and %lu pages",
				       HC_MAX_SEGS, 1UL << 20);
		segs[*nsegs].kind = k;
		segs[*nsegs].first = *total;
		segs[*nsegs].pages = n;
		(*nsegs)++;
		*total += n;
	}
	if (*nsegs)
		return HC_OK;
bad:
	return hc_fail(HC_EUSAGE,
		       "--layout '%s': expected runs like 4S or S*4, separated by commas",
		       spec);
}

static int layout_migrate(int fd, struct hc_buf *b, const struct seg *s,
			  const char *who)
{
	struct hmm_dmirror_cmd cmd;
	char name[64];
	void *view;
	int ret;

	view = malloc(s->pages * hc_page_size);
	if (!view)
		return hc_fail_errno(HC_ESYS, ENOMEM, "malloc", NULL);
	snprintf(name, sizeof(name), "MIGRATE_TO_DEV (%s, pages %lu-%lu)",
		 who, s->first, s->first + s->pages - 1);
	ret = hc_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, name,
		       (uintptr_t)(b->addr + s->first * hc_page_size), view,
		       s->pages, &cmd);
	free(view);
	return ret;
}

/**
 * hc_layout_build() - map a buffer and put each run of pages in the state
 * its letter names
 * @spec:  the layout, e.g. "4S,4s,4z,4.,4!,4D,4O"
 * @fd:    the device that "D" migrates to
 * @other: the device number "O" migrates to (opened here, kept in @b)
 * @thp:   2 MiB aligned, huge pages advised
 * @b:     the buffer
 *
 * Return: HC_OK or an exit code with the reason recorded.
 */
int hc_layout_build(const char *spec, int fd, int other, bool thp,
		    struct hc_buf *b)
{
	struct seg segs[HC_MAX_SEGS];
	unsigned long total;
	int i, n, ret, prot;
	unsigned char *a;

	ret = layout_parse(spec, segs, &n, &total);
	if (!ret)
		ret = hc_buf_alloc(b, total, thp);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		a = b->addr + segs[i].first * hc_page_size;
		if (segs[i].kind == SEG_ZERO)
			hc_touch_read(a, segs[i].pages);
		else if (segs[i].kind != SEG_NONE &&
			 segs[i].kind != SEG_PROTNONE)
			hc_pattern_fill(a, segs[i].first, segs[i].pages);
	}
	for (i = 0; i < n; i++) {
		if (segs[i].kind == SEG_DEV) {
			ret = layout_migrate(fd, b, &segs[i], "this device");
		} else if (segs[i].kind == SEG_OTHER) {
			ret = b->keep_fd < 0 ? hc_open(other, &b->keep_fd) : 0;
			if (!ret)
				ret = layout_migrate(b->keep_fd, b, &segs[i],
						     "the other device");
		}
		if (ret)
			return ret;
	}
	for (i = 0; i < n; i++) {
		if (segs[i].kind != SEG_RO && segs[i].kind != SEG_PROTNONE)
			continue;
		prot = segs[i].kind == SEG_RO ? PROT_READ : PROT_NONE;
		a = b->addr + segs[i].first * hc_page_size;
		if (mprotect(a, segs[i].pages * hc_page_size, prot))
			return hc_fail_errno(HC_ESYS, errno, "mprotect", NULL);
	}
	return HC_OK;
}
