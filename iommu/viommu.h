/* SPDX-License-Identifier: MIT */
/*
 * The virtual IOMMU's model, apart from the virtio transport that speaks to the guest
 * (devices/virtio_iommu.c): endpoints (the DMA masters behind it, by endpoint ID = PCI
 * requester ID), domains (guest IOMMU address spaces) and what each endpoint's DMA reaches
 * now. A domain is an address space in the memmap sense (vmm/memmap.h): an ordered map of
 * IOVA -> host address, built from the guest's MAP/UNMAP requests, with the same listeners
 * as the guest-physical map. An endpoint's DMA reaches one of three spaces:
 *
 *   - nothing (not attached, bypass off: the state after reset and after DETACH);
 *   - guest RAM, IOVA = guest-physical (bypass: the config's bypass bit while unattached,
 *     or a domain attached with the BYPASS flag);
 *   - its domain.
 *
 * A passthrough endpoint brings the DMA listener of its own VFIO container, and that listener
 * is registered on the endpoint's space: attaching replays the domain's mappings into the
 * container, MAP and UNMAP reach it as region_add/region_del, detaching unregisters it (all
 * unmapped). A virtio endpoint translates each address through the space (viommu_translate).
 *
 * Requests return 0 or -errno, which the transport turns into its status code:
 * -EINVAL invalid, -ERANGE out of range, -ENOENT no such endpoint/domain, -EFAULT not guest
 * RAM, -ENOSPC no room (mappings, domains), -EOPNOTSUPP cannot do, anything else a device
 * error. A refused request changes nothing. Nothing a guest sends is logged above debug,
 * except host failures (rate-limited).
 *
 * Threads: requests come from the transport's I/O thread; translations from the virtio
 * devices' threads. One rwlock: requests write, translations read.
 */
#ifndef PTVM_IOMMU_VIOMMU_H
#define PTVM_IOMMU_VIOMMU_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/memmap.h"

struct dma_listener;
struct viommu;
struct viommu_endpoint;

#define VIOMMU_MAX_ENDPOINTS 32
/* Mappings one domain may hold (lowered to a passthrough container's DMA-entry limit). */
#define VIOMMU_MAX_MAPPINGS 65536
/* The IOVA granule and the page sizes offered when no host container narrows them. */
#define VIOMMU_PAGE_SIZE 0x1000ULL
#define VIOMMU_INPUT_END_DEFAULT ((1ULL << 48) - 1)
/* The x86 MSI doorbell window: DMA writes there are interrupts, never translated. */
#define VIOMMU_MSI_START 0xfee00000ULL
#define VIOMMU_MSI_END 0xfeefffffULL

/* A reserved IOVA range of an endpoint (what PROBE reports). */
enum viommu_resv_kind {
	VIOMMU_RESV_RESERVED, /* never mappable */
	VIOMMU_RESV_MSI,      /* the MSI doorbell: not mappable, interrupts pass */
};

struct viommu_resv {
	uint64_t start, end; /* inclusive */
	enum viommu_resv_kind kind;
};

#define VIOMMU_MAX_RESV 24

/* Counters for the report and the benchmarks. */
struct viommu_stats {
	uint64_t attaches, detaches, maps, unmaps, refused;
	uint64_t translations, translation_faults;
};

/* guest_ram: the guest-physical map (MAP's physical side, and the bypass space). */
int viommu_create(struct memmap *guest_ram, struct viommu **out);
/* Detaches everything (containers unmapped), frees. Accepts NULL. */
void viommu_destroy(struct viommu *v);
/*
 * Teardown begins: every passthrough container drops its mappings now and follows no space
 * again, whichever endpoint leaves or request comes after. Without it, removing an endpoint
 * attached to a domain made a sibling in its host group (same container) follow guest RAM
 * in bypass: a whole-RAM MAP_DMA from the main thread while the VM goes away, which that
 * thread's seccomp filter does not allow. Accepts NULL.
 */
void viommu_close(struct viommu *v);

