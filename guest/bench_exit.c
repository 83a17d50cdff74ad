/* SPDX-License-Identifier: MIT */
/* ptvm-args: --cmdline "n=1000" */
/*
 * bench_exit: VM-exit round trips for tests/bench. n=N (default 1000) 32-bit MMIO writes from
 * CPL3 to the PCI host bridge's vendor ID register in ECAM (00:00.0 offset 0, read-only: the
 * write is a no-op in ptvm and QEMU alike, and every one is a KVM_EXIT_MMIO handled by the
 * VMM). Ring 3, because this host's nested KVM runs ring-0 code ~1000x slower and traps ring-3
 * port I/O to ring 0 (see kit.h); with port=1 the writes go to port 0x80 from ring 0 instead,
 * for hosts whose KVM runs ring 0 at full speed (the test host). Prints the TSC cycles per
 * write; the host turns wall time into ns per exit (two runs, n small and large).
 */
#include "kit.h"

const char test_name[] = "bench_exit";

#define BENCH_PORT 0x80

static uint64_t target;

static uint64_t user_mmio_loop(uint64_t n)
{
	uint64_t t0 = rdtsc();

	for (uint64_t i = 0; i < n; i++)
		mmio_write32(target, 0);
	return rdtsc() - t0;
}

static uint64_t port_loop(uint64_t n)
{
	uint64_t t0 = rdtsc();

	for (uint64_t i = 0; i < n; i++)
		outb(BENCH_PORT, 0);
	return rdtsc() - t0;
}

int test_main(void)
{
	uint64_t n = 1000, port = 0, cycles;
	uint32_t id;

	cmdline_get_uint("n", &n);
	cmdline_get_uint("port", &port);
	if (n == 0)
		test_fail(9, "n=0: nothing to measure");
	target = pci_ecam_base();
	id = mmio_read32(target);
	if ((id & 0xffff) == 0xffff)
		test_fail(10, "no host bridge at 00:00.0 in ECAM at 0x%llx (read 0x%x)",
			  (unsigned long long)target, id);
	cycles = port ? port_loop(n) : user_call(user_mmio_loop, n);
	/* the write must have changed nothing: the register is read-only */
	if (mmio_read32(target) != id)
		test_fail(11, "the vendor/device ID changed after writes of 0");
	printf("bench_exit: %llu %s writes, %llu cycles, %llu cycles each\n", (unsigned long long)n,
	       port ? "ring-0 port" : "ring-3 MMIO", (unsigned long long)cycles,
	       (unsigned long long)(cycles / n));
	return 0;
}
