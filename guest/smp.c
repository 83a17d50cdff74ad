/* SPDX-License-Identifier: MIT */
/*
 * smp: every processor the ACPI MADT lists as enabled is started with INIT-SIPI-SIPI through
 * the local APIC and must report in from long mode on its own stack.
 */
/* ptvm-args: --cpus 4 */
#include "kit.h"

const char test_name[] = "smp";

static volatile uint8_t reported[256];

static void ap_report(unsigned int apic_id)
{
	if (apic_id < 256)
		reported[apic_id] = 1;
}

int test_main(void)
{
	unsigned int ids[SMP_MAX_CPUS], self = lapic_id();
	int n = madt_lapic_ids(ids, SMP_MAX_CPUS);
	char missing[256];
	size_t len = 0;
	int nmissing = 0;
	uint64_t t0;

	if (n < 0)
		test_fail(10, "no MADT in the ACPI tables");
	printf("smp: MADT lists %d enabled CPUs, boot CPU APIC ID %u\n", n, self);
	reported[self] = 1;
	for (int i = 0; i < n; i++) {
		if (ids[i] == self)
			continue;
		if (ids[i] >= 255)
			test_fail(11, "APIC ID %u needs x2APIC, not supported by the kit", ids[i]);
		if (smp_start_ap(ids[i], ap_report))
			test_fail(12, "cannot start APIC ID %u", ids[i]);
	}
	/* generous: about 1-3 s depending on the TSC rate */
	t0 = rdtsc();
	for (;;) {
		int done = 0;

		for (int i = 0; i < n; i++)
			done += reported[ids[i]];
		if (done == n || rdtsc() - t0 > 3000000000ull)
			break;
		delay_us(1000);
	}
	for (int i = 0; i < n; i++) {
		if (reported[ids[i]])
			continue;
		nmissing++;
		len += (size_t)snprintf(missing + len,
					len < sizeof(missing) ? sizeof(missing) - len : 0, " %u",
					ids[i]);
	}
	if (nmissing)
		test_fail(13, "%d of %d CPUs did not report in; missing APIC IDs:%s", nmissing, n,
			  missing);
	printf("smp: all %d CPUs reported in\n", n);
	return 0;
}
