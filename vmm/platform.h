/* SPDX-License-Identifier: MIT */
/*
 * What every machine has, whatever its architecture: a serial console and a PCI host bridge
 * (plus the architecture's own power/reset devices, opaque here). arch_platform_create builds
 * it; the core feeds the console from stdin and plugs devices into the PCI bus.
 */
#ifndef PTVM_PLATFORM_H
#define PTVM_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

struct uart;
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
	struct pci_bus *pci;
	struct arch_platform *arch;
	struct platform_iommu iommu;
};

#endif
