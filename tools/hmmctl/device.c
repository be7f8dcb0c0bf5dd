// SPDX-License-Identifier: GPL-2.0
/*
 * hmmctl: opening devices, issuing ioctls, and saying what failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "hmmctl.h"

#define HC_HINT_COHERENT "is hmm_dmirror loaded? devices 2 and 3 exist only when it is loaded with spm_addr_dev0 and spm_addr_dev1"

static char failure[512];

const char *hc_failure(void)
{
	return failure;
}

/**
 * hc_fail() - record why the command failed
 * @code: the exit code (enum hc_exit)
 * @fmt:  the message, printf style
 *
 * Return: @code, so callers can "return hc_fail(...)".
 */
int hc_fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(failure, sizeof(failure), fmt, ap);
	va_end(ap);
	return code;
}

/* "ENOENT" for ENOENT; a number for errnos the C library cannot name. */
const char *hc_errname(int err)
{
	static char num[24];
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	snprintf(num, sizeof(num), "errno %d", err);
	return num;
}

/* "WHAT: ENAME (text)", then @hint (if any) after a semicolon. */
int hc_fail_errno(int code, int err, const char *what, const char *hint)
{
	return hc_fail(code, "%s: %s (%s)%s%s", what, hc_errname(err),
		       strerror(err), hint ? "; " : "", hint ? hint : "");
}

/**
 * hc_open() - open /dev/hmm_dmirror<dev> for reading and writing
 * @dev: device number
 * @fd:  the descriptor, on success
 *
 * Return: HC_OK or HC_EOPEN with the reason recorded.
 */
int hc_open(int dev, int *fd)
{
	const char *hint = NULL;
	char path[64];

	snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", dev);
	*fd = open(path, O_RDWR | O_CLOEXEC);
	if (*fd >= 0)
		return HC_OK;
	if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
		hint = hc_dev_coherent(dev) ? HC_HINT_COHERENT :
		       "is hmm_dmirror loaded? it creates devices 0 to 3";
	else if (errno == EACCES || errno == EPERM)
		hint = "the device nodes are root-only";
	else if (errno == EBUSY)
		hint = "the device is busy";
	snprintf(path, sizeof(path), "open /dev/hmm_dmirror%d", dev);
	return hc_fail_errno(HC_EOPEN, errno, path, hint);
}

/* One ioctl, retried on EINTR. Return: 0 or -errno. */
int hc_cmd_raw(int fd, unsigned long req, struct hmm_dmirror_cmd *cmd)
{
	int ret;

	do {
		ret = ioctl(fd, req, cmd);
	} while (ret && errno == EINTR);
	return ret ? -errno : 0;
}

/**
 * hc_ioctl() - issue one hmm_dmirror ioctl and explain a failure
 * @fd:     the open device
 * @req:    HMM_DMIRROR_*
 * @name:   its name without the prefix, for messages
 * @addr:   @addr of the command block
 * @ptr:    @ptr of the command block
 * @npages: @npages of the command block
 * @out:    receives the command block after the call (may be NULL)
 *
 * Return: HC_OK or, with the reason recorded, as hc_explain().
 */
int hc_ioctl(int fd, unsigned long req, const char *name,
	     __u64 addr, void *ptr, __u64 npages,
	     struct hmm_dmirror_cmd *out)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = addr,
		.ptr = (uintptr_t)ptr,
		.npages = npages,
	};
	int ret = hc_cmd_raw(fd, req, &cmd);

	if (out)
		*out = cmd;
	return ret ? hc_explain(-ret, name, NULL) : HC_OK;
}

/**
 * hc_explain() - record why ioctl @name failed with @err
 * @err:  the errno
 * @name: the ioctl
 * @hint: what it means here, or NULL
 *
 * Return: HC_EUNSUPP for ENOTTY and EOPNOTSUPP (the module build, device
 * or kernel does not provide it), HC_EIOCTL otherwise.
 */
int hc_explain(int err, const char *name, const char *hint)
{
	if (err == ENOTTY)
		return hc_fail_errno(HC_EUNSUPP, err, name, hint ? hint :
				     "this hmm_dmirror build does not implement it");
	if (err == EOPNOTSUPP)
		return hc_fail_errno(HC_EUNSUPP, err, name, hint ? hint :
				     "not supported on this device or kernel");
	return hc_fail_errno(HC_EIOCTL, err, name, hint);
}

/* Devices 2 and 3 are the device-coherent ones in the default layout. */
bool hc_dev_coherent(int dev)
{
	return dev == 2 || dev == 3;
}

/* The "other" device of a pair: 0 and 1, 2 and 3. */
int hc_default_other(int dev)
{
	return dev ^ 1;
}

/**
 * hc_peer_group() - the module's peer_group parameter
 *
 * Return: 1 when it reads Y, 0 for N, -1 when it cannot be read (no
 * module, or one without peer groups).
 */
int hc_peer_group(void)
{
	char c = 0;
	FILE *f;

	f = fopen(HC_PEER_GROUP_PARAM, "re");
	if (!f)
		return -1;
	if (fread(&c, 1, 1, f) != 1)
		c = 0;
	fclose(f);
	return c == 'Y' ? 1 : c == 'N' ? 0 : -1;
}

/*
 * The peer of device @dev: in a group the two device-private devices (0
 * and 1) are one group and the two device-coherent ones (2 and 3)
 * another, so the peer is the other of the pair. -1 outside a group.
 */
int hc_peer_of(int dev)
{
	if (dev < 0 || dev > 3 || hc_peer_group() != 1)
		return -1;
	return dev ^ 1;
}

/**
 * hc_out_group() - say whether @dev is in a peer group, and with which
 * device
 * @dev: the device
 *
 * Text: a "peer group" line; JSON: "peer_group" (true/false) and "peer"
 * (the peer's number, -1 for none).
 */
void hc_out_group(int dev)
{
	int yn = hc_peer_group(), peer = hc_peer_of(dev);
	char s[160];

	if (peer >= 0)
		snprintf(s, sizeof(s),
			 "dev%d and dev%d (%s): each maps the other's pages where they are",
			 dev < peer ? dev : peer, dev < peer ? peer : dev,
			 hc_dev_coherent(dev) ? "device-coherent" :
			 "device-private");
	else
		snprintf(s, sizeof(s), "no peer group (peer_group %s)",
			 yn < 0 ? "cannot be read" :
			 yn ? "reads Y; not for this device" : "reads N");
	hc_say("%-27s %s", "peer group", s);
	hc_out_bool("peer_group", NULL, peer >= 0);
	hc_out_num("peer", NULL, peer);
}
