/* SPDX-License-Identifier: MIT */
/*
 * The VFIO DMA listener: one per container, a memmap listener that maps every RAM region
 * IOVA = guest-physical (VFIO_IOMMU_MAP_DMA, one mapping per region, not per page) and
 * unmaps it when the region goes. DEVICE_RAM is mapped only with p2p, and its failure is
 * not fatal. Before mapping it checks the container's usable IOVA ranges and the group's
 * reserved regions (the error names the colliding guest range) and the DMA-entry limit; a
 * pinning failure names the RLIMIT_MEMLOCK needed. The backend is a table of two calls so
 * that unit tests can run it against a fake.
 *
 * Its source is an address space: the guest-physical map (IOVA = guest-physical), or, for a
 * passthrough endpoint behind the virtual IOMMU, the guest IOMMU domain it is attached to
 * (IOVA = the guest's IOVA; the domain's map is built from the guest's MAP/UNMAP), or none.
 * What a guest-controlled space makes it say is rate-limited, and per mapping at debug only.
 */
#ifndef PTVM_IOMMU_DMA_LISTENER_H
#define PTVM_IOMMU_DMA_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iommu/vfio_container.h"
#include "vmm/memmap.h"

struct dma_listener;

struct dma_backend_ops {
	int (*map)(struct dma_listener *l, uint64_t iova, uint64_t size, void *vaddr,
		   bool writable);
	int (*unmap)(struct dma_listener *l, uint64_t iova, uint64_t size);
	/* pinning is charged to RLIMIT_MEMLOCK (unless CAP_IPC_LOCK): checked before mapping */
	bool charges_memlock;
};

struct dma_listener_stats {
	unsigned nr_maps, nr_unmaps;
	uint64_t bytes_mapped;
	double map_seconds; /* time spent in map calls (pinning) */
	double unmap_seconds;
	double max_map_seconds; /* the slowest single map */
	unsigned nr_mappings;	/* mappings in place now */
	uint64_t bytes_in_place;
	uint64_t guest_ram_bytes; /* the guest's RAM and ROM when a region was last added */
	/* background mode */
	bool background;
	unsigned nr_pending;	 /* mappings queued or being made (dma_listener_stats_get) */
	double in_place_seconds; /* from the listener's creation to every mapping in place */
	unsigned nr_dma_waits;	 /* a device waited for the mappings at bus-master enable */
	double dma_wait_seconds, max_dma_wait_seconds;
	/* guest RAM faulted in by several threads before it was pinned (dma_prefault.h) */
	uint64_t prefault_bytes;
	double prefault_seconds;
	unsigned prefault_threads; /* the most threads one range was faulted in by */
};

/* The real backend: VFIO_IOMMU_MAP_DMA/UNMAP_DMA on the listener's container. */
extern const struct dma_backend_ops dma_backend_vfio;

/*
 * Creates and registers on mm (replaying every RAM region): -errno on a refused region. mm
 * NULL: registered nowhere, the container has no mappings (an endpoint behind the vIOMMU
 * before the guest attaches it).
 */
int dma_listener_create(struct memmap *mm, struct vfio_container *c, bool p2p,
			const struct dma_backend_ops *ops, struct dma_listener **out);
/*
 * The same, mapping guest RAM in the background (DESIGN.md "DMA mapping off the start-up
 * path"): a worker thread pins each region while the guest runs. What can be checked at once
 * is (IOVA ranges, reserved regions, alignment, the entry limit, RLIMIT_MEMLOCK): region_add
 * refuses such a region as before. While a device may DMA (dma_listener_dma_users), and for a
 * guest IOMMU domain always, region_add maps before it returns. A RAM mapping that fails in
 * the background is logged and reported once through on_error (from the worker thread);
 * dma_listener_wait returns it from then on. Nothing is mapped in the background before
 * dma_listener_start.
 */
int dma_listener_create_background(struct memmap *mm, struct vfio_container *c, bool p2p,
				   const struct dma_backend_ops *ops,
				   void (*on_error)(void *opaque, int err), void *opaque,
				   struct dma_listener **out);
/*
 * Starts a background listener's worker (sandbox_thread_create: once the sandbox is on, the
 * worker runs under the device I/O list); it makes what was queued since creation. 0 or
 * -errno (logged); nothing for a synchronous listener or a started one.
 */
int dma_listener_start(struct dma_listener *l);
/*
 * A background listener's worker has guest RAM faulted in by up to nr_threads threads before
 * it pins it (dma_prefault.h); 0 or 1 (the default): the map faults it in alone.
 */
void dma_listener_set_prefault_threads(struct dma_listener *l, unsigned nr_threads);
/* A device of the container may DMA from now on (on) or no longer may (off). */
void dma_listener_dma_users(struct dma_listener *l, bool on);
/* Blocks until every mapping is in place, at most timeout_s: 0, -ETIMEDOUT, or the error of a
 * mapping that failed. */
int dma_listener_wait(struct dma_listener *l, double timeout_s);
/* Counts a device's wait at bus-master enable in the stats. */
void dma_listener_record_wait(struct dma_listener *l, double seconds);
/*
 * Turns peer-to-peer on for a listener created without it (a device with p2p=on joined an
 * existing container): the DEVICE_RAM already in the map is mapped now, later BARs as they
 * come. Idempotent.
 */
void dma_listener_enable_p2p(struct dma_listener *l);
/*
 * The listener's source becomes another address space: the guest-physical map, a guest
 * IOMMU domain (iommu/viommu.h), or NULL for none. Everything mapped from the old space is
 * unmapped, then the new one is replayed; when the replay is refused the listener is left
 * on no space (nothing mapped) and the error returned.
 */
int dma_listener_set_space(struct dma_listener *l, struct memmap *space);
/* The address space it mirrors now, NULL if none (for the thread that sets it). */
struct memmap *dma_listener_space(struct dma_listener *l);
/* Its name into buf, from any thread (the report); false when it mirrors nothing. */
bool dma_listener_space_name(struct dma_listener *l, char *buf, size_t len);
/* Unregisters (unmapping all) and frees. Accepts NULL. */
void dma_listener_destroy(struct dma_listener *l);
struct vfio_container *dma_listener_container(struct dma_listener *l);
/* The live stats (a synchronous listener's, or fields read while nothing maps). */
const struct dma_listener_stats *dma_listener_stats(struct dma_listener *l);
/* A consistent copy, with nr_pending. */
void dma_listener_stats_get(struct dma_listener *l, struct dma_listener_stats *out);
/*
 * Reserved IOVA ranges beyond the container's (from /sys/kernel/iommu_groups/N/reserved_regions),
 * for a group joining a container whose RAM is mapped already: -EINVAL, naming both ranges,
 * when a mapping collides (the range is then not recorded). Ranges known before the listener
 * exists go to vfio_container_add_reserved and are checked on every region_add.
 */
int dma_listener_add_reserved(struct dma_listener *l, uint64_t start, uint64_t end,
			      const char *what);
/* Logs every mapping and the stats at info level. */
void dma_listener_report(struct dma_listener *l);
/* Logs the stats alone at info level (the map time, the bus-master waits). */
void dma_listener_report_stats(struct dma_listener *l);
/* Calls fn for each mapping in place, in iova order of insertion (the JSON report). */
void dma_listener_for_each(struct dma_listener *l,
			   void (*fn)(void *opaque, const char *name, uint64_t iova, uint64_t size,
				      void *hva, bool writable),
			   void *opaque);

#endif
