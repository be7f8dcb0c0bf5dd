// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_stress: several processes, each with several threads, hammer
 * one kind of hmm_dmirror device for a bounded time with random device
 * ioctls, CPU reads and writes, munmap/mmap, mprotect, MADV_DONTNEED,
 * fork, close/reopen of the device and one-shot large-allocation
 * failures (HMM_DMIRROR_FLAG_FAIL_ALLOC, so that migrations fall back to
 * base pages while the rest goes on), and check every byte against a
 * model and every ioctl result against the errno contract of
 * uapi/hmm_dmirror.h.
 *
 * The model. Each worker process has a private anonymous region cut in
 * stripes of STRIPE_PAGES pages; stripe s belongs to thread s % threads,
 * and only that thread (its owner) ever writes it, remaps it, changes its
 * protection or discards it. Each thread also owns a slice of a small
 * MAP_SHARED region. Every page carries a pattern that encodes the seed,
 * the process, the page and a generation: the owner knows the exact
 * generation each of its pages must hold (or zero after a discard), so
 * whatever it reads back from its own pages, by CPU or through any
 * device ioctl, is compared exactly. Pages of other threads are read
 * concurrently with their owner's writes and can only be checked word by
 * word: a word must be zero or belong to that very page, word and seed,
 * with a generation that was written at some point.
 *
 * Everybody migrates, snapshots, reads and takes exclusive access on any
 * range, through shared descriptors (two devices of the kind under test
 * and one of the other kind when present) and a descriptor of its own.
 * The owner of a stripe brackets each change of its mapping with a
 * sequence count, so another thread knows whether the range of an ioctl
 * stayed mapped read-write throughout: then only the errnos possible on
 * such a range are accepted, otherwise any errno the header documents for
 * that ioctl. The owner also checks the exact errno of each ioctl on its
 * own stripe while it is read-only, PROT_NONE or unmapped.
 *
 * The working set is larger than the device (capacity read from debugfs),
 * a sweep migrates everything once at start, and threads issue RELEASE
 * now and then, so eviction runs all the time.
 *
 * -I PCT turns the module's fault injection on (kernels with
 * CONFIG_FAULT_INJECTION_DEBUG_FS; dmirror_inject.h) for the worker
 * threads and what they fork, not for the processes that check: each
 * ioctl then also accepts the errnos a forced failure gives it (inj_set():
 * opd[].inj, and for the ioctls that fault pages of another device home
 * the errno a forced failure of that gives, probed at the start), and
 * those errnos, and RELEASE's -EBUSY (a forced eviction failure keeps
 * pages on the device), count neither against SOFT_MAX_PCT nor as the
 * module giving up. Every byte is still checked. The run must see the
 * kernel's count of forced failures grow and some call fail with their
 * errnos. The CPU-fault point (fail_migrate_fault) stays off: it sends
 * SIGBUS, which the model cannot take.
 *
 * -P: the module was loaded with peer_group=1 (else the run fails: the
 * parameter must read Y; without -P it must read N). The two devices of
 * the kind under test are then one peer group: a device maps its peer's
 * pages where they are, MIGRATE_TO_DEV takes them from the peer, and
 * MIGRATE_TO_SYS leaves them alone. Everything above runs as before, with
 * the bytes and errnos checked as strictly; snapshots must show the
 * peer's pages as _PEER (snap_valid()), and location sequences
 * (stress_peer.c) check where each page is after each step. The run must
 * see each of the devices' peer counters grow (peer_pages_read,
 * peer_pages_written, migrated_from_peer, migrated_to_peer), as many
 * pages leave a device for its peer as the peer takes from it, and each
 * process must have seen pages stay on the peer across an access through
 * the other device. Without -P those counters must not move. -P and -I
 * do not go together.
 *
 * Output: TAP, one test per device kind. Exit status 0 when all passed.
 */
#include "dmirror_stress.h"

/* ---- the main process -------------------------------------------------------------------- */

