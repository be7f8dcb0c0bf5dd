// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_bench: migration bandwidth, device fault latency and kernel
 * memory per ioctl of /dev/hmm_dmirrorN.
 *
 * Only the ioctls of the kernel's own HMM test device are used (READ,
 * MIGRATE_TO_DEV, MIGRATE_TO_SYS), so the same binary measures
 * hmm_dmirror.ko and the kernel's test_hmm.ko. Results are CSV lines on
 * stdout (the header says which columns); "dmirror_bench --help" lists
 * the options. Timing uses CLOCK_MONOTONIC; every figure is the median of
 * --iters runs, each on a freshly mapped and populated buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <hmm_dmirror.h>

#define PMD_BYTES	(2UL << 20)
#define MAX_ITERS	64
#define MAX_LIST	32
#define FAULT_REPS_SMALL	32
#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

#define CSV_COLUMNS \
	"kind,module,kernel,pages,bytes,op,iters,median_ns,min_ns,max_ns,gbps,extra"

enum { T_MEMCPY = 1 << 0, T_MIGRATE = 1 << 1, T_FAULT = 1 << 2, T_KMEM = 1 << 3 };
enum { P_4K = 1 << 0, P_THP = 1 << 1 };

static struct {
	int dev;
	const char *module;
	int iters;
	int tests;
	int pages;
	double need_factor;
	size_t sizes[MAX_LIST];
	int nsizes;
	size_t kmem_sizes[MAX_LIST];
	int nkmem;
	size_t fault_pages[MAX_LIST];
	int nfault;
} opt = {
	.iters = 5,
	.tests = T_MEMCPY | T_MIGRATE | T_FAULT | T_KMEM,
	.pages = P_4K | P_THP,
	.need_factor = 3.0,
};

static char kernel[65];
static size_t page_size;
unsigned long dmirror_bench_sink;	/* keeps the touching loads alive */

struct summary {
	unsigned long long med, min, max;
};

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a;
	unsigned long long y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

/* Median (the lower one of an even count), minimum and maximum of @v. */
static struct summary summarize(unsigned long long *v, int n)
{
	struct summary s;

	qsort(v, n, sizeof(*v), cmp_ull);
	s.med = v[(n - 1) / 2];
	s.min = v[0];
	s.max = v[n - 1];
	return s;
}

static const char *ptype(bool thp)
{
	return thp ? "thp" : "4k";
}

/*
 * One CSV line:
 * kind,module,kernel,pages,bytes,op,iters,median_ns,min_ns,max_ns,gbps,extra
 * @s NULL leaves the timing columns empty.
 */
static void row(const char *kind, const char *pages, size_t bytes,
		const char *op, int iters, const struct summary *s,
		double gbps, const char *extra)
{
	printf("%s,%s,%s,%s,%zu,%s,", kind, opt.module, kernel, pages, bytes,
	       op);
	if (s)
		printf("%d,%llu,%llu,%llu,%.4f,", iters, s->med, s->min, s->max,
		       gbps);
	else
		printf(",,,,,");
	printf("%s\n", extra ? extra : "");
	fflush(stdout);
}

static void skip(const char *pages, size_t bytes, const char *op,
		 const char *why)
{
	row("skip", pages, bytes, op, 0, NULL, 0, why);
}

/* Bytes per nanosecond is GB/s (10^9 bytes per second). */
static double gbps(size_t bytes, unsigned long long ns)
{
	return ns ? (double)bytes / ns : 0;
}

/*
 * Anonymous private memory of @size bytes, 2 MiB aligned, with THP
 * advised (@thp) or refused, not populated.
 */
static char *map_buf(size_t size, bool thp)
{
	size_t len = size + 2 * PMD_BYTES;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((unsigned long)p + PMD_BYTES - 1) & ~(PMD_BYTES - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + size, p + len - (a + size));
	if (madvise(a, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE)) {
		munmap(a, size);
		return NULL;
	}
	return a;
}

/* Which share (percent) of the mapping holding @buf is in huge pages. */
static int thp_percent(const char *buf)
{
	unsigned long a, b, kib, len = 0;
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int pct = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &a, &b) == 2) {
			len = a <= (unsigned long)buf &&
			      (unsigned long)buf < b ? b - a : 0;
			continue;
		}
		if (len && sscanf(line, "AnonHugePages: %lu kB", &kib) == 1) {
			pct = (int)(kib * 1024 * 100 / len);
			break;
		}
	}
	fclose(f);
	return pct;
}

