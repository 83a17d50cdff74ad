// SPDX-License-Identifier: MIT
/*
 * virtio-blk through a real split ring in a memmap RAM region, with the device's own I/O
 * thread: kick eventfd in, used ring and a fake transport's interrupts out. Direct and
 * indirect chains, a ring that wraps, EVENT_IDX on and off, an I/O error, hostile chains that
 * must end in DEVICE_NEEDS_RESET, and reset/re-activate.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio_blk.h"
#include "vmm/log.h"

#include "test_helpers.h"

#define BIT(n) (1ULL << (n))
#define SECTOR 512
#define DISK_SECTORS 256
#define RAM_SIZE (16 << 20)
#define QSIZE 16
#define RING_GPA 0x1000
#define BUF_GPA 0x10000

struct fixture {
	char path[64];
	struct memmap *mm;
	uint8_t *ram;
	struct virtio_device *vdev;
	struct virtqueue *vq;
	struct test_vring ring; /* the driver's side of vq */
	uint64_t next_buf;	/* bump allocator for guest buffers */
};

static uint8_t pattern(uint64_t o)
{
	return (uint8_t)((o >> 9) * 29 + (o & 0x1ff) + 3);
}

/* The pattern in the first DISK_SECTORS, then @holes bytes of holes (a sparse file). */
static void disk_file_make(struct fixture *f, uint64_t holes)
{
	uint8_t buf[SECTOR];
	int fd;

	snprintf(f->path, sizeof(f->path), "/tmp/ptvm-blkq-XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	for (uint64_t s = 0; s < DISK_SECTORS; s++) {
		for (unsigned i = 0; i < SECTOR; i++)
			buf[i] = pattern(s * SECTOR + i);
		assert_int_equal(pwrite(fd, buf, SECTOR, (off_t)(s * SECTOR)), SECTOR);
	}
	assert_int_equal(ftruncate(fd, (off_t)(DISK_SECTORS * SECTOR + holes)), 0);
	close(fd);
}

static int setup_features(void **state, uint64_t acked, uint64_t holes)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct memmap_region reg = {
		.gpa = 0, .size = RAM_SIZE, .kind = MEMMAP_RAM, .fd = -1, .name = "ram"
	};
	struct virtio_blk_options o = { 0 };
	struct virtqueue *vq;

	assert_non_null(f);
	f->ram = aligned_alloc(4096, RAM_SIZE);
	assert_non_null(f->ram);
	memset(f->ram, 0, RAM_SIZE);
	reg.hva = f->ram;
	assert_int_equal(memmap_create(&f->mm), 0);
	assert_int_equal(memmap_add_region(f->mm, &reg), 0);
	disk_file_make(f, holes);
	snprintf(o.path, sizeof(o.path), "%s", f->path);
	assert_int_equal(virtio_blk_create(&o, f->mm, &f->vdev), 0);
	f->vdev->transport = &test_transport;

	/* what the transport does between FEATURES_OK and DRIVER_OK */
	vq = f->vq = &f->vdev->vqs[0];
	vq->event_idx = acked & BIT(VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = acked & BIT(VIRTIO_RING_F_INDIRECT_DESC);
	test_vring_start(&f->ring, vq, f->mm, QSIZE, RING_GPA, RING_GPA + 16 * QSIZE,
			 RING_GPA + 0x400);
	f->next_buf = BUF_GPA;
	test_irqs_reset();
	test_device_driver_ok(f->vdev, acked);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_features(state,
			      BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_BLK_F_FLUSH) |
				  BIT(VIRTIO_RING_F_INDIRECT_DESC),
			      0);
}

/* 4 GiB of holes after the pattern: room for a huge request */
static int setup_huge_disk(void **state)
{
	return setup_features(state,
			      BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_BLK_F_FLUSH) |
				  BIT(VIRTIO_RING_F_INDIRECT_DESC),
			      4ULL << 30);
}

static int setup_event_idx(void **state)
{
	return setup_features(state,
			      BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_BLK_F_FLUSH) |
				  BIT(VIRTIO_RING_F_INDIRECT_DESC) | BIT(VIRTIO_RING_F_EVENT_IDX),
			      0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int kick_fd = f->vq->kick_fd;

	virtio_blk_destroy(f->vdev); /* stops the I/O thread first */
	close(kick_fd);
	memmap_destroy(f->mm);
	free(f->ram);
	unlink(f->path);
	free(f);
	return 0;
}

