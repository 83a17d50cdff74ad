// SPDX-License-Identifier: MIT
#include "iommu/dma_listener.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/util.h"

struct dma_mapping {
	uint64_t iova, size;
	void *hva;
	bool writable;
	char name[32];
};

struct dma_listener {
	struct memmap_listener ml;
	struct memmap *mm; /* the address space it mirrors now; NULL: none (no DMA at all) */
	struct vfio_container *c;
	const struct dma_backend_ops *ops;
	bool p2p;
	bool registered;
	/* created on no space: a vIOMMU endpoint's container, whose source the guest picks */
	bool guest_driven;
	/* CAP_DMA_AVAIL when the listener was created (it makes the container's mappings),
	 * 0 = the kernel did not say */
	uint32_t limit;
	char name[24];
	/* the mappings in place, sorted by iova; lock: changed under the space's lock, read by
	 * the report from another thread */
	pthread_mutex_t lock;
	unsigned nr_maps, cap_maps;
	struct dma_mapping *maps;
	struct dma_listener_stats stats;
	struct log_ratelimit rl; /* what it says about a guest-controlled space's mappings */
	/* /proc/self/status, opened at creation: a pin refused later (ptvm jailed, no /proc,
	 * no open allowed) still says how much is locked */
	int status_fd;
};

/* Whether the guest chose what it mirrors (a vIOMMU domain, or bypass to guest RAM). */
static bool dma_listener_guest_driven(const struct dma_listener *l)
{
	return l->guest_driven || (l->mm && l->mm->guest_controlled);
}

/* Errors about mappings the guest chose are the guest's doing: rate-limited. */
#define dl_err(l, ...)                                                                             \
	do {                                                                                       \
		if (dma_listener_guest_driven(l))                                                  \
			log_printf_ratelimited(&(l)->rl, LOG_ERR, __VA_ARGS__);                    \
		else                                                                               \
			pr_err(__VA_ARGS__);                                                       \
	} while (0)

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Human sizes for messages: "512 MiB", "4 KiB", "1.5 GiB". */
static const char *fmt_size(char *buf, size_t len, uint64_t v)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	unsigned u = 0;

	while (d >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		d /= 1024;
		u++;
	}
	if (d == (double)(uint64_t)d)
		snprintf(buf, len, "%" PRIu64 " %s", (uint64_t)d, units[u]);
	else
		snprintf(buf, len, "%.1f %s", d, units[u]);
	return buf;
}

/* VmLck of this process: memory locked already (mlock, and pages VFIO pinned). */
static uint64_t locked_bytes(struct dma_listener *l)
{
	char buf[4096];
	const char *p;
	uint64_t kb = 0;
	ssize_t n = l->status_fd >= 0 ? pread(l->status_fd, buf, sizeof(buf) - 1, 0) : -1;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nVmLck:");
	if (p)
		sscanf(p + 1, "VmLck: %" SCNu64, &kb);
	return kb * 1024;
}

/* RAM and ROM in the map plus r (when r is not in it yet); the caller holds the map's lock. */
static uint64_t guest_ram_bytes(struct memmap *mm, const struct memmap_region *r)
{
	uint64_t total = 0;
	bool seen = false;

	for (unsigned i = 0; i < mm->nr_regions; i++) {
		const struct memmap_region *o = mm->regions[i];

		if (o->kind == MEMMAP_RAM || o->kind == MEMMAP_ROM)
			total += o->size;
		seen |= o == r;
	}
	return seen ? total : total + r->size;
}

static void dma_listener_explain_pin_failure(struct dma_listener *l, struct memmap_region *r,
					     int err)
{
	char b1[32], b2[32], b3[32], b4[32];
	uint64_t locked = locked_bytes(l), others, ram = guest_ram_bytes(l->mm, r);
	struct rlimit rl = { 0, 0 };

	/* what is locked besides this container's pinned mappings */
	others = locked > l->stats.bytes_in_place ? locked - l->stats.bytes_in_place : 0;
	getrlimit(RLIMIT_MEMLOCK, &rl);
	if (rl.rlim_cur == RLIM_INFINITY) {
		dl_err(l,
		       "%s: VFIO_IOMMU_MAP_DMA %s iova 0x%" PRIx64 " size 0x%" PRIx64
		       ": %s: RLIMIT_MEMLOCK is unlimited, so the host could not pin %s of guest "
		       "RAM (out of memory?)",
		       l->name, r->name, r->gpa, r->size, strerror(-err), fmt_size(b1, 32, ram));
		return;
	}
	dl_err(l,
	       "%s: VFIO_IOMMU_MAP_DMA %s iova 0x%" PRIx64 " size 0x%" PRIx64
	       ": %s: pinning guest RAM for DMA needs RLIMIT_MEMLOCK of at least %s (guest RAM %s "
	       "+ %s already locked), the current limit is %s: raise it (ulimit -l %" PRIu64
	       ", LimitMEMLOCK=, or CAP_IPC_LOCK)",
	       l->name, r->name, r->gpa, r->size, strerror(-err), fmt_size(b1, 32, ram + others),
	       fmt_size(b2, 32, ram), fmt_size(b3, 32, others),
	       fmt_size(b4, 32, (uint64_t)rl.rlim_cur), (ram + others + 1023) / 1024);
}

