// SPDX-License-Identifier: MIT
#include "iommu/vfio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iommu/dma_listener.h"
#include "iommu/dma_prefault.h"
#include "iommu/sysfs.h"
#include "iommu/vfio_container.h"
#include "iommu/vfio_group.h"
#include "vmm/log.h"
#include "vmm/sandbox.h"
#include "vmm/util.h"

#define VFIO_MAX_DEVICES 16

struct vfio {
	struct memmap *mm;
	unsigned nr_devices, nr_groups, nr_containers;
	struct vfio_device *devices[VFIO_MAX_DEVICES];
	struct vfio_group *groups[VFIO_MAX_DEVICES];
	struct vfio_container *containers[VFIO_MAX_DEVICES];
	unsigned next_container_index;
	void (*on_error)(void *opaque, int err); /* set: containers map in the background */
	void *on_error_opaque;
	unsigned prefault_threads; /* their workers' helpers (dma_listener_set_prefault_threads) */
};

int vfio_create(struct memmap *mm, struct vfio **out)
{
	struct vfio *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	v->mm = mm;
	*out = v;
	return 0;
}

void vfio_set_background_mapping(struct vfio *v, unsigned prefault_threads,
				 void (*on_error)(void *opaque, int err), void *opaque)
{
	v->on_error = on_error;
	v->on_error_opaque = opaque;
	v->prefault_threads = prefault_threads;
}

void vfio_destroy(struct vfio *v)
{
	if (!v)
		return;
	while (v->nr_devices)
		vfio_detach_device(v, v->devices[v->nr_devices - 1]);
	free(v);
}

bool vfio_has_devices(struct vfio *v)
{
	return v && v->nr_devices > 0;
}

/* Removes p from an array of n pointers, keeping the order. */
static void ptr_array_remove(void **arr, unsigned *n, void *p)
{
	for (unsigned i = 0; i < *n; i++) {
		if (arr[i] == p) {
			memmove(&arr[i], &arr[i + 1], (*n - i - 1) * sizeof(arr[0]));
			(*n)--;
			return;
		}
	}
}

/* The group's reserved regions from sysfs, in the form the container keeps them. */
static int vfio_group_reserved(struct vfio_group *g, struct vfio_reserved_range *out, unsigned max,
			       unsigned *nr)
{
	struct vfio_reserved_region regions[VFIO_MAX_RESERVED];
	unsigned n;
	int ret;

	ret = vfio_sysfs_reserved_regions(g->id, regions, MIN(max, VFIO_MAX_RESERVED), &n);
	if (ret) {
		pr_err("vfio: reading the reserved regions of IOMMU group %d: %s", g->id,
		       strerror(-ret));
		return ret;
	}
	for (unsigned i = 0; i < n; i++) {
		out[i] = (struct vfio_reserved_range){ regions[i].start, regions[i].end, "" };
		snprintf(out[i].what, sizeof(out[i].what), "%s, IOMMU group %d", regions[i].type,
			 g->id);
	}
	*nr = n;
	return 0;
}

/*
 * Puts g into an existing container when the kernel accepts it and the container's mappings
 * stay clear of g's reserved regions. 1 when it joined, 0 when none would take it.
 */
static int vfio_group_join_existing(struct vfio *v, struct vfio_group *g,
				    const struct vfio_reserved_range *resv, unsigned nr_resv)
{
	for (unsigned i = 0; i < v->nr_containers; i++) {
		struct vfio_container *c = v->containers[i];
		int ret = 0;

		/* a vIOMMU endpoint's container mirrors its guest domain: it is nobody else's */
		if (c->viommu || vfio_group_set_container(g, c))
			continue;
		for (unsigned j = 0; j < nr_resv && !ret; j++)
			ret = c->listener ? dma_listener_add_reserved(c->listener, resv[j].start,
								      resv[j].end, resv[j].what)
					  : vfio_container_add_reserved(c, resv[j].start,
									resv[j].end, resv[j].what);
		if (ret) {
			vfio_group_unset_container(g);
			return ret;
		}
		pr_info("vfio: IOMMU group %d joined container%u", g->id, c->index);
		return 1;
	}
	return 0;
}

