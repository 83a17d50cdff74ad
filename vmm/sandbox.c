// SPDX-License-Identifier: MIT
/*
 * Per-thread seccomp allow-lists (libseccomp), the spawner that starts threads under their
 * own kind's list, and the SIGSYS handler that turns a violation into one line and exit
 * status 68. How the lists were found (strace -f of every guest program and test-host suite,
 * then --seccomp log) is in tests/sandbox/README.md.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <malloc.h>
#include <sched.h>
#include <seccomp.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/if_tun.h>
#include <linux/seccomp.h>
#include <linux/filter.h>

#include "arch.h"
#include "log.h"
#include "term.h"
#include "util.h"
#include "vcpu.h"

/* Which thread kinds an entry is for. */
#define M (1u << SANDBOX_THREAD_MAIN)
#define V (1u << SANDBOX_THREAD_VCPU)
#define I (1u << SANDBOX_THREAD_IO)
#define S (1u << SANDBOX_THREAD_SPAWNER)
#define ALL (M | V | I | S)

/* An argument condition: SCMP_CMP_* op on argument idx (a for EQ/NE, mask a == b for
 * MASKED_EQ). */
#define ARG(idx, op_, a, ...)                                                                      \
	.has_arg = true, .arg = { .arg = (idx), .op = (op_), .datum_a = (a), ##__VA_ARGS__ }
#define ARG_MASKED(idx, mask, val) ARG(idx, SCMP_CMP_MASKED_EQ, mask, .datum_b = (val))

struct sandbox_syscall {
	const char *name; /* resolved by libseccomp per architecture; absent ones are skipped */
	unsigned kinds;
	bool has_arg;
	struct scmp_arg_cmp arg;
	const char *why;
};

/*
 * The allow-lists. One entry per (syscall, argument rule); a syscall with several entries is
 * allowed when any of them matches. Anything not here traps (--seccomp on) or is logged
 * (--seccomp log). ioctl requests are in sandbox_ioctls below.
 */
static const struct sandbox_syscall sandbox_syscalls[] = {
	/* every thread */
	{ "read", ALL,
	  .why =
	      "eventfds (queue kicks, stop, irqfds), timerfd, tap, rng source, stdin, signalfd" },
	{ "write", ALL,
	  .why = "log lines to stderr, eventfds (irqfds, kicks, stop), COM1 and hvc0 output" },
	{ "close", ALL,
	  .why = "eventfds of MSI/MSI-X vectors and queues dropped on a reset; teardown" },
	{ "futex", ALL, .why = "mutexes, condition variables, pthread_join" },
	{ "exit", ALL, .why = "a thread ends (I/O threads on a device reset)" },
	{ "exit_group", ALL, .why = "the process ends" },
	{ "brk", ALL, .why = "malloc: the main arena" },
	{ "mmap", ALL, ARG_MASKED(2, PROT_EXEC, 0),
	  .why = "malloc: arenas and large blocks; thread stacks (never PROT_EXEC)" },
	{ "mprotect", ALL, ARG_MASKED(2, PROT_EXEC, 0),
	  .why = "malloc grows a thread arena; stack guard pages (never PROT_EXEC)" },
	{ "munmap", ALL,
	  .why = "free(), a joined thread's stack, passthrough BAR mappings at teardown" },
	{ "mremap", ALL, .why = "realloc() of large blocks" },
	{ "madvise", ALL, ARG(2, SCMP_CMP_EQ, MADV_DONTNEED),
	  .why = "free() and thread exit hand memory back (MADV_DONTNEED); balloon fallback" },
	{ "clock_gettime", ALL,
	  .why = "rate limits, balloon stats, timing (when the vDSO cannot)" },
	{ "restart_syscall", ALL, .why = "a wait interrupted by a signal (the vCPU kick) resumes" },
	{ "rt_sigreturn", ALL, .why = "return from a signal handler (the vCPU kick)" },
	{ "rt_sigprocmask", ALL,
	  .why = "pthread_sigmask at thread start; pthread_create, abort()" },
	/* one entry per signal, compared on all 64 bits: the kernel reads an int, so a rule
	 * "not SIGSYS" let (1 << 32) | SIGSYS through and SIGSYS's handler be replaced */
	{ "rt_sigaction", ALL, ARG(0, SCMP_CMP_EQ, VCPU_KICK_SIGNAL),
	  .why = "the first vCPU start installs the kick handler (never SIGSYS's)" },
	{ "rt_sigaction", ALL, ARG(0, SCMP_CMP_EQ, SIGABRT),
	  .why = "abort(); the terminal's crash handler resets it to SIG_DFL to re-raise" },
	{ "rt_sigaction", ALL, ARG(0, SCMP_CMP_EQ, SIGSEGV), .why = "the same, for SIGSEGV" },
	{ "rt_sigaction", ALL, ARG(0, SCMP_CMP_EQ, SIGBUS), .why = "the same, for SIGBUS" },
	{ "rt_sigaction", ALL, ARG(0, SCMP_CMP_EQ, SIGILL), .why = "the same, for SIGILL" },
	{ "rt_sigaction", ALL, ARG(0, SCMP_CMP_EQ, SIGFPE), .why = "the same, for SIGFPE" },
	{ "rt_sigaction", ALL, ARG(0, SCMP_CMP_EQ, SIGQUIT), .why = "the same, for SIGQUIT" },
	{ "getpid", ALL, .why = "raise(), abort(), pthread_kill()" },
	{ "gettid", ALL, .why = "raise(), abort()" },
	{ "tgkill", ALL,
	  .why = "the vCPU kick (pthread_kill), raise(); this process only (argument rule added at "
		 "run time)" },
	{ "prctl", ALL, ARG(0, SCMP_CMP_EQ, PR_GET_NAME),
	  .why = "the SIGSYS handler names the thread that trapped" },

	/* main thread: the event loop and teardown */
	{ "epoll_wait", M | I, .why = "the event loop, an I/O thread's loop" },
	{ "epoll_pwait", M | I, .why = "the same where libc uses epoll_pwait" },
	{ "pwrite64", M,
	  .why = "--report rewritten (SIGUSR2, exit) into the file opened at start-up" },
	{ "ftruncate", M, .why = "the same: the report may have shrunk" },
	{ "epoll_ctl", M | V | I,
	  .why = "stdin leaves the loop at EOF; activation adds queue kicks to a device's I/O "
		 "thread" },

	/* vCPU threads: device registers */
	{ "prctl", V | I | S, ARG(0, SCMP_CMP_EQ, PR_SET_NAME),
	  .why = "a thread names itself (vcpuN, the device's name, dma-containerN)" },
	{ "pread64", V | I,
	  .why = "passthrough config space and trapped BARs (VFIO region reads); a refused DMA pin "
		 "(vCPU, or a container's DMA mapping worker on the I/O list) reads "
		 "/proc/self/status (opened at start-up) to explain itself" },
	{ "pwrite64", V, .why = "passthrough config space and trapped BARs (VFIO region writes)" },
	{ "eventfd2", V, .why = "irqfds for MSI/MSI-X vectors the guest programs" },
	{ "poll", M | V | I,
	  .why = "passthrough MSI-X PBA reads (pending vectors); hvc0 output waits for a full "
		 "terminal; the report's open_fds (POLLNVAL marks a closed fd)" },
	{ "ppoll", M | V | I, .why = "the same where libc uses ppoll" },
	{ "prlimit64", V | I, ARG(2, SCMP_CMP_EQ, 0),
	  .why = "a refused DMA pin reads RLIMIT_MEMLOCK to explain itself (read only)" },

	/* device I/O threads */
	{ "readv", I, .why = "virtio-rng fills guest buffers from its source" },
	{ "writev", I, .why = "virtio-net transmits a frame to the tap" },
	{ "preadv", I, .why = "virtio-blk reads" },
	{ "pwritev", I, .why = "virtio-blk writes" },
	{ "fdatasync", I, .why = "virtio-blk flush" },
	{ "fallocate", I, ARG(1, SCMP_CMP_EQ, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE),
	  .why = "virtio-blk discard; the balloon frees memfd-backed guest RAM" },
	{ "fallocate", I, ARG(1, SCMP_CMP_EQ, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE),
	  .why = "virtio-blk write zeroes" },
	{ "madvise", I, ARG(2, SCMP_CMP_EQ, MADV_REMOVE),
	  .why = "the balloon frees shared anonymous guest RAM" },
	{ "madvise", I, ARG(2, SCMP_CMP_EQ, MADV_POPULATE_WRITE),
	  .why = "a container's DMA mapping worker and its helpers fault guest RAM in, in "
		 "parallel, before pinning it (iommu/dma_prefault.h)" },
	{ "fstat", I, .why = "the balloon reads the RAM file's block size" },
	{ "newfstatat", I, .why = "the same where libc implements fstat with fstatat" },
	{ "timerfd_settime", M | V,
	  .why = "the balloon's statistics timer: armed on activation, stopped on reset and "
		 "teardown" },

	/* the spawner: creates vCPU and I/O threads */
	{ "clone", S, ARG_MASKED(0, CLONE_THREAD, CLONE_THREAD),
	  .why = "pthread_create (threads only: no fork)" },
	{ "set_robust_list", S, .why = "a new thread registers its robust futex list" },
	{ "rseq", S, .why = "a new thread registers its restartable sequence area" },
	{ "seccomp", S, ARG(0, SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER),
	  .why = "a new thread loads its kind's filter" },
};

#define IOCTL SANDBOX_IOCTL

static const struct sandbox_ioctl sandbox_ioctls[] = {
	IOCTL(TCSETS, ALL, "the SIGSYS and crash handlers restore the terminal"),
	IOCTL(TCGETS, M, "isatty(stdin) for the Ctrl-A escape"),
	IOCTL(KVM_RUN, V, "run the guest"),
	IOCTL(KVM_IRQ_LINE, M | V | I, "INTx and COM1 interrupts (stdin input, device I/O)"),
	IOCTL(KVM_SET_GSI_ROUTING, M | V, "MSI/MSI-X routes the guest programs; teardown"),
	IOCTL(KVM_IRQFD, M | V, "bind a vector's eventfd to its route; teardown"),
	IOCTL(KVM_IOEVENTFD, M | V, "queue notify addresses follow the guest's BAR placement"),
	IOCTL(KVM_SET_USER_MEMORY_REGION, M | V,
	      "passthrough BARs move with the guest's BAR programming; teardown"),
	IOCTL(VFIO_DEVICE_SET_IRQS, M | V, "the guest enables/masks MSI, MSI-X, INTx; teardown"),
	IOCTL(VFIO_IOMMU_MAP_DMA, V | I,
	      "peer-to-peer BAR mappings follow BAR moves (p2p=on); the virtio-iommu's MAP "
	      "requests and domain switches for passthrough endpoints; a container's DMA "
	      "mapping worker (an I/O-list thread) pins guest RAM while the guest boots"),
	IOCTL(VFIO_IOMMU_UNMAP_DMA, M | V | I, "the same; teardown"),
	IOCTL(VFIO_DEVICE_RESET, M, "quiesce a passthrough device at teardown"),
	IOCTL(
	    VFIO_GROUP_GET_DEVICE_FD, I,
	    "a passthrough device is opened (and reset by vfio-pci) by a thread of its own on the "
	    "I/O list while the guest boots"),
	IOCTL(VFIO_DEVICE_GET_INFO, I, "the same: what the opened device offers"),
	IOCTL(VFIO_DEVICE_GET_REGION_INFO, I,
	      "the same: its config, BAR and ROM regions (sizes checked against sysfs', mmap "
	      "areas)"),
	IOCTL(VFIO_DEVICE_GET_IRQ_INFO, I, "the same: its interrupt vector counts"),
	IOCTL(VFIO_GROUP_UNSET_CONTAINER, M, "teardown"),
	IOCTL(TUNSETOFFLOAD, M | V,
	      "virtio-net offloads follow the features the guest accepts; teardown turns them "
	      "off on a device the guest left running (a panic, a triple fault)"),
};

static const char *const sandbox_thread_names[SANDBOX_THREAD_NR] = {
	[SANDBOX_THREAD_MAIN] = "main",
	[SANDBOX_THREAD_VCPU] = "vCPU",
	[SANDBOX_THREAD_IO] = "device I/O",
	[SANDBOX_THREAD_SPAWNER] = "spawner",
};

/* The ioctl table: the arch-neutral requests above, then the architecture's own. */
static size_t sandbox_nr_ioctls(void)
{
	return ARRAY_SIZE(sandbox_ioctls) + arch_nr_sandbox_ioctls;
}

static const struct sandbox_ioctl *sandbox_ioctl_at(size_t i)
{
	return i < ARRAY_SIZE(sandbox_ioctls)
		   ? &sandbox_ioctls[i]
		   : &arch_sandbox_ioctls[i - ARRAY_SIZE(sandbox_ioctls)];
}

/*
 * A syscall's number on this architecture, or -1 where it has none: libseccomp knows every
 * name of every architecture and answers a negative pseudo-number for the ones this one
 * lacks (arm64 has no open, poll, epoll_wait: only openat, ppoll, epoll_pwait), which no
 * rule must be added for.
 */
static int sandbox_syscall_nr(const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	return nr < 0 ? -1 : nr;
}

/* ---- state ---- */

/* syscall names for the SIGSYS handler, resolved before any filter is loaded */
#define SANDBOX_MAX_NR 512
/* the architecture a SIGSYS's si_arch names for a call through this build's own table */
#if defined(__x86_64__)
#define SANDBOX_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "ptvm's sandbox knows x86_64 and arm64"
#endif
static char sandbox_nr_names[SANDBOX_MAX_NR][24];

static struct sock_fprog sandbox_progs[SANDBOX_THREAD_NR];
static enum sandbox_seccomp sandbox_mode = SANDBOX_SECCOMP_OFF;
static bool sandbox_built;
static atomic_bool sandbox_on;
static __thread enum sandbox_thread sandbox_self = SANDBOX_THREAD_MAIN;

/* the spawner: one request at a time */
struct sandbox_start {
	enum sandbox_thread kind;
	void *(*fn)(void *);
	void *arg;
	sem_t loaded;
	int ret;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sandbox_start *req;
	pthread_t *req_thread;
	int req_ret;
	bool req_done;
	pthread_t thread;
} sandbox_spawner = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

const char *sandbox_thread_name(enum sandbox_thread kind)
{
	return kind < SANDBOX_THREAD_NR ? sandbox_thread_names[kind] : "?";
}

int sandbox_seccomp_parse(const char *s, enum sandbox_seccomp *out)
{
	if (!strcmp(s, "on"))
		*out = SANDBOX_SECCOMP_ON;
	else if (!strcmp(s, "log"))
		*out = SANDBOX_SECCOMP_LOG;
	else if (!strcmp(s, "off"))
		*out = SANDBOX_SECCOMP_OFF;
	else
		return -EINVAL;
	return 0;
}

const char *sandbox_seccomp_name(enum sandbox_seccomp mode)
{
	switch (mode) {
	case SANDBOX_SECCOMP_ON:
		return "on";
	case SANDBOX_SECCOMP_LOG:
		return "log";
	default:
		return "off";
	}
}

bool sandbox_seccomp_active(void)
{
	return atomic_load(&sandbox_on);
}

/* ---- the SIGSYS handler (async-signal-safe: fixed buffers, write, _exit) ---- */

static size_t sandbox_put(char *buf, size_t at, size_t len, const char *s)
{
	while (*s && at < len)
		buf[at++] = *s++;
	return at;
}

static size_t sandbox_put_uint(char *buf, size_t at, size_t len, unsigned long v)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < (int)sizeof(digits));
	while (n && at < len)
		buf[at++] = digits[--n];
	return at;
}

