// SPDX-License-Identifier: MIT
/* What every fuzz target shares: see fuzz_lib.h. */
#include "tests/fuzz/lib/fuzz_lib.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "devices/pci.h"
#include "tests/unit/fake_vm_bus.h" /* vm_register_pio/mmio and their unregister calls */
#include "vmm/log.h"
#include "vmm/machine.h"
#include "vmm/util.h"
#include "vmm/x86/layout.h"

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: FINDING: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ---- the log: counted per input, shown only when asked ---- */

static _Atomic unsigned long log_lines;
static unsigned long log_lines_at_begin, log_lines_max, log_limit;
static bool log_echo;
static bool check_fds;

static ssize_t fuzz_log_write(void *cookie, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\n')
			log_lines++;
	if (log_echo)
		fwrite(buf, 1, len, stderr);
	return (ssize_t)len;
}

static void fuzz_log_summary(void)
{
	fprintf(stderr, "fuzz: at most %lu log lines from one input\n", log_lines_max);
}

/* ---- open file descriptors ---- */

#define FD_WINDOW 128

static int fd_low;			 /* lowest free fd when the input began */
static bool fd_open_at_begin[FD_WINDOW]; /* fds fd_low.. open when the input began */

static int fd_lowest_free(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fuzz_fail("cannot open /dev/null: %s", strerror(errno));
	close(fd);
	return fd;
}

_Static_assert(FD_WINDOW <= FD_POLL_WINDOW, "one fd_poll_open covers the window");

/* Which of fd_low.. are open (one poll()). */
static void fd_window_snapshot(bool open_now[FD_WINDOW])
{
	int ret = fd_poll_open(fd_low, FD_WINDOW, open_now);

	if (ret)
		fuzz_fail("poll: %s", strerror(-ret));
}

/* ---- device I/O threads ---- */

/*
 * A device's pthread_create during an input does not create an OS thread: it hands the
 * function to a pooled worker, a real thread kept for the next input. The device gets the
 * worker's pthread_t (so pthread_self/pthread_equal/pthread_setname_np work in it) and its
 * pthread_join waits for the function to return. The function runs concurrently with the
 * input exactly as on a fresh thread; what the pool saves is a clone() and ASan's thread
 * set-up and tear-down per device activation, and ASan's memory: clang 14's ASan keeps a
 * record of every thread ever created (about 2 KiB each, never reused), which grew a
 * transport target past 1 GiB in 1.6M executions and would end a 10^7 run out of memory.
 */

#define MAX_THREADS 16

struct fuzz_thread {
	_Atomic bool alive;   /* running the device's function */
	_Atomic bool blocked; /* in (or entering) a blocking epoll_wait */
	_Atomic int epfd;
	bool joinable; /* handed out and not yet joined (settle lock) */
	bool has_worker;
	pthread_t worker;
	pthread_cond_t go; /* a function for the worker */
	void *(*fn)(void *);
	void *arg, *ret;
};

static struct fuzz_thread threads[MAX_THREADS];
static pthread_mutex_t settle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t settle_cond;
static _Atomic bool tracking;
static __thread struct fuzz_thread *thread_self;

int __real_pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *),
			  void *arg);
int __wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *),
			  void *arg);
int __real_pthread_join(pthread_t th, void **ret);
int __wrap_pthread_join(pthread_t th, void **ret);
int __real_epoll_wait(int epfd, struct epoll_event *ev, int n, int timeout);
int __wrap_epoll_wait(int epfd, struct epoll_event *ev, int n, int timeout);

/* A pooled worker: runs each function it is given, one after the other, forever. */
static void *fuzz_worker_main(void *arg)
{
	struct fuzz_thread *t = arg;
	void *ret;

	thread_self = t;
	/*
	 * Sharing a core with the input's thread (PTVM_FUZZ_PIN), a device thread a kick wakes
	 * should run at once, so that its work is done before the input waits for it: no futex
	 * wait and wake-up between them (10% fewer syscalls for virtio_net). Raising a thread's
	 * priority needs CAP_SYS_NICE; without it the order is the scheduler's, as before.
	 */
	setpriority(PRIO_PROCESS, (id_t)gettid(), -10);
	pthread_mutex_lock(&settle_lock);
	for (;;) {
		while (!t->alive)
			pthread_cond_wait(&t->go, &settle_lock);
		pthread_mutex_unlock(&settle_lock);
		ret = t->fn(t->arg);
		pthread_mutex_lock(&settle_lock);
		t->ret = ret;
		t->blocked = false;
		t->alive = false;
		pthread_cond_broadcast(&settle_cond);
	}
	return NULL;
}