static long long dev_stat(int dev, const char *name)
{
	return dev < 0 ? 0 : dmirror_dev_stat(dev, name);
}

/*
 * -I: the failures each point forced (the kernel's count), the calls that
 * failed with an errno the injection gives, and those only the injection
 * explains. The injection must have forced failures, and some of them
 * must have shown as such an errno: else it did not fire.
 */
static bool check_injected(const struct wstats *sum, const long long *before)
{
	unsigned long long only = 0, seen = 0;
	long long forced;
	char line[400];
	unsigned int op, e;
	size_t len;

	forced = dmirror_inject_report(before);
	len = snprintf(line, sizeof(line), "# accepted only under -I:");
	for (op = 0; op < OP_NR_IOCTL; op++) {
		for (e = 0; e < EB_NR; e++)
			if (inj_set(op) & B(e))
				seen += sum->err[op][e];
		only += sum->injected[op];
		if (sum->injected[op])
			len += snprintf(line + len, sizeof(line) - len,
					" %s %llu", opd[op].name,
					sum->injected[op]);
	}
	say("%s%s", line, only ? "" : " none");
	say("# -I %u: %llu calls failed with an errno the injection gives",
	    cfg.inject, seen);
	if (forced > 0 && seen)
		return true;
	say("# FAIL -I %u: the fault injection %s", cfg.inject,
	    forced < 0 ? "cannot be read back" :
	    !forced ? "forced no failure" :
	    "forced failures, but no call failed with their errnos");
	return false;
}

/*
 * The calls of @op that failed with a soft errno and count against its
 * SOFT_MAX_PCT. Under -I, not those with an errno the injection gives
 * @op (opd[].inj), nor RELEASE's -EBUSY: what a forced failure of an
 * eviction leaves (its pages stay on the device).
 */
static unsigned long long soft_calls(const struct wstats *sum,
				     unsigned int op)
{
	unsigned int cls = B(EB_EBUSY) | B(EB_ENOMEM);

	if (cfg.inject) {
		cls &= ~inj_set(op);
		if (op == OP_RELEASE)
			cls &= ~B(EB_EBUSY);
	}
	return (cls & B(EB_EBUSY) ? sum->err[op][EB_EBUSY] : 0) +
	       (cls & B(EB_ENOMEM) ? sum->err[op][EB_ENOMEM] : 0);
}

static void print_stats(struct wstats *sum)
{
	char line[400];
	unsigned int op, e;
	size_t len;

	for (op = 0; op < OP_NR; op++) {
		if (!sum->ops[op])
			continue;
		len = snprintf(line, sizeof(line), "#   %-17s %8llu", opd[op].name,
			       sum->ops[op]);
		for (e = 1; op < OP_NR_IOCTL && e < EB_NR; e++)
			if (sum->err[op][e])
				len += snprintf(line + len, sizeof(line) - len,
						" %s %llu", eb_name[e],
						sum->err[op][e]);
		say("%s", line);
	}
}

/* Run the workers on device @dev (and its sibling); one TAP test. */
/*
 * Judge the errno counts of a run: a soft errno for at most SOFT_MAX_PCT
 * percent of the calls of each kind, and at least MIN_OK successes of each
 * kind the run issued (with all operations on, every kind must be issued).
 */
