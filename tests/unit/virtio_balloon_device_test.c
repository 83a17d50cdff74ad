// SPDX-License-Identifier: MIT
/*
 * virtio-balloon driven through real virtqueues in guest RAM backed by a real memfd, the way
 * ptvm backs it: two RAM regions on one memfd (the second at a non-zero file offset, as RAM
 * above 4 GiB is), a ROM region and holes. The test plays the driver: it writes descriptors,
 * kicks the queue's eventfd and waits for the device's I/O thread to return the buffers.
 * Released memory is checked in the memfd itself (st_blocks) and through the mapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio_balloon.h"
#include "vmm/util.h"

#include "test_helpers.h"

#define RAM_LOW_SIZE (4 * SZ_1M)
#define RAM_HIGH_SIZE (4 * SZ_1M)
#define RAM_HIGH_GPA 0x40000000ULL
#define ROM_GPA 0x800000ULL
#define ROM_SIZE 0x10000ULL
#define HOLE_GPA 0xa00000ULL
#define RING_GPA 0x10000ULL /* queue q's rings at RING_GPA + q * 0x1000 */
#define BUF_GPA 0x20000ULL  /* request buffers */
#define TQ_SIZE 16
#define PATTERN 0x5a
#define PAGE 4096ULL

struct fixture {
	int memfd;
	uint8_t *ram; /* both RAM regions: low at file offset 0, high at RAM_LOW_SIZE */
	/* high RAM as the balloon sees it: f->ram + RAM_LOW_SIZE, or a mapping of high_fd */
	uint8_t *ram_high;
	int high_fd;
	uint8_t *rom;
	struct memmap *mm;
	struct virtio_device *vdev;
	struct test_vring q[4];
	unsigned nr_q;
};

static uint8_t *gpa_ptr(struct fixture *f, uint64_t gpa)
{
	if (gpa >= RAM_HIGH_GPA)
		return f->ram_high + (gpa - RAM_HIGH_GPA);
	return f->ram + gpa;
}

/* Plays the transport's part for queue q: ring addresses, start, a kick eventfd. */
static void tvq_init(struct fixture *f, unsigned q)
{
	uint64_t base = RING_GPA + q * 0x1000;

	memset(gpa_ptr(f, base), 0, 0x1000); /* a driver starts from zeroed rings */
	test_vring_start(&f->q[q], &f->vdev->vqs[q], f->mm, TQ_SIZE, base, base + 0x400,
			 base + 0x800);
}

static blkcnt_t memfd_blocks(struct fixture *f)
{
	struct stat st;

	assert_int_equal(fstat(f->memfd, &st), 0);
	return st.st_blocks;
}

static bool page_is(const uint8_t *p, uint8_t v)
{
	for (size_t i = 0; i < PAGE; i++)
		if (p[i] != v)
			return false;
	return true;
}

/*
 * A balloon on memfd (sized already) whose every page is made resident and holds PATTERN;
 * with high_fd >= 0, high RAM is that file instead, mapped but never touched.
 */
