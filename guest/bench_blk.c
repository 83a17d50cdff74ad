/* SPDX-License-Identifier: MIT */
/* ptvm-args: --disk path=$elf,readonly=on */
/*
 * bench_blk: virtio-blk throughput for tests/bench, one request at a time (queue depth 1),
 * submitted and polled at CPL3. Phases: "seqread" and, with write=1, "seqwrite" (64 KiB
 * requests of sixteen 4 KiB segments, through an indirect table when offered, walking the disk
 * and wrapping at its end), "randread" (4 KiB requests at pseudo-random 4 KiB-aligned offsets).
 * mb=N sets the MiB each sequential phase moves (the random phase does as many requests as
 * 16 * N), default a few requests; each phase prints
 *   bench_blk: <phase> <bytes per request> <requests> <TSC cycles>
 * which the host turns into MB/s and requests/s. Without a command line (as tests/guest/run.sh
 * boots it, its own ELF as a read-only disk) it also checks that sector 0 starts with the ELF
 * magic, so that it proves the reads return the disk's data.
 */
#include "kit.h"

const char test_name[] = "bench_blk";

#define SEQ_BYTES 65536u
#define SEQ_SEGS (SEQ_BYTES / PAGE_SIZE)
#define RAND_BYTES 4096u

static struct virtio_dev blk;
static uint64_t sectors;
static uint8_t *pages[SEQ_SEGS];

static void seq_phase(const char *phase, uint32_t type, uint64_t reqs, bool indirect)
{
	uint64_t per = SEQ_BYTES / VIRTIO_BLK_SECTOR, s = 0, t0, t1;
	struct virtio_buf b[SEQ_SEGS];
	int st;

	for (unsigned int i = 0; i < SEQ_SEGS; i++)
		b[i] =
		    (struct virtio_buf){ (uint64_t)pages[i], PAGE_SIZE, type == VIRTIO_BLK_T_IN };
	t0 = rdtsc();
	for (uint64_t i = 0; i < reqs; i++) {
		if (s + per > sectors)
			s = 0;
		st = virtio_blk_request(&blk.vq[0], type, s, b, SEQ_SEGS, indirect, NULL);
		if (st != VIRTIO_BLK_S_OK)
			test_fail(20, "%s: request at sector %llu: status %d", phase,
				  (unsigned long long)s, st);
		s += per;
	}
	t1 = rdtsc();
	printf("bench_blk: %s %u %llu %llu\n", phase, SEQ_BYTES, (unsigned long long)reqs,
	       (unsigned long long)(t1 - t0));
}

static void rand_phase(uint64_t reqs)
{
	uint64_t slots = sectors / (RAND_BYTES / VIRTIO_BLK_SECTOR), x = 0x9e3779b97f4a7c15ull;
	struct virtio_buf b = { (uint64_t)pages[0], RAND_BYTES, true };
	uint64_t t0, t1;
	int st;

	t0 = rdtsc();
	for (uint64_t i = 0; i < reqs; i++) {
		uint64_t s;

		x ^= x << 13; /* xorshift64: the same offsets in every VMM */
		x ^= x >> 7;
		x ^= x << 17;
		s = (x % slots) * (RAND_BYTES / VIRTIO_BLK_SECTOR);
		st = virtio_blk_request(&blk.vq[0], VIRTIO_BLK_T_IN, s, &b, 1, false, NULL);
		if (st != VIRTIO_BLK_S_OK)
			test_fail(21, "randread: request at sector %llu: status %d",
				  (unsigned long long)s, st);
	}
	t1 = rdtsc();
	printf("bench_blk: randread %u %llu %llu\n", RAND_BYTES, (unsigned long long)reqs,
	       (unsigned long long)(t1 - t0));
}

static uint64_t user_main(uint64_t arg)
{
	uint64_t mb = 0, write = 0, seq_reqs, want = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	bool indirect, ro;

	cmdline_get_uint("mb", &mb);
	cmdline_get_uint("write", &write);
	if (virtio_find(VIRTIO_ID_BLOCK, 0, &blk))
		test_fail(10, "no virtio-blk device");
	if (virtio_init(&blk, want | VIRTIO_BIT(VIRTIO_BLK_F_RO)))
		test_fail(11, "device initialisation failed");
	if (virtio_queue_setup(&blk, 0, 128, VIRTIO_MSI_NO_VECTOR))
		test_fail(12, "queue setup failed");
	if (virtio_driver_ok(&blk))
		test_fail(13, "DRIVER_OK refused");
	virtq_interrupts(&blk.vq[0], false);
	virtio_config_read(&blk, VIRTIO_BLK_CFG_CAPACITY, &sectors, sizeof(sectors));
	indirect = blk.features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	ro = blk.offered & VIRTIO_BIT(VIRTIO_BLK_F_RO);
	if (sectors < SEQ_BYTES / VIRTIO_BLK_SECTOR)
		test_fail(14, "the disk has %llu sectors, below one 64 KiB request",
			  (unsigned long long)sectors);
	printf("bench_blk: %llu sectors, %s, %s\n", (unsigned long long)sectors,
	       indirect ? "indirect" : "direct chains", ro ? "read-only" : "writable");

	seq_reqs = mb ? mb * 1024 * 1024 / SEQ_BYTES : 4;
	if (!mb) {
		struct virtio_buf b = { (uint64_t)pages[0], VIRTIO_BLK_SECTOR, true };

		memset(pages[0], 0, PAGE_SIZE);
		if (virtio_blk_request(&blk.vq[0], VIRTIO_BLK_T_IN, 0, &b, 1, false, NULL) !=
			VIRTIO_BLK_S_OK ||
		    memcmp(pages[0], "\177ELF", 4))
			test_fail(15,
				  "sector 0 of the disk (this program's ELF) lacks the ELF magic");
	}
	seq_phase("seqread", VIRTIO_BLK_T_IN, seq_reqs, indirect);
	if (write) {
		if (ro)
			test_fail(16, "write=1 but the disk is read-only");
		seq_phase("seqwrite", VIRTIO_BLK_T_OUT, seq_reqs, indirect);
	}
	rand_phase(mb ? 16 * mb : 16);
	virtio_reset(&blk);
	return 0;
}

int test_main(void)
{
	for (unsigned int i = 0; i < SEQ_SEGS; i++)
		if (!(pages[i] = page_alloc()))
			test_fail(9, "out of pages");
	user_call(user_main, 0);
	return 0;
}
