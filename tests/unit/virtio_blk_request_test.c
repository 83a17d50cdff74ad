// SPDX-License-Identifier: MIT
/*
 * virtio-blk requests without KVM or a transport: hand-built chains (each segment its own
 * exact-size malloc, so that under ASan any access outside the iovecs trips) run through
 * virtio_blk_handle_request() against a temp file made by virtio_blk_create().
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio_blk.h"
#include "vmm/log.h"

#define SECTOR 512
#define DISK_SECTORS 64

struct fixture {
	char path[64];
	struct virtio_device *vdev;
	struct virtio_blk_disk *disk;
	struct virtqueue_elem elem;
	void *bufs[2 * VIRTQUEUE_MAX_SEGS];
	unsigned nr_bufs;
};

/* What the disk holds at byte offset o before a test changes it. */
static uint8_t pattern(uint64_t o)
{
	return (uint8_t)((o >> 9) * 13 + (o & 0x1ff) + 1);
}

/* A temp file in dir with size bytes of pattern(); false if dir cannot hold one. */
static bool disk_file_make(const char *dir, uint64_t size, char *path, size_t n)
{
	uint8_t buf[SECTOR];
	int fd;

	snprintf(path, n, "%s/ptvm-blk-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0)
		return false;
	for (uint64_t o = 0; o < size; o += sizeof(buf)) {
		size_t l = (size_t)(size - o < sizeof(buf) ? size - o : sizeof(buf));

		for (size_t i = 0; i < l; i++)
			buf[i] = pattern(o + i);
		assert_int_equal(pwrite(fd, buf, l, (off_t)o), (ssize_t)l);
	}
	close(fd);
	return true;
}

static int disk_open(struct fixture *f, const char *dir, uint64_t size, bool readonly,
		     const char *serial)
{
	struct virtio_blk_options o = { .readonly = readonly };

	if (!disk_file_make(dir, size, f->path, sizeof(f->path)))
		return -errno;
	snprintf(o.path, sizeof(o.path), "%s", f->path);
	snprintf(o.serial, sizeof(o.serial), "%s", serial);
	assert_int_equal(virtio_blk_create(&o, NULL, &f->vdev), 0);
	f->disk = virtio_blk_get_disk(f->vdev);
	return 0;
}

static int setup_rw(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(disk_open(f, "/tmp", DISK_SECTORS * SECTOR, false, "ptvm-disk-0"), 0);
	*state = f;
	return 0;
}

static int setup_ro(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(disk_open(f, "/tmp", DISK_SECTORS * SECTOR, true, ""), 0);
	*state = f;
	return 0;
}

static void elem_clear(struct fixture *f)
{
	for (unsigned i = 0; i < f->nr_bufs; i++)
		free(f->bufs[i]);
	f->nr_bufs = 0;
	memset(&f->elem, 0, sizeof(f->elem));
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	elem_clear(f);
	virtio_blk_destroy(f->vdev);
	if (f->path[0])
		unlink(f->path);
	free(f);
	return 0;
}

/* Appends a segment of exactly len bytes (filled with 0xee) to the chain. */
static uint8_t *seg(struct fixture *f, size_t len, bool writable)
{
	uint8_t *b = malloc(len ? len : 1);
	struct virtqueue_elem *e = &f->elem;

	assert_non_null(b);
	memset(b, 0xee, len);
	f->bufs[f->nr_bufs++] = b;
	if (writable) {
		e->in[e->n_in++] = (struct iovec){ .iov_base = b, .iov_len = len };
		e->in_len += len;
	} else {
		assert_int_equal(e->n_in, 0); /* readable segments come first */
		e->out[e->n_out++] = (struct iovec){ .iov_base = b, .iov_len = len };
		e->out_len += len;
	}
	return b;
}

static void hdr_fill(uint8_t *p, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = htole32(type), .sector = htole64(sector) };

	memcpy(p, &h, sizeof(h));
}

static void seg_hdr(struct fixture *f, uint32_t type, uint64_t sector)
{
	hdr_fill(seg(f, sizeof(struct virtio_blk_outhdr), false), type, sector);
}

static int run(struct fixture *f, uint32_t *written)
{
	*written = 0xdeadbeef;
	return virtio_blk_handle_request(f->disk, &f->elem, written);
}

static void file_read(struct fixture *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void assert_file_untouched(struct fixture *f, uint64_t off, size_t len)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	file_read(f, off, b, len);
	for (size_t i = 0; i < len; i++)
		if (b[i] != pattern(off + i))
			fail_msg("file byte %llu changed to 0x%x", (unsigned long long)(off + i),
				 b[i]);
	free(b);
}

