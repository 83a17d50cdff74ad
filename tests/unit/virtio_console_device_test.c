// SPDX-License-Identifier: MIT
/*
 * virtio-console driven through real virtqueues in a guest RAM region: the test plays the
 * driver (descriptors, kicks on the queues' eventfds) and the host (a pipe for the output,
 * virtio_console_receive for the input); the device's own I/O thread does the work.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio_console.h"
#include "vmm/util.h"

#include "test_helpers.h"

#define RAM_SIZE SZ_1M
#define RING_GPA 0x10000ULL /* queue q's rings at RING_GPA + q * 0x1000 */
#define BUF_GPA 0x20000ULL
#define TQ_SIZE 8

struct cons_fixture {
	uint8_t *ram;
	struct memmap *mm;
	struct virtio_device *vdev;
	int out[2]; /* the guest's output arrives on out[0] */
	struct test_vring q[2];
};

/* The transport's part for one queue, and the driver's zeroed rings. */
static void cons_vq_start(struct cons_fixture *f, unsigned q)
{
	uint64_t base = RING_GPA + q * 0x1000;

	memset(f->ram + base, 0, 0x1000);
	test_vring_start(&f->q[q], &f->vdev->vqs[q], f->mm, TQ_SIZE, base, base + 0x200,
			 base + 0x400);
}

/* Publishes one buffer (a single descriptor) and kicks; returns the used index to wait for. */
static uint16_t cons_vq_post(struct test_vring *t, uint64_t gpa, uint32_t len, bool writable)
{
	return test_vring_add_kick(t, &(struct test_seg){ gpa, len, writable }, 1);
}

static struct cons_fixture *cons_create(void)
{
	struct cons_fixture *f = calloc(1, sizeof(*f));
	struct memmap_region r = { .kind = MEMMAP_RAM, .size = RAM_SIZE, .fd = -1 };
	struct virtio_console_options o;

	assert_non_null(f);
	f->ram = calloc(1, RAM_SIZE);
	assert_non_null(f->ram);
	assert_int_equal(memmap_create(&f->mm), 0);
	r.hva = f->ram;
	assert_int_equal(memmap_add_region(f->mm, &r), 0);
	assert_int_equal(pipe2(f->out, O_CLOEXEC | O_NONBLOCK), 0);

	assert_int_equal(virtio_console_parse("virtio", &o), 0);
	o.out_fd = f->out[1];
	assert_int_equal(virtio_console_create(&o, f->mm, &f->vdev), 0);
	f->vdev->transport = &test_transport;
	cons_vq_start(f, 0);
	cons_vq_start(f, 1);
	test_irqs_reset();
	return f;
}

static void cons_destroy(struct cons_fixture *f)
{
	test_device_reset(f->vdev);
	close(f->vdev->vqs[0].kick_fd);
	close(f->vdev->vqs[1].kick_fd);
	virtio_console_destroy(f->vdev);
	memmap_destroy(f->mm);
	close(f->out[0]);
	close(f->out[1]);
	free(f->ram);
	free(f);
}

