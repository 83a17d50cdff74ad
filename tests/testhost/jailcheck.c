// SPDX-License-Identifier: MIT
/*
 * jailcheck: runs a program (ptvm under --jail/--user, or setpriv then ptvm) with the same pid,
 * and checks from outside, through /proc, what the kernel says of it once it has sandboxed
 * itself (its main thread's seccomp mode is "filter"):
 *
 *   uid and gid (all four ids) as --uid/--gid say, no supplementary groups, no capabilities
 *   (inheritable, permitted, effective, ambient, bounding), no_new_privs, seccomp filter mode,
 *   its root an empty directory, one mount in its mount namespace, its own mount and network
 *   namespaces, no core dumps;
 *
 * and, once the program has ended, prints one line, "JAILCHECK ok <figures>" or "JAILCHECK FAIL
 * <what>", on stdout (which the program shares). The exit status is the program's: jailcheck execs
 * it and does the checking in a forked child, so a test can signal and wait for the pid it started.
 *
 * --setuid U:G starts the program as that user and group, no supplementary groups (busybox's
 * setpriv cannot), for "started by an unprivileged user".
 *
 * usage: jailcheck [--uid N] [--gid N] [--setuid U:G] [--timeout S] PROGRAM [ARGS...]
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char problems[1024];
static char verdict[1536];

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void problem(const char *fmt, ...)
{
	size_t n = strlen(problems);
	va_list ap;

	snprintf(problems + n, sizeof(problems) - n, "%s", n ? "; " : "");
	n = strlen(problems);
	va_start(ap, fmt);
	vsnprintf(problems + n, sizeof(problems) - n, fmt, ap);
	va_end(ap);
}

/* The value of "Key:" in /proc/PID/status (tabs and spaces squeezed), or "" */
static void status_field(const char *status, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\n%s:", key);
	out[0] = '\0';
	p = strstr(status, pat);
	if (!p)
		return;
	p += strlen(pat);
	while (*p == '\t' || *p == ' ')
		p++;
	while (*p && *p != '\n' && n + 1 < len) {
		out[n++] = *p == '\t' ? ' ' : *p;
		p++;
	}
	out[n] = '\0';
}

static int read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	buf[0] = '\n'; /* so that the first key is found as "\nKey:" too */
	n = fread(buf + 1, 1, len - 2, f);
	buf[n + 1] = '\0';
	fclose(f);
	return 0;
}

static void expect_field(const char *status, const char *key, const char *want)
{
	char got[128];

	status_field(status, key, got, sizeof(got));
	if (strcmp(got, want))
		problem("%s is '%s', want '%s'", key, got, want);
}

static int count_entries(const char *path)
{
	struct dirent *e;
	DIR *d = opendir(path);
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static bool same_link(const char *a, const char *b)
{
	char la[128] = "", lb[128] = "";

	return readlink(a, la, sizeof(la) - 1) > 0 && readlink(b, lb, sizeof(lb) - 1) > 0 &&
	       !strcmp(la, lb);
}

/* "Max open files  2059  2059  files" -> "2059" */
static void limit(const char *limits, const char *name, char *out, size_t len)
{
	const char *p = strstr(limits, name);

	out[0] = '\0';
	if (p)
		sscanf(p + strlen(name), " %31s", out);
	(void)len;
}

static void check(pid_t pid, const char *uid, const char *gid)
{
	char path[64], status[8192], limits[4096], want[64], nofile[32], nproc[32], core[32];
	int root_entries, mounts;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_text(path, status, sizeof(status))) {
		problem("cannot read %s", path);
		return;
	}
	if (uid) {
		snprintf(want, sizeof(want), "%s %s %s %s", uid, uid, uid, uid);
		expect_field(status, "Uid", want);
		expect_field(status, "Groups", "");
	}
	if (gid) {
		snprintf(want, sizeof(want), "%s %s %s %s", gid, gid, gid, gid);
		expect_field(status, "Gid", want);
	}
	expect_field(status, "CapInh", "0000000000000000");
	expect_field(status, "CapPrm", "0000000000000000");
	expect_field(status, "CapEff", "0000000000000000");
	expect_field(status, "CapBnd", "0000000000000000");
	expect_field(status, "CapAmb", "0000000000000000");
	expect_field(status, "NoNewPrivs", "1");
	expect_field(status, "Seccomp", "2");

	snprintf(path, sizeof(path), "/proc/%d/root/", pid);
	root_entries = count_entries(path);
	if (root_entries != 0)
		problem("its root is not an empty directory (%d entries)", root_entries);
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", pid);
	mounts = count_lines(path);
	if (mounts != 1)
		problem("%d mounts in its namespace, want 1 (the jail's root)", mounts);
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
	if (same_link(path, "/proc/self/ns/mnt"))
		problem("it shares the host's mount namespace");
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	if (same_link(path, "/proc/self/ns/net"))
		problem("it shares the host's network namespace");
	snprintf(path, sizeof(path), "/proc/%d/limits", pid);
	if (read_text(path, limits, sizeof(limits))) {
		problem("cannot read %s", path);
		return;
	}
	limit(limits, "Max core file size", core, sizeof(core));
	limit(limits, "Max open files", nofile, sizeof(nofile));
	limit(limits, "Max processes", nproc, sizeof(nproc));
	if (strcmp(core, "0"))
		problem("core dumps allowed (%s)", core);
	if (!problems[0])
		snprintf(
		    verdict, sizeof(verdict),
		    "JAILCHECK ok uid %s gid %s, no capabilities, no_new_privs, seccomp filter, "
		    "empty root, 1 mount, own mount+net namespaces, NOFILE %s, NPROC %s, no "
		    "core dumps",
		    uid ? uid : "-", gid ? gid : "-", nofile, nproc);
}