static struct fixture *fixture_create_on(int memfd, int high_fd,
					 const struct virtio_balloon_options *opts,
					 uint64_t features)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct memmap_region r = { .kind = MEMMAP_RAM };
	unsigned nr_q = 2;

	assert_non_null(f);
	f->memfd = memfd;
	f->ram = mmap(NULL, RAM_LOW_SIZE + RAM_HIGH_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      f->memfd, 0);
	assert_true(f->ram != MAP_FAILED);
	memset(f->ram, PATTERN, RAM_LOW_SIZE + RAM_HIGH_SIZE);
	f->high_fd = high_fd;
	f->ram_high = f->ram + RAM_LOW_SIZE;
	if (high_fd >= 0) {
		f->ram_high = mmap(NULL, RAM_HIGH_SIZE, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_NORESERVE, high_fd, 0);
		assert_true(f->ram_high != MAP_FAILED);
	}
	f->rom = mmap(NULL, ROM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->rom != MAP_FAILED);
	memset(f->rom, PATTERN, ROM_SIZE);

	assert_int_equal(memmap_create(&f->mm), 0);
	r.gpa = 0;
	r.size = RAM_LOW_SIZE;
	r.hva = f->ram;
	r.fd = f->memfd;
	r.fd_offset = 0;
	assert_int_equal(memmap_add_region(f->mm, &r), 0);
	r.gpa = RAM_HIGH_GPA;
	r.size = RAM_HIGH_SIZE;
	r.hva = f->ram_high;
	r.fd = high_fd >= 0 ? high_fd : f->memfd;
	r.fd_offset = high_fd >= 0 ? 0 : RAM_LOW_SIZE;
	assert_int_equal(memmap_add_region(f->mm, &r), 0);
	r = (struct memmap_region){
		.kind = MEMMAP_ROM, .gpa = ROM_GPA, .size = ROM_SIZE, .hva = f->rom, .fd = -1
	};
	assert_int_equal(memmap_add_region(f->mm, &r), 0);

	assert_int_equal(virtio_balloon_create(opts, f->mm, &f->vdev), 0);
	f->vdev->transport = &test_transport;
	/* what the transport does up to DRIVER_OK */
	assert_true((virtio_device_features(f->vdev) & features) == features);
	if (features & (1ULL << VIRTIO_BALLOON_F_STATS_VQ))
		nr_q++;
	if (features & (1ULL << VIRTIO_BALLOON_F_REPORTING))
		nr_q++;
	f->nr_q = nr_q;
	for (unsigned q = 0; q < nr_q; q++)
		tvq_init(f, q);
	test_irqs_reset();
	test_device_driver_ok(f->vdev, features);
	return f;
}

static struct fixture *fixture_create(const struct virtio_balloon_options *opts, uint64_t features)
{
	int memfd = memfd_create("balloon-test", MFD_CLOEXEC);

	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, RAM_LOW_SIZE + RAM_HIGH_SIZE), 0);
	return fixture_create_on(memfd, -1, opts, features);
}

static void fixture_destroy(struct fixture *f)
{
	test_device_reset(f->vdev);
	for (unsigned q = 0; q < f->nr_q; q++)
		close(f->vdev->vqs[q].kick_fd);
	virtio_balloon_destroy(f->vdev);
	memmap_destroy(f->mm);
	munmap(f->rom, ROM_SIZE);
	munmap(f->ram, RAM_LOW_SIZE + RAM_HIGH_SIZE);
	close(f->memfd);
	if (f->high_fd >= 0) {
		munmap(f->ram_high, RAM_HIGH_SIZE);
		close(f->high_fd);
	}
	free(f);
}

static struct virtio_balloon_options default_opts(void)
{
	struct virtio_balloon_options o;

	assert_int_equal(virtio_balloon_parse("", &o), 0);
	return o;
}

/* Sends PFNs on the inflate or deflate queue and waits for the buffer to come back. */
static void send_pfns(struct fixture *f, unsigned q, const uint32_t *pfns, unsigned n,
		      uint32_t extra_bytes)
{
	struct test_seg seg = { .gpa = BUF_GPA + q * 0x1000, .len = n * 4 + extra_bytes };

	memcpy(gpa_ptr(f, seg.gpa), pfns, n * 4);
	assert_true(test_vring_wait_used(&f->q[q], test_vring_add_kick(&f->q[q], &seg, 1), 2000));
}

static void test_inflate_releases_memfd_pages(void **state)
{
	struct virtio_balloon_options o = default_opts();
	struct fixture *f = fixture_create(&o, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	uint32_t hi = (uint32_t)(RAM_HIGH_GPA / PAGE);
	/* a run of three in low RAM and one page of high RAM (file offset RAM_LOW_SIZE) */
	uint32_t pfns[] = { 0x100, 0x101, 0x102, hi + 5 };
	blkcnt_t before = memfd_blocks(f);
	struct virtio_balloon_info info;
	const char *emulated = test_emulator_lacks("madvise(MADV_REMOVE)");

	if (emulated) {
		print_message("skipped: %s\n", emulated);
		skip();
	}
	send_pfns(f, 0, pfns, 4, 0);
	assert_int_equal(before - memfd_blocks(f), 4 * PAGE / 512);
	for (unsigned i = 0; i < 3; i++)
		assert_true(page_is(gpa_ptr(f, (0x100 + i) * PAGE), 0));
	assert_true(page_is(gpa_ptr(f, 0xff * PAGE), PATTERN));
	assert_true(page_is(gpa_ptr(f, 0x103 * PAGE), PATTERN));
	/* the offset math: exactly file page RAM_LOW_SIZE/PAGE + 5 went */
	assert_true(page_is(f->ram + RAM_LOW_SIZE + 5 * PAGE, 0));
	assert_true(page_is(f->ram + RAM_LOW_SIZE + 4 * PAGE, PATTERN));
	assert_true(page_is(f->ram + RAM_LOW_SIZE + 6 * PAGE, PATTERN));
	assert_true(page_is(f->ram + 5 * PAGE, PATTERN));
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.inflated_pages, 4);
	assert_int_equal(info.discarded_bytes, 4 * PAGE);
	assert_int_equal(info.bad_entries, 0);
	assert_true(test_irqs_wait_queue_total(1, 5000));
	assert_false(virtio_needs_reset(f->vdev));

	/* deflate: bookkeeping only; the page is usable again (zero, then written) */
	send_pfns(f, 1, pfns, 2, 0);
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.inflated_pages, 2);
	memset(gpa_ptr(f, 0x100 * PAGE), 1, PAGE);
	assert_true(page_is(gpa_ptr(f, 0x100 * PAGE), 1));
	fixture_destroy(f);
}

