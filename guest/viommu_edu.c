/* SPDX-License-Identifier: MIT */
/* ptvm-args: --memory 128M --iommu virtio --device "vfio=$EDU0" --device "vfio=$EDU1" */
/*
 * viommu_edu: both edu devices of the test host passed through behind ptvm's virtio-iommu,
 * each attached to a guest domain of its own (so each in a VFIO container of its own). Each
 * device's DMA reaches exactly what its domain maps: edu0's IOVA X is page A (domain 1), edu1's
 * IOVA Y is page B (domain 2), checked by round trips through the devices' buffers; X and Y
 * are the guest-physical addresses of other pages, filled with a pattern. Then edu0 writes to
 * IOVA Y (mapped only in domain 2) and to X + 4 KiB (the page after its mapping, never
 * mapped): the test host's IOMMU blocks both (its kernel logs
 * DMAR faults, which tests/testhost/suites/viommu.sh checks), the guest pages with those
 * numbers and pages A and B stay as they were, and ptvm and both devices carry on. The domains
 * stay attached at exit, so --report shows two containers, each with only its own mapping.
 * Before any of it, an unattached edu has no DMA at all: a DMA to a guest-physical address is
 * blocked too.
 */
#include "edu.h"
#include "viommu.h"

const char test_name[] = "viommu_edu";

#define LEN 256u
#define TIMEOUT_US 2000000ull

static struct viommu v;

static void fill(uint8_t *p, uint8_t seed)
{
	for (unsigned int i = 0; i < PAGE_SIZE; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static bool same(const uint8_t *p, uint8_t seed)
{
	for (unsigned int i = 0; i < PAGE_SIZE; i++)
		if (p[i] != (uint8_t)(seed + i * 7))
			return false;
	return true;
}

/* A round trip through @e's buffer at @iova (its domain maps it to @page): true when the
 * pattern came back into @page. */
static bool round_trip(const struct edu *e, uint64_t iova, uint8_t *page, uint8_t seed)
{
	fill(page, seed);
	if (edu_dma(e, iova, 0, LEN, false, TIMEOUT_US))
		test_fail(20, "DMA RAM -> device at IOVA 0x%llx timed out",
			  (unsigned long long)iova);
	memset(page, 0, LEN);
	if (edu_dma(e, iova, 0, LEN, true, TIMEOUT_US))
		test_fail(21, "DMA device -> RAM at IOVA 0x%llx timed out",
			  (unsigned long long)iova);
	for (unsigned int i = 0; i < LEN; i++)
		if (page[i] != (uint8_t)(seed + i * 7))
			return false;
	return true;
}

/* A DMA from @e's buffer to @iova that the IOMMU must drop. */
static void blocked_write(const struct edu *e, uint64_t iova)
{
	printf("viommu_edu: DMA device -> IOVA 0x%llx (not in the device's domain)\n",
	       (unsigned long long)iova);
	if (edu_dma(e, iova, 0, LEN, true, TIMEOUT_US))
		test_fail(30, "the blocked DMA to IOVA 0x%llx never ended",
			  (unsigned long long)iova);
	if (edu_read(e, EDU_REG_ID) != EDU_ID_VALUE)
		test_fail(31, "edu no longer answers after a blocked DMA");
}

/* Two pages that follow each other, for an IOVA and the page after it. */
static uint8_t *two_pages(void)
{
	uint8_t *p = page_zalloc();

	for (int i = 0; p && i < 32; i++) {
		uint8_t *q = page_zalloc();

		if (q == p + PAGE_SIZE)
			return p;
		p = q;
	}
	return NULL;
}

int test_main(void)
{
	uint8_t *a = page_zalloc(), *b = page_zalloc(), *ga = two_pages(), *gb = page_zalloc();
	uint8_t *gn = ga + PAGE_SIZE;
	uint64_t IOVA_A = (uint64_t)ga, IOVA_B = (uint64_t)gb;
	struct edu e0, e1;
	uint32_t ep0, ep1;
	int st;

	if (!a || !b || !ga || !gb)
		test_fail(10, "out of pages");
	if (viommu_init(&v))
		test_fail(11, "no virtio-iommu (ptvm run --iommu virtio)");
	if (edu_find(0, &e0) || edu_find(1, &e1))
		test_fail(12, "two edu devices needed (--device vfio=EDU0 --device vfio=EDU1)");
	ep0 = viommu_rid(e0.dev, e0.fn);
	ep1 = viommu_rid(e1.dev, e1.fn);
	printf("viommu_edu: edu0 is endpoint 0x%x, edu1 0x%x; page sizes 0x%llx, IOVA up to "
	       "0x%llx\n",
	       ep0, ep1, (unsigned long long)v.page_size_mask, (unsigned long long)v.input_end);
	/* pages whose guest-physical address equals an IOVA used below: they must stay put */
	fill(ga, 0x11);
	fill(gb, 0x22);
	fill(gn, 0x33);

	/* not attached: no DMA at all, not even to guest RAM */
	blocked_write(&e0, IOVA_A);
	if (!same(ga, 0x11))
		test_fail(13, "an unattached device wrote guest RAM");

	st = viommu_attach(&v, 1, ep0, 0);
	if (st == VIOMMU_S_OK)
		st = viommu_attach(&v, 2, ep1, 0);
	if (st != VIOMMU_S_OK)
		test_fail(14, "ATTACH: status %d", st);
	st = viommu_map(&v, 1, IOVA_A, IOVA_A + PAGE_SIZE - 1, (uint64_t)a,
			VIOMMU_MAP_READ | VIOMMU_MAP_WRITE);
	if (st == VIOMMU_S_OK)
		st = viommu_map(&v, 2, IOVA_B, IOVA_B + PAGE_SIZE - 1, (uint64_t)b,
				VIOMMU_MAP_READ | VIOMMU_MAP_WRITE);
	if (st != VIOMMU_S_OK)
		test_fail(15, "MAP: status %d", st);

	if (!round_trip(&e0, IOVA_A, a, 0x44))
		test_fail(16, "edu0's DMA at IOVA 0x%llx did not reach page A",
			  (unsigned long long)IOVA_A);
	if (!round_trip(&e1, IOVA_B, b, 0x55))
		test_fail(17, "edu1's DMA at IOVA 0x%llx did not reach page B",
			  (unsigned long long)IOVA_B);
	printf("viommu_edu: edu0 -> page A through domain 1, edu1 -> page B through domain 2\n");

	/* edu0 outside its domain: domain 2's IOVA, then the page after its own mapping */
	fill(b, 0x66);
	blocked_write(&e0, IOVA_B);
	blocked_write(&e0, IOVA_A + PAGE_SIZE);
	if (!same(b, 0x66) || !same(gb, 0x22) || !same(gn, 0x33) || !same(ga, 0x11))
		test_fail(18, "a DMA outside edu0's domain changed guest memory");
	/* both devices still work through their own domains */
	if (!round_trip(&e0, IOVA_A, a, 0x77) || !round_trip(&e1, IOVA_B, b, 0x88))
		test_fail(19, "a device stopped working after the blocked DMAs");
	printf("viommu_edu: DMA outside the domain blocked, both devices work on\n");
	test_pass();
}
