// SPDX-License-Identifier: MIT
/*
 * ACPI tables (ACPI 6.x, chapter 5). Hardware-reduced, like Cloud Hypervisor's: no PM1 blocks,
 * no SCI, no FACS; power-off goes through the FADT sleep control register, reset through the
 * reset register, both plain ports that devices/ model. The DSDT is hand-built AML (aml.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acpi.h"
#include "aml.h"
#include "devices/pci.h"
#include "layout.h"
#include "vmm/log.h"
#include "vmm/util.h"

#define ACPI_TABLE_ALIGN 16
#define ACPI_CREATOR_ID "PTVM"
#define ACPI_OEM_REVISION 1
#define ACPI_CREATOR_REVISION 1

struct acpi_rsdp {
	char signature[8]; /* "RSD PTR " */
	uint8_t checksum;  /* first 20 bytes (the ACPI 1.0 part) */
	char oem_id[6];
	uint8_t revision; /* 2: XSDT and the extended fields exist */
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP is 36 bytes");

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_header) == 36, "ACPI table header is 36 bytes");

/* Generic Address Structure */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS is 12 bytes");

#define ACPI_GAS_SYSTEM_IO 1
#define ACPI_GAS_ACCESS_BYTE 1

struct acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk;
	uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
	uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 is 276 bytes");

#define ACPI_FADT_REVISION 6
#define ACPI_FADT_MINOR_VERSION 0
#define ACPI_FADT_WBINVD (1u << 0)
#define ACPI_FADT_PWR_BUTTON (1u << 4) /* no fixed power button */
#define ACPI_FADT_SLP_BUTTON (1u << 5) /* no fixed sleep button */
#define ACPI_FADT_RESET_REG_SUP (1u << 10)
#define ACPI_FADT_HW_REDUCED_ACPI (1u << 20)
/* IAPC_BOOT_ARCH: no 8042 flag (bit 1), so Linux leaves the PS/2 controller alone. */
#define ACPI_FADT_IAPC_VGA_NOT_PRESENT (1u << 2)
/* No MC146818 at ports 0x70/0x71: without this bit Linux's rtc_cmos probes the ports and
 * waits 3.3 s (a third of a boot in the test host) before giving up; the guest takes its
 * wall clock from kvmclock instead. */
#define ACPI_FADT_IAPC_CMOS_RTC_NOT_PRESENT (1u << 5)

struct acpi_madt {
	struct acpi_header h;
	uint32_t lapic_address;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT fixed part is 44 bytes");

#define ACPI_MADT_PCAT_COMPAT (1u << 0)

struct acpi_madt_lapic {
	uint8_t type; /* 0 */
	uint8_t length;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "MADT LAPIC entry is 8 bytes");

struct acpi_madt_ioapic {
	uint8_t type; /* 1 */
	uint8_t length;
	uint8_t ioapic_id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "MADT IOAPIC entry is 12 bytes");

struct acpi_madt_iso {
	uint8_t type; /* 2 */
	uint8_t length;
	uint8_t bus;
	uint8_t source;
	uint32_t gsi;
	uint16_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_iso) == 10, "MADT interrupt source override is 10 bytes");

struct acpi_madt_lapic_nmi {
	uint8_t type; /* 4 */
	uint8_t length;
	uint8_t processor_uid;
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic_nmi) == 6, "MADT LAPIC NMI entry is 6 bytes");

#define ACPI_MADT_LAPIC 0
#define ACPI_MADT_IOAPIC 1
#define ACPI_MADT_ISO 2
#define ACPI_MADT_LAPIC_NMI 4
#define ACPI_MADT_LAPIC_ENABLED (1u << 0)
#define ACPI_MADT_ALL_PROCESSORS 0xff
/* MPS INTI flags: polarity in bits 1:0, trigger mode in bits 3:2. */
#define ACPI_MPS_ACTIVE_HIGH 0x1
#define ACPI_MPS_EDGE (0x1 << 2)

struct acpi_mcfg {
	struct acpi_header h;
	uint8_t reserved[8];
	uint64_t base_address;
	uint16_t segment;
	uint8_t start_bus;
	uint8_t end_bus;
	uint32_t reserved1;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_mcfg) == 60, "MCFG with one allocation is 60 bytes");

