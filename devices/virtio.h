/* SPDX-License-Identifier: MIT */
/*
 * The virtio device model, kept apart from its transport (virtio_pci.c): a device fills a
 * struct virtio_device with its ops table; it never sees PCI. The transport negotiates
 * features, configures the queues, and calls activate() at DRIVER_OK and reset() when the
 * driver resets the device. The device signals the driver through virtio_notify_queue /
 * virtio_notify_config, and reports a malformed ring with virtio_set_needs_reset.
 *
 * Threads: each device runs its I/O on its own thread with its own epoll set
 * (virtio_iothread), watching the queues' kick eventfds and its backend fds. activate() starts
 * it, reset() stops and joins it; no fd is watched by two threads.
 */
#ifndef PTVM_DEVICES_VIRTIO_H
#define PTVM_DEVICES_VIRTIO_H

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtqueue.h"
#include "vmm/memmap.h"

#define VIRTIO_MAX_QUEUES 8

struct virtio_device;

struct virtio_device_ops {
	/* Device-specific feature bits offered (VERSION_1, EVENT_IDX and INDIRECT_DESC are
	 * added by the core). */
	uint64_t (*get_features)(struct virtio_device *vdev);
	/* Device config space; offset + len is within config_size (checked by the transport). */
	void (*read_config)(struct virtio_device *vdev, unsigned offset, void *data, unsigned len);
	void (*write_config)(struct virtio_device *vdev, unsigned offset, const void *data,
			     unsigned len);
	/* DRIVER_OK: the queues are started; start the I/O thread. -errno refuses (the
	 * transport then sets DEVICE_NEEDS_RESET). */
	int (*activate)(struct virtio_device *vdev);
	/* Driver reset (or ptvm exit): stop and join the I/O thread, drop state. */
	void (*reset)(struct virtio_device *vdev);
};

struct virtio_transport_ops {
	/* Raise the queue's interrupt (MSI-X vector of the queue). */
	void (*notify_queue)(struct virtio_device *vdev, struct virtqueue *vq);
	/* Raise the configuration-change interrupt. */
	void (*notify_config)(struct virtio_device *vdev);
};

struct virtio_device {
	const char *name;   /* "virtio-blk0" for logs */
	uint32_t device_id; /* VIRTIO_ID_* */
	unsigned nr_queues;
	uint16_t queue_max_size;
	unsigned config_size;
	const struct virtio_device_ops *ops;
	const struct virtio_transport_ops *transport;
	void *transport_priv; /* the transport's own object; devices never touch it */
	struct memmap *mm;

	uint64_t features_acked; /* what the driver accepted (valid after FEATURES_OK) */
	_Atomic uint8_t status;
	struct virtqueue vqs[VIRTIO_MAX_QUEUES];
};

/* Sets up the device's generic fields; the device then sets name/config_size/etc. */
void virtio_device_init(struct virtio_device *vdev, uint32_t device_id, unsigned nr_queues,
			uint16_t queue_max_size, const struct virtio_device_ops *ops);
static inline bool virtio_has_feature(const struct virtio_device *vdev, unsigned bit)
{
	return vdev->features_acked & (1ULL << bit);
}
/* Pushes nothing; asks the transport for the queue's interrupt if the driver wants one. */
void virtio_notify_queue(struct virtio_device *vdev, struct virtqueue *vq);
void virtio_notify_config(struct virtio_device *vdev);
/* A malformed ring: DEVICE_NEEDS_RESET, a config interrupt, and the device stops using it. */
void virtio_set_needs_reset(struct virtio_device *vdev, const char *why);
static inline bool virtio_needs_reset(const struct virtio_device *vdev)
{
	return atomic_load(&vdev->status) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

/*
 * A device's I/O thread: one epoll set, the queues' kick eventfds plus any backend fds,
 * and a stop eventfd. Handlers run on the thread.
 */
struct virtio_iothread;
struct virtio_io_handler {
	int fd;
	void (*ready)(struct virtio_io_handler *h, uint32_t events);
};
int virtio_iothread_create(const char *name, struct virtio_iothread **out);
/* Before start, or from the thread itself. */
int virtio_iothread_add(struct virtio_iothread *t, struct virtio_io_handler *h, uint32_t events);
void virtio_iothread_del(struct virtio_iothread *t, struct virtio_io_handler *h);
int virtio_iothread_start(struct virtio_iothread *t);
/* Stops and joins the thread; handlers stay registered (start may be called again). */
void virtio_iothread_stop(struct virtio_iothread *t);
void virtio_iothread_destroy(struct virtio_iothread *t);

#endif
