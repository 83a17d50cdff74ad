// SPDX-License-Identifier: MIT
/*
 * The device status of every virtio device, driven the way a hostile guest drives it: through
 * the real virtio-pci transport's BAR0 registers (on a fake `struct vm`, tests/unit/fake_vm.h)
 * with the device's real I/O thread behind it.
 *
 * The status is a state machine that belongs to the device: only forward steps
 * (ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK), FAILED, or 0 (reset) are taken; a reset stops
 * and joins the I/O thread before any queue state is cleared, whatever bits the guest wrote
 * before; DRIVER_OK re-sent to a live device changes nothing. The reported crash: balloon at
 * DRIVER_OK with a statistics buffer held, status 0x0b then 0, SIGSEGV at the next statistics
 * period (the thread pushed to a cleared used ring); the same window with a request in flight
 * on rng, console and blk.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_pci.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/pci.h"
#include "devices/virtio_balloon.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_console.h"
#include "devices/virtio_net.h"
#include "devices/virtio_pci.h"
#include "devices/virtio_rng.h"
#include "vmm/x86/layout.h"
#include "vmm/util.h"

#include "fake_vm.h"
#include "test_helpers.h"

#define RAM_SIZE (2 * SZ_1M)
#define RING_GPA 0x10000ULL /* queue q: desc at +q*0x4000, avail +0x1000, used +0x2000 */
#define BUF_GPA 0x40000ULL  /* request buffers, bump-allocated per bring-up */
#define QSIZE 16	    /* unless a test asks for more (f->qsize) */
#define ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define DRV VIRTIO_CONFIG_S_DRIVER
#define FOK VIRTIO_CONFIG_S_FEATURES_OK
#define DOK VIRTIO_CONFIG_S_DRIVER_OK
#define LIVE (ACK | DRV | FOK | DOK)

enum kind { BLK, NET, CONSOLE, RNG, BALLOON };

struct fixture {
	enum kind kind;
	struct vm vm;
	struct pci_bus *bus;
	struct memmap *mm;
	int memfd;
	uint8_t *ram;
	struct virtio_device *vdev;
	struct virtio_pci *vp;
	void (*destroy)(struct virtio_device *vdev);
	unsigned nr_q;
	uint16_t qsize;
	uint64_t features; /* what the driver acks (VERSION_1 added) */
	struct test_vring q[4];
	uint64_t next_buf;
	char dir[64]; /* temporary files: the disk, the FIFO */
	int host_fd;  /* net: the host end of the fake tap */
	int out[2];   /* console: the guest's output */
	int fifo_wr;  /* rng on a FIFO: the writer end */
};

static const struct pci_bus_windows windows = PCI_BUS_WINDOWS(0x400000000ULL);

/* ---- the driver's registers ---- */

static void reg_write(struct fixture *f, unsigned off, uint32_t v, unsigned len)
{
	f->vp->pci.ops->bar_write(&f->vp->pci, VIRTIO_PCI_BAR_CFG, VIRTIO_PCI_COMMON_OFF + off, &v,
				  len);
}

static uint32_t reg_read(struct fixture *f, unsigned off, unsigned len)
{
	uint32_t v = 0;

	f->vp->pci.ops->bar_read(&f->vp->pci, VIRTIO_PCI_BAR_CFG, VIRTIO_PCI_COMMON_OFF + off, &v,
				 len);
	return v;
}

static void status_write(struct fixture *f, uint8_t s)
{
	reg_write(f, VIRTIO_PCI_COMMON_STATUS, s, 1);
}

static uint8_t status_read(struct fixture *f)
{
	return (uint8_t)reg_read(f, VIRTIO_PCI_COMMON_STATUS, 1);
}

static void features_write(struct fixture *f, uint64_t features)
{
	reg_write(f, VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	reg_write(f, VIRTIO_PCI_COMMON_GF, (uint32_t)features, 4);
	reg_write(f, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	reg_write(f, VIRTIO_PCI_COMMON_GF, (uint32_t)(features >> 32), 4);
}

/* Programs queue q's rings (zeroed) and enables it; the test's view of them in f->q[q]. */
static void queue_setup(struct fixture *f, unsigned q)
{
	uint64_t base = RING_GPA + q * 0x4000;
	struct virtqueue *vq = &f->vdev->vqs[q];

	memset(f->ram + base, 0, 0x4000);
	reg_write(f, VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
	reg_write(f, VIRTIO_PCI_COMMON_Q_SIZE, f->qsize, 2);
	reg_write(f, VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)base, 4);
	reg_write(f, VIRTIO_PCI_COMMON_Q_DESCHI, 0, 4);
	reg_write(f, VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)(base + 0x1000), 4);
	reg_write(f, VIRTIO_PCI_COMMON_Q_AVAILHI, 0, 4);
	reg_write(f, VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)(base + 0x2000), 4);
	reg_write(f, VIRTIO_PCI_COMMON_Q_USEDHI, 0, 4);
	reg_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	f->q[q] = (struct test_vring){
		.vq = vq,
		.desc = (struct vring_desc *)(f->ram + base),
		.avail = (struct vring_avail *)(f->ram + base + 0x1000),
		.used = (struct vring_used *)(f->ram + base + 0x2000),
		.size = f->qsize,
	};
}