struct meminfo {
	long avail, vmalloc, slab, kstack, ptables;
};

static const struct {
	const char *key;
	size_t off;
} meminfo_keys[] = {
	{ "MemAvailable:", offsetof(struct meminfo, avail) },
	{ "VmallocUsed:", offsetof(struct meminfo, vmalloc) },
	{ "Slab:", offsetof(struct meminfo, slab) },
	{ "KernelStack:", offsetof(struct meminfo, kstack) },
	{ "PageTables:", offsetof(struct meminfo, ptables) },
};

/* The fields of struct meminfo (KiB) from /proc/meminfo, open as @fd. */
static int meminfo_read(int fd, struct meminfo *m)
{
	char buf[4096], *p;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	unsigned int i;

	if (n <= 0)
		return -1;
	buf[n] = 0;
	memset(m, 0, sizeof(*m));
	for (p = buf; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		for (i = 0; i < ARRAY_LEN(meminfo_keys); i++) {
			size_t len = strlen(meminfo_keys[i].key);

			if (!strncmp(p, meminfo_keys[i].key, len))
				*(long *)((char *)m + meminfo_keys[i].off) =
					strtol(p + len, NULL, 10);
		}
	}
	return 0;
}

/* MemAvailable in bytes, 0 when unknown. */
static size_t mem_available(void)
{
	int fd = open("/proc/meminfo", O_RDONLY);
	struct meminfo m = { 0 };

	if (fd >= 0) {
		meminfo_read(fd, &m);
		close(fd);
	}
	return (size_t)m.avail * 1024;
}

/* Is there room for @factor * @size bytes? If not, a skip line says so. */
static bool room_for(const char *pages, size_t size, const char *op,
		     double factor)
{
	size_t avail = mem_available(), need = (size_t)(factor * size);
	char why[128];

	if (!avail || need <= avail)
		return true;
	snprintf(why, sizeof(why),
		 "needs about %zu MiB free; MemAvailable is %zu MiB",
		 need >> 20, avail >> 20);
	skip(pages, size, op, why);
	return false;
}

static int dev_ioctl(int fd, unsigned long req, char *addr, char *ptr,
		     size_t npages, struct hmm_dmirror_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->addr = (unsigned long)addr;
	cmd->ptr = (unsigned long)ptr;
	cmd->npages = npages;
	return ioctl(fd, req, cmd) ? -errno : 0;
}

static const char *req_name(unsigned long req)
{
	switch (req) {
	case HMM_DMIRROR_READ:
		return "READ";
	case HMM_DMIRROR_MIGRATE_TO_DEV:
		return "MIGRATE_TO_DEV";
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		return "MIGRATE_TO_SYS";
	}
	return "ioctl";
}

/* Time one ioctl; on failure a skip line names it and the errno. */
static int timed_ioctl(int fd, unsigned long req, char *addr, char *ptr,
		       size_t npages, const char *pages, const char *op,
		       unsigned long long *ns, struct hmm_dmirror_cmd *cmd)
{
	unsigned long long t0 = now_ns();
	int ret = dev_ioctl(fd, req, addr, ptr, npages, cmd);
	char why[96];

	*ns = now_ns() - t0;
	if (ret) {
		snprintf(why, sizeof(why), "%s failed: %s", req_name(req),
			 strerror(-ret));
		skip(pages, npages * page_size, op, why);
	}
	return ret;
}

/* A load from every page of @buf, so that device pages fault back. */
static void touch_pages(const char *buf, size_t size)
{
	unsigned long sum = 0;
	size_t off;

	for (off = 0; off < size; off += page_size)
		sum += (unsigned char)buf[off];
	dmirror_bench_sink += sum;
}

/* First byte of every page equals @val (the data came back intact)? */
static bool pages_hold(const char *buf, size_t size, int val)
{
	size_t off;

	for (off = 0; off < size; off += page_size)
		if ((unsigned char)buf[off] != val)
			return false;
	return true;
}

