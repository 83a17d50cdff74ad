/* SPDX-License-Identifier: MIT */
/*
 * pci: the host bridge 00:00.0 through configuration mechanism 1 (0xCF8/0xCFC) and through
 * ECAM (base from the ACPI MCFG, else 0xE0000000); both must show the same device.
 */
#include "kit.h"

const char test_name[] = "pci";

int test_main(void)
{
	uint32_t id1, idm, cls1, clsm, hdr1, hdrm;
	uint64_t ecam = pci_ecam_base();

	id1 = pci_cfg1_read32(0, 0, 0, 0x00);
	cls1 = pci_cfg1_read32(0, 0, 0, 0x08);
	hdr1 = pci_cfg1_read32(0, 0, 0, 0x0c);
	idm = pci_ecam_read32(0, 0, 0, 0x00);
	clsm = pci_ecam_read32(0, 0, 0, 0x08);
	hdrm = pci_ecam_read32(0, 0, 0, 0x0c);
	printf("pci: 00:00.0 via 0xcf8: %04x:%04x class %06x; via ECAM at 0x%llx: %04x:%04x class "
	       "%06x\n",
	       id1 & 0xffff, id1 >> 16, cls1 >> 8, (unsigned long long)ecam, idm & 0xffff,
	       idm >> 16, clsm >> 8);

	if ((id1 & 0xffff) == 0xffff || id1 == 0)
		test_fail(10, "no device at 00:00.0 through 0xcf8/0xcfc (read 0x%08x)", id1);
	if ((idm & 0xffff) == 0xffff || idm == 0)
		test_fail(11, "no device at 00:00.0 through ECAM at 0x%llx (read 0x%08x)",
			  (unsigned long long)ecam, idm);
	if (id1 != idm)
		test_fail(12, "vendor/device differ: 0xcf8 says 0x%08x, ECAM says 0x%08x", id1,
			  idm);
	if (cls1 != clsm)
		test_fail(13, "class/revision differ: 0xcf8 says 0x%08x, ECAM says 0x%08x", cls1,
			  clsm);
	if (hdr1 != hdrm)
		test_fail(14, "header dword differs: 0xcf8 says 0x%08x, ECAM says 0x%08x", hdr1,
			  hdrm);
	if (cls1 >> 8 != 0x060000)
		test_fail(15, "00:00.0 is class 0x%06x, not a host bridge (0x060000)", cls1 >> 8);
	/* the other mechanism must see a write too: the command register, restored after */
	uint32_t cmd = pci_cfg1_read32(0, 0, 0, 0x04);
	pci_ecam_write32(0, 0, 0, 0x04, (cmd & 0xffff) ^ 0x4); /* toggle bus master */
	uint32_t seen = pci_cfg1_read32(0, 0, 0, 0x04);
	pci_cfg1_write32(0, 0, 0, 0x04, cmd & 0xffff);
	if ((seen & 0x4) == (cmd & 0x4))
		printf("pci: note: command bit 2 did not change (read-only on this bridge)\n");
	/* a function that does not exist reads all ones through both */
	if (pci_cfg1_read32(0, 31, 7, 0) != 0xffffffffu &&
	    pci_ecam_read32(0, 31, 7, 0) != pci_cfg1_read32(0, 31, 7, 0))
		test_fail(16, "00:1f.7 differs between mechanisms");
	return 0;
}
