/* SPDX-License-Identifier: MIT */
/* ptvm-args: --disk "$BLK_DISK" --cmdline "$BLK_CMDLINE" */
/*
 * virtio_blk: the kit's driver against a virtio-blk disk that tests/guest/run.sh made: every
 * 16 bytes of sector s hold (u64 seed, u64 s), with seed and size on the command line. The
 * program checks the capacity and GET_ID (serial=), reads the whole disk in multi-segment
 * requests (direct and indirect) and checks the pattern, reads with odd segment sizes,
 * expects IOERR past the end and UNSUPP for an unknown type, writes sectors
 * [WRITE_START, WRITE_START + WRITE_COUNT) with (~seed, s), flushes, reads them back; the
 * runner then checks the image on the host. With ro=1 on the command line (virtio_blk_ro)
 * the disk is read-only: F_RO must be offered, the write must fail with IOERR and the data
 * stay as it was. All device work runs at CPL3.
 */
#include "kit.h"

#ifndef BLK_TEST_NAME
#define BLK_TEST_NAME "virtio_blk"
#endif
const char test_name[] = BLK_TEST_NAME;

#define WRITE_START 1000
#define WRITE_COUNT 64
#define CHUNK_SECTORS 32 /* a read request: 16 KiB in four 4 KiB segments */
#define CHUNK_PAGES ((unsigned int)(CHUNK_SECTORS * VIRTIO_BLK_SECTOR / PAGE_SIZE))

static struct virtio_dev blk;
static uint64_t seed, sectors;
static bool readonly;
static char serial[VIRTIO_BLK_ID_BYTES + 1];
static uint8_t *pages[CHUNK_PAGES];

static void pattern_fill(uint8_t *p, uint64_t sector, unsigned int count, uint64_t s0)
{
	for (unsigned int i = 0; i < count * VIRTIO_BLK_SECTOR / 16; i++) {
		uint64_t *w = (uint64_t *)(p + 16 * i);

		w[0] = s0;
		w[1] = sector + i * 16 / VIRTIO_BLK_SECTOR;
	}
}

/* Fails naming the spot unless [p, p + count sectors) holds (s0, sector) everywhere. */
static void pattern_check(const uint8_t *p, uint64_t sector, unsigned int count, uint64_t s0,
			  const char *what)
{
	for (unsigned int i = 0; i < count * VIRTIO_BLK_SECTOR / 16; i++) {
		const uint64_t *w = (const uint64_t *)(p + 16 * i);
		uint64_t s = sector + i * 16 / VIRTIO_BLK_SECTOR;

		if (w[0] != s0 || w[1] != s)
			test_fail(30,
				  "%s: sector %llu offset %u holds (0x%llx, %llu), want (0x%llx, "
				  "%llu)",
				  what, (unsigned long long)s, i * 16 % VIRTIO_BLK_SECTOR,
				  (unsigned long long)w[0], (unsigned long long)w[1],
				  (unsigned long long)s0, (unsigned long long)s);
	}
}

/* @count sectors (<= CHUNK_SECTORS) into pages[], in 4 KiB segments (the last may be short) */
static int chunk_io(uint32_t type, uint64_t sector, unsigned int count, bool indirect)
{
	struct virtio_buf b[CHUNK_PAGES];
	uint32_t bytes = count * VIRTIO_BLK_SECTOR;
	unsigned int n = 0;

	for (uint32_t off = 0; off < bytes; off += PAGE_SIZE, n++)
		b[n] = (struct virtio_buf){ (uint64_t)pages[n],
					    bytes - off < PAGE_SIZE ? bytes - off : PAGE_SIZE,
					    type == VIRTIO_BLK_T_IN };
	return virtio_blk_request(&blk.vq[0], type, sector, b, n, indirect, NULL);
}

static void chunk_read_check(uint64_t sector, unsigned int count, uint64_t s0, bool indirect,
			     const char *what)
{
	int st;

	for (unsigned int i = 0; i < CHUNK_PAGES; i++)
		memset(pages[i], 0xee, PAGE_SIZE);
	st = chunk_io(VIRTIO_BLK_T_IN, sector, count, indirect);
	if (st != VIRTIO_BLK_S_OK)
		test_fail(31, "%s: read of %u sectors at %llu: status %d", what, count,
			  (unsigned long long)sector, st);
	for (unsigned int i = 0; i * (PAGE_SIZE / VIRTIO_BLK_SECTOR) < count; i++) {
		unsigned int left = count - i * (PAGE_SIZE / VIRTIO_BLK_SECTOR);

		pattern_check(pages[i], sector + i * (PAGE_SIZE / VIRTIO_BLK_SECTOR),
			      left < PAGE_SIZE / VIRTIO_BLK_SECTOR ? left
								   : PAGE_SIZE / VIRTIO_BLK_SECTOR,
			      s0, what);
	}
}

