/* SPDX-License-Identifier: MIT */
/*
 * A VFIO device fd and the only calls devices/vfio_pci.c makes on it: regions (info with
 * sparse mmap areas, read/write, mmap), interrupts (info, eventfds, unmask), reset. Every
 * VFIO ioctl stays in iommu/.
 */
#ifndef PTVM_IOMMU_VFIO_DEVICE_H
#define PTVM_IOMMU_VFIO_DEVICE_H

#include <linux/vfio.h>
#include <pthread.h>
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

/*
 * What VFIO will say of a device that is not open yet, predicted from sysfs (its config space
 * and BAR sizes): enough to build the guest's view of it before the slow open.
 */
struct vfio_device_early {
	uint8_t config[256];
	uint64_t sizes[7]; /* BAR0-5, the ROM */
};

struct vfio_device {
	char bdf[16];
	int fd;				 /* -1 until opened (vfio_device_open_fd) */
	struct vfio_device_early *early; /* set while the open is deferred */
	/* the deferred open: run by a thread of its own (iommu/vfio.c), then opened() */
	void (*opened)(void *opaque, int err);
	void *opened_opaque;
	pthread_t opener;
	bool opener_running;
	_Atomic bool opened_late; /* its fd came from the deferred open */
	struct vfio_group *group;
	uint32_t num_regions, num_irqs;
	bool reset_works;
	/* bus mastering, as iommu/vfio.c's DMA gate saw it */
	bool dma_on;
	unsigned dma_waits; /* bus-master enables that waited for the mappings */
	double dma_wait_seconds, max_dma_wait_seconds;
	double cur_wait_seconds; /* this enable's, across calls that timed out */
	/* where its set-up time went (--log-level debug, --report): the group and container
	 * (0 when its group was open already), VFIO_GROUP_GET_DEVICE_FD (vfio-pci enables and
	 * resets the function there), region info, mmaps, interrupt info and SET_IRQS */
	struct vfio_device_times {
		double group, open, region_info, mmap, irqs;
	} times;
};

/* VFIO_GROUP_GET_DEVICE_FD + VFIO_DEVICE_GET_INFO; the device must be a PCI device. */
int vfio_device_open(struct vfio_group *g, const char *bdf, struct vfio_device **out);
/*
 * The same without the open: the device joins g with no fd, and the region and interrupt
 * queries below answer from sysfs (config space, BAR and ROM sizes) as VFIO will once it is
 * open; -EAGAIN for anything else. -errno when sysfs cannot tell (an unprivileged reader sees
 * 64 bytes of config space): then open it now instead.
 */
int vfio_device_prepare(struct vfio_group *g, const char *bdf, struct vfio_device **out);
/* The open that vfio_device_prepare left for later (any thread): 0 or -errno, logged. */
int vfio_device_open_fd(struct vfio_device *d);
/* True once the device has its fd. */
bool vfio_device_is_open(const struct vfio_device *d);
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
/*
 * VFIO_DEVICE_SET_IRQS DATA_EVENTFD|ACTION_TRIGGER for [start, start+count); fds[i] = -1
 * unbinds one vector; count 0 with fds NULL disables the index. 0, -errno after a pr_err, or
 * for an MSI/MSI-X enable the host cannot give that many vectors for, the number it can give
 * (a positive count, less than asked; nothing was enabled), as the kernel returns it.
 */
int vfio_device_set_irq_eventfds(struct vfio_device *d, uint32_t index, uint32_t start,
				 uint32_t count, const int *fds);
/* INTx: the unmask eventfd (ACTION_UNMASK) so that a resample unmasks in the kernel. */
int vfio_device_set_irq_unmask_eventfd(struct vfio_device *d, uint32_t index, int fd);
int vfio_device_reset(struct vfio_device *d);

#endif
