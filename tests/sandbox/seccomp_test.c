// SPDX-License-Identifier: MIT
/*
 * The seccomp allow-lists of vmm/sandbox.c, tried from outside ptvm: each case forks a child
 * that puts itself under one thread kind's filter and makes one call; the parent checks how
 * the child ended and what it said.
 *
 *   - a forbidden call (execve, open of any file, ptrace, fork, PROT_EXEC mappings, another
 *     kind's calls) ends the child with ptvm's status 68 and one line naming the syscall and
 *     the thread; where the handler cannot run (SIGSYS blocked) the kernel kills it with
 *     SIGSYS;
 *   - an allowed call returns (its own error, here: the fds are not what it expects);
 *   - --seccomp log lets a forbidden call through;
 *   - threads started through the spawner are held to their own kind's list only: a device
 *     I/O thread started by a vCPU thread may do what vCPU threads may not, and not what
 *     they may; glibc's malloc in such a thread opens no file.
 *
 * One PASS/FAIL line per case, then "seccomp: N passed, N failed".
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devices/tap.h"
#include "devices/virtio_net.h"
#include "iommu/dma_listener.h"
#include "iommu/dma_prefault.h"
#include "iommu/vfio_container.h"
#include "tests/unit/virtio_driver.h"
#include "vmm/memmap.h"
#include "vmm/sandbox.h"
#include "vmm/util.h"

static int passed, failed;
/* made before the filter is loaded (pipe2 is not on any list) */
static int test_pipe[2] = { -1, -1 };

enum expect {
	EXPECT_OK,     /* the child exits 0: the call was allowed */
	EXPECT_TRAP,   /* ptvm's handler: status 68, a line naming the syscall and thread */
	EXPECT_SIGSYS, /* SIGSYS blocked, so no handler runs: the kernel kills with SIGSYS */
};

struct child_case {
	const char *name;
	enum sandbox_seccomp mode;
	enum sandbox_thread kind;
	int (*call)(void); /* runs under the filter; returns 0 when the call came back */
	enum expect expect;
	const char *syscall; /* for EXPECT_TRAP: the name the line must give */
	int named; /* for EXPECT_TRAP: NAMES(kind) the line must name (0: the case's kind) */
};

/* ---- calls ---- */

static int call_execve(void)
{
	char *const argv[] = { "/bin/true", NULL };

	execve("/bin/true", argv, environ);
	return 0;
}

static int call_open(void)
{
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return 0;
}

static int call_ptrace(void)
{
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	return 0;
}

/* SIGSYS's handler replaced, the signal number's high half set: the kernel reads an int */
static int call_sigaction_sigsys_high_bits(void)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };

	syscall(SYS_rt_sigaction, (1UL << 32) | SIGSYS, &sa, NULL, 8);
	return 0;
}

/* the vCPU kick's handler, as the first vCPU start installs it */
static int call_sigaction_kick(void)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };

	return sigaction(SIGUSR1, &sa, NULL) ? 1 : 0;
}

#if defined(__x86_64__)
/* getpid through the i386 entry (int $0x80, number 20) */
static long int80_getpid(void)
{
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
	return ret;
}

static int call_foreign_arch(void)
{
	int80_getpid();
	return 0;
}

