// SPDX-License-Identifier: MIT
/*
 * --jail DIR --user U[:G]: the privilege drop. The order matters: limits that only root may
 * raise first, then the namespaces and the new root, then what needs CAP_SETPCAP (bounding
 * set, securebits), then the user, then the last capabilities and no_new_privs. Each step is
 * checked, and the result is read back from the kernel before ptvm goes on.
 */
#include "jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* file descriptors the guest can still make ptvm open (MSI/MSI-X vectors, up to 2048 in one
 * MSI-X table) beyond those open when it enters the jail */
#define JAIL_SPARE_FDS 2048
/* threads beyond what the caller counted (a device reset's old I/O thread being joined) */
#define JAIL_SPARE_THREADS 8

bool jail_wanted(const struct jail *j)
{
	return j->new_root || j->set_user;
}

/* ---- prepare: checks only ---- */

static bool jail_parse_id(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	/* (uid_t)-1 means "unchanged" to setresuid: not an id */
	if (errno || *end || v >= 0xffffffffUL)
		return false;
	*out = (unsigned)v;
	return true;
}

static int jail_prepare_dir(const char *dir, struct jail *j)
{
	struct dirent *e;
	struct stat st;
	DIR *d;
	int ret;

	if (!*dir) {
		pr_err("--jail: no directory given");
		return -EINVAL;
	}
	if (!realpath(dir, j->root)) {
		ret = -errno;
		pr_err("--jail %s: %s", dir, strerror(-ret));
		return ret;
	}
	if (stat(j->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		pr_err("--jail %s: not a directory", dir);
		return -ENOTDIR;
	}
	if (!strcmp(j->root, "/")) {
		pr_err("--jail %s: the host's root cannot be the jail (give an empty directory)",
		       dir);
		return -EINVAL;
	}
	d = opendir(j->root);
	if (!d) {
		ret = -errno;
		pr_err("--jail %s: %s", dir, strerror(-ret));
		return ret;
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			pr_err("--jail %s: not empty (it holds '%s'; the jail's root must be an "
			       "empty directory)",
			       dir, e->d_name);
			closedir(d);
			return -ENOTEMPTY;
		}
	}
	closedir(d);
	j->new_root = true;
	return 0;
}

static int jail_prepare_user(const char *user, struct jail *j)
{
	char buf[4096], name[256];
	const char *colon = strchr(user, ':');
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	unsigned id;
	size_t len = colon ? (size_t)(colon - user) : strlen(user);

	if (!len || len >= sizeof(name)) {
		pr_err("--user '%s': no user (U[:G], names or numbers)", user);
		return -EINVAL;
	}
	memcpy(name, user, len);
	name[len] = '\0';
	if (jail_parse_id(name, &id)) {
		j->uid = id;
		getpwuid_r(id, &pw, buf, sizeof(buf), &pwp);
	} else {
		getpwnam_r(name, &pw, buf, sizeof(buf), &pwp);
		if (!pwp) {
			pr_err("--user %s: no user '%s' in the passwd database", user, name);
			return -EINVAL;
		}
		j->uid = pwp->pw_uid;
	}
	if (colon) {
		const char *g = colon + 1;

		if (!*g) {
			pr_err("--user '%s': no group after ':'", user);
			return -EINVAL;
		}
		if (jail_parse_id(g, &id)) {
			j->gid = id;
		} else {
			getgrnam_r(g, &gr, buf, sizeof(buf), &grp);
			if (!grp) {
				pr_err("--user %s: no group '%s' in the group database", user, g);
				return -EINVAL;
			}
			j->gid = grp->gr_gid;
		}
	} else if (pwp) {
		j->gid = pwp->pw_gid;
	} else {
		pr_err("--user %s: uid %u has no passwd entry to take a group from: give it (U:G)",
		       user, j->uid);
		return -EINVAL;
	}
	if (geteuid() != 0 && (j->uid != geteuid() || j->gid != getegid())) {
		pr_err("--user %s: switching to uid %u gid %u needs root (ptvm runs as uid %u)",
		       user, j->uid, j->gid, geteuid());
		return -EPERM;
	}
	j->set_user = true;
	return 0;
}

/*
 * What ptvm inherited beyond stdin, stdout and stderr goes, as Firecracker's jailer closes it
 * before exec: a directory fd from the caller would be a way out of the new root.
 */
static void jail_close_inherited(void)
{
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");

	if (!d) {
		/* no /proc: close_range does without */
		syscall(SYS_close_range, 3U, ~0U, 0U);
		return;
	}
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && fd > STDERR_FILENO &&
		    fd != dirfd(d)) {
			pr_debug("jail: closing inherited fd %d", fd);
			close(fd);
		}
	}
	closedir(d);
}

