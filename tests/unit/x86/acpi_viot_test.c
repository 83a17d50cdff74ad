// SPDX-License-Identifier: MIT
/*
 * The ACPI VIOT that names the virtio-iommu and the PCI functions behind it: read back by
 * offsets from the ACPI 6.4 spec (5.2.30, not acpi.c's structs), followed from the XSDT,
 * checksummed, endpoint IDs as Linux's drivers/acpi/viot.c computes them, runs of requester
 * IDs merged into one range node, no VIOT without a vIOMMU, bad configurations refused; and
 * disassembled by an iasl that knows the table (trixie's, tests/acpica-trixie.sh), which must
 * name every node without a complaint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/x86/acpi.h"
#include "vmm/x86/layout.h"

#include "tests/unit/test_helpers.h"

#define BASE ACPI_TABLES_GPA

static uint8_t buf[ACPI_TABLES_SIZE];
static size_t used;

static int build(bool viommu, uint16_t bdf, const uint16_t *eps, unsigned n)
{
	struct acpi_config cfg = { .nr_cpus = 2,
				   .mmio64_start = 0x8000000000ULL,
				   .mmio64_size = PCI_MMIO64_SIZE,
				   .viommu = viommu,
				   .viommu_bdf = bdf,
				   .nr_viommu_endpoints = n,
				   .viommu_endpoints = eps };

	memset(buf, 0, sizeof(buf));
	return acpi_tables_build(&cfg, buf, sizeof(buf), BASE, &used);
}

/* The table with this signature, found through RSDP -> XSDT; NULL if the XSDT lacks it. */
static const uint8_t *find(const char *sig)
{
	const uint8_t *xsdt = buf + (test_le_read(buf + 24, 8) - BASE);
	unsigned n = (unsigned)(test_le_read(xsdt + 4, 4) - 36) / 8;

	assert_memory_equal(xsdt, "XSDT", 4);
	assert_int_equal(test_bytes_sum8(xsdt, test_le_read(xsdt + 4, 4)), 0);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *t = buf + (test_le_read(xsdt + 36 + 8 * i, 8) - BASE);

		assert_true(t >= buf && t + 36 <= buf + used);
		if (!memcmp(t, sig, 4))
			return t;
	}
	return NULL;
}

/* The endpoint ID Linux gives requester ID @rid: viot_pci_dev_iommu_init's formula. */
static long viot_epid(const uint8_t *viot, uint16_t rid, uint16_t *iommu_bdf)
{
	unsigned count = (unsigned)test_le_read(viot + 36, 2);
	unsigned off = (unsigned)test_le_read(viot + 38, 2);

	for (unsigned i = 0; i < count; i++) {
		const uint8_t *node = viot + off;

		if (node[0] == 1 && rid >= test_le_read(node + 12, 2) &&
		    rid <= test_le_read(node + 14, 2)) {
			const uint8_t *out = viot + test_le_read(node + 16, 2);

			assert_int_equal(out[0], 3); /* a virtio-pci IOMMU node */
			assert_int_equal(test_le_read(out + 4, 2), 0);
			*iommu_bdf = (uint16_t)test_le_read(out + 6, 2);
			return (long)(rid - test_le_read(node + 12, 2) + test_le_read(node + 4, 4));
		}
		off += (unsigned)test_le_read(node + 2, 2);
	}
	return -1;
}

static void test_viot_layout(void **state)
{
	/* 00:01.0 is the vIOMMU; behind it 00:02.0-2 (one run of requester IDs) and 00:04.0 */
	const uint16_t eps[] = { 0x20, 0x10, 0x11, 0x12 };
	const uint8_t *v, *node;
	uint16_t ibdf;

	assert_int_equal(build(true, 0x08, eps, 4), 0);
	v = find("VIOT");
	assert_non_null(v);
	assert_int_equal(test_le_read(v + 4, 4), 48 + 16 + 2 * 24);
	assert_int_equal(v[8], 0); /* revision */
	assert_int_equal(test_bytes_sum8(v, test_le_read(v + 4, 4)), 0);
	assert_int_equal(test_le_read(v + 36, 2), 3); /* node count */
	assert_int_equal(test_le_read(v + 38, 2), 48);
	node = v + 48;
	assert_int_equal(node[0], 3);
	assert_int_equal(test_le_read(node + 2, 2), 16);
	assert_int_equal(test_le_read(node + 6, 2), 0x08);
	node += 16;
	assert_int_equal(node[0], 1);
	assert_int_equal(test_le_read(node + 2, 2), 24);
	assert_int_equal(test_le_read(node + 4, 4), 0x10); /* endpoint_start */
	assert_int_equal(test_le_read(node + 8, 2), 0);	   /* segments 0..0 */
	assert_int_equal(test_le_read(node + 10, 2), 0);
	assert_int_equal(test_le_read(node + 12, 2), 0x10);
	assert_int_equal(test_le_read(node + 14, 2), 0x12);
	assert_int_equal(test_le_read(node + 16, 2), 48); /* output node: the IOMMU's offset */
	/* every endpoint gets its own requester ID as endpoint ID, through the vIOMMU */
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(viot_epid(v, eps[i], &ibdf), eps[i]);
		assert_int_equal(ibdf, 0x08);
	}
	/* the vIOMMU itself and a device not behind it are in no range */
	assert_int_equal(viot_epid(v, 0x08, &ibdf), -1);
	assert_int_equal(viot_epid(v, 0x28, &ibdf), -1);
	assert_int_equal(viot_epid(v, 0x13, &ibdf), -1);
}