/* Reset, the forward sequence one step at a time, every queue, DRIVER_OK: a live device. */
static void driver_up(struct fixture *f)
{
	status_write(f, 0);
	assert_int_equal(status_read(f), 0);
	status_write(f, ACK);
	status_write(f, ACK | DRV);
	features_write(f, f->features);
	status_write(f, ACK | DRV | FOK);
	assert_int_equal(status_read(f), ACK | DRV | FOK);
	for (unsigned q = 0; q < f->nr_q; q++)
		queue_setup(f, q);
	status_write(f, LIVE);
	assert_int_equal(status_read(f), LIVE);
	f->next_buf = BUF_GPA;
}

static uint64_t buf_alloc(struct fixture *f, uint32_t len)
{
	uint64_t gpa = f->next_buf;

	f->next_buf += ALIGN_UP(len, 64);
	assert_true(f->next_buf <= RAM_SIZE);
	return gpa;
}

/* Whether the kick eventfd of queue q still holds a kick nobody consumed within 50 ms. */
static bool kick_left_alone(struct fixture *f, unsigned q)
{
	int fd = f->vdev->vqs[q].kick_fd;
	uint64_t one = 1, v = 0;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
	usleep(50000);
	return read(fd, &v, sizeof(v)) == sizeof(v) && v == 1;
}

/* ---- one request per device kind: it completes within 2 s ---- */

static void blk_read_sector(struct fixture *f)
{
	struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_IN), .sector = 0 };
	uint64_t hdr = buf_alloc(f, sizeof(h)), data = buf_alloc(f, 512), st = buf_alloc(f, 1);
	struct test_seg s[3] = { { hdr, sizeof(h), false }, { data, 512, true }, { st, 1, true } };

	memcpy(f->ram + hdr, &h, sizeof(h));
	f->ram[st] = 0xee;
	assert_true(test_vring_wait_used(&f->q[0], test_vring_add_kick(&f->q[0], s, 3), 2000));
	assert_int_equal(f->ram[st], VIRTIO_BLK_S_OK);
	assert_int_equal(f->ram[data], 0xa5);
}

static void net_send_frame(struct fixture *f)
{
	uint64_t frame = buf_alloc(f, 12 + 60);
	struct test_seg s = { frame, 12 + 60, false };
	struct pollfd pfd = { .fd = f->host_fd, .events = POLLIN };
	uint8_t got[128];

	memset(f->ram + frame, 0, 12);
	memset(f->ram + frame + 12, 0x42, 60);
	assert_true(test_vring_wait_used(&f->q[VIRTIO_NET_TXQ],
					 test_vring_add_kick(&f->q[VIRTIO_NET_TXQ], &s, 1), 2000));
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(read(f->host_fd, got, sizeof(got)), 12 + 60);
	assert_int_equal(got[12], 0x42);
}

static void console_write(struct fixture *f)
{
	uint64_t b = buf_alloc(f, 3);
	struct test_seg s = { b, 3, false };
	struct pollfd pfd = { .fd = f->out[0], .events = POLLIN };
	char got[8] = { 0 };

	memcpy(f->ram + b, "hi\n", 3);
	assert_true(test_vring_wait_used(&f->q[1], test_vring_add_kick(&f->q[1], &s, 1), 2000));
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(read(f->out[0], got, sizeof(got)), 3);
	assert_string_equal(got, "hi\n");
}

static void rng_read(struct fixture *f)
{
	uint64_t b = buf_alloc(f, 64);
	struct test_seg s = { b, 64, true };
	uint16_t idx;

	if (f->fifo_wr >= 0) {
		uint8_t bytes[64];

		memset(bytes, 0x77, sizeof(bytes));
		assert_int_equal(write(f->fifo_wr, bytes, sizeof(bytes)), sizeof(bytes));
	}
	idx = test_vring_add_kick(&f->q[0], &s, 1);
	assert_true(test_vring_wait_used(&f->q[0], idx, 2000));
	assert_int_equal(f->q[0].used->ring[(uint16_t)(idx - 1) % f->qsize].len, 64);
}

static void balloon_inflate(struct fixture *f)
{
	uint64_t b = buf_alloc(f, 4);
	uint32_t pfn = (uint32_t)((RAM_SIZE - SZ_1M) / 4096);
	struct test_seg s = { b, 4, false };
	struct virtio_balloon_info info;

	memcpy(f->ram + b, &pfn, 4);
	assert_true(test_vring_wait_used(&f->q[0], test_vring_add_kick(&f->q[0], &s, 1), 2000));
	virtio_balloon_get_info(f->vdev, &info);
	assert_int_equal(info.inflated_pages, 1);
}