/*
 * The verdict goes out once the program has ended, on a line of its own: while it runs, the
 * guest's console shares the output and a line written then could land inside one of its.
 */
static int report(pid_t pid)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	char line[sizeof(verdict) + 2];
	int n;

	while (getppid() == pid)
		nanosleep(&ts, NULL);
	n = snprintf(line, sizeof(line), "\n%s\n", verdict);
	if (write(STDOUT_FILENO, line, (size_t)n) != n)
		return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *uid = NULL, *gid = NULL, *as = NULL;
	int timeout = 120, i = 1;
	pid_t pid = getpid(), mon;

	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--uid"))
			uid = argv[i + 1];
		else if (!strcmp(argv[i], "--gid"))
			gid = argv[i + 1];
		else if (!strcmp(argv[i], "--setuid"))
			as = argv[i + 1];
		else if (!strcmp(argv[i], "--timeout"))
			timeout = atoi(argv[i + 1]);
		else
			break;
	}
	if (i >= argc) {
		fprintf(stderr,
			"usage: jailcheck [--uid N] [--gid N] [--setuid U:G] [--timeout S] PROGRAM "
			"[ARGS...]\n");
		return 2;
	}
	fflush(stdout);
	mon = fork();
	if (mon < 0) {
		perror("jailcheck: fork");
		return 2;
	}
	if (mon > 0) {
		unsigned u, g;

		if (as && (sscanf(as, "%u:%u", &u, &g) != 2 || setgroups(0, NULL) ||
			   setresgid(g, g, g) || setresuid(u, u, u))) {
			perror("jailcheck: --setuid");
			return 127;
		}
		execvp(argv[i], argv + i);
		perror("jailcheck: exec");
		return 127;
	}
	/* the monitor: wait for the program's main thread to load its seccomp filter */
	for (long waited_ms = 0;; waited_ms += 10) {
		char path[64], status[8192], mode[16];
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		snprintf(path, sizeof(path), "/proc/%d/status", pid);
		if (getppid() != pid || read_text(path, status, sizeof(status))) {
			snprintf(verdict, sizeof(verdict),
				 "JAILCHECK FAIL the program ended before it had sandboxed itself");
			return report(pid);
		}
		status_field(status, "Seccomp", mode, sizeof(mode));
		if (!strcmp(mode, "2"))
			break;
		if (waited_ms >= timeout * 1000L) {
			snprintf(verdict, sizeof(verdict),
				 "JAILCHECK FAIL no seccomp filter after %d s", timeout);
			return report(pid);
		}
		nanosleep(&ts, NULL);
	}
	check(pid, uid, gid);
	if (problems[0])
		snprintf(verdict, sizeof(verdict), "JAILCHECK FAIL %s", problems);
	return report(pid);
}
