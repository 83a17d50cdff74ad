/* SPDX-License-Identifier: MIT */
/* ptvm-args: $HOSTILE_VIRTIO */
/*
 * hostile_queues: virtqueues as no driver should write them, on every virtio device:
 *   - queue configuration (size, ring addresses, enable, vector) written while the queue is
 *     enabled and the device live: ignored, the device keeps working on its rings;
 *   - chains a walker must refuse: descriptor loops, next past the ring, 4 GiB lengths,
 *     buffers outside RAM, indirect tables nested, chained, huge, looping or outside RAM,
 *     heads past the ring, the avail index racing ahead, readable after writable: the
 *     device reports NEEDS_RESET on the queue it serves, and nothing else happens;
 *   - chains that are odd but legal: zero lengths, one buffer aliased 256 times;
 *   - notify storms on every queue index (and past the last), at every width.
 * After each attack the device must come up again after a reset and serve a request.
 */
#include "hostile.h"

const char test_name[] = "hostile_queues";

#define Q_SELECT 22
#define Q_SIZE 24
#define Q_MSIX 26
#define Q_ENABLE 28
#define Q_NOFF 30
#define Q_DESC 32
#define Q_AVAIL 40
#define Q_USED 48
#define F_NEXT VIRTQ_DESC_F_NEXT
#define F_WRITE VIRTQ_DESC_F_WRITE
#define F_INDIRECT VIRTQ_DESC_F_INDIRECT
#define FAR_AWAY 0x10000000000ull /* 1 TiB: no guest RAM there */

static struct hdev devs[HOSTILE_MAX_DEVS];
static unsigned int ndev;
static struct virtq_desc *tables; /* a page for indirect tables */

/* The queue a device pops on a kick (net and console transmit on 1). */
static unsigned int serving_queue(const struct hdev *d)
{
	return d->id == VIRTIO_ID_NET || d->id == VIRTIO_ID_CONSOLE ? 1 : 0;
}

static void bring_up(struct hdev *d)
{
	if (!hdev_up(d))
		test_fail(20, "%s: cannot bring it up", d->name);
}

/* ---- queue configuration while enabled ---- */

static uint64_t user_config_while_enabled(uint64_t i)
{
	struct hdev *d = &devs[i];
	uint64_t c = d->vd.common;

	bring_up(d);
	for (unsigned int n = 0; n < 200; n++) {
		uint64_t r = hostile_rand();

		mmio_write16(c + Q_SELECT, (uint16_t)(n % (d->vd.num_queues + 2)));
		mmio_write16(c + Q_SIZE, (uint16_t)r);
		mmio_write32(c + Q_DESC, (uint32_t)(r >> 8));
		mmio_write32(c + Q_DESC + 4, (uint32_t)(r >> 40));
		mmio_write32(c + Q_AVAIL, (uint32_t)(r >> 16));
		mmio_write32(c + Q_USED + 4, (uint32_t)r);
		mmio_write16(c + Q_ENABLE, (uint16_t)(r >> 32) & 1);
		mmio_write16(c + Q_NOFF, (uint16_t)r);
	}
	/* still on the rings the driver set up: a request works without a reset */
	for (unsigned int q = 0; q < d->nq; q++) {
		mmio_write16(c + Q_SELECT, (uint16_t)q);
		if (mmio_read32(c + Q_DESC) != (uint32_t)(uint64_t)d->vd.vq[q].desc ||
		    mmio_read16(c + Q_SIZE) != d->vd.vq[q].size || mmio_read16(c + Q_ENABLE) != 1)
			test_fail(21, "%s: queue %u's configuration changed while it was enabled",
				  d->name, q);
	}
	if (!hdev_request(d))
		test_fail(22, "%s: no request completes after queue registers were written live",
			  d->name);
	return 0;
}

/* ---- malformed chains ---- */

struct chain_attack {
	const char *name;
	bool malformed; /* the device must report NEEDS_RESET */
};

enum {
	A_LOOP,
	A_NEXT_PAST_RING,
	A_LEN_4G,
	A_OUTSIDE_RAM,
	A_READ_AFTER_WRITE,
	A_INDIRECT_NESTED,
	A_INDIRECT_CHAINED,
	A_INDIRECT_HUGE,
	A_INDIRECT_ODD,
	A_INDIRECT_LOOP,
	A_INDIRECT_OUTSIDE,
	A_HEAD_PAST_RING,
	A_AVAIL_AHEAD,
	A_ZERO_LENGTHS,
	A_ALIASED,
	A_COUNT,
};

