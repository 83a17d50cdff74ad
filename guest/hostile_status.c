/* SPDX-License-Identifier: MIT */
/* ptvm-args: --cpus 2 $HOSTILE_VIRTIO */
/*
 * hostile_status: the virtio device status, written as no driver should, on every virtio
 * device of the machine (blk, net, console, rng, balloon):
 *   - every byte value from each state a driver passes through (0, ACKNOWLEDGE, DRIVER,
 *     FEATURES_OK, DRIVER_OK with live queues);
 *   - random orders: 1000 random status bytes in a row;
 *   - while I/O is in flight: a full ring of requests, kicked, then DRIVER_OK cleared, other
 *     bits set, FAILED, and a reset, at once (the reported crash was 0x0b then 0 on a
 *     balloon holding a buffer);
 *   - from two vCPUs at once: the second CPU writes status bytes and notifies without pause
 *     while the first sets the device up, DRIVER_OK and all, again and again.
 * After every write the status must read as a state the device can be in (the steps in order,
 * never DRIVER_OK without FEATURES_OK); after each attack the device must come up again and
 * serve a request. ptvm's stderr is counted by tests/guest/hostile_host.sh.
 */
#include "hostile.h"

const char test_name[] = "hostile_status";

#define ACK VIRTIO_STATUS_ACKNOWLEDGE
#define DRV VIRTIO_STATUS_DRIVER
#define FOK VIRTIO_STATUS_FEATURES_OK
#define DOK VIRTIO_STATUS_DRIVER_OK
#define LIVE (ACK | DRV | FOK | DOK)
#define STATUS_OFF 20 /* device_status in the common configuration */

static struct hdev devs[HOSTILE_MAX_DEVS];
static unsigned int ndev;

static void status_write(struct hdev *d, uint8_t v)
{
	mmio_write8(d->vd.common + STATUS_OFF, v);
}

/* The status reads as a state the device can be in: the steps in order, with any of
 * NEEDS_RESET and FAILED. */
static void status_sane(struct hdev *d, uint8_t wrote, uint8_t was)
{
	uint8_t s = virtio_status(&d->vd), steps = s & LIVE;
	char a[80], b[80], c[80];

	if ((s & 0x30) || (steps != 0 && steps != ACK && steps != (ACK | DRV) &&
			   steps != (ACK | DRV | FOK) && steps != LIVE))
		test_fail(20, "%s: status %s after writing %s to %s", d->name,
			  virtio_status_name(s, a, sizeof(a)),
			  virtio_status_name(wrote, b, sizeof(b)),
			  virtio_status_name(was, c, sizeof(c)));
}

/* Takes the device to @s the way a driver does (LIVE: with its queues set up). */
static void reach(struct hdev *d, uint8_t s)
{
	if (s == LIVE) {
		if (!hdev_up(d))
			test_fail(21, "%s: cannot bring it up", d->name);
		return;
	}
	virtio_reset(&d->vd);
	if (s & ACK)
		status_write(d, ACK);
	if (s & DRV)
		status_write(d, ACK | DRV);
	if (s & FOK) {
		mmio_write32(d->vd.common + 8, 1); /* driver_feature_select 1: VERSION_1 */
		mmio_write32(d->vd.common + 12, 1);
		status_write(d, ACK | DRV | FOK);
	}
	if (virtio_status(&d->vd) != s)
		test_fail(22, "%s: status 0x%x, not 0x%x, on the way a driver goes", d->name,
			  virtio_status(&d->vd), s);
}

static uint64_t user_every_value(uint64_t i)
{
	static const uint8_t states[] = { 0, ACK, ACK | DRV, ACK | DRV | FOK, LIVE };
	struct hdev *d = &devs[i];

	for (unsigned int k = 0; k < sizeof(states); k++) {
		reach(d, states[k]);
		for (unsigned int v = 1; v < 256; v++) {
			/* FAILED sticks until a reset, whatever comes with it: from a live
			 * device (which each of them takes down) a few stand for all 128 */
			if (states[k] == LIVE && (v & VIRTIO_STATUS_FAILED) && v != 0x80 &&
			    (v & 0x1f) != 0x0f)
				continue;
			status_write(d, (uint8_t)v);
			status_sane(d, (uint8_t)v, states[k]);
			if (virtio_status(&d->vd) != states[k])
				reach(d, states[k]);
		}
	}
	return 0;
}