static void sandbox_sigsys(int sig, siginfo_t *si, void *ctx)
{
	char line[256], comm[17] = "";
	size_t n = 0, len = sizeof(line) - 1;
	int nr = si->si_syscall;

	(void)sig;
	(void)ctx;
	syscall(SYS_prctl, PR_GET_NAME, comm, 0, 0, 0);
	n = sandbox_put(line, n, len, "ptvm: error: seccomp: thread '");
	n = sandbox_put(line, n, len, comm);
	n = sandbox_put(line, n, len, "' (");
	n = sandbox_put(line, n, len, sandbox_thread_name(sandbox_self));
	n = sandbox_put(line, n, len, " thread) made a forbidden system call: ");
	if (si->si_arch != SANDBOX_AUDIT_ARCH) /* nr is of its table (x86: int $0x80) */
		n = sandbox_put(line, n, len, "another architecture's");
	else if (nr >= 0 && nr < SANDBOX_MAX_NR && sandbox_nr_names[nr][0])
		n = sandbox_put(line, n, len, sandbox_nr_names[nr]);
	else
		n = sandbox_put(line, n, len, "unknown");
	n = sandbox_put(line, n, len, " (");
	n = sandbox_put_uint(line, n, len, (unsigned long)(unsigned)nr);
	n = sandbox_put(line, n, len, "); stopping\n");
	term_restore();
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nothing left to tell it to */
	}
	_exit(SANDBOX_EXIT_SECCOMP);
}

