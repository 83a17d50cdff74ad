// SPDX-License-Identifier: MIT
#include "devices/virtio_console.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/util.h"

#define VC_RX_Q 0
#define VC_TX_Q 1
/* how long output may wait for a full, non-blocking output fd before it is dropped */
#define VC_OUT_WAIT_MS 1000
/*
 * The most one write() takes from a chain. A chain may be 256 aliased descriptors of up to
 * 4 GiB each: the transmit loop looks for a reset between pieces, so that a reset (and ptvm's
 * exit) waits for one piece, not for a terabyte of output.
 */
#define VC_OUT_CHUNK (64 * 1024)

_Static_assert(sizeof(struct virtio_console_config) == 12, "virtio_console_config layout");

struct virtio_console {
	struct virtio_device vdev;
	int out_fd;
	bool has_size;
	uint16_t cols, rows;
	struct virtio_io_handler rx_wake;

	/* input waiting for receive buffers: a ring, filled by receive(), drained by the
	 * I/O thread; rx_wake (an eventfd) tells the thread there is more */
	pthread_mutex_t rx_lock;
	size_t rx_head, rx_len;
	uint8_t rx_buf[VIRTIO_CONSOLE_RX_BUF];
	/* virtio_console_input said "stop reading": room_fd is written once room is back */
	bool rx_paused;
	int room_fd;

	/* output: the I/O thread (transmitq) and vCPUs (emergency write) */
	pthread_mutex_t tx_lock;
	bool out_broken;

	/* I/O thread only */
	bool warned_empty_rx;
	struct virtqueue_elem elem;
};

static struct virtio_console *to_vc(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_console, vdev);
}

int virtio_console_parse(const char *spec, struct virtio_console_options *opts)
{
	if (!spec || strcmp(spec, "virtio")) {
		pr_err("--console: '%s' is not virtio", spec ? spec : "");
		return -EINVAL;
	}
	opts->out_fd = STDOUT_FILENO;
	return 0;
}

/* ---- output ---- */

/*
 * Writes all of buf; waits for a non-blocking fd a while. On the I/O thread it stops early
 * when a reset asks it to: the rest of a chain the driver gave up is dropped. Called with
 * tx_lock held.
 */