int jail_prepare(const char *dir, const char *user, struct jail *j)
{
	int ret;

	memset(j, 0, sizeof(*j));
	if (dir || user)
		jail_close_inherited();
	if (dir) {
		ret = jail_prepare_dir(dir, j);
		if (ret)
			return ret;
		/* without root, the mount namespace is made inside a user namespace */
		j->userns = geteuid() != 0;
	}
	if (user) {
		ret = jail_prepare_user(user, j);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- enter ---- */

/* Entries of a /proc directory (threads, fds), and the highest number among them. */
static int jail_count_proc(const char *path, unsigned *count, int *highest)
{
	struct dirent *e;
	DIR *d = opendir(path);

	if (!d)
		return -errno;
	*count = 0;
	*highest = -1;
	while ((e = readdir(d))) {
		int n = atoi(e->d_name);

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		(*count)++;
		*highest = MAX(*highest, n);
	}
	closedir(d);
	return 0;
}

static int jail_setrlimit(int res, const char *name, rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { soft, hard };

	if (setrlimit(res, &rl) < 0) {
		int ret = -errno;

		pr_err("jail: cannot set %s to %llu: %s", name, (unsigned long long)soft,
		       strerror(-ret));
		return ret;
	}
	return 0;
}

static int jail_limits(const struct jail *j, const struct jail_limits *lim, int highest_fd,
		       rlim_t *nofile, rlim_t *nproc)
{
	struct rlimit rl;
	int ret;

	ret = jail_setrlimit(RLIMIT_CORE, "RLIMIT_CORE", 0, 0);
	if (ret)
		return ret;
	getrlimit(RLIMIT_NOFILE, &rl);
	*nofile = MIN((rlim_t)highest_fd + 1 + JAIL_SPARE_FDS, rl.rlim_max);
	ret = jail_setrlimit(RLIMIT_NOFILE, "RLIMIT_NOFILE", *nofile, *nofile);
	if (ret)
		return ret;
	/* counted per user: a --user should be ptvm's own, as Firecracker's jailer uid is */
	*nproc = lim->threads + JAIL_SPARE_THREADS;
	ret = jail_setrlimit(RLIMIT_NPROC, "RLIMIT_NPROC", *nproc, *nproc);
	if (ret)
		return ret;
	/* DMA mappings made later pin against RLIMIT_MEMLOCK once CAP_IPC_LOCK is gone: raise
	 * it while root still may */
	getrlimit(RLIMIT_MEMLOCK, &rl);
	if (lim->memlock && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < lim->memlock) {
		if (j->userns || geteuid() != 0)
			pr_warn(
			    "jail: RLIMIT_MEMLOCK is %llu KiB, below the %llu KiB guest RAM may "
			    "pin for DMA",
			    (unsigned long long)rl.rlim_cur >> 10,
			    (unsigned long long)lim->memlock >> 10);
		else
			ret = jail_setrlimit(RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK", lim->memlock,
					     MAX(lim->memlock, rl.rlim_max));
	}
	return ret;
}

static int jail_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int ret = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n != (ssize_t)strlen(text))
		ret = n < 0 ? -errno : -EIO;
	close(fd);
	return ret;
}

static int jail_namespaces(const struct jail *j)
{
	int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];
	int ret;

	if (j->userns)
		flags |= CLONE_NEWUSER;
	if (unshare(flags) < 0) {
		ret = -errno;
		pr_err("--jail: cannot make new namespaces: %s%s", strerror(-ret),
		       j->userns && ret == -EPERM
			   ? " (run as root, or allow unprivileged user namespaces: sysctl "
			     "kernel.unprivileged_userns_clone=1)"
			   : "");
		return ret;
	}
	if (!j->userns)
		return 0;
	/* in the user namespace ptvm keeps its own ids (and is no one else) */
	snprintf(map, sizeof(map), "%u %u 1\n", uid, uid);
	ret = jail_write_file("/proc/self/setgroups", "deny");
	if (!ret)
		ret = jail_write_file("/proc/self/uid_map", map);
	if (!ret) {
		snprintf(map, sizeof(map), "%u %u 1\n", gid, gid);
		ret = jail_write_file("/proc/self/gid_map", map);
	}
	if (ret)
		pr_err("--jail: cannot map uid %u gid %u into the user namespace: %s", uid, gid,
		       strerror(-ret));
	return ret;
}

