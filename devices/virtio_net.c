// SPDX-License-Identifier: MIT
#include "virtio_net.h"

#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "devices/tap.h"
#include "vmm/log.h"

#define NET_HDR_SIZE sizeof(struct virtio_net_hdr_v1)
_Static_assert(sizeof(struct virtio_net_hdr_v1) == TAP_VNET_HDR_SIZE, "vnet header size");
#define NET_NUM_BUFFERS_OFFSET offsetof(struct virtio_net_hdr_v1, num_buffers)

/* The largest frame a tap hands over: a 64 KiB GSO frame plus Ethernet/VLAN headers. */
#define NET_RX_FRAME_MAX (NET_HDR_SIZE + 65536 + 256)

/* Config space up to max_virtqueue_pairs: mac, status, max_virtqueue_pairs. */
#define NET_CONFIG_SIZE 10

struct virtio_net {
	struct virtio_device vdev;
	char name[32];
	uint8_t mac[6];
	uint8_t config[NET_CONFIG_SIZE];

	int fd;
	bool created_tap; /* tap_close semantics: the kernel removes it with the fd */
	char tap_name[IFNAMSIZ];
	unsigned tap_offloads;
	int (*set_offload)(int fd, unsigned flags);

	struct virtio_io_handler tap_in;
	bool tap_watched; /* the tap fd is in the epoll set */
	bool tap_dead;	  /* the tap failed: receive stopped for good */

	/* RX: the frame in hand (header included), 0 when none */
	uint8_t *rx_frame;
	size_t rx_len;
	struct virtqueue_elem rx_first, rx_more;
	uint16_t rx_heads[VIRTQUEUE_MAX_SIZE];
	uint32_t rx_lens[VIRTQUEUE_MAX_SIZE];

	struct virtqueue_elem tx_elem;

	struct virtio_net_stats stats; /* updated with __atomic ops: read from other threads */
};

#define stat_add(n, field, v) __atomic_fetch_add(&(n)->stats.field, (v), __ATOMIC_RELAXED)

static struct virtio_net *to_net(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_net, vdev);
}

/* ---- pure pieces ---- */

uint64_t virtio_net_features(unsigned tap_offloads)
{
	uint64_t f = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |
		     (1ULL << VIRTIO_NET_F_MRG_RXBUF);

	/*
	 * The tap takes offloaded frames from us whatever TUNSETOFFLOAD says, but a tap that
	 * cannot hand offloaded frames to us has an old or restricted kernel: offer each
	 * offload in both directions only where the probe accepted it. TSO needs checksum
	 * offload (virtio 5.1.3.1), as TUNSETOFFLOAD does. UFO is left out: Linux no longer
	 * produces it, and GUEST_UFO would let the tap hand over frames a guest may not take.
	 */
	if (!(tap_offloads & TUN_F_CSUM))
		return f;
	f |= (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM);
	if (tap_offloads & TUN_F_TSO4)
		f |= (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO4);
	if (tap_offloads & TUN_F_TSO6)
		f |= (1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_TSO6);
	return f;
}

unsigned virtio_net_tap_offloads(uint64_t acked)
{
	unsigned o = 0;

	/* GUEST_* features say what the guest can receive: what the tap may give us */
	if (!(acked & (1ULL << VIRTIO_NET_F_GUEST_CSUM)))
		return 0; /* TSO without checksum offload is refused by the tap and the spec */
	o |= TUN_F_CSUM;
	if (acked & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
		o |= TUN_F_TSO4;
	if (acked & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
		o |= TUN_F_TSO6;
	return o;
}

int virtio_net_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char sep;
	int end = 0;

	if (!s || strlen(s) != 17)
		return -EINVAL;
	sep = s[2];
	if (sep != ':' && sep != '-')
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;

		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
		    (i < 5 && p[2] != sep))
			return -EINVAL;
	}
	if (sscanf(s, "%2x%*c%2x%*c%2x%*c%2x%*c%2x%*c%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &end) != 6 ||
	    end != 17)
		return -EINVAL;
	if (v[0] & 1) /* multicast: a NIC's own address must be unicast */
		return -EINVAL;
	if (!(v[0] | v[1] | v[2] | v[3] | v[4] | v[5]))
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

void virtio_net_generate_mac(uint8_t mac[6])
{
	uint8_t r[3];

	/* 52:54:00 is locally administered (bit 1) and unicast (bit 0 clear), as QEMU's */
	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		/* no entropy source: still vary between VMs started together */
		unsigned x = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);

		memcpy(r, &x, sizeof(r));
	}
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	memcpy(mac + 3, r, sizeof(r));
}