enum { B_MEMCPY, B_S2D, B_D2S, B_READ_DEV, B_FAULT, B_NR };

static const char * const b_name[B_NR] = {
	"memcpy", "s2d", "d2s", "read_dev", "d2s_fault",
};

/*
 * One size and page kind, --iters times on a fresh buffer: memcpy to a
 * second buffer, MIGRATE_TO_DEV (S->D, which includes the ABI's copy of
 * the device's view to @ptr), MIGRATE_TO_SYS (D->S); then, on another
 * fresh buffer, MIGRATE_TO_DEV untimed, a READ of the resident range (the
 * device->user copy alone), and a load from every page (CPU-fault-driven
 * D->S).
 */
static void bench_migrate(int fd, size_t size, bool thp)
{
	unsigned long long t[B_NR][MAX_ITERS];
	size_t npages = size / page_size;
	const char *pt = ptype(thp);
	struct hmm_dmirror_cmd cmd;
	int i, b, val, thp_min = 100;
	bool do_mig = opt.tests & T_MIGRATE;
	unsigned long long moved = 0;
	char *out, *buf, extra[96];
	bool intact = true;

	if (!room_for(pt, size, do_mig ? "s2d" : "memcpy",
		      do_mig ? opt.need_factor : 2.25))
		return;
	out = map_buf(size, thp);
	if (!out) {
		skip(pt, size, "memcpy", "mmap failed");
		return;
	}
	memset(out, 0, size);
	for (i = 0; i < opt.iters; i++) {
		val = 0x41 + i;
		buf = map_buf(size, thp);
		if (!buf) {
			skip(pt, size, "memcpy", "mmap failed");
			goto out;
		}
		memset(buf, val, size);
		b = thp_percent(buf);
		if (b < thp_min)
			thp_min = b;

		t[B_MEMCPY][i] = now_ns();
		memcpy(out, buf, size);
		t[B_MEMCPY][i] = now_ns() - t[B_MEMCPY][i];
		if (!do_mig) {
			munmap(buf, size);
			continue;
		}
		if (timed_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, out, npages,
				pt, "s2d", &t[B_S2D][i], &cmd))
			goto fail;
		intact &= pages_hold(out, size, val);
		if (timed_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, NULL, npages,
				pt, "d2s", &t[B_D2S][i], &cmd))
			goto fail;
		moved = cmd.cpages;
		intact &= pages_hold(buf, size, val);

		/* a fresh buffer again, so THP rows fault from THP sources */
		munmap(buf, size);
		buf = map_buf(size, thp);
		if (!buf) {
			skip(pt, size, "d2s_fault", "mmap failed");
			goto out;
		}
		memset(buf, val, size);
		if (timed_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, out, npages,
				pt, "s2d", &t[B_FAULT][i], &cmd) ||
		    timed_ioctl(fd, HMM_DMIRROR_READ, buf, out, npages,
				pt, "read_dev", &t[B_READ_DEV][i], &cmd))
			goto fail;
		t[B_FAULT][i] = now_ns();
		touch_pages(buf, size);
		t[B_FAULT][i] = now_ns() - t[B_FAULT][i];
		intact &= pages_hold(buf, size, val);
		munmap(buf, size);
	}

	for (b = 0; b < B_NR; b++) {
		unsigned long long rel[MAX_ITERS];
		struct summary s, r;
		int n = 0;

		if (b != B_MEMCPY && !do_mig)
			break;
		/* speed relative to the memcpy of the same iteration, x 10^4 */
		for (i = 0; i < opt.iters; i++)
			rel[i] = t[b][i] ? t[B_MEMCPY][i] * 10000 / t[b][i] : 0;
		r = summarize(rel, opt.iters);
		s = summarize(t[b], opt.iters);
		n = snprintf(extra, sizeof(extra), "thp_pct=%d;rel=%.4f", thp_min,
			     r.med / 10000.0);
		if (b == B_D2S)
			n += snprintf(extra + n, sizeof(extra) - n, ";moved=%llu",
				      moved);
		if (b != B_MEMCPY && !intact)
			snprintf(extra + n, sizeof(extra) - n, ";data=BAD");
		row("bw", pt, size, b_name[b], opt.iters, &s, gbps(size, s.med),
		    extra);
	}
	goto out;
