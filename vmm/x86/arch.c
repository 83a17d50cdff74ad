// SPDX-License-Identifier: MIT
/*
 * The x86 side of the architecture line (vmm/arch.h): the VM's TSS and identity-map pages,
 * RAM below the PCI hole and above 4 GiB, the in-kernel PIC/IOAPIC/LAPIC and PIT, COM1 and
 * the ACPI power/reset registers on ports, the PCI host with its 0xcf8/0xcfc ports and ECAM,
 * and direct boot: ACPI tables, the reset-vector stub, the kernel and the BSP's entry state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acpi.h"
#include "boot.h"
#include "cpuid.h"
#include "devices/irq.h"
#include "devices/pci.h"
#include "layout.h"
#include "power.h"
#include "vmm/arch.h"
#include "vmm/cli.h"
#include "vmm/ioctl.h"
#include "vmm/log.h"
#include "vmm/platform.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "x86.h"

/* Below the LAPIC/IOAPIC, above the PCI windows: where VMX/SVM keep their private pages. */
#define KVM_TSS_GPA 0xfffbd000ULL
#define KVM_IDENTITY_MAP_GPA 0xfffbc000ULL

const char arch_name[] = "x86_64";
const char arch_usage_kernel[] =
	"  --kernel FILE          vmlinux ELF, PVH ELF or bzImage (required)\n";
const char arch_usage_boot_protocol[] =
	"  --boot-protocol P      auto (default: PVH if the ELF has the PVH note),\n"
	"                         pvh, linux64 (64-bit entry with boot_params)\n";
const char arch_usage_debug_exit[] =
	"  --debug-exit           a guest write of V to port 0xf4 ends ptvm with status V\n";

static const struct vm_cap x86_required_caps[] = {
	VM_CAP(KVM_CAP_IRQCHIP), VM_CAP(KVM_CAP_SET_TSS_ADDR),		VM_CAP(KVM_CAP_EXT_CPUID),
	VM_CAP(KVM_CAP_PIT2),	 VM_CAP(KVM_CAP_SET_IDENTITY_MAP_ADDR),
};

int arch_vm_type(struct vm *vm, unsigned long *type)
{
	if (vm_require_caps(vm, x86_required_caps, ARRAY_SIZE(x86_required_caps)))
		return -ENOTSUP;
	*type = 0;
	return 0;
}

int arch_vm_init(struct vm *vm)
{
	uint64_t idmap = KVM_IDENTITY_MAP_GPA;
	int ret;

	vm->arch = calloc(1, sizeof(*vm->arch));
	if (!vm->arch)
		return -ENOMEM;
	ret = ptvm_ioctl_val(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_GPA);
	if (ret < 0)
		return ret;
	ret = ptvm_ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
	if (ret < 0)
		return ret;
	/* every vCPU starts from KVM's supported set, with its own topology on top */
	return cpuid_get_supported(vm->kvm_fd, &vm->arch->cpuid);
}

void arch_vm_destroy(struct vm *vm)
{
	if (!vm->arch)
		return;
	free(vm->arch->cpuid);
	free(vm->arch);
	vm->arch = NULL;
}

unsigned arch_max_vcpus(void)
{
	return ACPI_MAX_CPUS;
}

int arch_ram_layout(uint64_t size, struct arch_ram_layout *out)
{
	uint64_t low = MIN(size, PCI_HOLE_START);

	memset(out, 0, sizeof(*out));
	out->banks[0].gpa = 0;
	out->banks[0].size = low;
	out->banks[0].name = "ram-low";
	out->nr_banks = 1;
	if (size > low) {
		out->banks[1].gpa = RAM_ABOVE_4G_START;
		out->banks[1].size = size - low;
		out->banks[1].name = "ram-high";
		out->nr_banks = 2;
	}
	out->mmio64_start = ALIGN_UP(RAM_ABOVE_4G_START + (size - low), SZ_1G);
	return 0;
}

int arch_irqchip_create(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int ret;

	ret = ptvm_ioctl_val(vm->vm_fd, KVM_CREATE_IRQCHIP, 0);
	if (ret < 0)
		return ret;
	ret = ptvm_ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit);
	if (ret < 0)
		return ret;
	pr_debug("kvm: in-kernel PIC, IOAPIC, LAPIC and PIT created");
	return 0;
}

int arch_irqchip_finalize(struct vm *vm)
{
	(void)vm;
	return 0;
}

