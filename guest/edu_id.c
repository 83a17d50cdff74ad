/* SPDX-License-Identifier: MIT */
/* ptvm-args: --memory 128M --device "vfio=$EDU0" */
/*
 * edu_id: a passed-through edu device (tests/testhost/suites/vfio.sh hands it over, with its
 * BAR0 mmap'd or trapped) answers through BAR0: the ID register reads 0x010000ed and the
 * liveness register reads back the complement of what was written. Then EDU_OPS liveness
 * round trips (one write, one read each) at CPL3, timed, so that the suite can divide ptvm's
 * trapped-access count by them: MMIO exits per edu operation.
 */
#include "edu.h"

const char test_name[] = "edu_id";

#define EDU_OPS 1000u

static struct edu edu;

static uint64_t liveness_loop(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint32_t v = 0x9e3779b9u * (uint32_t)(i + 1);

		edu_write(&edu, EDU_REG_LIVENESS, v);
		if (edu_read(&edu, EDU_REG_LIVENESS) != ~v)
			return i + 1;
	}
	return 0;
}

int test_main(void)
{
	uint32_t id, back;
	uint64_t t0, t1, bad;

	if (edu_find(0, &edu))
		test_fail(10, "no edu device on the bus (run with --device vfio=<edu BDF>)");
	id = edu_read(&edu, EDU_REG_ID);
	printf("edu_id: ID register 0x%08x\n", id);
	if (id != EDU_ID_VALUE)
		test_fail(11, "ID register reads 0x%08x, want 0x%08x", id, EDU_ID_VALUE);
	edu_write(&edu, EDU_REG_LIVENESS, 0x12345678);
	back = edu_read(&edu, EDU_REG_LIVENESS);
	if (back != 0xedcba987)
		test_fail(12, "liveness: wrote 0x12345678, read 0x%08x, want 0xedcba987", back);
	t0 = rdtsc();
	bad = user_call(liveness_loop, EDU_OPS);
	t1 = rdtsc();
	if (bad)
		test_fail(13, "liveness round trip %llu read back wrong", (unsigned long long)bad);
	printf("edu_id: EDU_OPS=%u liveness round trips (2 BAR0 accesses each) at CPL3, "
	       "%llu TSC cycles each\n",
	       EDU_OPS, (unsigned long long)((t1 - t0) / EDU_OPS));
	return 0;
}
