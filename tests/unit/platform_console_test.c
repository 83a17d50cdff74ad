// SPDX-License-Identifier: MIT
/*
 * vmm/platform.c, the console UART both architectures build the same way: its registers at the
 * architecture's base on the bus it names (x86: COM1 on the port bus; arm64: an MMIO address
 * beyond a port's 16 bits), its output and interrupt wired, a refused window leaving nothing
 * behind, and platform_common_destroy taking it off its bus, also on a half-built platform.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/irq.h"
#include "devices/uart.h"
#include "vmm/bus.h"
#include "vmm/platform.h"
#include "vmm/util.h"

#include "test_helpers.h"

#define COM1 0x3f8ULL
#define UART_MMIO 0x09000000ULL /* arm64's */
#define UART_THR 0
#define UART_IER 1
#define UART_MCR 4
#define UART_SCR 7
#define IER_THRI 0x02
#define MCR_OUT2 0x08

struct fake_irq {
	struct irq_line line;
	bool level;
};

static void fake_set_level(struct irq_line *line, bool level)
{
	container_of(line, struct fake_irq, line)->level = level;
}

static struct bus bus;
static struct platform pl;
static struct fake_irq irq;
static int out[2]; /* the console's output: [0] what the test reads */

static int setup(void **state)
{
	assert_int_equal(test_log_capture_start(), 0);
	bus_init(&bus, "test");
	memset(&pl, 0, sizeof(pl));
	irq = (struct fake_irq){ .line.set_level = fake_set_level };
	assert_int_equal(pipe2(out, O_NONBLOCK | O_CLOEXEC), 0);
	return 0;
}

static int teardown(void **state)
{
	platform_common_destroy(&pl);
	close(out[0]);
	close(out[1]);
	bus_exit(&bus);
	test_log_capture_stop();
	return 0;
}

static bool bus_write8(uint64_t addr, uint8_t v)
{
	return bus_access(&bus, addr, &v, 1, true);
}

static uint8_t bus_read8(uint64_t addr)
{
	uint8_t v = 0;

	assert_true(bus_access(&bus, addr, &v, 1, false));
	return v;
}

/* The UART answers at base on the bus, writes to serial_fd, raises irq; destroy removes it. */
static void console_at(uint64_t base)
{
	char c = 0;

	assert_int_equal(platform_console_create(&pl, &bus, base, out[1], &irq.line), 0);
	assert_non_null(pl.console);
	assert_ptr_equal(pl.console_bus, &bus);
	assert_int_equal(pl.console->pio.base, base);
	assert_int_equal(bus.nr_devs, 1);

	assert_true(bus_write8(base + UART_SCR, 0x5a));
	assert_int_equal(bus_read8(base + UART_SCR), 0x5a);
	assert_true(bus_write8(base + UART_THR, 'x'));
	assert_int_equal(read(out[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	/* THR empty, THRI enabled, OUT2 set: the THRE interrupt reaches the line */
	assert_true(bus_write8(base + UART_IER, IER_THRI));
	assert_true(bus_write8(base + UART_MCR, MCR_OUT2));
	assert_true(irq.level);

	platform_common_destroy(&pl);
	assert_null(pl.console);
	assert_null(pl.console_bus);
	assert_int_equal(bus.nr_devs, 0);
	assert_false(bus_write8(base + UART_SCR, 0));
}

static void test_console_on_ports(void **state)
{
	console_at(COM1);
}

/* arm64's UART address does not fit uart_create's 16-bit port */
static void test_console_on_mmio(void **state)
{
	console_at(UART_MMIO);
}

static const struct bus_dev_ops no_ops;

/*
 * A window that is taken: the UART is freed, pl->console stays NULL, the bus keeps only the
 * device that was there.
 */
static void test_console_refused_window(void **state)
{
	struct bus_dev taken = { .base = COM1 + 4, .len = 1, .ops = &no_ops, .name = "taken" };

	assert_int_equal(bus_register(&bus, &taken), 0);
	assert_int_equal(platform_console_create(&pl, &bus, COM1, out[1], &irq.line), -EEXIST);
	assert_null(pl.console);
	assert_null(pl.console_bus);
	assert_int_equal(bus.nr_devs, 1);
	platform_common_destroy(&pl);
	assert_int_equal(bus.nr_devs, 1);
	bus_unregister(&bus, &taken);
}

/* Nothing built yet: no PCI host, no console. */
static void test_destroy_empty(void **state)
{
	platform_common_destroy(&pl);
	platform_common_destroy(&pl);
	assert_null(pl.console);
	assert_null(pl.pci);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_console_on_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_on_mmio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_refused_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_empty, setup, teardown),
	};

	return cmocka_run_group_tests_name("platform_console", tests, NULL, NULL);
}
