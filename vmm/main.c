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
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "x86/acpi.h"
#include "x86/boot.h"
#include "cli.h"
#include "x86/cpuid.h"
#include "devices/pci.h"
#include "devices/power.h"
#include "devices/uart.h"
#include "devices/virtio_balloon.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_console.h"
#include "devices/virtio_net.h"
#include "devices/virtio_pci.h"
#include "devices/virtio_rng.h"
#include "eventloop.h"
#include "devices/vfio_pci.h"
#include "iommu/sysfs.h"
#include "iommu/vfio.h"
#include "x86/layout.h"
#include "log.h"
#include "term.h"
#include "util.h"
#include "vcpu.h"
#include "vm.h"

#define PTVM_VERSION "0.1"
#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

#define PTVM_MAX_VIRTIO 32

struct ptvm_virtio {
	struct virtio_device *vdev;
	struct virtio_pci *vp;
	void (*destroy)(struct virtio_device *vdev);
};

struct ptvm {
	struct vm_config cfg;
	struct vm *vm;
	struct kvm_cpuid2 *cpuid;
	struct power *power;
	struct uart *uart;
	struct irq_line com1_irq;
	struct pci_bus *pci;
	struct ptvm_virtio virtio[PTVM_MAX_VIRTIO];
	unsigned nr_virtio;
	struct virtio_device *hvc;     /* --console virtio: stdin goes here instead of COM1 */
	struct virtio_device *balloon; /* told when guest RAM becomes pinned for DMA */
	struct vfio *vfio;
	struct vfio_pci *vfio_devs[CLI_MAX_DEVICES];
	unsigned nr_vfio_devs;
	int serial_fd;
	bool escape_pending;
	struct eventloop_handler stdin_h;
	struct eventloop_handler stop_h;
	struct eventloop_handler signal_h;
	struct timespec t_start;
};

static double ptvm_elapsed(const struct ptvm *p)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - p->t_start.tv_sec) +
	       (double)(now.tv_nsec - p->t_start.tv_nsec) / 1e9;
}

/* ---- start-up steps ---- */

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
	if (p->cfg.nr_cpus > ACPI_MAX_CPUS) {
		pr_err("--cpus: %u vCPUs asked for, ptvm's xAPIC tables describe at most %d",
		       p->cfg.nr_cpus, ACPI_MAX_CPUS);
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
	return vm_memory_create(p->vm, p->cfg.mem_size, p->cfg.hugepages);
}

static void ptvm_memory_exit(struct ptvm *p)
{
	(void)p; /* guest RAM goes with the VM */
}

static int ptvm_irqchip_init(struct ptvm *p)
{
	return vm_irqchip_create(p->vm);
}

static void ptvm_irqchip_exit(struct ptvm *p)
{
	(void)p;
}

static void ptvm_com1_set_level(struct irq_line *line, bool level)
{
	struct ptvm *p = container_of(line, struct ptvm, com1_irq);

	vm_set_irq_line(p->vm, COM1_IRQ, level);
}