/*
 * A new container for g, with its own DMA listener replaying the guest's RAM into it; behind
 * the vIOMMU (viommu) the listener starts on no address space: no DMA at all.
 */
static int vfio_group_new_container(struct vfio *v, struct vfio_group *g, bool p2p, bool viommu,
				    const struct vfio_reserved_range *resv, unsigned nr_resv)
{
	struct vfio_container *c;
	struct dma_listener *l;
	int ret;

	if (v->nr_containers == VFIO_MAX_DEVICES)
		return -ENOSPC;
	ret = vfio_container_create(v->next_container_index, &c);
	if (ret)
		return ret;
	ret = vfio_group_set_container(g, c);
	if (ret) {
		pr_err("vfio: VFIO_GROUP_SET_CONTAINER for IOMMU group %d into a new container: %s",
		       g->id, strerror(-ret));
		goto out_destroy_container;
	}
	ret = vfio_container_set_iommu(c);
	if (ret)
		goto out_unset_container;
	for (unsigned j = 0; j < nr_resv && !ret; j++)
		ret = vfio_container_add_reserved(c, resv[j].start, resv[j].end, resv[j].what);
	if (ret)
		goto out_unset_container;
	c->viommu = viommu;
	/* guest RAM is mapped in the background when ptvm run asked for it; a vIOMMU endpoint's
	 * container starts on no space (its domains' mappings are the guest's requests) */
	if (v->on_error && !viommu) {
		ret = dma_listener_create_background(v->mm, c, p2p, &dma_backend_vfio, v->on_error,
						     v->on_error_opaque, &l);
		if (!ret)
			dma_listener_set_prefault_threads(l, v->prefault_threads);
	} else
		ret = dma_listener_create(viommu ? NULL : v->mm, c, p2p && !viommu,
					  &dma_backend_vfio, &l);
	if (ret)
		goto out_unset_container;
	v->containers[v->nr_containers++] = c;
	v->next_container_index++;
	pr_info("vfio: IOMMU group %d in new container%u%s", g->id, c->index,
		viommu ? " (its DMA follows the guest's vIOMMU domain)" : "");
	return 0;

out_unset_container:
	vfio_group_unset_container(g);
out_destroy_container:
	vfio_container_destroy(c);
	return ret;
}

static struct vfio_group *vfio_find_group(struct vfio *v, int id)
{
	for (unsigned i = 0; i < v->nr_groups; i++)
		if (v->groups[i]->id == id)
			return v->groups[i];
	return NULL;
}

/* Opens group id and puts it in a container (an existing one if the kernel agrees and the
 * group is not behind the vIOMMU). */
static int vfio_group_get(struct vfio *v, int id, bool p2p, bool viommu, struct vfio_group **out)
{
	struct vfio_reserved_range resv[VFIO_MAX_RESERVED];
	struct vfio_group *g = vfio_find_group(v, id);
	unsigned nr_resv;
	int ret;

	if (g) {
		if (g->container->viommu != viommu) {
			pr_err("vfio: IOMMU group %d: its devices must all be behind the vIOMMU "
			       "(iommu=on) or none of them",
			       id);
			return -EINVAL;
		}
		if (p2p && g->container->listener)
			dma_listener_enable_p2p(g->container->listener);
		*out = g;
		return 0;
	}
	if (v->nr_groups == VFIO_MAX_DEVICES)
		return -ENOSPC;
	ret = vfio_group_open(id, &g);
	if (ret)
		return ret;
	ret = vfio_group_reserved(g, resv, VFIO_MAX_RESERVED, &nr_resv);
	if (ret)
		goto out_close;
	ret = viommu ? 0 : vfio_group_join_existing(v, g, resv, nr_resv);
	if (ret == 0)
		ret = vfio_group_new_container(v, g, p2p, viommu, resv, nr_resv);
	if (ret < 0)
		goto out_close;
	/* a container is mapped for peer-to-peer as soon as one of its devices asks */
	if (p2p && g->container->listener)
		dma_listener_enable_p2p(g->container->listener);
	v->groups[v->nr_groups++] = g;
	*out = g;
	return 0;

out_close:
	vfio_group_close(g);
	return ret;
}

