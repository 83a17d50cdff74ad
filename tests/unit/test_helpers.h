/* SPDX-License-Identifier: MIT */
/*
 * Scaffolding shared by the unit tests. Each tests/unit/NAME_test.c is its own binary, so
 * everything here is static: a test that includes this header gets its own copy and the
 * Makefile needs no shared test object.
 *
 * Guest-ABI bytes: little-endian fields and checksums read back by a spec's offsets.
 *
 * Log capture: pr_err and friends written to a temporary file so a test can check what was
 * said (one line, naming the culprit) and keep it out of the test output.
 *
 * Virtqueue driver: the test plays the guest driver of a split ring in guest RAM (writes
 * descriptors, publishes them, kicks the queue's eventfd, waits for the used ring) and a
 * transport that only counts the interrupts the device raises; the device status goes
 * through the core's state machine (virtio_device_set_status) as a transport's would.
 */
#ifndef PTVM_TESTS_UNIT_TEST_HELPERS_H
#define PTVM_TESTS_UNIT_TEST_HELPERS_H

#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio.h"
#include "tests/unit/virtio_driver.h"
#include "vmm/log.h"

/* ---- tests under a user-mode emulator ---- */

/*
 * A cross build's unit tests run under qemu-user (PTVM_UNIT_EMULATOR names it, see
 * vmm/arm64/arch.mk), which does not emulate every kernel interface: madvise() is a no-op
 * there, and SIOCETHTOOL is not translated. A test that depends on one calls this first; it
 * returns the skip reason to print (the test then skips), or NULL on a real kernel.
 */
static inline const char *test_emulator_lacks(const char *what)
{
	static char reason[160];
	const char *emu = getenv("PTVM_UNIT_EMULATOR");

	if (!emu || !*emu)
		return NULL;
	snprintf(reason, sizeof(reason), "%s does not emulate %s (the test runs on a real kernel)",
		 emu, what);
	return reason;
}

/* ---- guest-ABI bytes ---- */

/*
 * For tests that read a table the guest reads (ACPI, AML) by the offsets its spec gives, not
 * through ptvm's own structs, so that a wrong struct layout fails the test.
 */

/* The little-endian value of the @bytes (at most 8) bytes at @p. */
static inline uint64_t test_le_read(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = bytes; i--;)
		v = (v << 8) | p[i];
	return v;
}

/* The 8-bit sum of @n bytes at @p: 0 over a table whose checksum is right. */
static inline uint8_t test_bytes_sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

/* ---- log capture ---- */

/* Where the log goes between test_log_capture_start() and test_log_capture_stop(). */
static FILE *test_log __attribute__((unused));

/* Sends the log to a fresh temporary file; returns 0 or -errno. */
static inline int test_log_capture_start(void)
{
	test_log = tmpfile();
	if (!test_log)
		return -errno;
	log_set_stream(test_log);
	return 0;
}

/* Sends the log back to stderr and drops what was captured. */
static inline void test_log_capture_stop(void)
{
	log_set_stream(NULL);
	if (test_log)
		fclose(test_log);
	test_log = NULL;
}

/* cmocka setup/teardown (group or per test) around test_log_capture_start/stop. */
static inline int test_log_setup(void **state)
{
	assert_int_equal(test_log_capture_start(), 0);
	return 0;
}

static inline int test_log_teardown(void **state)
{
	test_log_capture_stop();
	return 0;
}

/*
 * Copies what was logged since the capture started or was last forgotten into @out (NUL
 * terminated, cut at @n - 1 bytes) and returns @out; the log keeps it.
 */
static inline const char *test_log_peek(char *out, size_t n)
{
	size_t r;

	fflush(test_log);
	rewind(test_log);
	r = fread(out, 1, n - 1, test_log);
	out[r] = '\0';
	return out;
}

/* Forgets what was logged so far: the next peek sees only what comes after. */
static inline void test_log_forget(void)
{
	fflush(test_log);
	assert_int_equal(ftruncate(fileno(test_log), 0), 0);
	rewind(test_log);
}

/* test_log_peek, then test_log_forget: what was logged since the last take. */
static inline const char *test_log_take(char *out, size_t n)
{
	test_log_peek(out, n);
	test_log_forget();
	return out;
}

