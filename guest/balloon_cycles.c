/* SPDX-License-Identifier: MIT */
/* ptvm-args: --cpus 2 --memory 192M --balloon stats-period=0 --cmdline "$BCYC_CMDLINE" */
/*
 * balloon_cycles: guest memory stays intact across balloon inflate/deflate cycles. A pool of
 * pages holds a pattern per page (its address and a generation); each cycle inflates a
 * random ~30% of them in runs of 1..600 pages (ascending or descending, 256 PFNs per request
 * as Linux sends them), checks that every page not in the balloon still holds its pattern
 * (and counts the ballooned ones that came back zeroed: the host really discarded them),
 * deflates, and writes new patterns into the ballooned pages and a random tenth of the rest.
 * Meanwhile the second vCPU keeps writing a counter into 64 pages of its own, so guest writes
 * run while ptvm punches holes next to them; none of its writes may be lost.
 * cycles=N (default 4) and pool_mib=M (16, at most 64) on the command line.
 */
#include "hostile.h"

const char test_name[] = "balloon_cycles";

#define POOL_MAX 16384 /* 64 MiB */
#define HOT_PAGES 64
#define Q_INFLATE 0
#define Q_DEFLATE 1

static struct hdev devs[HOSTILE_MAX_DEVS];
static struct hdev *b;
static unsigned int pool_pages = 4096; /* pool_mib= (16) */
static uint64_t *pool[POOL_MAX];
static uint32_t gen[POOL_MAX];
static uint8_t in_balloon[POOL_MAX];
static uint32_t *pfns; /* one request: a page of PFNs */
static uint64_t *hot[HOT_PAGES];
static volatile uint64_t ap_iter; /* the counter the AP wrote into every hot page */
static volatile uint32_t ap_stop, ap_done;
static uint64_t zeroed;

static uint64_t pattern(unsigned int i, unsigned int k)
{
	return ((uint64_t)pool[i] << 16) ^ ((uint64_t)gen[i] << 48) ^ (k * 0x9e3779b97f4a7c15ull);
}

static void page_write(unsigned int i)
{
	for (unsigned int k = 0; k < PAGE_SIZE / 8; k++)
		pool[i][k] = pattern(i, k);
}

/* 0 intact, 1 all zero, -1 anything else (the first bad word in *bad). */
static int page_check(unsigned int i, unsigned int *bad)
{
	bool zero = true, intact = true;

	for (unsigned int k = 0; k < PAGE_SIZE / 8; k++) {
		if (pool[i][k] != pattern(i, k) && intact) {
			intact = false;
			*bad = k;
		}
		zero = zero && !pool[i][k];
	}
	return intact ? 0 : zero ? 1 : -1;
}

static void ap_writer(unsigned int apic_id)
{
	uint64_t it = 0;

	while (!ap_stop) {
		it++;
		for (unsigned int h = 0; h < HOT_PAGES; h++)
			for (unsigned int k = 0; k < PAGE_SIZE / 8; k += 64)
				hot[h][k] = it;
		ap_iter = it;
	}
	ap_done = 1;
}

/* Every hot word at least the counter the AP had published before: no write lost. */
static uint64_t hot_check(uint64_t seen)
{
	for (unsigned int h = 0; h < HOT_PAGES; h++)
		for (unsigned int k = 0; k < PAGE_SIZE / 8; k += 64)
			if (hot[h][k] < seen)
				return (uint64_t)&hot[h][k];
	return 0;
}

static void send(unsigned int q, unsigned int n)
{
	struct virtio_buf buf = { (uint64_t)pfns, n * 4, false };

	if (n && virtq_transfer(&b->vd.vq[q], &buf, 1, false, 10 * HOSTILE_TIMEOUT_US) < 0)
		test_fail(20, "%s request of %u PFNs did not come back", q ? "deflate" : "inflate",
			  n);
}

/* The ballooned pages' PFNs to queue @q, run by run, some runs in descending order. */
static void send_balloon(unsigned int q, uint64_t seed)
{
	unsigned int n = 0, i = 0;

	hostile_seed(seed);
	while (i < pool_pages) {
		unsigned int j = i;
		bool down = hostile_rand() & 1;

		while (j < pool_pages && in_balloon[j])
			j++;
		for (unsigned int k = 0; k < j - i; k++) {
			unsigned int p = down ? j - 1 - k : i + k;

			pfns[n++] = (uint32_t)((uint64_t)pool[p] >> 12);
			if (n == 256) {
				send(q, n);
				n = 0;
			}
		}
		i = j + 1;
	}
	send(q, n);
}

static uint64_t user_fill(uint64_t arg)
{
	for (unsigned int i = 0; i < pool_pages; i++)
		page_write(i);
	return 0;
}

