/* SPDX-License-Identifier: MIT */
/* ptvm-args: --rng */
/*
 * virtio_rng: the kit's virtio-pci driver against a virtio-rng device. Two rounds: first
 * with EVENT_IDX and INDIRECT_DESC (batches of chains, direct and indirect, several
 * segments), then after a device reset with neither. The bytes must look random: not
 * constant, not zero, many distinct values, different between reads, and nothing written
 * past the length the device reported. The loops run at CPL3; finally one request completes
 * with its MSI-X vector pointed at the LAPIC, and the interrupt must arrive (and none while
 * interrupts were suppressed). Round 2 runs with the BAR moved above 4 GiB.
 */
#include "kit.h"

const char test_name[] = "virtio_rng";

#define TOTAL 4096u
#define REQ 512u
#define NREQ (TOTAL / REQ)
#define SENTINEL 0xa5
#define TIMEOUT_US 5000000ull
#define IRQ_VECTOR 40
#define HIGH_BAR 0x140000000ull /* 5 GiB */

static struct virtio_dev rng;
static uint8_t *pages[NREQ]; /* one page per request: REQ bytes of data, then sentinels */

/* The chain shape of request @i: 1, 2 or 3 segments, every third through an indirect table. */
static unsigned int chain_build(unsigned int i, uint8_t *buf, struct virtio_buf *b, bool *indirect)
{
	unsigned int nseg = 1 + i % 3;
	uint32_t seg = REQ / nseg, off = 0;

	for (unsigned int s = 0; s < nseg; s++) {
		uint32_t len = s + 1 < nseg ? seg : REQ - off;

		b[s] = (struct virtio_buf){ (uint64_t)(buf + off), len, true };
		off += len;
	}
	*indirect = (rng.features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)) && i % 3 == 2;
	return nseg;
}

static void bytes_check(const uint8_t *p, uint32_t len, const char *what)
{
	static uint8_t seen[256];
	unsigned int distinct = 0, zero = 0;
	bool all_same = true;

	memset(seen, 0, sizeof(seen));
	for (uint32_t i = 0; i < len; i++) {
		if (!seen[p[i]]++)
			distinct++;
		zero += !p[i];
		all_same &= p[i] == p[0];
	}
	if (all_same)
		test_fail(20, "%s: all %u bytes are 0x%02x", what, len, p[0]);
	if (zero == len)
		test_fail(21, "%s: all zero", what);
	/* 512 random bytes show about 220 distinct values; 64 would be wildly improbable */
	if (len >= REQ && distinct < 64)
		test_fail(22, "%s: only %u distinct byte values in %u bytes", what, distinct, len);
}

/* Takes one completion and matches it to its request. */
static void complete_one(struct virtq *vq, const char *name, const int *heads, uint32_t *lens,
			 unsigned int done)
{
	uint32_t id, len;
	unsigned int i;

	if (!virtq_wait(vq, &id, &len, TIMEOUT_US))
		test_fail(31, "%s: %u of %u requests completed, then nothing for 5 s", name, done,
			  NREQ);
	/* a head id comes back into use once completed: match the request still in flight */
	for (i = 0; i < NREQ && (heads[i] != (int)id || lens[i]); i++)
		;
	if (i == NREQ)
		test_fail(32, "%s: used id %u matches no request in flight", name, id);
	if (len == 0 || len > REQ)
		test_fail(33, "%s: request %u got used length %u (asked %u)", name, i, len, REQ);
	lens[i] = len;
}

/*
 * One round: NREQ requests, as many in flight at once as the ring takes (a batch per kick),
 * completed in any order, then checked.
 */
static void round_run(struct virtq *vq, const char *name)
{
	uint32_t lens[NREQ] = { 0 }, got = 0;
	int heads[NREQ];
	unsigned int done = 0;

	for (unsigned int i = 0; i < NREQ; i++)
		heads[i] = -1;
	for (unsigned int i = 0; i < NREQ;) {
		struct virtio_buf b[3];
		bool indirect;
		unsigned int n;

		memset(pages[i], SENTINEL, PAGE_SIZE);
		n = chain_build(i, pages[i], b, &indirect);
		heads[i] = virtq_add(vq, b, n, indirect);
		if (heads[i] >= 0) {
			i++;
			continue;
		}
		if (done == i) /* nothing in flight and still no room */
			test_fail(30, "%s: no room for request %u in an empty %u-entry queue", name,
				  i, vq->size);
		virtq_kick(vq);
		complete_one(vq, name, heads, lens, done++);
	}
	virtq_kick(vq);
	while (done < NREQ)
		complete_one(vq, name, heads, lens, done++);
	for (unsigned int i = 0; i < NREQ; i++) {
		char what[48];

		for (uint32_t b = lens[i]; b < PAGE_SIZE; b++)
			if (pages[i][b] != SENTINEL)
				test_fail(34, "%s: request %u: byte %u written past used length %u",
					  name, i, b, lens[i]);
		snprintf(what, sizeof(what), "%s request %u", name, i);
		bytes_check(pages[i], lens[i], what);
		got += lens[i];
	}
	if (lens[0] >= 64 && lens[1] >= 64 && !memcmp(pages[0], pages[1], 64))
		test_fail(35, "%s: two reads returned the same 64 bytes", name);
	printf("virtio_rng: %s: %u bytes in %u requests, %llu kicks (%llu suppressed)\n", name, got,
	       NREQ, (unsigned long long)vq->kicks, (unsigned long long)vq->kicks_suppressed);
}

