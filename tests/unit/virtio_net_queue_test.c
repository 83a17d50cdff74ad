// SPDX-License-Identifier: MIT
/*
 * The virtio-net datapath through real split rings in a memmap RAM region, with a
 * SOCK_SEQPACKET socket standing in for the tap (one frame per read/write, as a tap):
 * transmit, receive into one or several (MRG_RXBUF) chains, parking while the guest has no
 * buffers (without spinning), oversized frames, hostile chains, offloads set at DRIVER_OK.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio_net.h"
#include "vmm/log.h"

#include "test_helpers.h"

#define BIT(n) (1ULL << (n))
#define HDR 12
#define RAM_SIZE (1 << 20)
#define QSIZE 16
#define BUF_BASE 0x10000

struct fixture {
	struct memmap *mm;
	uint8_t *ram;
	int host_fd; /* the "host" end of the fake tap */
	struct virtio_device *vdev;
	struct test_vring rx, tx;
	uint64_t next_buf; /* bump allocator for guest buffers */
	bool active;
	bool wedged; /* the I/O thread spins and will never stop: teardown leaves it be */
};

static _Atomic unsigned offload_calls;
static _Atomic unsigned offload_last;

static bool offload_fails; /* the backend refuses TUNSETOFFLOAD */

static int fake_set_offload(int fd, unsigned flags)
{
	offload_calls++;
	offload_last = flags;
	if (offload_fails) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t guest_alloc(struct fixture *f, uint32_t len)
{
	uint64_t gpa = f->next_buf;

	f->next_buf += (len + 63) & ~63u;
	assert_true(f->next_buf <= RAM_SIZE);
	return gpa;
}

/* Builds the device on a fake tap (a seqpacket socket) or, with tap_name, on a real tap. */
static int setup_device(void **state, uint64_t acked, const char *tap_name)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct virtio_net_options opts = { .tap = "fake0",
					   .mac_set = true,
					   .mac = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc } };
	struct virtio_net_backend be = { .name = "fake0",
					 .offloads = TUN_F_CSUM | TUN_F_TSO4,
					 .set_offload = fake_set_offload };
	struct memmap_region reg = { .gpa = 0,
				     .size = RAM_SIZE,
				     .kind = MEMMAP_RAM,
				     .fd = -1,
				     .kvm_slot = -1,
				     .name = "ram" };
	int sv[2];

	assert_non_null(f);
	f->ram = aligned_alloc(4096, RAM_SIZE);
	assert_non_null(f->ram);
	memset(f->ram, 0, RAM_SIZE);
	reg.hva = f->ram;
	assert_int_equal(memmap_create(&f->mm), 0);
	assert_int_equal(memmap_add_region(f->mm, &reg), 0);
	if (tap_name) {
		f->host_fd = -1;
		snprintf(opts.tap, sizeof(opts.tap), "%s", tap_name);
		assert_int_equal(virtio_net_create(&opts, f->mm, &f->vdev), 0);
	} else {
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		f->host_fd = sv[1];
		be.fd = sv[0];
		assert_int_equal(virtio_net_create_backend(&opts, &be, f->mm, &f->vdev), 0);
	}
	f->vdev->transport = &test_transport;
	test_vring_start(&f->rx, &f->vdev->vqs[VIRTIO_NET_RXQ], f->mm, QSIZE, 0x1000, 0x1400,
			 0x1800);
	test_vring_start(&f->tx, &f->vdev->vqs[VIRTIO_NET_TXQ], f->mm, QSIZE, 0x2000, 0x2400,
			 0x2800);
	f->next_buf = BUF_BASE;
	test_irqs_reset();
	offload_calls = 0;
	offload_last = ~0u;
	test_device_driver_ok(f->vdev, acked);
	f->active = true;
	*state = f;
	return 0;
}

static int setup_features(void **state, uint64_t acked)
{
	return setup_device(state, acked, NULL);
}

static int setup_mrg(void **state)
{
	return setup_features(state, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
					 BIT(VIRTIO_NET_F_GUEST_CSUM) |
					 BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_MAC));
}