static void assert_pattern(const uint8_t *b, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != pattern(off + i))
			fail_msg("byte %zu is 0x%x, disk offset %llu holds 0x%x", i, b[i],
				 (unsigned long long)(off + i), pattern(off + i));
}

static void assert_zero(const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i])
			fail_msg("byte %zu is 0x%x, not zero", i, b[i]);
}

/* ---- reads and writes ---- */

static void test_read(void **state)
{
	struct fixture *f = *state;
	uint8_t *data, *st;
	uint32_t w;

	seg_hdr(f, VIRTIO_BLK_T_IN, 3);
	data = seg(f, 2 * SECTOR, true);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	assert_int_equal(w, 2 * SECTOR + 1);
	assert_pattern(data, 3 * SECTOR, 2 * SECTOR);
}

static void test_read_last_sector(void **state)
{
	struct fixture *f = *state;
	uint8_t *data, *st;
	uint32_t w;

	seg_hdr(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1);
	data = seg(f, SECTOR, true);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	assert_pattern(data, (DISK_SECTORS - 1) * SECTOR, SECTOR);
}

static void test_write(void **state)
{
	struct fixture *f = *state;
	uint8_t *data, *st, back[2 * SECTOR];
	uint32_t w;

	seg_hdr(f, VIRTIO_BLK_T_OUT, 7);
	data = seg(f, 2 * SECTOR, false);
	for (unsigned i = 0; i < 2 * SECTOR; i++)
		data[i] = (uint8_t)(i * 3 + 1);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	assert_int_equal(w, 1);
	file_read(f, 7 * SECTOR, back, sizeof(back));
	assert_memory_equal(back, data, sizeof(back));
	assert_file_untouched(f, 0, 7 * SECTOR);
	assert_file_untouched(f, 9 * SECTOR, (DISK_SECTORS - 9) * SECTOR);
}

/*
 * Any layout (virtio 1.x): the header split over two segments, data segments of odd sizes,
 * an empty segment, and the status byte sharing a segment with the last data bytes.
 */
static void test_read_multi_segment_any_layout(void **state)
{
	struct fixture *f = *state;
	uint8_t *h1, *h2, *d1, *d2, *d3, *d4;
	uint8_t hdr[16];
	uint32_t w;

	hdr_fill(hdr, VIRTIO_BLK_T_IN, 10);
	h1 = seg(f, 10, false);
	h2 = seg(f, 6, false);
	memcpy(h1, hdr, 10);
	memcpy(h2, hdr + 10, 6);
	d1 = seg(f, 100, true);
	d2 = seg(f, 0, true);
	d3 = seg(f, 1000, true);
	d4 = seg(f, 3 * SECTOR - 1100 + 1, true); /* the last 436 data bytes, then the status */
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(w, 3 * SECTOR + 1);
	assert_pattern(d1, 10 * SECTOR, 100);
	assert_pattern(d3, 10 * SECTOR + 100, 1000);
	assert_pattern(d4, 10 * SECTOR + 1100, 3 * SECTOR - 1100);
	assert_int_equal(d4[3 * SECTOR - 1100], VIRTIO_BLK_S_OK);
	(void)d2;
}

static void test_write_multi_segment_any_layout(void **state)
{
	struct fixture *f = *state;
	uint8_t *first, *d2, *d3, *st, want[3 * SECTOR], back[3 * SECTOR];
	uint32_t w;

	for (unsigned i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i * 7 + 5);
	/* header and the first 300 data bytes in one readable segment */
	first = seg(f, 16 + 300, false);
	hdr_fill(first, VIRTIO_BLK_T_OUT, 20);
	memcpy(first + 16, want, 300);
	d2 = seg(f, 1, false);
	d2[0] = want[300];
	d3 = seg(f, sizeof(want) - 301, false);
	memcpy(d3, want + 301, sizeof(want) - 301);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	file_read(f, 20 * SECTOR, back, sizeof(back));
	assert_memory_equal(back, want, sizeof(want));
	assert_file_untouched(f, 19 * SECTOR, SECTOR);
	assert_file_untouched(f, 23 * SECTOR, SECTOR);
}