/* Everything logged since the last forget, in a buffer of its own (up to 16 KiB). */
static inline const char *test_log_text(void)
{
	static char buf[16384];

	return test_log_peek(buf, sizeof(buf));
}

/* Whether what was logged since the last take contains @what; forgets it either way. */
static inline bool test_log_said(const char *what)
{
	char buf[1024];

	return strstr(test_log_take(buf, sizeof(buf)), what) != NULL;
}

/* Lines logged since the last forget (the whole log, not only the first 16 KiB). */
static inline unsigned test_log_lines(void)
{
	unsigned n = 0;
	int c;

	fflush(test_log);
	rewind(test_log);
	while ((c = fgetc(test_log)) != EOF)
		n += c == '\n';
	return n;
}

/*
 * A guest that repeats one abuse gets at most one burst of a rate limiter's lines (plus the
 * line saying how many were suppressed) per limiter in each interval.
 */
#define assert_log_bounded(limiters)                                                               \
	do {                                                                                       \
		unsigned lines_ = test_log_lines();                                                \
                                                                                                   \
		if (lines_ > (limiters) * (LOG_RATELIMIT_BURST + 1))                               \
			fail_msg("%u lines logged, more than %d limiter(s) allow:\n%s", lines_,    \
				 (limiters), test_log_text());                                     \
	} while (0)

/* What was logged since the last forget contains @needle (the log is shown if not). */
static inline void assert_log_contains(const char *needle)
{
	const char *text = test_log_text();

	if (!strstr(text, needle))
		fail_msg("log lacks \"%s\"; it has:\n%s", needle, text);
}

/*
 * Exactly one line, ended by its newline, was logged since the last take, and it contains
 * @a and, unless NULL, @b. Forgets it.
 */
static inline void assert_log_one_line(const char *a, const char *b)
{
	char buf[1024];
	const char *log = test_log_take(buf, sizeof(buf));
	const char *nl = strchr(log, '\n');

	if (!strstr(log, a) || (b && !strstr(log, b)))
		fail_msg("log '%s' does not name '%s'%s%s", log, a, b ? " and " : "", b ? b : "");
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
}

/* ---- a transport that counts interrupts ---- */

#define TEST_TRANSPORT_MAX_VQS 8

/* Interrupts raised per queue index, and for configuration changes. */
static _Atomic unsigned test_irqs_queue[TEST_TRANSPORT_MAX_VQS] __attribute__((unused));
static _Atomic unsigned test_irqs_config __attribute__((unused));

/* Called from the device's I/O thread: no cmocka assertions here. */
static inline void test_transport_notify_queue(struct virtio_device *vdev, struct virtqueue *vq)
{
	if (vq->index < TEST_TRANSPORT_MAX_VQS)
		test_irqs_queue[vq->index]++;
}

static inline void test_transport_notify_config(struct virtio_device *vdev)
{
	test_irqs_config++;
}

static const struct virtio_transport_ops test_transport __attribute__((unused)) = {
	.notify_queue = test_transport_notify_queue,
	.notify_config = test_transport_notify_config,
};

/* Queue interrupts raised on all queues. */
static inline unsigned test_irqs_queue_total(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < TEST_TRANSPORT_MAX_VQS; i++)
		n += test_irqs_queue[i];
	return n;
}

static inline void test_irqs_reset(void)
{
	for (unsigned i = 0; i < TEST_TRANSPORT_MAX_VQS; i++)
		test_irqs_queue[i] = 0;
	test_irqs_config = 0;
}

/* ---- the driver's side of a split virtqueue ---- */

/* One buffer of a chain: where it is in guest RAM and whether the device writes it. */
struct test_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

struct test_vring {
	struct virtqueue *vq; /* the device's side: its kick eventfd */
	/* the rings in guest RAM as the driver writes and reads them */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t next_desc; /* next free descriptor */
	uint16_t avail_idx; /* the driver's avail index, published on each add */
};

static inline uint64_t test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Whether @cond (any expression) holds within @timeout_ms, polled every 0.5 ms: for what a
 * device does on its own thread's time. A statement expression, so @cond is re-evaluated.
 */
