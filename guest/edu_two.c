/* SPDX-License-Identifier: MIT */
/* ptvm-args: --memory 128M --device "vfio=$EDU0" --device "vfio=$EDU1" */
/*
 * edu_two: both edu devices of the test host passed through to one VM (one container or two,
 * iommu/ decides): each has its own BAR0 and ID, their liveness registers are independent,
 * and each DMAs guest RAM correctly with its own pattern.
 */
#include "edu.h"

const char test_name[] = "edu_two";

int test_main(void)
{
	struct edu a, b;

	if (edu_find(0, &a) || edu_find(1, &b))
		test_fail(10, "want two edu devices on the bus (two --device vfio=...)");
	if (a.bar0 == b.bar0)
		test_fail(11, "both edu devices have BAR0 at 0x%llx", (unsigned long long)a.bar0);
	if (edu_read(&a, EDU_REG_ID) != EDU_ID_VALUE || edu_read(&b, EDU_REG_ID) != EDU_ID_VALUE)
		test_fail(12, "ID registers read 0x%08x and 0x%08x", edu_read(&a, EDU_REG_ID),
			  edu_read(&b, EDU_REG_ID));
	edu_write(&a, EDU_REG_LIVENESS, 0x11111111);
	edu_write(&b, EDU_REG_LIVENESS, 0x22222222);
	if (edu_read(&a, EDU_REG_LIVENESS) != ~0x11111111u ||
	    edu_read(&b, EDU_REG_LIVENESS) != ~0x22222222u)
		test_fail(13, "liveness registers are not independent (0x%08x, 0x%08x)",
			  edu_read(&a, EDU_REG_LIVENESS), edu_read(&b, EDU_REG_LIVENESS));
	edu_dma_selftest(&a, 0x31);
	edu_dma_selftest(&b, 0x77);
	return 0;
}
