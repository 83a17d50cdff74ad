// SPDX-License-Identifier: MIT
/*
 * arm64_fdt_build: the device tree is read back with libfdt (every node and property the guest
 * kernel relies on, phandles resolved) and decompiled by `dtc -I dtb -O dts`, which must accept
 * it without a warning; a buffer that is too small fails cleanly.
 */
#include "tests/unit/test_helpers.h"

#include <libfdt.h>
#include <stdlib.h>

#include "vmm/arm64/fdt.h"
#include "vmm/arm64/layout.h"

#define RAM_SIZE (512ULL << 20)
#define MMIO64_START 0x8000000000ULL

static unsigned test_intx_spi(unsigned slot, unsigned pin)
{
	return PCI_INTX_GSI_BASE + ((slot + pin - 1) & (PCI_INTX_GSI_COUNT - 1));
}

static uint64_t mpidrs[GIC_MAX_CPUS];

static struct arm64_fdt_config test_config(unsigned nr_cpus)
{
	struct arm64_fdt_config cfg = {
		.ram_gpa = RAM_GPA,
		.ram_size = RAM_SIZE,
		.nr_cpus = nr_cpus,
		.mpidr = mpidrs,
		.bootargs = "console=ttyS0 panic=-1",
		.initrd_gpa = RAM_GPA + 0x1000000,
		.initrd_size = 0x234000,
		.mmio64_start = MMIO64_START,
		.mmio64_size = PCI_MMIO64_SIZE,
		.kaslr_seed = 0x1122334455667788ULL,
	};

	/* as KVM numbers them: Aff0 = index % 16, Aff1 = index / 16, bit 31 (RES1) set */
	for (unsigned i = 0; i < GIC_MAX_CPUS; i++)
		mpidrs[i] = (1ULL << 31) | ((i >> 4) << 8) | (i & 0xf);
	memset(cfg.rng_seed, 0xa5, sizeof(cfg.rng_seed));
	for (unsigned s = 0; s < ARM64_FDT_PCI_SLOTS; s++)
		for (unsigned p = 0; p < ARM64_FDT_PCI_PINS; p++)
			cfg.intx_spi[s][p] = test_intx_spi(s, p + 1);
	return cfg;
}

static void *build(const struct arm64_fdt_config *cfg, size_t *used)
{
	void *buf = calloc(1, FDT_MAX_SIZE);

	assert_non_null(buf);
	assert_int_equal(arm64_fdt_build(cfg, buf, FDT_MAX_SIZE, used), 0);
	assert_int_equal(fdt_check_header(buf), 0);
	assert_int_equal(fdt_totalsize(buf), *used);
	return buf;
}

static int node(const void *fdt, const char *path)
{
	int off = fdt_path_offset(fdt, path);

	if (off < 0)
		fail_msg("no node %s: %s", path, fdt_strerror(off));
	return off;
}

static const void *prop(const void *fdt, int off, const char *name, int *len)
{
	const void *p = fdt_getprop(fdt, off, name, len);

	if (!p)
		fail_msg("node %s has no property %s", fdt_get_name(fdt, off, NULL), name);
	return p;
}

static void assert_prop_str(const void *fdt, const char *path, const char *name, const char *want)
{
	int len;
	const char *s = prop(fdt, node(fdt, path), name, &len);

	assert_string_equal(s, want);
}

static uint32_t cell(const void *p, int i)
{
	return fdt32_to_cpu(((const fdt32_t *)p)[i]);
}

static uint64_t cells64(const void *p, int i)
{
	return (uint64_t)cell(p, i) << 32 | cell(p, i + 1);
}

static uint32_t prop_u32(const void *fdt, int off, const char *name)
{
	int len;
	const void *p = prop(fdt, off, name, &len);

	assert_int_equal(len, 4);
	return cell(p, 0);
}