/* The mount's atime flags must stay as they are (a user namespace may not change them). */
static unsigned long jail_atime_flags(const char *path)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (statvfs(path, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

static int jail_root(const struct jail *j)
{
	unsigned long atime;
	const char *what;

	what = "making every mount private";
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		goto out_err;
	what = "bind-mounting the jail";
	if (mount(j->root, j->root, NULL, MS_BIND, NULL) < 0)
		goto out_err;
	atime = jail_atime_flags(j->root);
	what = "entering the jail";
	if (chdir(j->root) < 0)
		goto out_err;
	/* the new root on top of the old one, then the old one detached from under it */
	what = "pivot_root";
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		what = "detaching the host's root";
		if (umount2(".", MNT_DETACH) < 0)
			goto out_err;
	} else if (errno == EINVAL) {
		/* a host running from its initramfs (rootfs) cannot pivot it away: the jail goes
		 * over it and ptvm chroots into it, as switch_root does; the rootfs stays below,
		 * out of reach (no path leads there, and no capability is left to chroot again) */
		pr_debug("jail: pivot_root refused (the host's root is its initramfs): moving the "
			 "jail over it");
		what = "moving the jail over the host's initramfs root";
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
			goto out_err;
		what = "chroot";
		if (chroot(".") < 0)
			goto out_err;
	} else {
		goto out_err;
	}
	what = "entering the jail";
	if (chdir("/") < 0)
		goto out_err;
	what = "making the jail read-only";
	if (mount(NULL, "/", NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | atime,
		  NULL) < 0)
		goto out_err;
	return 0;

out_err:
	pr_err("--jail %s: %s: %s", j->root, what, strerror(errno));
	return -errno;
}

/* What needs CAP_SETPCAP: the bounding set, ambient capabilities, securebits. */
static int jail_bound_caps(void)
{
	int ret;

	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			ret = -errno;
			pr_err("jail: cannot drop capability %d from the bounding set: %s", cap,
			       strerror(-ret));
			return ret;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		ret = -errno;
		pr_err("jail: cannot clear the ambient capabilities: %s", strerror(-ret));
		return ret;
	}
	/* uid 0 is never special again, and no one may change that */
	if (prctl(PR_SET_SECUREBITS,
		  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
		      SECBIT_KEEP_CAPS_LOCKED,
		  0, 0, 0) < 0) {
		ret = -errno;
		pr_err("jail: cannot lock the securebits: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

static int jail_user(const struct jail *j)
{
	int ret;

	if (!j->userns && setgroups(0, NULL) < 0)
		goto out_err;
	if (setresgid(j->gid, j->gid, j->gid) < 0 || setresuid(j->uid, j->uid, j->uid) < 0)
		goto out_err;
	return 0;

out_err:
	ret = -errno;
	pr_err("--user: cannot become uid %u gid %u: %s", j->uid, j->gid, strerror(-ret));
	return ret;
}

static int jail_drop_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	int ret;

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0) {
		ret = -errno;
		pr_err("jail: cannot drop the capabilities: %s", strerror(-ret));
		return ret;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		ret = -errno;
		pr_err("jail: PR_SET_NO_NEW_PRIVS: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

/* Reads back what the kernel now holds for this thread. */
static int jail_check(const struct jail *j, bool bounded)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	uid_t r, e, s;

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	for (unsigned i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return -EPERM;
	if ((bounded && prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0) ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return -EPERM;
	if (j->set_user && (getresuid(&r, &e, &s) < 0 || r != j->uid || e != j->uid ||
			    s != j->uid || getgid() != j->gid || getegid() != j->gid))
		return -EPERM;
	return 0;
}

int jail_enter(const struct jail *j, const struct jail_limits *lim)
{
	/* an unprivileged process has no capabilities to drop, and cannot touch its bounding
	 * set; no_new_privs keeps that set from ever being used (no exec gains privileges) */
	bool bounded = j->userns || geteuid() == 0;
	unsigned threads, fds;
	int highest_fd, highest_tid, ret;
	rlim_t nofile = 0, nproc = 0; /* set by jail_limits; -O1 (TSan) cannot see it */

	if (!jail_wanted(j))
		return 0;
	ret = jail_count_proc("/proc/self/task", &threads, &highest_tid);
	if (!ret)
		ret = jail_count_proc("/proc/self/fd", &fds, &highest_fd);
	if (ret) {
		pr_err("jail: cannot read /proc/self: %s", strerror(-ret));
		return ret;
	}
	if (threads != 1) {
		pr_err("jail: %u threads are running already; ptvm must enter its jail before it "
		       "starts any (namespaces and capabilities are per thread until then)",
		       threads);
		return -EBUSY;
	}
	ret = jail_limits(j, lim, highest_fd, &nofile, &nproc);
	if (!ret && j->new_root)
		ret = jail_namespaces(j);
	if (!ret && j->new_root)
		ret = jail_root(j);
	if (!ret && bounded)
		ret = jail_bound_caps();
	if (!ret && j->set_user)
		ret = jail_user(j);
	if (!ret)
		ret = jail_drop_caps();
	if (ret)
		return ret;
	ret = jail_check(j, bounded);
	if (ret) {
		pr_err("jail: the kernel still reports privileges after the drop");
		return ret;
	}
	pr_info("jail: %s%s%s, uid %u gid %u, no capabilities%s, no_new_privs, RLIMIT_NOFILE %llu, "
		"RLIMIT_NPROC %llu, no core dumps",
		j->new_root ? "root " : "no new root", j->new_root ? j->root : "",
		j->userns ? " (in a user namespace)" : "", getuid(), getgid(),
		bounded ? " (bounding set empty)" : "", (unsigned long long)nofile,
		(unsigned long long)nproc);
	return 0;
}
