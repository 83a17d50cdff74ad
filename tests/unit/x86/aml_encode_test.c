// SPDX-License-Identifier: MIT
/*
 * The AML encoders against byte sequences worked out from the ACPI 6.x spec (chapter 20 and
 * section 6.4). acpi_tables_test.c also compares whole objects with what iasl compiles.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/x86/aml.h"
#include "vmm/log.h"

#include "tests/unit/test_helpers.h"

struct aml_fixture {
	struct aml a;
	uint8_t buf[8192];
};

static struct aml *aml_fresh(struct aml_fixture *f)
{
	memset(f->buf, 0xcc, sizeof(f->buf));
	aml_init(&f->a, f->buf, sizeof(f->buf));
	return &f->a;
}

#define assert_aml(a, ...)                                                                         \
	do {                                                                                       \
		const uint8_t want_[] = {__VA_ARGS__};                                             \
		assert_int_equal(aml_error(a), 0);                                                 \
		assert_int_equal((a)->len, sizeof(want_));                                         \
		assert_memory_equal((a)->buf, want_, sizeof(want_));                               \
	} while (0)

static void test_pkglength_encode_boundaries(void **state)
{
	static const struct {
		uint32_t value;
		size_t n;
		uint8_t enc[4];
	} cases[] = {
	    {0, 1, {0x00}},
	    {63, 1, {0x3f}},
	    {64, 2, {0x40, 0x04}},
	    {65, 2, {0x41, 0x04}},
	    {4095, 2, {0x4f, 0xff}},
	    {4096, 3, {0x80, 0x00, 0x01}},
	    {0xfffff, 3, {0x8f, 0xff, 0xff}},
	    {0x100000, 4, {0xc0, 0x00, 0x00, 0x01}},
	    {0x0fffffff, 4, {0xcf, 0xff, 0xff, 0xff}},
	};
	uint8_t out[4];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 0xcc, sizeof(out));
		assert_int_equal(aml_pkglength_encode(cases[i].value, out), cases[i].n);
		assert_memory_equal(out, cases[i].enc, cases[i].n);
	}
	/* 28 bits is all a PkgLength holds. */
	assert_int_equal(aml_pkglength_encode(0x10000000, out), 0);
}

/* A Package with @raw raw bytes after NumElements: body = 1 + raw bytes after the PkgLength. */
static void package_with_body(struct aml *a, size_t body)
{
	size_t mark = aml_package_begin(a, 0);

	for (size_t i = 1; i < body; i++)
		aml_byte(a, 0xaa);
	aml_pkg_end(a, mark);
}

/* The PkgLength counts its own bytes: a body of 63 no longer fits a 1-byte PkgLength. */
static void test_pkg_end_picks_smallest_pkglength(void **state)
{
	static const struct {
		size_t body;
		size_t n;
		uint8_t enc[4];
	} cases[] = {
	    {62, 1, {0x3f}},		   /* 62 + 1 = 63 */
	    {63, 2, {0x41, 0x04}},	   /* 63 + 2 = 65 */
	    {4093, 2, {0x4f, 0xff}},	   /* 4093 + 2 = 4095 */
	    {4094, 3, {0x81, 0x00, 0x01}}, /* 4094 + 3 = 4097 */
	};
	struct aml_fixture f;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml *a = aml_fresh(&f);

		package_with_body(a, cases[i].body);
		assert_int_equal(aml_error(a), 0);
		assert_int_equal(a->len, 1 + cases[i].n + cases[i].body);
		assert_int_equal(a->buf[0], 0x12); /* PackageOp */
		assert_memory_equal(a->buf + 1, cases[i].enc, cases[i].n);
		assert_int_equal(a->buf[1 + cases[i].n], 0); /* NumElements, moved intact */
		assert_int_equal(a->buf[a->len - 1], cases[i].body > 1 ? 0xaa : 0);
		assert_int_equal(a->buf[a->len], 0xcc); /* nothing written past the end */
	}
}