static void test_inflate_skips_what_is_not_ram(void **state)
{
	struct virtio_balloon_options o = default_opts();
	struct fixture *f = fixture_create(&o, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	/* ROM, a hole, the last possible PFN, the page past low RAM, and one good page */
	uint32_t pfns[] = { (uint32_t)(ROM_GPA / PAGE), (uint32_t)(HOLE_GPA / PAGE), 0xffffffff,
			    (uint32_t)(RAM_LOW_SIZE / PAGE), 0x200 };
	blkcnt_t before = memfd_blocks(f);
	struct virtio_balloon_info info;

	send_pfns(f, 0, pfns, 5, 0);
	assert_int_equal(before - memfd_blocks(f), PAGE / 512);
	assert_true(page_is(gpa_ptr(f, 0x200 * PAGE), 0));
	for (uint64_t off = 0; off < ROM_SIZE; off += PAGE)
		assert_true(page_is(f->rom + off, PATTERN));
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.bad_entries, 4);
	assert_int_equal(info.inflated_pages, 1);

	/* a run that starts in RAM and runs off its end: only the RAM page goes (reading a
	 * released shmem page, as above, allocates it again: measure anew) */
	pfns[0] = (uint32_t)(RAM_LOW_SIZE / PAGE) - 1;
	pfns[1] = (uint32_t)(RAM_LOW_SIZE / PAGE);
	before = memfd_blocks(f);
	send_pfns(f, 0, pfns, 2, 0);
	assert_int_equal(before - memfd_blocks(f), PAGE / 512);
	assert_true(page_is(f->ram + RAM_LOW_SIZE, PATTERN)); /* high RAM's first file page */

	/* a request that is not whole PFNs: the whole ones are taken, the tail is reported */
	pfns[0] = 0x201;
	send_pfns(f, 0, pfns, 1, 3);
	assert_true(page_is(gpa_ptr(f, 0x201 * PAGE), 0));
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.bad_entries, 4 + 1 + 1);
	assert_false(virtio_needs_reset(f->vdev));
	fixture_destroy(f);
}

static void test_pinned_refuses_inflation(void **state)
{
	struct virtio_balloon_options o = default_opts();
	struct fixture *f = fixture_create(&o, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	uint32_t pfn = 0x300;
	blkcnt_t before = memfd_blocks(f);
	struct virtio_balloon_info info;

	virtio_balloon_set_pinned(f->vdev, true);
	send_pfns(f, 0, &pfn, 1, 0); /* the buffer still comes back */
	assert_int_equal(memfd_blocks(f), before);
	assert_true(page_is(gpa_ptr(f, 0x300 * PAGE), PATTERN));
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.refused_pages, 1);
	assert_int_equal(info.discarded_bytes, 0);

	virtio_balloon_set_pinned(f->vdev, false);
	pfn = 0x301;
	send_pfns(f, 0, &pfn, 1, 0);
	assert_int_equal(before - memfd_blocks(f), PAGE / 512);
	assert_true(page_is(gpa_ptr(f, 0x301 * PAGE), 0));
	fixture_destroy(f);
}