/* ---- building the filters ---- */

static int sandbox_add_rules(scmp_filter_ctx ctx, unsigned kind_bit)
{
	int ret;

	for (size_t i = 0; i < ARRAY_SIZE(sandbox_syscalls); i++) {
		const struct sandbox_syscall *e = &sandbox_syscalls[i];
		int nr = sandbox_syscall_nr(e->name);

		if (!(e->kinds & kind_bit) || nr < 0)
			continue;
		if (!strcmp(e->name, "tgkill")) {
			/* to threads of this process only */
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
		} else if (e->has_arg) {
			ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &e->arg);
		} else {
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		}
		if (ret) {
			pr_err("seccomp: cannot add %s to the %s list: %s", e->name,
			       sandbox_thread_name((enum sandbox_thread)__builtin_ctz(kind_bit)),
			       strerror(-ret));
			return ret;
		}
	}
	for (size_t i = 0; i < sandbox_nr_ioctls(); i++) {
		const struct sandbox_ioctl *e = sandbox_ioctl_at(i);

		if (!(e->kinds & kind_bit))
			continue;
		/* the kernel takes the request as an unsigned int: compare those 32 bits */
		ret = seccomp_rule_add(
		    ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, (scmp_datum_t)(uint32_t)e->request));
		if (ret) {
			pr_err("seccomp: cannot add ioctl %s: %s", e->name, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* Exports ctx's BPF program into prog (memory that lives as long as the process). */
static int sandbox_export(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int fd = memfd_create("ptvm-seccomp", MFD_CLOEXEC);
	struct sock_filter *insns = NULL;
	off_t size;
	int ret;

	if (fd < 0)
		return -errno;
	ret = seccomp_export_bpf(ctx, fd);
	if (ret)
		goto out_close;
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(*insns) ||
	    size / (off_t)sizeof(*insns) > BPF_MAXINSNS) {
		ret = -E2BIG;
		goto out_close;
	}
	insns = malloc((size_t)size);
	if (!insns) {
		ret = -ENOMEM;
		goto out_close;
	}
	if (pread(fd, insns, (size_t)size, 0) != size) {
		ret = -EIO;
		free(insns);
		goto out_close;
	}
	free(prog->filter);
	prog->filter = insns;
	prog->len = (unsigned short)(size / (off_t)sizeof(*insns));
	ret = 0;
out_close:
	close(fd);
	return ret;
}

static int sandbox_build_one(enum sandbox_seccomp mode, enum sandbox_thread kind)
{
	unsigned bit = 1u << kind;
	scmp_filter_ctx ctx;
	int ret;

	ctx = seccomp_init(mode == SANDBOX_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	/* a call through another architecture's entry (x86: int $0x80) traps like any other;
	 * libseccomp's default kills the thread alone, silently, and ptvm would wait for it */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
			       mode == SANDBOX_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
	/* the spawner starts vCPU and I/O threads, which inherit its filter: it allows all
	 * theirs, so that each new thread is held to its own list only */
	if (kind == SANDBOX_THREAD_SPAWNER)
		bit |= V | I;
	if (!ret)
		ret = sandbox_add_rules(ctx, bit);
	/* glibc's pthread_create tries clone3 first, whose flags seccomp cannot see: ENOSYS
	 * makes it fall back to clone, whose flags the rule above checks */
	if (!ret && kind == SANDBOX_THREAD_SPAWNER)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (!ret)
		ret = sandbox_export(ctx, &sandbox_progs[kind]);
	if (ret)
		pr_err("seccomp: cannot build the %s thread's filter: %s",
		       sandbox_thread_name(kind), strerror(-ret));
	seccomp_release(ctx);
	return ret;
}

static int sandbox_build(enum sandbox_seccomp mode)
{
	struct sigaction sa;
	int ret;

	if (sandbox_built)
		return mode == sandbox_mode ? 0 : -EBUSY;
	for (int nr = 0; nr < SANDBOX_MAX_NR; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (name) {
			snprintf(sandbox_nr_names[nr], sizeof(sandbox_nr_names[nr]), "%s", name);
			free(name);
		}
	}
	for (unsigned k = 0; k < SANDBOX_THREAD_NR; k++) {
		ret = sandbox_build_one(mode, (enum sandbox_thread)k);
		if (ret)
			return ret;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		ret = -errno;
		pr_err("seccomp: cannot install the SIGSYS handler: %s", strerror(-ret));
		return ret;
	}
	/* unprivileged seccomp needs it; with it no exec can gain privileges either */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		ret = -errno;
		pr_err("seccomp: PR_SET_NO_NEW_PRIVS: %s", strerror(-ret));
		return ret;
	}
	/* glibc sizes its malloc arena limit from /sys/devices/system/cpu/online (some
	 * versions) the first time a thread needs an arena: fix the limit now (its default) so
	 * that no thread opens a file later */
	mallopt(M_ARENA_MAX, 8 * (int)MAX(sysconf(_SC_NPROCESSORS_ONLN), 1L));
	/* and it reads /proc/sys/vm/overcommit_memory the first time it shrinks a thread
	 * arena's heap: never trimming the heaps (ptvm's own heap is small) avoids that open */
	mallopt(M_TRIM_THRESHOLD, INT_MAX);
	sandbox_mode = mode;
	sandbox_built = true;
	return 0;
}

/* Loads kind's filter on the calling thread; -errno. */
static int sandbox_load(enum sandbox_thread kind)
{
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sandbox_progs[kind]) < 0)
		return -errno;
	sandbox_self = kind;
	return 0;
}