static int setup_mrg_indirect(void **state)
{
	return setup_features(state, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
					 BIT(VIRTIO_RING_F_INDIRECT_DESC) | BIT(VIRTIO_NET_F_MAC));
}

static int setup_mrg_event_idx(void **state)
{
	return setup_features(state, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
					 BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_NET_F_MAC));
}

static int setup_plain(void **state)
{
	return setup_features(state, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MAC));
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->wedged)
		return 0; /* a failed test: joining the thread would hang */
	if (f->active)
		test_device_reset(f->vdev);
	for (unsigned i = 0; i < 2; i++)
		close(f->vdev->vqs[i].kick_fd);
	virtio_net_destroy(f->vdev);
	if (f->host_fd >= 0)
		close(f->host_fd);
	memmap_destroy(f->mm);
	free(f->ram);
	free(f);
	return 0;
}

/* A frame as the tap would give it: a header then `len` bytes of a pattern. */
static size_t make_frame(uint8_t *buf, size_t len, uint8_t seed)
{
	memset(buf, 0, HDR);
	buf[0] = VIRTIO_NET_HDR_F_DATA_VALID; /* something the device must pass through */
	for (size_t i = 0; i < len; i++)
		buf[HDR + i] = (uint8_t)(seed + i * 7);
	/* what the tap leaves in num_buffers is whatever was in memory: poison it */
	buf[10] = 0xee;
	buf[11] = 0xee;
	return HDR + len;
}

static void host_send(struct fixture *f, const uint8_t *frame, size_t len)
{
	assert_int_equal(send(f->host_fd, frame, len, 0), (ssize_t)len);
}

static void test_offloads_set_from_acks_at_activate(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_stats st;
	uint8_t cfg[10];

	/* acked GUEST_CSUM|TSO4; the backend accepts CSUM|TSO4, so TSO6 is not even offered */
	assert_int_equal(offload_calls, 1);
	assert_int_equal(offload_last, TUN_F_CSUM | TUN_F_TSO4);
	virtio_net_get_stats(f->vdev, &st);
	assert_int_equal(st.rx_offloads, TUN_F_CSUM | TUN_F_TSO4);
	assert_int_equal(f->vdev->ops->get_features(f->vdev) &
			     (BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_TSO4)),
			 BIT(VIRTIO_NET_F_GUEST_TSO4));

	/* config space: the MAC, link up, one queue pair */
	assert_int_equal(f->vdev->config_size, sizeof(cfg));
	f->vdev->ops->read_config(f->vdev, 0, cfg, sizeof(cfg));
	assert_memory_equal(cfg, ((uint8_t[]){ 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc, 1, 0, 1, 0 }),
			    sizeof(cfg));

	/* reset takes the offloads away again */
	test_device_reset(f->vdev);
	f->active = false;
	assert_int_equal(offload_last, 0);
}

/*
 * A backend that refuses the offloads: the device still works (the tap segments itself), and
 * a guest that resets and restarts the device again and again gets a bounded log.
 */
static void test_offload_refused_bounded_log(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_stats st;

	offload_fails = true;
	assert_int_equal(test_log_capture_start(), 0);
	for (unsigned i = 0; i < 100; i++) {
		test_device_reset(f->vdev);
		test_vring_restart(&f->rx);
		test_vring_restart(&f->tx);
		test_device_driver_ok(f->vdev, BIT(VIRTIO_NET_F_MRG_RXBUF) |
						   BIT(VIRTIO_NET_F_GUEST_CSUM) |
						   BIT(VIRTIO_NET_F_GUEST_TSO4));
	}
	offload_fails = false;
	assert_log_contains("TUNSETOFFLOAD");
	assert_log_bounded(1);
	test_log_capture_stop();
	virtio_net_get_stats(f->vdev, &st);
	assert_int_equal(st.rx_offloads, 0);
	assert_false(virtio_needs_reset(f->vdev));
}