static long huge_pages_free(void)
{
	char line[128];
	long n = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * hugetlb-backed RAM keeps its pages: a huge page given back would lose its reservation (made
 * at start-up so that the guest never meets SIGBUS), and the guest touching it again would die
 * once the host's pool is empty. So inflation is refused (the buffers still come back), no
 * target is set, and a target or free page reporting are refused at start-up. High RAM here is
 * a hugetlb memfd that is never touched: no huge page is needed.
 */
static void test_hugetlb_ram_keeps_its_pages(void **state)
{
	struct virtio_balloon_options o = default_opts(), bad;
	int memfd = memfd_create("balloon-test", MFD_CLOEXEC);
	int hfd = memfd_create("balloon-test-huge", MFD_CLOEXEC | MFD_HUGETLB);
	struct virtio_balloon_info info;
	struct virtio_device *other;
	uint32_t pfns[512];
	struct fixture *f;

	if (hfd < 0) {
		print_message("skipped: this kernel has no hugetlbfs (memfd MFD_HUGETLB: %s)\n",
			      strerror(errno));
		close(memfd);
		skip();
	}
	if (test_emulator_lacks("mmap of hugetlbfs memory")) {
		print_message("skipped: %s\n", test_emulator_lacks("mmap of hugetlbfs memory"));
		close(hfd);
		close(memfd);
		skip();
	}
	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, RAM_LOW_SIZE + RAM_HIGH_SIZE), 0);
	assert_int_equal(ftruncate(hfd, RAM_HIGH_SIZE), 0);
	assert_int_equal(test_log_capture_start(), 0);
	f = fixture_create_on(memfd, hfd, &o, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	assert_false(virtio_device_features(f->vdev) & (1ULL << VIRTIO_BALLOON_F_REPORTING));

	/* a whole 2 MiB page of high RAM, offered by the guest unasked */
	for (unsigned i = 0; i < 512; i++)
		pfns[i] = (uint32_t)(RAM_HIGH_GPA / PAGE) + i;
	send_pfns(f, 0, pfns, 512, 0);
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.discarded_bytes, 0);
	assert_int_equal(info.refused_pages, 512);
	assert_int_equal(info.inflated_pages, 512);
	assert_log_contains("hugetlb");

	/* never asked for memory */
	virtio_balloon_set_target(f->vdev, RAM_LOW_SIZE);
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.num_pages, 0);

	/* refused at start-up, with the reason */
	test_log_forget();
	assert_int_equal(virtio_balloon_parse("target=4M", &bad), 0);
	assert_int_equal(virtio_balloon_create(&bad, f->mm, &other), -EINVAL);
	assert_log_one_line("target=", "hugetlb");
	assert_int_equal(virtio_balloon_parse("free-page-reporting=on", &bad), 0);
	assert_int_equal(virtio_balloon_create(&bad, f->mm, &other), -EINVAL);
	assert_log_one_line("free-page-reporting=on", "hugetlb");
	test_log_capture_stop();
	fixture_destroy(f);
}

/* The same with every page a real, resident huge page: none goes back to the host's pool. */
static void test_inflate_hugetlb_keeps_huge_pages(void **state)
{
	struct virtio_balloon_options o = default_opts();
	int memfd = memfd_create("balloon-test-huge", MFD_CLOEXEC | MFD_HUGETLB);
	struct virtio_balloon_info info;
	uint32_t pfns[512];
	struct fixture *f;
	long free_before;

	if (memfd < 0 || ftruncate(memfd, RAM_LOW_SIZE + RAM_HIGH_SIZE) < 0 ||
	    fallocate(memfd, 0, 0, RAM_LOW_SIZE + RAM_HIGH_SIZE) < 0) {
		print_message("skipped: this host has no four free 2 MiB huge pages for a hugetlb "
			      "memfd (/proc/sys/vm/nr_hugepages)\n");
		if (memfd >= 0)
			close(memfd);
		skip();
	}
	f = fixture_create_on(memfd, -1, &o, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	free_before = huge_pages_free();
	/* the whole huge page at 2 MiB in one request of 512 consecutive PFNs */
	for (unsigned i = 0; i < 512; i++)
		pfns[i] = (uint32_t)(SZ_2M / PAGE) + i;
	send_pfns(f, 0, pfns, 512, 0);
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.discarded_bytes, 0);
	assert_int_equal(info.refused_pages, 512);
	assert_int_equal(huge_pages_free(), free_before);
	assert_true(page_is(gpa_ptr(f, SZ_2M), PATTERN));
	fixture_destroy(f);
}

