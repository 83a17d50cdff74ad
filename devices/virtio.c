// SPDX-License-Identifier: MIT
#include "devices/virtio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/sandbox.h"
#include "vmm/util.h"

/* Ring features every device offers. */
#define VIRTIO_CORE_FEATURES                                                                       \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |                        \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC))
/* The driver's steps, in the order it must take them. */
#define VIRTIO_STATUS_STEPS                                                                        \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |      \
	 VIRTIO_CONFIG_S_DRIVER_OK)
#define VIRTIO_IOTHREAD_MAX_HANDLERS (VIRTIO_MAX_QUEUES + VIRTIO_MAX_WATCHES)

#define virtio_warn(vdev, fmt, ...)                                                                \
	log_printf_ratelimited(&(vdev)->rl, LOG_WARN, "%s: " fmt, (vdev)->name, ##__VA_ARGS__)

/* ---- the per-device I/O thread ---- */

struct virtio_iothread {
	char name[16];
	int epfd;
	int stop_fd;
	pthread_t thread;
	bool running;
	/* a stop is asked for: the thread's loops look at it between requests */
	_Atomic bool stopping;
	/* what the epoll set watches besides stop_fd: changed before start, after stop, or on
	 * the thread itself */
	unsigned nr_handlers;
	struct virtio_io_handler *handlers[VIRTIO_IOTHREAD_MAX_HANDLERS];
};

static void virtio_iothread_destroy(struct virtio_iothread *t)
{
	if (!t)
		return;
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	free(t);
}

static int virtio_iothread_create(const char *name, struct virtio_iothread **out)
{
	struct virtio_iothread *t = calloc(1, sizeof(*t));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	int ret;

	if (!t)
		return -ENOMEM;
	snprintf(t->name, sizeof(t->name), "%s", name);
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

static int virtio_iothread_add(struct virtio_iothread *t, struct virtio_io_handler *h,
			       uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };
	int ret;

	if (t->nr_handlers == VIRTIO_IOTHREAD_MAX_HANDLERS) {
		pr_err_ratelimited("%s: more than %d fds to watch", t->name,
				   VIRTIO_IOTHREAD_MAX_HANDLERS);
		return -ENOSPC;
	}
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, h->fd, &ev) < 0) {
		ret = -errno;
		pr_err_ratelimited("%s: cannot watch fd %d: %s", t->name, h->fd, strerror(-ret));
		return ret;
	}
	t->handlers[t->nr_handlers++] = h;
	return 0;
}

static void virtio_iothread_del(struct virtio_iothread *t, struct virtio_io_handler *h)
{
	for (unsigned i = 0; i < t->nr_handlers; i++) {
		if (t->handlers[i] != h)
			continue;
		epoll_ctl(t->epfd, EPOLL_CTL_DEL, h->fd, NULL);
		t->handlers[i] = t->handlers[--t->nr_handlers];
		return;
	}
}

static void virtio_iothread_del_all(struct virtio_iothread *t)
{
	while (t->nr_handlers)
		virtio_iothread_del(t, t->handlers[t->nr_handlers - 1]);
}

