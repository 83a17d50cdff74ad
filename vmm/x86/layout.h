/* SPDX-License-Identifier: MIT */
/*
 * The x86 guest-physical and port layout of a ptvm machine. Everything that must agree between
 * the boot code, the ACPI tables and the device models lives here.
 *
 *   0x0000_0000  RAM (e820 usable up to the EBDA)
 *   0x0000_0500  GDT the boot code installs                (BOOT_GDT_GPA)
 *   0x0000_7000  zero page / boot_params or hvm_start_info (BOOT_PARAMS_GPA)
 *   0x0000_9000  identity page tables (PML4, PDPT, 4 PDs)   (BOOT_PML4_GPA ..)
 *   0x0002_0000  kernel command line                       (BOOT_CMDLINE_GPA)
 *   0x0009_fc00  EBDA                                       (e820 reserved)
 *   0x000e_0000  ACPI tables, RSDP first (e820 reserved, found by the legacy scan too)
 *   0x000f_fff0  the reset vector: a stub that resets through the ACPI reset register
 *   0x0010_0000  kernel, then free RAM; the initrd goes at the top of low RAM
 *   low RAM ends at min(memory, 3 GiB)
 *   0xc000_0000  32-bit PCI MMIO window (512 MiB)
 *   0xe000_0000  PCIe ECAM (256 buses x 1 MiB, e820 reserved)
 *   0xfec0_0000  IOAPIC
 *   0xfee0_0000  LAPIC
 *   0x1_0000_0000  RAM above 4 GiB (memory - 3 GiB), when memory > 3 GiB
 *   then, 1 GiB aligned, the 64-bit PCI MMIO window (64 GiB)
 */
#ifndef PTVM_LAYOUT_H
#define PTVM_LAYOUT_H

#define BOOT_GDT_GPA 0x500ULL
#define BOOT_IDT_GPA 0x520ULL
#define BOOT_PARAMS_GPA 0x7000ULL
#define BOOT_PML4_GPA 0x9000ULL
#define BOOT_PDPT_GPA 0xa000ULL
#define BOOT_PD_GPA 0xb000ULL /* four 4 KiB PDs: 0xb000..0xefff map 0-4 GiB */
#define BOOT_CMDLINE_GPA 0x20000ULL
#define BOOT_CMDLINE_MAX 0x10000ULL /* what ptvm itself accepts; the kernel may accept less */
#define BOOT_STACK_GPA 0x8ff0ULL

#define EBDA_GPA 0x9fc00ULL
#define LOW_RAM_E820_END EBDA_GPA

#define ACPI_TABLES_GPA 0xe0000ULL
#define ACPI_TABLES_SIZE 0x10000ULL /* up to 0xf0000 */

/* Where a CPU starts after INIT/reset (f000:fff0): ptvm puts a stub there that asks for a
 * reset through ACPI_RESET_PORT, for guests that reboot by jumping to the BIOS */
#define RESET_VECTOR_GPA 0xffff0ULL

#define KERNEL_LOAD_GPA 0x100000ULL
#define HIGH_RAM_START 0x100000ULL

#define PCI_HOLE_START 0xc0000000ULL /* low RAM ends here at the latest */
#define PCI_MMIO32_START 0xc0000000ULL
#define PCI_MMIO32_SIZE 0x20000000ULL
#define PCI_ECAM_BASE 0xe0000000ULL
#define PCI_ECAM_SIZE 0x10000000ULL
#define PCI_ECAM_BUSES 256
#define IOAPIC_GPA 0xfec00000ULL
#define LAPIC_GPA 0xfee00000ULL
#define RAM_ABOVE_4G_START 0x100000000ULL
#define PCI_MMIO64_SIZE 0x1000000000ULL /* 64 GiB, placed 1 GiB aligned above RAM */

/* I/O ports */
#define PCI_IO_START 0xc000
#define PCI_IO_SIZE 0x4000
#define COM1_PORT 0x3f8
#define COM1_IRQ 4
#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define DEBUG_EXIT_PORT 0xf4
/* ACPI hardware-reduced sleep control/status and reset registers (FADT), 1 byte each */
#define ACPI_SLEEP_CTL_PORT 0x3c0
#define ACPI_SLEEP_STS_PORT 0x3c1
#define ACPI_RESET_PORT 0x3c2
#define ACPI_RESET_VALUE 0x1
#define ACPI_S5_SLP_TYP 5 /* the _S5_ package value; the guest writes SLP_TYP << 2 | SLP_EN */
#define ACPI_SLP_EN (1 << 5)

/* IOAPIC pins that the DSDT's _PRT hands to PCI INTx: slot s, pin p -> 16 + ((s + p) & 7) */
#define PCI_INTX_GSI_BASE 16
#define PCI_INTX_GSI_COUNT 8

/*
 * The PCI host's windows, an initializer of devices/pci.h's struct pci_bus_windows: the
 * machine (vmm/x86/arch.c) and the tests and fuzz targets that stand in for it take the same
 * windows from here. Only the 64-bit window moves, with the RAM size (arch_ram_layout).
 */
#define PCI_BUS_WINDOWS(mmio64)                                                                    \
	{                                                                                          \
		.mmio32_start = PCI_MMIO32_START, .mmio32_size = PCI_MMIO32_SIZE,                  \
		.mmio64_start = (mmio64), .mmio64_size = PCI_MMIO64_SIZE,                          \
		.io_start = PCI_IO_START, .io_size = PCI_IO_SIZE, .ecam_base = PCI_ECAM_BASE,      \
		.ecam_size = PCI_ECAM_SIZE, .config_ports = true,                                  \
		.intx_line_base = PCI_INTX_GSI_BASE, .intx_line_count = PCI_INTX_GSI_COUNT,        \
	}

#endif