/* Closes g when no device uses it, and its container when no group is left in it. */
static void vfio_group_put(struct vfio *v, struct vfio_group *g)
{
	struct vfio_container *c = g->container;

	if (g->nr_devices)
		return;
	/* the last group leaving drops the container's IOMMU domain: unmap explicitly first */
	if (c && c->nr_groups == 1) {
		dma_listener_destroy(c->listener);
		vfio_group_unset_container(g);
		ptr_array_remove((void **)v->containers, &v->nr_containers, c);
		vfio_container_destroy(c);
	}
	ptr_array_remove((void **)v->groups, &v->nr_groups, g);
	vfio_group_close(g);
}

static int vfio_attach(struct vfio *v, const char *arg, bool p2p, bool viommu,
		       struct vfio_device **out)
{
	char bdf[VFIO_BDF_LEN];
	struct vfio_group *g;
	struct vfio_device *d;
	double t0, group_seconds;
	int id, ret;

	if (vfio_bdf_parse(arg, bdf)) {
		pr_err("vfio: '%s' is not a PCI address (DDDD:BB:DD.F or BB:DD.F)", arg ? arg : "");
		return -EINVAL;
	}
	for (unsigned i = 0; i < v->nr_devices; i++) {
		if (!strcmp(v->devices[i]->bdf, bdf)) {
			pr_err("vfio: %s is given twice: a device can be assigned once", bdf);
			return -EEXIST;
		}
	}
	if (v->nr_devices == VFIO_MAX_DEVICES) {
		pr_err("vfio: %s: at most %d passthrough devices", bdf, VFIO_MAX_DEVICES);
		return -ENOSPC;
	}
	ret = vfio_sysfs_check_device(bdf);
	if (ret)
		return ret;
	ret = vfio_sysfs_iommu_group(bdf, &id);
	if (ret)
		return ret;
	t0 = monotonic_seconds();
	ret = vfio_group_get(v, id, p2p, viommu, &g);
	if (ret)
		return ret;
	group_seconds = monotonic_seconds() - t0;
	/*
	 * ptvm run opens the device later, in a thread of its own while the guest boots
	 * (vfio_start_device_opens): vfio-pci resets the function when it is opened, an FLR
	 * waits 100 ms or more. What the guest sees of it meanwhile comes from sysfs.
	 */
	ret = v->on_error && !viommu ? vfio_device_prepare(g, bdf, &d) : -EAGAIN;
	if (ret)
		ret = vfio_device_open(g, bdf, &d);
	if (ret) {
		vfio_group_put(v, g);
		return ret;
	}
	d->times.group = group_seconds;
	v->devices[v->nr_devices++] = d;
	*out = d;
	return 0;
}

int vfio_attach_device(struct vfio *v, const char *bdf, bool p2p, struct vfio_device **out)
{
	return vfio_attach(v, bdf, p2p, false, out);
}

int vfio_attach_device_viommu(struct vfio *v, const char *bdf, struct vfio_device **out)
{
	return vfio_attach(v, bdf, false, true, out);
}

struct dma_listener *vfio_device_dma_listener(struct vfio_device *d)
{
	return d->group->container->listener;
}

struct vfio_device *vfio_find_device(struct vfio *v, const char *bdf)
{
	for (unsigned i = 0; v && i < v->nr_devices; i++)
		if (!strcmp(v->devices[i]->bdf, bdf))
			return v->devices[i];
	return NULL;
}

static struct dma_listener *vfio_device_listener(struct vfio_device *d)
{
	return d->group && d->group->container ? d->group->container->listener : NULL;
}

