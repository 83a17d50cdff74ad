/* SPDX-License-Identifier: MIT */
/*
 * The passthrough PCI device model: a host PCI function, opened through VFIO (iommu/), shown
 * to the guest on ptvm's bus 0.
 *
 * Config space is a snapshot of the device's, virtualized: BARs (sized from the VFIO
 * regions, placed in ptvm's windows, movable), the command register (I/O, memory, bus
 * master and INTx-disable forwarded), MSI and MSI-X (emulated: the guest's writes program
 * KVM MSI routes, never the device), the ROM BAR (hidden unless rom=on), the capability
 * chain (only PM, MSI, MSI-X and vendor-specific stay listed; everything else, and the
 * whole extended space, is hidden). Only the command bits above ever reach the device.
 *
 * BARs the kernel lets us mmap become DEVICE_RAM regions (KVM memslots), sparse areas
 * honoured; the MSI-X table and PBA pages, the holes and all I/O BARs stay trapped and are
 * forwarded with pread/pwrite. Interrupts never pass through userspace: each MSI/MSI-X vector
 * is an eventfd that VFIO signals and KVM injects through an irqfd on an MSI route; INTx is an
 * irqfd with a resample eventfd that is also VFIO's unmask eventfd.
 */
#ifndef PTVM_DEVICES_VFIO_PCI_H
#define PTVM_DEVICES_VFIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"
#include "iommu/sysfs.h"

struct vm;
struct vfio;
struct vfio_device;
struct vfio_pci;

struct vfio_pci_config {
	char bdf[VFIO_BDF_LEN]; /* "0000:00:03.0" (domain added when the spec leaves it out) */
	bool bar_mmap;		/* default on: off traps every BAR (an experiment mode) */
	bool p2p;		/* map the BARs into the IOMMU too (peer-to-peer), default off */
	bool rom;		/* expose the expansion ROM BAR, default off */
	bool viommu;		/* behind the virtual IOMMU (set by the device table, not parsed) */
};

/* Parses "vfio=0000:00:03.0[,bar-mmap=on|off][,p2p=on|off][,rom=on|off]" (the "vfio="
 * prefix is optional); -EINVAL after a pr_err naming the bad part. */
int vfio_pci_parse(const char *spec, struct vfio_pci_config *cfg);

/*
 * Attaches cfg->bdf through vfio (group, container, DMA listener: iommu/; opening it resets it),
 * builds the virtual config space and plugs the function into bus. On failure nothing stays
 * attached, mapped or open.
 */
int vfio_pci_create(struct vm *vm, struct pci_bus *bus, struct vfio *vfio,
		    const struct vfio_pci_config *cfg, struct vfio_pci **out);
/*
 * The same on a device that is already open (vfio may be NULL: then destroy does not detach
 * it). Unit tests use this with a fake device.
 */
int vfio_pci_create_device(struct vm *vm, struct pci_bus *bus, struct vfio *vfio,
			   struct vfio_device *vdev, const struct vfio_pci_config *cfg,
			   struct vfio_pci **out);
/* Logs the trap counters, takes the function off the bus, disables its interrupts, resets
 * it, unmaps the BARs, closes every fd and detaches the device. Accepts NULL. */
void vfio_pci_destroy(struct vfio_pci *dev);

/* Trapped accesses so far (MMIO exits or port I/O exits) on BAR `bar` (0-5; 6 = ROM). */
uint64_t vfio_pci_bar_exits(struct vfio_pci *dev, unsigned bar);
/* Logs, at info, per BAR: placement, mmap'd bytes, trapped accesses; and the interrupt routes. */
void vfio_pci_report(struct vfio_pci *dev);
struct pci_device *vfio_pci_device(struct vfio_pci *dev);
/* The eventfds its MSI-X table holds (msix_eventfds). */
unsigned vfio_pci_msix_eventfds(struct vfio_pci *dev);

#endif
