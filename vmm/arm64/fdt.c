// SPDX-License-Identifier: MIT
/*
 * The device tree of ptvm's arm64 machine, in one pass of libfdt's sequential-write API.
 * Bindings followed (Linux Documentation/devicetree/bindings): arm/cpus.yaml, arm/psci.yaml,
 * interrupt-controller/arm,gic-v3.yaml (with its ITS child), timer/arm,arch_timer.yaml,
 * serial/8250.yaml, pci/host-generic-pci.yaml, pci/pci-msi.txt (msi-map), chosen.yaml.
 */
#include "fdt.h"

#include <errno.h>
#include <libfdt.h>
#include <string.h>

#include "layout.h"
#include "vmm/log.h"
#include "vmm/util.h"

#define PHANDLE_GIC 1
#define PHANDLE_ITS 2

/* interrupt specifier cells of the GIC binding */
#define GIC_FDT_SPI 0
#define GIC_FDT_PPI 1
#define IRQ_TYPE_LEVEL_HIGH 4
/* the architected timer's PPIs (INTID - 16): secure, non-secure, virtual, hypervisor */
#define TIMER_PPI_SEC 13
#define TIMER_PPI_NONSEC 14
#define TIMER_PPI_VIRT 11
#define TIMER_PPI_HYP 10

/* PCI unit-address high cell: space code (1 I/O, 2 32-bit memory, 3 64-bit memory) */
#define PCI_SPACE_IO 0x01000000U
#define PCI_SPACE_MEM32 0x02000000U
#define PCI_SPACE_MEM64 0x03000000U

const char arm64_fdt_uart_path[] = "/uart@9000000";

/* Appends a 64-bit value as two cells. */
static fdt32_t *cells_u64(fdt32_t *p, uint64_t v)
{
	*p++ = cpu_to_fdt32((uint32_t)(v >> 32));
	*p++ = cpu_to_fdt32((uint32_t)v);
	return p;
}

static int fdt_reg(void *fdt, uint64_t addr, uint64_t size)
{
	fdt32_t reg[4], *p = reg;

	p = cells_u64(p, addr);
	cells_u64(p, size);
	return fdt_property(fdt, "reg", reg, sizeof(reg));
}

/* fdt_* calls return 0 or a negative FDT_ERR_*; FDT_TRY stops at the first failure. */
#define FDT_TRY(call)                                                                              \
	do {                                                                                       \
		int _r = (call);                                                                   \
		if (_r < 0)                                                                        \
			return _r;                                                                 \
	} while (0)

