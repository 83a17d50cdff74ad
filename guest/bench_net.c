/* SPDX-License-Identifier: MIT */
/* ptvm-args: --net "$BNET_OPTS" --cmdline "$BNET_CMDLINE" */
/*
 * bench_net: virtio-net throughput for tests/bench, polled from CPL3, against a peer on the tap
 * (tests/bench/net_peer.py) that counts what arrives and sends what the guest asks for.
 *
 * Frames have ethertype 0x88b5 and start with "PTVMBNET", a le32 nonce, a le32 sequence number
 * and a kind byte: 'T' guest to tap, 'G' the guest asking for receive phase P (le32 P, le32
 * count, le16 size after the kind), 'R' tap to guest and 'E' the end of phase P (le32 P after
 * the kind: frames of an earlier phase still in the ring are told apart). For each frame size
 * (sizes=60,1514 by default: the smallest frame for packets/s, the largest for MB/s):
 *   tx: n frames (one descriptor each: header and frame together), the ring kept full, one
 *       kick per batch; timed from the first add to the last completion;
 *   rx: a 'G' to the peer, which sends n 'R' frames and then 'E's; 256 buffers posted and
 *       recycled in batches; timed from the first 'R' to the last;
 * and prints "bench_net: <tx|rx> <frame bytes> <frames> <TSC cycles> <frames lost>". Frames the
 * peer sends that never arrive (the ring was full: the tap drops them) count as lost.
 * Command line: nonce=N (the peer's), n=FRAMES per phase (default 64), sizes=A,B.
 * As a test (tests/guest/run.sh, host side tests/guest/bench_host.sh) it checks that every
 * received frame is the peer's, in order and intact, and that a small phase loses nothing.
 */
#include "kit.h"

const char test_name[] = "bench_net";

#define VIRTIO_NET_F_MAC 5
#define NET_HDR_LEN 12 /* virtio_net_hdr_v1: VERSION_1 always has num_buffers */
#define ETHERTYPE 0x88b5
#define QSIZE 256
#define BUF_LEN 2048 /* two buffers a page: header + the largest frame fit */
#define MAX_FRAME 1514
#define MIN_FRAME 60
#define MAX_SIZES 4
#define MAGIC "PTVMBNET"
#define OFF_NONCE 22 /* 14 (Ethernet) + 8 (magic) */
#define OFF_SEQ 26
#define OFF_KIND 30
#define OFF_PHASE 31 /* 'G', 'R', 'E': le32 phase number */
#define OFF_COUNT 35 /* 'G': le32 frames to send, le16 their size */
#define OFF_SIZE 39
#define RX_BATCH 32 /* buffers recycled before one kick */
/* for timeouts only: 3 cycles a ns waits at least as long on any TSC up to 3 GHz */
#define TSC_PER_US 3000

static struct virtio_dev net;
static uint8_t mac[6];
static uint32_t nonce;
static uint8_t *rx_buf[QSIZE], *tx_buf[QSIZE];
static uint16_t rx_of_head[QSIZE]; /* receive buffer index by descriptor head */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An Ethernet frame from us, broadcast, of @len bytes, our header, @kind and @seq. */
static void frame_build(uint8_t *f, uint32_t len, char kind, uint32_t seq)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = ETHERTYPE >> 8;
	f[13] = ETHERTYPE & 0xff;
	memcpy(f + 14, MAGIC, 8);
	put32(f + OFF_NONCE, nonce);
	put32(f + OFF_SEQ, seq);
	f[OFF_KIND] = (uint8_t)kind;
	for (uint32_t i = OFF_KIND + 1; i < len; i++)
		f[i] = (uint8_t)(seq + i);
}

static void rx_post(unsigned int i)
{
	struct virtio_buf b = { (uint64_t)rx_buf[i], BUF_LEN, true };
	int head = virtq_add(&net.vq[0], &b, 1, false);

	if (head < 0)
		test_fail(20, "no room to post receive buffer %u", i);
	rx_of_head[head] = (uint16_t)i;
}

/* Sends one frame synchronously (control frames: 'G'). */
static void ctl_send(uint8_t *page, char kind, uint32_t phase, uint32_t count, uint32_t size)
{
	struct virtio_buf b = { (uint64_t)page, NET_HDR_LEN + MIN_FRAME, false };

	memset(page, 0, NET_HDR_LEN);
	frame_build(page + NET_HDR_LEN, MIN_FRAME, kind, 0);
	put32(page + NET_HDR_LEN + OFF_PHASE, phase);
	put32(page + NET_HDR_LEN + OFF_COUNT, count);
	page[NET_HDR_LEN + OFF_SIZE] = (uint8_t)size;
	page[NET_HDR_LEN + OFF_SIZE + 1] = (uint8_t)(size >> 8);
	if (virtq_transfer(&net.vq[1], &b, 1, false, 5000000) < 0)
		test_fail(21, "transmit of the '%c' frame did not complete in 5 s", kind);
}