static void test_tx_frame_reaches_backend(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[HDR + 60], got[256];
	uint64_t hgpa = guest_alloc(f, HDR), dgpa = guest_alloc(f, 60);
	struct virtio_net_stats st;

	make_frame(frame, 60, 1);
	memcpy(f->ram + hgpa, frame, HDR);
	memcpy(f->ram + dgpa, frame + HDR, 60);
	test_vring_add(&f->tx, (struct test_seg[]){ { hgpa, HDR, false }, { dgpa, 60, false } }, 2);
	test_vring_kick(&f->tx);
	assert_vring_used(&f->tx, 1);
	assert_int_equal(f->tx.vq->used->ring[0].len, 0);
	/* header and data as one frame, header passed as is */
	assert_int_equal(recv(f->host_fd, got, sizeof(got), MSG_DONTWAIT), sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));
	assert_true(test_irqs_wait_queue(VIRTIO_NET_TXQ, 1, 5000));
	virtio_net_get_stats(f->vdev, &st);
	assert_int_equal(st.tx_frames, 1);
	assert_int_equal(st.tx_bytes, 60);
}

static void test_tx_hostile_chains_dropped(void **state)
{
	struct fixture *f = *state;
	uint64_t a = guest_alloc(f, 128), b = guest_alloc(f, 128);
	struct virtio_net_stats st;
	uint8_t got[256];

	/* a writable segment in a transmit chain */
	test_vring_add(&f->tx, (struct test_seg[]){ { a, 64, false }, { b, 64, true } }, 2);
	/* shorter than the header */
	test_vring_add(&f->tx, (struct test_seg[]){ { a, HDR - 1, false } }, 1);
	/* then a good one: the device keeps going */
	test_vring_add(&f->tx, (struct test_seg[]){ { a, HDR + 20, false } }, 1);
	test_vring_kick(&f->tx);
	assert_vring_used(&f->tx, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(f->tx.vq->used->ring[i].len, 0);
	assert_int_equal(recv(f->host_fd, got, sizeof(got), MSG_DONTWAIT), HDR + 20);
	assert_int_equal(recv(f->host_fd, got, sizeof(got), MSG_DONTWAIT), -1);
	virtio_net_get_stats(f->vdev, &st);
	assert_int_equal(st.tx_dropped, 2);
	assert_int_equal(st.tx_frames, 1);
	assert_false(virtio_needs_reset(f->vdev));
}

/* Publishes a transmit chain whose descriptor chains to itself and waits (up to 2 s) for the
 * device to say it needs a reset. */
static void tx_ring_break(struct fixture *f)
{
	struct virtqueue *vq = f->tx.vq;
	uint64_t a = guest_alloc(f, 64);
	uint64_t end = now_ns(CLOCK_MONOTONIC) + 2000000000ull;

	vq->desc[0] =
	    (struct vring_desc){ .addr = a, .len = 64, .flags = VRING_DESC_F_NEXT, .next = 0 };
	vq->avail->ring[0] = 0;
	__atomic_store_n(&vq->avail->idx, 1, __ATOMIC_RELEASE);
	test_vring_kick(&f->tx);
	while (!virtio_needs_reset(f->vdev) && now_ns(CLOCK_MONOTONIC) < end)
		usleep(1000);
	assert_true(virtio_needs_reset(f->vdev));
}

static void test_tx_malformed_ring_needs_reset(void **state)
{
	struct fixture *f = *state;

	tx_ring_break(f);
	assert_int_equal(test_vring_used_idx(&f->tx), 0);
}

/* Fails (and marks the fixture wedged) when the process burns CPU while the device should
 * sleep: a spinning I/O thread burns ~300 ms here, a parked one next to nothing. */
static void assert_io_thread_sleeps(struct fixture *f)
{
	uint64_t cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID), cpu1;

	usleep(300000);
	cpu1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	if (cpu1 - cpu0 >= 30000000ull) {
		f->wedged = true;
		fail_msg("the I/O thread spins: %llu ms of CPU in 300 ms",
			 (unsigned long long)((cpu1 - cpu0) / 1000000));
	}
}

