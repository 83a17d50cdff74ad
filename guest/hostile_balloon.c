/* SPDX-License-Identifier: MIT */
/* ptvm-args: --memory 128M --balloon free-page-reporting=on,stats-period=1 */
/*
 * hostile_balloon: PFNs and ranges no balloon driver should send:
 *   - inflate and deflate PFNs outside guest RAM (the PCI hole, past RAM's end, 2^32 - 1),
 *     deflate of pages never inflated;
 *   - aliased: one PFN 4096 times in a request, and one chain of 256 descriptors that all
 *     point at the same 16 KiB of PFNs (a million PFNs of work if nothing bounded it);
 *   - huge: descriptors of 4 GiB (refused: NEEDS_RESET), and a deflate chain of 256
 *     descriptors of 32 MiB of RAM each, read as PFNs;
 *   - statistics buffers of 3 bytes, of a million entries (aliased), again and again;
 *   - free page reports of ranges outside RAM, unaligned, and one range 256 times over.
 * Pages the guest never named keep their contents; the named scratch pages may come back as
 * zeroes. Afterwards the balloon must come up again and inflate and deflate a page.
 */
#include "hostile.h"

const char test_name[] = "hostile_balloon";

#define F_STATS_VQ 1
#define F_REPORTING 5
#define Q_INFLATE 0
#define Q_DEFLATE 1
#define Q_STATS 2
#define Q_REPORT 3
#define CANARY_PAGES 64
#define CANARY 0x3c

static struct hdev devs[HOSTILE_MAX_DEVS];
static struct hdev *b;
static uint8_t *canary[CANARY_PAGES]; /* pages no request names */
static uint32_t *pfns;		      /* a page of PFNs */
static uint8_t *scratch;	      /* the only RAM page requests name */

/* Up with statistics and free page reporting: four queues. */
static void up_full(void)
{
	if (virtio_init(&b->vd, VIRTIO_BIT(F_STATS_VQ) | VIRTIO_BIT(F_REPORTING) |
				    VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)))
		test_fail(20, "the balloon does not initialise");
	if (b->vd.features != (VIRTIO_BIT(F_STATS_VQ) | VIRTIO_BIT(F_REPORTING) |
			       VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_VERSION_1)))
		test_fail(21, "the balloon did not take statistics and reporting (features 0x%llx)",
			  (unsigned long long)b->vd.features);
	for (unsigned int q = 0; q < 4; q++)
		if (virtio_queue_setup(&b->vd, q, 128, VIRTIO_MSI_NO_VECTOR))
			test_fail(22, "balloon queue %u setup refused", q);
	if (virtio_driver_ok(&b->vd))
		test_fail(23, "the balloon refused DRIVER_OK");
}

/* One buffer (readable) on @q; true when it came back within 2 s. */
static bool send(unsigned int q, const void *p, uint32_t len)
{
	struct virtio_buf buf = { (uint64_t)p, len, false };

	return virtq_transfer(&b->vd.vq[q], &buf, 1, false, HOSTILE_TIMEOUT_US) >= 0;
}

static struct virtio_buf bufs[256];

/* @n buffers of @len bytes, all at @addr, in one chain through an indirect table, on @q. */
static int add_aliased(unsigned int q, uint64_t addr, uint32_t len, unsigned int n)
{
	for (unsigned int k = 0; k < n; k++)
		bufs[k] = (struct virtio_buf){ addr, len, false };
	return virtq_add(&b->vd.vq[q], bufs, n, true);
}

/* The same, kicked, and waited for: the used length, or -1 when nothing came back in 2 s. */
static int64_t send_aliased(unsigned int q, uint64_t addr, uint32_t len, unsigned int n)
{
	for (unsigned int k = 0; k < n; k++)
		bufs[k] = (struct virtio_buf){ addr, len, false };
	return virtq_transfer(&b->vd.vq[q], bufs, n, true, HOSTILE_TIMEOUT_US);
}

/* Polls for NEEDS_RESET for up to 200 ms. */
static bool needs_reset_soon(void)
{
	uint64_t t0 = rdtsc();

	while (rdtsc() - t0 < 200000ull * 3000)
		if (virtio_status(&b->vd) & VIRTIO_STATUS_NEEDS_RESET)
			return true;
	return false;
}

static void canaries_intact(const char *attack)
{
	for (unsigned int p = 0; p < CANARY_PAGES; p++)
		for (unsigned int k = 0; k < PAGE_SIZE; k += 64)
			if (canary[p][k] != CANARY)
				test_fail(24,
					  "after %s: page 0x%llx, which no request named, changed",
					  attack, (unsigned long long)(uint64_t)canary[p]);
}

static uint32_t pfn_of(const void *p)
{
	return (uint32_t)((uint64_t)p >> 12);
}

static uint64_t user_outside_ram(uint64_t arg)
{
	static const uint32_t bad[] = { 0xffffffffu, 0x8000u,	0xc0000u,  0xe0000u, 0xfee00u,
					0xfec00u,    0x100000u, 0x7fffffu, 0x10000u };

	up_full();
	for (unsigned int k = 0; k < 256; k++)
		pfns[k] = bad[k % (sizeof(bad) / sizeof(bad[0]))] + k / 9;
	if (!send(Q_INFLATE, pfns, 256 * 4) || !send(Q_DEFLATE, pfns, 256 * 4))
		test_fail(25, "PFNs outside RAM: the buffers did not come back");
	/* never inflated, then a request that is no whole number of PFNs */
	pfns[0] = pfn_of(scratch);
	if (!send(Q_DEFLATE, pfns, 4) || !send(Q_INFLATE, pfns, 7))
		test_fail(26, "odd requests: the buffers did not come back");
	canaries_intact("PFNs outside RAM");
	return 0;
}

