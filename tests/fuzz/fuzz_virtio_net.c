// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the virtio-net datapath (devices/virtio_net.c): receive (tap -> guest,
 * one chain or MRG_RXBUF merged chains, parking while the guest has no buffers) and transmit
 * (guest -> tap), on real split rings in guest RAM, with the device's I/O thread live and a
 * SOCK_SEQPACKET socket pair standing in for the tap. No transport: the queues are started as
 * virtio_pci.c starts them at DRIVER_OK, so every input spends its bytes on the datapath.
 *
 * Input: u64 features the driver accepts (of those offered), u8 ring sizes (rx 1 << (bits
 * 0-2) up to 128, tx 1 << (bits 4-6)), u8 tap offloads (TUN_F_CSUM/TSO4/TSO6 bits 0-2), then
 * operations, one byte each (op % 9) and their operands:
 *   0  a receive chain (fuzz_vring_add_chain's shape and segments), kicked when shape bit 4
 *   1  a transmit chain, likewise
 *   2  kick rx      3  kick tx
 *   4  a frame arrives on the tap: u16 length (up to 64 KiB + 300), its first 64 bytes
 *   5  the far end reads every frame the device sent
 *   6  guest RAM write: u16 offset, u8 length, the bytes
 *   7  the driver's used_event on rx (op bit 4 clear) or tx: u16
 *   8  device reset and activation again (a driver's reset and DRIVER_OK)
 * Checked while no operation 6 has scribbled on guest RAM: every frame that leaves on the tap
 * is, byte for byte, the readable part of a transmit chain the guest published, in order;
 * every used entry names a chain the guest published and not yet got back, with a length
 * no larger than that chain's writable part.
 *
 * FUZZ_SOURCES: devices/virtio_net.c devices/virtqueue.c
 */
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/virtio_net.h"
#include "tests/fuzz/lib/fuzz_lib.h"
#include "tests/fuzz/lib/fuzz_vring.h"
#include "tests/unit/virtio_driver.h"
#include "vmm/util.h"

#define RAM_GPA 0x200000ULL
#define RAM_SIZE 0x40000ULL
#define FRAME_MAX (65536 + 300)
#define TX_LOG 64 /* transmit chains remembered for the byte-for-byte check */

static struct memmap *mm;
static struct fuzz_ram ram;
static uint8_t *frame;

/* what the guest published and has not got back, per ring and head */
struct published {
	bool out;
	uint32_t writable;
};

struct tx_sent {
	uint32_t len;
	uint8_t *bytes; /* the chain's readable part, in tx_bytes */
};

/* room for the readable part of every chain in the log: 8 segments of up to 8 KiB */
static uint8_t tx_bytes[TX_LOG][8 * 0x2000];

static struct {
	int peer;
	bool clean; /* the guest kept its rings sane so far: the checks hold */
	struct fuzz_vring rx, tx;
	uint16_t rx_used_seen, tx_used_seen;
	struct published rx_pub[FUZZ_VRING_MAX], tx_pub[FUZZ_VRING_MAX];
	/* which chain (head + 1) holds each ring descriptor, 0 free */
	uint16_t rx_busy[FUZZ_VRING_MAX], tx_busy[FUZZ_VRING_MAX];
	uint64_t tx_errors;
	struct tx_sent tx_log[TX_LOG];
	unsigned tx_head, tx_count; /* FIFO of chains the tap should see */
	unsigned irqs;
} s;

static void net_notify_queue(struct virtio_device *vdev, struct virtqueue *vq)
{
	s.irqs++;
}

static void net_notify_config(struct virtio_device *vdev)
{
}

static const struct virtio_transport_ops transport = {
	.notify_queue = net_notify_queue,
	.notify_config = net_notify_config,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lib_init(FUZZ_CHECK_FDS);
	frame = malloc(FRAME_MAX);
	if (!frame || memmap_create(&mm))
		fuzz_fail("setup");
	for (unsigned i = 0; i < FRAME_MAX; i++)
		frame[i] = (uint8_t)(i * 13);
	fuzz_ram_create(&ram, RAM_GPA, RAM_SIZE);
	fuzz_ram_add(&ram, mm, "ram");
	return 0;
}

static int no_set_offload(int fd, unsigned flags)
{
	return 0;
}

/*
 * The chain the ring's last add published: its head, writable bytes and readable bytes, and
 * the descriptors it holds. The harness hands out descriptors round robin, as a careless
 * driver would: a chain that lands on descriptors still held by another (or on itself)
 * corrupts it, and from then on the checks are off.
 */
FUZZ_CHECKER static void chain_record(struct fuzz_vring *r, struct published *pub, uint16_t *busy,
				      uint8_t shape, bool tx)
{
	struct vring_avail *avail = fuzz_gpa(&ram, r->avail_gpa, 6 + 2ULL * r->size);
	struct vring_desc *ring = fuzz_gpa(&ram, r->desc_gpa, 16ULL * r->size), *t = ring;
	uint16_t head = avail->ring[(uint16_t)(r->avail_idx - 1) % r->size], d = head;
	uint32_t writable = 0, readable = 0, n = 1 + (shape & 7);
	bool any_writable = false; /* a 0-byte device-writable descriptor counts too */
	uint8_t *bytes = NULL;

	/* the descriptors it took: head.. for a direct chain, the head alone for an indirect
	 * one; one still held by another chain (or by this one: a chain longer than the ring)
	 * was overwritten */
	if (!(shape & 8) && n > r->size)
		s.clean = false;
	for (unsigned i = 0; i < ((shape & 8) ? 1 : n); i++) {
		uint16_t k = (uint16_t)((head + i) % r->size);

		if (busy[k])
			s.clean = false;
		busy[k] = (uint16_t)(head + 1);
	}
	if (ring[head].flags & VRING_DESC_F_INDIRECT) {
		t = fuzz_gpa(&ram, ring[head].addr, ring[head].len);
		d = 0;
	}
	/* the readable bytes go straight into the next slot of the transmit log */
	if (tx && s.tx_count < TX_LOG)
		bytes = tx_bytes[(s.tx_head + s.tx_count) % TX_LOG];
	for (unsigned i = 0; i < n; i++) {
		if (t[d].flags & VRING_DESC_F_WRITE) {
			writable += t[d].len;
			any_writable = true;
		} else {
			if (bytes)
				memcpy(bytes + readable, fuzz_gpa(&ram, t[d].addr, t[d].len),
				       t[d].len);
			readable += t[d].len;
		}
		if (!(t[d].flags & VRING_DESC_F_NEXT))
			break;
		d = t[d].next;
	}
	pub[head] = (struct published){ true, writable };
	if (!tx)
		return;
	/*
	 * What the tap must see from this chain: nothing for a chain the device drops, which is
	 * one with a device-writable descriptor (of any length: the device counts descriptors,
	 * as a transmit chain must have none) or shorter than the header. A chain the full log
	 * cannot hold ends the checks: the frames after it could not be matched.
	 */
	if (any_writable || readable < sizeof(struct virtio_net_hdr_v1))
		return;
	if (!bytes) {
		s.clean = false;
		return;
	}
	s.tx_log[(s.tx_head + s.tx_count++) % TX_LOG] = (struct tx_sent){ readable, bytes };
}

FUZZ_CHECKER static void used_check(struct fuzz_vring *r, struct published *pub, uint16_t *busy,
				    uint16_t *seen, const char *name)
{
	struct vring_used *used = fuzz_gpa(&ram, r->used_gpa, 6 + 8ULL * r->size);
	uint16_t idx = __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE);

	if ((uint16_t)(idx - *seen) > r->size)
		fuzz_fail("%s: used idx %u jumped %u entries past %u on a %u-entry ring", name, idx,
			  (uint16_t)(idx - *seen), *seen, r->size);
	for (; *seen != idx; (*seen)++) {
		struct vring_used_elem *e = &used->ring[*seen % r->size];

		if (e->id >= r->size || !pub[e->id].out)
			fuzz_fail(
			    "%s: used entry names chain %u, which the guest did not hand over",
			    name, e->id);
		if (e->len > pub[e->id].writable)
			fuzz_fail("%s: used length %u exceeds the chain's %u writable bytes", name,
				  e->len, pub[e->id].writable);
		pub[e->id].out = false;
		for (unsigned d = 0; d < r->size; d++)
			if (busy[d] == e->id + 1)
				busy[d] = 0;
	}
}

FUZZ_CHECKER static void tap_drain(void)
{
	ssize_t n;

	while ((n = read(s.peer, frame, FRAME_MAX)) >= 0) {
		struct tx_sent *t;

		if (!s.clean)
			continue;
		if (!s.tx_count)
			fuzz_fail("tx: a %zd-byte frame no chain asked for", n);
		t = &s.tx_log[s.tx_head];
		if ((size_t)n != t->len || memcmp(frame, t->bytes, t->len))
			fuzz_fail("tx: the tap got %zd bytes, the chain had %u", n, t->len);
		s.tx_head = (s.tx_head + 1) % TX_LOG;
		s.tx_count--;
	}
}

static void kick(struct virtio_device *vdev, unsigned q)
{
	uint64_t one = 1;

	if (write(vdev->vqs[q].kick_fd, &one, sizeof(one)) != sizeof(one))
		fuzz_fail("kick: %s", strerror(errno));
}

/* What the transport does for a driver: queue registers, features, status up to DRIVER_OK
 * (the core starts the queues and the I/O thread). */
static void start(struct virtio_device *vdev, uint64_t features)
{
	struct fuzz_vring *rings[2] = { &s.rx, &s.tx };

	for (unsigned q = 0; q < 2; q++) {
		struct virtqueue *vq = &vdev->vqs[q];

		vq->size = rings[q]->size;
		vq->desc_gpa = rings[q]->desc_gpa;
		vq->avail_gpa = rings[q]->avail_gpa;
		vq->used_gpa = rings[q]->used_gpa;
		vq->enabled = true;
	}
	virtio_driver_ok(vdev, features);
	if (!atomic_load(&vdev->activated))
		fuzz_fail("the device refused DRIVER_OK (status 0x%x)", virtio_device_status(vdev));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_make(data, size);
	static const struct virtio_net_options opts = {
		.tap = "fuzz0",
		.mac = { 0x52, 0x54, 0, 1, 2, 3 },
		.mac_set = true,
	};
	struct virtio_net_backend be = { .name = "fuzz0", .set_offload = no_set_offload };
	uint64_t features = fuzz_u64(&in);
	uint8_t sizes = fuzz_u8(&in), offloads = fuzz_u8(&in);
	struct fuzz_databuf buf = { RAM_GPA + 2 * FUZZ_VRING_AREA, RAM_GPA + RAM_SIZE,
				    RAM_GPA + 2 * FUZZ_VRING_AREA };
	struct virtio_net_stats st;
	struct virtio_device *vdev;
	int sv[2];

	fuzz_input_begin();
	memset(&s, 0, sizeof(s));
	s.clean = true;
	fuzz_ram_clear(&ram);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
		fuzz_fail("socketpair: %s", strerror(errno));
	s.peer = sv[1];
	be.fd = sv[0];
	be.offloads = ((offloads & 1) ? TUN_F_CSUM : 0) | ((offloads & 2) ? TUN_F_TSO4 : 0) |
		      ((offloads & 4) ? TUN_F_TSO6 : 0);
	if (virtio_net_create_backend(&opts, &be, mm, &vdev))
		fuzz_fail("virtio_net_create_backend");
	vdev->transport = &transport;
	/* what the device offers, as a driver would ack it; VERSION_1 always */
	features = (features & virtio_device_features(vdev)) | (1ULL << VIRTIO_F_VERSION_1);
	/* the kick eventfds are the transport's; here the harness is the transport */
	for (unsigned q = 0; q < 2; q++)
		vdev->vqs[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fuzz_vring_init(&s.rx, &ram, RAM_GPA, (uint16_t)(1u << MIN(sizes & 7, 7U)));
	fuzz_vring_init(&s.tx, &ram, RAM_GPA + FUZZ_VRING_AREA,
			(uint16_t)(1u << MIN((sizes >> 4) & 7, 7U)));
	start(vdev, features);
	while (!fuzz_in_done(&in)) {
		uint8_t op = fuzz_u8(&in);

		switch (op % 9) {
		case 0:
		case 1: {
			bool tx = op % 9 == 1;
			uint8_t shape = fuzz_u8(&in);

			uint64_t before = buf.next;

			fuzz_vring_add_chain(tx ? &s.tx : &s.rx, &buf, &in, shape);
			/* the data area wrapped: buffers of chains still out may be overwritten */
			if (buf.next < before)
				s.clean = false;
			chain_record(tx ? &s.tx : &s.rx, tx ? s.tx_pub : s.rx_pub,
				     tx ? s.tx_busy : s.rx_busy, shape, tx);
			if (shape & 0x10)
				kick(vdev, tx);
			break;
		}
		case 2:
		case 3:
			kick(vdev, op % 9 == 3);
			break;
		case 4: {
			unsigned n = fuzz_u16(&in) % FRAME_MAX;
			uint8_t head[64];

			fuzz_in_bytes(&in, head, sizeof(head));
			memcpy(frame, head, MIN(n, sizeof(head)));
			if (send(s.peer, frame, n, MSG_DONTWAIT) < 0 && errno != EAGAIN &&
			    errno != ENOBUFS)
				fuzz_fail("send: %s", strerror(errno));
			break;
		}
		case 5:
			fuzz_settle();
			tap_drain();
			break;
		case 6: {
			uint64_t off = fuzz_u16(&in) * 4ULL % RAM_SIZE;
			unsigned n = fuzz_u8(&in);

			fuzz_in_bytes(&in, ram.hva + off, MIN(n, RAM_SIZE - off));
			s.clean = false;
			break;
		}
		case 7:
			fuzz_vring_set_used_event(op & 0x10 ? &s.tx : &s.rx, fuzz_u16(&in));
			break;
		default:
			fuzz_settle();
			virtio_device_set_status(vdev, 0);
			/* a driver starts over with fresh rings */
			fuzz_vring_init(&s.rx, &ram, RAM_GPA, s.rx.size);
			fuzz_vring_init(&s.tx, &ram, RAM_GPA + FUZZ_VRING_AREA, s.tx.size);
			memset(s.rx_pub, 0, sizeof(s.rx_pub));
			memset(s.tx_pub, 0, sizeof(s.tx_pub));
			memset(s.rx_busy, 0, sizeof(s.rx_busy));
			memset(s.tx_busy, 0, sizeof(s.tx_busy));
			s.rx_used_seen = s.tx_used_seen = 0;
			tap_drain();
			s.tx_head = s.tx_count = 0;
			start(vdev, features);
			break;
		}
		fuzz_settle();
		virtio_net_get_stats(vdev, &st);
		if (st.tx_errors != s.tx_errors)
			s.clean = false; /* the socket was full: which chain was lost is unknown */
		s.tx_errors = st.tx_errors;
		if (s.clean) {
			used_check(&s.rx, s.rx_pub, s.rx_busy, &s.rx_used_seen, "rx");
			used_check(&s.tx, s.tx_pub, s.tx_busy, &s.tx_used_seen, "tx");
		}
	}
	fuzz_settle();
	tap_drain();
	virtio_device_set_status(vdev, 0);
	for (unsigned q = 0; q < 2; q++)
		close(vdev->vqs[q].kick_fd);
	virtio_net_destroy(vdev);
	close(s.peer);

	fuzz_input_end();
	return 0;
}