/* ---- options ---- */

int virtio_net_parse(const char *spec, struct virtio_net_options *opts)
{
	char *dup, *tok, *save = NULL;
	bool have_tap = false;
	int ret = 0;

	memset(opts, 0, sizeof(*opts));
	if (!spec || !*spec) {
		pr_err("--net: empty value (want tap=NAME[,mac=MAC])");
		return -EINVAL;
	}
	dup = strdup(spec);
	if (!dup)
		return -ENOMEM;
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');

		if (!val) {
			pr_err("--net: '%s' is not key=value (want tap=NAME[,mac=MAC])", tok);
			ret = -EINVAL;
			goto out_free;
		}
		*val++ = '\0';
		if (!strcmp(tok, "tap")) {
			if (have_tap || !*val || strlen(val) >= IFNAMSIZ || strchr(val, '/')) {
				pr_err("--net: tap=%s: %s", val,
				       have_tap ? "given twice" : "not a valid interface name");
				ret = -EINVAL;
				goto out_free;
			}
			snprintf(opts->tap, sizeof(opts->tap), "%s", val);
			have_tap = true;
		} else if (!strcmp(tok, "mac")) {
			if (opts->mac_set || virtio_net_parse_mac(val, opts->mac)) {
				pr_err("--net: mac=%s: %s", val,
				       opts->mac_set ? "given twice"
						     : "want a unicast address like "
						       "52:54:00:12:34:56");
				ret = -EINVAL;
				goto out_free;
			}
			opts->mac_set = true;
		} else {
			pr_err("--net: unknown option '%s' (want tap=NAME[,mac=MAC])", tok);
			ret = -EINVAL;
			goto out_free;
		}
	}
	if (!have_tap) {
		pr_err("--net %s: missing tap=NAME", spec);
		ret = -EINVAL;
	}
out_free:
	free(dup);
	return ret;
}

/* ---- epoll bookkeeping (on the I/O thread, or with it stopped) ---- */

static void net_watch_tap(struct virtio_net *n, bool on)
{
	if (on == n->tap_watched || (on && n->tap_dead))
		return;
	if (on) {
		if (virtio_device_watch(&n->vdev, &n->tap_in, EPOLLIN))
			return;
	} else {
		virtio_device_unwatch(&n->vdev, &n->tap_in);
	}
	n->tap_watched = on;
}

/* ---- receive: tap -> guest ---- */

enum net_rx_result {
	NET_RX_DONE,	   /* delivered or dropped: the frame is gone */
	NET_RX_NO_BUFFERS, /* the guest has not posted enough buffers yet: keep the frame */
	NET_RX_BROKEN,	   /* malformed ring: needs reset */
};

static void net_rx_giveback(struct virtio_net *n, unsigned count)
{
	while (count--)
		virtqueue_unpop(&n->vdev.vqs[VIRTIO_NET_RXQ]);
}

/*
 * Copies the frame in hand into the guest's receive chains: one chain, or with MRG_RXBUF as
 * many as it takes, with num_buffers saying how many.
 */