/*
 * Is [gpa, gpa+size) usable as IOVA in this container? -EINVAL with no message, *why filled
 * with the colliding range, when it is not.
 */
static int dma_listener_check_iova(struct dma_listener *l, const struct memmap_region *r, char *why,
				   size_t len)
{
	struct vfio_container *c = l->c;
	uint64_t end = r->gpa + r->size - 1, x = r->gpa;

	for (unsigned i = 0; i < c->nr_reserved; i++) {
		const struct vfio_reserved_range *v = &c->reserved[i];

		if (r->gpa <= v->end && v->start <= end) {
			snprintf(why, len, "reserved IOVA range [0x%" PRIx64 "-0x%" PRIx64 "] (%s)",
				 v->start, v->end, v->what);
			return -EINVAL;
		}
	}
	if (!c->nr_ranges)
		return 0;
	/* walk from gpa through the usable ranges; the first address none covers is the hole */
	for (;;) {
		const struct vfio_iova_range *in = NULL;
		uint64_t hole_end = UINT64_MAX;

		for (unsigned i = 0; i < c->nr_ranges; i++) {
			if (c->ranges[i].start <= x && x <= c->ranges[i].end)
				in = &c->ranges[i];
			else if (c->ranges[i].start > x && c->ranges[i].start - 1 < hole_end)
				hole_end = c->ranges[i].start - 1;
		}
		if (!in) {
			snprintf(why, len,
				 "[0x%" PRIx64 "-0x%" PRIx64 "], outside the IOMMU's usable IOVA "
				 "ranges (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE)",
				 x, hole_end);
			return -EINVAL;
		}
		if (in->end >= end)
			return 0;
		x = in->end + 1;
	}
}