/* ---- threads ---- */

static void *sandbox_thread_start(void *p)
{
	struct sandbox_start *s = p;
	void *(*fn)(void *) = s->fn;
	void *arg = s->arg;
	int ret = sandbox_load(s->kind);

	s->ret = ret;
	sem_post(&s->loaded);
	/* s belongs to its creator from here on: it may be gone */
	if (ret)
		return NULL;
	return fn(arg);
}

static void *sandbox_spawner_main(void *unused)
{
	(void)unused;
	pthread_setname_np(pthread_self(), "ptvm-spawner");
	pthread_mutex_lock(&sandbox_spawner.lock);
	for (;;) {
		struct sandbox_start *s;
		pthread_t t;
		int ret;

		while (!sandbox_spawner.req || sandbox_spawner.req_done)
			pthread_cond_wait(&sandbox_spawner.cond, &sandbox_spawner.lock);
		s = sandbox_spawner.req;
		ret = pthread_create(&t, NULL, sandbox_thread_start, s);
		if (!ret) {
			while (sem_wait(&s->loaded) && errno == EINTR)
				;
			if (s->ret) {
				ret = -s->ret;
				pthread_join(t, NULL);
			}
		}
		if (!ret)
			*sandbox_spawner.req_thread = t;
		sandbox_spawner.req_ret = ret;
		sandbox_spawner.req_done = true;
		pthread_cond_broadcast(&sandbox_spawner.cond);
	}
	return NULL;
}

