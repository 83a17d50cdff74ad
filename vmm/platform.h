/* SPDX-License-Identifier: MIT */
/*
 * What every machine has, whatever its architecture: a serial console and a PCI host bridge
 * (plus the architecture's own power/reset devices, opaque here). arch_platform_create builds
 * it; the core feeds the console from stdin and plugs devices into the PCI bus.
 */
#ifndef PTVM_PLATFORM_H
#define PTVM_PLATFORM_H

struct uart;
struct pci_bus;
struct arch_platform;

struct platform {
	struct uart *console;
	struct pci_bus *pci;
	struct arch_platform *arch;
};

#endif
