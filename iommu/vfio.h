/* SPDX-License-Identifier: MIT */
/*
 * Passthrough on the host side: the set of containers and groups of one VM. A device is
 * attached by BDF: its group is found in sysfs, opened (viability checked) and put into an
 * existing container when the kernel accepts it, otherwise into a new container with its
 * own DMA listener on the guest address-space map.
 */
#ifndef PTVM_IOMMU_VFIO_H
#define PTVM_IOMMU_VFIO_H

#include <stdbool.h>

#include "iommu/vfio_device.h"
#include "vmm/memmap.h"

struct vfio;

int vfio_create(struct memmap *mm, struct vfio **out);
/* Closes devices, groups, containers (listeners unmap everything). Accepts NULL. */
void vfio_destroy(struct vfio *v);
/* Validates the BDF, refuses a device attached twice, opens it; p2p: map DEVICE_RAM too. */
int vfio_attach_device(struct vfio *v, const char *bdf, bool p2p, struct vfio_device **out);
void vfio_detach_device(struct vfio *v, struct vfio_device *d);
/* True while any device is attached: guest RAM is pinned (balloon must not discard it). */
bool vfio_has_devices(struct vfio *v);
/* Logs containers, groups and mappings at info level (and, later, to the JSON report). */
void vfio_report(struct vfio *v);

#endif
