/* SPDX-License-Identifier: MIT */
/*
 * What a device model sees of the machine: bus registration, interrupt lines, guest
 * memory, the event loop, and a way to end the VM. devices/ includes this and nothing
 * else from vmm/ (besides the plain helpers: log, util, bus, memmap, layout, eventloop).
 */
#ifndef PTVM_MACHINE_H
#define PTVM_MACHINE_H

#include <stdbool.h>

#include "bus.h"
#include "memmap.h"

struct vm;
struct eventloop;

/* Process exit statuses of `ptvm run` (documented in ptvm run --help and the README). */
enum ptvm_exit_status {
	PTVM_EXIT_POWEROFF = 0,
	PTVM_EXIT_ERROR = 1,
	PTVM_EXIT_REBOOT = 64,
	PTVM_EXIT_TRIPLE_FAULT = 65,
	PTVM_EXIT_INTERNAL_ERROR = 66,
	PTVM_EXIT_UNHANDLED = 67,
	PTVM_EXIT_SIGNAL = 130,
};

struct memmap *vm_memmap(struct vm *vm);
struct eventloop *vm_eventloop(struct vm *vm);
int vm_register_pio(struct vm *vm, struct bus_dev *dev) __attribute__((warn_unused_result));
void vm_unregister_pio(struct vm *vm, struct bus_dev *dev);
int vm_register_mmio(struct vm *vm, struct bus_dev *dev) __attribute__((warn_unused_result));
void vm_unregister_mmio(struct vm *vm, struct bus_dev *dev);
/* Drives an in-kernel irqchip input (x86: a PIC/IOAPIC pin; arm64: a GIC SPI) to level. */
int vm_set_irq_line(struct vm *vm, unsigned gsi, bool level);
/*
 * MSI routes: a GSI whose KVM route is an MSI (address, data). Devices bind an irqfd to
 * the GSI and write the eventfd to raise the interrupt without leaving their thread. devid is
 * the device's PCI requester ID (pci_device_requester_id): arm64's ITS translates by it, x86
 * ignores it; an update keeps it.
 */
int vm_msi_route_add(struct vm *vm, uint64_t addr, uint32_t data, uint32_t devid, unsigned *gsi)
    __attribute__((warn_unused_result));
int vm_msi_route_update(struct vm *vm, unsigned gsi, uint64_t addr, uint32_t data);
void vm_msi_route_del(struct vm *vm, unsigned gsi);
/* Binds eventfd fd to gsi (resample_fd >= 0 for level-triggered INTx); -errno. */
int vm_irqfd_assign(struct vm *vm, int fd, unsigned gsi, int resample_fd);
void vm_irqfd_deassign(struct vm *vm, int fd, unsigned gsi);
/* A guest write of len bytes at addr (port I/O when pio) signals fd inside KVM. */
int vm_ioeventfd_assign(struct vm *vm, uint64_t addr, unsigned len, bool pio, int fd);
void vm_ioeventfd_deassign(struct vm *vm, uint64_t addr, unsigned len, bool pio, int fd);

/* Ends the VM with the given process status; the first request wins. Thread-safe. */
void vm_request_exit(struct vm *vm, int status, const char *reason);
/* The VM is ending (a device that blocks a vCPU polls this to let go). */
bool vm_is_exiting(struct vm *vm);

#endif