int arch_irq_line(struct vm *vm, unsigned line, bool level)
{
	struct kvm_irq_level irq = { .irq = line, .level = level };

	return ptvm_ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

#define IOAPIC_PINS 24
#define PIC_PINS 16

unsigned arch_irq_routes_default(struct kvm_irq_routing_entry *e, unsigned max,
				 unsigned *first_msi_gsi)
{
	unsigned n = 0;

	/* what KVM_CREATE_IRQCHIP installs: PIC pins 0-15 but the cascade, IOAPIC pins 0-23 */
	for (unsigned pin = 0; pin < IOAPIC_PINS && n + 2 <= max; pin++) {
		if (pin < PIC_PINS && pin != 2) {
			memset(&e[n], 0, sizeof(e[n]));
			e[n].gsi = pin;
			e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			e[n].u.irqchip.irqchip =
			    pin < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			e[n].u.irqchip.pin = pin % 8;
			n++;
		}
		memset(&e[n], 0, sizeof(e[n]));
		e[n].gsi = pin;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[n].u.irqchip.pin = pin;
		n++;
	}
	*first_msi_gsi = IOAPIC_PINS;
	return n;
}

/* ---- the platform ---- */

struct arch_platform {
	struct vm *vm;
	struct power *power;
	struct irq_line com1_irq;
};

static void x86_com1_set_level(struct irq_line *line, bool level)
{
	struct arch_platform *ap = container_of(line, struct arch_platform, com1_irq);

	arch_irq_line(ap->vm, COM1_IRQ, level);
}

int arch_platform_create(struct vm *vm, const struct vm_config *cfg, int serial_fd,
			 struct platform *pl)
{
	struct pci_bus_windows win = PCI_BUS_WINDOWS(vm->mmio64_start);
	struct arch_platform *ap;
	int ret;

	ap = calloc(1, sizeof(*ap));
	if (!ap)
		return -ENOMEM;
	ap->vm = vm;
	pl->arch = ap;
	ret = power_create(vm, cfg->debug_exit, &ap->power);
	if (ret)
		return ret;
	ap->com1_irq.set_level = x86_com1_set_level;
	ret = platform_console_create(pl, &vm->pio, COM1_PORT, serial_fd, &ap->com1_irq);
	if (ret)
		return ret;
	return pci_bus_create(vm, &win, &pl->pci);
}

void arch_platform_destroy(struct vm *vm, struct platform *pl)
{
	platform_common_destroy(pl);
	if (pl->arch) {
		power_destroy(pl->arch->power);
		free(pl->arch);
		pl->arch = NULL;
	}
}

/* ---- boot ---- */

int arch_boot_protocol_parse(const char *arg, unsigned *out)
{
	if (!strcmp(arg, "auto"))
		*out = BOOT_PROTOCOL_AUTO;
	else if (!strcmp(arg, "pvh"))
		*out = BOOT_PROTOCOL_PVH;
	else if (!strcmp(arg, "linux64"))
		*out = BOOT_PROTOCOL_LINUX64;
	else {
		pr_err("--boot-protocol: '%s' is not auto, pvh or linux64", arg);
		return -EINVAL;
	}
	return 0;
}

/*
 * No firmware, but a CPU that is reset to real mode (Linux's last-resort reboot jumps to
 * f000:fff0; an INIT of the BSP lands there too) must not run whatever bytes happen to be
 * at the reset vector: it finds "mov al, RESET_VALUE; mov dx, RESET_PORT; out dx, al; hlt",
 * so that ptvm ends with the reboot status.
 */
static int x86_reset_vector_write(struct vm *vm)
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

	return memmap_write(vm->mm, RESET_VECTOR_GPA, stub, sizeof(stub));
}

static int x86_acpi_write(struct vm *vm, const struct platform_iommu *iommu)
{
	struct acpi_config acfg = {
		.nr_cpus = vm->nr_vcpus,
		.mmio64_start = vm->mmio64_start,
		.mmio64_size = PCI_MMIO64_SIZE,
		.viommu = iommu->present,
		.viommu_bdf = iommu->bdf,
		.nr_viommu_endpoints = iommu->nr_endpoints,
		.viommu_endpoints = iommu->endpoints,
	};
	uint8_t *buf = memmap_gpa_to_hva(vm->mm, ACPI_TABLES_GPA, ACPI_TABLES_SIZE);
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
	pr_debug("acpi: %zu bytes of tables at 0x%llx", used, (unsigned long long)ACPI_TABLES_GPA);
	return 0;
}

int arch_boot_setup(struct vm *vm, const struct vm_config *cfg, struct platform *pl)
{
	struct boot_x86_config bcfg = {
		.kernel_path = cfg->kernel,
		.initrd_path = cfg->initrd,
		.cmdline = cfg->cmdline,
		.protocol = (enum boot_protocol)cfg->boot_protocol,
		.low_ram_end = MIN(vm->ram_size, PCI_HOLE_START),
		.high_ram_size = vm->ram_size - MIN(vm->ram_size, PCI_HOLE_START),
		.rsdp_gpa = ACPI_TABLES_GPA,
	};
	struct boot_x86_entry entry;
	int ret;

	ret = x86_acpi_write(vm, &pl->iommu);
	if (ret)
		return ret;
	ret = x86_reset_vector_write(vm);
	if (ret)
		return ret;
	ret = boot_x86_load(vm->mm, &bcfg, &entry);
	if (ret)
		return ret;
	pr_info("boot: %s kernel %s, entry 0x%llx, %s", entry.format, cfg->kernel,
		(unsigned long long)entry.regs.rip, entry.long_mode ? "64-bit" : "32-bit PVH");
	/* the APs wait in KVM for the guest's INIT/SIPI */
	return x86_vcpu_set_boot_state(vm->vcpus[0], &entry);
}
