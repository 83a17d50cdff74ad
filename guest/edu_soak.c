/* SPDX-License-Identifier: MIT */
/* ptvm-args: --memory 128M --device "vfio=$EDU0" */
/*
 * edu_soak: the passed-through edu device DMAs without end, for `make soak` (the test host's
 * soak suite boots it with --cmdline soak=1 beside a busy Linux guest and stops it with
 * SIGTERM when the time is up). Each round is edu_dma_selftest's round trips RAM -> device ->
 * RAM (sizes 1..4095, data checked byte by byte, nothing past the length changed) through
 * fresh pages with a new pattern; any wrong byte or DMA that never ends fails at once.
 * "SOAK edu rounds=N" every 64 rounds tells the suite that it is alive. Without soak=1 it
 * runs one round and passes, like edu_dma.
 */
#include "edu.h"

const char test_name[] = "edu_soak";

int test_main(void)
{
	struct edu e;
	uint64_t soak = 0;

	if (edu_find(0, &e))
		test_fail(10, "no edu device on the bus (run with --device vfio=<edu BDF>)");
	cmdline_get_uint("soak", &soak);
	for (uint64_t round = 1;; round++) {
		edu_dma_selftest(&e, (uint8_t)round);
		if (!soak)
			break;
		if (round % 64 == 0)
			printf("SOAK edu rounds=%llu\n", (unsigned long long)round);
	}
	return 0;
}
