// SPDX-License-Identifier: MIT
#include "ioctl.h"

#include <errno.h>
#include <string.h>

#include "log.h"

int __ptvm_ioctl(int fd, unsigned long cmd, const char *name, unsigned long arg, int quiet)
{
	int ret;

	do {
		ret = ioctl(fd, cmd, arg);
	} while (ret < 0 && errno == EINTR && strcmp(name, "KVM_RUN"));
	if (ret < 0) {
		ret = -errno;
		if (!quiet)
			pr_err("%s failed: %s", name, strerror(-ret));
		return ret;
	}
	return ret;
}