static int ptvm_devices_init(struct ptvm *p)
{
	struct pci_bus_windows win = {
		.mmio32_start = PCI_MMIO32_START,
		.mmio32_size = PCI_MMIO32_SIZE,
		.mmio64_start = p->vm->mmio64_start,
		.mmio64_size = PCI_MMIO64_SIZE,
		.io_start = PCI_IO_START,
		.io_size = PCI_IO_SIZE,
	};
	int ret;

	ret = power_create(p->vm, p->cfg.debug_exit, &p->power);
	if (ret)
		return ret;
	p->serial_fd = -1;
	if (p->cfg.serial == SERIAL_STDIO) {
		p->serial_fd = STDOUT_FILENO;
	} else if (p->cfg.serial == SERIAL_FILE) {
		p->serial_fd =
		    open(p->cfg.serial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (p->serial_fd < 0) {
			ret = -errno;
			pr_err("--serial file=%s: %s", p->cfg.serial_path, strerror(-ret));
			return ret;
		}
	}
	p->com1_irq.set_level = ptvm_com1_set_level;
	ret = uart_create(COM1_PORT, p->serial_fd, &p->com1_irq, &p->uart);
	if (ret)
		return ret;
	ret = vm_register_pio(p->vm, &p->uart->pio);
	if (ret)
		return ret;
	return pci_bus_create(p->vm, &win, &p->pci);
}

static void ptvm_devices_exit(struct ptvm *p)
{
	pci_bus_destroy(p->pci);
	if (p->uart)
		vm_unregister_pio(p->vm, &p->uart->pio);
	uart_destroy(p->uart);
	if (p->serial_fd > STDERR_FILENO)
		close(p->serial_fd);
	power_destroy(p->power);
}

/* Puts a created virtio device on the PCI bus; on failure the device is destroyed. */
static int ptvm_virtio_plug(struct ptvm *p, struct virtio_device *vdev,
			    void (*destroy)(struct virtio_device *vdev))
{
	struct ptvm_virtio *v = &p->virtio[p->nr_virtio];
	int ret;

	if (p->nr_virtio == PTVM_MAX_VIRTIO) {
		pr_err("too many virtio devices (at most %d)", PTVM_MAX_VIRTIO);
		destroy(vdev);
		return -ENOSPC;
	}
	ret = virtio_pci_create(p->vm, p->pci, vdev, &v->vp);
	if (ret) {
		destroy(vdev);
		return ret;
	}
	v->vdev = vdev;
	v->destroy = destroy;
	p->nr_virtio++;
	return 0;
}

static int ptvm_virtio_init(struct ptvm *p)
{
	struct virtio_device *vdev;
	int ret;

	for (unsigned i = 0; i < p->cfg.nr_disks; i++) {
		struct virtio_blk_options o;

		ret = virtio_blk_parse(p->cfg.disks[i], &o);
		if (!ret)
			ret = virtio_blk_create(&o, p->vm->mm, &vdev);
		if (!ret)
			ret = ptvm_virtio_plug(p, vdev, virtio_blk_destroy);
		if (ret)
			return ret;
	}
	for (unsigned i = 0; i < p->cfg.nr_nets; i++) {
		struct virtio_net_options o;

		ret = virtio_net_parse(p->cfg.nets[i], &o);
		if (!ret)
			ret = virtio_net_create(&o, p->vm->mm, &vdev);
		if (!ret)
			ret = ptvm_virtio_plug(p, vdev, virtio_net_destroy);
		if (ret)
			return ret;
	}
	if (p->cfg.console_virtio) {
		struct virtio_console_options co;

		ret = virtio_console_parse("virtio", &co);
		if (!ret)
			ret = virtio_console_create(&co, p->vm->mm, &vdev);
		if (!ret)
			ret = ptvm_virtio_plug(p, vdev, virtio_console_destroy);
		if (ret)
			return ret;
		p->hvc = vdev;
	}
	if (p->cfg.balloon) {
		struct virtio_balloon_options bo;

		ret = virtio_balloon_parse(p->cfg.balloon, &bo);
		if (!ret)
			ret = virtio_balloon_create(&bo, p->vm->mm, &vdev);
		if (!ret)
			ret = ptvm_virtio_plug(p, vdev, virtio_balloon_destroy);
		if (ret)
			return ret;
		p->balloon = vdev;
	}
	if (p->cfg.rng) {
		struct virtio_rng_config rcfg;

		ret = virtio_rng_parse(p->cfg.rng, &rcfg);
		if (!ret)
			ret = virtio_rng_create(&rcfg, p->vm->mm, &vdev);
		if (!ret)
			ret = ptvm_virtio_plug(p, vdev, virtio_rng_destroy);
		if (ret)
			return ret;
	}
	return 0;
}

static void ptvm_virtio_exit(struct ptvm *p)
{
	while (p->nr_virtio) {
		struct ptvm_virtio *v = &p->virtio[--p->nr_virtio];

		virtio_pci_destroy(v->vp);
		v->destroy(v->vdev);
	}
}

/*
 * Passthrough devices. The balloon is told first: once guest RAM is pinned for DMA it must
 * not be discarded, so inflation and free page reporting are refused from here on.
 */
static int ptvm_vfio_init(struct ptvm *p)
{
	int ret;

	if (!p->cfg.nr_vfio)
		return 0;
	if (p->balloon) {
		virtio_balloon_set_pinned(p->balloon, true);
		pr_info("balloon: inflation and free page reporting refused while a passthrough "
			"device is attached (its DMA pins guest RAM)");
	}
	ret = vfio_create(p->vm->mm, &p->vfio);
	if (ret)
		return ret;
	for (unsigned i = 0; i < p->cfg.nr_vfio; i++) {
		struct vfio_pci_config vc;

		ret = vfio_pci_parse(p->cfg.vfio[i], &vc);
		if (!ret)
			ret = vfio_pci_create(p->vm, p->pci, p->vfio, &vc,
					      &p->vfio_devs[p->nr_vfio_devs]);
		if (ret)
			return ret; /* vfio_pci_create detached the device on failure */
		p->nr_vfio_devs++;
	}
	vfio_report(p->vfio);
	return 0;
}

static void ptvm_vfio_exit(struct ptvm *p)
{
	while (p->nr_vfio_devs)
		vfio_pci_destroy(p->vfio_devs[--p->nr_vfio_devs]);
	vfio_destroy(p->vfio);
	p->vfio = NULL;
	if (p->balloon)
		virtio_balloon_set_pinned(p->balloon, false);
}

/* --report FILE: one JSON object with what passthrough set up, written once the VM runs */
static int ptvm_report_write(struct ptvm *p)
{
	FILE *f;
	int ret = 0;

	if (!p->cfg.report)
		return 0;
	f = fopen(p->cfg.report, "w");
	if (!f) {
		ret = -errno;
		pr_err("--report %s: %s", p->cfg.report, strerror(-ret));
		return ret;
	}
	fprintf(f, "{\"memory_bytes\": %llu, \"cpus\": %u, \"vfio\": ",
		(unsigned long long)p->cfg.mem_size, p->cfg.nr_cpus);
	if (p->vfio)
		vfio_report_json(p->vfio, f);
	else
		fputs("null", f);
	fputs("}\n", f);
	if (fclose(f)) {
		ret = -errno;
		pr_err("--report %s: %s", p->cfg.report, strerror(-ret));
	}
	return ret;
}

static void ptvm_report_exit(struct ptvm *p)
{
	(void)p;
}

/*
 * No firmware, but a CPU that is reset to real mode (Linux's last-resort reboot jumps to
 * f000:fff0; an INIT of the BSP lands there too) must not run whatever bytes happen to be
 * at the reset vector: it finds "mov al, RESET_VALUE; mov dx, RESET_PORT; out dx, al; hlt",
 * so that ptvm ends with the reboot status.
 */
static int ptvm_reset_vector_init(struct ptvm *p)
{
	const uint8_t stub[] = {
		0xb0,
		ACPI_RESET_VALUE, /* mov al, imm8 */
		0xba,
		ACPI_RESET_PORT & 0xff,
		ACPI_RESET_PORT >> 8, /* mov dx, imm16 */
		0xee,		      /* out dx, al */
		0xf4,		      /* hlt */
		0xeb,
		0xfd, /* jmp $-1 */
	};

	return memmap_write(p->vm->mm, RESET_VECTOR_GPA, stub, sizeof(stub));
}

static int ptvm_acpi_init(struct ptvm *p)
{
	struct acpi_config acfg = {
		.nr_cpus = p->cfg.nr_cpus,
		.mmio64_start = p->vm->mmio64_start,
		.mmio64_size = PCI_MMIO64_SIZE,
	};
	uint8_t *buf = memmap_gpa_to_hva(p->vm->mm, ACPI_TABLES_GPA, ACPI_TABLES_SIZE);
	size_t used;
	int ret;

	if (!buf) {
		pr_err("acpi: no guest RAM at 0x%llx for the tables",
		       (unsigned long long)ACPI_TABLES_GPA);
		return -ENOMEM;
	}
	ret = acpi_tables_build(&acfg, buf, ACPI_TABLES_SIZE, ACPI_TABLES_GPA, &used);
	if (ret) {
		pr_err("acpi: cannot build the tables: %s", strerror(-ret));
		return ret;
	}
	ret = ptvm_reset_vector_init(p);
	if (ret)
		return ret;
	pr_debug("acpi: %zu bytes of tables at 0x%llx", used, (unsigned long long)ACPI_TABLES_GPA);
	return 0;
}

static void ptvm_acpi_exit(struct ptvm *p)
{
	(void)p;
}

static struct boot_x86_entry ptvm_entry;

static int ptvm_boot_init(struct ptvm *p)
{
	struct boot_x86_config bcfg = {
		.kernel_path = p->cfg.kernel,
		.initrd_path = p->cfg.initrd,
		.cmdline = p->cfg.cmdline,
		.protocol = p->cfg.protocol,
		.low_ram_end = p->vm->low_ram_end,
		.high_ram_size = p->vm->high_ram_size,
		.rsdp_gpa = ACPI_TABLES_GPA,
	};
	int ret = boot_x86_load(p->vm->mm, &bcfg, &ptvm_entry);

	if (ret)
		return ret;
	pr_info("boot: %s kernel %s, entry 0x%llx, %s", ptvm_entry.format, p->cfg.kernel,
		(unsigned long long)ptvm_entry.regs.rip,
		ptvm_entry.long_mode ? "64-bit" : "32-bit PVH");
	return 0;
}

static void ptvm_boot_exit(struct ptvm *p)
{
	(void)p;
}

static int ptvm_vcpus_init(struct ptvm *p)
{
	struct vm *vm = p->vm;
	int ret;

	ret = cpuid_get_supported(vm->kvm_fd, &p->cpuid);
	if (ret)
		return ret;
	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_create(vm, i, p->cpuid, &vm->vcpus[i]);
		if (ret)
			return ret;
	}
	/* APs wait in KVM for the guest's INIT/SIPI */
	return vcpu_set_boot_state(vm->vcpus[0], &ptvm_entry);
}

