// SPDX-License-Identifier: MIT
#include "iommu/dma_listener.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "iommu/dma_prefault.h"
#include "vmm/log.h"
#include "vmm/sandbox.h"
#include "vmm/util.h"

enum dma_mapping_state {
	DMA_QUEUED,  /* waiting for the worker (background mode) */
	DMA_MAPPING, /* VFIO_IOMMU_MAP_DMA for it is under way */
	DMA_MAPPED,
	DMA_GONE, /* undone, dropped by the next close-up; only inside one regions_del */
};

struct dma_mapping {
	uint64_t iova, size;
	void *hva;
	bool writable;
	bool device_ram; /* a BAR for peer-to-peer: its failure is not fatal */
	bool hugepages;
	enum dma_mapping_state state;
	uint64_t seq; /* queue order, and a name that survives the array moving */
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
	/* the mappings (queued, being made, in place), sorted by iova; lock: changed under it
	 * (and the space's lock, except by the background worker), read by the report */
	pthread_mutex_t lock;
	unsigned nr_maps, cap_maps;
	struct dma_mapping **maps; /* each allocated on its own: a MAP moves pointers only */
	struct dma_listener_stats stats;
	struct log_ratelimit rl; /* what it says about a guest-controlled space's mappings */
	/* /proc/self/status, opened at creation: a pin refused later (ptvm jailed, no /proc,
	 * no open allowed) still says how much is locked */
	int status_fd;