static const struct chain_attack attacks[A_COUNT] = {
	[A_LOOP] = { "descriptor-loop", true },
	[A_NEXT_PAST_RING] = { "next-past-ring", true },
	[A_LEN_4G] = { "length-4g", true },
	[A_OUTSIDE_RAM] = { "buffer-outside-ram", true },
	[A_READ_AFTER_WRITE] = { "readable-after-writable", true },
	[A_INDIRECT_NESTED] = { "indirect-nested", true },
	[A_INDIRECT_CHAINED] = { "indirect-chained", true },
	[A_INDIRECT_HUGE] = { "indirect-huge", true },
	[A_INDIRECT_ODD] = { "indirect-odd-length", true },
	[A_INDIRECT_LOOP] = { "indirect-loop", true },
	[A_INDIRECT_OUTSIDE] = { "indirect-outside-ram", true },
	[A_HEAD_PAST_RING] = { "head-past-ring", true },
	[A_AVAIL_AHEAD] = { "avail-index-racing-ahead", true },
	[A_ZERO_LENGTHS] = { "zero-lengths", false },
	[A_ALIASED] = { "one-buffer-aliased-256-times", false },
};

static void desc_set(volatile struct virtq_desc *t, unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	t[i].addr = addr;
	t[i].len = len;
	t[i].flags = flags;
	t[i].next = next;
}

/* Puts @head in the avail ring and publishes it (x86 keeps the stores in order). */
static void publish(struct virtq *vq, uint16_t head)
{
	vq->avail[2 + (vq->avail_idx & (vq->size - 1))] = head;
	__asm__ volatile("" ::: "memory");
	vq->avail[1] = ++vq->avail_idx;
}

/* Writes chain @a into queue @q's ring (bypassing the kit's driver) and kicks. */
static void chain_write(struct hdev *d, unsigned int q, unsigned int a)
{
	struct virtq *vq = &d->vd.vq[q];
	volatile struct virtq_desc *t = vq->desc;
	uint64_t buf = (uint64_t)d->victim, itab = (uint64_t)tables;
	uint16_t w = d->id == VIRTIO_ID_RNG ? F_WRITE : 0; /* rng takes writable buffers */
	uint32_t pfn = (uint32_t)(buf >> 12);

	/* what a balloon reads as PFNs: only this page */
	for (unsigned int k = 0; k < 1024; k++)
		((uint32_t *)d->victim)[k] = pfn;

	switch (a) {
	case A_LOOP:
		desc_set(t, 0, buf, 64, F_NEXT | w, 1);
		desc_set(t, 1, buf, 64, F_NEXT | w, 0);
		break;
	case A_NEXT_PAST_RING:
		desc_set(t, 0, buf, 64, F_NEXT | w, (uint16_t)(vq->size + 7));
		break;
	case A_LEN_4G:
		desc_set(t, 0, buf, 0xffffffffu, w, 0);
		break;
	case A_OUTSIDE_RAM:
		desc_set(t, 0, FAR_AWAY, 4096, w, 0);
		break;
	case A_READ_AFTER_WRITE:
		desc_set(t, 0, buf, 64, F_NEXT | F_WRITE, 1);
		desc_set(t, 1, buf, 64, 0, 0);
		break;
	case A_INDIRECT_NESTED:
		desc_set(tables, 0, itab + 1024, 32, F_INDIRECT, 0);
		desc_set(t, 0, itab, 16, F_INDIRECT, 0);
		break;
	case A_INDIRECT_CHAINED:
		desc_set(tables, 0, buf, 64, w, 0);
		desc_set(t, 0, itab, 16, F_INDIRECT | F_NEXT, 1);
		desc_set(t, 1, buf, 64, w, 0);
		break;
	case A_INDIRECT_HUGE:
		desc_set(t, 0, itab, 0xfffffff0u, F_INDIRECT, 0);
		break;
	case A_INDIRECT_ODD:
		desc_set(t, 0, itab, 24, F_INDIRECT, 0);
		break;
	case A_INDIRECT_LOOP:
		desc_set(tables, 0, buf, 64, F_NEXT | w, 1);
		desc_set(tables, 1, buf, 64, F_NEXT | w, 0);
		desc_set(t, 0, itab, 32, F_INDIRECT, 0);
		break;
	case A_INDIRECT_OUTSIDE:
		desc_set(t, 0, FAR_AWAY, 64, F_INDIRECT, 0);
		break;
	case A_HEAD_PAST_RING:
		publish(vq, (uint16_t)(vq->size + 3));
		virtq_kick(vq);
		return;
	case A_AVAIL_AHEAD:
		vq->avail[1] = (uint16_t)(vq->avail_idx + vq->size + 5);
		virtq_kick(vq);
		return;
	case A_ZERO_LENGTHS:
		/* blk: a status byte after them, which a request needs to be one at all */
		desc_set(t, 0, buf, 0, F_NEXT | w, 1);
		desc_set(t, 1, buf + 64, d->id == VIRTIO_ID_BLOCK ? 1 : 0,
			 d->id == VIRTIO_ID_BLOCK ? F_WRITE : w, 0);
		break;
	case A_ALIASED:
		/* 256 entries of one indirect table, all the same 16 bytes (blk: the last one
		 * its writable status byte; balloon: PFNs of that very page) */
		for (unsigned int k = 0; k < 256; k++)
			desc_set(tables, k, buf, k == 255 && d->id == VIRTIO_ID_BLOCK ? 1 : 16,
				 (uint16_t)((k < 255 ? F_NEXT : 0) |
					    (k == 255 && d->id == VIRTIO_ID_BLOCK ? F_WRITE : w)),
				 (uint16_t)(k + 1));
		desc_set(t, 0, itab, 256 * 16, F_INDIRECT, 0);
		break;
	}
	publish(vq, 0);
	virtq_kick(vq);
}