static void put_stat(uint8_t *p, unsigned i, uint16_t tag, uint64_t val)
{
	memcpy(p + i * 10, &tag, 2);
	memcpy(p + i * 10 + 2, &val, 8);
}

static bool wait_stats_updates(struct fixture *f, unsigned n, struct virtio_balloon_info *info)
{
	for (int i = 0; i < 2000; i++) {
		virtio_balloon_get_info(f->vdev, info);
		if (info->stats_updates >= n)
			return true;
		usleep(1000);
	}
	return false;
}

static void test_stats_kept_and_requested_again(void **state)
{
	struct virtio_balloon_options o = default_opts();
	struct fixture *f;
	struct test_vring *sq;
	struct virtio_balloon_info info;
	struct test_seg seg = { .gpa = BUF_GPA + 0x2000, .len = 3 * 10 + 4 };
	uint8_t *buf;
	uint16_t idx;

	o.stats_period_ms = 20;
	f = fixture_create(&o, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	sq = &f->q[2];
	buf = gpa_ptr(f, seg.gpa);
	put_stat(buf, 0, VIRTIO_BALLOON_S_MEMFREE, 0x1234);
	put_stat(buf, 1, VIRTIO_BALLOON_S_MEMTOT, 0x8000000);
	put_stat(buf, 2, 40, 7); /* a tag from a newer guest: skipped */
	idx = test_vring_add_kick(sq, &seg, 1);
	assert_true(wait_stats_updates(f, 1, &info));
	assert_int_equal(info.stats_valid,
			 (1U << VIRTIO_BALLOON_S_MEMFREE) | (1U << VIRTIO_BALLOON_S_MEMTOT));
	assert_int_equal(info.stats[VIRTIO_BALLOON_S_MEMFREE], 0x1234);
	assert_int_equal(info.stats[VIRTIO_BALLOON_S_MEMTOT], 0x8000000);
	assert_int_equal(info.bad_entries, 1); /* the 4-byte tail */

	/* the device gives the buffer back when it wants new numbers */
	assert_true(test_vring_wait_used(sq, idx, 2000));
	put_stat(buf, 0, VIRTIO_BALLOON_S_MEMFREE, 0x4321);
	seg.len = 2 * 10;
	test_vring_add_kick(sq, &seg, 1);
	assert_true(wait_stats_updates(f, 2, &info));
	assert_int_equal(info.stats[VIRTIO_BALLOON_S_MEMFREE], 0x4321);
	assert_int_equal(info.stats[VIRTIO_BALLOON_S_MEMTOT], 0x8000000);
	fixture_destroy(f);
}

static void test_free_page_reporting(void **state)
{
	struct virtio_balloon_options o = default_opts();
	uint64_t feat = (1ULL << VIRTIO_BALLOON_F_STATS_VQ) | (1ULL << VIRTIO_BALLOON_F_REPORTING);
	struct fixture *f;
	struct virtio_balloon_info info;
	blkcnt_t before;
	struct test_vring *rq;

	o.free_page_reporting = true;
	f = fixture_create(&o, feat);
	rq = &f->q[3];
	before = memfd_blocks(f);
	{
		struct test_seg segs[] = {
			{ .gpa = 0x180000, .len = 2 * PAGE, .write = true },
			{ .gpa = RAM_HIGH_GPA + 0x10000, .len = PAGE, .write = true },
			{ .gpa = 0x190100, .len = PAGE, .write = true }, /* misaligned: skipped */
			{ .gpa = ROM_GPA, .len = PAGE, .write = true },	 /* ROM: skipped */
		};

		assert_true(test_vring_wait_used(rq, test_vring_add_kick(rq, segs, 4), 2000));
	}
	assert_int_equal(before - memfd_blocks(f), 3 * PAGE / 512);
	assert_true(page_is(gpa_ptr(f, 0x180000), 0));
	assert_true(page_is(gpa_ptr(f, 0x181000), 0));
	assert_true(page_is(gpa_ptr(f, 0x182000), PATTERN));
	assert_true(page_is(gpa_ptr(f, RAM_HIGH_GPA + 0x10000), 0));
	assert_true(page_is(gpa_ptr(f, 0x190000), PATTERN));
	assert_true(page_is(gpa_ptr(f, 0x191000), PATTERN));
	assert_true(page_is(f->rom, PATTERN));
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.reported_bytes, 3 * PAGE);
	assert_int_equal(info.bad_entries, 2);
	assert_int_equal(info.inflated_pages, 0);

	/* pinned: reported pages stay, the buffer still comes back */
	virtio_balloon_set_pinned(f->vdev, true);
	{
		struct test_seg seg = { .gpa = 0x1a0000, .len = 4 * PAGE, .write = true };

		assert_true(test_vring_wait_used(rq, test_vring_add_kick(rq, &seg, 1), 2000));
	}
	assert_true(page_is(gpa_ptr(f, 0x1a0000), PATTERN));
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.refused_pages, 4);
	assert_int_equal(info.reported_bytes, 3 * PAGE);
	fixture_destroy(f);
}