/* Whether this kernel runs i386 calls at all (IA32 emulation): else int $0x80 faults. */
static bool have_ia32(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(int80_getpid() == getpid() ? 0 : 1);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
#endif

static int call_fork(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return 0;
}

static int call_socket(void)
{
	socket(AF_INET, SOCK_STREAM, 0);
	return 0;
}

static int call_mmap_exec(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 0;
}

static int call_getppid(void)
{
	return getppid() > 0 ? 0 : 1;
}

/* KVM_RUN on a pipe: allowed for vCPU threads (the kernel answers ENOTTY) */
static int call_kvm_run(void)
{
	return ioctl(test_pipe[0], KVM_RUN, 0) < 0 && errno == ENOTTY ? 0 : 1;
}

/* fdatasync on a pipe: allowed for I/O threads (EINVAL) */
static int call_fdatasync(void)
{
	return fdatasync(test_pipe[1]) < 0 && errno == EINVAL ? 0 : 1;
}

/* a write: every kind may */
static int call_write(void)
{
	return write(test_pipe[1], "x", 1) == 1 ? 0 : 1;
}

/* ---- threads through the spawner ---- */

struct chain {
	int (*io_call)(void);
	int vcpu_result;
	int io_result;
};

static void *chain_io(void *arg)
{
	struct chain *c = arg;

	prctl(PR_SET_NAME, "test-io");
	c->io_result = c->io_call();
	return NULL;
}

static void *chain_vcpu(void *arg)
{
	struct chain *c = arg;
	pthread_t t;

	prctl(PR_SET_NAME, "test-vcpu");
	/* the way a guest's DRIVER_OK starts a device's I/O thread */
	c->vcpu_result = sandbox_thread_create(SANDBOX_THREAD_IO, &t, chain_io, c);
	if (!c->vcpu_result)
		pthread_join(t, NULL);
	return NULL;
}

/* main -> vCPU thread -> I/O thread, all through sandbox_thread_create */
static int chain_run(int (*io_call)(void))
{
	struct chain c = { .io_call = io_call, .io_result = -1 };
	pthread_t t;

	if (sandbox_seccomp_enable(SANDBOX_SECCOMP_ON))
		return 10;
	if (sandbox_thread_create(SANDBOX_THREAD_VCPU, &t, chain_vcpu, &c))
		return 11;
	pthread_join(t, NULL);
	return c.vcpu_result ? 12 : c.io_result;
}

static int call_chain_io_fdatasync(void)
{
	return chain_run(call_fdatasync);
}

static int call_chain_io_kvm_run(void)
{
	return chain_run(call_kvm_run);
}

/* glibc malloc in a fresh thread arena, grown and freed past its trim threshold */
static int call_malloc_churn(void)
{
	enum { N = 8192 };
	static void *blocks[N];

	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < N; i++)
			blocks[i] = malloc(1024);
		for (int i = N - 1; i >= 0; i--)
			free(blocks[i]);
	}
	return 0;
}

static int call_chain_io_malloc(void)
{
	return chain_run(call_malloc_churn);
}

/* the main thread of an enabled sandbox may not fork */
static int call_enabled_main_fork(void)
{
	if (sandbox_seccomp_enable(SANDBOX_SECCOMP_ON))
		return 10;
	return call_fork();
}

/*
 * A DMA pin refused once the filter is on (a BAR moved with p2p=on, on a vCPU thread): the
 * listener explains it with the locked memory it reads from /proc/self/status, which it must
 * have opened beforehand (no open is allowed now, and a jail has no /proc).
 */
static int fake_map_refused(struct dma_listener *l, uint64_t iova, uint64_t size, void *vaddr,
			    bool writable)
{
	return -ENOMEM;
}

static int fake_unmap(struct dma_listener *l, uint64_t iova, uint64_t size)
{
	return 0;
}

static const struct dma_backend_ops fake_refusing_ops = { .map = fake_map_refused,
							  .unmap = fake_unmap };

static int call_pin_refused(void)
{
	static struct vfio_container c = { .fd = -1, .pgsize_bitmap = 0x1000 };
	struct memmap_region r = { .gpa = 0x100000,
				   .size = 0x100000,
				   .kind = MEMMAP_RAM,
				   .fd = -1,
				   .hva = (void *)0x7f0000100000ULL };
	struct dma_listener *l;
	struct memmap *mm;

	if (memmap_create(&mm) || dma_listener_create(mm, &c, false, &fake_refusing_ops, &l))
		return 10;
	snprintf(r.name, sizeof(r.name), "ram-late");
	if (sandbox_seccomp_enter(SANDBOX_SECCOMP_ON, SANDBOX_THREAD_VCPU))
		return 11;
	return memmap_add_region(mm, &r) == -ENOMEM ? 0 : 12;
}

/*
 * A container's DMA mapping worker, started once the sandbox is on (dma_listener_start, as ptvm
 * run does after start-up): it runs under the device I/O list, where VFIO_IOMMU_MAP_DMA is
 * allowed (on a pipe: ENOTTY, not a trap); the main thread unmaps at teardown.
 */