/*
 * Found by tests/fuzz/fuzz_virtio_pci_net: once the device needs a reset (here a malformed
 * transmit ring) it takes no more frames, but the tap stayed in its epoll set: every frame
 * that arrived then left the fd readable and the I/O thread spun at 100% CPU until a reset.
 */
static void test_rx_no_spin_once_needs_reset(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[HDR + 100];

	tx_ring_break(f);
	host_send(f, frame, make_frame(frame, 60, 1));
	assert_io_thread_sleeps(f);
}

/*
 * Found by tests/fuzz/fuzz_virtio_pci_net: with MRG_RXBUF, a frame larger than all the
 * buffers posted so far made the I/O thread give the chains back, see them again as "new"
 * work and retry at once, forever (100% CPU until the guest posted more). It must park
 * instead, and (EVENT_IDX) ask for a kick at the first chain it has not seen yet.
 */
static void test_rx_parks_when_posted_buffers_are_too_few(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[HDR + 1000], got[HDR + 1000];
	uint64_t b[9];
	uint16_t avail_event;

	b[0] = guest_alloc(f, 128);
	test_vring_add(&f->rx, (struct test_seg[]){ { b[0], 128, true } }, 1);
	test_vring_kick(&f->rx);
	host_send(f, frame, make_frame(frame, 1000, 9));
	assert_io_thread_sleeps(f);
	assert_int_equal(test_vring_used_idx(&f->rx), 0);
	if (f->rx.vq->event_idx) {
		/* the driver's next buffer (avail entry 1) must kick the device */
		avail_event =
		    __atomic_load_n((uint16_t *)&f->rx.vq->used->ring[QSIZE], __ATOMIC_ACQUIRE);
		assert_int_equal(avail_event, 1);
	}

	/* 1012 bytes need 8 chains of 128: the frame goes out whole once they are there */
	for (int i = 1; i < 9; i++) {
		b[i] = guest_alloc(f, 128);
		test_vring_add(&f->rx, (struct test_seg[]){ { b[i], 128, true } }, 1);
	}
	test_vring_kick(&f->rx);
	assert_vring_used(&f->rx, 8);
	for (int i = 0; i < 8; i++)
		memcpy(got + 128 * i, f->ram + b[i], MIN(128, (int)sizeof(got) - 128 * i));
	assert_int_equal(got[10] | got[11] << 8, 8);
	assert_memory_equal(got + HDR, frame + HDR, 1000);
}

static void test_rx_single_chain(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[HDR + 100];
	uint64_t a = guest_alloc(f, 2048), b = guest_alloc(f, 2048);
	struct virtio_net_stats st;

	test_vring_add(&f->rx, (struct test_seg[]){ { a, 2048, true } }, 1);
	test_vring_add(&f->rx, (struct test_seg[]){ { b, 2048, true } }, 1);
	test_vring_kick(&f->rx);
	host_send(f, frame, make_frame(frame, 100, 3));
	assert_vring_used(&f->rx, 1);
	assert_int_equal(f->rx.vq->used->ring[0].id, 0);
	assert_int_equal(f->rx.vq->used->ring[0].len, sizeof(frame));
	/* flags passed through, num_buffers set to 1 over the poison */
	assert_int_equal(f->ram[a], VIRTIO_NET_HDR_F_DATA_VALID);
	assert_int_equal(f->ram[a + 10] | f->ram[a + 11] << 8, 1);
	assert_memory_equal(f->ram + a + HDR, frame + HDR, 100);
	assert_true(test_irqs_wait_queue(VIRTIO_NET_RXQ, 1, 5000));
	virtio_net_get_stats(f->vdev, &st);
	assert_int_equal(st.rx_frames, 1);
	assert_int_equal(st.rx_bytes, 100);
}

