// SPDX-License-Identifier: MIT
#include "power.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "vmm/log.h"
#include "vmm/machine.h"
#include "vmm/util.h"

#define I8042_CMD_PULSE_RESET 0xfe

static uint64_t power_value(const void *data, unsigned len)
{
	uint64_t v = 0;

	memcpy(&v, data, MIN(len, sizeof(v)));
	return v;
}

/* ACPI_SLEEP_CTL_PORT, ACPI_SLEEP_STS_PORT, ACPI_RESET_PORT: three consecutive bytes */
static void power_acpi_read(struct bus_dev *dev, uint64_t off, void *data, unsigned len)
{
	memset(data, 0, len); /* never "woken", never sleeping */
}

static void power_acpi_write(struct bus_dev *dev, uint64_t off, const void *data, unsigned len)
{
	struct power *p = container_of(dev, struct power, acpi);
	uint8_t v = (uint8_t)power_value(data, len);

	if (off == ACPI_SLEEP_CTL_PORT - ACPI_SLEEP_CTL_PORT && (v & ACPI_SLP_EN)) {
		unsigned slp_typ = (v >> 2) & 7;

		if (slp_typ == ACPI_S5_SLP_TYP)
			vm_request_exit(p->vm, PTVM_EXIT_POWEROFF, "guest ACPI power-off (S5)");
		else
			pr_warn_ratelimited(
			    "acpi: guest asked for sleep type %u, which ptvm does not have",
			    slp_typ);
	} else if (off == ACPI_RESET_PORT - ACPI_SLEEP_CTL_PORT && v == ACPI_RESET_VALUE) {
		vm_request_exit(p->vm, PTVM_EXIT_REBOOT, "guest ACPI reset");
	}
}

static const struct bus_dev_ops power_acpi_ops = {
	.read = power_acpi_read,
	.write = power_acpi_write,
};

/* Ports 0x60-0x64: status reads as "no data, input buffer empty" so that a guest waiting
 * to send the reset command proceeds at once. There is no keyboard behind it. */
static void power_i8042_read(struct bus_dev *dev, uint64_t off, void *data, unsigned len)
{
	memset(data, 0, len);
}

static void power_i8042_write(struct bus_dev *dev, uint64_t off, const void *data, unsigned len)
{
	struct power *p = container_of(dev, struct power, i8042);

	if (off == I8042_CMD_PORT - I8042_DATA_PORT &&
	    (uint8_t)power_value(data, len) == I8042_CMD_PULSE_RESET)
		vm_request_exit(p->vm, PTVM_EXIT_REBOOT, "guest reset through the i8042");
}

static const struct bus_dev_ops power_i8042_ops = {
	.read = power_i8042_read,
	.write = power_i8042_write,
};

static void power_debug_exit_write(struct bus_dev *dev, uint64_t off, const void *data,
				   unsigned len)
{
	struct power *p = container_of(dev, struct power, debug_exit);
	uint64_t v = power_value(data, len);
	char why[48];

	snprintf(why, sizeof(why), "debug-exit port written with %llu", (unsigned long long)v);
	vm_request_exit(p->vm, (int)(v & 0xff), why);
}

static const struct bus_dev_ops power_debug_exit_ops = {
	.write = power_debug_exit_write,
};

int power_create(struct vm *vm, bool debug_exit, struct power **out)
{
	struct power *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	p->vm = vm;
	p->acpi = (struct bus_dev){ .base = ACPI_SLEEP_CTL_PORT,
				    .len = ACPI_RESET_PORT - ACPI_SLEEP_CTL_PORT + 1,
				    .ops = &power_acpi_ops,
				    .name = "acpi-power" };
	p->i8042 = (struct bus_dev){ .base = I8042_DATA_PORT,
				     .len = I8042_CMD_PORT - I8042_DATA_PORT + 1,
				     .ops = &power_i8042_ops,
				     .name = "i8042" };
	p->debug_exit = (struct bus_dev){ .base = DEBUG_EXIT_PORT,
					  .len = 4,
					  .ops = &power_debug_exit_ops,
					  .name = "debug-exit" };
	ret = vm_register_pio(vm, &p->acpi);
	if (ret)
		goto out_free;
	ret = vm_register_pio(vm, &p->i8042);
	if (ret)
		goto out_unregister_acpi;
	if (debug_exit) {
		ret = vm_register_pio(vm, &p->debug_exit);
		if (ret)
			goto out_unregister_i8042;
		p->debug_exit_enabled = true;
	}
	*out = p;
	return 0;

out_unregister_i8042:
	vm_unregister_pio(vm, &p->i8042);
out_unregister_acpi:
	vm_unregister_pio(vm, &p->acpi);
out_free:
	free(p);
	return ret;
}

void power_destroy(struct power *p)
{
	if (!p)
		return;
	if (p->debug_exit_enabled)
		vm_unregister_pio(p->vm, &p->debug_exit);
	vm_unregister_pio(p->vm, &p->i8042);
	vm_unregister_pio(p->vm, &p->acpi);
	free(p);
}
