/* SPDX-License-Identifier: MIT */
/*
 * The virtio device model, kept apart from its transport (virtio_pci.c): a device fills a
 * struct virtio_device with its ops table; it never sees PCI. The transport decodes registers
 * and hands the driver's writes to the core here; the device signals the driver through
 * virtio_notify_queue / virtio_notify_config, and reports a malformed ring with
 * virtio_set_needs_reset.
 *
 * What every device shares lives here, once (Cloud Hypervisor's VirtioCommon): the device
 * status as a state machine owned by the device, feature negotiation, activation and reset,
 * and the device's I/O thread.
 *
 * Status (virtio 1.x 3.1.1; Firecracker's set_device_status): the device takes only forward
 * steps ACKNOWLEDGE -> DRIVER -> FEATURES_OK -> DRIVER_OK (several at once, in that order, as
 * SeaBIOS writes ACKNOWLEDGE|DRIVER), FAILED, or 0 (reset). A write that clears a bit, skips a
 * step, comes after FAILED or NEEDS_RESET, or sets unknown bits is ignored with a rate-limited
 * warning; writing what the status already is (DRIVER_OK re-sent to a live device) changes
 * nothing. NEEDS_RESET is the device's bit: a driver write neither sets nor clears it.
 *
 * Activation and reset decide from the device's own `activated` state, never from the last
 * bits the guest wrote. At DRIVER_OK the core starts the enabled queues, watches their kick
 * eventfds, calls ops->activate, and starts the I/O thread. A reset stops and joins the thread
 * first, then removes every watch, calls ops->reset, and only then clears queue state.
 *
 * Threads: each device runs its I/O on its own thread with its own epoll set, watching the
 * queues' kick eventfds and the fds the device adds (virtio_device_watch); no fd is watched by
 * two threads. Status writes come from vCPU threads (serialized by vdev->lock); the I/O thread
 * only ever sets NEEDS_RESET, atomically.
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
#include "vmm/log.h"
#include "vmm/memmap.h"

#define VIRTIO_MAX_QUEUES 8
/* fds a device's I/O thread may watch besides its queues' kicks (tap, timer, wake-ups) */
#define VIRTIO_MAX_WATCHES 8

struct virtio_device;

/* An fd the device's I/O thread watches; ready() runs on that thread. */
struct virtio_io_handler {
	int fd;
	void (*ready)(struct virtio_io_handler *h, uint32_t events);
};

struct virtio_device_ops {
	/* Device-specific feature bits offered (VERSION_1, EVENT_IDX and INDIRECT_DESC are
	 * added by the core). */
	uint64_t (*get_features)(struct virtio_device *vdev);
	/* Device config space; offset + len is within config_size (checked by the transport).
	 * Called on vCPU threads, concurrently with the I/O thread. */
	void (*read_config)(struct virtio_device *vdev, unsigned offset, void *data, unsigned len);
	void (*write_config)(struct virtio_device *vdev, unsigned offset, const void *data,
			     unsigned len);
	/*
	 * Optional. DRIVER_OK: the enabled queues are started and their kicks watched, the I/O
	 * thread is not running yet. Set up per-activation state and watch backend fds
	 * (virtio_device_watch). -errno refuses (the device then reports NEEDS_RESET); the core
	 * removes the watches added so far.
	 */
	int (*activate)(struct virtio_device *vdev);
	/* A notification on queue vq (its eventfd already drained), on the I/O thread. Not
	 * called while the device needs a reset. */
	void (*queue_notify)(struct virtio_device *vdev, struct virtqueue *vq);
	/*
	 * Optional. After an activation, once the I/O thread is stopped and joined and every
	 * watch removed (driver reset, ptvm exit): drop per-activation state. The queues are
	 * still as the driver set them up; the core clears them afterwards.
	 */
	void (*reset)(struct virtio_device *vdev);
};

struct virtio_transport_ops {
	/* Raise the queue's interrupt (MSI-X vector of the queue). */
	void (*notify_queue)(struct virtio_device *vdev, struct virtqueue *vq);
	/* Raise the configuration-change interrupt. */
	void (*notify_config)(struct virtio_device *vdev);
};

struct virtio_iothread;

/* A queue's kick eventfd on the I/O thread. */
struct virtio_kick {
	struct virtio_io_handler h;
	struct virtio_device *vdev;
	struct virtqueue *vq;
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
	/* Behind a virtual IOMMU: its queues translate every address through this (set on
	 * each vq too), and the transport offers VIRTIO_F_ACCESS_PLATFORM and insists on it. */
	const struct virtqueue_dma *dma;

	/* the state machine: changed under lock (vCPU threads), NEEDS_RESET also atomically
	 * by the I/O thread */
	pthread_mutex_t lock;
	_Atomic uint8_t status;
	_Atomic bool activated;	  /* DRIVER_OK taken: queues started, I/O thread running */
	uint64_t driver_features; /* what the driver wrote; frozen once FEATURES_OK is set */
	uint64_t features_acked;  /* what the device accepted at FEATURES_OK */
	struct virtqueue vqs[VIRTIO_MAX_QUEUES];

