// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_fuzz: one call and the checks of its result, and the scenarios
 * (another mm, an exited process, a racing thread).
 */
#include "dmirror_fuzz.h"

const char * const eb_name[EB_NR] = {
	"0", "EFAULT", "EINVAL", "EPERM", "ENOENT", "EBUSY", "ENOMEM",
	"EINTR", "EOPNOTSUPP", "ENOTTY", "EBADF", "other"
};

unsigned int eb_of(int ret)
{
	switch (-ret) {
	case 0: return EB_OK;
	case EFAULT: return EB_EFAULT;
	case EINVAL: return EB_EINVAL;
	case EPERM: return EB_EPERM;
	case ENOENT: return EB_ENOENT;
	case EBUSY: return EB_EBUSY;
	case ENOMEM: return EB_ENOMEM;
	case EINTR: return EB_EINTR;
	case EOPNOTSUPP: return EB_EOPNOTSUPP;
	case ENOTTY: return EB_ENOTTY;
	case EBADF: return EB_EBADF;
	}
	return EB_OTHER;
}

long long dev_capacity[4];
/*
 * Whether @npages is more than device @dev holds; for a descriptor whose
 * device is not known (-1, the churned one), more than any device holds.
 */
static bool over_capacity(int dev, unsigned long long npages)
{
	bool known_cap = false;
	int i;

	if (dev >= 0 && dev < 4)
		return dev_capacity[dev] > 0 &&
		       npages > (unsigned long long)dev_capacity[dev];
	for (i = 0; i < 4; i++) {
		if (dev_capacity[i] <= 0)
			continue;
		if (npages <= (unsigned long long)dev_capacity[i])
			return false;
		known_cap = true;
	}
	return known_cap;
}

unsigned long long seed;
int verbose;
unsigned int inject;
int fds[NDEV], ndevs;
int devid[NDEV];
int churn_stop;
bool in_child;
void fail(unsigned int cls, const char *fmt, ...)
{
	char msg[480];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	__atomic_add_fetch(&res->failures, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&res->fail_cls[cls], 1, __ATOMIC_RELAXED);
	if (__atomic_fetch_add(&res->msgs, 1, __ATOMIC_RELAXED) < MAX_MSGS)
		say("# FAIL%s: %s", in_child ? " (child)" : "", msg);
}

/* ---- one call ------------------------------------------------------------- */

static bool range_ok(unsigned long long addr, unsigned long long npages)
{
	if (addr & (PG - 1))
		return false;
	if (!npages || addr >= TASK_END)
		return false;
	return npages <= (TASK_END - addr) / PG;
}

/*
 * The errnos the call may return. @foreign: issued from an mm the file
 * is not bound to.
 */
static unsigned int allowed(const struct call *c, bool foreign,
			    unsigned int *cls)
{
	const struct known *k;
	unsigned long long need;
	unsigned int set;

	*cls = F_ERRNO;
	if (c->k < 0)
		return B(EB_ENOTTY);
	if (c->blk_cls == 2)
		return B(EB_EFAULT);
	if (foreign)
		return B(EB_EPERM);
	k = &known[c->k];
	if (k->req == HMM_DMIRROR_FLAGS) {
		if (c->addr & (PG - 1))
			return B(EB_EINVAL);
		if (c->npages & ~HMM_DMIRROR_FLAG_FAIL_ALLOC)
			return B(EB_EINVAL);
		/*
		 * Whether the range rule applies to FLAGS, whose npages is
		 * not a page count, the header leaves open: accept both.
		 */
		set = c->blk_cls ? B(EB_EFAULT) : B(EB_OK);
		if (!range_ok(c->addr, 1))
			set |= B(EB_EINVAL);
		return set;
	}
	if (!range_ok(c->addr, c->npages))
		return B(EB_EINVAL);
	set = k->doc | (inject ? k->inj : 0);
	/* A block the kernel cannot write back: never success. */
	if (c->blk_cls == 1)
		set = (set & ~B(EB_OK)) | B(EB_EFAULT);
	/* More to copy than the pointer allows: never success. */
	if (c->avail >= 0) {
		need = k->out == 2 ? c->npages :
		       (k->out || k->in) ? c->npages * PG : 0;
		if ((k->out || k->in) &&
		    (c->npages > (1ULL << 40) || need > (unsigned long long)c->avail))
			set &= ~B(EB_OK);
	}
	return set;
}

