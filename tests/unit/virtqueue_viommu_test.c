// SPDX-License-Identifier: MIT
/*
 * A virtio device behind the vIOMMU (devices/virtqueue.c's translation hook, through
 * devices/virtio_iommu.c's glue and iommu/viommu.c): rings, descriptors and indirect tables
 * are IOVAs of the device's domain. Checked with virtio-rng (the device writes) and the
 * bare walker: nothing works before the guest maps the rings; data lands at the guest-physical
 * page the IOVA maps to, never at the same number as a guest-physical address; an unmapped
 * buffer or a write to a read-only mapping is a device error with nothing written; a buffer
 * across two mappings becomes two segments (one when the host pages follow each other); an
 * UNMAP of a ring is noticed at the next pop; a device not behind the vIOMMU is unchanged.
 */
#include <endian.h>
#include <linux/virtio_ids.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/virtio_iommu.h"
#include "devices/virtio_rng.h"
#include "iommu/viommu.h"
#include "vmm/util.h"

#include "test_helpers.h"

#define RAM_SIZE (16 * SZ_1M)
#define PAGE 0x1000ULL
#define EP 0x10
#define DOM 1
#define RING_GPA 0x100000ULL	    /* where the driver's rings really are */
#define RING_IOVA 0x7ff000000000ULL /* what it tells the device */
#define QSIZE 16

struct fixture {
	uint8_t *ram;
	struct memmap *mm;
	struct virtio_device *viommu, *rng;
	struct viommu *v;
	struct viommu_endpoint *ep;
	struct test_vring ring;
	int kick_fd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct memmap_region r = { .gpa = 0, .size = RAM_SIZE, .kind = MEMMAP_RAM, .fd = -1 };
	struct virtio_rng_config rc;

	assert_non_null(f);
	f->ram = aligned_alloc(PAGE, RAM_SIZE);
	assert_non_null(f->ram);
	memset(f->ram, 0, RAM_SIZE);
	r.hva = f->ram;
	assert_int_equal(memmap_create(&f->mm), 0);
	assert_int_equal(memmap_add_region(f->mm, &r), 0);
	assert_int_equal(test_log_capture_start(), 0);
	assert_int_equal(virtio_iommu_create(f->mm, &f->viommu), 0);
	f->v = virtio_iommu_model(f->viommu);
	assert_int_equal(virtio_rng_parse("", &rc), 0);
	assert_int_equal(virtio_rng_create(&rc, f->mm, &f->rng), 0);
	f->rng->transport = &test_transport;
	assert_int_equal(virtio_iommu_add_virtio(f->viommu, f->rng, EP, &f->ep), 0);
	assert_non_null(f->rng->dma);
	assert_ptr_equal(f->rng->vqs[0].dma, f->rng->dma);
	assert_int_equal(viommu_attach(f->v, DOM, EP, false), 0);
	f->kick_fd = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_rng_destroy(f->rng); /* stops its thread first */
	virtio_iommu_remove_virtio(f->viommu, f->ep);
	virtio_iommu_destroy(f->viommu);
	if (f->kick_fd >= 0)
		close(f->kick_fd);
	memmap_destroy(f->mm);
	test_log_capture_stop();
	free(f->ram);
	free(f);
	return 0;
}

static void map(struct fixture *f, uint64_t iova, uint64_t gpa, uint64_t size, bool write)
{
	assert_int_equal(viommu_map(f->v, DOM, iova, iova + size - 1, gpa, true, write), 0);
}

