// SPDX-License-Identifier: MIT
/*
 * devices/virtio.c's request loop and a reset: a device whose requests are slow (a vIOMMU MAP
 * that pins guest RAM for a passthrough container, a blk request on a slow disk) keeps the
 * reset waiting only for the request in hand, not for the rest of the ring. The reset (a
 * vCPU writing status 0, or ptvm's exit) asks the I/O thread to stop; the loop looks at that
 * before each chain.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio.h"
#include "vmm/util.h"

#include "test_helpers.h"

#define RAM_SIZE (1 * SZ_1M)
#define QSIZE 16
#define RING_GPA 0x1000ULL
#define BUF_GPA 0x10000ULL

struct slow_dev {
	struct virtio_device vdev;
	struct virtqueue_elem elem;
	_Atomic unsigned chains;  /* chains the device took */
	_Atomic bool saw_stop;	  /* the first chain saw the stop request */
	_Atomic bool first_taken; /* the first chain is in hand */
};

static struct slow_dev dev;

static uint64_t slow_get_features(struct virtio_device *vdev)
{
	return 0;
}

/* The first chain is slow: it holds on until the I/O thread is asked to stop (2 s at most). */
static enum virtio_chain_result slow_chain(struct virtio_device *vdev, struct virtqueue *vq,
					   struct virtqueue_elem *elem, uint32_t *written)
{
	if (atomic_fetch_add(&dev.chains, 1) == 0) {
		uint64_t end = test_now_ms() + 2000;

		atomic_store(&dev.first_taken, true);
		while (!virtio_device_stopping(vdev) && test_now_ms() < end)
			usleep(1000);
		atomic_store(&dev.saw_stop, virtio_device_stopping(vdev));
	}
	*written = 0;
	return VIRTIO_CHAIN_DONE;
}

static void slow_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
	virtio_queue_process(vdev, vq, &dev.elem, slow_chain);
}

static const struct virtio_device_ops slow_ops = {
	.get_features = slow_get_features,
	.queue_notify = slow_queue_notify,
};

static void *reset_main(void *arg)
{
	test_device_reset(arg);
	return NULL;
}

static void test_reset_waits_for_one_chain_only(void **state)
{
	uint8_t *ram = aligned_alloc(4096, RAM_SIZE);
	struct memmap_region r = { .gpa = 0, .size = RAM_SIZE, .kind = MEMMAP_RAM, .fd = -1 };
	struct test_seg s = { BUF_GPA, 16, false };
	struct memmap *mm;
	struct test_vring ring;
	pthread_t t;

	assert_non_null(ram);
	memset(ram, 0, RAM_SIZE);
	r.hva = ram;
	assert_int_equal(memmap_create(&mm), 0);
	assert_int_equal(memmap_add_region(mm, &r), 0);
	memset(&dev, 0, sizeof(dev));
	assert_int_equal(virtio_device_init(&dev.vdev, VIRTIO_ID_RNG, "slow", 1, QSIZE, &slow_ops),
			 0);
	dev.vdev.mm = mm;
	dev.vdev.transport = &test_transport;
	test_vring_start(&ring, &dev.vdev.vqs[0], mm, QSIZE, RING_GPA, RING_GPA + 0x100,
			 RING_GPA + 0x200);
	test_device_driver_ok(&dev.vdev, 0);
	assert_false(virtio_device_stopping(&dev.vdev));
	/* a full ring, one kick: the device is in the first chain with 15 more waiting */
	for (unsigned i = 0; i < QSIZE; i++)
		test_vring_add(&ring, &s, 1);
	test_vring_kick(&ring);
	while (!atomic_load(&dev.first_taken))
		usleep(1000);
	assert_int_equal(pthread_create(&t, NULL, reset_main, &dev.vdev), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(atomic_load(&dev.saw_stop));
	assert_int_equal(atomic_load(&dev.chains), 1);
	assert_false(virtio_device_stopping(&dev.vdev));
	close(dev.vdev.vqs[0].kick_fd);
	dev.vdev.vqs[0].kick_fd = -1;
	virtio_device_exit(&dev.vdev);
	memmap_destroy(mm);
	free(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reset_waits_for_one_chain_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