#define ACPI_XSDT_ENTRIES 4 /* FADT, MADT, MCFG, VIOT (only with a virtio-iommu) */

/* Virtual I/O Translation Table (ACPI 6.4, 5.2.30): the virtio-iommu and what it translates. */
struct acpi_viot {
	struct acpi_header h;
	uint16_t node_count;
	uint16_t node_offset; /* of the first node, from the table's start */
	uint8_t reserved[8];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_viot) == 48, "VIOT fixed part is 48 bytes");

#define ACPI_VIOT_NODE_PCI_RANGE 1
#define ACPI_VIOT_NODE_VIRTIO_IOMMU_PCI 3

/* PCI requester IDs bdf_start..bdf_end are endpoints endpoint_start.. of output_node. */
struct acpi_viot_pci_range {
	uint8_t type;
	uint8_t reserved;
	uint16_t length;
	uint32_t endpoint_start;
	uint16_t segment_start, segment_end;
	uint16_t bdf_start, bdf_end;
	uint16_t output_node; /* offset of the IOMMU's node from the table's start */
	uint8_t reserved2[6];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_viot_pci_range) == 24, "VIOT PCI range node is 24 bytes");

struct acpi_viot_virtio_iommu_pci {
	uint8_t type;
	uint8_t reserved;
	uint16_t length;
	uint16_t segment;
	uint16_t bdf;
	uint8_t reserved2[8];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_viot_virtio_iommu_pci) == 16, "VIOT virtio-pci node: 16 bytes");
#define ACPI_DSDT_REVISION 2 /* 64-bit AML integers */

/* The caller's buffer and how much of it the tables use so far. */
struct acpi_builder {
	uint8_t *buf;
	size_t size;
	size_t used;
	uint64_t base_gpa;
};

static uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return (uint8_t)-sum;
}

/* Hands out @len zeroed bytes at the next aligned offset; NULL when they do not fit. */
static void *acpi_builder_alloc(struct acpi_builder *b, size_t len)
{
	size_t off = ALIGN_UP(b->used, (size_t)ACPI_TABLE_ALIGN);

	if (off > b->size || len > b->size - off)
		return NULL;
	b->used = off + len;
	memset(b->buf + off, 0, len);
	return b->buf + off;
}

static uint64_t acpi_builder_gpa(const struct acpi_builder *b, const void *p)
{
	return b->base_gpa + (uint64_t)((const uint8_t *)p - b->buf);
}

static void acpi_header_init(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = ACPI_OEM_REVISION;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = ACPI_CREATOR_REVISION;
}

/* Last step of every table: the checksum makes its h->length bytes sum to zero. */
static void acpi_header_checksum(struct acpi_header *h)
{
	h->checksum = 0;
	h->checksum = acpi_checksum(h, h->length);
}

static struct acpi_gas acpi_gas_io8(uint16_t port)
{
	return (struct acpi_gas){
		.space_id = ACPI_GAS_SYSTEM_IO,
		.bit_width = 8,
		.access_size = ACPI_GAS_ACCESS_BYTE,
		.address = port,
	};
}

/* _PRT: slot s (1-31, 0 is the host bridge itself), pin p (INTA-INTD) -> GSI 16 + (s+p)%8. */
static void acpi_dsdt_prt(struct aml *a)
{
	size_t prt;

	aml_name_decl(a, "_PRT");
	prt = aml_package_begin(a, 31 * 4);
	for (unsigned slot = 1; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			size_t entry = aml_package_begin(a, 4);

			aml_integer(a, ((uint64_t)slot << 16) | 0xffff); /* any function */
			aml_integer(a, pin);
			aml_integer(a, 0); /* no link device: the last field is a GSI */
			aml_integer(a,
				    PCI_INTX_GSI_BASE + ((slot + pin) & (PCI_INTX_GSI_COUNT - 1)));
			aml_pkg_end(a, entry);
		}
	}
	aml_pkg_end(a, prt);
}