int sandbox_thread_create(enum sandbox_thread kind, pthread_t *thread, void *(*fn)(void *),
			  void *arg)
{
	struct sandbox_start s = { .kind = kind, .fn = fn, .arg = arg };
	int ret;

	if (!sandbox_seccomp_active())
		return pthread_create(thread, NULL, fn, arg);
	if (sem_init(&s.loaded, 0, 0))
		return errno;
	pthread_mutex_lock(&sandbox_spawner.lock);
	while (sandbox_spawner.req)
		pthread_cond_wait(&sandbox_spawner.cond, &sandbox_spawner.lock);
	sandbox_spawner.req = &s;
	sandbox_spawner.req_thread = thread;
	sandbox_spawner.req_done = false;
	pthread_cond_broadcast(&sandbox_spawner.cond);
	while (!sandbox_spawner.req_done)
		pthread_cond_wait(&sandbox_spawner.cond, &sandbox_spawner.lock);
	ret = sandbox_spawner.req_ret;
	sandbox_spawner.req = NULL;
	pthread_cond_broadcast(&sandbox_spawner.cond);
	pthread_mutex_unlock(&sandbox_spawner.lock);
	sem_destroy(&s.loaded);
	if (ret)
		pr_err("seccomp: cannot start a %s thread: %s", sandbox_thread_name(kind),
		       strerror(ret));
	return ret;
}