static bool check_counts(const struct wstats *sum)
{
	unsigned long long calls, soft, ok, need;
	bool all = cfg.opmask == ~0ULL, good = true;
	unsigned int op, pct;

	for (op = 0; op < OP_NR_IOCTL; op++) {
		calls = sum->ops[op];
		ok = sum->err[op][EB_OK];
		soft = soft_calls(sum, op);
		if (!calls && !all)
			continue;
		pct = op == OP_EXCL ? SOFT_MAX_PCT_EXCL : SOFT_MAX_PCT;
		if (soft > SOFT_SLACK && soft * 100 > calls * pct) {
			say("# FAIL %s: %llu of %llu calls failed with EBUSY or ENOMEM (%u%% may)",
			    opd[op].name, soft, calls, pct);
			good = false;
		}
		/* With all operations on, each process had to reach it. */
		need = min_ok(op) * (all ? cfg.procs : 1);
		/* CHECK_EXCLUSIVE answers with 0 or -EPERM: both count. */
		if (op == OP_CHECK_EXCL)
			ok += sum->err[op][EB_EPERM];
		if (ok < need) {
			say("# FAIL %s: %llu successful calls of %llu, at least %llu required",
			    opd[op].name, ok, calls, need);
			good = false;
		}
	}
	if (!sum->pages_checked) {
		say("# FAIL no page was checked at all");
		good = false;
	}
	return good;
}

static const char * const peer_stat[] = {
	"peer_pages_read", "peer_pages_written", "migrated_from_peer",
	"migrated_to_peer",
};

#define NPEER_STATS	4

/* The peer counters of dev and dev + 1 into @v (-1: unreadable). */
static void peer_stats(int dev, long long v[2][NPEER_STATS])
{
	unsigned int d, i;

	for (d = 0; d < 2; d++)
		for (i = 0; i < NPEER_STATS; i++)
			v[d][i] = dmirror_dev_stat(dev + d, peer_stat[i]);
}

/*
 * The peer counters' movement over a run: with -P each must have grown on
 * both devices, and what left one device for its peer is what the peer
 * took; without -P none may move. Also each process's location
 * sequences (-P).
 */
static bool check_peer(int dev, long long v0[2][NPEER_STATS],
		       long long v1[2][NPEER_STATS])
{
	unsigned long long seqs = 0, stayed = 0, unsure = 0, quiet = 0;
	long long d[2][NPEER_STATS];
	unsigned int k, i, w;
	bool good = true;
	char line[300];
	size_t len;

	for (k = 0; k < 2; k++) {
		len = snprintf(line, sizeof(line), "# dev%d:", dev + k);
		for (i = 0; i < NPEER_STATS; i++) {
			d[k][i] = v0[k][i] < 0 || v1[k][i] < 0 ? -1 :
				  v1[k][i] - v0[k][i];
			if (d[k][i] < 0)
				len += snprintf(line + len, sizeof(line) - len,
						" %s unreadable", peer_stat[i]);
			else
				len += snprintf(line + len, sizeof(line) - len,
						" %s +%lld", peer_stat[i],
						d[k][i]);
			if (cfg.peer && d[k][i] <= 0) {
				say("# FAIL dev%d: %s %s", dev + k, peer_stat[i],
				    d[k][i] < 0 ? "cannot be read" :
				    "did not move in a peer group");
				good = false;
			} else if (!cfg.peer && d[k][i] > 0) {
				say("# FAIL dev%d: %s moved by %lld without a peer group",
				    dev + k, peer_stat[i], d[k][i]);
				good = false;
			}
		}
		if (cfg.peer || cfg.verbose)
			say("%s", line);
	}
	if (!cfg.peer)
		return good;
	if (d[0][3] + d[1][3] != d[0][2] + d[1][2]) {
		say("# FAIL %lld pages left a device for its peer, %lld were taken from a peer",
		    d[0][3] + d[1][3], d[0][2] + d[1][2]);
		good = false;
	}
	for (w = 0; w < cfg.procs; w++) {
		seqs += ws_all[w].peer_seqs;
		quiet += ws_all[w].peer_quiet;
		stayed += ws_all[w].peer_stayed;
		unsure += ws_all[w].peer_unsure;
		if (!ws_all[w].peer_stayed) {
			say("# FAIL worker %u: no page seen to stay on the peer across an access",
			    w);
			good = false;
		}
	}
	say("# peer: %llu location sequences, %llu looks with no eviction since the last",
	    seqs, quiet);
	say("# peer: %llu pages stayed on the peer across an access", stayed);
	say("# peer: %llu pages or steps left open by an eviction or a soft errno",
	    unsure);
	return good;
}