fail:
	munmap(buf, size);
out:
	munmap(out, size);
}

/*
 * Device fault latency: READ of @npages never-touched pages (every page
 * is faulted in by the device's hmm_range_fault()), per page.
 */
static void bench_fault(int fd, size_t npages)
{
	int i, reps = npages < 512 ? FAULT_REPS_SMALL : opt.iters;
	unsigned long long call[MAX_ITERS], per[MAX_ITERS], rounds = 0;
	size_t size = npages * page_size;
	struct hmm_dmirror_cmd cmd;
	struct summary s, c;
	char *out, *buf;
	char extra[96];

	if (reps > MAX_ITERS)
		reps = MAX_ITERS;
	if (!room_for("4k", size, "read_untouched", 2.25))
		return;
	out = map_buf(size, false);
	if (!out) {
		skip("4k", size, "read_untouched", "mmap failed");
		return;
	}
	memset(out, 0, size);
	for (i = 0; i < reps; i++) {
		buf = map_buf(size, false);
		if (!buf) {
			skip("4k", size, "read_untouched", "mmap failed");
			goto out;
		}
		if (timed_ioctl(fd, HMM_DMIRROR_READ, buf, out, npages, "4k",
				"read_untouched", &call[i], &cmd)) {
			munmap(buf, size);
			goto out;
		}
		rounds = cmd.faults;
		per[i] = call[i] / npages;
		munmap(buf, size);
	}
	c = summarize(call, reps);
	s = summarize(per, reps);
	snprintf(extra, sizeof(extra), "call_ns=%llu;fault_rounds=%llu",
		 c.med, rounds);
	row("fault", "4k", size, "read_untouched", reps, &s, gbps(size, c.med),
	    extra);
out:
	munmap(out, size);
}

struct sampler {
	int fd;
	int stop;
	long samples;
	struct meminfo peak;
};

/* Keeps the largest value of every field seen until ->stop is set. */
static void *sampler_run(void *arg)
{
	struct sampler *sm = arg;
	struct meminfo m;

	while (!__atomic_load_n(&sm->stop, __ATOMIC_ACQUIRE)) {
		if (meminfo_read(sm->fd, &m))
			break;
		sm->samples++;
		if (m.vmalloc > sm->peak.vmalloc)
			sm->peak.vmalloc = m.vmalloc;
		if (m.slab > sm->peak.slab)
			sm->peak.slab = m.slab;
		if (m.kstack > sm->peak.kstack)
			sm->peak.kstack = m.kstack;
		if (m.ptables > sm->peak.ptables)
			sm->peak.ptables = m.ptables;
	}
	return NULL;
}

/*
 * One ioctl with /proc/meminfo sampled by a second thread throughout:
 * the peak above the value before is what the ioctl needed while it ran,
 * the value after minus before is what stayed (device page tables, ...).
 */
