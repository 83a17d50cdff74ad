// SPDX-License-Identifier: MIT
#include "iommu/vfio_container.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iommu/dma_listener.h"
#include "iommu/sysfs.h"
#include "vmm/ioctl.h"
#include "vmm/log.h"

int vfio_container_create(unsigned index, struct vfio_container **out)
{
	struct vfio_container *c;
	char path[256];
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->index = index;
	snprintf(path, sizeof(path), "%s/vfio/vfio", vfio_dev_root);
	c->fd = open(path, O_RDWR | O_CLOEXEC);
	if (c->fd < 0) {
		ret = -errno;
		pr_err("vfio: open %s: %s (modprobe vfio-pci vfio_iommu_type1)", path,
		       strerror(-ret));
		goto out_free;
	}
	ret = ptvm_ioctl_val(c->fd, VFIO_GET_API_VERSION, 0);
	if (ret < 0)
		goto out_close;
	if (ret != VFIO_API_VERSION) {
		pr_err("vfio: %s speaks VFIO API %d, ptvm knows %d", path, ret, VFIO_API_VERSION);
		ret = -EPROTO;
		goto out_close;
	}
	if (ptvm_ioctl_val_quiet(c->fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0 &&
	    ptvm_ioctl_val_quiet(c->fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0) {
		pr_err("vfio: %s offers no type1 IOMMU backend (modprobe vfio_iommu_type1)", path);
		ret = -ENODEV;
		goto out_close;
	}
	*out = c;
	return 0;

out_close:
	close(c->fd);
out_free:
	free(c);
	return ret;
}

void vfio_container_destroy(struct vfio_container *c)
{
	if (!c)
		return;
	dma_listener_destroy(c->listener);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

const void *vfio_info_cap_find(const void *info, uint32_t argsz, uint32_t off, uint16_t id,
			       size_t min_size)
{
	/* a hostile or buggy chain could loop: a cap can only point forward */
	while (off && off + min_size <= argsz) {
		const struct vfio_info_cap_header *h = (const void *)((const char *)info + off);

		if (h->id == id)
			return h;
		if (h->next <= off)
			break;
		off = h->next;
	}
	return NULL;
}

/* The capability chain of VFIO_IOMMU_GET_INFO: usable IOVA ranges and DMA entries left. */
static void vfio_container_parse_caps(struct vfio_container *c, struct vfio_iommu_type1_info *info)
{
	const struct vfio_iommu_type1_info_cap_iova_range *iova;
	const struct vfio_iommu_type1_info_dma_avail *avail;

	iova = vfio_info_cap_find(info, info->argsz, info->cap_offset,
				  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, sizeof(*iova));
	if (iova) {
		uint32_t off = (uint32_t)((const char *)iova - (const char *)info);

		for (uint32_t i = 0; i < iova->nr_iovas; i++) {
			if (off + sizeof(*iova) + (i + 1) * sizeof(iova->iova_ranges[0]) >
			    info->argsz)
				break;
			if (c->nr_ranges == VFIO_MAX_IOVA_RANGES) {
				pr_warn("container%u: more than %d usable IOVA ranges, using the "
					"first ones",
					c->index, VFIO_MAX_IOVA_RANGES);
				break;
			}
			c->ranges[c->nr_ranges++] = iova->iova_ranges[i];
		}
	}
	avail = vfio_info_cap_find(info, info->argsz, info->cap_offset,
				   VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, sizeof(*avail));
	if (avail)
		c->dma_avail = avail->avail;
}

static int vfio_container_get_info(struct vfio_container *c)
{
	struct vfio_iommu_type1_info *info;
	uint32_t argsz = sizeof(*info);
	int ret;

	/* twice at most: the first call says how much room the capabilities need */
	for (int tries = 0; tries < 2; tries++) {
		info = calloc(1, argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = argsz;
		ret = ptvm_ioctl(c->fd, VFIO_IOMMU_GET_INFO, info);
		if (ret < 0) {
			free(info);
			return ret;
		}
		if (info->argsz <= argsz)
			break;
		argsz = info->argsz;
		free(info);
		info = NULL;
	}
	if (!info)
		return -EIO;
	if (info->flags & VFIO_IOMMU_INFO_PGSIZES)
		c->pgsize_bitmap = info->iova_pgsizes;
	if (info->flags & VFIO_IOMMU_INFO_CAPS)
		vfio_container_parse_caps(c, info);
	free(info);
	return 0;
}

int vfio_container_set_iommu(struct vfio_container *c)
{
	static const int types[] = { VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_IOMMU };
	int ret = -ENODEV;

	for (unsigned i = 0; i < 2; i++) {
		if (ptvm_ioctl_val_quiet(c->fd, VFIO_CHECK_EXTENSION, types[i]) <= 0)
			continue;
		ret = ptvm_ioctl_val_quiet(c->fd, VFIO_SET_IOMMU, types[i]);
		if (!ret) {
			c->iommu_type = types[i];
			break;
		}
	}
	if (ret) {
		pr_err("container%u: VFIO_SET_IOMMU failed for type1v2 and type1: %s", c->index,
		       strerror(-ret));
		return ret;
	}
	ret = vfio_container_get_info(c);
	if (ret)
		return ret;
	pr_info("container%u: %s, IOMMU page sizes 0x%" PRIx64 ", %u usable IOVA ranges, %s%u "
		"DMA mappings available",
		c->index, c->iommu_type == VFIO_TYPE1v2_IOMMU ? "type1v2" : "type1",
		c->pgsize_bitmap, c->nr_ranges, c->dma_avail ? "" : "unknown: ", c->dma_avail);
	for (unsigned i = 0; i < c->nr_ranges; i++)
		pr_debug("container%u:   usable IOVA [0x%" PRIx64 "-0x%" PRIx64 "]", c->index,
			 (uint64_t)c->ranges[i].start, (uint64_t)c->ranges[i].end);
	return 0;
}

int vfio_container_add_reserved(struct vfio_container *c, uint64_t start, uint64_t end,
				const char *what)
{
	struct vfio_reserved_range *v;

	for (unsigned i = 0; i < c->nr_reserved; i++)
		if (c->reserved[i].start == start && c->reserved[i].end == end)
			return 0;
	if (c->nr_reserved == VFIO_MAX_RESERVED) {
		pr_err("container%u: more than %d reserved IOVA ranges", c->index,
		       VFIO_MAX_RESERVED);
		return -ENOSPC;
	}
	v = &c->reserved[c->nr_reserved++];
	*v = (struct vfio_reserved_range){ .start = start, .end = end };
	snprintf(v->what, sizeof(v->what), "%s", what);
	return 0;
}

int vfio_container_map_dma(struct vfio_container *c, uint64_t iova, uint64_t size, void *vaddr,
			   bool writable)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | (writable ? VFIO_DMA_MAP_FLAG_WRITE : 0),
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};
	int ret = ptvm_ioctl_quiet(c->fd, VFIO_IOMMU_MAP_DMA, &map);

	return ret < 0 ? ret : 0;
}

int vfio_container_unmap_dma(struct vfio_container *c, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};
	int ret = ptvm_ioctl_quiet(c->fd, VFIO_IOMMU_UNMAP_DMA, &unmap);

	if (ret < 0)
		return ret;
	/* the kernel reports how much it unmapped: less means the mapping was not whole */
	return unmap.size == size ? 0 : -EIO;
}