/* The rings at RING_IOVA (really at RING_GPA), started and the device activated. */
static void start_rng(struct fixture *f)
{
	struct virtqueue *vq = &f->rng->vqs[0];

	map(f, RING_IOVA, RING_GPA, PAGE, true);
	vq->size = QSIZE;
	vq->desc_gpa = RING_IOVA;
	vq->avail_gpa = RING_IOVA + 0x100;
	vq->used_gpa = RING_IOVA + 0x200;
	vq->enabled = true;
	vq->kick_fd = f->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(f->kick_fd >= 0);
	assert_int_equal(virtqueue_start(vq, f->mm), 0);
	/* the driver's view: the same rings at their guest-physical address */
	f->ring = (struct test_vring){ .vq = vq,
				       .desc = (void *)(f->ram + RING_GPA),
				       .avail = (void *)(f->ram + RING_GPA + 0x100),
				       .used = (void *)(f->ram + RING_GPA + 0x200),
				       .size = QSIZE };
	f->rng->features_acked = 0;
	test_device_driver_ok(f->rng, 1ULL << VIRTIO_F_ACCESS_PLATFORM);
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void test_rings_must_be_mapped(void **state)
{
	struct fixture *f = *state;
	struct virtqueue *vq = &f->rng->vqs[0];

	vq->size = QSIZE;
	vq->desc_gpa = RING_IOVA;
	vq->avail_gpa = RING_IOVA + 0x100;
	vq->used_gpa = RING_IOVA + 0x200;
	/* the same numbers are guest RAM, but not mapped in the domain */
	vq->desc_gpa = RING_GPA;
	vq->avail_gpa = RING_GPA + 0x100;
	vq->used_gpa = RING_GPA + 0x200;
	assert_int_equal(virtqueue_start(vq, f->mm), -EINVAL);
	assert_log_contains("not mapped in its IOMMU domain");
	/* a used ring the device may only read */
	assert_int_equal(
	    viommu_map(f->v, DOM, RING_IOVA, RING_IOVA + PAGE - 1, RING_GPA, true, false), 0);
	vq->desc_gpa = RING_IOVA;
	vq->avail_gpa = RING_IOVA + 0x100;
	vq->used_gpa = RING_IOVA + 0x200;
	assert_int_equal(virtqueue_start(vq, f->mm), -EINVAL);
	assert_int_equal(viommu_unmap(f->v, DOM, RING_IOVA, RING_IOVA + PAGE - 1), 0);
	map(f, RING_IOVA, RING_GPA, PAGE, true);
	assert_int_equal(virtqueue_start(vq, f->mm), 0);
	assert_ptr_equal(vq->desc, f->ram + RING_GPA);
}

static void test_data_goes_where_the_iova_maps(void **state)
{
	struct fixture *f = *state;
	struct test_seg s = { 0x40000000ULL, 256, true }; /* an IOVA beyond guest RAM */

	start_rng(f);
	map(f, 0x40000000ULL, 0x300000, PAGE, true);
	memset(f->ram + 0x300000, 0xab, 256);
	test_vring_add_kick(&f->ring, &s, 1);
	assert_vring_used(&f->ring, 1);
	assert_int_equal(f->ring.used->ring[0].len, 256);
	assert_false(all(f->ram + 0x300000, 256, 0xab)); /* random bytes arrived */
	assert_false(virtio_needs_reset(f->rng));
}

static void test_unmapped_or_read_only_is_a_device_error(void **state)
{
	struct fixture *f = *state;
	/* 0x300000 is guest RAM, but the guest never mapped IOVA 0x300000 */
	struct test_seg unmapped = { 0x300000, 64, true };
	struct test_seg ro = { 0x500000, 64, true };

	start_rng(f);
	memset(f->ram + 0x300000, 0x5a, 64);
	test_vring_add_kick(&f->ring, &unmapped, 1);
	for (int i = 0; i < 200 && !virtio_needs_reset(f->rng); i++)
		usleep(5000);
	assert_true(virtio_needs_reset(f->rng));
	assert_int_equal(test_vring_used_idx(&f->ring), 0);
	assert_true(all(f->ram + 0x300000, 64, 0x5a));

	/* after a reset: a read-only mapping for a buffer the device writes */
	test_device_reset(f->rng);
	close(f->kick_fd);
	f->kick_fd = -1;
	assert_int_equal(viommu_unmap(f->v, DOM, RING_IOVA, RING_IOVA + PAGE - 1), 0);
	memset(f->ram + RING_GPA, 0, PAGE);
	start_rng(f);
	assert_int_equal(viommu_map(f->v, DOM, 0x500000, 0x500fff, 0x600000, true, false), 0);
	memset(f->ram + 0x600000, 0x77, 64);
	test_vring_add_kick(&f->ring, &ro, 1);
	for (int i = 0; i < 200 && !virtio_needs_reset(f->rng); i++)
		usleep(5000);
	assert_true(virtio_needs_reset(f->rng));
	assert_true(all(f->ram + 0x600000, 64, 0x77));
}

/* The walker alone, on a queue that translates through the rng's endpoint. */
static void walker_start(struct fixture *f, struct virtqueue *vq)
{
	memset(vq, 0, sizeof(*vq));
	vq->kick_fd = -1;
	vq->dma = f->rng->dma;
	virtqueue_reset(vq, 0, QSIZE);
	map(f, RING_IOVA, RING_GPA, PAGE, true);
	vq->desc_gpa = RING_IOVA;
	vq->avail_gpa = RING_IOVA + 0x100;
	vq->used_gpa = RING_IOVA + 0x200;
	vq->enabled = true;
	assert_int_equal(virtqueue_start(vq, f->mm), 0);
	f->ring = (struct test_vring){ .vq = vq,
				       .desc = (void *)(f->ram + RING_GPA),
				       .avail = (void *)(f->ram + RING_GPA + 0x100),
				       .used = (void *)(f->ram + RING_GPA + 0x200),
				       .size = QSIZE };
}

static void test_buffer_across_mappings(void **state)
{
	struct fixture *f = *state;
	static struct virtqueue_elem elem;
	struct virtqueue vq;
	/* 6 KiB from the middle of one page into the next, then a third piece */
	struct test_seg s = { 0x20000800, 0x2000, false };

	walker_start(f, &vq);
	map(f, 0x20000000, 0x700000, PAGE, false); /* host pages apart */
	map(f, 0x20001000, 0x900000, PAGE, false); /* ... */
	map(f, 0x20002000, 0x901000, PAGE, false); /* ... and this one follows */
	test_vring_add(&f->ring, &s, 1);
	assert_int_equal(virtqueue_pop(&vq, &elem), 1);
	assert_int_equal(elem.n_out, 2);
	assert_ptr_equal(elem.out[0].iov_base, f->ram + 0x700800);
	assert_int_equal(elem.out[0].iov_len, 0x800);
	/* the last two mappings are host-contiguous: one segment */
	assert_ptr_equal(elem.out[1].iov_base, f->ram + 0x900000);
	assert_int_equal(elem.out[1].iov_len, 0x1800);
	assert_int_equal(elem.out_len, 0x2000);
	virtqueue_push(&vq, &elem, 0);
	/* one byte past the last mapping: refused */
	s.gpa = 0x20001800;
	s.len = 0x1801;
	test_vring_add(&f->ring, &s, 1);
	assert_int_equal(virtqueue_pop(&vq, &elem), -EINVAL);
}

/*
 * A guest that maps many pages one by one, IOVA- and host-contiguous, then hands the device
 * buffers across all of them: merging adjacent mappings into one host piece costs one lookup
 * per mapping, so one translation must stop after VIOMMU_PIECE_MAX_MAPPINGS of them (it
 * walked the whole domain: with 65536 mappings and a chain of 256 such buffers, 16 million
 * lookups per chain and minutes per wake-up of the I/O thread, while a reset waited). The
 * buffer is then several segments, each at the right place.
 */
static void test_piece_spans_bounded_mappings(void **state)
{
	struct fixture *f = *state;
	static struct virtqueue_elem elem;
	const uint64_t iova = 0x40000000, gpa = 0x400000, pages = 1024;
	const uint64_t piece = VIOMMU_PIECE_MAX_MAPPINGS * PAGE;
	struct test_seg s = { iova, (uint32_t)(pages * PAGE), false };
	struct virtqueue vq;
	uint64_t len = pages * PAGE;

	walker_start(f, &vq);
	for (uint64_t i = 0; i < pages; i++)
		map(f, iova + i * PAGE, gpa + i * PAGE, PAGE, false);
	assert_ptr_equal(f->rng->dma->map(f->rng->dma, iova, &len, false), f->ram + gpa);
	assert_int_equal(len, piece);
	test_vring_add(&f->ring, &s, 1);
	assert_int_equal(virtqueue_pop(&vq, &elem), 1);
	assert_int_equal(elem.n_out, pages * PAGE / piece);
	for (unsigned i = 0; i < elem.n_out; i++) {
		assert_ptr_equal(elem.out[i].iov_base, f->ram + gpa + i * piece);
		assert_int_equal(elem.out[i].iov_len, piece);
	}
	assert_int_equal(elem.out_len, pages * PAGE);
}

static void test_ring_unmapped_under_the_device(void **state)
{
	struct fixture *f = *state;
	static struct virtqueue_elem elem;
	struct virtqueue vq;
	struct test_seg s = { 0x20000000, 16, false };

	walker_start(f, &vq);
	map(f, 0x20000000, 0x700000, PAGE, false);
	test_vring_add(&f->ring, &s, 1);
	assert_int_equal(virtqueue_pop(&vq, &elem), 1);
	virtqueue_push(&vq, &elem, 0);
	/* the driver unmaps the rings: the next look at them fails */
	assert_int_equal(viommu_unmap(f->v, DOM, RING_IOVA, RING_IOVA + PAGE - 1), 0);
	test_vring_add(&f->ring, &s, 1);
	assert_true(virtqueue_has_work(&vq));
	assert_int_equal(virtqueue_pop(&vq, &elem), -EINVAL);
	/* mapped again (elsewhere on the host side is fine too): the queue goes on */
	map(f, RING_IOVA, RING_GPA, PAGE, true);
	assert_int_equal(virtqueue_pop(&vq, &elem), 1);
	/* a detach takes everything away */
	assert_int_equal(viommu_detach(f->v, DOM, EP), 0);
	test_vring_add(&f->ring, &s, 1);
	assert_int_equal(virtqueue_pop(&vq, &elem), -EINVAL);
}

/* Behind the vIOMMU the device offers ACCESS_PLATFORM and refuses a driver without it. */
static void test_access_platform_required(void **state)
{
	struct fixture *f = *state;
	uint64_t f1 = 1ULL << VIRTIO_F_VERSION_1;

	assert_true(virtio_device_features(f->rng) & (1ULL << VIRTIO_F_ACCESS_PLATFORM));
	virtio_driver_features_ok(f->rng, f1);
	assert_false(virtio_device_status(f->rng) & VIRTIO_CONFIG_S_FEATURES_OK);
	test_device_reset(f->rng);
	f->rng->features_acked = 0;
	test_device_features_ok(f->rng, 1ULL << VIRTIO_F_ACCESS_PLATFORM);
	test_device_reset(f->rng);
}

static void test_without_the_viommu_nothing_changes(void **state)
{
	struct fixture *f = *state;
	static struct virtqueue_elem elem;
	struct virtqueue vq;
	struct test_seg s = { 0x300000, 0x2000, false };

	memset(&vq, 0, sizeof(vq));
	virtqueue_reset(&vq, 0, QSIZE);
	test_vring_start(&f->ring, &vq, f->mm, QSIZE, RING_GPA, RING_GPA + 0x100, RING_GPA + 0x200);
	test_vring_add(&f->ring, &s, 1);
	assert_int_equal(virtqueue_pop(&vq, &elem), 1);
	assert_int_equal(elem.n_out, 1);
	assert_ptr_equal(elem.out[0].iov_base, f->ram + 0x300000);
	close(vq.kick_fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rings_must_be_mapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_goes_where_the_iova_maps, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unmapped_or_read_only_is_a_device_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_buffer_across_mappings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_piece_spans_bounded_mappings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_unmapped_under_the_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_access_platform_required, setup, teardown),
		cmocka_unit_test_setup_teardown(test_without_the_viommu_nothing_changes, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
