// SPDX-License-Identifier: MIT
/*
 * ptvm's entry point: parses the command, then builds the machine through an explicit,
 * ordered start-up table; on a failure the exits of what was built run in reverse.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "cli.h"
#include "device_table.h"
#include "devices/uart.h"
#include "devices/virtio_console.h"
#include "devices/virtio_iommu.h"
#include "eventloop.h"
#include "iommu/sysfs.h"
#include "iommu/vfio.h"
#include "iommu/viommu.h"
#include "jail.h"
#include "log.h"
#include "sandbox.h"
#include "platform.h"
#include "term.h"
#include "util.h"
#include "vcpu.h"
#include "vm.h"

#define PTVM_VERSION "0.1"
#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

struct ptvm {
	struct vm_config cfg;
	struct vm *vm;
	struct platform platform;  /* the console UART, the PCI host, power/reset */
	struct device_set devices; /* --disk, --net, ..., --device: vmm/device_table.c */
	struct jail jail;	   /* --jail, --user: checked first, entered last */
	int serial_fd;
	bool escape_pending;
	struct eventloop_handler stdin_h;
	/* the console (COM1 or hvc0) took what waited: read stdin again */
	struct eventloop_handler input_room_h;
	struct eventloop_handler stop_h;
	struct eventloop_handler signal_h;
	int report_fd; /* --report FILE, opened at start-up: rewritten on SIGUSR2 and at exit */
	struct timespec t_start;
	/* --report: the fds below fd_limit (RLIMIT_NOFILE when the report was opened, at most
	 * 65536) are counted; the open fds when the report was first written */
	unsigned fd_limit;
	unsigned fds_at_start;
};

static double ptvm_elapsed(const struct ptvm *p)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - p->t_start.tv_sec) +
	       (double)(now.tv_nsec - p->t_start.tv_nsec) / 1e9;
}

/* ---- start-up steps ---- */

/* First, so that a bad --jail or --user is refused before anything is built. */
static int ptvm_jail_check(struct ptvm *p)
{
	return jail_prepare(p->cfg.jail, p->cfg.user, &p->jail);
}

static void ptvm_jail_uncheck(struct ptvm *p)
{
	(void)p; /* nothing was changed */
}

static int ptvm_kvm_init(struct ptvm *p)
{
	int ret = vm_create(&p->vm);

	if (ret)
		return ret;
	if (p->cfg.nr_cpus > (unsigned)p->vm->max_vcpus) {
		pr_err("--cpus: %u vCPUs asked for, this host's KVM allows at most %d",
		       p->cfg.nr_cpus, p->vm->max_vcpus);
		return -EINVAL;
	}
	if (p->cfg.nr_cpus > arch_max_vcpus()) {
		pr_err("--cpus: %u vCPUs asked for, ptvm's %s machine describes at most %u",
		       p->cfg.nr_cpus, arch_name, arch_max_vcpus());
		return -EINVAL;
	}
	p->vm->nr_vcpus = p->cfg.nr_cpus;
	return 0;
}

static void ptvm_kvm_exit(struct ptvm *p)
{
	vm_destroy(p->vm);
	p->vm = NULL;
}

static int ptvm_memory_init(struct ptvm *p)
{
	bool dma = false;

	/* a passthrough device pins guest RAM: backed for fast pinning (vm.h) */
	for (unsigned i = 0; i < p->cfg.nr_devices; i++)
		dma |= p->cfg.devices[i].type->passthrough;
	return vm_memory_create(p->vm, p->cfg.mem_size, p->cfg.hugepages, dma);
}

static void ptvm_memory_exit(struct ptvm *p)
{
	(void)p; /* guest RAM goes with the VM */
}

static int ptvm_irqchip_init(struct ptvm *p)
{
	return arch_irqchip_create(p->vm);
}

static void ptvm_irqchip_exit(struct ptvm *p)
{
	(void)p; /* the in-kernel irqchip goes with the VM */
}

static int ptvm_vcpus_init(struct ptvm *p)
{
	struct vm *vm = p->vm;
	int ret;

	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		pr_err("vcpus: out of memory for %u vCPUs", vm->nr_vcpus);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_create(vm, i, &vm->vcpus[i]);
		if (ret)
			return ret;
	}
	/* arm64's vGIC is initialised once every vCPU exists */
	ret = arch_irqchip_finalize(vm);
	/* then the routing table, with what KVM wants of MSI routes (asked now, not by the
	 * vCPU thread that adds the first route under its seccomp list) */
	return ret ? ret : vm_irq_routing_init(vm);
}