static void test_no_viot_without_viommu(void **state)
{
	assert_int_equal(build(false, 0, NULL, 0), 0);
	assert_null(find("VIOT"));
	assert_non_null(find("MCFG"));
	/* a vIOMMU with nothing behind it still has its node */
	assert_int_equal(build(true, 0x08, NULL, 0), 0);
	assert_int_equal(test_le_read(find("VIOT") + 36, 2), 1);
}

static void test_bad_configs(void **state)
{
	const uint16_t self[] = { 0x10, 0x08 };

	assert_int_equal(test_log_capture_start(), 0);
	assert_int_equal(build(true, 0x08, self, 2), -EINVAL);
	assert_log_contains("virtio-iommu (00:01.0) cannot translate itself");
	test_log_capture_stop();
}

/* The iasl that knows VIOT: $IASL_VIOT, or the one tests/acpica-trixie.sh unpacked. */
static const char *iasl_viot(void)
{
	const char *p = getenv("IASL_VIOT");

	if (p && *p)
		return p;
	return access("build/acpica/iasl", X_OK) == 0 ? "build/acpica/iasl" : NULL;
}

static void test_iasl_disassembles_viot(void **state)
{
	const uint16_t eps[] = { 0x10, 0x18, 0x30 };
	char dir[] = "/tmp/ptvm-viot-XXXXXX", cmd[1024], out[16384], path[512];
	const char *iasl = iasl_viot();
	const uint8_t *v;
	size_t len = 0, r;
	FILE *f;
	int st;

	if (!iasl) {
		print_message("no iasl that knows the VIOT (tests/acpica-trixie.sh did not run or "
			      "could not download trixie's acpica-tools): skipping\n");
		skip();
	}
	assert_int_equal(build(true, 0x08, eps, 3), 0);
	v = find("VIOT");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/viot.dat", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(v, 1, test_le_read(v + 4, 4), f), test_le_read(v + 4, 4));
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "%s%s -d %s 2>&1 && cat %s/viot.dsl; rm -rf %s",
		 iasl[0] == '/' ? "" : "./", iasl, path, dir, dir);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (len < sizeof(out) - 1 && (r = fread(out + len, 1, sizeof(out) - 1 - len, f)) > 0)
		len += r;
	out[len] = '\0';
	st = pclose(f);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("iasl -d viot.dat failed:\n%s", out);
	/* iasl names the table and each node, and finds nothing wrong */
	if (!strstr(out, "Virtual I/O Translation Table") || !strstr(out, "Node count : 0004") ||
	    !strstr(out, "[VirtIO-PCI IOMMU]") || !strstr(out, "PCI BDF number : 0008") ||
	    !strstr(out, "[PCI Range]") || !strstr(out, "PCI BDF start : 0018") ||
	    !strstr(out, "PCI BDF end : 0018") || !strstr(out, "Endpoint start : 00000030") ||
	    !strstr(out, "Output node : 0030"))
		fail_msg("iasl's view of the VIOT lacks a node:\n%s", out);
	for (const char *bad = "error\0warning\0invalid\0unknown\0incorrect\0"; *bad;
	     bad += strlen(bad) + 1) {
		const char *s = strcasestr(out, bad);

		if (s && !(s >= out + 2 && !strncmp(s - 2, "0 ", 2)))
			fail_msg("iasl on the VIOT says \"%.60s\"\n%s", s, out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_viot_layout),
		cmocka_unit_test(test_no_viot_without_viommu),
		cmocka_unit_test(test_bad_configs),
		cmocka_unit_test(test_iasl_disassembles_viot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
