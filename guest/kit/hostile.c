/* SPDX-License-Identifier: MIT */
/* The hostile-guest suite's common part: see hostile.h. */
#include "hostile.h"

#define NET_HDR 12
#define BALLOON_INFLATEQ 0
#define BALLOON_DEFLATEQ 1

static uint64_t rand_state = 0x9e3779b97f4a7c15ull;

void hostile_seed(uint64_t seed)
{
	rand_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t hostile_rand(void)
{
	rand_state ^= rand_state >> 12;
	rand_state ^= rand_state << 25;
	rand_state ^= rand_state >> 27;
	return rand_state * 0x2545f4914f6cdd1dull;
}

static char current_attack[96];

void attack_begin(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(current_attack, sizeof(current_attack), fmt, ap);
	va_end(ap);
	printf("ATTACK %s\n", current_attack);
}

const char *virtio_status_name(uint8_t s, char *buf, size_t size)
{
	static const char *const bits[8] = { "ACK",  "DRIVER", "DRIVER_OK",   "FEATURES_OK",
					     "0x10", "0x20",   "NEEDS_RESET", "FAILED" };
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned int b = 0; b < 8; b++)
		if (s & (1u << b))
			used += (size_t)snprintf(buf + used, size > used ? size - used : 0, "%s%s",
						 used ? "|" : "", bits[b]);
	if (!s)
		snprintf(buf, size, "0");
	return buf;
}

static const struct {
	uint16_t id;
	const char *name;
	unsigned int nq;
} kinds[] = {
	{ VIRTIO_ID_BLOCK, "virtio-blk", 1 },	    { VIRTIO_ID_NET, "virtio-net", 2 },
	{ VIRTIO_ID_CONSOLE, "virtio-console", 2 }, { VIRTIO_ID_RNG, "virtio-rng", 1 },
	{ VIRTIO_ID_BALLOON, "virtio-balloon", 2 },
};

static bool has_virtio(uint16_t id)
{
	uint32_t want = (uint32_t)(VIRTIO_PCI_DEVICE_BASE + id) << 16 | VIRTIO_PCI_VENDOR;

	for (unsigned int d = 0; d < 32; d++)
		if (pci_cfg_read32(0, d, 0, 0) == want)
			return true;
	return false;
}

unsigned int hdev_find_all(struct hdev *devs, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && n < max; k++) {
		struct hdev *d = &devs[n];

		memset(d, 0, sizeof(*d));
		/* virtio_find says so when there is none: quietly probe first */
		if (!has_virtio(kinds[k].id))
			continue;
		if (virtio_find(kinds[k].id, 0, &d->vd))
			test_fail(90, "%s: found on bus 0, but its capabilities are unusable",
				  kinds[k].name);
		d->id = kinds[k].id;
		d->name = kinds[k].name;
		d->nq = kinds[k].nq;
		d->page = page_zalloc();
		d->victim = page_zalloc();
		if (!d->page || !d->victim)
			test_fail(91, "out of pages");
		n++;
	}
	return n;
}

struct hdev *hdev_by_id(struct hdev *devs, unsigned int n, uint16_t id)
{
	for (unsigned int i = 0; i < n; i++)
		if (devs[i].id == id)
			return &devs[i];
	return NULL;
}

bool hdev_up(struct hdev *d)
{
	if (virtio_init(&d->vd, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)))
		return false;
	for (unsigned int q = 0; q < d->nq; q++)
		if (virtio_queue_setup(&d->vd, q, 256, VIRTIO_MSI_NO_VECTOR))
			return false;
	if (virtio_driver_ok(&d->vd))
		return false;
	for (unsigned int q = 0; q < d->nq; q++)
		virtq_interrupts(&d->vd.vq[q], false);
	return true;
}

static bool transfer(struct hdev *d, unsigned int q, uint64_t addr, uint32_t len, bool write)
{
	struct virtio_buf b = { addr, len, write };

	return virtq_transfer(&d->vd.vq[q], &b, 1, false, HOSTILE_TIMEOUT_US) >= 0;
}

bool hdev_request(struct hdev *d)
{
	struct virtio_buf data = { (uint64_t)d->page, 512, true };
	uint32_t pfn = (uint32_t)((uint64_t)d->victim >> 12);

	switch (d->id) {
	case VIRTIO_ID_BLOCK:
		return virtio_blk_request(&d->vd.vq[0], VIRTIO_BLK_T_IN, 0, &data, 1, false,
					  NULL) == VIRTIO_BLK_S_OK;
	case VIRTIO_ID_NET:
		/* a header and a 60-byte frame to nobody: the tap takes or drops it */
		memset(d->page, 0, NET_HDR + 60);
		memset(d->page + NET_HDR, 0xff, 6);
		return transfer(d, 1, (uint64_t)d->page, NET_HDR + 60, false);
	case VIRTIO_ID_CONSOLE:
		d->page[0] = '\n'; /* an empty line between the serial console's */
		return transfer(d, 1, (uint64_t)d->page, 1, false);
	case VIRTIO_ID_RNG:
		return transfer(d, 0, (uint64_t)d->page, 16, true);
	case VIRTIO_ID_BALLOON:
		memcpy(d->page, &pfn, sizeof(pfn));
		return transfer(d, BALLOON_INFLATEQ, (uint64_t)d->page, 4, false) &&
		       transfer(d, BALLOON_DEFLATEQ, (uint64_t)d->page, 4, false);
	default:
		return false;
	}
}

void hdev_check(struct hdev *d, const char *attack)
{
	char st[80];
	uint8_t s = virtio_status(&d->vd);

	d->checks++;
	if (s & VIRTIO_STATUS_NEEDS_RESET)
		printf("CHECK %s: %s reports NEEDS_RESET (status %s)\n", attack, d->name,
		       virtio_status_name(s, st, sizeof(st)));
	if (!hdev_up(d))
		test_fail(92, "after %s: %s does not come up again after a reset (status %s)",
			  attack, d->name,
			  virtio_status_name(virtio_status(&d->vd), st, sizeof(st)));
	if (!hdev_request(d))
		test_fail(93, "after %s: %s came up again but a request did not complete", attack,
			  d->name);
}

uint64_t hdev_check_user(uint64_t d)
{
	hdev_check((struct hdev *)d, current_attack);
	return 0;
}

unsigned int hdev_find_every_kind(struct hdev *devs)
{
	unsigned int n = hdev_find_all(devs, HOSTILE_MAX_DEVS);

	if (n < sizeof(kinds) / sizeof(kinds[0]))
		test_fail(10, "%u virtio devices on bus 0, want blk, net, console, rng, balloon",
			  n);
	return n;
}
