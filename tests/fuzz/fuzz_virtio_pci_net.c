// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtio-pci transport driven as a state machine (lib/virtio_pci_fuzz.h)
 * with virtio-net behind it, its I/O thread live, on a SOCK_SEQPACKET socket pair standing in
 * for the tap (one frame per read/write, as a tap with IFF_VNET_HDR): the harness is the far
 * end.
 *
 * Device options (machine byte bits 3-7): bits 3-5 the offloads the "tap" accepts (TUN_F_CSUM,
 * TSO4, TSO6), bit 6 TUNSETOFFLOAD fails at activation.
 * Host events (op 11): u8; bit 0 clear: a frame arrives, u16 length (up to 64 KiB + 300, the
 * vnet header included) whose first bytes come from the input; bit 0 set: the far end reads
 * every frame the guest sent (until then they pile up and the socket fills).
 *
 * FUZZ_SOURCES: devices/virtio_pci.c devices/virtio_net.c devices/virtio.c devices/virtqueue.c
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/virtio_net.h"
#include "tests/fuzz/lib/virtio_pci_fuzz.h"

#define FRAME_MAX (65536 + 300)

static int peer = -1;
static uint8_t *frame;
static bool offload_fails;

static void net_init(void)
{
	frame = malloc(FRAME_MAX);
	if (!frame)
		fuzz_fail("frame buffer");
	for (unsigned i = 0; i < FRAME_MAX; i++)
		frame[i] = (uint8_t)i;
}

static int fake_set_offload(int fd, unsigned flags)
{
	if (offload_fails) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int net_create(struct memmap *mm, uint8_t opts, struct virtio_device **out)
{
	static const struct virtio_net_options o = {
		.tap = "fuzz0",
		.mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
		.mac_set = true,
	};
	struct virtio_net_backend be = { .name = "fuzz0", .set_offload = fake_set_offload };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
		fuzz_fail("socketpair: %s", strerror(errno));
	be.fd = sv[0];
	peer = sv[1];
	be.offloads = ((opts & 1) ? TUN_F_CSUM : 0) | ((opts & 2) ? TUN_F_TSO4 : 0) |
		      ((opts & 4) ? TUN_F_TSO6 : 0);
	offload_fails = opts & 8;
	return virtio_net_create_backend(&o, &be, mm, out);
}

static void net_destroy(struct virtio_device *vdev)
{
	virtio_net_destroy(vdev);
	close(peer);
	peer = -1;
}

static void net_host_event(struct virtio_device *vdev, struct fuzz_in *in)
{
	uint8_t e = fuzz_u8(in);

	if (e & 1) {
		while (read(peer, frame, FRAME_MAX) > 0)
			;
		return;
	} else {
		unsigned n = fuzz_u16(in) % FRAME_MAX;
		uint8_t head[64];

		/* a full socket drops the frame, as a NIC with no room would */
		fuzz_in_bytes(in, head, sizeof(head));
		memcpy(frame, head, MIN(n, sizeof(head)));
		if (send(peer, frame, n, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS)
			fuzz_fail("send to the device: %s", strerror(errno));
	}
}

static const struct vpf_device net = {
	.name = "virtio-net",
	.init = net_init,
	.create = net_create,
	.destroy = net_destroy,
	.host_event = net_host_event,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	vpf_init(&net);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return vpf_run(data, size);
}