/* ---- entry points ---- */

int sandbox_seccomp_enable(enum sandbox_seccomp mode)
{
	struct sandbox_start s = { .kind = SANDBOX_THREAD_SPAWNER };
	unsigned nr[SANDBOX_THREAD_NR], io[SANDBOX_THREAD_NR];
	int ret;

	if (mode == SANDBOX_SECCOMP_OFF) {
		pr_info("seccomp: off");
		return 0;
	}
#ifdef SANDBOX_SANITIZER_BUILD
	if (mode == SANDBOX_SECCOMP_ON) {
		pr_err("--seccomp on: not in a sanitizer build (its runtime needs ptrace and fork "
		       "at exit); use --seccomp log or off");
		return -EINVAL;
	}
#endif
	if (sandbox_seccomp_active()) {
		pr_err("seccomp: already on");
		return -EBUSY;
	}
	ret = sandbox_build(mode);
	if (ret)
		return ret;

	/* the spawner runs under its own (union) list, loaded as the first thing it does */
	if (sem_init(&s.loaded, 0, 0))
		return -errno;
	s.fn = sandbox_spawner_main;
	ret = -pthread_create(&sandbox_spawner.thread, NULL, sandbox_thread_start, &s);
	if (!ret) {
		while (sem_wait(&s.loaded) && errno == EINTR)
			;
		ret = s.ret;
	}
	sem_destroy(&s.loaded);
	if (ret) {
		pr_err("seccomp: cannot start the spawner thread: %s", strerror(-ret));
		return ret;
	}
	ret = sandbox_load(SANDBOX_THREAD_MAIN);
	if (ret) {
		/* the spawner is filtered already: nothing else may start unfiltered */
		pr_err("seccomp: cannot load the main thread's filter: %s", strerror(-ret));
		return ret;
	}
	atomic_store(&sandbox_on, true);
	for (unsigned k = 0; k < SANDBOX_THREAD_NR; k++)
		nr[k] = sandbox_seccomp_count((enum sandbox_thread)k, &io[k]);
	pr_info("seccomp: %s; syscalls allowed: main %u (%u ioctls), vCPU %u (%u), device I/O %u "
		"(%u), spawner %u (%u)",
		sandbox_seccomp_name(mode), nr[SANDBOX_THREAD_MAIN], io[SANDBOX_THREAD_MAIN],
		nr[SANDBOX_THREAD_VCPU], io[SANDBOX_THREAD_VCPU], nr[SANDBOX_THREAD_IO],
		io[SANDBOX_THREAD_IO], nr[SANDBOX_THREAD_SPAWNER], io[SANDBOX_THREAD_SPAWNER]);
	return 0;
}