static uint64_t guest_alloc(struct fixture *f, uint32_t len)
{
	uint64_t gpa = f->next_buf;

	f->next_buf += (len + 63) & ~63u;
	assert_true(f->next_buf <= RAM_SIZE);
	return gpa;
}

static void *hva(struct fixture *f, uint64_t gpa)
{
	return f->ram + gpa;
}

/* Publishes the chain through one indirect descriptor whose table is in guest RAM. */
static uint16_t ring_add_indirect(struct fixture *f, const struct test_seg *s, unsigned n)
{
	uint64_t table_gpa = guest_alloc(f, (uint32_t)(n * sizeof(struct vring_desc)));
	uint16_t head = f->ring.next_desc;

	f->ring.next_desc = (uint16_t)((head + 1) % QSIZE);
	test_vring_write_chain(hva(f, table_gpa), 0, (uint16_t)n, s, n);
	f->ring.desc[head] = (struct vring_desc){ .addr = table_gpa,
						  .len = (uint32_t)(n * sizeof(struct vring_desc)),
						  .flags = VRING_DESC_F_INDIRECT };
	test_vring_publish(&f->ring, head);
	return head;
}

static struct vring_used_elem used_elem(struct fixture *f, uint16_t idx)
{
	return f->vq->used->ring[idx % QSIZE];
}

/* A request's buffers in guest RAM: header, data, status. */
struct req {
	uint64_t hdr, data, status;
	uint32_t len;
};

static struct req req_make(struct fixture *f, uint32_t type, uint64_t sector, uint32_t len)
{
	struct req r = { .len = len };
	struct virtio_blk_outhdr h = { .type = htole32(type), .sector = htole64(sector) };

	r.hdr = guest_alloc(f, sizeof(h));
	r.data = len ? guest_alloc(f, len) : 0;
	r.status = guest_alloc(f, 1);
	memcpy(hva(f, r.hdr), &h, sizeof(h));
	*(uint8_t *)hva(f, r.status) = 0xee;
	return r;
}

static uint16_t req_post(struct fixture *f, const struct req *r, bool write, bool indirect)
{
	struct test_seg s[3] = {
		{ r->hdr, sizeof(struct virtio_blk_outhdr), false },
		{ r->data, r->len, !write },
		{ r->status, 1, true },
	};
	struct test_seg no_data[2] = { s[0], s[2] };

	if (!r->len)
		return test_vring_add(&f->ring, no_data, 2);
	return indirect ? ring_add_indirect(f, s, 3) : test_vring_add(&f->ring, s, 3);
}

static uint8_t req_status(struct fixture *f, const struct req *r)
{
	return *(volatile uint8_t *)hva(f, r->status);
}

static void assert_pattern(const uint8_t *b, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != pattern(off + i))
			fail_msg("byte %zu is 0x%x, disk offset %llu holds 0x%x", i, b[i],
				 (unsigned long long)(off + i), pattern(off + i));
}

/* ---- tests ---- */

static void test_queue_write_then_read(void **state)
{
	struct fixture *f = *state;
	struct req w = req_make(f, VIRTIO_BLK_T_OUT, 40, 4 * SECTOR);
	struct req r = req_make(f, VIRTIO_BLK_T_IN, 40, 4 * SECTOR);
	uint8_t back[4 * SECTOR];
	uint16_t head;
	int fd;

	for (unsigned i = 0; i < 4 * SECTOR; i++)
		((uint8_t *)hva(f, w.data))[i] = (uint8_t)(i * 11 + 7);
	head = req_post(f, &w, true, false);
	test_vring_kick(&f->ring);
	assert_vring_used(&f->ring, 1);
	assert_int_equal(used_elem(f, 0).id, head);
	assert_int_equal(used_elem(f, 0).len, 1);
	assert_int_equal(req_status(f, &w), VIRTIO_BLK_S_OK);
	assert_true(test_irqs_wait_queue_total(1, 5000));
	fd = open(f->path, O_RDONLY);
	assert_int_equal(pread(fd, back, sizeof(back), 40 * SECTOR), sizeof(back));
	close(fd);
	assert_memory_equal(back, hva(f, w.data), sizeof(back));

	head = req_post(f, &r, false, false);
	test_vring_kick(&f->ring);
	assert_vring_used(&f->ring, 2);
	assert_int_equal(used_elem(f, 1).id, head);
	assert_int_equal(used_elem(f, 1).len, 4 * SECTOR + 1);
	assert_int_equal(req_status(f, &r), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, r.data), hva(f, w.data), 4 * SECTOR);
	assert_int_equal(test_irqs_config, 0);
}

