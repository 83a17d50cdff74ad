// SPDX-License-Identifier: MIT
/*
 * iommu/dma_prefault.c, and the DMA listener's worker using it: how many threads a host's
 * CPUs leave for it, that a range is faulted in for writing (every page resident after,
 * mincore, and writing to each takes no fault), that too small a range or too few threads
 * does nothing (the map faults pages in itself), that a range that cannot be faulted in for
 * writing is an error and no crash, and that a background listener with prefault threads
 * finds guest RAM resident when it pins it, and says so in its report.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "iommu/dma_listener.h"
#include "iommu/dma_prefault.h"
#include "vmm/log.h"

#include "test_helpers.h"

#define MIB (1ULL << 20)

static void *ram_map(uint64_t size, int prot)
{
	void *p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/* The pages of [p, p + size) resident now. */
static uint64_t resident_pages(void *p, uint64_t size)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t n = size / (uint64_t)pg, count = 0;
	unsigned char *vec = malloc(n);

	assert_non_null(vec);
	assert_int_equal(mincore(p, size, vec), 0);
	for (uint64_t i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

/* qemu-user takes madvise() as a no-op: what MADV_POPULATE_WRITE does cannot be seen there */
static void skip_under_emulator(void)
{
	const char *lacks = test_emulator_lacks("madvise(MADV_POPULATE_WRITE)");

	if (lacks) {
		print_message("skipped: %s\n", lacks);
		skip();
	}
}

/*
 * Minor faults this thread takes writing a byte to each page of [p, p + size): none once the
 * range is faulted in for writing, which is what the pin needs. mincore alone cannot tell: on
 * a kernel with a zero page a read fault maps it, which counts as resident, and each write
 * would still fault (copy on write).
 */
__attribute__((no_sanitize("address", "thread"))) static void touch_pages(void *p, uint64_t size,
									  uint64_t pg)
{
	/* not instrumented: a sanitizer's first look at the shadow of each page would fault */
	for (uint64_t off = 0; off < size; off += pg)
		((volatile uint8_t *)p)[off] = 1;
}

static uint64_t write_faults(void *p, uint64_t size)
{
	struct rusage before, after;

	assert_int_equal(getrusage(RUSAGE_THREAD, &before), 0);
	touch_pages(p, size, (uint64_t)sysconf(_SC_PAGESIZE));
	assert_int_equal(getrusage(RUSAGE_THREAD, &after), 0);
	return (uint64_t)(after.ru_minflt - before.ru_minflt);
}

static void test_threads_choose(void **state)
{
	(void)state;
	/* no CPU beyond the vCPUs: none (the map faults pages in itself) */
	assert_int_equal(dma_prefault_threads_choose(1, 1), 0);
	assert_int_equal(dma_prefault_threads_choose(2, 4), 0);
	assert_int_equal(dma_prefault_threads_choose(2, 1), 1);
	assert_int_equal(dma_prefault_threads_choose(4, 1), 3);
	assert_int_equal(dma_prefault_threads_choose(64, 8), DMA_PREFAULT_MAX_THREADS);
	assert_true(dma_prefault_cpus_allowed() >= 1);
}

static void test_range_faulted_in(void **state)
{
	uint64_t size = 256 * MIB + 3 * 4096; /* not a multiple of the slices */
	long pg = sysconf(_SC_PAGESIZE);
	void *p;

	(void)state;
	skip_under_emulator();
	p = ram_map(size, PROT_READ | PROT_WRITE);
	assert_int_equal(resident_pages(p, size), 0);
	assert_int_equal(dma_prefault_range(p, size, 3), 3);
	assert_int_equal(resident_pages(p, size), size / (uint64_t)pg);
	/* faulted in for writing: the pin's writes take no fault (a handful of strays at most,
	 * against one per page, or per 2 MiB with THP, after a read-only populate) */
	assert_true(write_faults(p, size) <= 8);
	munmap(p, size);
}

/* Below two slices' worth, or with fewer than two threads: nothing (the pin does it alone). */
static void test_nothing_when_it_cannot_help(void **state)
{
	uint64_t size = 2 * DMA_PREFAULT_MIN_SLICE - 4096;
	void *p = ram_map(size, PROT_READ | PROT_WRITE);

	(void)state;
	assert_int_equal(dma_prefault_range(p, size, 8), 0);
	assert_int_equal(dma_prefault_range(p, size, 1), 0);
	assert_int_equal(resident_pages(p, size), 0);
	munmap(p, size);
}

/* A read-only range cannot be faulted in for writing: an error for the caller, no crash. */
static void test_read_only_range_fails(void **state)
{
	uint64_t size = 2 * DMA_PREFAULT_MIN_SLICE;
	void *p;

	(void)state;
	skip_under_emulator();
	p = ram_map(size, PROT_READ);
	assert_true(dma_prefault_range(p, size, 2) < 0);
	munmap(p, size);
}

/* ---- the listener's worker */

static struct {
	uint64_t resident, pages; /* of the RAM mapping, when the fake map was called */
	unsigned maps;
} seen;

static int fake_map(struct dma_listener *l, uint64_t iova, uint64_t size, void *vaddr,
		    bool writable)
{
	(void)l;
	(void)iova;
	(void)writable;
	seen.resident = resident_pages(vaddr, size);
	seen.pages = size / (uint64_t)sysconf(_SC_PAGESIZE);
	seen.maps++;
	return 0;
}

static int fake_unmap(struct dma_listener *l, uint64_t iova, uint64_t size)
{
	(void)l;
	(void)iova;
	(void)size;
	return 0;
}

static const struct dma_backend_ops fake_ops = { .map = fake_map, .unmap = fake_unmap };

static void on_error(void *opaque, int err)
{
	(void)opaque;
	fail_msg("a background mapping failed: %d", err);
}

/* Run with prefault_threads: whether the worker's pin found guest RAM resident. */
static void listener_run(unsigned prefault_threads)
{
	struct vfio_container c = { .fd = -1, .pgsize_bitmap = 0x40201000, .index = 3 };
	uint64_t size = 4 * DMA_PREFAULT_MIN_SLICE;
	void *ram = ram_map(size, PROT_READ | PROT_WRITE);
	struct memmap_region r = {
		.gpa = 0, .size = size, .kind = MEMMAP_RAM, .fd = -1, .hva = ram, .name = "ram"
	};
	struct dma_listener_stats s;
	struct dma_listener *l;
	struct memmap *mm;

	memset(&seen, 0, sizeof(seen));
	assert_int_equal(memmap_create(&mm), 0);
	assert_int_equal(memmap_add_region(mm, &r), 0);
	assert_int_equal(
	    dma_listener_create_background(mm, &c, false, &fake_ops, on_error, NULL, &l), 0);
	dma_listener_set_prefault_threads(l, prefault_threads);
	assert_int_equal(dma_listener_start(l), 0);
	assert_int_equal(dma_listener_wait(l, 30), 0);
	assert_int_equal(seen.maps, 1);
	dma_listener_stats_get(l, &s);
	if (prefault_threads > 1) {
		assert_int_equal(seen.resident, seen.pages);
		assert_int_equal(s.prefault_bytes, size);
		assert_int_equal(s.prefault_threads, prefault_threads);
		dma_listener_report_stats(l);
		assert_log_contains("faulted in before pinning, by up to");
	} else {
		assert_int_equal(seen.resident, 0);
		assert_int_equal(s.prefault_bytes, 0);
	}
	dma_listener_destroy(l);
	memmap_destroy(mm);
	munmap(ram, size);
}

static void test_listener_prefaults_before_pinning(void **state)
{
	(void)state;
	skip_under_emulator();
	listener_run(2);
	listener_run(4);
}

static void test_listener_without_prefault_threads(void **state)
{
	(void)state;
	listener_run(0);
	listener_run(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_choose),
		cmocka_unit_test(test_range_faulted_in),
		cmocka_unit_test(test_nothing_when_it_cannot_help),
		cmocka_unit_test(test_read_only_range_fails),
		cmocka_unit_test_setup_teardown(test_listener_prefaults_before_pinning,
						test_log_setup, test_log_teardown),
		cmocka_unit_test_setup_teardown(test_listener_without_prefault_threads,
						test_log_setup, test_log_teardown),
	};

	log_level = LOG_INFO;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