static void tx_phase(uint32_t size, uint32_t n)
{
	struct virtq *vq = &net.vq[1];
	uint32_t sent = 0, done = 0, id, len;
	uint64_t t0, t1;
	unsigned int next = 0;

	for (unsigned int i = 0; i < QSIZE; i++) {
		memset(tx_buf[i], 0, NET_HDR_LEN); /* no checksum offload, no GSO */
		frame_build(tx_buf[i] + NET_HDR_LEN, size, 'T', 0);
	}
	t0 = rdtsc();
	while (done < n) {
		bool added = false;

		while (sent < n && vq->num_free) {
			struct virtio_buf b = { (uint64_t)tx_buf[next], NET_HDR_LEN + size, false };

			put32(tx_buf[next] + NET_HDR_LEN + OFF_SEQ, sent);
			if (virtq_add(vq, &b, 1, false) < 0)
				test_fail(22, "tx: no room with %u descriptors free", vq->num_free);
			next = (next + 1) % QSIZE;
			sent++;
			added = true;
		}
		if (added)
			virtq_kick(vq);
		while (virtq_get(vq, &id, &len))
			done++;
		if ((rdtsc() - t0) / TSC_PER_US > 30000000)
			test_fail(23, "tx %u: %u of %u frames completed in 30 s", size, done, n);
	}
	t1 = rdtsc();
	printf("bench_net: tx %u %u %llu 0\n", size, n, (unsigned long long)(t1 - t0));
}

/* The frame at @f (@len bytes after the header) is the peer's @kind of @phase, or false. */
static bool frame_ours(const uint8_t *f, uint32_t len, char kind, uint32_t phase)
{
	return len >= MIN_FRAME && ((f[12] << 8) | f[13]) == ETHERTYPE &&
	       !memcmp(f + 14, MAGIC, 8) && get32(f + OFF_NONCE) == nonce && f[OFF_KIND] == kind &&
	       get32(f + OFF_PHASE) == phase;
}

static void rx_phase(uint8_t *ctl_page, uint32_t phase, uint32_t size, uint32_t n)
{
	struct virtq *vq = &net.vq[0];
	uint32_t got = 0, asks = 1, pending = 0, id, len, want_seq = 0;
	uint64_t t_first = 0, t_last = 0, t_ask, now;
	bool ended = false;

	ctl_send(ctl_page, 'G', phase, n, size);
	t_ask = rdtsc();
	while (!ended && got < n) {
		const uint8_t *f;
		unsigned int i;

		if (!virtq_get(vq, &id, &len)) {
			if (pending) {
				virtq_kick(vq);
				pending = 0;
			}
			now = rdtsc();
			if (!got && (now - t_ask) / TSC_PER_US > 1000000) {
				/* the peer missed the request: ask again (it ignores repeats) */
				if (asks++ == 10)
					break;
				ctl_send(ctl_page, 'G', phase, n, size);
				t_ask = now;
			}
			if (got && (now - t_last) / TSC_PER_US > 2000000)
				break; /* the rest is lost and so was the end marker */
			cpu_relax();
			continue;
		}
		now = rdtsc();
		if (id >= QSIZE)
			test_fail(24, "rx: used id %u", id);
		i = rx_of_head[id];
		f = rx_buf[i] + NET_HDR_LEN;
		if (len < NET_HDR_LEN || len > BUF_LEN)
			test_fail(25, "rx: used length %u", len);
		len -= NET_HDR_LEN;
		if (frame_ours(f, len, 'R', phase)) {
			uint32_t seq = get32(f + OFF_SEQ);

			if (len != size)
				test_fail(26, "rx %u: frame %u is %u bytes", size, seq, len);
			if (seq < want_seq)
				test_fail(27, "rx %u: frame %u after %u (out of order)", size, seq,
					  want_seq);
			if (f[len - 1] != (uint8_t)(seq + len - 1))
				test_fail(28, "rx %u: frame %u: last byte 0x%02x, want 0x%02x",
					  size, seq, f[len - 1], (uint8_t)(seq + len - 1));
			want_seq = seq + 1;
			if (!got)
				t_first = now;
			t_last = now;
			got++;
		} else if (frame_ours(f, len, 'E', phase)) {
			ended = true;
		}
		rx_post(i);
		if (++pending >= RX_BATCH) {
			virtq_kick(vq);
			pending = 0;
		}
	}
	if (pending)
		virtq_kick(vq);
	if (!got)
		test_fail(29, "rx %u: no frame from the peer (asked %u times)", size, asks);
	if (n <= vq->size && got < n)
		test_fail(30, "rx %u: %u of %u frames arrived, though the ring had room for all",
			  size, got, n);
	/* the first frame starts the clock: got - 1 intervals, scaled to got frames */
	printf("bench_net: rx %u %u %llu %u\n", size, got,
	       (unsigned long long)(got > 1 ? (t_last - t_first) * got / (got - 1) : 0), n - got);
}