int __wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	struct fuzz_thread *t = NULL;
	int ret = 0;

	if (!tracking)
		return __real_pthread_create(th, attr, fn, arg);
	if (attr)
		fuzz_fail("a device thread with attributes: the harness's pool has none");
	pthread_mutex_lock(&settle_lock);
	for (unsigned i = 0; i < MAX_THREADS && !t; i++)
		if (!threads[i].alive && !threads[i].joinable)
			t = &threads[i];
	if (!t)
		fuzz_fail("more than %d device threads at once", MAX_THREADS);
	t->fn = fn;
	t->arg = arg;
	t->ret = NULL;
	t->epfd = -1;
	t->blocked = false;
	t->alive = true;
	if (!t->has_worker) {
		pthread_cond_init(&t->go, NULL);
		ret = __real_pthread_create(&t->worker, NULL, fuzz_worker_main, t);
		t->has_worker = !ret;
	} else {
		pthread_cond_signal(&t->go);
	}
	if (ret)
		t->alive = false;
	else
		t->joinable = true;
	*th = t->worker;
	pthread_mutex_unlock(&settle_lock);
	return ret;
}

int __wrap_pthread_join(pthread_t th, void **ret)
{
	struct fuzz_thread *t = NULL;

	pthread_mutex_lock(&settle_lock);
	for (unsigned i = 0; i < MAX_THREADS && !t; i++)
		if (threads[i].joinable && pthread_equal(threads[i].worker, th))
			t = &threads[i];
	if (!t) {
		pthread_mutex_unlock(&settle_lock);
		return __real_pthread_join(th, ret);
	}
	if (t == thread_self) {
		pthread_mutex_unlock(&settle_lock);
		return EDEADLK;
	}
	while (t->alive)
		pthread_cond_wait(&settle_cond, &settle_lock);
	if (ret)
		*ret = t->ret;
	t->joinable = false;
	pthread_mutex_unlock(&settle_lock);
	return 0;
}

int __wrap_epoll_wait(int epfd, struct epoll_event *ev, int n, int timeout)
{
	struct fuzz_thread *t = thread_self;
	int ret;

	if (!t || !timeout)
		return __real_epoll_wait(epfd, ev, n, timeout);
	/*
	 * The thread may be idle: it says so before it blocks, and fuzz_all_idle_locked() asks
	 * the epoll set whether anything is ready (anything still unhandled is: the device's
	 * fds are level-triggered), so a thread back here with work waiting is not taken for
	 * idle. The waiter is woken after the lock is dropped: woken under it, it would run
	 * only to block on the lock again. Both save syscalls and thread switches, which are
	 * most of what a kick costs on a kernel that makes them dear (README.md).
	 */
	pthread_mutex_lock(&settle_lock);
	t->epfd = epfd;
	t->blocked = true;
	pthread_mutex_unlock(&settle_lock);
	pthread_cond_broadcast(&settle_cond);
	ret = __real_epoll_wait(epfd, ev, n, timeout);
	t->blocked = false;
	return ret;
}

unsigned fuzz_threads_alive(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < MAX_THREADS; i++)
		n += threads[i].alive;
	return n;
}

/* Settle lock held. A thread is idle when blocked and its epoll set has nothing ready (an
 * event level-triggered epoll still reports has not been handled yet). */
static bool fuzz_all_idle_locked(void)
{
	for (unsigned i = 0; i < MAX_THREADS; i++) {
		struct fuzz_thread *t = &threads[i];
		struct epoll_event ev;

		if (!t->alive)
			continue;
		if (!t->blocked || __real_epoll_wait(t->epfd, &ev, 1, 0) != 0)
			return false;
	}
	return true;
}

void fuzz_settle(void)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += FUZZ_SETTLE_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&settle_lock);
	while (!fuzz_all_idle_locked()) {
		if (pthread_cond_timedwait(&settle_cond, &settle_lock, &deadline) == ETIMEDOUT &&
		    !fuzz_all_idle_locked())
			fuzz_fail(
			    "a device I/O thread is still busy after %d ms: it hangs or spins",
			    FUZZ_SETTLE_TIMEOUT_MS);
	}
	pthread_mutex_unlock(&settle_lock);
}

/* ---- one core per fuzzing process ---- */

/* Whether this process is libFuzzer's -fork=N or -jobs=N parent, which runs no input. */
static bool fuzz_is_parent(void)
{
	char cmd[4096];
	ssize_t n;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return false;
	cmd[n] = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(cmd + i) + 1) {
		if (!strncmp(cmd + i, "-fork=", 6) || !strncmp(cmd + i, "-jobs=", 6))
			return true;
	}
	return false;
}

