// SPDX-License-Identifier: MIT
/*
 * devices/virtqueue.c against the rings a hostile guest writes: every malformed ring or chain
 * the walker refuses (descriptor loops, zero and 4 GiB lengths, buffers outside RAM, indirect
 * tables nested, chained, huge or outside RAM, heads past the ring, the avail index racing
 * ahead, readable after writable, too many segments, bad ring addresses) is -EINVAL with a
 * warning naming it. A device that meets one stops using the queue, but a guest resetting and
 * restarting it meets the same refusal again and again: the warnings go through the owning
 * device's rate limiter (kept across queue resets), so 1000 refusals in a row stay within one
 * burst of it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/virtqueue.h"
#include "vmm/log.h"
#include "vmm/memmap.h"
#include "vmm/util.h"

#include "test_helpers.h"

#define RAM_SIZE (SZ_1M)
#define DESC_GPA 0x1000ULL
#define AVAIL_GPA 0x6000ULL
#define USED_GPA 0x8000ULL
#define BUF_GPA 0x20000ULL
#define TABLE_GPA 0x30000ULL
#define QSIZE 16
#define REPEAT 1000

struct fixture {
	uint8_t *ram;
	struct memmap *mm;
	struct log_ratelimit rl; /* the owning device's limiter */
	struct virtqueue vq;
	struct test_vring r;
	struct virtqueue_elem elem;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct memmap_region reg = { .kind = MEMMAP_RAM, .size = RAM_SIZE, .fd = -1 };

	assert_non_null(f);
	f->ram = calloc(1, RAM_SIZE);
	assert_non_null(f->ram);
	reg.hva = f->ram;
	assert_int_equal(memmap_create(&f->mm), 0);
	assert_int_equal(memmap_add_region(f->mm, &reg), 0);
	f->vq.kick_fd = -1;
	f->vq.owner = "test-device";
	f->vq.rl = &f->rl;
	virtqueue_reset(&f->vq, 0, VIRTQUEUE_MAX_SIZE);
	f->vq.indirect = true;
	test_vring_start(&f->r, &f->vq, f->mm, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_int_equal(test_log_capture_start(), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	test_log_capture_stop();
	close(f->vq.kick_fd);
	memmap_destroy(f->mm);
	free(f->ram);
	free(f);
	return 0;
}

/*
 * The chain at the ring's next avail slot is refused REPEAT times over (a guest that resets
 * and restarts the queue each time): -EINVAL, a warning containing @what, a bounded log.
 */
static void assert_refused_bounded(struct fixture *f, const char *what)
{
	f->rl = (struct log_ratelimit){ 0 }; /* a kind of its own */
	test_log_forget();
	for (unsigned i = 0; i < REPEAT; i++)
		assert_int_equal(virtqueue_pop(&f->vq, &f->elem), -EINVAL);
	assert_log_contains(what);
	assert_log_bounded(1);
}

/* Publishes head @head with descriptor @d in its slot (one chain). */
static void publish_desc(struct fixture *f, uint16_t head, struct vring_desc d)
{
	f->r.desc[head] = d;
	test_vring_publish(&f->r, head);
}

static void test_descriptor_loop(void **state)
{
	struct fixture *f = *state;

	f->r.desc[1] = (struct vring_desc){ BUF_GPA, 16, VRING_DESC_F_NEXT, 2 };
	publish_desc(f, 2, (struct vring_desc){ BUF_GPA, 16, VRING_DESC_F_NEXT, 1 });
	assert_refused_bounded(f, "a loop");
}

static void test_next_out_of_ring(void **state)
{
	struct fixture *f = *state;

	publish_desc(f, 0, (struct vring_desc){ BUF_GPA, 16, VRING_DESC_F_NEXT, QSIZE + 5 });
	assert_refused_bounded(f, "out of range");
}

static void test_length_4g(void **state)
{
	struct fixture *f = *state;

	publish_desc(f, 0, (struct vring_desc){ BUF_GPA, 0xffffffff, 0, 0 });
	assert_refused_bounded(f, "outside guest RAM");
}

/* A zero-length buffer inside RAM is a buffer of no bytes; outside RAM it is refused. */
static void test_length_zero(void **state)
{
	struct fixture *f = *state;

	publish_desc(f, 0, (struct vring_desc){ BUF_GPA, 0, VRING_DESC_F_WRITE, 0 });
	assert_int_equal(virtqueue_pop(&f->vq, &f->elem), 1);
	assert_int_equal(f->elem.in_len, 0);
	publish_desc(f, 1, (struct vring_desc){ RAM_SIZE + 0x1000, 0, 0, 0 });
	assert_refused_bounded(f, "outside guest RAM");
}

static void test_buffer_outside_ram(void **state)
{
	struct fixture *f = *state;

	publish_desc(f, 0, (struct vring_desc){ RAM_SIZE - 8, 16, 0, 0 });
	assert_refused_bounded(f, "outside guest RAM");
}

static void test_readable_after_writable(void **state)
{
	struct fixture *f = *state;

	f->r.desc[0] =
	    (struct vring_desc){ BUF_GPA, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1 };
	publish_desc(f, 0, f->r.desc[0]);
	f->r.desc[1] = (struct vring_desc){ BUF_GPA, 16, 0, 0 };
	assert_refused_bounded(f, "readable segment after a writable");
}

static void test_head_past_ring(void **state)
{
	struct fixture *f = *state;

	test_vring_publish(&f->r, QSIZE + 3);
	assert_refused_bounded(f, "out of a");
}

static void test_avail_idx_races_ahead(void **state)
{
	struct fixture *f = *state;

	__atomic_store_n(&f->r.avail->idx, QSIZE + 1, __ATOMIC_RELEASE);
	assert_refused_bounded(f, "runs");
}

static void test_indirect_nested(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *t = (struct vring_desc *)(f->ram + TABLE_GPA);

	t[0] = (struct vring_desc){ TABLE_GPA + 0x100, 16, VRING_DESC_F_INDIRECT, 0 };
	publish_desc(f, 0, (struct vring_desc){ TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0 });
	assert_refused_bounded(f, "nested");
}

static void test_indirect_chained(void **state)
{
	struct fixture *f = *state;

	f->r.desc[1] = (struct vring_desc){ BUF_GPA, 16, 0, 0 };
	publish_desc(
	    f, 0,
	    (struct vring_desc){ TABLE_GPA, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1 });
	assert_refused_bounded(f, "chained");
}

static void test_indirect_huge(void **state)
{
	struct fixture *f = *state;

	/* more than VIRTQUEUE_MAX_SEGS entries, then 4 GiB, then a length of no whole entries */
	publish_desc(f, 0,
		     (struct vring_desc){ TABLE_GPA, 16 * (VIRTQUEUE_MAX_SEGS + 1),
					  VRING_DESC_F_INDIRECT, 0 });
	assert_refused_bounded(f, "bad indirect table");
	f->r.desc[0].len = 0xfffffff0;
	assert_refused_bounded(f, "bad indirect table");
	f->r.desc[0].len = 24;
	assert_refused_bounded(f, "bad indirect table");
}

static void test_indirect_loop(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *t = (struct vring_desc *)(f->ram + TABLE_GPA);

	t[0] = (struct vring_desc){ BUF_GPA, 16, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUF_GPA, 16, VRING_DESC_F_NEXT, 0 };
	publish_desc(f, 0, (struct vring_desc){ TABLE_GPA, 32, VRING_DESC_F_INDIRECT, 0 });
	assert_refused_bounded(f, "loops");
}

static void test_indirect_outside_ram(void **state)
{
	struct fixture *f = *state;

	publish_desc(f, 0, (struct vring_desc){ RAM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0 });
	assert_refused_bounded(f, "outside guest RAM");
}

/* More segments than a request may have: a direct chain of 300 in a 512-entry ring. */
static void test_too_many_segments(void **state)
{
	struct fixture *f = *state;
	struct virtqueue vq = { .kick_fd = -1, .owner = "test-device", .rl = &f->rl };
	struct test_vring r;
	struct virtqueue_elem *elem = malloc(sizeof(*elem));

	assert_non_null(elem);
	virtqueue_reset(&vq, 1, VIRTQUEUE_MAX_SIZE);
	test_vring_start(&r, &vq, f->mm, 512, 0x40000, 0x42000, 0x44000);
	for (unsigned i = 0; i < 300; i++)
		r.desc[i] = (struct vring_desc){ BUF_GPA, 16, i < 299 ? VRING_DESC_F_NEXT : 0,
						 (uint16_t)(i + 1) };
	test_vring_publish(&r, 0);
	test_log_forget();
	for (unsigned i = 0; i < REPEAT; i++)
		assert_int_equal(virtqueue_pop(&vq, elem), -EINVAL);
	assert_log_contains("segments");
	assert_log_bounded(1);
	close(vq.kick_fd);
	free(elem);
}

/* Ring addresses the driver got wrong: refused at DRIVER_OK, each time. */
static void test_bad_ring_addresses(void **state)
{
	struct fixture *f = *state;
	struct virtqueue vq = { .kick_fd = -1, .owner = "test-device", .rl = &f->rl };
	const struct {
		uint16_t size;
		uint64_t desc, avail, used;
		const char *what;
	} bad[] = {
		{ 3, DESC_GPA, AVAIL_GPA, USED_GPA, "power of two" },
		{ QSIZE, DESC_GPA + 8, AVAIL_GPA, USED_GPA, "misaligned" },
		{ QSIZE, DESC_GPA, AVAIL_GPA, RAM_SIZE - 8, "outside guest RAM" },
		{ QSIZE, 0xfffffffffffff000ULL, AVAIL_GPA, USED_GPA, "outside guest RAM" },
	};

	for (unsigned k = 0; k < ARRAY_SIZE(bad); k++) {
		f->rl = (struct log_ratelimit){ 0 };
		test_log_forget();
		for (unsigned i = 0; i < REPEAT; i++) {
			virtqueue_reset(&vq, 2, VIRTQUEUE_MAX_SIZE);
			vq.size = bad[k].size;
			vq.desc_gpa = bad[k].desc;
			vq.avail_gpa = bad[k].avail;
			vq.used_gpa = bad[k].used;
			vq.enabled = true;
			assert_int_equal(virtqueue_start(&vq, f->mm), -EINVAL);
		}
		assert_log_contains(bad[k].what);
		assert_log_bounded(1);
	}
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_descriptor_loop),
		T(test_next_out_of_ring),
		T(test_length_4g),
		T(test_length_zero),
		T(test_buffer_outside_ram),
		T(test_readable_after_writable),
		T(test_head_past_ring),
		T(test_avail_idx_races_ahead),
		T(test_indirect_nested),
		T(test_indirect_chained),
		T(test_indirect_huge),
		T(test_indirect_loop),
		T(test_indirect_outside_ram),
		T(test_too_many_segments),
		T(test_bad_ring_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