static bool run_kind(int num, int dev)
{
	long long pv0[2][NPEER_STATS], pv1[2][NPEER_STATS];
	long long cap, ev0, ev1, mig0, mig1, res;
	long long forced0[DMIRROR_INJECT_NPOINTS];
	struct wstats sum = { 0 };
	unsigned long long total = 0;
	unsigned int w, op, e, done = 0;
	pid_t pids[MAX_PROCS];
	double deadline;
	bool good = true, hung = false;
	int status;

	cfg.dev_a = dev;
	cfg.dev_b = dev + 1;
	cfg.dev_x = is_coherent(dev) ? 0 : (dmirror_have_coherent() ? 2 : -1);
	cap = dmirror_dev_stat(dev, "capacity_pages");
	if (cap <= 0) {
		say("# FAIL cannot read capacity_pages of dev%d (%lld)", dev,
		    cap);
		good = false;
	}
	if (cfg.mib) {
		cfg.np = cfg.mib * 256;
	} else if (cap > 0) {
		/* Together a quarter more than the device holds. */
		cfg.np = (unsigned long)cap * 5 / 4 / cfg.procs;
	} else {
		cfg.np = 65536 * 5 / 4 / cfg.procs;
	}
	cfg.np -= cfg.np % (2 * MAX_RANGE);
	if (cfg.np < 2 * MAX_RANGE)
		cfg.np = 2 * MAX_RANGE;
	if (cfg.np + cfg.threads * SHARED_PAGES > MAX_PAGES)
		cfg.np = MAX_PAGES - 2 * MAX_RANGE;

	say("# dev%d (%s) with dev%d%s and %s, %u s",
	    dev, is_coherent(dev) ? "device-coherent" : "device-private",
	    cfg.dev_b, cfg.peer ? " (one peer group)" : "",
	    cfg.dev_x < 0 ? "no other kind" :
	    cfg.dev_x ? "dev2" : "dev0", cfg.duration);
	say("# %u processes x %u threads, %lu pages (%lu MiB) each; device capacity %lld pages",
	    cfg.procs, cfg.threads, cfg.np, cfg.np / 256, cap);
	ev0 = dev_stat(dev, "evicted_pages") + dev_stat(dev + 1, "evicted_pages");
	mig0 = dev_stat(dev, "migrated_to_dev");
	peer_stats(dev, pv0);

	for (w = 0; cfg.inject && w < DMIRROR_INJECT_NPOINTS; w++)
		forced0[w] = dmirror_inject_forced(w);
	memset(ws_all, 0, MAX_PROCS * sizeof(*ws_all));
	*write_token = 0;
	t_end = now_s() + cfg.duration;
	for (w = 0; w < cfg.procs; w++) {
		pids[w] = fork();
		if (pids[w] < 0) {
			say("# fork: %s", strerror(errno));
			return false;
		}
		if (!pids[w])
			_exit(worker(w));
	}
	deadline = t_end + GRACE_S;
	while (done < cfg.procs) {
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid > 0) {
			for (w = 0; w < cfg.procs; w++)
				if (pids[w] == pid)
					break;
			done++;
			if (w < cfg.procs)
				pids[w] = 0;
			if (!WIFEXITED(status) || WEXITSTATUS(status)) {
				good = false;
				say("# worker %u: %s %d", w,
				    WIFEXITED(status) ? "exit status" :
				    "killed by signal",
				    WIFEXITED(status) ? WEXITSTATUS(status) :
				    WTERMSIG(status));
			}
			continue;
		}
		if (pid < 0 && errno != EINTR)
			break;
		if (now_s() > deadline) {
			for (w = 0; w < cfg.procs; w++) {
				if (!pids[w])
					continue;
				say("# worker %u (pid %d) still running %d s after the end: hung",
				    w, pids[w], GRACE_S);
				kill(pids[w], SIGKILL);
			}
			hung = true;
			good = false;
			break;
		}
		usleep(50000);
	}

	for (w = 0; w < cfg.procs; w++) {
		for (op = 0; op < OP_NR; op++) {
			sum.ops[op] += ws_all[w].ops[op];
			for (e = 0; op < OP_NR_IOCTL && e < EB_NR; e++)
				sum.err[op][e] += ws_all[w].err[op][e];
			if (op < OP_NR_IOCTL)
				sum.injected[op] += ws_all[w].injected[op];
		}
		sum.pages_checked += ws_all[w].pages_checked;
		sum.failures += ws_all[w].failures;
	}
	if (!hung && !check_counts(&sum))
		good = false;
	if (cfg.verbose || cfg.inject || sum.failures || !good)
		print_stats(&sum);
	if (!hung && cfg.inject && !check_injected(&sum, forced0))
		good = false;
	peer_stats(dev, pv1);
	if (!hung && !check_peer(dev, pv0, pv1))
		good = false;
	ev1 = dev_stat(dev, "evicted_pages") + dev_stat(dev + 1, "evicted_pages");
	mig1 = dev_stat(dev, "migrated_to_dev");
	for (op = 0; op < OP_NR; op++)
		total += sum.ops[op];
	say("# %llu operations, %llu pages checked, %lld pages migrated to dev%d, %lld evicted",
	    total, sum.pages_checked, mig1 - mig0, dev, ev1 - ev0);

	/*
	 * Each process's first thread sweeps all of its memory into dev at
	 * the start, and together that is more than dev holds: dev must
	 * have evicted.
	 */
	if (!hung && (cfg.opmask & (1ULL << OP_SWEEP)) && cap > 0 &&
	    (long long)(cfg.np * cfg.procs) > cap && ev1 <= ev0) {
		say("# FAIL %lu pages against %lld per device, %lld to dev%d: no eviction",
		    cfg.np * cfg.procs, cap, mig1 - mig0, dev);
		good = false;
	}

	/* Every process has exited: no device page may be left in use. */
	if (!hung) {
		for (w = 0; w < FREE_STALL_S * 20; w++) {
			long long r0 = dev_stat(dev, "resident_pages");
			long long r1 = dev_stat(dev + 1, "resident_pages");
			long long rx = dev_stat(cfg.dev_x, "resident_pages");

			/* An unreadable counter (-1) counts as in use. */
			res = r0 + r1 + rx;
			if (r0 < 0 || r1 < 0 || rx < 0)
				res = 1;
			if (!res)
				break;
			usleep(50000);
		}
		if (res) {
			say("# FAIL device memory still in use %d s after all exited",
			    FREE_STALL_S);
			say("# pages in use after all exited: dev%d %lld, dev%d %lld, dev%d %lld",
			    dev, dev_stat(dev, "resident_pages"), dev + 1,
			    dev_stat(dev + 1, "resident_pages"), cfg.dev_x,
			    dev_stat(cfg.dev_x, "resident_pages"));
			good = false;
		}
	}
	if (sum.failures)
		good = false;
	say("%sok %d stress dev%d (%s)%s", good ? "" : "not ", num, dev,
	    is_coherent(dev) ? "device-coherent" : "device-private",
	    hung ? " # hung" : "");
	return good;
}