static void test_queue_indirect(void **state)
{
	struct fixture *f = *state;
	struct req r = req_make(f, VIRTIO_BLK_T_IN, 100, 8 * SECTOR);
	struct req fl = req_make(f, VIRTIO_BLK_T_FLUSH, 0, 0);

	req_post(f, &r, false, true);
	req_post(f, &fl, false, false);
	test_vring_kick(&f->ring);
	assert_vring_used(&f->ring, 2);
	assert_int_equal(req_status(f, &r), VIRTIO_BLK_S_OK);
	assert_pattern(hva(f, r.data), 100 * SECTOR, 8 * SECTOR);
	assert_int_equal(req_status(f, &fl), VIRTIO_BLK_S_OK);
}

/*
 * 50 reads through a 16-entry ring in batches of 8, direct (3 descriptors) and indirect (1)
 * in turn, so that a batch fills the descriptor table: the indices wrap.
 */
static void test_queue_wraps(void **state)
{
	struct fixture *f = *state;
	struct req r[8];
	uint16_t done = 0;

	while (done < 50) {
		unsigned n = MIN(8u, 50u - done);

		for (unsigned i = 0; i < n; i++) {
			r[i] = req_make(f, VIRTIO_BLK_T_IN, (done + i) * 3 % DISK_SECTORS, SECTOR);
			req_post(f, &r[i], false, (done + i) % 2);
		}
		test_vring_kick(&f->ring);
		assert_vring_used(&f->ring, (uint16_t)(done + n));
		for (unsigned i = 0; i < n; i++) {
			assert_int_equal(req_status(f, &r[i]), VIRTIO_BLK_S_OK);
			assert_pattern(hva(f, r[i].data), (done + i) * 3 % DISK_SECTORS * SECTOR,
				       SECTOR);
		}
		done = (uint16_t)(done + n);
	}
	assert_true(test_irqs_wait_queue_total(1, 5000));
	assert_false(virtio_needs_reset(f->vdev));
}

static void test_queue_wraps_event_idx(void **state)
{
	test_queue_wraps(state);
}