static void test_integer_smallest_encoding(void **state)
{
	struct aml_fixture f;
	struct aml *a;

	a = aml_fresh(&f);
	aml_integer(a, 0);
	assert_aml(a, 0x00); /* ZeroOp */
	a = aml_fresh(&f);
	aml_integer(a, 1);
	assert_aml(a, 0x01); /* OneOp */
	a = aml_fresh(&f);
	aml_integer(a, 2);
	assert_aml(a, 0x0a, 0x02);
	a = aml_fresh(&f);
	aml_integer(a, 0xff);
	assert_aml(a, 0x0a, 0xff);
	a = aml_fresh(&f);
	aml_integer(a, 0x100);
	assert_aml(a, 0x0b, 0x00, 0x01);
	a = aml_fresh(&f);
	aml_integer(a, 0xffff);
	assert_aml(a, 0x0b, 0xff, 0xff);
	a = aml_fresh(&f);
	aml_integer(a, 0x10000);
	assert_aml(a, 0x0c, 0x00, 0x00, 0x01, 0x00);
	a = aml_fresh(&f);
	aml_integer(a, 0xffffffff);
	assert_aml(a, 0x0c, 0xff, 0xff, 0xff, 0xff);
	a = aml_fresh(&f);
	aml_integer(a, 0x100000000ULL);
	assert_aml(a, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00);
	a = aml_fresh(&f);
	aml_integer(a, UINT64_MAX);
	assert_aml(a, 0xff); /* OnesOp */
}

static void test_name_strings(void **state)
{
	struct aml_fixture f;
	struct aml *a;

	a = aml_fresh(&f);
	aml_name(a, "COM1");
	assert_aml(a, 'C', 'O', 'M', '1');
	a = aml_fresh(&f);
	aml_name(a, "_S5");
	assert_aml(a, '_', 'S', '5', '_'); /* padded */
	a = aml_fresh(&f);
	aml_name(a, "\\_SB");
	assert_aml(a, '\\', '_', 'S', 'B', '_');
	a = aml_fresh(&f);
	aml_name(a, "\\_SB.PCI0");
	assert_aml(a, '\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'); /* DualNamePrefix */
	a = aml_fresh(&f);
	aml_name(a, "\\_SB.PCI0.S08");
	assert_aml(a, '\\', 0x2f, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'S', '0', '8', '_');
	a = aml_fresh(&f);
	aml_name(a, "^^FOO");
	assert_aml(a, '^', '^', 'F', 'O', 'O', '_');
	a = aml_fresh(&f);
	aml_name(a, "\\");
	assert_aml(a, '\\', 0x00); /* NullName */
}

static void test_name_strings_bad(void **state)
{
	static const char *const bad[] = {"pci0", "TOOLONG", "1ABC", "A..B",
					  "A.",	  ".A",	     "A-B",  "\\\\A"};
	struct aml_fixture f;
	char log[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct aml *a = aml_fresh(&f);

		test_log_take(log, sizeof(log));
		aml_name(a, bad[i]);
		assert_int_equal(aml_error(a), -EINVAL);
		/* One line naming the culprit. */
		test_log_take(log, sizeof(log));
		assert_non_null(strstr(log, bad[i]));
		assert_non_null(strchr(log, '\n'));
		assert_ptr_equal(strchr(log, '\n'), log + strlen(log) - 1);
		assert_int_equal(a->len, 0);
		/* Sticky: later calls emit nothing and keep the first error. */
		aml_integer(a, 5);
		assert_int_equal(a->len, 0);
		assert_int_equal(aml_error(a), -EINVAL);
	}
}

static void test_string_and_eisaid(void **state)
{
	struct aml_fixture f;
	struct aml *a;

	a = aml_fresh(&f);
	aml_string(a, "ab");
	assert_aml(a, 0x0d, 'a', 'b', 0);
	a = aml_fresh(&f);
	aml_eisaid(a, "PNP0A08");
	assert_aml(a, 0x0c, 0x41, 0xd0, 0x0a, 0x08);
	a = aml_fresh(&f);
	aml_eisaid(a, "PNP0501");
	assert_aml(a, 0x0c, 0x41, 0xd0, 0x05, 0x01);
	a = aml_fresh(&f);
	aml_eisaid(a, "pnp0a08");
	assert_int_equal(aml_error(a), -EINVAL);
	a = aml_fresh(&f);
	aml_eisaid(a, "PNP0A0");
	assert_int_equal(aml_error(a), -EINVAL);
	a = aml_fresh(&f);
	aml_eisaid(a, "PNP0A0G");
	assert_int_equal(aml_error(a), -EINVAL);
}