static void acpi_dsdt_pci0(struct aml *a, const struct acpi_config *cfg)
{
	size_t dev, crs, osc;

	dev = aml_device_begin(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A08"); /* PCI Express root bridge */
	aml_name_eisaid(a, "_CID", "PNP0A03"); /* PCI root bridge */
	/* No _ADR: ACPI 6.1 wants _HID or _ADR, not both, and iasl warns about both. */
	aml_name_integer(a, "_SEG", 0);
	aml_name_integer(a, "_UID", 0);
	aml_name_integer(a, "_BBN", 0);

	aml_name_decl(a, "_CRS");
	crs = aml_resource_template_begin(a);
	aml_word_bus_number(a, 0, PCI_ECAM_BUSES - 1);
	/* The bridge itself consumes the type-1 config ports; the rest of I/O space is routed. */
	aml_io(a, PCI_CONFIG_ADDR_PORT, PCI_CONFIG_ADDR_PORT, 1, 8);
	aml_word_io(a, 0x0000, PCI_CONFIG_ADDR_PORT - 1);
	aml_word_io(a, PCI_CONFIG_ADDR_PORT + 8, 0xffff);
	aml_dword_memory(a, 0, PCI_MMIO32_START, PCI_MMIO32_START + PCI_MMIO32_SIZE - 1);
	if (cfg->mmio64_size)
		aml_qword_memory(a, AML_MEM_CACHEABLE, cfg->mmio64_start,
				 cfg->mmio64_start + cfg->mmio64_size - 1);
	aml_resource_template_end(a, crs);

	acpi_dsdt_prt(a);

	/*
	 * _OSC (Arg0 UUID, Arg1 revision, Arg2 count, Arg3 capabilities): grant whatever the OS
	 * asks by handing its buffer back, so Linux takes native control without complaint.
	 */
	osc = aml_method_begin(a, "_OSC", 4, false);
	aml_return(a);
	aml_arg(a, 3);
	aml_pkg_end(a, osc);

	aml_pkg_end(a, dev);
}

static void acpi_dsdt_com1(struct aml *a)
{
	size_t dev, crs;

	dev = aml_device_begin(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501"); /* 16550A-compatible UART */
	aml_name_integer(a, "_UID", 1);
	aml_name_decl(a, "_CRS");
	crs = aml_resource_template_begin(a);
	aml_io(a, COM1_PORT, COM1_PORT, 1, 8);
	aml_irq_noflags(a, COM1_IRQ);
	aml_resource_template_end(a, crs);
	aml_pkg_end(a, dev);
}

/*
 * Motherboard resources: the ECAM area. Linux checks that MCFG's area is reserved here (it
 * would otherwise fall back to the e820 map and log a firmware bug).
 */
static void acpi_dsdt_mbrd(struct aml *a)
{
	size_t dev, crs;

	dev = aml_device_begin(a, "MBRD");
	aml_name_eisaid(a, "_HID", "PNP0C02");
	aml_name_integer(a, "_UID", 0);
	aml_name_decl(a, "_CRS");
	crs = aml_resource_template_begin(a);
	aml_dword_memory(a, AML_MEM_CONSUMER, PCI_ECAM_BASE,
			 PCI_ECAM_BASE + (uint64_t)PCI_ECAM_BUSES * SZ_1M - 1);
	aml_resource_template_end(a, crs);
	aml_pkg_end(a, dev);
}

static void acpi_dsdt_aml(struct aml *a, const struct acpi_config *cfg)
{
	size_t sb, s5;

	sb = aml_scope_begin(a, "\\_SB");
	acpi_dsdt_pci0(a, cfg);
	acpi_dsdt_com1(a);
	acpi_dsdt_mbrd(a);
	aml_pkg_end(a, sb);

	/* \_S5_: SLP_TYP for soft-off, which the guest writes to the sleep control register. */
	aml_name_decl(a, "\\_S5_");
	s5 = aml_package_begin(a, 4);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_pkg_end(a, s5);
}

/* The DSDT takes whatever room is left; on return b->used covers exactly its length. */
static int acpi_dsdt_build(struct acpi_builder *b, const struct acpi_config *cfg,
			   struct acpi_header **out)
{
	struct acpi_header *h = acpi_builder_alloc(b, sizeof(*h));
	struct aml a;
	int ret;

	if (!h)
		return -ENOSPC;
	aml_init(&a, (uint8_t *)(h + 1), b->size - b->used);
	acpi_dsdt_aml(&a, cfg);
	ret = aml_error(&a);
	if (ret)
		return ret;
	b->used += a.len;
	acpi_header_init(h, "DSDT", (uint32_t)(sizeof(*h) + a.len), ACPI_DSDT_REVISION);
	acpi_header_checksum(h);
	*out = h;
	return 0;
}

static int acpi_fadt_build(struct acpi_builder *b, uint64_t dsdt_gpa, struct acpi_header **out)
{
	struct acpi_fadt *f = acpi_builder_alloc(b, sizeof(*f));

	if (!f)
		return -ENOSPC;
	acpi_header_init(&f->h, "FACP", sizeof(*f), ACPI_FADT_REVISION);
	f->minor_version = ACPI_FADT_MINOR_VERSION;
	/* Both DSDT pointers, equal, when the 32-bit one can hold it (as Linux expects). */
	f->dsdt = dsdt_gpa <= UINT32_MAX ? (uint32_t)dsdt_gpa : 0;
	f->x_dsdt = dsdt_gpa;
	f->flags = ACPI_FADT_WBINVD | ACPI_FADT_PWR_BUTTON | ACPI_FADT_SLP_BUTTON |
		   ACPI_FADT_RESET_REG_SUP | ACPI_FADT_HW_REDUCED_ACPI;
	f->iapc_boot_arch = ACPI_FADT_IAPC_VGA_NOT_PRESENT | ACPI_FADT_IAPC_CMOS_RTC_NOT_PRESENT;
	f->reset_reg = acpi_gas_io8(ACPI_RESET_PORT);
	f->reset_value = ACPI_RESET_VALUE;
	f->sleep_control_reg = acpi_gas_io8(ACPI_SLEEP_CTL_PORT);
	f->sleep_status_reg = acpi_gas_io8(ACPI_SLEEP_STS_PORT);
	memcpy(&f->hypervisor_vendor_id, "PTVM\0\0\0\0", 8);
	acpi_header_checksum(&f->h);
	*out = &f->h;
	return 0;
}

static int acpi_madt_build(struct acpi_builder *b, unsigned nr_cpus, struct acpi_header **out)
{
	size_t len = sizeof(struct acpi_madt) + nr_cpus * sizeof(struct acpi_madt_lapic) +
		     sizeof(struct acpi_madt_ioapic) + sizeof(struct acpi_madt_iso) +
		     sizeof(struct acpi_madt_lapic_nmi);
	struct acpi_madt *m = acpi_builder_alloc(b, len);
	struct acpi_madt_lapic *lapic;
	struct acpi_madt_ioapic *ioapic;
	struct acpi_madt_iso *iso;
	struct acpi_madt_lapic_nmi *nmi;

	if (!m)
		return -ENOSPC;
	acpi_header_init(&m->h, "APIC", (uint32_t)len, 5);
	m->lapic_address = (uint32_t)LAPIC_GPA;
	/* Dual 8259s exist (KVM's in-kernel PIC): the OS masks them before using the IOAPIC. */
	m->flags = ACPI_MADT_PCAT_COMPAT;

	lapic = (struct acpi_madt_lapic *)(m + 1);
	for (unsigned i = 0; i < nr_cpus; i++, lapic++) {
		lapic->type = ACPI_MADT_LAPIC;
		lapic->length = sizeof(*lapic);
		lapic->processor_uid = (uint8_t)i;
		lapic->apic_id = (uint8_t)i;
		lapic->flags = ACPI_MADT_LAPIC_ENABLED;
	}
	ioapic = (struct acpi_madt_ioapic *)lapic;
	ioapic->type = ACPI_MADT_IOAPIC;
	ioapic->length = sizeof(*ioapic);
	ioapic->ioapic_id = 0;
	ioapic->address = (uint32_t)IOAPIC_GPA;
	ioapic->gsi_base = 0;

	/* The PIT's IRQ0 is wired to IOAPIC pin 2, as on every PC since the APIC. */
	iso = (struct acpi_madt_iso *)(ioapic + 1);
	iso->type = ACPI_MADT_ISO;
	iso->length = sizeof(*iso);
	iso->bus = 0; /* ISA */
	iso->source = 0;
	iso->gsi = 2;
	iso->flags = ACPI_MPS_ACTIVE_HIGH | ACPI_MPS_EDGE;

	nmi = (struct acpi_madt_lapic_nmi *)(iso + 1);
	nmi->type = ACPI_MADT_LAPIC_NMI;
	nmi->length = sizeof(*nmi);
	nmi->processor_uid = ACPI_MADT_ALL_PROCESSORS;
	nmi->flags = 0; /* conforms to the bus: edge, active high */
	nmi->lint = 1;

	acpi_header_checksum(&m->h);
	*out = &m->h;
	return 0;
}

static int acpi_mcfg_build(struct acpi_builder *b, struct acpi_header **out)
{
	struct acpi_mcfg *m = acpi_builder_alloc(b, sizeof(*m));

	if (!m)
		return -ENOSPC;
	acpi_header_init(&m->h, "MCFG", sizeof(*m), 1);
	m->base_address = PCI_ECAM_BASE;
	m->segment = 0;
	m->start_bus = 0;
	m->end_bus = PCI_ECAM_BUSES - 1;
	acpi_header_checksum(&m->h);
	*out = &m->h;
	return 0;
}

static int acpi_u16_cmp(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/*
 * The VIOT: the virtio-iommu's node first, then one PCI range node per run of consecutive
 * requester IDs behind it (endpoint ID = requester ID).
 */
static int acpi_viot_build(struct acpi_builder *b, const struct acpi_config *cfg,
			   struct acpi_header **out)
{
	uint16_t eps[256];
	unsigned n = cfg->nr_viommu_endpoints, nr_ranges = 0;
	struct acpi_viot_virtio_iommu_pci *iommu;
	struct acpi_viot_pci_range *range;
	struct acpi_viot *v;
	size_t len;

	if (n) {
		memcpy(eps, cfg->viommu_endpoints, n * sizeof(eps[0]));
		qsort(eps, n, sizeof(eps[0]), acpi_u16_cmp);
	}
	for (unsigned i = 0; i < n; i++)
		nr_ranges += !i || eps[i] != eps[i - 1] + 1;
	len = sizeof(*v) + sizeof(*iommu) + nr_ranges * sizeof(*range);
	v = acpi_builder_alloc(b, len);
	if (!v)
		return -ENOSPC;
	acpi_header_init(&v->h, "VIOT", (uint32_t)len, 0);
	v->node_count = (uint16_t)(1 + nr_ranges);
	v->node_offset = sizeof(*v);
	iommu = (struct acpi_viot_virtio_iommu_pci *)(v + 1);
	iommu->type = ACPI_VIOT_NODE_VIRTIO_IOMMU_PCI;
	iommu->length = sizeof(*iommu);
	iommu->segment = 0;
	iommu->bdf = cfg->viommu_bdf;
	range = (struct acpi_viot_pci_range *)(iommu + 1);
	for (unsigned i = 0; i < n; i++) {
		if (i && eps[i] == eps[i - 1] + 1) {
			range[-1].bdf_end = eps[i];
			continue;
		}
		*range++ = (struct acpi_viot_pci_range){
			.type = ACPI_VIOT_NODE_PCI_RANGE,
			.length = sizeof(*range),
			.endpoint_start = eps[i],
			.bdf_start = eps[i],
			.bdf_end = eps[i],
			.output_node = sizeof(*v),
		};
	}
	acpi_header_checksum(&v->h);
	*out = &v->h;
	return 0;
}

static int acpi_config_check(const struct acpi_config *cfg)
{
	if (cfg->nr_cpus == 0 || cfg->nr_cpus > ACPI_MAX_CPUS) {
		pr_err("ACPI: %u vCPUs, the MADT describes 1 to %u", cfg->nr_cpus, ACPI_MAX_CPUS);
		return -EINVAL;
	}
	if (cfg->mmio64_size && cfg->mmio64_start + cfg->mmio64_size - 1 < cfg->mmio64_start) {
		pr_err("ACPI: 64-bit PCI window 0x%llx size 0x%llx wraps around",
		       (unsigned long long)cfg->mmio64_start, (unsigned long long)cfg->mmio64_size);
		return -EINVAL;
	}
	if (cfg->viommu && cfg->nr_viommu_endpoints > 256) {
		pr_err("ACPI: %u endpoints behind the virtio-iommu, bus 0 has 256 functions",
		       cfg->nr_viommu_endpoints);
		return -EINVAL;
	}
	for (unsigned i = 0; cfg->viommu && i < cfg->nr_viommu_endpoints; i++) {
		if (cfg->viommu_endpoints[i] == cfg->viommu_bdf) {
			pr_err("ACPI: the virtio-iommu (00:%02x.%x) cannot translate itself",
			       cfg->viommu_bdf >> 3, cfg->viommu_bdf & 7);
			return -EINVAL;
		}
	}
	return 0;
}

int acpi_tables_build(const struct acpi_config *cfg, uint8_t *buf, size_t size, uint64_t base_gpa,
		      size_t *used)
{
	struct acpi_builder b = { .buf = buf, .size = size, .base_gpa = base_gpa };
	struct acpi_header *dsdt, *tables[ACPI_XSDT_ENTRIES];
	struct acpi_header *xsdt;
	struct acpi_rsdp *rsdp;
	unsigned nr_tables = cfg->viommu ? 4 : 3;
	size_t xsdt_len = sizeof(*xsdt) + sizeof(uint64_t) * nr_tables;
	int ret;

	ret = acpi_config_check(cfg);
	if (ret)
		return ret;
	/* The RSDP first: the legacy scan looks for it on 16-byte boundaries from base_gpa. */
	if (!IS_ALIGNED(base_gpa, ACPI_TABLE_ALIGN)) {
		pr_err("ACPI: tables at 0x%llx, the RSDP needs 16-byte alignment",
		       (unsigned long long)base_gpa);
		return -EINVAL;
	}
	rsdp = acpi_builder_alloc(&b, sizeof(*rsdp));
	xsdt = rsdp ? acpi_builder_alloc(&b, xsdt_len) : NULL;
	if (!xsdt)
		goto too_small;
	/* The DSDT before the tables after it: the AML builder may use all the room left. */
	ret = acpi_dsdt_build(&b, cfg, &dsdt);
	if (!ret)
		ret = acpi_fadt_build(&b, acpi_builder_gpa(&b, dsdt), &tables[0]);
	if (!ret)
		ret = acpi_madt_build(&b, cfg->nr_cpus, &tables[1]);
	if (!ret)
		ret = acpi_mcfg_build(&b, &tables[2]);
	if (!ret && cfg->viommu)
		ret = acpi_viot_build(&b, cfg, &tables[3]);
	if (ret == -ENOSPC)
		goto too_small;
	if (ret)
		return ret;

	acpi_header_init(xsdt, "XSDT", (uint32_t)xsdt_len, 1);
	for (size_t i = 0; i < nr_tables; i++)
		aml_put_le((uint8_t *)(xsdt + 1) + 8 * i, acpi_builder_gpa(&b, tables[i]), 8);
	acpi_header_checksum(xsdt);

	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, ACPI_OEM_ID, 6);
	rsdp->revision = 2;
	rsdp->rsdt_address = 0; /* XSDT only, as Cloud Hypervisor */
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = acpi_builder_gpa(&b, xsdt);
	rsdp->checksum = acpi_checksum(rsdp, 20);
	rsdp->extended_checksum = acpi_checksum(rsdp, sizeof(*rsdp));

	*used = b.used;
	pr_debug("ACPI: tables at 0x%llx, %zu bytes, %u vCPUs", (unsigned long long)base_gpa,
		 b.used, cfg->nr_cpus);
	return 0;

too_small:
	pr_err("ACPI: tables do not fit in %zu bytes at 0x%llx", size,
	       (unsigned long long)base_gpa);
	return -ENOSPC;
}
