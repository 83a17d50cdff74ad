// SPDX-License-Identifier: MIT
#include "devices/virtio_blk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/util.h"

#define BLK_HDR_SIZE sizeof(struct virtio_blk_outhdr)
/*
 * The most one preadv/pwritev moves. A request may be 256 aliased descriptors of up to 4 GiB
 * each (as much as the disk holds): the transfer looks for a reset between pieces, so that a
 * reset (and ptvm's exit) waits for one piece, not for the whole disk. Linux splits its
 * requests at 1.25 MiB by default, so a driver's own requests are one piece.
 */
#define BLK_IO_CHUNK (4u << 20)
#define BLK_DWZ_SIZE sizeof(struct virtio_blk_discard_write_zeroes)

_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "virtio-blk request header");
_Static_assert(sizeof(struct virtio_blk_discard_write_zeroes) == 16, "discard range");

struct virtio_blk {
	struct virtio_device vdev;
	char name[16];
	struct virtio_blk_disk disk;
	struct virtio_blk_config config; /* little endian, as the guest reads it */
	/* the chain being handled: 8 KiB, so kept here rather than on the I/O thread's stack */
	struct virtqueue_elem elem;
};

/* ---- option parsing ---- */

static int virtio_blk_parse_once(const char *key, bool *seen)
{
	if (*seen) {
		pr_err("--disk: %s= given twice", key);
		return -EINVAL;
	}
	*seen = true;
	return 0;
}

static int virtio_blk_parse_setting(char *tok, struct virtio_blk_options *opts, bool *have_path,
				    bool *have_ro, bool *have_serial)
{
	char *val = strchr(tok, '=');

	if (!val) {
		pr_err("--disk: '%s' is not KEY=VALUE (path=FILE[,readonly=on][,serial=ID])", tok);
		return -EINVAL;
	}
	*val++ = '\0';
	if (!strcmp(tok, "path")) {
		if (virtio_blk_parse_once(tok, have_path))
			return -EINVAL;
		if (!*val) {
			pr_err("--disk: path= is empty");
			return -EINVAL;
		}
		if (strlen(val) >= sizeof(opts->path)) {
			pr_err("--disk: path= is longer than %zu bytes", sizeof(opts->path) - 1);
			return -EINVAL;
		}
		strcpy(opts->path, val);
	} else if (!strcmp(tok, "readonly")) {
		if (virtio_blk_parse_once(tok, have_ro))
			return -EINVAL;
		if (!strcmp(val, "on")) {
			opts->readonly = true;
		} else if (!strcmp(val, "off")) {
			opts->readonly = false;
		} else {
			pr_err("--disk: readonly=%s: expected on or off", val);
			return -EINVAL;
		}
	} else if (!strcmp(tok, "serial")) {
		if (virtio_blk_parse_once(tok, have_serial))
			return -EINVAL;
		if (strlen(val) > VIRTIO_BLK_ID_BYTES) {
			pr_err("--disk: serial=%s is longer than %d bytes", val,
			       VIRTIO_BLK_ID_BYTES);
			return -EINVAL;
		}
		strcpy(opts->serial, val);
	} else {
		pr_err("--disk: unknown setting '%s' (path=, readonly=, serial=)", tok);
		return -EINVAL;
	}
	return 0;
}

int virtio_blk_parse(const char *spec, struct virtio_blk_options *opts)
{
	bool have_path = false, have_ro = false, have_serial = false;
	char *copy, *save = NULL, *tok;
	int ret = 0;

	memset(opts, 0, sizeof(*opts));
	copy = strdup(spec);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		ret = virtio_blk_parse_setting(tok, opts, &have_path, &have_ro, &have_serial);
		if (ret)
			break;
	}
	if (!ret && !have_path) {
		pr_err("--disk: '%s' gives no path=FILE", spec);
		ret = -EINVAL;
	}
	free(copy);
	return ret;
}

/* ---- one request ---- */

/* A request the guest got wrong: its business, so debug level only (a guest cannot flood the
 * log), and IOERR. */
