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
/* Drives an in-kernel irqchip input (PIC/IOAPIC pin) to level. */
int vm_set_irq_line(struct vm *vm, unsigned gsi, bool level);
/* Ends the VM with the given process status; the first request wins. Thread-safe. */
void vm_request_exit(struct vm *vm, int status, const char *reason);

#endif
