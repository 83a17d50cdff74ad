// SPDX-License-Identifier: MIT
/*
 * iommu/dma_listener.c against a fake VFIO backend that records every map and unmap: map on
 * add, unmap on delete, replay on late registration, MMIO skipped, ROM read-only, DEVICE_RAM
 * only with p2p (and its failure not fatal), usable IOVA ranges and reserved regions (refused
 * naming both ranges, nothing left mapped), the DMA-entry limit, and the RLIMIT_MEMLOCK
 * message when pinning fails. No VFIO or KVM needed: host addresses are never touched.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "iommu/dma_listener.h"
#include "vmm/log.h"

#include "test_helpers.h"

#define MAX_CALLS 64
#define FAKE_HVA(gpa) ((void *)(0x7f0000000000ULL + (gpa)))

#include "fake_dma_backend.h"

struct fixture {
	struct memmap *mm;
	struct vfio_container c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(memmap_create(&f->mm), 0);
	f->c = (struct vfio_container){ .fd = -1, .pgsize_bitmap = 0x40201000, .index = 3 };
	assert_int_equal(test_log_capture_start(), 0);
	log_level = LOG_INFO;
	nr_calls = 0;
	fail_iova = UINT64_MAX;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	memmap_destroy(f->mm);
	test_log_capture_stop();
	free(f);
	return 0;
}

static int add(struct fixture *f, const char *name, enum memmap_kind kind, uint64_t gpa,
	       uint64_t size)
{
	struct memmap_region r = { .gpa = gpa, .size = size, .kind = kind, .fd = -1 };

	if (kind != MEMMAP_MMIO)
		r.hva = FAKE_HVA(gpa);
	snprintf(r.name, sizeof(r.name), "%s", name);
	return memmap_add_region(f->mm, &r);
}

static void expect_call(unsigned i, char op, uint64_t iova, uint64_t size, bool writable)
{
	assert_true(i < nr_calls);
	assert_int_equal(calls[i].op, op);
	assert_int_equal(calls[i].iova, iova);
	assert_int_equal(calls[i].size, size);
	if (op == 'm') {
		assert_ptr_equal(calls[i].vaddr, FAKE_HVA(iova));
		assert_int_equal(calls[i].writable, writable);
	}
}

static void test_map_on_add_unmap_on_del(void **state)
{
	struct fixture *f = *state;
	struct dma_listener *l;
	const struct dma_listener_stats *s;

	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), 0);
	assert_ptr_equal(f->c.listener, l);
	assert_ptr_equal(dma_listener_container(l), &f->c);
	assert_int_equal(nr_calls, 0);

	assert_int_equal(add(f, "ram-low", MEMMAP_RAM, 0, 0x20000000), 0);
	assert_int_equal(nr_calls, 1);
	expect_call(0, 'm', 0, 0x20000000, true);
	assert_log_contains(
	    "container3: mapped ram-low iova 0x0 size 0x20000000 hva 0x7f0000000000");

	s = dma_listener_stats(l);
	assert_int_equal(s->nr_maps, 1);
	assert_int_equal(s->nr_mappings, 1);
	assert_int_equal(s->bytes_mapped, 0x20000000);
	assert_true(s->map_seconds >= 0);

	assert_int_equal(memmap_del_region(f->mm, 0), 0);
	assert_int_equal(nr_calls, 2);
	expect_call(1, 'u', 0, 0x20000000, false);
	assert_int_equal(s->nr_unmaps, 1);
	assert_int_equal(s->nr_mappings, 0);
	assert_int_equal(s->bytes_in_place, 0);

	dma_listener_destroy(l);
	assert_null(f->c.listener);
	assert_int_equal(nr_calls, 2); /* nothing left to unmap */
}

