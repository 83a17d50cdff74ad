// SPDX-License-Identifier: MIT
#include "memmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

const char *memmap_kind_name(enum memmap_kind kind)
{
	switch (kind) {
	case MEMMAP_RAM:
		return "ram";
	case MEMMAP_ROM:
		return "rom";
	case MEMMAP_DEVICE_RAM:
		return "device-ram";
	case MEMMAP_MMIO:
		return "mmio";
	}
	return "?";
}

int memmap_create_space(const char *name, unsigned max_regions, struct memmap **out)
{
	struct memmap *mm = calloc(1, sizeof(*mm));

	if (!mm)
		return -ENOMEM;
	pthread_rwlock_init(&mm->lock, NULL);
	mm->name = name;
	mm->max_regions = max_regions;
	mm->guest_controlled = true;
	*out = mm;
	return 0;
}

int memmap_create(struct memmap **out)
{
	int ret = memmap_create_space("memmap", MEMMAP_MAX_REGIONS, out);

	if (!ret)
		(*out)->guest_controlled = false;
	return ret;
}

void memmap_destroy(struct memmap *mm)
{
	if (!mm)
		return;
	while (mm->nr_regions)
		memmap_del_region(mm, mm->regions[mm->nr_regions - 1]->gpa);
	pthread_rwlock_destroy(&mm->lock);
	free(mm->regions);
	free(mm);
}

/* What ram_bytes counts. */
static bool memmap_region_is_ram(const struct memmap_region *r)
{
	return r->kind == MEMMAP_RAM || r->kind == MEMMAP_ROM;
}

/* Runs region_del on the listeners from l up to `stop` (exclusive), last first. */
static void memmap_listeners_del_until(struct memmap_listener *l, struct memmap_listener *stop,
				       struct memmap_region *r)
{
	if (!l || l == stop)
		return;
	memmap_listeners_del_until(l->next, stop, r);
	if (l->region_del)
		l->region_del(l, r);
}