/* ---- -I: fault injection --------------------------------------------------------- */

/*
 * -I: what a device fault returns when a page of another device cannot
 * come home because fail_sys_page failed its system page (the CPU-fault
 * handler returns VM_FAULT_OOM): -ENOMEM where hmm_range_fault() maps a
 * fault's error with vm_fault_to_errno() (7.3), -EFAULT where it maps
 * every one to -EFAULT (6.1, 6.12). A child puts a page on dev1, and
 * reads it through dev0 with every system page refused.
 * Return: the errno class as a bit, 0 when the probe cannot tell.
 */
static unsigned int probe_fault_errno(void)
{
	struct hmm_dmirror_cmd cmd;
	int status, fd0, fd1, ret;
	pid_t pid;
	char *p;

	dmirror_inject_knob(DMIRROR_INJECT_SYS_PAGE, "probability", "100");
	pid = fork();
	if (!pid) {
		p = map_anon(2, PROT_READ | PROT_WRITE);
		fd0 = dmirror_open_dev(0);
		fd1 = dmirror_open_dev(1);
		if (!p || fd0 < 0 || fd1 < 0)
			_exit(255);
		memset(p, 0x5a, PG);
		if (to_dev(fd1, p, p + PG, 1, &cmd) || dmirror_inject_me())
			_exit(255);
		ret = dev_read(fd0, p, p + PG, 1, &cmd);
		_exit(ret < 0 && ret > -255 ? -ret : 0);
	}
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	dmirror_inject_knob(DMIRROR_INJECT_SYS_PAGE, "probability", "0");
	if (pid < 0 || !WIFEXITED(status))
		return 0;
	ret = WEXITSTATUS(status);
	say("# -I: a device fault on another device's page that cannot come home: %s",
	    ret == 255 ? "cannot probe" : ret ? strerror(ret) : "no error");
	return ret == ENOMEM || ret == EFAULT ? B(eb_of(-ret)) : 0;
}

