/* SPDX-License-Identifier: MIT */
/*
 * acpi: the RSDP through start_info.rsdp_paddr and through the legacy scan of
 * 0xE0000-0xFFFFF (same one), every table the XSDT lists plus the DSDT (through the FADT)
 * with a valid checksum, and a MADT with as many enabled local APICs as `cpus=N` says.
 */
/* ptvm-args: --cpus 2 --cmdline cpus=2 */
#include "kit.h"

const char test_name[] = "acpi";

#define MAX_TABLES 64

struct sum_job {
	unsigned int n;
	const struct acpi_header *t[MAX_TABLES];
	uint8_t sum[MAX_TABLES];
};

/* CPL3: the byte loops are the bulk of this test */
static uint64_t sum_tables(uint64_t arg)
{
	struct sum_job *job = (void *)arg;

	for (unsigned int i = 0; i < job->n; i++)
		job->sum[i] = acpi_checksum(job->t[i], job->t[i]->length);
	return 0;
}

static uint64_t scan_legacy(uint64_t unused)
{
	return acpi_rsdp_scan(0xe0000, 0x100000);
}

static bool table_sane(const struct acpi_header *t)
{
	return (uint64_t)t >= 0x1000 && (uint64_t)t < 0x100000000ull && t->length >= sizeof(*t) &&
	       t->length < 0x1000000;
}

static void job_add(struct sum_job *job, const struct acpi_header *t)
{
	if (job->n == MAX_TABLES)
		test_fail(10, "more than %d ACPI tables", MAX_TABLES);
	job->t[job->n++] = t;
}

static struct sum_job job;

int test_main(void)
{
	uint64_t si_rsdp = bootinfo.si.rsdp_paddr, scanned, want_cpus = 1, x;
	const struct acpi_rsdp *rsdp = (const void *)si_rsdp;
	const struct acpi_header *root, *fadt = NULL, *madt = NULL, *mcfg = NULL;
	bool xsdt;
	unsigned int n, lapics = 0, ioapics = 0;
	uint8_t seen[256] = {0};

	if (!si_rsdp)
		test_fail(11, "start_info.rsdp_paddr is 0");
	if (!acpi_rsdp_valid(rsdp))
		test_fail(12, "no valid RSDP at start_info.rsdp_paddr 0x%llx",
			  (unsigned long long)si_rsdp);
	scanned = user_call(scan_legacy, 0);
	if (!scanned)
		test_fail(13, "legacy scan of 0xE0000-0xFFFFF found no RSDP");
	if (scanned != si_rsdp)
		test_fail(14, "legacy scan found the RSDP at 0x%llx, start_info says 0x%llx",
			  (unsigned long long)scanned, (unsigned long long)si_rsdp);

	xsdt = rsdp->revision >= 2;
	if (xsdt && !rsdp->xsdt_address)
		test_fail(15, "RSDP revision %u without an XSDT address", rsdp->revision);
	x = xsdt ? rsdp->xsdt_address : rsdp->rsdt_address;
	root = (const void *)x;
	if (!table_sane(root) || memcmp(root->signature, xsdt ? "XSDT" : "RSDT", 4))
		test_fail(16, "%s at 0x%llx is not one", xsdt ? "XSDT" : "RSDT",
			  (unsigned long long)x);
	printf("acpi: RSDP at 0x%llx rev %u, %s at 0x%llx\n", (unsigned long long)si_rsdp,
	       rsdp->revision, xsdt ? "XSDT" : "RSDT (no XSDT: revision 0 RSDP)",
	       (unsigned long long)x);
	job_add(&job, root);

	n = (root->length - sizeof(*root)) / (xsdt ? 8 : 4);
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)(root + 1) + i * (xsdt ? 8 : 4);
		uint64_t a = xsdt ? *(const uint64_t *)e : *(const uint32_t *)e;
		const struct acpi_header *t = (const void *)a;

		if (!table_sane(t))
			test_fail(17, "entry %u of the root table points at 0x%llx", i,
				  (unsigned long long)a);
		job_add(&job, t);
		if (!memcmp(t->signature, "FACP", 4))
			fadt = t;
		else if (!memcmp(t->signature, "APIC", 4))
			madt = t;
		else if (!memcmp(t->signature, "MCFG", 4))
			mcfg = t;
	}
	if (!fadt)
		test_fail(18, "no FADT (FACP)");
	if (!madt)
		test_fail(19, "no MADT (APIC)");
	if (!mcfg)
		test_fail(20, "no MCFG");

	/* the DSDT hangs off the FADT: X_DSDT (offset 140) wins over DSDT (offset 40) */
	x = 0;
	if (fadt->length >= 148)
		x = *(const uint64_t *)((const uint8_t *)fadt + 140);
	if (!x)
		x = *(const uint32_t *)((const uint8_t *)fadt + 40);
	if (!table_sane((const void *)x) ||
	    memcmp(((const struct acpi_header *)x)->signature, "DSDT", 4))
		test_fail(21, "the FADT's DSDT pointer 0x%llx is no DSDT", (unsigned long long)x);
	job_add(&job, (const void *)x);

	user_call(sum_tables, (uint64_t)&job);
	for (unsigned int i = 0; i < job.n; i++) {
		const struct acpi_header *t = job.t[i];

		printf("acpi: %.4s at 0x%llx, %u bytes, checksum %s\n", t->signature,
		       (unsigned long long)(uint64_t)t, t->length, job.sum[i] ? "BAD" : "ok");
		if (job.sum[i])
			test_fail(22, "%.4s at 0x%llx: checksum is off by 0x%02x", t->signature,
				  (unsigned long long)(uint64_t)t, job.sum[i]);
	}

	/* MADT: enabled local APICs, unique IDs, at least one IOAPIC */
	for (const uint8_t *p = (const uint8_t *)madt + 44,
			   *end = (const uint8_t *)madt + madt->length;
	     p + 2 <= end && p[1] >= 2 && p + p[1] <= end; p += p[1]) {
		if (p[0] == 0 && p[1] >= 8 && (*(const uint32_t *)(p + 4) & 1)) {
			if (seen[p[3]]++)
				test_fail(23, "MADT lists APIC ID %u twice", p[3]);
			lapics++;
		} else if (p[0] == 9 && p[1] >= 16 && (*(const uint32_t *)(p + 8) & 1)) {
			lapics++;
		} else if (p[0] == 1) {
			ioapics++;
		}
	}
	if (!cmdline_get_uint("cpus", &want_cpus))
		printf("acpi: no cpus=N on the command line, expecting 1 CPU\n");
	printf("acpi: MADT lists %u enabled local APICs, %u IOAPICs; told %llu CPUs\n", lapics,
	       ioapics, (unsigned long long)want_cpus);
	if (lapics != want_cpus)
		test_fail(24, "MADT lists %u enabled local APICs, the command line says cpus=%llu",
			  lapics, (unsigned long long)want_cpus);
	if (!ioapics)
		test_fail(25, "MADT lists no IOAPIC");
	return 0;
}