static void test_root_memory_chosen(void **state)
{
	struct arm64_fdt_config cfg = test_config(1);
	size_t used;
	void *fdt = build(&cfg, &used);
	int off, len;
	const void *p;

	assert_int_equal(prop_u32(fdt, 0, "#address-cells"), 2);
	assert_int_equal(prop_u32(fdt, 0, "#size-cells"), 2);
	assert_prop_str(fdt, "/memory@40000000", "device_type", "memory");
	p = prop(fdt, node(fdt, "/memory@40000000"), "reg", &len);
	assert_int_equal(len, 16);
	assert_int_equal(cells64(p, 0), RAM_GPA);
	assert_int_equal(cells64(p, 2), RAM_SIZE);

	off = node(fdt, "/chosen");
	assert_string_equal(prop(fdt, off, "bootargs", &len), "console=ttyS0 panic=-1");
	p = prop(fdt, off, "linux,initrd-start", &len);
	assert_int_equal(len, 8);
	assert_int_equal(cells64(p, 0), cfg.initrd_gpa);
	p = prop(fdt, off, "linux,initrd-end", &len);
	assert_int_equal(cells64(p, 0), cfg.initrd_gpa + cfg.initrd_size);
	p = prop(fdt, off, "kaslr-seed", &len);
	assert_int_equal(cells64(p, 0), cfg.kaslr_seed);
	p = prop(fdt, off, "rng-seed", &len);
	assert_int_equal(len, ARM64_FDT_RNG_SEED_SIZE);
	assert_memory_equal(p, cfg.rng_seed, ARM64_FDT_RNG_SEED_SIZE);
	/* stdout-path names the UART node, which is a 16550 at UART_GPA */
	p = prop(fdt, off, "stdout-path", &len);
	off = node(fdt, p);
	assert_string_equal(prop(fdt, off, "compatible", &len), "ns16550a");
	p = prop(fdt, off, "reg", &len);
	assert_int_equal(cells64(p, 0), UART_GPA);
	p = prop(fdt, off, "interrupts", &len);
	assert_int_equal(len, 12);
	assert_int_equal(cell(p, 0), 0); /* SPI */
	assert_int_equal(cell(p, 1), UART_SPI);
	assert_int_equal(prop_u32(fdt, off, "clock-frequency"), UART_CLOCK_HZ);
	assert_int_equal(node(fdt, prop(fdt, node(fdt, "/aliases"), "serial0", &len)), off);
	free(fdt);
}

static void test_no_initrd_no_bootargs(void **state)
{
	struct arm64_fdt_config cfg = test_config(1);
	size_t used;
	void *fdt;
	int off;

	cfg.initrd_size = 0;
	cfg.bootargs = NULL;
	cfg.kaslr_seed = 0;
	fdt = build(&cfg, &used);
	off = node(fdt, "/chosen");
	assert_null(fdt_getprop(fdt, off, "linux,initrd-start", NULL));
	assert_null(fdt_getprop(fdt, off, "bootargs", NULL));
	assert_null(fdt_getprop(fdt, off, "kaslr-seed", NULL));
	assert_non_null(fdt_getprop(fdt, off, "stdout-path", NULL));
	free(fdt);
}

static void test_cpus_psci(void **state)
{
	struct arm64_fdt_config cfg = test_config(20);
	size_t used;
	void *fdt = build(&cfg, &used);
	int cpus = node(fdt, "/cpus"), off, n = 0, len;

	assert_int_equal(prop_u32(fdt, cpus, "#address-cells"), 2);
	assert_int_equal(prop_u32(fdt, cpus, "#size-cells"), 0);
	fdt_for_each_subnode(off, fdt, cpus)
	{
		const void *reg = prop(fdt, off, "reg", &len);
		char want[32];

		assert_int_equal(len, 8);
		/* the affinity fields only: MPIDR bit 31 is not part of reg */
		assert_int_equal(cells64(reg, 0), mpidrs[n] & 0xff00ffffffULL);
		snprintf(want, sizeof(want), "cpu@%llx", (unsigned long long)cells64(reg, 0));
		assert_string_equal(fdt_get_name(fdt, off, NULL), want);
		assert_string_equal(prop(fdt, off, "enable-method", &len), "psci");
		assert_string_equal(prop(fdt, off, "device_type", &len), "cpu");
		n++;
	}
	assert_int_equal(n, 20);
	/* cpu 17 is Aff1 1, Aff0 1 */
	node(fdt, "/cpus/cpu@101");
	assert_prop_str(fdt, "/psci", "compatible", "arm,psci-0.2");
	assert_prop_str(fdt, "/psci", "method", "hvc");
	free(fdt);
}