static uint64_t user_random_orders(uint64_t i)
{
	struct hdev *d = &devs[i];
	uint8_t was = 0;

	virtio_reset(&d->vd);
	for (unsigned int n = 0; n < 1000; n++) {
		/* mostly the bits a driver uses, sometimes anything */
		uint8_t v = (uint8_t)(hostile_rand() & (n % 4 ? 0x8f : 0xff));

		status_write(d, v);
		status_sane(d, v, was);
		was = virtio_status(&d->vd);
	}
	return 0;
}

/* Fills queue @q with requests of the device's kind (no waiting) and kicks it. */
static unsigned int fill_ring(struct hdev *d, unsigned int q)
{
	struct virtq *vq = &d->vd.vq[q];
	unsigned int n = 0;

	for (;;) {
		struct virtio_buf b[3];
		unsigned int nb = 1;
		uint32_t pfn = (uint32_t)((uint64_t)d->victim >> 12);

		switch (d->id) {
		case VIRTIO_ID_BLOCK: /* 64 KiB reads of sector 0, into one aliased buffer */
			memset(d->page, 0, 16);
			b[0] = (struct virtio_buf){ (uint64_t)d->page, 16, false };
			b[1] = (struct virtio_buf){ (uint64_t)d->victim, 65536, true };
			b[2] = (struct virtio_buf){ (uint64_t)d->page + 64, 1, true };
			nb = 3;
			break;
		case VIRTIO_ID_RNG:
			b[0] = (struct virtio_buf){ (uint64_t)d->victim, 4096, true };
			break;
		case VIRTIO_ID_BALLOON: /* the same page inflated over and over */
			memcpy(d->page, &pfn, 4);
			b[0] = (struct virtio_buf){ (uint64_t)d->page, 4, false };
			break;
		default: /* net, console: transmit; a console chain of no bytes prints nothing */
			memset(d->page, 0, 128);
			b[0] = (struct virtio_buf){ (uint64_t)d->page,
						    d->id == VIRTIO_ID_NET ? 72u : 0u, false };
			break;
		}
		if (virtq_add(vq, b, nb, false) < 0)
			break;
		n++;
	}
	virtq_kick(vq);
	return n;
}

static uint64_t user_in_flight(uint64_t i)
{
	static const uint8_t seqs[][4] = {
		{ ACK | DRV | FOK, 0 },
		{ ACK | DRV, ACK | DRV | DOK, 0 },
		{ LIVE | VIRTIO_STATUS_NEEDS_RESET, DOK, 0 },
		{ LIVE | VIRTIO_STATUS_FAILED, LIVE, 0 },
		{ 0 },
		{ ACK, 0 },
	};
	struct hdev *d = &devs[i];

	for (unsigned int round = 0; round < 12; round++) {
		const uint8_t *seq = seqs[round % (sizeof(seqs) / sizeof(seqs[0]))];

		if (!hdev_up(d))
			test_fail(23, "%s: cannot bring it up", d->name);
		/* balloon: inflate and deflate in flight; others: the queue that does I/O */
		fill_ring(d, d->id == VIRTIO_ID_NET || d->id == VIRTIO_ID_CONSOLE ? 1 : 0);
		if (d->id == VIRTIO_ID_BALLOON)
			fill_ring(d, 1);
		for (unsigned int k = 0; k < 4; k++) {
			status_write(d, seq[k]);
			if (!seq[k])
				break;
		}
		if (virtio_status(&d->vd) != 0)
			test_fail(24, "%s: status 0x%x after a reset with requests in flight",
				  d->name, virtio_status(&d->vd));
	}
	return 0;
}

/* ---- two vCPUs ---- */