/* A driver that takes reporting but not stats: the reporting queue is queue 2. */
static void test_reporting_queue_moves_down_without_stats(void **state)
{
	struct virtio_balloon_options o = default_opts();
	struct fixture *f;
	struct test_seg seg = { .gpa = 0x1b0000, .len = PAGE, .write = true };

	o.free_page_reporting = true;
	f = fixture_create(&o, 1ULL << VIRTIO_BALLOON_F_REPORTING);
	assert_true(test_vring_wait_used(&f->q[2], test_vring_add_kick(&f->q[2], &seg, 1), 2000));
	assert_true(page_is(gpa_ptr(f, 0x1b0000), 0));
	fixture_destroy(f);
}

static void test_malformed_chain_needs_reset(void **state)
{
	struct virtio_balloon_options o = default_opts();
	struct fixture *f = fixture_create(&o, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	struct test_vring *t = &f->q[0];

	/* a head index past the ring */
	t->avail->ring[0] = TQ_SIZE + 3;
	__atomic_store_n(&t->avail->idx, 1, __ATOMIC_RELEASE);
	test_vring_kick(t);
	/* NEEDS_RESET first, then the config interrupt, from the I/O thread: wait for both */
	for (int i = 0; i < 2000 && (!virtio_needs_reset(f->vdev) || !test_irqs_config); i++)
		usleep(1000);
	assert_true(virtio_needs_reset(f->vdev));
	assert_int_equal(test_irqs_config, 1);
	assert_int_equal(t->used->idx, 0);
	fixture_destroy(f);
}

/*
 * One inflate chain of 256 aliased descriptors (an indirect table), each covering all of low
 * RAM: 256 x 1 Mi PFNs, none of them guest RAM. The work per request is bounded: the buffer
 * comes back at once, only a bounded number of PFNs is looked at, nothing is released, and a
 * reset right after does not wait for the rest.
 */
static void test_inflate_huge_aliased_chain_bounded(void **state)
{
	struct virtio_balloon_options o = default_opts();
	struct fixture *f = fixture_create(&o, (1ULL << VIRTIO_BALLOON_F_STATS_VQ) |
						   (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
	struct test_vring *t = &f->q[0];
	struct vring_desc *table = (struct vring_desc *)gpa_ptr(f, BUF_GPA);
	blkcnt_t before = memfd_blocks(f);
	struct virtio_balloon_info info;
	uint64_t t0;

	for (unsigned i = 0; i < 256; i++)
		table[i] = (struct vring_desc){ .addr = 0,
						.len = RAM_LOW_SIZE,
						.flags = i < 255 ? VRING_DESC_F_NEXT : 0,
						.next = (uint16_t)(i + 1) };
	t->desc[0] = (struct vring_desc){ .addr = BUF_GPA,
					  .len = 256 * sizeof(struct vring_desc),
					  .flags = VRING_DESC_F_INDIRECT };
	test_vring_publish(t, 0);
	t0 = test_now_ms();
	test_vring_kick(t);
	assert_true(test_vring_wait_used(t, 1, 2000));
	assert_int_equal(memfd_blocks(f), before);
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.inflated_pages, 0);
	assert_true(info.bad_entries >= 1 && info.bad_entries <= VIRTIO_BALLOON_MAX_PFNS + 1);
	assert_false(virtio_needs_reset(f->vdev));
	test_device_reset(f->vdev);
	assert_true(test_now_ms() - t0 < 2000);
	for (uint64_t off = 0x100000; off < RAM_LOW_SIZE; off += PAGE)
		assert_true(page_is(f->ram + off, PATTERN));
	fixture_destroy(f);
}

static uint32_t read_config32(struct virtio_device *vdev, unsigned off)
{
	uint32_t v;

	vdev->ops->read_config(vdev, off, &v, 4);
	return v;
}

static void test_target_and_actual(void **state)
{
	struct virtio_balloon_options o = default_opts();
	struct fixture *f;
	struct virtio_balloon_info info;
	uint32_t actual = 256;

	o.has_target = true;
	o.target = 6 * SZ_1M; /* of 8 MiB of RAM: 2 MiB in the balloon */
	f = fixture_create(&o, 1ULL << VIRTIO_BALLOON_F_STATS_VQ);
	assert_int_equal(read_config32(f->vdev, 0), 512);
	virtio_balloon_set_target(f->vdev, 7 * SZ_1M);
	assert_int_equal(read_config32(f->vdev, 0), 256);
	assert_int_equal(test_irqs_config, 1);
	virtio_balloon_set_target(f->vdev, 64 * SZ_1M);
	assert_int_equal(read_config32(f->vdev, 0), 0);

	f->vdev->ops->write_config(f->vdev, 4, &actual, 4);
	assert_int_equal(read_config32(f->vdev, 4), 256);
	/* num_pages is the host's: a driver write is ignored */
	f->vdev->ops->write_config(f->vdev, 0, &actual, 4);
	assert_int_equal(read_config32(f->vdev, 0), 0);
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.actual, 256);
	assert_int_equal(info.ram_size, RAM_LOW_SIZE + RAM_HIGH_SIZE);
	fixture_destroy(f);
}

static void test_target_larger_than_ram_refused(void **state)
{
	struct virtio_balloon_options o = default_opts();
	struct virtio_device *vdev = NULL;
	struct memmap *mm;
	struct memmap_region r = { .kind = MEMMAP_RAM, .size = SZ_1M, .fd = -1 };

	assert_int_equal(memmap_create(&mm), 0);
	r.hva = calloc(1, SZ_1M);
	assert_int_equal(memmap_add_region(mm, &r), 0);
	o.has_target = true;
	o.target = 2 * SZ_1M;
	assert_int_equal(virtio_balloon_create(&o, mm, &vdev), -EINVAL);
	assert_null(vdev);
	memmap_destroy(mm);
	free(r.hva);
}

static void test_parse(void **state)
{
	struct virtio_balloon_options o;
	static const char *const bad[] = {
		"free-page-reporting=maybe",
		"target=abc",
		"target=0",
		"foo=bar",
		"target",
		"stats-period=-1",
		"stats-period=9999",
		"stats-period=1x",
	};

	assert_int_equal(virtio_balloon_parse(NULL, &o), 0);
	assert_false(o.free_page_reporting);
	assert_false(o.has_target);
	assert_int_equal(o.stats_period_ms, VIRTIO_BALLOON_STATS_PERIOD_MS);
	assert_int_equal(virtio_balloon_parse("free-page-reporting=on", &o), 0);
	assert_true(o.free_page_reporting);
	assert_int_equal(virtio_balloon_parse("target=256M,stats-period=2,deflate-on-oom=on", &o),
			 0);
	assert_true(o.has_target);
	assert_int_equal(o.target, 256 * SZ_1M);
	assert_int_equal(o.stats_period_ms, 2000);
	assert_true(o.deflate_on_oom);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(virtio_balloon_parse(bad[i], &o), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inflate_releases_memfd_pages),
		cmocka_unit_test(test_inflate_skips_what_is_not_ram),
		cmocka_unit_test(test_pinned_refuses_inflation),
		cmocka_unit_test(test_hugetlb_ram_keeps_its_pages),
		cmocka_unit_test(test_inflate_hugetlb_keeps_huge_pages),
		cmocka_unit_test(test_stats_kept_and_requested_again),
		cmocka_unit_test(test_free_page_reporting),
		cmocka_unit_test(test_reporting_queue_moves_down_without_stats),
		cmocka_unit_test(test_malformed_chain_needs_reset),
		cmocka_unit_test(test_inflate_huge_aliased_chain_bounded),
		cmocka_unit_test(test_target_and_actual),
		cmocka_unit_test(test_target_larger_than_ram_refused),
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