static void explain(char *buf, size_t len, const struct call *c)
{
	snprintf(buf, len,
		 "%s (%#lx) dev%d addr %#llx [%s] npages %#llx ptr %#llx [%s] block %p [%s]",
		 c->k >= 0 ? known[c->k].name : "unknown", c->req, c->dev,
		 c->addr, c->acls, c->npages, c->ptr, c->pcls, (void *)c->blk,
		 c->blk_cls == 0 ? "ok" : c->blk_cls == 1 ? "read-only" :
		 "unreadable");
}

static void set_name(char *buf, unsigned int set)
{
	unsigned int e;

	buf[0] = 0;
	for (e = 0; e < EB_NR; e++)
		if (set & B(e))
			sprintf(buf + strlen(buf), "%s%s", buf[0] ? " " : "",
				eb_name[e]);
}

/*
 * Make and issue one random call on @fd; check the result. @extra:
 * errnos also allowed (EBADF for the descriptor being closed).
 */
void one_call(int fd, int dev, bool foreign, unsigned int extra,
	      unsigned int fcls)
{
	struct hmm_dmirror_cmd cmd, after;
	char what[400], set[160];
	unsigned int ok, cls;
	struct call c = { 0 };
	bool writes;
	int ret;

	pick_req(&c);
	c.fd = fd;
	c.dev = dev;
	writes = c.k >= 0 && known[c.k].req == HMM_DMIRROR_WRITE;
	c.addr = pick_addr(&c, writes);
	c.npages = pick_npages(c.addr);
	if (c.k >= 0 && known[c.k].req == HMM_DMIRROR_FLAGS && rnd_below(2))
		c.npages = rnd_below(4);
	c.ptr = pick_ptr(&c, writes);
	cmd.addr = c.addr;
	cmd.ptr = c.ptr;
	cmd.npages = c.npages;
	cmd.cpages = SENTINEL;
	cmd.faults = SENTINEL;
	pick_block(&c, &cmd);

	ret = ioctl(fd, c.req, c.blk) ? -errno : 0;
	__atomic_add_fetch(&res->calls, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&res->err[c.k >= 0 ? c.k : (int)NKNOWN][eb_of(ret)], 1,
			   __ATOMIC_RELAXED);
	/* The documented answer to a request larger than the device. */
	if (ret == -ENOMEM && c.k >= 0 &&
	    known[c.k].req == HMM_DMIRROR_MIGRATE_TO_DEV &&
	    over_capacity(c.dev, c.npages))
		__atomic_add_fetch(&res->over_cap, 1, __ATOMIC_RELAXED);
	else if (inject && c.k >= 0 && (known[c.k].inj & B(eb_of(ret))) &&
		 !foreign && c.blk_cls != 2 && range_ok(c.addr, c.npages))
		__atomic_add_fetch(&res->inj_seen, 1, __ATOMIC_RELAXED);
	else if ((ret == -EBUSY || ret == -ENOMEM) && c.k >= 0 &&
		 (verbose || __atomic_fetch_add(&res->soft_msgs, 1,
						__ATOMIC_RELAXED) < MAX_SOFT_MSGS)) {
		explain(what, sizeof(what), &c);
		say("# soft %s: %s", ret == -EBUSY ? "EBUSY" : "ENOMEM", what);
	}
	/*
	 * No -EINTR: the module returns it only on a fatal signal, and this
	 * process handles no signal at all, so none is accepted.
	 */
	ok = allowed(&c, foreign, &cls) | extra;
	if (!(ok & B(eb_of(ret)))) {
		explain(what, sizeof(what), &c);
		set_name(set, ok);
		fail(fcls == F_ERRNO ? cls : fcls,
		     "%s: returned %d (%s), allowed {%s}",
		     what, ret, eb_name[eb_of(ret)], set);
		return;
	}
	if (c.blk_cls)
		return;
	memcpy(&after, c.blk, sizeof(after));
	if (ret) {
		if (after.addr != c.addr || after.ptr != c.ptr ||
		    after.npages != c.npages || after.cpages != SENTINEL ||
		    after.faults != SENTINEL) {
			explain(what, sizeof(what), &c);
			fail(F_BLOCK, "%s: failed (%d), block changed: cpages %#llx faults %#llx",
			     what, ret, (unsigned long long)after.cpages,
			     (unsigned long long)after.faults);
		}
		return;
	}
	if (c.k < 0 || after.addr != c.addr || after.ptr != c.ptr ||
	    after.npages != c.npages)
		goto bad;
	switch (known[c.k].req) {
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		if (after.cpages > c.npages || after.faults)
			goto bad;
		break;
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
	case HMM_DMIRROR_RELEASE:
	case HMM_DMIRROR_FLAGS:
		if (after.cpages || after.faults)
			goto bad;
		break;
	default:
		if (after.cpages != c.npages)
			goto bad;
		break;
	}
	return;
bad:
	explain(what, sizeof(what), &c);
	fail(F_BLOCK, "%s: success, block %#llx %#llx %#llx cpages %#llx faults %#llx",
	     what, (unsigned long long)after.addr,
	     (unsigned long long)after.ptr, (unsigned long long)after.npages,
	     (unsigned long long)after.cpages,
	     (unsigned long long)after.faults);
}

