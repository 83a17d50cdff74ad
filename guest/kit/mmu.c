/* SPDX-License-Identifier: MIT */
/* Mappings beyond the boot-time identity map: 64-bit BARs placed above RAM. */
#include "kit.h"

#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull
#define GIB (1ull << 30)
#define MIB2 (1ull << 21)
#define FOUR_GIB 0x100000000ull

extern uint64_t kit_pml4[512];

void *page_zalloc(void)
{
	void *p = page_alloc();

	if (p)
		memset(p, 0, PAGE_SIZE);
	return p;
}

/* The table that entry @e points to, allocated (and linked in) when not present. */
static uint64_t *table_get(uint64_t *e)
{
	uint64_t *t;

	if (*e & PTE_P)
		return (uint64_t *)(*e & PTE_ADDR);
	t = page_zalloc();
	if (!t)
		return NULL;
	*e = (uint64_t)t | PTE_P | PTE_RW | PTE_US;
	return t;
}

int mmio_map(uint64_t pa, uint64_t len)
{
	uint64_t a = pa & ~(MIB2 - 1), end = pa + len;

	if (end <= FOUR_GIB)
		return 0; /* the boot map: 3-4 GiB uncached, user-accessible */
	if (a < FOUR_GIB)
		a = FOUR_GIB;
	for (; a < end; a += MIB2) {
		uint64_t *pdpt = table_get(&kit_pml4[(a >> 39) & 511]);
		uint64_t *pd = pdpt ? table_get(&pdpt[(a >> 30) & 511]) : NULL;
		uint64_t *pde;

		if (!pd)
			return -1;
		pde = &pd[(a >> 21) & 511];
		if (!(*pde & PTE_P))
			*pde = a | PTE_P | PTE_RW | PTE_US | PTE_PWT | PTE_PCD | PTE_PS;
	}
	return 0;
}
