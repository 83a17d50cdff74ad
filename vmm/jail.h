/* SPDX-License-Identifier: MIT */
/*
 * The sandbox's privilege half: `--jail DIR --user U[:G]`, Firecracker's jailer done in
 * process. Once ptvm has opened everything it needs (/dev/kvm, VFIO, taps, disks, files),
 * it enters new mount/IPC/UTS/network/cgroup namespaces with DIR (an empty directory) as its
 * read-only root, switches to U:G with no supplementary groups, drops every capability
 * (bounding set included) and sets no_new_privs and its rlimits (no core dumps, NOFILE and
 * NPROC sized to what it can still need). Started by an unprivileged user, ptvm makes the
 * namespaces inside a new user namespace instead. The seccomp half is vmm/sandbox.c.
 */
#ifndef PTVM_JAIL_H
#define PTVM_JAIL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct jail {
	bool new_root;	     /* --jail DIR */
	char root[PATH_MAX]; /* DIR, resolved */
	bool set_user;	     /* --user U[:G] */
	uid_t uid;
	gid_t gid;
	bool userns; /* not root: the namespaces are made in a user namespace */
};

/* What ptvm can still need once jailed. */
struct jail_limits {
	unsigned threads; /* at most this many threads at once (RLIMIT_NPROC) */
	uint64_t memlock; /* bytes guest RAM may still pin for DMA, 0 if none (RLIMIT_MEMLOCK) */
};

/*
 * Checks --jail DIR (an empty directory) and resolves --user U[:G] (names through the
 * passwd/group databases, numbers as given; G defaults to U's primary group). Changes nothing
 * but this: with either option, the file descriptors ptvm inherited beyond 0, 1 and 2 are
 * closed (call it before ptvm opens anything). dir and user may be NULL. 0, or -EINVAL/-EPERM
 * after one error line naming the option.
 */
int jail_prepare(const char *dir, const char *user, struct jail *j);

/* True when j asks for anything. */
bool jail_wanted(const struct jail *j);

/*
 * Enters the jail j describes. The process must be single-threaded (namespaces and
 * capabilities are per thread until then). 0, or -errno after one error line; a failure
 * part-way leaves ptvm with fewer privileges, never more, and the caller must not go on.
 */
int jail_enter(const struct jail *j, const struct jail_limits *limits);

#endif