static void *virtio_iothread_main(void *arg)
{
	struct virtio_iothread *t = arg;
	struct epoll_event evs[16];

	pthread_setname_np(pthread_self(), t->name);
	/* the thread's set-up ends here: what it may do from now on is only its loop */
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

static int virtio_iothread_start(struct virtio_iothread *t)
{
	uint64_t v;
	int ret;

	if (t->running)
		return 0;
	/* drain a stop left from the previous run */
	while (read(t->stop_fd, &v, sizeof(v)) > 0)
		;
	ret = -sandbox_thread_create(SANDBOX_THREAD_IO, &t->thread, virtio_iothread_main, t);
	if (ret) {
		pr_err_ratelimited("%s: cannot start its I/O thread: %s", t->name, strerror(-ret));
		return ret;
	}
	t->running = true;
	return 0;
}

/* Stops and joins the thread; handlers stay registered. */
static void virtio_iothread_stop(struct virtio_iothread *t)
{
	uint64_t one = 1;

	if (!t->running)
		return;
	if (pthread_equal(pthread_self(), t->thread)) {
		pr_err("%s: I/O thread asked to stop itself", t->name);
		return;
	}
	atomic_store(&t->stopping, true);
	if (write(t->stop_fd, &one, sizeof(one)) < 0)
		pr_warn_ratelimited("%s: cannot signal its I/O thread: %s", t->name,
				    strerror(errno));
	pthread_join(t->thread, NULL);
	t->running = false;
	atomic_store(&t->stopping, false);
}

/* ---- the device ---- */

int virtio_device_init(struct virtio_device *vdev, uint32_t device_id, const char *name,
		       unsigned nr_queues, uint16_t queue_max_size,
		       const struct virtio_device_ops *ops)
{
	memset(vdev, 0, sizeof(*vdev));
	vdev->name = name;
	vdev->device_id = device_id;
	vdev->nr_queues = nr_queues;
	vdev->queue_max_size = queue_max_size;
	vdev->ops = ops;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		vdev->vqs[i].kick_fd = -1;
		vdev->vqs[i].owner = name;
		vdev->vqs[i].rl = &vdev->rl;
		virtqueue_reset(&vdev->vqs[i], i, queue_max_size);
	}
	pthread_mutex_init(&vdev->lock, NULL);
	return virtio_iothread_create(name, &vdev->io);
}

void virtio_device_exit(struct virtio_device *vdev)
{
	if (!vdev->io)
		return;
	virtio_device_reset(vdev);
	virtio_iothread_destroy(vdev->io);
	vdev->io = NULL;
	pthread_mutex_destroy(&vdev->lock);
}

uint64_t virtio_device_features(struct virtio_device *vdev)
{
	/* behind a vIOMMU the driver must use its DMA API: the addresses are IOVAs */
	return vdev->ops->get_features(vdev) | VIRTIO_CORE_FEATURES |
	       (vdev->dma ? 1ULL << VIRTIO_F_ACCESS_PLATFORM : 0);
}