static void test_late_registration_replays(void **state)
{
	struct fixture *f = *state;
	struct dma_listener *l;

	assert_int_equal(add(f, "ram-low", MEMMAP_RAM, 0, 0xc0000000), 0);
	assert_int_equal(add(f, "bios", MEMMAP_ROM, 0xfff00000, 0x100000), 0);
	assert_int_equal(add(f, "uart", MEMMAP_MMIO, 0xd0000000, 0x1000), 0);
	assert_int_equal(add(f, "ram-high", MEMMAP_RAM, 0x100000000, 0x40000000), 0);

	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), 0);
	/* every RAM region in map order; MMIO skipped; ROM read-only */
	assert_int_equal(nr_calls, 3);
	expect_call(0, 'm', 0, 0xc0000000, true);
	expect_call(1, 'm', 0xfff00000, 0x100000, false);
	expect_call(2, 'm', 0x100000000, 0x40000000, true);
	assert_log_contains(
	    "mapped bios iova 0xfff00000 size 0x100000 hva 0x7f00fff00000 read-only");

	/* RAM added later is mapped too */
	assert_int_equal(add(f, "hotplug", MEMMAP_RAM, 0x200000000, 0x8000000), 0);
	expect_call(3, 'm', 0x200000000, 0x8000000, true);

	/* unregistering unmaps everything, last region first */
	dma_listener_destroy(l);
	assert_int_equal(nr_calls, 8);
	expect_call(4, 'u', 0x200000000, 0x8000000, false);
	expect_call(5, 'u', 0x100000000, 0x40000000, false);
	expect_call(6, 'u', 0xfff00000, 0x100000, false);
	expect_call(7, 'u', 0, 0xc0000000, false);
}

static void test_device_ram_only_with_p2p(void **state)
{
	struct fixture *f = *state;
	struct dma_listener *l;

	assert_int_equal(add(f, "bar0", MEMMAP_DEVICE_RAM, 0xc0000000, 0x100000), 0);
	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), 0);
	assert_int_equal(nr_calls, 0);
	dma_listener_destroy(l);
	assert_int_equal(nr_calls, 0);

	assert_int_equal(dma_listener_create(f->mm, &f->c, true, &fake_ops, &l), 0);
	assert_int_equal(nr_calls, 1);
	expect_call(0, 'm', 0xc0000000, 0x100000, true);

	/* a refused p2p mapping is a warning: the BAR still goes into the map */
	fail_iova = 0xc0100000;
	fail_ret = -EINVAL;
	assert_int_equal(add(f, "bar2", MEMMAP_DEVICE_RAM, 0xc0100000, 0x4000), 0);
	assert_log_contains("warn: container3: VFIO_IOMMU_MAP_DMA of BAR bar2 for peer-to-peer "
			    "failed: Invalid argument");
	assert_int_equal(nr_calls, 1);
	/* ... and is not unmapped when it goes */
	assert_int_equal(memmap_del_region(f->mm, 0xc0100000), 0);
	assert_int_equal(nr_calls, 1);
	/* a p2p BAR colliding with a reserved range is skipped with a warning too */
	f->c.reserved[f->c.nr_reserved++] =
	    (struct vfio_reserved_range){ 0xfee00000, 0xfeefffff, "msi, IOMMU group 5" };
	assert_int_equal(add(f, "bar4", MEMMAP_DEVICE_RAM, 0xfee00000, 0x1000), 0);
	assert_log_contains("not mapping BAR bar4 [0xfee00000-0xfee00fff] for peer-to-peer");
	assert_int_equal(nr_calls, 1);
	dma_listener_destroy(l);
	assert_int_equal(nr_calls, 2);
	expect_call(1, 'u', 0xc0000000, 0x100000, false);
}

/*
 * p2p BARs are placed by the guest: one that moves over and over onto a reserved IOVA range,
 * or where the map call fails, makes bounded warnings (and info lines), however often it
 * moves.
 */