static void test_named_objects(void **state)
{
	struct aml_fixture f;
	struct aml *a;
	size_t m;

	a = aml_fresh(&f);
	aml_name_integer(a, "_UID", 1);
	assert_aml(a, 0x08, '_', 'U', 'I', 'D', 0x01);

	/* Method (_OSC, 4, NotSerialized) { Return (Arg3) } */
	a = aml_fresh(&f);
	m = aml_method_begin(a, "_OSC", 4, false);
	aml_return(a);
	aml_arg(a, 3);
	aml_pkg_end(a, m);
	assert_aml(a, 0x14, 0x08, '_', 'O', 'S', 'C', 0x04, 0xa4, 0x6b);

	a = aml_fresh(&f);
	m = aml_method_begin(a, "LOCK", 1, true);
	aml_return(a);
	aml_local(a, 7);
	aml_pkg_end(a, m);
	assert_aml(a, 0x14, 0x08, 'L', 'O', 'C', 'K', 0x09, 0xa4, 0x67);

	/* Scope (\_SB) { Device (COM1) { } } */
	a = aml_fresh(&f);
	m = aml_scope_begin(a, "\\_SB");
	{
		size_t d = aml_device_begin(a, "COM1");

		aml_pkg_end(a, d);
	}
	aml_pkg_end(a, m);
	assert_aml(a, 0x10, 0x0d, '\\', '_', 'S', 'B', '_', 0x5b, 0x82, 0x05, 'C', 'O', 'M', '1');

	/* Package (0x02) { 0x05, Zero } */
	a = aml_fresh(&f);
	m = aml_package_begin(a, 2);
	aml_integer(a, 5);
	aml_integer(a, 0);
	aml_pkg_end(a, m);
	assert_aml(a, 0x12, 0x05, 0x02, 0x0a, 0x05, 0x00);

	a = aml_fresh(&f);
	aml_arg(a, 7);
	assert_int_equal(aml_error(a), -EINVAL);
	a = aml_fresh(&f);
	aml_package_begin(a, 256);
	assert_int_equal(aml_error(a), -EINVAL);
	a = aml_fresh(&f);
	aml_method_begin(a, "M", 8, false);
	assert_int_equal(aml_error(a), -EINVAL);
}

static void test_buffers(void **state)
{
	static const uint8_t three[] = {1, 2, 3};
	uint8_t big[300];
	struct aml_fixture f;
	struct aml *a;

	/* The PkgLength covers itself, the BufferSize and the bytes. */
	a = aml_fresh(&f);
	aml_buffer(a, three, sizeof(three));
	assert_aml(a, 0x11, 0x06, 0x0a, 0x03, 1, 2, 3);
	a = aml_fresh(&f);
	aml_buffer(a, NULL, 0);
	assert_aml(a, 0x11, 0x02, 0x00);

	/* 300 bytes: BufferSize is a WordConst, the PkgLength 2 bytes = 2 + 3 + 300 = 305. */
	memset(big, 0x5a, sizeof(big));
	a = aml_fresh(&f);
	aml_buffer(a, big, sizeof(big));
	assert_int_equal(aml_error(a), 0);
	assert_int_equal(a->len, 1 + 2 + 3 + 300);
	assert_int_equal(a->buf[1], 0x40 | (305 & 0xf));
	assert_int_equal(a->buf[2], 305 >> 4);
	assert_int_equal(a->buf[3], 0x0b);
	assert_int_equal(a->buf[4], 300 & 0xff);
	assert_int_equal(a->buf[5], 300 >> 8);
	assert_memory_equal(a->buf + 6, big, sizeof(big));
}

static void test_resource_template_com1(void **state)
{
	struct aml_fixture f;
	struct aml *a = aml_fresh(&f);
	size_t m;

	/* ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags () {4} } */
	m = aml_resource_template_begin(a);
	aml_io(a, 0x3f8, 0x3f8, 1, 8);
	aml_irq_noflags(a, 4);
	aml_resource_template_end(a, m);
	assert_aml(a, 0x11, 0x10, 0x0a, 0x0d,			   /* Buffer, 13 bytes */
		   0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, /* IO */
		   0x22, 0x10, 0x00,				   /* IRQNoFlags {4} */
		   0x79, 0x0e);					   /* EndTag */
	/* The EndTag checksum makes the descriptors sum to zero. */
	assert_int_equal(test_bytes_sum8(a->buf + 4, 13), 0);
}

