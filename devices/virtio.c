// SPDX-License-Identifier: MIT
#include "devices/virtio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/log.h"

void virtio_device_init(struct virtio_device *vdev, uint32_t device_id, unsigned nr_queues,
			uint16_t queue_max_size, const struct virtio_device_ops *ops)
{
	memset(vdev, 0, sizeof(*vdev));
	vdev->device_id = device_id;
	vdev->nr_queues = nr_queues;
	vdev->queue_max_size = queue_max_size;
	vdev->ops = ops;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		vdev->vqs[i].kick_fd = -1;
		virtqueue_reset(&vdev->vqs[i], i, queue_max_size);
	}
}

void virtio_notify_queue(struct virtio_device *vdev, struct virtqueue *vq)
{
	if (virtqueue_should_notify(vq) && vdev->transport)
		vdev->transport->notify_queue(vdev, vq);
}

void virtio_notify_config(struct virtio_device *vdev)
{
	if (vdev->transport)
		vdev->transport->notify_config(vdev);
}

void virtio_set_needs_reset(struct virtio_device *vdev, const char *why)
{
	uint8_t old = atomic_fetch_or(&vdev->status, VIRTIO_CONFIG_S_NEEDS_RESET);

	if (old & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	pr_warn("%s: %s: device needs reset", vdev->name, why);
	/* the driver learns of it through a configuration-change interrupt */
	if (old & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_notify_config(vdev);
}

/* ---- the per-device I/O thread ---- */

struct virtio_iothread {
	char name[16];
	int epfd;
	int stop_fd;
	pthread_t thread;
	bool running;
};

int virtio_iothread_create(const char *name, struct virtio_iothread **out)
{
	struct virtio_iothread *t = calloc(1, sizeof(*t));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	int ret;

	if (!t)
		return -ENOMEM;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->epfd = t->stop_fd = -1;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->epfd < 0 || t->stop_fd < 0) {
		ret = -errno;
		goto out_destroy;
	}
	/* data.ptr NULL marks the stop eventfd */
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->stop_fd, &ev) < 0) {
		ret = -errno;
		goto out_destroy;
	}
	*out = t;
	return 0;

out_destroy:
	pr_err("%s: cannot create its I/O thread's epoll set: %s", name, strerror(-ret));
	virtio_iothread_destroy(t);
	return ret;
}

int virtio_iothread_add(struct virtio_iothread *t, struct virtio_io_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, h->fd, &ev) < 0) {
		int ret = -errno;

		pr_err("%s: cannot watch fd %d: %s", t->name, h->fd, strerror(-ret));
		return ret;
	}
	return 0;
}

void virtio_iothread_del(struct virtio_iothread *t, struct virtio_io_handler *h)
{
	epoll_ctl(t->epfd, EPOLL_CTL_DEL, h->fd, NULL);
}

static void *virtio_iothread_main(void *arg)
{
	struct virtio_iothread *t = arg;
	struct epoll_event evs[16];

	pthread_setname_np(pthread_self(), t->name);
	for (;;) {
		int n = epoll_wait(t->epfd, evs, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_err("%s: epoll_wait: %s", t->name, strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct virtio_io_handler *h = evs[i].data.ptr;

			if (!h)
				return NULL; /* stop */
			h->ready(h, evs[i].events);
		}
	}
}

int virtio_iothread_start(struct virtio_iothread *t)
{
	uint64_t v;
	int ret;

	if (t->running)
		return 0;
	/* drain a stop left from the previous run */
	while (read(t->stop_fd, &v, sizeof(v)) > 0)
		;
	ret = -pthread_create(&t->thread, NULL, virtio_iothread_main, t);
	if (ret) {
		pr_err("%s: cannot start its I/O thread: %s", t->name, strerror(-ret));
		return ret;
	}
	t->running = true;
	return 0;
}

void virtio_iothread_stop(struct virtio_iothread *t)
{
	uint64_t one = 1;

	if (!t || !t->running)
		return;
	if (pthread_equal(pthread_self(), t->thread)) {
		pr_err("%s: I/O thread asked to stop itself", t->name);
		return;
	}
	if (write(t->stop_fd, &one, sizeof(one)) < 0)
		pr_warn("%s: cannot signal its I/O thread: %s", t->name, strerror(errno));
	pthread_join(t->thread, NULL);
	t->running = false;
}

void virtio_iothread_destroy(struct virtio_iothread *t)
{
	if (!t)
		return;
	virtio_iothread_stop(t);
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	free(t);
}