static void kmem_one(int fd, unsigned long req, char *buf, char *out,
		     size_t size, const char *pt, const char *op)
{
	struct sampler sm = { .fd = open("/proc/meminfo", O_RDONLY) };
	struct hmm_dmirror_cmd cmd;
	struct meminfo before, after;
	unsigned long long ns;
	char extra[320];
	pthread_t th;
	int ret;

	if (sm.fd < 0 || meminfo_read(sm.fd, &before)) {
		skip(pt, size, op, "cannot read /proc/meminfo");
		goto out;
	}
	sm.peak = before;
	if (pthread_create(&th, NULL, sampler_run, &sm)) {
		skip(pt, size, op, "pthread_create failed");
		goto out;
	}
	usleep(20000);
	ret = timed_ioctl(fd, req, buf, out, size / page_size, pt, op, &ns,
			  &cmd);
	usleep(20000);
	__atomic_store_n(&sm.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	if (ret || meminfo_read(sm.fd, &after))
		goto out;
	snprintf(extra, sizeof(extra),
		 "vmalloc_peak_kib=%ld;vmalloc_after_kib=%ld;slab_peak_kib=%ld;slab_after_kib=%ld;kstack_peak_kib=%ld;ptables_peak_kib=%ld;samples=%ld",
		 sm.peak.vmalloc - before.vmalloc,
		 after.vmalloc - before.vmalloc,
		 sm.peak.slab - before.slab, after.slab - before.slab,
		 sm.peak.kstack - before.kstack,
		 sm.peak.ptables - before.ptables, sm.samples);
	row("kmem", pt, size, op, 1, NULL, 0, extra);
out:
	if (sm.fd >= 0)
		close(sm.fd);
}

/*
 * Kernel memory of one MIGRATE_TO_DEV and one MIGRATE_TO_SYS of @size,
 * after one untimed round trip so that device memory the module adds on
 * demand already exists (that is device storage, not per-ioctl memory).
 */
static void bench_kmem(int fd, size_t size)
{
	size_t npages = size / page_size;
	struct hmm_dmirror_cmd cmd;
	char *buf, *out;
	int ret;

	if (!room_for("4k", size, "s2d", opt.need_factor))
		return;
	buf = map_buf(size, false);
	out = map_buf(size, false);
	if (!buf || !out) {
		skip("4k", size, "s2d", "mmap failed");
		goto out;
	}
	memset(buf, 0x5a, size);
	memset(out, 0, size);
	ret = dev_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, out, npages, &cmd);
	if (!ret)
		ret = dev_ioctl(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, NULL, npages,
				&cmd);
	if (ret) {
		skip("4k", size, "s2d", strerror(-ret));
		goto out;
	}
	kmem_one(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buf, out, size, "4k", "s2d");
	kmem_one(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buf, NULL, size, "4k", "d2s");
out:
	if (buf)
		munmap(buf, size);
	if (out)
		munmap(out, size);
}

/* "512K", "256M", "1G" or a byte count; 0 when malformed. */
static size_t parse_size(const char *s)
{
	unsigned long long v;
	int shift = 0;
	char *end;

	v = strtoull(s, &end, 0);
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	return *end ? 0 : v << shift;
}

/* Comma-separated sizes (or plain counts with @count) into @v. */
static int parse_list(const char *arg, size_t *v, int *n, bool count)
{
	char *copy = strdup(arg), *tok, *save = NULL;

	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t x = parse_size(tok);

		if (!x || *n == MAX_LIST || (!count && x % page_size)) {
			free(copy);
			return -1;
		}
		v[(*n)++] = x;
	}
	free(copy);
	return *n ? 0 : -1;
}

static int parse_tests(const char *arg)
{
	static const char * const names[] = { "memcpy", "migrate", "fault",
					      "kmem" };
	char *copy = strdup(arg), *tok, *save = NULL;
	unsigned int i;
	int mask = 0;

	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < 4 && strcmp(tok, names[i]); i++)
			;
		if (i == 4) {
			mask = 0;
			break;
		}
		mask |= 1 << i;
	}
	free(copy);
	return mask;
}

static void help(FILE *f)
{
	fprintf(f,
		"dmirror_bench [options]\n"
		"  --dev N            device /dev/hmm_dmirrorN (default 0, device-private)\n"
		"  --module NAME      label for the module column (default: the loaded one)\n"
		"  --tests LIST       memcpy,migrate,fault,kmem (default: all)\n"
		"  --pages KIND       4k, thp or both (default both)\n"
		"  --sizes LIST       e.g. 512K,1M,256M,1G (default 512K..256M, doubling)\n"
		"  --iters N          runs per figure, median reported (default 5, max 64)\n"
		"  --kmem-sizes LIST  sizes of the kernel memory runs (default 2M,256M)\n"
		"  --fault-pages LIST page counts of the fault latency runs (default 1,512,16384)\n"
		"  --need-factor F    a migration of S bytes needs F*S bytes MemAvailable,\n"
		"                     else the row is skipped (default 3)\n"
		"Output: CSV, one line per figure:\n"
		"  " CSV_COLUMNS "\n"
		"  kind bw: op memcpy, s2d, d2s, read_dev, d2s_fault (GB/s = 10^9 B/s);\n"
		"           extra rel = median over iterations of the op's speed\n"
		"           relative to the memcpy of the same iteration\n"
		"  kind fault: op read_untouched, times per page, gbps of the whole READ\n"
		"  kind kmem: op s2d, d2s, figures in extra (KiB above the value before)\n"
		"  kind skip: extra says why\n");
}

