// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_fuzz: random hmm_dmirror ioctls for a bounded time.
 *
 * Every call gets a random ioctl number (the ten the header defines, the
 * same numbers with a wrong size or direction, unknown numbers of our
 * type and of other types), a random command block location (valid,
 * read-only, partly unreadable, NULL, kernel, unmapped) and random fields:
 * addresses aligned or not, in an arena of private, read-only, PROT_NONE,
 * unmapped, shared, file, hugetlb and THP memory, in the fuzzer's own
 * memory, in the vDSO, at NULL, near and past the end of the user address
 * space and in the kernel; page counts of 0, 1, small, large, exactly up
 * to the end of the address space and overflowing; data pointers valid,
 * short, unaligned, read-only, unmapped, NULL and kernel.
 *
 * What must hold, per call: the result is 0 or an errno the header
 * documents for that ioctl, and exactly the one it prescribes where the
 * rules decide (-ENOTTY for an unknown number, -EFAULT for an unreadable
 * block, -EPERM from another mm, -EINVAL for a bad range); a call that
 * must copy more than the data pointer allows does not succeed; a failed
 * call leaves the block alone and a successful one returns it with the
 * page counts the header gives. Meanwhile a second thread changes part of
 * the arena and closes and reopens a descriptor the fuzzer is using, a
 * child issues commands on inherited descriptors, and descriptors of an
 * exited process are used. The fuzzing process must never die by a signal
 * (its own memory, migrated and made exclusive at random, is checked),
 * and when it is gone no device memory may be left in use. Over the run,
 * one valid call of each ioctl must succeed, -EBUSY and -ENOMEM stay rare
 * (SOFT_MAX_PCT), and -EINTR is never accepted (no signal is handled).
 * The kernel's health is judged by the runner from the console.
 *
 * The fuzzer never lets WRITE reach memory outside its arena: ranges that
 * start in the arena and go past its end cross an unmapped gap, which the
 * module rejects before writing anything.
 *
 * -I PCT turns the module's fault injection on (kernels with
 * CONFIG_FAULT_INJECTION_DEBUG_FS; dmirror_inject.h) for the fuzzing
 * process after its valid calls, its thread and its children, not for the
 * main process that judges: a call past the argument checks then also
 * accepts the errnos a forced failure gives it (known[].inj), and some
 * -ENOMEM must be seen. The CPU-fault point (fail_migrate_fault) stays
 * off: its SIGBUS would kill the fuzzer.
 *
 * Usage: dmirror_fuzz [-d seconds] [-s seed] [-I pct] [-v]. Output: TAP.
 */
#include "dmirror_fuzz.h"

static const char * const f_name[6] = {
	"every result documented, and exact where the rules decide",
	"command block copied back only on success, with page counts",
	"descriptors inherited by a child: ENOTTY, EFAULT or EPERM only",
	"descriptors of an exited process: ENOTTY, EFAULT or EPERM only",
	"ioctls racing close(), munmap() and mprotect() of their range",
	"the fuzzer's own memory intact after it was migrated at random",
};

static unsigned int duration = 10;

static unsigned long long canary_sum;

/* ---- the fuzzing process ----------------------------------------------------- */

static unsigned long long canary_check(void)
{
	unsigned long long s = 0;
	unsigned int i;

	for (i = 0; i < CANARY_WORDS; i++)
		s = s * 31 + canary[i];
	return s;
}

/*
 * With 5-level paging the user address space ends at 2^56 - 4096, not
 * 2^47 - 4096: a fixed mapping above 2^47 tells which.
 */
static void probe_task_end(void)
{
	void *hint = (void *)(1UL << 48);
	void *p = mmap(hint, PG, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == hint) {
		TASK_END = (1UL << 56) - PG;
		munmap(p, PG);
	}
}

/*
 * One valid call of each defined ioctl on 8 pages of the private part of
 * the arena, through the device fds[0]: each must succeed (RELEASE may
 * find memory busy), with the page counts the header gives.
 */
static void sane_calls(void)
{
	char *mem = part[A_RW].start;
	unsigned long long want;
	unsigned int i, pg;

	for (i = 0; i < NKNOWN; i++) {
		struct hmm_dmirror_cmd cmd = { 0 };
		unsigned long req = known[i].req;
		int ret;

		cmd.addr = (uintptr_t)mem;
		cmd.ptr = (uintptr_t)outbuf;
		cmd.npages = req == HMM_DMIRROR_FLAGS ? 0 : 8;
		ret = ioctl(fds[0], req, &cmd) ? -errno : 0;
		__atomic_add_fetch(&res->calls, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&res->err[i][eb_of(ret)], 1,
				   __ATOMIC_RELAXED);
		if (ret == -EBUSY && req == HMM_DMIRROR_RELEASE)
			continue;
		want = req == HMM_DMIRROR_FLAGS ||
		       req == HMM_DMIRROR_CHECK_EXCLUSIVE ||
		       req == HMM_DMIRROR_RELEASE ? 0 : 8;
		if (ret || (req != HMM_DMIRROR_MIGRATE_TO_SYS &&
			    cmd.cpages != want))
			fail(F_ERRNO,
			     "%s of 8 private pages of dev%d: returned %d (%s), cpages %llu",
			     known[i].name, devid[0], ret, eb_name[eb_of(ret)],
			     (unsigned long long)cmd.cpages);
		/* The CPU takes exclusive pages back, for CHECK_EXCLUSIVE. */
		if (req == HMM_DMIRROR_EXCLUSIVE)
			for (pg = 0; pg < 8; pg++)
				(void)__atomic_load_n(&mem[pg * PG],
						      __ATOMIC_RELAXED);
	}
}

