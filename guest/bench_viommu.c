/* SPDX-License-Identifier: MIT */
/* ptvm-args: --iommu virtio --rng --cmdline "n=200" */
/*
 * bench_viommu: MAP+UNMAP round trips through a virtio-iommu for tests/bench, the cost a guest
 * in strict mode pays per DMA buffer. The kit's virtio-rng is the endpoint (attached to one
 * domain); then n=N (default 200) times: MAP one 4 KiB page at IOVA i * 4 KiB, UNMAP it, each
 * request sent, kicked and waited for on its own as Linux's strict mode does, from CPL3 (this
 * host's nested KVM runs ring 0 about 1000x slower). Every status must be OK. Prints the TSC
 * cycles for all of them; the host turns them into round trips per second. The same ELF boots
 * under QEMU with -device virtio-iommu-pci -device virtio-rng-pci.
 */
#include "kit.h"
#include "viommu.h"

const char test_name[] = "bench_viommu";

#define DOMAIN 3

static struct viommu v;
static uint64_t page;
static int bad_status = VIOMMU_S_OK;

static uint64_t user_loop(uint64_t n)
{
	uint64_t t0 = rdtsc();

	for (uint64_t i = 0; i < n; i++) {
		uint64_t iova = 0x10000000ull + i * PAGE_SIZE;
		int st = viommu_map(&v, DOMAIN, iova, iova + PAGE_SIZE - 1, page,
				    VIOMMU_MAP_READ | VIOMMU_MAP_WRITE);

		if (st == VIOMMU_S_OK)
			st = viommu_unmap(&v, DOMAIN, iova, iova + PAGE_SIZE - 1);
		if (st != VIOMMU_S_OK) {
			bad_status = st;
			break;
		}
	}
	return rdtsc() - t0;
}

int test_main(void)
{
	struct virtio_dev rng;
	uint64_t n = 200, cycles;
	int st;

	cmdline_get_uint("n", &n);
	if (n == 0)
		test_fail(9, "n=0: nothing to measure");
	if (viommu_init(&v))
		test_fail(10, "no virtio-iommu device");
	if (virtio_find(VIRTIO_ID_RNG, 0, &rng))
		test_fail(11, "no virtio-rng device to be the endpoint");
	page = (uint64_t)page_zalloc();
	st = viommu_attach(&v, DOMAIN, viommu_rid(rng.dev, rng.fn), 0);
	if (st != VIOMMU_S_OK)
		test_fail(12, "ATTACH of endpoint 0x%x: status %d", viommu_rid(rng.dev, rng.fn), st);
	cycles = user_call(user_loop, n);
	if (bad_status != VIOMMU_S_OK)
		test_fail(13, "a MAP or UNMAP answered status %d", bad_status);
	printf("bench_viommu: %llu map+unmap round trips, %llu cycles, %llu cycles each\n",
	       (unsigned long long)n, (unsigned long long)cycles,
	       (unsigned long long)(cycles / n));
	return 0;
}