static uint64_t user_aliased(uint64_t arg)
{
	up_full();
	for (unsigned int k = 0; k < 1024; k++)
		pfns[k] = pfn_of(scratch);
	/* one PFN 1024 times in one request, four times over */
	for (unsigned int r = 0; r < 4; r++)
		if (!send(Q_INFLATE, pfns, 4096))
			test_fail(27, "one PFN 1024 times: the buffer did not come back");
	/* 256 descriptors, each the whole page of PFNs: 262144 PFNs (only the scratch page) */
	if (send_aliased(Q_INFLATE, (uint64_t)pfns, 4096, 256) < 0 ||
	    send_aliased(Q_DEFLATE, (uint64_t)pfns, 4096, 256) < 0)
		test_fail(28, "256 aliased descriptors: the buffer did not come back in 2 s");
	canaries_intact("aliased PFNs");
	return 0;
}

static uint64_t user_huge(uint64_t arg)
{
	up_full();
	/* 256 descriptors of 32 MiB of RAM each, read as PFNs to deflate (bookkeeping only,
	 * whatever they name) */
	if (send_aliased(Q_DEFLATE, 0x4000000ull, 0x2000000u, 256) < 0)
		test_fail(29, "a deflate chain of 256 x 32 MiB did not come back in 2 s");
	/* 4 GiB descriptors: outside RAM, the device must say NEEDS_RESET */
	add_aliased(Q_INFLATE, (uint64_t)pfns, 0xffffffffu, 2);
	virtq_kick(&b->vd.vq[Q_INFLATE]);
	if (!needs_reset_soon())
		test_fail(30, "4 GiB inflate descriptors: no NEEDS_RESET");
	canaries_intact("huge requests");
	return 0;
}

static uint64_t user_stats(uint64_t arg)
{
	struct virtq *vq;
	struct virtio_buf tiny = { 0, 3, false };
	uint64_t t0;

	up_full();
	vq = &b->vd.vq[Q_STATS];
	memset(scratch, 0xa5, PAGE_SIZE);
	tiny.addr = (uint64_t)scratch;
	/* 3 bytes (no whole entry), then a million entries' worth, aliased, 20 times over: the
	 * device keeps the newest and gives each older one back */
	for (unsigned int r = 0; r < 20; r++) {
		if (virtq_add(vq, &tiny, 1, false) < 0 ||
		    add_aliased(Q_STATS, (uint64_t)scratch, 4096, 256) < 0)
			test_fail(33, "no room for statistics buffers");
	}
	virtq_kick(vq);
	t0 = rdtsc();
	while ((uint16_t)(vq->used[1] - vq->last_used) < 39)
		if (rdtsc() - t0 > HOSTILE_TIMEOUT_US * 3000)
			test_fail(34, "%u of 39 statistics buffers came back in 2 s",
				  (uint16_t)(vq->used[1] - vq->last_used));
	canaries_intact("statistics garbage");
	return 0;
}

static uint64_t user_reports(uint64_t arg)
{
	struct virtio_buf unaligned = { (uint64_t)scratch + 100, 4000, false };

	up_full();
	/* unaligned: skipped, the buffer comes back */
	if (virtq_transfer(&b->vd.vq[Q_REPORT], &unaligned, 1, false, HOSTILE_TIMEOUT_US) < 0)
		test_fail(31, "an unaligned report did not come back");
	/* the scratch page reported 256 times in one chain */
	if (send_aliased(Q_REPORT, (uint64_t)scratch, 4096, 256) < 0)
		test_fail(32, "an aliased report did not come back");
	canaries_intact("free page report garbage");
	/* outside RAM: NEEDS_RESET */
	add_aliased(Q_REPORT, 0x10000000000ull, 4096, 1);
	virtq_kick(&b->vd.vq[Q_REPORT]);
	if (!needs_reset_soon())
		test_fail(35, "a report outside RAM: no NEEDS_RESET");
	return 0;
}

static uint64_t user_check(uint64_t arg)
{
	hdev_check(b, (const char *)arg);
	canaries_intact((const char *)arg);
	return 0;
}

int test_main(void)
{
	static struct {
		const char *name;
		user_fn fn;
	} attacks[] = {
		{ "balloon-pfns-outside-ram", user_outside_ram },
		{ "balloon-aliased", user_aliased },
		{ "balloon-huge", user_huge },
		{ "balloon-statistics-garbage", user_stats },
		{ "balloon-free-page-report-garbage", user_reports },
	};
	unsigned int n;

	n = hdev_find_all(devs, HOSTILE_MAX_DEVS);
	b = hdev_by_id(devs, n, VIRTIO_ID_BALLOON);
	if (!b)
		test_fail(10, "no virtio-balloon on bus 0");
	pfns = page_zalloc();
	scratch = page_zalloc();
	if (!pfns || !scratch)
		test_fail(9, "out of pages");
	for (unsigned int p = 0; p < CANARY_PAGES; p++) {
		if (!(canary[p] = page_alloc()))
			test_fail(9, "out of pages");
		memset(canary[p], CANARY, PAGE_SIZE);
	}
	for (unsigned int a = 0; a < sizeof(attacks) / sizeof(attacks[0]); a++) {
		attack_begin("%s", attacks[a].name);
		user_call(attacks[a].fn, 0);
		user_call(user_check, (uint64_t)attacks[a].name);
	}
	return 0;
}