int vfio_device_dma_begin(struct vfio *v, struct vfio_device *d, double timeout_s)
{
	struct dma_listener *l = vfio_device_listener(d);
	double t0 = monotonic_seconds(), dt;
	int ret;

	if (!l)
		return 0;
	if (!d->dma_on) {
		/* RAM added from here on is mapped before the guest can hand it to d */
		dma_listener_dma_users(l, true);
		d->dma_on = true;
		d->dma_waits++;
		d->cur_wait_seconds = 0;
	}
	ret = dma_listener_wait(l, timeout_s);
	dt = monotonic_seconds() - t0;
	d->dma_wait_seconds += dt;
	d->cur_wait_seconds += dt;
	if (ret != -ETIMEDOUT) {
		/* one wait per bus-master enable, however many calls it took */
		d->max_dma_wait_seconds = MAX(d->max_dma_wait_seconds, d->cur_wait_seconds);
		dma_listener_record_wait(l, d->cur_wait_seconds);
	}
	if (ret && ret != -ETIMEDOUT) {
		dma_listener_dma_users(l, false);
		d->dma_on = false;
	}
	return ret;
}

void vfio_device_dma_end(struct vfio *v, struct vfio_device *d)
{
	struct dma_listener *l = vfio_device_listener(d);

	if (!l || !d->dma_on)
		return;
	dma_listener_dma_users(l, false);
	d->dma_on = false;
}

void vfio_device_open_later(struct vfio_device *d, void (*opened)(void *opaque, int err),
			    void *opaque)
{
	d->opened = opened;
	d->opened_opaque = opaque;
}

static void *vfio_device_opener(void *arg)
{
	struct vfio_device *d = arg;
	char name[16];

	snprintf(name, sizeof(name), "open-%s", d->bdf + 5); /* "open-00:03.0" */
	pthread_setname_np(pthread_self(), name);
	d->opened(d->opened_opaque, vfio_device_open_fd(d));
	return NULL;
}

int vfio_start_device_opens(struct vfio *v)
{
	for (unsigned i = 0; v && i < v->nr_devices; i++) {
		struct vfio_device *d = v->devices[i];
		int ret;

		if (vfio_device_is_open(d) || !d->opened || d->opener_running)
			continue;
		ret = -sandbox_thread_create(SANDBOX_THREAD_IO, &d->opener, vfio_device_opener, d);
		if (ret) {
			pr_err("%s: cannot start the thread that opens it: %s", d->bdf,
			       strerror(-ret));
			return ret;
		}
		d->opener_running = true;
	}
	return 0;
}

unsigned vfio_late_fds(struct vfio *v)
{
	unsigned n = 0;

	for (unsigned i = 0; v && i < v->nr_devices; i++)
		n += v->devices[i]->opened_late;
	return n;
}

unsigned vfio_late_threads(struct vfio *v)
{
	unsigned helpers;

	if (!v || !v->on_error || v->prefault_threads < 2)
		return 0;
	helpers = MIN(v->prefault_threads, DMA_PREFAULT_MAX_THREADS) - 1;
	return v->nr_containers * helpers;
}

void vfio_device_open_join(struct vfio_device *d)
{
	if (!d || !d->opener_running)
		return;
	pthread_join(d->opener, NULL);
	d->opener_running = false;
}

int vfio_start_background_mapping(struct vfio *v)
{
	int ret = 0;

	for (unsigned i = 0; v && i < v->nr_containers && !ret; i++)
		if (v->containers[i]->listener)
			ret = dma_listener_start(v->containers[i]->listener);
	return ret;
}

int vfio_dma_wait(struct vfio *v)
{
	int ret = 0;

	for (unsigned i = 0; v && i < v->nr_containers && !ret; i++)
		if (v->containers[i]->listener)
			while ((ret = dma_listener_wait(v->containers[i]->listener, 1.0)) ==
			       -ETIMEDOUT)
				;
	return ret;
}

