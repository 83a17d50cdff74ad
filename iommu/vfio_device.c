// SPDX-License-Identifier: MIT
#include "iommu/vfio_device.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/pci_regs.h>

#include "iommu/sysfs.h"
#include "iommu/vfio_container.h"
#include "iommu/vfio_group.h"
#include "vmm/ioctl.h"
#include "vmm/log.h"
#include "vmm/util.h"

int vfio_device_open_fd(struct vfio_device *d)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_group *g = d->group;
	double t0 = monotonic_seconds();
	int fd, ret;

	fd = ptvm_ioctl_quiet(g->fd, VFIO_GROUP_GET_DEVICE_FD, (const char *)d->bdf);
	if (fd < 0) {
		pr_err("%s: VFIO_GROUP_GET_DEVICE_FD on IOMMU group %d: %s", d->bdf, g->id,
		       strerror(-fd));
		return fd;
	}
	ret = ptvm_ioctl(fd, VFIO_DEVICE_GET_INFO, &info);
	if (ret < 0)
		goto out_close;
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI)) {
		pr_err("%s: not a PCI device (VFIO_DEVICE_GET_INFO flags 0x%x)", d->bdf,
		       info.flags);
		ret = -ENODEV;
		goto out_close;
	}
	d->num_regions = info.num_regions;
	d->num_irqs = info.num_irqs;
	d->reset_works = info.flags & VFIO_DEVICE_FLAGS_RESET;
	d->times.open = monotonic_seconds() - t0;
	d->fd = fd;
	d->opened_late = d->early != NULL;
	pr_info("%s: opened in %.1f ms (IOMMU group %d, %u regions, %u irq indexes, reset %s)",
		d->bdf, d->times.open * 1e3, g->id, d->num_regions, d->num_irqs,
		d->reset_works ? "yes" : "no");
	return 0;

out_close:
	close(fd);
	return ret;
}

bool vfio_device_is_open(const struct vfio_device *d)
{
	return d->fd >= 0;
}

static struct vfio_device *vfio_device_alloc(struct vfio_group *g, const char *bdf)
{
	struct vfio_device *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
	d->fd = -1;
	d->group = g;
	return d;
}

int vfio_device_open(struct vfio_group *g, const char *bdf, struct vfio_device **out)
{
	struct vfio_device *d = vfio_device_alloc(g, bdf);
	int ret;

	if (!d)
		return -ENOMEM;
	ret = vfio_device_open_fd(d);
	if (ret) {
		free(d);
		return ret;
	}
	g->nr_devices++;
	*out = d;
	return 0;
}

int vfio_device_prepare(struct vfio_group *g, const char *bdf, struct vfio_device **out)
{
	struct vfio_device *d = vfio_device_alloc(g, bdf);
	int ret = -ENOMEM;

	if (!d)
		return ret;
	d->early = calloc(1, sizeof(*d->early));
	if (!d->early)
		goto out_free;
	ret = vfio_sysfs_config(bdf, d->early->config, sizeof(d->early->config));
	if (!ret)
		ret = vfio_sysfs_resource_sizes(bdf, d->early->sizes);
	if (ret) {
		pr_debug("%s: sysfs cannot describe it before the open (%s): opening it now", bdf,
			 strerror(-ret));
		goto out_free;
	}
	/* what the queries below may ask before the open */
	d->num_regions = VFIO_PCI_NUM_REGIONS;
	d->num_irqs = VFIO_PCI_NUM_IRQS;
	g->nr_devices++;
	*out = d;
	return 0;

out_free:
	free(d->early);
	free(d);
	return ret;
}

void vfio_device_close(struct vfio_device *d)
{
	if (!d)
		return;
	if (d->fd >= 0)
		close(d->fd);
	if (d->group)
		d->group->nr_devices--;
	free(d->early);
	free(d);
}

static void vfio_region_parse_sparse(struct vfio_device *d, struct vfio_region_info *info,
				     struct vfio_region *out)
{
	const struct vfio_region_info_cap_sparse_mmap *cap;
	uint32_t off;

	cap = vfio_info_cap_find(info, info->argsz, info->cap_offset,
				 VFIO_REGION_INFO_CAP_SPARSE_MMAP, sizeof(*cap));
	if (!cap)
		return;
	off = (uint32_t)((const char *)cap - (const char *)info);
	out->nr_sparse = 0;
	for (uint32_t i = 0; i < cap->nr_areas; i++) {
		if (off + sizeof(*cap) + (i + 1) * sizeof(cap->areas[0]) > info->argsz)
			break;
		if (out->nr_sparse == VFIO_MAX_SPARSE) {
			pr_warn("%s: region %u has more than %d mmap areas; the rest stay trapped",
				d->bdf, out->index, VFIO_MAX_SPARSE);
			break;
		}
		out->sparse[out->nr_sparse].offset = cap->areas[i].offset;
		out->sparse[out->nr_sparse].size = cap->areas[i].size;
		out->nr_sparse++;
	}
}