#define test_wait_until(cond, timeout_ms)                                                          \
	({                                                                                         \
		uint64_t _twu_end = test_now_ms() + (timeout_ms);                                  \
		bool _twu_ok;                                                                      \
                                                                                                   \
		while (!(_twu_ok = (cond)) && test_now_ms() < _twu_end)                            \
			usleep(500);                                                               \
		_twu_ok;                                                                           \
	})

/*
 * Whether the queue interrupts reach @want in all within @timeout_ms. The device publishes a
 * used entry first and raises the interrupt after it, from its own thread: a test that saw
 * the used index move must wait for the interrupt too, not read the count at once.
 */
static inline bool test_irqs_wait_queue_total(unsigned want, unsigned timeout_ms)
{
	return test_wait_until(test_irqs_queue_total() >= want, timeout_ms);
}

/* The same for the interrupts of queue @q alone. */
static inline bool test_irqs_wait_queue(unsigned q, unsigned want, unsigned timeout_ms)
{
	return test_wait_until(test_irqs_queue[q] >= want, timeout_ms);
}

/*
 * Plays the transport's part for @vq up to DRIVER_OK: ring addresses, enable, a kick
 * eventfd, virtqueue_start. Features that change the ring (event_idx, indirect) are set
 * by the caller beforehand. @r gets the driver's view of the rings.
 */
static inline void test_vring_start(struct test_vring *r, struct virtqueue *vq, struct memmap *mm,
				    uint16_t size, uint64_t desc_gpa, uint64_t avail_gpa,
				    uint64_t used_gpa)
{
	vq->size = size;
	vq->desc_gpa = desc_gpa;
	vq->avail_gpa = avail_gpa;
	vq->used_gpa = used_gpa;
	vq->enabled = true;
	vq->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(vq->kick_fd >= 0);
	assert_int_equal(virtqueue_start(vq, mm), 0);
	/* event_idx adds a trailing u16 to both rings */
	*r = (struct test_vring){
		.vq = vq,
		.desc = memmap_gpa_to_hva(mm, desc_gpa, 16ULL * size),
		.avail = memmap_gpa_to_hva(mm, avail_gpa, 6 + 2ULL * size),
		.used = memmap_gpa_to_hva(mm, used_gpa, 6 + 8ULL * size),
		.size = size,
		.desc_gpa = desc_gpa,
		.avail_gpa = avail_gpa,
		.used_gpa = used_gpa,
	};
	assert_non_null(r->desc);
	assert_non_null(r->avail);
	assert_non_null(r->used);
}

/*
 * After a device reset cleared the queue: the driver programs the same rings again (the
 * kick eventfd stays) and starts from index 0, as a new driver would.
 */
static inline void test_vring_restart(struct test_vring *r)
{
	struct virtqueue *vq = r->vq;

	vq->size = r->size;
	vq->desc_gpa = r->desc_gpa;
	vq->avail_gpa = r->avail_gpa;
	vq->used_gpa = r->used_gpa;
	vq->enabled = true;
	memset(r->avail, 0, 6 + 2ULL * r->size);
	memset(r->used, 0, 6 + 8ULL * r->size);
	r->next_desc = 0;
	r->avail_idx = 0;
}

/*
 * What the transport does for a driver that acks @features (VERSION_1 is added) and takes
 * the status steps up to FEATURES_OK (asserted to stick).
 */
static inline void test_device_features_ok(struct virtio_device *vdev, uint64_t features)
{
	virtio_driver_features_ok(vdev, features | 1ULL << VIRTIO_F_VERSION_1);
	assert_int_equal(virtio_device_status(vdev), VIRTIO_CONFIG_S_ACKNOWLEDGE |
							 VIRTIO_CONFIG_S_DRIVER |
							 VIRTIO_CONFIG_S_FEATURES_OK);
}

/*
 * test_device_features_ok, then DRIVER_OK, on queues started with test_vring_start. The
 * device's I/O thread runs afterwards (asserted).
 */