	/* background mode (guest RAM only: a guest IOMMU domain's MAP must be done when the
	 * guest's request completes): a worker thread makes the mappings */
	bool background;
	pthread_t worker;
	bool worker_running, stopping;
	pthread_cond_t cond; /* a mapping was queued, made or dropped */
	uint64_t next_seq;
	unsigned users; /* devices that may DMA now (bus master on) */
	int error;	/* the first RAM mapping that failed in the background, -errno */
	double t_created;
	void (*on_error)(void *opaque, int err);
	void *on_error_opaque;
	/* threads that fault guest RAM in before the worker pins it (dma_prefault.h); < 2: none */
	unsigned prefault_threads;
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

/* /proc/self/status through the descriptor opened at creation; false when unreadable. */
static bool read_status(struct dma_listener *l, char *buf, size_t len)
{
	ssize_t n = l->status_fd >= 0 ? pread(l->status_fd, buf, len - 1, 0) : -1;

	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* VmLck of this process: memory locked already (mlock, and pages VFIO pinned). */
static uint64_t locked_bytes(struct dma_listener *l)
{
	char buf[4096];
	const char *p;
	uint64_t kb = 0;

	if (!read_status(l, buf, sizeof(buf)))
		return 0;
	p = strstr(buf, "\nVmLck:");
	if (p)
		sscanf(p + 1, "VmLck: %" SCNu64, &kb);
	return kb * 1024;
}

/* RAM and ROM in the map plus r (when r is not in it yet); the caller holds the map's lock. */
static uint64_t guest_ram_bytes(struct memmap *mm, const struct memmap_region *r)
{
	unsigned lo = 0, hi = mm->nr_regions;

	/* r is in the map during a replay, not yet during an add (a binary search: a guest
	 * IOMMU domain's tens of thousands of regions are not walked at each MAP) */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (mm->regions[mid]->gpa < r->gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return mm->ram_bytes + (lo < mm->nr_regions && mm->regions[lo] == r ? 0 : r->size);
}

/* CAP_IPC_LOCK in the effective set: VFIO then pins without charging RLIMIT_MEMLOCK. */
static bool has_cap_ipc_lock(struct dma_listener *l)
{
	char buf[4096];
	const char *p;
	unsigned long long caps = 0;

	if (!read_status(l, buf, sizeof(buf)))
		return false;
	p = strstr(buf, "\nCapEff:");
	if (p)
		sscanf(p + 1, "CapEff: %llx", &caps);
	return caps & (1ULL << 14); /* CAP_IPC_LOCK */
}

/*
 * Why pinning iova/size of `name` failed (-ENOMEM/-EPERM): what RLIMIT_MEMLOCK it needs.
 * ram: the guest's RAM and ROM including this region; in_place: what this container pinned.
 */
static void dma_listener_explain_pin_failure(struct dma_listener *l, const char *name,
					     uint64_t iova, uint64_t size, uint64_t ram,
					     uint64_t in_place, int err)
{
	char b1[32], b2[32], b3[32], b4[32];
	uint64_t locked = locked_bytes(l), others;
	struct rlimit rl = { 0, 0 };

	/* what is locked besides this container's pinned mappings */
	others = locked > in_place ? locked - in_place : 0;
	getrlimit(RLIMIT_MEMLOCK, &rl);
	if (rl.rlim_cur == RLIM_INFINITY) {
		dl_err(l,
		       "%s: VFIO_IOMMU_MAP_DMA %s iova 0x%" PRIx64 " size 0x%" PRIx64
		       ": %s: RLIMIT_MEMLOCK is unlimited, so the host could not pin %s of guest "
		       "RAM (out of memory?)",
		       l->name, name, iova, size, strerror(-err), fmt_size(b1, 32, ram));
		return;
	}
	dl_err(l,
	       "%s: VFIO_IOMMU_MAP_DMA %s iova 0x%" PRIx64 " size 0x%" PRIx64
	       ": %s: pinning guest RAM for DMA needs RLIMIT_MEMLOCK of at least %s (guest RAM %s "
	       "+ %s already locked), the current limit is %s: raise it (ulimit -l %" PRIu64
	       ", LimitMEMLOCK=, or CAP_IPC_LOCK)",
	       l->name, name, iova, size, strerror(-err), fmt_size(b1, 32, ram + others),
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

		if (l->maps[mid]->iova < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct dma_mapping *dma_listener_find(struct dma_listener *l, uint64_t iova)
{
	unsigned i = dma_listener_pos(l, iova);

	return i < l->nr_maps && l->maps[i]->iova == iova ? l->maps[i] : NULL;
}

/*
 * The mapping at iova queued as seq (the array may have moved while the lock was dropped;
 * one being made cannot go meanwhile: region_del waits for it).
 */
static struct dma_mapping *dma_listener_find_job(struct dma_listener *l, uint64_t iova,
						 uint64_t seq)
{
	struct dma_mapping *m = dma_listener_find(l, iova);

	return m && m->seq == seq ? m : NULL;
}

/* A slot for a mapping at iova, in order; NULL when memory runs out. */
static struct dma_mapping *dma_listener_insert(struct dma_listener *l, uint64_t iova)
{
	struct dma_mapping *m;
	unsigned i;

	if (l->nr_maps == l->cap_maps) {
		unsigned cap = l->cap_maps ? l->cap_maps * 2 : 16;
		struct dma_mapping **n = realloc(l->maps, cap * sizeof(*n));

		if (!n)
			return NULL;
		l->maps = n;
		l->cap_maps = cap;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	i = dma_listener_pos(l, iova);
	memmove(&l->maps[i + 1], &l->maps[i], (l->nr_maps - i) * sizeof(l->maps[0]));
	l->maps[i] = m;
	l->nr_maps++;
	return m;
}

/* Forgets mapping m (the array closes up); lock held. */
static void dma_listener_forget(struct dma_listener *l, struct dma_mapping *m)
{
	unsigned i = dma_listener_pos(l, m->iova);

	memmove(&l->maps[i], &l->maps[i + 1], (l->nr_maps - i - 1) * sizeof(l->maps[0]));
	l->nr_maps--;
	free(m);
}

/* The array and whatever is still in it (nothing once the space has let go). */
static void dma_listener_free_maps(struct dma_listener *l)
{
	for (unsigned i = 0; i < l->nr_maps; i++)
		free(l->maps[i]);
	free(l->maps);
	l->maps = NULL;
	l->nr_maps = l->cap_maps = 0;
}

/* Mappings not in place yet (queued or being made); lock held. */
static unsigned dma_listener_busy_locked(struct dma_listener *l)
{
	unsigned n = 0;

	for (unsigned i = 0; i < l->nr_maps; i++)
		n += l->maps[i]->state != DMA_MAPPED;
	return n;
}

/* Bytes of RAM here not pinned yet; lock held. */
static uint64_t dma_listener_pending_bytes_locked(struct dma_listener *l)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < l->nr_maps; i++)
		if (l->maps[i]->state != DMA_MAPPED && !l->maps[i]->device_ram)
			n += l->maps[i]->size;
	return n;
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

/*
 * Makes the mapping at iova with sequence number seq (state DMA_MAPPING), dropping the lock
 * around VFIO_IOMMU_MAP_DMA. On success it is DMA_MAPPED; on failure it is forgotten (and, for
 * RAM, the failure explained). ram: the guest's RAM total, for that explanation. Lock held.
 */
static int dma_listener_map_locked(struct dma_listener *l, uint64_t iova, uint64_t seq,
				   uint64_t ram)
{
	struct dma_mapping *m = dma_listener_find_job(l, iova, seq), job = *m;
	double t0, dt;
	int ret;

	pthread_mutex_unlock(&l->lock);
	t0 = now_seconds();
	ret = l->ops->map(l, job.iova, job.size, job.hva, job.writable);
	dt = now_seconds() - t0;
	pthread_mutex_lock(&l->lock);
	/* region_del waits while a mapping is being made: it is still here */
	m = dma_listener_find_job(l, iova, seq);
	if (ret) {
		dma_listener_forget(l, m);
		if (job.device_ram) {
			log_printf_ratelimited(&l->rl, LOG_WARN,
					       "%s: VFIO_IOMMU_MAP_DMA of BAR %s for peer-to-peer "
					       "failed: %s; peer-to-peer DMA to it will fault",
					       l->name, job.name, strerror(-ret));
			return 0;
		}
		if (ret == -ENOMEM || ret == -EPERM)
			dma_listener_explain_pin_failure(l, job.name, job.iova, job.size, ram,
							 l->stats.bytes_in_place, ret);
		else
			dl_err(l,
			       "%s: VFIO_IOMMU_MAP_DMA %s iova 0x%" PRIx64 " size 0x%" PRIx64
			       " hva %p: %s",
			       l->name, job.name, job.iova, job.size, job.hva, strerror(-ret));
		return ret;
	}
	m->state = DMA_MAPPED;
	l->stats.nr_maps++;
	l->stats.bytes_mapped += job.size;
	l->stats.map_seconds += dt;
	l->stats.max_map_seconds = MAX(l->stats.max_map_seconds, dt);
	l->stats.nr_mappings++;
	l->stats.bytes_in_place += job.size;
	/* one line per mapping: for guest RAM at info, for a guest's IOMMU domain (one per DMA
	 * buffer in strict mode) at debug */
	if (dma_listener_guest_driven(l))
		pr_debug("%s: mapped %s iova 0x%" PRIx64 " size 0x%" PRIx64 " hva %p%s in %.3f ms",
			 l->name, job.name, job.iova, job.size, job.hva,
			 job.writable ? "" : " read-only", dt * 1e3);
	else if (job.device_ram) /* a BAR, where the guest placed it */
		log_printf_ratelimited(&l->rl, LOG_INFO,
				       "%s: mapped %s iova 0x%" PRIx64 " size 0x%" PRIx64
				       " hva %p in %.1f ms%s",
				       l->name, job.name, job.iova, job.size, job.hva, dt * 1e3,
				       l->background ? " (in the background)" : "");
	else
		pr_info("%s: mapped %s iova 0x%" PRIx64 " size 0x%" PRIx64
			" hva %p%s%s in %.1f ms%s",
			l->name, job.name, job.iova, job.size, job.hva,
			job.writable ? "" : " read-only", job.hugepages ? " (huge pages)" : "",
			dt * 1e3, l->background ? " (in the background)" : "");
	return 0;
}

/*
 * On the worker only (its I/O list allows MADV_POPULATE_WRITE; a vCPU's does not): guest RAM
 * about to be pinned is faulted in by several threads first (dma_prefault.h says why). The
 * mapping is DMA_MAPPING meanwhile, so region_del waits for it. A failure is not one: the map
 * faults in what is left, and says what is wrong if anything is.
 */
static void dma_listener_prefault_locked(struct dma_listener *l, uint64_t iova, uint64_t seq)
{
	struct dma_mapping job = *dma_listener_find_job(l, iova, seq);
	double t0, dt;
	int ret;

	pthread_mutex_unlock(&l->lock);
	t0 = now_seconds();
	ret = dma_prefault_range(job.hva, job.size, l->prefault_threads);
	dt = now_seconds() - t0;
	pthread_mutex_lock(&l->lock);
	if (ret < 0) {
		pr_debug("%s: faulting %s in before pinning it: %s (the map does it)", l->name,
			 job.name, strerror(-ret));
		return;
	}
	if (!ret)
		return;
	l->stats.prefault_bytes += job.size;
	l->stats.prefault_seconds += dt;
	l->stats.prefault_threads = MAX(l->stats.prefault_threads, (unsigned)ret);
	pr_info("%s: faulted %s in (%" PRIu64 " MiB) with %d threads in %.1f ms, before pinning it",
		l->name, job.name, job.size >> 20, ret, dt * 1e3);
}

/* The background worker: makes queued mappings, oldest first, until the listener stops. */
static void *dma_listener_worker(void *arg)
{
	struct dma_listener *l = arg;
	char name[16];

	snprintf(name, sizeof(name), "dma-container%u", l->c->index % 100);
	pthread_setname_np(pthread_self(), name);
	pthread_mutex_lock(&l->lock);
	for (;;) {
		struct dma_mapping *next = NULL;
		uint64_t iova, seq, ram;
		int ret;

		for (unsigned i = 0; i < l->nr_maps; i++)
			if (l->maps[i]->state == DMA_QUEUED &&
			    (!next || l->maps[i]->seq < next->seq))
				next = l->maps[i];
		if (l->stopping)
			break;
		if (!next) {
			pthread_cond_wait(&l->cond, &l->lock);
			continue;
		}
		next->state = DMA_MAPPING;
		iova = next->iova;
		seq = next->seq;
		ram = next->device_ram ? 0 : l->stats.guest_ram_bytes;
		if (!next->device_ram && next->writable && l->prefault_threads > 1)
			dma_listener_prefault_locked(l, iova, seq);
		ret = dma_listener_map_locked(l, iova, seq, ram);
		if (ret && !l->error) {
			l->error = ret;
			if (l->on_error)
				l->on_error(l->on_error_opaque, ret);
		}
		if (!dma_listener_busy_locked(l)) {
			l->stats.in_place_seconds = now_seconds() - l->t_created;
			pr_info("%s: every DMA mapping in place %.1f ms after mapping began (%u "
				"mappings, %" PRIu64 " MiB; %.1f ms in VFIO_IOMMU_MAP_DMA)",
				l->name, l->stats.in_place_seconds * 1e3, l->stats.nr_mappings,
				l->stats.bytes_in_place >> 20, l->stats.map_seconds * 1e3);
		}
		pthread_cond_broadcast(&l->cond);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static int dma_listener_region_add(struct memmap_listener *ml, struct memmap_region *r)
{
	struct dma_listener *l = container_of(ml, struct dma_listener, ml);
	uint64_t pgsize = l->c->pgsize_bitmap ? l->c->pgsize_bitmap & -l->c->pgsize_bitmap : SZ_4K;
	bool writable = r->kind != MEMMAP_ROM;
	struct rlimit rl = { 0, 0 };
	struct dma_mapping *m;
	uint64_t ram, seq;
	char why[192];
	int ret = 0;

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
	/* the space's lock is held: the guest's RAM total, for messages made later */
	ram = guest_ram_bytes(l->mm, r);
	pthread_mutex_lock(&l->lock);
	if (l->limit && l->nr_maps >= l->limit) {
		pthread_mutex_unlock(&l->lock);
		snprintf(why, sizeof(why),
			 "would be DMA mapping %u, beyond the container's limit of %u "
			 "(vfio_iommu_type1 dma_entry_limit)",
			 l->nr_maps + 1, l->limit);
		return dma_listener_refuse(l, r, -ENOSPC, "%s", why);
	}
	/* A pinning that RLIMIT_MEMLOCK will refuse is refused now, with the advice, not later
	 * from the background (VFIO charges it unless the process has CAP_IPC_LOCK). */
	if (l->ops->charges_memlock && r->kind != MEMMAP_DEVICE_RAM &&
	    !getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    locked_bytes(l) + dma_listener_pending_bytes_locked(l) + r->size > rl.rlim_cur &&
	    !has_cap_ipc_lock(l)) {
		dma_listener_explain_pin_failure(l, r->name, r->gpa, r->size, ram,
						 l->stats.bytes_in_place, -ENOMEM);
		pthread_mutex_unlock(&l->lock);
		return -ENOMEM;
	}
	m = dma_listener_insert(l, r->gpa);
	if (!m) {
		pthread_mutex_unlock(&l->lock);
		return -ENOMEM;
	}
	l->stats.guest_ram_bytes = ram;
	*m = (struct dma_mapping){ .iova = r->gpa,
				   .size = r->size,
				   .hva = r->hva,
				   .writable = writable,
				   .device_ram = r->kind == MEMMAP_DEVICE_RAM,
				   .hugepages = r->hugepages,
				   .seq = seq = l->next_seq++ };
	snprintf(m->name, sizeof(m->name), "%s", r->name);
	if (l->background && !l->users && !dma_listener_guest_driven(l)) {
		/* nothing may DMA yet: the worker maps it while the guest runs */
		m->state = DMA_QUEUED;
		pr_debug("%s: %s iova 0x%" PRIx64 " size 0x%" PRIx64 " queued for mapping", l->name,
			 r->name, r->gpa, r->size);
	} else {
		/* a device may DMA (or the guest asked for this IOVA): mapped before anyone can
		 * use it */
		m->state = DMA_MAPPING;
		ret = dma_listener_map_locked(l, r->gpa, seq, ram);
	}
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	return ret;
}

/* Undoes mapping m, which is in place; lock held. */
static void dma_listener_unmap_locked(struct dma_listener *l, struct dma_mapping *m)
{
	double t0 = now_seconds(), dt;
	int ret = l->ops->unmap(l, m->iova, m->size);

	dt = now_seconds() - t0;
	if (ret)
		pr_warn_ratelimited("%s: VFIO_IOMMU_UNMAP_DMA %s iova 0x%" PRIx64 " size 0x%" PRIx64
				    ": %s",
				    l->name, m->name, m->iova, m->size, strerror(-ret));
	else
		pr_debug("%s: unmapped %s iova 0x%" PRIx64 " size 0x%" PRIx64 " in %.1f ms",
			 l->name, m->name, m->iova, m->size, dt * 1e3);
	l->stats.nr_unmaps++;
	l->stats.unmap_seconds += dt;
	l->stats.bytes_in_place -= m->size;
	l->stats.nr_mappings--;
}

/*
 * The regions rs leave the space: their mappings are undone (or dropped while still queued)
 * and forgotten, the array closed up once for all of them. A guest's UNMAP of a range can
 * take thousands at once; one close-up per mapping made that quadratic (seconds for tens of
 * thousands).
 */
static void dma_listener_regions_del(struct memmap_listener *ml, struct memmap_region **rs,
				     unsigned n)
{
	struct dma_listener *l = container_of(ml, struct dma_listener, ml);
	unsigned w, gone = 0, first = UINT_MAX, last = 0;

	pthread_mutex_lock(&l->lock);
	/* never under a mapping being made: wait until none of them is (the worker may start
	 * another meanwhile, so after a wait the check starts over) */
	for (unsigned i = 0; i < n;) {
		struct dma_mapping *m = dma_listener_find(l, rs[i]->gpa);

		if (m && m->state == DMA_MAPPING) {
			pthread_cond_wait(&l->cond, &l->lock);
			i = 0;
			continue;
		}
		i++;
	}
	/* from here on the lock stays held: nobody sees a mapping DMA_GONE */
	for (unsigned i = 0; i < n; i++) {
		unsigned pos = dma_listener_pos(l, rs[i]->gpa);
		struct dma_mapping *m;

		if (pos == l->nr_maps || l->maps[pos]->iova != rs[i]->gpa)
			continue; /* MMIO, p2p off, or a mapping that failed */
		m = l->maps[pos];
		if (m->state == DMA_QUEUED)
			pr_debug("%s: %s left the map before it was mapped", l->name, m->name);
		else
			dma_listener_unmap_locked(l, m); /* gone from the guest either way */
		m->state = DMA_GONE;
		gone++;
		first = MIN(first, pos);
		last = MAX(last, pos);
	}
	/* one close-up: what lies between the first and the last gone, then the rest in one
	 * move (the mappings of one range lie side by side) */
	if (gone) {
		for (unsigned i = w = first; i <= last; i++) {
			if (l->maps[i]->state == DMA_GONE)
				free(l->maps[i]);
			else
				l->maps[w++] = l->maps[i];
		}
		memmove(&l->maps[w], &l->maps[last + 1],
			(l->nr_maps - last - 1) * sizeof(l->maps[0]));
	}
	l->nr_maps -= gone;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

static void dma_listener_region_del(struct memmap_listener *ml, struct memmap_region *r)
{
	dma_listener_regions_del(ml, &r, 1);
}

static void dma_listener_stop_worker(struct dma_listener *l)
{
	if (!l->worker_running)
		return;
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->worker, NULL);
	l->worker_running = false;
}

int dma_listener_create(struct memmap *mm, struct vfio_container *c, bool p2p,
			const struct dma_backend_ops *ops, struct dma_listener **out)
{
	return dma_listener_create_background(mm, c, p2p, ops, NULL, NULL, out);
}

int dma_listener_create_background(struct memmap *mm, struct vfio_container *c, bool p2p,
				   const struct dma_backend_ops *ops,
				   void (*on_error)(void *opaque, int err), void *opaque,
				   struct dma_listener **out)
{
	struct dma_listener *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	snprintf(l->name, sizeof(l->name), "container%u", c->index);
	l->ml = (struct memmap_listener){
		.name = l->name,
		/* after the KVM memslot listener: the guest sees RAM before devices DMA to it */
		.priority = 10,
		.region_add = dma_listener_region_add,
		.region_del = dma_listener_region_del,
		.regions_del = dma_listener_regions_del,
	};
	l->c = c;
	l->ops = ops;
	l->p2p = p2p;
	l->limit = c->dma_avail;
	l->guest_driven = !mm;
	l->background = on_error != NULL;
	l->on_error = on_error;
	l->on_error_opaque = opaque;
	l->t_created = now_seconds();
	l->status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ret = dma_listener_set_space(l, mm);
	if (ret)
		goto out_free;
	c->listener = l;
	pthread_mutex_lock(&l->lock);
	if (l->background && dma_listener_busy_locked(l))
		pr_info("%s: %u DMA mappings (%" PRIu64 " MiB) to be made in the background",
			l->name, dma_listener_busy_locked(l),
			dma_listener_pending_bytes_locked(l) >> 20);
	else if (l->stats.nr_maps)
		pr_info("%s: %u DMA mappings, %" PRIu64 " MiB pinned in %.1f ms", l->name,
			l->stats.nr_maps, l->stats.bytes_mapped >> 20, l->stats.map_seconds * 1e3);
	if (!dma_listener_busy_locked(l))
		l->stats.in_place_seconds = now_seconds() - l->t_created;
	pthread_mutex_unlock(&l->lock);
	*out = l;
	return 0;

out_free:
	dma_listener_free_maps(l);
	if (l->status_fd >= 0)
		close(l->status_fd);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return ret;
}

void dma_listener_set_prefault_threads(struct dma_listener *l, unsigned nr_threads)
{
	pthread_mutex_lock(&l->lock);
	l->prefault_threads = nr_threads;
	pthread_mutex_unlock(&l->lock);
}

int dma_listener_start(struct dma_listener *l)
{
	int ret;

	if (!l->background || l->worker_running)
		return 0;
	/* a device I/O thread's allow-list: VFIO_IOMMU_MAP_DMA/UNMAP_DMA, futex, and the
	 * /proc/self/status and RLIMIT_MEMLOCK reads of a refused pin */
	ret = -sandbox_thread_create(SANDBOX_THREAD_IO, &l->worker, dma_listener_worker, l);
	if (ret) {
		pr_err("%s: cannot start the DMA mapping thread: %s", l->name, strerror(-ret));
		return ret;
	}
	l->worker_running = true;
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
	/* region_del undoes what is mapped, drops what is queued, waits for a map in flight */
	if (l->registered)
		memmap_listener_unregister(l->mm, &l->ml);
	dma_listener_stop_worker(l);
	if (l->c && l->c->listener == l)
		l->c->listener = NULL;
	dma_listener_free_maps(l);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	if (l->status_fd >= 0)
		close(l->status_fd);
	free(l);
}

void dma_listener_dma_users(struct dma_listener *l, bool on)
{
	pthread_mutex_lock(&l->lock);
	if (on)
		l->users++;
	else if (l->users)
		l->users--;
	pthread_mutex_unlock(&l->lock);
}

int dma_listener_wait(struct dma_listener *l, double timeout_s)
{
	struct timespec deadline;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)timeout_s;
	deadline.tv_nsec += (long)((timeout_s - (double)(time_t)timeout_s) * 1e9);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&l->lock);
	while (!l->error && dma_listener_busy_locked(l) && !ret)
		ret = -pthread_cond_timedwait(&l->cond, &l->lock, &deadline);
	if (l->error)
		ret = l->error;
	else if (!dma_listener_busy_locked(l))
		ret = 0;
	pthread_mutex_unlock(&l->lock);
	return ret;
}

struct vfio_container *dma_listener_container(struct dma_listener *l)
{
	return l->c;
}

const struct dma_listener_stats *dma_listener_stats(struct dma_listener *l)
{
	return &l->stats;
}

void dma_listener_stats_get(struct dma_listener *l, struct dma_listener_stats *out)
{
	pthread_mutex_lock(&l->lock);
	*out = l->stats;
	out->nr_pending = dma_listener_busy_locked(l);
	out->background = l->background;
	pthread_mutex_unlock(&l->lock);
}

void dma_listener_record_wait(struct dma_listener *l, double seconds)
{
	pthread_mutex_lock(&l->lock);
	l->stats.nr_dma_waits++;
	l->stats.dma_wait_seconds += seconds;
	l->stats.max_dma_wait_seconds = MAX(l->stats.max_dma_wait_seconds, seconds);
	pthread_mutex_unlock(&l->lock);
}

int dma_listener_add_reserved(struct dma_listener *l, uint64_t start, uint64_t end,
			      const char *what)
{
	int ret = 0;

	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < l->nr_maps && !ret; i++) {
		const struct dma_mapping *m = l->maps[i];

		if (m->iova <= end && start <= m->iova + m->size - 1) {
			pr_err("%s: guest %s [0x%" PRIx64 "-0x%" PRIx64
			       "] is DMA mapped and collides with reserved IOVA range [0x%" PRIx64
			       "-0x%" PRIx64 "] (%s)",
			       l->name, m->name, m->iova, m->iova + m->size - 1, start, end, what);
			ret = -EINVAL;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return ret ? ret : vfio_container_add_reserved(l->c, start, end, what);
}

void dma_listener_for_each(struct dma_listener *l,
			   void (*fn)(void *opaque, const char *name, uint64_t iova, uint64_t size,
				      void *hva, bool writable),
			   void *opaque)
{
	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < l->nr_maps; i++)
		if (l->maps[i]->state == DMA_MAPPED)
			fn(opaque, l->maps[i]->name, l->maps[i]->iova, l->maps[i]->size,
			   l->maps[i]->hva, l->maps[i]->writable);
	pthread_mutex_unlock(&l->lock);
}

void dma_listener_report(struct dma_listener *l)
{
	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < l->nr_maps; i++)
		pr_info("%s:   dma %s iova [0x%" PRIx64 "-0x%" PRIx64 "] hva %p%s%s", l->name,
			l->maps[i]->name, l->maps[i]->iova, l->maps[i]->iova + l->maps[i]->size - 1,
			l->maps[i]->hva, l->maps[i]->writable ? "" : " read-only",
			l->maps[i]->state == DMA_MAPPED ? "" : " (not mapped yet)");
	pthread_mutex_unlock(&l->lock);
	dma_listener_report_stats(l);
}

void dma_listener_report_stats(struct dma_listener *l)
{
	struct dma_listener_stats s;

	dma_listener_stats_get(l, &s);
	pr_info("%s:   %u mappings (%" PRIu64 " MiB) in place%s; %u maps (%" PRIu64
		" MiB) took %.1f ms, slowest %.1f ms; %u unmaps took %.1f ms",
		l->name, s.nr_mappings, s.bytes_in_place >> 20,
		l->limit ? "" : ", no entry limit reported", s.nr_maps, s.bytes_mapped >> 20,
		s.map_seconds * 1e3, s.max_map_seconds * 1e3, s.nr_unmaps, s.unmap_seconds * 1e3);
	if (s.prefault_bytes)
		pr_info("%s:   faulted in before pinning, by up to %u threads: %" PRIu64
			" MiB in %.1f ms",
			l->name, s.prefault_threads, s.prefault_bytes >> 20,
			s.prefault_seconds * 1e3);
	if (s.background)
		pr_info("%s:   mapped in the background: %s %.1f ms after it began; devices "
			"waited for it at bus-master enable %u time(s), %.1f ms in all (longest "
			"%.1f ms)",
			l->name, s.nr_pending ? "not all in place yet," : "all in place",
			s.in_place_seconds * 1e3, s.nr_dma_waits, s.dma_wait_seconds * 1e3,
			s.max_dma_wait_seconds * 1e3);
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
	.charges_memlock = true,
};
