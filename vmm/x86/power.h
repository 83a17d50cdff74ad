/* SPDX-License-Identifier: MIT */
/*
 * Reset and power-off: the ACPI hardware-reduced sleep control / status and reset
 * registers named in the FADT, the i8042's pulse-reset command, and (opt-in) the
 * debug-exit port through which test guests end ptvm with a status of their choosing.
 */
#ifndef PTVM_DEVICES_POWER_H
#define PTVM_DEVICES_POWER_H

#include <stdbool.h>

#include "vmm/bus.h"

struct vm;

struct power {
	struct vm *vm;
	struct bus_dev acpi;
	struct bus_dev i8042;
	struct bus_dev debug_exit;
	bool debug_exit_enabled;
};

int power_create(struct vm *vm, bool debug_exit, struct power **out);
void power_destroy(struct power *p);

#endif