static void vc_out_write(struct virtio_console *vc, const uint8_t *p, size_t len)
{
	while (len && !vc->out_broken && !virtio_device_stopping(&vc->vdev)) {
		ssize_t n = write(vc->out_fd, p, MIN(len, (size_t)VC_OUT_CHUNK));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = vc->out_fd, .events = POLLOUT };

			if (poll(&pfd, 1, VC_OUT_WAIT_MS) > 0)
				continue;
			errno = ETIMEDOUT;
		}
		if (n <= 0) {
			/* the guest keeps running; its console output goes nowhere */
			pr_warn(
			    "%s: cannot write the guest's output to fd %d: %s; dropping it from "
			    "now on",
			    vc->vdev.name, vc->out_fd, n < 0 ? strerror(errno) : "wrote nothing");
			vc->out_broken = true;
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

static enum virtio_chain_result vc_tx_chain(struct virtio_device *vdev, struct virtqueue *vq,
					    struct virtqueue_elem *elem, uint32_t *written)
{
	struct virtio_console *vc = to_vc(vdev);

	pthread_mutex_lock(&vc->tx_lock);
	for (unsigned i = 0; i < elem->n_out; i++)
		vc_out_write(vc, elem->out[i].iov_base, elem->out[i].iov_len);
	pthread_mutex_unlock(&vc->tx_lock);
	return VIRTIO_CHAIN_DONE;
}

/* ---- input ---- */

/* The reader waits for room (virtio_console_input): tell it when a whole read fits again. */
static void vc_input_room_locked(struct virtio_console *vc)
{
	uint64_t one = 1;

	if (!vc->rx_paused || VIRTIO_CONSOLE_RX_BUF - vc->rx_len < VIRTIO_CONSOLE_INPUT_MAX)
		return;
	vc->rx_paused = false;
	if (write(vc->room_fd, &one, sizeof(one)) < 0)
		pr_warn_ratelimited("%s: cannot signal room for input: %s", vc->vdev.name,
				    strerror(errno));
}

/* Moves waiting input into the guest's receive buffers, as many as it has posted. */
static void vc_rx_process(struct virtio_console *vc)
{
	struct virtqueue *vq = &vc->vdev.vqs[VC_RX_Q];
	struct virtqueue_elem *elem = &vc->elem;
	unsigned taken = 0;
	bool pushed = false;

	for (;;) {
		size_t n, first;
		int ret;

		if (taken++ == VIRTIO_QUEUE_BUDGET) {
			/* e.g. empty buffers, one after another: the rest after other work */
			virtio_queue_rekick(&vc->vdev, vq);
			break;
		}
		pthread_mutex_lock(&vc->rx_lock);
		if (!vc->rx_len) {
			pthread_mutex_unlock(&vc->rx_lock);
			break;
		}
		ret = virtqueue_pop(vq, elem);
		if (ret <= 0) {
			pthread_mutex_unlock(&vc->rx_lock);
			if (ret < 0) {
				virtio_set_needs_reset(&vc->vdev, "malformed receive queue");
				return;
			}
			/* no buffer: the bytes wait; the driver's next kick brings us back */
			if (virtqueue_enable_notify(vq))
				continue;
			break;
		}
		n = (size_t)MIN((uint64_t)vc->rx_len, elem->in_len);
		first = MIN(n, VIRTIO_CONSOLE_RX_BUF - vc->rx_head);
		iov_from_buf(elem->in, elem->n_in, 0, vc->rx_buf + vc->rx_head, first);
		iov_from_buf(elem->in, elem->n_in, first, vc->rx_buf, n - first);
		vc->rx_head = (vc->rx_head + n) % VIRTIO_CONSOLE_RX_BUF;
		vc->rx_len -= n;
		vc_input_room_locked(vc);
		pthread_mutex_unlock(&vc->rx_lock);
		if (!n && !vc->warned_empty_rx) {
			pr_warn("%s: the driver posted a receive buffer with no writable byte",
				vc->vdev.name);
			vc->warned_empty_rx = true;
		}
		virtqueue_push(vq, elem, (uint32_t)n);
		pushed = true;
	}
	if (pushed)
		virtio_notify_queue(&vc->vdev, vq);
}

size_t virtio_console_receive(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct virtio_console *vc = to_vc(vdev);
	size_t n, tail, first;
	uint64_t one = 1;

	pthread_mutex_lock(&vc->rx_lock);
	n = MIN(len, VIRTIO_CONSOLE_RX_BUF - vc->rx_len);
	tail = (vc->rx_head + vc->rx_len) % VIRTIO_CONSOLE_RX_BUF;
	first = MIN(n, VIRTIO_CONSOLE_RX_BUF - tail);
	memcpy(vc->rx_buf + tail, buf, first);
	memcpy(vc->rx_buf, (const uint8_t *)buf + first, n - first);
	vc->rx_len += n;
	pthread_mutex_unlock(&vc->rx_lock);
	if (n && write(vc->rx_wake.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn("%s: cannot wake its I/O thread: %s", vdev->name, strerror(errno));
	return n;
}

bool virtio_console_input(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct virtio_console *vc = to_vc(vdev);
	size_t took = virtio_console_receive(vdev, buf, len);
	bool more;

	/* the reader stopped when less than a whole read fitted: this never happens */
	if (took < len)
		pr_warn_ratelimited("%s: input buffer full, %zu typed bytes dropped", vdev->name,
				    len - took);
	pthread_mutex_lock(&vc->rx_lock);
	more = VIRTIO_CONSOLE_RX_BUF - vc->rx_len >= VIRTIO_CONSOLE_INPUT_MAX;
	vc->rx_paused = !more;
	pthread_mutex_unlock(&vc->rx_lock);
	return more;
}

int virtio_console_input_room_fd(struct virtio_device *vdev)
{
	return to_vc(vdev)->room_fd;
}

/* ---- I/O thread handlers ---- */

static void vc_clear_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("virtio-console: eventfd %d: %s", fd, strerror(errno));
}

static void vc_rx_wake_ready(struct virtio_io_handler *h, uint32_t events)
{
	struct virtio_console *vc = container_of(h, struct virtio_console, rx_wake);

	vc_clear_eventfd(h->fd);
	if (!virtio_needs_reset(&vc->vdev))
		vc_rx_process(vc);
}

static void vc_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
	if (vq->index == VC_RX_Q)
		vc_rx_process(to_vc(vdev));
	else if (vq->index == VC_TX_Q)
		virtio_queue_process(vdev, vq, &to_vc(vdev)->elem, vc_tx_chain);
}

/* ---- device ops ---- */

static uint64_t vc_get_features(struct virtio_device *vdev)
{
	struct virtio_console *vc = to_vc(vdev);
	uint64_t f = 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE;

	if (vc->has_size)
		f |= 1ULL << VIRTIO_CONSOLE_F_SIZE;
	return f;
}

static void vc_read_config(struct virtio_device *vdev, unsigned offset, void *data, unsigned len)
{
	struct virtio_console *vc = to_vc(vdev);
	struct virtio_console_config cfg = { 0 };

	cfg.cols = htole16(vc->cols);
	cfg.rows = htole16(vc->rows);
	cfg.max_nr_ports = htole32(1);
	if (offset < sizeof(cfg) && len <= sizeof(cfg) - offset)
		memcpy(data, (uint8_t *)&cfg + offset, len);
}

/* The emergency write register: its low byte is one character of output. */
static void vc_write_config(struct virtio_device *vdev, unsigned offset, const void *data,
			    unsigned len)
{
	struct virtio_console *vc = to_vc(vdev);

	if (offset != offsetof(struct virtio_console_config, emerg_wr) || !len ||
	    !virtio_has_feature(vdev, VIRTIO_CONSOLE_F_EMERG_WRITE))
		return;
	pthread_mutex_lock(&vc->tx_lock);
	vc_out_write(vc, data, 1);
	pthread_mutex_unlock(&vc->tx_lock);
}

/* Input that waits in the buffer is kept across resets: it is for whichever driver comes
 * next. */
static int vc_activate(struct virtio_device *vdev)
{
	return virtio_device_watch(vdev, &to_vc(vdev)->rx_wake, EPOLLIN);
}

static const struct virtio_device_ops virtio_console_ops = {
	.get_features = vc_get_features,
	.read_config = vc_read_config,
	.write_config = vc_write_config,
	.activate = vc_activate,
	.queue_notify = vc_queue_notify,
};

int virtio_console_create(const struct virtio_console_options *opts, struct memmap *mm,
			  struct virtio_device **out)
{
	struct virtio_console *vc = calloc(1, sizeof(*vc));
	struct winsize ws;
	int ret;

	if (!vc)
		return -ENOMEM;
	pthread_mutex_init(&vc->rx_lock, NULL);
	pthread_mutex_init(&vc->tx_lock, NULL);
	vc->rx_wake = (struct virtio_io_handler){ .fd = -1, .ready = vc_rx_wake_ready };
	vc->room_fd = -1;
	ret = virtio_device_init(&vc->vdev, VIRTIO_ID_CONSOLE, "virtio-console", 2,
				 VIRTIO_CONSOLE_QUEUE_SIZE, &virtio_console_ops);
	if (ret)
		goto out_destroy;
	vc->vdev.mm = mm;
	vc->vdev.config_size = sizeof(struct virtio_console_config);
	vc->out_fd = opts->out_fd;
	if (isatty(vc->out_fd) && !ioctl(vc->out_fd, TIOCGWINSZ, &ws) && ws.ws_col && ws.ws_row) {
		vc->has_size = true;
		vc->cols = ws.ws_col;
		vc->rows = ws.ws_row;
	}
	vc->rx_wake.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vc->room_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vc->rx_wake.fd < 0 || vc->room_fd < 0) {
		ret = -errno;
		pr_err("--console virtio: cannot create an eventfd: %s", strerror(-ret));
		goto out_destroy;
	}
	*out = &vc->vdev;
	return 0;

out_destroy:
	virtio_console_destroy(&vc->vdev);
	return ret;
}

void virtio_console_destroy(struct virtio_device *vdev)
{
	struct virtio_console *vc;

	if (!vdev)
		return;
	vc = to_vc(vdev);
	virtio_device_exit(vdev);
	if (vc->rx_wake.fd >= 0)
		close(vc->rx_wake.fd);
	if (vc->room_fd >= 0)
		close(vc->room_fd);
	pthread_mutex_destroy(&vc->tx_lock);
	pthread_mutex_destroy(&vc->rx_lock);
	free(vc);
}