static inline void test_device_driver_ok(struct virtio_device *vdev, uint64_t features)
{
	test_device_features_ok(vdev, features);
	virtio_device_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(virtio_device_status(vdev),
			 VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(atomic_load(&vdev->activated));
}

/* The driver's reset: status 0; the I/O thread is stopped and joined, the queues cleared. */
static inline void test_device_reset(struct virtio_device *vdev)
{
	virtio_device_set_status(vdev, 0);
	assert_int_equal(virtio_device_status(vdev), 0);
	assert_false(atomic_load(&vdev->activated));
}

/*
 * The tests play the guest on a host thread: its plain writes to guest RAM (descriptors, the
 * avail ring) race with the device's reads by design, as a real guest's writes from its vCPUs
 * do, which ThreadSanitizer cannot see (virtqueue.c reads each field once and validates it).
 * Under TSan they are made as invisible as a real guest's; the index stores that publish them
 * stay atomic and visible. The same for a guest that watches a buffer while the device fills
 * it (TEST_GUEST_READS_*).
 */
#if defined(__SANITIZE_THREAD__)
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define TEST_GUEST_WRITES_BEGIN() AnnotateIgnoreWritesBegin(__FILE__, __LINE__)
#define TEST_GUEST_WRITES_END() AnnotateIgnoreWritesEnd(__FILE__, __LINE__)
#define TEST_GUEST_READS_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define TEST_GUEST_READS_END() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define TEST_GUEST_WRITES_BEGIN() ((void)0)
#define TEST_GUEST_WRITES_END() ((void)0)
#define TEST_GUEST_READS_BEGIN() ((void)0)
#define TEST_GUEST_READS_END() ((void)0)
#endif

/*
 * Writes @segs as one chain into descriptors @first, @first + 1, ... (modulo @wrap) of
 * @table: NEXT on all but the last, WRITE on the device-writable ones.
 */
static inline void test_vring_write_chain(struct vring_desc *table, uint16_t first, uint16_t wrap,
					  const struct test_seg *segs, unsigned n)
{
	TEST_GUEST_WRITES_BEGIN();
	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((first + i) % wrap);

		table[d].addr = segs[i].gpa;
		table[d].len = segs[i].len;
		table[d].flags = (uint16_t)((segs[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0));
		table[d].next = (uint16_t)((d + 1) % wrap);
	}
	TEST_GUEST_WRITES_END();
}

/* Puts @head in the avail ring and publishes the new avail index (release). */
static inline void test_vring_publish(struct test_vring *r, uint16_t head)
{
	TEST_GUEST_WRITES_BEGIN();
	r->avail->ring[r->avail_idx % r->size] = head;
	TEST_GUEST_WRITES_END();
	__atomic_store_n(&r->avail->idx, ++r->avail_idx, __ATOMIC_RELEASE);
}

/* Publishes @segs as one chain of direct descriptors (no kick); returns its head. */
static inline uint16_t test_vring_add(struct test_vring *r, const struct test_seg *segs, unsigned n)
{
	uint16_t head = r->next_desc;

	test_vring_write_chain(r->desc, head, r->size, segs, n);
	r->next_desc = (uint16_t)((r->next_desc + n) % r->size);
	test_vring_publish(r, head);
	return head;
}

/* The guest's notify: one write to the queue's kick eventfd. */
static inline void test_vring_kick(struct test_vring *r)
{
	uint64_t one = 1;

	assert_int_equal(write(r->vq->kick_fd, &one, sizeof(one)), sizeof(one));
}

/* test_vring_add, then a kick; returns the used index that means the chain is done. */
static inline uint16_t test_vring_add_kick(struct test_vring *r, const struct test_seg *segs,
					   unsigned n)
{
	test_vring_add(r, segs, n);
	test_vring_kick(r);
	return r->avail_idx;
}

static inline uint16_t test_vring_used_idx(struct test_vring *r)
{
	return __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE);
}

/* Whether the device's used index reaches @idx (modulo 2^16) within @timeout_ms. */
static inline bool test_vring_wait_used(struct test_vring *r, uint16_t idx, unsigned timeout_ms)
{
	return test_wait_until((int16_t)(test_vring_used_idx(r) - idx) >= 0, timeout_ms);
}

/* Waits up to 2 s for the device to have used @want chains in all: exactly that many. */
static inline void assert_vring_used(struct test_vring *r, uint16_t want)
{
	test_vring_wait_used(r, want, 2000);
	assert_int_equal(test_vring_used_idx(r), want);
}

#endif /* PTVM_TESTS_UNIT_TEST_HELPERS_H */