static bool has_indirect(void)
{
	return blk.features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
}

static void blk_setup(void)
{
	uint64_t want = VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_RO) |
			VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
			VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	uint64_t cap;
	uint32_t seg_max = 0;

	if (virtio_find(VIRTIO_ID_BLOCK, 0, &blk))
		test_fail(10, "no virtio-blk device");
	if (virtio_init(&blk, want))
		test_fail(11, "device initialisation failed");
	if (virtio_queue_setup(&blk, 0, 128, VIRTIO_MSI_NO_VECTOR))
		test_fail(12, "queue setup failed");
	if (virtio_driver_ok(&blk))
		test_fail(13, "DRIVER_OK refused");
	virtq_interrupts(&blk.vq[0], false);
	virtio_config_read(&blk, VIRTIO_BLK_CFG_CAPACITY, &cap, sizeof(cap));
	if (blk.features & VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX))
		virtio_config_read(&blk, VIRTIO_BLK_CFG_SEG_MAX, &seg_max, sizeof(seg_max));
	printf("%s: features 0x%llx (offered 0x%llx), capacity %llu sectors, seg_max %u, queue "
	       "%u\n",
	       test_name, (unsigned long long)blk.features, (unsigned long long)blk.offered,
	       (unsigned long long)cap, seg_max, blk.vq[0].size);
	if (cap != sectors)
		test_fail(14, "capacity %llu sectors, the image has %llu", (unsigned long long)cap,
			  (unsigned long long)sectors);
	if (seg_max && seg_max < CHUNK_PAGES + 1)
		test_fail(15, "seg_max %u is below what this test sends (%u)", seg_max,
			  CHUNK_PAGES + 1);
	if (readonly != !!(blk.offered & VIRTIO_BIT(VIRTIO_BLK_F_RO)))
		test_fail(16, "the disk is %s but VIRTIO_BLK_F_RO is %s",
			  readonly ? "read-only" : "writable",
			  readonly ? "not offered" : "offered");
	if (!readonly && !(blk.features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)))
		test_fail(17, "VIRTIO_BLK_F_FLUSH not offered for a writable disk");
}

static void get_id_check(void)
{
	uint8_t *id = pages[0];
	struct virtio_buf b = { (uint64_t)id, VIRTIO_BLK_ID_BYTES, true };
	int st;

	memset(id, 0xee, PAGE_SIZE);
	st = virtio_blk_request(&blk.vq[0], VIRTIO_BLK_T_GET_ID, 0, &b, 1, false, NULL);
	if (st != VIRTIO_BLK_S_OK)
		test_fail(20, "GET_ID: status %d", st);
	/* the serial, then a NUL when shorter than 20 bytes (QEMU pads no further) */
	for (unsigned int i = 0; i < VIRTIO_BLK_ID_BYTES && i <= strlen(serial); i++) {
		uint8_t want = i < strlen(serial) ? (uint8_t)serial[i] : 0;

		if (id[i] != want)
			test_fail(21, "GET_ID: byte %u is 0x%02x, want 0x%02x (serial \"%s\")", i,
				  id[i], want, serial);
	}
	if (id[VIRTIO_BLK_ID_BYTES] != 0xee)
		test_fail(22, "GET_ID wrote past its %u-byte buffer", VIRTIO_BLK_ID_BYTES);
	printf("%s: GET_ID \"%s\"\n", test_name, serial);
}

/* A read whose 3 sectors are split 100 + 412 + 1024 bytes over unaligned addresses. */
static void odd_segments_check(void)
{
	uint8_t *p = pages[0];
	struct virtio_buf b[3] = { { (uint64_t)p + 3, 100, true },
				   { (uint64_t)p + 3 + 100, 412, true },
				   { (uint64_t)p + 3 + 512, 1024, true } };
	uint64_t s = sectors / 2 + 1;
	uint32_t used;
	static uint8_t tmp[3 * VIRTIO_BLK_SECTOR];
	int st;

	memset(p, 0xee, PAGE_SIZE);
	st = virtio_blk_request(&blk.vq[0], VIRTIO_BLK_T_IN, s, b, 3, has_indirect(), &used);
	if (st != VIRTIO_BLK_S_OK || used != 3 * VIRTIO_BLK_SECTOR + 1)
		test_fail(32, "odd-segment read at %llu: status %d, used length %u (want 1537)",
			  (unsigned long long)s, st, used);
	memcpy(tmp, p + 3, sizeof(tmp));
	pattern_check(tmp, s, 3, seed, "odd-segment read");
	if (p[2] != 0xee || p[3 + sizeof(tmp)] != 0xee)
		test_fail(33, "odd-segment read wrote outside its buffers");
}