static int fake_map_ioctl(struct dma_listener *l, uint64_t iova, uint64_t size, void *vaddr,
			  bool writable)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .vaddr = (uintptr_t)vaddr, .iova = iova, .size = size
	};

	return ioctl(test_pipe[0], VFIO_IOMMU_MAP_DMA, &map) < 0 && errno == ENOTTY ? 0 : -EIO;
}

static int fake_unmap_ioctl(struct dma_listener *l, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap),
						    .iova = iova,
						    .size = size };

	return ioctl(test_pipe[0], VFIO_IOMMU_UNMAP_DMA, &unmap) < 0 && errno == ENOTTY ? 0 : -EIO;
}

static const struct dma_backend_ops fake_ioctl_ops = { .map = fake_map_ioctl,
						       .unmap = fake_unmap_ioctl };

static void dma_failed(void *opaque, int err)
{
	(void)opaque;
	(void)err;
}

/*
 * A background listener over one RAM region [0, size) at hva, its worker started once the
 * sandbox is on; its figures in *st. 0, or the step that failed (10-13).
 */
static int dma_worker_run(void *hva, uint64_t size, unsigned prefault_threads,
			  struct dma_listener_stats *st)
{
	static struct vfio_container c = { .fd = -1, .pgsize_bitmap = 0x1000 };
	struct memmap_region r = {
		.gpa = 0, .size = size, .kind = MEMMAP_RAM, .fd = -1, .hva = hva
	};
	struct dma_listener *l;
	struct memmap *mm;

	snprintf(r.name, sizeof(r.name), "ram-low");
	if (memmap_create(&mm) || memmap_add_region(mm, &r) ||
	    dma_listener_create_background(mm, &c, false, &fake_ioctl_ops, dma_failed, NULL, &l))
		return 10;
	dma_listener_set_prefault_threads(l, prefault_threads);
	if (sandbox_seccomp_enable(SANDBOX_SECCOMP_ON))
		return 11;
	if (dma_listener_start(l))
		return 12;
	if (dma_listener_wait(l, 30))
		return 13;
	dma_listener_stats_get(l, st);
	dma_listener_destroy(l); /* unmaps on the main thread, joins the worker */
	return 0;
}

static int call_dma_worker(void)
{
	struct dma_listener_stats st;

	return dma_worker_run((void *)0x7f0000000000ULL, 0x100000, 0, &st);
}

/*
 * The same worker with prefault threads (iommu/dma_prefault.h): it and its helpers, device I/O
 * threads started through the spawner, fault 256 MiB of RAM in with MADV_POPULATE_WRITE before
 * the map: every byte counted as faulted in, nothing trapped.
 */
static int call_dma_worker_prefault(void)
{
	uint64_t size = 4 * DMA_PREFAULT_MIN_SLICE;
	void *ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct dma_listener_stats st;
	int ret;

	if (ram == MAP_FAILED)
		return 9;
	ret = dma_worker_run(ram, size, 3, &st);
	if (!ret && (st.prefault_bytes != size || st.prefault_threads != 3))
		ret = 14;
	return ret;
}

/* MADV_POPULATE_WRITE is the I/O list's alone (the DMA worker's): a vCPU thread traps */
static int call_madvise_populate(void)
{
	static char page[4096] __attribute__((aligned(4096)));

	return madvise(page, sizeof(page), MADV_POPULATE_WRITE) ? 1 : 0;
}

/* --report's open_fds from the main thread: poll() over the fd table, no /proc */
static int call_main_count_fds(void)
{
	unsigned with, without;
	int p[2];

	if (pipe(p))
		return 10;
	if (sandbox_seccomp_enter(SANDBOX_SECCOMP_ON, SANDBOX_THREAD_MAIN))
		return 11;
	with = fd_count_open(1024);
	close(p[1]);
	without = fd_count_open(1024);
	return with >= 5 && without == with - 1 ? 0 : 12;
}

