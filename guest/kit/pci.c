/* SPDX-License-Identifier: MIT */
/* PCI configuration space through mechanism 1 (0xCF8/0xCFC) and through ECAM. */
#include "kit.h"

#define PCI_CFG_ADDR 0xcf8
#define PCI_CFG_DATA 0xcfc
#define ECAM_DEFAULT 0xe0000000ull

static uint32_t cfg1_address(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	return 0x80000000u | (bus & 0xff) << 16 | (dev & 0x1f) << 11 | (fn & 7) << 8 | (off & 0xfc);
}

uint32_t pci_cfg1_read32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	outl(PCI_CFG_ADDR, cfg1_address(bus, dev, fn, off));
	return inl(PCI_CFG_DATA);
}

void pci_cfg1_write32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		      uint32_t v)
{
	outl(PCI_CFG_ADDR, cfg1_address(bus, dev, fn, off));
	outl(PCI_CFG_DATA, v);
}

struct mcfg_entry {
	uint64_t base;
	uint16_t segment;
	uint8_t start_bus;
	uint8_t end_bus;
	uint32_t reserved;
} __attribute__((packed));

uint64_t pci_ecam_base(void)
{
	static uint64_t base;
	const struct acpi_header *mcfg;

	if (base)
		return base;
	base = ECAM_DEFAULT;
	mcfg = acpi_table_find("MCFG", 0);
	if (mcfg) {
		const struct mcfg_entry *e = (const void *)((const uint8_t *)mcfg + 44);
		const struct mcfg_entry *end = (const void *)((const uint8_t *)mcfg + mcfg->length);

		for (; e + 1 <= end; e++) {
			if (e->segment == 0 && e->start_bus == 0 && e->base < 0x100000000ull) {
				base = e->base;
				break;
			}
		}
	}
	return base;
}

static uint64_t ecam_address(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	return pci_ecam_base() +
	       ((uint64_t)(bus & 0xff) << 20 | (dev & 0x1f) << 15 | (fn & 7) << 12 | (off & 0xffc));
}

uint32_t pci_ecam_read32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	return mmio_read32(ecam_address(bus, dev, fn, off));
}

void pci_ecam_write32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		      uint32_t v)
{
	mmio_write32(ecam_address(bus, dev, fn, off), v);
}