static void test_address_space_descriptors(void **state)
{
	struct aml_fixture f;
	struct aml *a;

	a = aml_fresh(&f);
	aml_word_bus_number(a, 0, 0xff);
	assert_aml(a, 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0x00, 0x00, 0xff, 0x00, 0, 0, 0x00,
		   0x01);
	a = aml_fresh(&f);
	aml_word_io(a, 0x0d00, 0xffff);
	assert_aml(a, 0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0x00, 0x0d, 0xff, 0xff, 0, 0, 0x00,
		   0xf3);
	a = aml_fresh(&f);
	aml_dword_io(a, 0x1000, 0x1fff);
	assert_aml(a, 0x87, 0x17, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0, 0, 0x00, 0x10, 0, 0, 0xff, 0x1f,
		   0, 0, 0, 0, 0, 0, 0x00, 0x10, 0, 0);
	a = aml_fresh(&f);
	aml_dword_memory(a, 0, 0xc0000000, 0xdfffffff);
	assert_aml(a, 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff,
		   0xff, 0xdf, 0, 0, 0, 0, 0, 0, 0, 0x20);
	a = aml_fresh(&f);
	aml_dword_memory(a, AML_MEM_CONSUMER | AML_MEM_CACHEABLE, 0xe0000000, 0xefffffff);
	assert_int_equal(a->buf[4], 0x0d); /* ResourceConsumer, MinFixed, MaxFixed */
	assert_int_equal(a->buf[5], 0x03); /* Cacheable, ReadWrite */
	a = aml_fresh(&f);
	aml_qword_memory(a, AML_MEM_CACHEABLE, 0x8000000000ULL, 0x8fffffffffULL);
	assert_aml(a, 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x03, /* header, flags */
		   0, 0, 0, 0, 0, 0, 0, 0,		  /* granularity */
		   0, 0, 0, 0, 0x80, 0, 0, 0,		  /* min */
		   0xff, 0xff, 0xff, 0xff, 0x8f, 0, 0, 0, /* max */
		   0, 0, 0, 0, 0, 0, 0, 0,		  /* translation */
		   0, 0, 0, 0, 0x10, 0, 0, 0);		  /* length */

	a = aml_fresh(&f);
	aml_word_io(a, 0x100, 0xff);
	assert_int_equal(aml_error(a), -EINVAL);
	assert_int_equal(a->len, 0);
}

static void test_interrupt_descriptors(void **state)
{
	struct aml_fixture f;
	struct aml *a;

	/* Interrupt (ResourceConsumer, Level, ActiveLow, Shared) {20} */
	a = aml_fresh(&f);
	aml_interrupt(a, AML_IRQ_ACTIVE_LOW | AML_IRQ_SHARED, 20);
	assert_aml(a, 0x89, 0x06, 0x00, 0x0d, 0x01, 0x14, 0, 0, 0);
	/* Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {0x12345} */
	a = aml_fresh(&f);
	aml_interrupt(a, AML_IRQ_EDGE, 0x12345);
	assert_aml(a, 0x89, 0x06, 0x00, 0x03, 0x01, 0x45, 0x23, 0x01, 0x00);
	a = aml_fresh(&f);
	aml_irq_noflags(a, 15);
	assert_aml(a, 0x22, 0x00, 0x80);
	a = aml_fresh(&f);
	aml_irq_noflags(a, 16);
	assert_int_equal(aml_error(a), -EINVAL);
}

/* A full buffer is -ENOSPC, never a write past its end, whichever call runs out. */
static void test_out_of_space(void **state)
{
	uint8_t buf[16];
	struct aml a;
	size_t m;

	for (size_t size = 0; size < 12; size++) {
		memset(buf, 0xcc, sizeof(buf));
		aml_init(&a, buf, size);
		m = aml_method_begin(&a, "_OSC", 4, false);
		aml_return(&a);
		aml_arg(&a, 3);
		aml_pkg_end(&a, m);
		if (size < 9)
			assert_int_equal(aml_error(&a), -ENOSPC);
		else
			assert_int_equal(aml_error(&a), 0);
		assert_true(a.len <= size);
		for (size_t i = size; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0xcc);
	}

	/* An end whose mark lies beyond what was emitted (unbalanced) is -EINVAL, not a crash. */
	aml_init(&a, buf, sizeof(buf));
	aml_pkg_end(&a, 5);
	assert_int_equal(aml_error(&a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pkglength_encode_boundaries),
	    cmocka_unit_test(test_pkg_end_picks_smallest_pkglength),
	    cmocka_unit_test(test_integer_smallest_encoding),
	    cmocka_unit_test(test_name_strings),
	    cmocka_unit_test(test_name_strings_bad),
	    cmocka_unit_test(test_string_and_eisaid),
	    cmocka_unit_test(test_named_objects),
	    cmocka_unit_test(test_buffers),
	    cmocka_unit_test(test_resource_template_com1),
	    cmocka_unit_test(test_address_space_descriptors),
	    cmocka_unit_test(test_interrupt_descriptors),
	    cmocka_unit_test(test_out_of_space),
	};

	int ret;

	/* The bad-input cases log one line each: captured, checked, kept out of the output. */
	if (test_log_capture_start())
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	test_log_capture_stop();
	return ret;
}