static const char *loaded_module(void)
{
	if (!access("/sys/module/hmm_dmirror", F_OK))
		return "hmm_dmirror";
	if (!access("/sys/module/test_hmm", F_OK))
		return "test_hmm";
	return "unknown";
}

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "module", required_argument, NULL, 'm' },
		{ "tests", required_argument, NULL, 't' },
		{ "pages", required_argument, NULL, 'p' },
		{ "sizes", required_argument, NULL, 's' },
		{ "iters", required_argument, NULL, 'i' },
		{ "kmem-sizes", required_argument, NULL, 'k' },
		{ "fault-pages", required_argument, NULL, 'f' },
		{ "need-factor", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, bad = 0;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			opt.dev = atoi(optarg);
			break;
		case 'm':
			opt.module = optarg;
			break;
		case 't':
			opt.tests = parse_tests(optarg);
			bad |= !opt.tests;
			break;
		case 'p':
			opt.pages = !strcmp(optarg, "4k") ? P_4K :
				    !strcmp(optarg, "thp") ? P_THP :
				    !strcmp(optarg, "both") ? P_4K | P_THP : 0;
			bad |= !opt.pages;
			break;
		case 's':
			bad |= parse_list(optarg, opt.sizes, &opt.nsizes, false);
			break;
		case 'i':
			opt.iters = atoi(optarg);
			bad |= opt.iters < 1 || opt.iters > MAX_ITERS;
			break;
		case 'k':
			bad |= parse_list(optarg, opt.kmem_sizes, &opt.nkmem, false);
			break;
		case 'f':
			bad |= parse_list(optarg, opt.fault_pages, &opt.nfault, true);
			break;
		case 'n':
			opt.need_factor = atof(optarg);
			bad |= opt.need_factor <= 0;
			break;
		case 'h':
			help(stdout);
			exit(0);
		default:
			bad = 1;
		}
	}
	if (bad || optind != argc) {
		help(stderr);
		return -1;
	}
	return 0;
}

static void default_lists(void)
{
	size_t s;

	if (!opt.nsizes) {
		for (s = 512UL << 10; s <= 256UL << 20; s <<= 1)
			opt.sizes[opt.nsizes++] = s;
	}
	if (!opt.nkmem) {
		opt.kmem_sizes[opt.nkmem++] = 2UL << 20;
		opt.kmem_sizes[opt.nkmem++] = 256UL << 20;
	}
	if (!opt.nfault) {
		opt.fault_pages[opt.nfault++] = 1;
		opt.fault_pages[opt.nfault++] = 512;
		opt.fault_pages[opt.nfault++] = 16384;
	}
}

int main(int argc, char **argv)
{
	struct utsname u;
	char path[64];
	int fd = -1, i, k;

	page_size = sysconf(_SC_PAGESIZE);
	if (parse_args(argc, argv))
		return 2;
	default_lists();
	if (!opt.module)
		opt.module = loaded_module();
	if (!uname(&u))
		snprintf(kernel, sizeof(kernel), "%s", u.release);

	if (opt.tests & ~T_MEMCPY) {
		snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", opt.dev);
		fd = open(path, O_RDWR);
		if (fd < 0) {
			fprintf(stderr, "dmirror_bench: %s: %s\n", path,
				strerror(errno));
			return 3;
		}
	}
	printf("# dmirror_bench: %s\n", CSV_COLUMNS);
	for (k = 0; k < 2; k++) {
		if (!(opt.pages & (k ? P_THP : P_4K)) ||
		    !(opt.tests & (T_MEMCPY | T_MIGRATE)))
			continue;
		for (i = 0; i < opt.nsizes; i++) {
			if (k && opt.sizes[i] < PMD_BYTES)
				skip("thp", opt.sizes[i], "s2d",
				     "smaller than a huge page (2 MiB)");
			else
				bench_migrate(fd, opt.sizes[i], k);
		}
	}
	for (i = 0; (opt.tests & T_FAULT) && i < opt.nfault; i++)
		bench_fault(fd, opt.fault_pages[i]);
	for (i = 0; (opt.tests & T_KMEM) && i < opt.nkmem; i++)
		bench_kmem(fd, opt.kmem_sizes[i]);
	if (fd >= 0)
		close(fd);
	return 0;
}
