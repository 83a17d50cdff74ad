/* SPDX-License-Identifier: MIT */
/*
 * The one ioctl wrapper: every KVM and VFIO ioctl goes through it, so a failure is logged
 * with the ioctl's name and the errno, and returned as -errno.
 *
 *   ret = ptvm_ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region);
 *   -> "KVM_SET_USER_MEMORY_REGION failed: File exists"
 *
 * For pointer arguments the argument size is checked at compile time against _IOC_SIZE.
 * ptvm_ioctl_quiet() is the raw variant for callers that expect and handle a failure.
 */
#ifndef PTVM_IOCTL_H
#define PTVM_IOCTL_H

#include <sys/ioctl.h>

int __ptvm_ioctl(int fd, unsigned long cmd, const char *name, unsigned long arg, int quiet);

#define __ptvm_ioctl_size_ok(cmd, arg)                                                             \
	_Static_assert(!__builtin_types_compatible_p(__typeof__(arg), void *) &&                   \
			   (_IOC_SIZE(cmd) == 0 || _IOC_SIZE(cmd) == sizeof(*(__typeof__(arg))0)), \
		       #cmd ": argument size does not match")

/* ioctl whose argument is a pointer to the struct the command encodes */
#define ptvm_ioctl(fd, cmd, arg)                                                                   \
	({                                                                                         \
		__ptvm_ioctl_size_ok(cmd, arg);                                                    \
		__ptvm_ioctl(fd, cmd, #cmd, (unsigned long)(arg), 0);                              \
	})
#define ptvm_ioctl_quiet(fd, cmd, arg)                                                             \
	({                                                                                         \
		__ptvm_ioctl_size_ok(cmd, arg);                                                    \
		__ptvm_ioctl(fd, cmd, #cmd, (unsigned long)(arg), 1);                              \
	})
/* ioctl whose argument is a plain value (KVM_CREATE_VCPU, KVM_CHECK_EXTENSION, ...) */
#define ptvm_ioctl_val(fd, cmd, val) __ptvm_ioctl(fd, cmd, #cmd, (unsigned long)(val), 0)
#define ptvm_ioctl_val_quiet(fd, cmd, val) __ptvm_ioctl(fd, cmd, #cmd, (unsigned long)(val), 1)

#endif