/* ---- scenarios -------------------------------------------------------------- */

/* A child uses the descriptors it inherited: nothing but -EPERM & co. */
void foreign_child(void)
{
	int status, i;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return;
	if (!pid) {
		in_child = true;
		rng ^= 0xc0ffee;
		for (i = 0; i < 200; i++) {
			int d = rnd_below(ndevs);

			one_call(fds[d], devid[d], true, 0, F_FOREIGN);
		}
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	__atomic_add_fetch(&res->foreign, 1, __ATOMIC_RELAXED);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail(F_FOREIGN, "foreign child: status %#x", status);
}

/*
 * A child opens a device, puts some of its memory on it, hands the
 * descriptor over and exits; its file must refuse everything and close.
 */
void exited_owner(void)
{
	int sv[2], status, fd, d = rnd_below(ndevs), i;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (!pid) {
		struct hmm_dmirror_cmd cmd = { 0 };
		char *mem = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		fd = dmirror_open_dev(devid[d]);
		if (fd < 0 || mem == MAP_FAILED)
			_exit(1);
		fill(mem, 32 * PG, 7);
		cmd.addr = (uintptr_t)mem;
		cmd.ptr = (uintptr_t)outbuf;
		cmd.npages = 64;
		dmirror_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd);
		cmd.npages = 16;
		dmirror_cmd(fd, HMM_DMIRROR_EXCLUSIVE, &cmd);
		if (send_fd(sv[1], fd))
			_exit(1);
		_exit(0);
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	close(sv[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (fd < 0) {
		fail(F_EXITED, "no descriptor from the child (status %#x)",
		     status);
		return;
	}
	__atomic_add_fetch(&res->exited, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 50; i++)
		one_call(fd, devid[d], true, 0, F_EXITED);
	if (close(fd))
		fail(F_EXITED, "close of an exited process's file: %s",
		     strerror(errno));
}

/*
 * The second thread: replaces or closes CHURN_FD and changes the churn
 * part of the arena, while the fuzzer uses both.
 */
void *churn_main(void *arg)
{
	unsigned long long r = seed ^ 0x5eed;
	struct part *p = &part[A_CHURN];
	int fd;

	while (!__atomic_load_n(&churn_stop, __ATOMIC_RELAXED)) {
		unsigned long off, len;

		r ^= r >> 12;
		r ^= r << 25;
		r ^= r >> 27;
		off = (r >> 8) % p->pages;
		len = 1 + (r >> 20) % (p->pages - off);
		__atomic_add_fetch(&res->churn_ops, 1, __ATOMIC_RELAXED);
		switch ((r >> 40) % 8) {
		case 0:
			fd = dmirror_open_dev(devid[(r >> 44) % ndevs]);
			if (fd >= 0) {
				dup2(fd, CHURN_FD);
				close(fd);
			}
			break;
		case 1:
			close(CHURN_FD);
			usleep(200);
			fd = dmirror_open_dev(devid[0]);
			if (fd >= 0) {
				dup2(fd, CHURN_FD);
				close(fd);
			}
			break;
		case 2:
			munmap(p->start + off * PG, len * PG);
			usleep(100);
			mmap(p->start + off * PG, len * PG,
			     PROT_READ | PROT_WRITE,
			     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			break;
		case 3:
			mprotect(p->start + off * PG, len * PG,
				 (r >> 50) % 2 ? PROT_READ : PROT_NONE);
			usleep(100);
			mprotect(p->start + off * PG, len * PG,
				 PROT_READ | PROT_WRITE);
			break;
		case 4:
			madvise(p->start + off * PG, len * PG, MADV_DONTNEED);
			break;
		default:
			fill(p->start + off * PG, len * PG, r);
			break;
		}
		usleep(500);
	}
	return NULL;
}
