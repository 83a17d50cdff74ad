/* SPDX-License-Identifier: MIT */
/*
 * What every machine has, whatever its architecture: a serial console and a PCI host bridge
 * (plus the architecture's own power/reset devices, opaque here). arch_platform_create builds
 * it, with platform_console_create and pci_bus_create; arch_platform_destroy tears it down, with
 * platform_common_destroy (vmm/platform.c). The core feeds the console from stdin and plugs
 * devices into the PCI bus.
 */
#ifndef PTVM_PLATFORM_H
#define PTVM_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

struct uart;
struct bus;
struct irq_line;
struct pci_bus;
struct arch_platform;

#define PLATFORM_IOMMU_MAX_ENDPOINTS 64

/*
 * The virtual IOMMU and the PCI functions behind it, as PCI requester IDs on bus 0, for the
 * firmware tables (the ACPI VIOT on x86): filled by the devices step, read by arch_boot_setup.
 */
struct platform_iommu {
	bool present;
	uint16_t bdf;
	unsigned nr_endpoints;
	uint16_t endpoints[PLATFORM_IOMMU_MAX_ENDPOINTS];
};

struct platform {
	struct uart *console;
	struct bus *console_bus; /* the bus its registers are on: the VM's ports or MMIO */
	struct pci_bus *pci;
	struct arch_platform *arch;
	struct platform_iommu iommu;
};

/*
 * Creates the console UART with its registers at base on bus (the VM's port bus or its MMIO bus),
 * its output to serial_fd (-1 discards it) and its interrupt on irq; pl->console stays NULL when
 * it fails. 0 or -errno.
 */
int platform_console_create(struct platform *pl, struct bus *bus, uint64_t base, int serial_fd,
			    struct irq_line *irq) __attribute__((warn_unused_result));
/*
 * Destroys the PCI host and the console UART (either may be missing: a half-built platform).
 * The architecture's own part, pl->arch, is arch_platform_destroy's.
 */
void platform_common_destroy(struct platform *pl);

#endif