/* Index of the first mapping at or after iova (binary search). */
static unsigned dma_listener_pos(struct dma_listener *l, uint64_t iova)
{
	unsigned lo = 0, hi = l->nr_maps;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (l->maps[mid].iova < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct dma_mapping *dma_listener_find(struct dma_listener *l, uint64_t iova)
{
	unsigned i = dma_listener_pos(l, iova);

	return i < l->nr_maps && l->maps[i].iova == iova ? &l->maps[i] : NULL;
}

/* A slot for a mapping at iova, in order; NULL when memory runs out. */
static struct dma_mapping *dma_listener_insert(struct dma_listener *l, uint64_t iova)
{
	unsigned i;

	if (l->nr_maps == l->cap_maps) {
		unsigned cap = l->cap_maps ? l->cap_maps * 2 : 16;
		struct dma_mapping *n = realloc(l->maps, cap * sizeof(*n));

		if (!n)
			return NULL;
		l->maps = n;
		l->cap_maps = cap;
	}
	i = dma_listener_pos(l, iova);
	memmove(&l->maps[i + 1], &l->maps[i], (l->nr_maps - i) * sizeof(l->maps[0]));
	l->nr_maps++;
	return &l->maps[i];
}

/*
 * Refuses r for a reason other than the map call itself. For DEVICE_RAM (peer-to-peer only)
 * a warning and 0: the guest runs, p2p DMA to that BAR faults.
 */
static int dma_listener_refuse(struct dma_listener *l, struct memmap_region *r, int err,
			       const char *fmt, const char *arg)
{
	char msg[256];

	snprintf(msg, sizeof(msg), fmt, arg);
	if (r->kind == MEMMAP_DEVICE_RAM) {
		/* the guest places BARs, as often as it likes: rate-limited */
		log_printf_ratelimited(&l->rl, LOG_WARN,
				       "%s: not mapping BAR %s [0x%" PRIx64 "-0x%" PRIx64
				       "] for peer-to-peer: %s",
				       l->name, r->name, r->gpa, r->gpa + r->size - 1, msg);
		return 0;
	}
	dl_err(l, "%s: guest %s %s [0x%" PRIx64 "-0x%" PRIx64 "] %s", l->name,
	       memmap_kind_name(r->kind), r->name, r->gpa, r->gpa + r->size - 1, msg);
	return err;
}

static int dma_listener_region_add(struct memmap_listener *ml, struct memmap_region *r)
{
	struct dma_listener *l = container_of(ml, struct dma_listener, ml);
	uint64_t pgsize = l->c->pgsize_bitmap ? l->c->pgsize_bitmap & -l->c->pgsize_bitmap : SZ_4K;
	bool writable = r->kind != MEMMAP_ROM;
	struct dma_mapping *m;
	char why[192];
	double t0, dt;
	int ret;

	if (r->kind == MEMMAP_MMIO)
		return 0;
	if (r->kind == MEMMAP_DEVICE_RAM && !l->p2p) {
		pr_debug("%s: BAR %s not mapped for DMA (p2p off)", l->name, r->name);
		return 0;
	}
	if (!r->hva)
		return dma_listener_refuse(l, r, -EINVAL, "%s", "has no host mapping to pin");
	if (!IS_ALIGNED(r->gpa | r->size | (uintptr_t)r->hva, pgsize)) {
		snprintf(why, sizeof(why), "is not aligned to the IOMMU page size 0x%" PRIx64,
			 pgsize);
		return dma_listener_refuse(l, r, -EINVAL, "%s", why);
	}
	if (dma_listener_check_iova(l, r, why, sizeof(why)))
		return dma_listener_refuse(l, r, -EINVAL, "collides with %s", why);
	if (l->limit && l->nr_maps >= l->limit) {
		snprintf(why, sizeof(why),
			 "would be DMA mapping %u, beyond the container's limit of %u "
			 "(vfio_iommu_type1 dma_entry_limit)",
			 l->nr_maps + 1, l->limit);
		return dma_listener_refuse(l, r, -ENOSPC, "%s", why);
	}

	t0 = now_seconds();
	ret = l->ops->map(l, r->gpa, r->size, r->hva, writable);
	dt = now_seconds() - t0;
	if (ret) {
		if (r->kind == MEMMAP_DEVICE_RAM) {
			log_printf_ratelimited(&l->rl, LOG_WARN,
					       "%s: VFIO_IOMMU_MAP_DMA of BAR %s for peer-to-peer "
					       "failed: %s; peer-to-peer DMA to it will fault",
					       l->name, r->name, strerror(-ret));
			return 0;
		}
		if (ret == -ENOMEM || ret == -EPERM)
			dma_listener_explain_pin_failure(l, r, ret);
		else
			dl_err(l,
			       "%s: VFIO_IOMMU_MAP_DMA %s iova 0x%" PRIx64 " size 0x%" PRIx64
			       " hva %p: %s",
			       l->name, r->name, r->gpa, r->size, r->hva, strerror(-ret));
		return ret;
	}
	pthread_mutex_lock(&l->lock);
	m = dma_listener_insert(l, r->gpa);
	if (!m) {
		pthread_mutex_unlock(&l->lock);
		l->ops->unmap(l, r->gpa, r->size);
		return -ENOMEM;
	}
	*m = (struct dma_mapping){
		.iova = r->gpa, .size = r->size, .hva = r->hva, .writable = writable
	};
	snprintf(m->name, sizeof(m->name), "%s", r->name);
	l->stats.nr_maps++;
	l->stats.bytes_mapped += r->size;
	l->stats.map_seconds += dt;
	l->stats.max_map_seconds = MAX(l->stats.max_map_seconds, dt);
	l->stats.nr_mappings = l->nr_maps;
	l->stats.bytes_in_place += r->size;
	pthread_mutex_unlock(&l->lock);
	/* one line per mapping: for guest RAM at info, for a guest's IOMMU domain (one per DMA
	 * buffer in strict mode) at debug */
	if (dma_listener_guest_driven(l))
		pr_debug("%s: mapped %s iova 0x%" PRIx64 " size 0x%" PRIx64 " hva %p%s in %.3f ms",
			 l->name, r->name, r->gpa, r->size, r->hva, writable ? "" : " read-only",
			 dt * 1e3);
	else if (r->kind == MEMMAP_DEVICE_RAM) /* a BAR, where the guest placed it */
		log_printf_ratelimited(&l->rl, LOG_INFO,
				       "%s: mapped %s iova 0x%" PRIx64 " size 0x%" PRIx64
				       " hva %p in %.1f ms",
				       l->name, r->name, r->gpa, r->size, r->hva, dt * 1e3);
	else
		pr_info("%s: mapped %s iova 0x%" PRIx64 " size 0x%" PRIx64 " hva %p%s%s in %.1f ms",
			l->name, r->name, r->gpa, r->size, r->hva, writable ? "" : " read-only",
			r->hugepages ? " (huge pages)" : "", dt * 1e3);
	return 0;
}

static void dma_listener_region_del(struct memmap_listener *ml, struct memmap_region *r)
{
	struct dma_listener *l = container_of(ml, struct dma_listener, ml);
	struct dma_mapping *m = dma_listener_find(l, r->gpa);
	double t0, dt;
	int ret;

	if (!m)
		return; /* MMIO, p2p off, or a BAR whose p2p mapping failed */
	t0 = now_seconds();
	ret = l->ops->unmap(l, m->iova, m->size);
	dt = now_seconds() - t0;
	if (ret)
		pr_warn_ratelimited("%s: VFIO_IOMMU_UNMAP_DMA %s iova 0x%" PRIx64 " size 0x%" PRIx64
				    ": %s",
				    l->name, m->name, m->iova, m->size, strerror(-ret));
	else
		pr_debug("%s: unmapped %s iova 0x%" PRIx64 " size 0x%" PRIx64 " in %.1f ms",
			 l->name, m->name, m->iova, m->size, dt * 1e3);
	pthread_mutex_lock(&l->lock);
	l->stats.nr_unmaps++;
	l->stats.unmap_seconds += dt;
	l->stats.bytes_in_place -= m->size;
	/* the region is gone from the guest either way: forget it */
	memmove(m, m + 1, (size_t)(&l->maps[l->nr_maps] - (m + 1)) * sizeof(*m));
	l->nr_maps--;
	l->stats.nr_mappings = l->nr_maps;
	pthread_mutex_unlock(&l->lock);
}

int dma_listener_create(struct memmap *mm, struct vfio_container *c, bool p2p,
			const struct dma_backend_ops *ops, struct dma_listener **out)
{
	struct dma_listener *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	snprintf(l->name, sizeof(l->name), "container%u", c->index);
	l->ml = (struct memmap_listener){
		.name = l->name,
		/* after the KVM memslot listener: the guest sees RAM before devices DMA to it */
		.priority = 10,
		.region_add = dma_listener_region_add,
		.region_del = dma_listener_region_del,
	};
	l->c = c;
	l->ops = ops;
	l->status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	l->p2p = p2p;
	l->limit = c->dma_avail;
	l->guest_driven = !mm;
	ret = dma_listener_set_space(l, mm);
	if (ret) {
		free(l->maps);
		if (l->status_fd >= 0)
			close(l->status_fd);
		free(l);
		return ret;
	}
	c->listener = l;
	if (l->stats.nr_maps)
		pr_info("%s: %u DMA mappings, %" PRIu64 " MiB pinned in %.1f ms", l->name,
			l->stats.nr_maps, l->stats.bytes_mapped >> 20, l->stats.map_seconds * 1e3);
	*out = l;
	return 0;
}

void dma_listener_enable_p2p(struct dma_listener *l)
{
	struct memmap *mm = l->mm;

	if (l->p2p)
		return;
	if (!mm) {
		/* following no address space (a vIOMMU endpoint not attached): later BARs only */
		l->p2p = true;
		return;
	}
	/* under the map's write lock, as region_add always runs: no BAR comes or goes meanwhile */
	pthread_rwlock_wrlock(&mm->lock);
	l->p2p = true;
	pr_info("%s: peer-to-peer on: passthrough BARs are DMA-mapped too", l->name);
	for (unsigned i = 0; i < mm->nr_regions; i++)
		if (mm->regions[i]->kind == MEMMAP_DEVICE_RAM)
			dma_listener_region_add(&l->ml, mm->regions[i]); /* never fails for BARs */
	pthread_rwlock_unlock(&mm->lock);
}

int dma_listener_set_space(struct dma_listener *l, struct memmap *space)
{
	int ret;

	if (l->registered && l->mm == space)
		return 0;
	if (l->registered) {
		/* unmaps everything the old space had */
		memmap_listener_unregister(l->mm, &l->ml);
		l->registered = false;
		pr_debug("%s: left %s", l->name, l->mm->name);
	}
	/* under the lock: the report reads the space's name, which goes with the space */
	pthread_mutex_lock(&l->lock);
	l->mm = space;
	pthread_mutex_unlock(&l->lock);
	if (!space)
		return 0;
	ret = memmap_listener_register(space, &l->ml);
	if (ret) {
		pthread_mutex_lock(&l->lock);
		l->mm = NULL; /* the replay was rolled back: no DMA at all */
		pthread_mutex_unlock(&l->lock);
		return ret;
	}
	l->registered = true;
	pr_debug("%s: follows %s (%u mappings)", l->name, space->name, l->nr_maps);
	return 0;
}

struct memmap *dma_listener_space(struct dma_listener *l)
{
	return l->mm;
}

bool dma_listener_space_name(struct dma_listener *l, char *buf, size_t len)
{
	bool any;

	pthread_mutex_lock(&l->lock);
	any = l->mm != NULL;
	if (any)
		snprintf(buf, len, "%s", l->mm->name);
	pthread_mutex_unlock(&l->lock);
	return any;
}

void dma_listener_destroy(struct dma_listener *l)
{
	if (!l)
		return;
	if (l->registered)
		memmap_listener_unregister(l->mm, &l->ml);
	if (l->c && l->c->listener == l)
		l->c->listener = NULL;
	free(l->maps);
	pthread_mutex_destroy(&l->lock);
	if (l->status_fd >= 0)
		close(l->status_fd);
	free(l);
}

struct vfio_container *dma_listener_container(struct dma_listener *l)
{
	return l->c;
}

const struct dma_listener_stats *dma_listener_stats(struct dma_listener *l)
{
	return &l->stats;
}

int dma_listener_add_reserved(struct dma_listener *l, uint64_t start, uint64_t end,
			      const char *what)
{
	for (unsigned i = 0; i < l->nr_maps; i++) {
		const struct dma_mapping *m = &l->maps[i];

		if (m->iova <= end && start <= m->iova + m->size - 1) {
			pr_err("%s: guest %s [0x%" PRIx64 "-0x%" PRIx64
			       "] is DMA mapped and collides with reserved IOVA range [0x%" PRIx64
			       "-0x%" PRIx64 "] (%s)",
			       l->name, m->name, m->iova, m->iova + m->size - 1, start, end, what);
			return -EINVAL;
		}
	}
	return vfio_container_add_reserved(l->c, start, end, what);
}

void dma_listener_for_each(struct dma_listener *l,
			   void (*fn)(void *opaque, const char *name, uint64_t iova, uint64_t size,
				      void *hva, bool writable),
			   void *opaque)
{
	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < l->nr_maps; i++)
		fn(opaque, l->maps[i].name, l->maps[i].iova, l->maps[i].size, l->maps[i].hva,
		   l->maps[i].writable);
	pthread_mutex_unlock(&l->lock);
}

void dma_listener_report(struct dma_listener *l)
{
	const struct dma_listener_stats *s = &l->stats;

	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < l->nr_maps; i++)
		pr_info("%s:   dma %s iova [0x%" PRIx64 "-0x%" PRIx64 "] hva %p%s", l->name,
			l->maps[i].name, l->maps[i].iova, l->maps[i].iova + l->maps[i].size - 1,
			l->maps[i].hva, l->maps[i].writable ? "" : " read-only");
	pr_info("%s:   %u mappings (%" PRIu64 " MiB) in place%s; %u maps (%" PRIu64
		" MiB) took %.1f ms, slowest %.1f ms; %u unmaps took %.1f ms",
		l->name, s->nr_mappings, s->bytes_in_place >> 20,
		l->limit ? "" : ", no entry limit reported", s->nr_maps, s->bytes_mapped >> 20,
		s->map_seconds * 1e3, s->max_map_seconds * 1e3, s->nr_unmaps,
		s->unmap_seconds * 1e3);
	pthread_mutex_unlock(&l->lock);
}

static int dma_backend_vfio_map(struct dma_listener *l, uint64_t iova, uint64_t size, void *vaddr,
				bool writable)
{
	return vfio_container_map_dma(l->c, iova, size, vaddr, writable);
}

static int dma_backend_vfio_unmap(struct dma_listener *l, uint64_t iova, uint64_t size)
{
	return vfio_container_unmap_dma(l->c, iova, size);
}

const struct dma_backend_ops dma_backend_vfio = {
	.map = dma_backend_vfio_map,
	.unmap = dma_backend_vfio_unmap,
};