/* Before the open: the config region and the BARs and ROM as sysfs sizes them, not mmap'able
 * (that is known only once open). */
static int vfio_device_early_region(struct vfio_device *d, uint32_t index, struct vfio_region *out)
{
	if (!d->early || index > VFIO_PCI_CONFIG_REGION_INDEX)
		return -EAGAIN;
	*out = (struct vfio_region){
		.index = index,
		.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
		.size = index == VFIO_PCI_CONFIG_REGION_INDEX ? sizeof(d->early->config)
							      : d->early->sizes[index],
	};
	return 0;
}

int vfio_device_region_info(struct vfio_device *d, uint32_t index, struct vfio_region *out)
{
	struct vfio_region_info *info;
	uint32_t argsz = sizeof(*info);
	double t0 = monotonic_seconds();
	int ret;

	if (d->fd < 0)
		return vfio_device_early_region(d, index, out);
	for (int tries = 0;; tries++) {
		info = calloc(1, argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = argsz;
		info->index = index;
		ret = ptvm_ioctl_quiet(d->fd, VFIO_DEVICE_GET_REGION_INFO, info);
		if (ret < 0) {
			pr_err("%s: VFIO_DEVICE_GET_REGION_INFO index %u: %s", d->bdf, index,
			       strerror(-ret));
			free(info);
			return ret;
		}
		if (info->argsz <= argsz || tries)
			break;
		argsz = info->argsz;
		free(info);
	}
	*out = (struct vfio_region){
		.index = index, .flags = info->flags, .size = info->size, .offset = info->offset
	};
	if ((info->flags & VFIO_REGION_INFO_FLAG_MMAP) && info->size) {
		out->nr_sparse = 1;
		out->sparse[0].offset = 0;
		out->sparse[0].size = info->size;
		if ((info->flags & VFIO_REGION_INFO_FLAG_CAPS) && info->argsz <= argsz)
			vfio_region_parse_sparse(d, info, out);
	}
	free(info);
	d->times.region_info += monotonic_seconds() - t0;
	return 0;
}

static int vfio_region_check(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			     size_t len, const char *what)
{
	if (off > r->size || len > r->size - off) {
		pr_err("%s: %s [0x%" PRIx64 ", +0x%zx) beyond region %u (size 0x%" PRIx64 ")",
		       d->bdf, what, off, len, r->index, r->size);
		return -EINVAL;
	}
	return 0;
}

int vfio_device_region_read(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			    void *buf, size_t len)
{
	ssize_t n;
	int ret = vfio_region_check(d, r, off, len, "read");

	if (ret)
		return ret;
	if (d->fd < 0) {
		/* before the open only config space is known (from sysfs) */
		if (!d->early || r->index != VFIO_PCI_CONFIG_REGION_INDEX ||
		    off + len > sizeof(d->early->config))
			return -EAGAIN;
		memcpy(buf, &d->early->config[off], len);
		return 0;
	}
	n = pread(d->fd, buf, len, (off_t)(r->offset + off));
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int vfio_device_region_write(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			     const void *buf, size_t len)
{
	ssize_t n;
	int ret = vfio_region_check(d, r, off, len, "write");

	if (ret)
		return ret;
	if (d->fd < 0)
		return -EAGAIN;
	n = pwrite(d->fd, buf, len, (off_t)(r->offset + off));
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

void *vfio_device_region_mmap(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			      uint64_t size)
{
	double t0 = monotonic_seconds();
	int prot = 0;
	void *p;

	if (!(r->flags & VFIO_REGION_INFO_FLAG_MMAP) || d->fd < 0) {
		pr_warn("%s: region %u cannot be mmap'd; it stays trapped", d->bdf, r->index);
		return NULL;
	}
	if (!size || off > r->size || size > r->size - off) {
		pr_warn("%s: mmap [0x%" PRIx64 ", +0x%" PRIx64 ") beyond region %u (size 0x%" PRIx64
			")",
			d->bdf, off, size, r->index, r->size);
		return NULL;
	}
	if (r->flags & VFIO_REGION_INFO_FLAG_READ)
		prot |= PROT_READ;
	if (r->flags & VFIO_REGION_INFO_FLAG_WRITE)
		prot |= PROT_WRITE;
	p = mmap(NULL, size, prot, MAP_SHARED, d->fd, (off_t)(r->offset + off));
	d->times.mmap += monotonic_seconds() - t0;
	if (p == MAP_FAILED) {
		pr_warn("%s: mmap of region %u [0x%" PRIx64 ", +0x%" PRIx64
			"): %s; it stays trapped",
			d->bdf, r->index, off, size, strerror(errno));
		return NULL;
	}
	return p;
}

/*
 * Before the open, what VFIO_DEVICE_GET_IRQ_INFO will say, from config space: INTx when the
 * function has a pin, MSI's and MSI-X's vector counts from their capabilities. VFIO may offer
 * no INTx where the host gave the pin no interrupt: vfio_pci checks once it is open.
 */
static uint32_t vfio_device_early_irqs(const uint8_t *cfg, uint32_t index)
{
	unsigned ptr = cfg[PCI_CAPABILITY_LIST] & ~3U;

	if (index == VFIO_PCI_INTX_IRQ_INDEX)
		return cfg[PCI_INTERRUPT_PIN] ? 1 : 0;
	if (!(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST))
		return 0;
	for (unsigned n = 0; ptr >= PCI_STD_HEADER_SIZEOF && ptr <= 256 - 4 && n < 48; n++) {
		uint16_t flags = (uint16_t)(cfg[ptr + 2] | cfg[ptr + 3] << 8);

		if (index == VFIO_PCI_MSI_IRQ_INDEX && cfg[ptr] == PCI_CAP_ID_MSI)
			return 1U << ((flags & PCI_MSI_FLAGS_QMASK) >> 1);
		if (index == VFIO_PCI_MSIX_IRQ_INDEX && cfg[ptr] == PCI_CAP_ID_MSIX)
			return (flags & PCI_MSIX_FLAGS_QSIZE) + 1U;
		ptr = cfg[ptr + PCI_CAP_LIST_NEXT] & ~3U;
	}
	return 0;
}

int vfio_device_irq_count(struct vfio_device *d, uint32_t index, uint32_t *count, uint32_t *flags)
{
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = index };
	double t0 = monotonic_seconds();
	int ret;

	*count = 0;
	if (flags)
		*flags = 0;
	if (index >= d->num_irqs)
		return 0;
	if (d->fd < 0) {
		if (!d->early)
			return -EAGAIN;
		*count = vfio_device_early_irqs(d->early->config, index);
		return 0;
	}
	ret = ptvm_ioctl_quiet(d->fd, VFIO_DEVICE_GET_IRQ_INFO, &info);
	d->times.irqs += monotonic_seconds() - t0;
	if (ret < 0) {
		pr_err("%s: VFIO_DEVICE_GET_IRQ_INFO index %u: %s", d->bdf, index, strerror(-ret));
		return ret;
	}
	*count = info.count;
	if (flags)
		*flags = info.flags;
	return 0;
}

/* VFIO_DEVICE_SET_IRQS with count eventfds (or none: DATA_NONE). */
static int vfio_device_set_irqs(struct vfio_device *d, uint32_t index, uint32_t action,
				uint32_t start, uint32_t count, const int *fds)
{
	size_t argsz = sizeof(struct vfio_irq_set) + (fds ? count * sizeof(int32_t) : 0);
	struct vfio_irq_set *set = calloc(1, argsz);
	double t0 = monotonic_seconds();
	int ret;

	if (!set)
		return -ENOMEM;
	if (d->fd < 0) {
		free(set);
		return -EAGAIN;
	}
	set->argsz = (uint32_t)argsz;
	set->flags = action | (fds ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	set->index = index;
	set->start = start;
	set->count = count;
	if (fds)
		memcpy(set->data, fds, count * sizeof(int32_t));
	ret = ptvm_ioctl_quiet(d->fd, VFIO_DEVICE_SET_IRQS, set);
	d->times.irqs += monotonic_seconds() - t0;
	if (ret < 0)
		pr_err("%s: VFIO_DEVICE_SET_IRQS index %u action 0x%x vectors [%u, +%u): %s",
		       d->bdf, index, action, start, count, strerror(-ret));
	else if (ret > 0)
		/* vfio-pci's MSI/MSI-X enable: the host allocated fewer, freed them again and
		 * says how many it has */
		pr_debug("%s: VFIO_DEVICE_SET_IRQS index %u vectors [%u, +%u): the host has %d",
			 d->bdf, index, start, count, ret);
	else
		pr_debug("%s: VFIO_DEVICE_SET_IRQS index %u action 0x%x vectors [%u, +%u)%s",
			 d->bdf, index, action, start, count, fds ? "" : " off");
	free(set);
	return ret;
}

int vfio_device_set_irq_eventfds(struct vfio_device *d, uint32_t index, uint32_t start,
				 uint32_t count, const int *fds)
{
	if (!fds && count) {
		pr_err("%s: SET_IRQS index %u: %u vectors but no eventfds", d->bdf, index, count);
		return -EINVAL;
	}
	return vfio_device_set_irqs(d, index, VFIO_IRQ_SET_ACTION_TRIGGER, start, count, fds);
}

int vfio_device_set_irq_unmask_eventfd(struct vfio_device *d, uint32_t index, int fd)
{
	return vfio_device_set_irqs(d, index, VFIO_IRQ_SET_ACTION_UNMASK, 0, 1, &fd);
}

int vfio_device_reset(struct vfio_device *d)
{
	if (!d->reset_works) {
		pr_debug("%s: the kernel offers no reset for it", d->bdf);
		return -EOPNOTSUPP;
	}
	int ret = ptvm_ioctl_val_quiet(d->fd, VFIO_DEVICE_RESET, 0);

	if (ret < 0) {
		pr_warn("%s: VFIO_DEVICE_RESET: %s", d->bdf, strerror(-ret));
		return ret;
	}
	return 0;
}