static enum net_rx_result net_rx_deliver(struct virtio_net *n)
{
	struct virtqueue *vq = &n->vdev.vqs[VIRTIO_NET_RXQ];
	bool mrg = virtio_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF);
	unsigned max_chains = mrg ? vq->size : 1;
	unsigned count = 0;
	size_t off = 0;
	uint16_t nb;

	while (off < n->rx_len) {
		struct virtqueue_elem *e = count ? &n->rx_more : &n->rx_first;
		size_t len;
		int ret;

		if (count == max_chains) {
			/* the guest's whole ring (or its one chain) cannot hold this frame */
			net_rx_giveback(n, count);
			stat_add(n, rx_dropped, 1);
			pr_debug("%s: dropped a %zu-byte frame larger than the receive buffers",
				 n->name, n->rx_len - NET_HDR_SIZE);
			return NET_RX_DONE;
		}
		ret = virtqueue_pop(vq, e);
		if (ret < 0) {
			virtio_set_needs_reset(&n->vdev, "malformed receive ring");
			return NET_RX_BROKEN;
		}
		if (ret == 0) {
			/*
			 * Out of buffers. Ask for a kick while the chains we hold still count as
			 * seen (EVENT_IDX then points at the first chain the driver has not
			 * posted yet), and look again in case one raced with us; only then give
			 * them back. Looking after the give-back would see them as new work and
			 * retry forever.
			 */
			if (virtqueue_enable_notify(vq))
				continue;
			net_rx_giveback(n, count);
			return NET_RX_NO_BUFFERS;
		}
		if (e->n_out) {
			virtio_set_needs_reset(&n->vdev, "receive chain with readable segments");
			return NET_RX_BROKEN;
		}
		if (e->in_len < NET_HDR_SIZE) {
			/* virtio 5.1.6.3.1: every receive buffer holds at least a header */
			virtio_set_needs_reset(&n->vdev, "receive chain shorter than the header");
			return NET_RX_BROKEN;
		}
		len = MIN(e->in_len, n->rx_len - off);
		iov_from_buf(e->in, e->n_in, 0, n->rx_frame + off, len);
		n->rx_heads[count] = e->head;
		n->rx_lens[count] = (uint32_t)len;
		count++;
		off += len;
	}

	/* the tap leaves num_buffers alone (it writes 10 of the 12 bytes) */
	nb = htole16((uint16_t)count);
	iov_from_buf(n->rx_first.in, n->rx_first.n_in, NET_NUM_BUFFERS_OFFSET, &nb, sizeof(nb));
	/* fill every chain of the frame, then publish them together: a driver polling the
	 * used ring must never see the head chain before the rest */
	for (unsigned i = 0; i < count; i++) {
		/* fill only reads the head and clamps to in_len */
		struct virtqueue_elem used = { .head = n->rx_heads[i], .in_len = n->rx_lens[i] };

		virtqueue_fill(vq, &used, n->rx_lens[i], (uint16_t)i);
	}
	virtqueue_flush(vq, (uint16_t)count);
	stat_add(n, rx_frames, 1);
	stat_add(n, rx_bytes, n->rx_len - NET_HDR_SIZE);
	return NET_RX_DONE;
}

/* Reads the next frame from the tap into rx_frame; false when there is none (or it failed). */
static bool net_rx_read(struct virtio_net *n)
{
	for (;;) {
		ssize_t r = read(n->fd, n->rx_frame, NET_RX_FRAME_MAX);

		if (r >= (ssize_t)NET_HDR_SIZE) {
			n->rx_len = (size_t)r;
			return true;
		}
		if (r >= 0) {
			stat_add(n, rx_errors, 1); /* a runt without its header: skip it */
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			/* e.g. the interface was deleted: stop watching rather than spin */
			pr_warn("%s: tap %s: read failed, receive stopped: %s", n->name,
				n->tap_name, strerror(errno));
			stat_add(n, rx_errors, 1);
			n->tap_dead = true;
			net_watch_tap(n, false);
		}
		return false;
	}
}

static void net_rx_process(struct virtio_net *n)
{
	struct virtqueue *vq = &n->vdev.vqs[VIRTIO_NET_RXQ];
	unsigned done = 0;

	if (virtio_needs_reset(&n->vdev)) {
		/* nothing is taken until the reset: a frame left readable on a watched tap
		 * would wake this thread again and again */
		net_watch_tap(n, false);
		return;
	}
	/* a frame may cost the whole ring's chains (each up to 256 buffers) before it is
	 * dropped: a reset waits for the frame in hand only */
	while (done < VIRTIO_QUEUE_BUDGET && !virtio_device_stopping(&n->vdev)) {
		enum net_rx_result res;

		if (!n->rx_len && (n->tap_dead || !net_rx_read(n)))
			break;
		res = net_rx_deliver(n);
		if (res == NET_RX_BROKEN) {
			net_watch_tap(n, false);
			break;
		}
		if (res == NET_RX_NO_BUFFERS) {
			/* park the frame and the tap until the guest posts buffers and kicks
			 * (net_rx_deliver asked for the kick) */
			net_watch_tap(n, false);
			break;
		}
		n->rx_len = 0;
		done++;
	}
	if (done)
		virtio_notify_queue(&n->vdev, vq);
}

static void net_rx_tap_ready(struct virtio_io_handler *h, uint32_t events)
{
	struct virtio_net *n = container_of(h, struct virtio_net, tap_in);

	if (n->tap_watched)
		net_rx_process(n);
}

/* The guest posted receive buffers: no more kicks needed while the tap feeds us. */
static void net_rx_kick(struct virtio_net *n)
{
	virtqueue_disable_notify(&n->vdev.vqs[VIRTIO_NET_RXQ]);
	net_watch_tap(n, true);
	net_rx_process(n);
}

/* ---- transmit: guest -> tap ---- */

