/* SPDX-License-Identifier: MIT */
/*
 * The config space of the edu-like PCI function that the passthrough model is tested against
 * (tests/unit/vfio_pci_model_test.c) and fuzzed against (tests/fuzz/fuzz_vfio_pci.c): BAR0
 * MEM32, BAR1 I/O, BAR2 MEM64 prefetchable holding the MSI-X table and PBA, a ROM;
 * capabilities PM 0x40 -> MSI 0x50 -> PCIe 0x60 -> MSI-X 0x70 -> vendor 0x80. What a last user
 * left behind is there too (MSI enabled with a junk address, the multifunction bit), since
 * the model must hide it.
 */
#ifndef PTVM_TESTS_UNIT_FAKE_EDU_H
#define PTVM_TESTS_UNIT_FAKE_EDU_H

#include <linux/pci_regs.h>
#include <stdint.h>
#include <string.h>

#define EDU_MSI_CAP 0x50
#define EDU_PCIE_CAP 0x60
#define EDU_MSIX_CAP 0x70
#define EDU_MSIX_TABLE_OFF 0x2000
#define EDU_MSIX_PBA_OFF 0x3000

static inline void fake_edu_put(uint8_t *cfg, unsigned off, uint32_t v, unsigned len)
{
	memcpy(&cfg[off], &v, len);
}

/* Fills the 256-byte @cfg (cleared by the caller) with @msix_vectors MSI-X vectors. */
static inline void fake_edu_config(uint8_t *cfg, unsigned msix_vectors)
{
	fake_edu_put(cfg, PCI_VENDOR_ID, 0x1234, 2);
	fake_edu_put(cfg, PCI_DEVICE_ID, 0x11e8, 2);
	fake_edu_put(cfg, PCI_CLASS_REVISION, 0x00ff0010, 4);
	fake_edu_put(cfg, PCI_STATUS, PCI_STATUS_CAP_LIST, 2);
	fake_edu_put(cfg, PCI_HEADER_TYPE, 0x80, 1); /* multifunction: must be hidden */
	fake_edu_put(cfg, PCI_BASE_ADDRESS_0, 0xfea00000, 4);
	fake_edu_put(cfg, PCI_BASE_ADDRESS_1, 0xc001, 4);
	fake_edu_put(cfg, PCI_BASE_ADDRESS_2, 0xfe00000c, 4);
	fake_edu_put(cfg, PCI_SUBSYSTEM_VENDOR_ID, 0x11001af4, 4);
	fake_edu_put(cfg, PCI_ROM_ADDRESS, 0xfeb00000, 4);
	fake_edu_put(cfg, PCI_CAPABILITY_LIST, 0x40, 1);
	fake_edu_put(cfg, PCI_INTERRUPT_PIN, 1, 1);
	fake_edu_put(cfg, PCI_INTERRUPT_LINE, 11, 1);
	fake_edu_put(cfg, 0x40, PCI_CAP_ID_PM | EDU_MSI_CAP << 8 | 0x0003 << 16, 4);
	/* MSI: 64-bit, per-vector masks, 4 vectors capable, enabled with junk by a last user */
	fake_edu_put(cfg, EDU_MSI_CAP, PCI_CAP_ID_MSI | EDU_PCIE_CAP << 8, 2);
	fake_edu_put(cfg, EDU_MSI_CAP + PCI_MSI_FLAGS,
		     PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | 2 << 1 | PCI_MSI_FLAGS_ENABLE,
		     2);
	fake_edu_put(cfg, EDU_MSI_CAP + PCI_MSI_ADDRESS_LO, 0xdeadbeec, 4);
	fake_edu_put(cfg, EDU_PCIE_CAP, PCI_CAP_ID_EXP | EDU_MSIX_CAP << 8, 2);
	fake_edu_put(cfg, EDU_MSIX_CAP, PCI_CAP_ID_MSIX | 0x80 << 8, 2);
	fake_edu_put(cfg, EDU_MSIX_CAP + PCI_MSIX_FLAGS, msix_vectors - 1, 2);
	fake_edu_put(cfg, EDU_MSIX_CAP + PCI_MSIX_TABLE, EDU_MSIX_TABLE_OFF | 2, 4);
	fake_edu_put(cfg, EDU_MSIX_CAP + PCI_MSIX_PBA, EDU_MSIX_PBA_OFF | 2, 4);
	fake_edu_put(cfg, 0x80, PCI_CAP_ID_VNDR | 0 << 8 | 4 << 16, 4);
	fake_edu_put(cfg, 0x84, 0xcafef00d, 4);
}

#endif
