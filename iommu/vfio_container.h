/* SPDX-License-Identifier: MIT */
/*
 * A VFIO container (type1v2, type1 as fallback): one IOMMU address space. Each container
 * has its own DMA listener (iommu/dma_listener.h) that mirrors guest RAM into it,
 * IOVA = guest-physical.
 */
#ifndef PTVM_IOMMU_VFIO_CONTAINER_H
#define PTVM_IOMMU_VFIO_CONTAINER_H

#include <linux/vfio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* struct vfio_iova_range { __u64 start, end; } (inclusive) comes from <linux/vfio.h>: the
 * kernel's name and layout, so it cannot be defined here again. */

#define VFIO_MAX_IOVA_RANGES 16
#define VFIO_MAX_RESERVED 16

/* A range no DMA mapping may touch: a group's reserved region (the x86 MSI window, ...). */
struct vfio_reserved_range {
	uint64_t start, end; /* inclusive */
	char what[40];	     /* for errors: "msi, IOMMU group 5" */
};

struct vfio_container {
	int fd;
	int iommu_type; /* VFIO_TYPE1v2_IOMMU or VFIO_TYPE1_IOMMU, 0 until a group joins */
	unsigned nr_groups;
	uint64_t pgsize_bitmap;
	unsigned nr_ranges; /* usable IOVA ranges (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) */
	struct vfio_iova_range ranges[VFIO_MAX_IOVA_RANGES];
	uint32_t dma_avail; /* DMA mappings the kernel still allows (CAP_DMA_AVAIL), 0 = unknown */
	unsigned nr_reserved; /* from the groups' reserved_regions in sysfs */
	struct vfio_reserved_range reserved[VFIO_MAX_RESERVED];
	struct dma_listener *listener;
	/* Behind the virtual IOMMU: one group only, its listener follows the guest IOMMU domain
	 * the endpoint is attached to (or nothing); no other group joins it. */
	bool viommu;
	unsigned index; /* for logs: "container0" */
};

/* The capability with id in a VFIO *_GET_INFO answer of argsz bytes whose chain starts at
 * off, when all of its min_size bytes lie inside; NULL otherwise. */
const void *vfio_info_cap_find(const void *info, uint32_t argsz, uint32_t off, uint16_t id,
			       size_t min_size);

/* Opens /dev/vfio/vfio and checks the API version; -errno after a pr_err. */
int vfio_container_create(unsigned index, struct vfio_container **out);
/* Unregisters the listener (unmapping everything), closes. Accepts NULL. */
void vfio_container_destroy(struct vfio_container *c);
/* After the first group joined: VFIO_SET_IOMMU and VFIO_IOMMU_GET_INFO (ranges, limits). */
int vfio_container_set_iommu(struct vfio_container *c);
/* Records a reserved range (duplicates, as two groups' MSI windows, are kept once). Only the
 * list: a listener that already mapped RAM checks it with dma_listener_add_reserved. */
int vfio_container_add_reserved(struct vfio_container *c, uint64_t start, uint64_t end,
				const char *what);
/* VFIO_IOMMU_MAP_DMA / UNMAP_DMA; quiet: the DMA listener explains a failure to the user. */
int vfio_container_map_dma(struct vfio_container *c, uint64_t iova, uint64_t size, void *vaddr,
			   bool writable);
int vfio_container_unmap_dma(struct vfio_container *c, uint64_t iova, uint64_t size);

#endif