/* The most segments the device advertises (seg_max) in one read. */
static void test_read_seg_max_segments(void **state)
{
	struct fixture *f = *state;
	uint8_t *d[VIRTIO_BLK_SEG_MAX], *st;
	uint32_t w;

	assert_true(VIRTIO_BLK_SEG_MAX * 64 <= DISK_SECTORS * SECTOR);
	seg_hdr(f, VIRTIO_BLK_T_IN, 0);
	/* 254 segments of 64 bytes: 31.75 sectors, so pad the last one to a whole sector */
	for (unsigned i = 0; i < VIRTIO_BLK_SEG_MAX; i++)
		d[i] = seg(f, i == VIRTIO_BLK_SEG_MAX - 1 ? 64 + 128 : 64, true);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	assert_int_equal(w, 32 * SECTOR + 1);
	for (unsigned i = 0; i < VIRTIO_BLK_SEG_MAX; i++)
		assert_pattern(d[i], i * 64, i == VIRTIO_BLK_SEG_MAX - 1 ? 192 : 64);
}

/* ---- flush, get-id ---- */

static void test_flush(void **state)
{
	struct fixture *f = *state;
	uint8_t *data, *st, back[SECTOR];
	uint32_t w;

	seg_hdr(f, VIRTIO_BLK_T_OUT, 1);
	data = seg(f, SECTOR, false);
	memset(data, 0x5a, SECTOR);
	seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	elem_clear(f);

	seg_hdr(f, VIRTIO_BLK_T_FLUSH, 0);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	assert_int_equal(w, 1);
	/* what was flushed is in the file, seen through another descriptor */
	file_read(f, SECTOR, back, sizeof(back));
	for (unsigned i = 0; i < SECTOR; i++)
		assert_int_equal(back[i], 0x5a);
}

static void test_flush_with_data_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t *st;
	uint32_t w;

	seg_hdr(f, VIRTIO_BLK_T_FLUSH, 0);
	seg(f, SECTOR, false);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
}

static void test_get_id(void **state)
{
	struct fixture *f = *state;
	uint8_t *id, *st;
	uint32_t w;

	seg_hdr(f, VIRTIO_BLK_T_GET_ID, 0);
	id = seg(f, VIRTIO_BLK_ID_BYTES, true);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	assert_int_equal(w, VIRTIO_BLK_ID_BYTES + 1);
	assert_memory_equal(id, "ptvm-disk-0\0\0\0\0\0\0\0\0\0", VIRTIO_BLK_ID_BYTES);
}

/* A 20-byte serial fills the whole id, unterminated; a short buffer gets what fits. */
static void test_get_id_full_length_and_short_buffer(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t *id;
	uint32_t w;

	assert_non_null(f);
	*state = f;
	assert_int_equal(disk_open(f, "/tmp", 8 * SECTOR, false, "ABCDEFGHIJKLMNOPQRST"), 0);
	seg_hdr(f, VIRTIO_BLK_T_GET_ID, 0);
	id = seg(f, VIRTIO_BLK_ID_BYTES, true);
	seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_memory_equal(id, "ABCDEFGHIJKLMNOPQRST", VIRTIO_BLK_ID_BYTES);
	elem_clear(f);

	seg_hdr(f, VIRTIO_BLK_T_GET_ID, 0);
	id = seg(f, 8 + 1, true); /* 8 id bytes and the status */
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_memory_equal(id, "ABCDEFGH", 8);
	assert_int_equal(id[8], VIRTIO_BLK_S_OK);
	assert_int_equal(w, 9);
}

/* ---- discard and write-zeroes ---- */

static void seg_dwz(struct fixture *f, uint64_t sector, uint32_t nr, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes r = {
		.sector = htole64(sector),
		.num_sectors = htole32(nr),
		.flags = htole32(flags),
	};

	memcpy(seg(f, sizeof(r), false), &r, sizeof(r));
}

static uint64_t file_blocks(struct fixture *f)
{
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	return (uint64_t)st.st_blocks;
}