static void test_p2p_bar_moves_bounded_log(void **state)
{
	struct fixture *f = *state;
	struct dma_listener *l;

	f->c.reserved[f->c.nr_reserved++] =
	    (struct vfio_reserved_range){ 0xfee00000, 0xfeefffff, "msi, IOMMU group 5" };
	assert_int_equal(dma_listener_create(f->mm, &f->c, true, &fake_ops, &l), 0);
	test_log_forget();
	for (unsigned i = 0; i < 1000; i++) {
		/* onto the MSI window, then where the map call fails, then where it works */
		assert_int_equal(add(f, "bar", MEMMAP_DEVICE_RAM, 0xfee00000, 0x1000), 0);
		assert_int_equal(memmap_del_region(f->mm, 0xfee00000), 0);
		fail_iova = 0xc0000000;
		fail_ret = -EINVAL;
		assert_int_equal(add(f, "bar", MEMMAP_DEVICE_RAM, 0xc0000000, 0x1000), 0);
		assert_int_equal(memmap_del_region(f->mm, 0xc0000000), 0);
		fail_iova = UINT64_MAX;
		assert_int_equal(add(f, "bar", MEMMAP_DEVICE_RAM, 0xd0000000, 0x1000), 0);
		assert_int_equal(memmap_del_region(f->mm, 0xd0000000), 0);
		nr_calls = 0;
	}
	assert_log_contains("not mapping BAR bar [0xfee00000-0xfee00fff] for peer-to-peer");
	assert_log_contains("VFIO_IOMMU_MAP_DMA of BAR bar for peer-to-peer failed");
	assert_log_bounded(1);
	dma_listener_destroy(l);
}

/* A device with p2p=on joining a container made without it: BARs in the map already are
 * mapped at once, later ones as they come, RAM is not mapped twice. */
static void test_p2p_enabled_later(void **state)
{
	struct fixture *f = *state;
	struct dma_listener *l;

	assert_int_equal(add(f, "ram-low", MEMMAP_RAM, 0, 0x20000000), 0);
	assert_int_equal(add(f, "bar0", MEMMAP_DEVICE_RAM, 0xc0000000, 0x4000), 0);
	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), 0);
	assert_int_equal(nr_calls, 1);
	expect_call(0, 'm', 0, 0x20000000, true);

	dma_listener_enable_p2p(l);
	assert_int_equal(nr_calls, 2);
	expect_call(1, 'm', 0xc0000000, 0x4000, true);
	assert_log_contains("container3: peer-to-peer on");
	dma_listener_enable_p2p(l); /* idempotent */
	assert_int_equal(nr_calls, 2);

	assert_int_equal(add(f, "bar2", MEMMAP_DEVICE_RAM, 0x200000000, 0x200000000), 0);
	assert_int_equal(nr_calls, 3);
	expect_call(2, 'm', 0x200000000, 0x200000000, true);
	dma_listener_destroy(l);
	assert_int_equal(nr_calls, 6);
}

static void test_reserved_collision_refused_and_rolled_back(void **state)
{
	struct fixture *f = *state;
	struct dma_listener *l = NULL;

	f->c.reserved[f->c.nr_reserved++] =
	    (struct vfio_reserved_range){ 0xfee00000, 0xfeefffff, "msi, IOMMU group 5" };
	assert_int_equal(add(f, "ram-low", MEMMAP_RAM, 0, 0x10000000), 0);
	assert_int_equal(add(f, "fake-ram", MEMMAP_RAM, 0xfee00000, 0x100000), 0);

	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), -EINVAL);
	assert_null(l);
	assert_null(f->c.listener);
	assert_log_contains(
	    "error: container3: guest ram fake-ram [0xfee00000-0xfeefffff] collides "
	    "with reserved IOVA range [0xfee00000-0xfeefffff] (msi, IOMMU group 5)");
	/* ram-low was mapped during the replay and unmapped by the rollback */
	assert_int_equal(nr_calls, 2);
	expect_call(0, 'm', 0, 0x10000000, true);
	expect_call(1, 'u', 0, 0x10000000, false);

	/* registered first, a colliding add is refused before any map call */
	assert_int_equal(memmap_del_region(f->mm, 0xfee00000), 0);
	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), 0);
	nr_calls = 0;
	assert_int_equal(add(f, "fake-ram2", MEMMAP_RAM, 0xfe000000, 0x1000000), -EINVAL);
	assert_int_equal(nr_calls, 0);
	assert_false(memmap_find(f->mm, 0xfe000000, &(struct memmap_region){ 0 }));
	assert_int_equal(dma_listener_stats(l)->nr_mappings, 1);
	dma_listener_destroy(l);
}