static void test_gic_its_timer(void **state)
{
	struct arm64_fdt_config cfg = test_config(3);
	size_t used;
	void *fdt = build(&cfg, &used);
	int gic = node(fdt, "/intc@8000000"), its, len, timer;
	const void *p;

	assert_string_equal(prop(fdt, gic, "compatible", &len), "arm,gic-v3");
	assert_non_null(fdt_getprop(fdt, gic, "interrupt-controller", NULL));
	assert_int_equal(prop_u32(fdt, gic, "#interrupt-cells"), 3);
	p = prop(fdt, gic, "reg", &len);
	assert_int_equal(len, 32);
	assert_int_equal(cells64(p, 0), GIC_DIST_GPA);
	assert_int_equal(cells64(p, 2), GIC_DIST_SIZE);
	assert_int_equal(cells64(p, 4), GIC_REDIST_GPA);
	assert_int_equal(cells64(p, 6), 3 * GIC_REDIST_SIZE_PER_CPU);
	/* the root's interrupt-parent is the GIC */
	assert_int_equal(fdt_node_offset_by_phandle(fdt, prop_u32(fdt, 0, "interrupt-parent")),
			 gic);

	its = node(fdt, "/intc@8000000/msi-controller@8080000");
	assert_string_equal(prop(fdt, its, "compatible", &len), "arm,gic-v3-its");
	assert_non_null(fdt_getprop(fdt, its, "msi-controller", NULL));
	assert_int_equal(prop_u32(fdt, its, "#msi-cells"), 1);
	p = prop(fdt, its, "reg", &len);
	assert_int_equal(cells64(p, 0), GIC_ITS_GPA);

	timer = node(fdt, "/timer");
	assert_string_equal(prop(fdt, timer, "compatible", &len), "arm,armv8-timer");
	p = prop(fdt, timer, "interrupts", &len);
	assert_int_equal(len, 4 * 12);
	/* PPIs 13, 14, 11, 10: secure, non-secure, virtual, hypervisor */
	assert_int_equal(cell(p, 0), 1);
	assert_int_equal(cell(p, 1), 13);
	assert_int_equal(cell(p, 4), 14);
	assert_int_equal(cell(p, 7), 11);
	assert_int_equal(cell(p, 10), 10);
	free(fdt);
}

static void test_pci_host(void **state)
{
	struct arm64_fdt_config cfg = test_config(1);
	size_t used;
	void *fdt = build(&cfg, &used);
	int pci = node(fdt, "/pcie@30000000"), len, gic = node(fdt, "/intc@8000000");
	const void *p;

	assert_string_equal(prop(fdt, pci, "compatible", &len), "pci-host-ecam-generic");
	assert_string_equal(prop(fdt, pci, "device_type", &len), "pci");
	assert_int_equal(prop_u32(fdt, pci, "#address-cells"), 3);
	assert_int_equal(prop_u32(fdt, pci, "#size-cells"), 2);
	p = prop(fdt, pci, "reg", &len);
	assert_int_equal(cells64(p, 0), PCI_ECAM_BASE);
	assert_int_equal(cells64(p, 2), PCI_ECAM_SIZE);
	p = prop(fdt, pci, "bus-range", &len);
	assert_int_equal(cell(p, 1), PCI_ECAM_BUSES - 1);

	/* I/O, 32-bit and 64-bit memory windows, identity-mapped but for I/O */
	p = prop(fdt, pci, "ranges", &len);
	assert_int_equal(len, 3 * 7 * 4);
	assert_int_equal(cell(p, 0), 0x01000000);
	assert_int_equal(cells64(p, 1), 0);
	assert_int_equal(cells64(p, 3), PCI_IO_GPA);
	assert_int_equal(cells64(p, 5), PCI_IO_SPACE_SIZE);
	assert_int_equal(cell(p, 7), 0x02000000);
	assert_int_equal(cells64(p, 8), PCI_MMIO32_START);
	assert_int_equal(cells64(p, 10), PCI_MMIO32_START);
	assert_int_equal(cells64(p, 12), PCI_MMIO32_SIZE);
	assert_int_equal(cell(p, 14), 0x03000000);
	assert_int_equal(cells64(p, 15), MMIO64_START);
	assert_int_equal(cells64(p, 17), MMIO64_START);
	assert_int_equal(cells64(p, 19), PCI_MMIO64_SIZE);

	/* every requester ID goes to the ITS with the same device ID */
	p = prop(fdt, pci, "msi-map", &len);
	assert_int_equal(len, 16);
	assert_int_equal(cell(p, 0), 0);
	assert_int_equal(fdt_node_offset_by_phandle(fdt, cell(p, 1)),
			 node(fdt, "/intc@8000000/msi-controller@8080000"));
	assert_int_equal(cell(p, 2), 0);
	assert_int_equal(cell(p, 3), 0x10000);

	/* INTx: every slot and pin, the SPI the PCI bus raises */
	p = prop(fdt, pci, "interrupt-map-mask", &len);
	assert_int_equal(cell(p, 0), 0xf800);
	assert_int_equal(cell(p, 3), 7);
	p = prop(fdt, pci, "interrupt-map", &len);
	assert_int_equal(len, 32 * 4 * 10 * 4);
	for (unsigned slot = 0; slot < 32; slot++) {
		for (unsigned pin = 1; pin <= 4; pin++) {
			unsigned e = (slot * 4 + pin - 1) * 10;

			assert_int_equal(cell(p, e), slot << 11);
			assert_int_equal(cell(p, e + 3), pin);
			assert_int_equal(fdt_node_offset_by_phandle(fdt, cell(p, e + 4)), gic);
			assert_int_equal(cell(p, e + 7), 0);
			assert_int_equal(cell(p, e + 8), test_intx_spi(slot, pin));
			assert_int_equal(cell(p, e + 9), 4);
		}
	}
	assert_non_null(fdt_getprop(fdt, pci, "dma-coherent", NULL));
	free(fdt);
}