/* A disk in dir (1 MiB); skips, saying why, where the file system cannot punch holes. */
static struct fixture *dwz_disk(void **state, const char *dir)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint64_t features;

	assert_non_null(f);
	*state = f;
	if (disk_open(f, dir, 2048 * SECTOR, false, "")) {
		print_message("skipped: cannot create a file in %s\n", dir);
		skip();
	}
	features = f->vdev->ops->get_features(f->vdev);
	if (!f->disk->discard) {
		assert_false(features & (1ULL << VIRTIO_BLK_F_DISCARD));
		assert_false(features & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
		print_message("skipped: %s refuses FALLOC_FL_PUNCH_HOLE\n", dir);
		skip();
	}
	assert_true(features & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_true(features & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	return f;
}

static void dwz_check(void **state, const char *dir, uint32_t type, uint32_t flags)
{
	struct fixture *f = dwz_disk(state, dir);
	uint8_t back[256 * SECTOR], *st;
	uint64_t blocks_before;
	uint32_t w;

	blocks_before = file_blocks(f);
	seg_hdr(f, type, 0);
	/* two ranges: [256, 512) and [1024, 1040) */
	seg_dwz(f, 256, 256, flags);
	seg_dwz(f, 1024, 16, flags);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	assert_int_equal(w, 1);
	file_read(f, 256 * SECTOR, back, 256 * SECTOR);
	assert_zero(back, 256 * SECTOR);
	file_read(f, 1024 * SECTOR, back, 16 * SECTOR);
	assert_zero(back, 16 * SECTOR);
	assert_file_untouched(f, 0, 256 * SECTOR);
	assert_file_untouched(f, 512 * SECTOR, 512 * SECTOR);
	assert_file_untouched(f, 1040 * SECTOR, (2048 - 1040) * SECTOR);
	/* the size stays (KEEP_SIZE), and a discard gave the blocks back */
	assert_int_equal(f->disk->capacity, 2048);
	{
		struct stat sb;

		assert_int_equal(stat(f->path, &sb), 0);
		assert_int_equal(sb.st_size, 2048 * SECTOR);
	}
	if (type == VIRTIO_BLK_T_DISCARD)
		assert_true(file_blocks(f) < blocks_before);
}

static void test_discard_tmpfs(void **state)
{
	dwz_check(state, "/dev/shm", VIRTIO_BLK_T_DISCARD, 0);
}

static void test_discard_tmp(void **state)
{
	dwz_check(state, "/tmp", VIRTIO_BLK_T_DISCARD, 0);
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: the device falls back to punching a hole */
static void test_write_zeroes_tmpfs(void **state)
{
	dwz_check(state, "/dev/shm", VIRTIO_BLK_T_WRITE_ZEROES, 0);
}

static void test_write_zeroes_tmp(void **state)
{
	dwz_check(state, "/tmp", VIRTIO_BLK_T_WRITE_ZEROES, 0);
}

static void test_write_zeroes_unmap_tmp(void **state)
{
	dwz_check(state, "/tmp", VIRTIO_BLK_T_WRITE_ZEROES, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
}

static void test_dwz_config_fields(void **state)
{
	struct fixture *f = dwz_disk(state, "/dev/shm");
	struct virtio_blk_config c;

	memset(&c, 0xff, sizeof(c));
	assert_true(f->vdev->config_size <= sizeof(c));
	f->vdev->ops->read_config(f->vdev, 0, &c, f->vdev->config_size);
	assert_int_equal(le64toh(c.capacity), 2048);
	assert_int_equal(le32toh(c.max_discard_sectors), VIRTIO_BLK_DWZ_SECTORS_MAX);
	assert_int_equal(le32toh(c.max_discard_seg), VIRTIO_BLK_DWZ_SEG_MAX);
	assert_true(le32toh(c.discard_sector_alignment) >= 1);
	assert_int_equal(le32toh(c.max_write_zeroes_sectors), VIRTIO_BLK_DWZ_SECTORS_MAX);
	assert_int_equal(le32toh(c.max_write_zeroes_seg), VIRTIO_BLK_DWZ_SEG_MAX);
	assert_int_equal(c.write_zeroes_may_unmap, 1);
}

/* Bad ranges are refused before anything is zeroed; bad flags are UNSUPP. */
static void test_dwz_malformed(void **state)
{
	static const struct {
		uint32_t type;
		uint64_t sector;
		uint32_t nr, flags;
		uint8_t status;
	} cases[] = {
		{ VIRTIO_BLK_T_DISCARD, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
		  VIRTIO_BLK_S_UNSUPP },
		{ VIRTIO_BLK_T_DISCARD, 0, 8, 2, VIRTIO_BLK_S_UNSUPP },
		{ VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0x80000000, VIRTIO_BLK_S_UNSUPP },
		{ VIRTIO_BLK_T_DISCARD, 2040, 9, 0, VIRTIO_BLK_S_IOERR },
		{ VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX - 3, 8, 0, VIRTIO_BLK_S_IOERR },
		{ VIRTIO_BLK_T_DISCARD, 0, VIRTIO_BLK_DWZ_SECTORS_MAX + 1, 0, VIRTIO_BLK_S_IOERR },
	};
	struct fixture *f = dwz_disk(state, "/dev/shm");
	uint8_t *st;
	uint32_t w;

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		elem_clear(f);
		seg_hdr(f, cases[i].type, 0);
		/* a good range first: it must not be touched either */
		seg_dwz(f, 16, 8, 0);
		seg_dwz(f, cases[i].sector, cases[i].nr, cases[i].flags);
		st = seg(f, 1, true);
		assert_int_equal(run(f, &w), cases[i].status);
		assert_int_equal(*st, cases[i].status);
		assert_file_untouched(f, 0, 2048 * SECTOR);
	}

	/* range list not a multiple of 16 bytes, empty, or longer than max_discard_seg */
	elem_clear(f);
	seg_hdr(f, VIRTIO_BLK_T_DISCARD, 0);
	seg(f, 15, false);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
	elem_clear(f);
	seg_hdr(f, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
	elem_clear(f);
	seg_hdr(f, VIRTIO_BLK_T_DISCARD, 0);
	for (unsigned i = 0; i < VIRTIO_BLK_DWZ_SEG_MAX + 1; i++)
		seg_dwz(f, i, 1, 0);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
	/* writable data besides the status */
	elem_clear(f);
	seg_hdr(f, VIRTIO_BLK_T_DISCARD, 0);
	seg_dwz(f, 0, 8, 0);
	seg(f, 16, true);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
	assert_file_untouched(f, 0, 2048 * SECTOR);
}

/* ---- read-only disks ---- */

static void test_readonly_refuses_writes(void **state)
{
	static const uint32_t types[] = { VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_DISCARD,
					  VIRTIO_BLK_T_WRITE_ZEROES };
	struct fixture *f = *state;
	uint64_t features = f->vdev->ops->get_features(f->vdev);
	uint8_t *st, *data;
	uint32_t w;

	assert_true(features & (1ULL << VIRTIO_BLK_F_RO));
	assert_false(features & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_false(features & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	/* the file itself is open read-only */
	assert_int_equal(fcntl(f->disk->fd, F_GETFL) & O_ACCMODE, O_RDONLY);

	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		elem_clear(f);
		seg_hdr(f, types[i], 0);
		if (types[i] == VIRTIO_BLK_T_OUT) {
			memset(seg(f, SECTOR, false), 0, SECTOR);
		} else {
			seg_dwz(f, 0, 1, 0);
		}
		st = seg(f, 1, true);
		assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
		assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
	}
	assert_file_untouched(f, 0, DISK_SECTORS * SECTOR);

	/* reads, flush and get-id still work */
	elem_clear(f);
	seg_hdr(f, VIRTIO_BLK_T_IN, 5);
	data = seg(f, SECTOR, true);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_pattern(data, 5 * SECTOR, SECTOR);
	elem_clear(f);
	seg_hdr(f, VIRTIO_BLK_T_FLUSH, 0);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
}

/* ---- hostile requests ---- */

static void test_no_status_byte_needs_reset(void **state)
{
	struct fixture *f = *state;
	uint32_t w;

	/* only readable segments: the status "byte" is not writable */
	seg_hdr(f, VIRTIO_BLK_T_IN, 0);
	seg(f, 1, false);
	assert_int_equal(run(f, &w), -EINVAL);
	elem_clear(f);
	/* nothing at all */
	assert_int_equal(run(f, &w), -EINVAL);
	elem_clear(f);
	/* a writable segment of zero bytes is no status byte either */
	seg_hdr(f, VIRTIO_BLK_T_FLUSH, 0);
	seg(f, 0, true);
	assert_int_equal(run(f, &w), -EINVAL);
}

static void test_short_header(void **state)
{
	struct fixture *f = *state;
	uint8_t hdr[16], *st;
	uint32_t w;

	/* the first 15 bytes of a good read header */
	hdr_fill(hdr, VIRTIO_BLK_T_IN, 0);
	memcpy(seg(f, 15, false), hdr, 15);
	seg(f, SECTOR, true);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
	assert_int_equal(w, 0); /* the data part was not written */
	elem_clear(f);
	/* no header at all, only a status */
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
}

static void test_range_beyond_capacity(void **state)
{
	static const struct {
		uint32_t type;
		uint64_t sector;
		unsigned sectors;
	} cases[] = {
		{ VIRTIO_BLK_T_IN, DISK_SECTORS, 1 },
		{ VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 2 },
		{ VIRTIO_BLK_T_OUT, DISK_SECTORS - 1, 2 },
		{ VIRTIO_BLK_T_IN, UINT64_MAX, 1 },
		/* sector * 512 wraps to 0 */
		{ VIRTIO_BLK_T_IN, 1ULL << 55, 1 },
		{ VIRTIO_BLK_T_OUT, (1ULL << 55), 1 },
		{ VIRTIO_BLK_T_OUT, UINT64_MAX - 1, 2 },
	};
	struct fixture *f = *state;
	uint8_t *st, *data;
	uint32_t w;

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool in = cases[i].type == VIRTIO_BLK_T_IN;

		elem_clear(f);
		seg_hdr(f, cases[i].type, cases[i].sector);
		data = seg(f, cases[i].sectors * SECTOR, in);
		if (!in)
			memset(data, 0, cases[i].sectors * SECTOR);
		st = seg(f, 1, true);
		assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
		assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
		/* a refused read wrote nothing into the data buffer */
		if (in) {
			for (unsigned j = 0; j < cases[i].sectors * SECTOR; j++)
				assert_int_equal(data[j], 0xee);
			assert_int_equal(w, 0);
		}
	}
	assert_file_untouched(f, 0, DISK_SECTORS * SECTOR);
}

static void test_length_not_whole_sectors(void **state)
{
	struct fixture *f = *state;
	uint8_t *st;
	uint32_t w;

	seg_hdr(f, VIRTIO_BLK_T_IN, 0);
	seg(f, 511, true);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
	elem_clear(f);
	seg_hdr(f, VIRTIO_BLK_T_OUT, 0);
	memset(seg(f, 513, false), 0, 513);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
	assert_file_untouched(f, 0, 2 * SECTOR);
}

static void test_wrong_direction(void **state)
{
	struct fixture *f = *state;
	uint8_t *st, *data;
	uint32_t w;

	/* a read with readable data: the device would be reading guest data it should fill */
	seg_hdr(f, VIRTIO_BLK_T_IN, 0);
	seg(f, SECTOR, false);
	data = seg(f, SECTOR, true);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
	assert_int_equal(data[0], 0xee);
	elem_clear(f);
	/* a write whose data is writable */
	seg_hdr(f, VIRTIO_BLK_T_OUT, 0);
	memset(seg(f, SECTOR, true), 0, SECTOR);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
	assert_int_equal(w, 0);
	assert_file_untouched(f, 0, SECTOR);
	elem_clear(f);
	/* get-id with readable data */
	seg_hdr(f, VIRTIO_BLK_T_GET_ID, 0);
	seg(f, 4, false);
	seg(f, VIRTIO_BLK_ID_BYTES, true);
	st = seg(f, 1, true);
	assert_int_equal(run(f, &w), VIRTIO_BLK_S_IOERR);
	assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
}

static void test_unknown_types_unsupported(void **state)
{
	static const uint32_t types[] = { 2 /* SCSI_CMD */, 3,	       5, 9, 10, 12, 14,
					  0x80000000,	    UINT32_MAX };
	struct fixture *f = *state;
	uint8_t *st;
	uint32_t w;

	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		elem_clear(f);
		seg_hdr(f, types[i], 0);
		st = seg(f, 1, true);
		assert_int_equal(run(f, &w), VIRTIO_BLK_S_UNSUPP);
		assert_int_equal(*st, VIRTIO_BLK_S_UNSUPP);
		assert_int_equal(w, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_read_last_sector, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_write, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_read_multi_segment_any_layout, setup_rw,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_multi_segment_any_layout, setup_rw,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_seg_max_segments, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_flush_with_data_refused, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_get_id, setup_rw, teardown),
		cmocka_unit_test_teardown(test_get_id_full_length_and_short_buffer, teardown),
		cmocka_unit_test_teardown(test_discard_tmpfs, teardown),
		cmocka_unit_test_teardown(test_discard_tmp, teardown),
		cmocka_unit_test_teardown(test_write_zeroes_tmpfs, teardown),
		cmocka_unit_test_teardown(test_write_zeroes_tmp, teardown),
		cmocka_unit_test_teardown(test_write_zeroes_unmap_tmp, teardown),
		cmocka_unit_test_teardown(test_dwz_config_fields, teardown),
		cmocka_unit_test_teardown(test_dwz_malformed, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_refuses_writes, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_no_status_byte_needs_reset, setup_rw,
						teardown),
		cmocka_unit_test_setup_teardown(test_short_header, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_range_beyond_capacity, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_length_not_whole_sectors, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_direction, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_types_unsupported, setup_rw, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
