// SPDX-License-Identifier: MIT
/*
 * vmm/bus.c: address decoding (the right device, the offset from its base), all ones for an
 * unhandled read, refusal of overlapping or empty windows, unregistration.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/bus.h"
#include "vmm/log.h"

#include "test_helpers.h"
#include "vmm/util.h"

struct fake_dev {
	struct bus_dev bd;
	unsigned reads, writes;
	uint64_t last_offset;
	unsigned last_len;
	uint8_t last_data[8];
	uint8_t read_value;
};

static void fake_read(struct bus_dev *bd, uint64_t offset, void *data, unsigned len)
{
	struct fake_dev *d = container_of(bd, struct fake_dev, bd);

	d->reads++;
	d->last_offset = offset;
	d->last_len = len;
	memset(data, d->read_value, len);
}

static void fake_write(struct bus_dev *bd, uint64_t offset, const void *data, unsigned len)
{
	struct fake_dev *d = container_of(bd, struct fake_dev, bd);

	d->writes++;
	d->last_offset = offset;
	d->last_len = len;
	memcpy(d->last_data, data, len);
}

static const struct bus_dev_ops fake_ops = { .read = fake_read, .write = fake_write };
static const struct bus_dev_ops write_only_ops = { .write = fake_write };
static const struct bus_dev_ops read_only_ops = { .read = fake_read };

static void fake_init(struct fake_dev *d, const char *name, uint64_t base, uint64_t len,
		      uint8_t value)
{
	*d = (struct fake_dev){
		.bd = { .base = base, .len = len, .ops = &fake_ops, .name = name },
		.read_value = value,
	};
}

static struct bus bus;

static int setup(void **state)
{
	assert_int_equal(test_log_capture_start(), 0);
	bus_init(&bus, "test");
	return 0;
}

static int teardown(void **state)
{
	bus_exit(&bus);
	test_log_capture_stop();
	return 0;
}

static uint32_t read32(uint64_t addr, bool *hit)
{
	uint32_t v = 0x12345678;

	*hit = bus_access(&bus, addr, &v, 4, false);
	return v;
}

static void test_dispatch_to_the_right_device(void **state)
{
	struct fake_dev a, b, c;
	bool hit;
	uint16_t w = 0xbeef;

	/* registered out of order, adjacent, and one far away */
	fake_init(&b, "b", 0x3f8, 8, 0xbb);
	fake_init(&a, "a", 0x3f0, 8, 0xaa);
	fake_init(&c, "c", 0xcf8, 4, 0xcc);
	assert_int_equal(bus_register(&bus, &b.bd), 0);
	assert_int_equal(bus_register(&bus, &c.bd), 0);
	assert_int_equal(bus_register(&bus, &a.bd), 0);

	assert_int_equal(read32(0x3f0, &hit), 0xaaaaaaaa);
	assert_true(hit);
	assert_int_equal(a.last_offset, 0);
	assert_int_equal(a.last_len, 4);
	assert_int_equal(read32(0x3f4, &hit), 0xaaaaaaaa);
	assert_int_equal(a.last_offset, 4);
	assert_int_equal(read32(0x3f8, &hit), 0xbbbbbbbb);
	assert_int_equal(b.last_offset, 0);
	assert_int_equal(read32(0x3fc, &hit), 0xbbbbbbbb);
	assert_int_equal(b.last_offset, 4);
	assert_int_equal(read32(0xcf8, &hit), 0xcccccccc);
	assert_int_equal(c.last_offset, 0);
	assert_int_equal(a.reads, 2);
	assert_int_equal(b.reads, 2);
	assert_int_equal(c.reads, 1);

	/* writes: offset, length and data reach the device unchanged */
	assert_true(bus_access(&bus, 0x3fd, &w, 2, true));
	assert_int_equal(b.writes, 1);
	assert_int_equal(b.last_offset, 5);
	assert_int_equal(b.last_len, 2);
	assert_int_equal(b.last_data[0], 0xef);
	assert_int_equal(b.last_data[1], 0xbe);
	assert_int_equal(a.writes + c.writes, 0);

	/* one byte at the last address of a window */
	{
		uint8_t v = 0;

		assert_true(bus_access(&bus, 0x3ff, &v, 1, false));
		assert_int_equal(v, 0xbb);
		assert_int_equal(b.last_offset, 7);
	}
}

