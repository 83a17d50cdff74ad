/* SPDX-License-Identifier: MIT */
/*
 * bench_startup: the start-up and memory benchmarks' guest (tests/bench). First thing in
 * test_main it writes BENCH_MARKER_VALUE to port BENCH_MARKER_PORT (0x80, a no-op port for
 * ptvm and QEMU alike), which the host sees as a kvm_pio trace event: "VMM exec -> marker".
 * With hold=1 on the command line it then prints "bench_startup: ready" and spins at CPL3
 * until the host has read the VMM's memory figures and kills it; without, it passes at once
 * (so that tests/guest/run.sh can run it as a test: the marker write must not end the VM).
 */
#include "kit.h"

const char test_name[] = "bench_startup";

#define BENCH_MARKER_PORT 0x80
#define BENCH_MARKER_VALUE 0x42

static uint64_t user_hold(uint64_t arg)
{
	printf("bench_startup: ready\n");
	for (;;)
		cpu_relax();
	return 0;
}

int test_main(void)
{
	uint64_t hold = 0;

	outb(BENCH_MARKER_PORT, BENCH_MARKER_VALUE);
	if (cmdline_get_uint("hold", &hold) && hold)
		user_call(user_hold, 0);
	return 0;
}
