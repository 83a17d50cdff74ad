/* SPDX-License-Identifier: MIT */
/*
 * A fake `struct vm` for unit tests that drive device models through their real bus
 * interfaces (vmm/machine.h) without KVM. The functions are defined here, not static, so
 * that the linker takes them instead of pulling vmm/vm.o and vmm/irqroute.o out of the
 * library: include this header in exactly one file of a test binary.
 *
 * Port and MMIO windows go onto two real vmm/bus.c buses (drive them with bus_access() as
 * the vCPU exit handlers do); interrupt lines, MSI routes, irqfds and ioeventfds are
 * recorded, not wired: a test kicks a queue by writing its eventfd or the notify register.
 * vm_request_exit records the first status asked for; msi_route_error makes route
 * allocation fail (a guest exhausting KVM's routes).
 */
#ifndef PTVM_TESTS_UNIT_FAKE_VM_H
#define PTVM_TESTS_UNIT_FAKE_VM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/machine.h"

struct vm {
	struct bus pio, mmio;
	_Atomic unsigned irq_level_changes;
	_Atomic bool irq_level;	     /* the last level asked for, on any line */
	_Atomic unsigned msi_routes; /* live MSI routes */
	_Atomic unsigned next_gsi;
	_Atomic unsigned ioeventfds; /* live ioeventfds */
	int msi_route_error;	     /* vm_msi_route_add fails with it when non-zero */
	_Atomic int exit_status;     /* the status of the first vm_request_exit */
	_Atomic unsigned exit_requests;
};

/* vm_register_pio/mmio and their unregister calls */
#include "fake_vm_bus.h"

int vm_set_irq_line(struct vm *vm, unsigned gsi, bool level)
{
	vm->irq_level_changes++;
	atomic_store(&vm->irq_level, level);
	return 0;
}

int vm_msi_route_add(struct vm *vm, uint64_t addr, uint32_t data, uint32_t devid, unsigned *gsi)
{
	if (vm->msi_route_error)
		return vm->msi_route_error;
	vm->msi_routes++;
	*gsi = 24 + vm->next_gsi++;
	return 0;
}

int vm_msi_route_update(struct vm *vm, unsigned gsi, uint64_t addr, uint32_t data)
{
	return 0;
}

void vm_msi_route_del(struct vm *vm, unsigned gsi)
{
	vm->msi_routes--;
}

int vm_irqfd_assign(struct vm *vm, int fd, unsigned gsi, int resample_fd)
{
	return 0;
}

void vm_irqfd_deassign(struct vm *vm, int fd, unsigned gsi)
{
}

int vm_ioeventfd_assign(struct vm *vm, uint64_t addr, unsigned len, bool pio, int fd)
{
	vm->ioeventfds++;
	return 0;
}

void vm_ioeventfd_deassign(struct vm *vm, uint64_t addr, unsigned len, bool pio, int fd)
{
	vm->ioeventfds--;
}

void vm_request_exit(struct vm *vm, int status, const char *reason)
{
	/* the first request wins, as in vmm/vm.c */
	if (!vm->exit_requests++)
		atomic_store(&vm->exit_status, status);
}

#endif /* PTVM_TESTS_UNIT_FAKE_VM_H */