static void test_unhandled_reads_all_ones(void **state)
{
	struct fake_dev a;
	uint64_t v;
	bool hit;

	/* empty bus */
	assert_int_equal(read32(0x80, &hit), 0xffffffff);
	assert_false(hit);

	fake_init(&a, "a", 0x1000, 0x10, 0x11);
	assert_int_equal(bus_register(&bus, &a.bd), 0);
	/* just below, just past, far away, and at the top of the address space */
	assert_int_equal(read32(0xfff, &hit), 0xffffffff);
	assert_false(hit);
	assert_int_equal(read32(0x1010, &hit), 0xffffffff);
	assert_false(hit);
	assert_int_equal(read32(0xfffffff0, &hit), 0xffffffff);
	assert_false(hit);
	v = 0;
	assert_false(bus_access(&bus, UINT64_MAX - 3, &v, 8, false));
	assert_int_equal(v, UINT64_MAX);
	/* an access that starts inside but runs past the end is not the device's */
	assert_int_equal(read32(0x100e, &hit), 0xffffffff);
	assert_false(hit);
	assert_int_equal(a.reads, 0);
	/* an unhandled write goes nowhere */
	v = 0x55;
	assert_false(bus_access(&bus, 0x100e, &v, 4, true));
	assert_false(bus_access(&bus, 0x2000, &v, 1, true));
	assert_int_equal(a.writes, 0);
	/* all ones in exactly len bytes: the rest of the caller's buffer is untouched */
	{
		uint8_t buf[4] = { 0, 0, 0, 0 };

		assert_false(bus_access(&bus, 0x3000, buf, 2, false));
		assert_int_equal(buf[0], 0xff);
		assert_int_equal(buf[1], 0xff);
		assert_int_equal(buf[2], 0);
	}
}

static void test_devices_without_a_handler(void **state)
{
	struct fake_dev wo, ro;
	uint32_t v = 0;

	fake_init(&wo, "wo", 0x10, 4, 0x22);
	wo.bd.ops = &write_only_ops;
	fake_init(&ro, "ro", 0x20, 4, 0x33);
	ro.bd.ops = &read_only_ops;
	assert_int_equal(bus_register(&bus, &wo.bd), 0);
	assert_int_equal(bus_register(&bus, &ro.bd), 0);
	/* a write-only device reads all ones but still claims the access */
	assert_true(bus_access(&bus, 0x10, &v, 4, false));
	assert_int_equal(v, 0xffffffff);
	/* writing a read-only device is dropped without a crash */
	assert_true(bus_access(&bus, 0x20, &v, 4, true));
	assert_int_equal(ro.writes, 0);
}