static void net_tx_one(struct virtio_net *n, const struct virtqueue_elem *e)
{
	ssize_t w;

	if (e->n_in || e->out_len < NET_HDR_SIZE) {
		/* a driver bug, not a broken ring: drop the chain, keep the device going */
		stat_add(n, tx_dropped, 1);
		pr_debug("%s: dropped a transmit chain (%u writable segments, %llu bytes)", n->name,
			 e->n_in, (unsigned long long)e->out_len);
		return;
	}
	/* with IFF_VNET_HDR the tap takes the guest's virtio_net_hdr_v1 as is */
	do
		w = writev(n->fd, e->out, (int)e->n_out);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		/* EAGAIN only with a full socket buffer (INT_MAX by default): drop as a NIC would
		 */
		stat_add(n, tx_errors, 1);
		pr_debug("%s: tap %s refused a %llu-byte frame: %s", n->name, n->tap_name,
			 (unsigned long long)e->out_len, strerror(errno));
		return;
	}
	stat_add(n, tx_frames, 1);
	stat_add(n, tx_bytes, e->out_len - NET_HDR_SIZE);
}

static enum virtio_chain_result net_tx_chain(struct virtio_device *vdev, struct virtqueue *vq,
					     struct virtqueue_elem *elem, uint32_t *written)
{
	net_tx_one(to_net(vdev), elem);
	return VIRTIO_CHAIN_DONE;
}

static void net_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
	if (vq->index == VIRTIO_NET_RXQ)
		net_rx_kick(to_net(vdev));
	else if (vq->index == VIRTIO_NET_TXQ)
		virtio_queue_process(vdev, vq, &to_net(vdev)->tx_elem, net_tx_chain);
}

/* ---- virtio device ops ---- */

static uint64_t net_get_features(struct virtio_device *vdev)
{
	return virtio_net_features(to_net(vdev)->tap_offloads);
}

static void net_read_config(struct virtio_device *vdev, unsigned offset, void *data, unsigned len)
{
	memcpy(data, to_net(vdev)->config + offset, len);
}

static void net_write_config(struct virtio_device *vdev, unsigned offset, const void *data,
			     unsigned len)
{
	/* read-only for VERSION_1 drivers (the MAC changes through the control queue) */
	pr_debug("%s: ignored a %u-byte config write at %u", vdev->name, len, offset);
}

static int net_activate(struct virtio_device *vdev)
{
	struct virtio_net *n = to_net(vdev);
	unsigned offloads = virtio_net_tap_offloads(vdev->features_acked) & n->tap_offloads;
	uint64_t one = 1;

	if (n->set_offload && n->set_offload(n->fd, offloads) < 0) {
		/* the tap then checksums and segments itself: slower, still correct */
		log_printf_ratelimited(&vdev->rl, LOG_WARN,
				       "%s: tap %s: TUNSETOFFLOAD 0x%x failed: %s", n->name,
				       n->tap_name, offloads, strerror(errno));
		offloads = 0;
	}
	if (n->set_offload && offloads)
		pr_debug("%s: tap %s: offloads 0x%x on (TUNSETOFFLOAD)", n->name, n->tap_name,
			 offloads);
	n->stats.rx_offloads = offloads;
	n->rx_len = 0;
	n->tap_watched = false;
	/* while the tap feeds us the guest need not kick rx; the first empty ring asks */
	virtqueue_disable_notify(&vdev->vqs[VIRTIO_NET_RXQ]);
	net_watch_tap(n, true);
	/* frames the guest queued before DRIVER_OK without a kick we could see */
	if (vdev->vqs[VIRTIO_NET_TXQ].kick_fd >= 0 &&
	    write(vdev->vqs[VIRTIO_NET_TXQ].kick_fd, &one, sizeof(one)) < 0)
		pr_debug("%s: tx self-kick: %s", n->name, strerror(errno));
	return 0;
}

/* After the I/O thread stopped: the tap is no longer watched, the frame in hand dropped. */
static void net_reset(struct virtio_device *vdev)
{
	struct virtio_net *n = to_net(vdev);

	n->tap_watched = false;
	n->rx_len = 0;
	if (n->set_offload && n->stats.rx_offloads) {
		n->set_offload(n->fd, 0);
		pr_debug("%s: tap %s: offloads off (TUNSETOFFLOAD)", n->name, n->tap_name);
	}
	n->stats.rx_offloads = 0;
}

static const struct virtio_device_ops virtio_net_ops = {
	.get_features = net_get_features,
	.read_config = net_read_config,
	.write_config = net_write_config,
	.activate = net_activate,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
};