static void test_rx_merges_small_buffers(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[HDR + 150], got[HDR + 150];
	uint64_t b[4];

	for (int i = 0; i < 4; i++) {
		b[i] = guest_alloc(f, 64);
		test_vring_add(&f->rx, (struct test_seg[]){ { b[i], 64, true } }, 1);
	}
	test_vring_kick(&f->rx);
	host_send(f, frame, make_frame(frame, 150, 9));
	assert_vring_used(&f->rx, 3);
	/* 162 bytes = 64 + 64 + 34, in ring order, num_buffers 3 in the first */
	assert_int_equal(f->rx.vq->used->ring[0].len, 64);
	assert_int_equal(f->rx.vq->used->ring[1].len, 64);
	assert_int_equal(f->rx.vq->used->ring[2].len, 34);
	for (int i = 0; i < 3; i++)
		assert_int_equal(f->rx.vq->used->ring[i].id, i);
	assert_int_equal(f->ram[b[0] + 10] | f->ram[b[0] + 11] << 8, 3);
	memcpy(got, f->ram + b[0], 64);
	memcpy(got + 64, f->ram + b[1], 64);
	memcpy(got + 128, f->ram + b[2], 34);
	assert_memory_equal(got + HDR, frame + HDR, 150);
	assert_memory_equal(got, frame, 10);

	/* the fourth buffer takes the next frame */
	host_send(f, frame, make_frame(frame, 40, 11));
	assert_vring_used(&f->rx, 4);
	assert_int_equal(f->rx.vq->used->ring[3].id, 3);
	assert_int_equal(f->rx.vq->used->ring[3].len, HDR + 40);
	assert_memory_equal(f->ram + b[3] + HDR, frame + HDR, 40);
}

static void test_rx_parks_without_buffers_and_resumes_on_kick(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[HDR + 300];
	uint64_t cpu0, cpu1, b[3];

	/* frames arrive before the guest has posted anything */
	for (int i = 0; i < 3; i++)
		host_send(f, frame, make_frame(frame, 100 + i, (uint8_t)(20 + i)));
	cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	usleep(300000);
	cpu1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	/* the I/O thread sleeps: a spinning one would burn ~300 ms of CPU here */
	assert_true(cpu1 - cpu0 < 30000000ull);
	assert_int_equal(test_vring_used_idx(&f->rx), 0);

	/* one buffer: one frame; the rest wait for the next kick */
	b[0] = guest_alloc(f, 2048);
	test_vring_add(&f->rx, (struct test_seg[]){ { b[0], 2048, true } }, 1);
	test_vring_kick(&f->rx);
	assert_vring_used(&f->rx, 1);
	usleep(50000);
	assert_int_equal(test_vring_used_idx(&f->rx), 1);
	assert_int_equal(f->rx.vq->used->ring[0].len, HDR + 100);
	assert_int_equal(f->ram[b[0] + HDR], 20);

	for (int i = 1; i < 3; i++) {
		b[i] = guest_alloc(f, 2048);
		test_vring_add(&f->rx, (struct test_seg[]){ { b[i], 2048, true } }, 1);
	}
	test_vring_kick(&f->rx);
	assert_vring_used(&f->rx, 3);
	/* in order, nothing lost */
	assert_int_equal(f->rx.vq->used->ring[1].len, HDR + 101);
	assert_int_equal(f->rx.vq->used->ring[2].len, HDR + 102);
	assert_int_equal(f->ram[b[1] + HDR], 21);
	assert_int_equal(f->ram[b[2] + HDR], 22);
}

static void test_rx_frame_too_big_for_ring_dropped(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[HDR + 400];
	struct virtio_net_stats st;

	/* the whole ring: 16 chains of 16 bytes = 256 bytes, less than the frame */
	for (int i = 0; i < QSIZE; i++)
		test_vring_add(&f->rx, (struct test_seg[]){ { guest_alloc(f, 16), 16, true } }, 1);
	test_vring_kick(&f->rx);
	host_send(f, frame, make_frame(frame, 400, 1));
	/* the next frame fits in ring chains the dropped one gave back */
	host_send(f, frame, make_frame(frame, 10, 2));
	assert_vring_used(&f->rx, 2);
	assert_int_equal(f->rx.vq->used->ring[0].id, 0);
	assert_int_equal(f->rx.vq->used->ring[0].len, 16);
	assert_int_equal(f->rx.vq->used->ring[1].len, HDR + 10 - 16);
	virtio_net_get_stats(f->vdev, &st);
	assert_int_equal(st.rx_dropped, 1);
	assert_int_equal(st.rx_frames, 1);
}

