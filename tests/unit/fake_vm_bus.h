/* SPDX-License-Identifier: MIT */
/*
 * The buses of a fake `struct vm`: vm_register_pio/mmio and their unregister calls put a
 * device model's windows on two real vmm/bus.c buses, as vmm/vm.c does, so that a test drives
 * the guest's view with bus_access() exactly as the vCPU exit handlers do.
 *
 * Each fake machine (tests/unit/fake_vm.h, vfio_pci_model_test.c's, the fuzz targets' in
 * tests/fuzz/lib/fuzz_lib.c) defines its own `struct vm` with a `struct bus pio, mmio` in it,
 * then includes this header; what they fake differently (interrupt lines, MSI routes,
 * eventfds, the exit request) each keeps. The functions are not static, so that the linker
 * takes them instead of pulling vmm/vm.o out of the library: include this header in exactly
 * one file of a binary.
 */
#ifndef PTVM_TESTS_UNIT_FAKE_VM_BUS_H
#define PTVM_TESTS_UNIT_FAKE_VM_BUS_H

#include "vmm/bus.h"
#include "vmm/machine.h"

int vm_register_pio(struct vm *vm, struct bus_dev *dev)
{
	return bus_register(&vm->pio, dev);
}

void vm_unregister_pio(struct vm *vm, struct bus_dev *dev)
{
	bus_unregister(&vm->pio, dev);
}

int vm_register_mmio(struct vm *vm, struct bus_dev *dev)
{
	return bus_register(&vm->mmio, dev);
}

void vm_unregister_mmio(struct vm *vm, struct bus_dev *dev)
{
	bus_unregister(&vm->mmio, dev);
}

#endif /* PTVM_TESTS_UNIT_FAKE_VM_BUS_H */
