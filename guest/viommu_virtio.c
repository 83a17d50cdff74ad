/* SPDX-License-Identifier: MIT */
/* ptvm-args: --iommu virtio --rng */
/*
 * viommu_virtio: a virtio-rng behind ptvm's virtio-iommu, driven by the kit. Behind the vIOMMU
 * the device insists on VIRTIO_F_ACCESS_PLATFORM, and has no DMA at all before the driver
 * attaches it: DRIVER_OK with its rings at unmapped IOVAs is refused. Attached to a domain
 * with its rings and one buffer page mapped (IOVA = guest-physical here), requests into that
 * page work; a request into the next page, never mapped, is a device error (NEEDS_RESET)
 * with not one byte written there, and ptvm carries on: the vIOMMU still answers, hostile
 * requests get their status, and a new domain after a reset works again. PROBE names the MSI
 * doorbell window.
 */
#include "kit.h"
#include "viommu.h"

const char test_name[] = "viommu_virtio";

#define DOMAIN 7
#define SENTINEL 0x5a
#define LEN 256u

static struct viommu v;
static struct virtio_dev rng;

static uint64_t page_of(volatile const void *p)
{
	return (uint64_t)p & ~(PAGE_SIZE - 1);
}

/* Maps (IOVA = guest-physical) every page the queue's rings touch, once each. */
static void map_rings(struct virtq *q, uint32_t domain)
{
	uint64_t pages[8];
	unsigned int n = 0;
	uint64_t ranges[3][2] = {
		{ (uint64_t)q->desc, 16ull * q->size },
		{ (uint64_t)q->avail, 6 + 2ull * q->size },
		{ (uint64_t)q->used, 6 + 8ull * q->size },
	};

	for (unsigned int r = 0; r < 3; r++) {
		for (uint64_t p = page_of((void *)ranges[r][0]);
		     p < ranges[r][0] + ranges[r][1]; p += PAGE_SIZE) {
			bool seen = false;

			for (unsigned int i = 0; i < n; i++)
				seen |= pages[i] == p;
			if (!seen && n < 8)
				pages[n++] = p;
		}
	}
	for (unsigned int i = 0; i < n; i++) {
		int st = viommu_map(&v, domain, pages[i], pages[i] + PAGE_SIZE - 1, pages[i],
				    VIOMMU_MAP_READ | VIOMMU_MAP_WRITE);

		if (st != VIOMMU_S_OK)
			test_fail(20, "MAP of ring page 0x%llx: status %d",
				  (unsigned long long)pages[i], st);
	}
}

static bool all(const uint8_t *p, unsigned int n, uint8_t val)
{
	for (unsigned int i = 0; i < n; i++)
		if (p[i] != val)
			return false;
	return true;
}

/* One request of LEN bytes into @buf: the used length, or -1 (no answer in 300 ms). */
static int64_t fill(uint8_t *buf)
{
	struct virtio_buf b = { (uint64_t)buf, LEN, true };

	return virtq_transfer(&rng.vq[0], &b, 1, false, 300000);
}

static void rng_start(void)
{
	if (virtio_init(&rng, VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM)))
		test_fail(12, "virtio-rng initialisation failed with ACCESS_PLATFORM");
	if (virtio_queue_setup(&rng, 0, 16, VIRTIO_MSI_NO_VECTOR))
		test_fail(13, "queue setup failed");
}