/*
 * Every receive chain is an indirect table of 255 empty buffers and one of 12 bytes: the whole
 * ring holds 192 bytes, so each 1 KiB frame pops all 16 chains (4096 buffers) and is dropped,
 * and the next frame pops them again. A reset meanwhile must stop the I/O thread after the
 * frame in hand (without the check, the reset returned after all 400 were dropped).
 */
static void test_rx_dropped_frames_do_not_hold_reset(void **state)
{
	struct fixture *f = *state;
	static uint8_t frame[HDR + 1024];
	const unsigned frames = 400;
	struct virtio_net_stats st;
	int big = 4 << 20;

	assert_int_equal(setsockopt(f->host_fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)), 0);
	for (int i = 0; i < QSIZE; i++) {
		uint64_t table = guest_alloc(f, 256 * sizeof(struct vring_desc));
		uint64_t buf = guest_alloc(f, HDR);
		struct test_seg segs[256];

		for (unsigned d = 0; d < 256; d++)
			segs[d] = (struct test_seg){ buf, d == 255 ? HDR : 0, true };
		test_vring_write_chain((struct vring_desc *)(f->ram + table), 0, 256, segs, 256);
		TEST_GUEST_WRITES_BEGIN();
		f->rx.desc[i] = (struct vring_desc){ .addr = table,
						     .len = 256 * sizeof(struct vring_desc),
						     .flags = VRING_DESC_F_INDIRECT };
		TEST_GUEST_WRITES_END();
		test_vring_publish(&f->rx, (uint16_t)i);
	}
	make_frame(frame, 1024, 3);
	for (unsigned i = 0; i < frames; i++)
		host_send(f, frame, sizeof(frame));
	test_vring_kick(&f->rx);
	assert_true(test_wait_until((virtio_net_get_stats(f->vdev, &st), st.rx_dropped > 0), 5000));
	test_device_reset(f->vdev);
	f->active = false;
	virtio_net_get_stats(f->vdev, &st);
	print_message("dropped %llu of %u frames before the reset returned\n",
		      (unsigned long long)st.rx_dropped, frames);
	assert_true(st.rx_dropped < frames / 2);
}

static void test_rx_without_mrg_drops_big_frame_keeps_chain(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[HDR + 200];
	uint64_t a = guest_alloc(f, 100);
	struct virtio_net_stats st;

	assert_int_equal(offload_last, 0); /* no GUEST_* acks: no offloads */
	test_vring_add(&f->rx, (struct test_seg[]){ { a, 100, true } }, 1);
	test_vring_kick(&f->rx);
	host_send(f, frame, make_frame(frame, 200, 1));
	host_send(f, frame, make_frame(frame, 50, 5));
	assert_vring_used(&f->rx, 1);
	assert_int_equal(f->rx.vq->used->ring[0].id, 0);
	assert_int_equal(f->rx.vq->used->ring[0].len, HDR + 50);
	assert_int_equal(f->ram[a + 10] | f->ram[a + 11] << 8, 1);
	assert_memory_equal(f->ram + a + HDR, frame + HDR, 50);
	virtio_net_get_stats(f->vdev, &st);
	assert_int_equal(st.rx_dropped, 1);
}

static void test_rx_readable_chain_needs_reset(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[HDR + 20];
	uint64_t a = guest_alloc(f, 64), b = guest_alloc(f, 64);
	uint64_t end = now_ns(CLOCK_MONOTONIC) + 2000000000ull;

	test_vring_add(&f->rx, (struct test_seg[]){ { a, 64, false }, { b, 64, true } }, 2);
	test_vring_kick(&f->rx);
	host_send(f, frame, make_frame(frame, 20, 1));
	while (!virtio_needs_reset(f->vdev) && now_ns(CLOCK_MONOTONIC) < end)
		usleep(1000);
	assert_true(virtio_needs_reset(f->vdev));
	assert_int_equal(test_vring_used_idx(&f->rx), 0);
}