/* Index of the first region starting at or after gpa (binary search). */
static unsigned memmap_insert_pos(struct memmap *mm, uint64_t gpa)
{
	unsigned lo = 0, hi = mm->nr_regions;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (mm->regions[mid]->gpa < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The region [gpa, gpa+size) would overlap, if any: only its neighbours can. */
static struct memmap_region *memmap_overlap_locked(struct memmap *mm, uint64_t gpa, uint64_t size)
{
	unsigned pos = memmap_insert_pos(mm, gpa);

	if (pos < mm->nr_regions &&
	    ranges_overlap(gpa, size, mm->regions[pos]->gpa, mm->regions[pos]->size))
		return mm->regions[pos];
	if (pos > 0 &&
	    ranges_overlap(gpa, size, mm->regions[pos - 1]->gpa, mm->regions[pos - 1]->size))
		return mm->regions[pos - 1];
	return NULL;
}

/* Room for one more region pointer; -ENOMEM. */
static int memmap_grow_locked(struct memmap *mm)
{
	struct memmap_region **n;
	unsigned cap;

	if (mm->nr_regions < mm->capacity)
		return 0;
	cap = mm->capacity ? mm->capacity * 2 : 16;
	if (cap > mm->max_regions)
		cap = mm->max_regions;
	n = realloc(mm->regions, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	mm->regions = n;
	mm->capacity = cap;
	return 0;
}

int memmap_add_region(struct memmap *mm, const struct memmap_region *tmpl)
{
	struct memmap_region *r, *o;
	unsigned pos;
	int ret;

	if (!tmpl->size || tmpl->gpa + tmpl->size < tmpl->gpa) {
		pr_err_ratelimited("%s: region %s [0x%llx, +0x%llx) is empty or wraps", mm->name,
				   tmpl->name, (unsigned long long)tmpl->gpa,
				   (unsigned long long)tmpl->size);
		return -EINVAL;
	}
	pthread_rwlock_wrlock(&mm->lock);
	o = memmap_overlap_locked(mm, tmpl->gpa, tmpl->size);
	if (o) {
		pr_err_ratelimited("%s: region %s [0x%llx-0x%llx] overlaps %s [0x%llx-0x%llx]",
				   mm->name, tmpl->name, (unsigned long long)tmpl->gpa,
				   (unsigned long long)(tmpl->gpa + tmpl->size - 1), o->name,
				   (unsigned long long)o->gpa,
				   (unsigned long long)(o->gpa + o->size - 1));
		ret = -EEXIST;
		goto out_unlock;
	}
	if (mm->nr_regions == mm->max_regions) {
		pr_err_ratelimited("%s: too many regions adding %s", mm->name, tmpl->name);
		ret = -ENOSPC;
		goto out_unlock;
	}
	ret = memmap_grow_locked(mm);
	if (ret)
		goto out_unlock;
	r = malloc(sizeof(*r));
	if (!r) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	*r = *tmpl;
	r->kvm_slot = -1;
	for (struct memmap_listener *l = mm->listeners; l; l = l->next) {
		if (!l->region_add)
			continue;
		ret = l->region_add(l, r);
		if (ret) {
			memmap_listeners_del_until(mm->listeners, l, r);
			free(r);
			goto out_unlock;
		}
	}
	pos = memmap_insert_pos(mm, r->gpa);
	memmove(&mm->regions[pos + 1], &mm->regions[pos],
		(mm->nr_regions - pos) * sizeof(mm->regions[0]));
	mm->regions[pos] = r;
	mm->nr_regions++;
	mm->ram_bytes += memmap_region_is_ram(r) ? r->size : 0;
	pr_debug("%s: add %s %s [0x%llx-0x%llx] hva=%p", mm->name, memmap_kind_name(r->kind),
		 r->name, (unsigned long long)r->gpa, (unsigned long long)(r->gpa + r->size - 1),
		 r->hva);
	ret = 0;
out_unlock:
	pthread_rwlock_unlock(&mm->lock);
	return ret;
}

int memmap_del_region(struct memmap *mm, uint64_t gpa)
{
	struct memmap_region *r = NULL;
	unsigned i;

	pthread_rwlock_wrlock(&mm->lock);
	i = memmap_insert_pos(mm, gpa);
	if (i < mm->nr_regions && mm->regions[i]->gpa == gpa)
		r = mm->regions[i];
	if (!r) {
		pthread_rwlock_unlock(&mm->lock);
		return -ENOENT;
	}
	memmap_listeners_del_until(mm->listeners, NULL, r);
	memmove(&mm->regions[i], &mm->regions[i + 1],
		(mm->nr_regions - i - 1) * sizeof(mm->regions[0]));
	mm->nr_regions--;
	mm->ram_bytes -= memmap_region_is_ram(r) ? r->size : 0;
	pr_debug("%s: del %s %s [0x%llx-0x%llx]", mm->name, memmap_kind_name(r->kind), r->name,
		 (unsigned long long)r->gpa, (unsigned long long)(r->gpa + r->size - 1));
	pthread_rwlock_unlock(&mm->lock);
	free(r);
	return 0;
}

/* Runs the removal of the n regions rs on the listeners from l on, last first. */
static void memmap_listeners_del_batch(struct memmap_listener *l, struct memmap_region **rs,
				       unsigned n)
{
	if (!l)
		return;
	memmap_listeners_del_batch(l->next, rs, n);
	if (l->regions_del)
		l->regions_del(l, rs, n);
	else if (l->region_del)
		for (unsigned i = 0; i < n; i++)
			l->region_del(l, rs[i]);
}

unsigned memmap_del_range(struct memmap *mm, uint64_t start, uint64_t end)
{
	unsigned first, n = 0;

	if (end < start)
		return 0;
	pthread_rwlock_wrlock(&mm->lock);
	/* regions do not overlap: those whole inside are one run of the sorted array, which
	 * only its last candidate (one reaching past end) can cut short */
	first = memmap_insert_pos(mm, start);
	while (first + n < mm->nr_regions) {
		const struct memmap_region *r = mm->regions[first + n];

		if (r->gpa > end || r->size - 1 > end - r->gpa)
			break;
		n++;
	}
	if (n) {
		memmap_listeners_del_batch(mm->listeners, &mm->regions[first], n);
		for (unsigned i = 0; i < n; i++) {
			struct memmap_region *r = mm->regions[first + i];

			mm->ram_bytes -= memmap_region_is_ram(r) ? r->size : 0;
			free(r);
		}
		memmove(&mm->regions[first], &mm->regions[first + n],
			(mm->nr_regions - first - n) * sizeof(mm->regions[0]));
		mm->nr_regions -= n;
		pr_debug("%s: del %u region%s in [0x%llx-0x%llx]", mm->name, n, n == 1 ? "" : "s",
			 (unsigned long long)start, (unsigned long long)end);
	}
	pthread_rwlock_unlock(&mm->lock);
	return n;
}

int memmap_listener_register(struct memmap *mm, struct memmap_listener *l)
{
	struct memmap_listener **pp;
	unsigned i;
	int ret = 0;

	pthread_rwlock_wrlock(&mm->lock);
	for (i = 0; i < mm->nr_regions; i++) {
		unsigned errs = log_error_count();

		if (!l->region_add)
			break;
		ret = l->region_add(l, mm->regions[i]);
		if (ret) {
			/* One error line for the user: the listener's own when it said why (the
			 * RLIMIT_MEMLOCK advice, say), else this one. Rate-limited: a guest IOMMU
			 * domain replays guest-chosen mappings. */
			if (log_error_count() == errs)
				pr_err_ratelimited("%s: listener %s refused %s during replay",
						   mm->name, l->name, mm->regions[i]->name);
			else
				pr_debug("%s: listener %s refused %s during replay", mm->name,
					 l->name, mm->regions[i]->name);
			while (i--)
				if (l->region_del)
					l->region_del(l, mm->regions[i]);
			goto out_unlock;
		}
	}
	for (pp = &mm->listeners; *pp && (*pp)->priority <= l->priority; pp = &(*pp)->next)
		;
	l->next = *pp;
	*pp = l;
out_unlock:
	pthread_rwlock_unlock(&mm->lock);
	return ret;
}

void memmap_listener_unregister(struct memmap *mm, struct memmap_listener *l)
{
	struct memmap_listener **pp;

	pthread_rwlock_wrlock(&mm->lock);
	for (pp = &mm->listeners; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			l->next = NULL;
			if (l->region_del)
				for (unsigned i = mm->nr_regions; i--;)
					l->region_del(l, mm->regions[i]);
			break;
		}
	}
	pthread_rwlock_unlock(&mm->lock);
}

static struct memmap_region *memmap_lookup_locked(struct memmap *mm, uint64_t gpa)
{
	unsigned lo = 0, hi = mm->nr_regions;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		struct memmap_region *r = mm->regions[mid];

		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

void *memmap_gpa_to_hva(struct memmap *mm, uint64_t gpa, uint64_t len)
{
	struct memmap_region *r;
	void *hva = NULL;

	pthread_rwlock_rdlock(&mm->lock);
	r = memmap_lookup_locked(mm, gpa);
	/* len may be 0 (an empty buffer is still checked to start inside RAM) */
	if (r && (r->kind == MEMMAP_RAM || r->kind == MEMMAP_ROM) && r->hva &&
	    len <= r->size - (gpa - r->gpa))
		hva = (uint8_t *)r->hva + (gpa - r->gpa);
	pthread_rwlock_unlock(&mm->lock);
	return hva;
}

int memmap_write(struct memmap *mm, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = memmap_gpa_to_hva(mm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

int memmap_read(struct memmap *mm, uint64_t gpa, void *dst, uint64_t len)
{
	void *p = memmap_gpa_to_hva(mm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

bool memmap_find(struct memmap *mm, uint64_t gpa, struct memmap_region *out)
{
	struct memmap_region *r;

	pthread_rwlock_rdlock(&mm->lock);
	r = memmap_lookup_locked(mm, gpa);
	if (r)
		*out = *r;
	pthread_rwlock_unlock(&mm->lock);
	return r != NULL;
}

bool memmap_find_next(struct memmap *mm, uint64_t gpa, struct memmap_region *out)
{
	struct memmap_region *r;
	unsigned pos;

	pthread_rwlock_rdlock(&mm->lock);
	r = memmap_lookup_locked(mm, gpa);
	if (!r) {
		pos = memmap_insert_pos(mm, gpa);
		r = pos < mm->nr_regions ? mm->regions[pos] : NULL;
	}
	if (r)
		*out = *r;
	pthread_rwlock_unlock(&mm->lock);
	return r != NULL;
}