/*
 * PTVM_FUZZ_PIN=1: pin this process, and so the device threads it starts, to a core no
 * other pinned fuzzer holds (a lock file per core in $TMPDIR or /tmp, held until exit). A
 * device thread's wake-up then needs no interrupt between CPUs, which on a paravirtualized
 * kernel roughly halves what a kick costs (README.md), and libFuzzer's -fork=2 workers
 * take one core each instead of four threads sharing two.
 */
static void fuzz_pin_cpu(void)
{
	const char *tmp = getenv("TMPDIR");
	cpu_set_t allowed, one;

	if (!getenv("PTVM_FUZZ_PIN") || fuzz_is_parent() ||
	    sched_getaffinity(0, sizeof(allowed), &allowed))
		return;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		char path[PATH_MAX];
		int fd;

		if (!CPU_ISSET(cpu, &allowed))
			continue;
		snprintf(path, sizeof(path), "%s/ptvm-fuzz-cpu%d.lock", tmp ? tmp : "/tmp", cpu);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			close(fd);
			continue;
		}
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one))
			fuzz_fail("sched_setaffinity(cpu %d): %s", cpu, strerror(errno));
		fprintf(stderr, "fuzz: pinned to cpu %d\n", cpu);
		return; /* fd stays open: the core stays this process's until it exits */
	}
	fprintf(stderr, "fuzz: PTVM_FUZZ_PIN: every core is taken, not pinned\n");
}

/* ---- per input ---- */

void fuzz_lib_init(unsigned flags)
{
	static cookie_io_functions_t fns = { .write = fuzz_log_write };
	pthread_condattr_t ca;
	const char *s;
	FILE *f;

	check_fds = flags & FUZZ_CHECK_FDS;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&settle_cond, &ca);
	pthread_condattr_destroy(&ca);
	/* warnings are what a guest can trigger: count them (formatting included) */
	log_level = LOG_WARN;
	s = getenv("PTVM_FUZZ_LOG_LEVEL");
	if (s && log_level_parse(s, &log_level))
		fuzz_fail("PTVM_FUZZ_LOG_LEVEL=%s is not error|warn|info|debug", s);
	log_echo = getenv("PTVM_FUZZ_LOG") != NULL;
	s = getenv("PTVM_FUZZ_LOG_LIMIT");
	log_limit = s ? strtoul(s, NULL, 10) : 0;
	f = fopencookie(NULL, "w", fns);
	if (!f)
		fuzz_fail("fopencookie: %s", strerror(errno));
	setvbuf(f, NULL, _IONBF, 0);
	log_set_stream(f);
	atexit(fuzz_log_summary);
	fuzz_pin_cpu();
}

void fuzz_input_begin(void)
{
	if (check_fds) {
		fd_low = fd_lowest_free();
		fd_window_snapshot(fd_open_at_begin);
	}
	log_lines_at_begin = log_lines;
	tracking = true;
}

void fuzz_input_end(void)
{
	bool open_now[FD_WINDOW];
	unsigned long lines;

	tracking = false;
	if (fuzz_threads_alive())
		fuzz_fail("%u device thread(s) still running after the device was destroyed",
			  fuzz_threads_alive());
	for (unsigned i = 0; i < MAX_THREADS; i++)
		if (threads[i].joinable)
			fuzz_fail("a device thread returned but was never joined (its stack "
				  "leaks)");
	if (check_fds) {
		fd_window_snapshot(open_now);
		for (int i = 0; i < FD_WINDOW; i++)
			if (open_now[i] && !fd_open_at_begin[i])
				fuzz_fail("fd %d left open after the input", fd_low + i);
	}
	lines = log_lines - log_lines_at_begin;
	if (lines > log_lines_max)
		log_lines_max = lines;
	if (log_limit && lines > log_limit)
		fuzz_fail("one input logged %lu lines (PTVM_FUZZ_LOG_LIMIT=%lu): a guest floods "
			  "the log",
			  lines, log_limit);
}

/* ---- the fake machine ---- */

void fuzz_vm_init(struct vm *vm, struct memmap *mm)
{
	memset(vm, 0, sizeof(*vm));
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->mm = mm;
	for (unsigned i = 0; i < FUZZ_MAX_ROUTES; i++)
		vm->routes[i].irqfd = -1;
	for (unsigned i = 0; i < FUZZ_IRQ_LINES; i++)
		vm->intx_irqfd[i] = -1;
	vm->exit_status = -1;
}

