// SPDX-License-Identifier: MIT
#include "iommu/viommu.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/dma_listener.h"
#include "iommu/vfio_container.h"
#include "vmm/log.h"
#include "vmm/util.h"

struct viommu_domain {
	uint32_t id;
	bool bypass;
	unsigned nr_endpoints;
	unsigned limit;	    /* mappings it may hold: the smallest limit of its endpoints */
	struct memmap *map; /* IOVA -> host; NULL for a bypass domain */
	char name[32];
};

struct viommu_endpoint {
	struct viommu *v;
	uint32_t id;
	char name[32];
	struct dma_listener *listener; /* a passthrough endpoint's container, or NULL */
	struct viommu_domain *domain;  /* attached to, or NULL */
	struct memmap *space;	       /* what its DMA reaches: NULL, guest RAM or a domain */
	unsigned limit;		       /* its container's DMA-entry limit, 0 = none known */
	unsigned nr_resv;
	struct viommu_resv resv[VIOMMU_MAX_RESV]; /* sorted, disjoint */
};

struct viommu {
	pthread_rwlock_t lock;
	struct memmap *ram;
	bool bypass;
	uint64_t pgsize_mask, input_start, input_end;
	unsigned nr_endpoints, nr_domains;
	struct viommu_endpoint *endpoints[VIOMMU_MAX_ENDPOINTS];
	/* a domain exists while an endpoint is attached to it: at most one per endpoint */
	struct viommu_domain *domains[VIOMMU_MAX_ENDPOINTS];
	_Atomic uint64_t generation;
	bool closed;		   /* teardown began: no container follows any space again */
	struct viommu_stats stats; /* under the write lock, but for the two below */
	_Atomic uint64_t translations, translation_faults;
};

int viommu_create(struct memmap *guest_ram, struct viommu **out)
{
	struct viommu *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	pthread_rwlock_init(&v->lock, NULL);
	v->ram = guest_ram;
	/* every page size from 4 KiB up until a host container says otherwise */
	v->pgsize_mask = ~(VIOMMU_PAGE_SIZE - 1);
	v->input_start = 0;
	v->input_end = VIOMMU_INPUT_END_DEFAULT;
	*out = v;
	return 0;
}

static uint64_t viommu_granule(const struct viommu *v)
{
	return v->pgsize_mask & -v->pgsize_mask;
}

static struct viommu_endpoint *viommu_find_endpoint(struct viommu *v, uint32_t id)
{
	for (unsigned i = 0; i < v->nr_endpoints; i++)
		if (v->endpoints[i]->id == id)
			return v->endpoints[i];
	return NULL;
}

static struct viommu_domain *viommu_find_domain(struct viommu *v, uint32_t id)
{
	for (unsigned i = 0; i < v->nr_domains; i++)
		if (v->domains[i]->id == id)
			return v->domains[i];
	return NULL;
}

/* ---- endpoints ---- */

/* Adds [start, end] minus the MSI window (which has its own entry) as RESERVED. */
static void viommu_resv_add(struct viommu_endpoint *ep, uint64_t start, uint64_t end)
{
	if (start <= VIOMMU_MSI_END && VIOMMU_MSI_START <= end) {
		if (start < VIOMMU_MSI_START)
			viommu_resv_add(ep, start, VIOMMU_MSI_START - 1);
		if (end > VIOMMU_MSI_END)
			viommu_resv_add(ep, VIOMMU_MSI_END + 1, end);
		return;
	}
	if (ep->nr_resv == VIOMMU_MAX_RESV) {
		pr_warn("viommu: %s has more than %d reserved IOVA ranges; [0x%" PRIx64
			"-0x%" PRIx64 "] is not reported",
			ep->name, VIOMMU_MAX_RESV, start, end);
		return;
	}
	ep->resv[ep->nr_resv++] = (struct viommu_resv){ start, end, VIOMMU_RESV_RESERVED };
}