/* Reads exactly len bytes of the guest's output, waiting up to 2 s. */
static void read_output(struct cons_fixture *f, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { .fd = f->out[0], .events = POLLIN };
		ssize_t n;

		assert_int_equal(poll(&pfd, 1, 2000), 1);
		n = read(f->out[0], buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

static void test_tx_reaches_the_output_fd(void **state)
{
	struct cons_fixture *f = cons_create();
	char out[32] = { 0 };
	uint16_t idx;

	test_device_driver_ok(f->vdev, 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE);
	memcpy(f->ram + BUF_GPA, "hello ", 6);
	memcpy(f->ram + BUF_GPA + 0x100, "hvc0\n", 5);
	cons_vq_post(&f->q[1], BUF_GPA, 6, false);
	idx = cons_vq_post(&f->q[1], BUF_GPA + 0x100, 5, false);
	assert_true(test_vring_wait_used(&f->q[1], idx, 2000));
	read_output(f, out, 11);
	assert_string_equal(out, "hello hvc0\n");
	assert_true(test_irqs_wait_queue_total(1, 5000));
	assert_int_equal(f->q[1].used->ring[0].len, 0); /* nothing written into TX buffers */
	assert_false(virtio_needs_reset(f->vdev));
	cons_destroy(f);
}

static void test_rx_fills_guest_buffers(void **state)
{
	struct cons_fixture *f = cons_create();
	uint16_t idx;

	test_device_driver_ok(f->vdev, 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE);
	memset(f->ram + BUF_GPA, 0xee, 0x200);
	cons_vq_post(&f->q[0], BUF_GPA, 8, true);
	idx = cons_vq_post(&f->q[0], BUF_GPA + 0x100, 8, true);
	assert_int_equal(virtio_console_receive(f->vdev, "abcdefghij", 10), 10);
	assert_true(test_vring_wait_used(&f->q[0], idx, 2000));
	assert_int_equal(f->q[0].used->ring[0].len, 8);
	assert_int_equal(f->q[0].used->ring[1].len, 2);
	assert_memory_equal(f->ram + BUF_GPA, "abcdefgh", 8);
	assert_memory_equal(f->ram + BUF_GPA + 0x100, "ij\xee", 3);
	assert_true(test_irqs_wait_queue_total(1, 5000));
	cons_destroy(f);
}

/* Input with no receive buffer waits in the device; a posted buffer then gets it. */
static void test_rx_without_buffers_keeps_bytes(void **state)
{
	struct cons_fixture *f = cons_create();
	uint16_t idx;

	/* before the driver is up at all */
	assert_int_equal(virtio_console_receive(f->vdev, "xy", 2), 2);
	test_device_driver_ok(f->vdev, 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE);
	assert_int_equal(virtio_console_receive(f->vdev, "z", 1), 1);
	usleep(20000);
	assert_int_equal(f->q[0].used->idx, 0);
	idx = cons_vq_post(&f->q[0], BUF_GPA, 16, true);
	assert_true(test_vring_wait_used(&f->q[0], idx, 2000));
	assert_int_equal(f->q[0].used->ring[0].len, 3);
	assert_memory_equal(f->ram + BUF_GPA, "xyz", 3);
	cons_destroy(f);
}

/* A guest that never reads: the buffer fills and receive says how much it took. */
static void test_rx_buffer_full_takes_what_fits(void **state)
{
	struct cons_fixture *f = cons_create();
	size_t big = VIRTIO_CONSOLE_RX_BUF + 100;
	uint8_t *data = malloc(big);
	uint16_t idx;

	assert_non_null(data);
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)i;
	assert_int_equal(virtio_console_receive(f->vdev, data, big), VIRTIO_CONSOLE_RX_BUF);
	assert_int_equal(virtio_console_receive(f->vdev, data, 1), 0);
	test_device_driver_ok(f->vdev, 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE);
	/* 0x1000 bytes drain; the ring wraps when the next input goes in */
	idx = cons_vq_post(&f->q[0], BUF_GPA, 0x1000, true);
	assert_true(test_vring_wait_used(&f->q[0], idx, 2000));
	assert_memory_equal(f->ram + BUF_GPA, data, 0x1000);
	assert_int_equal(virtio_console_receive(f->vdev, "W", 1), 1);
	free(data);
	cons_destroy(f);
}

static bool room_signalled(struct cons_fixture *f, int timeout_ms)
{
	struct pollfd pfd = { .fd = virtio_console_input_room_fd(f->vdev), .events = POLLIN };
	uint64_t v;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return false;
	assert_int_equal(read(pfd.fd, &v, sizeof(v)), sizeof(v));
	return true;
}

/* The reader's input: byte n of the stream is (n * 7) mod 256. */
static bool input_chunk(struct cons_fixture *f, size_t *fed)
{
	uint8_t chunk[VIRTIO_CONSOLE_INPUT_MAX];

	for (unsigned i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)((*fed + i) * 7);
	*fed += sizeof(chunk);
	return virtio_console_input(f->vdev, chunk, sizeof(chunk));
}

/* The guest posts one 4 KiB receive buffer; returns what it got, checked against the stream. */
static size_t guest_read(struct cons_fixture *f, size_t checked)
{
	uint16_t idx;
	uint32_t len;

	memset(f->ram + BUF_GPA, 0, 0x1000);
	idx = cons_vq_post(&f->q[0], BUF_GPA, 0x1000, true);
	assert_true(test_vring_wait_used(&f->q[0], idx, 2000));
	len = f->q[0].used->ring[(uint16_t)(idx - 1) % TQ_SIZE].len;
	for (uint32_t i = 0; i < len; i++)
		assert_int_equal(f->ram[BUF_GPA + i], (uint8_t)((checked + i) * 7));
	return len;
}

/*
 * ptvm's stdin reader with a guest that does not read: virtio_console_input takes whole reads
 * until less than one fits, then says stop; nothing is dropped and nothing is logged (the
 * reader used to go on and drop each read with a warning). Once the guest takes input the
 * room eventfd fires and the reader goes on; the guest gets every byte, in order.
 */
static void test_input_backpressure(void **state)
{
	struct cons_fixture *f = cons_create();
	size_t fed = 0, checked = 0;

	assert_int_equal(test_log_capture_start(), 0);
	while (input_chunk(f, &fed))
		assert_true(fed <= VIRTIO_CONSOLE_RX_BUF);
	assert_true(fed > VIRTIO_CONSOLE_RX_BUF - VIRTIO_CONSOLE_INPUT_MAX);
	assert_false(room_signalled(f, 50));
	/* the guest comes up and reads 4 KiB: room for a whole read again */
	test_device_driver_ok(f->vdev, 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE);
	checked += guest_read(f, checked);
	assert_int_equal(checked, 0x1000);
	assert_true(room_signalled(f, 2000));
	/* the reader goes on until stopped again; the guest drains everything */
	while (input_chunk(f, &fed))
		;
	assert_true(fed > VIRTIO_CONSOLE_RX_BUF + 0x1000 - VIRTIO_CONSOLE_INPUT_MAX);
	while (checked < fed)
		checked += guest_read(f, checked);
	assert_int_equal(checked, fed);
	assert_true(room_signalled(f, 0));
	assert_int_equal(test_log_lines(), 0);
	test_log_capture_stop();
	cons_destroy(f);
}

static void test_emergency_write(void **state)
{
	struct cons_fixture *f = cons_create();
	uint32_t c = 'Z';
	char out = 0;

	assert_true(f->vdev->ops->get_features(f->vdev) & (1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE));
	/* a pipe has no window size to offer */
	assert_false(f->vdev->ops->get_features(f->vdev) & (1ULL << VIRTIO_CONSOLE_F_SIZE));
	/* early output: the driver negotiated the feature, the device is not live yet */
	test_device_features_ok(f->vdev, 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE);
	f->vdev->ops->write_config(f->vdev, offsetof(struct virtio_console_config, emerg_wr), &c,
				   4);
	read_output(f, &out, 1);
	assert_int_equal(out, 'Z');
	cons_destroy(f);
}

static void test_malformed_chain_needs_reset(void **state)
{
	struct cons_fixture *f = cons_create();
	char out;

	test_device_driver_ok(f->vdev, 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE);
	/* a buffer that runs off the end of guest RAM */
	cons_vq_post(&f->q[1], RAM_SIZE - 4, 8, false);
	/* the I/O thread sets NEEDS_RESET, then raises the config interrupt: wait for both (under
	 * qemu-user the second came after a bare wait for the first) */
	for (int i = 0; i < 2000 && (!virtio_needs_reset(f->vdev) || !test_irqs_config); i++)
		usleep(1000);
	assert_true(virtio_needs_reset(f->vdev));
	assert_int_equal(test_irqs_config, 1);
	assert_int_equal(f->q[1].used->idx, 0);
	assert_int_equal(read(f->out[0], &out, 1), -1);
	assert_int_equal(errno, EAGAIN);
	cons_destroy(f);
}

struct out_reader {
	int fd;
	_Atomic uint64_t got;
	_Atomic bool stop;
};

/* The far end of the output pipe, reading as fast as it can until told to stop. */
static void *out_reader_run(void *arg)
{
	struct out_reader *r = arg;
	static char buf[64 * 1024];

	while (!atomic_load(&r->stop)) {
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 50) != 1)
			continue;
		n = read(r->fd, buf, sizeof(buf));
		if (n > 0)
			atomic_fetch_add(&r->got, (uint64_t)n);
	}
	return NULL;
}