/* Waits up to 200 ms for the device to either use the chain or report NEEDS_RESET. */
static bool outcome(struct hdev *d, unsigned int q, bool *needs_reset)
{
	struct virtq *vq = &d->vd.vq[q];
	uint64_t t0 = rdtsc();

	for (;;) {
		*needs_reset = virtio_status(&d->vd) & VIRTIO_STATUS_NEEDS_RESET;
		if (*needs_reset || vq->used[1] != vq->last_used)
			return true;
		if (rdtsc() - t0 > 200000ull * 3000)
			return false;
		cpu_relax();
	}
}

static uint64_t user_chain(uint64_t arg)
{
	struct hdev *d = &devs[arg >> 8];
	unsigned int a = arg & 0xff, q = serving_queue(d);
	bool needs_reset = false, done;

	bring_up(d);
	chain_write(d, q, a);
	done = outcome(d, q, &needs_reset);
	if (attacks[a].malformed && !needs_reset)
		test_fail(30, "%s: %s on queue %u: %s, not NEEDS_RESET", d->name, attacks[a].name,
			  q, done ? "the chain was used" : "nothing happened");
	if (!attacks[a].malformed && needs_reset)
		test_fail(31, "%s: %s on queue %u: NEEDS_RESET for a legal chain", d->name,
			  attacks[a].name, q);
	/* the queues a kick does not make the device pop (receive: only when input comes)
	 * get the chain too; the reset below meets it wherever the device got with it */
	if (d->id == VIRTIO_ID_NET || d->id == VIRTIO_ID_CONSOLE) {
		bring_up(d);
		chain_write(d, 0, a);
	}
	hdev_check(d, attacks[a].name);
	return 0;
}

/* ---- notify storms ---- */

static uint64_t user_notify_storm(uint64_t i)
{
	struct hdev *d = &devs[i];

	bring_up(d);
	for (unsigned int q = 0; q < d->vd.num_queues + 2; q++) {
		uint64_t n = d->vd.notify_base + (uint64_t)q * d->vd.notify_mult;

		for (unsigned int k = 0; k < 150; k++) {
			mmio_write16(n, (uint16_t)q); /* the ioeventfd's width */
			if (k % 3 == 0)
				mmio_write32(n, q);
			if (k % 3 == 1)
				mmio_write8(n, (uint8_t)q);
		}
	}
	/* a storm is not an error: the device works on, without a reset */
	if (virtio_status(&d->vd) & VIRTIO_STATUS_NEEDS_RESET)
		test_fail(40, "%s: NEEDS_RESET after a notify storm on empty queues", d->name);
	if (!hdev_request(d))
		test_fail(41, "%s: no request completes after a notify storm", d->name);
	return 0;
}

int test_main(void)
{
	hostile_seed(0x5eed0002);
	tables = page_zalloc();
	if (!tables)
		test_fail(9, "out of pages");
	ndev = hdev_find_every_kind(devs);
	for (unsigned int i = 0; i < ndev; i++) {
		attack_begin("queue-config-while-enabled %s", devs[i].name);
		user_call(user_config_while_enabled, i);
		user_call(hdev_check_user, (uint64_t)&devs[i]);
		for (unsigned int a = 0; a < A_COUNT; a++) {
			attack_begin("%s %s", attacks[a].name, devs[i].name);
			user_call(user_chain, (uint64_t)i << 8 | a);
		}
		attack_begin("notify-storm %s", devs[i].name);
		user_call(user_notify_storm, i);
		user_call(hdev_check_user, (uint64_t)&devs[i]);
	}
	return 0;
}