	struct virtio_iothread *io;
	struct virtio_kick kicks[VIRTIO_MAX_QUEUES];
	struct log_ratelimit rl; /* the guest's mistakes with this device */
};

/*
 * Sets up the generic fields and creates the device's I/O thread (not started) named after
 * @name (kept by reference). -errno after a pr_err. Undo with virtio_device_exit.
 */
int virtio_device_init(struct virtio_device *vdev, uint32_t device_id, const char *name,
		       unsigned nr_queues, uint16_t queue_max_size,
		       const struct virtio_device_ops *ops);
/* Resets the device (stopping its thread) and frees the thread. Safe after a failed init. */
void virtio_device_exit(struct virtio_device *vdev);

static inline bool virtio_has_feature(const struct virtio_device *vdev, unsigned bit)
{
	return vdev->features_acked & (1ULL << bit);
}

/* ---- the transport's side: the driver's writes, decoded ---- */

/* Every feature bit the device offers, the core's included. */
uint64_t virtio_device_features(struct virtio_device *vdev);
/* The driver's feature word @word (0: bits 0-31, 1: 32-63); ignored after FEATURES_OK. */
void virtio_device_set_driver_features(struct virtio_device *vdev, unsigned word, uint32_t val);
/* The driver wrote @status to device_status: the state machine above. 0 is a reset. */
void virtio_device_set_status(struct virtio_device *vdev, uint8_t status);
/* A reset: stops and joins the I/O thread if the device is activated, then clears the
 * status, features and queues. Also for the transport's own teardown. */
void virtio_device_reset(struct virtio_device *vdev);
static inline uint8_t virtio_device_status(const struct virtio_device *vdev)
{
	return atomic_load(&vdev->status);
}
/* Whether the driver may still change queue vq's configuration: the queue is not enabled
 * and the device is not activated. */
static inline bool virtio_queue_configurable(const struct virtio_device *vdev,
					     const struct virtqueue *vq)
{
	return !vq->enabled && !atomic_load(&vdev->activated);
}

/* ---- the device's side ---- */

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
 * Chains a device takes from one queue per wake-up of its I/O thread; then the thread looks
 * at its other fds (and a stop) before it goes on: a guest that keeps a ring full cannot keep
 * a reset waiting.
 */
#define VIRTIO_QUEUE_BUDGET 256

/*
 * What a device does with one chain in virtio_queue_process: VIRTIO_CHAIN_DONE (push it with
 * *written bytes), VIRTIO_CHAIN_KEPT (the device keeps it and pushes it itself later),
 * VIRTIO_CHAIN_LATER (its backend cannot take it now: it goes back to the ring and the loop
 * stops; the device calls virtio_queue_process again when the backend is ready), or
 * VIRTIO_CHAIN_BROKEN after virtio_set_needs_reset (stop using the queue).
 */
enum virtio_chain_result {
	VIRTIO_CHAIN_DONE,
	VIRTIO_CHAIN_KEPT,
	VIRTIO_CHAIN_LATER,
	VIRTIO_CHAIN_BROKEN,
};
typedef enum virtio_chain_result (*virtio_chain_fn)(struct virtio_device *vdev,
						    struct virtqueue *vq,
						    struct virtqueue_elem *elem, uint32_t *written);
/*
 * The request loop every device shares, on the I/O thread: pops the chains the driver made
 * available on vq into *elem and hands each to fn, with the driver's notifications off while
 * it works and re-armed without a lost kick when the ring is empty (EVENT_IDX included). At
 * most VIRTIO_QUEUE_BUDGET chains per call; then the queue is kicked again and the thread
 * comes back after its other work. A malformed ring sets NEEDS_RESET. One interrupt at the
 * end when anything was pushed.
 */
void virtio_queue_process(struct virtio_device *vdev, struct virtqueue *vq,
			  struct virtqueue_elem *elem, virtio_chain_fn fn);
/*
 * True on the I/O thread once a reset (or ptvm's exit) asked it to stop: a device loop that
 * takes many requests, or one slow one, looks at it between requests and returns, so that
 * the reset waits for the request in hand only (virtio_queue_process does).
 */
bool virtio_device_stopping(const struct virtio_device *vdev);
/* Makes the I/O thread call queue_notify for vq again (a device that stopped early). */
void virtio_queue_rekick(struct virtio_device *vdev, struct virtqueue *vq);

/*
 * Watches h->fd on the device's I/O thread (from ops->activate, or on the I/O thread itself);
 * -errno after a pr_err. Every watch is removed at reset; unwatch removes one earlier.
 */
int virtio_device_watch(struct virtio_device *vdev, struct virtio_io_handler *h, uint32_t events);
void virtio_device_unwatch(struct virtio_device *vdev, struct virtio_io_handler *h);

#endif
