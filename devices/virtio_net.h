/* SPDX-License-Identifier: MIT */
/*
 * virtio-net over a host tap device (devices/tap.h): two queues, rx (0) and tx (1), no control
 * queue. Every frame carries the 12-byte virtio_net_hdr_v1, which the tap (IFF_VNET_HDR,
 * TUNSETVNETHDRSZ 12) reads and writes as is, so checksum and TSO offloads pass straight
 * through; they are offered only where the tap accepts them (TUNSETOFFLOAD probe) and the
 * tap is told what the guest accepted at DRIVER_OK.
 *
 * RX never busy-polls: the tap fd sits in the device's I/O thread epoll set while the guest
 * has posted receive buffers; when they run out the frame in hand is kept, the tap is taken
 * out of the set, and the guest's next rx kick puts it back.
 */
#ifndef PTVM_DEVICES_VIRTIO_NET_H
#define PTVM_DEVICES_VIRTIO_NET_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio.h"

#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1

/*
 * The parsed --net option. (Not "virtio_net_config": <linux/virtio_net.h> already names the
 * device's config-space layout so.)
 */
struct virtio_net_options {
	char tap[IFNAMSIZ];
	uint8_t mac[6];
	bool mac_set; /* false: virtio_net_create generates one */
};

/* Parses the --net value "tap=NAME[,mac=52:54:00:12:34:56]"; one pr_err naming the bad part. */
int virtio_net_parse(const char *spec, struct virtio_net_options *opts);
/*
 * Opens (or creates) the tap and builds the device. On failure one pr_err names the tap and
 * the reason (see tap_open); returns -errno.
 */
int virtio_net_create(const struct virtio_net_options *opts, struct memmap *mm,
		      struct virtio_device **out);
/* Stops the I/O thread and closes the tap (a tap ptvm created disappears). Accepts NULL. */
void virtio_net_destroy(struct virtio_device *vdev);

/*
 * The seam under virtio_net_create, for tests: any fd that reads and writes one frame
 * (vnet header + Ethernet frame) per call (a tap, a SOCK_SEQPACKET socket). The device
 * takes ownership of fd and makes it nonblocking.
 */
struct virtio_net_backend {
	int fd;
	const char *name;  /* for messages: the tap name */
	unsigned offloads; /* TUN_F_* the backend accepts (tap_probe_offloads) */
	/* sets the backend's offloads (tap_set_offload); NULL when there is nothing to set */
	int (*set_offload)(int fd, unsigned flags);
};
int virtio_net_create_backend(const struct virtio_net_options *opts,
			      const struct virtio_net_backend *be, struct memmap *mm,
			      struct virtio_device **out);

struct virtio_net_stats {
	uint64_t rx_frames, rx_bytes;
	uint64_t rx_dropped; /* frames larger than every buffer the guest could offer */
	uint64_t rx_errors;  /* tap read errors, runt frames */
	uint64_t tx_frames, tx_bytes;
	uint64_t tx_dropped;  /* malformed chains (writable parts, shorter than the header) */
	uint64_t tx_errors;   /* the tap refused the frame */
	unsigned rx_offloads; /* TUN_F_* set on the tap at the last activate */
};
/* A snapshot of the counters (safe while the I/O thread runs). */
void virtio_net_get_stats(struct virtio_device *vdev, struct virtio_net_stats *out);
/* The MAC the device presents (from the option or generated). */
void virtio_net_get_mac(struct virtio_device *vdev, uint8_t mac[6]);

/* ---- pure pieces, exported for unit tests ---- */

/* The device features to offer, given what the tap accepts (TUN_F_* from the probe). */
uint64_t virtio_net_features(unsigned tap_offloads);
/* The tap offloads to set (TUN_F_*) for the features the driver acked. */
unsigned virtio_net_tap_offloads(uint64_t acked);
/* "52:54:00:12:34:56" (':' or '-') -> mac; -EINVAL for junk, multicast or all-zero. */
int virtio_net_parse_mac(const char *s, uint8_t mac[6]);
/* A random locally administered unicast MAC, 52:54:00:xx:xx:xx. */
void virtio_net_generate_mac(uint8_t mac[6]);

#endif