int test_main(void)
{
	uint8_t *mapped, *unmapped;
	uint32_t ep, prop[6];
	int st;

	if (viommu_init(&v))
		test_fail(10, "no virtio-iommu device (ptvm run --iommu virtio)");
	printf("viommu_virtio: page sizes 0x%llx, IOVA [0x%llx-0x%llx], probe_size %u\n",
	       (unsigned long long)v.page_size_mask, (unsigned long long)v.input_start,
	       (unsigned long long)v.input_end, v.probe_size);
	if (!(v.page_size_mask & PAGE_SIZE) || v.page_size_mask & (PAGE_SIZE - 1))
		test_fail(11, "page_size_mask 0x%llx: want a 4 KiB granule",
			  (unsigned long long)v.page_size_mask);
	if (virtio_find(VIRTIO_ID_RNG, 0, &rng))
		test_fail(12, "no virtio-rng device");
	ep = viommu_rid(rng.dev, rng.fn);

	/* PROBE: the MSI doorbell window as the first reserved region */
	st = viommu_probe(&v, ep);
	memcpy(prop, v.req + 72, sizeof(prop));
	if (st != VIOMMU_S_OK || (prop[0] & 0xfff) != 1 || (prop[1] & 0xff) != 1 ||
	    prop[2] != 0xfee00000u || prop[4] != 0xfeefffffu)
		test_fail(14, "PROBE of endpoint 0x%x: status %d, property %08x %08x %08x", ep, st,
			  prop[0], prop[1], prop[2]);

	/* no ACCESS_PLATFORM: FEATURES_OK must not stick (the driver would use GPAs) */
	if (virtio_init(&rng, 0) == 0)
		test_fail(15, "the device behind the vIOMMU accepted a driver without "
			      "ACCESS_PLATFORM");

	/* not attached: no DMA at all, so the rings cannot even be started */
	rng_start();
	if (!(rng.features & VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM)))
		test_fail(16, "ACCESS_PLATFORM not negotiated (offered 0x%llx)",
			  (unsigned long long)rng.offered);
	if (virtio_driver_ok(&rng) == 0)
		test_fail(17, "DRIVER_OK accepted with the rings at IOVAs nobody mapped");
	printf("viommu_virtio: before ATTACH, DRIVER_OK refused (status 0x%x)\n",
	       virtio_status(&rng));

	/* attached, rings and one page mapped */
	rng_start();
	st = viommu_attach(&v, DOMAIN, ep, 0);
	if (st != VIOMMU_S_OK)
		test_fail(18, "ATTACH endpoint 0x%x to domain %u: status %d", ep, DOMAIN, st);
	map_rings(&rng.vq[0], DOMAIN);
	mapped = page_zalloc();
	unmapped = page_zalloc();
	if (!mapped || !unmapped)
		test_fail(19, "out of pages");
	memset(mapped, SENTINEL, PAGE_SIZE);
	memset(unmapped, SENTINEL, PAGE_SIZE);
	st = viommu_map(&v, DOMAIN, (uint64_t)mapped, (uint64_t)mapped + PAGE_SIZE - 1,
			(uint64_t)mapped, VIOMMU_MAP_WRITE);
	if (st != VIOMMU_S_OK)
		test_fail(21, "MAP of the buffer page: status %d", st);
	if (virtio_driver_ok(&rng))
		test_fail(22, "DRIVER_OK refused with the rings mapped");
	if (fill(mapped) != LEN)
		test_fail(23, "a request into the mapped page got no answer");
	if (all(mapped, LEN, SENTINEL) || !all(mapped + LEN, PAGE_SIZE - LEN, SENTINEL))
		test_fail(24, "the mapped page did not get exactly %u random bytes", LEN);
	printf("viommu_virtio: %u bytes arrived in the mapped page\n", LEN);

	/* the page next to it was never mapped: a device error, nothing written there */
	if (fill(unmapped) >= 0)
		test_fail(25, "a request into an unmapped page was answered");
	if (!(virtio_status(&rng) & VIRTIO_STATUS_NEEDS_RESET))
		test_fail(26, "no NEEDS_RESET after a buffer outside the mapping (status 0x%x)",
			  virtio_status(&rng));
	if (!all(unmapped, PAGE_SIZE, SENTINEL))
		test_fail(27, "the device wrote into a page the driver never mapped");
	printf("viommu_virtio: a buffer outside the mapping: NEEDS_RESET, page untouched\n");

	/* ptvm carries on: hostile requests get their status, nothing changes */
	st = viommu_map(&v, DOMAIN, (uint64_t)mapped, (uint64_t)mapped + PAGE_SIZE - 1,
			(uint64_t)unmapped, VIOMMU_MAP_WRITE);
	if (st != VIOMMU_S_INVAL)
		test_fail(28, "an overlapping MAP: status %d, want INVAL", st);
	st = viommu_map(&v, DOMAIN, 0x10000800, 0x10001fff, (uint64_t)unmapped, VIOMMU_MAP_WRITE);
	if (st != VIOMMU_S_RANGE)
		test_fail(29, "an unaligned MAP: status %d, want RANGE", st);
	st = viommu_map(&v, DOMAIN, 0x10000000, 0x10000fff, 0xfed00000, VIOMMU_MAP_WRITE);
	if (st != VIOMMU_S_FAULT)
		test_fail(30, "a MAP of a non-RAM address: status %d, want FAULT", st);
	st = viommu_attach(&v, DOMAIN, 0xffff, 0);
	if (st != VIOMMU_S_NOENT)
		test_fail(31, "ATTACH of an unknown endpoint: status %d, want NOENT", st);
	st = viommu_unmap(&v, 99, 0, PAGE_SIZE - 1);
	if (st != VIOMMU_S_NOENT)
		test_fail(32, "UNMAP in a domain that does not exist: status %d, want NOENT", st);

	/* after the driver's reset, a fresh domain works again */
	virtio_reset(&rng);
	st = viommu_detach(&v, DOMAIN, ep);
	if (st != VIOMMU_S_OK)
		test_fail(33, "DETACH: status %d", st);
	rng_start();
	if (viommu_attach(&v, DOMAIN + 1, ep, 0) != VIOMMU_S_OK)
		test_fail(34, "ATTACH to a second domain failed");
	map_rings(&rng.vq[0], DOMAIN + 1);
	if (viommu_map(&v, DOMAIN + 1, (uint64_t)unmapped, (uint64_t)unmapped + PAGE_SIZE - 1,
		       (uint64_t)unmapped, VIOMMU_MAP_WRITE) != VIOMMU_S_OK)
		test_fail(35, "MAP in the second domain failed");
	if (virtio_driver_ok(&rng) || fill(unmapped) != LEN || all(unmapped, LEN, SENTINEL))
		test_fail(36, "the device did not work again in a new domain");
	memset(mapped, SENTINEL, PAGE_SIZE);
	if (fill(mapped) >= 0 || !all(mapped, PAGE_SIZE, SENTINEL))
		test_fail(37, "the old domain's page is still reachable");
	test_pass();
}