static void test_queue_io_error_status(void **state)
{
	struct fixture *f = *state;
	struct req r = req_make(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 2 * SECTOR);
	struct req u = req_make(f, 99, 0, 0);

	req_post(f, &r, false, false);
	req_post(f, &u, false, false);
	test_vring_kick(&f->ring);
	assert_vring_used(&f->ring, 2);
	assert_int_equal(req_status(f, &r), VIRTIO_BLK_S_IOERR);
	assert_int_equal(used_elem(f, 0).len, 0);
	assert_int_equal(req_status(f, &u), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(used_elem(f, 1).len, 1);
	/* errors the driver is told about are no reason to reset */
	assert_false(virtio_needs_reset(f->vdev));
	assert_int_equal(test_irqs_config, 0);
}

/* After DEVICE_NEEDS_RESET the device leaves the ring alone. */
static void assert_needs_reset_and_stopped(struct fixture *f, uint16_t used)
{
	struct req r;

	assert_true(test_wait_until(virtio_needs_reset(f->vdev), 2000));
	assert_int_equal(test_vring_used_idx(&f->ring), used);
	r = req_make(f, VIRTIO_BLK_T_IN, 0, SECTOR);
	req_post(f, &r, false, false);
	test_vring_kick(&f->ring);
	usleep(50000);
	assert_int_equal(test_vring_used_idx(&f->ring), used);
	assert_int_equal(req_status(f, &r), 0xee);
}

static void test_queue_no_status_byte_needs_reset(void **state)
{
	struct fixture *f = *state;
	struct req r = req_make(f, VIRTIO_BLK_T_IN, 0, SECTOR);
	struct test_seg s[2] = { { r.hdr, 16, false }, { r.data, SECTOR, false } };

	test_vring_add(&f->ring, s, 2);
	test_vring_kick(&f->ring);
	assert_needs_reset_and_stopped(f, 0);
}

static void test_queue_malformed_chain_needs_reset(void **state)
{
	struct fixture *f = *state;
	struct req good = req_make(f, VIRTIO_BLK_T_IN, 1, SECTOR);
	struct req bad = req_make(f, VIRTIO_BLK_T_IN, 0, SECTOR);
	uint16_t head;

	req_post(f, &good, false, false);
	/* a chain whose second descriptor points outside guest RAM */
	head = req_post(f, &bad, false, false);
	f->vq->desc[(head + 1) % QSIZE].addr = RAM_SIZE - 16;
	test_vring_kick(&f->ring);
	/* the good chain before it completed */
	assert_needs_reset_and_stopped(f, 1);
	assert_int_equal(req_status(f, &good), VIRTIO_BLK_S_OK);
	assert_int_equal(req_status(f, &bad), 0xee);
}

/*
 * One read of 254 aliased 8 MiB buffers (an indirect table): about 2 GiB from the holes of a
 * sparse disk, several seconds of the I/O thread's time here. A reset while it runs stops it
 * after the piece in hand, and the request ends IOERR; without the check between pieces the
 * reset waited for all of it and the request ended OK.
 */
static void test_queue_huge_request_does_not_hold_reset(void **state)
{
	struct fixture *f = *state;
	const uint32_t seg = 8 << 20;
	struct req r = req_make(f, VIRTIO_BLK_T_IN, DISK_SECTORS, 0);
	uint64_t buf = RAM_SIZE - seg;
	struct test_seg s[256];
	volatile uint8_t *first = hva(f, buf);
	bool started;

	assert_true(f->next_buf <= buf);
	memset(hva(f, buf), 0xaa, seg);
	s[0] = (struct test_seg){ r.hdr, sizeof(struct virtio_blk_outhdr), false };
	for (unsigned i = 1; i < 255; i++)
		s[i] = (struct test_seg){ buf, seg, true };
	s[255] = (struct test_seg){ r.status, 1, true };
	ring_add_indirect(f, s, 256);
	test_vring_kick(&f->ring);
	/* the holes read as zeroes: the transfer is under way */
	TEST_GUEST_READS_BEGIN();
	started = test_wait_until(*first == 0, 5000);
	TEST_GUEST_READS_END();
	assert_true(started);
	test_device_reset(f->vdev);
	assert_int_equal(req_status(f, &r), VIRTIO_BLK_S_IOERR);
}

/* A driver reset stops the thread; a new DRIVER_OK without F_FLUSH makes it write-through. */
static void test_queue_reset_and_reactivate(void **state)
{
	struct fixture *f = *state;
	struct req r = req_make(f, VIRTIO_BLK_T_IN, 2, SECTOR);

	assert_false(virtio_blk_get_disk(f->vdev)->writethrough);
	test_device_reset(f->vdev);
	/* a new driver sets the queue up and kicks before DRIVER_OK: nothing happens */
	test_vring_restart(&f->ring);
	f->next_buf = BUF_GPA;
	r = req_make(f, VIRTIO_BLK_T_IN, 2, SECTOR);
	req_post(f, &r, false, false);
	test_vring_kick(&f->ring);
	usleep(50000);
	assert_int_equal(test_vring_used_idx(&f->ring), 0);

	test_device_driver_ok(f->vdev, 0);
	assert_true(virtio_blk_get_disk(f->vdev)->writethrough);
	/* the kick latched in the eventfd is seen by the new thread */
	assert_vring_used(&f->ring, 1);
	assert_int_equal(req_status(f, &r), VIRTIO_BLK_S_OK);
	assert_pattern(hva(f, r.data), 2 * SECTOR, SECTOR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queue_write_then_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_wraps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_wraps_event_idx, setup_event_idx,
						teardown),
		cmocka_unit_test_setup_teardown(test_queue_io_error_status, setup_event_idx,
						teardown),
		cmocka_unit_test_setup_teardown(test_queue_no_status_byte_needs_reset, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_queue_malformed_chain_needs_reset, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_queue_reset_and_reactivate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_huge_request_does_not_hold_reset,
						setup_huge_disk, teardown),
	};

	log_level = LOG_ERR; /* the hostile chains warn by design */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