/* -I: on, or SKIP (exit status 4) on a kernel without it. */
static void inject_on(void)
{
	int ret;

	dmirror_inject_prepare();
	ret = dmirror_inject_start(0);
	if (!ret) {
		cfg.inj_fault = probe_fault_errno();
		if (!cfg.inj_fault) {
			say("Bail out! -I: no errno when a fault cannot bring a page home");
			exit(1);
		}
		ret = dmirror_inject_start(cfg.inject);
	}
	if (ret) {
		say("Bail out! cannot turn fault injection on at %u%%: %s",
		    cfg.inject, strerror(-ret));
		exit(1);
	}
}

/*
 * -P needs the module's peer_group parameter to read Y, and a run without
 * it needs N: the model of the one cannot judge the other. An unreadable
 * parameter is a module without peer groups (N).
 */
static bool peer_group_matches(void)
{
	int yn = dmirror_param_yn("peer_group");

	if (cfg.peer && yn != 1) {
		say("Bail out! -P: hmm_dmirror has no peer group (%s/peer_group %s)",
		    DMIRROR_PARAM_DIR, yn ? "cannot be read" : "reads N");
		say("# load it with peer_group=1 for -P");
		return false;
	}
	if (!cfg.peer && yn == 1) {
		say("Bail out! hmm_dmirror has a peer group (%s/peer_group reads Y): use -P",
		    DMIRROR_PARAM_DIR);
		return false;
	}
	return true;
}

static unsigned long long parse_ops(const char *list)
{
	unsigned long long mask = 0;
	char buf[512], *tok, *save;
	unsigned int op;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (op = 0; op < OP_NR; op++)
			if (!strcmp(tok, opd[op].name))
				break;
		if (op == OP_NR) {
			fprintf(stderr, "unknown operation '%s'\n", tok);
			exit(2);
		}
		mask |= 1ULL << op;
	}
	return mask;
}