static bool use_msix;

static uint64_t rng_setup(uint64_t want)
{
	if (virtio_init(&rng, want))
		test_fail(11, "device initialisation failed");
	if (virtio_queue_setup(&rng, 0, 64, use_msix ? 0 : VIRTIO_MSI_NO_VECTOR))
		test_fail(12, "queue setup failed");
	if (virtio_driver_ok(&rng))
		test_fail(13, "DRIVER_OK refused");
	/* polled: no interrupts wanted */
	virtq_interrupts(&rng.vq[0], false);
	printf("virtio_rng: device features 0x%llx, negotiated 0x%llx, queue size %u\n",
	       (unsigned long long)rng.offered, (unsigned long long)rng.features, rng.vq[0].size);
	return 0;
}

static uint64_t user_round1(uint64_t arg)
{
	if (virtio_find(VIRTIO_ID_RNG, 0, &rng))
		test_fail(10, "no virtio-rng device");
	printf("virtio_rng: 00:%02x.%x common cfg at 0x%llx, notify at 0x%llx (x%u), MSI-X %u "
	       "entries\n",
	       rng.dev, rng.fn, (unsigned long long)rng.common, (unsigned long long)rng.notify_base,
	       rng.notify_mult, rng.msix_size);
	use_msix = true;
	if (virtio_msix_route(&rng, 0, IRQ_VECTOR))
		test_fail(14, "MSI-X setup failed");
	rng_setup(VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	round_run(&rng.vq[0], "round 1");
	round_run(&rng.vq[0], "round 1b"); /* the ring wraps its free list and indices */
	return 0;
}

/*
 * Moves the BAR holding the common config to 5 GiB (in the 64-bit window of both ptvm and
 * QEMU q35 while RAM stays below 4 GiB), so the driver must map it (mmio_map) and the VMM
 * must follow the move. Decoding is off while the BAR changes.
 */
static void bar_move_high(void)
{
	unsigned int bar = 6;
	uint32_t lo, cmd;

	for (unsigned int i = 0; i < 6; i++)
		if (rng.bar[i] && rng.common >= rng.bar[i] && rng.common < rng.bar[i] + 0x4000)
			bar = i;
	if (bar == 6)
		test_fail(50, "cannot tell which BAR holds the common config at 0x%llx",
			  (unsigned long long)rng.common);
	lo = pci_cfg_read32(0, rng.dev, rng.fn, 0x10 + 4 * bar);
	if ((lo & 0x6) != 0x4)
		test_fail(51, "BAR%u (0x%x) is not a 64-bit BAR", bar, lo);
	cmd = pci_cfg_read32(0, rng.dev, rng.fn, 0x04) & 0xffff;
	pci_cfg_write32(0, rng.dev, rng.fn, 0x04, cmd & ~2u);
	pci_cfg_write32(0, rng.dev, rng.fn, 0x10 + 4 * bar, (uint32_t)HIGH_BAR | (lo & 0xf));
	pci_cfg_write32(0, rng.dev, rng.fn, 0x14 + 4 * bar, (uint32_t)(HIGH_BAR >> 32));
	pci_cfg_write32(0, rng.dev, rng.fn, 0x04, cmd);
}

static uint64_t user_round2(uint64_t arg)
{
	virtio_reset(&rng);
	bar_move_high();
	if (virtio_find(VIRTIO_ID_RNG, 0, &rng))
		test_fail(52, "the device is gone after moving its BAR");
	if (rng.common < HIGH_BAR)
		test_fail(53, "common config at 0x%llx after moving the BAR to 0x%llx",
			  (unsigned long long)rng.common, HIGH_BAR);
	printf("virtio_rng: BAR moved: common cfg now at 0x%llx\n", (unsigned long long)rng.common);
	rng_setup(0);
	round_run(&rng.vq[0], "round 2");
	return 0;
}

/* One request with interrupts asked for; the completion is polled, the interrupt waited. */
static uint64_t user_irq_request(uint64_t arg)
{
	struct virtq *vq = &rng.vq[0];
	struct virtio_buf b = { (uint64_t)pages[0], 64, true };

	virtq_interrupts(vq, true);
	if (virtq_transfer(vq, &b, 1, false, TIMEOUT_US) <= 0)
		test_fail(40, "interrupt request did not complete");
	return 0;
}

int test_main(void)
{
	uint32_t seen;

	for (unsigned int i = 0; i < NREQ; i++)
		if (!(pages[i] = page_alloc()))
			test_fail(9, "out of pages");
	user_call(user_round1, 0);
	lapic_enable();
	/*
	 * Interrupts were suppressed, but a device may still send some (QEMU always sends the
	 * first one after a reset): take what is pending, then ask for exactly one.
	 */
	seen = irq_count(IRQ_VECTOR);
	irq_wait(IRQ_VECTOR, seen, 20000);
	printf("virtio_rng: %u interrupt(s) arrived while suppressed\n",
	       irq_count(IRQ_VECTOR) - seen);
	seen = irq_count(IRQ_VECTOR);
	user_call(user_irq_request, 0);
	if (!irq_wait(IRQ_VECTOR, seen, TIMEOUT_US))
		test_fail(42, "no MSI-X interrupt on vector %u within 5 s", IRQ_VECTOR);
	printf("virtio_rng: MSI-X interrupt on vector %u arrived\n", IRQ_VECTOR);
	use_msix = false; /* round 2 polls without a vector */
	user_call(user_round2, 0);
	return 0;
}