static void test_overlap_refused(void **state)
{
	static const struct {
		uint64_t base, len;
	} overlaps[] = {
		{ 0x100, 0x10 }, { 0xff, 2 },	  { 0x10f, 1 },
		{ 0x104, 4 },	 { 0x0, 0x1000 }, { 0x108, UINT64_MAX - 0x108 },
	};
	struct fake_dev a, o, edge;
	char log[2048];
	bool hit;

	fake_init(&a, "uart", 0x100, 0x10, 0xaa);
	assert_int_equal(bus_register(&bus, &a.bd), 0);
	/* the refusal is logged at debug level only: a guest moving BARs must not flood the log */
	log_level = LOG_DEBUG;
	for (unsigned i = 0; i < ARRAY_SIZE(overlaps); i++) {
		fake_init(&o, "intruder", overlaps[i].base, overlaps[i].len, 0xee);
		assert_int_equal(bus_register(&bus, &o.bd), -EEXIST);
	}
	log_level = LOG_WARN;
	assert_int_equal(bus.nr_devs, 1);
	assert_int_equal(read32(0x100, &hit), 0xaaaaaaaa);
	/* the refusal names both */
	test_log_peek(log, sizeof(log));
	assert_non_null(strstr(log, "intruder"));
	assert_non_null(strstr(log, "uart"));

	/* empty and wrapping windows */
	fake_init(&o, "empty", 0x200, 0, 0xee);
	assert_int_equal(bus_register(&bus, &o.bd), -EINVAL);
	fake_init(&o, "wraps", UINT64_MAX - 1, 4, 0xee);
	assert_int_equal(bus_register(&bus, &o.bd), -EINVAL);
	/* touching is fine */
	fake_init(&edge, "edge", 0x110, 0x10, 0xed);
	assert_int_equal(bus_register(&bus, &edge.bd), 0);
	assert_int_equal(read32(0x10c, &hit), 0xaaaaaaaa);
	assert_int_equal(read32(0x110, &hit), 0xedededed);
}

static void test_unregister(void **state)
{
	struct fake_dev a, b, c;
	bool hit;

	fake_init(&a, "a", 0x10, 4, 0xaa);
	fake_init(&b, "b", 0x20, 4, 0xbb);
	fake_init(&c, "c", 0x30, 4, 0xcc);
	assert_int_equal(bus_register(&bus, &a.bd), 0);
	assert_int_equal(bus_register(&bus, &b.bd), 0);
	assert_int_equal(bus_register(&bus, &c.bd), 0);
	bus_unregister(&bus, &b.bd);
	assert_int_equal(read32(0x20, &hit), 0xffffffff);
	assert_false(hit);
	assert_int_equal(b.reads, 0);
	/* the neighbours still decode */
	assert_int_equal(read32(0x10, &hit), 0xaaaaaaaa);
	assert_int_equal(read32(0x30, &hit), 0xcccccccc);
	/* unregistering twice, or a device never registered, is harmless */
	bus_unregister(&bus, &b.bd);
	assert_int_equal(bus.nr_devs, 2);
	/* the window can be taken again, e.g. by a BAR moved there */
	fake_init(&b, "b2", 0x1e, 8, 0xb2);
	assert_int_equal(bus_register(&bus, &b.bd), 0);
	assert_int_equal(read32(0x20, &hit), 0xb2b2b2b2);
	assert_int_equal(b.last_offset, 2);
}

static void test_many_devices_lookup(void **state)
{
	static struct fake_dev devs[BUS_MAX_DEVS];
	struct fake_dev extra;
	bool hit;

	/* fill the bus in a scrambled order; every one decodes at its own address */
	for (unsigned i = 0; i < BUS_MAX_DEVS; i++) {
		unsigned k = (i * 97) % BUS_MAX_DEVS;

		fake_init(&devs[k], "d", 0x10000 + 0x100ULL * k, 0x80, (uint8_t)k);
		assert_int_equal(bus_register(&bus, &devs[k].bd), 0);
	}
	for (unsigned k = 0; k < BUS_MAX_DEVS; k++) {
		uint8_t v = (uint8_t)k;

		assert_int_equal(read32(0x10000 + 0x100ULL * k + 0x7c, &hit),
				 (uint32_t)v * 0x01010101U);
		assert_true(hit);
		assert_int_equal(devs[k].last_offset, 0x7c);
		/* the gap after each window */
		assert_int_equal(read32(0x10000 + 0x100ULL * k + 0x80, &hit), 0xffffffff);
		assert_false(hit);
	}
	fake_init(&extra, "extra", 0x1000, 4, 0);
	assert_int_equal(bus_register(&bus, &extra.bd), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dispatch_to_the_right_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unhandled_reads_all_ones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_devices_without_a_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unregister, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_devices_lookup, setup, teardown),
	};

	return cmocka_run_group_tests_name("bus_dispatch", tests, NULL, NULL);
}