#define blk_reject(disk, fmt, ...)                                                                 \
	({                                                                                         \
		pr_debug("%s: " fmt, (disk)->name, ##__VA_ARGS__);                                 \
		(uint8_t) VIRTIO_BLK_S_IOERR;                                                      \
	})

/* The host failed an I/O: warn once per disk, so a full host disk does not flood the log. */
static uint8_t virtio_blk_host_error(struct virtio_blk_disk *disk, const char *op, uint64_t sector,
				     int err)
{
	if (!disk->io_error_seen) {
		disk->io_error_seen = true;
		pr_warn("%s: %s at sector %llu: %s (further I/O errors at debug level)", disk->name,
			op, (unsigned long long)sector, strerror(err));
	} else {
		pr_debug("%s: %s at sector %llu: %s", disk->name, op, (unsigned long long)sector,
			 strerror(err));
	}
	return VIRTIO_BLK_S_IOERR;
}

/* [sector, sector + nr) lies within the disk; written so that it cannot overflow. */
static bool virtio_blk_range_ok(const struct virtio_blk_disk *disk, uint64_t sector, uint64_t nr)
{
	return sector <= disk->capacity && nr <= disk->capacity - sector;
}

/*
 * Copies into dst the iovecs that cover bytes [offset, offset + len) of src, dropping empty
 * ones; returns how many. Only the iovec structs are copied, never the data.
 */
static unsigned virtio_blk_iov_slice(const struct iovec *src, unsigned n, uint64_t offset,
				     uint64_t len, struct iovec *dst)
{
	unsigned cnt = 0;

	for (unsigned i = 0; i < n && len; i++) {
		uint64_t l = src[i].iov_len;

		if (offset >= l) {
			offset -= l;
			continue;
		}
		l = MIN(l - offset, len);
		dst[cnt++] =
		    (struct iovec){ .iov_base = (uint8_t *)src[i].iov_base + offset, .iov_len = l };
		len -= l;
		offset = 0;
	}
	return cnt;
}

/*
 * preadv/pwritev until the whole of iov is transferred, BLK_IO_CHUNK bytes at a time and
 * stepping over short transfers (iov is consumed). *done counts the bytes moved. A read that
 * meets the end of the file (it shrank under us) is -EIO; a write that makes no progress is
 * -ENOSPC; a reset of the device between pieces is -ECANCELED.
 */
static int virtio_blk_transfer(const struct virtio_blk_disk *disk, bool write, struct iovec *iov,
			       unsigned n, off_t pos, uint64_t *done)
{
	*done = 0;
	while (n) {
		size_t want = 0, cut = 0;
		unsigned k = 0;
		ssize_t r;

		if (virtio_device_stopping(disk->vdev))
			return -ECANCELED;
		/* the first BLK_IO_CHUNK bytes of iov: the iovecs they span, the last one cut */
		while (k < n && want < BLK_IO_CHUNK)
			want += iov[k++].iov_len;
		if (want > BLK_IO_CHUNK) {
			cut = want - BLK_IO_CHUNK;
			iov[k - 1].iov_len -= cut;
		}
		r = write ? pwritev(disk->fd, iov, (int)k, pos)
			  : preadv(disk->fd, iov, (int)k, pos);
		iov[k - 1].iov_len += cut;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return write ? -ENOSPC : -EIO;
		*done += (uint64_t)r;
		pos += r;
		while (n && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static uint8_t virtio_blk_flush(struct virtio_blk_disk *disk)
{
	if (fdatasync(disk->fd))
		return virtio_blk_host_error(disk, "fdatasync", 0, errno);
	return VIRTIO_BLK_S_OK;
}

/* T_IN / T_OUT: the data bytes [offset, offset + len) of iov go straight to preadv/pwritev. */
static uint8_t virtio_blk_rw(struct virtio_blk_disk *disk, bool write, const struct iovec *iov,
			     unsigned n, uint64_t offset, uint64_t len, uint64_t sector,
			     uint64_t *done)
{
	struct iovec data[VIRTQUEUE_MAX_SEGS];
	unsigned cnt;
	int ret;

	if (len % VIRTIO_BLK_SECTOR_SIZE)
		return blk_reject(disk, "%s of %llu bytes, not whole sectors",
				  write ? "write" : "read", (unsigned long long)len);
	if (!virtio_blk_range_ok(disk, sector, len / VIRTIO_BLK_SECTOR_SIZE))
		return blk_reject(disk, "%s of %llu sectors at %llu beyond the %llu-sector disk",
				  write ? "write" : "read",
				  (unsigned long long)(len / VIRTIO_BLK_SECTOR_SIZE),
				  (unsigned long long)sector, (unsigned long long)disk->capacity);
	cnt = virtio_blk_iov_slice(iov, n, offset, len, data);
	ret = virtio_blk_transfer(disk, write, data, cnt, (off_t)(sector * VIRTIO_BLK_SECTOR_SIZE),
				  done);
	if (ret == -ECANCELED)
		return blk_reject(disk, "%s at sector %llu cut short by a reset",
				  write ? "write" : "read", (unsigned long long)sector);
	if (ret)
		return virtio_blk_host_error(disk, write ? "pwritev" : "preadv", sector, -ret);
	if (write && disk->writethrough)
		return virtio_blk_flush(disk);
	return VIRTIO_BLK_S_OK;
}

/* One range: punch a hole (discard, or write-zeroes that may unmap), else zero the range. */
static int virtio_blk_fallocate_range(struct virtio_blk_disk *disk, bool punch, off_t pos,
				      off_t len)
{
	if (!punch && disk->zero_range) {
		if (!fallocate(disk->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, pos, len))
			return 0;
		if (errno != EOPNOTSUPP)
			return -errno;
		/* tmpfs, for one: a punched hole reads back as zeroes just as well */
		disk->zero_range = false;
	}
	if (fallocate(disk->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos, len))
		return -errno;
	return 0;
}

/* T_DISCARD / T_WRITE_ZEROES: every range is checked before the file is touched. */
static uint8_t virtio_blk_discard_write_zeroes(struct virtio_blk_disk *disk, bool discard,
					       const struct virtqueue_elem *elem, uint64_t len)
{
	struct virtio_blk_discard_write_zeroes seg[VIRTIO_BLK_DWZ_SEG_MAX];
	const char *what = discard ? "discard" : "write-zeroes";
	unsigned n, i;
	int ret;

	if (!len || len % BLK_DWZ_SIZE || len / BLK_DWZ_SIZE > VIRTIO_BLK_DWZ_SEG_MAX)
		return blk_reject(disk, "%s with %llu bytes of ranges", what,
				  (unsigned long long)len);
	n = (unsigned)(len / BLK_DWZ_SIZE);
	/* one copy: the guest may rewrite the ranges while we work */
	iov_to_buf(elem->out, elem->n_out, BLK_HDR_SIZE, seg, len);
	for (i = 0; i < n; i++) {
		uint32_t flags = le32toh(seg[i].flags);
		uint32_t nr = le32toh(seg[i].num_sectors);
		uint64_t sector = le64toh(seg[i].sector);

		/* virtio 1.2 5.2.6.2: unknown flags, or unmap on a discard, are UNSUPP */
		if ((flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
		    (discard && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))) {
			pr_debug("%s: %s with flags 0x%x", disk->name, what, flags);
			return VIRTIO_BLK_S_UNSUPP;
		}
		if (nr > VIRTIO_BLK_DWZ_SECTORS_MAX)
			return blk_reject(disk, "%s of %u sectors, more than %u", what, nr,
					  VIRTIO_BLK_DWZ_SECTORS_MAX);
		if (!virtio_blk_range_ok(disk, sector, nr))
			return blk_reject(disk, "%s of %u sectors at %llu beyond the disk", what,
					  nr, (unsigned long long)sector);
	}
	for (i = 0; i < n; i++) {
		uint32_t flags = le32toh(seg[i].flags);
		uint32_t nr = le32toh(seg[i].num_sectors);
		uint64_t sector = le64toh(seg[i].sector);

		if (!nr)
			continue;
		ret = virtio_blk_fallocate_range(
		    disk, discard || (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
		    (off_t)(sector * VIRTIO_BLK_SECTOR_SIZE), (off_t)nr * VIRTIO_BLK_SECTOR_SIZE);
		if (ret)
			return virtio_blk_host_error(disk, what, sector, -ret);
	}
	if (!discard && disk->writethrough)
		return virtio_blk_flush(disk);
	return VIRTIO_BLK_S_OK;
}

/*
 * Dispatches a request whose header is known to be there. *done counts the data bytes written
 * into the chain's writable part (from its start).
 */
static uint8_t virtio_blk_execute(struct virtio_blk_disk *disk, const struct virtqueue_elem *elem,
				  uint32_t type, uint64_t sector, uint64_t *done)
{
	uint64_t out_data = elem->out_len - BLK_HDR_SIZE; /* readable bytes after the header */
	uint64_t in_data = elem->in_len - 1;		  /* writable bytes before the status */
	uint64_t unused;

	switch (type) {
	case VIRTIO_BLK_T_IN:
		if (out_data)
			return blk_reject(disk, "read with %llu readable data bytes",
					  (unsigned long long)out_data);
		return virtio_blk_rw(disk, false, elem->in, elem->n_in, 0, in_data, sector, done);
	case VIRTIO_BLK_T_OUT:
		if (disk->readonly)
			return blk_reject(disk, "write to a read-only disk");
		if (in_data)
			return blk_reject(disk, "write with %llu writable data bytes",
					  (unsigned long long)in_data);
		return virtio_blk_rw(disk, true, elem->out, elem->n_out, BLK_HDR_SIZE, out_data,
				     sector, &unused);
	case VIRTIO_BLK_T_FLUSH:
		if (out_data || in_data)
			return blk_reject(disk, "flush with data");
		return virtio_blk_flush(disk);
	case VIRTIO_BLK_T_GET_ID:
		if (out_data)
			return blk_reject(disk, "get-id with readable data");
		*done = iov_from_buf(elem->in, elem->n_in, 0, disk->serial,
				     MIN(in_data, (uint64_t)VIRTIO_BLK_ID_BYTES));
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (disk->readonly)
			return blk_reject(disk, "discard/write-zeroes on a read-only disk");
		if (!(type == VIRTIO_BLK_T_DISCARD ? disk->discard : disk->write_zeroes)) {
			pr_debug("%s: request type %u not offered", disk->name, type);
			return VIRTIO_BLK_S_UNSUPP;
		}
		if (in_data)
			return blk_reject(disk, "discard/write-zeroes with writable data");
		return virtio_blk_discard_write_zeroes(disk, type == VIRTIO_BLK_T_DISCARD, elem,
						       out_data);
	default:
		pr_debug("%s: unknown request type %u", disk->name, type);
		return VIRTIO_BLK_S_UNSUPP;
	}
}

int virtio_blk_handle_request(struct virtio_blk_disk *disk, const struct virtqueue_elem *elem,
			      uint32_t *written)
{
	struct virtio_blk_outhdr hdr;
	uint64_t in_data, done = 0;
	uint8_t status;

	/* the status byte is the last writable byte; without one the driver cannot be told */
	if (!elem->in_len) {
		pr_debug("%s: request at head %u has no writable status byte", disk->name,
			 elem->head);
		return -EINVAL;
	}
	in_data = elem->in_len - 1;
	if (elem->out_len < BLK_HDR_SIZE) {
		status = blk_reject(disk, "request header of %llu bytes",
				    (unsigned long long)elem->out_len);
	} else {
		/* one copy: the guest may rewrite the header while we work */
		iov_to_buf(elem->out, elem->n_out, 0, &hdr, sizeof(hdr));
		status =
		    virtio_blk_execute(disk, elem, le32toh(hdr.type), le64toh(hdr.sector), &done);
	}
	iov_from_buf(elem->in, elem->n_in, in_data, &status, 1);
	/* the used length counts bytes written from the start of the writable part: the
	 * status byte only joins when the data before it was written in full */
	*written = (uint32_t)MIN(done == in_data ? elem->in_len : done, (uint64_t)UINT32_MAX);
	return status;
}

/* ---- the device ---- */

static struct virtio_blk *to_blk(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_blk, vdev);
}

struct virtio_blk_disk *virtio_blk_get_disk(struct virtio_device *vdev)
{
	return &to_blk(vdev)->disk;
}

static enum virtio_chain_result virtio_blk_chain(struct virtio_device *vdev, struct virtqueue *vq,
						 struct virtqueue_elem *elem, uint32_t *written)
{
	if (virtio_blk_handle_request(&to_blk(vdev)->disk, elem, written) < 0) {
		virtio_set_needs_reset(vdev, "request without a writable status byte");
		return VIRTIO_CHAIN_BROKEN;
	}
	return VIRTIO_CHAIN_DONE;
}

static void virtio_blk_queue_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
	virtio_queue_process(vdev, vq, &to_blk(vdev)->elem, virtio_blk_chain);
}

static uint64_t virtio_blk_get_features(struct virtio_device *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);
	uint64_t f = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ULL << VIRTIO_BLK_F_FLUSH);

	if (blk->disk.readonly)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	if (blk->disk.discard)
		f |= 1ULL << VIRTIO_BLK_F_DISCARD;
	if (blk->disk.write_zeroes)
		f |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

static void virtio_blk_read_config(struct virtio_device *vdev, unsigned offset, void *data,
				   unsigned len)
{
	struct virtio_blk *blk = to_blk(vdev);

	if (offset > vdev->config_size || len > vdev->config_size - offset) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, (const uint8_t *)&blk->config + offset, len);
}

static void virtio_blk_write_config(struct virtio_device *vdev, unsigned offset, const void *data,
				    unsigned len)
{
	/* nothing writable without VIRTIO_BLK_F_CONFIG_WCE, which is not offered */
	pr_debug("%s: config write at %u ignored", vdev->name, offset);
}

static int virtio_blk_activate(struct virtio_device *vdev)
{
	/* a driver that cannot flush gets a write-through disk (virtio 1.2 5.2.6.4) */
	to_blk(vdev)->disk.writethrough = !virtio_has_feature(vdev, VIRTIO_BLK_F_FLUSH);
	return 0;
}

static const struct virtio_device_ops virtio_blk_ops = {
	.get_features = virtio_blk_get_features,
	.read_config = virtio_blk_read_config,
	.write_config = virtio_blk_write_config,
	.activate = virtio_blk_activate,
	.queue_notify = virtio_blk_queue_notify,
};

/*
 * Whether the file system can punch holes. A hole punched past the end of the file (with
 * KEEP_SIZE) changes nothing, yet the file system still says whether it could.
 */
static bool virtio_blk_probe_punch(int fd, off_t size)
{
	return !fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)ALIGN_UP((uint64_t)size, SZ_4K), (off_t)SZ_4K);
}