static int fuzz(void)
{
	double end = now_s() + duration, next_scen = 0;
	pthread_t churn;
	unsigned long iter = 0;
	int d, i;

	outbuf = mmap(NULL, (OUT_PAGES + 1) * PG, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* 16 readable pages, then a guard: nothing readable follows. */
	robuf = mmap(NULL, 17 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	blockpg = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ropg = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (outbuf == MAP_FAILED || robuf == MAP_FAILED ||
	    blockpg == MAP_FAILED || ropg == MAP_FAILED || !setup_arena()) {
		say("# cannot set up the fuzzer's memory: %s", strerror(errno));
		return 1;
	}
	mprotect(outbuf + OUT_PAGES * PG, PG, PROT_NONE);
	mprotect(robuf + 16 * PG, PG, PROT_NONE);
	mprotect(blockpg + PG, PG, PROT_NONE);
	for (i = 0; i < CANARY_WORDS; i++)
		canary[i] = seed ^ (i * 0x9e3779b97f4a7c15ULL);
	canary_sum = canary_check();

	ndevs = 0;
	for (d = 0; d < NDEV; d++) {
		int fd = dmirror_open_dev(d);

		if (fd >= 0) {
			devid[ndevs] = d;
			fds[ndevs++] = fd;
		}
	}
	if (!ndevs) {
		say("# no device can be opened");
		return 1;
	}
	sane_calls();
	/* -I: from here on; the valid calls above must have succeeded. */
	if (inject && dmirror_inject_me()) {
		say("# make-it-fail: %s", strerror(errno));
		return 1;
	}
	d = dmirror_open_dev(devid[0]);
	if (d < 0 || dup2(d, CHURN_FD) < 0)
		return 1;
	close(d);
	if (pthread_create(&churn, NULL, churn_main, NULL))
		return 1;

	while (now_s() < end) {
		iter++;
		if (now_s() > next_scen) {
			next_scen = now_s() + 1;
			foreign_child();
			exited_owner();
		}
		if (rnd_below(8) == 0) {
			__atomic_add_fetch(&res->churn_calls, 1,
					   __ATOMIC_RELAXED);
			one_call(CHURN_FD, -1, false, B(EB_EBADF), F_CHURN);
		} else {
			d = rnd_below(ndevs);
			one_call(fds[d], devid[d], false, 0, F_ERRNO);
		}
		if (iter % 64 == 0 && canary_check() != canary_sum) {
			fail(F_CANARY, "the canary in .bss changed");
			canary_sum = canary_check();
		}
	}
	__atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
	pthread_join(churn, NULL);
	if (canary_check() != canary_sum)
		fail(F_CANARY, "the canary in .bss changed");
	close(CHURN_FD);
	for (d = 0; d < ndevs; d++)
		if (close(fds[d]))
			fail(F_ERRNO, "close of dev%d: %s", devid[d],
			     strerror(errno));
	return 0;
}

static const char *dev_path(int id)
{
	static char path[32];

	snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", id);
	return path;
}

/*
 * Per defined ioctl: some success, and -EBUSY or -ENOMEM on at most
 * SOFT_MAX_PCT percent of the calls that got past the argument checks
 * (under -I, -EBUSY only where the injection gives -ENOMEM). Not judged
 * when the fuzzer did not run to its end.
 */
static bool counts_ok(bool died)
{
	unsigned long long ok, soft;
	bool good = true;
	unsigned int i;

	if (died)
		return false;
	for (i = 0; i < NKNOWN; i++) {
		ok = res->err[i][EB_OK];
		soft = res->err[i][EB_EBUSY] + res->err[i][EB_ENOMEM];
		if (known[i].req == HMM_DMIRROR_MIGRATE_TO_DEV)
			soft -= res->over_cap;
		if (inject && (known[i].inj & B(EB_ENOMEM)))
			soft = res->err[i][EB_EBUSY];
		if (!ok) {
			say("# %s never succeeded", known[i].name);
			good = false;
		}
		if (soft > SOFT_SLACK &&
		    soft * 100 > (ok + soft) * SOFT_MAX_PCT) {
			say("# %s: %llu calls failed with EBUSY or ENOMEM, %llu succeeded",
			    known[i].name, soft, ok);
			good = false;
		}
	}
	return good;
}

/*
 * -I: the failures each point forced (the kernel's count) and the calls
 * past the argument checks that failed with an errno the injection gives
 * (-ENOMEM short of the device's capacity, -EINVAL of a migration); there
 * must be both.
 */
static bool injected_ok(bool died, unsigned int n)
{
	unsigned long long seen = res->inj_seen;
	long long forced;

	forced = dmirror_inject_report(NULL);
	say("%sok %u the fault injection at %u%% forced %lld failures; "
	    "%llu calls failed with their errnos",
	    died || forced <= 0 || !seen ? "not " : "", n, inject, forced,
	    seen);
	return !died && forced > 0 && seen;
}

/* -I: on, or SKIP (exit status 4) on a kernel without it. */
static void inject_on(void)
{
	int ret;

	dmirror_inject_prepare();
	ret = dmirror_inject_start(inject);
	if (ret) {
		say("Bail out! cannot turn fault injection on at %u%%: %s",
		    inject, strerror(-ret));
		exit(1);
	}
}

static void help(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-d seconds] [-s seed] [-I pct] [-v]\n"
		"  -I  the module's fault injection (debugfs hmm_dmirror/fail_*) at pct\n"
		"      percent (1-100) for the fuzzing process; all points but\n"
		"      fail_migrate_fault, whose SIGBUS would kill the fuzzer\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	bool seeded = false, died = false, soft_ok, inj_ok = true;
	long long left = 0;
	char inj[16];
	unsigned int i, e, n = 1;
	int opt, status;
	double deadline;
	pid_t pid;

	while ((opt = getopt(argc, argv, "d:s:I:vh")) != -1) {
		switch (opt) {
		case 'd':
			duration = strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		case 'I':
			inject = strtoul(optarg, NULL, 0);
			if (!inject || inject > 100)
				help(argv[0]);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			help(argv[0]);
		}
	}
	if (!seeded)
		seed = (unsigned long long)time(NULL) ^
		       ((unsigned long long)getpid() << 32);
	rng = seed | 1;
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		return 1;
	setvbuf(stdout, NULL, _IONBF, 0);
	say("TAP version 13");
	if (inject)
		inject_on();
	say("1..%u", inject ? 10 : 9);
	probe_task_end();
	for (i = 0; i < 4; i++)
		dev_capacity[i] = dmirror_dev_stat(i, "capacity_pages");
	snprintf(inj, sizeof(inj), " -I %u", inject);
	say("# dmirror_fuzz -d %u%s -s %#llx (replay with this seed); user space ends at %#lx",
	    duration, inject ? inj : "", seed, TASK_END);

	pid = fork();
	if (pid < 0)
		return 1;
	if (!pid)
		_exit(fuzz());
	deadline = now_s() + duration + 120;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (now_s() > deadline) {
			say("# the fuzzer is still running 120 s after its end: hung");
			kill(pid, SIGKILL);
			say("not ok 1 the fuzzer finished # hung");
			return 1;
		}
		usleep(50000);
	}
	if (WIFSIGNALED(status)) {
		died = true;
		say("# the fuzzer died by signal %d", WTERMSIG(status));
	} else if (WEXITSTATUS(status)) {
		died = true;
		say("# the fuzzer could not run (exit status %d)",
		    WEXITSTATUS(status));
	}
	say("# %llu calls, %llu of them on a descriptor being closed",
	    res->calls, res->churn_calls);
	say("# %llu changes by the second thread, %u foreign children, %u exited owners",
	    res->churn_ops, (unsigned int)res->foreign,
	    (unsigned int)res->exited);
	for (i = 0; (verbose || inject) && i <= NKNOWN; i++) {
		char line[300];
		size_t len;

		len = snprintf(line, sizeof(line), "#   %-16s",
			       i < NKNOWN ? known[i].name : "unknown");
		for (e = 0; e < EB_NR; e++)
			if (res->err[i][e])
				len += snprintf(line + len, sizeof(line) - len,
						" %s %llu", eb_name[e],
						res->err[i][e]);
		say("%s", line);
	}
	say("%sok %u the fuzzer ran and was never killed by a signal",
	    died ? "not " : "", n++);
	for (i = 0; i < 6; i++)
		say("%sok %u %s", res->fail_cls[i] ? "not " : "", n++,
		    f_name[i]);
	soft_ok = counts_ok(died);
	say("%sok %u every ioctl succeeded; %s on at most %d%% of the rest",
	    soft_ok ? "" : "not ", n++, "EBUSY and ENOMEM", SOFT_MAX_PCT);
	for (i = 0; i < FREE_STALL_S * 20; i++) {
		left = 0;
		for (e = 0; e < NDEV; e++) {
			long long r = dmirror_dev_stat(e, "resident_pages");

			/* A device that exists must have the counter. */
			if (r < 0 && !access(dev_path(e), F_OK))
				r = 1;
			if (r > 0)
				left += r;
		}
		if (!left)
			break;
		usleep(50000);
	}
	if (left)
		say("# %lld device pages still in use", left);
	say("%sok %u no device memory left in use afterwards",
	    left ? "not " : "", n++);
	if (inject)
		inj_ok = injected_ok(died, n);
	return died || res->failures || left || !soft_ok || !inj_ok ? 1 : 0;
}