static void test_add_reserved_checks_existing_mappings(void **state)
{
	struct fixture *f = *state;
	struct dma_listener *l;

	assert_int_equal(add(f, "ram-low", MEMMAP_RAM, 0, 0x100000000), 0);
	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), 0);
	assert_int_equal(dma_listener_add_reserved(l, 0xfee00000, 0xfeefffff, "msi, IOMMU group 7"),
			 -EINVAL);
	assert_log_contains(
	    "guest ram-low [0x0-0xffffffff] is DMA mapped and collides with reserved "
	    "IOVA range [0xfee00000-0xfeefffff] (msi, IOMMU group 7)");
	assert_int_equal(f->c.nr_reserved, 0);
	/* clear of the mappings: recorded once, twice given */
	assert_int_equal(dma_listener_add_reserved(l, 0x200000000, 0x2000fffff, "direct"), 0);
	assert_int_equal(dma_listener_add_reserved(l, 0x200000000, 0x2000fffff, "direct"), 0);
	assert_int_equal(f->c.nr_reserved, 1);
	assert_int_equal(add(f, "ram-high", MEMMAP_RAM, 0x200000000, 0x10000000), -EINVAL);
	dma_listener_destroy(l);
}

static void test_usable_iova_ranges(void **state)
{
	struct fixture *f = *state;
	struct dma_listener *l;

	f->c.nr_ranges = 3;
	f->c.ranges[0] = (struct vfio_iova_range){ 0, 0xfedfffff };
	f->c.ranges[1] = (struct vfio_iova_range){ 0x180000000, 0x7fffffffff };
	f->c.ranges[2] = (struct vfio_iova_range){ 0xfef00000, 0x17fffffff }; /* any order */
	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), 0);
	/* inside one range, and across the boundary of two adjacent ones */
	assert_int_equal(add(f, "ram-low", MEMMAP_RAM, 0, 0xc0000000), 0);
	assert_int_equal(add(f, "ram-high", MEMMAP_RAM, 0x100000000, 0xc0000000), 0);
	assert_int_equal(nr_calls, 2);
	/* crossing the hole */
	assert_int_equal(add(f, "ram-hole", MEMMAP_RAM, 0xfe000000, 0x1000000), -EINVAL);
	assert_log_contains("guest ram ram-hole [0xfe000000-0xfeffffff] collides with "
			    "[0xfee00000-0xfeefffff], outside the IOMMU's usable IOVA ranges");
	/* beyond the last range (a 39-bit IOMMU) */
	assert_int_equal(add(f, "ram-far", MEMMAP_RAM, 0x8000000000, 0x1000), -EINVAL);
	assert_log_contains("[0x8000000000-0xffffffffffffffff], outside the IOMMU's usable IOVA");
	assert_int_equal(nr_calls, 2);
	dma_listener_destroy(l);
}

static void test_entry_limit(void **state)
{
	struct fixture *f = *state;
	struct dma_listener *l;

	f->c.dma_avail = 2;
	assert_int_equal(add(f, "a", MEMMAP_RAM, 0, 0x100000), 0);
	assert_int_equal(add(f, "b", MEMMAP_RAM, 0x100000, 0x100000), 0);
	assert_int_equal(add(f, "c", MEMMAP_RAM, 0x200000, 0x100000), 0);
	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), -ENOSPC);
	assert_log_contains("guest ram c [0x200000-0x2fffff] would be DMA mapping 3, beyond the "
			    "container's limit of 2");
	/* the two that fit were rolled back */
	assert_int_equal(nr_calls, 4);
	expect_call(2, 'u', 0x100000, 0x100000, false);
	expect_call(3, 'u', 0, 0x100000, false);

	assert_int_equal(memmap_del_region(f->mm, 0x200000), 0);
	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), 0);
	assert_int_equal(add(f, "c", MEMMAP_RAM, 0x200000, 0x100000), -ENOSPC);
	/* an unmap frees an entry */
	assert_int_equal(memmap_del_region(f->mm, 0), 0);
	assert_int_equal(add(f, "c", MEMMAP_RAM, 0x200000, 0x100000), 0);
	dma_listener_destroy(l);
}