static void virtio_blk_fill_config(struct virtio_blk *blk, const struct stat *st)
{
	struct virtio_blk_config *c = &blk->config;
	uint32_t align = MAX((uint32_t)(st->st_blksize / VIRTIO_BLK_SECTOR_SIZE), 1U);

	c->capacity = htole64(blk->disk.capacity);
	/* no per-segment size limit (VIRTIO_BLK_F_SIZE_MAX is not offered): short transfers
	 * are resumed */
	c->seg_max = htole32(VIRTIO_BLK_SEG_MAX);
	c->blk_size = htole32(VIRTIO_BLK_SECTOR_SIZE);
	if (blk->disk.discard) {
		c->max_discard_sectors = htole32(VIRTIO_BLK_DWZ_SECTORS_MAX);
		c->max_discard_seg = htole32(VIRTIO_BLK_DWZ_SEG_MAX);
		c->discard_sector_alignment = htole32(align);
	}
	if (blk->disk.write_zeroes) {
		c->max_write_zeroes_sectors = htole32(VIRTIO_BLK_DWZ_SECTORS_MAX);
		c->max_write_zeroes_seg = htole32(VIRTIO_BLK_DWZ_SEG_MAX);
		/* zeroes may be written by punching a hole */
		c->write_zeroes_may_unmap = 1;
	}
}