static void errors_check(void)
{
	int st;

	st = chunk_io(VIRTIO_BLK_T_IN, sectors, 1, false);
	if (st != VIRTIO_BLK_S_IOERR)
		test_fail(40, "read at sector %llu (the capacity): status %d, want IOERR",
			  (unsigned long long)sectors, st);
	st = chunk_io(VIRTIO_BLK_T_IN, sectors - 1, 2, false);
	if (st != VIRTIO_BLK_S_IOERR)
		test_fail(41, "read of 2 sectors at %llu (crossing the end): status %d, want IOERR",
			  (unsigned long long)(sectors - 1), st);
	st = chunk_io(0x7f, 0, 1, false);
	if (st != VIRTIO_BLK_S_UNSUPP)
		test_fail(42, "request type 0x7f: status %d, want UNSUPP", st);
}

static uint64_t user_main(uint64_t arg)
{
	uint64_t t0, t1;
	int st;

	blk_setup();
	if (serial[0])
		get_id_check();

	/* the whole disk, alternating direct and indirect chains */
	t0 = rdtsc();
	for (uint64_t s = 0, i = 0; s < sectors; s += CHUNK_SECTORS, i++) {
		unsigned int n =
		    sectors - s < CHUNK_SECTORS ? (unsigned int)(sectors - s) : CHUNK_SECTORS;

		chunk_read_check(s, n, seed, has_indirect() && (i & 1), "disk read");
	}
	t1 = rdtsc();
	printf("%s: read and checked %llu sectors in %llu requests (%llu Mcycles)\n", test_name,
	       (unsigned long long)sectors,
	       (unsigned long long)((sectors + CHUNK_SECTORS - 1) / CHUNK_SECTORS),
	       (unsigned long long)((t1 - t0) / 1000000));
	odd_segments_check();
	errors_check();

	/* write WRITE_COUNT sectors in two requests (one indirect), flush, read back */
	for (unsigned int half = 0; half < 2; half++) {
		uint64_t s = WRITE_START + half * CHUNK_SECTORS;

		for (unsigned int i = 0; i < CHUNK_PAGES; i++)
			pattern_fill(pages[i], s + i * (PAGE_SIZE / VIRTIO_BLK_SECTOR),
				     PAGE_SIZE / VIRTIO_BLK_SECTOR, ~seed);
		st = chunk_io(VIRTIO_BLK_T_OUT, s, CHUNK_SECTORS, has_indirect() && half);
		if (readonly && st != VIRTIO_BLK_S_IOERR)
			test_fail(50, "write to a read-only disk at %llu: status %d, want IOERR",
				  (unsigned long long)s, st);
		if (!readonly && st != VIRTIO_BLK_S_OK)
			test_fail(51, "write at %llu: status %d", (unsigned long long)s, st);
	}
	if (!readonly) {
		st = virtio_blk_request(&blk.vq[0], VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, NULL);
		if (st != VIRTIO_BLK_S_OK)
			test_fail(52, "FLUSH: status %d", st);
	}
	for (unsigned int half = 0; half < 2; half++)
		chunk_read_check(WRITE_START + half * CHUNK_SECTORS, CHUNK_SECTORS,
				 readonly ? seed : ~seed, !half && has_indirect(),
				 readonly ? "read-only disk after refused write" : "read back");
	/* the neighbours of the written range are untouched */
	chunk_read_check(WRITE_START - 1, 1, seed, false, "sector before the write");
	chunk_read_check(WRITE_START + WRITE_COUNT, 1, seed, false, "sector after the write");
	printf("%s: %s %u sectors at %u%s; %llu kicks (%llu suppressed)\n", test_name,
	       readonly ? "write refused for" : "wrote, flushed and read back", WRITE_COUNT,
	       WRITE_START, readonly ? " (IOERR)" : "", (unsigned long long)blk.vq[0].kicks,
	       (unsigned long long)blk.vq[0].kicks_suppressed);
	virtio_reset(&blk);
	return 0;
}

int test_main(void)
{
	uint64_t ro = 0;

	if (!cmdline_get_uint("seed", &seed) || !cmdline_get_uint("sectors", &sectors))
		test_fail(9, "the command line needs seed=N sectors=N (got \"%s\")",
			  bootinfo.cmdline);
	if (sectors < WRITE_START + WRITE_COUNT + 1)
		test_fail(9, "sectors=%llu is too small for this test",
			  (unsigned long long)sectors);
	cmdline_get_uint("ro", &ro);
	readonly = ro != 0;
	if (!cmdline_get_str("serial", serial, sizeof(serial)))
		serial[0] = '\0';
	for (unsigned int i = 0; i < CHUNK_PAGES; i++)
		if (!(pages[i] = page_alloc()))
			test_fail(9, "out of pages");
	user_call(user_main, 0);
	return 0;
}
