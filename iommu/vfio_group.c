// SPDX-License-Identifier: MIT
#include "iommu/vfio_group.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iommu/sysfs.h"
#include "iommu/vfio_container.h"
#include "vmm/ioctl.h"
#include "vmm/log.h"

int vfio_group_open(int id, struct vfio_group **out)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_group *g;
	char path[256], why[512];
	int ret;

	/* sysfs first: it can name the devices that make the group unusable */
	if (!vfio_sysfs_group_viable(id, why, sizeof(why))) {
		pr_err("vfio: IOMMU group %d is not viable: %s; every device in it must be bound "
		       "to vfio-pci or to no driver",
		       id, why);
		return -EBUSY;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->id = id;
	snprintf(path, sizeof(path), "%s/vfio/%d", vfio_dev_root, id);
	g->fd = open(path, O_RDWR | O_CLOEXEC);
	if (g->fd < 0) {
		ret = -errno;
		if (ret == -EBUSY)
			pr_err("vfio: open %s: %s: IOMMU group %d is in use by another process",
			       path, strerror(-ret), id);
		else
			pr_err("vfio: open %s: %s", path, strerror(-ret));
		goto out_free;
	}
	ret = ptvm_ioctl(g->fd, VFIO_GROUP_GET_STATUS, &status);
	if (ret < 0)
		goto out_close;
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		/* sysfs said yes but the kernel says no: a device we cannot see changed or is
		 * bound to a driver vfio does not accept */
		pr_err("vfio: IOMMU group %d is not viable (VFIO_GROUP_GET_STATUS): bind every "
		       "device in %s/kernel/iommu_groups/%d/devices to vfio-pci",
		       id, vfio_sysfs_root, id);
		ret = -EBUSY;
		goto out_close;
	}
	*out = g;
	return 0;

out_close:
	close(g->fd);
out_free:
	free(g);
	return ret;
}

void vfio_group_close(struct vfio_group *g)
{
	if (!g)
		return;
	if (g->container)
		vfio_group_unset_container(g);
	if (g->fd >= 0)
		close(g->fd);
	free(g);
}

int vfio_group_set_container(struct vfio_group *g, struct vfio_container *c)
{
	int ret = ptvm_ioctl_quiet(g->fd, VFIO_GROUP_SET_CONTAINER, &c->fd);

	if (ret < 0) {
		pr_debug("vfio: group %d refused by container%u: %s", g->id, c->index,
			 strerror(-ret));
		return ret;
	}
	g->container = c;
	c->nr_groups++;
	return 0;
}

void vfio_group_unset_container(struct vfio_group *g)
{
	if (!g->container)
		return;
	ptvm_ioctl_val(g->fd, VFIO_GROUP_UNSET_CONTAINER, 0);
	g->container->nr_groups--;
	g->container = NULL;
}
