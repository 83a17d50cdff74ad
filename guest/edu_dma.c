/* SPDX-License-Identifier: MIT */
/* ptvm-args: --memory 128M --device "vfio=$EDU0" */
/*
 * edu_dma: the passed-through edu device DMAs guest RAM (IOVA = guest-physical, mapped by
 * ptvm's DMA listener) into its buffer and back out to another page, for several sizes and
 * buffer offsets (all below 4096 bytes, all addresses below 256 MiB: edu's limits); the data
 * must come back intact and nothing past the length may change.
 */
#include "edu.h"

const char test_name[] = "edu_dma";

int test_main(void)
{
	struct edu e;

	if (edu_find(0, &e))
		test_fail(10, "no edu device on the bus (run with --device vfio=<edu BDF>)");
	edu_dma_selftest(&e, 0x11);
	return 0;
}
