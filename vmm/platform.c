// SPDX-License-Identifier: MIT
/*
 * What every architecture's platform builds and tears down the same way: the console UART on
 * the bus the architecture puts it on (x86: ports; arm64: MMIO), and the teardown of it and of
 * the PCI host. arch_platform_create and arch_platform_destroy call these around their own
 * devices.
 */
#include "platform.h"

#include "bus.h"
#include "devices/pci.h"
#include "devices/uart.h"

int platform_console_create(struct platform *pl, struct bus *bus, uint64_t base, int serial_fd,
			    struct irq_line *irq)
{
	/* uart_create takes a port; base may be an MMIO address beyond 16 bits (arm64) */
	int ret = uart_create(0, serial_fd, irq, &pl->console);

	if (ret)
		return ret;
	pl->console->pio.base = base;
	ret = bus_register(bus, &pl->console->pio);
	if (ret) {
		uart_destroy(pl->console);
		pl->console = NULL;
		return ret;
	}
	pl->console_bus = bus;
	return 0;
}

void platform_common_destroy(struct platform *pl)
{
	pci_bus_destroy(pl->pci);
	pl->pci = NULL;
	if (pl->console) {
		bus_unregister(pl->console_bus, &pl->console->pio);
		uart_destroy(pl->console);
		pl->console = NULL;
		pl->console_bus = NULL;
	}
}
