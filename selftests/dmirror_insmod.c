// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror_insmod KO [PARAM=VALUE...]: load module KO with the parameters
 * through finit_module(2), as insmod does, and exit with the errno of a
 * refusal (0 when it loaded), so that module_load.sh can tell -EINVAL
 * from any other refusal: busybox insmod prints texts of its own for some
 * errnos, and for -EINVAL one that names another cause. 255: usage, or KO
 * cannot be opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t len = 1;
	char *params;
	int fd, i, err;

	if (argc < 2) {
		fprintf(stderr, "usage: dmirror_insmod KO [PARAM=VALUE...]\n");
		return 255;
	}
	for (i = 2; i < argc; i++)
		len += strlen(argv[i]) + 1;
	params = calloc(len, 1);
	if (!params)
		return 255;
	for (i = 2; i < argc; i++) {
		if (i > 2)
			strcat(params, " ");
		strcat(params, argv[i]);
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "dmirror_insmod: %s: %s\n", argv[1],
			strerror(errno));
		return 255;
	}
	if (syscall(SYS_finit_module, fd, params, 0)) {
		err = errno;
		printf("dmirror_insmod: finit_module(%s, \"%s\"): %s (errno %d)\n",
		       argv[1], params, strerror(err), err);
		return err < 255 ? err : 254;
	}
	return 0;
}