static void ptvm_vcpus_exit(struct ptvm *p)
{
	struct vm *vm = p->vm;

	for (unsigned i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_destroy(vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
}

static int ptvm_platform_init(struct ptvm *p)
{
	p->serial_fd = -1;
	if (p->cfg.serial == SERIAL_STDIO) {
		p->serial_fd = STDOUT_FILENO;
	} else if (p->cfg.serial == SERIAL_FILE) {
		p->serial_fd =
		    open(p->cfg.serial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (p->serial_fd < 0) {
			int ret = -errno;

			pr_err("--serial file=%s: %s", p->cfg.serial_path, strerror(-ret));
			return ret;
		}
	}
	return arch_platform_create(p->vm, &p->cfg, p->serial_fd, &p->platform);
}

static void ptvm_platform_exit(struct ptvm *p)
{
	arch_platform_destroy(p->vm, &p->platform);
	if (p->serial_fd > STDERR_FILENO)
		close(p->serial_fd);
	p->serial_fd = -1;
}

static int ptvm_devices_init(struct ptvm *p)
{
	int ret = device_set_create(&p->devices, p->vm, p->platform.pci, &p->cfg);

	/* the firmware tables name the vIOMMU and what sits behind it */
	if (!ret)
		device_set_iommu_topology(&p->devices, &p->platform.iommu);
	return ret;
}

static void ptvm_devices_exit(struct ptvm *p)
{
	device_set_destroy(&p->devices);
}

/*
 * --report FILE: one JSON object with what passthrough and the vIOMMU set up, written once
 * the VM runs, again on SIGUSR2 (the guest's IOMMU domains change while it runs) and when
 * the VM stops (then with the final DMA-mapping times, the guest's waits at bus-master
 * enable and the MSI routes it used).
 */
/*
 * Open file descriptors of this process (a leak shows between start and exit). Counted with
 * poll(), not from /proc/self/fd: a directory fd kept open for it would reach the host's /proc
 * from inside --jail.
 */
static unsigned ptvm_open_fds(struct ptvm *p)
{
	return fd_count_open(p->fd_limit);
}

static int ptvm_report_write(struct ptvm *p)
{
	char *json = NULL;
	size_t len = 0;
	unsigned routes, peak, fds = ptvm_open_fds(p);
	FILE *f;
	int ret = 0;

	if (p->report_fd < 0)
		return 0;
	/* composed in memory, then written over the file opened at start-up: later rewrites
	 * (SIGUSR2, exit) run inside the sandbox, which allows no open() */
	f = open_memstream(&json, &len);
	if (!f) {
		ret = -errno;
		pr_err("--report %s: %s", p->cfg.report, strerror(-ret));
		return ret;
	}
	vm_irq_route_stats(p->vm, &routes, &peak);
	fprintf(f,
		"{\"memory_bytes\": %llu, \"cpus\": %u, \"msi_routes\": {\"in_use\": %u, "
		"\"peak\": %u}, \"open_fds\": {\"start\": %u, \"exit\": %u, "
		"\"msix_eventfds\": %u}, \"vfio\": ",
		(unsigned long long)p->cfg.mem_size, p->cfg.nr_cpus, routes, peak,
		/* a passthrough device's fd, opened while the guest boots, is set-up's */
		p->fds_at_start + vfio_late_fds(p->devices.vfio), fds,
		device_set_msix_eventfds(&p->devices));
	if (p->devices.vfio)
		vfio_report_json(p->devices.vfio, f);
	else
		fputs("null", f);
	fputs(", \"viommu\": ", f);
	viommu_report_json(p->devices.viommu ? virtio_iommu_model(p->devices.viommu) : NULL, f);
	fputs("}\n", f);
	if (fclose(f)) {
		ret = -errno;
		pr_err("--report %s: %s", p->cfg.report, strerror(-ret));
		free(json);
		return ret;
	}
	if (pwrite(p->report_fd, json, len, 0) != (ssize_t)len ||
	    ftruncate(p->report_fd, (off_t)len)) {
		ret = -errno;
		pr_err("--report %s: %s", p->cfg.report, strerror(-ret));
	}
	free(json);
	return ret;
}

static int ptvm_report_init(struct ptvm *p)
{
	struct rlimit rl;

	if (!p->cfg.report)
		return 0;
	p->report_fd = open(p->cfg.report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (p->report_fd < 0) {
		int ret = -errno;

		pr_err("--report %s: %s", p->cfg.report, strerror(-ret));
		return ret;
	}
	/* the jail lowers RLIMIT_NOFILE later, never below an open fd */
	p->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) ? 1024 : (unsigned)MIN(rl.rlim_cur, 65536);
	p->fds_at_start = ptvm_open_fds(p);
	return ptvm_report_write(p);
}

/* the last state, before the devices go */
static void ptvm_report_exit(struct ptvm *p)
{
	if (p->report_fd < 0)
		return;
	ptvm_report_write(p);
	close(p->report_fd);
	p->report_fd = -1;
}

/*
 * Last: everything is open and set up. The jail (while ptvm is single-threaded), then each
 * thread keeps to its own seccomp list.
 */
static int ptvm_sandbox_init(struct ptvm *p)
{
	struct jail_limits limits = {
		/* main, the spawner, the vCPUs, an I/O thread per device (a passthrough device
		 * has none: its container's DMA mapping worker, at most one each, takes its place;
		 * its open thread is counted below) */
		.threads = 2 + p->vm->nr_vcpus + p->cfg.nr_devices,
		.memlock = p->devices.vfio ? p->cfg.mem_size + (64ULL << 20) : 0,
	};
	int ret;

	/* a passthrough device's open thread, while the guest boots, and the DMA workers'
	 * prefault helpers while guest RAM is mapped */
	for (unsigned i = 0; i < p->cfg.nr_devices; i++)
		limits.threads += p->cfg.devices[i].type->passthrough;
	limits.threads += vfio_late_threads(p->devices.vfio);
	ret = jail_enter(&p->jail, &limits);
	if (ret)
		return ret;
	return sandbox_seccomp_enable(p->cfg.seccomp);
}

static void ptvm_sandbox_exit(struct ptvm *p)
{
	(void)p; /* filters cannot be lifted */
}

static int ptvm_boot_init(struct ptvm *p)
{
	return arch_boot_setup(p->vm, &p->cfg, &p->platform);
}

static void ptvm_boot_exit(struct ptvm *p)
{
	(void)p; /* what boot wrote lives in guest RAM */
}

/* stdin -> COM1 or hvc0, with the Ctrl-A escape */
static void ptvm_stdin_ready(struct eventloop_handler *h, uint32_t events)
{
	struct ptvm *p = container_of(h, struct ptvm, stdin_h);
	uint8_t buf[64], out[64];
	bool more;
	size_t n_out = 0;
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n <= 0) {
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		/* EOF: the guest keeps running without input */
		eventloop_del(p->vm->loop, h);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		uint8_t c = buf[i];

		if (p->escape_pending) {
			p->escape_pending = false;
			if (c == 'x' || c == 'X') {
				vm_request_exit(p->vm, PTVM_EXIT_POWEROFF, "Ctrl-A x");
				return;
			}
			if (c != CONSOLE_ESCAPE)
				continue;
		} else if (c == CONSOLE_ESCAPE && isatty(STDIN_FILENO)) {
			p->escape_pending = true;
			continue;
		}
		out[n_out++] = c;
	}
	_Static_assert(sizeof(out) <= UART_INPUT_MAX && sizeof(out) <= VIRTIO_CONSOLE_INPUT_MAX,
		       "one read must fit what the console takes at once");
	/* the console keeps what the guest has not taken yet (hvc0: up to 64 KiB); when it is
	 * full, no more stdin until the guest has drained it (ptvm_input_room_ready) */
	if (p->devices.console)
		more = virtio_console_input(p->devices.console, out, n_out);
	else
		more = uart_input(p->platform.console, out, n_out);
	if (!more)
		eventloop_del(p->vm->loop, h);
}

static void ptvm_input_room_ready(struct eventloop_handler *h, uint32_t events)
{
	struct ptvm *p = container_of(h, struct ptvm, input_room_h);
	uint64_t v;

	if (read(h->fd, &v, sizeof(v)) == sizeof(v))
		eventloop_add(p->vm->loop, &p->stdin_h, EPOLLIN);
}

static void ptvm_stop_ready(struct eventloop_handler *h, uint32_t events)
{
	struct ptvm *p = container_of(h, struct ptvm, stop_h);

	eventloop_stop(p->vm->loop);
}

static void ptvm_signal_ready(struct eventloop_handler *h, uint32_t events)
{
	struct ptvm *p = container_of(h, struct ptvm, signal_h);
	struct signalfd_siginfo si;
	char why[48];

	if (read(h->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGUSR2) {
		ptvm_report_write(p);
		return;
	}
	snprintf(why, sizeof(why), "signal %s", strsignal((int)si.ssi_signo));
	vm_request_exit(p->vm, PTVM_EXIT_SIGNAL, why);
}

static int ptvm_console_init(struct ptvm *p)
{
	sigset_t set;
	int ret;

	p->stop_h = (struct eventloop_handler){ .fd = p->vm->stop_fd,
						.name = "vm-stop",
						.ready = ptvm_stop_ready };
	ret = eventloop_add(p->vm->loop, &p->stop_h, EPOLLIN);
	if (ret) {
		pr_err("event loop: cannot watch the stop eventfd: %s", strerror(-ret));
		return ret;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	p->signal_h = (struct eventloop_handler){ .fd = signalfd(-1, &set, SFD_CLOEXEC),
						  .name = "signals",
						  .ready = ptvm_signal_ready };
	if (p->signal_h.fd < 0)
		return -errno;
	ret = eventloop_add(p->vm->loop, &p->signal_h, EPOLLIN);
	if (ret) {
		pr_err("event loop: cannot watch signals: %s", strerror(-ret));
		return ret;
	}
	/* stdin feeds COM1 on --serial stdio, or hvc0 with --console virtio */
	if (p->cfg.serial == SERIAL_STDIO || p->devices.console) {
		term_raw_enable();
		p->stdin_h = (struct eventloop_handler){ .fd = STDIN_FILENO,
							 .name = "stdin",
							 .ready = ptvm_stdin_ready };
		/* stdin may be /dev/null or a regular file, which epoll refuses: no input then */
		if (eventloop_add(p->vm->loop, &p->stdin_h, EPOLLIN))
			p->stdin_h.fd = -1;
		p->input_room_h = (struct eventloop_handler){
			.fd = p->devices.console ? virtio_console_input_room_fd(p->devices.console)
						 : uart_input_room_fd(p->platform.console),
			.name = "console-room",
			.ready = ptvm_input_room_ready
		};
		if (p->stdin_h.fd >= 0 &&
		    (ret = eventloop_add(p->vm->loop, &p->input_room_h, EPOLLIN))) {
			pr_err("event loop: cannot watch the console's input room: %s",
			       strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void ptvm_console_exit(struct ptvm *p)
{
	term_restore();
	if (p->signal_h.fd > 0)
		close(p->signal_h.fd);
}

static const struct ptvm_step {
	const char *name;
	int (*init)(struct ptvm *p);
	void (*exit)(struct ptvm *p);
} ptvm_steps[] = {
	{ "jail", ptvm_jail_check, ptvm_jail_uncheck },
	{ "kvm", ptvm_kvm_init, ptvm_kvm_exit },
	{ "memory", ptvm_memory_init, ptvm_memory_exit },
	{ "irqchip", ptvm_irqchip_init, ptvm_irqchip_exit },
	{ "vcpus", ptvm_vcpus_init, ptvm_vcpus_exit },
	{ "platform", ptvm_platform_init, ptvm_platform_exit },
	{ "devices", ptvm_devices_init, ptvm_devices_exit },
	{ "boot", ptvm_boot_init, ptvm_boot_exit },
	{ "console", ptvm_console_init, ptvm_console_exit },
	{ "report", ptvm_report_init, ptvm_report_exit },
	{ "sandbox", ptvm_sandbox_init, ptvm_sandbox_exit },
};

static int ptvm_run_vm(struct ptvm *p)
{
	struct vm *vm = p->vm;
	unsigned started = 0;
	int ret = 0;

	/* threads start only now that the sandbox is on (vmm/sandbox.h) */
	for (; started < vm->nr_vcpus; started++) {
		ret = vcpu_start(vm->vcpus[started]);
		if (ret) {
			vm_request_exit(vm, PTVM_EXIT_ERROR, "vCPU thread start failed");
			break;
		}
	}
	pr_info("vm: %u vCPU(s) running, %.3f s after start", started, ptvm_elapsed(p));
	/*
	 * Then the passthrough devices' opens and the containers' DMA mapping workers, which go
	 * on while the guest boots (a guest access to a device waits for its open, a bus-master
	 * enable for the mappings). After the vCPUs: on a host with few free CPUs, pinning guest
	 * RAM (seconds of page clearing) must not stand between exec and the first instruction.
	 */
	if (!ret && (ret = vfio_start_device_opens(p->devices.vfio)))
		vm_request_exit(vm, PTVM_EXIT_ERROR, "passthrough open thread start failed");
	if (!ret && (ret = vfio_start_background_mapping(p->devices.vfio)))
		vm_request_exit(vm, PTVM_EXIT_ERROR, "DMA mapping thread start failed");
	if (!ret) {
		ret = eventloop_run(vm->loop);
		if (ret)
			vm_request_exit(vm, PTVM_EXIT_ERROR, "event loop failed");
	}
	atomic_store(&vm->exiting, true);
	for (unsigned i = 0; i < started; i++)
		vcpu_kick(vm->vcpus[i]);
	for (unsigned i = 0; i < started; i++)
		vcpu_join(vm->vcpus[i]);
	/* a guest killed from outside (a hang, a timeout): where was it? */
	if (vm->exit_status == PTVM_EXIT_SIGNAL)
		for (unsigned i = 0; i < started; i++)
			arch_vcpu_dump_regs(vm->vcpus[i]);
	pr_info("vm: stopped %.3f s after start", ptvm_elapsed(p));
	vfio_report_dma(p->devices.vfio);
	return vm->exit_status;
}

static int ptvm_cmd_run(int argc, char **argv)
{
	struct ptvm p = { .serial_fd = -1, .report_fd = -1 };
	unsigned done = 0;
	sigset_t set;
	int ret, status = PTVM_EXIT_ERROR;

	clock_gettime(CLOCK_MONOTONIC, &p.t_start);
	ret = cli_parse_run(argc, argv, &p.cfg);
	if (ret)
		return ret > 0 ? 0 : PTVM_EXIT_ERROR;
	log_level = p.cfg.log_level;

	/* Every thread inherits this mask: the main loop takes the termination signals
	 * through a signalfd, vCPU threads unblock only their kick signal. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (; done < ARRAY_SIZE(ptvm_steps); done++) {
		unsigned errors = log_error_count();
		double t0 = ptvm_elapsed(&p);

		ret = ptvm_steps[done].init(&p);
		pr_debug("start-up step '%s': %.1f ms", ptvm_steps[done].name,
			 (ptvm_elapsed(&p) - t0) * 1e3);
		if (ret) {
			/* every non-zero exit says why, even from a path that did not */
			if (log_error_count() == errors)
				pr_err("start-up step '%s' failed: %s", ptvm_steps[done].name,
				       strerror(ret < 0 ? -ret : EINVAL));
			break;
		}
	}
	if (done == ARRAY_SIZE(ptvm_steps))
		status = ptvm_run_vm(&p);
	else
		done++; /* the step that failed may be half-built: its exit undoes that much */
	while (done--)
		ptvm_steps[done].exit(&p);
	return status;
}

/* ptvm vfio list | bind BDF | unbind BDF */
static int ptvm_cmd_vfio(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "list") && argc == 2)
		return vfio_sysfs_list(stdout) ? PTVM_EXIT_ERROR : 0;
	if (argc == 3 && !strcmp(argv[1], "bind"))
		return vfio_sysfs_bind(argv[2]) ? PTVM_EXIT_ERROR : 0;
	if (argc == 3 && !strcmp(argv[1], "unbind"))
		return vfio_sysfs_unbind(argv[2]) ? PTVM_EXIT_ERROR : 0;
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf(
		    "usage: ptvm vfio list           IOMMU groups, devices, drivers, "
		    "assignability\n"
		    "       ptvm vfio bind BDF       move a device to vfio-pci (driver_override)\n"
		    "       ptvm vfio unbind BDF     give it back to its host driver\n");
		return 0;
	}
	pr_err("vfio: usage: ptvm vfio list | bind BDF | unbind BDF");
	return PTVM_EXIT_ERROR;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cli_usage();
		return PTVM_EXIT_ERROR;
	}
	if (!strcmp(argv[1], "run"))
		return ptvm_cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "vfio"))
		return ptvm_cmd_vfio(argc - 1, argv + 1);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		cli_usage();
		return 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("ptvm %s\n", PTVM_VERSION);
		return 0;
	}
	pr_err("unknown command '%s' (ptvm help lists them)", argv[1]);
	return PTVM_EXIT_ERROR;
}
