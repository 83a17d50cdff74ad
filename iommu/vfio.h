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
#include <stdio.h>

#include "iommu/vfio_device.h"
#include "vmm/memmap.h"

struct vfio;

int vfio_create(struct memmap *mm, struct vfio **out);
/*
 * Containers created from now on map guest RAM in the background (the DMA listener's worker)
 * instead of before vfio_attach_device returns. A mapping that fails there is logged and
 * reported through on_error (from that thread), once. Off by default: tools that drive a
 * device's DMA themselves expect RAM mapped once attach returns. prefault_threads: how many
 * threads fault guest RAM in before each worker pins it (dma_prefault_threads_choose; < 2:
 * none, the pin faults it in).
 */
void vfio_set_background_mapping(struct vfio *v, unsigned prefault_threads,
				 void (*on_error)(void *opaque, int err), void *opaque);
/*
 * Starts the background mapping of every such container: a worker thread each, created
 * through the sandbox (so once it is on, after start-up). Until then their RAM stays queued.
 * 0 or -errno (logged). Accepts NULL.
 */
int vfio_start_background_mapping(struct vfio *v);
/*
 * The DMA gate of a device: the guest is about to let d master the bus (on) or stopped it
 * (off). On: from now on RAM added to the map is mapped before it appears; the call blocks
 * (at most timeout_s; call again on -ETIMEDOUT) until every mapping of d's container is in
 * place, and adds the time to d's and the container's wait statistics. -errno when a mapping
 * failed: the device must not master the bus.
 */
int vfio_device_dma_begin(struct vfio *v, struct vfio_device *d, double timeout_s);
void vfio_device_dma_end(struct vfio *v, struct vfio_device *d);
/*
 * Devices attached while background mapping is on are not opened at attach: their group and
 * container are (so a device in host use or a group that is not viable is refused there), but
 * VFIO_GROUP_GET_DEVICE_FD, where vfio-pci enables and resets the function, waits for this:
 * a thread per such device (sandbox_thread_create, so after start-up) opens it and calls the
 * opened() its model registered with vfio_device_open_later, from that thread, with 0 or
 * -errno (logged). 0 or -errno (logged) when a thread cannot start. Accepts NULL.
 */
int vfio_start_device_opens(struct vfio *v);
/* Who to tell when d's deferred open is done (vfio_device_is_open(d) false until then). */
void vfio_device_open_later(struct vfio_device *d, void (*opened)(void *opaque, int err),
			    void *opaque);
/* Device fds the deferred opens added so far (one each): set-up's, not leaks. */
unsigned vfio_late_fds(struct vfio *v);
/* Threads the containers' DMA workers may start beside themselves (prefault helpers), at most:
 * the jail's thread limit counts them. */
unsigned vfio_late_threads(struct vfio *v);
/* Waits for d's open thread, if it runs (before d's model is torn down). Accepts NULL. */
void vfio_device_open_join(struct vfio_device *d);
/* Blocks until every container's mappings are in place; 0 or the first error. */
int vfio_dma_wait(struct vfio *v);
/* Closes devices, groups, containers (listeners unmap everything). Accepts NULL. */
void vfio_destroy(struct vfio *v);
/* Validates the BDF, refuses a device attached twice, opens it; p2p: map DEVICE_RAM too. */
int vfio_attach_device(struct vfio *v, const char *bdf, bool p2p, struct vfio_device **out);
/*
 * The same for an endpoint behind the virtual IOMMU: its group gets a container of its own
 * whose DMA listener mirrors nothing until the guest attaches the endpoint to a domain
 * (iommu/viommu.h takes the listener: vfio_device_dma_listener). -EINVAL, naming the group,
 * when another device of its group is attached without the vIOMMU (or the reverse).
 */
int vfio_attach_device_viommu(struct vfio *v, const char *bdf, struct vfio_device **out);
/* The DMA listener of the container the device's group is in. */
struct dma_listener *vfio_device_dma_listener(struct vfio_device *d);
/* The attached device with this BDF (as vfio_bdf_parse writes it), or NULL. */
struct vfio_device *vfio_find_device(struct vfio *v, const char *bdf);
void vfio_detach_device(struct vfio *v, struct vfio_device *d);
/* True while any device is attached: guest RAM is pinned (balloon must not discard it). */
bool vfio_has_devices(struct vfio *v);
/* Logs containers, groups and mappings at info level (and, later, to the JSON report). */
void vfio_report(struct vfio *v);
/*
 * Logs each container's DMA figures at info level: at the VM's end, when the background
 * mapping and the guest's bus-master waits are over (vfio_report runs at start-up).
 */
void vfio_report_dma(struct vfio *v);
/*
 * The same as one JSON object, no trailing newline, for --report FILE:
 *   {"containers":[{"index":0,"iommu":"type1v2","pgsizes":"0x40201000",
 *     "iova_ranges":[{"start":"0x0","end":"0xfedfffff"}],
 *     "reserved":[{"start":"0xfee00000","end":"0xfeefffff","what":"msi, IOMMU group 1"}],
 *     "viommu":false,"space":"memmap",
 *     "groups":[{"id":1,"devices":["0000:00:01.0"]}],
 *     "mappings":[{"name":"ram-low","iova":"0x0","size":"0x4000000","hva":"0x7f..",
 *                  "writable":true}],
 *     "stats":{"maps":1,"unmaps":0,"bytes_mapped":67108864,"map_ms":12.3,
 *              "max_map_ms":12.3,"unmap_ms":0.0,"background":true,"pending":0,
 *              "in_place_ms":480.2,"dma_waits":1,"dma_wait_ms":35.0,"max_dma_wait_ms":35.0},
 *     "devices_dma":[{"bdf":"0000:00:01.0","bus_master":true,"waits":1,"wait_ms":35.0,
 *                     "setup":{"group_ms":1.2,"open_ms":180.0,"region_info_ms":0.4,
 *                              "mmap_ms":0.1,"irq_ms":0.9}}]}]}
 * setup: where the device's set-up time went (struct vfio_device_times; irq_ms counts every
 * interrupt ioctl so far, the guest's MSI-X enables too).
 * Addresses are hex strings (JSON numbers lose precision above 2^53). space is what the
 * container mirrors: "memmap" (guest RAM), a vIOMMU domain ("viommu-domain3") or null.
 */
int vfio_report_json(struct vfio *v, FILE *out);

#endif