void virtio_device_set_driver_features(struct virtio_device *vdev, unsigned word, uint32_t val)
{
	uint64_t f;

	pthread_mutex_lock(&vdev->lock);
	if (word < 2 && !(atomic_load(&vdev->status) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		f = vdev->driver_features & ~(0xffffffffULL << (32 * word));
		vdev->driver_features = f | ((uint64_t)val << (32 * word));
	}
	pthread_mutex_unlock(&vdev->lock);
}

static void virtio_kick_ready(struct virtio_io_handler *h, uint32_t events)
{
	struct virtio_kick *k = container_of(h, struct virtio_kick, h);
	uint64_t v;

	/* clear the eventfd first, so a kick that lands while the device works is not lost */
	if (read(h->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("%s: queue %u kick eventfd: %s", k->vdev->name, k->vq->index,
			 strerror(errno));
	if (!virtio_needs_reset(k->vdev))
		k->vdev->ops->queue_notify(k->vdev, k->vq);
}

/* DRIVER_OK: start the enabled queues, watch their kicks, the device's part, the thread. */
static int virtio_device_activate_locked(struct virtio_device *vdev)
{
	int ret = 0;

	for (unsigned q = 0; q < vdev->nr_queues; q++) {
		struct virtqueue *vq = &vdev->vqs[q];
		struct virtio_kick *k = &vdev->kicks[q];

		vq->event_idx = virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX);
		vq->indirect = virtio_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC);
		if (!vq->enabled)
			continue;
		ret = virtqueue_start(vq, vdev->mm);
		if (ret)
			goto out_unwatch;
		if (vq->kick_fd < 0)
			continue;
		*k = (struct virtio_kick){
			.h = { .fd = vq->kick_fd, .ready = virtio_kick_ready },
			.vdev = vdev,
			.vq = vq,
		};
		ret = virtio_iothread_add(vdev->io, &k->h, EPOLLIN);
		if (ret)
			goto out_unwatch;
	}
	if (vdev->ops->activate) {
		ret = vdev->ops->activate(vdev);
		if (ret)
			goto out_unwatch;
	}
	ret = virtio_iothread_start(vdev->io);
	if (ret)
		goto out_device_reset;
	atomic_store(&vdev->activated, true);
	pr_debug("%s: driver ok, features 0x%llx", vdev->name,
		 (unsigned long long)vdev->features_acked);
	return 0;

out_device_reset:
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
out_unwatch:
	virtio_iothread_del_all(vdev->io);
	return ret;
}

static void virtio_device_reset_locked(struct virtio_device *vdev)
{
	/* the device's own state decides, not the bits the guest wrote last */
	if (atomic_load(&vdev->activated)) {
		/* nothing below runs while the thread may still touch a queue */
		virtio_iothread_stop(vdev->io);
		virtio_iothread_del_all(vdev->io);
		if (vdev->ops->reset)
			vdev->ops->reset(vdev);
		atomic_store(&vdev->activated, false);
	}
	atomic_store(&vdev->status, 0);
	vdev->driver_features = 0;
	vdev->features_acked = 0;
	for (unsigned q = 0; q < vdev->nr_queues; q++)
		virtqueue_reset(&vdev->vqs[q], q, vdev->queue_max_size);
}

void virtio_device_reset(struct virtio_device *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	virtio_device_reset_locked(vdev);
	pthread_mutex_unlock(&vdev->lock);
}

/* Whether the steps in s are a prefix of ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK. */
static bool virtio_status_steps_in_order(uint8_t s)
{
	static const uint8_t order[] = { VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER,
					 VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_CONFIG_S_DRIVER_OK };
	bool gap = false;

	for (unsigned i = 0; i < ARRAY_SIZE(order); i++) {
		if (!(s & order[i]))
			gap = true;
		else if (gap)
			return false;
	}
	return true;
}

/* FEATURES_OK: only what was offered, and VERSION_1 (a modern device has no legacy mode); behind
 * a vIOMMU, ACCESS_PLATFORM (a driver without it would hand out guest-physical addresses). */
static bool virtio_device_accept_features_locked(struct virtio_device *vdev)
{
	uint64_t offered = virtio_device_features(vdev);

	if ((vdev->driver_features & ~offered) ||
	    !(vdev->driver_features & (1ULL << VIRTIO_F_VERSION_1)) ||
	    (vdev->dma && !(vdev->driver_features & (1ULL << VIRTIO_F_ACCESS_PLATFORM)))) {
		virtio_warn(vdev, "driver features 0x%llx refused (offered 0x%llx)",
			    (unsigned long long)vdev->driver_features, (unsigned long long)offered);
		return false;
	}
	vdev->features_acked = vdev->driver_features;
	return true;
}

void virtio_device_set_status(struct virtio_device *vdev, uint8_t val)
{
	uint8_t cur, add;
	int ret;

	pthread_mutex_lock(&vdev->lock);
	if (!val) {
		virtio_device_reset_locked(vdev);
		goto out_unlock;
	}
	cur = atomic_load(&vdev->status);
	val &= (uint8_t)~VIRTIO_CONFIG_S_NEEDS_RESET; /* the device's bit, not the driver's */
	if (val == (cur & (uint8_t)~VIRTIO_CONFIG_S_NEEDS_RESET))
		goto out_unlock; /* nothing new, e.g. DRIVER_OK re-sent to a live device */
	if (val & VIRTIO_CONFIG_S_FAILED) {
		/* the driver gave up; the device keeps what it has until a reset */
		atomic_fetch_or(&vdev->status, VIRTIO_CONFIG_S_FAILED);
		pr_debug("%s: the driver set FAILED (status 0x%02x)", vdev->name, val);
		goto out_unlock;
	}
	if ((cur & (VIRTIO_CONFIG_S_FAILED | VIRTIO_CONFIG_S_NEEDS_RESET)) ||
	    (val & ~VIRTIO_STATUS_STEPS) || (cur & ~val) || !virtio_status_steps_in_order(val)) {
		virtio_warn(vdev,
			    "device status 0x%02x after 0x%02x is not a step forward: ignored", val,
			    cur);
		goto out_unlock;
	}
	add = val & (uint8_t)~cur;
	if ((add & VIRTIO_CONFIG_S_FEATURES_OK) && !virtio_device_accept_features_locked(vdev))
		/* FEATURES_OK does not stick (the driver re-reads it), nor what comes after */
		add &= (uint8_t) ~(VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	atomic_fetch_or(&vdev->status, add);
	if (add & VIRTIO_CONFIG_S_DRIVER_OK) {
		ret = virtio_device_activate_locked(vdev);
		if (ret) {
			atomic_fetch_and(&vdev->status, (uint8_t)~VIRTIO_CONFIG_S_DRIVER_OK);
			virtio_set_needs_reset(vdev, "cannot start the queues");
		}
	}
out_unlock:
	pthread_mutex_unlock(&vdev->lock);
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
	virtio_warn(vdev, "%s: device needs reset", why);
	/* the driver learns of it through a configuration-change interrupt */
	if (old & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_notify_config(vdev);
}

void virtio_queue_rekick(struct virtio_device *vdev, struct virtqueue *vq)
{
	uint64_t one = 1;

	if (vq->kick_fd >= 0 && write(vq->kick_fd, &one, sizeof(one)) < 0)
		pr_debug("%s: queue %u: re-kick: %s", vdev->name, vq->index, strerror(errno));
}

void virtio_queue_process(struct virtio_device *vdev, struct virtqueue *vq,
			  struct virtqueue_elem *elem, virtio_chain_fn fn)
{
	uint16_t used_before = vq->used_idx;
	unsigned taken = 0;
	int ret;

	do {
		virtqueue_disable_notify(vq);
		while ((ret = virtqueue_pop(vq, elem)) > 0) {
			uint32_t written = 0;

			if (virtio_device_stopping(vdev)) {
				/* a reset waits: the rest of the ring is for after it */
				virtqueue_unpop(vq);
				goto out_notify;
			}

			switch (fn(vdev, vq, elem, &written)) {
			case VIRTIO_CHAIN_DONE:
				virtqueue_push(vq, elem, written);
				break;
			case VIRTIO_CHAIN_KEPT:
				break;
			case VIRTIO_CHAIN_LATER:
				virtqueue_unpop(vq);
				goto out_notify;
			case VIRTIO_CHAIN_BROKEN:
				goto out_notify;
			}
			if (++taken == VIRTIO_QUEUE_BUDGET) {
				/* the rest after a look at the thread's other fds */
				virtio_queue_rekick(vdev, vq);
				goto out_notify;
			}
		}
		if (ret < 0) {
			char why[48];

			snprintf(why, sizeof(why), "malformed ring or chain on queue %u",
				 vq->index);
			virtio_set_needs_reset(vdev, why);
			goto out_notify;
		}
	} while (virtqueue_enable_notify(vq));
out_notify:
	if (vq->used_idx != used_before)
		virtio_notify_queue(vdev, vq);
}

bool virtio_device_stopping(const struct virtio_device *vdev)
{
	return vdev->io && atomic_load(&vdev->io->stopping);
}

int virtio_device_watch(struct virtio_device *vdev, struct virtio_io_handler *h, uint32_t events)
{
	return virtio_iothread_add(vdev->io, h, events);
}

void virtio_device_unwatch(struct virtio_device *vdev, struct virtio_io_handler *h)
{
	virtio_iothread_del(vdev->io, h);
}