static void help(const char *prog)
{
	unsigned int op;

	fprintf(stderr,
		"usage: %s [-d seconds] [-t threads] [-p processes] [-D dev] [-s seed]\n"
		"          [-m MiB per process] [-o op,op,...] [-F prio] [-I pct | -P] [-v]\n"
		"  -D 0|2   device-private (0, with 1) or device-coherent (2, with 3);\n"
		"           default: both kinds present\n"
		"  -m       private memory per process; default: the processes together\n"
		"           use a quarter more than the device holds\n"
		"  -F       SCHED_FIFO: thread i at priority prio + i, the watchdogs\n"
		"           above them (prio + threads at most %d)\n"
		"  -I       the module's fault injection (debugfs hmm_dmirror/fail_*) at\n"
		"           pct percent (1-100) for the worker threads; all points but\n"
		"           fail_migrate_fault, whose SIGBUS this test cannot take\n"
		"  -P       hmm_dmirror was loaded with peer_group=1: the two devices\n"
		"           of a kind are a peer group; check its behaviour too\n"
		"  -o       only these operations:", prog, MAX_FIFO);
	for (op = 0; op < OP_NR; op++)
		fprintf(stderr, " %s", opd[op].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int opt, dev = -1, devs[2], ndev = 0, i;
	bool seeded = false, good = true;
	char inj[16];

	while ((opt = getopt(argc, argv, "d:t:p:D:s:m:o:F:I:Pvh")) != -1) {
		switch (opt) {
		case 'd':
			cfg.duration = strtoul(optarg, NULL, 0);
			break;
		case 't':
			cfg.threads = strtoul(optarg, NULL, 0);
			break;
		case 'p':
			cfg.procs = strtoul(optarg, NULL, 0);
			break;
		case 'D':
			dev = strtol(optarg, NULL, 0);
			break;
		case 's':
			cfg.seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		case 'm':
			cfg.mib = strtoul(optarg, NULL, 0);
			break;
		case 'o':
			cfg.opmask = parse_ops(optarg);
			break;
		case 'F':
			cfg.fifo = strtoul(optarg, NULL, 0);
			break;
		case 'I':
			cfg.inject = strtoul(optarg, NULL, 0);
			if (!cfg.inject || cfg.inject > 100)
				help(argv[0]);
			break;
		case 'P':
			cfg.peer = true;
			break;
		case 'v':
			cfg.verbose = 1;
			break;
		default:
			help(argv[0]);
		}
	}
	if (!cfg.threads || cfg.threads > MAX_THREADS || !cfg.procs ||
	    cfg.procs > MAX_PROCS || (dev != -1 && dev != 0 && dev != 2) ||
	    cfg.fifo + cfg.threads > MAX_FIFO || (cfg.peer && cfg.inject))
		help(argv[0]);
	if (!seeded)
		cfg.seed = (unsigned long long)time(NULL) ^
			   ((unsigned long long)getpid() << 32);

	if (dev >= 0) {
		devs[ndev++] = dev;
	} else {
		devs[ndev++] = 0;
		if (dmirror_have_coherent())
			devs[ndev++] = 2;
	}
	ws_all = mmap(NULL, MAX_PROCS * sizeof(*ws_all),
		      PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	write_token = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ws_all == MAP_FAILED || write_token == MAP_FAILED)
		return 1;
	setvbuf(stdout, NULL, _IONBF, 0);
	i = cfg.fifo ? set_fifo(cfg.fifo + cfg.threads) : 0;
	if (i) {
		/* Root may; without the privilege, this mode cannot run. */
		printf("SCHED_FIFO priority %u: %s\n", cfg.fifo + cfg.threads,
		       strerror(i));
		return 1;
	}
	say("TAP version 13");
	if (!peer_group_matches())
		return 1;
	if (cfg.inject)
		inject_on();
	say("1..%d", ndev);
	snprintf(inj, sizeof(inj), " -I %u", cfg.inject);
	say("# dmirror_stress -d %u -t %u -p %u -F %u%s%s -s %#llx%s (replay with this seed)",
	    cfg.duration, cfg.threads, cfg.procs, cfg.fifo,
	    cfg.inject ? inj : "", cfg.peer ? " -P" : "", cfg.seed,
	    cfg.opmask != ~0ULL ? " -o ..." : "");
	for (i = 0; i < ndev; i++) {
		int fd = dmirror_open_dev(devs[i]);

		if (fd < 0) {
			/* The module made the device: it must open. */
			say("not ok %d stress dev%d # cannot open /dev/hmm_dmirror%d: %s",
			    i + 1, devs[i], devs[i], strerror(errno));
			good = false;
			continue;
		}
		close(fd);
		if (!run_kind(i + 1, devs[i]))
			good = false;
	}
	return good ? 0 : 1;
}