static uint64_t user_main(uint64_t arg)
{
	uint64_t want = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	uint64_t n = 64;
	uint32_t sizes[MAX_SIZES] = { MIN_FRAME, MAX_FRAME };
	unsigned int nsizes = 2;
	uint8_t *ctl_page = (uint8_t *)arg;
	char s[32];

	cmdline_get_uint("n", &n);
	if (cmdline_get_str("sizes", s, sizeof(s))) {
		const char *p = s;

		nsizes = 0;
		while (*p && nsizes < MAX_SIZES) {
			uint32_t v = 0;

			while (*p >= '0' && *p <= '9')
				v = v * 10 + (uint32_t)(*p++ - '0');
			if (v < MIN_FRAME || v > MAX_FRAME || (*p && *p != ','))
				test_fail(9, "sizes=%s: want frame sizes %u-%u, comma separated", s,
					  MIN_FRAME, MAX_FRAME);
			sizes[nsizes++] = v;
			if (*p)
				p++;
		}
	}
	if (!n || n > 100000000)
		test_fail(9, "n=%llu: want 1-100000000 frames", (unsigned long long)n);

	if (virtio_find(VIRTIO_ID_NET, 0, &net))
		test_fail(10, "no virtio-net device");
	if (virtio_init(&net, want))
		test_fail(11, "device initialisation failed");
	if (virtio_queue_setup(&net, 0, QSIZE, VIRTIO_MSI_NO_VECTOR) ||
	    virtio_queue_setup(&net, 1, QSIZE, VIRTIO_MSI_NO_VECTOR))
		test_fail(13, "queue setup failed");
	if (net.vq[0].size != QSIZE || net.vq[1].size != QSIZE)
		printf("bench_net: queues of %u and %u entries\n", net.vq[0].size, net.vq[1].size);
	if (net.features & VIRTIO_BIT(VIRTIO_NET_F_MAC))
		virtio_config_read(&net, 0, mac, 6);
	else
		memcpy(mac, "\x02\x00\x00\x00\x00\x01", 6);
	for (unsigned int i = 0; i < net.vq[0].size; i++)
		rx_post(i);
	if (virtio_driver_ok(&net))
		test_fail(15, "DRIVER_OK refused");
	virtq_interrupts(&net.vq[0], false);
	virtq_interrupts(&net.vq[1], false);
	virtq_kick(&net.vq[0]);
	printf("bench_net: MAC %02x:%02x:%02x:%02x:%02x:%02x, features 0x%llx, n=%llu\n", mac[0],
	       mac[1], mac[2], mac[3], mac[4], mac[5], (unsigned long long)net.features,
	       (unsigned long long)n);
	for (unsigned int i = 0; i < nsizes; i++)
		tx_phase(sizes[i], (uint32_t)n);
	for (unsigned int i = 0; i < nsizes; i++)
		rx_phase(ctl_page, i, sizes[i], (uint32_t)n);
	virtio_reset(&net);
	return 0;
}

int test_main(void)
{
	uint64_t v;
	uint8_t *ctl_page;

	if (!cmdline_get_uint("nonce", &v))
		test_fail(9, "the command line needs nonce=N, the tap peer's (got \"%s\")",
			  bootinfo.cmdline);
	nonce = (uint32_t)v;
	for (unsigned int i = 0; i < QSIZE; i += 2) {
		uint8_t *r = page_alloc(), *t = page_alloc();

		if (!r || !t)
			test_fail(9, "out of pages");
		rx_buf[i] = r;
		rx_buf[i + 1] = r + BUF_LEN;
		tx_buf[i] = t;
		tx_buf[i + 1] = t + BUF_LEN;
	}
	if (!(ctl_page = page_zalloc()))
		test_fail(9, "out of pages");
	user_call(user_main, (uint64_t)ctl_page);
	return 0;
}