/* dtc decompiles the blob without a single warning, and the source has what Linux matches on */
static void test_dtc_accepts(void **state)
{
	struct arm64_fdt_config cfg = test_config(2);
	char dtb[] = "/tmp/ptvm-fdt-XXXXXX", cmd[256], out[65536];
	size_t used, n;
	void *fdt = build(&cfg, &used);
	FILE *f;
	int fd, st;

	if (system("command -v dtc > /dev/null 2>&1") != 0) {
		free(fdt);
		skip(); /* dtc (device-tree-compiler) is not installed */
	}
	fd = mkstemp(dtb);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, fdt, used), (ssize_t)used);
	close(fd);
	snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts %s 2>&1", dtb);
	f = popen(cmd, "r");
	assert_non_null(f);
	/* read to the end: closing the pipe while dtc still writes kills it with SIGPIPE (the
	 * source is over 8 KiB: a smaller buffer failed now and then, status 141) */
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	assert_true(feof(f));
	st = pclose(f);
	unlink(dtb);
	if (st != 0 || strstr(out, "Warning") || strstr(out, "ERROR"))
		fail_msg("dtc -I dtb -O dts: status %d:\n%.2000s", st, out);
	assert_non_null(strstr(out, "compatible = \"pci-host-ecam-generic\";"));
	assert_non_null(strstr(out, "compatible = \"arm,gic-v3-its\";"));
	assert_non_null(strstr(out, "enable-method = \"psci\";"));
	assert_non_null(strstr(out, "stdout-path = \"/uart@9000000\";"));
	free(fdt);
}

static void test_too_small_and_bad_config(void **state)
{
	struct arm64_fdt_config cfg = test_config(2);
	uint8_t small[512];
	size_t used;

	assert_int_equal(arm64_fdt_build(&cfg, small, sizeof(small), &used), -ENOSPC);
	assert_log_one_line("fdt", "512 bytes");
	cfg.nr_cpus = 0;
	assert_int_equal(arm64_fdt_build(&cfg, small, sizeof(small), &used), -EINVAL);
	assert_log_one_line("fdt: bad configuration", "0 CPUs");
}

/* the most vCPUs the redistributor region holds still fit the 2 MiB */
static void test_max_cpus_fit(void **state)
{
	struct arm64_fdt_config cfg = test_config(GIC_MAX_CPUS);
	size_t used;
	void *fdt = build(&cfg, &used);
	int off, n = 0;

	fdt_for_each_subnode(off, fdt, node(fdt, "/cpus")) n++;
	assert_int_equal(n, GIC_MAX_CPUS);
	assert_true(used < 64 * 1024);
	free(fdt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_memory_chosen),
		cmocka_unit_test(test_no_initrd_no_bootargs),
		cmocka_unit_test(test_cpus_psci),
		cmocka_unit_test(test_gic_its_timer),
		cmocka_unit_test(test_pci_host),
		cmocka_unit_test(test_dtc_accepts),
		cmocka_unit_test(test_too_small_and_bad_config),
		cmocka_unit_test(test_max_cpus_fit),
	};

	return cmocka_run_group_tests_name("arm64_fdt_build", tests, test_log_setup,
					   test_log_teardown);
}
