// SPDX-License-Identifier: MIT
/*
 * The arm64 side of the architecture line (vmm/arch.h): RAM from 1 GiB, the in-kernel GICv3
 * with its ITS, a 16550A UART on MMIO, the generic ECAM PCI host (its I/O space memory-mapped),
 * and direct boot: the Image and initrd, the device tree, the boot vCPU's entry state. No
 * power/reset device: the guest uses PSCI, which KVM implements.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "arm64.h"
#include "boot.h"
#include "devices/irq.h"
#include "devices/pci.h"
#include "fdt.h"
#include "layout.h"
#include "vmm/arch.h"
#include "vmm/cli.h"
#include "vmm/ioctl.h"
#include "vmm/log.h"
#include "vmm/platform.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

const char arch_name[] = "arm64";
const char arch_usage_kernel[] =
	"  --kernel FILE          an arm64 Image, uncompressed (required)\n";
const char arch_usage_boot_protocol[] = "";
const char arch_usage_debug_exit[] = "";

static const struct vm_cap arm64_required_caps[] = {
	VM_CAP(KVM_CAP_ONE_REG),
	VM_CAP(KVM_CAP_DEVICE_CTRL),
	VM_CAP(KVM_CAP_ARM_PSCI_0_2),
	VM_CAP(KVM_CAP_IRQCHIP),
};

int arch_vm_type(struct vm *vm, unsigned long *type)
{
	if (vm_require_caps(vm, arm64_required_caps, ARRAY_SIZE(arm64_required_caps)))
		return -ENOTSUP;
	/* KVM's default IPA space (40 bits) holds RAM and the 64-bit PCI window: see
	 * arch_ram_layout */
	*type = 0;
	return 0;
}

int arch_vm_init(struct vm *vm)
{
	vm->arch = calloc(1, sizeof(*vm->arch));
	if (!vm->arch)
		return -ENOMEM;
	vm->arch->gic_fd = vm->arch->its_fd = -1;
	return ptvm_ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &vm->arch->vcpu_init);
}

void arch_vm_destroy(struct vm *vm)
{
	if (!vm->arch)
		return;
	arm64_gic_destroy(vm);
	free(vm->arch);
	vm->arch = NULL;
}

unsigned arch_max_vcpus(void)
{
	return GIC_MAX_CPUS;
}

int arch_ram_layout(uint64_t size, struct arch_ram_layout *out)
{
	const uint64_t ipa_end = 1ULL << IPA_BITS_DEFAULT;
	uint64_t max = ALIGN_DOWN(ipa_end - PCI_MMIO64_SIZE, SZ_1G) - SZ_1G - RAM_GPA;

	memset(out, 0, sizeof(*out));
	if (size > max) {
		pr_err("--memory: %llu MiB do not fit in the arm64 machine's 40-bit address space "
		       "(at most %llu MiB)",
		       (unsigned long long)(size >> 20), (unsigned long long)(max >> 20));
		return -EINVAL;
	}
	out->banks[0].gpa = RAM_GPA;
	out->banks[0].size = size;
	out->banks[0].name = "ram";
	out->nr_banks = 1;
	out->mmio64_start = ALIGN_UP(RAM_GPA + size, SZ_1G);
	return 0;
}

int arch_irqchip_create(struct vm *vm)
{
	return arm64_gic_create(vm);
}

int arch_irqchip_finalize(struct vm *vm)
{
	return arm64_gic_finalize(vm);
}

