/* SPDX-License-Identifier: MIT */
/*
 * The host side of virtio-net: a tap device on /dev/net/tun, opened with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR so that every read and write is one Ethernet frame
 * preceded by a virtio_net_hdr_v1 (12 bytes) the kernel fills in or honours as is.
 *
 * Opening an existing tap attaches to it and leaves its configuration alone. When the name
 * does not exist and ptvm may create interfaces (CAP_NET_ADMIN), TUNSETIFF creates it and
 * ptvm brings it up (like kvmtool); such a tap is not persistent: the kernel removes it when
 * ptvm's fd closes, i.e. when ptvm exits. For a tap that outlives ptvm, create it first:
 * `ip tuntap add NAME mode tap [user USER]`.
 */
#ifndef PTVM_DEVICES_TAP_H
#define PTVM_DEVICES_TAP_H

#include <stdbool.h>

#include "vmm/util.h"

/* The header every frame carries: struct virtio_net_hdr_v1 (VERSION_1 layout). */
#define TAP_VNET_HDR_SIZE 12

struct tap {
	int fd; /* nonblocking, close-on-exec */
	char name[16];
	bool created; /* ptvm created the interface: it goes away with the fd */
};

/*
 * Opens (or creates) tap NAME and sets its vnet header size to TAP_VNET_HDR_SIZE. On failure
 * one pr_err line names the tap and says why; returns -errno.
 */
int tap_open(const char *name, struct tap *tap) __must_check;
/* Closes the fd (the kernel deletes a tap ptvm created). Accepts a closed/zeroed tap. */
void tap_close(struct tap *tap);

/*
 * Which of TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_UFO the tap accepts through
 * TUNSETOFFLOAD (each tried on its own with TUN_F_CSUM, which the others need). Leaves the
 * tap's offloads at 0: the guest has accepted none yet.
 */
unsigned tap_probe_offloads(int fd);
/* TUNSETOFFLOAD: which offloaded frames the tap may hand us (TUN_F_* flags). */
int tap_set_offload(int fd, unsigned flags);

#endif