/*
 * A guest that dies without resetting its devices (a panic's reboot, a triple fault) leaves
 * virtio-net running with the tap's offloads on; ptvm's teardown on the main thread resets
 * the device, and the reset turns the offloads off with TUNSETOFFLOAD. Found in the test host:
 * the jail suite's guest panicked and ptvm ended with status 68 (the main thread's ioctl)
 * instead of the guest's own status. The backend is a socketpair that says it took the
 * offloads; the real ioctl still goes out (ENOTTY there: what counts is that it is allowed).
 */
static int net_set_offload_sock(int fd, unsigned flags)
{
	tap_set_offload(fd, flags);
	return 0;
}

static void net_notify_queue(struct virtio_device *vdev, struct virtqueue *vq)
{
}

static void net_notify_config(struct virtio_device *vdev)
{
}

static const struct virtio_transport_ops net_transport = {
	.notify_queue = net_notify_queue,
	.notify_config = net_notify_config,
};

static int call_main_net_teardown_live(void)
{
	static const struct virtio_net_options opts = { .tap = "seccomp0", .mac_set = true };
	const uint64_t ram_gpa = 0x100000, ram_size = 0x10000;
	struct memmap_region r = { .gpa = ram_gpa, .size = ram_size, .kind = MEMMAP_RAM, .fd = -1 };
	struct virtio_net_backend be = { .name = "seccomp0",
					 .offloads = TUN_F_CSUM | TUN_F_TSO4,
					 .set_offload = net_set_offload_sock };
	struct virtio_net_stats stats;
	struct virtio_device *vdev;
	uint64_t features;
	struct memmap *mm;
	int sv[2];

	r.hva = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	snprintf(r.name, sizeof(r.name), "ram");
	if (r.hva == MAP_FAILED || memmap_create(&mm) || memmap_add_region(mm, &r))
		return 10;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return 11;
	be.fd = sv[0];
	if (virtio_net_create_backend(&opts, &be, mm, &vdev))
		return 12;
	vdev->transport = &net_transport;
	/* empty rings (all zero) of 8 entries, one 16 KiB slot per queue */
	for (unsigned q = 0; q < 2; q++) {
		struct virtqueue *vq = &vdev->vqs[q];

		vq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vq->size = 8;
		vq->desc_gpa = ram_gpa + q * 0x4000;
		vq->avail_gpa = vq->desc_gpa + 0x1000;
		vq->used_gpa = vq->desc_gpa + 0x2000;
		vq->enabled = true;
	}
	/* everything the device offers, as Linux's driver takes the checksum and TSO bits */
	features = virtio_device_features(vdev);
	virtio_driver_ok(vdev, features);
	virtio_net_get_stats(vdev, &stats);
	if (!atomic_load(&vdev->activated) || !stats.rx_offloads)
		return 13; /* nothing for the teardown to turn off: the case would prove nothing */
	if (sandbox_seccomp_enter(SANDBOX_SECCOMP_ON, SANDBOX_THREAD_MAIN))
		return 14;
	virtio_net_destroy(vdev);
	return 0;
}

/* ---- the harness ---- */