static void ptvm_vcpus_exit(struct ptvm *p)
{
	struct vm *vm = p->vm;

	for (unsigned i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_destroy(vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	free(p->cpuid);
	p->cpuid = NULL;
}

/* stdin -> COM1, with the Ctrl-A escape */
static void ptvm_stdin_ready(struct eventloop_handler *h, uint32_t events)
{
	struct ptvm *p = container_of(h, struct ptvm, stdin_h);
	uint8_t buf[64], out[64];
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
	if (p->hvc) {
		/* the console keeps what the guest has no buffers for yet (up to 64 KiB) */
		if (virtio_console_receive(p->hvc, out, n_out) < n_out)
			pr_warn("virtio console: input buffer full, dropped typed bytes");
		return;
	}
	for (size_t done = 0, tries = 0; done < n_out && tries < 10000; tries++) {
		done += uart_receive(p->uart, out + done, n_out - done);
		if (done < n_out)
			usleep(100); /* FIFO full: the guest drains it from its vCPU */
	}
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
	if (p->cfg.serial == SERIAL_STDIO || p->hvc) {
		term_raw_enable();
		p->stdin_h = (struct eventloop_handler){ .fd = STDIN_FILENO,
							 .name = "stdin",
							 .ready = ptvm_stdin_ready };
		/* stdin may be /dev/null or a regular file, which epoll refuses: no input then */
		if (eventloop_add(p->vm->loop, &p->stdin_h, EPOLLIN))
			p->stdin_h.fd = -1;
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
	{ "kvm", ptvm_kvm_init, ptvm_kvm_exit },
	{ "memory", ptvm_memory_init, ptvm_memory_exit },
	{ "irqchip", ptvm_irqchip_init, ptvm_irqchip_exit },
	{ "devices", ptvm_devices_init, ptvm_devices_exit },
	{ "virtio", ptvm_virtio_init, ptvm_virtio_exit },
	{ "vfio", ptvm_vfio_init, ptvm_vfio_exit },
	{ "acpi", ptvm_acpi_init, ptvm_acpi_exit },
	{ "boot", ptvm_boot_init, ptvm_boot_exit },
	{ "vcpus", ptvm_vcpus_init, ptvm_vcpus_exit },
	{ "console", ptvm_console_init, ptvm_console_exit },
	{ "report", ptvm_report_write, ptvm_report_exit },
};

static int ptvm_run_vm(struct ptvm *p)
{
	struct vm *vm = p->vm;
	unsigned started = 0;
	int ret = 0;

	for (; started < vm->nr_vcpus; started++) {
		ret = vcpu_start(vm->vcpus[started]);
		if (ret) {
			vm_request_exit(vm, PTVM_EXIT_ERROR, "vCPU thread start failed");
			break;
		}
	}
	pr_info("vm: %u vCPU(s) running, %.3f s after start", started, ptvm_elapsed(p));
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
			vcpu_dump_regs(vm->vcpus[i]);
	pr_info("vm: stopped %.3f s after start", ptvm_elapsed(p));
	return vm->exit_status;
}

static int ptvm_cmd_run(int argc, char **argv)
{
	struct ptvm p = { .serial_fd = -1 };
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
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (; done < ARRAY_SIZE(ptvm_steps); done++) {
		ret = ptvm_steps[done].init(&p);
		if (ret) {
			pr_debug("start-up step '%s' failed: %s", ptvm_steps[done].name,
				 strerror(-ret));
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