int sandbox_seccomp_enter(enum sandbox_seccomp mode, enum sandbox_thread kind)
{
	int ret;

	if (mode == SANDBOX_SECCOMP_OFF || kind >= SANDBOX_THREAD_NR)
		return -EINVAL;
	ret = sandbox_build(mode);
	if (!ret)
		ret = sandbox_load(kind);
	return ret;
}

static bool sandbox_kind_has(const struct sandbox_syscall *e, enum sandbox_thread kind)
{
	unsigned bit = 1u << kind;

	if (kind == SANDBOX_THREAD_SPAWNER)
		bit |= V | I;
	return e->kinds & bit;
}

unsigned sandbox_seccomp_count(enum sandbox_thread kind, unsigned *nr_ioctls)
{
	unsigned n = 0, nio = 0;
	unsigned bit = (1u << kind) | (kind == SANDBOX_THREAD_SPAWNER ? V | I : 0);

	for (size_t i = 0; i < ARRAY_SIZE(sandbox_syscalls); i++) {
		const struct sandbox_syscall *e = &sandbox_syscalls[i];
		bool first = true;

		if (!sandbox_kind_has(e, kind) || sandbox_syscall_nr(e->name) < 0)
			continue;
		/* count each syscall once, however many argument rules it has */
		for (size_t j = 0; j < i && first; j++)
			first = !(sandbox_kind_has(&sandbox_syscalls[j], kind) &&
				  !strcmp(sandbox_syscalls[j].name, e->name));
		n += first;
	}
	for (size_t i = 0; i < sandbox_nr_ioctls(); i++)
		nio += !!(sandbox_ioctl_at(i)->kinds & bit);
	if (nio)
		n++; /* ioctl itself */
	if (nr_ioctls)
		*nr_ioctls = nio;
	return n;
}

static void sandbox_print_kinds(FILE *f, unsigned kinds)
{
	fprintf(f, "%c%c%c%c ", kinds & M ? 'M' : '-', kinds & V ? 'V' : '-', kinds & I ? 'I' : '-',
		kinds & S ? 'S' : '-');
}

void sandbox_seccomp_print(FILE *f)
{
	fprintf(f, "# kinds: M main, V vCPU, I device I/O, S spawner (the spawner also allows "
		   "all of V and I)\n");
	for (size_t i = 0; i < ARRAY_SIZE(sandbox_syscalls); i++) {
		const struct sandbox_syscall *e = &sandbox_syscalls[i];

		sandbox_print_kinds(f, e->kinds);
		fprintf(f, "%-16s %s\n", e->name, e->why);
	}
	for (size_t i = 0; i < sandbox_nr_ioctls(); i++) {
		const struct sandbox_ioctl *e = sandbox_ioctl_at(i);

		sandbox_print_kinds(f, e->kinds);
		fprintf(f, "ioctl %-26s %s\n", e->name, e->why);
	}
}