static int fdt_write_cpus(void *fdt, const struct arm64_fdt_config *cfg)
{
	char name[32];

	FDT_TRY(fdt_begin_node(fdt, "cpus"));
	FDT_TRY(fdt_property_u32(fdt, "#address-cells", 2));
	FDT_TRY(fdt_property_u32(fdt, "#size-cells", 0));
	for (unsigned i = 0; i < cfg->nr_cpus; i++) {
		/* reg is MPIDR_EL1's affinity fields: Aff3 in bits 39:32, Aff2-0 in 23:0 */
		uint64_t aff = cfg->mpidr[i] & 0xff00ffffffULL;

		snprintf(name, sizeof(name), "cpu@%llx", (unsigned long long)aff);
		FDT_TRY(fdt_begin_node(fdt, name));
		FDT_TRY(fdt_property_string(fdt, "device_type", "cpu"));
		FDT_TRY(fdt_property_string(fdt, "compatible", "arm,arm-v8"));
		FDT_TRY(fdt_property_string(fdt, "enable-method", "psci"));
		FDT_TRY(fdt_property_u64(fdt, "reg", aff));
		FDT_TRY(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

static int fdt_write_gic(void *fdt, const struct arm64_fdt_config *cfg)
{
	uint64_t redist_size = cfg->nr_cpus * GIC_REDIST_SIZE_PER_CPU;
	fdt32_t reg[8], *p = reg;
	char name[40];

	snprintf(name, sizeof(name), "intc@%llx", (unsigned long long)GIC_DIST_GPA);
	FDT_TRY(fdt_begin_node(fdt, name));
	FDT_TRY(fdt_property_string(fdt, "compatible", "arm,gic-v3"));
	FDT_TRY(fdt_property_u32(fdt, "#interrupt-cells", 3));
	FDT_TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
	/* the ITS child is addressed in the same 64-bit space */
	FDT_TRY(fdt_property_u32(fdt, "#address-cells", 2));
	FDT_TRY(fdt_property_u32(fdt, "#size-cells", 2));
	FDT_TRY(fdt_property(fdt, "ranges", NULL, 0));
	FDT_TRY(fdt_property_u32(fdt, "#redistributor-regions", 1));
	p = cells_u64(p, GIC_DIST_GPA);
	p = cells_u64(p, GIC_DIST_SIZE);
	p = cells_u64(p, GIC_REDIST_GPA);
	cells_u64(p, redist_size);
	FDT_TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
	FDT_TRY(fdt_property_u32(fdt, "phandle", PHANDLE_GIC));

	snprintf(name, sizeof(name), "msi-controller@%llx", (unsigned long long)GIC_ITS_GPA);
	FDT_TRY(fdt_begin_node(fdt, name));
	FDT_TRY(fdt_property_string(fdt, "compatible", "arm,gic-v3-its"));
	FDT_TRY(fdt_property(fdt, "msi-controller", NULL, 0));
	FDT_TRY(fdt_property_u32(fdt, "#msi-cells", 1));
	FDT_TRY(fdt_reg(fdt, GIC_ITS_GPA, GIC_ITS_SIZE));
	FDT_TRY(fdt_property_u32(fdt, "phandle", PHANDLE_ITS));
	FDT_TRY(fdt_end_node(fdt));
	return fdt_end_node(fdt);
}

static int fdt_write_timer(void *fdt)
{
	static const uint32_t ppis[] = { TIMER_PPI_SEC, TIMER_PPI_NONSEC, TIMER_PPI_VIRT,
					 TIMER_PPI_HYP };
	fdt32_t irqs[3 * ARRAY_SIZE(ppis)];

	for (unsigned i = 0; i < ARRAY_SIZE(ppis); i++) {
		irqs[3 * i] = cpu_to_fdt32(GIC_FDT_PPI);
		irqs[3 * i + 1] = cpu_to_fdt32(ppis[i]);
		irqs[3 * i + 2] = cpu_to_fdt32(IRQ_TYPE_LEVEL_HIGH);
	}
	FDT_TRY(fdt_begin_node(fdt, "timer"));
	FDT_TRY(fdt_property_string(fdt, "compatible", "arm,armv8-timer"));
	FDT_TRY(fdt_property(fdt, "interrupts", irqs, sizeof(irqs)));
	return fdt_end_node(fdt);
}

static int fdt_write_uart(void *fdt)
{
	fdt32_t irq[3] = { cpu_to_fdt32(GIC_FDT_SPI), cpu_to_fdt32(UART_SPI),
			   cpu_to_fdt32(IRQ_TYPE_LEVEL_HIGH) };

	FDT_TRY(fdt_begin_node(fdt, arm64_fdt_uart_path + 1));
	FDT_TRY(fdt_property_string(fdt, "compatible", "ns16550a"));
	FDT_TRY(fdt_reg(fdt, UART_GPA, UART_SIZE));
	FDT_TRY(fdt_property(fdt, "interrupts", irq, sizeof(irq)));
	FDT_TRY(fdt_property_u32(fdt, "clock-frequency", UART_CLOCK_HZ));
	return fdt_end_node(fdt);
}

static int fdt_write_pci(void *fdt, const struct arm64_fdt_config *cfg)
{
	/* (pci space, pci address) -> cpu address, size: 3 + 2 + 2 cells each */
	const struct {
		uint32_t space;
		uint64_t pci, cpu, size;
	} windows[] = {
		{ PCI_SPACE_IO, 0, PCI_IO_GPA, PCI_IO_SPACE_SIZE },
		{ PCI_SPACE_MEM32, PCI_MMIO32_START, PCI_MMIO32_START, PCI_MMIO32_SIZE },
		{ PCI_SPACE_MEM64, cfg->mmio64_start, cfg->mmio64_start, cfg->mmio64_size },
	};
	fdt32_t ranges[7 * ARRAY_SIZE(windows)], *p = ranges;
	/* child unit address (3) + child pin (1) + parent phandle (1) + parent unit address (2)
	 * + GIC specifier (3) */
	fdt32_t map[ARM64_FDT_PCI_SLOTS * ARM64_FDT_PCI_PINS * 10], *m = map;
	fdt32_t mask[4] = { cpu_to_fdt32(0xf800), 0, 0, cpu_to_fdt32(7) };
	fdt32_t msi_map[4] = { 0, cpu_to_fdt32(PHANDLE_ITS), 0, cpu_to_fdt32(0x10000) };
	fdt32_t bus_range[2] = { 0, cpu_to_fdt32(PCI_ECAM_BUSES - 1) };
	char name[40];

	for (unsigned i = 0; i < ARRAY_SIZE(windows); i++) {
		*p++ = cpu_to_fdt32(windows[i].space);
		p = cells_u64(p, windows[i].pci);
		p = cells_u64(p, windows[i].cpu);
		p = cells_u64(p, windows[i].size);
	}
	for (unsigned slot = 0; slot < ARM64_FDT_PCI_SLOTS; slot++) {
		for (unsigned pin = 1; pin <= ARM64_FDT_PCI_PINS; pin++) {
			*m++ = cpu_to_fdt32(slot << 11); /* devfn << 8, function 0 */
			*m++ = 0;
			*m++ = 0;
			*m++ = cpu_to_fdt32(pin);
			*m++ = cpu_to_fdt32(PHANDLE_GIC);
			*m++ = 0;
			*m++ = 0;
			*m++ = cpu_to_fdt32(GIC_FDT_SPI);
			*m++ = cpu_to_fdt32(cfg->intx_spi[slot][pin - 1]);
			*m++ = cpu_to_fdt32(IRQ_TYPE_LEVEL_HIGH);
		}
	}

	snprintf(name, sizeof(name), "pcie@%llx", (unsigned long long)PCI_ECAM_BASE);
	FDT_TRY(fdt_begin_node(fdt, name));
	FDT_TRY(fdt_property_string(fdt, "compatible", "pci-host-ecam-generic"));
	FDT_TRY(fdt_property_string(fdt, "device_type", "pci"));
	FDT_TRY(fdt_property_u32(fdt, "#address-cells", 3));
	FDT_TRY(fdt_property_u32(fdt, "#size-cells", 2));
	FDT_TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
	FDT_TRY(fdt_property_u32(fdt, "linux,pci-domain", 0));
	FDT_TRY(fdt_property(fdt, "bus-range", bus_range, sizeof(bus_range)));
	FDT_TRY(fdt_reg(fdt, PCI_ECAM_BASE, PCI_ECAM_SIZE));
	FDT_TRY(fdt_property(fdt, "ranges", ranges, sizeof(ranges)));
	FDT_TRY(fdt_property(fdt, "dma-coherent", NULL, 0));
	/* requester ID r -> ITS device ID r, for all 64 Ki of them */
	FDT_TRY(fdt_property(fdt, "msi-map", msi_map, sizeof(msi_map)));
	FDT_TRY(fdt_property(fdt, "interrupt-map-mask", mask, sizeof(mask)));
	FDT_TRY(fdt_property(fdt, "interrupt-map", map, sizeof(map)));
	return fdt_end_node(fdt);
}

static int fdt_write_chosen(void *fdt, const struct arm64_fdt_config *cfg)
{
	FDT_TRY(fdt_begin_node(fdt, "chosen"));
	if (cfg->bootargs)
		FDT_TRY(fdt_property_string(fdt, "bootargs", cfg->bootargs));
	FDT_TRY(fdt_property_string(fdt, "stdout-path", arm64_fdt_uart_path));
	if (cfg->initrd_size) {
		FDT_TRY(fdt_property_u64(fdt, "linux,initrd-start", cfg->initrd_gpa));
		FDT_TRY(
		    fdt_property_u64(fdt, "linux,initrd-end", cfg->initrd_gpa + cfg->initrd_size));
	}
	if (cfg->kaslr_seed)
		FDT_TRY(fdt_property_u64(fdt, "kaslr-seed", cfg->kaslr_seed));
	FDT_TRY(fdt_property(fdt, "rng-seed", cfg->rng_seed, sizeof(cfg->rng_seed)));
	return fdt_end_node(fdt);
}

static int fdt_write(void *fdt, size_t size, const struct arm64_fdt_config *cfg)
{
	char name[40];

	FDT_TRY(fdt_create(fdt, (int)size));
	FDT_TRY(fdt_finish_reservemap(fdt));
	FDT_TRY(fdt_begin_node(fdt, ""));
	FDT_TRY(fdt_property_string(fdt, "compatible", "linux,dummy-virt"));
	FDT_TRY(fdt_property_string(fdt, "model", "ptvm"));
	FDT_TRY(fdt_property_u32(fdt, "#address-cells", 2));
	FDT_TRY(fdt_property_u32(fdt, "#size-cells", 2));
	FDT_TRY(fdt_property_u32(fdt, "interrupt-parent", PHANDLE_GIC));

	FDT_TRY(fdt_write_chosen(fdt, cfg));
	/* the UART is ttyS0 whatever else the kernel registers */
	FDT_TRY(fdt_begin_node(fdt, "aliases"));
	FDT_TRY(fdt_property_string(fdt, "serial0", arm64_fdt_uart_path));
	FDT_TRY(fdt_end_node(fdt));

	snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)cfg->ram_gpa);
	FDT_TRY(fdt_begin_node(fdt, name));
	FDT_TRY(fdt_property_string(fdt, "device_type", "memory"));
	FDT_TRY(fdt_reg(fdt, cfg->ram_gpa, cfg->ram_size));
	FDT_TRY(fdt_end_node(fdt));

	FDT_TRY(fdt_write_cpus(fdt, cfg));

	/* PSCI 0.2 through HVC: KVM implements it (CPU_ON for the secondaries, SYSTEM_OFF and
	 * SYSTEM_RESET end ptvm) */
	FDT_TRY(fdt_begin_node(fdt, "psci"));
	FDT_TRY(fdt_property_string(fdt, "compatible", "arm,psci-0.2"));
	FDT_TRY(fdt_property_string(fdt, "method", "hvc"));
	FDT_TRY(fdt_end_node(fdt));

	FDT_TRY(fdt_write_gic(fdt, cfg));
	FDT_TRY(fdt_write_timer(fdt));
	FDT_TRY(fdt_write_uart(fdt));
	FDT_TRY(fdt_write_pci(fdt, cfg));

	FDT_TRY(fdt_end_node(fdt));
	return fdt_finish(fdt);
}

int arm64_fdt_build(const struct arm64_fdt_config *cfg, void *buf, size_t size, size_t *used)
{
	int ret;

	if (!cfg->nr_cpus || !cfg->mpidr || !cfg->ram_size || size > FDT_MAX_SIZE) {
		pr_err("fdt: bad configuration (%u CPUs, %llu bytes of RAM, %zu bytes of room)",
		       cfg->nr_cpus, (unsigned long long)cfg->ram_size, size);
		return -EINVAL;
	}
	ret = fdt_write(buf, size, cfg);
	if (ret < 0) {
		pr_err("fdt: cannot build the device tree in %zu bytes: %s", size,
		       fdt_strerror(ret));
		return ret == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
	}
	*used = fdt_totalsize(buf);
	pr_debug("fdt: %zu bytes, %u CPUs, RAM 0x%llx+0x%llx", *used, cfg->nr_cpus,
		 (unsigned long long)cfg->ram_gpa, (unsigned long long)cfg->ram_size);
	return 0;
}
