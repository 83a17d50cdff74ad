// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the virtio-blk request path: the input describes one chain (how many
 * readable and writable segments, their lengths, the readable bytes) that runs through
 * virtio_blk_handle_request() against a 64-sector disk on tmpfs, read-write or read-only.
 * Each segment is its own exact-size allocation, so ASan catches any access outside the
 * iovecs. Checked after each request: -EINVAL exactly when there is no writable byte; else a
 * known status sits in the last writable byte, the used length does not exceed the writable
 * part, the disk keeps its size, and a read-only disk keeps its contents.
 *
 * Built and run by `make fuzz`.
 *
 * FUZZ_SOURCES: devices/virtio_blk.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/virtio_blk.h"
#include "tests/fuzz/lib/fuzz_lib.h"

#define DISK_BYTES (64 * 512)
#define SEG_LEN_MAX 4096

static struct virtio_device *disk_rw, *disk_ro;
static uint8_t ro_image[DISK_BYTES];

static struct virtio_device *disk_open(const char *path, bool readonly)
{
	struct virtio_blk_options o = { .readonly = readonly };
	struct virtio_device *vdev;

	snprintf(o.path, sizeof(o.path), "%s", path);
	snprintf(o.serial, sizeof(o.serial), "fuzz");
	if (virtio_blk_create(&o, NULL, &vdev))
		abort();
	return vdev;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/dev/shm/ptvm-fuzz-blk-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		abort();
	for (unsigned i = 0; i < DISK_BYTES; i++)
		ro_image[i] = (uint8_t)(i * 7 + (i >> 9));
	if (pwrite(fd, ro_image, DISK_BYTES, 0) != DISK_BYTES)
		abort();
	close(fd);
	fuzz_lib_init(0);
	disk_rw = disk_open(path, false);
	disk_ro = disk_open(path, true);
	unlink(path); /* both disks keep it open */
	return 0;
}

static uint8_t take(const uint8_t **p, const uint8_t *end)
{
	return *p < end ? *(*p)++ : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct virtqueue_elem *e = calloc(1, sizeof(*e));
	uint8_t flags = take(&p, end), counts = take(&p, end);
	unsigned n_out = counts & 0xf, n_in = counts >> 4;
	struct virtio_blk_disk *disk;
	uint8_t *before = NULL;
	uint32_t written = 0;
	struct stat st;
	int ret;

	if (!e)
		abort();
	fuzz_input_begin();
	disk = virtio_blk_get_disk(flags & 1 ? disk_ro : disk_rw);
	disk->writethrough = flags & 2;
	for (unsigned i = 0; i < n_out + n_in; i++) {
		unsigned len = (take(&p, end) | (unsigned)take(&p, end) << 8) % (SEG_LEN_MAX + 1);
		uint8_t *b = malloc(len ? len : 1);
		bool writable = i >= n_out;

		if (!b)
			abort();
		if (writable) {
			memset(b, 0xee, len);
			e->in[e->n_in++] = (struct iovec){ .iov_base = b, .iov_len = len };
			e->in_len += len;
		} else {
			e->out[e->n_out++] = (struct iovec){ .iov_base = b, .iov_len = len };
			e->out_len += len;
		}
	}
	/* the rest of the input is the readable bytes (header first), zeros past its end */
	for (unsigned i = 0; i < e->n_out; i++) {
		size_t l = MIN(e->out[i].iov_len, (size_t)(end - p));

		memset(e->out[i].iov_base, 0, e->out[i].iov_len);
		memcpy(e->out[i].iov_base, p, l);
		p += l;
	}
	if (flags & 1) {
		before = malloc(DISK_BYTES);
		if (!before || pread(disk->fd, before, DISK_BYTES, 0) != DISK_BYTES)
			abort();
	}

	ret = virtio_blk_handle_request(disk, e, &written);

	if (!e->in_len) {
		if (ret != -EINVAL)
			abort();
	} else {
		uint8_t status = 0xff;

		iov_to_buf(e->in, e->n_in, e->in_len - 1, &status, 1);
		if (ret < 0 || ret > VIRTIO_BLK_S_UNSUPP || status != ret)
			abort();
		if (written > e->in_len)
			abort();
	}
	if (fstat(disk->fd, &st) || st.st_size != DISK_BYTES)
		abort();
	if (before) {
		uint8_t now[DISK_BYTES];

		if (pread(disk->fd, now, DISK_BYTES, 0) != DISK_BYTES ||
		    memcmp(now, before, DISK_BYTES))
			abort();
		free(before);
	}
	for (unsigned i = 0; i < e->n_out; i++)
		free(e->out[i].iov_base);
	for (unsigned i = 0; i < e->n_in; i++)
		free(e->in[i].iov_base);
	free(e);
	fuzz_input_end();
	return 0;
}