/* The device does its job: a request of its kind completes, and it does not need a reset. */
static void assert_device_works(struct fixture *f)
{
	switch (f->kind) {
	case BLK:
		blk_read_sector(f);
		break;
	case NET:
		net_send_frame(f);
		break;
	case CONSOLE:
		console_write(f);
		break;
	case RNG:
		rng_read(f);
		break;
	case BALLOON:
		balloon_inflate(f);
		break;
	}
	assert_false(status_read(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* ---- fixtures ---- */

static struct fixture *fixture_alloc(enum kind kind)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct memmap_region r = { .kind = MEMMAP_RAM, .size = RAM_SIZE, .name = "ram" };

	assert_non_null(f);
	f->kind = kind;
	f->host_fd = f->out[0] = f->out[1] = f->fifo_wr = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ptvm-status-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	bus_init(&f->vm.pio, "pio");
	bus_init(&f->vm.mmio, "mmio");
	assert_int_equal(pci_bus_create(&f->vm, &windows, &f->bus), 0);
	f->memfd = memfd_create("status-test", MFD_CLOEXEC);
	assert_true(f->memfd >= 0);
	assert_int_equal(ftruncate(f->memfd, RAM_SIZE), 0);
	f->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	assert_true(f->ram != MAP_FAILED);
	assert_int_equal(memmap_create(&f->mm), 0);
	r.hva = f->ram;
	r.fd = f->memfd;
	assert_int_equal(memmap_add_region(f->mm, &r), 0);
	f->features = 1ULL << VIRTIO_F_VERSION_1;
	f->qsize = QSIZE;
	return f;
}

static void fixture_plug(struct fixture *f, unsigned nr_q, void (*destroy)(struct virtio_device *))
{
	f->nr_q = nr_q;
	f->destroy = destroy;
	assert_int_equal(virtio_pci_create(&f->vm, f->bus, f->vdev, &f->vp), 0);
}

static struct fixture *fixture_blk(void)
{
	struct fixture *f = fixture_alloc(BLK);
	struct virtio_blk_options o;
	char spec[128];
	uint8_t sector[512];
	int fd;

	snprintf(spec, sizeof(spec), "path=%s/disk.img", f->dir);
	assert_int_equal(virtio_blk_parse(spec, &o), 0);
	fd = open(o.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	memset(sector, 0xa5, sizeof(sector));
	for (unsigned i = 0; i < 2048; i++)
		assert_int_equal(write(fd, sector, sizeof(sector)), sizeof(sector));
	close(fd);
	assert_int_equal(virtio_blk_create(&o, f->mm, &f->vdev), 0);
	fixture_plug(f, 1, virtio_blk_destroy);
	return f;
}

static struct fixture *fixture_net(void)
{
	struct fixture *f = fixture_alloc(NET);
	struct virtio_net_options o = { .tap = "fake0", .mac_set = true, .mac = { 0x52, 0x54 } };
	struct virtio_net_backend be = { .name = "fake0" };
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	f->host_fd = sv[1];
	be.fd = sv[0];
	assert_int_equal(virtio_net_create_backend(&o, &be, f->mm, &f->vdev), 0);
	fixture_plug(f, 2, virtio_net_destroy);
	return f;
}

static struct fixture *fixture_console(void)
{
	struct fixture *f = fixture_alloc(CONSOLE);
	struct virtio_console_options o;

	assert_int_equal(pipe2(f->out, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(virtio_console_parse("virtio", &o), 0);
	o.out_fd = f->out[1];
	assert_int_equal(virtio_console_create(&o, f->mm, &f->vdev), 0);
	fixture_plug(f, 2, virtio_console_destroy);
	return f;
}

/* rng on /dev/urandom, or with fifo on a FIFO this test writes (a source that blocks). */
static struct fixture *fixture_rng(bool fifo)
{
	struct fixture *f = fixture_alloc(RNG);
	struct virtio_rng_config c;
	char spec[128];

	if (fifo) {
		snprintf(spec, sizeof(spec), "src=%s/fifo", f->dir);
		assert_int_equal(mkfifo(spec + 4, 0600), 0);
		/* a writer first, so that the device's open does not wait for one */
		f->fifo_wr = open(spec + 4, O_RDWR | O_CLOEXEC);
		assert_true(f->fifo_wr >= 0);
	} else {
		snprintf(spec, sizeof(spec), "src=/dev/urandom");
	}
	assert_int_equal(virtio_rng_parse(spec, &c), 0);
	assert_int_equal(virtio_rng_create(&c, f->mm, &f->vdev), 0);
	fixture_plug(f, 1, virtio_rng_destroy);
	return f;
}

static struct fixture *fixture_balloon(unsigned stats_period_ms)
{
	struct fixture *f = fixture_alloc(BALLOON);
	struct virtio_balloon_options o;

	assert_int_equal(virtio_balloon_parse("", &o), 0);
	o.stats_period_ms = stats_period_ms;
	assert_int_equal(virtio_balloon_create(&o, f->mm, &f->vdev), 0);
	f->features |= 1ULL << VIRTIO_BALLOON_F_STATS_VQ;
	fixture_plug(f, 3, virtio_balloon_destroy);
	return f;
}

static struct fixture *fixture_of(enum kind kind)
{
	switch (kind) {
	case BLK:
		return fixture_blk();
	case NET:
		return fixture_net();
	case CONSOLE:
		return fixture_console();
	case RNG:
		return fixture_rng(false);
	case BALLOON:
		return fixture_balloon(VIRTIO_BALLOON_STATS_PERIOD_MS);
	}
	return NULL;
}

static void fixture_destroy(struct fixture *f)
{
	char path[128];

	virtio_pci_destroy(f->vp);
	f->destroy(f->vdev);
	memmap_destroy(f->mm);
	munmap(f->ram, RAM_SIZE);
	close(f->memfd);
	pci_bus_destroy(f->bus);
	bus_exit(&f->vm.pio);
	bus_exit(&f->vm.mmio);
	if (f->host_fd >= 0)
		close(f->host_fd);
	if (f->out[0] >= 0) {
		close(f->out[0]);
		close(f->out[1]);
	}
	if (f->fifo_wr >= 0)
		close(f->fifo_wr);
	snprintf(path, sizeof(path), "%s/disk.img", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fifo", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
}

/* ---- a reset after the guest cleared DRIVER_OK itself ---- */

/*
 * 0x0b (DRIVER_OK cleared by the guest, which only a reset may do) and then 0: the reset must
 * stop the I/O thread (nobody consumes a kick afterwards) even though the last status the
 * guest wrote had no DRIVER_OK; a new driver then brings the device up and it works.
 */
static void reset_after_clearing_driver_ok(enum kind kind)
{
	struct fixture *f = fixture_of(kind);

	driver_up(f);
	assert_device_works(f);
	status_write(f, ACK | DRV | FOK);
	status_write(f, 0);
	assert_int_equal(status_read(f), 0);
	assert_true(kick_left_alone(f, 0));
	driver_up(f);
	assert_device_works(f);
	fixture_destroy(f);
}

static void test_blk_reset_after_clearing_driver_ok(void **state)
{
	reset_after_clearing_driver_ok(BLK);
}

static void test_net_reset_after_clearing_driver_ok(void **state)
{
	reset_after_clearing_driver_ok(NET);
}

static void test_console_reset_after_clearing_driver_ok(void **state)
{
	reset_after_clearing_driver_ok(CONSOLE);
}

static void test_rng_reset_after_clearing_driver_ok(void **state)
{
	reset_after_clearing_driver_ok(RNG);
}

static void test_balloon_reset_after_clearing_driver_ok(void **state)
{
	reset_after_clearing_driver_ok(BALLOON);
}

/*
 * The reported crash: a statistics buffer held by the device, 0x0b, 0, and the statistics
 * timer fires on: it must not push to the cleared used ring (it was SIGSEGV).
 */
static void test_balloon_stats_buffer_held_at_reset(void **state)
{
	struct fixture *f = fixture_balloon(20);
	uint64_t b;
	struct test_seg s;
	struct virtio_balloon_info info;
	uint64_t end;

	driver_up(f);
	b = buf_alloc(f, sizeof(struct virtio_balloon_stat));
	s = (struct test_seg){ b, sizeof(struct virtio_balloon_stat), false };
	memset(f->ram + b, 0, s.len);
	test_vring_add_kick(&f->q[2], &s, 1);
	end = test_now_ms() + 2000;
	do {
		usleep(1000);
		virtio_balloon_get_info(f->vdev, &info);
	} while (!info.stats_updates && test_now_ms() < end);
	assert_int_equal(info.stats_updates, 1);
	status_write(f, ACK | DRV | FOK);
	status_write(f, 0);
	usleep(200000); /* ten statistics periods */
	assert_int_equal(status_read(f), 0);
	driver_up(f);
	assert_device_works(f);
	fixture_destroy(f);
}

/* A helper thread: after delay_ms it writes 64 bytes to fd, or drains it. */
static pthread_t helper;
static int helper_fd;
static unsigned helper_delay_ms;
static bool helper_reads;	  /* drain helper_fd rather than write to it */
static _Atomic bool helper_acted; /* set just before it writes or drains */

static void *helper_main(void *arg)
{
	uint8_t buf[65536];

	usleep(helper_delay_ms * 1000);
	memset(buf, 0x77, sizeof(buf));
	helper_acted = true;
	if (helper_reads) {
		while (read(helper_fd, buf, sizeof(buf)) > 0)
			;
	} else if (write(helper_fd, buf, 64) != 64) {
		return (void *)1;
	}
	return NULL;
}

static void helper_start(int fd, bool reads, unsigned delay_ms)
{
	helper_fd = fd;
	helper_reads = reads;
	helper_delay_ms = delay_ms;
	helper_acted = false;
	assert_int_equal(pthread_create(&helper, NULL, helper_main, NULL), 0);
}

static void helper_join(void)
{
	void *ret;

	assert_int_equal(pthread_join(helper, &ret), 0);
	assert_null(ret);
}

/*
 * rng on a FIFO, a source that can block: a request waits while the FIFO is empty (it is not
 * completed empty) and completes when data arrives; a reset with a request pending returns at
 * once (it was stuck in the FIFO's read until data came, and before that the queues were
 * cleared under the reading thread: SIGSEGV); afterwards the device works again.
 */
static void test_rng_fifo_source_never_blocks(void **state)
{
	struct fixture *f = fixture_rng(true);
	struct test_seg s;
	uint8_t drain[256];
	bool unblocked_by_writer;

	driver_up(f);
	s = (struct test_seg){ buf_alloc(f, 64), 64, true };
	test_vring_add_kick(&f->q[0], &s, 1);
	usleep(100000);
	assert_int_equal(test_vring_used_idx(&f->q[0]), 0);
	assert_int_equal(write(f->fifo_wr, "0123456789abcdef", 16), 16);
	assert_true(test_vring_wait_used(&f->q[0], 1, 2000));
	assert_int_equal(f->q[0].used->ring[0].len, 16);
	assert_memory_equal(f->ram + s.gpa, "0123456789abcdef", 16);

	/* pending again, then the guest resets: a writer 3 s later is only a safety net, and the
	 * reset must return before it writes (not because of what it writes) */
	test_vring_add_kick(&f->q[0], &s, 1);
	usleep(50000);
	status_write(f, ACK | DRV | FOK);
	helper_start(f->fifo_wr, false, 3000);
	status_write(f, 0);
	unblocked_by_writer = helper_acted;
	helper_join();
	assert_false(unblocked_by_writer);
	assert_int_equal(status_read(f), 0);
	/* what the safety net wrote, nobody read */
	assert_int_equal(poll(&(struct pollfd){ .fd = f->fifo_wr, .events = POLLIN }, 1, 0), 1);
	assert_int_equal(read(f->fifo_wr, drain, sizeof(drain)), 64);
	driver_up(f);
	assert_device_works(f);
	fixture_destroy(f);
}

/* console output waiting for a full output pipe when the guest resets. */
static void test_console_request_in_flight_at_reset(void **state)
{
	struct fixture *f = fixture_console();
	uint8_t fill[4096];
	uint64_t b;
	struct test_seg s;

	memset(fill, 'x', sizeof(fill));
	while (write(f->out[1], fill, sizeof(fill)) > 0)
		;
	driver_up(f);
	b = buf_alloc(f, 16);
	s = (struct test_seg){ b, 16, false };
	memset(f->ram + b, 'y', 16);
	test_vring_add_kick(&f->q[1], &s, 1);
	usleep(50000); /* the I/O thread now waits for the pipe */
	status_write(f, ACK | DRV | FOK);
	helper_start(f->out[0], true, 100);
	status_write(f, 0);
	helper_join();
	usleep(50000);
	assert_int_equal(status_read(f), 0);
	/* what the joined thread wrote after the helper drained the pipe */
	while (read(f->out[0], fill, sizeof(fill)) > 0)
		;
	driver_up(f);
	assert_device_works(f);
	fixture_destroy(f);
}

/* blk reads in flight, 0x0b and 0 while the thread works, many times over: no crash, the disk
 * still works. */
static void test_blk_requests_in_flight_at_reset(void **state)
{
	struct fixture *f = fixture_blk();

	for (unsigned round = 0; round < 100; round++) {
		driver_up(f);
		for (unsigned i = 0; i < 8; i++) {
			struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_IN),
						       .sector = htole64(i * 128) };
			uint64_t hdr = buf_alloc(f, sizeof(h)), data = buf_alloc(f, 65536),
				 st = buf_alloc(f, 1);
			struct test_seg seg[3] = { { hdr, sizeof(h), false },
						   { data, 65536, true },
						   { st, 1, true } };

			memcpy(f->ram + hdr, &h, sizeof(h));
			test_vring_add(&f->q[0], seg, 3);
		}
		test_vring_kick(&f->q[0]);
		/* the first request done, the thread is busy with the others */
		while (!test_vring_used_idx(&f->q[0]))
			;
		status_write(f, ACK | DRV | FOK);
		status_write(f, 0);
		assert_int_equal(status_read(f), 0);
	}
	driver_up(f);
	assert_device_works(f);
	fixture_destroy(f);
}

/*
 * A notify of queue q through BAR0 as another vCPU writes it: width 2 is what KVM's ioeventfd
 * catches (here, as under KVM for any other width, the transport forwards it to the kick).
 */
static void notify_write(struct fixture *f, unsigned q, unsigned len)
{
	uint32_t v = q;

	f->vp->pci.ops->bar_write(&f->vp->pci, VIRTIO_PCI_BAR_CFG,
				  VIRTIO_PCI_NOTIFY_OFF + q * VIRTIO_PCI_NOTIFY_MULT, &v, len);
}

/* A driver on another vCPU that keeps the ring full of 4 KiB reads until told to stop, or for
 * 30 s at most (then it says so: flood_gave_up), kicking only when the device asks for kicks,
 * as a real driver does. */
static _Atomic bool flood_stop, flood_gave_up;

static void *flood_main(void *arg)
{
	struct fixture *f = arg;
	struct test_vring *t = &f->q[0];
	uint64_t end = test_now_ms() + 30000;
	struct test_seg s[3] = { { BUF_GPA, 16, false },
				 { BUF_GPA + 0x1000, 4096, true },
				 { BUF_GPA + 0x2000, 1, true } };

	while (!flood_stop) {
		if (test_now_ms() >= end) {
			flood_gave_up = true;
			break;
		}
		/* room for one more chain of 3 descriptors: test_vring_add reuses the table in
		 * order, so a chain in flight must never be written over. (Counting chains, not
		 * descriptors, let a driver that ran ahead of a descheduled device rewrite chain 0
		 * under it: the device saw a torn chain and asked for a reset.) */
		if ((uint16_t)(t->avail_idx - test_vring_used_idx(t)) * 3u + 3 > t->size)
			continue;
		test_vring_add(t, s, 3);
		if (!(__atomic_load_n(&t->used->flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY))
			notify_write(f, 0, 4);
	}
	return NULL;
}

/*
 * A ring that never runs dry must not keep the I/O thread from seeing a stop: the device
 * takes a bounded number of chains per wake-up, so a reset returns while the driver is still
 * refilling the ring, not only once it gives up. (Before the budget this failed only while the
 * flooding thread kept its CPU: on a loaded machine the ring drains whenever it is
 * descheduled.) No wall-clock bound: the order of events is the behaviour.
 */
static void test_reset_while_ring_never_empties(void **state)
{
	struct fixture *f = fixture_blk();
	struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_IN) };
	pthread_t flood;
	bool flood_was_over;

	f->qsize = VIRTIO_BLK_QUEUE_SIZE;
	driver_up(f);
	memcpy(f->ram + BUF_GPA, &h, sizeof(h));
	flood_stop = false;
	flood_gave_up = false;
	assert_int_equal(pthread_create(&flood, NULL, flood_main, f), 0);
	/* the device is busy: it has completed some of the flood (however loaded the machine) */
	assert_true(test_vring_wait_used(&f->q[0], 1, 20000));
	status_write(f, 0);
	flood_was_over = flood_gave_up;
	flood_stop = true;
	assert_int_equal(pthread_join(flood, NULL), 0);
	assert_int_equal(status_read(f), 0);
	assert_false(flood_was_over);
	driver_up(f);
	assert_device_works(f);
	fixture_destroy(f);
}

/* ---- the state machine ---- */

/* Only forward steps; DRIVER_OK re-sent or a bit cleared on a live device changes nothing. */
static void test_status_forward_steps_only(void **state)
{
	struct fixture *f = fixture_rng(false);

	status_write(f, 0);
	status_write(f, DOK); /* DRIVER_OK out of nowhere */
	assert_int_equal(status_read(f), 0);
	assert_true(kick_left_alone(f, 0));
	status_write(f, ACK);
	assert_int_equal(status_read(f), ACK);
	status_write(f, ACK | FOK); /* FEATURES_OK before DRIVER */
	assert_int_equal(status_read(f), ACK);
	status_write(f, ACK | DRV);
	assert_int_equal(status_read(f), ACK | DRV);
	status_write(f, ACK | DRV | DOK); /* DRIVER_OK without FEATURES_OK */
	assert_int_equal(status_read(f) & ~VIRTIO_CONFIG_S_NEEDS_RESET, ACK | DRV);
	assert_true(kick_left_alone(f, 0));
	driver_up(f);
	assert_device_works(f);
	status_write(f, ACK | DRV | FOK); /* clears DRIVER_OK: ignored */
	assert_int_equal(status_read(f), LIVE);
	status_write(f, LIVE); /* DRIVER_OK again: nothing happens */
	assert_int_equal(status_read(f), LIVE);
	assert_device_works(f);
	status_write(f,
		     LIVE | VIRTIO_CONFIG_S_NEEDS_RESET); /* the device's bit, not the driver's */
	assert_int_equal(status_read(f), LIVE);
	status_write(f, ACK); /* backwards */
	assert_int_equal(status_read(f), LIVE);
	assert_device_works(f);
	status_write(f, LIVE | VIRTIO_CONFIG_S_FAILED);
	assert_int_equal(status_read(f), LIVE | VIRTIO_CONFIG_S_FAILED);
	status_write(f, 0);
	assert_int_equal(status_read(f), 0);
	assert_true(kick_left_alone(f, 0));
	fixture_destroy(f);
}

/* Features the device did not offer: FEATURES_OK does not stick, and DRIVER_OK then neither. */
static void test_status_features_not_offered(void **state)
{
	struct fixture *f = fixture_rng(false);

	status_write(f, 0);
	status_write(f, ACK);
	status_write(f, ACK | DRV);
	features_write(f, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 5));
	status_write(f, ACK | DRV | FOK);
	assert_int_equal(status_read(f), ACK | DRV);
	queue_setup(f, 0);
	status_write(f, LIVE);
	assert_false(status_read(f) & DOK);
	assert_true(kick_left_alone(f, 0));
	fixture_destroy(f);
}

/* Queue registers are frozen on a live device: the rings stay where the device started them. */
static void test_queue_config_frozen_while_live(void **state)
{
	struct fixture *f = fixture_rng(false);

	driver_up(f);
	reg_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	reg_write(f, VIRTIO_PCI_COMMON_Q_DESCLO, 0x1000000, 4);
	reg_write(f, VIRTIO_PCI_COMMON_Q_USEDLO, 0x1000000, 4);
	reg_write(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, 2);
	reg_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 0, 2);
	assert_int_equal(reg_read(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4), RING_GPA);
	assert_int_equal(reg_read(f, VIRTIO_PCI_COMMON_Q_USEDLO, 4), RING_GPA + 0x2000);
	assert_int_equal(reg_read(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), QSIZE);
	assert_int_equal(reg_read(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	assert_device_works(f);
	fixture_destroy(f);
}

/* A queue the driver did not enable before DRIVER_OK cannot be enabled afterwards. */
static void test_queue_enable_after_driver_ok_refused(void **state)
{
	struct fixture *f = fixture_console();

	status_write(f, 0);
	status_write(f, ACK);
	status_write(f, ACK | DRV);
	features_write(f, f->features);
	status_write(f, ACK | DRV | FOK);
	queue_setup(f, 1);
	status_write(f, LIVE);
	reg_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	reg_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	assert_int_equal(reg_read(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	f->next_buf = BUF_GPA;
	assert_device_works(f);
	fixture_destroy(f);
}

/* Every status byte in every order: the log stays bounded, and a reset brings it all back. */
static void test_status_garbage_bounded_log(void **state)
{
	for (enum kind k = BLK; k <= BALLOON; k++) {
		struct fixture *f = fixture_of(k);

		driver_up(f);
		test_log_forget();
		for (unsigned v = 1; v < 256; v++)
			for (unsigned rep = 0; rep < 4; rep++)
				status_write(f, (uint8_t)(v * 37 + rep));
		/* the device's own limiter */
		assert_log_bounded(1);
		driver_up(f);
		assert_device_works(f);
		fixture_destroy(f);
	}
}

/* An argument runs only the tests whose names match it (cmocka's filter: * and ? globs). */
/*
 * A driver that sets a device up with its rings outside RAM, and resets and tries again, 200
 * times: every attempt ends in NEEDS_RESET, and the log stays within the device's limiter
 * (which a reset does not reset).
 */
static void test_bad_rings_reset_loop_bounded_log(void **state)
{
	for (enum kind k = BLK; k <= BALLOON; k++) {
		struct fixture *f = fixture_of(k);

		test_log_forget();
		for (unsigned i = 0; i < 200; i++) {
			status_write(f, 0);
			status_write(f, ACK);
			status_write(f, ACK | DRV);
			features_write(f, f->features);
			status_write(f, ACK | DRV | FOK);
			reg_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
			reg_write(f, VIRTIO_PCI_COMMON_Q_SIZE, f->qsize, 2);
			reg_write(f, VIRTIO_PCI_COMMON_Q_DESCLO, 0x10000000, 4); /* past RAM */
			reg_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
			status_write(f, LIVE);
			assert_int_equal(status_read(f),
					 ACK | DRV | FOK | VIRTIO_CONFIG_S_NEEDS_RESET);
		}
		assert_log_bounded(1);
		driver_up(f);
		assert_device_works(f);
		fixture_destroy(f);
	}
}

/*
 * MSI-X table and PBA garbage at every offset and width, with MSI-X enabled and KVM out of
 * routes: nothing breaks, the warnings about vectors that cannot be delivered stay bounded,
 * the device works.
 */
static void test_msix_garbage_routes_exhausted(void **state)
{
	struct fixture *f = fixture_rng(false);
	const unsigned widths[] = { 1, 2, 4, 8, 3 };
	uint16_t ctrl;

	f->vm.msi_route_error = -ENOSPC;
	driver_up(f);
	/* routes are made for an enabled function only: enable MSI-X as a driver does */
	pci_bus_config_read(f->bus, 0, f->vp->pci.devfn, f->vp->msix.cap + PCI_MSIX_FLAGS, &ctrl,
			    2);
	ctrl |= PCI_MSIX_FLAGS_ENABLE;
	pci_bus_config_write(f->bus, 0, f->vp->pci.devfn, f->vp->msix.cap + PCI_MSIX_FLAGS, &ctrl,
			     2);
	test_log_forget();
	for (unsigned rep = 0; rep < 8; rep++) {
		for (uint64_t off = 0; off < VIRTIO_PCI_BAR_MSIX_SIZE + 16; off++) {
			for (unsigned w = 0; w < ARRAY_SIZE(widths); w++) {
				uint64_t v = 0x0123456789abcdefULL * (off + rep + w + 1), r = 0;

				f->vp->pci.ops->bar_write(&f->vp->pci, VIRTIO_PCI_BAR_MSIX, off, &v,
							  widths[w]);
				f->vp->pci.ops->bar_read(&f->vp->pci, VIRTIO_PCI_BAR_MSIX, off, &r,
							 widths[w]);
			}
		}
	}
	assert_log_contains("cannot be delivered");
	assert_log_bounded(1);
	assert_int_equal(f->vm.msi_routes, 0);
	assert_device_works(f);
	fixture_destroy(f);
}

/* Another vCPU: notifies queue 0 through BAR0 until told to stop. */
static _Atomic bool notify_stop;

static void *notify_main(void *arg)
{
	struct fixture *f = arg;

	while (!atomic_load(&notify_stop))
		notify_write(f, 0, 4);
	return NULL;
}

/*
 * One vCPU notifies (with a width the ioeventfd does not catch, so the transport forwards it
 * to the queue's kick eventfd) while another resets the device and brings it up, again and
 * again. The reset rewrote the queue, kick_fd included, while the notify read it: a data race
 * ThreadSanitizer reported, and a moment where kick_fd read 0, so that ptvm wrote the kick to
 * its own stdin. Here stdin is a pipe: nothing may arrive on it.
 */
static void test_notify_while_reset(void **state)
{
	struct fixture *f = fixture_rng(false);
	int in[2], saved_stdin = dup(STDIN_FILENO);
	pthread_t t;
	char c;

	assert_true(saved_stdin >= 0);
	assert_int_equal(pipe2(in, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(dup2(in[1], STDIN_FILENO), STDIN_FILENO);
	notify_stop = false;
	assert_int_equal(pthread_create(&t, NULL, notify_main, f), 0);
	for (unsigned i = 0; i < 300; i++)
		driver_up(f);
	atomic_store(&notify_stop, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(dup2(saved_stdin, STDIN_FILENO), STDIN_FILENO);
	close(saved_stdin);
	assert_int_equal(read(in[0], &c, 1), -1);
	assert_int_equal(errno, EAGAIN);
	close(in[0]);
	close(in[1]);
	assert_device_works(f);
	fixture_destroy(f);
}

static void command_write(struct fixture *f, uint16_t cmd)
{
	pci_bus_config_write(f->bus, 0, f->vp->pci.devfn, PCI_COMMAND, &cmd, 2);
}

/*
 * INTx (MSI-X off): the I/O thread raises the line after each request while a vCPU toggles
 * the command register's INTx-disable bit. The I/O thread must not read config space, which
 * vCPUs write under the bus lock only (a data race that ThreadSanitizer reported here); the
 * line follows both the ISR and INTx-disable.
 */
static void test_intx_disable_while_io_thread_raises(void **state)
{
	struct fixture *f = fixture_rng(false);
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	uint8_t isr;

	driver_up(f);
	for (unsigned i = 0; i < 200; i++) {
		struct test_seg s = { BUF_GPA, 16, true };
		uint16_t idx = test_vring_add_kick(&f->q[0], &s, 1);

		for (unsigned t = 0; t < 20; t++)
			command_write(f, (uint16_t)(cmd | (t & 1 ? PCI_COMMAND_INTX_DISABLE : 0)));
		assert_true(test_vring_wait_used(&f->q[0], idx, 2000));
		usleep(100);
	}
	/* a request done with INTx disabled: ISR set, line low; enabling INTx raises it */
	command_write(f, cmd | PCI_COMMAND_INTX_DISABLE);
	rng_read(f);
	usleep(10000);
	assert_false(atomic_load(&f->vm.irq_level));
	command_write(f, cmd);
	assert_true(atomic_load(&f->vm.irq_level));
	/* reading the ISR clears it and lowers the line */
	f->vp->pci.ops->bar_read(&f->vp->pci, VIRTIO_PCI_BAR_CFG, VIRTIO_PCI_ISR_OFF, &isr, 1);
	assert_int_equal(isr & 1, 1);
	assert_false(atomic_load(&f->vm.irq_level));
	assert_device_works(f);
	fixture_destroy(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blk_reset_after_clearing_driver_ok),
		cmocka_unit_test(test_net_reset_after_clearing_driver_ok),
		cmocka_unit_test(test_console_reset_after_clearing_driver_ok),
		cmocka_unit_test(test_rng_reset_after_clearing_driver_ok),
		cmocka_unit_test(test_balloon_reset_after_clearing_driver_ok),
		cmocka_unit_test(test_balloon_stats_buffer_held_at_reset),
		cmocka_unit_test(test_rng_fifo_source_never_blocks),
		cmocka_unit_test(test_console_request_in_flight_at_reset),
		cmocka_unit_test(test_blk_requests_in_flight_at_reset),
		cmocka_unit_test(test_reset_while_ring_never_empties),
		cmocka_unit_test(test_status_forward_steps_only),
		cmocka_unit_test(test_status_features_not_offered),
		cmocka_unit_test(test_queue_config_frozen_while_live),
		cmocka_unit_test(test_queue_enable_after_driver_ok_refused),
		cmocka_unit_test(test_status_garbage_bounded_log),
		cmocka_unit_test(test_msix_garbage_routes_exhausted),
		cmocka_unit_test(test_bad_rings_reset_loop_bounded_log),
		cmocka_unit_test(test_intx_disable_while_io_thread_raises),
		cmocka_unit_test(test_notify_while_reset),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, test_log_setup, test_log_teardown);
}