/*
 * One transmit chain of 256 aliased descriptors (an indirect table), each all of guest RAM:
 * 256 MiB of output, through a 4 KiB pipe that its reader keeps draining, so the device is
 * busy with that chain for a long while. A reset meanwhile stops the output after the piece
 * in hand instead of waiting for the rest (without the check it returned only once all
 * 256 MiB were through), and the device works again afterwards.
 */
static void test_tx_huge_chain_does_not_hold_reset(void **state)
{
	struct cons_fixture *f = cons_create();
	struct vring_desc *table = (struct vring_desc *)(f->ram + BUF_GPA);
	struct test_seg segs[256];
	struct out_reader r = { .fd = f->out[0] };
	const uint64_t total = 256ULL * RAM_SIZE;
	uint64_t at_reset;
	pthread_t reader;
	char out[4] = { 0 };

	assert_true(fcntl(f->out[1], F_SETPIPE_SZ, 4096) > 0);
	test_device_driver_ok(f->vdev, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	for (unsigned i = 0; i < 256; i++)
		segs[i] = (struct test_seg){ 0, RAM_SIZE, false };
	test_vring_write_chain(table, 0, 256, segs, 256);
	TEST_GUEST_WRITES_BEGIN();
	f->q[1].desc[0] =
	    (struct vring_desc){ .addr = BUF_GPA,
				 .len = sizeof(segs) / sizeof(segs[0]) * sizeof(struct vring_desc),
				 .flags = VRING_DESC_F_INDIRECT };
	TEST_GUEST_WRITES_END();
	assert_int_equal(pthread_create(&reader, NULL, out_reader_run, &r), 0);
	test_vring_publish(&f->q[1], 0);
	test_vring_kick(&f->q[1]);
	assert_true(test_wait_until(atomic_load(&r.got) > 0, 2000));
	test_device_reset(f->vdev);
	at_reset = atomic_load(&r.got);
	atomic_store(&r.stop, true);
	assert_int_equal(pthread_join(reader, NULL), 0);
	assert_true(at_reset < total / 2);

	/* the driver starts over: output flows again */
	while (read(f->out[0], out, sizeof(out)) > 0)
		;
	for (unsigned q = 0; q < 2; q++) {
		close(f->vdev->vqs[q].kick_fd);
		cons_vq_start(f, q);
	}
	test_device_driver_ok(f->vdev, 0);
	memcpy(f->ram + BUF_GPA, "ok\n", 3);
	cons_vq_post(&f->q[1], BUF_GPA, 3, false);
	memset(out, 0, sizeof(out));
	read_output(f, out, 3);
	assert_string_equal(out, "ok\n");
	cons_destroy(f);
}

static void test_parse(void **state)
{
	struct virtio_console_options o;

	assert_int_equal(virtio_console_parse("virtio", &o), 0);
	assert_int_equal(o.out_fd, STDOUT_FILENO);
	assert_int_equal(virtio_console_parse("serial", &o), -EINVAL);
	assert_int_equal(virtio_console_parse(NULL, &o), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_reaches_the_output_fd),
		cmocka_unit_test(test_rx_fills_guest_buffers),
		cmocka_unit_test(test_rx_without_buffers_keeps_bytes),
		cmocka_unit_test(test_rx_buffer_full_takes_what_fits),
		cmocka_unit_test(test_input_backpressure),
		cmocka_unit_test(test_emergency_write),
		cmocka_unit_test(test_malformed_chain_needs_reset),
		cmocka_unit_test(test_tx_huge_chain_does_not_hold_reset),
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