static void test_rx_chain_shorter_than_header_needs_reset(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[HDR + 20];
	uint64_t end = now_ns(CLOCK_MONOTONIC) + 2000000000ull;

	test_vring_add(&f->rx, (struct test_seg[]){ { guest_alloc(f, 8), 8, true } }, 1);
	test_vring_kick(&f->rx);
	host_send(f, frame, make_frame(frame, 20, 1));
	while (!virtio_needs_reset(f->vdev) && now_ns(CLOCK_MONOTONIC) < end)
		usleep(1000);
	assert_true(virtio_needs_reset(f->vdev));
}

/* ---- the same device on a real tap, in a network namespace of our own ---- */

#define TEST_ETHERTYPE 0x88b5 /* IEEE local experimental: nothing else sends it */
static char tap_skip[160];

static int setup_tap(void **state)
{
	int fd;

	*state = NULL;
	if (test_emulator_lacks("the SIOCETHTOOL ioctl")) {
		snprintf(tap_skip, sizeof(tap_skip), "%s",
			 test_emulator_lacks("the SIOCETHTOOL ioctl"));
		return 0;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(tap_skip, sizeof(tap_skip),
			 "unshare(CLONE_NEWNET) failed (%s): needs CAP_SYS_ADMIN", strerror(errno));
		return 0;
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(tap_skip, sizeof(tap_skip), "cannot open /dev/net/tun: %s",
			 strerror(errno));
		return 0;
	}
	close(fd);
	/* keep IPv6 autoconfiguration chatter off the new tap (best effort) */
	fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			print_message("cannot disable IPv6 in the test namespace\n");
		close(fd);
	}
	return setup_device(state,
			    BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
				BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
				BIT(VIRTIO_NET_F_MAC),
			    "ptvmq0");
}

static int teardown_tap(void **state)
{
	return *state ? teardown(state) : 0;
}

/* ETHTOOL_GTXCSUM / ETHTOOL_GTSO on the tap: what TUNSETOFFLOAD turned on. */
static unsigned ethtool_get(const char *ifname, uint32_t cmd)
{
	struct ethtool_value v = { .cmd = cmd };
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&v;
	assert_int_equal(ioctl(s, SIOCETHTOOL, &ifr), 0);
	close(s);
	return v.data;
}

