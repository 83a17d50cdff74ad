// SPDX-License-Identifier: MIT
#include "devices/virtio_rng.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/util.h"

#define VIRTIO_RNG_QUEUE_SIZE 64

struct virtio_rng {
	struct virtio_device vdev;
	int src_fd; /* non-blocking: a FIFO or a slow device never holds up the thread */
	struct virtio_io_handler src;
	bool src_watched;	    /* a request waits for the source to have data */
	struct virtqueue_elem elem; /* the chain in hand (I/O thread) */
};

int virtio_rng_parse(const char *spec, struct virtio_rng_config *cfg)
{
	snprintf(cfg->src, sizeof(cfg->src), "/dev/urandom");
	if (!spec || !*spec)
		return 0;
	if (strncmp(spec, "src=", 4) || !spec[4] || strchr(spec, ',')) {
		pr_err("--rng: '%s' is not src=PATH", spec);
		return -EINVAL;
	}
	if (strlen(spec + 4) >= sizeof(cfg->src)) {
		pr_err("--rng: source path too long");
		return -EINVAL;
	}
	snprintf(cfg->src, sizeof(cfg->src), "%s", spec + 4);
	return 0;
}

static struct virtio_rng *to_rng(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_rng, vdev);
}

static uint64_t virtio_rng_get_features(struct virtio_device *vdev)
{
	return 0;
}

/*
 * Fills each writable chain from the source; a short read returns what it got. A source with
 * nothing to give yet (EAGAIN) keeps the chain in the ring, and the source is watched until it
 * has; an exhausted or failing source completes the chain empty.
 */
static enum virtio_chain_result virtio_rng_chain(struct virtio_device *vdev, struct virtqueue *vq,
						 struct virtqueue_elem *elem, uint32_t *written)
{
	struct virtio_rng *rng = to_rng(vdev);
	ssize_t n = 0;

	if (elem->n_in)
		n = readv(rng->src_fd, elem->in, (int)elem->n_in);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		if (!rng->src_watched && !virtio_device_watch(vdev, &rng->src, EPOLLIN))
			rng->src_watched = true;
		if (rng->src_watched)
			return VIRTIO_CHAIN_LATER;
	}
	*written = n > 0 ? (uint32_t)n : 0;
	return VIRTIO_CHAIN_DONE;
}

static void virtio_rng_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
	virtio_queue_process(vdev, vq, &to_rng(vdev)->elem, virtio_rng_chain);
}

/* The source has data (or hung up): the waiting requests go on. */
static void virtio_rng_src_ready(struct virtio_io_handler *h, uint32_t events)
{
	struct virtio_rng *rng = container_of(h, struct virtio_rng, src);

	virtio_device_unwatch(&rng->vdev, h);
	rng->src_watched = false;
	if (!virtio_needs_reset(&rng->vdev))
		virtio_rng_queue_notify(&rng->vdev, &rng->vdev.vqs[0]);
}

/* After the I/O thread stopped: the core removed the source's watch. */
static void virtio_rng_reset(struct virtio_device *vdev)
{
	to_rng(vdev)->src_watched = false;
}

static const struct virtio_device_ops virtio_rng_ops = {
	.get_features = virtio_rng_get_features,
	.queue_notify = virtio_rng_queue_notify,
	.reset = virtio_rng_reset,
};

int virtio_rng_create(const struct virtio_rng_config *cfg, struct memmap *mm,
		      struct virtio_device **out)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	int ret;

	if (!rng)
		return -ENOMEM;
	rng->src_fd = -1;
	ret = virtio_device_init(&rng->vdev, VIRTIO_ID_RNG, "virtio-rng", 1, VIRTIO_RNG_QUEUE_SIZE,
				 &virtio_rng_ops);
	if (ret)
		goto out_destroy;
	rng->vdev.mm = mm;
	/* O_NONBLOCK: a FIFO opens without a writer, and an empty source never blocks the
	 * thread (a reset joins it from a vCPU) */
	rng->src_fd = open(cfg->src, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (rng->src_fd < 0) {
		ret = -errno;
		pr_err("--rng src=%s: %s", cfg->src, strerror(-ret));
		goto out_destroy;
	}
	rng->src = (struct virtio_io_handler){ .fd = rng->src_fd, .ready = virtio_rng_src_ready };
	*out = &rng->vdev;
	return 0;

out_destroy:
	virtio_rng_destroy(&rng->vdev);
	return ret;
}

void virtio_rng_destroy(struct virtio_device *vdev)
{
	struct virtio_rng *rng;

	if (!vdev)
		return;
	rng = container_of(vdev, struct virtio_rng, vdev);
	virtio_device_exit(vdev);
	if (rng->src_fd >= 0)
		close(rng->src_fd);
	free(rng);
}