/* ---- create / destroy ---- */

int virtio_net_create_backend(const struct virtio_net_options *opts,
			      const struct virtio_net_backend *be, struct memmap *mm,
			      struct virtio_device **out)
{
	struct virtio_net *n;
	uint16_t v;
	int flags, ret;

	n = calloc(1, sizeof(*n));
	if (!n) {
		close(be->fd);
		return -ENOMEM;
	}
	n->fd = be->fd;
	snprintf(n->tap_name, sizeof(n->tap_name), "%s", be->name ? be->name : opts->tap);
	snprintf(n->name, sizeof(n->name), "virtio-net %s", n->tap_name);
	n->tap_offloads = be->offloads;
	n->set_offload = be->set_offload;

	flags = fcntl(n->fd, F_GETFL);
	if (flags < 0 || fcntl(n->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = -errno;
		pr_err("%s: cannot make the backend fd nonblocking: %s", n->name, strerror(-ret));
		goto out_free;
	}
	/* zeroed: a tap before Linux 6.15 or so writes 10 bytes of the 12-byte header and skips
	 * num_buffers, and the frame's first bytes go to the guest before num_buffers is set */
	n->rx_frame = calloc(1, NET_RX_FRAME_MAX);
	if (!n->rx_frame) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = virtio_device_init(&n->vdev, VIRTIO_ID_NET, n->name, 2, VIRTIO_NET_QUEUE_SIZE,
				 &virtio_net_ops);
	if (ret)
		goto out_free;
	n->vdev.config_size = NET_CONFIG_SIZE;
	n->vdev.mm = mm;
	n->tap_in = (struct virtio_io_handler){ .fd = n->fd, .ready = net_rx_tap_ready };

	if (opts->mac_set)
		memcpy(n->mac, opts->mac, sizeof(n->mac));
	else
		virtio_net_generate_mac(n->mac);
	memcpy(n->config + offsetof(struct virtio_net_config, mac), n->mac, sizeof(n->mac));
	v = htole16(VIRTIO_NET_S_LINK_UP);
	memcpy(n->config + offsetof(struct virtio_net_config, status), &v, sizeof(v));
	v = htole16(1);
	memcpy(n->config + offsetof(struct virtio_net_config, max_virtqueue_pairs), &v, sizeof(v));

	pr_info("%s: mac %02x:%02x:%02x:%02x:%02x:%02x, offloads 0x%x", n->name, n->mac[0],
		n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5], n->tap_offloads);
	*out = &n->vdev;
	return 0;

out_free:
	virtio_device_exit(&n->vdev);
	free(n->rx_frame);
	close(n->fd);
	free(n);
	return ret;
}

int virtio_net_create(const struct virtio_net_options *opts, struct memmap *mm,
		      struct virtio_device **out)
{
	struct virtio_net_backend be;
	struct virtio_net *n;
	struct tap tap;
	int ret;

	ret = tap_open(opts->tap, &tap);
	if (ret)
		return ret;
	be = (struct virtio_net_backend){
		.fd = tap.fd,
		.name = tap.name,
		.offloads = tap_probe_offloads(tap.fd),
		.set_offload = tap_set_offload,
	};
	ret = virtio_net_create_backend(opts, &be, mm, out);
	if (ret)
		return ret;
	n = to_net(*out);
	n->created_tap = tap.created;
	return 0;
}

void virtio_net_destroy(struct virtio_device *vdev)
{
	struct virtio_net *n;

	if (!vdev)
		return;
	n = to_net(vdev);
	virtio_device_exit(vdev);
	close(n->fd);
	if (n->created_tap)
		pr_debug("%s: tap %s removed with its last fd", n->name, n->tap_name);
	free(n->rx_frame);
	free(n);
}

void virtio_net_get_stats(struct virtio_device *vdev, struct virtio_net_stats *out)
{
	struct virtio_net *n = to_net(vdev);

#define LOAD(f) out->f = __atomic_load_n(&n->stats.f, __ATOMIC_RELAXED)
	LOAD(rx_frames);
	LOAD(rx_bytes);
	LOAD(rx_dropped);
	LOAD(rx_errors);
	LOAD(tx_frames);
	LOAD(tx_bytes);
	LOAD(tx_dropped);
	LOAD(tx_errors);
	LOAD(rx_offloads);
#undef LOAD
}

void virtio_net_get_mac(struct virtio_device *vdev, uint8_t mac[6])
{
	memcpy(mac, to_net(vdev)->mac, 6);
}