static void result(bool ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void result(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS seccomp-%s\n", name);
		passed++;
		return;
	}
	printf("FAIL seccomp-%s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed++;
}

static void run_case(const struct child_case *c)
{
	char err[1024] = "", path[] = "/tmp/ptvm-seccomp-test.XXXXXX", want[96], named[32];
	int fd = mkstemp(path), status = 0;
	ssize_t n;
	pid_t pid;

	snprintf(named, sizeof(named), "(%s thread)",
		 sandbox_thread_name(c->named ? (enum sandbox_thread)(c->named - 1) : c->kind));
	if (fd < 0) {
		result(false, c->name, "mkstemp: %s", strerror(errno));
		return;
	}
	unlink(path);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		result(false, c->name, "fork: %s", strerror(errno));
		close(fd);
		return;
	}
	if (pid == 0) {
		int ret;

		dup2(fd, STDERR_FILENO);
		prctl(PR_SET_NAME, "test-thread");
		if (pipe(test_pipe))
			_exit(101);
		if (c->kind != SANDBOX_THREAD_NR) {
			ret = sandbox_seccomp_enter(c->mode, c->kind);
			if (ret) {
				fprintf(stderr, "sandbox_seccomp_enter: %s\n", strerror(-ret));
				_exit(100);
			}
		}
		if (c->expect == EXPECT_SIGSYS) {
			/* the handler cannot run: the kernel kills with SIGSYS */
			sigset_t set;

			sigemptyset(&set);
			sigaddset(&set, SIGSYS);
			sigprocmask(SIG_BLOCK, &set, NULL);
		}
		_exit(c->call());
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	n = pread(fd, err, sizeof(err) - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	close(fd);
	if (n > 0 && err[n - 1] == '\n')
		err[n - 1] = '\0';

	switch (c->expect) {
	case EXPECT_OK:
		result(WIFEXITED(status) && WEXITSTATUS(status) == 0, c->name,
		       "want exit 0, got %s %d (stderr: %s)", WIFEXITED(status) ? "exit" : "signal",
		       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), err);
		break;
	case EXPECT_SIGSYS:
		result(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, c->name,
		       "want killed by SIGSYS, got %s %d", WIFEXITED(status) ? "exit" : "signal",
		       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		break;
	case EXPECT_TRAP:
		snprintf(want, sizeof(want), "forbidden system call: %s (", c->syscall);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != SANDBOX_EXIT_SECCOMP) {
			result(false, c->name, "want exit %d, got %s %d (stderr: %s)",
			       SANDBOX_EXIT_SECCOMP, WIFEXITED(status) ? "exit" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), err);
		} else if (strchr(err, '\n') ||
			   strncmp(err, "ptvm: error: seccomp: thread '", 30) ||
			   !strstr(err, want) || !strstr(err, named)) {
			result(false, c->name,
			       "want one line naming '%s' and the %s thread, got: %s", c->syscall,
			       named, err);
		} else {
			result(true, c->name, "%s", "");
		}
		break;
	}
}

#define MAIN SANDBOX_THREAD_MAIN
#define VCPU SANDBOX_THREAD_VCPU
#define IO SANDBOX_THREAD_IO
#define ON SANDBOX_SECCOMP_ON
#define LOG SANDBOX_SECCOMP_LOG
#define NONE SANDBOX_THREAD_NR /* the case sets up the sandbox itself */
#define NAMES(kind) ((kind) + 1)

