/* SPDX-License-Identifier: MIT */
/*
 * The ACPI tables of a ptvm machine: RSDP (revision 2) -> XSDT -> FADT (hardware-reduced, with
 * the DSDT), MADT, MCFG, and VIOT when a virtio-iommu sits in front of PCI functions. They describe
 * the layout of vmm/x86/layout.h so that a stock Linux finds every vCPU, the IOAPIC, the PCI host
 * bridge with its windows and _PRT, COM1, and can power off and reset through the FADT's sleep
 * control and reset registers.
 */
#ifndef PTVM_ACPI_H
#define PTVM_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_OEM_ID "PTVM  "
#define ACPI_OEM_TABLE_ID "PTVMTBLS"
/* LAPIC IDs are 8 bits and 0xff is the broadcast ID: xAPIC entries describe at most 255. */
#define ACPI_MAX_CPUS 255

struct acpi_config {
	unsigned nr_cpus; /* LAPIC IDs 0..nr_cpus-1 */
	/* 64-bit PCI window; 32-bit window, ECAM, IOAPIC, LAPIC, ports come from vmm/x86/layout.h
	 */
	uint64_t mmio64_start, mmio64_size;
	/* The virtio-iommu, for the VIOT: its PCI requester ID (segment 0) and those of the
	 * functions behind it (their endpoint IDs are their requester IDs). No VIOT without it. */
	bool viommu;
	uint16_t viommu_bdf;
	unsigned nr_viommu_endpoints;
	const uint16_t *viommu_endpoints;
};

/*
 * Builds RSDP (at offset 0, i.e. at base_gpa), XSDT, FADT, DSDT, MADT, MCFG (and VIOT) into
 * buf, every pointer being base_gpa + offset; *used = bytes used. -ENOSPC if buf is too
 * small, -EINVAL for a bad config (nr_cpus 0 or above ACPI_MAX_CPUS, a 64-bit window that
 * wraps, the virtio-iommu among its own endpoints).
 */
int acpi_tables_build(const struct acpi_config *cfg, uint8_t *buf, size_t size, uint64_t base_gpa,
		      size_t *used);

#endif