static uint64_t user_cycle(uint64_t c)
{
	unsigned int ballooned = 0, bad = 0;
	uint64_t seen, where;

	/* the balloon: runs of 1..600 pages, gaps of 1..1400 */
	for (unsigned int i = 0; i < pool_pages;) {
		unsigned int gap = 1 + (unsigned int)(hostile_rand() % 1400);
		unsigned int run = 1 + (unsigned int)(hostile_rand() % 600);

		for (unsigned int k = 0; k < gap && i < pool_pages; k++)
			in_balloon[i++] = 0;
		for (unsigned int k = 0; k < run && i < pool_pages; k++, ballooned++)
			in_balloon[i++] = 1;
	}
	send_balloon(Q_INFLATE, 0x1000 + c);
	seen = ap_iter;
	for (unsigned int i = 0; i < pool_pages; i++) {
		int r = page_check(i, &bad);

		if (in_balloon[i]) {
			zeroed += r == 1;
			continue;
		}
		if (r)
			test_fail(
			    21,
			    "cycle %llu: page 0x%llx, not in the balloon, changed: word %u is "
			    "0x%llx, want 0x%llx (%s)",
			    (unsigned long long)c, (unsigned long long)(uint64_t)pool[i], bad,
			    (unsigned long long)pool[i][bad], (unsigned long long)pattern(i, bad),
			    r == 1 ? "the whole page is zero" : "garbage");
	}
	where = hot_check(seen);
	if (where)
		test_fail(22, "cycle %llu: the AP's write of %llu to 0x%llx was lost (reads %llu)",
			  (unsigned long long)c, (unsigned long long)seen,
			  (unsigned long long)where, (unsigned long long)*(uint64_t *)where);
	send_balloon(Q_DEFLATE, 0x2000 + c);
	hostile_seed(0x3000 + c);
	for (unsigned int i = 0; i < pool_pages; i++) {
		if (in_balloon[i] || hostile_rand() % 10 == 0) {
			gen[i]++;
			page_write(i);
		}
	}
	return ballooned;
}

int test_main(void)
{
	unsigned int ids[SMP_MAX_CPUS], self = lapic_id();
	uint64_t cycles = 4, ballooned = 0;
	int ncpu = madt_lapic_ids(ids, SMP_MAX_CPUS);
	bool ap = false;

	uint64_t mib = 16;

	cmdline_get_uint("cycles", &cycles);
	cmdline_get_uint("pool_mib", &mib);
	pool_pages = (unsigned int)(mib < 1 ? 1 : mib > 64 ? 64 : mib) * 256;
	b = hdev_by_id(devs, hdev_find_all(devs, HOSTILE_MAX_DEVS), VIRTIO_ID_BALLOON);
	if (!b)
		test_fail(10, "no virtio-balloon on bus 0");
	if (virtio_init(&b->vd, 0) ||
	    virtio_queue_setup(&b->vd, Q_INFLATE, 128, VIRTIO_MSI_NO_VECTOR) ||
	    virtio_queue_setup(&b->vd, Q_DEFLATE, 128, VIRTIO_MSI_NO_VECTOR) ||
	    virtio_driver_ok(&b->vd))
		test_fail(11, "the balloon does not come up");
	if (!(pfns = page_zalloc()))
		test_fail(9, "out of pages");
	for (unsigned int h = 0; h < HOT_PAGES; h++)
		if (!(hot[h] = page_zalloc()))
			test_fail(9, "out of pages");
	for (unsigned int i = 0; i < pool_pages; i++)
		if (!(pool[i] = page_alloc()))
			test_fail(9, "out of pages after %u of %u", i, pool_pages);
	for (int i = 0; i < ncpu && !ap; i++)
		if (ids[i] != self && !smp_start_ap(ids[i], ap_writer))
			ap = true;
	user_call(user_fill, 0);
	for (uint64_t c = 1; c <= cycles; c++) {
		ballooned += user_call(user_cycle, c);
		printf(
		    "balloon_cycles: cycle %llu done, %llu pages ballooned so far, %llu came back "
		    "zeroed; AP counter %llu\n",
		    (unsigned long long)c, (unsigned long long)ballooned,
		    (unsigned long long)zeroed, (unsigned long long)ap_iter);
	}
	ap_stop = 1;
	if (ap && !ap_iter)
		test_fail(12, "the AP never wrote");
	if (!zeroed)
		test_fail(13, "no ballooned page came back zeroed: nothing was discarded");
	printf("balloon_cycles: %llu cycles, %llu pages inflated and deflated, %llu discarded "
	       "(read back zero), every other page intact, %llu AP rounds, none lost\n",
	       (unsigned long long)cycles, (unsigned long long)ballooned,
	       (unsigned long long)zeroed, (unsigned long long)ap_iter);
	return 0;
}
