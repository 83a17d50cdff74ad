/* SPDX-License-Identifier: MIT */
/*
 * A minimal virtio-iommu driver on top of the kit's virtio-pci driver (kit.h): finds the
 * device, negotiates, and sends ATTACH, DETACH, MAP, UNMAP, PROBE one at a time on the request
 * queue, returning the status the device wrote. Endpoint IDs are PCI requester IDs on bus 0
 * (dev << 3 | fn), as ptvm's VIOT names them. Like the rest of the kit it is plain memory and
 * MMIO: it runs at CPL0 and CPL3.
 */
#ifndef GUEST_KIT_VIOMMU_H
#define GUEST_KIT_VIOMMU_H

#include "kit.h"

#define VIRTIO_ID_IOMMU 23
#define VIRTIO_F_ACCESS_PLATFORM 33

#define VIOMMU_F_INPUT_RANGE 0
#define VIOMMU_F_MAP_UNMAP 2
#define VIOMMU_F_PROBE 4
#define VIOMMU_F_BYPASS_CONFIG 6

#define VIOMMU_S_OK 0
#define VIOMMU_S_IOERR 1
#define VIOMMU_S_UNSUPP 2
#define VIOMMU_S_DEVERR 3
#define VIOMMU_S_INVAL 4
#define VIOMMU_S_RANGE 5
#define VIOMMU_S_NOENT 6
#define VIOMMU_S_FAULT 7
#define VIOMMU_S_NOMEM 8

#define VIOMMU_MAP_READ 1
#define VIOMMU_MAP_WRITE 2
#define VIOMMU_ATTACH_BYPASS 1

struct viommu {
	struct virtio_dev vd;
	uint64_t page_size_mask, input_start, input_end;
	uint32_t probe_size;
	uint8_t *req; /* a page for requests: readable part first, then the writable part */
};

/* The first virtio-iommu on bus 0, negotiated, its request queue up, DRIVER_OK. 0 or -1. */
int viommu_init(struct viommu *v);
/* The requests: the status byte the device wrote (VIOMMU_S_*), or -1 when it did not answer
 * (used length 0, a timeout). */
int viommu_attach(struct viommu *v, uint32_t domain, uint32_t endpoint, uint32_t flags);
int viommu_detach(struct viommu *v, uint32_t domain, uint32_t endpoint);
int viommu_map(struct viommu *v, uint32_t domain, uint64_t virt_start, uint64_t virt_end,
	       uint64_t phys_start, uint32_t flags);
int viommu_unmap(struct viommu *v, uint32_t domain, uint64_t virt_start, uint64_t virt_end);
/* PROBE; the properties (probe_size bytes) are left at v->req + 72 (the writable part). */
int viommu_probe(struct viommu *v, uint32_t endpoint);
/* The requester ID of a function on bus 0. */
static inline uint32_t viommu_rid(unsigned int dev, unsigned int fn)
{
	return dev << 3 | fn;
}

#endif
