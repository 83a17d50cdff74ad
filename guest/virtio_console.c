/* SPDX-License-Identifier: MIT */
/* ptvm-args: --console virtio --cmdline "$CONSOLE_CMDLINE" */
/*
 * virtio_console: ptvm's stdin into hvc0 with backpressure. The host side
 * (tests/guest/virtio_host.sh) makes ptvm's stdin a FIFO and writes tokens=N tokens "%08d "
 * into it at once, more than the device's 64 KiB input buffer holds, while this guest sets up
 * the receive queue and then does not read for 2 s. ptvm must keep what the guest has not
 * taken and stop reading stdin while its buffer is full (it used to drop every further read
 * with a warning); then the guest reads everything: tokens 0 to N-1, in order, without a gap,
 * and ptvm's stderr stays empty (the host side checks). The loops run at CPL3.
 */
#include "kit.h"

const char test_name[] = "virtio_console";

#define TOKEN 9 /* "%08d " */
#define NBUF 16
#define BUF_LEN 2048u
#define IDLE_US 3000000ull

static struct virtio_dev cons;
static uint8_t *bufs[NBUF];
static int buf_of_head[VIRTQ_MAX_SIZE]; /* the buffer each chain in flight carries */
static uint64_t tokens;

/* The stream so far: the next expected token and where the guest is inside it. */
static uint64_t expect;
static unsigned int pos;
static uint64_t value;

static void stream_feed(const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		uint8_t c = p[i];

		if (pos < TOKEN - 1) {
			if (c < '0' || c > '9')
				test_fail(30, "token %llu: byte %u is 0x%02x, not a digit",
					  (unsigned long long)expect, pos, c);
			value = value * 10 + (c - '0');
			pos++;
			continue;
		}
		if (c != ' ')
			test_fail(31, "token %llu: 0x%02x where its space belongs",
				  (unsigned long long)expect, c);
		if (value != expect)
			test_fail(32, "token %llu arrived after token %llu: %llu bytes lost",
				  (unsigned long long)value, (unsigned long long)expect - 1,
				  (unsigned long long)((value - expect) * TOKEN));
		expect++;
		pos = 0;
		value = 0;
	}
}

static void post(struct virtq *vq, unsigned int i)
{
	struct virtio_buf b = { (uint64_t)bufs[i], BUF_LEN, true };
	int head = virtq_add(vq, &b, 1, false);

	if (head < 0)
		test_fail(20, "no room for receive buffer %u", i);
	buf_of_head[head] = (int)i;
}

static uint64_t user_main(uint64_t arg)
{
	struct virtq *vq;
	uint64_t bytes = 0;

	if (virtio_find(VIRTIO_ID_CONSOLE, 0, &cons))
		test_fail(10, "no virtio-console device");
	if (virtio_init(&cons, 0))
		test_fail(11, "device initialisation failed");
	if (virtio_queue_setup(&cons, 0, NBUF, VIRTIO_MSI_NO_VECTOR))
		test_fail(12, "receive queue setup failed");
	if (virtio_driver_ok(&cons))
		test_fail(13, "DRIVER_OK refused");
	vq = &cons.vq[0];
	virtq_interrupts(vq, false);
	/* not reading: ptvm must hold back what does not fit its buffer */
	delay_us(2000000);
	for (unsigned int i = 0; i < NBUF && i < vq->size; i++)
		post(vq, i);
	virtq_kick(vq);
	while (expect < tokens) {
		uint32_t id, len;
		int b;

		if (!virtq_wait(vq, &id, &len, IDLE_US))
			test_fail(21, "%llu of %llu tokens arrived (%llu bytes), then nothing for 3 s",
				  (unsigned long long)expect, (unsigned long long)tokens,
				  (unsigned long long)bytes);
		if (id >= VIRTQ_MAX_SIZE || (b = buf_of_head[id]) < 0 || len > BUF_LEN)
			test_fail(22, "used id %u length %u", id, len);
		buf_of_head[id] = -1;
		stream_feed(bufs[b], len);
		bytes += len;
		post(vq, (unsigned int)b);
		virtq_kick(vq);
	}
	printf("CHECK input %llu tokens, %llu bytes, in order\n", (unsigned long long)tokens,
	       (unsigned long long)bytes);
	virtio_reset(&cons);
	return 0;
}

int test_main(void)
{
	if (!cmdline_get_uint("tokens", &tokens) || !tokens)
		test_fail(9, "no tokens=N on the command line (tests/guest/virtio_host.sh feeds "
			     "them)");
	for (unsigned int i = 0; i < NBUF; i++)
		if (!(bufs[i] = page_alloc()))
			test_fail(8, "out of pages");
	for (unsigned int i = 0; i < VIRTQ_MAX_SIZE; i++)
		buf_of_head[i] = -1;
	user_call(user_main, 0);
	return 0;
}
