/* SPDX-License-Identifier: MIT */
/*
 * The arm64 guest-physical layout of a ptvm machine (all of it described to the guest by the
 * device tree, vmm/arm64/fdt.c). Close to QEMU's and kvmtool's virt machines: devices below
 * 1 GiB, RAM from 1 GiB, the 64-bit PCI window above RAM.
 *
 *   0x0000_0000  nothing (no flash, no firmware)
 *   0x0800_0000  GICv3 distributor, 64 KiB                      (GIC_DIST_GPA)
 *   0x0808_0000  GICv3 ITS, 128 KiB                             (GIC_ITS_GPA)
 *   0x080a_0000  GICv3 redistributors, 128 KiB per vCPU, up to 0x0900_0000 (123 vCPUs)
 *   0x0900_0000  16550A UART, SPI 1                             (UART_GPA)
 *   0x0c00_0000  PCI I/O space 0-0xffff, memory-mapped          (PCI_IO_GPA)
 *   0x1000_0000  32-bit PCI MMIO window, 512 MiB
 *   0x3000_0000  PCIe ECAM, 256 buses x 1 MiB
 *   0x4000_0000  RAM (--memory bytes)                           (RAM_GPA)
 *   then, 1 GiB aligned, the 64-bit PCI MMIO window (64 GiB)
 *
 * The host's VFIO MSI window on arm64 (the SMMU's software MSI region, 0x0800_0000 + 1 MiB by
 * default) overlaps the GIC's MMIO, never guest RAM: DMA mappings (IOVA = guest-physical) start
 * at RAM_GPA.
 *
 * Boot (vmm/arm64/boot.c): the kernel at RAM_GPA + text_offset, the device tree in the last
 * 2 MiB of RAM, the initrd just below it.
 */
#ifndef PTVM_ARM64_LAYOUT_H
#define PTVM_ARM64_LAYOUT_H

#define GIC_DIST_GPA 0x08000000ULL
#define GIC_DIST_SIZE 0x10000ULL
#define GIC_ITS_GPA 0x08080000ULL
#define GIC_ITS_SIZE 0x20000ULL
#define GIC_REDIST_GPA 0x080a0000ULL
#define GIC_REDIST_SIZE_PER_CPU 0x20000ULL /* RD_base and SGI_base frames */
#define GIC_REDIST_LIMIT 0x09000000ULL
#define GIC_MAX_CPUS ((GIC_REDIST_LIMIT - GIC_REDIST_GPA) / GIC_REDIST_SIZE_PER_CPU)
/* SPIs ptvm's vGIC has (the distributor's interrupt count is this + 32 private ones) */
#define GIC_NR_SPIS 96

#define UART_GPA 0x09000000ULL
#define UART_SIZE 0x1000ULL
#define UART_SPI 1
#define UART_CLOCK_HZ 1843200

#define PCI_IO_GPA 0x0c000000ULL
#define PCI_IO_SPACE_SIZE 0x10000ULL /* PCI I/O addresses 0-0xffff */
#define PCI_MMIO32_START 0x10000000ULL
#define PCI_MMIO32_SIZE 0x20000000ULL
#define PCI_ECAM_BASE 0x30000000ULL
#define PCI_ECAM_SIZE 0x10000000ULL
#define PCI_ECAM_BUSES 256
#define PCI_MMIO64_SIZE 0x1000000000ULL /* 64 GiB, placed 1 GiB aligned above RAM */
/* where the PCI bus places I/O BARs first, inside PCI I/O space (as on x86) */
#define PCI_IO_START 0xc000
#define PCI_IO_SIZE 0x4000

/* PCI INTx: slot s, pin p (1 = INTA) -> SPI 16 + ((s + p - 1) & 7), as the x86 _PRT does; the
 * device tree's interrupt-map says so */
#define PCI_INTX_GSI_BASE 16
#define PCI_INTX_GSI_COUNT 8

#define RAM_GPA 0x40000000ULL
/* the guest's IPA space ptvm asks KVM for (KVM's default): RAM and the 64-bit window below it */
#define IPA_BITS_DEFAULT 40

/* the device tree: at most 2 MiB, in the last 2 MiB-aligned 2 MiB of RAM */
#define FDT_MAX_SIZE 0x200000ULL

#endif