void vfio_detach_device(struct vfio *v, struct vfio_device *d)
{
	struct vfio_group *g;

	if (!d)
		return;
	vfio_device_open_join(d);
	vfio_device_dma_end(v, d);
	g = d->group;
	ptr_array_remove((void **)v->devices, &v->nr_devices, d);
	vfio_device_close(d);
	vfio_group_put(v, g);
}

void vfio_report(struct vfio *v)
{
	if (!v || !v->nr_containers)
		return;
	for (unsigned i = 0; i < v->nr_containers; i++) {
		struct vfio_container *c = v->containers[i];

		pr_info("vfio: container%u: %s, %u group(s), IOMMU page sizes 0x%" PRIx64
			", %u usable IOVA ranges, %u reserved",
			c->index, c->iommu_type == VFIO_TYPE1v2_IOMMU ? "type1v2" : "type1",
			c->nr_groups, c->pgsize_bitmap, c->nr_ranges, c->nr_reserved);
		for (unsigned j = 0; j < c->nr_ranges; j++)
			pr_info("vfio: container%u:   usable IOVA [0x%" PRIx64 "-0x%" PRIx64 "]",
				c->index, (uint64_t)c->ranges[j].start, (uint64_t)c->ranges[j].end);
		for (unsigned j = 0; j < c->nr_reserved; j++)
			pr_info("vfio: container%u:   reserved IOVA [0x%" PRIx64 "-0x%" PRIx64
				"] (%s)",
				c->index, c->reserved[j].start, c->reserved[j].end,
				c->reserved[j].what);
		for (unsigned j = 0; j < v->nr_groups; j++) {
			struct vfio_group *g = v->groups[j];

			if (g->container != c)
				continue;
			pr_info("vfio: container%u:   IOMMU group %d", c->index, g->id);
			for (unsigned k = 0; k < v->nr_devices; k++)
				if (v->devices[k]->group == g)
					pr_info("vfio: container%u:     device %s", c->index,
						v->devices[k]->bdf);
		}
		if (c->listener)
			dma_listener_report(c->listener);
	}
}

void vfio_report_dma(struct vfio *v)
{
	for (unsigned i = 0; v && i < v->nr_containers; i++)
		if (v->containers[i]->listener)
			dma_listener_report_stats(v->containers[i]->listener);
}