static void test_pin_failure_names_memlock(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, low;
	struct dma_listener *l;

	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &old), 0);
	low = (struct rlimit){ 64 * 1024, old.rlim_max };
	if (old.rlim_max != RLIM_INFINITY && old.rlim_max < low.rlim_cur)
		low.rlim_cur = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &low), 0);

	assert_int_equal(add(f, "ram-low", MEMMAP_RAM, 0, 0x10000000), 0);
	fail_iova = 0x100000000;
	fail_ret = -ENOMEM;
	assert_int_equal(add(f, "ram-high", MEMMAP_RAM, 0x100000000, 0x10000000), 0);
	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), -ENOMEM);
	/* 512 MiB of guest RAM in all, plus what this test process has locked (none usually) */
	assert_log_contains("container3: VFIO_IOMMU_MAP_DMA ram-high iova 0x100000000 size "
			    "0x10000000: Cannot allocate memory: pinning guest RAM for DMA needs "
			    "RLIMIT_MEMLOCK of at least ");
	assert_log_contains("(guest RAM 512 MiB + ");
	assert_log_contains("the current limit is 64 KiB");
	expect_call(1, 'u', 0, 0x10000000, false);

	/* EPERM (the type1 driver's answer past the limit on some kernels) says the same */
	fail_ret = -EPERM;
	test_log_forget();
	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), -EPERM);
	assert_log_contains(
	    "Operation not permitted: pinning guest RAM for DMA needs RLIMIT_MEMLOCK");

	/* any other failure is reported as it is */
	fail_ret = -EFAULT;
	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), -EFAULT);
	assert_log_contains("VFIO_IOMMU_MAP_DMA ram-high iova 0x100000000 size 0x10000000 hva "
			    "0x7f0100000000: Bad address");
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &old), 0);
}

static void test_unaligned_region_refused(void **state)
{
	struct fixture *f = *state;
	struct dma_listener *l;

	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), 0);
	assert_int_equal(add(f, "odd", MEMMAP_RAM, 0x1800, 0x1000), -EINVAL);
	assert_log_contains(
	    "guest ram odd [0x1800-0x27ff] is not aligned to the IOMMU page size 0x1000");
	assert_int_equal(nr_calls, 0);
	dma_listener_destroy(l);
}

static void test_report_lists_mappings(void **state)
{
	struct fixture *f = *state;
	struct dma_listener *l;

	assert_int_equal(add(f, "ram-low", MEMMAP_RAM, 0, 0x20000000), 0);
	assert_int_equal(dma_listener_create(f->mm, &f->c, false, &fake_ops, &l), 0);
	dma_listener_report(l);
	assert_log_contains("container3:   dma ram-low iova [0x0-0x1fffffff] hva 0x7f0000000000");
	assert_log_contains(
	    "container3:   1 mappings (512 MiB) in place, no entry limit reported; 1 "
	    "maps (512 MiB) took");
	dma_listener_destroy(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_map_on_add_unmap_on_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_registration_replays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_ram_only_with_p2p, setup, teardown),
		cmocka_unit_test_setup_teardown(test_p2p_enabled_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_collision_refused_and_rolled_back,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_reserved_checks_existing_mappings, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_usable_iova_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_failure_names_memlock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unaligned_region_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_lists_mappings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_p2p_bar_moves_bounded_log, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
