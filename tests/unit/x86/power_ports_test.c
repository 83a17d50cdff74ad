// SPDX-License-Identifier: MIT
/*
 * devices/power.c through its ports, as a guest writes them: ACPI S5 powers off, the ACPI
 * reset register and the i8042 pulse reset reboot, other sleep types are refused with a
 * warning that stays bounded however often the guest asks, junk widths and values do nothing,
 * and the debug-exit port exists only when asked for.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/x86/power.h"
#include "vmm/x86/layout.h"
#include "vmm/log.h"

#include "tests/unit/fake_vm.h"
#include "tests/unit/test_helpers.h"

struct fixture {
	struct vm vm;
	struct power *p;
};

static struct fixture *fixture_create(bool debug_exit)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	bus_init(&f->vm.pio, "pio");
	bus_init(&f->vm.mmio, "mmio");
	assert_int_equal(power_create(&f->vm, debug_exit, &f->p), 0);
	test_log_forget();
	return f;
}

static void fixture_destroy(struct fixture *f)
{
	power_destroy(f->p);
	assert_int_equal(f->vm.pio.nr_devs, 0);
	bus_exit(&f->vm.pio);
	bus_exit(&f->vm.mmio);
	free(f);
}

static bool outb(struct fixture *f, uint16_t port, uint8_t v)
{
	return bus_access(&f->vm.pio, port, &v, 1, true);
}

static void test_s5_powers_off(void **state)
{
	struct fixture *f = fixture_create(false);

	assert_true(outb(f, ACPI_SLEEP_CTL_PORT, ACPI_S5_SLP_TYP << 2 | ACPI_SLP_EN));
	assert_int_equal(f->vm.exit_requests, 1);
	assert_int_equal(f->vm.exit_status, PTVM_EXIT_POWEROFF);
	fixture_destroy(f);
}

static void test_resets_reboot(void **state)
{
	struct fixture *f = fixture_create(false);

	assert_true(outb(f, ACPI_RESET_PORT, ACPI_RESET_VALUE));
	assert_int_equal(f->vm.exit_status, PTVM_EXIT_REBOOT);
	fixture_destroy(f);
	f = fixture_create(false);
	assert_true(outb(f, I8042_CMD_PORT, 0xfe));
	assert_int_equal(f->vm.exit_status, PTVM_EXIT_REBOOT);
	fixture_destroy(f);
}

/* Every other value, at every width, on every port: nothing happens, and a guest asking for
 * sleep states ptvm lacks over and over gets a bounded log. */
static void test_garbage_does_nothing_bounded_log(void **state)
{
	struct fixture *f = fixture_create(false);
	uint64_t v;

	for (unsigned rep = 0; rep < 20; rep++) {
		for (unsigned port = I8042_DATA_PORT; port <= I8042_CMD_PORT; port++)
			for (unsigned x = 0; x < 256; x++)
				if (!(port == I8042_CMD_PORT && x == 0xfe))
					outb(f, (uint16_t)port, (uint8_t)x);
		for (unsigned x = 0; x < 256; x++) {
			if ((x & ACPI_SLP_EN) && ((x >> 2) & 7) == ACPI_S5_SLP_TYP)
				continue;
			outb(f, ACPI_SLEEP_CTL_PORT, (uint8_t)x);
			if (x != ACPI_RESET_VALUE)
				outb(f, ACPI_RESET_PORT, (uint8_t)x);
		}
	}
	v = 0xffffffffffffffffULL;
	bus_access(&f->vm.pio, ACPI_SLEEP_CTL_PORT + 1, &v, 4, false);
	assert_int_equal(f->vm.exit_requests, 0);
	assert_log_contains("sleep type");
	assert_log_bounded(1);
	fixture_destroy(f);
}

static void test_debug_exit_only_when_asked(void **state)
{
	struct fixture *f = fixture_create(false);
	uint32_t v = 7;

	assert_false(bus_access(&f->vm.pio, DEBUG_EXIT_PORT, &v, 4, true));
	assert_int_equal(f->vm.exit_requests, 0);
	fixture_destroy(f);
	f = fixture_create(true);
	assert_true(bus_access(&f->vm.pio, DEBUG_EXIT_PORT, &v, 4, true));
	assert_int_equal(f->vm.exit_status, 7);
	fixture_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s5_powers_off),
		cmocka_unit_test(test_resets_reboot),
		cmocka_unit_test(test_garbage_does_nothing_bounded_log),
		cmocka_unit_test(test_debug_exit_only_when_asked),
	};

	return cmocka_run_group_tests(tests, test_log_setup, test_log_teardown);
}
