/* SPDX-License-Identifier: MIT */
/* ptvm-args: --memory 128M --device "vfio=$EDU0" */
/*
 * edu_dma_unmapped: the IOMMU is really in the DMA path. With 128 MiB of guest RAM, IOVA
 * 0x0c000000 (192 MiB, inside edu's 28-bit reach) is no guest memory, so ptvm's DMA listener
 * never mapped it: edu's DMA write there must be blocked by the test host's
 * IOMMU (its kernel logs a DMAR fault, which tests/testhost/suites/vfio.sh checks) and must
 * leave ptvm and the device working: a normal DMA round trip still passes afterwards.
 */
#include "edu.h"

const char test_name[] = "edu_dma_unmapped";

#define UNMAPPED_IOVA 0x0c000000ull
#define TIMEOUT_US 2000000ull

int test_main(void)
{
	struct edu e;

	if (edu_find(0, &e))
		test_fail(10, "no edu device on the bus (run with --device vfio=<edu BDF>)");
	for (unsigned int i = 0; i < bootinfo.nr_memmap; i++) {
		const struct hvm_memmap_entry *m = &bootinfo.memmap[i];

		if (m->type == E820_RAM && UNMAPPED_IOVA < m->addr + m->size &&
		    m->addr < UNMAPPED_IOVA + PAGE_SIZE)
			test_fail(11, "0x%llx is guest RAM here: run with --memory 128M",
				  (unsigned long long)UNMAPPED_IOVA);
	}
	printf("edu_dma_unmapped: DMA device -> IOVA 0x%llx (not guest RAM, not mapped)\n",
	       (unsigned long long)UNMAPPED_IOVA);
	if (edu_dma(&e, UNMAPPED_IOVA, 0, 256, true, TIMEOUT_US))
		test_fail(12, "the blocked DMA to RAM never ended");
	if (edu_read(&e, EDU_REG_ID) != EDU_ID_VALUE)
		test_fail(14, "edu no longer answers after the blocked DMA");
	edu_dma_selftest(&e, 0x5c);
	printf("edu_dma_unmapped: the device still works after the blocked DMA\n");
	return 0;
}