/*
 * Puts an endpoint behind the vIOMMU (before the guest runs): id is its requester ID, name
 * for messages. listener is a passthrough endpoint's container listener (registered on no
 * address space yet: the endpoint starts with no DMA at all), NULL for a virtio device.
 * With a listener, the container's page sizes, usable IOVA ranges, reserved ranges and DMA
 * entry limit narrow what the vIOMMU offers. -EEXIST for an id given twice, -ENOSPC.
 */
int viommu_add_endpoint(struct viommu *v, uint32_t id, const char *name,
			struct dma_listener *listener, struct viommu_endpoint **out);
uint32_t viommu_endpoint_id(const struct viommu_endpoint *ep);
/* Takes the endpoint out (its container unmapped, its domain left), before its device goes.
 * Accepts NULL. */
void viommu_remove_endpoint(struct viommu *v, struct viommu_endpoint *ep);

/* What the transport offers: page sizes (bit n = 2^n bytes) and the IOVA range. */
uint64_t viommu_page_size_mask(struct viommu *v);
void viommu_input_range(struct viommu *v, uint64_t *start, uint64_t *end);

/* The requests (see the file comment for the errors). */
int viommu_attach(struct viommu *v, uint32_t domain, uint32_t endpoint, bool bypass);
int viommu_detach(struct viommu *v, uint32_t domain, uint32_t endpoint);
int viommu_map(struct viommu *v, uint32_t domain, uint64_t virt_start, uint64_t virt_end,
	       uint64_t phys_start, bool read, bool write);
int viommu_unmap(struct viommu *v, uint32_t domain, uint64_t virt_start, uint64_t virt_end);
/* The endpoint's reserved ranges, sorted: -ENOENT for an unknown endpoint. */
int viommu_probe(struct viommu *v, uint32_t endpoint, struct viommu_resv *out, unsigned max,
		 unsigned *nr);
/* Device reset: every endpoint detached, every domain gone (bypass setting kept). */
void viommu_reset(struct viommu *v);
/* Whether unattached endpoints bypass translation (the config's bypass field). */
int viommu_set_bypass(struct viommu *v, bool bypass);
bool viommu_bypass(struct viommu *v);

/*
 * Host address of the endpoint's DMA to [iova, iova+len) when one mapping allows it (write:
 * a device write), else NULL. len 0 checks iova alone.
 */
void *viommu_translate(struct viommu_endpoint *ep, uint64_t iova, uint64_t len, bool write);
/*
 * The same, piece by piece: the host address of iova when it is mapped for the access, *len
 * lowered to what one host-contiguous piece covers (adjacent mappings whose host addresses
 * follow each other make one piece, up to VIOMMU_PIECE_MAX_MAPPINGS of them). NULL when iova
 * is not mapped for it.
 */
#define VIOMMU_PIECE_MAX_MAPPINGS 16
void *viommu_translate_piece(struct viommu_endpoint *ep, uint64_t iova, uint64_t *len, bool write);
/* Changes whenever a translation may have gone away (unmap, detach, attach, reset, bypass):
 * a caller that caches translations redoes them when it moves. */
uint64_t viommu_generation(struct viommu *v);
struct viommu *viommu_endpoint_viommu(struct viommu_endpoint *ep);

void viommu_get_stats(struct viommu *v, struct viommu_stats *out);
/* Domains, their endpoints and mapping counts, at info level. */
void viommu_report(struct viommu *v);
/*
 * The same as one JSON object for --report:
 *   {"page_size_mask":"0x40201000","input_range":{"start":"0x0","end":"0x7fffffffff"},
 *    "bypass":false,"endpoints":[{"id":"0x8","name":"0000:00:03.0","container":1,
 *    "state":"domain","domain":1}],"domains":[{"id":1,"bypass":false,"endpoints":1,
 *    "mappings":3}],"stats":{"attaches":1,...}}
 * state is "domain", "bypass" or "none"; container is null for a virtio endpoint.
 */
int viommu_report_json(struct viommu *v, FILE *out);

#endif