void fuzz_vm_exit(struct vm *vm)
{
	for (unsigned i = 0; i < FUZZ_MAX_ROUTES; i++)
		if (vm->routes[i].live)
			fuzz_fail("MSI route gsi %u left behind", FUZZ_MSI_GSI_BASE + i);
	for (unsigned i = 0; i < FUZZ_MAX_IOEVENTFDS; i++)
		if (vm->ioeventfds[i].live)
			fuzz_fail("ioeventfd at 0x%llx left behind",
				  (unsigned long long)vm->ioeventfds[i].addr);
	for (unsigned i = 0; i < FUZZ_IRQ_LINES; i++)
		if (vm->intx_irqfd[i] >= 0)
			fuzz_fail("irqfd on pin %u left behind", i);
	if (vm->pio.nr_devs || vm->mmio.nr_devs)
		fuzz_fail("%u port and %u MMIO windows left registered", vm->pio.nr_devs,
			  vm->mmio.nr_devs);
	bus_exit(&vm->pio);
	bus_exit(&vm->mmio);
}

struct memmap *vm_memmap(struct vm *vm)
{
	return vm->mm;
}

struct eventloop *vm_eventloop(struct vm *vm)
{
	return NULL;
}

int vm_set_irq_line(struct vm *vm, unsigned gsi, bool level)
{
	if (gsi >= FUZZ_IRQ_LINES)
		fuzz_fail("irq line %u does not exist", gsi);
	vm->irq_level[gsi] = level;
	return 0;
}

static struct fuzz_route *fuzz_route(struct vm *vm, unsigned gsi, const char *what)
{
	if (gsi < FUZZ_MSI_GSI_BASE || gsi >= FUZZ_MSI_GSI_BASE + FUZZ_MAX_ROUTES ||
	    !vm->routes[gsi - FUZZ_MSI_GSI_BASE].live)
		fuzz_fail("%s of gsi %u, which is no MSI route", what, gsi);
	return &vm->routes[gsi - FUZZ_MSI_GSI_BASE];
}

int vm_msi_route_add(struct vm *vm, uint64_t addr, uint32_t data, uint32_t devid, unsigned *gsi)
{
	unsigned live = 0;

	(void)devid; /* arm64's ITS translates by it; the fuzz VM has no ITS */

	for (unsigned i = 0; i < FUZZ_MAX_ROUTES; i++)
		live += vm->routes[i].live;
	if (vm->route_fail_after && live >= vm->route_fail_after)
		return -ENOSPC;
	for (unsigned i = 0; i < FUZZ_MAX_ROUTES; i++) {
		if (!vm->routes[i].live) {
			vm->routes[i] = (struct fuzz_route){ true, addr, data, -1 };
			*gsi = FUZZ_MSI_GSI_BASE + i;
			return 0;
		}
	}
	return -ENOSPC;
}

int vm_msi_route_update(struct vm *vm, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct fuzz_route *r = fuzz_route(vm, gsi, "route update");

	r->addr = addr;
	r->data = data;
	return 0;
}

void vm_msi_route_del(struct vm *vm, unsigned gsi)
{
	struct fuzz_route *r = fuzz_route(vm, gsi, "route delete");

	/* KVM would keep injecting through an irqfd bound to a deleted route */
	if (r->irqfd >= 0)
		fuzz_fail("route gsi %u deleted with irqfd %d still bound", gsi, r->irqfd);
	r->live = false;
}

int vm_irqfd_assign(struct vm *vm, int fd, unsigned gsi, int resample_fd)
{
	if (fd < 0)
		fuzz_fail("irqfd assign of fd %d", fd);
	if (gsi < FUZZ_IRQ_LINES) {
		if (vm->intx_irqfd[gsi] >= 0)
			return -EBUSY;
		vm->intx_irqfd[gsi] = fd;
		return 0;
	}
	if (fuzz_route(vm, gsi, "irqfd assign")->irqfd >= 0)
		return -EBUSY;
	fuzz_route(vm, gsi, "irqfd assign")->irqfd = fd;
	return 0;
}

void vm_irqfd_deassign(struct vm *vm, int fd, unsigned gsi)
{
	int *bound = gsi < FUZZ_IRQ_LINES ? &vm->intx_irqfd[gsi]
					  : &fuzz_route(vm, gsi, "irqfd deassign")->irqfd;

	if (*bound != fd)
		fuzz_fail("irqfd deassign of fd %d from gsi %u, which has %d", fd, gsi, *bound);
	*bound = -1;
}