/* line is an SPI number (the device tree's GIC_SPI cell); KVM wants the INTID, 32 + SPI */
int arch_irq_line(struct vm *vm, unsigned line, bool level)
{
	struct kvm_irq_level irq = {
		.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (32 + line),
		.level = level,
	};

	return ptvm_ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

unsigned arch_irq_routes_default(struct kvm_irq_routing_entry *e, unsigned max,
				 unsigned *first_msi_gsi)
{
	unsigned n = 0;

	/* what the vGIC installs by default: GSI n -> SPI n */
	for (unsigned spi = 0; spi < GIC_NR_SPIS && n < max; spi++, n++) {
		memset(&e[n], 0, sizeof(e[n]));
		e[n].gsi = spi;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = 0;
		e[n].u.irqchip.pin = spi;
	}
	*first_msi_gsi = GIC_NR_SPIS;
	return n;
}

/* ---- the platform ---- */

struct arch_platform {
	struct vm *vm;
	struct irq_line uart_irq;
	/* PCI I/O space, memory-mapped at PCI_IO_GPA: accesses go to the port bus, where the
	 * PCI code decodes I/O BARs as on x86 */
	struct bus_dev pci_io;
	bool pci_io_registered;
};

static void arm64_uart_set_level(struct irq_line *line, bool level)
{
	struct arch_platform *ap = container_of(line, struct arch_platform, uart_irq);

	arch_irq_line(ap->vm, UART_SPI, level);
}

static void arm64_pci_io_read(struct bus_dev *dev, uint64_t off, void *data, unsigned len)
{
	struct arch_platform *ap = container_of(dev, struct arch_platform, pci_io);

	bus_access(&ap->vm->pio, off, data, len, false);
}

static void arm64_pci_io_write(struct bus_dev *dev, uint64_t off, const void *data, unsigned len)
{
	struct arch_platform *ap = container_of(dev, struct arch_platform, pci_io);

	bus_access(&ap->vm->pio, off, (void *)data, len, true);
}

/* The PCI host's windows: the device tree's ranges and interrupt-map describe the same. */
static void arm64_pci_windows(const struct vm *vm, struct pci_bus_windows *win)
{
	*win = (struct pci_bus_windows){
		.mmio32_start = PCI_MMIO32_START,
		.mmio32_size = PCI_MMIO32_SIZE,
		.mmio64_start = vm->mmio64_start,
		.mmio64_size = PCI_MMIO64_SIZE,
		.io_start = PCI_IO_START,
		.io_size = PCI_IO_SIZE,
		.ecam_base = PCI_ECAM_BASE,
		.ecam_size = PCI_ECAM_SIZE,
		.config_ports = false, /* no port I/O on arm64 */
		.intx_line_base = PCI_INTX_GSI_BASE,
		.intx_line_count = PCI_INTX_GSI_COUNT,
	};
}

static const struct bus_dev_ops arm64_pci_io_ops = {
	.read = arm64_pci_io_read,
	.write = arm64_pci_io_write,
};

int arch_platform_create(struct vm *vm, const struct vm_config *cfg, int serial_fd,
			 struct platform *pl)
{
	struct pci_bus_windows win;
	struct arch_platform *ap;
	int ret;

	if (cfg->debug_exit) {
		pr_err("--debug-exit: the debug-exit port (0xf4) is x86's; the arm64 machine has "
		       "no port I/O");
		return -EINVAL;
	}
	arm64_pci_windows(vm, &win);
	ap = calloc(1, sizeof(*ap));
	if (!ap)
		return -ENOMEM;
	ap->vm = vm;
	pl->arch = ap;
	ap->uart_irq.set_level = arm64_uart_set_level;
	/* the same 16550A registers, one byte apart, on MMIO */
	ret = platform_console_create(pl, &vm->mmio, UART_GPA, serial_fd, &ap->uart_irq);
	if (ret)
		return ret;
	ap->pci_io = (struct bus_dev){ .base = PCI_IO_GPA,
				       .len = PCI_IO_SPACE_SIZE,
				       .ops = &arm64_pci_io_ops,
				       .name = "pci-io" };
	ret = vm_register_mmio(vm, &ap->pci_io);
	if (ret)
		return ret;
	ap->pci_io_registered = true;
	return pci_bus_create(vm, &win, &pl->pci);
}

void arch_platform_destroy(struct vm *vm, struct platform *pl)
{
	platform_common_destroy(pl);
	if (pl->arch) {
		if (pl->arch->pci_io_registered)
			vm_unregister_mmio(vm, &pl->arch->pci_io);
		free(pl->arch);
		pl->arch = NULL;
	}
}

/* ---- boot ---- */

int arch_boot_protocol_parse(const char *arg, unsigned *out)
{
	if (!strcmp(arg, "auto")) {
		*out = 0;
		return 0;
	}
	pr_err("--boot-protocol: '%s' is x86's; arm64 boots its Image one way (auto)", arg);
	return -EINVAL;
}

/* Seeds for the guest's KASLR and entropy pool; without getrandom the guest boots without. */
static void arm64_boot_seeds(struct arm64_fdt_config *fc)
{
	if (getrandom(&fc->kaslr_seed, sizeof(fc->kaslr_seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(fc->kaslr_seed))
		fc->kaslr_seed = 0;
	if (getrandom(fc->rng_seed, sizeof(fc->rng_seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(fc->rng_seed))
		memset(fc->rng_seed, 0, sizeof(fc->rng_seed));
}

int arch_boot_setup(struct vm *vm, const struct vm_config *cfg, struct platform *pl)
{
	struct arm64_boot_config bcfg = {
		.kernel_path = cfg->kernel,
		.initrd_path = cfg->initrd,
		.cmdline = cfg->cmdline,
		.ram_gpa = RAM_GPA,
		.ram_size = vm->ram_size,
	};
	struct arm64_fdt_config *fc;
	struct arm64_boot_info bi;
	struct pci_bus_windows win;
	uint64_t *mpidr;
	void *fdt;
	size_t used;
	int ret;

	if (pl->iommu.present) {
		/* the device tree would need the virtio-iommu's node and the PCI host's
		 * iommu-map; not written yet (Debian 12's arm64 kernel has no virtio-iommu driver
		 * to test them with) */
		pr_err("--iommu virtio: the arm64 machine's device tree does not describe a "
		       "virtio-iommu yet (x86 only, through ACPI VIOT)");
		return -EINVAL;
	}
	ret = arm64_boot_load(vm->mm, &bcfg, &bi);
	if (ret)
		return ret;
	fdt = memmap_gpa_to_hva(vm->mm, bi.fdt_gpa, FDT_MAX_SIZE);
	fc = calloc(1, sizeof(*fc));
	mpidr = calloc(vm->nr_vcpus, sizeof(*mpidr));
	if (!fdt || !fc || !mpidr) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		ret = arm64_vcpu_mpidr(vm->vcpus[i], &mpidr[i]);
		if (ret)
			goto out_free;
	}
	*fc = (struct arm64_fdt_config){
		.ram_gpa = RAM_GPA,
		.ram_size = vm->ram_size,
		.nr_cpus = vm->nr_vcpus,
		.mpidr = mpidr,
		.bootargs = cfg->cmdline,
		.initrd_gpa = bi.initrd_gpa,
		.initrd_size = bi.initrd_size,
		.mmio64_start = vm->mmio64_start,
		.mmio64_size = PCI_MMIO64_SIZE,
	};
	arm64_pci_windows(vm, &win);
	for (unsigned s = 0; s < ARM64_FDT_PCI_SLOTS; s++)
		for (unsigned p = 0; p < ARM64_FDT_PCI_PINS; p++)
			fc->intx_spi[s][p] = pci_windows_intx_line(&win, s, p + 1);
	arm64_boot_seeds(fc);
	ret = arm64_fdt_build(fc, fdt, FDT_MAX_SIZE, &used);
	if (ret)
		goto out_free;
	ret = arm64_vcpu_set_boot_state(vm->vcpus[0], bi.kernel_gpa, bi.fdt_gpa);
	if (ret)
		goto out_free;
	pr_info("boot: arm64 Image %s, entry 0x%llx, device tree at 0x%llx (%zu bytes), %u vCPUs "
		"(secondaries wait for PSCI CPU_ON)",
		cfg->kernel, (unsigned long long)bi.kernel_gpa, (unsigned long long)bi.fdt_gpa,
		used, vm->nr_vcpus);
out_free:
	free(mpidr);
	free(fc);
	return ret;
}
