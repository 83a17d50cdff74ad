// SPDX-License-Identifier: MIT
/*
 * What a guest's IOMMU requests cost ptvm's vIOMMU when its domain holds many mappings:
 * iommu/viommu.c, the domain's address map and a DMA listener on a backend that only counts
 * (no VFIO, no kernel: the figures are ptvm's own bookkeeping). A domain gets 2N 4 KiB
 * mappings on every other page, top down; one UNMAP takes the lower N, then N single-page
 * UNMAPs take the rest, lowest first. Writes the figures to the file given (and stdout):
 *   build/bench/viommu_unmap [N] [FILE]     (make bench-viommu: N = 30000)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iommu/dma_listener.h"
#include "iommu/viommu.h"
#include "vmm/log.h"
#include "vmm/memmap.h"

static unsigned long nr_maps, nr_unmaps;

static int count_map(struct dma_listener *l, uint64_t iova, uint64_t size, void *vaddr,
		     bool writable)
{
	nr_maps++;
	return 0;
}

static int count_unmap(struct dma_listener *l, uint64_t iova, uint64_t size)
{
	nr_unmaps++;
	return 0;
}

static const struct dma_backend_ops counting_ops = { .map = count_map, .unmap = count_unmap };

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what, int ret)
{
	fprintf(stderr, "viommu_unmap: %s: %s\n", what, strerror(-ret));
	exit(1);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 30000;
	const char *out = argc > 2 ? argv[2] : NULL;
	const uint64_t page = 0x1000, base = 0x100000;
	struct memmap_region ram = { .gpa = 0, .size = 1ULL << 30, .kind = MEMMAP_RAM, .fd = -1 };
	struct vfio_container c = { .fd = -1, .pgsize_bitmap = 0x40201000, .viommu = true };
	struct viommu_endpoint *ep;
	struct dma_listener *l;
	struct memmap *mm;
	struct viommu *v;
	double t0, t_map, t_range, t_single;
	char line[512];
	int ret;

	if (!n || 2ULL * n > VIOMMU_MAX_MAPPINGS) {
		fprintf(stderr, "viommu_unmap: N must be 1..%d\n", VIOMMU_MAX_MAPPINGS / 2);
		return 2;
	}
	log_level = LOG_WARN;
	/* host addresses are never touched: the backend only counts */
	ram.hva = (void *)0x7f0000000000ULL;
	snprintf(ram.name, sizeof(ram.name), "ram");
	if ((ret = memmap_create(&mm)) || (ret = memmap_add_region(mm, &ram)))
		die("guest RAM", ret);
	if ((ret = dma_listener_create(NULL, &c, false, &counting_ops, &l)))
		die("dma_listener_create", ret);
	if ((ret = viommu_create(mm, &v)) || (ret = viommu_add_endpoint(v, 0x18, "ep", l, &ep)) ||
	    (ret = viommu_attach(v, 1, 0x18, false)))
		die("vIOMMU set-up", ret);

	/* every other page, top down as Linux's IOVA allocator hands them out (each MAP lands
	 * below all the others: the most an ordered array has to move) */
	t0 = now();
	for (unsigned i = 0; i < 2 * n; i++) {
		uint64_t iova = base + 2 * (2 * n - 1 - i) * page;

		if ((ret = viommu_map(v, 1, iova, iova + page - 1, i * page, true, true)))
			die("MAP", ret);
	}
	t_map = now() - t0;
	t0 = now();
	if ((ret = viommu_unmap(v, 1, base, base + 2 * n * page - 1)))
		die("UNMAP of the low half", ret);
	t_range = now() - t0;
	if (nr_unmaps != n)
		die("UNMAP of the low half: not every mapping was unmapped", -EIO);
	t0 = now();
	/* the rest one by one, lowest first (each one below all the others) */
	for (unsigned i = 0; i < n; i++) {
		uint64_t iova = base + 2 * n * page + 2 * i * page;

		if ((ret = viommu_unmap(v, 1, iova, iova + page - 1)))
			die("UNMAP", ret);
	}
	t_single = now() - t0;
	if (nr_maps != 2 * n || nr_unmaps != 2 * n)
		die("counts", -EIO);
	snprintf(line, sizeof(line),
		 "viommu_unmap: %u mappings mapped one MAP each, top down, in %.3f s (%.1f us per "
		 "MAP); one UNMAP of the lower %u %.3f s; %u single-page UNMAPs, lowest first, "
		 "%.3f s (%.1f us each)\n",
		 2 * n, t_map, t_map / (2 * n) * 1e6, n, t_range, n, t_single, t_single / n * 1e6);
	fputs(line, stdout);
	if (out) {
		FILE *f = fopen(out, "w");

		if (!f || fputs(line, f) < 0 || fclose(f)) {
			fprintf(stderr, "viommu_unmap: cannot write %s\n", out);
			return 1;
		}
	}
	viommu_destroy(v);
	dma_listener_destroy(l);
	memmap_destroy(mm);
	return 0;
}