static void test_real_tap_end_to_end(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(TEST_ETHERTYPE) };
	uint8_t mac[6], frame[HDR + 64], got[256];
	struct pollfd pfd;
	uint64_t buf[4];
	int ps;
	bool found = false;

	if (tap_skip[0]) {
		print_message("skipped: %s\n", tap_skip);
		skip();
	}
	/* the guest acked GUEST_CSUM and GUEST_TSO4: the tap hands over such frames */
	assert_int_equal(ethtool_get("ptvmq0", ETHTOOL_GTXCSUM), 1);
	assert_int_equal(ethtool_get("ptvmq0", ETHTOOL_GTSO), 1);

	ll.sll_ifindex = (int)if_nametoindex("ptvmq0");
	assert_true(ll.sll_ifindex > 0);
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(TEST_ETHERTYPE));
	assert_true(ps >= 0);
	assert_int_equal(bind(ps, (struct sockaddr *)&ll, sizeof(ll)), 0);
	virtio_net_get_mac(f->vdev, mac);

	/* guest -> tap: header (no offload) + an Ethernet frame */
	memset(frame, 0, sizeof(frame));
	memset(frame + HDR, 0xff, 6);
	memcpy(frame + HDR + 6, mac, 6);
	frame[HDR + 12] = TEST_ETHERTYPE >> 8;
	frame[HDR + 13] = TEST_ETHERTYPE & 0xff;
	for (int i = 14; i < 64; i++)
		frame[HDR + i] = (uint8_t)i;
	buf[0] = guest_alloc(f, sizeof(frame));
	memcpy(f->ram + buf[0], frame, sizeof(frame));
	test_vring_add(&f->tx, (struct test_seg[]){ { buf[0], sizeof(frame), false } }, 1);
	test_vring_kick(&f->tx);
	assert_vring_used(&f->tx, 1);
	pfd = (struct pollfd){ .fd = ps, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(recv(ps, got, sizeof(got), 0), 64);
	assert_memory_equal(got, frame + HDR, 64);

	/* host -> guest: sent on the tap interface, read by the device from its fd */
	for (int i = 0; i < 4; i++) {
		buf[i] = guest_alloc(f, 2048);
		test_vring_add(&f->rx, (struct test_seg[]){ { buf[i], 2048, true } }, 1);
	}
	test_vring_kick(&f->rx);
	memcpy(frame + HDR, mac, 6);
	memset(frame + HDR + 6, 0x02, 6);
	frame[HDR + 20] = 0x5a;
	assert_int_equal(sendto(ps, frame + HDR, 64, 0, (struct sockaddr *)&ll, sizeof(ll)), 64);
	for (uint16_t n = 1; n <= 4 && !found; n++) {
		const uint8_t *p;

		assert_vring_used(&f->rx, n);
		p = f->ram + buf[f->rx.vq->used->ring[n - 1].id];
		/* skip whatever else the namespace's stack sent on the new link */
		if (p[HDR + 12] != TEST_ETHERTYPE >> 8 || p[HDR + 13] != (TEST_ETHERTYPE & 0xff))
			continue;
		assert_int_equal(f->rx.vq->used->ring[n - 1].len, HDR + 64);
		assert_int_equal(p[10] | p[11] << 8, 1);
		assert_memory_equal(p + HDR, frame + HDR, 64);
		found = true;
	}
	assert_true(found);
	close(ps);

	/* reset: the tap no longer takes offloaded frames for us */
	test_device_reset(f->vdev);
	f->active = false;
	assert_int_equal(ethtool_get("ptvmq0", ETHTOOL_GTXCSUM), 0);
	assert_int_equal(ethtool_get("ptvmq0", ETHTOOL_GTSO), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_offloads_set_from_acks_at_activate, setup_mrg,
						teardown),
		cmocka_unit_test_setup_teardown(test_offload_refused_bounded_log, setup_mrg,
						teardown),
		cmocka_unit_test_setup_teardown(test_tx_frame_reaches_backend, setup_mrg, teardown),
		cmocka_unit_test_setup_teardown(test_tx_hostile_chains_dropped, setup_mrg,
						teardown),
		cmocka_unit_test_setup_teardown(test_tx_malformed_ring_needs_reset, setup_mrg,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_no_spin_once_needs_reset, setup_mrg,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_parks_when_posted_buffers_are_too_few,
						setup_mrg, teardown),
		cmocka_unit_test_setup_teardown(test_rx_parks_when_posted_buffers_are_too_few,
						setup_mrg_event_idx, teardown),
		cmocka_unit_test_setup_teardown(test_rx_single_chain, setup_mrg, teardown),
		cmocka_unit_test_setup_teardown(test_rx_merges_small_buffers, setup_mrg, teardown),
		cmocka_unit_test_setup_teardown(test_rx_parks_without_buffers_and_resumes_on_kick,
						setup_mrg, teardown),
		cmocka_unit_test_setup_teardown(test_rx_dropped_frames_do_not_hold_reset,
						setup_mrg_indirect, teardown),
		cmocka_unit_test_setup_teardown(test_rx_frame_too_big_for_ring_dropped, setup_mrg,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_without_mrg_drops_big_frame_keeps_chain,
						setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_rx_readable_chain_needs_reset, setup_mrg,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_chain_shorter_than_header_needs_reset,
						setup_plain, teardown),
		/* last: it moves the process into a network namespace of its own */
		cmocka_unit_test_setup_teardown(test_real_tap_end_to_end, setup_tap, teardown_tap),
	};

	/* the device's warnings (needs reset) are expected here */
	log_set_stream(fopen("/dev/null", "w"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
