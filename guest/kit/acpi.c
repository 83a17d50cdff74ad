/* SPDX-License-Identifier: MIT */
/* Finding the RSDP and the tables the XSDT (or, on older firmware, the RSDT) lists. */
#include "kit.h"

uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += b[i];
	return sum;
}

bool acpi_rsdp_valid(const struct acpi_rsdp *p)
{
	if (memcmp(p->signature, "RSD PTR ", 8))
		return false;
	if (acpi_checksum(p, 20))
		return false;
	if (p->revision >= 2 && (p->length < 36 || p->length > 4096 || acpi_checksum(p, p->length)))
		return false;
	return true;
}

uint64_t acpi_rsdp_scan(uint64_t lo, uint64_t hi)
{
	for (uint64_t a = (lo + 15) & ~15ull; a + 20 <= hi; a += 16) {
		const struct acpi_rsdp *p = (const void *)a;

		/* the cheap test first: this loop visits thousands of places */
		if (*(const uint64_t *)p->signature == 0x2052545020445352ull && acpi_rsdp_valid(p))
			return a;
	}
	return 0;
}

static uint64_t rsdp_scan_user(uint64_t unused)
{
	return acpi_rsdp_scan(0xe0000, 0x100000);
}

const struct acpi_rsdp *acpi_rsdp(void)
{
	static const struct acpi_rsdp *rsdp;
	uint64_t a = bootinfo.si.rsdp_paddr;

	if (rsdp)
		return rsdp;
	if (a && a < 0x100000000ull && acpi_rsdp_valid((const void *)a)) {
		rsdp = (const void *)a;
	} else {
		a = cpu_cpl() == 0 ? user_call(rsdp_scan_user, 0) : rsdp_scan_user(0);
		rsdp = (const void *)a;
	}
	return rsdp;
}

const struct acpi_header *acpi_table_find(const char *sig, unsigned int index)
{
	const struct acpi_rsdp *rsdp = acpi_rsdp();
	const struct acpi_header *root;
	bool x;
	unsigned int n;

	if (!rsdp)
		return NULL;
	x = rsdp->revision >= 2 && rsdp->xsdt_address && rsdp->xsdt_address < 0x100000000ull;
	root = (const void *)(x ? rsdp->xsdt_address : (uint64_t)rsdp->rsdt_address);
	if (!root || root->length < sizeof(*root))
		return NULL;
	n = (root->length - sizeof(*root)) / (x ? 8 : 4);
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)(root + 1) + i * (x ? 8 : 4);
		uint64_t a;
		const struct acpi_header *t;

		a = x ? *(const uint64_t *)e : *(const uint32_t *)e; /* unaligned is fine on x86 */
		if (!a || a >= 0x100000000ull)
			continue;
		t = (const void *)a;
		if (!memcmp(t->signature, sig, 4) && index-- == 0)
			return t;
	}
	return NULL;
}
