/* SPDX-License-Identifier: MIT */
/*
 * virtio-iommu (virtio 1.x device ID 23): the guest's IOMMU for the endpoints put behind it.
 * A request queue (ATTACH, DETACH, MAP, UNMAP, PROBE, each answered with its status) and an
 * event queue the driver fills (faults are not reported). The model behind it (domains,
 * endpoints, what each endpoint's DMA reaches) is iommu/viommu.h; this file is the virtio
 * side: features, configuration, and parsing each request as a hostile guest could write it.
 *
 * Offered: MAP_UNMAP, INPUT_RANGE, PROBE (reserved regions: the MSI doorbell window as
 * RESV_MEM MSI, plus what the endpoint's host container reserves) and BYPASS_CONFIG with
 * bypass 0 (unattached endpoints have no DMA; a domain attached with the BYPASS flag
 * bypasses). Not offered: the legacy BYPASS, DOMAIN_RANGE (any domain ID), MMIO.
 */
#ifndef PTVM_DEVICES_VIRTIO_IOMMU_H
#define PTVM_DEVICES_VIRTIO_IOMMU_H

#include "devices/virtio.h"

struct viommu;
struct viommu_endpoint;

/* Bytes of PROBE properties the driver provides room for (config probe_size). */
#define VIRTIO_IOMMU_PROBE_SIZE 1024
#define VIRTIO_IOMMU_QUEUE_SIZE 256

/* mm: the guest-physical map (MAP's physical addresses, bypass). */
int virtio_iommu_create(struct memmap *mm, struct virtio_device **out);
void virtio_iommu_destroy(struct virtio_device *vdev);
/* The model: endpoints are added to it before the guest runs. */
struct viommu *virtio_iommu_model(struct virtio_device *vdev);
/*
 * Puts a virtio device behind the vIOMMU as endpoint id (its requester ID): from then on its
 * queues translate every address through the endpoint's domain (vdev->dma), so a driver that
 * did not map an address gets a device error, never a host access to it. -errno after a
 * pr_err.
 */
int virtio_iommu_add_virtio(struct virtio_device *viommu, struct virtio_device *vdev, uint32_t id,
			    struct viommu_endpoint **out);
/* Takes the endpoint out again, once its device is stopped or gone (its queues must not
 * translate any more). Accepts NULL. */
void virtio_iommu_remove_virtio(struct virtio_device *viommu, struct viommu_endpoint *ep);

/*
 * Handles one request whose device-readable part is iov out[n_out] and device-writable
 * part in[n_in] (as popped from the request queue): returns the used length (0 when the
 * request cannot be answered: no room for the status, an unknown type). Exposed for the
 * fuzz target and the unit tests.
 */
uint32_t virtio_iommu_handle_request(struct virtio_device *vdev, const struct iovec *out,
				     unsigned n_out, const struct iovec *in, unsigned n_in);

#endif