/* Opens and sizes the backing file; one pr_err naming it on failure. */
static int virtio_blk_open(struct virtio_blk *blk, const struct virtio_blk_options *opts,
			   struct stat *st)
{
	struct virtio_blk_disk *disk = &blk->disk;
	off_t size;
	int ret;

	disk->fd = open(opts->path, (opts->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (disk->fd < 0) {
		ret = -errno;
		pr_err("--disk path=%s: %s%s", opts->path, strerror(-ret),
		       !opts->readonly && (ret == -EACCES || ret == -EROFS)
			   ? " (readonly=on opens it read-only)"
			   : "");
		return ret;
	}
	if (fstat(disk->fd, st)) {
		ret = -errno;
		pr_err("--disk path=%s: fstat: %s", opts->path, strerror(-ret));
		return ret;
	}
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode)) {
		pr_err("--disk path=%s: not a regular file or block device", opts->path);
		return -EINVAL;
	}
	/* SEEK_END also sizes a block device, whose st_size is 0 */
	size = lseek(disk->fd, 0, SEEK_END);
	if (size < 0) {
		ret = -errno;
		pr_err("--disk path=%s: cannot find its size: %s", opts->path, strerror(-ret));
		return ret;
	}
	if (size % VIRTIO_BLK_SECTOR_SIZE)
		pr_warn(
		    "--disk path=%s: size %lld is not a multiple of %d; the last %lld bytes are "
		    "not visible to the guest",
		    opts->path, (long long)size, VIRTIO_BLK_SECTOR_SIZE,
		    (long long)(size % VIRTIO_BLK_SECTOR_SIZE));
	disk->capacity = (uint64_t)size / VIRTIO_BLK_SECTOR_SIZE;
	if (!opts->readonly && virtio_blk_probe_punch(disk->fd, size)) {
		disk->discard = true;
		disk->write_zeroes = true;
		disk->zero_range = true;
	}
	return 0;
}

