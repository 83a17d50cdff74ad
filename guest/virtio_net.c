/* SPDX-License-Identifier: MIT */
/* ptvm-args: --net "$NET_OPTS" --cmdline "$NET_CMDLINE" */
/*
 * virtio_net: the kit's driver against virtio-net on a tap that tests/guest/run.sh made.
 * The guest posts receive buffers, then broadcasts a frame of ethertype 0x88b5 carrying
 * "PTVM-PING <nonce>" (header and frame in separate descriptors); the host side, listening on
 * the tap with an AF_PACKET socket, answers each one with "PTVM-PONG <nonce>" sent to the
 * guest's MAC, which the guest must receive. The ping repeats every second in case the host
 * side missed one. The MAC in the device config must be the one given with mac=. All the
 * device work runs at CPL3.
 */
#include "kit.h"

const char test_name[] = "virtio_net";

#define VIRTIO_NET_F_MAC 5
#define NET_HDR_LEN 12 /* virtio_net_hdr_v1: VERSION_1 always has num_buffers */
#define ETHERTYPE 0x88b5
#define RX_BUFS 16
#define RX_BUF_LEN 2048
#define TRIES 10

static struct virtio_dev net;
static uint8_t mac[6], want_mac[6];
static char nonce[24];
static uint8_t *rx_pages[RX_BUFS];
static uint8_t *tx_page;
static unsigned int rx_other; /* frames that were not our answer (IPv6 noise etc.) */

static bool mac_parse(const char *s, uint8_t m[6])
{
	for (int i = 0; i < 6; i++) {
		unsigned int v = 0;

		for (int j = 0; j < 2; j++, s++) {
			char c = *s;

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned int)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned int)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v |= (unsigned int)(c - 'A' + 10);
			else
				return false;
		}
		m[i] = (uint8_t)v;
		if (i < 5 && *s++ != ':')
			return false;
	}
	return *s == '\0';
}

static void rx_post(unsigned int i)
{
	struct virtio_buf b = { (uint64_t)rx_pages[i], RX_BUF_LEN, true };

	if (virtq_add(&net.vq[0], &b, 1, false) < 0)
		test_fail(20, "no room to post receive buffer %u", i);
}

static void ping_send(unsigned int seq)
{
	uint8_t *hdr = tx_page, *f = tx_page + 64;
	struct virtio_buf b[2] = { { (uint64_t)hdr, NET_HDR_LEN, false },
				   { (uint64_t)f, 0, false } };
	int n;
	int64_t len;

	memset(hdr, 0, NET_HDR_LEN); /* no checksum offload, no GSO */
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = ETHERTYPE >> 8;
	f[13] = ETHERTYPE & 0xff;
	n = snprintf((char *)f + 14, 64, "PTVM-PING %s %u", nonce, seq);
	b[1].len = 14 + (uint32_t)n < 60 ? 60 : 14 + (uint32_t)n + 1;
	len = virtq_transfer(&net.vq[1], b, 2, false, 5000000);
	if (len < 0)
		test_fail(21, "transmit of ping %u did not complete in 5 s", seq);
}

/* Receives for about @us; true when the answer came (and was checked). */
static bool answer_wait(uint64_t us)
{
	char want[48];
	uint64_t t0 = rdtsc();
	uint32_t id, len;
	int wlen = snprintf(want, sizeof(want), "PTVM-PONG %s", nonce);

	while (rdtsc() - t0 < us * 3000) {
		const uint8_t *f;
		unsigned int i;

		if (!virtq_get(&net.vq[0], &id, &len)) {
			cpu_relax();
			continue;
		}
		for (i = 0; i < RX_BUFS && (uint64_t)rx_pages[i] != net.vq[0].desc[id].addr; i++)
			;
		if (i == RX_BUFS)
			test_fail(22, "receive completion %u names no posted buffer", id);
		if (len < NET_HDR_LEN + 14 || len > RX_BUF_LEN)
			test_fail(23, "received used length %u", len);
		f = rx_pages[i] + NET_HDR_LEN;
		if (((f[12] << 8) | f[13]) == ETHERTYPE &&
		    len >= NET_HDR_LEN + 14 + (uint32_t)wlen &&
		    !memcmp(f + 14, want, (size_t)wlen)) {
			if (memcmp(f, mac, 6))
				test_fail(
				    24, "the answer went to %02x:%02x:%02x:%02x:%02x:%02x, not us",
				    f[0], f[1], f[2], f[3], f[4], f[5]);
			printf(
			    "virtio_net: answer from %02x:%02x:%02x:%02x:%02x:%02x: \"%.*s\" (%u "
			    "bytes), %u other frame(s)\n",
			    f[6], f[7], f[8], f[9], f[10], f[11], wlen, (const char *)f + 14,
			    len - NET_HDR_LEN, rx_other);
			return true;
		}
		rx_other++;
		memset(rx_pages[i], 0, RX_BUF_LEN);
		rx_post(i);
		virtq_kick(&net.vq[0]);
	}
	return false;
}

static uint64_t user_main(uint64_t arg)
{
	uint64_t want = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
			VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);

	if (virtio_find(VIRTIO_ID_NET, 0, &net))
		test_fail(10, "no virtio-net device");
	if (virtio_init(&net, want))
		test_fail(11, "device initialisation failed");
	if (!(net.features & VIRTIO_BIT(VIRTIO_NET_F_MAC)))
		test_fail(12, "VIRTIO_NET_F_MAC not offered (features 0x%llx)",
			  (unsigned long long)net.offered);
	if (virtio_queue_setup(&net, 0, 64, VIRTIO_MSI_NO_VECTOR) ||
	    virtio_queue_setup(&net, 1, 64, VIRTIO_MSI_NO_VECTOR))
		test_fail(13, "queue setup failed");
	virtio_config_read(&net, 0, mac, 6);
	printf("virtio_net: features 0x%llx (offered 0x%llx), MAC %02x:%02x:%02x:%02x:%02x:%02x\n",
	       (unsigned long long)net.features, (unsigned long long)net.offered, mac[0], mac[1],
	       mac[2], mac[3], mac[4], mac[5]);
	if (memcmp(mac, want_mac, 6))
		test_fail(14, "config MAC differs from mac= on the command line");
	/* buffers before DRIVER_OK: the device may deliver as soon as it is live */
	for (unsigned int i = 0; i < RX_BUFS; i++)
		rx_post(i);
	if (virtio_driver_ok(&net))
		test_fail(15, "DRIVER_OK refused");
	virtq_interrupts(&net.vq[0], false);
	virtq_interrupts(&net.vq[1], false);
	virtq_kick(&net.vq[0]);
	for (unsigned int seq = 0; seq < TRIES; seq++) {
		ping_send(seq);
		if (answer_wait(1000000)) {
			printf("virtio_net: ping %u answered\n", seq);
			virtio_reset(&net);
			return 0;
		}
	}
	test_fail(30, "no answer to %u pings in %u s (%u other frames received)", TRIES, TRIES,
		  rx_other);
}

int test_main(void)
{
	char m[24];

	if (!cmdline_get_str("nonce", nonce, sizeof(nonce)) ||
	    !cmdline_get_str("mac", m, sizeof(m)) || !mac_parse(m, want_mac))
		test_fail(9, "the command line needs nonce=X mac=MAC (got \"%s\")",
			  bootinfo.cmdline);
	for (unsigned int i = 0; i < RX_BUFS; i++)
		if (!(rx_pages[i] = page_zalloc()))
			test_fail(9, "out of pages");
	if (!(tx_page = page_zalloc()))
		test_fail(9, "out of pages");
	user_call(user_main, 0);
	return 0;
}