int vm_ioeventfd_assign(struct vm *vm, uint64_t addr, unsigned len, bool pio, int fd)
{
	struct fuzz_ioeventfd *free_slot = NULL;

	if (fd < 0)
		fuzz_fail("ioeventfd assign of fd %d", fd);
	for (unsigned i = 0; i < FUZZ_MAX_IOEVENTFDS; i++) {
		struct fuzz_ioeventfd *e = &vm->ioeventfds[i];

		if (!e->live) {
			if (!free_slot)
				free_slot = e;
			continue;
		}
		/* KVM refuses a second ioeventfd on the same address, length and space */
		if (e->addr == addr && e->len == len && e->pio == pio)
			return -EEXIST;
	}
	if (!free_slot)
		return -ENOSPC;
	*free_slot = (struct fuzz_ioeventfd){ true, addr, len, pio, fd };
	vm->ioeventfd_slots = MAX(vm->ioeventfd_slots, (unsigned)(free_slot - vm->ioeventfds) + 1);
	return 0;
}

void vm_ioeventfd_deassign(struct vm *vm, uint64_t addr, unsigned len, bool pio, int fd)
{
	for (unsigned i = 0; i < FUZZ_MAX_IOEVENTFDS; i++) {
		struct fuzz_ioeventfd *e = &vm->ioeventfds[i];

		if (e->live && e->addr == addr && e->len == len && e->pio == pio && e->fd == fd) {
			e->live = false;
			return;
		}
	}
	/* KVM answers ENOENT; ptvm only logs it */
}

void vm_request_exit(struct vm *vm, int status, const char *reason)
{
	if (vm->exit_status < 0)
		vm->exit_status = status;
}

bool vm_is_exiting(struct vm *vm)
{
	return vm->exit_status >= 0;
}

static bool fuzz_vm_access(struct vm *vm, struct bus *bus, bool pio, uint64_t addr, void *data,
			   unsigned len, bool is_write)
{
	if (is_write) {
		for (unsigned i = 0; i < vm->ioeventfd_slots; i++) {
			struct fuzz_ioeventfd *e = &vm->ioeventfds[i];
			uint64_t one = 1;

			if (!e->live || e->pio != pio || e->addr != addr ||
			    (e->len && e->len != len))
				continue;
			if (write(e->fd, &one, sizeof(one)) != sizeof(one))
				fuzz_fail("ioeventfd %d: %s", e->fd, strerror(errno));
			return true;
		}
	}
	return bus_access(bus, addr, data, len, is_write);
}

bool fuzz_vm_mmio(struct vm *vm, uint64_t addr, void *data, unsigned len, bool write)
{
	return fuzz_vm_access(vm, &vm->mmio, false, addr, data, len, write);
}

bool fuzz_vm_pio(struct vm *vm, uint64_t port, void *data, unsigned len, bool write)
{
	return fuzz_vm_access(vm, &vm->pio, true, port, data, len, write);
}

const struct pci_bus_windows fuzz_pci_windows = PCI_BUS_WINDOWS(0x400000000ULL);

unsigned fuzz_vm_deliver(struct vm *vm)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FUZZ_MAX_ROUTES; i++) {
		uint64_t count;

		if (vm->routes[i].irqfd >= 0 &&
		    read(vm->routes[i].irqfd, &count, sizeof(count)) == sizeof(count))
			n += (unsigned)count;
	}
	return n;
}

/* ---- guest memory ---- */

void fuzz_ram_create(struct fuzz_ram *r, uint64_t gpa, uint64_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *area;

	r->gpa = gpa;
	r->size = size;
	r->fd = memfd_create("ptvm-fuzz-ram", MFD_CLOEXEC);
	if (r->fd < 0 || ftruncate(r->fd, (off_t)size))
		fuzz_fail("guest RAM memfd: %s", strerror(errno));
	area = mmap(NULL, size + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		fuzz_fail("guest RAM guard pages: %s", strerror(errno));
	r->hva = mmap(area + page, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, r->fd, 0);
	if (r->hva == MAP_FAILED)
		fuzz_fail("guest RAM mapping: %s", strerror(errno));
}

void fuzz_ram_clear(struct fuzz_ram *r)
{
	memset(r->hva, 0, r->size);
}

void fuzz_ram_add(struct fuzz_ram *r, struct memmap *mm, const char *name)
{
	struct memmap_region reg = {
		.gpa = r->gpa,
		.size = r->size,
		.kind = MEMMAP_RAM,
		.hva = r->hva,
		.fd = r->fd,
	};

	snprintf(reg.name, sizeof(reg.name), "%s", name);
	reg.kvm_slot = -1;
	if (memmap_add_region(mm, &reg))
		fuzz_fail("cannot add guest RAM to the map");
}