static struct hdev *volatile race_dev; /* the device the AP hammers; NULL: the AP stops */
static volatile unsigned int race_ap_rounds;

/* The AP, at CPL0 while the race lasts: status bytes and notifies on race_dev. */
static void ap_race(unsigned int apic_id)
{
	static const uint8_t vals[] = { 0,    ACK,  ACK | DRV, ACK | DRV | FOK,
					LIVE, 0x8f, 0x4f,      ACK | DRV | DOK };
	struct hdev *d;
	unsigned int k = 0;

	while ((d = race_dev)) {
		mmio_write8(d->vd.common + STATUS_OFF, vals[k % sizeof(vals)]);
		mmio_write16(d->vd.notify_base, 0);
		if (d->vd.num_queues > 1)
			mmio_write16(d->vd.notify_base + d->vd.notify_mult, 1);
		k++;
		race_ap_rounds++;
	}
}

/* The BSP sets the device up, raw (no waiting, no messages), while the AP interferes. */
static uint64_t user_race(uint64_t i)
{
	struct hdev *d = &devs[i];
	uint64_t c = d->vd.common, t0 = rdtsc();
	unsigned int start = race_ap_rounds;

	/* the AP was started on race_dev: wait until it runs */
	while (race_ap_rounds == start)
		if (rdtsc() - t0 > HOSTILE_TIMEOUT_US * 3000)
			test_fail(25, "%s: the second CPU did not start racing", d->name);
	for (unsigned int round = 0; round < 150; round++) {
		status_write(d, 0);
		status_write(d, ACK);
		status_write(d, ACK | DRV);
		mmio_write32(c + 8, 1);
		mmio_write32(c + 12, 1);
		status_write(d, ACK | DRV | FOK);
		for (unsigned int q = 0; q < d->nq; q++) {
			struct virtq *vq = &d->vd.vq[q];

			mmio_write16(c + 22, (uint16_t)q);
			mmio_write16(c + 24, vq->size);
			mmio_write32(c + 32, (uint32_t)(uint64_t)vq->desc);
			mmio_write32(c + 36, 0);
			mmio_write32(c + 40, (uint32_t)(uint64_t)vq->avail);
			mmio_write32(c + 44, 0);
			mmio_write32(c + 48, (uint32_t)(uint64_t)vq->used);
			mmio_write32(c + 52, 0);
			mmio_write16(c + 28, 1);
		}
		status_write(d, LIVE);
		mmio_write16(d->vd.notify_base, 0);
	}
	race_dev = NULL; /* the AP stops */
	return 0;
}

int test_main(void)
{
	unsigned int ids[SMP_MAX_CPUS], self = lapic_id(), ap;
	int ncpu;

	hostile_seed(0x5eed0001);
	ndev = hdev_find_every_kind(devs);
	ncpu = madt_lapic_ids(ids, SMP_MAX_CPUS);
	if (ncpu < 2)
		test_fail(11, "%d CPUs in the MADT, want 2", ncpu);
	ap = ids[0] == self ? ids[1] : ids[0];
	for (unsigned int i = 0; i < ndev; i++) {
		attack_begin("status-every-value %s", devs[i].name);
		user_call(user_every_value, i);
		user_call(hdev_check_user, (uint64_t)&devs[i]);
		attack_begin("status-random-orders %s", devs[i].name);
		user_call(user_random_orders, i);
		user_call(hdev_check_user, (uint64_t)&devs[i]);
		attack_begin("status-with-io-in-flight %s", devs[i].name);
		user_call(user_in_flight, i);
		user_call(hdev_check_user, (uint64_t)&devs[i]);
		attack_begin("status-from-two-vcpus %s", devs[i].name);
		race_dev = &devs[i];
		if (smp_start_ap(ap, ap_race))
			test_fail(12, "cannot start the second CPU");
		user_call(user_race, i);
		delay_us(20000); /* the AP sees race_dev NULL and stops */
		user_call(hdev_check_user, (uint64_t)&devs[i]);
	}
	return 0;
}