int virtio_blk_create(const struct virtio_blk_options *opts, struct memmap *mm,
		      struct virtio_device **out)
{
	static atomic_uint next_index;
	struct virtio_blk *blk;
	struct stat st;
	int ret;

	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return -ENOMEM;
	blk->disk.fd = -1;
	snprintf(blk->name, sizeof(blk->name), "virtio-blk%u", atomic_fetch_add(&next_index, 1));
	ret = virtio_device_init(&blk->vdev, VIRTIO_ID_BLOCK, blk->name, 1, VIRTIO_BLK_QUEUE_SIZE,
				 &virtio_blk_ops);
	if (ret)
		goto out_destroy;
	blk->vdev.mm = mm;
	/* up to write_zeroes_may_unmap and its padding: secure erase is not offered */
	blk->vdev.config_size = offsetof(struct virtio_blk_config, max_secure_erase_sectors);
	blk->disk.name = blk->name;
	blk->disk.vdev = &blk->vdev;
	blk->disk.readonly = opts->readonly;
	/* GET_ID's format: zero padded, not terminated when all 20 bytes are used */
	memcpy(blk->disk.serial, opts->serial, strnlen(opts->serial, VIRTIO_BLK_ID_BYTES));

	ret = virtio_blk_open(blk, opts, &st);
	if (ret)
		goto out_destroy;
	virtio_blk_fill_config(blk, &st);
	pr_info("%s: %s, %llu sectors%s%s", blk->name, opts->path,
		(unsigned long long)blk->disk.capacity, opts->readonly ? ", read-only" : "",
		blk->disk.discard ? ", discard" : "");
	*out = &blk->vdev;
	return 0;

out_destroy:
	virtio_blk_destroy(&blk->vdev);
	return ret;
}

void virtio_blk_destroy(struct virtio_device *vdev)
{
	struct virtio_blk *blk;

	if (!vdev)
		return;
	blk = to_blk(vdev);
	virtio_device_exit(vdev);
	if (blk->disk.fd >= 0)
		close(blk->disk.fd);
	free(blk);
}