/* JSON strings here are BDFs, region names and reserved-range labels: escape what JSON needs. */
static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(out, "\\u%04x", *s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

struct json_maps {
	FILE *out;
	bool first;
};

static void json_mapping(void *opaque, const char *name, uint64_t iova, uint64_t size, void *hva,
			 bool writable)
{
	struct json_maps *j = opaque;

	fprintf(j->out, "%s{\"name\":", j->first ? "" : ",");
	json_string(j->out, name);
	fprintf(j->out,
		",\"iova\":\"0x%" PRIx64 "\",\"size\":\"0x%" PRIx64
		"\",\"hva\":\"%p\",\"writable\":%s}",
		iova, size, hva, writable ? "true" : "false");
	j->first = false;
}

static void vfio_container_json(struct vfio *v, struct vfio_container *c, FILE *out)
{
	char space[48];

	fprintf(
	    out, "{\"index\":%u,\"iommu\":\"%s\",\"pgsizes\":\"0x%" PRIx64 "\",\"iova_ranges\":[",
	    c->index, c->iommu_type == VFIO_TYPE1v2_IOMMU ? "type1v2" : "type1", c->pgsize_bitmap);
	for (unsigned j = 0; j < c->nr_ranges; j++)
		fprintf(out, "%s{\"start\":\"0x%" PRIx64 "\",\"end\":\"0x%" PRIx64 "\"}",
			j ? "," : "", (uint64_t)c->ranges[j].start, (uint64_t)c->ranges[j].end);
	fprintf(out, "],\"reserved\":[");
	for (unsigned j = 0; j < c->nr_reserved; j++) {
		fprintf(out, "%s{\"start\":\"0x%" PRIx64 "\",\"end\":\"0x%" PRIx64 "\",\"what\":",
			j ? "," : "", c->reserved[j].start, c->reserved[j].end);
		json_string(out, c->reserved[j].what);
		fputc('}', out);
	}
	/* what its mappings mirror: guest RAM ("memmap"), a guest vIOMMU domain, or nothing */
	fprintf(out, "],\"viommu\":%s,\"space\":", c->viommu ? "true" : "false");
	if (c->listener && dma_listener_space_name(c->listener, space, sizeof(space)))
		json_string(out, space);
	else
		fputs("null", out);
	fprintf(out, ",\"groups\":[");
	for (unsigned j = 0, n = 0; j < v->nr_groups; j++) {
		struct vfio_group *g = v->groups[j];

		if (g->container != c)
			continue;
		fprintf(out, "%s{\"id\":%d,\"devices\":[", n++ ? "," : "", g->id);
		for (unsigned k = 0, m = 0; k < v->nr_devices; k++) {
			if (v->devices[k]->group != g)
				continue;
			if (m++)
				fputc(',', out);
			json_string(out, v->devices[k]->bdf);
		}
		fprintf(out, "]}");
	}
	fprintf(out, "],\"mappings\":[");
	if (c->listener) {
		struct dma_listener_stats s;
		struct json_maps j = { out, true };

		dma_listener_for_each(c->listener, json_mapping, &j);
		dma_listener_stats_get(c->listener, &s);
		fprintf(out,
			"],\"stats\":{\"maps\":%u,\"unmaps\":%u,\"bytes_mapped\":%" PRIu64
			",\"map_ms\":%.3f,\"max_map_ms\":%.3f,\"unmap_ms\":%.3f,\"background\":%s,"
			"\"pending\":%u,\"in_place_ms\":%.3f,\"dma_waits\":%u,\"dma_wait_ms\":%.3f,"
			"\"max_dma_wait_ms\":%.3f}",
			s.nr_maps, s.nr_unmaps, s.bytes_mapped, s.map_seconds * 1e3,
			s.max_map_seconds * 1e3, s.unmap_seconds * 1e3,
			s.background ? "true" : "false", s.nr_pending, s.in_place_seconds * 1e3,
			s.nr_dma_waits, s.dma_wait_seconds * 1e3, s.max_dma_wait_seconds * 1e3);
	} else {
		fprintf(out, "],\"stats\":null");
	}
	fprintf(out, ",\"devices_dma\":[");
	for (unsigned k = 0, n = 0; k < v->nr_devices; k++) {
		struct vfio_device *d = v->devices[k];

		if (!d->group || d->group->container != c)
			continue;
		fprintf(out, "%s{\"bdf\":", n++ ? "," : "");
		json_string(out, d->bdf);
		fprintf(out,
			",\"bus_master\":%s,\"waits\":%u,\"wait_ms\":%.3f,\"max_wait_ms\":%.3f,"
			"\"setup\":{\"group_ms\":%.3f,\"open_ms\":%.3f,\"region_info_ms\":%.3f,"
			"\"mmap_ms\":%.3f,\"irq_ms\":%.3f}}",
			d->dma_on ? "true" : "false", d->dma_waits, d->dma_wait_seconds * 1e3,
			d->max_dma_wait_seconds * 1e3, d->times.group * 1e3, d->times.open * 1e3,
			d->times.region_info * 1e3, d->times.mmap * 1e3, d->times.irqs * 1e3);
	}
	fprintf(out, "]}");
}

int vfio_report_json(struct vfio *v, FILE *out)
{
	fprintf(out, "{\"containers\":[");
	for (unsigned i = 0; v && i < v->nr_containers; i++) {
		if (i)
			fputc(',', out);
		vfio_container_json(v, v->containers[i], out);
	}
	fprintf(out, "]}");
	return ferror(out) ? -EIO : 0;
}
