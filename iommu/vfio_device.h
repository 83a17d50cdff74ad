/* SPDX-License-Identifier: MIT */
/*
 * A VFIO device fd and the only calls devices/vfio_pci.c makes on it: regions (info with
 * sparse mmap areas, read/write, mmap), interrupts (info, eventfds, unmask), reset. Every
 * VFIO ioctl stays in iommu/.
 */
#ifndef PTVM_IOMMU_VFIO_DEVICE_H
#define PTVM_IOMMU_VFIO_DEVICE_H

#include <linux/vfio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct vfio_group;

#define VFIO_MAX_SPARSE 8

struct vfio_region {
	uint32_t index;
	uint32_t flags; /* VFIO_REGION_INFO_FLAG_READ/WRITE/MMAP */
	uint64_t size;
	uint64_t offset;    /* of the region in the device fd */
	unsigned nr_sparse; /* mmap-able areas (all of it when flags has MMAP and no sparse cap) */
	struct {
		uint64_t offset, size;
	} sparse[VFIO_MAX_SPARSE];
};

struct vfio_device {
	char bdf[16];
	int fd;
	struct vfio_group *group;
	uint32_t num_regions, num_irqs;
	bool reset_works;
	/* bus mastering, as iommu/vfio.c's DMA gate saw it */
	bool dma_on;
	unsigned dma_waits; /* bus-master enables that waited for the mappings */
	double dma_wait_seconds, max_dma_wait_seconds;
	double cur_wait_seconds; /* this enable's, across calls that timed out */
};

/* VFIO_GROUP_GET_DEVICE_FD + VFIO_DEVICE_GET_INFO; the device must be a PCI device. */
int vfio_device_open(struct vfio_group *g, const char *bdf, struct vfio_device **out);
void vfio_device_close(struct vfio_device *d);
int vfio_device_region_info(struct vfio_device *d, uint32_t index, struct vfio_region *out);
/* pread/pwrite on the region; -EIO on a short access. */
int vfio_device_region_read(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			    void *buf, size_t len);
int vfio_device_region_write(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			     const void *buf, size_t len);
/* mmaps [off, off+size) of the region shared read/write; NULL after a pr_warn. */
void *vfio_device_region_mmap(struct vfio_device *d, const struct vfio_region *r, uint64_t off,
			      uint64_t size);
/* VFIO_DEVICE_GET_IRQ_INFO: count of vectors for index (INTx, MSI, MSI-X), 0 if none. */
int vfio_device_irq_count(struct vfio_device *d, uint32_t index, uint32_t *count, uint32_t *flags);
/* VFIO_DEVICE_SET_IRQS DATA_EVENTFD|ACTION_TRIGGER for [start, start+count); fds[i] = -1
 * unbinds one vector; count 0 with fds NULL disables the index. */
int vfio_device_set_irq_eventfds(struct vfio_device *d, uint32_t index, uint32_t start,
				 uint32_t count, const int *fds);
/* INTx: the unmask eventfd (ACTION_UNMASK) so that a resample unmasks in the kernel. */
int vfio_device_set_irq_unmask_eventfd(struct vfio_device *d, uint32_t index, int fd);
int vfio_device_reset(struct vfio_device *d);

#endif