static int viommu_resv_cmp(const void *a, const void *b)
{
	const struct viommu_resv *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorts the ranges and merges overlapping or adjacent RESERVED ones. */
static void viommu_resv_normalize(struct viommu_endpoint *ep)
{
	unsigned n = 0;

	qsort(ep->resv, ep->nr_resv, sizeof(ep->resv[0]), viommu_resv_cmp);
	for (unsigned i = 0; i < ep->nr_resv; i++) {
		struct viommu_resv *last = n ? &ep->resv[n - 1] : NULL;
		const struct viommu_resv *r = &ep->resv[i];

		if (last && last->kind == VIOMMU_RESV_RESERVED && r->kind == VIOMMU_RESV_RESERVED &&
		    (last->end == UINT64_MAX || r->start <= last->end + 1)) {
			last->end = MAX(last->end, r->end);
			continue;
		}
		ep->resv[n++] = *r;
	}
	ep->nr_resv = n;
}

/*
 * What the endpoint's container imposes: its page sizes, usable IOVA ranges (the holes
 * become reserved ranges of the endpoint), reserved regions and DMA-entry limit.
 */
static int viommu_endpoint_take_container(struct viommu *v, struct viommu_endpoint *ep)
{
	const struct vfio_container *c = dma_listener_container(ep->listener);
	uint64_t mask = v->pgsize_mask, start = v->input_start, end = v->input_end;

	if (c->pgsize_bitmap)
		mask &= c->pgsize_bitmap;
	if (!mask || (mask & -mask) > VIOMMU_PAGE_SIZE) {
		pr_err("viommu: %s: container%u's IOMMU page sizes 0x%" PRIx64
		       " have no 4 KiB granule in common with the vIOMMU's 0x%" PRIx64,
		       ep->name, c->index, c->pgsize_bitmap, v->pgsize_mask);
		return -EINVAL;
	}
	if (c->nr_ranges) {
		uint64_t lo = UINT64_MAX, hi = 0;

		for (unsigned i = 0; i < c->nr_ranges; i++) {
			lo = MIN(lo, (uint64_t)c->ranges[i].start);
			hi = MAX(hi, (uint64_t)c->ranges[i].end);
		}
		start = MAX(start, lo);
		end = MIN(end, hi);
		/* a hole between usable ranges is reserved for this endpoint */
		for (unsigned i = 0; i < c->nr_ranges; i++) {
			uint64_t next = UINT64_MAX;
			uint64_t e = c->ranges[i].end;

			if (e == UINT64_MAX)
				continue;
			for (unsigned j = 0; j < c->nr_ranges; j++)
				if (c->ranges[j].start > e && c->ranges[j].start < next)
					next = c->ranges[j].start;
			if (next != UINT64_MAX && next > e + 1)
				viommu_resv_add(ep, e + 1, next - 1);
		}
	}
	if (start > end) {
		pr_err("viommu: %s: container%u has no usable IOVA range inside [0x%" PRIx64
		       "-0x%" PRIx64 "]",
		       ep->name, c->index, v->input_start, v->input_end);
		return -EINVAL;
	}
	for (unsigned i = 0; i < c->nr_reserved; i++)
		viommu_resv_add(ep, c->reserved[i].start, c->reserved[i].end);
	v->pgsize_mask = mask;
	v->input_start = start;
	v->input_end = end;
	ep->limit = c->dma_avail;
	pr_info("viommu: %s in container%u: page sizes 0x%" PRIx64 ", IOVA [0x%" PRIx64
		"-0x%" PRIx64 "], %s%u mappings per domain",
		ep->name, c->index, mask, start, end, ep->limit ? "" : "no limit known, ",
		ep->limit ? ep->limit : VIOMMU_MAX_MAPPINGS);
	return 0;
}

static int viommu_endpoint_set_space(struct viommu *v, struct viommu_endpoint *ep,
				     struct memmap *space);

int viommu_add_endpoint(struct viommu *v, uint32_t id, const char *name,
			struct dma_listener *listener, struct viommu_endpoint **out)
{
	struct viommu_endpoint *ep;
	int ret;

	pthread_rwlock_wrlock(&v->lock);
	if (viommu_find_endpoint(v, id)) {
		pr_err("viommu: endpoint 0x%x (%s) is there already", id, name);
		ret = -EEXIST;
		goto out_unlock;
	}
	if (v->nr_endpoints == VIOMMU_MAX_ENDPOINTS) {
		pr_err("viommu: %s: at most %d endpoints", name, VIOMMU_MAX_ENDPOINTS);
		ret = -ENOSPC;
		goto out_unlock;
	}
	ep = calloc(1, sizeof(*ep));
	if (!ep) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	ep->v = v;
	ep->id = id;
	ep->listener = listener;
	snprintf(ep->name, sizeof(ep->name), "%s", name);
	ep->resv[ep->nr_resv++] =
	    (struct viommu_resv){ VIOMMU_MSI_START, VIOMMU_MSI_END, VIOMMU_RESV_MSI };
	if (listener) {
		ret = viommu_endpoint_take_container(v, ep);
		if (ret) {
			free(ep);
			goto out_unlock;
		}
	}
	viommu_resv_normalize(ep);
	/*
	 * An endpoint starts with no DMA at all, or in bypass when the guest asked for it,
	 * through viommu_endpoint_set_space like every other change: a sibling of its host
	 * group attached to a domain keeps the container on that domain's map, and after
	 * viommu_close nothing is mapped again.
	 */
	v->endpoints[v->nr_endpoints++] = ep;
	if (v->bypass) {
		ret = viommu_endpoint_set_space(v, ep, v->ram);
		if (ret) {
			v->nr_endpoints--;
			free(ep);
			goto out_unlock;
		}
	}
	pr_debug("viommu: endpoint 0x%x is %s%s", id, name, listener ? " (passthrough)" : "");
	*out = ep;
	ret = 0;
out_unlock:
	pthread_rwlock_unlock(&v->lock);
	return ret;
}

uint32_t viommu_endpoint_id(const struct viommu_endpoint *ep)
{
	return ep->id;
}

struct viommu *viommu_endpoint_viommu(struct viommu_endpoint *ep)
{
	return ep->v;
}

uint64_t viommu_page_size_mask(struct viommu *v)
{
	uint64_t m;

	pthread_rwlock_rdlock(&v->lock);
	m = v->pgsize_mask;
	pthread_rwlock_unlock(&v->lock);
	return m;
}

void viommu_input_range(struct viommu *v, uint64_t *start, uint64_t *end)
{
	pthread_rwlock_rdlock(&v->lock);
	*start = v->input_start;
	*end = v->input_end;
	pthread_rwlock_unlock(&v->lock);
}

/*
 * The space a container must follow: endpoints in one host IOMMU group share a container,
 * so the container follows whichever of them has DMA (ATTACH keeps them from disagreeing).
 * A domain first: the bypass config bit puts every unattached endpoint into guest RAM, and a
 * sibling's bypass must not open all of guest RAM to a device attached to a domain (its
 * sibling then gets the domain's mappings only, never more than it asked for).
 */
static struct memmap *viommu_listener_space(struct viommu *v, struct dma_listener *l)
{
	struct memmap *any = NULL;

	if (v->closed)
		return NULL;
	for (unsigned i = 0; i < v->nr_endpoints; i++) {
		const struct viommu_endpoint *ep = v->endpoints[i];

		if (ep->listener != l || !ep->space)
			continue;
		if (ep->domain)
			return ep->space;
		if (!any)
			any = ep->space;
	}
	return any;
}

/*
 * Points the endpoint's DMA at space (NULL, guest RAM or a domain's map); a passthrough
 * endpoint's container follows. When the container refuses the new space (pinning failed),
 * it goes back to the old one and the error is returned; the endpoint is unchanged.
 */
static int viommu_endpoint_set_space(struct viommu *v, struct viommu_endpoint *ep,
				     struct memmap *space)
{
	struct memmap *old = ep->space;
	int ret;

	ep->space = space;
	if (!ep->listener)
		return 0;
	ret = dma_listener_set_space(ep->listener, viommu_listener_space(v, ep->listener));
	if (!ret)
		return 0;
	ep->space = old;
	if (dma_listener_set_space(ep->listener, viommu_listener_space(v, ep->listener))) {
		/* the old space cannot be replayed either: no DMA at all */
		pr_warn_ratelimited("viommu: %s has no DMA mappings left", ep->name);
		ep->space = NULL;
	}
	return ret;
}

/* ---- domains ---- */

static int viommu_domain_create(struct viommu *v, uint32_t id, bool bypass,
				struct viommu_domain **out)
{
	struct viommu_domain *d;
	int ret;

	if (v->nr_domains == ARRAY_SIZE(v->domains))
		return -ENOSPC;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->id = id;
	d->bypass = bypass;
	d->limit = VIOMMU_MAX_MAPPINGS;
	snprintf(d->name, sizeof(d->name), "viommu-domain%u", id);
	if (!bypass) {
		ret = memmap_create_space(d->name, VIOMMU_MAX_MAPPINGS, &d->map);
		if (ret) {
			free(d);
			return ret;
		}
	}
	v->domains[v->nr_domains++] = d;
	pr_debug("viommu: domain %u created%s", id, bypass ? " (bypass)" : "");
	*out = d;
	return 0;
}

/* A domain ceases to exist with its last endpoint: its mappings go (no listener is left). */
static void viommu_domain_destroy(struct viommu *v, struct viommu_domain *d)
{
	for (unsigned i = 0; i < v->nr_domains; i++) {
		if (v->domains[i] == d) {
			v->domains[i] = v->domains[--v->nr_domains];
			break;
		}
	}
	pr_debug("viommu: domain %u gone (%u mappings dropped)", d->id,
		 d->map ? d->map->nr_regions : 0);
	memmap_destroy(d->map);
	free(d);
}

/* The smallest DMA-entry limit of the domain's endpoints, other than skip. */
static unsigned viommu_domain_limit(struct viommu *v, struct viommu_domain *d,
				    struct viommu_endpoint *skip)
{
	unsigned limit = VIOMMU_MAX_MAPPINGS;

	for (unsigned i = 0; i < v->nr_endpoints; i++) {
		struct viommu_endpoint *ep = v->endpoints[i];

		if (ep->domain == d && ep != skip && ep->limit)
			limit = MIN(limit, ep->limit);
	}
	return limit;
}

/* Whether [start, end] touches a reserved range of ep. */
static bool viommu_endpoint_resv_overlaps(const struct viommu_endpoint *ep, uint64_t start,
					  uint64_t end)
{
	for (unsigned i = 0; i < ep->nr_resv; i++)
		if (start <= ep->resv[i].end && ep->resv[i].start <= end)
			return true;
	return false;
}

/* Takes ep out of its domain (which goes when it was the last one). */
static void viommu_endpoint_leave(struct viommu *v, struct viommu_endpoint *ep)
{
	struct viommu_domain *d = ep->domain;

	if (!d)
		return;
	ep->domain = NULL;
	d->nr_endpoints--;
	d->limit = viommu_domain_limit(v, d, NULL);
	if (!d->nr_endpoints)
		viommu_domain_destroy(v, d);
}

void viommu_remove_endpoint(struct viommu *v, struct viommu_endpoint *ep)
{
	if (!ep)
		return;
	pthread_rwlock_wrlock(&v->lock);
	viommu_endpoint_set_space(v, ep, NULL);
	viommu_endpoint_leave(v, ep);
	for (unsigned i = 0; i < v->nr_endpoints; i++) {
		if (v->endpoints[i] == ep) {
			memmove(&v->endpoints[i], &v->endpoints[i + 1],
				(v->nr_endpoints - i - 1) * sizeof(v->endpoints[0]));
			v->nr_endpoints--;
			break;
		}
	}
	/* a sibling in its host group may still need the container: it follows that one */
	if (ep->listener) {
		ep->space = NULL;
		dma_listener_set_space(ep->listener, viommu_listener_space(v, ep->listener));
	}
	atomic_fetch_add(&v->generation, 1);
	pthread_rwlock_unlock(&v->lock);
	free(ep);
}

/* ---- requests ---- */

static int viommu_attach_locked(struct viommu *v, uint32_t domain, uint32_t endpoint, bool bypass)
{
	struct viommu_endpoint *ep = viommu_find_endpoint(v, endpoint);
	struct viommu_domain *d = viommu_find_domain(v, domain);
	struct memmap *space;
	bool created = false;
	int ret;

	if (!ep)
		return -ENOENT;
	if (d && d->bypass != bypass)
		return -EINVAL;
	if (d && ep->domain == d)
		return 0;
	if (d && d->map) {
		struct memmap_region r;

		/* the domain's mappings must be possible for this endpoint too */
		for (unsigned i = 0; i < ep->nr_resv; i++)
			if (memmap_find_next(d->map, ep->resv[i].start, &r) &&
			    r.gpa <= ep->resv[i].end)
				return -EOPNOTSUPP;
		if (ep->limit && d->map->nr_regions > ep->limit)
			return -ENOSPC;
	}
	/* endpoints sharing a container (one host IOMMU group) cannot be told apart */
	for (unsigned i = 0; ep->listener && i < v->nr_endpoints; i++) {
		struct viommu_endpoint *o = v->endpoints[i];

		if (o != ep && o->listener == ep->listener && o->space && (!d || o->domain != d))
			return -EOPNOTSUPP;
	}
	if (!d) {
		ret = viommu_domain_create(v, domain, bypass, &d);
		if (ret)
			return ret;
		created = true;
	}
	space = bypass ? v->ram : d->map;
	ret = viommu_endpoint_set_space(v, ep, space);
	if (ret) {
		if (created)
			viommu_domain_destroy(v, d);
		/* the container could not take it: out of memory to pin, or not at all */
		return ret == -ENOMEM || ret == -EPERM || ret == -ENOSPC ? -ENOSPC : -EOPNOTSUPP;
	}
	viommu_endpoint_leave(v, ep);
	ep->domain = d;
	d->nr_endpoints++;
	d->limit = viommu_domain_limit(v, d, NULL);
	return 0;
}

static int viommu_detach_locked(struct viommu *v, uint32_t domain, uint32_t endpoint)
{
	struct viommu_endpoint *ep = viommu_find_endpoint(v, endpoint);
	struct viommu_domain *d = viommu_find_domain(v, domain);

	if (!ep)
		return -ENOENT;
	if (!d || ep->domain != d)
		return -EINVAL;
	/* the domain's mappings are out of reach now, whatever follows: NULL cannot fail */
	if (viommu_endpoint_set_space(v, ep, v->bypass ? v->ram : NULL))
		viommu_endpoint_set_space(v, ep, NULL);
	viommu_endpoint_leave(v, ep);
	return 0;
}

/* Whether [start, end] touches a reserved range of an endpoint attached to d. */
static bool viommu_domain_resv_overlaps(struct viommu *v, struct viommu_domain *d, uint64_t start,
					uint64_t end)
{
	for (unsigned i = 0; i < v->nr_endpoints; i++)
		if (v->endpoints[i]->domain == d &&
		    viommu_endpoint_resv_overlaps(v->endpoints[i], start, end))
			return true;
	return false;
}

static int viommu_map_locked(struct viommu *v, struct viommu_domain *d, uint64_t vs, uint64_t ve,
			     uint64_t ps, bool read, bool write)
{
	uint64_t gran = viommu_granule(v), size;
	struct memmap_region ram, r;
	int ret;

	if (d->bypass)
		return -EINVAL;
	if (ve < vs)
		return -EINVAL;
	if (vs < v->input_start || ve > v->input_end)
		return -ERANGE;
	/* input_end is below 2^64 - 1, so ve + 1 and the size do not wrap */
	if (!IS_ALIGNED(vs | ps | (ve + 1), gran))
		return -ERANGE;
	size = ve - vs + 1;
	if (ps + (size - 1) < ps)
		return -ERANGE;
	if (viommu_domain_resv_overlaps(v, d, vs, ve))
		return -ERANGE;
	if (memmap_find_next(d->map, vs, &r) && r.gpa <= ve)
		return -EINVAL;
	if (d->map->nr_regions >= d->limit)
		return -ENOSPC;
	/* the physical side: guest RAM, all of it in one region */
	if (!memmap_find(v->ram, ps, &ram) || ram.kind != MEMMAP_RAM || !ram.hva ||
	    size - 1 > ram.size - 1 - (ps - ram.gpa))
		return -EFAULT;
	r = (struct memmap_region){
		.gpa = vs,
		.size = size,
		/* a mapping that allows nothing is kept (it occupies its IOVAs) but neither
		 * translates nor reaches a container; write-only is read-write (the spec lets
		 * reads through where write-only cannot be expressed) */
		.kind = write  ? MEMMAP_RAM
			: read ? MEMMAP_ROM
			       : MEMMAP_MMIO,
		.hva = (uint8_t *)ram.hva + (ps - ram.gpa),
		.fd = -1,
	};
	snprintf(r.name, sizeof(r.name), "gpa 0x%" PRIx64, ps);
	ret = memmap_add_region(d->map, &r);
	if (ret == -ENOMEM || ret == -EPERM || ret == -ENOSPC)
		return -ENOSPC; /* a container could not pin it or hold it */
	return ret ? -EIO : 0;
}

static int viommu_unmap_locked(struct viommu *v, struct viommu_domain *d, uint64_t vs, uint64_t ve)
{
	struct memmap_region r;

	if (d->bypass)
		return -EINVAL;
	if (ve < vs)
		return -EINVAL;
	/* a mapping is removed whole or not at all */
	if ((memmap_find(d->map, vs, &r) && r.gpa < vs) ||
	    (memmap_find(d->map, ve, &r) && r.gpa + (r.size - 1) > ve))
		return -ERANGE;
	/* so every mapping starting inside ends inside: all go, in one pass (the guest's
	 * range may hold the domain's every mapping) */
	memmap_del_range(d->map, vs, ve);
	return 0;
}

/* Counts the request and moves the generation when translations may have gone away. */
static int viommu_done(struct viommu *v, uint64_t *counter, int ret, bool invalidates)
{
	if (ret) {
		v->stats.refused++;
		return ret;
	}
	(*counter)++;
	if (invalidates)
		atomic_fetch_add(&v->generation, 1);
	return 0;
}

int viommu_attach(struct viommu *v, uint32_t domain, uint32_t endpoint, bool bypass)
{
	int ret;

	pthread_rwlock_wrlock(&v->lock);
	ret = viommu_attach_locked(v, domain, endpoint, bypass);
	ret = viommu_done(v, &v->stats.attaches, ret, true);
	pthread_rwlock_unlock(&v->lock);
	pr_debug("viommu: ATTACH endpoint 0x%x domain %u%s: %s", endpoint, domain,
		 bypass ? " bypass" : "", ret ? strerror(-ret) : "ok");
	return ret;
}

int viommu_detach(struct viommu *v, uint32_t domain, uint32_t endpoint)
{
	int ret;

	pthread_rwlock_wrlock(&v->lock);
	ret = viommu_detach_locked(v, domain, endpoint);
	ret = viommu_done(v, &v->stats.detaches, ret, true);
	pthread_rwlock_unlock(&v->lock);
	pr_debug("viommu: DETACH endpoint 0x%x domain %u: %s", endpoint, domain,
		 ret ? strerror(-ret) : "ok");
	return ret;
}

int viommu_map(struct viommu *v, uint32_t domain, uint64_t virt_start, uint64_t virt_end,
	       uint64_t phys_start, bool read, bool write)
{
	struct viommu_domain *d;
	int ret;

	pthread_rwlock_wrlock(&v->lock);
	d = viommu_find_domain(v, domain);
	ret = d ? viommu_map_locked(v, d, virt_start, virt_end, phys_start, read, write) : -ENOENT;
	ret = viommu_done(v, &v->stats.maps, ret, false);
	pthread_rwlock_unlock(&v->lock);
	pr_debug("viommu: MAP domain %u [0x%" PRIx64 "-0x%" PRIx64 "] -> 0x%" PRIx64 " %s%s: %s",
		 domain, virt_start, virt_end, phys_start, read ? "r" : "", write ? "w" : "",
		 ret ? strerror(-ret) : "ok");
	return ret;
}

int viommu_unmap(struct viommu *v, uint32_t domain, uint64_t virt_start, uint64_t virt_end)
{
	struct viommu_domain *d;
	int ret;

	pthread_rwlock_wrlock(&v->lock);
	d = viommu_find_domain(v, domain);
	ret = d ? viommu_unmap_locked(v, d, virt_start, virt_end) : -ENOENT;
	ret = viommu_done(v, &v->stats.unmaps, ret, true);
	pthread_rwlock_unlock(&v->lock);
	pr_debug("viommu: UNMAP domain %u [0x%" PRIx64 "-0x%" PRIx64 "]: %s", domain, virt_start,
		 virt_end, ret ? strerror(-ret) : "ok");
	return ret;
}

int viommu_probe(struct viommu *v, uint32_t endpoint, struct viommu_resv *out, unsigned max,
		 unsigned *nr)
{
	struct viommu_endpoint *ep;
	int ret = 0;

	pthread_rwlock_rdlock(&v->lock);
	ep = viommu_find_endpoint(v, endpoint);
	if (ep) {
		*nr = MIN(max, ep->nr_resv);
		memcpy(out, ep->resv, *nr * sizeof(*out));
	} else {
		ret = -ENOENT;
	}
	pthread_rwlock_unlock(&v->lock);
	return ret;
}

void viommu_reset(struct viommu *v)
{
	pthread_rwlock_wrlock(&v->lock);
	for (unsigned i = 0; i < v->nr_endpoints; i++) {
		struct viommu_endpoint *ep = v->endpoints[i];

		if (!ep->domain)
			continue;
		if (viommu_endpoint_set_space(v, ep, v->bypass ? v->ram : NULL))
			viommu_endpoint_set_space(v, ep, NULL);
		viommu_endpoint_leave(v, ep);
	}
	atomic_fetch_add(&v->generation, 1);
	pthread_rwlock_unlock(&v->lock);
}

int viommu_set_bypass(struct viommu *v, bool bypass)
{
	int ret = 0;

	pthread_rwlock_wrlock(&v->lock);
	if (v->bypass != bypass) {
		v->bypass = bypass;
		for (unsigned i = 0; i < v->nr_endpoints; i++) {
			struct viommu_endpoint *ep = v->endpoints[i];
			int r;

			if (ep->domain)
				continue;
			r = viommu_endpoint_set_space(v, ep, bypass ? v->ram : NULL);
			if (r && !ret)
				ret = r;
		}
		atomic_fetch_add(&v->generation, 1);
		pr_debug("viommu: unattached endpoints %s", bypass ? "bypass" : "have no DMA");
	}
	pthread_rwlock_unlock(&v->lock);
	return ret;
}

bool viommu_bypass(struct viommu *v)
{
	bool b;

	pthread_rwlock_rdlock(&v->lock);
	b = v->bypass;
	pthread_rwlock_unlock(&v->lock);
	return b;
}

/* Whether region r lets the access through. */
static bool viommu_region_allows(const struct memmap_region *r, bool write)
{
	return r->hva && (r->kind == MEMMAP_RAM || (r->kind == MEMMAP_ROM && !write));
}

void *viommu_translate_piece(struct viommu_endpoint *ep, uint64_t iova, uint64_t *len, bool write)
{
	struct viommu *v = ep->v;
	struct memmap_region r;
	uint64_t want = *len, got;
	uint8_t *hva = NULL;
	unsigned merged = 1;

	pthread_rwlock_rdlock(&v->lock);
	if (!ep->space || !memmap_find(ep->space, iova, &r) || !viommu_region_allows(&r, write))
		goto out_unlock;
	hva = (uint8_t *)r.hva + (iova - r.gpa);
	got = r.size - (iova - r.gpa);
	/* the next mappings, while they continue both the IOVAs and the host addresses; one
	 * lookup each, so a bounded number of them (the guest chooses how many there are) */
	while (got < want && r.gpa + r.size != 0 && merged++ < VIOMMU_PIECE_MAX_MAPPINGS) {
		uint8_t *end = (uint8_t *)r.hva + r.size;
		uint64_t next = r.gpa + r.size;

		if (!memmap_find(ep->space, next, &r) || r.gpa != next || r.hva != end ||
		    !viommu_region_allows(&r, write))
			break;
		got += r.size;
	}
	*len = MIN(want, got);
out_unlock:
	pthread_rwlock_unlock(&v->lock);
	atomic_fetch_add_explicit(&v->translations, 1, memory_order_relaxed);
	if (!hva)
		atomic_fetch_add_explicit(&v->translation_faults, 1, memory_order_relaxed);
	return hva;
}

void *viommu_translate(struct viommu_endpoint *ep, uint64_t iova, uint64_t len, bool write)
{
	uint64_t n = len;
	void *hva = viommu_translate_piece(ep, iova, &n, write);

	return hva && n == len ? hva : NULL;
}

uint64_t viommu_generation(struct viommu *v)
{
	return atomic_load(&v->generation);
}

void viommu_get_stats(struct viommu *v, struct viommu_stats *out)
{
	pthread_rwlock_rdlock(&v->lock);
	*out = v->stats;
	pthread_rwlock_unlock(&v->lock);
	out->translations = atomic_load(&v->translations);
	out->translation_faults = atomic_load(&v->translation_faults);
}

void viommu_report(struct viommu *v)
{
	struct viommu_stats s;

	if (!v)
		return;
	viommu_get_stats(v, &s);
	pthread_rwlock_rdlock(&v->lock);
	pr_info("viommu: %u endpoints, %u domains, page sizes 0x%" PRIx64 ", IOVA [0x%" PRIx64
		"-0x%" PRIx64 "], bypass %s",
		v->nr_endpoints, v->nr_domains, v->pgsize_mask, v->input_start, v->input_end,
		v->bypass ? "on" : "off");
	for (unsigned i = 0; i < v->nr_endpoints; i++) {
		const struct viommu_endpoint *ep = v->endpoints[i];

		pr_info("viommu:   endpoint 0x%x %s: %s%s", ep->id, ep->name,
			ep->domain ? "domain " : (ep->space ? "bypass" : "no DMA"),
			ep->domain ? ep->domain->name + strlen("viommu-domain") : "");
	}
	for (unsigned i = 0; i < v->nr_domains; i++)
		pr_info("viommu:   domain %u: %u endpoints, %s%u mappings", v->domains[i]->id,
			v->domains[i]->nr_endpoints, v->domains[i]->bypass ? "bypass, " : "",
			v->domains[i]->map ? v->domains[i]->map->nr_regions : 0);
	pr_info("viommu:   %" PRIu64 " attaches, %" PRIu64 " detaches, %" PRIu64 " maps, %" PRIu64
		" unmaps, %" PRIu64 " refused; %" PRIu64 " translations, %" PRIu64 " faults",
		s.attaches, s.detaches, s.maps, s.unmaps, s.refused, s.translations,
		s.translation_faults);
	pthread_rwlock_unlock(&v->lock);
}

static void viommu_close_locked(struct viommu *v)
{
	v->closed = true;
	for (unsigned i = 0; i < v->nr_endpoints; i++) {
		struct viommu_endpoint *ep = v->endpoints[i];

		ep->space = NULL;
		if (ep->listener)
			dma_listener_set_space(ep->listener, NULL);
	}
}

void viommu_close(struct viommu *v)
{
	if (!v)
		return;
	pthread_rwlock_wrlock(&v->lock);
	viommu_close_locked(v);
	atomic_fetch_add(&v->generation, 1);
	pthread_rwlock_unlock(&v->lock);
	pr_debug("viommu: closed: containers unmapped, following nothing");
}

void viommu_destroy(struct viommu *v)
{
	if (!v)
		return;
	pthread_rwlock_wrlock(&v->lock);
	viommu_close_locked(v);
	while (v->nr_domains)
		viommu_domain_destroy(v, v->domains[0]);
	for (unsigned i = 0; i < v->nr_endpoints; i++)
		free(v->endpoints[i]);
	pthread_rwlock_unlock(&v->lock);
	pthread_rwlock_destroy(&v->lock);
	free(v);
}

int viommu_report_json(struct viommu *v, FILE *out)
{
	struct viommu_stats s;

	if (!v) {
		fputs("null", out);
		return 0;
	}
	viommu_get_stats(v, &s);
	pthread_rwlock_rdlock(&v->lock);
	fprintf(out,
		"{\"page_size_mask\":\"0x%" PRIx64 "\",\"input_range\":{\"start\":\"0x%" PRIx64
		"\",\"end\":\"0x%" PRIx64 "\"},\"bypass\":%s,\"endpoints\":[",
		v->pgsize_mask, v->input_start, v->input_end, v->bypass ? "true" : "false");
	for (unsigned i = 0; i < v->nr_endpoints; i++) {
		const struct viommu_endpoint *ep = v->endpoints[i];

		fprintf(out, "%s{\"id\":\"0x%x\",\"name\":\"%s\",\"container\":", i ? "," : "",
			ep->id, ep->name);
		if (ep->listener)
			fprintf(out, "%u", dma_listener_container(ep->listener)->index);
		else
			fputs("null", out);
		fprintf(out, ",\"state\":\"%s\",\"domain\":",
			ep->domain && !ep->domain->bypass ? "domain"
			: ep->space			  ? "bypass"
							  : "none");
		if (ep->domain)
			fprintf(out, "%u}", ep->domain->id);
		else
			fputs("null}", out);
	}
	fputs("],\"domains\":[", out);
	for (unsigned i = 0; i < v->nr_domains; i++) {
		const struct viommu_domain *d = v->domains[i];

		fprintf(out, "%s{\"id\":%u,\"bypass\":%s,\"endpoints\":%u,\"mappings\":%u}",
			i ? "," : "", d->id, d->bypass ? "true" : "false", d->nr_endpoints,
			d->map ? d->map->nr_regions : 0);
	}
	fprintf(out,
		"],\"stats\":{\"attaches\":%" PRIu64 ",\"detaches\":%" PRIu64 ",\"maps\":%" PRIu64
		",\"unmaps\":%" PRIu64 ",\"refused\":%" PRIu64 ",\"translations\":%" PRIu64
		",\"translation_faults\":%" PRIu64 "}}",
		s.attaches, s.detaches, s.maps, s.unmaps, s.refused, s.translations,
		s.translation_faults);
	pthread_rwlock_unlock(&v->lock);
	return ferror(out) ? -EIO : 0;
}