int main(void)
{
	static const struct child_case cases[] = {
		/* what no thread may do */
		{ "main-execve", ON, MAIN, call_execve, EXPECT_TRAP, "execve", 0 },
		{ "vcpu-execve", ON, VCPU, call_execve, EXPECT_TRAP, "execve", 0 },
		{ "io-execve", ON, IO, call_execve, EXPECT_TRAP, "execve", 0 },
		{ "main-open", ON, MAIN, call_open, EXPECT_TRAP, "openat", 0 },
		{ "vcpu-open", ON, VCPU, call_open, EXPECT_TRAP, "openat", 0 },
		{ "io-open", ON, IO, call_open, EXPECT_TRAP, "openat", 0 },
		{ "main-ptrace", ON, MAIN, call_ptrace, EXPECT_TRAP, "ptrace", 0 },
		{ "vcpu-ptrace", ON, VCPU, call_ptrace, EXPECT_TRAP, "ptrace", 0 },
		{ "io-ptrace", ON, IO, call_ptrace, EXPECT_TRAP, "ptrace", 0 },
		{ "main-fork", ON, MAIN, call_fork, EXPECT_TRAP, "clone", 0 },
		{ "vcpu-fork", ON, VCPU, call_fork, EXPECT_TRAP, "clone", 0 },
		{ "io-socket", ON, IO, call_socket, EXPECT_TRAP, "socket", 0 },
		{ "vcpu-mmap-exec", ON, VCPU, call_mmap_exec, EXPECT_TRAP, "mmap", 0 },
		{ "vcpu-sigaction-sigsys-high-bits", ON, VCPU, call_sigaction_sigsys_high_bits,
		  EXPECT_TRAP, "rt_sigaction", 0 },
		{ "io-sigaction-sigsys-high-bits", ON, IO, call_sigaction_sigsys_high_bits,
		  EXPECT_TRAP, "rt_sigaction", 0 },
		{ "vcpu-sigaction-kick", ON, VCPU, call_sigaction_kick, EXPECT_OK, NULL, 0 },
		/* the kernel's own answer when nothing catches SIGSYS */
		{ "main-execve-sigsys", ON, MAIN, call_execve, EXPECT_SIGSYS, NULL, 0 },
		{ "vcpu-execve-sigsys", ON, VCPU, call_execve, EXPECT_SIGSYS, NULL, 0 },
		{ "io-execve-sigsys", ON, IO, call_execve, EXPECT_SIGSYS, NULL, 0 },
		/* each kind's own calls, and not the others' */
		{ "all-write", ON, MAIN, call_write, EXPECT_OK, NULL, 0 },
		{ "vcpu-kvm-run", ON, VCPU, call_kvm_run, EXPECT_OK, NULL, 0 },
		{ "io-fdatasync", ON, IO, call_fdatasync, EXPECT_OK, NULL, 0 },
		{ "main-kvm-run", ON, MAIN, call_kvm_run, EXPECT_TRAP, "ioctl", 0 },
		{ "io-kvm-run", ON, IO, call_kvm_run, EXPECT_TRAP, "ioctl", 0 },
		{ "vcpu-fdatasync", ON, VCPU, call_fdatasync, EXPECT_TRAP, "fdatasync", 0 },
		{ "main-fdatasync", ON, MAIN, call_fdatasync, EXPECT_TRAP, "fdatasync", 0 },
		/* --seccomp log: logged by the kernel, not stopped */
		{ "log-mode-continues", LOG, IO, call_getppid, EXPECT_OK, NULL, 0 },
		/* threads started through the spawner (main -> vCPU -> I/O) */
		{ "spawned-io-own-list", ON, NONE, call_chain_io_fdatasync, EXPECT_OK, NULL, 0 },
		{ "spawned-io-not-vcpu-list", ON, NONE, call_chain_io_kvm_run, EXPECT_TRAP, "ioctl",
		  NAMES(IO) },
		{ "spawned-thread-malloc-opens-nothing", ON, NONE, call_chain_io_malloc, EXPECT_OK,
		  NULL, 0 },
		/* what ptvm opened lazily is open before the filter */
		{ "dma-pin-refused-explained", ON, NONE, call_pin_refused, EXPECT_OK, NULL, 0 },
		{ "dma-worker-io-list", ON, NONE, call_dma_worker, EXPECT_OK, NULL, 0 },
		{ "dma-worker-prefault-io-list", ON, NONE, call_dma_worker_prefault, EXPECT_OK,
		  NULL, 0 },
		{ "io-madvise-populate", ON, IO, call_madvise_populate, EXPECT_OK, NULL, 0 },
		{ "vcpu-madvise-populate", ON, VCPU, call_madvise_populate, EXPECT_TRAP, "madvise",
		  0 },
		{ "main-madvise-populate", ON, MAIN, call_madvise_populate, EXPECT_TRAP, "madvise",
		  0 },
		{ "main-report-open-fds", ON, NONE, call_main_count_fds, EXPECT_OK, NULL, 0 },
		{ "main-net-teardown-live", ON, NONE, call_main_net_teardown_live, EXPECT_OK, NULL,
		  0 },
		{ "enabled-main-fork", ON, NONE, call_enabled_main_fork, EXPECT_TRAP, "clone",
		  NAMES(MAIN) },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
#if defined(__x86_64__)
	/* another architecture's call traps with the line too (the default killed the
	 * thread alone, with no line) */
	if (have_ia32()) {
		static const struct child_case c = {
			"io-foreign-arch",	  ON, IO, call_foreign_arch, EXPECT_TRAP,
			"another architecture's", 0
		};

		run_case(&c);
	} else {
		printf("SKIP io-foreign-arch: this kernel has no IA-32 emulation (int $0x80 "
		       "faults)\n");
	}
#endif
	printf("seccomp: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
