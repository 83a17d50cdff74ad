/* SPDX-License-Identifier: MIT */
/* A VFIO group: /dev/vfio/N, viable only when every device in it is bound to vfio-pci
 * (or to no driver). */
#ifndef PTVM_IOMMU_VFIO_GROUP_H
#define PTVM_IOMMU_VFIO_GROUP_H

struct vfio_container;

struct vfio_group {
	int id;
	int fd;
	struct vfio_container *container;
	unsigned nr_devices; /* ptvm's devices opened from it */
};

/* Opens the group, checks VFIO_GROUP_FLAGS_VIABLE (error names the devices that are not
 * bound to vfio-pci, from sysfs). */
int vfio_group_open(int id, struct vfio_group **out);
void vfio_group_close(struct vfio_group *g);
/* VFIO_GROUP_SET_CONTAINER; -errno (quietly) when the kernel refuses, so the caller can
 * try a new container. */
int vfio_group_set_container(struct vfio_group *g, struct vfio_container *c);
void vfio_group_unset_container(struct vfio_group *g);

#endif
